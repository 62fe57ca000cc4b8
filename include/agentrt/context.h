/* Context packet: what the model sees for one decision, and memory items.
 *
 * Built by the run before each decision: run id, goal, a state summary, the last
 * N observations, the tools disclosed (enabled tools, sorted by name), evidence
 * refs (ids of successful tool observations), memory refs (items in scope, not
 * expired, allowed by the retrieve policy) and omitted refs with the reason each
 * was left out (out_of_scope, stale, policy).  Everything is borrowed from the
 * run and valid until the run is next fed. */
#ifndef AGENTRT_CONTEXT_H
#define AGENTRT_CONTEXT_H

#include "agentrt/tool.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { ART_SCOPE_TASK, ART_SCOPE_PROJECT, ART_SCOPE_USER, ART_SCOPE_TENANT } art_scope;

/* Ordered: a context's sensitivity is the highest of the memory it includes. */
typedef enum {
  ART_SENS_PUBLIC,
  ART_SENS_INTERNAL,
  ART_SENS_CONFIDENTIAL,
  ART_SENS_RESTRICTED
} art_sensitivity;

typedef struct art_memory_item {
  const char *id;
  art_scope scope;
  art_sensitivity sensitivity;
  const char *text;
  int64_t expires_at_us; /* 0: never */
} art_memory_item;

typedef enum { ART_OMIT_OUT_OF_SCOPE, ART_OMIT_STALE, ART_OMIT_POLICY } art_omit_reason;

typedef struct art_omitted {
  const char *ref;
  art_omit_reason reason;
} art_omitted;

typedef enum {
  ART_OBS_MODEL,
  ART_OBS_TOOL,
  ART_OBS_POLICY,
  ART_OBS_HUMAN,
  ART_OBS_SYSTEM
} art_observation_kind;

/* One thing the run observed.  Its id is "obs_<n>". */
typedef struct art_observation {
  uint32_t n;
  art_observation_kind kind;
  art_result_status status; /* tool observations */
  const char *tool;         /* tool observations */
  const char *text;         /* tool result message, human answer */
  json_t *data;             /* tool result data (raw, unredacted), may be NULL */
} art_observation;

typedef struct art_context {
  const char *run_id;
  const char *goal;
  uint32_t step; /* the step this decision will be (1-based) */
  uint32_t max_steps;
  const art_observation *recent; /* last N observations, oldest first */
  size_t n_recent;
  size_t n_observations; /* all observations so far */
  const art_tool *const *tools;
  size_t n_tools;
  const uint32_t *evidence; /* observation numbers */
  size_t n_evidence;
  const art_memory_item *const *memory;
  size_t n_memory;
  const art_omitted *omitted;
  size_t n_omitted;
  art_sensitivity sensitivity; /* highest of `memory`; PUBLIC when none */
} art_context;

/* "obs_<n>" into buf. */
void art_observation_id(uint32_t n, char *buf, size_t size);
/* A one-line summary, e.g. "lookup_policy ok" or "flaky_lookup error: upstream_timeout". */
void art_observation_summary(const art_observation *o, char *buf, size_t size);
/* A one-line state summary, e.g. "step 2 of 5; 1 observation; last: lookup_policy ok". */
void art_context_summary(const art_context *c, char *buf, size_t size);
/* The whole packet as JSON (a new reference, NULL when out of memory). */
json_t *art_context_to_json(const art_context *c);

const char *art_scope_name(art_scope s);
int art_scope_parse(const char *name, art_scope *out);
const char *art_sensitivity_name(art_sensitivity s);
int art_sensitivity_parse(const char *name, art_sensitivity *out);
const char *art_omit_reason_name(art_omit_reason r);
const char *art_observation_kind_name(art_observation_kind k);

#ifdef __cplusplus
}
#endif
#endif
