/* The command model (model/command_model.h): decisions from an external
 * program, through a whole run. */
#include <stdio.h>
#include <string.h>

#include "agentrt.h"
#include "testutil.h"

#define PRINT AGENTRT_SOURCE_DIR "/tests/unit/tools/print.sh"

typedef struct outcome {
  art_spec *spec;
  art_model *model;
  art_run *run;
} outcome;

static outcome run_with(const char *command) {
  char text[2048];
  snprintf(text, sizeof text,
           "{\"goal\":\"g\",\"max_steps\":3,\"model\":{\"type\":\"command\",\"command\":%s,"
           "\"timeout_ms\":5000,\"price\":{\"input_per_mtok\":1,\"output_per_mtok\":2}}}",
           command);
  outcome o = {0};
  art_error err;
  json_t *json = json_loads(text, 0, NULL);
  assert_non_null(json);
  if (art_spec_parse(&o.spec, json, "cmd.json", NULL, NULL, &err) < 0) fail_msg("%s", err.message);
  json_decref(json);
  assert_int_equal(art_model_new(&o.model, o.spec, &err), 0);
  assert_int_equal(art_run_new(&o.run, o.spec, tu_run_options(o.spec)), 0);
  assert_int_equal(art_run_until_stop(o.run, o.model), 0);
  return o;
}

static void dispose(outcome *o) {
  art_run_free(o->run);
  art_model_free(o->model);
  art_spec_free(o->spec);
}

static const art_event *first_event(const art_run *run, art_event_type type) {
  for (size_t i = 0; i < art_run_event_count(run); i++)
    if (art_run_event(run, i)->type == type) return art_run_event(run, i);
  return NULL;
}

static void a_printed_decision_is_taken_with_its_usage(void **state) {
  (void)state;
  outcome o = run_with("[\"" PRINT "\", \"{\\\"type\\\":\\\"answer\\\",\\\"text\\\":\\\"hi\\\","
                       "\\\"usage\\\":{\\\"prompt_tokens\\\":3000,\\\"completion_tokens\\\":500}}\"]");
  assert_int_equal(art_run_stop_reason(o.run), ART_STOP_SUCCESS);
  assert_string_equal(art_run_answer(o.run), "hi");
  art_run_usage u = art_run_totals(o.run);
  assert_int_equal(u.prompt_tokens, 3000);
  assert_int_equal(u.completion_tokens, 500);
  assert_true(u.cost_usd > 0.003999 && u.cost_usd < 0.004001); /* 3000 * 1 + 500 * 2 per million */
  /* The model_call event says what the run of the program came to, and
   * carries the usage the program reported. */
  const art_event *call = first_event(o.run, ART_EV_MODEL_CALL);
  assert_non_null(call);
  assert_null(call->u.model_call.error);
  assert_string_equal(call->u.model_call.outcome, "command exit 0");
  assert_int_equal(call->u.model_call.usage.prompt_tokens, 3000);
  assert_int_equal(call->u.model_call.usage.completion_tokens, 500);
  json_t *j = art_event_to_json(o.run, call);
  assert_string_equal(json_string_value(json_object_get(j, "outcome")), "command exit 0");
  assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "usage"), "prompt_tokens")),
                   3000);
  json_decref(j);
  dispose(&o);
}

static void the_program_reads_the_context_packet(void **state) {
  (void)state;
  outcome o = run_with(
      "[\"/bin/sh\", \"-c\", \"read -r line; case \\\"$line\\\" in *'\\\"goal\\\":\\\"g\\\"'*) "
      "printf '{\\\"type\\\":\\\"answer\\\",\\\"text\\\":\\\"step %s\\\"}' \\\"$AGENTRT_STEP\\\";; "
      "*) exit 4;; esac\"]");
  assert_int_equal(art_run_stop_reason(o.run), ART_STOP_SUCCESS);
  assert_string_equal(art_run_answer(o.run), "step 1");
  dispose(&o);
}

static void an_invalid_decision_is_rejected_by_the_run(void **state) {
  (void)state;
  outcome o = run_with("[\"" PRINT "\", \"{\\\"type\\\":\\\"delete\\\"}\"]");
  assert_int_equal(art_run_stop_reason(o.run), ART_STOP_INVALID_DECISION);
  assert_string_equal(art_run_stop_detail(o.run), "unknown_decision_type: delete");
  dispose(&o);
}

static void failures_are_model_failures(void **state) {
  (void)state;
  static const struct {
    const char *command, *detail, *outcome;
  } cases[] = {
      {"[\"" PRINT "\", \"\", \"3\", \"no key\"]", "model command: exit status 3: no key",
       "command exit 3"},
      {"[\"" PRINT "\", \"[1]\"]", "model command: stdout is not a decision object",
       "command exit 0"},
      {"[\"" PRINT "\", \"{oops\"]", "model command: stdout is not a decision object",
       "command exit 0"},
      {"[\"/nonexistent/model\"]", "model command: cannot run", "command failed"},
      {"[\"" AGENTRT_SOURCE_DIR "/tests/unit/tools/kill_self.sh\"]",
       "model command: killed by signal 9", "command killed by signal 9"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    outcome o = run_with(cases[i].command);
    assert_int_equal(art_run_stop_reason(o.run), ART_STOP_MODEL_FAILURE);
    if (!strstr(art_run_stop_detail(o.run), cases[i].detail))
      fail_msg("case %zu: \"%s\" does not say \"%s\"", i, art_run_stop_detail(o.run), cases[i].detail);
    const art_event *call = first_event(o.run, ART_EV_MODEL_CALL);
    assert_non_null(call);
    assert_non_null(call->u.model_call.error);
    assert_string_equal(call->u.model_call.outcome, cases[i].outcome);
    dispose(&o);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_printed_decision_is_taken_with_its_usage),
      cmocka_unit_test(the_program_reads_the_context_packet),
      cmocka_unit_test(an_invalid_decision_is_rejected_by_the_run),
      cmocka_unit_test(failures_are_model_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
