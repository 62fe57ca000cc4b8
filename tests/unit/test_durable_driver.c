/* The durable driver (durable.h) on the memory and SQLite stores: a run
 * created under a lease, paused, reopened from its journal by another holder,
 * decided and continued to its stop. */
#include <stdlib.h>
#include <string.h>

#include "agentrt/durable.h"
#include "testutil.h"

#define SPEC                                                                                       \
  "{\"run_id\":\"%s\",\"goal\":\"g\",\"actor\":{\"id\":\"agent\"},\"tools\":[\"send_message\"],"   \
  "\"model\":{\"type\":\"scripted\",\"decisions\":[{\"type\":\"tool\",\"name\":\"send_message\","  \
  "\"input\":{\"to\":\"c@example.com\",\"body\":\"hi\"}},{\"type\":\"answer\",\"text\":\"done\"}]" \
  "}}"

typedef enum { MEMORY, SQLITE } backend;

static art_store *open_store(backend b, const char *file) {
  art_store *s;
  art_error err = {0};
  int rc = b == MEMORY ? art_store_open_memory(&s, &err)
                       : art_store_open_sqlite(&s, tu_path(file), NULL, &err);
  if (rc < 0) fail_msg("%s", err.message);
  return s;
}

/* The run `run_id` started under a lease by "first", driven to its pause. */
static void start_paused(art_store *store, const char *run_id) {
  char text[1024];
  snprintf(text, sizeof text, SPEC, run_id);
  art_spec *spec = tu_spec(text);
  art_model *model;
  art_run *run;
  art_lease lease;
  art_error err = {0};
  art_run_options opts = {.run_id = run_id};
  assert_int_equal(art_model_new(&model, spec, &err), 0);
  assert_int_equal(art_run_new(&run, spec, &opts), 0);
  if (art_durable_create(&lease, store, spec, run, "first", false, &err) < 0)
    fail_msg("%s", err.message);
  assert_int_equal(art_run_until_stop(run, model), 0);
  assert_int_equal(art_run_stop_reason(run), ART_STOP_APPROVAL_REQUIRED);
  assert_int_equal(art_durable_record_status(&lease, run, &err), 0);
  assert_int_equal(art_lease_release(&lease, &err), 0);
  art_run_free(run);
  art_model_free(model);
  art_spec_free(spec);
}

/* The action the rebuilt run waits for. */
static const char *pending_action(const art_run *run) {
  const art_event *stop = art_run_event(run, art_run_event_count(run) - 1);
  assert_int_equal(stop->type, ART_EV_STOP);
  return stop->u.stop.action_id;
}

static void pause_reopen_continue(backend b) {
  art_store *store = open_store(b, "reopen.db");
  art_error err = {0};
  start_paused(store, "r-reopen");
  art_lease lease;
  art_durable d;
  assert_int_equal(art_lease_claim(&lease, store, "r-reopen", "second", art_now_us(), 0, &err), 0);
  if (art_durable_open(&d, store, "r-reopen", &lease, "test store", &err) < 0)
    fail_msg("%s", err.message);
  assert_int_equal(art_durable_status_of(d.run), ART_RUN_PAUSED);
  art_approval a = {pending_action(d.run), true, "reviewer", NULL, 0};
  assert_int_equal(art_run_feed_approval(d.run, &a, art_now_us()), 0);
  assert_int_equal(art_durable_continue(&d, &lease, NULL, &err), 0);
  assert_int_equal(art_run_stop_reason(d.run), ART_STOP_SUCCESS);
  assert_int_equal(art_durable_record_status(&lease, d.run, &err), 0);
  assert_int_equal(art_lease_release(&lease, &err), 0);
  art_durable_dispose(&d);
  art_run_record rec;
  assert_int_equal(store->vt->get_run(store, "r-reopen", &rec, &err), 0);
  assert_int_equal(rec.status, ART_RUN_FINISHED);
  assert_null(rec.lease_owner);
  art_run_record_dispose(&rec);
  art_store_close(store);
}

static void a_paused_run_is_reopened_and_continued(void **state) {
  (void)state;
  pause_reopen_continue(MEMORY);
  pause_reopen_continue(SQLITE);
}

static void a_live_holder_keeps_its_run(void **state) {
  (void)state;
  art_store *store = open_store(MEMORY, NULL);
  art_error err = {0};
  art_lease first, second;
  start_paused(store, "r-held");
  assert_int_equal(art_lease_claim(&first, store, "r-held", "first", art_now_us(), 0, &err), 0);
  assert_int_equal(art_lease_claim(&second, store, "r-held", "second", art_now_us(), 0, &err),
                   ART_ESTATE);
  assert_null(second.run_id);
  assert_int_equal(art_lease_release(&first, &err), 0);
  art_store_close(store);
}

static void a_missing_run_is_not_found(void **state) {
  (void)state;
  art_store *store = open_store(MEMORY, NULL);
  art_error err = {0};
  art_durable d;
  assert_int_equal(art_durable_open(&d, store, "r-none", NULL, "test store", &err), ART_ENOTFOUND);
  assert_null(d.run);
  art_store_close(store);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_paused_run_is_reopened_and_continued),
      cmocka_unit_test(a_live_holder_keeps_its_run),
      cmocka_unit_test(a_missing_run_is_not_found),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
