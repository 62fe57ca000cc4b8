/* Trace events as JSON and the JSONL sink.  JSON is built only here, when a
 * sink asks for it, never on the run's hot path. */
#include "agentrt/trace.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "agentrt/run.h"
#include "core/json_build.h"

/* Setters on top of art_put; NULL strings are skipped. */
static void put_str(json_t *o, const char *key, const char *s, int *ok) {
  if (s) art_put(o, key, json_string(s), ok);
}
static void put_int(json_t *o, const char *key, int64_t n, int *ok) {
  art_put(o, key, json_integer(n), ok);
}
static void put_json(json_t *o, const char *key, json_t *v, int *ok) {
  if (v) art_put(o, key, json_incref(v), ok);
}
static void put_obs(json_t *o, const char *key, uint32_t n, int *ok) {
  char id[24];
  art_observation_id(n, id, sizeof id);
  put_str(o, key, id, ok);
}
static void put_span(json_t *o, const char *key, uint64_t span, int *ok) {
  char hex[17];
  snprintf(hex, sizeof hex, "%016" PRIx64, span);
  if (span) put_str(o, key, hex, ok);
}

static json_t *refs_memory_json(const art_context_refs *refs) {
  json_t *arr = json_array();
  for (size_t i = 0; arr && i < refs->n_memory; i++)
    if (json_array_append_new(arr, json_string(refs->memory[i]->id)) < 0) json_decref(arr), arr = NULL;
  return arr;
}

static json_t *refs_omitted_json(const art_context_refs *refs) {
  json_t *arr = json_array();
  for (size_t i = 0; arr && i < refs->n_omitted; i++) {
    json_t *o = json_pack("{s:s, s:s}", "ref", refs->omitted[i].ref, "reason",
                          art_omit_reason_name(refs->omitted[i].reason));
    if (json_array_append_new(arr, o) < 0) json_decref(arr), arr = NULL;
  }
  return arr;
}

static json_t *recent_json(const art_event *ev) {
  json_t *arr = json_array();
  char id[24];
  for (uint32_t n = ev->u.context.first_recent; arr && n && n <= ev->u.context.last_recent; n++) {
    art_observation_id(n, id, sizeof id);
    if (json_array_append_new(arr, json_string(id)) < 0) json_decref(arr), arr = NULL;
  }
  return arr;
}

static void context_fields(json_t *j, const art_event *ev, int *ok) {
  const art_context_refs *refs = ev->u.context.refs;
  art_put(j, "memory_refs", refs_memory_json(refs), ok);
  art_put(j, "omitted_refs", refs_omitted_json(refs), ok);
  art_put(j, "recent_observations", recent_json(ev), ok);
  put_int(j, "evidence_count", ev->u.context.n_evidence, ok);
  put_int(j, "tools_disclosed", ev->u.context.n_tools, ok);
  put_str(j, "sensitivity", art_sensitivity_name(refs->sensitivity), ok);
}

static void decision_fields(json_t *j, const art_event *ev, int *ok) {
  static const char *const text_keys[] = {"text", NULL, "question", "reason", "type"};
  json_t *d = json_object();
  if (!d) {
    *ok = 0;
    return;
  }
  art_decision_kind k = ev->u.decision.kind;
  put_str(d, "type", k == ART_DECISION_MALFORMED ? "malformed" : art_decision_kind_name(k), ok);
  if (text_keys[k]) put_str(d, k == ART_DECISION_MALFORMED ? "given_type" : text_keys[k],
                            ev->u.decision.text, ok);
  put_str(d, "name", ev->u.decision.tool, ok);
  put_json(d, "input", ev->u.decision.input, ok);
  art_put(j, "decision", d, ok);
  const art_usage *u = &ev->u.decision.usage;
  if (u->prompt_tokens || u->completion_tokens)
    art_put(j, "cost", json_pack("{s:I, s:I}", "prompt_tokens", (json_int_t)u->prompt_tokens,
                             "completion_tokens", (json_int_t)u->completion_tokens), ok);
}

static void policy_fields(json_t *j, const art_event *ev, int *ok) {
  put_str(j, "action", art_gate_action_name(ev->u.policy.action), ok);
  put_str(j, "effect", art_effect_name(ev->u.policy.effect), ok);
  art_put(j, "rule", ev->u.policy.rule >= 0 ? json_integer(ev->u.policy.rule) : json_null(), ok);
  put_str(j, "reason", ev->u.policy.reason, ok);
  put_str(j, ev->u.policy.action == ART_GATE_RETRIEVE ? "memory_id" : "tool", ev->u.policy.subject, ok);
  put_str(j, "action_id", ev->u.policy.action_id, ok);
  if (ev->u.policy.approved) art_put(j, "approved", json_true(), ok);
}

static void call_fields(json_t *j, const art_event *ev, int *ok) {
  put_int(j, "call_id", ev->u.tool_call.call_id, ok);
  put_str(j, "tool", ev->u.tool_call.tool, ok);
  put_str(j, "side_effect", art_side_effect_name(ev->u.tool_call.side_effect), ok);
  put_json(j, "input", ev->u.tool_call.input, ok);
  put_str(j, "action_id", ev->u.tool_call.action_id, ok);
}

