/* Eval suites, a driver: load every case's agent up front (a broken suite
 * runs nothing), run the cases with their models, report, and write JUnit XML.
 * Checking a finished run against its expectations is the core's (eval.c). */
#include <stdio.h>
#include <string.h>

#include "agentrt/eval.h"
#include "agentrt/loop.h"
#include "agentrt/model.h"
#include "agentrt/run.h"
#include "core/alloc.h"
#include "core/reader.h"
#include "driver/json_file.h"

typedef struct eval_case {
  const char *name;
  art_spec *spec;
  const json_t *expect;
} eval_case;

struct art_eval_suite {
  const art_allocator *alloc;
  json_t *json;
  const char *name;
  eval_case *cases;
  size_t n_cases;
};

void art_eval_suite_free(art_eval_suite *suite) {
  if (!suite) return;
  for (size_t i = 0; i < suite->n_cases; i++) art_spec_free(suite->cases[i].spec);
  art_release(suite->alloc, suite->cases);
  json_decref(suite->json);
  art_release(suite->alloc, suite);
}

/* A path relative to the suite file's directory. */
static void beside(char *out, size_t size, const char *suite_path, const char *path) {
  const char *slash = strrchr(suite_path, '/');
  if (path[0] == '/' || !slash)
    snprintf(out, size, "%s", path);
  else
    snprintf(out, size, "%.*s/%s", (int)(slash - suite_path), suite_path, path);
}

static int load_agent(const art_reader *rd, const char *path, const json_t *agent,
                      const art_spec_options *opts, art_spec **out) {
  char sub[ART_PATH_SIZE], name[ART_PATH_SIZE + 512], dir[1024];
  art_rd_member_path(sub, path, "agent");
  if (json_is_string(agent)) {
    beside(name, sizeof name, rd->file, json_string_value(agent));
    int rc = art_spec_load(out, name, opts, rd->err);
    if (rc == ART_ESPEC && rd->err) {
      char why[ART_ERRMSG_SIZE];
      snprintf(why, sizeof why, "%s", rd->err->message);
      art_rd_fail(rd, sub, "%s", why);
    }
    return rc;
  }
  if (!json_is_object(agent))
    return art_rd_fail(rd, sub, "expected an agent spec object or the path of a spec file");
  snprintf(name, sizeof name, "%s: %s", rd->file, sub);
  beside(dir, sizeof dir, rd->file, ".");
  return art_spec_parse(out, agent, name, dir, opts, rd->err);
}

static int load_case(const art_reader *rd, const char *path, const json_t *j,
                     const art_spec_options *opts, eval_case *c) {
  static const char *const keys[] = {"name", "agent", "expect", NULL};
  char sub[ART_PATH_SIZE];
  if (art_rd_expect_object(rd, path, j) < 0 || art_rd_known_keys(rd, path, j, keys) < 0 ||
      art_rd_string(rd, path, j, "name", true, &c->name) < 0)
    return ART_ESPEC;
  if (!json_object_get(j, "agent")) return art_rd_fail(rd, path, "missing required key \"agent\"");
  c->expect = json_object_get(j, "expect");
  art_rd_member_path(sub, path, "expect");
  if (c->expect && art_eval_expect_check(c->expect, rd->file, sub, rd->err) < 0) return ART_ESPEC;
  return load_agent(rd, path, json_object_get(j, "agent"), opts, &c->spec);
}

