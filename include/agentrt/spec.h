/* Agent spec: the JSON file that says what a run is (goal, budgets, actor,
 * memory, tools, policy, model, redaction).  Loading is strict: bad JSON, an
 * unknown key, a wrong type or an unknown built-in tool is ART_ESPEC with a
 * message naming the file, the JSON path and what is wrong; nothing is run.
 * A spec is immutable once loaded (except for tools added to its registry
 * before any run starts) and can be shared by any number of runs. */
#ifndef AGENTRT_SPEC_H
#define AGENTRT_SPEC_H

#include "agentrt/context.h"
#include "agentrt/policy.h"
#include "agentrt/trace.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct art_spec art_spec;

typedef struct art_spec_options {
  const art_allocator *alloc; /* NULL: malloc */
  const char *outbox;         /* overrides the spec's "outbox" (send_message's file) */
} art_spec_options;

/* The tools a spec names that the core cannot make itself: it knows no
 * built-in tool and runs no process.  art_spec_load and art_spec_parse give the
 * loader the library's own (src/tool: the demo tools, command tools). */
typedef struct art_spec_tools {
  int version; /* ART_SPEC_TOOLS_VERSION */
  /* Register the built-in tool `name`, ART_ENOTFOUND when there is none;
   * `outbox` is the spec's (send_message's file).  May be NULL: none. */
  int (*add_builtin)(art_registry *reg, const char *name, const char *outbox, art_error *err);
  const char *(*builtin_names)(void); /* for messages: "a, b, c"; may be NULL */
  /* art_registry_add_command; may be NULL: a command tool is ART_ESPEC. */
  int (*add_command)(art_registry *reg, const art_tool_def *def, const char *const *argv,
                     int timeout_ms, art_error *err);
} art_spec_tools;

#define ART_SPEC_TOOLS_VERSION 1

int art_spec_load(art_spec **out, const char *path, const art_spec_options *opts, art_error *err);
/* `name` is used in messages in place of a file name; relative command paths
 * resolve against `base_dir` (NULL: the current directory). */
int art_spec_parse(art_spec **out, const json_t *json, const char *name, const char *base_dir,
                   const art_spec_options *opts, art_error *err);
/* The core's loader: art_spec_parse with `tools` (NULL: a spec naming a
 * built-in or a command tool is ART_ESPEC).  ART_EINVAL when tools->version is
 * not ART_SPEC_TOOLS_VERSION. */
int art_spec_parse_with(art_spec **out, const json_t *json, const char *name,
                        const char *base_dir, const art_spec_options *opts,
                        const art_spec_tools *tools, art_error *err);
void art_spec_free(art_spec *spec);

const char *art_spec_run_id(const art_spec *spec); /* NULL when not given */
const char *art_spec_goal(const art_spec *spec);
uint32_t art_spec_max_steps(const art_spec *spec);
art_registry *art_spec_registry(art_spec *spec); /* add C tools before running */
const art_policy *art_spec_policy(const art_spec *spec);
const art_redactor *art_spec_redactor(const art_spec *spec);
const json_t *art_spec_model(const art_spec *spec); /* the "model" object */
const char *art_spec_outbox(const art_spec *spec);
const json_t *art_spec_json(const art_spec *spec);   /* the document it was loaded from */
const char *art_spec_base_dir(const art_spec *spec); /* where relative commands resolve */
const char *art_spec_actor(const art_spec *spec);    /* actor.id, NULL when not given */
const char *art_spec_tenant(const art_spec *spec);   /* actor.tenant, NULL when not given */
const char *art_spec_route(const art_spec *spec);    /* actor.route, NULL when not given */

/* The spec as a store keeps it: the document redacted by the spec's own rules
 * (redact.keys, redact.patterns) wherever it holds what a run says (goal,
 * description, memory, scripted decisions), so no secret the trace hides is
 * kept in plain text beside it.  A run resumed from it sees those redacted.
 * What the run acts by (tools, MCP servers, policy, the model's set-up) must
 * come through unchanged: ART_ESPEC, naming the JSON path, when redaction
 * would change it.  *out is a new reference. */
int art_spec_stored_json(const art_spec *spec, json_t **out, art_error *err);

#ifdef __cplusplus
}
#endif
#endif
