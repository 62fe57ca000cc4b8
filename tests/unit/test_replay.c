/* Replay: a run rebuilt from any prefix of its journal is in exactly the state
 * the live run was in at that point, and it carries on from there. */
#include <stdlib.h>
#include <string.h>

#include "agentrt.h"
#include "agentrt/store.h"
#include "core/run_internal.h"
#include "testutil.h"

/* ---- the state of a run, as JSON to compare ---------------------------------------- */

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

static json_t *observations_digest(const art_run *run) {
  json_t *arr = json_array();
  const art_observation *o = run->observations.items;
  for (uint32_t i = 0; i < run->observations.len; i++)
    json_array_append_new(arr, json_pack("{s:i, s:i, s:i, s:o, s:o, s:O?}", "n", o[i].n, "kind",
                                         o[i].kind, "status", o[i].status, "tool",
                                         str_or_null(o[i].tool), "text", str_or_null(o[i].text),
                                         "data", o[i].data));
  return arr;
}

static json_t *ids_digest(const art_vec *v, bool strings) {
  json_t *arr = json_array();
  for (uint32_t i = 0; i < v->len; i++)
    json_array_append_new(arr, strings ? str_or_null(((const char **)v->items)[i])
                                       : json_integer(((uint32_t *)v->items)[i]));
  return arr;
}

static json_t *digest(const art_run *run) {
  return json_pack(
      "{s:i, s:i, s:i, s:i, s:i, s:o, s:i, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:i, s:O?, s:I, s:f}",
      "phase", run->phase, "steps", run->steps, "seq", run->seq, "calls", run->calls, "stop_reason",
      run->stop_reason, "stop_detail", str_or_null(run->stop_detail), "pending", run->pending,
      "action_id", str_or_null(run->action_id), "answer", str_or_null(run->answer_redacted),
      "observations", observations_digest(run), "evidence", ids_digest(&run->evidence, false),
      "approved", ids_digest(&run->approved, true), "tool",
      str_or_null(run->call_tool ? run->call_tool->name : NULL), "call_tool",
      str_or_null(run->call.tool), "call_id", run->call.id, "input", run->call_input_redacted,
      "tokens", (json_int_t)(run->totals.prompt_tokens + run->totals.completion_tokens), "cost",
      run->totals.cost_usd);
}

/* ---- a live run, its digest after every call into it ---------------------------------- */

typedef struct recording {
  art_spec *spec;
  json_t *trace;       /* the events as JSON */
  art_journal journal; /* the events as a store keeps them */
  json_t *states;      /* [{"events": n, "state": digest}] after each call */
} recording;

static void note(recording *rec, const art_run *run) {
  json_array_append_new(rec->states,
                        json_pack("{s:I, s:o}", "events", (json_int_t)art_run_event_count(run),
                                  "state", digest(run)));
}

/* Drive to the end; pauses are answered: approvals approved (or denied when
 * `deny`), questions answered, and `cancel_after` calls in, the run is cancelled. */
