/* Policy gate: declarative rules, evaluated in order, first match wins.
 *
 * A rule is {"when": {...}, "effect": "allow"|"deny"|"approval_required",
 * "reason": "..."}.  `when` keys (all optional, all must match): action
 * ("tool" default | "retrieve" | "answer"), tool (glob), side_effect (string or
 * list), actor, tenant, route, sensitivity (string or list; for tools and answers
 * the highest sensitivity of the memory in the context, for retrieve the item's),
 * scope (retrieve: string or list), input (object: field -> required value),
 * remaining_steps_lt (number), evidence (answer: whether tool evidence exists).
 *
 * When no rule matches, the default applies: read and draft tools allowed,
 * write tools need approval, memory retrieval and answers allowed.  An
 * approval_required verdict for an action whose id is approved (in the policy's
 * approved_action_ids or approved during the run) becomes allow. */
#ifndef AGENTRT_POLICY_H
#define AGENTRT_POLICY_H

#include <stdbool.h>
#include "agentrt/context.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { ART_EFFECT_ALLOW, ART_EFFECT_DENY, ART_EFFECT_APPROVAL } art_effect;
typedef enum { ART_GATE_TOOL, ART_GATE_RETRIEVE, ART_GATE_ANSWER } art_gate_action;

typedef struct art_policy art_policy;

/* What the gate is asked about. */
typedef struct art_policy_query {
  art_gate_action action;
  const char *actor;
  const char *tenant;
  const char *route;
  const char *tool;            /* tool */
  art_side_effect side_effect; /* tool */
  const json_t *input;         /* tool */
  art_sensitivity sensitivity; /* context's highest, or the item's for retrieve */
  art_scope scope;             /* retrieve */
  bool has_evidence;           /* answer */
  int64_t remaining_steps;
} art_policy_query;

typedef struct art_verdict {
  art_effect effect;
  int rule;           /* index of the matching rule, -1 for the default policy */
  const char *reason; /* the rule's reason, or the default's */
  bool approved;      /* allowed because the action id was approved */
} art_verdict;

/* Compile rules from a "policy" object {"rules": [...], "approved_action_ids": [...]}
 * (NULL: the default policy).  Errors are ART_ESPEC naming `file` and the JSON
 * path under `path` (e.g. "$.policy").  Strings are borrowed from `json`, which
 * the policy keeps a reference to. */
int art_policy_parse(art_policy **out, const json_t *json, const char *file, const char *path,
                     const art_allocator *alloc, art_error *err);
void art_policy_free(art_policy *p);

/* First matching rule or the default.  Pure: no allocation. */
void art_policy_eval(const art_policy *p, const art_policy_query *q, art_verdict *out);
/* Whether the policy lists `action_id` in approved_action_ids. */
bool art_policy_preapproved(const art_policy *p, const char *action_id);
size_t art_policy_rule_count(const art_policy *p);
/* "allow_self_approval": true lets the run's actor approve its own actions. */
bool art_policy_allows_self_approval(const art_policy *p);
/* Whether a retrieve rule depends on the remaining steps, so which memory enters
 * the context can change from one step to the next. */
bool art_policy_retrieval_varies_by_step(const art_policy *p);

const char *art_effect_name(art_effect e);
const char *art_gate_action_name(art_gate_action a);

#ifdef __cplusplus
}
#endif
#endif
