/* The run state machine: every scenario of the core's contract, driven through
 * the public API with the scripted model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentrt.h"
#include "testutil.h"

/* ---- helpers ------------------------------------------------------------------ */

typedef struct fixture {
  art_spec *spec;
  art_model *model;
  art_run *run;
  json_t *result;
} fixture;

/* Load, run to the stop, keep the result JSON. */
static void run_spec(fixture *f, const char *text) {
  memset(f, 0, sizeof *f);
  remove(tu_path("outbox.jsonl"));
  f->spec = tu_spec(text);
  art_error err = {0};
  assert_int_equal(art_model_new(&f->model, f->spec, &err), 0);
  assert_int_equal(art_run_new(&f->run, f->spec, tu_run_options(f->spec)), 0);
  assert_int_equal(art_run_until_stop(f->run, f->model), 0);
  f->result = art_run_result_json(f->run);
  assert_non_null(f->result);
}

static void done(fixture *f) {
  json_decref(f->result);
  art_run_free(f->run);
  art_model_free(f->model);
  art_spec_free(f->spec);
}

static void assert_stop(fixture *f, art_stop_reason want, const char *detail) {
  if (art_run_stop_reason(f->run) != want)
    fail_msg("stop reason %s (%s), expected %s", art_stop_reason_name(art_run_stop_reason(f->run)),
             art_run_stop_detail(f->run), art_stop_reason_name(want));
  if (detail && !strstr(art_run_stop_detail(f->run), detail))
    fail_msg("stop detail \"%s\" does not contain \"%s\"", art_run_stop_detail(f->run), detail);
}

static const art_event *last_event(fixture *f, art_event_type type) {
  for (size_t i = art_run_event_count(f->run); i-- > 0;)
    if (art_run_event(f->run, i)->type == type) return art_run_event(f->run, i);
  return NULL;
}

static int count_events(fixture *f, art_event_type type) {
  int n = 0;
  for (size_t i = 0; i < art_run_event_count(f->run); i++)
    n += art_run_event(f->run, i)->type == type;
  return n;
}

/* A spec with the demo's actor and memory, the given tools, policy (may be NULL)
 * and decisions. */
static void run_with(fixture *f, const char *tools, const char *policy, const char *decisions,
                     int max_steps) {
  char policy_part[4096] = "", text[16384];
  if (policy) snprintf(policy_part, sizeof policy_part, "\"policy\":%s,", policy);
  snprintf(
      text, sizeof text,
      "{\"run_id\":\"r1\",\"goal\":\"Check policy before drafting a customer reply\","
      "\"max_steps\":%d,\"actor\":{\"id\":\"agent\",\"tenant\":\"acme\",\"route\":\"support\"},"
      "\"memory\":[{\"id\":\"mem_1\",\"scope\":\"project\",\"text\":\"policy applies\"},"
      "{\"id\":\"mem_2\",\"scope\":\"task\",\"text\":\"refund delayed\"},"
      "{\"id\":\"mem_3\",\"scope\":\"user\",\"sensitivity\":\"confidential\",\"text\":\"phone\"}],"
      "\"tools\":%s,%s\"model\":{\"type\":\"scripted\",\"decisions\":%s}}",
      max_steps, tools, policy_part, decisions);
  run_spec(f, text);
}

#define DEMO_TOOLS "[\"lookup_policy\",\"draft_message\",\"send_message\",\"flaky_lookup\"]"
#define LOOKUP                                                                                     \
  "{\"type\":\"tool\",\"name\":\"lookup_policy\",\"input\":{\"task\":\"draft a reply\"}}"
#define ANSWER "{\"type\":\"answer\",\"text\":\"done\"}"
#define SEND                                                                                       \
  "{\"type\":\"tool\",\"name\":\"send_message\",\"input\":{\"to\":\"c@example.com\",\"body\":"     \
  "\"hi\"}}"

/* A fresh run of a spec with `decisions`, by hand: the model and the run are
 * new and the run waits for its first decision. */
static const art_action *start_by_hand(fixture *f, const char *decisions) {
  art_error err;
  const art_action *act;
  run_with(f, DEMO_TOOLS, NULL, decisions, 5);
  art_run_free(f->run);
  art_model_free(f->model);
  assert_int_equal(art_run_new(&f->run, f->spec, tu_run_options(f->spec)), 0);
  assert_int_equal(art_model_new(&f->model, f->spec, &err), 0);
  assert_int_equal(art_run_next(f->run, 100, &act), 0);
  return act;
}

/* ---- the chapter's scenarios ------------------------------------------------------ */

static void immediate_answer_succeeds_in_one_step(void **state) {
  (void)state;
  fixture f;
  run_with(&f, DEMO_TOOLS, NULL, "[" ANSWER "]", 5);
  assert_stop(&f, ART_STOP_SUCCESS, NULL);
  assert_int_equal(art_run_steps(f.run), 1);
  assert_string_equal(art_run_answer(f.run), "done");
  assert_int_equal(count_events(&f, ART_EV_TOOL_CALL), 0);
  done(&f);
}

static void tool_every_step_exhausts_the_budget(void **state) {
  (void)state;
  fixture f;
  run_with(
      &f, DEMO_TOOLS, NULL,
      "[{\"type\":\"tool\",\"name\":\"lookup_policy\",\"input\":{\"task\":\"x\"},\"repeat\":10}]",
      2);
  assert_stop(&f, ART_STOP_BUDGET_EXHAUSTED, "max_steps");
  assert_int_equal(art_run_steps(f.run), 2);
  assert_int_equal(count_events(&f, ART_EV_TOOL_CALL), 2);
  done(&f);
}

static void unknown_tool_is_refused_and_not_executed(void **state) {
  (void)state;
  fixture f;
  run_with(&f, DEMO_TOOLS, NULL,
           "[{\"type\":\"tool\",\"name\":\"delete_customer\",\"input\":{\"id\":7}}]", 5);
  assert_stop(&f, ART_STOP_REFUSED, "unknown_tool: delete_customer");
  assert_int_equal(count_events(&f, ART_EV_TOOL_CALL), 0);
  assert_string_equal(last_event(&f, ART_EV_STOP)->u.stop.tool, "delete_customer");
  done(&f);
}

static void write_under_default_policy_needs_approval(void **state) {
  (void)state;
  fixture f;
  run_with(&f, DEMO_TOOLS, NULL, "[" SEND "]", 5);
  assert_stop(&f, ART_STOP_APPROVAL_REQUIRED, "default: write requires approval");
  assert_int_equal(count_events(&f, ART_EV_TOOL_CALL), 0);
  assert_null(tu_read(tu_path("outbox.jsonl")));
  const art_event *stop = last_event(&f, ART_EV_STOP);
  assert_string_equal(stop->u.stop.tool, "send_message");
  assert_non_null(stop->u.stop.action_id);
  assert_int_equal(strlen(stop->u.stop.action_id), 28);
  const art_action *act;
  assert_int_equal(art_run_next(f.run, 1, &act), 0);
  assert_int_equal(act->kind, ART_ACT_WAIT);
  done(&f);
}