static int load_cases(art_eval_suite *s, const art_reader *rd, const art_spec_options *opts) {
  static const char *const keys[] = {"name", "cases", NULL};
  const json_t *cases = json_object_get(s->json, "cases");
  char item[ART_PATH_SIZE];
  if (art_rd_expect_object(rd, "$", s->json) < 0 || art_rd_known_keys(rd, "$", s->json, keys) < 0 ||
      art_rd_string(rd, "$", s->json, "name", false, &s->name) < 0)
    return ART_ESPEC;
  if (!cases) return art_rd_fail(rd, "$", "missing required key \"cases\"");
  if (art_rd_expect_array(rd, "$.cases", cases) < 0) return ART_ESPEC;
  if (!json_array_size(cases))
    return art_rd_fail(rd, "$.cases", "no cases: an empty suite checks nothing");
  s->cases = art_zalloc(s->alloc, (json_array_size(cases) + 1) * sizeof *s->cases);
  if (!s->cases) return art_error_set(rd->err, ART_ENOMEM, "out of memory");
  for (size_t i = 0; i < json_array_size(cases); i++) {
    art_rd_index_path(item, "$.cases", i);
    int rc = load_case(rd, item, json_array_get(cases, i), opts, &s->cases[i]);
    s->n_cases = i + 1; /* what case i loaded is freed with the suite */
    if (rc < 0) return rc;
    for (size_t k = 0; k < i; k++)
      if (strcmp(s->cases[k].name, s->cases[i].name) == 0)
        return art_rd_fail(rd, item, "duplicate case name \"%s\"", s->cases[i].name);
  }
  return 0;
}

int art_eval_suite_load(art_eval_suite **out, const char *path, const art_spec_options *opts,
                        art_error *err) {
  const art_allocator *alloc = art_allocator_or_default(opts ? opts->alloc : NULL);
  art_eval_suite *s = art_zalloc(alloc, sizeof *s);
  if (!s) return art_error_set(err, ART_ENOMEM, "out of memory");
  s->alloc = alloc;
  int rc = art_json_load_file(path, &s->json, err);
  if (rc == 0) rc = load_cases(s, &(art_reader){path, err}, opts);
  if (rc < 0) {
    art_eval_suite_free(s);
    return rc;
  }
  if (!s->name) s->name = path;
  *out = s;
  return 0;
}

const char *art_eval_suite_name(const art_eval_suite *suite) { return suite->name; }
size_t art_eval_suite_case_count(const art_eval_suite *suite) { return suite->n_cases; }
const art_spec *art_eval_suite_case_spec(const art_eval_suite *suite, size_t i) {
  return suite->cases[i].spec;
}
const json_t *art_eval_suite_case_expect(const art_eval_suite *suite, size_t i) {
  return suite->cases[i].expect;
}

/* ---- running ------------------------------------------------------------------- */

/* The run's result object, or NULL with err saying why the run could not be
 * made or driven. */
static json_t *drive(art_spec *spec, art_error *err) {
  art_run *run = NULL;
  art_model *model = NULL;
  json_t *result = NULL;
  char id[ART_RUN_ID_SIZE];
  art_run_id_generate(id);
  art_run_options opts = {.run_id = art_spec_run_id(spec) ? NULL : id};
  int rc = art_model_new(&model, spec, err);
  if (rc == 0 && (rc = art_run_new(&run, spec, &opts)) < 0) art_error_set(err, rc, "out of memory");
  if (rc == 0 && (rc = art_run_until_stop(run, model)) < 0)
    art_error_set(err, rc, "%s", art_run_errmsg(run));
  if (rc == 0 && !(result = art_run_result_json(run)))
    art_error_set(err, ART_ENOMEM, "out of memory");
  art_run_free(run);
  art_model_free(model);
  return result;
}

/* The case's report from its run's result; NULL when out of memory. */
static json_t *case_report(const char *name, const json_t *expect, const json_t *result,
                           int64_t started_us) {
  json_t *empty = expect ? NULL : json_object();
  json_t *failures = expect || empty ? art_eval_check(expect ? expect : empty, result) : NULL;
  json_decref(empty);
  if (!failures) return NULL;
  return json_pack("{s:s, s:b, s:O, s:O, s:O, s:O, s:o, s:I}", "name", name, "passed",
                   json_array_size(failures) == 0, "stop_reason",
                   json_object_get(result, "stop_reason"), "reason",
                   json_object_get(result, "reason"), "steps", json_object_get(result, "steps"),
                   "tools_called", json_object_get(result, "tools_called"), "failures", failures,
                   "duration_us", (json_int_t)(art_now_us() - started_us));
}