static void record(recording *rec, const char *spec_text, bool deny, int cancel_after) {
  json_t *json = json_loads(spec_text, 0, NULL);
  art_error err;
  art_spec_options opts = {.outbox = tu_path("replay-outbox.jsonl")};
  assert_non_null(json);
  if (art_spec_parse(&rec->spec, json, "replay.json", NULL, &opts, &err) < 0)
    fail_msg("%s", err.message);
  json_decref(json);
  art_model *model;
  art_run *run;
  art_store *store;
  art_sink sink;
  assert_int_equal(art_store_open_memory(&store, &err), 0);
  assert_int_equal(store->vt->create_run(store, &(art_run_record){.run_id = "rp"}, &err), 0);
  assert_int_equal(art_model_new(&model, rec->spec, &err), 0);
  assert_int_equal(art_run_new(&run, rec->spec, NULL), 0);
  assert_int_equal(art_store_sink_new(&sink, store, 0, &err), 0);
  assert_int_equal(art_run_add_sink(run, &sink), 0);
  rec->states = json_array();
  int64_t now = 1000;
  for (int calls = 0;; calls++, now += 10) {
    const art_action *act;
    if (calls == cancel_after) {
      assert_int_equal(art_run_cancel(run, "operator", now), 0);
      note(rec, run);
      break;
    }
    assert_int_equal(art_run_next(run, now, &act), 0);
    note(rec, run);
    if (act->kind == ART_ACT_DONE) break;
    if (act->kind == ART_ACT_DECIDE) {
      art_decision d;
      /* As a model over HTTP would report them: a failed attempt, then one
       * whose reply carried two more tool calls; and one as the command
       * model reports a run of its program, by what it came to. */
      static const char *const ignored[] = {"stop", "draft_message"};
      art_model_call failed = {.attempt = 1,
                               .status = 503,
                               .latency_us = 3,
                               .error = "HTTP 503: busy",
                               .retry_in_ms = 2};
      art_model_call ok = {.attempt = 2,
                           .status = 200,
                           .latency_us = 4,
                           .retry_in_ms = -1,
                           .usage = {5, 1},
                           .ignored = ignored,
                           .n_ignored = 2};
      art_model_call command = {
          .attempt = 3, .outcome = "command exit 0", .retry_in_ms = -1, .usage = {7, 2}};
      assert_int_equal(art_run_feed_model_call(run, &failed, now + 1), 0);
      note(rec, run);
      assert_int_equal(art_run_feed_model_call(run, &ok, now + 2), 0);
      note(rec, run);
      assert_int_equal(art_run_feed_model_call(run, &command, now + 3), 0);
      note(rec, run);
      int rc = art_model_decide(model, act->context, &d, &err);
      rc = rc < 0 ? art_run_feed_model_failure(run, err.message, now + 5)
                  : art_run_feed_decision(run, &d, now + 5);
      assert_int_equal(rc, 0);
    } else if (act->kind == ART_ACT_CALL_TOOL) {
      art_tool_result r = {0};
      art_tool_invoke(act->tool, act->call, &r);
      assert_int_equal(art_run_feed_tool_result(run, act->call->id, &r, now + 5), 0);
      art_tool_result_dispose(&r);
    } else if (act->stop_reason == ART_STOP_APPROVAL_REQUIRED) {
      assert_int_equal(
          art_run_feed_approval(run, &(art_approval){run->action_id, !deny, "lead", "checked", 0},
                                now + 5),
          0);
    } else {
      assert_int_equal(art_run_feed_human_input(run, "ACME", now + 5), 0);
    }
    note(rec, run);
  }
  json_t *result = art_run_result_json(run);
  rec->trace = json_incref(json_object_get(result, "trace"));
  json_decref(result);
  art_run_free(run);
  assert_int_equal(store->vt->load_journal(store, "rp", &rec->journal, &err), 0);
  art_store_close(store);
  art_model_free(model);
}

/* The live state once its journal had reached `events` events. */
static const json_t *live_state(const recording *rec, size_t events) {
  size_t i;
  const json_t *s;
  json_array_foreach(rec->states, i, s) {
    if ((size_t)json_integer_value(json_object_get(s, "events")) >= events)
      return json_object_get(s, "state");
  }
  return NULL;
}

static json_t *prefix(const json_t *journal, size_t n) {
  json_t *p = json_array();
  for (size_t i = 0; i < n; i++) json_array_append(p, json_array_get(journal, i));
  return p;
}

static void expect_live_state(const recording *rec, const art_run *run, size_t len,
                              const char *from) {
  json_t *got = digest(run);
  const json_t *want = live_state(rec, len);
  if (!json_equal(got, want)) {
    char *g = json_dumps(got, JSON_SORT_KEYS), *w = json_dumps(want, JSON_SORT_KEYS);
    fail_msg("%s prefix %zu:\nreplayed %s\nlive     %s", from, len, g, w);
  }
  json_decref(got);
}

/* The replayed run made the recorded events again, field for field. */
static void expect_same_trace(const recording *rec, const art_run *run) {
  json_t *result = art_run_result_json(run);
  const json_t *trace = json_object_get(result, "trace");
  for (size_t i = 0; i < json_array_size(rec->trace); i++)
    if (!json_equal(json_array_get(trace, i), json_array_get(rec->trace, i))) {
      char *g = json_dumps(json_array_get(trace, i), JSON_SORT_KEYS);
      char *w = json_dumps(json_array_get(rec->trace, i), JSON_SORT_KEYS);
      fail_msg("event %zu:\nreplayed %s\nlive     %s", i + 1, g, w);
    }
  json_decref(result);
}

/* From the trace (events as JSON objects) and from the store's journal
 * (envelopes and bodies): both give the live state. */
