#include "core/names.h"

#include <string.h>

#include "agentrt/policy.h"
#include "agentrt/trace.h"

#define TABLE(var, expected, ...)                                                                  \
  static const char *const var##_list[] = {__VA_ARGS__};                                           \
  const art_names var = {var##_list, (int)(sizeof var##_list / sizeof *var##_list), expected}

TABLE(art_side_effect_names, "read, draft, write", "read", "draft", "write");
TABLE(art_result_status_names, "ok, refused, error", "ok", "refused", "error");
TABLE(art_scope_names, "task, project, user, tenant", "task", "project", "user", "tenant");
TABLE(art_sensitivity_names, "public, internal, confidential, restricted", "public", "internal",
      "confidential", "restricted");
TABLE(art_omit_reason_names, "out_of_scope, stale, policy", "out_of_scope", "stale", "policy");
TABLE(art_observation_kind_names, "model, tool, policy, human, system", "model", "tool", "policy",
      "human", "system");
TABLE(art_effect_names, "allow, deny, approval_required", "allow", "deny", "approval_required");
TABLE(art_gate_action_names, "tool, retrieve, answer", "tool", "retrieve", "answer");
/* "none" is the value of a run that has not stopped; it is not a name to parse. */
TABLE(art_stop_reason_names,
      "success, budget_exhausted, invalid_decision, refused, policy_denied, approval_required, "
      "blocked, tool_failure, model_failure, cancelled",
      "none", "success", "budget_exhausted", "invalid_decision", "refused", "policy_denied",
      "approval_required", "blocked", "tool_failure", "model_failure", "cancelled");
TABLE(art_event_type_names, "", "run_started", "context_built", "decision", "policy_decision",
      "approval", "tool_call", "tool_result", "human_input", "resolution", "stop", "model_call");
TABLE(art_resolve_kind_names, "done, retry, failed", "done", "retry", "failed");
TABLE(art_decision_kind_names, "answer, tool, ask_human, stop", "answer", "tool", "ask_human",
      "stop", "malformed");

int art_names_find(const art_names *t, const char *name) {
  for (int i = 0; i < t->count; i++)
    if (strcmp(name, t->names[i]) == 0) return i;
  return -1;
}

const char *art_names_name(const art_names *t, int value) {
  return value >= 0 && value < t->count ? t->names[value] : "?";
}

/* The public name functions. */

#define NAME_FN(fn, type, table)                                                                   \
  const char *fn(type v) { return art_names_name(&table, (int)v); }

#define PARSE_FN(fn, type, table)                                                                  \
  int fn(const char *name, type *out) {                                                            \
    int v = art_names_find(&table, name);                                                          \
    if (v < 0) return ART_EINVAL;                                                                  \
    *out = (type)v;                                                                                \
    return 0;                                                                                      \
  }

NAME_FN(art_side_effect_name, art_side_effect, art_side_effect_names)
NAME_FN(art_result_status_name, art_result_status, art_result_status_names)
NAME_FN(art_scope_name, art_scope, art_scope_names)
NAME_FN(art_sensitivity_name, art_sensitivity, art_sensitivity_names)
NAME_FN(art_omit_reason_name, art_omit_reason, art_omit_reason_names)
NAME_FN(art_observation_kind_name, art_observation_kind, art_observation_kind_names)
NAME_FN(art_effect_name, art_effect, art_effect_names)
NAME_FN(art_gate_action_name, art_gate_action, art_gate_action_names)
NAME_FN(art_stop_reason_name, art_stop_reason, art_stop_reason_names)
NAME_FN(art_event_type_name, art_event_type, art_event_type_names)
NAME_FN(art_decision_kind_name, art_decision_kind, art_decision_kind_names)
NAME_FN(art_resolve_kind_name, art_resolve_kind, art_resolve_kind_names)

PARSE_FN(art_side_effect_parse, art_side_effect, art_side_effect_names)
PARSE_FN(art_scope_parse, art_scope, art_scope_names)
PARSE_FN(art_sensitivity_parse, art_sensitivity, art_sensitivity_names)
PARSE_FN(art_resolve_kind_parse, art_resolve_kind, art_resolve_kind_names)
PARSE_FN(art_event_type_parse, art_event_type, art_event_type_names)

int art_stop_reason_parse(const char *name, art_stop_reason *out) {
  int v = art_names_find(&art_stop_reason_names, name);
  if (v <= ART_STOP_NONE) return ART_EINVAL;
  *out = (art_stop_reason)v;
  return 0;
}

bool art_event_type_known(art_event_type t) {
  return (int)t >= 0 && (int)t < art_event_type_names.count;
}