/* Only a run that could not be driven at all (out of memory) ends the suite. */
json_t *art_eval_case_run(const char *name, art_spec *spec, const json_t *expect, art_error *err) {
  int64_t started = art_now_us();
  json_t *result = drive(spec, err);
  if (!result) return NULL;
  json_t *report = case_report(name, expect, result, started);
  json_decref(result);
  if (!report) art_error_set(err, ART_ENOMEM, "out of memory");
  return report;
}

/* The cases of a suite on one event loop, at most `jobs` in flight: each
 * report lands at its case's index, so the report reads as if the cases ran
 * one after another. */
typedef struct suite_runner suite_runner;

typedef struct case_slot {
  suite_runner *r;
  size_t index;
  art_run *run;
  art_model *model;
  int64_t started_us;
} case_slot;

struct suite_runner {
  const art_eval_suite *suite;
  const art_eval_options *opts;
  art_loop *loop;
  case_slot *slots;
  json_t **reports;
  size_t next, done, failed;
  int rc; /* the first failure that ends the suite */
  art_error *err;
};

static void runner_fail(suite_runner *r, int rc, const char *why) {
  if (r->rc < 0) return;
  r->rc = art_error_set(r->err, rc, "%s", why);
  art_loop_stop(r->loop);
}

static void case_slot_dispose(case_slot *c) {
  art_run_free(c->run);
  art_model_free(c->model);
  c->run = NULL;
  c->model = NULL;
}

static void case_stopped(void *ud, art_run *run, int rc);

static void start_case(suite_runner *r, size_t i) {
  case_slot *c = &r->slots[i];
  const eval_case *ec = &r->suite->cases[i];
  char id[ART_RUN_ID_SIZE];
  art_run_id_generate(id);
  art_run_options ro = {.run_id = art_spec_run_id(ec->spec) ? NULL : id};
  *c = (case_slot){r, i, NULL, NULL, art_now_us()};
  art_error err = {0};
  int rc = art_model_new(&c->model, ec->spec, &err);
  if (rc < 0) return runner_fail(r, rc, err.message);
  if ((rc = art_run_new(&c->run, ec->spec, &ro)) == 0)
    rc = art_loop_add(r->loop, c->run, c->model, case_stopped, c);
  if (rc < 0) {
    case_slot_dispose(c);
    runner_fail(r, rc, "out of memory");
  }
}

static void case_stopped(void *ud, art_run *run, int rc) {
  case_slot *c = ud;
  suite_runner *r = c->r;
  const eval_case *ec = &r->suite->cases[c->index];
  json_t *result = rc == 0 ? art_run_result_json(run) : NULL;
  json_t *report = result ? case_report(ec->name, ec->expect, result, c->started_us) : NULL;
  json_decref(result);
  if (rc < 0 && rc != ART_EINTR) runner_fail(r, rc, art_run_errmsg(run));
  if (rc == 0 && !report) runner_fail(r, ART_ENOMEM, "out of memory");
  case_slot_dispose(c);
  if (!report) return;
  r->reports[c->index] = report;
  r->done++;
  r->failed += !json_is_true(json_object_get(report, "passed"));
  if (r->opts->progress) r->opts->progress(r->opts->ud, r->done, r->suite->n_cases, r->failed);
  if (r->rc == 0 && r->next < r->suite->n_cases) start_case(r, r->next++);
}

static json_t *suite_report(const suite_runner *r) {
  json_t *cases = json_array();
  for (size_t i = 0; cases && i < r->suite->n_cases; i++)
    if (json_array_append(cases, r->reports[i]) < 0) json_decref(cases), cases = NULL;
  json_t *report = cases ? json_pack("{s:s, s:I, s:I, s:o}", "suite", r->suite->name, "passed",
                                     (json_int_t)(r->suite->n_cases - r->failed), "failed",
                                     (json_int_t)r->failed, "cases", cases)
                         : NULL;
  if (!report) art_error_set(r->err, ART_ENOMEM, "out of memory");
  return report;
}