static void every_prefix_replays_to_the_live_state(recording *rec) {
  size_t n = json_array_size(rec->trace);
  assert_true(n > 3);
  assert_int_equal(rec->journal.n, n);
  for (size_t len = 1; len <= n; len++) {
    art_run *run, *from_journal;
    json_t *p = prefix(rec->trace, len);
    art_journal j = rec->journal;
    j.n = len;
    assert_int_equal(art_run_new(&run, rec->spec, NULL), 0);
    assert_int_equal(art_run_new(&from_journal, rec->spec, NULL), 0);
    if (art_run_replay(run, p) < 0)
      fail_msg("trace prefix %zu of %zu: %s", len, n, art_run_errmsg(run));
    if (art_run_replay_journal(from_journal, &j) < 0)
      fail_msg("journal prefix %zu of %zu: %s", len, n, art_run_errmsg(from_journal));
    expect_live_state(rec, run, len, "trace");
    expect_live_state(rec, from_journal, len, "journal");
    if (len == n) expect_same_trace(rec, from_journal);
    json_decref(p);
    art_run_free(run);
    art_run_free(from_journal);
  }
}

/* Each entry of the journal gives its event as the run's trace has it, key
 * for key and in the same order, without the run (art_journal_entry_to_json). */
static void journal_entries_give_the_trace(const recording *rec) {
  for (size_t i = 0; i < rec->journal.n; i++) {
    json_t *got = art_journal_entry_to_json("rp", &rec->journal.entries[i]);
    char *g = json_dumps(got, JSON_COMPACT),
         *w = json_dumps(json_array_get(rec->trace, i), JSON_COMPACT);
    if (!g || strcmp(g, w) != 0) fail_msg("event %zu:\nentry %s\ntrace %s", i + 1, g, w);
    free(g);
    free(w);
    json_decref(got);
  }
}

static void dispose(recording *rec) {
  json_decref(rec->trace);
  art_journal_dispose(&rec->journal);
  json_decref(rec->states);
  art_spec_free(rec->spec);
}

static void check_scenario(const char *spec_text, bool deny, int cancel_after) {
  recording rec = {0};
  record(&rec, spec_text, deny, cancel_after);
  every_prefix_replays_to_the_live_state(&rec);
  journal_entries_give_the_trace(&rec);
  dispose(&rec);
}

#define SPEC(decisions, policy)                                                                    \
  "{\"run_id\":\"rp\",\"goal\":\"g\",\"max_steps\":6,\"actor\":{\"id\":\"a\",\"route\":"           \
  "\"support\"},"                                                                                  \
  "\"memory\":[{\"id\":\"m1\",\"scope\":\"task\",\"text\":\"x\"},{\"id\":\"m2\",\"scope\":"        \
  "\"user\",\"text\":\"y\"}],"                                                                     \
  "\"tools\":[\"lookup_policy\",\"draft_message\",\"send_message\",\"flaky_lookup\"]," policy      \
  "\"model\":{\"type\":\"scripted\",\"decisions\":[" decisions "]}}"
#define LOOKUP                                                                                     \
  "{\"type\":\"tool\",\"name\":\"lookup_policy\",\"input\":{\"task\":\"t\"},\"usage\":{\"prompt_"  \
  "tokens\":5}}"
#define DRAFT                                                                                      \
  "{\"type\":\"tool\",\"name\":\"draft_message\",\"input\":{\"to\":\"a\",\"body\":\"b\"}}"
#define SEND "{\"type\":\"tool\",\"name\":\"send_message\",\"input\":{\"to\":\"a\",\"body\":\"b\"}}"
#define ANSWER "{\"type\":\"answer\",\"text\":\"done\"}"

static void replays_token_and_cost_budgets(void **state) {
  (void)state;
  check_scenario(SPEC(LOOKUP "," LOOKUP "," LOOKUP "," ANSWER, "\"max_tokens_total\":12,"), false,
                 -1);
  check_scenario("{\"run_id\":\"rp\",\"goal\":\"g\",\"max_cost_usd\":0.00002,"
                 "\"tools\":[\"lookup_policy\"],\"model\":{\"type\":\"scripted\","
                 "\"price\":{\"input_per_mtok\":2},\"decisions\":[" LOOKUP "," LOOKUP "," LOOKUP
                 "]}}",
                 false, -1);
}

/* Cancelled before it started (a queued run): run_started and stop, at step 0,
 * which the cancel makes together. */
