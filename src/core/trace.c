/* Trace events as JSON.  JSON is built only here, when a sink asks for it,
 * never on the run's hot path. */
#include "agentrt/trace.h"

#include <inttypes.h>
#include <string.h>

#include "agentrt/run.h"
#include "core/json_parse.h"
#include "core/json_writer.h"

static void write_obs(art_jw *w, const char *key, uint32_t n) {
  char id[24];
  art_observation_id(n, id, sizeof id);
  art_jw_member_str(w, key, id);
}

/* n bytes of `v`, most significant first, as lower-case hex into out. */
static void hex64(uint64_t v, char out[16]) {
  static const char digits[] = "0123456789abcdef";
  for (int i = 15; i >= 0; i--, v >>= 4) out[i] = digits[v & 15];
}

static void write_span(art_jw *w, const char *key, uint64_t span) {
  char hex[17] = {0};
  hex64(span, hex);
  if (span) art_jw_member_str(w, key, hex);
}

static void context_fields(art_jw *w, const art_event *ev) {
  const art_context_refs *refs = ev->u.context.refs;
  char id[24];
  art_jw_key(w, "memory_refs");
  art_jw_open(w, '[');
  for (size_t i = 0; i < refs->n_memory; i++) art_jw_str(w, refs->memory[i]->id);
  art_jw_close(w, ']');
  art_jw_key(w, "omitted_refs");
  art_jw_open(w, '[');
  for (size_t i = 0; i < refs->n_omitted; i++) {
    art_jw_open(w, '{');
    art_jw_member_str(w, "ref", refs->omitted[i].ref);
    art_jw_member_str(w, "reason", art_omit_reason_name(refs->omitted[i].reason));
    art_jw_close(w, '}');
  }
  art_jw_close(w, ']');
  art_jw_key(w, "recent_observations");
  art_jw_open(w, '[');
  for (uint32_t n = ev->u.context.first_recent; n && n <= ev->u.context.last_recent; n++) {
    art_observation_id(n, id, sizeof id);
    art_jw_str(w, id);
  }
  art_jw_close(w, ']');
  art_jw_member_int(w, "evidence_count", ev->u.context.n_evidence);
  art_jw_member_int(w, "tools_disclosed", ev->u.context.n_tools);
  art_jw_member_str(w, "sensitivity", art_sensitivity_name(refs->sensitivity));
}

/* {prompt_tokens, completion_tokens, cost_usd} under `key` when any tokens were
 * used; cost_usd < 0 leaves the money out. */
static void write_cost(art_jw *w, const char *key, uint64_t prompt, uint64_t completion,
                       double cost_usd) {
  if (!prompt && !completion) return;
  art_jw_key(w, key);
  art_jw_open(w, '{');
  art_jw_member_int(w, "prompt_tokens", (int64_t)prompt);
  art_jw_member_int(w, "completion_tokens", (int64_t)completion);
  if (cost_usd >= 0) art_jw_member_real(w, "cost_usd", cost_usd);
  art_jw_close(w, '}');
}

static void decision_fields(art_jw *w, const art_event *ev) {
  static const char *const text_keys[] = {"text", NULL, "question", "reason", "given_type"};
  art_decision_kind k = ev->u.decision.kind;
  art_jw_key(w, "decision");
  art_jw_open(w, '{');
  art_jw_member_str(w, "type", art_decision_kind_name(k));
  if (text_keys[k]) art_jw_member_str(w, text_keys[k], ev->u.decision.text);
  art_jw_member_str(w, "name", ev->u.decision.tool);
  art_jw_member_value(w, "input", ev->u.decision.input);
  art_jw_close(w, '}');
  write_cost(w, "cost", ev->u.decision.usage.prompt_tokens, ev->u.decision.usage.completion_tokens,
             ev->u.decision.cost_usd);
}

static void model_call_fields(art_jw *w, const art_event *ev) {
  art_jw_member_int(w, "attempt", ev->u.model_call.attempt);
  if (ev->u.model_call.repair) {
    art_jw_key(w, "repair");
    art_jw_raw(w, "true");
  }
  if (ev->u.model_call.status) art_jw_member_int(w, "status", ev->u.model_call.status);
  art_jw_member_str(w, "outcome", ev->u.model_call.outcome);
  art_jw_member_str(w, "error", ev->u.model_call.error);
  art_jw_member_str(w, "malformed", ev->u.model_call.malformed);
  if (ev->u.model_call.retry_in_ms >= 0)
    art_jw_member_int(w, "retry_in_ms", ev->u.model_call.retry_in_ms);
  write_cost(w, "usage", ev->u.model_call.usage.prompt_tokens,
             ev->u.model_call.usage.completion_tokens, -1);
  if (!ev->u.model_call.n_ignored) return;
  art_jw_key(w, "ignored_calls");
  art_jw_open(w, '[');
  for (uint32_t i = 0; i < ev->u.model_call.n_ignored; i++)
    art_jw_str(w, ev->u.model_call.ignored[i]);
  art_jw_close(w, ']');
}

