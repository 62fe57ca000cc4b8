/* Replay: a run's state rebuilt from its journal by feeding the recorded
 * outcomes back through the one state machine, so a resumed run is the run
 * that was interrupted, and the journal is checked event by event. */
#include <stdio.h>
#include <string.h>

#include "core/names.h"
#include "core/run_internal.h"

typedef struct replay {
  art_run *run;
  const json_t *events;
  size_t n;
} replay;

static const char *str(const json_t *ev, const char *key) {
  return json_string_value(json_object_get(ev, key));
}

static bool is(const json_t *ev, const char *type) {
  const char *t = str(ev, "type");
  return t && strcmp(t, type) == 0;
}

static int mismatch(art_run *run, size_t i, const char *why) {
  snprintf(run->errmsg, sizeof run->errmsg, "the journal does not match the run at event %zu: %s",
           i + 1, why);
  return ART_ESTATE;
}

/* The action id the gate recorded after the decision at i (NULL when none). */
static const char *recorded_action_id(const replay *r, size_t i) {
  for (size_t k = i + 1; k < r->n; k++) {
    const json_t *ev = json_array_get(r->events, k);
    if (is(ev, "decision")) break;
    if (is(ev, "policy_decision") && str(ev, "action_id")) return str(ev, "action_id");
  }
  return NULL;
}

static void decision_from(const replay *r, size_t i, art_decision *d) {
  const json_t *ev = json_array_get(r->events, i), *dj = json_object_get(ev, "decision");
  const json_t *cost = json_object_get(ev, "cost");
  art_decision_from_json(dj, d);
  if (strcmp(str(dj, "type") ? str(dj, "type") : "", "malformed") == 0) {
    /* What was wrong is in the stop that followed it. */
    const char *why = i + 1 < r->n ? str(json_array_get(r->events, i + 1), "reason") : NULL;
    d->kind = ART_DECISION_MALFORMED;
    d->text = str(dj, "given_type");
    d->malformed = why && strncmp(why, "unknown_decision_type: ", 23) == 0 ? NULL : why;
  }
  d->usage.prompt_tokens = (uint32_t)json_integer_value(json_object_get(cost, "prompt_tokens"));
  d->usage.completion_tokens =
      (uint32_t)json_integer_value(json_object_get(cost, "completion_tokens"));
}

static int feed_result(art_run *run, const json_t *ev, int64_t ts) {
  art_tool_result result = {0};
  int status = art_names_find(&art_result_status_names, str(ev, "status") ? str(ev, "status") : "");
  if (status < 0) return ART_ESTATE;
  art_tool_result_set(&result, (art_result_status)status, json_incref(json_object_get(ev, "data")),
                      "%s", str(ev, "message") ? str(ev, "message") : "");
  int rc = art_run_feed_tool_result(
      run, (uint32_t)json_integer_value(json_object_get(ev, "call_id")), &result, ts);
  art_tool_result_dispose(&result);
  return rc;
}

static int feed_approval(art_run *run, const json_t *ev, int64_t ts) {
  const char *decision = str(ev, "decision");
  art_approval a = {.action_id = str(ev, "action_id"),
                    .approved = decision && strcmp(decision, "approved") == 0,
                    .reviewer = str(ev, "reviewer"),
                    .reason = str(ev, "reason"),
                    .expires_at_us = json_integer_value(json_object_get(ev, "expires_at_us"))};
  return art_run_feed_approval(run, &a, ts);
}

static int feed_resolution(art_run *run, const json_t *ev, int64_t ts) {
  int kind = art_names_find(&art_resolve_kind_names, str(ev, "outcome") ? str(ev, "outcome") : "");
  if (kind < 0) return ART_ESTATE;
  art_resolution r = {.action_id = str(ev, "action_id"),
                      .kind = (art_resolve_kind)kind,
                      .operator_name = str(ev, "operator"),
                      .note = str(ev, "note")};
  return art_run_resolve(run, &r, ts);
}

static uint32_t uint_of(const json_t *obj, const char *key) {
  return (uint32_t)json_integer_value(json_object_get(obj, key));
}

/* The ignored call names point into the journal, which outlives the feed. */
static int feed_model_call(art_run *run, const json_t *ev, int64_t ts) {
  const json_t *usage = json_object_get(ev, "usage"), *ignored = json_object_get(ev, "ignored_calls");
  const json_t *retry = json_object_get(ev, "retry_in_ms");
  const char *names[ART_MODEL_CALL_MAX_IGNORED];
  art_model_call call = {
      .attempt = uint_of(ev, "attempt"),
      .repair = json_is_true(json_object_get(ev, "repair")),
      .status = (int)json_integer_value(json_object_get(ev, "status")),
      .latency_us = json_integer_value(json_object_get(ev, "latency_us")),
      .error = str(ev, "error"),
      .malformed = str(ev, "malformed"),
      .retry_in_ms = retry ? json_integer_value(retry) : -1,
      .usage = {uint_of(usage, "prompt_tokens"), uint_of(usage, "completion_tokens")},
      .ignored = names};
  for (size_t i = 0; i < json_array_size(ignored) && i < sizeof names / sizeof *names; i++)
    names[call.n_ignored++] = json_string_value(json_array_get(ignored, i));
  return art_run_feed_model_call(run, &call, ts);
}

