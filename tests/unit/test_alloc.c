/* Allocation-failure injection over a full run: spec load, model, run, result
 * JSON.  Every allocation (ours and jansson's) is made to fail once in turn;
 * each attempt must end in a clean error or a complete run, with nothing leaked
 * and no crash. */
#include <stdlib.h>
#include <string.h>

#include "agentrt.h"
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

static int attempt(tu_alloc *t, long fail_at) {
  tu_alloc_init(t, fail_at);
  counter = t;
  json_set_alloc_funcs(json_alloc_hook, json_free_hook);
  int rc = full_run(t);
  json_set_alloc_funcs(malloc, free);
  return rc;
}

static void every_allocation_failure_is_clean(void **state) {
  (void)state;
  tu_alloc t;
  assert_int_equal(attempt(&t, 0), 0);
  assert_int_equal(t.live, 0);
  long total = t.count;
  assert_true(total > 50);
  int failed_runs = 0, succeeded = 0;
  for (long i = 1; i <= total; i++) {
    int rc = attempt(&t, i);
    if (t.live != 0) fail_msg("allocation %ld of %ld: %ld allocations leaked", i, total, t.live);
    /* A failure that lands in a tool becomes an error result (the run stops
     * tool_failure: rc 1), anywhere else a negative code. */
    if (rc == 0)
      succeeded++;
    else
      failed_runs++;
    assert_true(rc == 0 || rc == 1 || rc == ART_ENOMEM || rc == ART_ESPEC);
  }
  print_message("allocation failures injected: %ld (%d runs failed cleanly, %d completed)\n", total,
                failed_runs, succeeded);
  assert_true(failed_runs > 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(every_allocation_failure_is_clean)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
