/* The built-in demo tools a spec can name as strings:
 *   lookup_policy  read   {task}: returns the reply policy
 *   draft_message  draft  {to, body}: returns the draft
 *   send_message   write  {to, body}: appends one JSON line to the outbox file
 *   flaky_lookup   read   {query?}: always fails with upstream_timeout */
#ifndef ART_DEMO_H
#define ART_DEMO_H

#include "agentrt/tool.h"

/* Register the built-in `name`; ART_ENOTFOUND when there is no such tool.
 * `outbox` is the file send_message appends to. */
int art_demo_tool_register(art_registry *reg, const char *name, const char *outbox, art_error *err);

/* "lookup_policy, draft_message, send_message, flaky_lookup" */
const char *art_demo_tool_names(void);

#endif
