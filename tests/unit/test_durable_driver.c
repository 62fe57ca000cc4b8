/* The durable driver (durable.h) on the memory and SQLite stores: a run
 * created under a lease, paused, reopened from its journal by another holder,
 * decided and continued to its stop; take-over once a lease has run out,
 * fenced: the old holder's writes are refused and it drops the run; the
 * heartbeat. */
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

/* The spec's run `run_id` and its model, created in `store` under *lease
 * held by `owner`; not driven yet. */
typedef struct held_run {
  art_spec *spec;
  art_model *model;
  art_run *run;
  art_lease lease;
} held_run;

static void create_held(held_run *h, art_store *store, const char *run_id, const char *owner) {
  char text[1024];
  art_error err = {0};
  art_run_options opts = {.run_id = run_id};
  snprintf(text, sizeof text, SPEC, run_id);
  h->spec = tu_spec(text);
  assert_int_equal(art_model_new(&h->model, h->spec, &err), 0);
  assert_int_equal(art_run_new(&h->run, h->spec, &opts), 0);
  if (art_durable_create(&h->lease, store, h->spec, h->run, owner, 0, false, &err) < 0)
    fail_msg("%s", err.message);
}

static void held_run_free(held_run *h) {
  art_error ignored = {0};
  art_lease_release(&h->lease, &ignored);
  art_run_free(h->run);
  art_model_free(h->model);
  art_spec_free(h->spec);
}

/* The run `run_id` started under a lease by "first", driven to its pause. */
static void start_paused(art_store *store, const char *run_id) {
  held_run h;
  art_error err = {0};
  create_held(&h, store, run_id, "first");
  assert_int_equal(art_run_until_stop(h.run, h.model), 0);
  assert_int_equal(art_run_stop_reason(h.run), ART_STOP_APPROVAL_REQUIRED);
  assert_int_equal(art_durable_settle(&h.lease, h.run, &err), 0);
  held_run_free(&h);
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
  if (art_durable_open(&d, store, "r-reopen", &lease, "test store", false, &err) < 0)
    fail_msg("%s", err.message);
  assert_int_equal(art_durable_status_of(d.run), ART_RUN_PAUSED);
  art_approval a = {pending_action(d.run), true, "reviewer", NULL, 0};
  assert_int_equal(art_run_feed_approval(d.run, &a, art_now_us()), 0);
  assert_int_equal(art_durable_continue(&d, &lease, NULL, &err), 0);
  assert_int_equal(art_run_stop_reason(d.run), ART_STOP_SUCCESS);
  assert_int_equal(art_durable_settle(&lease, d.run, &err), 0);
  assert_null(lease.run_id); /* let go */
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
  assert_int_equal(art_durable_open(&d, store, "r-none", NULL, "test store", false, &err), ART_ENOTFOUND);
  assert_null(d.run);
  art_store_close(store);
}

/* Another holder's claim once the lease has run out: `now` is past it. */
static void take_over(art_lease *l, art_store *store, const char *run_id) {
  art_error err = {0};
  int64_t later = art_now_us() + 2 * ART_LEASE_TTL_US;
  if (art_lease_claim(l, store, run_id, "second", later, 0, &err) < 0) fail_msg("%s", err.message);
  assert_int_equal(l->generation, 2);
}

/* The first holder appends, the second takes the run over once the first's
 * lease has run out and goes on with it; the first's next write is refused,
 * and the journal is one history that replays to the second's stop. */
