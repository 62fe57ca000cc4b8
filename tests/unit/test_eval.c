/* The eval harness: each check against hand-made results and traces (so the
 * checks are proved to catch what the runtime itself never produces, such as
 * an approval bypass), suites end to end, and JUnit XML. */
#include <stdlib.h>
#include <string.h>

#include "agentrt.h"
#include "testutil.h"

static json_t *parse(const char *text) {
  json_error_t e;
  json_t *j = json_loads(text, 0, &e);
  if (!j) fail_msg("bad test JSON: %s\n%s", e.text, text);
  return j;
}

/* Failures of `result` against `expect`, joined with "|". */
static char *check(const char *expect, const char *result) {
  json_t *e = parse(expect), *r = parse(result);
  art_error err;
  assert_int_equal(art_eval_expect_check(e, "suite.json", "$.cases[0].expect", &err), 0);
  json_t *failures = art_eval_check(e, r);
  assert_non_null(failures);
  char *out = calloc(1, 4096);
  size_t i;
  json_t *f;
  json_array_foreach(failures, i, f) {
    if (i) strcat(out, "|");
    strcat(out, json_string_value(f));
  }
  json_decref(failures), json_decref(e), json_decref(r);
  return out;
}

static void assert_failures(const char *expect, const char *result, const char *want) {
  char *got = check(expect, result);
  if (strcmp(got, want) != 0) fail_msg("failures \"%s\", expected \"%s\"", got, want);
  free(got);
}

#define RESULT(stop, steps, tools, trace)                                                          \
  "{\"stop_reason\":\"" stop "\",\"reason\":\"r\",\"steps\":" #steps ",\"tools_called\":" tools    \
  ",\"trace\":" trace "}"

static void stop_reason_and_tools(void **state) {
  (void)state;
  assert_failures("{\"stop_reason\":\"success\"}", RESULT("success", 1, "[]", "[]"), "");
  assert_failures("{\"stop_reason\":\"success\"}", RESULT("refused", 1, "[]", "[]"),
                  "stop reason was refused (r), expected success");
  assert_failures("{\"tools_called\":[\"a\",\"b\"],\"tools_not_called\":[\"c\"]}",
                  RESULT("success", 2, "[\"a\",\"c\"]", "[]"),
                  "expected tool was not called: b|forbidden tool was called: c");
  assert_failures("{\"max_steps\":2}", RESULT("success", 3, "[]", "[]"),
                  "took 3 steps, more than max_steps 2");
}

static void invalid_decisions_and_budget_fail_unless_expected(void **state) {
  (void)state;
  assert_failures("{}", RESULT("invalid_decision", 1, "[]", "[]"), "invalid decision: r");
  assert_failures("{}", RESULT("budget_exhausted", 4, "[]", "[]"),
                  "budget exhausted after 4 steps");
  assert_failures("{\"stop_reason\":\"budget_exhausted\"}",
                  RESULT("budget_exhausted", 4, "[]", "[]"), "");
  assert_failures("{\"stop_reason\":\"invalid_decision\"}",
                  RESULT("invalid_decision", 1, "[]", "[]"), "");
}

static void missing_evidence(void **state) {
  (void)state;
  const char *no_evidence = "[{\"type\":\"context_built\",\"evidence_count\":0},"
                            "{\"type\":\"stop\",\"stop_reason\":\"success\",\"answer\":\"x\"}]";
  const char *evidence = "[{\"type\":\"context_built\",\"evidence_count\":0},"
                         "{\"type\":\"context_built\",\"evidence_count\":1},"
                         "{\"type\":\"stop\",\"stop_reason\":\"success\",\"answer\":\"x\"}]";
  assert_failures("{\"evidence_required\":true}", RESULT("success", 1, "[]", "[]"), "");
  char with[1024];
  snprintf(with, sizeof with, RESULT("success", 1, "[]", "%s"), no_evidence);
  assert_failures("{\"evidence_required\":true}", with, "answer without tool evidence");
  assert_failures("{}", with, "");
  snprintf(with, sizeof with, RESULT("success", 2, "[]", "%s"), evidence);
  assert_failures("{\"evidence_required\":true}", with, "");
}