static void flaky_tool_fails_with_its_message(void **state) {
  (void)state;
  fixture f;
  run_with(&f, DEMO_TOOLS, NULL, "[{\"type\":\"tool\",\"name\":\"flaky_lookup\",\"input\":{}}]", 5);
  assert_stop(&f, ART_STOP_TOOL_FAILURE, "upstream_timeout");
  const art_event *r = last_event(&f, ART_EV_TOOL_RESULT);
  assert_int_equal(r->u.tool_result.status, ART_RESULT_ERROR);
  assert_string_equal(r->u.tool_result.message, "upstream_timeout");
  assert_string_equal(last_event(&f, ART_EV_STOP)->u.stop.tool, "flaky_lookup");
  done(&f);
}

/* Drive by hand to look at the context packet of each decision. */
static void context_has_memory_refs_omissions_and_evidence(void **state) {
  (void)state;
  fixture f;
  const art_action *act = start_by_hand(&f, "[" LOOKUP "," ANSWER "]");
  art_error err;
  assert_int_equal(act->kind, ART_ACT_DECIDE);
  const art_context *c = act->context;
  assert_string_equal(c->run_id, "r1");
  assert_int_equal(c->n_memory, 2);
  assert_string_equal(c->memory[0]->id, "mem_1");
  assert_string_equal(c->memory[1]->id, "mem_2");
  assert_int_equal(c->n_omitted, 1);
  assert_string_equal(c->omitted[0].ref, "mem_3");
  assert_int_equal(c->omitted[0].reason, ART_OMIT_OUT_OF_SCOPE);
  assert_int_equal(c->n_evidence, 0);
  assert_int_equal(c->n_tools, 4);
  for (size_t i = 1; i < c->n_tools; i++)
    assert_true(strcmp(art_tool_name(c->tools[i - 1]), art_tool_name(c->tools[i])) < 0);

  art_decision d;
  assert_int_equal(art_model_decide(f.model, c, &d, &err), 0);
  assert_int_equal(art_run_feed_decision(f.run, &d, 110), 0);
  assert_int_equal(art_run_next(f.run, 120, &act), 0);
  assert_int_equal(act->kind, ART_ACT_CALL_TOOL);
  assert_string_equal(act->call->tool, "lookup_policy");
  art_tool_result r = {0};
  assert_int_equal(art_tool_invoke(act->tool, act->call, &r), 0);
  assert_int_equal(art_run_feed_tool_result(f.run, act->call->id, &r, 150), 0);
  art_tool_result_dispose(&r);

  assert_int_equal(art_run_next(f.run, 160, &act), 0);
  c = act->context;
  assert_int_equal(c->n_evidence, 1);
  char id[24];
  art_observation_id(c->evidence[0], id, sizeof id);
  assert_string_equal(id, "obs_1");
  assert_int_equal(c->n_recent, 1);
  assert_int_equal(c->recent[0].kind, ART_OBS_TOOL);
  char summary[256];
  art_context_summary(c, summary, sizeof summary);
  assert_non_null(strstr(summary, "last: lookup_policy ok"));
  json_t *packet = art_context_to_json(c);
  assert_non_null(packet);
  assert_string_equal(
      json_string_value(json_array_get(json_object_get(packet, "evidence_refs"), 0)), "obs_1");
  json_decref(packet);
  const art_event *tr = last_event(&f, ART_EV_TOOL_RESULT);
  assert_int_equal(tr->latency_us, 30);
  done(&f);
}

static void permissive_policy_lets_send_message_run(void **state) {
  (void)state;
  fixture f;
  run_with(
      &f, DEMO_TOOLS,
      "{\"rules\":[{\"when\":{\"tool\":\"send_*\"},\"effect\":\"allow\",\"reason\":\"trusted\"}]}",
      "[" SEND "," ANSWER "]", 5);
  assert_stop(&f, ART_STOP_SUCCESS, NULL);
  assert_int_equal(tu_count_lines(tu_path("outbox.jsonl")), 1);
  const art_event *p = NULL;
  for (size_t i = 0; i < art_run_event_count(f.run); i++)
    if (art_run_event(f.run, i)->type == ART_EV_POLICY_DECISION && !p) p = art_run_event(f.run, i);
  assert_int_equal(p->u.policy.rule, 0);
  assert_string_equal(p->u.policy.reason, "trusted");
  json_t *expect = json_pack("{s:[s]}", "tools_not_called", "send_message");
  json_t *failures = art_eval_check(expect, f.result);
  assert_int_equal(json_array_size(failures), 1);
  assert_string_equal(json_string_value(json_array_get(failures, 0)),
                      "forbidden tool was called: send_message");
  json_decref(failures);
  json_decref(expect);
  done(&f);
}

static void expect_invalid(const char *decision, const char *detail) {
  fixture f;
  char decisions[1024];
  snprintf(decisions, sizeof decisions, "[%s]", decision);
  run_with(&f, DEMO_TOOLS, NULL, decisions, 5);
  assert_stop(&f, ART_STOP_INVALID_DECISION, detail);
  assert_int_equal(count_events(&f, ART_EV_TOOL_CALL), 0);
  assert_int_equal(count_events(&f, ART_EV_POLICY_DECISION), 0);
  done(&f);
}

static void every_invalid_decision_kind_stops_the_run(void **state) {
  (void)state;
  expect_invalid("{\"type\":\"answer\",\"text\":\"\"}", "empty_answer_text");
  expect_invalid("{\"type\":\"answer\"}", "empty_answer_text");
  expect_invalid("{\"type\":\"tool\",\"input\":{}}", "missing_tool_name");
  expect_invalid("{\"type\":\"tool\",\"name\":\"\",\"input\":{}}", "missing_tool_name");
  expect_invalid("{\"type\":\"tool\",\"name\":\"lookup_policy\",\"input\":[1]}",
                 "tool_input_not_object");
  expect_invalid("{\"type\":\"tool\",\"name\":\"lookup_policy\",\"input\":\"x\"}",
                 "tool_input_not_object");
  expect_invalid("{\"type\":\"tool\",\"name\":\"lookup_policy\",\"input\":{\"task\":5}}",
                 "input_schema: $.task");
  expect_invalid("{\"type\":\"tool\",\"name\":\"lookup_policy\",\"input\":{}}", "input_schema");
  expect_invalid("{\"type\":\"ask_human\",\"question\":\"\"}", "empty_question");
}

/* A model can send any type (a spec cannot: its decisions are checked when it
 * is loaded); a decision of no known type is invalid. */
