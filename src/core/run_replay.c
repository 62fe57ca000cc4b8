/* Replay: a run's state rebuilt from its journal by feeding the recorded
 * outcomes back through the one state machine, so a resumed run is the run
 * that was interrupted, and the journal is checked event by event.
 *
 * Most events are made by the run itself (contexts, calls handed out, policy
 * verdicts): replay compares their envelopes and never reads their bodies.
 * A body is parsed only when it holds an outcome to feed back (a decision, a
 * tool result, an answer, an approval) or a stop's reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_parse.h"
#include "core/names.h"
#include "core/run_internal.h"
#include "core/text.h"

struct art_replay {
  art_run *run;
  const art_journal_entry *entries;
  size_t n;
  json_t **fields; /* entry i's body as JSON, parsed when first needed */
  bool parsed;     /* fields are parsed here and released once fed (else the caller's) */
  size_t at;       /* the entry being fed */
};

typedef struct art_replay replay;

/* Entry i's fields: its body, parsed once; NULL when it is not a JSON object. */
static const json_t *fields(replay *r, size_t i) {
  if (i >= r->n) return NULL;
  if (!r->fields[i]) {
    art_error err;
    json_t *body = art_json_parse(r->entries[i].body, r->entries[i].body_len, &err);
    if (!json_is_object(body)) {
      json_decref(body);
      return NULL;
    }
    r->fields[i] = body;
  }
  return r->fields[i];
}

static const char *str(const json_t *obj, const char *key) {
  return json_string_value(json_object_get(obj, key));
}

/* The string at `key`, "" when there is none: for comparisons. */
static const char *text(const json_t *obj, const char *key) {
  const char *s = str(obj, key);
  return s ? s : "";
}

static uint32_t uint_of(const json_t *obj, const char *key) {
  return (uint32_t)json_integer_value(json_object_get(obj, key));
}

static int mismatch(art_run *run, size_t i, const char *why) {
  return art_run_failf(run, ART_ESTATE, "the journal does not match the run at event %zu: %.*s",
                       i + 1, art_utf8_prefix(why, 400), why);
}

/* The action id the gate recorded after the decision being fed (NULL when
 * none): asked by the run only when it needs an id. */
const char *art_replay_action_id(struct art_replay *r) {
  for (size_t k = r->at + 1; k < r->n; k++) {
    if (r->entries[k].type == ART_EV_DECISION) break;
    if (r->entries[k].type == ART_EV_POLICY_DECISION && str(fields(r, k), "action_id"))
      return str(fields(r, k), "action_id");
  }
  return NULL;
}

static void decision_from(replay *r, const json_t *ev, art_decision *d) {
  const json_t *dj = json_object_get(ev, "decision"), *cost = json_object_get(ev, "cost");
  art_decision_from_json(dj, d);
  if (strcmp(text(dj, "type"), "malformed") == 0) {
    /* What was wrong is in the stop that followed it. */
    const char *why = str(fields(r, r->at + 1), "reason");
    d->kind = ART_DECISION_MALFORMED;
    d->text = str(dj, "given_type");
    d->malformed = why && strncmp(why, "unknown_decision_type: ", 23) == 0 ? NULL : why;
  }
  d->usage.prompt_tokens = uint_of(cost, "prompt_tokens");
  d->usage.completion_tokens = uint_of(cost, "completion_tokens");
}

static int feed_decision(replay *r, const json_t *ev, int64_t ts) {
  art_decision d;
  decision_from(r, ev, &d);
  r->run->replay = r;
  int rc = art_run_feed_decision(r->run, &d, ts);
  r->run->replay = NULL;
  return rc;
}

static int feed_result(art_run *run, const json_t *ev, int64_t ts) {
  art_tool_result result = {0};
  int status = art_names_find(&art_result_status_names, text(ev, "status"));
  if (status < 0) return ART_ESTATE;
  art_tool_result_set(&result, (art_result_status)status, json_incref(json_object_get(ev, "data")),
                      "%s", text(ev, "message"));
  int rc = art_run_feed_tool_result(run, uint_of(ev, "call_id"), &result, ts);
  art_tool_result_dispose(&result);
  return rc;
}

