/* The command model: an external program makes the decisions.  For each one
 * it is run (argv exec'd, never a shell; see tool/command.h) with the context
 * packet as one line of JSON on stdin, AGENTRT_RUN_ID and AGENTRT_STEP in its
 * environment, and prints one decision object on stdout, the same JSON as a
 * scripted decision ({"type":"tool","name","input"}, ...) with an optional
 * "usage": {"prompt_tokens","completion_tokens"}.  The run validates it like
 * any decision.  Each run is one model call whose outcome says how the
 * program ended ("command exit 0") and whose usage is the decision's.  A
 * non-zero exit, a signal, output that is not a JSON object, or running past
 * timeout_ms is a model failure saying which. */
#ifndef ART_COMMAND_MODEL_H
#define ART_COMMAND_MODEL_H

#include "agentrt/model.h"

int art_command_model_new(art_model **out, const art_spec *spec, art_error *err);

#endif
