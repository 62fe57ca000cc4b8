#include "agentrt/context.h"

#include <stdio.h>
#include <string.h>

#include "core/json_build.h"
#include "core/text.h"

void art_observation_id(uint32_t n, char *buf, size_t size) { snprintf(buf, size, "obs_%u", n); }

void art_observation_summary(const art_observation *o, char *buf, size_t size) {
  const char *text = o->text ? o->text : "";
  switch (o->kind) {
  case ART_OBS_TOOL:
    if (o->status == ART_RESULT_OK)
      art_format(buf, size, "%s ok%s%s", o->tool, o->text ? ": " : "", text);
    else
      art_format(buf, size, "%s %s: %s", o->tool, art_result_status_name(o->status), text);
    break;
  case ART_OBS_HUMAN: art_format(buf, size, "human answered: %s", text); break;
  default: art_format(buf, size, "%s: %s", art_observation_kind_name(o->kind), text);
  }
}

void art_context_summary(const art_context *c, char *buf, size_t size) {
  int n =
      snprintf(buf, size, "step %u of %u; %zu observation%s; %zu evidence", c->step, c->max_steps,
               c->n_observations, c->n_observations == 1 ? "" : "s", c->n_evidence);
  if (c->n_recent && n > 0 && (size_t)n < size) {
    char last[160];
    art_observation_summary(&c->recent[c->n_recent - 1], last, sizeof last);
    art_format(buf + n, size - (size_t)n, "; last: %s", last);
  }
}

/* The summary is built from the tool name and the kept message, which the run
 * redacted when it recorded them. */
json_t *art_observation_json(const art_observation *o, const art_redactor *r) {
  char id[24], summary[320];
  int ok = 1;
  json_t *j = json_object();
  if (!j) return NULL;
  art_observation_id(o->n, id, sizeof id);
  art_observation_summary(o, summary, sizeof summary);
  art_put(j, "id", json_string(id), &ok);
  art_put(j, "kind", json_string(art_observation_kind_name(o->kind)), &ok);
  art_put(j, "summary", json_string(summary), &ok);
  if (o->data) art_put(j, "data", r ? art_redact_json(r, o->data) : json_incref(o->data), &ok);
  if (!ok) json_decref(j), j = NULL;
  return j;
}

static json_t *tool_json(const art_tool *t) {
  int ok = 1;
  json_t *j = json_object();
  if (!j) return NULL;
  art_put(j, "name", json_string(art_tool_name(t)), &ok);
  art_put(j, "description", json_string(art_tool_description(t)), &ok);
  art_put(j, "side_effect", json_string(art_side_effect_name(art_tool_side_effect(t))), &ok);
  if (art_tool_input_schema(t))
    art_put(j, "input_schema", json_deep_copy(art_tool_input_schema(t)), &ok);
  if (!ok) json_decref(j), j = NULL;
  return j;
}

static json_t *tools_json(const art_context *c) {
  int ok = 1;
  json_t *arr = json_array();
  for (size_t i = 0; arr && i < c->n_tools; i++) art_append(arr, tool_json(c->tools[i]), &ok);
  if (!arr || !ok) json_decref(arr), arr = NULL;
  return arr;
}

static json_t *memory_json(const art_context *c) {
  int ok = 1;
  json_t *arr = json_array();
  for (size_t i = 0; arr && i < c->n_memory; i++) {
    const art_memory_item *m = c->memory[i];
    art_append(arr,
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
    art_append(evidence, json_string(id), ok);
  }
  for (size_t i = 0; omitted && i < c->n_omitted; i++)
    art_append(omitted,
               json_pack("{s:s, s:s}", "ref", c->omitted[i].ref, "reason",
                         art_omit_reason_name(c->omitted[i].reason)),
               ok);
  for (size_t i = 0; recent && i < c->n_recent; i++)
    art_append(recent, art_observation_json(&c->recent[i], NULL), ok);
  if (!j) {
    *ok = 0;
    json_decref(evidence), json_decref(omitted), json_decref(recent);
    return NULL;
  }
  art_put(j, "evidence_refs", evidence, ok);
  art_put(j, "omitted_refs", omitted, ok);
  art_put(j, "recent_observations", recent, ok);
  return j;
}

json_t *art_context_to_json(const art_context *c) {
  char summary[512];
  int ok = 1;
  art_context_summary(c, summary, sizeof summary);
  json_t *j = refs_json(c, &ok);
  if (!j) return NULL;
  art_put(j, "run_id", json_string(c->run_id), &ok);
  art_put(j, "goal", json_string(c->goal), &ok);
  art_put(j, "step", json_integer(c->step), &ok);
  art_put(j, "max_steps", json_integer(c->max_steps), &ok);
  art_put(j, "state_summary", json_string(summary), &ok);
  art_put(j, "tools", tools_json(c), &ok);
  art_put(j, "memory", memory_json(c), &ok);
  art_put(j, "sensitivity", json_string(art_sensitivity_name(c->sensitivity)), &ok);
  if (!ok) json_decref(j), j = NULL;
  return j;
}