static int feed_approval(art_run *run, const json_t *ev, int64_t ts) {
  art_approval a = {.action_id = str(ev, "action_id"),
                    .approved = strcmp(text(ev, "decision"), "approved") == 0,
                    .reviewer = str(ev, "reviewer"),
                    .reason = str(ev, "reason"),
                    .expires_at_us = json_integer_value(json_object_get(ev, "expires_at_us"))};
  return art_run_feed_approval(run, &a, ts);
}

static int feed_resolution(art_run *run, const json_t *ev, int64_t ts) {
  int kind = art_names_find(&art_resolve_kind_names, text(ev, "outcome"));
  if (kind < 0) return ART_ESTATE;
  art_resolution res = {.action_id = str(ev, "action_id"),
                        .kind = (art_resolve_kind)kind,
                        .operator_name = str(ev, "operator"),
                        .note = str(ev, "note")};
  return art_run_resolve(run, &res, ts);
}

/* The ignored call names point into the journal, which outlives the feed. */
static int feed_model_call(art_run *run, const json_t *ev, int64_t ts) {
  const json_t *usage = json_object_get(ev, "usage"),
               *ignored = json_object_get(ev, "ignored_calls");
  const json_t *retry = json_object_get(ev, "retry_in_ms");
  const char *names[ART_MODEL_CALL_MAX_IGNORED];
  art_model_call call = {
      .attempt = uint_of(ev, "attempt"),
      .repair = json_is_true(json_object_get(ev, "repair")),
      .status = (int)json_integer_value(json_object_get(ev, "status")),
      .outcome = str(ev, "outcome"),
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

/* A stop is made by art_run_next when the budget ran out (max_steps,
 * wall_time) or an approval expired, or by the driver when the wall time ran
 * out during a decision or a call; any other stop is an outcome to feed. */
static int feed_stop(art_run *run, const json_t *ev, int64_t ts) {
  const art_action *act;
  const char *stop = text(ev, "stop_reason"), *reason = text(ev, "reason");
  bool in_flight = run->phase == PH_AWAIT_DECISION || run->phase == PH_AWAIT_RESULT;
  if (strcmp(stop, "budget_exhausted") == 0 && in_flight) return art_run_feed_time_out(run, ts);
  if (strcmp(stop, "budget_exhausted") == 0 || strcmp(reason, "approval expired") == 0)
    return art_run_next(run, ts, &act);
  if (strcmp(stop, "model_failure") == 0) return art_run_feed_model_failure(run, reason, ts);
  if (strcmp(stop, "tool_failure") == 0) return art_run_feed_tools_failure(run, reason, ts);
  if (strcmp(stop, "cancelled") == 0) return art_run_cancel(run, reason, ts);
  if (strcmp(reason, "outcome_unknown") == 0) return art_run_feed_outcome_unknown(run, ts);
  return ART_ESTATE;
}

/* A run cancelled before it started: art_run_cancel made its run_started
 * and its stop together. */
static bool cancelled_unstarted(const replay *r) {
  const art_journal_entry *next = r->at + 1 < r->n ? &r->entries[r->at + 1] : NULL;
  return next && next->type == ART_EV_STOP && next->step == 0;
}

/* Feed what produced the entry at r->at.  A policy verdict at this point is
 * a retrieve's, made while art_run_next builds a context: the verdicts on
 * decisions are made by feeding the decision, before the replay gets here. */
static int feed(replay *r) {
  art_run *run = r->run;
  const art_journal_entry *e = &r->entries[r->at];
  const art_action *act;
  if (e->type == ART_EV_RUN_STARTED && cancelled_unstarted(r)) {
    const json_t *stop = fields(r, r->at + 1);
    if (!stop) return mismatch(run, r->at + 1, "its body is not a JSON object");
    return art_run_cancel(run, str(stop, "reason"), r->entries[r->at + 1].ts_us);
  }
  switch (e->type) {
  case ART_EV_RUN_STARTED:
  case ART_EV_CONTEXT_BUILT:
  case ART_EV_TOOL_CALL:
  case ART_EV_POLICY_DECISION: return art_run_next(run, e->ts_us, &act);
  default: break;
  }
  const json_t *ev = fields(r, r->at);
  if (!ev) return mismatch(run, r->at, "its body is not a JSON object");
  int rc;
  switch (e->type) {
  case ART_EV_DECISION: rc = feed_decision(r, ev, e->ts_us); break;
  case ART_EV_TOOL_RESULT: rc = feed_result(run, ev, e->ts_us); break;
  case ART_EV_MODEL_CALL: rc = feed_model_call(run, ev, e->ts_us); break;
  case ART_EV_HUMAN_INPUT: rc = art_run_feed_human_input(run, str(ev, "text"), e->ts_us); break;
  case ART_EV_APPROVAL: rc = feed_approval(run, ev, e->ts_us); break;
  case ART_EV_RESOLUTION: rc = feed_resolution(run, ev, e->ts_us); break;
  case ART_EV_STOP: rc = feed_stop(run, ev, e->ts_us); break;
  default: rc = ART_ESTATE;
  }
  if (rc != ART_ESTATE) return rc;
  char why[256]; /* the run's own reason, cut to fit in the message */
  art_format(why, sizeof why, "%s",
             art_run_errmsg(run)[0] ? art_run_errmsg(run)
                                    : "no outcome of the run makes this event");
  return mismatch(run, r->at, why);
}

/* The events the run made from `from` on must be the journal's. */
static int check(replay *r, size_t from) {
  art_run *run = r->run;
  for (size_t k = from; k < run->events.len && k < r->n; k++) {
    const art_event *ev = ((art_event *const *)run->events.items)[k];
    const art_journal_entry *want = &r->entries[k];
    char why[160];
    if (want->type != ev->type || want->step != ev->step) {
      snprintf(why, sizeof why, "the run made %s at step %u, the journal has %s at step %u",
               art_event_type_name(ev->type), ev->step, art_event_type_name(want->type),
               want->step);
      return mismatch(run, k, why);
    }
    if (ev->type == ART_EV_STOP &&
        strcmp(text(fields(r, k), "stop_reason"), art_stop_reason_name(ev->u.stop.reason)) != 0)
      return mismatch(run, k, "the run stopped for another reason");
  }
  return 0;
}

static int replay_entries(replay *r) {
  art_run *run = r->run;
  if (run->phase != PH_NEW) {
    return art_run_fail(run, ART_ESTATE, "only a new run can be replayed");
  }
  run->journaled = (uint32_t)r->n;
  while (run->events.len < r->n) {
    r->at = run->events.len;
    if (r->entries[r->at].seq != r->at + 1)
      return mismatch(run, r->at, "events are missing or out of order");
    art_run_clear_errmsg(run);
    int rc = feed(r);
    if (rc == 0) rc = check(r, r->at);
    if (rc < 0) return rc;
    if (run->events.len == r->at) return mismatch(run, r->at, "the run made no event");
    for (size_t k = r->at; r->parsed && k < run->events.len && k < r->n; k++) {
      json_decref(r->fields[k]); /* fed: what the run keeps of it, it has copied */
      r->fields[k] = NULL;
    }
  }
  return 0;
}

int art_run_replay_journal(art_run *run, const art_journal *journal) {
  replay r = {run, journal->entries, journal->n, calloc(journal->n + 1, sizeof(json_t *)), true, 0};
  if (!r.fields) return art_run_fail(run, ART_ENOMEM, "out of memory");
  int rc = replay_entries(&r);
  for (size_t i = 0; i < r.n; i++) json_decref(r.fields[i]);
  free(r.fields);
  return rc;
}

/* Events as JSON objects carry their envelope and their fields together: the
 * entries point at them and nothing is parsed. */
int art_run_replay(art_run *run, const json_t *events) {
  size_t n = json_array_size(events);
  art_journal_entry *entries = calloc(n + 1, sizeof *entries);
  json_t **objects = calloc(n + 1, sizeof *objects);
  int rc = entries && objects ? 0 : ART_ENOMEM;
  if (rc < 0) art_run_fail(run, rc, "out of memory");
  for (size_t i = 0; rc == 0 && i < n; i++) {
    json_t *ev = json_array_get(events, i);
    objects[i] = ev;
    entries[i] = (art_journal_entry){.seq = uint_of(ev, "seq"),
                                     .step = uint_of(ev, "step"),
                                     .ts_us = json_integer_value(json_object_get(ev, "ts_us"))};
    if (!json_is_object(ev) || art_event_type_parse(text(ev, "type"), &entries[i].type) < 0)
      rc = mismatch(run, i, "not an event");
  }
  replay r = {run, entries, n, objects, false, 0};
  if (rc == 0) rc = replay_entries(&r);
  free(entries);
  free(objects);
  return rc;
}
