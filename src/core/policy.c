#include "agentrt/policy.h"

#include <fnmatch.h>
#include <string.h>

#include "core/alloc.h"
#include "core/reader.h"

typedef struct rule {
  art_gate_action action;
  const char *tool_glob;
  const char *actor, *tenant, *route;
  unsigned side_effects, sensitivities, scopes; /* bit sets; 0: any */
  const json_t *input;                          /* field -> required value */
  int64_t remaining_steps_lt;                   /* < 0: any */
  int evidence;                                 /* -1: any, 0: none, 1: some */
  art_effect effect;
  const char *reason;
} rule;

struct art_policy {
  const art_allocator *alloc;
  json_t *json;
  rule *rules;
  size_t n_rules;
  const json_t *approved; /* array of action id strings, may be NULL */
  bool allow_self_approval;
};

static int read_sets(const art_reader *rd, const char *path, const json_t *when, rule *r) {
  if (art_rd_name_set(rd, path, when, "side_effect", &art_side_effect_names, &r->side_effects) <
          0 ||
      art_rd_name_set(rd, path, when, "sensitivity", &art_sensitivity_names, &r->sensitivities) <
          0 ||
      art_rd_name_set(rd, path, when, "scope", &art_scope_names, &r->scopes) < 0)
    return ART_ESPEC;
  return 0;
}

/* A key that only makes sense for another action would be ignored and so widen
 * the rule (a forgotten "action": "retrieve" must not allow every tool). */
static int check_keys_fit_action(const art_reader *rd, const char *path, const json_t *when,
                                 art_gate_action action) {
  static const struct {
    const char *key;
    art_gate_action action;
  } only[] = {{"tool", ART_GATE_TOOL},
              {"side_effect", ART_GATE_TOOL},
              {"input", ART_GATE_TOOL},
              {"scope", ART_GATE_RETRIEVE},
              {"evidence", ART_GATE_ANSWER}};
  for (size_t i = 0; i < sizeof only / sizeof *only; i++) {
    if (only[i].action == action || !json_object_get(when, only[i].key)) continue;
    char sub[ART_PATH_SIZE];
    art_rd_member_path(sub, path, only[i].key);
    return art_rd_fail(rd, sub, "only applies to \"action\": \"%s\" (this rule is for %s)",
                       art_gate_action_name(only[i].action), art_gate_action_name(action));
  }
  return 0;
}

static int read_when(const art_reader *rd, const char *path, const json_t *when, rule *r) {
  static const char *const keys[] = {
      "action", "tool",  "side_effect",        "actor",    "tenant", "route", "sensitivity",
      "scope",  "input", "remaining_steps_lt", "evidence", NULL};
  int action = ART_GATE_TOOL;
  bool evidence = false;
  if (art_rd_expect_object(rd, path, when) < 0 || art_rd_known_keys(rd, path, when, keys) < 0 ||
      art_rd_enum(rd, path, when, "action", &art_gate_action_names, &action) < 0 ||
      art_rd_string(rd, path, when, "tool", false, &r->tool_glob) < 0 ||
      art_rd_string(rd, path, when, "actor", false, &r->actor) < 0 ||
      art_rd_string(rd, path, when, "tenant", false, &r->tenant) < 0 ||
      art_rd_string(rd, path, when, "route", false, &r->route) < 0 ||
      read_sets(rd, path, when, r) < 0 ||
      art_rd_int(rd, path, when, "remaining_steps_lt", 0, INT64_MAX, &r->remaining_steps_lt) < 0 ||
      art_rd_bool(rd, path, when, "evidence", &evidence) < 0)
    return ART_ESPEC;
  r->action = (art_gate_action)action;
  if (check_keys_fit_action(rd, path, when, r->action) < 0) return ART_ESPEC;
  if (json_object_get(when, "evidence")) r->evidence = evidence;
  r->input = json_object_get(when, "input");
  if (r->input) {
    char sub[ART_PATH_SIZE];
    art_rd_member_path(sub, path, "input");
    return art_rd_expect_object(rd, sub, r->input);
  }
  return 0;
}

static int read_rule(const art_reader *rd, const char *path, const json_t *j, rule *r) {
  static const char *const keys[] = {"when", "effect", "reason", NULL};
  int effect = -1;
  *r = (rule){.remaining_steps_lt = -1, .evidence = -1, .reason = ""};
  if (art_rd_expect_object(rd, path, j) < 0 || art_rd_known_keys(rd, path, j, keys) < 0 ||
      art_rd_enum(rd, path, j, "effect", &art_effect_names, &effect) < 0 ||
      art_rd_string(rd, path, j, "reason", false, &r->reason) < 0)
    return ART_ESPEC;
  if (effect < 0) return art_rd_fail(rd, path, "missing required key \"effect\"");
  r->effect = (art_effect)effect;
  const json_t *when = json_object_get(j, "when");
  if (!when) return 0;
  char sub[ART_PATH_SIZE];
  art_rd_member_path(sub, path, "when");
  return read_when(rd, sub, when, r);
}

static int read_approved(const art_reader *rd, const char *path, const json_t *ids) {
  char sub[ART_PATH_SIZE], item[ART_PATH_SIZE];
  art_rd_member_path(sub, path, "approved_action_ids");
  if (art_rd_expect_array(rd, sub, ids) < 0) return ART_ESPEC;
  size_t i;
  const json_t *id;
  json_array_foreach(ids, i, id) {
    art_rd_index_path(item, sub, i);
    if (!json_is_string(id)) return art_rd_fail(rd, item, "expected a string");
  }
  return 0;
}

