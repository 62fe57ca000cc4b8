/* Eval harness: run agent specs as test cases and check what they did.
 *
 * A suite file is {"name": "...", "cases": [{"name", "agent": {spec} | "path",
 * "expect": {...}}]}.  `expect` keys (all optional): stop_reason, tools_called,
 * tools_not_called, max_steps, evidence_required, no_repeated_side_effects.
 * Every case is also checked, whatever it expects, for approval bypass (a write
 * executed without an allow rule or an approval), and, unless its stop_reason
 * says otherwise, for invalid decisions and budget exhaustion.
 *
 * Checks work on a run's result object (art_run_result_json, trace included), so
 * a recorded trace can be checked as well as a live run; they are the core's.
 * Loading suite files, running their cases with their models and writing
 * JUnit XML are a driver's (src/driver/eval_suite.c). */
#ifndef AGENTRT_EVAL_H
#define AGENTRT_EVAL_H

#include <stdio.h>
#include "agentrt/spec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Failures of `result` against `expect`, as a new array of strings (empty when
 * the case passes), or NULL when out of memory.  `expect` must have passed
 * art_eval_expect_check. */
json_t *art_eval_check(const json_t *expect, const json_t *result);

/* ART_ESPEC naming `file` and `path` when `expect` is not a valid expectation. */
int art_eval_expect_check(const json_t *expect, const char *file, const char *path, art_error *err);

typedef struct art_eval_suite art_eval_suite;

int art_eval_suite_load(art_eval_suite **out, const char *path, const art_spec_options *opts,
                        art_error *err);
void art_eval_suite_free(art_eval_suite *suite);

/* What a loaded suite holds, borrowed from it: its name, and per case its
 * agent and its expectations (NULL when it has none). */
const char *art_eval_suite_name(const art_eval_suite *suite);
size_t art_eval_suite_case_count(const art_eval_suite *suite);
const art_spec *art_eval_suite_case_spec(const art_eval_suite *suite, size_t i);
const json_t *art_eval_suite_case_expect(const art_eval_suite *suite, size_t i);

/* Run every case.  The report: {"suite", "passed", "failed", "cases": [{"name",
 * "passed", "stop_reason", "reason", "steps", "tools_called", "failures",
 * "duration_us"}]}.  A case whose agent cannot be loaded fails with the loader's
 * message.  New reference, or NULL with err set. */
json_t *art_eval_suite_run(const art_eval_suite *suite, art_error *err);

/* How art_eval_suite_run_with runs a suite's cases. */
typedef struct art_eval_options {
  unsigned jobs; /* cases in flight at once on one event loop (0: 1) */
  /* May be NULL: told after each case, on the loop's thread. */
  void (*progress)(void *ud, size_t done, size_t total, size_t failed);
  void *ud;
  unsigned max_procs; /* the loop's limit on child processes (loop.h; 0: its default) */
} art_eval_options;

/* art_eval_suite_run with `opts` (NULL: one case at a time): the cases run
 * concurrently on an event loop (loop.h), and the report is the same, case
 * for case and in the suite's order, whatever `jobs` is. */
json_t *art_eval_suite_run_with(const art_eval_suite *suite, const art_eval_options *opts,
                                art_error *err);

/* Run one spec as a case named `name` and check it against `expect`. */
json_t *art_eval_case_run(const char *name, art_spec *spec, const json_t *expect, art_error *err);

/* JUnit XML for a report. */
int art_eval_write_junit(const json_t *report, FILE *f);

#ifdef __cplusplus
}
#endif
#endif
