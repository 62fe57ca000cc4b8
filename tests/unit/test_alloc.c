/* Allocation-failure injection over a full run (spec load, model, run, result
 * JSON), and over an event loop driving several runs of it.  Every allocation (ours and jansson's) is made to fail once in turn;
 * each attempt must end in a clean error or a complete run, with nothing leaked
 * and no crash. */
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>

#include "agentrt.h"
#include "agentrt/loop.h"
#include "testutil.h"

static tu_alloc *counter; /* jansson's hooks take no user pointer */

static void *json_alloc_hook(size_t n) { return counter->a.alloc(counter, n); }
static void json_free_hook(void *p) { counter->a.release(counter, p); }

static const char *spec_text =
    "{\"run_id\":\"alloc\",\"goal\":\"g\",\"max_steps\":6,"
    "\"actor\":{\"id\":\"a\",\"tenant\":\"t\",\"route\":\"r\"},"
    "\"memory\":[{\"id\":\"m1\",\"scope\":\"project\",\"text\":\"x\"},"
    "{\"id\":\"m2\",\"scope\":\"user\",\"text\":\"y\"},"
    "{\"id\":\"m3\",\"scope\":\"task\",\"sensitivity\":\"confidential\",\"text\":\"z\"}],"
    "\"tools\":[\"lookup_policy\",\"draft_message\",\"send_message\"],"
    "\"redact\":{\"patterns\":[\"sk-[a-z0-9]+\"]},"
    "\"policy\":{\"rules\":[{\"when\":{\"action\":\"retrieve\",\"sensitivity\":\"confidential\"},"
    "\"effect\":\"deny\",\"reason\":\"no\"},{\"when\":{\"tool\":\"send_*\"},\"effect\":\"allow\","
    "\"reason\":\"ok\"}]},"
    "\"model\":{\"type\":\"scripted\",\"decisions\":["
    "{\"type\":\"tool\",\"name\":\"lookup_policy\",\"input\":{\"task\":\"sk-abc123\"}},"
    "{\"type\":\"tool\",\"name\":\"draft_message\",\"input\":{\"to\":\"a\",\"body\":\"sk-b\"}},"
    "{\"type\":\"tool\",\"name\":\"draft_message\",\"input\":{\"to\":\"a\",\"body\":\"b\"}},"
    "{\"type\":\"tool\",\"name\":\"send_message\",\"input\":{\"to\":\"a\",\"body\":\"b\"}},"
    "{\"type\":\"answer\",\"text\":\"done sk-zz9\"}]}}";

/* A command model that calls a command tool, then answers: two child
 * processes a run, started on the loop.  The commands are script files: the
 * spec has no escaped string, which jansson's lexer cannot unescape when an
 * allocation fails (it asserts). */
static char command_spec_text[2048];

static const char *script(const char *name, const char *body) {
  const char *path = tu_write(name, body);
  assert_int_equal(chmod(path, 0755), 0);
  return path;
}

static void write_command_spec(void) {
  char probe[512];
  snprintf(probe, sizeof probe, "%s",
           script("probe.sh", "#!/bin/sh\ncat >/dev/null; echo '{\"n\": 1}'\n"));
  const char *model =
      script("model.sh", "#!/bin/sh\ncat >/dev/null\nif [ \"$AGENTRT_STEP\" = 1 ]; then\n"
                         "  echo '{\"type\":\"tool\",\"name\":\"probe\",\"input\":{}}'\nelse\n"
                         "  echo '{\"type\":\"answer\",\"text\":\"done\"}'\nfi\n");
  snprintf(command_spec_text, sizeof command_spec_text,
           "{\"run_id\":\"alloc\",\"goal\":\"g\",\"max_steps\":3,"
           "\"tools\":[{\"name\":\"probe\",\"side_effect\":\"read\",\"command\":[\"%s\"]}],"
           "\"model\":{\"type\":\"command\",\"command\":[\"%s\"]}}",
           probe, model);
}

/* One full pass; returns 0 when the run succeeded, negative on a clean error. */
static int full_run(tu_alloc *t) {
  json_t *json = json_loads(spec_text, 0, NULL);
  if (!json) return ART_ENOMEM;
  art_spec *spec = NULL;
  art_model *model = NULL;
  art_run *run = NULL;
  json_t *result = NULL;
  art_error err = {0};
  art_spec_options opts = {.alloc = &t->a, .outbox = tu_path("outbox.jsonl")};
  int rc = art_spec_parse(&spec, json, "alloc.json", NULL, &opts, &err);
  if (rc == 0) rc = art_model_new(&model, spec, &err);
  if (rc == 0) rc = art_run_new(&run, spec, NULL);
  if (rc == 0) rc = art_run_until_stop(run, model);
  if (rc == 0 && !(result = art_run_result_json(run))) rc = ART_ENOMEM;
  if (rc == 0 && art_run_stop_reason(run) != ART_STOP_SUCCESS) rc = 1;
  json_decref(result);
  art_run_free(run);
  art_model_free(model);
  art_spec_free(spec);
  json_decref(json);
  return rc;
}

