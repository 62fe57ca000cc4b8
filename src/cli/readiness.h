/* The runtime readiness record of one agent as it would really run: for each
 * primitive (state, tools, policy, context, trace, eval) who owns it in this
 * deployment and its production gaps, each derived from the loaded spec, the
 * store it would use and the eval suites given, then a decision.  Builds a
 * JSON object; printing is cmd_readiness.c's. */
#ifndef ART_CLI_READINESS_H
#define ART_CLI_READINESS_H

#include <stdbool.h>
#include "agentrt.h"

/* What the record is about.  Everything is borrowed. */
typedef struct readiness_input {
  art_spec *spec; /* MCP tools registered already */
  const char *spec_path;
  const char *store;      /* "memory:", "sqlite:PATH" or PATH */
  bool store_given;       /* --store was given (else agentrt run's default) */
  const char *trace_file; /* --trace FILE, NULL when none */
  const art_eval_suite *const *suites;
  const char *const *suite_paths;
  size_t n_suites;
} readiness_input;

/* The primitives, in the record's order. */
extern const char *const readiness_primitives[];

/* {"agent", "purpose", PRIMITIVE: {"owner", "production_gap": [{"gap",
 * "blocks"}]} for each primitive, "ready", "decision"}: a new reference, NULL
 * when out of memory. */
json_t *readiness_record(const readiness_input *in);

#endif