static void repeated_side_effects(void **state) {
  (void)state;
  const char *trace = "[{\"type\":\"policy_decision\",\"action\":\"tool\",\"tool\":\"draft\","
                      "\"effect\":\"allow\",\"rule\":null},"
                      "{\"type\":\"tool_call\",\"tool\":\"draft\",\"side_effect\":\"draft\","
                      "\"action_id\":\"act_1\"},"
                      "{\"type\":\"tool_call\",\"tool\":\"look\",\"side_effect\":\"read\"},"
                      "{\"type\":\"tool_call\",\"tool\":\"look\",\"side_effect\":\"read\"},"
                      "{\"type\":\"tool_call\",\"tool\":\"draft\",\"side_effect\":\"draft\","
                      "\"action_id\":\"act_2\"},"
                      "{\"type\":\"tool_call\",\"tool\":\"draft\",\"side_effect\":\"draft\","
                      "\"action_id\":\"act_1\"}]";
  char result[2048];
  snprintf(result, sizeof result, RESULT("success", 5, "[]", "%s"), trace);
  assert_failures("{\"no_repeated_side_effects\":true}", result,
                  "repeated side effect: draft (act_1)");
  assert_failures("{}", result, "");
}

static void approval_bypass_is_always_caught(void **state) {
  (void)state;
  const char *bypass = "[{\"type\":\"policy_decision\",\"action\":\"tool\",\"tool\":\"send\","
                       "\"effect\":\"approval_required\",\"rule\":null},"
                       "{\"type\":\"tool_call\",\"tool\":\"send\",\"side_effect\":\"write\","
                       "\"action_id\":\"act_1\"}]";
  const char *default_allow = /* an allow the default policy never gives a write */
      "[{\"type\":\"policy_decision\",\"action\":\"tool\",\"tool\":\"send\",\"effect\":\"allow\","
      "\"rule\":null},"
      "{\"type\":\"tool_call\",\"tool\":\"send\",\"side_effect\":\"write\",\"action_id\":\"act_1\"}"
      "]";
  const char *ungated = "[{\"type\":\"tool_call\",\"tool\":\"send\",\"side_effect\":\"write\"}]";
  const char *by_rule = "[{\"type\":\"policy_decision\",\"action\":\"tool\",\"tool\":\"send\","
                        "\"effect\":\"allow\",\"rule\":0},"
                        "{\"type\":\"tool_call\",\"tool\":\"send\",\"side_effect\":\"write\","
                        "\"action_id\":\"act_1\"}]";
  const char *approved = "[{\"type\":\"policy_decision\",\"action\":\"tool\",\"tool\":\"send\","
                         "\"effect\":\"allow\",\"rule\":null,\"approved\":true},"
                         "{\"type\":\"tool_call\",\"tool\":\"send\",\"side_effect\":\"write\","
                         "\"action_id\":\"act_1\"}]";
  const char *bad[] = {bypass, default_allow, ungated}, *good[] = {by_rule, approved};
  char result[2048];
  for (size_t i = 0; i < 3; i++) {
    snprintf(result, sizeof result, RESULT("success", 1, "[\"send\"]", "%s"), bad[i]);
    assert_failures("{}", result, "approval bypass: send ran without an allow rule or approval");
  }
  for (size_t i = 0; i < 2; i++) {
    snprintf(result, sizeof result, RESULT("success", 1, "[\"send\"]", "%s"), good[i]);
    assert_failures("{}", result, "");
  }
}

static void bad_expectations_name_the_path(void **state) {
  (void)state;
  const char *cases[][2] = {{"{\"stop_reason\":\"won\"}", "unknown stop reason \"won\""},
                            {"{\"tools\":[]}", "unknown key \"tools\""},
                            {"{\"tools_called\":[1]}", "$.cases[0].expect.tools_called[0]"},
                            {"{\"max_steps\":\"3\"}", "$.cases[0].expect.max_steps"},
                            {"[]", "expected an object"}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    json_t *e = parse(cases[i][0]);
    art_error err;
    assert_int_equal(art_eval_expect_check(e, "suite.json", "$.cases[0].expect", &err), ART_ESPEC);
    if (!strstr(err.message, cases[i][1]))
      fail_msg("\"%s\" lacks \"%s\"", err.message, cases[i][1]);
    json_decref(e);
  }
}