#define LOOP_RUNS 3
#define NOT_TOLD 1000
#define NOT_ADDED 2000

static void told(void *ud, art_run *run, int rc) {
  (void)run;
  *(int *)ud = rc;
}

/* What the loop said of one run: 0 success, 1 another stop, or its error. */
static int outcome(const art_run *run, int rc) {
  if (rc == NOT_TOLD) fail_msg("run %s was added and never told it stopped", art_run_id(run));
  if (rc < 0) return rc;
  return art_run_stop_reason(run) == ART_STOP_SUCCESS ? 0 : 1;
}

/* `n` runs (up to LOOP_RUNS) of `text` at once on one loop; the worst outcome. */
static int loop_runs_of(tu_alloc *t, const char *text, int n) {
  json_t *json = json_loads(text, 0, NULL);
  if (!json) return ART_ENOMEM;
  art_spec *spec = NULL;
  art_loop *loop = NULL;
  art_model *models[LOOP_RUNS] = {0};
  art_run *runs[LOOP_RUNS] = {0};
  int rcs[LOOP_RUNS] = {NOT_ADDED, NOT_ADDED, NOT_ADDED}, worst = 0;
  art_error err = {0};
  art_spec_options opts = {.alloc = &t->a, .outbox = tu_path("outbox.jsonl")};
  art_loop_options lo = {.alloc = &t->a};
  int rc = art_spec_parse(&spec, json, "alloc.json", NULL, &opts, &err);
  if (rc == 0) rc = art_loop_new(&loop, &lo, &err);
  for (int i = 0; rc == 0 && i < n; i++) {
    char id[32];
    snprintf(id, sizeof id, "alloc-%d", i);
    art_run_options ro = {.run_id = id};
    if ((rc = art_model_new(&models[i], spec, &err)) == 0 &&
        (rc = art_run_new(&runs[i], spec, &ro)) == 0 &&
        (rc = art_loop_add(loop, runs[i], models[i], told, &rcs[i])) == 0)
      rcs[i] = NOT_TOLD;
  }
  if (rc == 0) rc = art_loop_run(loop);
  art_loop_free(loop);
  for (int i = 0; i < LOOP_RUNS; i++) {
    int o = rcs[i] == NOT_ADDED ? 0 : outcome(runs[i], rcs[i]);
    if (o < 0 || (worst >= 0 && o > worst)) worst = o;
    art_run_free(runs[i]);
    art_model_free(models[i]);
  }
  art_spec_free(spec);
  json_decref(json);
  return rc < 0 ? rc : worst;
}

static int loop_runs(tu_alloc *t) { return loop_runs_of(t, spec_text, LOOP_RUNS); }
/* One run: its two children cost a fork each per attempt, slow under ASan. */
static int loop_command_runs(tu_alloc *t) { return loop_runs_of(t, command_spec_text, 1); }

static int attempt(tu_alloc *t, long fail_at, int (*pass)(tu_alloc *t)) {
  tu_alloc_init(t, fail_at);
  counter = t;
  json_set_alloc_funcs(json_alloc_hook, json_free_hook);
  int rc = pass(t);
  json_set_alloc_funcs(malloc, free);
  return rc;
}

/* Every allocation of `pass` made to fail in turn: each attempt ends in a
 * clean error or complete runs, nothing leaked. */
static void fail_each_allocation(int (*pass)(tu_alloc *t), const char *what) {
  tu_alloc t;
  assert_int_equal(attempt(&t, 0, pass), 0);
  assert_int_equal(t.live, 0);
  long total = t.count;
  assert_true(total > 50);
  int failed_runs = 0, succeeded = 0;
  for (long i = 1; i <= total; i++) {
    int rc = attempt(&t, i, pass);
    if (t.live != 0) fail_msg("allocation %ld of %ld: %ld allocations leaked", i, total, t.live);
    /* A failure that lands in a tool becomes an error result (the run stops
     * tool_failure: rc 1), anywhere else a negative code. */
    if (rc == 0)
      succeeded++;
    else
      failed_runs++;
    assert_true(rc == 0 || rc == 1 || rc == ART_ENOMEM || rc == ART_ESPEC);
  }
  print_message("%s: allocation failures injected: %ld (%d failed cleanly, %d completed)\n", what,
                total, failed_runs, succeeded);
  assert_true(failed_runs > 0);
}

static void every_allocation_failure_is_clean(void **state) {
  (void)state;
  fail_each_allocation(full_run, "one run");
}

static void every_allocation_failure_on_a_loop_is_clean(void **state) {
  (void)state;
  fail_each_allocation(loop_runs, "three runs on a loop");
}

/* Command tools and models started on the loop: a failure in one ends its
 * call cleanly, its child killed and reaped. */
static void every_allocation_failure_of_commands_on_a_loop_is_clean(void **state) {
  (void)state;
  write_command_spec();
  fail_each_allocation(loop_command_runs, "command tools and models on a loop");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_allocation_failure_is_clean),
      cmocka_unit_test(every_allocation_failure_on_a_loop_is_clean),
      cmocka_unit_test(every_allocation_failure_of_commands_on_a_loop_is_clean)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