static void a_decision_of_an_unknown_type_stops_the_run(void **state) {
  (void)state;
  static const char *const cases[][2] = {
      {"{\"type\":\"delete_everything\"}", "unknown_decision_type: delete_everything"},
      {"{\"text\":\"no type\"}", "missing decision type"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    fixture f;
    const art_action *act = start_by_hand(&f, "[" ANSWER "]");
    assert_int_equal(act->kind, ART_ACT_DECIDE);
    json_t *j = json_loads(cases[i][0], 0, NULL);
    art_decision d;
    art_decision_from_json(j, &d);
    assert_int_equal(art_run_feed_decision(f.run, &d, 200), 0);
    json_decref(j);
    assert_stop(&f, ART_STOP_INVALID_DECISION, cases[i][1]);
    done(&f);
  }
}

/* An operator says hours later what became of a call: the result it records
 * took no tool time. */
static void a_resolved_result_does_not_count_the_wait_as_the_tools_time(void **state) {
  (void)state;
  static const art_resolve_kind kinds[] = {ART_RESOLVE_DONE, ART_RESOLVE_FAILED};
  for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
    fixture f;
    const art_action *act = start_by_hand(
        &f, "[{\"type\":\"tool\",\"name\":\"draft_message\",\"input\":{\"to\":\"a\",\"body\":"
            "\"b\"}}," ANSWER "]");
    art_error err;
    art_decision d;
    assert_int_equal(art_model_decide(f.model, act->context, &d, &err), 0);
    assert_int_equal(art_run_feed_decision(f.run, &d, 200), 0);
    assert_int_equal(art_run_next(f.run, 300, &act), 0);
    assert_int_equal(act->kind, ART_ACT_CALL_TOOL);
    assert_int_equal(art_run_feed_outcome_unknown(f.run, 400), 0); /* the process died */
    const int64_t three_hours = 3LL * 3600 * 1000000;
    art_resolution r = {last_event(&f, ART_EV_STOP)->u.stop.action_id, kinds[i], "ops", "checked"};
    assert_int_equal(art_run_resolve(f.run, &r, 400 + three_hours), 0);
    const art_event *result = last_event(&f, ART_EV_TOOL_RESULT);
    assert_non_null(result);
    assert_int_equal(result->latency_us, 0);
    done(&f);
  }
}

/* A stop while the run waits for a decision (the model failed, the tools could
 * not be set up) belongs to the step whose context was built. */
static void a_stop_before_the_decision_is_in_the_step_being_decided(void **state) {
  (void)state;
  for (int tools_failed = 0; tools_failed < 2; tools_failed++) {
    fixture f;
    const art_action *act = start_by_hand(&f, "[" ANSWER "]");
    assert_int_equal(act->kind, ART_ACT_DECIDE);
    art_model_call call = {.attempt = 1, .error = "connection refused", .retry_in_ms = -1};
    assert_int_equal(art_run_feed_model_call(f.run, &call, 150), 0);
    if (tools_failed)
      assert_int_equal(art_run_feed_tools_failure(f.run, "mcp server \"fs\": cannot run", 200), 0);
    else
      assert_int_equal(art_run_feed_model_failure(f.run, "connection refused", 200), 0);
    assert_int_equal(last_event(&f, ART_EV_CONTEXT_BUILT)->step, 1);
    assert_int_equal(last_event(&f, ART_EV_MODEL_CALL)->step, 1);
    assert_int_equal(last_event(&f, ART_EV_STOP)->step, 1);
    assert_int_equal(art_run_steps(f.run), 0); /* no decision was made */
    done(&f);
  }
}

static void non_object_decision_is_malformed(void **state) {
  (void)state;
  json_t *j = json_integer(3);
  art_decision d;
  char detail[128];
  art_decision_from_json(j, &d);
  assert_int_equal(d.kind, ART_DECISION_MALFORMED);
  assert_int_equal(art_decision_check(&d, detail, sizeof detail), ART_EINVAL);
  assert_non_null(strstr(detail, "not a JSON object"));
  json_decref(j);
}

static void ask_human_blocks_and_an_answer_resumes(void **state) {
  (void)state;
  fixture f;
  run_with(&f, DEMO_TOOLS, NULL,
           "[{\"type\":\"ask_human\",\"question\":\"Which customer?\"}," ANSWER "]", 5);
  assert_stop(&f, ART_STOP_BLOCKED, "human_required");
  const art_action *act;
  assert_int_equal(art_run_next(f.run, 1, &act), 0);
  assert_int_equal(act->kind, ART_ACT_WAIT);
  assert_int_equal(art_run_feed_human_input(f.run, "", 2), ART_EINVAL);
  assert_int_equal(art_run_feed_human_input(f.run, "ACME Corp", 2), 0);
  assert_int_equal(art_run_until_stop(f.run, f.model), 0);
  assert_stop(&f, ART_STOP_SUCCESS, NULL);
  assert_int_equal(count_events(&f, ART_EV_HUMAN_INPUT), 1);
  assert_int_equal(art_run_observation(f.run, 0)->kind, ART_OBS_HUMAN);
  assert_int_equal(art_run_feed_human_input(f.run, "again", 3), ART_ESTATE);
  done(&f);
}

/* A long answer of two-byte characters: the summaries that shorten it (the
 * observation's, the state's) cut between characters, so they stay JSON. */
static void summaries_cut_long_text_between_characters(void **state) {
  (void)state;
  fixture f;
  run_with(&f, DEMO_TOOLS, NULL, "[{\"type\":\"ask_human\",\"question\":\"Which?\"}," ANSWER "]",
           5);
  char text[1001] = "";
  for (int i = 0; i < 500; i++) strcat(text, "\xc3\xa9");
  const art_action *act;
  assert_int_equal(art_run_next(f.run, 1, &act), 0);
  assert_int_equal(art_run_feed_human_input(f.run, text, 2), 0);
  assert_int_equal(art_run_next(f.run, 3, &act), 0);
  assert_int_equal(act->kind, ART_ACT_DECIDE);
  json_t *packet = art_context_to_json(act->context);
  assert_non_null(packet);
  const char *summary = json_string_value(json_object_get(packet, "state_summary"));
  assert_non_null(strstr(summary, "last: human answered: \xc3\xa9"));
  json_t *seen = json_array_get(json_object_get(packet, "recent_observations"), 0);
  assert_non_null(strstr(json_string_value(json_object_get(seen, "summary")), "\xc3\xa9\xc3\xa9"));
  json_decref(packet);
  json_t *result = art_run_result_json(f.run);
  assert_non_null(
      json_object_get(json_array_get(json_object_get(result, "observations"), 0), "summary"));
  json_decref(result);
  done(&f);
}

static void stop_decision_blocks_with_the_models_reason(void **state) {
  (void)state;
  fixture f;
  run_with(&f, DEMO_TOOLS, NULL, "[{\"type\":\"stop\",\"reason\":\"I am done, success\"}]", 5);
  assert_stop(&f, ART_STOP_BLOCKED, "model_stopped: I am done, success");
  done(&f);
}