static void runner_dispose(suite_runner *r) {
  for (size_t i = 0; r->reports && i < r->suite->n_cases; i++) json_decref(r->reports[i]);
  art_release(r->suite->alloc, r->reports);
  art_release(r->suite->alloc, r->slots);
}

json_t *art_eval_suite_run_with(const art_eval_suite *suite, const art_eval_options *opts,
                                art_error *err) {
  static const art_eval_options one_at_a_time = {1, NULL, NULL, 0};
  suite_runner r = {suite, opts ? opts : &one_at_a_time, NULL, NULL, NULL, 0, 0, 0, 0, err};
  size_t n = suite->n_cases, jobs = r.opts->jobs ? r.opts->jobs : 1;
  r.slots = art_zalloc(suite->alloc, (n ? n : 1) * sizeof *r.slots);
  r.reports = art_zalloc(suite->alloc, (n ? n : 1) * sizeof *r.reports);
  if (!r.slots || !r.reports) {
    runner_dispose(&r);
    art_error_set(err, ART_ENOMEM, "out of memory");
    return NULL;
  }
  art_loop_options lo = {.max_procs = r.opts->max_procs};
  if (art_loop_new(&r.loop, &lo, err) < 0) {
    runner_dispose(&r);
    return NULL;
  }
  while (r.rc == 0 && r.next < n && r.next < jobs) start_case(&r, r.next++);
  if (r.rc == 0 && art_loop_run(r.loop) < 0) runner_fail(&r, ART_EIO, "the event loop failed");
  art_loop_free(r.loop); /* cases left in flight after a failure are let go */
  json_t *report = r.rc == 0 ? suite_report(&r) : NULL;
  runner_dispose(&r);
  return report;
}

json_t *art_eval_suite_run(const art_eval_suite *suite, art_error *err) {
  return art_eval_suite_run_with(suite, NULL, err);
}

/* ---- JUnit XML ---------------------------------------------------------------- */

static void xml_text(FILE *f, const char *s) {
  for (; *s; s++) {
    switch (*s) {
    case '<': fputs("&lt;", f); break;
    case '>': fputs("&gt;", f); break;
    case '&': fputs("&amp;", f); break;
    case '"': fputs("&quot;", f); break;
    default:
      if ((unsigned char)*s >= 0x20 || *s == '\n' || *s == '\t') fputc(*s, f);
    }
  }
}

static void junit_case(FILE *f, const char *suite, const json_t *c) {
  const json_t *failures = json_object_get(c, "failures"), *msg;
  size_t i;
  fputs("    <testcase classname=\"", f);
  xml_text(f, suite);
  fputs("\" name=\"", f);
  xml_text(f, json_string_value(json_object_get(c, "name")));
  fprintf(f, "\" time=\"%.6f\">\n",
          (double)json_integer_value(json_object_get(c, "duration_us")) / 1e6);
  json_array_foreach(failures, i, msg) {
    fputs("      <failure message=\"", f);
    xml_text(f, json_string_value(msg));
    fputs("\"/>\n", f);
  }
  fputs("    </testcase>\n", f);
}

int art_eval_write_junit(const json_t *report, FILE *f) {
  const char *suite = json_string_value(json_object_get(report, "suite"));
  const json_t *cases = json_object_get(report, "cases"), *c;
  size_t i;
  fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"", f);
  xml_text(f, suite ? suite : "agentrt");
  fprintf(f, "\" tests=\"%zu\" failures=\"%lld\">\n", json_array_size(cases),
          (long long)json_integer_value(json_object_get(report, "failed")));
  json_array_foreach(cases, i, c) junit_case(f, suite ? suite : "agentrt", c);
  fputs("  </testsuite>\n</testsuites>\n", f);
  return fflush(f) == 0 && !ferror(f) ? 0 : ART_EIO;
}