static void replays_a_run_cancelled_before_it_started(void **state) {
  (void)state;
  art_error err;
  art_spec *spec = tu_spec(SPEC(ANSWER, ""));
  art_store *store;
  art_run *run, *again;
  art_sink sink;
  art_journal journal = {0};
  assert_int_equal(art_store_open_memory(&store, &err), 0);
  assert_int_equal(store->vt->create_run(store, &(art_run_record){.run_id = "rp"}, &err), 0);
  assert_int_equal(art_run_new(&run, spec, NULL), 0);
  assert_int_equal(art_store_sink_new(&sink, store, 0, &err), 0);
  assert_int_equal(art_run_add_sink(run, &sink), 0);
  assert_int_equal(art_run_cancel(run, "not needed", 1000), 0);
  assert_int_equal(store->vt->load_journal(store, "rp", &journal, &err), 0);
  assert_int_equal(journal.n, 2);
  assert_int_equal(art_run_new(&again, spec, NULL), 0);
  if (art_run_replay_journal(again, &journal) < 0) fail_msg("%s", art_run_errmsg(again));
  assert_int_equal(art_run_stop_reason(again), ART_STOP_CANCELLED);
  assert_string_equal(art_run_stop_detail(again), "not needed");
  assert_int_equal(art_run_event_count(again), 2);
  art_journal_dispose(&journal);
  art_run_free(again);
  art_run_free(run);
  art_store_close(store);
  art_spec_free(spec);
}

static void replays_a_plain_run(void **state) {
  (void)state;
  check_scenario(SPEC(LOOKUP "," DRAFT "," ANSWER, ""), false, -1);
}

static void replays_approvals_given_and_denied(void **state) {
  (void)state;
  check_scenario(SPEC(LOOKUP "," SEND "," ANSWER, ""), false, -1);
  check_scenario(SPEC(SEND, ""), true, -1);
  check_scenario(SPEC(ANSWER, "\"policy\":{\"rules\":[{\"when\":{\"action\":\"answer\"},\"effect\":"
                              "\"approval_required\"}]},"),
                 false, -1);
}

static void replays_questions_failures_and_stops(void **state) {
  (void)state;
  check_scenario(SPEC("{\"type\":\"ask_human\",\"question\":\"who?\"}," ANSWER, ""), false, -1);
  check_scenario(SPEC(LOOKUP ",{\"type\":\"tool\",\"name\":\"flaky_lookup\",\"input\":{}}", ""),
                 false, -1);
  check_scenario(
      SPEC("{\"type\":\"tool\",\"name\":\"lookup_policy\",\"input\":{\"task\":\"t\"},\"repeat\":9}",
           ""),
      false, -1);
  check_scenario(SPEC(LOOKUP, ""), false, -1); /* the script runs out: model_failure */
  check_scenario(SPEC("{\"type\":\"answer\",\"text\":\"\"}", ""), false, -1);
  /* a decision of no known type, which only a model can make */
  check_scenario("{\"run_id\":\"rp\",\"goal\":\"g\",\"model\":{\"type\":\"command\",\"command\":"
                 "[\"" AGENTRT_SOURCE_DIR
                 "/tests/unit/tools/print.sh\",\"{\\\"type\\\":\\\"bogus\\\"}\"]}}",
                 false, -1);
  check_scenario(SPEC("{\"type\":\"tool\",\"name\":\"nope\",\"input\":{}}", ""), false, -1);
  check_scenario(SPEC(LOOKUP "," LOOKUP "," ANSWER, ""), false, 3); /* cancelled mid-run */
  check_scenario(SPEC("{\"type\":\"stop\",\"reason\":\"giving up\"}", ""), false, -1);
}

static void replays_a_deny_rule_and_retrieve_verdicts(void **state) {
  (void)state;
  check_scenario(
      SPEC(LOOKUP "," ANSWER,
           "\"policy\":{\"rules\":[{\"when\":{\"action\":\"retrieve\",\"scope\":\"task\"},"
           "\"effect\":\"deny\"},"
           "{\"when\":{\"tool\":\"lookup_*\"},\"effect\":\"deny\",\"reason\":\"no\"}]},"),
      false, -1);
}

/* A replayed run carries on: the journal's pending write is approved later and
 * runs once, and events after the journal reach the sinks, earlier ones do not. */
static int count_write(void *ud, const art_run *run, const art_event *ev) {
  (void)run, (void)ev;
  (*(int *)ud)++;
  return 0;
}