static void deny_rule_stops_policy_denied(void **state) {
  (void)state;
  fixture f;
  run_with(&f, DEMO_TOOLS,
           "{\"rules\":[{\"when\":{\"tool\":\"lookup_*\",\"tenant\":\"acme\"},\"effect\":\"deny\","
           "\"reason\":\"no lookups for acme\"}]}",
           "[" LOOKUP "]", 5);
  assert_stop(&f, ART_STOP_POLICY_DENIED, "no lookups for acme");
  assert_int_equal(count_events(&f, ART_EV_TOOL_CALL), 0);
  assert_string_equal(last_event(&f, ART_EV_STOP)->u.stop.tool, "lookup_policy");
  done(&f);
}

static void retrieve_rule_keeps_confidential_memory_out(void **state) {
  (void)state;
  fixture f;
  run_spec(
      &f,
      "{\"goal\":\"g\",\"memory\":[{\"id\":\"open\",\"scope\":\"project\",\"text\":\"a\"},"
      "{\"id\":\"secret_plan\",\"scope\":\"project\",\"sensitivity\":\"confidential\",\"text\":"
      "\"b\"}],"
      "\"policy\":{\"rules\":[{\"when\":{\"action\":\"retrieve\",\"sensitivity\":\"confidential\"},"
      "\"effect\":\"deny\",\"reason\":\"confidential stays out\"}]},"
      "\"model\":{\"type\":\"scripted\",\"decisions\":[" ANSWER "]}}");
  const art_event *ctx = last_event(&f, ART_EV_CONTEXT_BUILT);
  assert_int_equal(ctx->u.context.refs->n_memory, 1);
  assert_string_equal(ctx->u.context.refs->memory[0]->id, "open");
  assert_int_equal(ctx->u.context.refs->n_omitted, 1);
  assert_string_equal(ctx->u.context.refs->omitted[0].ref, "secret_plan");
  assert_int_equal(ctx->u.context.refs->omitted[0].reason, ART_OMIT_POLICY);
  const art_event *p = art_run_event(f.run, 1);
  assert_int_equal(p->type, ART_EV_POLICY_DECISION);
  assert_int_equal(p->u.policy.action, ART_GATE_RETRIEVE);
  assert_string_equal(p->u.policy.subject, "secret_plan");
  assert_int_equal(p->u.policy.rule, 0);
  done(&f);
}

static void answer_rule_blocks_answers_without_evidence(void **state) {
  (void)state;
  const char *policy = "{\"rules\":[{\"when\":{\"action\":\"answer\",\"evidence\":false},"
                       "\"effect\":\"deny\",\"reason\":\"answers need evidence\"}]}";
  fixture f;
  run_with(&f, DEMO_TOOLS, policy, "[" ANSWER "]", 5);
  assert_stop(&f, ART_STOP_POLICY_DENIED, "answers need evidence");
  assert_null(art_run_answer(f.run));
  done(&f);
  run_with(&f, DEMO_TOOLS, policy, "[" LOOKUP "," ANSWER "]", 5);
  assert_stop(&f, ART_STOP_SUCCESS, NULL);
  done(&f);
}

static void answer_rule_can_require_approval(void **state) {
  (void)state;
  fixture f;
  run_with(&f, DEMO_TOOLS,
           "{\"rules\":[{\"when\":{\"action\":\"answer\",\"route\":\"support\"},"
           "\"effect\":\"approval_required\",\"reason\":\"support answers are reviewed\"}]}",
           "[" ANSWER "]", 5);
  assert_stop(&f, ART_STOP_APPROVAL_REQUIRED, "support answers are reviewed");
  const char *action_id = last_event(&f, ART_EV_STOP)->u.stop.action_id;
  assert_non_null(action_id);
  assert_int_equal(
      art_run_feed_approval(f.run, &(art_approval){action_id, true, "lead", NULL, 0}, 5), 0);
  assert_stop(&f, ART_STOP_SUCCESS, NULL);
  assert_string_equal(art_run_answer(f.run), "done");
  done(&f);
}

static void approval_runs_the_write_once_and_denial_stops(void **state) {
  (void)state;
  fixture f;
  run_with(&f, DEMO_TOOLS, NULL, "[" SEND "," ANSWER "]", 5);
  assert_stop(&f, ART_STOP_APPROVAL_REQUIRED, NULL);
  const char *action_id = last_event(&f, ART_EV_STOP)->u.stop.action_id;
  assert_int_equal(
      art_run_feed_approval(
          f.run, &(art_approval){"act_000000000000000000000000", true, "lead", NULL, 0}, 5),
      ART_ENOTFOUND);
  assert_int_equal(art_run_feed_approval(f.run, &(art_approval){action_id, true, "", NULL, 0}, 5),
                   ART_EINVAL);
  assert_int_equal(
      art_run_feed_approval(f.run, &(art_approval){action_id, true, "lead", "looks right", 0}, 5),
      0);
  assert_int_equal(art_run_until_stop(f.run, f.model), 0);
  assert_stop(&f, ART_STOP_SUCCESS, NULL);
  assert_int_equal(tu_count_lines(tu_path("outbox.jsonl")), 1);
  assert_int_equal(count_events(&f, ART_EV_APPROVAL), 1);
  assert_int_equal(
      art_run_feed_approval(f.run, &(art_approval){action_id, true, "lead", NULL, 0}, 6),
      ART_ESTATE);
  done(&f);

  run_with(&f, DEMO_TOOLS, NULL, "[" SEND "]", 5);
  action_id = last_event(&f, ART_EV_STOP)->u.stop.action_id;
  assert_int_equal(art_run_feed_approval(
                       f.run, &(art_approval){action_id, false, "lead", "wrong customer", 0}, 5),
                   0);
  assert_stop(&f, ART_STOP_POLICY_DENIED, "denied by lead: wrong customer");
  assert_null(tu_read(tu_path("outbox.jsonl")));
  done(&f);
}

static void preapproved_action_id_runs_without_pause(void **state) {
  (void)state;
  fixture f;
  run_with(&f, DEMO_TOOLS, NULL, "[" SEND "]", 5);
  char policy[256];
  snprintf(policy, sizeof policy, "{\"approved_action_ids\":[\"%s\"]}",
           last_event(&f, ART_EV_STOP)->u.stop.action_id);
  done(&f);
  run_with(&f, DEMO_TOOLS, policy, "[" SEND "," ANSWER "]", 5);
  assert_stop(&f, ART_STOP_SUCCESS, NULL);
  assert_int_equal(tu_count_lines(tu_path("outbox.jsonl")), 1);
  done(&f);
  /* A different input is a different action: the approval does not carry over. */
  run_with(&f, DEMO_TOOLS, policy,
           "[{\"type\":\"tool\",\"name\":\"send_message\",\"input\":{\"to\":\"other@example.com\","
           "\"body\":\"hi\"}}]",
           5);
  assert_stop(&f, ART_STOP_APPROVAL_REQUIRED, NULL);
  done(&f);
}

