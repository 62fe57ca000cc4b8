/* The track's review gate, run against this build: five checks (loop control
 * exists, tools are governed, context is explicit, trace is reviewable, evals
 * inspect trajectory), each proved by running scenarios through the runtime
 * (examples/review/scenarios.json, compiled in) and, for the last, the eval
 * suites given.  Builds a JSON report; printing is cmd_review.c's. */
#ifndef ART_CLI_REVIEW_H
#define ART_CLI_REVIEW_H

#include "agentrt.h"

/* {"passed": N, "failed": N, "checks": [{"name", "title", "passed",
 * "evidence": [TEXT], "scenarios": [{"name", "tests", "stop_reason",
 * "reason", "steps", "passed", "failures", "eval_reported"}], "failures":
 * [TEXT]}]} ("eval_reported": what the eval harness said of the scenario's
 * run, when it has eval expectations, else null), or NULL
 * with err set (a scenario that cannot be loaded, out of memory).  `suites`
 * were loaded from `paths`. */
json_t *review_run(const json_t *scenarios, const art_eval_suite *const *suites,
                   const char *const *paths, size_t n_suites, art_error *err);

#endif