static void result_fields(json_t *j, const art_event *ev, int *ok) {
  put_int(j, "call_id", ev->u.tool_result.call_id, ok);
  put_str(j, "tool", ev->u.tool_result.tool, ok);
  put_str(j, "status", art_result_status_name(ev->u.tool_result.status), ok);
  put_json(j, "data", ev->u.tool_result.data, ok);
  put_str(j, "message", ev->u.tool_result.message, ok);
  put_obs(j, "observation", ev->u.tool_result.observation, ok);
}

static void stop_fields(json_t *j, const art_event *ev, int *ok) {
  put_str(j, "stop_reason", art_stop_reason_name(ev->u.stop.reason), ok);
  put_str(j, "reason", ev->u.stop.detail, ok);
  put_str(j, "tool", ev->u.stop.tool, ok);
  put_str(j, "action_id", ev->u.stop.action_id, ok);
  put_str(j, "answer", ev->u.stop.answer, ok);
}

static void type_fields(json_t *j, const art_event *ev, int *ok) {
  switch (ev->type) {
  case ART_EV_RUN_STARTED:
    put_str(j, "goal", ev->u.run_started.goal, ok);
    put_int(j, "max_steps", ev->u.run_started.max_steps, ok);
    break;
  case ART_EV_CONTEXT_BUILT: context_fields(j, ev, ok); break;
  case ART_EV_DECISION: decision_fields(j, ev, ok); break;
  case ART_EV_POLICY_DECISION: policy_fields(j, ev, ok); break;
  case ART_EV_APPROVAL:
    put_str(j, "action_id", ev->u.approval.action_id, ok);
    put_str(j, "decision", ev->u.approval.approved ? "approved" : "denied", ok);
    put_str(j, "reviewer", ev->u.approval.reviewer, ok);
    put_str(j, "reason", ev->u.approval.reason, ok);
    break;
  case ART_EV_TOOL_CALL: call_fields(j, ev, ok); break;
  case ART_EV_TOOL_RESULT: result_fields(j, ev, ok); break;
  case ART_EV_HUMAN_INPUT:
    put_str(j, "text", ev->u.human_input.text, ok);
    put_obs(j, "observation", ev->u.human_input.observation, ok);
    break;
  case ART_EV_STOP: stop_fields(j, ev, ok); break;
  }
}

/* Trace and span ids are derived from the run id when a sink asks for them, so
 * the hot path never computes them and a replayed run gets the same ids. */
static uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static uint64_t trace_half(const art_run *run, uint64_t seed) {
  uint64_t h = 0xcbf29ce484222325ull ^ seed;
  for (const char *s = art_run_id(run); *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
  return mix64(h);
}

static void trace_id_hex(const art_run *run, char out[33]) {
  snprintf(out, 33, "%016" PRIx64 "%016" PRIx64, trace_half(run, 1), trace_half(run, 2));
}

static uint64_t root_span(const art_run *run) { return mix64(trace_half(run, 1)) | 1; }
static uint64_t step_span(const art_run *run, uint32_t step) {
  return mix64(trace_half(run, 1) + 1 + step) | 1;
}
static uint64_t call_span(const art_run *run, uint32_t call) {
  return mix64(trace_half(run, 2) ^ call) | 1;
}

void art_event_spans(const art_run *run, const art_event *ev, uint64_t *span, uint64_t *parent) {
  switch (ev->type) {
  case ART_EV_RUN_STARTED:
  case ART_EV_STOP:
    *span = root_span(run);
    *parent = 0;
    break;
  case ART_EV_TOOL_CALL:
  case ART_EV_TOOL_RESULT:
    *span = call_span(run, ev->type == ART_EV_TOOL_CALL ? ev->u.tool_call.call_id
                                                         : ev->u.tool_result.call_id);
    *parent = step_span(run, ev->step);
    break;
  default:
    *span = step_span(run, ev->step);
    *parent = root_span(run);
  }
}

json_t *art_event_to_json(const art_run *run, const art_event *ev) {
  char trace_id[33];
  int ok = 1;
  json_t *j = json_object();
  if (!j) return NULL;
  trace_id_hex(run, trace_id);
  put_str(j, "run_id", art_run_id(run), &ok);
  put_int(j, "seq", ev->seq, &ok);
  put_str(j, "type", art_event_type_name(ev->type), &ok);
  put_int(j, "step", ev->step, &ok);
  put_int(j, "ts_us", ev->ts_us, &ok);
  put_int(j, "latency_us", ev->latency_us, &ok);
  put_str(j, "trace_id", trace_id, &ok);
  uint64_t span, parent;
  art_event_spans(run, ev, &span, &parent);
  put_span(j, "span_id", span, &ok);
  put_span(j, "parent_span_id", parent, &ok);
  type_fields(j, ev, &ok);
  if (!ok) json_decref(j), j = NULL;
  return j;
}

static int jsonl_write(void *ud, const art_run *run, const art_event *ev) {
  FILE *f = ud;
  json_t *j = art_event_to_json(run, ev);
  if (!j) return ART_ENOMEM;
  int rc = json_dumpf(j, f, JSON_COMPACT) == 0 && fputc('\n', f) != EOF && fflush(f) == 0 ? 0 : ART_EIO;
  json_decref(j);
  return rc;
}

art_sink art_jsonl_sink(FILE *f) {
  return (art_sink){ART_SINK_VERSION, jsonl_write, NULL, f};
}