static void disabled_tool_is_refused(void **state) {
  (void)state;
  fixture f;
  run_with(&f,
           "[{\"name\":\"off\",\"side_effect\":\"read\",\"enabled\":false,\"command\":[\"cat\"]}]",
           NULL, "[{\"type\":\"tool\",\"name\":\"off\",\"input\":{}}]", 5);
  assert_stop(&f, ART_STOP_REFUSED, "tool_disabled: off");
  assert_int_equal(count_events(&f, ART_EV_TOOL_CALL), 0);
  done(&f);
}

static void script_running_out_is_a_model_failure(void **state) {
  (void)state;
  fixture f;
  run_with(&f, DEMO_TOOLS, NULL, "[" LOOKUP "]", 5);
  assert_stop(&f, ART_STOP_MODEL_FAILURE, "script_exhausted");
  done(&f);
}

static void cancel_stops_the_run(void **state) {
  (void)state;
  fixture f;
  run_with(&f, DEMO_TOOLS, NULL, "[" SEND "]", 5);
  assert_int_equal(art_run_cancel(f.run, "operator said so", 9), 0);
  assert_stop(&f, ART_STOP_CANCELLED, "operator said so");
  assert_int_equal(art_run_cancel(f.run, NULL, 10), ART_ESTATE);
  const art_action *act;
  assert_int_equal(art_run_next(f.run, 11, &act), 0);
  assert_int_equal(act->kind, ART_ACT_DONE);
  done(&f);
}

static void expired_memory_is_stale(void **state) {
  (void)state;
  fixture f;
  run_spec(&f, "{\"goal\":\"g\",\"memory\":[{\"id\":\"old\",\"scope\":\"task\",\"text\":\"a\","
               "\"expires_at\":\"2001-01-01T00:00:00Z\"},{\"id\":\"fresh\",\"scope\":\"task\","
               "\"text\":\"b\","
               "\"expires_at\":\"2999-01-01T00:00:00.5Z\"}],"
               "\"model\":{\"type\":\"scripted\",\"decisions\":[" ANSWER "]}}");
  const art_context_refs *refs = last_event(&f, ART_EV_CONTEXT_BUILT)->u.context.refs;
  assert_int_equal(refs->n_memory, 1);
  assert_string_equal(refs->memory[0]->id, "fresh");
  assert_string_equal(refs->omitted[0].ref, "old");
  assert_int_equal(refs->omitted[0].reason, ART_OMIT_STALE);
  done(&f);
}

static void calls_out_of_turn_are_rejected(void **state) {
  (void)state;
  fixture f;
  run_with(&f, DEMO_TOOLS, NULL, "[" LOOKUP "," ANSWER "]", 5);
  art_run_free(f.run);
  assert_int_equal(art_run_new(&f.run, f.spec, tu_run_options(f.spec)), 0);
  art_tool_result r = {.status = ART_RESULT_OK};
  art_decision d = {.kind = ART_DECISION_ANSWER, .text = "x"};
  assert_int_equal(art_run_feed_tool_result(f.run, 1, &r, 1), ART_ESTATE);
  assert_int_equal(art_run_feed_decision(f.run, &d, 1), ART_ESTATE);
  assert_non_null(strstr(art_run_errmsg(f.run), "not waiting for a decision"));
  const art_action *a1, *a2;
  assert_int_equal(art_run_next(f.run, 1, &a1), 0);
  assert_int_equal(art_run_next(f.run, 2, &a2), 0);
  assert_int_equal(a2->kind, ART_ACT_DECIDE);
  assert_int_equal(count_events(&f, ART_EV_CONTEXT_BUILT), 1);
  done(&f);
}

static void stop_event_and_result_record_everything(void **state) {
  (void)state;
  fixture f;
  run_with(&f, DEMO_TOOLS, NULL, "[" LOOKUP "," ANSWER "]", 5);
  const char *names[] = {"run_started", "context_built", "decision", "policy_decision", "tool_call",
                         "tool_result", "context_built", "decision", "policy_decision", "stop"};
  assert_int_equal(art_run_event_count(f.run), 10);
  for (size_t i = 0; i < 10; i++) {
    const art_event *ev = art_run_event(f.run, i);
    assert_string_equal(art_event_type_name(ev->type), names[i]);
    assert_int_equal(ev->seq, i + 1);
    uint64_t span, parent;
    art_event_spans(f.run, ev, &span, &parent);
    assert_true(span != 0);
    assert_true((parent == 0) == (ev->type == ART_EV_RUN_STARTED || ev->type == ART_EV_STOP));
  }
  json_t *r = f.result;
  assert_string_equal(json_string_value(json_object_get(r, "stop_reason")), "success");
  assert_int_equal(json_integer_value(json_object_get(r, "steps")), 2);
  assert_string_equal(json_string_value(json_array_get(json_object_get(r, "tools_called"), 0)),
                      "lookup_policy");
  assert_int_equal(json_array_size(json_object_get(r, "trace")), 10);
  assert_int_equal(json_array_size(json_object_get(r, "observations")), 1);
  done(&f);
}

/* ---- regressions: what a review found ---------------------------------------------- */

static void long_non_ascii_details_stay_valid_utf8(void **state) {
  (void)state;
  char decisions[4096] = "[{\"type\":\"stop\",\"reason\":\"";
  for (int i = 0; i < 600; i++) strcat(decisions, "\xc3\xa9"); /* é */
  strcat(decisions, "\"}]");
  fixture f;
  run_with(&f, DEMO_TOOLS, NULL, decisions, 5);
  assert_stop(&f, ART_STOP_BLOCKED, "model_stopped: \xc3\xa9\xc3\xa9");
  assert_true(strlen(art_run_stop_detail(f.run)) > 1200); /* whole, not cut */
  json_t *expect = json_pack("{s:s}", "stop_reason", "success");
  json_t *failures = art_eval_check(expect, f.result);
  assert_int_equal(json_array_size(failures), 1); /* the failure is recorded, not lost */
  json_decref(failures), json_decref(expect);
  done(&f);
}

static void invalid_utf8_from_a_driver_is_repaired(void **state) {
  (void)state;
  fixture f;
  start_by_hand(&f, "[" LOOKUP "]");
  art_decision d = {.kind = ART_DECISION_ANSWER, .text = "bad \xff\xfe bytes"};
  assert_int_equal(art_run_feed_decision(f.run, &d, 2), 0);
  assert_string_equal(last_event(&f, ART_EV_STOP)->u.stop.answer, "bad ?? bytes");
  json_t *result = art_run_result_json(f.run);
  assert_non_null(result);
  json_decref(result);
  done(&f);
}