/* Made by art_run_next: the start, contexts (with their retrieve verdicts),
 * calls handed out, and the budget running out. */
static bool made_by_next(const json_t *ev) {
  const char *stop = str(ev, "stop_reason");
  return is(ev, "run_started") || is(ev, "context_built") || is(ev, "tool_call") ||
         (is(ev, "policy_decision") &&
          strcmp(str(ev, "action") ? str(ev, "action") : "", "retrieve") == 0) ||
         (is(ev, "stop") && stop &&
          strcmp(stop, "budget_exhausted") == 0) || /* max_steps, wall_time */
         (is(ev, "stop") &&
          strcmp(str(ev, "reason") ? str(ev, "reason") : "", "approval expired") == 0);
}

/* Feed what produced journal event i. */
static int feed(replay *r, size_t i) {
  art_run *run = r->run;
  const json_t *ev = json_array_get(r->events, i);
  int64_t ts = json_integer_value(json_object_get(ev, "ts_us"));
  const art_action *act;
  if (made_by_next(ev)) return art_run_next(run, ts, &act);
  if (is(ev, "decision")) {
    art_decision d;
    decision_from(r, i, &d);
    run->replay_action_id = recorded_action_id(r, i);
    int rc = art_run_feed_decision(run, &d, ts);
    run->replay_action_id = NULL;
    return rc;
  }
  if (is(ev, "tool_result")) return feed_result(run, ev, ts);
  if (is(ev, "model_call")) return feed_model_call(run, ev, ts);
  if (is(ev, "human_input")) return art_run_feed_human_input(run, str(ev, "text"), ts);
  if (is(ev, "approval")) return feed_approval(run, ev, ts);
  if (is(ev, "resolution")) return feed_resolution(run, ev, ts);
  if (is(ev, "stop") &&
      strcmp(str(ev, "stop_reason") ? str(ev, "stop_reason") : "", "model_failure") == 0)
    return art_run_feed_model_failure(run, str(ev, "reason"), ts);
  if (is(ev, "stop") &&
      strcmp(str(ev, "stop_reason") ? str(ev, "stop_reason") : "", "tool_failure") == 0)
    return art_run_feed_tools_failure(run, str(ev, "reason"), ts);
  if (is(ev, "stop") &&
      strcmp(str(ev, "stop_reason") ? str(ev, "stop_reason") : "", "cancelled") == 0)
    return art_run_cancel(run, str(ev, "reason"), ts);
  if (is(ev, "stop") && strcmp(str(ev, "reason") ? str(ev, "reason") : "", "outcome_unknown") == 0)
    return art_run_feed_outcome_unknown(run, ts);
  return mismatch(run, i, "no outcome of the run makes this event");
}

/* The events the run made from `from` on must be the journal's. */
static int check(replay *r, size_t from) {
  art_run *run = r->run;
  for (size_t k = from; k < run->events.len && k < r->n; k++) {
    const art_event *ev = ((art_event *const *)run->events.items)[k];
    const json_t *want = json_array_get(r->events, k);
    char why[160];
    if (!is(want, art_event_type_name(ev->type)) ||
        json_integer_value(json_object_get(want, "step")) != ev->step) {
      snprintf(why, sizeof why, "the run made %s at step %u, the journal has %s at step %lld",
               art_event_type_name(ev->type), ev->step, str(want, "type") ? str(want, "type") : "?",
               (long long)json_integer_value(json_object_get(want, "step")));
      return mismatch(run, k, why);
    }
    if (ev->type == ART_EV_STOP && strcmp(str(want, "stop_reason") ? str(want, "stop_reason") : "",
                                          art_stop_reason_name(ev->u.stop.reason)) != 0)
      return mismatch(run, k, "the run stopped for another reason");
  }
  return 0;
}

int art_run_replay(art_run *run, const json_t *events) {
  if (run->phase != PH_NEW) {
    snprintf(run->errmsg, sizeof run->errmsg, "only a new run can be replayed");
    return ART_ESTATE;
  }
  replay r = {run, events, json_array_size(events)};
  run->journaled = (uint32_t)r.n;
  while (run->events.len < r.n) {
    size_t at = run->events.len;
    const json_t *ev = json_array_get(events, at);
    if (json_integer_value(json_object_get(ev, "seq")) != (json_int_t)at + 1)
      return mismatch(run, at, "events are missing or out of order");
    int rc = feed(&r, at);
    if (rc == 0) rc = check(&r, at);
    if (rc < 0) return rc;
    if (run->events.len == at) return mismatch(run, at, "the run made no event");
  }
  return 0;
}