static int read_policy(art_policy *p, const art_reader *rd, const char *path, const json_t *json) {
  static const char *const keys[] = {"rules", "approved_action_ids", "allow_self_approval", NULL};
  if (art_rd_expect_object(rd, path, json) < 0 || art_rd_known_keys(rd, path, json, keys) < 0 ||
      art_rd_bool(rd, path, json, "allow_self_approval", &p->allow_self_approval) < 0)
    return ART_ESPEC;
  p->approved = json_object_get(json, "approved_action_ids");
  if (p->approved && read_approved(rd, path, p->approved) < 0) return ART_ESPEC;
  const json_t *rules = json_object_get(json, "rules");
  if (!rules) return 0;
  char sub[ART_PATH_SIZE], item[ART_PATH_SIZE];
  art_rd_member_path(sub, path, "rules");
  if (art_rd_expect_array(rd, sub, rules) < 0) return ART_ESPEC;
  if (json_array_size(rules) == 0) return 0;
  p->rules = art_alloc(p->alloc, json_array_size(rules) * sizeof *p->rules);
  if (!p->rules) return art_error_set(rd->err, ART_ENOMEM, "out of memory");
  for (size_t i = 0; i < json_array_size(rules); i++, p->n_rules++) {
    art_rd_index_path(item, sub, i);
    if (read_rule(rd, item, json_array_get(rules, i), &p->rules[i]) < 0) return ART_ESPEC;
  }
  return 0;
}

int art_policy_parse(art_policy **out, const json_t *json, const char *file, const char *path,
                     const art_allocator *alloc, art_error *err) {
  alloc = art_allocator_or_default(alloc);
  art_policy *p = art_zalloc(alloc, sizeof *p);
  if (!p) return art_error_set(err, ART_ENOMEM, "out of memory");
  p->alloc = alloc;
  art_reader rd = {file, err};
  int rc = json ? read_policy(p, &rd, path, json) : 0;
  if (rc < 0) {
    art_policy_free(p);
    return rc;
  }
  p->json = json_incref((json_t *)json);
  *out = p;
  return 0;
}

void art_policy_free(art_policy *p) {
  if (!p) return;
  json_decref(p->json);
  art_release(p->alloc, p->rules);
  art_release(p->alloc, p);
}

size_t art_policy_rule_count(const art_policy *p) { return p->n_rules; }
bool art_policy_allows_self_approval(const art_policy *p) { return p->allow_self_approval; }

bool art_policy_retrieval_varies_by_step(const art_policy *p) {
  for (size_t i = 0; i < p->n_rules; i++)
    if (p->rules[i].action == ART_GATE_RETRIEVE && p->rules[i].remaining_steps_lt >= 0) return true;
  return false;
}

static bool text_matches(const char *want, const char *have) {
  return !want || (have && strcmp(want, have) == 0);
}

static bool in_set(unsigned set, int value) { return !set || (set & (1u << value)); }

static bool input_matches(const json_t *want, const json_t *input) {
  const char *key;
  json_t *value;
  json_object_foreach((json_t *)want, key, value) {
    if (!json_equal(value, json_object_get(input, key))) return false;
  }
  return true;
}

static bool tool_matches(const rule *r, const art_policy_query *q) {
  return (!r->tool_glob || (q->tool && fnmatch(r->tool_glob, q->tool, 0) == 0)) &&
         in_set(r->side_effects, (int)q->side_effect) &&
         (!r->input || (q->input && input_matches(r->input, q->input)));
}

static bool rule_matches(const rule *r, const art_policy_query *q) {
  if (r->action != q->action) return false;
  if (!text_matches(r->actor, q->actor) || !text_matches(r->tenant, q->tenant) ||
      !text_matches(r->route, q->route) || !in_set(r->sensitivities, (int)q->sensitivity))
    return false;
  if (r->remaining_steps_lt >= 0 && !(q->remaining_steps < r->remaining_steps_lt)) return false;
  switch (q->action) {
  case ART_GATE_TOOL: return tool_matches(r, q);
  case ART_GATE_RETRIEVE: return in_set(r->scopes, (int)q->scope);
  case ART_GATE_ANSWER: return r->evidence < 0 || r->evidence == (int)q->has_evidence;
  }
  return false;
}

static void default_verdict(const art_policy_query *q, art_verdict *out) {
  static const char *const tool_reasons[] = {"default: read allowed", "default: draft allowed",
                                             "default: write requires approval"};
  out->rule = -1;
  out->effect = ART_EFFECT_ALLOW;
  switch (q->action) {
  case ART_GATE_TOOL:
    out->reason = tool_reasons[q->side_effect];
    if (q->side_effect == ART_SIDE_WRITE) out->effect = ART_EFFECT_APPROVAL;
    break;
  case ART_GATE_RETRIEVE: out->reason = "default: retrieval allowed"; break;
  case ART_GATE_ANSWER: out->reason = "default: answer allowed"; break;
  }
}

void art_policy_eval(const art_policy *p, const art_policy_query *q, art_verdict *out) {
  out->approved = false;
  for (size_t i = 0; i < p->n_rules; i++) {
    if (rule_matches(&p->rules[i], q)) {
      out->effect = p->rules[i].effect;
      out->rule = (int)i;
      out->reason = p->rules[i].reason;
      return;
    }
  }
  default_verdict(q, out);
}

bool art_policy_preapproved(const art_policy *p, const char *action_id) {
  size_t i;
  const json_t *id;
  if (!p->approved) return false;
  json_array_foreach(p->approved, i, id) {
    if (strcmp(json_string_value(id), action_id) == 0) return true;
  }
  return false;
}