static void a_replayed_run_carries_on(void **state) {
  (void)state;
  recording rec = {0};
  record(&rec, SPEC(LOOKUP "," SEND "," ANSWER, ""), false, -1);
  /* Cut the journal where the run paused for approval. */
  size_t pause = 0;
  for (size_t i = 0; i < json_array_size(rec.trace); i++)
    if (strcmp(json_string_value(json_object_get(json_array_get(rec.trace, i), "type")), "stop") ==
        0) {
      pause = i + 1;
      break;
    }
  json_t *p = prefix(rec.trace, pause);
  art_run *run;
  art_model *model;
  art_error err;
  int seen = 0;
  assert_int_equal(art_run_new(&run, rec.spec, NULL), 0);
  art_sink sink = {ART_SINK_VERSION, count_write, NULL, &seen, NULL, NULL};
  assert_int_equal(art_run_add_sink(run, &sink), 0);
  assert_int_equal(art_run_replay(run, p), 0);
  assert_int_equal(seen, 0);
  assert_int_equal(art_run_stop_reason(run), ART_STOP_APPROVAL_REQUIRED);
  const char *id = json_string_value(json_object_get(json_array_get(p, pause - 1), "action_id"));
  assert_int_equal(art_run_feed_approval(run, &(art_approval){id, true, "lead", NULL, 0}, 9000), 0);
  /* The model picks up where the script was: two decisions were used. */
  assert_int_equal(art_model_new(&model, rec.spec, &err), 0);
  art_decision skip;
  art_model_decide(model, NULL, &skip, &err);
  art_model_decide(model, NULL, &skip, &err);
  remove(tu_path("replay-outbox.jsonl"));
  assert_int_equal(art_run_until_stop(run, model), 0);
  assert_int_equal(art_run_stop_reason(run), ART_STOP_SUCCESS);
  assert_int_equal(tu_count_lines(tu_path("replay-outbox.jsonl")), 1);
  assert_int_equal(seen, (int)art_run_event_count(run) - (int)pause);
  art_model_free(model);
  art_run_free(run);
  json_decref(p);
  dispose(&rec);
}

/* The recorded journal with entry i changed to `type` (and `body` unless NULL)
 * is refused with `why`. */
static void expect_journal_refused(const recording *rec, size_t i, art_event_type type,
                                   const char *body, const char *why) {
  art_journal bad = {0};
  for (size_t k = 0; k < rec->journal.n; k++) {
    art_journal_entry e = rec->journal.entries[k];
    if (k == i) {
      e.type = type;
      if (body) e.body = body, e.body_len = strlen(body);
    }
    assert_int_equal(art_journal_add(&bad, &e), 0);
  }
  art_run *run;
  assert_int_equal(art_run_new(&run, rec->spec, NULL), 0);
  assert_int_equal(art_run_replay_journal(run, &bad), ART_ESTATE);
  if (!strstr(art_run_errmsg(run), why)) fail_msg("\"%s\" lacks \"%s\"", art_run_errmsg(run), why);
  art_run_free(run);
  art_journal_dispose(&bad);
}

static void a_journal_that_does_not_match_is_refused(void **state) {
  (void)state;
  recording rec = {0};
  record(&rec, SPEC(LOOKUP "," ANSWER, ""), false, -1);
  json_t *bad = json_deep_copy(rec.trace);
  json_object_set_new(json_array_get(bad, 5), "type", json_string("human_input")); /* the verdict */
  art_run *run;
  assert_int_equal(art_run_new(&run, rec.spec, NULL), 0);
  assert_int_equal(art_run_replay(run, bad), ART_ESTATE);
  assert_non_null(strstr(art_run_errmsg(run), "the journal does not match the run at event"));
  art_run_free(run);
  json_decref(bad);
  bad = json_deep_copy(rec.trace);
  json_array_remove(bad, 2); /* a gap */
  assert_int_equal(art_run_new(&run, rec.spec, NULL), 0);
  assert_int_equal(art_run_replay(run, bad), ART_ESTATE);
  assert_non_null(strstr(art_run_errmsg(run), "missing or out of order"));
  art_run_free(run);
  json_decref(bad);
  expect_journal_refused(&rec, 2, ART_EV_DECISION, "[1,2]",
                         "at event 3: its body is not a JSON object");
  expect_journal_refused(&rec, 2, ART_EV_HUMAN_INPUT, NULL,
                         "at event 3: the run is not waiting for a human answer");
  expect_journal_refused(&rec, 7, ART_EV_TOOL_RESULT, "{\"status\":\"maybe\"}",
                         "at event 8: no outcome of the run makes this event");
  dispose(&rec);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(replays_a_plain_run),
      cmocka_unit_test(replays_a_run_cancelled_before_it_started),
      cmocka_unit_test(replays_token_and_cost_budgets),
      cmocka_unit_test(replays_approvals_given_and_denied),
      cmocka_unit_test(replays_questions_failures_and_stops),
      cmocka_unit_test(replays_a_deny_rule_and_retrieve_verdicts),
      cmocka_unit_test(a_replayed_run_carries_on),
      cmocka_unit_test(a_journal_that_does_not_match_is_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