static void action_ids_in_events_are_the_actions_own(void **state) {
  (void)state;
  fixture f;
  run_with(
      &f, DEMO_TOOLS, NULL,
      "[{\"type\":\"tool\",\"name\":\"draft_message\",\"input\":{\"to\":\"a\",\"body\":\"one\"}},"
      "{\"type\":\"tool\",\"name\":\"draft_message\",\"input\":{\"to\":\"a\",\"body\":\"two\"}}"
      "," SEND "," ANSWER "]",
      6);
  assert_stop(&f, ART_STOP_APPROVAL_REQUIRED, NULL);
  const char *send_id = last_event(&f, ART_EV_STOP)->u.stop.action_id;
  assert_int_equal(art_run_feed_approval(f.run, &(art_approval){send_id, true, "lead", NULL, 0}, 5),
                   0);
  assert_int_equal(art_run_until_stop(f.run, f.model), 0);
  assert_stop(&f, ART_STOP_SUCCESS, NULL);
  const char *ids[3];
  int n = 0;
  for (size_t i = 0; i < art_run_event_count(f.run); i++) {
    const art_event *ev = art_run_event(f.run, i);
    if (ev->type == ART_EV_TOOL_CALL) ids[n++] = ev->u.tool_call.action_id;
    if (ev->type == ART_EV_APPROVAL) assert_string_equal(ev->u.approval.action_id, send_id);
  }
  assert_int_equal(n, 3);
  assert_string_not_equal(ids[0], ids[1]);
  assert_string_equal(ids[2], send_id);
  json_t *result = art_run_result_json(f.run);
  json_t *expect = json_pack("{s:b}", "no_repeated_side_effects", 1);
  json_t *failures = art_eval_check(expect, result);
  assert_int_equal(json_array_size(failures), 0);
  json_decref(failures), json_decref(expect), json_decref(result);
  done(&f);
}

static void an_approval_is_used_up_by_a_non_idempotent_write(void **state) {
  (void)state;
  fixture f;
  run_with(&f, DEMO_TOOLS, NULL, "[" SEND "," SEND "," ANSWER "]", 5);
  const char *id = last_event(&f, ART_EV_STOP)->u.stop.action_id;
  assert_int_equal(art_run_feed_approval(f.run, &(art_approval){id, true, "lead", NULL, 0}, 5), 0);
  assert_int_equal(art_run_stop_reason(f.run), ART_STOP_NONE); /* no longer paused */
  assert_int_equal(art_run_until_stop(f.run, f.model), 0);
  assert_stop(&f, ART_STOP_APPROVAL_REQUIRED, NULL); /* the same send again needs approval again */
  assert_int_equal(tu_count_lines(tu_path("outbox.jsonl")), 1);
  done(&f);
}

static void answers_can_be_preapproved(void **state) {
  (void)state;
  const char *rule =
      "{\"rules\":[{\"when\":{\"action\":\"answer\"},\"effect\":\"approval_required\"}]";
  char policy[512];
  fixture f;
  snprintf(policy, sizeof policy, "%s}", rule);
  run_with(&f, DEMO_TOOLS, policy, "[" ANSWER "]", 5);
  const art_event *gate = last_event(&f, ART_EV_POLICY_DECISION);
  assert_non_null(gate->u.policy.action_id);
  snprintf(policy, sizeof policy, "%s,\"approved_action_ids\":[\"%s\"]}", rule,
           gate->u.policy.action_id);
  done(&f);
  run_with(&f, DEMO_TOOLS, policy, "[" ANSWER "]", 5);
  assert_stop(&f, ART_STOP_SUCCESS, NULL);
  assert_true(last_event(&f, ART_EV_POLICY_DECISION)->u.policy.approved);
  done(&f);
}

static void the_answer_is_kept_as_given_and_traced_redacted(void **state) {
  (void)state;
  fixture f;
  run_spec(&f, "{\"goal\":\"use sk-goal123\",\"redact\":{\"patterns\":[\"sk-[a-z0-9]+\"]},"
               "\"model\":{\"type\":\"scripted\",\"decisions\":[{\"type\":\"answer\",\"text\":"
               "\"key sk-abc1\"}]}}");
  assert_string_equal(art_run_answer(f.run), "key sk-abc1");
  assert_string_equal(last_event(&f, ART_EV_STOP)->u.stop.answer, "key [REDACTED]");
  assert_string_equal(json_string_value(json_object_get(f.result, "answer")), "key [REDACTED]");
  assert_string_equal(art_run_event(f.run, 0)->u.run_started.goal, "use [REDACTED]");
  done(&f);
}

static void refused_tool_name_outlives_the_models_buffer(void **state) {
  (void)state;
  fixture f;
  start_by_hand(&f, "[" ANSWER "]");
  char *name = strdup("drop_tables");
  art_decision d = {.kind = ART_DECISION_TOOL, .tool = name};
  assert_int_equal(art_run_feed_decision(f.run, &d, 2), 0);
  memset(name, 'x', strlen(name));
  free(name);
  assert_string_equal(last_event(&f, ART_EV_STOP)->u.stop.tool, "drop_tables");
  json_t *result = art_run_result_json(f.run);
  assert_non_null(result);
  json_decref(result);
  done(&f);
}

static void a_kind_outside_the_enum_is_malformed(void **state) {
  (void)state;
  fixture f;
  start_by_hand(&f, "[" ANSWER "]");
  art_decision d = {.kind = (art_decision_kind)7, .text = "x"};
  assert_int_equal(art_run_feed_decision(f.run, &d, 2), 0);
  assert_int_equal(art_run_stop_reason(f.run), ART_STOP_INVALID_DECISION);
  assert_int_equal(last_event(&f, ART_EV_DECISION)->u.decision.kind, ART_DECISION_MALFORMED);
  done(&f);
}

static void cancelling_records_a_whole_trace(void **state) {
  (void)state;
  fixture f;
  art_error err;
  art_decision d;
  /* Cancelled after the call was allowed but before it was handed out: no call. */
  const art_action *act = start_by_hand(&f, "[" LOOKUP "]");
  assert_int_equal(art_model_decide(f.model, act->context, &d, &err), 0);
  assert_int_equal(art_run_feed_decision(f.run, &d, 2), 0);
  assert_int_equal(art_run_cancel(f.run, NULL, 3), 0);
  assert_int_equal(count_events(&f, ART_EV_TOOL_CALL), 0);
  assert_stop(&f, ART_STOP_CANCELLED, "cancelled");
  art_run_free(f.run);
  /* Cancelled before it started: the trace still starts with run_started. */
  assert_int_equal(art_run_new(&f.run, f.spec, tu_run_options(f.spec)), 0);
  assert_int_equal(art_run_cancel(f.run, "never mind", 1), 0);
  assert_int_equal(art_run_event(f.run, 0)->type, ART_EV_RUN_STARTED);
  assert_int_equal(art_run_event(f.run, 1)->type, ART_EV_STOP);
  done(&f);
}

