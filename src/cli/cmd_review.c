/* agentrt review: the review gate's five checks against this build, with the
 * evidence a team attaches to its lab completion worksheet. */
#include <stdio.h>

#include "cli/cli.h"
#include "cli/review.h"

static const char usage[] =
    "usage: agentrt review [--suite FILE ...] [--json]\n"
    "\n"
    "Run the review gate's five checks against this build, each by running the\n"
    "scenarios that prove it through the runtime (examples/review/scenarios.json,\n"
    "compiled in), and print the evidence: what ran, how it stopped, the failure\n"
    "path each scenario tests, and what failed.\n"
    "\n"
    "  1. loop control exists: the max_steps budget stops a model that never\n"
    "     stops; an invalid decision stops the run before anything acts; a model\n"
    "     cannot claim success\n"
    "  2. tools are governed: a write needs approval and does not run; a deny\n"
    "     rule stops the run; unknown and disabled tools are refused\n"
    "  3. context is explicit: each context_built event lists the memory the\n"
    "     model saw and what was left out, with why (scope, expiry, policy)\n"
    "  4. trace is reviewable: every run of the gate has a trace from run_started\n"
    "     to stop, seq without gaps, a tool_result for every tool_call, JSONL\n"
    "     lines that parse back to their events, and a replay that rebuilds it\n"
    "  5. evals inspect trajectory: the eval harness fails a run that calls a\n"
    "     forbidden tool although it answers; and every case of the given suites\n"
    "     passes (a failing case fails the check, by name)\n"
    "\n"
    "  --suite FILE    also run this eval suite in check 5 (repeatable)\n"
    "  --json          the report as one JSON object: {passed, failed, checks:\n"
    "                  [{name, title, passed, evidence, scenarios, failures}]}\n"
    "\n"
    "exit codes: 0 every check passed, 1 a check failed, 2 bad usage or suite\n";

static void print_scenario(const json_t *s) {
  const json_t *f;
  size_t i;
  const char *reason = json_string_value(json_object_get(s, "reason"));
  printf("      %-4s %-24s %s%s%s%s, %lld step%s\n",
         json_is_true(json_object_get(s, "passed")) ? "ok" : "FAIL",
         json_string_value(json_object_get(s, "name")),
         json_string_value(json_object_get(s, "stop_reason")), reason ? " (" : "",
         reason ? reason : "", reason ? ")" : "",
         (long long)json_integer_value(json_object_get(s, "steps")),
         json_integer_value(json_object_get(s, "steps")) == 1 ? "" : "s");
  printf("           tests: %s\n", json_string_value(json_object_get(s, "tests")));
  const json_t *reported = json_object_get(s, "eval_reported");
  if (json_is_array(reported) && !json_array_size(reported))
    puts("           eval harness: the case passes");
  json_array_foreach(reported, i, f) {
    printf("           eval harness: %s\n", json_string_value(f));
  }
  json_array_foreach(json_object_get(s, "failures"), i, f) {
    printf("           FAIL: %s\n", json_string_value(f));
  }
}

static int print_table(const json_t *report) {
  const json_t *check, *s, *line;
  size_t i, k;
  json_int_t passed = json_integer_value(json_object_get(report, "passed"));
  json_int_t failed = json_integer_value(json_object_get(report, "failed"));
  printf("review gate: %lld checks\n", (long long)(passed + failed));
  json_array_foreach(json_object_get(report, "checks"), i, check) {
    printf("\n%zu. %s: %s\n", i + 1, json_string_value(json_object_get(check, "title")),
           json_is_true(json_object_get(check, "passed")) ? "PASS" : "FAIL");
    json_array_foreach(json_object_get(check, "scenarios"), k, s) print_scenario(s);
    json_array_foreach(json_object_get(check, "evidence"), k, line) {
      printf("      evidence: %s\n", json_string_value(line));
    }
    json_array_foreach(json_object_get(check, "failures"), k, line) {
      printf("      FAIL: %s\n", json_string_value(line));
    }
  }
  printf("\n%lld of %lld checks passed\n", (long long)passed, (long long)(passed + failed));
  return fflush(stdout) == 0 ? 0 : cli_error(EXIT_USAGE, CLI_ERR_IO, "cannot write to stdout");
}

static int review(const cli_opts *o, art_eval_suite *const *suites) {
  art_error err = {0};
  json_t *scenarios = json_loads(cli_review_scenarios(), 0, NULL);
  json_t *report = scenarios ? review_run(scenarios, (const art_eval_suite *const *)suites,
                                          o->suites, (size_t)o->n_suites, &err)
                             : NULL;
  json_decref(scenarios);
  if (!report)
    return cli_error(EXIT_USAGE, err.message[0] ? cli_err_of(err.code) : CLI_ERR_INTERNAL,
                     "review: %s", err.message[0] ? err.message : "out of memory");
  int rc = o->json ? cli_print_json(report) : print_table(report);
  if (rc == 0) rc = json_integer_value(json_object_get(report, "failed")) ? EXIT_STOPPED : EXIT_OK;
  json_decref(report);
  return rc;
}

int cmd_review(int argc, char **argv) {
  cli_opts o;
  int rc = cli_parse(argc, argv, OPT_SUITE, 0, usage, &o);
  if (rc != 0 || o.help) return rc;
  art_eval_suite *suites[CLI_MAX_SUITES] = {0};
  rc = cli_load_suites(&o, suites);
  if (rc == 0) rc = review(&o, suites);
  cli_free_suites(&o, suites);
  return rc;
}
