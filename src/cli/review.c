/* The review gate: every scenario runs through the runtime with its scripted
 * model, and its result and trace are checked against what it expects.  The
 * trace check looks at the traces of every scenario of the gate; the eval
 * check runs the given suites too. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/review.h"

#define TRACE_CHECK "trace_reviewable"
#define EVAL_CHECK "evals_inspect_trajectory"

/* Appends a formatted line to `lines` (failures, evidence). */
static void note(json_t *lines, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(json_t *lines, const char *fmt, ...) {
  char text[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  json_array_append_new(lines, json_string(text));
}

static const char *str(const json_t *j, const char *key) {
  const char *s = json_string_value(json_object_get(j, key));
  return s ? s : "";
}

static bool listed(const json_t *array, const char *name) {
  const json_t *v;
  size_t i;
  json_array_foreach(array, i, v) {
    if (json_is_string(v) && strcmp(json_string_value(v), name) == 0) return true;
  }
  return false;
}

/* ---- running a scenario ------------------------------------------------------- */

typedef struct scenario_run {
  art_spec *spec;
  json_t *result; /* art_run_result_json */
  char *jsonl;    /* what the run's JSONL sink wrote */
  size_t jsonl_len;
} scenario_run;

static void scenario_run_dispose(scenario_run *r) {
  art_spec_free(r->spec);
  json_decref(r->result);
  free(r->jsonl);
}

static int drive(scenario_run *r, FILE *jsonl, art_error *err) {
  art_model *model = NULL;
  art_run *run = NULL;
  art_sink sink = art_jsonl_sink(jsonl);
  char id[ART_RUN_ID_SIZE];
  art_run_id_generate(id);
  art_run_options opts = {.run_id = art_spec_run_id(r->spec) ? NULL : id};
  int rc = art_model_new(&model, r->spec, err);
  if (rc == 0 && (rc = art_run_new(&run, r->spec, &opts)) < 0)
    art_error_set(err, rc, "out of memory");
  if (rc == 0 && (rc = art_run_add_sink(run, &sink)) < 0)
    art_error_set(err, rc, "%s", art_run_errmsg(run));
  if (rc == 0 && (rc = art_run_until_stop(run, model)) < 0)
    art_error_set(err, rc, "%s", art_run_errmsg(run));
  if (rc == 0 && !(r->result = art_run_result_json(run)))
    rc = art_error_set(err, ART_ENOMEM, "out of memory");
  art_run_free(run);
  art_model_free(model);
  return rc;
}

static int run_agent(const json_t *scenario, scenario_run *r, art_error *err) {
  char name[256];
  snprintf(name, sizeof name, "review scenario %s", str(scenario, "name"));
  memset(r, 0, sizeof *r);
  int rc = art_spec_parse(&r->spec, json_object_get(scenario, "agent"), name, NULL, NULL, err);
  if (rc < 0) return rc;
  FILE *jsonl = open_memstream(&r->jsonl, &r->jsonl_len);
  if (!jsonl) return art_error_set(err, ART_ENOMEM, "out of memory");
  rc = drive(r, jsonl, err);
  if (fclose(jsonl) != 0 && rc == 0) rc = art_error_set(err, ART_ENOMEM, "out of memory");
  return rc;
}

/* ---- the trace of every run --------------------------------------------------- */

typedef struct trace_tally {
  size_t runs, events;
  json_t *failures;
} trace_tally;

static const char *type_of(const json_t *event) { return str(event, "type"); }

static void check_shape(const char *name, const json_t *trace, json_t *failures) {
  size_t n = json_array_size(trace), i;
  const json_t *e;
  if (!n) {
    note(failures, "%s: the trace is empty", name);
    return;
  }
  if (strcmp(type_of(json_array_get(trace, 0)), "run_started") != 0)
    note(failures, "%s: the trace starts with %s, not run_started", name,
         type_of(json_array_get(trace, 0)));
  if (strcmp(type_of(json_array_get(trace, n - 1)), "stop") != 0)
    note(failures, "%s: the trace ends with %s, not stop", name,
         type_of(json_array_get(trace, n - 1)));
  json_array_foreach(trace, i, e) {
    json_int_t seq = json_integer_value(json_object_get(e, "seq"));
    if (seq != (json_int_t)i + 1)
      note(failures, "%s: event %zu has seq %lld", name, i + 1, (long long)seq);
  }
}

static void check_calls(const char *name, const json_t *trace, json_t *failures) {
  size_t i, k;
  const json_t *e, *later;
  json_array_foreach(trace, i, e) {
    if (strcmp(type_of(e), "tool_call") != 0) continue;
    const json_t *call_id = json_object_get(e, "call_id");
    bool answered = false;
    for (k = i + 1; k < json_array_size(trace) && !answered; k++) {
      later = json_array_get(trace, k);
      answered = strcmp(type_of(later), "tool_result") == 0 &&
                 json_equal(json_object_get(later, "call_id"), call_id);
    }
    if (!answered)
      note(failures, "%s: tool_call %lld (%s) has no tool_result", name,
           (long long)json_integer_value(call_id), str(e, "tool"));
  }
}

/* Each line the JSONL sink wrote parses back to the event at its place. */
static void check_jsonl(const char *name, const json_t *trace, const scenario_run *r,
                        json_t *failures) {
  size_t line = 0;
  const char *p = r->jsonl, *end = r->jsonl + r->jsonl_len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
    json_t *parsed = json_loadb(p, len, 0, NULL);
    if (!json_equal(parsed, json_array_get(trace, line)))
      note(failures, "%s: JSONL line %zu does not parse back to event seq %zu", name, line + 1,
           line + 1);
    json_decref(parsed);
    line++;
    p += len + 1;
  }
  if (line != json_array_size(trace))
    note(failures, "%s: %zu JSONL lines for %zu events", name, line, json_array_size(trace));
}

/* A new run of the same spec, fed the trace, ends where the run ended. */
static void check_replay(const char *name, const json_t *trace, const scenario_run *r,
                         json_t *failures) {
  art_run *again = NULL;
  art_run_options opts = {.run_id = str(r->result, "run_id")};
  if (art_run_new(&again, r->spec, &opts) < 0) {
    note(failures, "%s: out of memory", name);
    return;
  }
  if (art_run_replay(again, trace) < 0)
    note(failures, "%s: replaying the trace fails: %s", name, art_run_errmsg(again));
  else if (strcmp(art_stop_reason_name(art_run_stop_reason(again)), str(r->result, "stop_reason")))
    note(failures, "%s: the replayed run stops %s, the run stopped %s", name,
         art_stop_reason_name(art_run_stop_reason(again)), str(r->result, "stop_reason"));
  art_run_free(again);
}

static void check_trace(const char *name, const scenario_run *r, trace_tally *t) {
  const json_t *trace = json_object_get(r->result, "trace");
  t->runs++;
  t->events += json_array_size(trace);
  check_shape(name, trace, t->failures);
  check_calls(name, trace, t->failures);
  check_jsonl(name, trace, r, t->failures);
  check_replay(name, trace, r, t->failures);
}

/* ---- what a scenario expects ---------------------------------------------------- */

static bool called_in_trace(const json_t *trace, const char *tool) {
  const json_t *e;
  size_t i;
  json_array_foreach(trace, i, e) {
    if (strcmp(type_of(e), "tool_call") == 0 && strcmp(str(e, "tool"), tool) == 0) return true;
  }
  return false;
}

static void check_tools(const json_t *expect, const json_t *result, json_t *failures) {
  const json_t *called = json_object_get(result, "tools_called"), *v;
  const json_t *trace = json_object_get(result, "trace");
  size_t i;
  json_array_foreach(json_object_get(expect, "tools_called"), i, v) {
    if (!listed(called, json_string_value(v)))
      note(failures, "expected a call of %s; none was made", json_string_value(v));
  }
  json_array_foreach(json_object_get(expect, "tools_not_called"), i, v) {
    if (listed(called, json_string_value(v)) || called_in_trace(trace, json_string_value(v)))
      note(failures, "%s ran; it must not have", json_string_value(v));
  }
}

/* Every context_built event names exactly the expected memory and, among
 * what it left out, each expected {ref, reason}; every decision follows a
 * context_built of its step. */
static void check_context(const json_t *expect, const json_t *trace, json_t *failures) {
  const json_t *refs = json_object_get(expect, "memory_refs");
  const json_t *omitted = json_object_get(expect, "omitted_refs"), *e, *v;
  size_t i, k, built = 0;
  json_int_t context_step = -1;
  json_array_foreach(trace, i, e) {
    json_int_t step = json_integer_value(json_object_get(e, "step"));
    if (strcmp(type_of(e), "decision") == 0 && step != context_step)
      note(failures, "the decision of step %lld follows no context_built", (long long)step);
    if (strcmp(type_of(e), "context_built") != 0) continue;
    built++;
    context_step = step;
    const json_t *seen = json_object_get(e, "memory_refs");
    bool same = json_array_size(seen) == json_array_size(refs);
    json_array_foreach(refs, k, v) same = same && listed(seen, json_string_value(v));
    if (!same) note(failures, "step %lld: memory_refs are not the expected ones", (long long)step);
    json_array_foreach(omitted, k, v) {
      const json_t *o;
      size_t m;
      bool found = false;
      json_array_foreach(json_object_get(e, "omitted_refs"), m, o) found =
          found || json_equal(o, v);
      if (!found)
        note(failures, "step %lld: %s is not omitted as %s", (long long)step, str(v, "ref"),
             str(v, "reason"));
    }
  }
  if (!built) note(failures, "no context_built event");
}

static void check_expect(const json_t *expect, const json_t *result, json_t *failures) {
  const char *stop = str(expect, "stop_reason"), *reason = str(expect, "reason");
  const json_t *steps = json_object_get(expect, "steps");
  if (stop[0] && strcmp(stop, str(result, "stop_reason")) != 0)
    note(failures, "stopped %s, expected %s", str(result, "stop_reason"), stop);
  if (reason[0] && strncmp(str(result, "reason"), reason, strlen(reason)) != 0)
    note(failures, "stop detail \"%s\", expected \"%s...\"", str(result, "reason"), reason);
  if (steps && !json_equal(steps, json_object_get(result, "steps")))
    note(failures, "%lld steps, expected %lld",
         (long long)json_integer_value(json_object_get(result, "steps")),
         (long long)json_integer_value(steps));
  check_tools(expect, result, failures);
  if (json_object_get(expect, "context"))
    check_context(json_object_get(expect, "context"), json_object_get(result, "trace"), failures);
}

/* The eval harness, given the scenario's eval expectations, reports the
 * failure it must (fails_with) or none. */
static int check_eval(const json_t *eval, const json_t *result, json_t *failures, json_t **reported,
                      art_error *err) {
  const json_t *expect = json_object_get(eval, "expect");
  const char *fails_with = str(eval, "fails_with");
  if (art_eval_expect_check(expect, "review scenarios", "$.eval.expect", err) < 0) return err->code;
  json_t *found = *reported = art_eval_check(expect, result);
  if (!found) return art_error_set(err, ART_ENOMEM, "out of memory");
  char *said = json_dumps(found, JSON_COMPACT);
  if (fails_with[0] && !listed(found, fails_with))
    note(failures, "the eval harness did not report \"%s\" (it reported %s)", fails_with,
         said ? said : "?");
  if (!fails_with[0] && json_array_size(found))
    note(failures, "the eval harness failed the case: %s", said ? said : "?");
  free(said);
  return 0;
}

static json_t *scenario_report(const json_t *scenario, trace_tally *t, art_error *err) {
  scenario_run r;
  if (run_agent(scenario, &r, err) < 0) {
    scenario_run_dispose(&r);
    return NULL;
  }
  json_t *failures = json_array(), *reported = NULL;
  check_expect(json_object_get(scenario, "expect"), r.result, failures);
  check_trace(str(scenario, "name"), &r, t);
  int rc = json_object_get(scenario, "eval")
               ? check_eval(json_object_get(scenario, "eval"), r.result, failures, &reported, err)
               : 0;
  json_t *report = rc == 0 ? json_pack("{s:s, s:s, s:O, s:O, s:O, s:b, s:o, s:o?}", "name",
                                       str(scenario, "name"), "tests", str(scenario, "tests"),
                                       "stop_reason", json_object_get(r.result, "stop_reason"),
                                       "reason", json_object_get(r.result, "reason"), "steps",
                                       json_object_get(r.result, "steps"), "passed",
                                       json_array_size(failures) == 0, "failures", failures,
                                       "eval_reported", reported)
                           : NULL;
  if (rc < 0) { /* not packed: still ours */
    json_decref(failures);
    json_decref(reported);
  }
  if (!report && rc == 0) art_error_set(err, ART_ENOMEM, "out of memory");
  scenario_run_dispose(&r);
  return report;
}

/* ---- the checks ------------------------------------------------------------------- */

static void trace_evidence(json_t *check, const trace_tally *t) {
  char text[512];
  snprintf(text, sizeof text,
           "%zu runs of this gate, %zu events: each trace starts run_started and ends stop, "
           "seq runs from 1 without a gap, every tool_call has its tool_result, every JSONL "
           "line parses back to its event, and replaying each trace rebuilds its run",
           t->runs, t->events);
  json_array_append_new(json_object_get(check, "evidence"), json_string(text));
  json_array_extend(json_object_get(check, "failures"), t->failures);
}

static int suite_evidence(json_t *check, const art_eval_suite *suite, const char *path,
                          art_error *err) {
  json_t *report = art_eval_suite_run(suite, err), *c, *f;
  if (!report) return err->code;
  size_t i, k;
  size_t n = json_array_size(json_object_get(report, "cases"));
  note(json_object_get(check, "evidence"), "suite %s (%s): %zu case%s, %lld passed, %lld failed",
       str(report, "suite"), path, n, n == 1 ? "" : "s",
       (long long)json_integer_value(json_object_get(report, "passed")),
       (long long)json_integer_value(json_object_get(report, "failed")));
  json_array_foreach(json_object_get(report, "cases"), i, c) {
    json_array_foreach(json_object_get(c, "failures"), k, f) {
      note(json_object_get(check, "failures"), "suite %s, case %s: %s", str(report, "suite"),
           str(c, "name"), json_string_value(f));
    }
  }
  json_decref(report);
  return 0;
}

static json_t *check_report(const json_t *check, trace_tally *t, art_error *err) {
  json_t *scenarios = json_array(), *s;
  const json_t *sc;
  size_t i;
  json_array_foreach(json_object_get(check, "scenarios"), i, sc) {
    if (!(s = scenario_report(sc, t, err)) || json_array_append_new(scenarios, s) < 0) {
      json_decref(scenarios);
      return NULL;
    }
  }
  json_t *report = json_pack("{s:s, s:s, s:b, s:[], s:o, s:[]}", "name", str(check, "name"),
                             "title", str(check, "title"), "passed", false, "evidence", "scenarios",
                             scenarios, "failures");
  if (!report) art_error_set(err, ART_ENOMEM, "out of memory");
  return report;
}

static void settle(json_t *check, size_t *passed) {
  const json_t *s;
  size_t i;
  bool ok = json_array_size(json_object_get(check, "failures")) == 0;
  json_array_foreach(json_object_get(check, "scenarios"), i, s) ok =
      ok && json_is_true(json_object_get(s, "passed"));
  json_object_set_new(check, "passed", json_boolean(ok));
  *passed += ok;
}

json_t *review_run(const json_t *scenarios, const art_eval_suite *const *suites,
                   const char *const *paths, size_t n_suites, art_error *err) {
  trace_tally t = {.failures = json_array()};
  json_t *checks = json_array(), *c;
  const json_t *check;
  size_t i, passed = 0;
  int rc = t.failures && checks ? 0 : art_error_set(err, ART_ENOMEM, "out of memory");
  json_array_foreach(json_object_get(scenarios, "checks"), i, check) {
    if (rc < 0) break;
    if (!(c = check_report(check, &t, err)))
      rc = err->code;
    else if (json_array_append_new(checks, c) < 0)
      rc = art_error_set(err, ART_ENOMEM, "out of memory");
  }
  json_array_foreach(checks, i, c) {
    if (rc < 0) break;
    if (strcmp(str(c, "name"), TRACE_CHECK) == 0) trace_evidence(c, &t);
    for (size_t k = 0; rc == 0 && k < n_suites && strcmp(str(c, "name"), EVAL_CHECK) == 0; k++)
      rc = suite_evidence(c, suites[k], paths[k], err);
    settle(c, &passed);
  }
  json_decref(t.failures);
  json_t *report = rc == 0
                       ? json_pack("{s:I, s:I, s:o}", "passed", (json_int_t)passed, "failed",
                                   (json_int_t)(json_array_size(checks) - passed), "checks", checks)
                       : NULL;
  if (!report) {
    if (rc == 0) art_error_set(err, ART_ENOMEM, "out of memory");
    if (rc < 0) json_decref(checks);
  }
  return report;
}