/* The core draws no random numbers: a run's id comes from its options or its
 * spec, and a driver makes one for a spec that names none. */
static void a_run_needs_an_id(void **state) {
  (void)state;
  art_spec *spec = tu_spec("{\"goal\":\"g\",\"model\":{\"type\":\"scripted\",\"decisions\":[]}}");
  art_run *run = NULL;
  assert_int_equal(art_run_new(&run, spec, NULL), ART_EINVAL);
  char id[ART_RUN_ID_SIZE], other[ART_RUN_ID_SIZE];
  art_run_id_generate(id);
  art_run_id_generate(other);
  assert_int_equal(strlen(id), 20);
  assert_memory_equal(id, "run_", 4);
  assert_string_not_equal(id, other);
  assert_int_equal(art_run_new(&run, spec, &(art_run_options){.run_id = id}), 0);
  assert_string_equal(art_run_id(run), id);
  art_run_free(run);
  art_spec_free(spec);
}

/* A model built against another model.h is refused before the run starts. */
static void a_model_of_another_version_is_refused(void **state) {
  (void)state;
  art_spec *spec = tu_spec(
      "{\"run_id\":\"r\",\"goal\":\"g\",\"model\":{\"type\":\"scripted\",\"decisions\":[]}}");
  art_model *model;
  art_run *run;
  art_error err = {0};
  assert_int_equal(art_model_new(&model, spec, &err), 0);
  assert_int_equal(art_run_new(&run, spec, NULL), 0);
  art_model_vtable older = *model->vt;
  older.version = ART_MODEL_VERSION - 1;
  const art_model_vtable *own = model->vt;
  model->vt = &older;
  assert_int_equal(art_run_until_stop(run, model), ART_EINVAL);
  char want[128];
  snprintf(want, sizeof want, "model version %d is not supported (expected %d)",
           ART_MODEL_VERSION - 1, ART_MODEL_VERSION);
  assert_string_equal(art_run_errmsg(run), want);
  assert_int_equal(art_run_event_count(run), 0);
  model->vt = own;
  assert_int_equal(art_run_until_stop(run, model), 0);
  assert_int_equal(art_run_stop_reason(run), ART_STOP_MODEL_FAILURE);
  art_run_free(run);
  art_model_free(model);
  art_spec_free(spec);
}

static void tools_added_later_do_not_disturb_a_run(void **state) {
  (void)state;
  fixture f;
  run_with(&f, DEMO_TOOLS, NULL, "[" LOOKUP "," ANSWER "]", 5);
  art_run_free(f.run);
  assert_int_equal(art_run_new(&f.run, f.spec, tu_run_options(f.spec)), 0);
  art_error err;
  char name[32];
  for (int i = 0; i < 40; i++) { /* enough to move the registry's arrays */
    snprintf(name, sizeof name, "extra_%02d", i);
    art_tool_def def = {.name = name, .side_effect = ART_SIDE_READ};
    assert_int_equal(art_registry_add_command(art_spec_registry(f.spec), &def,
                                              (const char *const[]){"true", NULL}, 0, &err),
                     0);
  }
  const art_action *act;
  assert_int_equal(art_run_next(f.run, 1, &act), 0);
  assert_int_equal(act->context->n_tools, 4);
  json_t *packet = art_context_to_json(act->context);
  assert_int_equal(json_array_size(json_object_get(packet, "tools")), 4);
  json_decref(packet);
  done(&f);
}

static void the_wall_time_budget_counts_working_time_not_pauses(void **state) {
  (void)state;
  fixture f;
  run_spec(
      &f,
      "{\"goal\":\"g\",\"max_wall_time_ms\":1000,\"tools\":[\"lookup_policy\"],"
      "\"model\":{\"type\":\"scripted\",\"decisions\":[{\"type\":\"ask_human\",\"question\":\"q\"},"
      "{\"type\":\"tool\",\"name\":\"lookup_policy\",\"input\":{\"task\":\"t\"},\"repeat\":5}"
      "," ANSWER "]}}");
  art_run_free(f.run);
  art_model_free(f.model);
  art_error err;
  assert_int_equal(art_model_new(&f.model, f.spec, &err), 0);
  assert_int_equal(art_run_new(&f.run, f.spec, tu_run_options(f.spec)), 0);
  const art_action *act;
  art_decision d;
  int64_t t = 1000000;
  assert_int_equal(art_run_next(f.run, t, &act), 0);
  assert_int_equal(art_model_decide(f.model, act->context, &d, &err), 0);
  assert_int_equal(art_run_feed_decision(f.run, &d, t + 100000), 0); /* 0.1 s in: asks */
  /* An hour later a person answers: the pause does not count. */
  t += 3600LL * 1000000;
  assert_int_equal(art_run_feed_human_input(f.run, "yes", t), 0);
  assert_int_equal(art_run_next(f.run, t, &act), 0);
  assert_int_equal(act->kind, ART_ACT_DECIDE);
  assert_int_equal(art_model_decide(f.model, act->context, &d, &err), 0);
  assert_int_equal(art_run_feed_decision(f.run, &d, t + 500000), 0);
  assert_int_equal(art_run_next(f.run, t + 500000, &act), 0);
  art_tool_result r = {0};
  art_tool_invoke(act->tool, act->call, &r);
  /* The tool took 0.5 s: 1.1 s of work in all, over the 1 s budget. */
  assert_int_equal(art_run_feed_tool_result(f.run, act->call->id, &r, t + 1000000), 0);
  art_tool_result_dispose(&r);
  assert_int_equal(art_run_next(f.run, t + 1000000, &act), 0);
  assert_stop(&f, ART_STOP_BUDGET_EXHAUSTED, "wall_time");
  done(&f);
}

