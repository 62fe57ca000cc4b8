/* The core on its own: this executable links agentrt_core and jansson only, so
 * it does not link when anything in src/core needs an adapter or a driver.  A
 * run is driven by hand through the core's API: the test is the model, calls
 * the C tool itself and passes the time in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "agentrt.h"

static const char spec_text[] =
    "{\"run_id\":\"run_core\",\"goal\":\"Find the refund policy\",\"max_steps\":5,"
    "\"model\":{\"type\":\"scripted\",\"decisions\":[]}}";

static int lookup(void *ud, const art_tool_call *call, art_tool_result *result) {
  (void)ud;
  const char *task = json_string_value(json_object_get(call->input, "task"));
  art_tool_result_set(result, ART_RESULT_OK, json_pack("{s:s, s:s}", "task", task, "policy",
                                                       "refunds within 30 days"), NULL);
  return 0;
}

static json_t *parse(const char *text) {
  json_t *json = json_loads(text, 0, NULL);
  assert_non_null(json);
  return json;
}

/* A spec from `text` with no built-in or command tools, as the core alone loads it. */
static art_spec *spec_from(const char *text) {
  json_t *json = parse(text);
  art_spec *spec = NULL;
  art_error err = {0};
  int rc = art_spec_parse_with(&spec, json, "core.json", NULL, NULL, NULL, &err);
  json_decref(json);
  if (rc < 0) fail_msg("spec: %s", err.message);
  return spec;
}

static const art_action *next(art_run *run, int64_t now, art_action_kind want) {
  const art_action *act = NULL;
  assert_int_equal(art_run_next(run, now, &act), 0);
  assert_int_equal(act->kind, want);
  return act;
}

static void feed(art_run *run, art_decision_kind kind, const char *text, int64_t now) {
  art_decision d = {.kind = kind, .text = text};
  assert_int_equal(art_run_feed_decision(run, &d, now), 0);
}

/* Decide -> call the tool -> ask a human -> answer, each outcome fed back. */
static void a_run_driven_by_hand(void **state) {
  (void)state;
  art_spec *spec = spec_from(spec_text);
  art_error err = {0};
  art_tool_def def = {.name = "lookup", .side_effect = ART_SIDE_READ, .fn = lookup};
  assert_int_equal(art_registry_add(art_spec_registry(spec), &def, &err), 0);
  art_run *run;
  assert_int_equal(art_run_new(&run, spec, NULL), 0);

  const art_action *act = next(run, 1000, ART_ACT_DECIDE);
  assert_int_equal(act->context->n_tools, 1);
  json_t *input = parse("{\"task\":\"refund\"}");
  art_decision call = {.kind = ART_DECISION_TOOL, .tool = "lookup", .input = input};
  assert_int_equal(art_run_feed_decision(run, &call, 2000), 0);
  json_decref(input);
  act = next(run, 2000, ART_ACT_CALL_TOOL);
  assert_string_equal(art_tool_name(act->tool), "lookup");
  art_tool_result result = {0};
  assert_int_equal(art_tool_invoke(act->tool, act->call, &result), 0);
  assert_int_equal(art_run_feed_tool_result(run, act->call->id, &result, 3000), 0);
  art_tool_result_dispose(&result);

  next(run, 3000, ART_ACT_DECIDE);
  feed(run, ART_DECISION_ASK_HUMAN, "Which order?", 4000);
  act = next(run, 4000, ART_ACT_WAIT);
  assert_int_equal(act->stop_reason, ART_STOP_BLOCKED);
  assert_int_equal(art_run_feed_human_input(run, "order 42", 5000), 0);
  next(run, 5000, ART_ACT_DECIDE);
  feed(run, ART_DECISION_ANSWER, "Refunds within 30 days.", 6000);
  next(run, 6000, ART_ACT_DONE);

  assert_int_equal(art_run_stop_reason(run), ART_STOP_SUCCESS);
  assert_string_equal(art_run_answer(run), "Refunds within 30 days.");
  assert_int_equal(art_run_steps(run), 3);
  const art_event *first = art_run_event(run, 0);
  assert_int_equal(first->type, ART_EV_RUN_STARTED);
  assert_int_equal(first->ts_us, 1000);
  assert_int_equal(art_run_event(run, art_run_event_count(run) - 1)->type, ART_EV_STOP);

  json_t *report = art_run_result_json(run);
  json_t *expect = parse("{\"stop_reason\":\"success\",\"tools_called\":[\"lookup\"],"
                         "\"max_steps\":3,\"no_repeated_side_effects\":true}");
  assert_int_equal(art_eval_expect_check(expect, "core.json", "$.expect", &err), 0);
  json_t *failures = art_eval_check(expect, report);
  assert_non_null(failures);
  assert_int_equal(json_array_size(failures), 0);
  json_decref(failures), json_decref(expect), json_decref(report);
  art_run_free(run);
  art_spec_free(spec);
}

static void spec_error(const char *text, const art_spec_tools *tools, int want,
                       const char *message) {
  json_t *json = parse(text);
  art_spec *spec = NULL;
  art_error err = {0};
  assert_int_equal(art_spec_parse_with(&spec, json, "core.json", NULL, NULL, tools, &err), want);
  assert_null(spec);
  if (!strstr(err.message, message)) fail_msg("expected \"%s\" in \"%s\"", message, err.message);
  json_decref(json);
}

/* Built-in and command tools come from outside the core: without them a spec
 * naming one is refused, as is a table of another version. */
static void tools_come_from_outside(void **state) {
  (void)state;
  spec_error("{\"goal\":\"g\",\"tools\":[\"lookup_policy\"],\"model\":{\"type\":\"scripted\","
             "\"decisions\":[]}}",
             NULL, ART_ESPEC,
             "core.json: $.tools[0]: unknown built-in tool \"lookup_policy\" (built-in tools: "
             "none)");
  spec_error("{\"goal\":\"g\",\"tools\":[{\"name\":\"x\",\"side_effect\":\"read\",\"command\":"
             "[\"true\"]}],\"model\":{\"type\":\"scripted\",\"decisions\":[]}}",
             NULL, ART_ESPEC, "core.json: $.tools[0]: command tools are not available here");
  art_spec_tools future = {.version = ART_SPEC_TOOLS_VERSION + 1};
  spec_error(spec_text, &future, ART_EINVAL, "spec tools version 2 is not supported (expected 1)");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_run_driven_by_hand),
      cmocka_unit_test(tools_come_from_outside),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