static void take_over_and_fence(art_store *first, art_store *second) {
  held_run a;
  art_error err = {0};
  create_held(&a, first, "r-take", "first");
  assert_int_equal(art_run_until_stop(a.run, a.model), 0); /* paused, journaled */
  art_lease b;
  art_durable d;
  take_over(&b, second, "r-take");
  if (art_durable_open(&d, second, "r-take", &b, "second store", false, &err) < 0)
    fail_msg("%s", err.message);
  art_approval yes = {pending_action(d.run), true, "reviewer", NULL, 0};
  assert_int_equal(art_run_feed_approval(d.run, &yes, art_now_us()), 0);
  assert_int_equal(art_run_feed_approval(a.run, &yes, art_now_us()), ART_EFENCED);
  assert_int_equal(art_durable_settle(&a.lease, a.run, &err), ART_EFENCED);
  assert_int_equal(art_durable_continue(&d, &b, NULL, &err), 0);
  assert_int_equal(art_durable_settle(&b, d.run, &err), 0);
  size_t events = art_run_event_count(d.run);
  art_durable_dispose(&d);
  assert_int_equal(art_durable_open(&d, first, "r-take", NULL, "first store", false, &err), 0);
  assert_int_equal(art_run_stop_reason(d.run), ART_STOP_SUCCESS);
  assert_int_equal(art_run_event_count(d.run), events);
  art_durable_dispose(&d);
  held_run_free(&a);
}

static void a_run_is_taken_over_once_its_lease_runs_out(void **state) {
  (void)state;
  art_store *memory = open_store(MEMORY, NULL);
  take_over_and_fence(memory, memory);
  art_store_close(memory);
  art_store *first = open_store(SQLITE, "take.db"), *second = open_store(SQLITE, "take.db");
  take_over_and_fence(first, second);
  art_store_close(first);
  art_store_close(second);
}

/* A driver whose first write is refused drops the run: nothing of it is in
 * the journal. */
static void a_fenced_driver_drops_the_run(void **state) {
  (void)state;
  art_store *store = open_store(SQLITE, "drop.db");
  art_error err = {0};
  held_run a;
  art_lease b;
  create_held(&a, store, "r-drop", "first");
  take_over(&b, store, "r-drop");
  assert_int_equal(art_durable_drive(a.run, a.model, &a.lease, NULL), ART_EFENCED);
  art_run_record rec;
  assert_int_equal(store->vt->get_run(store, "r-drop", &rec, &err), 0);
  assert_int_equal(rec.events, 0);
  assert_string_equal(rec.lease_owner, "second");
  art_run_record_dispose(&rec);
  assert_int_equal(art_lease_release(&b, &err), 0);
  held_run_free(&a);
  art_store_close(store);
}

/* The watch renews the lease once a third of it has passed, and lets go of a
 * run another holder has taken over. */
static void the_heartbeat_renews_and_sees_a_take_over(void **state) {
  (void)state;
  art_store *store = open_store(MEMORY, NULL);
  art_error err = {0};
  held_run a;
  create_held(&a, store, "r-beat", "first");
  art_durable_watch watch;
  art_drive_hooks hooks;
  art_durable_watch_init(&watch, &a.lease, NULL, &hooks);
  a.lease.renewed_us -= ART_LEASE_TTL_US / 2; /* half the lease has passed */
  int64_t before = a.lease.renewed_us;
  assert_null(hooks.cancel_reason(hooks.ud));
  assert_true(a.lease.renewed_us > before);
  art_run_record rec;
  assert_int_equal(store->vt->get_run(store, "r-beat", &rec, &err), 0);
  assert_int_equal(rec.lease_until_us, a.lease.renewed_us + ART_LEASE_TTL_US);
  art_run_record_dispose(&rec);
  assert_false(hooks.let_go(hooks.ud));
  art_lease b;
  take_over(&b, store, "r-beat");
  a.lease.renewed_us -= ART_LEASE_TTL_US / 2;
  assert_null(hooks.cancel_reason(hooks.ud));
  assert_true(hooks.let_go(hooks.ud));
  art_durable_watch_dispose(&watch);
  assert_int_equal(art_lease_release(&b, &err), 0);
  held_run_free(&a);
  art_store_close(store);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_paused_run_is_reopened_and_continued),
      cmocka_unit_test(a_live_holder_keeps_its_run),
      cmocka_unit_test(a_missing_run_is_not_found),
      cmocka_unit_test(a_run_is_taken_over_once_its_lease_runs_out),
      cmocka_unit_test(a_fenced_driver_drops_the_run),
      cmocka_unit_test(the_heartbeat_renews_and_sees_a_take_over),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