static void policy_fields(art_jw *w, const art_event *ev) {
  art_jw_member_str(w, "action", art_gate_action_name(ev->u.policy.action));
  art_jw_member_str(w, "effect", art_effect_name(ev->u.policy.effect));
  art_jw_key(w, "rule");
  if (ev->u.policy.rule >= 0)
    art_jw_int(w, ev->u.policy.rule);
  else
    art_jw_raw(w, "null");
  art_jw_member_str(w, "reason", ev->u.policy.reason);
  art_jw_member_str(w, ev->u.policy.action == ART_GATE_RETRIEVE ? "memory_id" : "tool",
                    ev->u.policy.subject);
  art_jw_member_str(w, "action_id", ev->u.policy.action_id);
  if (ev->u.policy.approved) {
    art_jw_key(w, "approved");
    art_jw_raw(w, "true");
  }
}

static void call_fields(art_jw *w, const art_event *ev) {
  art_jw_member_int(w, "call_id", ev->u.tool_call.call_id);
  art_jw_member_str(w, "tool", ev->u.tool_call.tool);
  art_jw_member_str(w, "side_effect", art_side_effect_name(ev->u.tool_call.side_effect));
  art_jw_member_value(w, "input", ev->u.tool_call.input);
  art_jw_member_str(w, "action_id", ev->u.tool_call.action_id);
  art_jw_member_str(w, "idempotency_key", ev->u.tool_call.idempotency_key);
}

static void result_fields(art_jw *w, const art_event *ev) {
  art_jw_member_int(w, "call_id", ev->u.tool_result.call_id);
  art_jw_member_str(w, "tool", ev->u.tool_result.tool);
  art_jw_member_str(w, "status", art_result_status_name(ev->u.tool_result.status));
  art_jw_member_value(w, "data", ev->u.tool_result.data);
  art_jw_member_str(w, "message", ev->u.tool_result.message);
  write_obs(w, "observation", ev->u.tool_result.observation);
}

static void stop_fields(art_jw *w, const art_event *ev) {
  art_jw_member_str(w, "stop_reason", art_stop_reason_name(ev->u.stop.reason));
  art_jw_member_str(w, "reason", ev->u.stop.detail);
  art_jw_member_str(w, "tool", ev->u.stop.tool);
  art_jw_member_str(w, "action_id", ev->u.stop.action_id);
  art_jw_member_str(w, "answer", ev->u.stop.answer);
  write_cost(w, "usage", ev->u.stop.prompt_tokens, ev->u.stop.completion_tokens,
             ev->u.stop.cost_usd);
}