static void suite_runs_cases_and_writes_junit(void **state) {
  (void)state;
  tu_write(
      "agent_ok.json",
      "{\"goal\":\"g\",\"tools\":[\"lookup_policy\"],\"model\":{\"type\":\"scripted\","
      "\"decisions\":[{\"type\":\"tool\",\"name\":\"lookup_policy\",\"input\":{\"task\":\"t\"}},"
      "{\"type\":\"answer\",\"text\":\"ok\"}]}}");
  const char *suite_path = tu_write(
      "suite.json",
      "{\"name\":\"s<1>\",\"cases\":["
      "{\"name\":\"reads\",\"agent\":\"agent_ok.json\",\"expect\":{\"stop_reason\":\"success\","
      "\"tools_called\":[\"lookup_policy\"],\"evidence_required\":true}},"
      "{\"name\":\"sends\",\"agent\":{\"goal\":\"g\",\"tools\":[\"send_message\"],"
      "\"policy\":{\"rules\":[{\"when\":{\"tool\":\"send_message\"},\"effect\":\"allow\"}]},"
      "\"model\":{\"type\":\"scripted\",\"decisions\":[{\"type\":\"tool\",\"name\":\"send_"
      "message\","
      "\"input\":{\"to\":\"a\",\"body\":\"b\"}},{\"type\":\"answer\",\"text\":\"sent\"}]}},"
      "\"expect\":{\"tools_not_called\":[\"send_message\"]}}]}");
  art_eval_suite *suite;
  art_error err = {0};
  art_spec_options opts = {.outbox = tu_path("eval-outbox.jsonl")};
  assert_int_equal(art_eval_suite_load(&suite, suite_path, &opts, &err), 0);
  assert_string_equal(art_eval_suite_name(suite), "s<1>");
  assert_int_equal(art_eval_suite_case_count(suite), 2);
  assert_non_null(art_registry_find(
      art_spec_registry((art_spec *)art_eval_suite_case_spec(suite, 1)), "send_message"));
  assert_non_null(json_object_get(art_eval_suite_case_expect(suite, 1), "tools_not_called"));
  json_t *report = art_eval_suite_run(suite, &err);
  assert_non_null(report);
  assert_int_equal(json_integer_value(json_object_get(report, "passed")), 1);
  assert_int_equal(json_integer_value(json_object_get(report, "failed")), 1);
  json_t *sends = json_array_get(json_object_get(report, "cases"), 1);
  assert_false(json_is_true(json_object_get(sends, "passed")));
  assert_string_equal(json_string_value(json_array_get(json_object_get(sends, "failures"), 0)),
                      "forbidden tool was called: send_message");
  FILE *f = fopen(tu_path("junit.xml"), "w");
  assert_int_equal(art_eval_write_junit(report, f), 0);
  fclose(f);
  char *xml = tu_read(tu_path("junit.xml"));
  assert_non_null(strstr(xml, "<testsuite name=\"s&lt;1&gt;\" tests=\"2\" failures=\"1\">"));
  assert_non_null(strstr(xml, "<failure message=\"forbidden tool was called: send_message\"/>"));
  assert_non_null(strstr(xml, "name=\"reads\""));
  free(xml);
  json_decref(report);
  art_eval_suite_free(suite);
}

/* The report without its timings (duration_us), as JSON text. */
static char *timeless_report(json_t *report) {
  size_t i;
  json_t *c;
  json_array_foreach(json_object_get(report, "cases"), i, c) json_object_del(c, "duration_us");
  return json_dumps(report, JSON_COMPACT);
}

typedef struct progress_seen {
  size_t calls, last_done, last_failed;
} progress_seen;

static void count_progress(void *ud, size_t done, size_t total, size_t failed) {
  progress_seen *p = ud;
  assert_int_equal(done, p->last_done + 1);
  assert_int_equal(total, 100);
  assert_true(failed >= p->last_failed);
  p->calls++;
  p->last_done = done, p->last_failed = failed;
}

/* A 100-case suite (models that answer at once or after a delay, command
 * tools that succeed, fail or time out, passing and failing cases) gives the
 * same report, case for case and in order, one case at a time and 32 at once. */