static void approvals_expire_and_the_actor_cannot_approve_itself(void **state) {
  (void)state;
  fixture f;
  run_with(&f, DEMO_TOOLS, NULL, "[" SEND "," ANSWER "]", 5); /* actor.id is "agent" */
  const char *id = last_event(&f, ART_EV_STOP)->u.stop.action_id;
  art_approval self = {id, true, "agent", NULL, 0};
  assert_int_equal(art_run_feed_approval(f.run, &self, 10), ART_EINVAL);
  assert_non_null(strstr(art_run_errmsg(f.run), "cannot approve its own actions"));
  art_approval stale = {id, true, "lead", NULL, 5};
  assert_int_equal(art_run_feed_approval(f.run, &stale, 10), ART_EINVAL); /* expired already */
  /* Approved until t=100, but the call is handed out at t=150: ask again. */
  art_approval until = {id, true, "lead", "ok for a minute", 100};
  assert_int_equal(art_run_feed_approval(f.run, &until, 20), 0);
  const art_action *act;
  assert_int_equal(art_run_next(f.run, 150, &act), 0);
  assert_int_equal(act->kind, ART_ACT_WAIT);
  assert_stop(&f, ART_STOP_APPROVAL_REQUIRED, "approval expired");
  assert_int_equal(count_events(&f, ART_EV_TOOL_CALL), 0);
  /* The verdict before the stop is not the approved one: the gate says it expired. */
  const art_event *gate = art_run_event(f.run, art_run_event_count(f.run) - 2);
  assert_int_equal(gate->type, ART_EV_POLICY_DECISION);
  assert_int_equal(gate->u.policy.effect, ART_EFFECT_APPROVAL);
  assert_false(gate->u.policy.approved);
  assert_string_equal(gate->u.policy.reason, "approval expired");
  assert_string_equal(gate->u.policy.action_id, id);
  json_t *result = art_run_result_json(f.run);
  art_run *replayed;
  assert_int_equal(art_run_new(&replayed, f.spec, tu_run_options(f.spec)), 0);
  assert_int_equal(art_run_replay(replayed, json_object_get(result, "trace")), 0); /* expiry too */
  assert_int_equal(art_run_stop_reason(replayed), ART_STOP_APPROVAL_REQUIRED);
  art_run_free(replayed);
  json_decref(result);
  art_approval again = {id, true, "lead", NULL, 0};
  assert_int_equal(art_run_feed_approval(f.run, &again, 160), 0);
  assert_int_equal(art_run_until_stop(f.run, f.model), 0);
  assert_stop(&f, ART_STOP_SUCCESS, NULL);
  assert_int_equal(tu_count_lines(tu_path("outbox.jsonl")), 1);
  done(&f);
  /* A policy can let the actor approve its own actions. */
  run_with(&f, DEMO_TOOLS, "{\"allow_self_approval\":true}", "[" SEND "," ANSWER "]", 5);
  art_approval own = {last_event(&f, ART_EV_STOP)->u.stop.action_id, true, "agent", NULL, 0};
  assert_int_equal(art_run_feed_approval(f.run, &own, 10), 0);
  done(&f);
}

/* A hook that asks to cancel at its `at`-th question. */
typedef struct cancel_after {
  int asked, at;
} cancel_after;

static const char *cancel_at(void *ud) {
  cancel_after *c = ud;
  return ++c->asked >= c->at ? "stop requested" : NULL;
}

static void a_driver_cancels_at_a_step_boundary(void **state) {
  (void)state;
  fixture f;
  run_with(&f, DEMO_TOOLS, NULL, "[" LOOKUP "," LOOKUP "," LOOKUP "," ANSWER "]", 5);
  assert_stop(&f, ART_STOP_SUCCESS, NULL);
  art_run_free(f.run);
  art_model_free(f.model);
  art_error err;
  assert_int_equal(art_model_new(&f.model, f.spec, &err), 0);
  assert_int_equal(art_run_new(&f.run, f.spec, tu_run_options(f.spec)), 0);
  cancel_after c = {0, 3}; /* before steps 1 and 2, then before step 3: cancel */
  art_drive_hooks hooks = {.cancel_reason = cancel_at, .ud = &c};
  assert_int_equal(art_run_drive(f.run, f.model, &hooks), 0);
  assert_stop(&f, ART_STOP_CANCELLED, "stop requested");
  assert_int_equal(art_run_steps(f.run), 2);
  assert_int_equal(count_events(&f, ART_EV_TOOL_RESULT), 2); /* both calls recorded whole */
  /* The journal of a cancelled run replays to the same stop. */
  json_t *result = art_run_result_json(f.run);
  art_run *replayed;
  assert_int_equal(art_run_new(&replayed, f.spec, tu_run_options(f.spec)), 0);
  assert_int_equal(art_run_replay(replayed, json_object_get(result, "trace")), 0);
  assert_int_equal(art_run_stop_reason(replayed), ART_STOP_CANCELLED);
  art_run_free(replayed);
  json_decref(result);
  done(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(immediate_answer_succeeds_in_one_step),
      cmocka_unit_test(a_driver_cancels_at_a_step_boundary),
      cmocka_unit_test(tool_every_step_exhausts_the_budget),
      cmocka_unit_test(unknown_tool_is_refused_and_not_executed),
      cmocka_unit_test(write_under_default_policy_needs_approval),
      cmocka_unit_test(flaky_tool_fails_with_its_message),
      cmocka_unit_test(context_has_memory_refs_omissions_and_evidence),
      cmocka_unit_test(permissive_policy_lets_send_message_run),
      cmocka_unit_test(every_invalid_decision_kind_stops_the_run),
      cmocka_unit_test(non_object_decision_is_malformed),
      cmocka_unit_test(ask_human_blocks_and_an_answer_resumes),
      cmocka_unit_test(stop_decision_blocks_with_the_models_reason),
      cmocka_unit_test(deny_rule_stops_policy_denied),
      cmocka_unit_test(retrieve_rule_keeps_confidential_memory_out),
      cmocka_unit_test(answer_rule_blocks_answers_without_evidence),
      cmocka_unit_test(answer_rule_can_require_approval),
      cmocka_unit_test(approval_runs_the_write_once_and_denial_stops),
      cmocka_unit_test(preapproved_action_id_runs_without_pause),
      cmocka_unit_test(disabled_tool_is_refused),
      cmocka_unit_test(script_running_out_is_a_model_failure),
      cmocka_unit_test(cancel_stops_the_run),
      cmocka_unit_test(expired_memory_is_stale),
      cmocka_unit_test(calls_out_of_turn_are_rejected),
      cmocka_unit_test(stop_event_and_result_record_everything),
      cmocka_unit_test(long_non_ascii_details_stay_valid_utf8),
      cmocka_unit_test(invalid_utf8_from_a_driver_is_repaired),
      cmocka_unit_test(action_ids_in_events_are_the_actions_own),
      cmocka_unit_test(an_approval_is_used_up_by_a_non_idempotent_write),
      cmocka_unit_test(answers_can_be_preapproved),
      cmocka_unit_test(the_answer_is_kept_as_given_and_traced_redacted),
      cmocka_unit_test(refused_tool_name_outlives_the_models_buffer),
      cmocka_unit_test(a_kind_outside_the_enum_is_malformed),
      cmocka_unit_test(cancelling_records_a_whole_trace),
      cmocka_unit_test(a_decision_of_an_unknown_type_stops_the_run),
      cmocka_unit_test(a_stop_before_the_decision_is_in_the_step_being_decided),
      cmocka_unit_test(a_resolved_result_does_not_count_the_wait_as_the_tools_time),
      cmocka_unit_test(a_run_needs_an_id),
      cmocka_unit_test(a_model_of_another_version_is_refused),
      cmocka_unit_test(tools_added_later_do_not_disturb_a_run),
      cmocka_unit_test(summaries_cut_long_text_between_characters),
      cmocka_unit_test(the_wall_time_budget_counts_working_time_not_pauses),
      cmocka_unit_test(approvals_expire_and_the_actor_cannot_approve_itself),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