static void type_fields(art_jw *w, const art_event *ev) {
  switch (ev->type) {
  case ART_EV_RUN_STARTED:
    art_jw_member_str(w, "goal", ev->u.run_started.goal);
    art_jw_member_int(w, "max_steps", ev->u.run_started.max_steps);
    break;
  case ART_EV_CONTEXT_BUILT: context_fields(w, ev); break;
  case ART_EV_DECISION: decision_fields(w, ev); break;
  case ART_EV_POLICY_DECISION: policy_fields(w, ev); break;
  case ART_EV_APPROVAL:
    art_jw_member_str(w, "action_id", ev->u.approval.action_id);
    art_jw_member_str(w, "decision", ev->u.approval.approved ? "approved" : "denied");
    art_jw_member_str(w, "reviewer", ev->u.approval.reviewer);
    art_jw_member_str(w, "reason", ev->u.approval.reason);
    if (ev->u.approval.expires_at_us)
      art_jw_member_int(w, "expires_at_us", ev->u.approval.expires_at_us);
    art_jw_member_str(w, "tool", ev->u.approval.tool);
    art_jw_member_str(w, "input_sha256", ev->u.approval.input_sha256);
    art_jw_member_int(w, "requested_at_us", ev->u.approval.requested_at_us);
    break;
  case ART_EV_TOOL_CALL: call_fields(w, ev); break;
  case ART_EV_TOOL_RESULT: result_fields(w, ev); break;
  case ART_EV_HUMAN_INPUT:
    art_jw_member_str(w, "text", ev->u.human_input.text);
    write_obs(w, "observation", ev->u.human_input.observation);
    break;
  case ART_EV_RESOLUTION:
    art_jw_member_str(w, "action_id", ev->u.resolution.action_id);
    art_jw_member_str(w, "outcome", art_resolve_kind_name(ev->u.resolution.kind));
    art_jw_member_str(w, "operator", ev->u.resolution.operator_name);
    art_jw_member_str(w, "note", ev->u.resolution.note);
    break;
  case ART_EV_STOP: stop_fields(w, ev); break;
  case ART_EV_MODEL_CALL: model_call_fields(w, ev); break;
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

static uint64_t trace_half(const char *run_id, uint64_t seed) {
  uint64_t h = 0xcbf29ce484222325ull ^ seed;
  for (const char *s = run_id; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
  return mix64(h);
}

/* The two halves of the run's trace id; every span id derives from them. */
static void trace_ids(const char *run_id, uint64_t ids[2]) {
  ids[0] = trace_half(run_id, 1);
  ids[1] = trace_half(run_id, 2);
}

/* The span of an event of `type` in `step`; `call_id` is a tool call's or
 * result's. */
static void spans_of(const uint64_t ids[2], art_event_type type, uint32_t step, uint32_t call_id,
                     uint64_t *span, uint64_t *parent) {
  uint64_t root = mix64(ids[0]) | 1, step_span = mix64(ids[0] + 1 + step) | 1;
  switch (type) {
  case ART_EV_RUN_STARTED:
  case ART_EV_STOP:
    *span = root;
    *parent = 0;
    break;
  case ART_EV_TOOL_CALL:
  case ART_EV_TOOL_RESULT:
    *span = mix64(ids[1] ^ call_id) | 1;
    *parent = step_span;
    break;
  default: *span = step_span; *parent = root;
  }
}

static void event_spans(const uint64_t ids[2], const art_event *ev, uint64_t *span,
                        uint64_t *parent) {
  uint32_t call_id = ev->type == ART_EV_TOOL_CALL     ? ev->u.tool_call.call_id
                     : ev->type == ART_EV_TOOL_RESULT ? ev->u.tool_result.call_id
                                                      : 0;
  spans_of(ids, ev->type, ev->step, call_id, span, parent);
}

void art_event_spans(const art_run *run, const art_event *ev, uint64_t *span, uint64_t *parent) {
  uint64_t ids[2];
  trace_ids(art_run_id(run), ids);
  event_spans(ids, ev, span, parent);
}

int art_event_write_json(const art_run *run, const art_event *ev, art_jw *w) {
  char trace_id[33];
  uint64_t span, parent;
  art_jw_reset(w);
  if (w->ids_of != run) { /* a sink writes one run's events: hash its id once */
    trace_ids(art_run_id(run), w->ids);
    w->ids_of = run;
  }
  hex64(w->ids[0], trace_id);
  hex64(w->ids[1], trace_id + 16);
  trace_id[32] = '\0';
  event_spans(w->ids, ev, &span, &parent);
  art_jw_open(w, '{');
  art_jw_member_str(w, "run_id", art_run_id(run));
  art_jw_member_int(w, "seq", ev->seq);
  art_jw_member_str(w, "type", art_event_type_name(ev->type));
  art_jw_member_int(w, "step", ev->step);
  art_jw_member_int(w, "ts_us", ev->ts_us);
  art_jw_member_int(w, "latency_us", ev->latency_us);
  art_jw_member_str(w, "trace_id", trace_id);
  write_span(w, "span_id", span);
  write_span(w, "parent_span_id", parent);
  type_fields(w, ev);
  art_jw_close(w, '}');
  return w->failed ? ART_ENOMEM : 0;
}

int art_event_write_body(const art_event *ev, art_jw *w) {
  art_jw_reset(w);
  art_jw_open(w, '{');
  art_jw_member_int(w, "latency_us", ev->latency_us);
  type_fields(w, ev);
  art_jw_close(w, '}');
  return w->failed ? ART_ENOMEM : 0;
}

json_t *art_event_to_json(const art_run *run, const art_event *ev) {
  art_jw w = {0};
  json_t *j = art_event_write_json(run, ev, &w) == 0 ? art_json_parse(w.s, w.len, NULL) : NULL;
  art_jw_dispose(&w);
  return j;
}

/* The envelope and the trace ids, then the body's members (latency_us first,
 * as art_event_write_json puts them). */
json_t *art_journal_entry_to_json(const char *run_id, const art_journal_entry *e) {
  json_t *body = art_json_parse(e->body, e->body_len, NULL);
  json_t *call_id = json_object_get(body, "call_id");
  uint64_t ids[2], span, parent;
  char trace_id[33], span_hex[17] = {0}, parent_hex[17] = {0};
  trace_ids(run_id, ids);
  spans_of(ids, e->type, e->step, (uint32_t)json_integer_value(call_id), &span, &parent);
  hex64(ids[0], trace_id);
  hex64(ids[1], trace_id + 16);
  trace_id[32] = '\0';
  hex64(span, span_hex);
  hex64(parent, parent_hex);
  json_t *j = body ? json_pack("{s:s, s:i, s:s, s:i, s:I, s:O*, s:s, s:s, s:s*}", "run_id", run_id,
                               "seq", (int)e->seq, "type", art_event_type_name(e->type), "step",
                               (int)e->step, "ts_us", (json_int_t)e->ts_us, "latency_us",
                               json_object_get(body, "latency_us"), "trace_id", trace_id, "span_id",
                               span_hex, "parent_span_id", parent ? parent_hex : NULL)
                   : NULL;
  if (j && json_object_update_missing(j, body) < 0) json_decref(j), j = NULL;
  json_decref(body);
  return j;
}