static void a_suite_reports_the_same_with_any_jobs(void **state) {
  (void)state;
  static const char *const agents[] = {
      "{\"goal\":\"g\",\"tools\":[\"lookup_policy\"],\"model\":{\"type\":\"scripted\","
      "\"delay_ms\":%d,\"decisions\":[{\"type\":\"tool\",\"name\":\"lookup_policy\","
      "\"input\":{\"task\":\"t\"}},{\"type\":\"answer\",\"text\":\"ok\"}]}}",
      "{\"goal\":\"g\",\"tools\":[{\"name\":\"c\",\"side_effect\":\"read\",\"timeout_ms\":"
      "%d,\"command\":[\"/bin/sh\",\"-c\",\"cat >/dev/null; sleep 0.05; echo '{}'\"]}],"
      "\"model\":{\"type\":\"scripted\",\"decisions\":[{\"type\":\"tool\",\"name\":\"c\","
      "\"input\":{}},{\"type\":\"answer\",\"text\":\"ok\"}]}}",
      "{\"goal\":\"g\",\"max_steps\":%d,\"tools\":[\"lookup_policy\"],\"model\":{\"type\":"
      "\"scripted\",\"decisions\":[{\"type\":\"tool\",\"name\":\"lookup_policy\","
      "\"input\":{\"task\":\"t\"},\"repeat\":9}]}}",
  };
  size_t size = 1 << 20, len = 0;
  char *text = malloc(size);
  len += (size_t)snprintf(text, size, "{\"name\":\"hundred\",\"cases\":[");
  for (int i = 0; i < 100; i++) {
    char agent[1024];
    int kind = i % 3, arg = kind == 0 ? (i * 7) % 20 : kind == 1 ? (i % 2 ? 10 : 5000) : 1 + i % 4;
    snprintf(agent, sizeof agent, agents[kind], arg);
    len += (size_t)snprintf(text + len, size - len,
                            "%s{\"name\":\"case-%03d\",\"agent\":%s,\"expect\":"
                            "{\"stop_reason\":\"success\"}}",
                            i ? "," : "", i, agent);
  }
  snprintf(text + len, size - len, "]}");
  art_eval_suite *suite;
  art_error err = {0};
  art_spec_options opts = {.outbox = tu_path("eval-outbox.jsonl")};
  assert_int_equal(art_eval_suite_load(&suite, tu_write("hundred.json", text), &opts, &err), 0);
  free(text);
  char *reports[2], *junit[2];
  unsigned jobs[2] = {1, 32};
  for (int k = 0; k < 2; k++) {
    progress_seen seen = {0};
    art_eval_options eo = {jobs[k], count_progress, &seen, 0};
    json_t *report = art_eval_suite_run_with(suite, &eo, &err);
    assert_non_null(report);
    assert_int_equal(seen.calls, 100);
    assert_int_equal(seen.last_failed, json_integer_value(json_object_get(report, "failed")));
    reports[k] = timeless_report(report);
    size_t n;
    FILE *f = open_memstream(&junit[k], &n);
    assert_int_equal(art_eval_write_junit(report, f), 0);
    fclose(f);
    json_decref(report);
  }
  assert_string_equal(reports[0], reports[1]);
  assert_non_null(strstr(reports[0], "\"passed\":true"));
  assert_non_null(strstr(reports[0], "\"passed\":false"));
  assert_non_null(strstr(reports[0], "\"stop_reason\":\"tool_failure\""));
  assert_string_equal(junit[0], junit[1]);
  for (int k = 0; k < 2; k++) free(reports[k]), free(junit[k]);
  art_eval_suite_free(suite);
}

static void broken_suites_run_nothing(void **state) {
  (void)state;
  const char *cases[][2] = {
      {"{\"cases\":[{\"name\":\"a\",\"agent\":\"missing.json\"}]}", "missing.json"},
      {"{\"cases\":[{\"name\":\"a\"}]}", "$.cases[0]: missing required key \"agent\""},
      {"{\"cases\":[{\"name\":\"a\",\"agent\":{\"goal\":\"g\"}}]}",
       "missing required key \"model\""},
      {"{\"cases\":[{\"name\":\"a\",\"agent\":3}]}", "$.cases[0].agent"},
      {"{\"cases\":[{\"name\":\"a\",\"agent\":{},\"extra\":1}]}", "unknown key \"extra\""},
      {"{\"cases\":[{\"name\":\"a\",\"agent\":\"x\",\"expect\":{\"stop_reason\":\"nope\"}}]}",
       "unknown stop reason"},
      {"{\"case\":[]}", "unknown key \"case\""},
      {"{\"cases\":[]}", "$.cases: no cases: an empty suite checks nothing"},
      {"{\"cases\":[", "invalid JSON"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    art_eval_suite *suite = NULL;
    art_error err = {0};
    int rc = art_eval_suite_load(&suite, tu_write("bad-suite.json", cases[i][0]), NULL, &err);
    assert_int_equal(rc, ART_ESPEC);
    if (!strstr(err.message, cases[i][1]))
      fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.message, cases[i][1]);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(stop_reason_and_tools),
      cmocka_unit_test(invalid_decisions_and_budget_fail_unless_expected),
      cmocka_unit_test(missing_evidence),
      cmocka_unit_test(repeated_side_effects),
      cmocka_unit_test(approval_bypass_is_always_caught),
      cmocka_unit_test(bad_expectations_name_the_path),
      cmocka_unit_test(suite_runs_cases_and_writes_junit),
      cmocka_unit_test(a_suite_reports_the_same_with_any_jobs),
      cmocka_unit_test(broken_suites_run_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
