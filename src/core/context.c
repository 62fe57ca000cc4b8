#include "agentrt/context.h"

#include <stdio.h>
#include <string.h>

static int find_name(const char *name, const char *const *names, int n) {
  for (int i = 0; i < n; i++)
    if (strcmp(name, names[i]) == 0) return i;
  return -1;
}

static const char *const scope_names[] = {"task", "project", "user", "tenant"};
static const char *const sensitivity_names[] = {"public", "internal", "confidential", "restricted"};
static const char *const omit_names[] = {"out_of_scope", "stale", "policy"};
static const char *const obs_kind_names[] = {"model", "tool", "policy", "human", "system"};

const char *art_scope_name(art_scope s) { return (unsigned)s < 4 ? scope_names[s] : "?"; }
const char *art_sensitivity_name(art_sensitivity s) {
  return (unsigned)s < 4 ? sensitivity_names[s] : "?";
}
const char *art_omit_reason_name(art_omit_reason r) { return (unsigned)r < 3 ? omit_names[r] : "?"; }
const char *art_observation_kind_name(art_observation_kind k) {
  return (unsigned)k < 5 ? obs_kind_names[k] : "?";
}

int art_scope_parse(const char *name, art_scope *out) {
  int i = find_name(name, scope_names, 4);
  if (i < 0) return ART_EINVAL;
  *out = (art_scope)i;
  return 0;
}

int art_sensitivity_parse(const char *name, art_sensitivity *out) {
  int i = find_name(name, sensitivity_names, 4);
  if (i < 0) return ART_EINVAL;
  *out = (art_sensitivity)i;
  return 0;
}

void art_observation_id(uint32_t n, char *buf, size_t size) { snprintf(buf, size, "obs_%u", n); }

void art_observation_summary(const art_observation *o, char *buf, size_t size) {
  switch (o->kind) {
  case ART_OBS_TOOL:
    if (o->status == ART_RESULT_OK)
      snprintf(buf, size, "%s ok", o->tool);
    else
      snprintf(buf, size, "%s %s: %s", o->tool, art_result_status_name(o->status),
               o->text ? o->text : "");
    break;
  case ART_OBS_HUMAN:
    snprintf(buf, size, "human answered: %s", o->text ? o->text : "");
    break;
  default:
    snprintf(buf, size, "%s: %s", art_observation_kind_name(o->kind), o->text ? o->text : "");
  }
}

void art_context_summary(const art_context *c, char *buf, size_t size) {
  int n = snprintf(buf, size, "step %u of %u; %zu observation%s; %zu evidence", c->step,
                   c->max_steps, c->n_observations, c->n_observations == 1 ? "" : "s",
                   c->n_evidence);
  if (c->n_recent && n > 0 && (size_t)n < size) {
    char last[160];
    art_observation_summary(&c->recent[c->n_recent - 1], last, sizeof last);
    snprintf(buf + n, size - (size_t)n, "; last: %s", last);
  }
}

/* json_object_set_new that remembers a failure instead of leaking. */
static void put(json_t *obj, const char *key, json_t *value, int *ok) {
  if (!value || json_object_set_new(obj, key, value) < 0) *ok = 0;
}

static void append(json_t *arr, json_t *value, int *ok) {
  if (!value || json_array_append_new(arr, value) < 0) *ok = 0;
}

static json_t *observation_json(const art_observation *o) {
  char id[24], summary[320];
  int ok = 1;
  json_t *j = json_object();
  if (!j) return NULL;
  art_observation_id(o->n, id, sizeof id);
  art_observation_summary(o, summary, sizeof summary);
  put(j, "id", json_string(id), &ok);
  put(j, "kind", json_string(art_observation_kind_name(o->kind)), &ok);
  put(j, "summary", json_string(summary), &ok);
  if (o->data) put(j, "data", json_incref(o->data), &ok);
  if (!ok) json_decref(j), j = NULL;
  return j;
}

static json_t *tool_json(const art_tool *t) {
  int ok = 1;
  json_t *j = json_object();
  if (!j) return NULL;
  put(j, "name", json_string(art_tool_name(t)), &ok);
  put(j, "description", json_string(art_tool_description(t)), &ok);
  put(j, "side_effect", json_string(art_side_effect_name(art_tool_side_effect(t))), &ok);
  if (art_tool_input_schema(t)) put(j, "input_schema", json_deep_copy(art_tool_input_schema(t)), &ok);
  if (!ok) json_decref(j), j = NULL;
  return j;
}

static json_t *tools_json(const art_context *c) {
  int ok = 1;
  json_t *arr = json_array();
  for (size_t i = 0; arr && i < c->n_tools; i++) append(arr, tool_json(c->tools[i]), &ok);
  if (!arr || !ok) json_decref(arr), arr = NULL;
  return arr;
}

static json_t *memory_json(const art_context *c) {
  int ok = 1;
  json_t *arr = json_array();
  for (size_t i = 0; arr && i < c->n_memory; i++) {
    const art_memory_item *m = c->memory[i];
    append(arr,
           json_pack("{s:s, s:s, s:s, s:s}", "id", m->id, "scope", art_scope_name(m->scope),
                     "sensitivity", art_sensitivity_name(m->sensitivity), "text", m->text),
           &ok);
  }
  if (!arr || !ok) json_decref(arr), arr = NULL;
  return arr;
}

static json_t *refs_json(const art_context *c, int *ok) {
  json_t *j = json_object();
  json_t *evidence = json_array(), *omitted = json_array(), *recent = json_array();
  char id[24];
  for (size_t i = 0; evidence && i < c->n_evidence; i++) {
    art_observation_id(c->evidence[i], id, sizeof id);
    append(evidence, json_string(id), ok);
  }
  for (size_t i = 0; omitted && i < c->n_omitted; i++)
    append(omitted, json_pack("{s:s, s:s}", "ref", c->omitted[i].ref, "reason",
                              art_omit_reason_name(c->omitted[i].reason)), ok);
  for (size_t i = 0; recent && i < c->n_recent; i++) append(recent, observation_json(&c->recent[i]), ok);
  if (!j) {
    *ok = 0;
    json_decref(evidence), json_decref(omitted), json_decref(recent);
    return NULL;
  }
  put(j, "evidence_refs", evidence, ok);
  put(j, "omitted_refs", omitted, ok);
  put(j, "recent_observations", recent, ok);
  return j;
}

json_t *art_context_to_json(const art_context *c) {
  char summary[512];
  int ok = 1;
  art_context_summary(c, summary, sizeof summary);
  json_t *j = refs_json(c, &ok);
  if (!j) return NULL;
  put(j, "run_id", json_string(c->run_id), &ok);
  put(j, "goal", json_string(c->goal), &ok);
  put(j, "step", json_integer(c->step), &ok);
  put(j, "max_steps", json_integer(c->max_steps), &ok);
  put(j, "state_summary", json_string(summary), &ok);
  put(j, "tools", tools_json(c), &ok);
  put(j, "memory", memory_json(c), &ok);
  put(j, "sensitivity", json_string(art_sensitivity_name(c->sensitivity)), &ok);
  if (!ok) json_decref(j), j = NULL;
  return j;
}
