/* Stores: one contract, every backend (memory, SQLite, PostgreSQL) passes it;
 * then what only a file, or only a server, can get wrong. */
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agentrt.h"
#include "agentrt/store.h"
#include "testutil.h"

typedef art_store *(*opener)(void);

static art_store *open_memory(void) {
  art_store *s;
  art_error err;
  assert_int_equal(art_store_open_memory(&s, &err), 0);
  return s;
}

static int sqlite_count;

static art_store *open_sqlite(void) {
  char name[64];
  art_store *s;
  art_error err = {0};
  snprintf(name, sizeof name, "contract-%d.db", sqlite_count++);
  if (art_store_open_sqlite(&s, tu_path(name), NULL, &err) < 0) fail_msg("%s", err.message);
  return s;
}

static int pg_schema_count;

/* A fresh schema in the database the group setup made. */
static art_store *open_postgres(void) {
  char schema[64];
  art_store *s;
  art_error err = {0};
  snprintf(schema, sizeof schema, "contract_%d", pg_schema_count++);
  art_postgres_options opts = {.schema = schema};
  if (art_store_open_postgres(&s, tu_pg_url("store_tests"), &opts, &err) < 0)
    fail_msg("%s", err.message);
  return s;
}

static art_store *open_url(const char *where) {
  art_store *s;
  art_error err = {0};
  if (art_store_open_url(&s, where, &err) < 0) fail_msg("%s", err.message);
  return s;
}

static art_run_record record(const char *id, int64_t created) {
  return (art_run_record){.run_id = (char *)id,
                          .status = ART_RUN_RUNNING,
                          .spec_json = (char *)"{\"goal\":\"g\"}",
                          .spec_dir = (char *)"/tmp",
                          .created_us = created};
}

static void append(art_store *s, const char *id, uint32_t seq, art_event_type type) {
  char body[32];
  art_error err = {0};
  snprintf(body, sizeof body, "{\"n\":%u}", seq);
  if (s->vt->append(s, id, 0, seq, seq / 2, 1000 + seq, type, body, seq % 2, NULL, &err) < 0)
    fail_msg("%s", err.message);
}

/* ---- the contract -------------------------------------------------------------- */

static void contract_runs_and_journals(opener open) {
  art_store *s = open();
  art_error err = {0};
  art_run_record r1 = record("r1", 10), got;
  assert_int_equal(s->vt->create_run(s, &r1, &err), 0);
  assert_int_equal(s->vt->create_run(s, &r1, &err), ART_EEXIST);
  assert_non_null(strstr(err.message, "exists already"));
  for (uint32_t seq = 1; seq <= 5; seq++) append(s, "r1", seq, ART_EV_DECISION);
  assert_int_equal(s->vt->append(s, "r1", 0, 7, 3, 1, ART_EV_STOP, "{}", true, NULL, &err),
                   ART_ESTATE); /* a gap */
  assert_int_equal(s->vt->append(s, "r1", 0, 5, 3, 1, ART_EV_STOP, "{}", true, NULL, &err),
                   ART_ESTATE); /* a repeat */
  assert_int_equal(s->vt->append(s, "nope", 0, 1, 0, 1, ART_EV_STOP, "{}", true, NULL, &err),
                   ART_ENOTFOUND);
  assert_int_equal(s->vt->get_run(s, "r1", &got, &err), 0);
  assert_string_equal(got.run_id, "r1");
  assert_int_equal(got.events, 5);
  assert_int_equal(got.steps, 5); /* the decisions taken */
  assert_int_equal(got.updated_us, 1005);
  assert_string_equal(got.spec_json, "{\"goal\":\"g\"}");
  assert_string_equal(got.spec_dir, "/tmp");
  assert_null(got.stop_reason);
  art_run_record_dispose(&got);
  art_journal journal;
  assert_int_equal(s->vt->load_journal(s, "r1", &journal, &err), 0);
  assert_int_equal(journal.n, 5);
  for (uint32_t i = 0; i < 5; i++) {
    const art_journal_entry *e = &journal.entries[i];
    char body[32];
    snprintf(body, sizeof body, "{\"n\":%u}", i + 1);
    assert_int_equal(e->seq, i + 1);
    assert_int_equal(e->step, (i + 1) / 2);
    assert_int_equal(e->ts_us, 1000 + i + 1);
    assert_int_equal(e->type, ART_EV_DECISION);
    assert_string_equal(e->body, body);
    assert_int_equal(e->body_len, strlen(body));
  }
  art_journal_dispose(&journal);
  assert_int_equal(s->vt->append(s, "r1", 0, 6, 3, 1, (art_event_type)99, "{}", true, NULL, &err),
                   ART_EINVAL);
  assert_non_null(strstr(err.message, "no event type 99"));
  assert_int_equal(s->vt->get_run(s, "nope", &got, &err), ART_ENOTFOUND);
  assert_int_equal(s->vt->load_journal(s, "nope", &journal, &err), ART_ENOTFOUND);
  assert_int_equal(journal.n, 0);
  art_store_close(s);
}

static void contract_status_list_prune(opener open) {
  art_store *s = open();
  art_error err = {0};
  const char *ids[] = {"a", "b", "c", "d"};
  for (int i = 0; i < 4; i++) {
    art_run_record r = record(ids[i], 100 + i);
    assert_int_equal(s->vt->create_run(s, &r, &err), 0);
  }
  append(s, "a", 1, ART_EV_RUN_STARTED); /* its events go when it goes */
  assert_int_equal(s->vt->set_status(s, "a", 0, ART_RUN_FINISHED, "success", "answered", 200, &err),
                   0);
  assert_int_equal(
      s->vt->set_status(s, "b", 0, ART_RUN_PAUSED, "approval_required", "why", 200, &err), 0);
  assert_int_equal(s->vt->set_status(s, "c", 0, ART_RUN_CANCELLED, "cancelled", "op", 900, &err),
                   0);
  assert_int_equal(s->vt->set_status(s, "zz", 0, ART_RUN_CANCELLED, NULL, NULL, 1, &err),
                   ART_ENOTFOUND);
  art_run_record *list;
  size_t n;
  assert_int_equal(s->vt->list_runs(s, -1, &list, &n, &err), 0);
  assert_int_equal(n, 4);
  assert_string_equal(list[0].run_id, "d"); /* newest first */
  assert_string_equal(list[3].run_id, "a");
  art_run_records_free(list, n);
  assert_int_equal(s->vt->list_runs(s, ART_RUN_PAUSED, &list, &n, &err), 0);
  assert_int_equal(n, 1);
  assert_string_equal(list[0].run_id, "b");
  assert_string_equal(list[0].stop_reason, "approval_required");
  art_run_records_free(list, n);
  char **pruned;
  size_t deleted;
  assert_int_equal(s->vt->prune(s, 500, &pruned, &deleted, &err), 0);
  assert_int_equal(deleted, 1); /* a finished before 500; c cancelled after; b paused, d running */
  assert_string_equal(pruned[0], "a");
  art_run_ids_free(pruned, deleted);
  art_run_record got;
  assert_int_equal(s->vt->get_run(s, "a", &got, &err), ART_ENOTFOUND);
  art_journal journal;
  assert_int_equal(s->vt->load_journal(s, "a", &journal, &err), ART_ENOTFOUND);
  assert_int_equal(s->vt->prune(s, 1000, &pruned, &deleted, &err), 0);
  assert_int_equal(deleted, 1);
  assert_string_equal(pruned[0], "c");
  art_run_ids_free(pruned, deleted);
  assert_int_equal(s->vt->prune(s, 1000, &pruned, &deleted, &err), 0);
  assert_int_equal(deleted, 0);
  art_run_ids_free(pruned, deleted);
  assert_int_equal(s->vt->list_runs(s, -1, &list, &n, &err), 0);
  assert_int_equal(n, 2);
  art_run_records_free(list, n);
  art_store_close(s);
}

/* Which runs a prune deleted: each of them once, in any order. */
static void contract_prune_names_what_it_deletes(opener open) {
  art_store *s = open();
  art_error err = {0};
  const char *ids[] = {"p1", "p2", "p3", "p4"};
  for (int i = 0; i < 4; i++) {
    art_run_record r = record(ids[i], 10 + i);
    assert_int_equal(s->vt->create_run(s, &r, &err), 0);
    art_run_status status = i == 2 ? ART_RUN_PAUSED : i % 2 ? ART_RUN_CANCELLED : ART_RUN_FINISHED;
    assert_int_equal(s->vt->set_status(s, ids[i], 0, status, "x", "y", 50, &err), 0);
  }
  char **pruned;
  size_t n;
  assert_int_equal(s->vt->prune(s, 100, &pruned, &n, &err), 0);
  assert_int_equal(n, 3); /* p3 is paused */
  int seen[4] = {0};
  for (size_t i = 0; i < n; i++)
    for (int k = 0; k < 4; k++) seen[k] += strcmp(pruned[i], ids[k]) == 0;
  assert_true(seen[0] == 1 && seen[1] == 1 && seen[2] == 0 && seen[3] == 1);
  art_run_ids_free(pruned, n);
  art_run_record *list;
  assert_int_equal(s->vt->list_runs(s, -1, &list, &n, &err), 0);
  assert_int_equal(n, 1);
  assert_string_equal(list[0].run_id, "p3");
  art_run_records_free(list, n);
  art_store_close(s);
}

static void contract_leases(opener open) {
  art_store *s = open();
  art_error err = {0};
  art_run_record r = record("r", 1);
  assert_int_equal(s->vt->create_run(s, &r, &err), 0);
  uint64_t gen = 0;
  assert_int_equal(s->vt->claim(s, "r", "p1", 1000, 500, &gen, &err), 0);
  assert_int_equal(gen, 1);                                               /* created unheld: 0 */
  assert_int_equal(s->vt->claim(s, "r", "p1", 1100, 500, &gen, &err), 0); /* renewing */
  assert_int_equal(gen, 1);
  assert_int_equal(s->vt->claim(s, "r", "p2", 1200, 500, &gen, &err), ART_ESTATE);
  assert_non_null(strstr(err.message, "held by"));
  assert_int_equal(s->vt->claim(s, "r", "p2", 1700, 500, &gen, &err), 0); /* p1's ran out */
  assert_int_equal(gen, 2);
  assert_int_equal(s->vt->release(s, "r", 1, &err), ART_EFENCED); /* not p1's any more */
  assert_int_equal(s->vt->claim(s, "r", "p1", 1800, 500, NULL, &err), ART_ESTATE);
  assert_int_equal(s->vt->release(s, "r", 2, &err), 0);
  assert_int_equal(s->vt->claim(s, "r", "p1", 1800, 500, &gen, &err), 0);
  assert_int_equal(gen, 3);
  assert_int_equal(s->vt->claim(s, "nope", "p1", 1800, 500, NULL, &err), ART_ENOTFOUND);
  /* A run created with a lease is held from the first moment. */
  art_run_record held = record("held", 2), got;
  held.lease_owner = (char *)"p1", held.lease_until_us = 2000;
  assert_int_equal(s->vt->create_run(s, &held, &err), 0);
  assert_int_equal(s->vt->claim(s, "held", "p2", 1900, 500, NULL, &err), ART_ESTATE);
  assert_int_equal(s->vt->get_run(s, "held", &got, &err), 0);
  assert_string_equal(got.lease_owner, "p1");
  assert_int_equal(got.lease_until_us, 2000);
  assert_int_equal(got.lease_generation, 1);
  art_run_record_dispose(&got);
  art_store_close(s);
}

/* A run journaled through the sink replays from the store to the same state. */
static void contract_journal_sink_and_replay(opener open) {
  art_store *s = open();
  art_error err = {0};
  art_spec *spec;
  art_spec_options opts = {.outbox = "/dev/null"};
  if (art_spec_load(&spec, AGENTRT_SOURCE_DIR "/examples/demo.json", &opts, &err) < 0)
    fail_msg("%s", err.message);
  art_run_record r = record("demo_001", 1);
  assert_int_equal(s->vt->create_run(s, &r, &err), 0);
  art_model *model;
  art_run *run, *again;
  assert_int_equal(art_model_new(&model, spec, &err), 0);
  assert_int_equal(art_run_new(&run, spec, NULL), 0);
  art_sink sink;
  assert_int_equal(art_store_sink_new(&sink, s, 0, &err), 0);
  assert_int_equal(art_run_add_sink(run, &sink), 0);
  assert_int_equal(art_run_until_stop(run, model), 0);
  art_journal journal;
  assert_int_equal(s->vt->load_journal(s, "demo_001", &journal, &err), 0);
  assert_int_equal(journal.n, art_run_event_count(run));
  assert_int_equal(art_run_new(&again, spec, NULL), 0);
  assert_int_equal(art_run_replay_journal(again, &journal), 0);
  assert_int_equal(art_run_stop_reason(again), ART_STOP_SUCCESS);
  assert_int_equal(art_run_steps(again), 2);
  json_t *a = art_run_result_json(run), *b = art_run_result_json(again);
  assert_true(json_equal(a, b));
  json_decref(a), json_decref(b);
  art_journal_dispose(&journal);
  art_run_free(again);
  art_run_free(run);
  art_model_free(model);
  art_spec_free(spec);
  art_store_close(s);
}

#define CONTRACT(name, fn)                                                                         \
  static void name##_memory(void **state) {                                                        \
    (void)state;                                                                                   \
    fn(open_memory);                                                                               \
  }                                                                                                \
  static void name##_sqlite(void **state) {                                                        \
    (void)state;                                                                                   \
    fn(open_sqlite);                                                                               \
  }                                                                                                \
  static void name##_postgres(void **state) {                                                      \
    (void)state;                                                                                   \
    fn(open_postgres);                                                                             \
  }

/* Append as the holder of lease generation `generation`: 0 or a negative code. */
static int append_as(art_store *s, const char *run_id, uint64_t generation, uint32_t seq,
                     bool durable) {
  art_error err = {0};
  return s->vt->append(s, run_id, generation, seq, seq, seq, ART_EV_DECISION, "{}", durable, NULL,
                       &err);
}

/* A holder whose lease was taken over writes nothing more: not an event
 * (durable or not), not a status, not a release. */
static void contract_fencing(opener open) {
  art_store *s = open();
  art_error err = {0};
  art_run_record r = record("f", 1), got;
  r.lease_owner = (char *)"p1", r.lease_until_us = 1000;
  assert_int_equal(s->vt->create_run(s, &r, &err), 0);
  assert_int_equal(append_as(s, "f", 1, 1, true), 0);
  uint64_t gen = 0;
  assert_int_equal(s->vt->claim(s, "f", "p2", 1000, 500, &gen, &err), 0); /* p1's ran out */
  assert_int_equal(gen, 2);
  assert_int_equal(append_as(s, "f", 1, 2, true), ART_EFENCED);
  assert_int_equal(append_as(s, "f", 1, 2, false), ART_EFENCED);
  assert_int_equal(s->vt->set_status(s, "f", 1, ART_RUN_FINISHED, "success", NULL, 9, &err),
                   ART_EFENCED);
  assert_int_equal(s->vt->release(s, "f", 1, &err), ART_EFENCED);
  assert_int_equal(s->vt->commit(s, "f", 1, &err), 0); /* nothing held back was refused */
  assert_int_equal(s->vt->get_run(s, "f", &got, &err), 0);
  assert_int_equal(got.events, 1);
  assert_int_equal(got.status, ART_RUN_RUNNING);
  assert_string_equal(got.lease_owner, "p2");
  assert_int_equal(got.lease_generation, 2);
  art_run_record_dispose(&got);
  art_journal journal;
  assert_int_equal(s->vt->load_journal(s, "f", &journal, &err), 0);
  assert_int_equal(journal.n, 1);
  art_journal_dispose(&journal);
  assert_int_equal(append_as(s, "f", 2, 2, true), 0);
  assert_int_equal(s->vt->release(s, "f", 2, &err), 0);
  assert_int_equal(s->vt->claim(s, "f", "p1", 1100, 500, &gen, &err), 0);
  assert_int_equal(gen, 3);
  art_store_close(s);
}

static void contract_cancel_requests(opener open) {
  art_store *s = open();
  art_error err = {0};
  art_run_record r = record("c1", 1), got;
  assert_int_equal(s->vt->create_run(s, &r, &err), 0);
  assert_int_equal(s->vt->get_run(s, "c1", &got, &err), 0);
  assert_null(got.cancel_reason);
  art_run_record_dispose(&got);
  char *reason;
  assert_int_equal(s->vt->cancel_requested(s, "c1", &reason, &err), 0);
  assert_null(reason);
  assert_int_equal(s->vt->request_cancel(s, "c1", "operator stop", &err), 0);
  assert_int_equal(s->vt->cancel_requested(s, "c1", &reason, &err), 0);
  assert_string_equal(reason, "operator stop");
  free(reason);
  assert_int_equal(s->vt->cancel_requested(s, "nope", &reason, &err), ART_ENOTFOUND);
  assert_int_equal(s->vt->get_run(s, "c1", &got, &err), 0);
  assert_string_equal(got.cancel_reason, "operator stop");
  art_run_record_dispose(&got);
  assert_int_equal(s->vt->request_cancel(s, "c1", NULL, &err), 0); /* a default reason */
  assert_int_equal(s->vt->get_run(s, "c1", &got, &err), 0);
  assert_string_equal(got.cancel_reason, "cancelled");
  art_run_record_dispose(&got);
  assert_int_equal(s->vt->set_status(s, "c1", 0, ART_RUN_FINISHED, "success", NULL, 2, &err), 0);
  assert_int_equal(s->vt->request_cancel(s, "c1", "late", &err), ART_ESTATE);
  assert_non_null(strstr(err.message, "ended already"));
  assert_int_equal(s->vt->request_cancel(s, "nope", "x", &err), ART_ENOTFOUND);
  art_store_close(s);
}

/* An approval is kept with its event, in the order given. */
static void contract_approval_records(opener open) {
  art_store *s = open();
  art_error err = {0};
  art_run_record r = record("a1", 1);
  assert_int_equal(s->vt->create_run(s, &r, &err), 0);
  append(s, "a1", 1, ART_EV_RUN_STARTED);
  art_approval_record given[2] = {{.run_id = (char *)"a1",
                                   .action_id = (char *)"act_1",
                                   .tool = (char *)"send",
                                   .input_sha256 = (char *)"ab12",
                                   .requested_by = (char *)"agent",
                                   .requested_at_us = 10,
                                   .reviewer = (char *)"ops",
                                   .approved = true,
                                   .reason = (char *)"ok",
                                   .decided_at_us = 20,
                                   .expires_at_us = 30,
                                   .event_seq = 2},
                                  {.run_id = (char *)"a1",
                                   .action_id = (char *)"act_2",
                                   .input_sha256 = (char *)"cd34",
                                   .requested_at_us = 40,
                                   .reviewer = (char *)"ops",
                                   .decided_at_us = 50,
                                   .event_seq = 3}};
  assert_int_equal(
      s->vt->append(s, "a1", 0, 2, 1, 20, ART_EV_APPROVAL, "{}", true, &given[0], &err), 0);
  assert_int_equal(
      s->vt->append(s, "a1", 0, 3, 1, 50, ART_EV_APPROVAL, "{}", true, &given[1], &err), 0);
  art_approval_record *got;
  size_t n;
  assert_int_equal(s->vt->list_approvals(s, "a1", &got, &n, &err), 0);
  assert_int_equal(n, 2);
  assert_string_equal(got[0].action_id, "act_1");
  assert_string_equal(got[0].tool, "send");
  assert_string_equal(got[0].input_sha256, "ab12");
  assert_string_equal(got[0].requested_by, "agent");
  assert_string_equal(got[0].reviewer, "ops");
  assert_string_equal(got[0].reason, "ok");
  assert_true(got[0].approved);
  assert_int_equal(got[0].requested_at_us, 10);
  assert_int_equal(got[0].decided_at_us, 20);
  assert_int_equal(got[0].expires_at_us, 30);
  assert_int_equal(got[0].event_seq, 2);
  assert_false(got[1].approved);
  assert_null(got[1].tool);
  assert_null(got[1].reason);
  assert_int_equal(got[1].event_seq, 3);
  art_approval_records_free(got, n);
  assert_int_equal(s->vt->list_approvals(s, "nope", &got, &n, &err), ART_ENOTFOUND);
  art_store_close(s);
}

/* Runs created together: all of them, or (an id exists, or comes twice)
 * none, and the store goes on as before. */
static void contract_create_runs(opener open) {
  art_store *s = open();
  art_error err = {0};
  art_run_record recs[3] = {record("b1", 1), record("b2", 2), record("b3", 3)};
  assert_int_equal(s->vt->create_runs(s, recs, 3, &err), 0);
  append(s, "b2", 1, ART_EV_RUN_STARTED);
  art_run_record again[2] = {record("b4", 4), record("b2", 5)};
  assert_int_equal(s->vt->create_runs(s, again, 2, &err), ART_EEXIST);
  assert_non_null(strstr(err.message, "b2 exists already"));
  art_run_record twice[3] = {record("b5", 5), record("b6", 6), record("b5", 7)};
  assert_int_equal(s->vt->create_runs(s, twice, 3, &err), ART_EEXIST);
  assert_non_null(strstr(err.message, "b5 exists already"));
  art_run_record *list;
  size_t n;
  assert_int_equal(s->vt->list_runs(s, -1, &list, &n, &err), 0);
  assert_int_equal(n, 3);
  art_run_records_free(list, n);
  append(s, "b2", 2, ART_EV_STOP); /* what was appended before is still there */
  art_run_record got;
  assert_int_equal(s->vt->get_run(s, "b2", &got, &err), 0);
  assert_int_equal(got.events, 2);
  art_run_record_dispose(&got);
  assert_int_equal(s->vt->create_runs(s, again, 1, &err), 0); /* b4 alone */
  assert_int_equal(s->vt->create_runs(s, NULL, 0, &err), 0);
  art_store_close(s);
}

CONTRACT(runs_and_journals, contract_runs_and_journals)
CONTRACT(create_runs, contract_create_runs)
CONTRACT(cancel_requests, contract_cancel_requests)
CONTRACT(approval_records, contract_approval_records)
CONTRACT(status_list_prune, contract_status_list_prune)
CONTRACT(prune_names_what_it_deletes, contract_prune_names_what_it_deletes)
CONTRACT(leases, contract_leases)
CONTRACT(fencing, contract_fencing)
CONTRACT(journal_sink_and_replay, contract_journal_sink_and_replay)

/* ---- the queue ----------------------------------------------------------------- */

static art_run_record with_status(const char *id, int64_t created, art_run_status status,
                                  const char *queue) {
  art_run_record r = record(id, created);
  r.status = status, r.queue = (char *)queue;
  return r;
}

/* lease_ready for `owner` at `now` (a lease of 100 µs): the ids taken, in
 * order, as "a,b,c"; each record is checked to be `owner`'s. */
static void leased(art_store *s, const char *const *queues, const char *owner, int64_t now,
                   size_t max, const char *want) {
  art_error err = {0};
  art_run_record *got = NULL;
  size_t n = 0;
  char ids[256] = "";
  if (s->vt->lease_ready(s, queues, owner, now, 100, max, &got, &n, &err) < 0)
    fail_msg("%s", err.message);
  for (size_t i = 0; i < n; i++) {
    assert_string_equal(got[i].lease_owner, owner);
    assert_int_equal(got[i].lease_until_us, now + 100);
    assert_int_equal(got[i].status, ART_RUN_RUNNING); /* marked as it is leased */
    snprintf(ids + strlen(ids), sizeof ids - strlen(ids), "%s%s", i ? "," : "", got[i].run_id);
  }
  art_run_records_free(got, n);
  assert_string_equal(ids, want);
}

static uint64_t generation_of(art_store *s, const char *run_id) {
  art_run_record got;
  art_error err = {0};
  assert_int_equal(s->vt->get_run(s, run_id, &got, &err), 0);
  uint64_t generation = got.lease_generation;
  art_run_record_dispose(&got);
  return generation;
}

/* Ready runs are taken oldest first, `max` at a time, each by one caller
 * until its lease runs out; paused and ended runs never; queues filter. */
static void contract_lease_ready(opener open) {
  art_store *s = open();
  art_error err = {0};
  art_run_record runs[] = {
      with_status("m1", 5, ART_RUN_QUEUED, "mail"), with_status("p1", 1, ART_RUN_PAUSED, NULL),
      with_status("f1", 2, ART_RUN_FINISHED, NULL), with_status("q3", 30, ART_RUN_QUEUED, NULL),
      with_status("q1", 10, ART_RUN_QUEUED, NULL),  with_status("q2", 20, ART_RUN_QUEUED, NULL),
      with_status("rd", 35, ART_RUN_READY, NULL),   with_status("r1", 40, ART_RUN_RUNNING, NULL)};
  runs[7].lease_owner = (char *)"dead", runs[7].lease_until_us = 2000;
  assert_int_equal(s->vt->create_runs(s, runs, 8, &err), 0);
  const char *const defaults[] = {ART_QUEUE_DEFAULT, NULL}, *const mail[] = {"mail", NULL};
  leased(s, defaults, "w1", 1000, 2, "q1,q2");
  assert_int_equal(generation_of(s, "q1"), 1);
  leased(s, NULL, "w2", 1050, 10, "m1,q3,rd"); /* q1, q2 and r1 are held */
  leased(s, mail, "w3", 1060, 10, "");
  leased(s, NULL, "w3", 1060, 10, "");
  art_run_record got;
  assert_int_equal(s->vt->get_run(s, "m1", &got, &err), 0);
  assert_string_equal(got.queue, "mail");
  assert_string_equal(got.lease_owner, "w2");
  art_run_record_dispose(&got);
  /* Every lease has run out: all are taken again, at a new generation. */
  leased(s, NULL, "w4", 5000, 10, "m1,q1,q2,q3,rd,r1");
  assert_int_equal(generation_of(s, "r1"), 2);
  assert_int_equal(generation_of(s, "q1"), 2);
  assert_int_equal(s->vt->set_status(s, "r1", 1, ART_RUN_FINISHED, "success", NULL, 5001, &err),
                   ART_EFENCED); /* the dead holder's */
  assert_int_equal(s->vt->set_status(s, "r1", 2, ART_RUN_FINISHED, "success", NULL, 5001, &err), 0);
  assert_int_equal(s->vt->release(s, "q1", 2, &err), 0);
  assert_int_equal(s->vt->settle(s, "q2", 1, ART_RUN_PAUSED, "blocked", NULL, 5001, &err),
                   ART_EFENCED); /* w1's, long gone */
  assert_int_equal(s->vt->settle(s, "q2", 2, ART_RUN_PAUSED, "blocked", "why", 5001, &err), 0);
  assert_int_equal(s->vt->get_run(s, "q2", &got, &err), 0);
  assert_int_equal(got.status, ART_RUN_PAUSED); /* settled: where it stands, nobody holds it */
  assert_string_equal(got.stop_reason, "blocked");
  assert_string_equal(got.detail, "why");
  assert_null(got.lease_owner);
  assert_int_equal(got.lease_generation, 2);
  art_run_record_dispose(&got);
  leased(s, NULL, "w5", 5010, 10, "q1"); /* released: taken at once; paused, finished: never */
  art_store_close(s);
}

CONTRACT(lease_ready, contract_lease_ready)

/* ---- limits -------------------------------------------------------------------- */

static void set_limit(art_store *s, art_limit_kind kind, const char *name, uint32_t max) {
  art_error err = {0};
  if (s->vt->set_limit(s, kind, name, max, &err) < 0) fail_msg("%s", err.message);
}

/* The store's limits as "queue:mail=2,tenant:acme=1". */
static void assert_limits(art_store *s, const char *want) {
  art_limit *list;
  size_t n;
  art_error err = {0};
  char got[256] = "";
  if (s->vt->list_limits(s, &list, &n, &err) < 0) fail_msg("%s", err.message);
  for (size_t i = 0; i < n; i++)
    snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s:%s=%u", i ? "," : "",
             art_limit_kind_name(list[i].kind), list[i].name, list[i].max_running);
  art_limits_free(list, n);
  assert_string_equal(got, want);
}

/* Limits are set, changed, removed (0) and read back in their order. */
static void contract_limits_are_kept(opener open) {
  art_store *s = open();
  art_error err = {0};
  assert_limits(s, "");
  set_limit(s, ART_LIMIT_TENANT, "acme", 1);
  set_limit(s, ART_LIMIT_QUEUE, "mail", 2);
  set_limit(s, ART_LIMIT_QUEUE, "default", 5);
  set_limit(s, ART_LIMIT_QUEUE, "mail", 3);
  assert_limits(s, "queue:default=5,queue:mail=3,tenant:acme=1");
  set_limit(s, ART_LIMIT_QUEUE, "mail", 0);
  set_limit(s, ART_LIMIT_QUEUE, "never-limited", 0);
  assert_limits(s, "queue:default=5,tenant:acme=1");
  assert_int_equal(s->vt->set_limit(s, ART_LIMIT_QUEUE, "", 1, &err), ART_EINVAL);
  assert_non_null(strstr(err.message, "a queue limit needs the queue's name"));
  assert_int_equal(s->vt->set_limit(s, (art_limit_kind)7, "x", 1, &err), ART_EINVAL);
  assert_limits(s, "queue:default=5,tenant:acme=1");
  art_store_close(s);
}

static void release_ok(art_store *s, const char *run_id) {
  art_error err = {0};
  if (s->vt->release(s, run_id, generation_of(s, run_id), &err) < 0) fail_msg("%s", err.message);
}

/* The run's holder finishes it and lets it go. */
static void finish(art_store *s, const char *run_id) {
  art_error err = {0};
  uint64_t generation = generation_of(s, run_id);
  if (s->vt->settle(s, run_id, generation, ART_RUN_FINISHED, "success", NULL, 1, &err) < 0)
    fail_msg("%s", err.message);
}

/* A queue's limit: its runs past the limit are skipped, other queues' taken;
 * a slot is freed by a release, by a lease that runs out, and by removing
 * the limit. */
static void contract_queue_limits(opener open) {
  art_store *s = open();
  art_error err = {0};
  art_run_record runs[] = {
      with_status("m1", 1, ART_RUN_QUEUED, "mail"), with_status("m2", 2, ART_RUN_QUEUED, "mail"),
      with_status("m3", 3, ART_RUN_QUEUED, "mail"), with_status("m4", 4, ART_RUN_QUEUED, "mail"),
      with_status("o1", 5, ART_RUN_QUEUED, NULL)};
  assert_int_equal(s->vt->create_runs(s, runs, 5, &err), 0);
  set_limit(s, ART_LIMIT_QUEUE, "mail", 2);
  leased(s, NULL, "w1", 1000, 10, "m1,m2,o1"); /* m3, m4 skipped: o1 is not held up */
  leased(s, NULL, "w2", 1010, 10, "");
  finish(s, "m1");
  leased(s, NULL, "w2", 1020, 1, "m3");
  leased(s, NULL, "w3", 1100, 10, "m2,o1"); /* w1's leases ran out at 1100: m2's slot too */
  leased(s, NULL, "w3", 1101, 10, "");
  set_limit(s, ART_LIMIT_QUEUE, "mail", 0);
  leased(s, NULL, "w4", 1102, 10, "m4");
  art_store_close(s);
}

static art_run_record of_tenant(const char *id, int64_t created, const char *queue,
                                const char *tenant) {
  art_run_record r = with_status(id, created, ART_RUN_QUEUED, queue);
  r.tenant = (char *)tenant;
  return r;
}

/* A tenant's limit holds across queues, beside a queue's; runs without a
 * tenant, and other tenants', are not held up. */
static void contract_tenant_limits(opener open) {
  art_store *s = open();
  art_error err = {0};
  art_run_record runs[] = {of_tenant("a1", 1, NULL, "acme"), of_tenant("a2", 2, "mail", "acme"),
                           of_tenant("a3", 3, NULL, "acme"), of_tenant("b1", 4, "mail", "beta"),
                           of_tenant("n1", 5, "mail", NULL), of_tenant("b2", 6, NULL, "beta")};
  assert_int_equal(s->vt->create_runs(s, runs, 6, &err), 0);
  art_run_record got;
  assert_int_equal(s->vt->get_run(s, "a2", &got, &err), 0);
  assert_string_equal(got.tenant, "acme");
  art_run_record_dispose(&got);
  assert_int_equal(s->vt->get_run(s, "n1", &got, &err), 0);
  assert_null(got.tenant);
  art_run_record_dispose(&got);
  set_limit(s, ART_LIMIT_TENANT, "acme", 1);
  set_limit(s, ART_LIMIT_QUEUE, "mail", 2);
  leased(s, NULL, "w1", 1000, 10, "a1,b1,n1,b2"); /* a2, a3: acme's; n1 fills mail */
  finish(s, "a1");
  finish(s, "b1");
  leased(s, NULL, "w2", 1010, 10, "a2"); /* mail: n1 and a2 */
  finish(s, "a2");
  leased(s, NULL, "w2", 1020, 10, "a3");
  art_store_close(s);
}

/* When the holder took or last renewed its lease: a run's heartbeat. */
static void contract_heartbeats(opener open) {
  art_store *s = open();
  art_error err = {0};
  art_run_record held = record("h1", 50), queued = with_status("h2", 60, ART_RUN_QUEUED, NULL), got;
  held.lease_owner = (char *)"p1", held.lease_until_us = 5000;
  assert_int_equal(s->vt->create_run(s, &held, &err), 0);
  assert_int_equal(s->vt->create_run(s, &queued, &err), 0);
  assert_int_equal(s->vt->get_run(s, "h1", &got, &err), 0);
  assert_int_equal(got.lease_renewed_us, 50);
  art_run_record_dispose(&got);
  assert_int_equal(s->vt->claim(s, "h1", "p1", 700, 5000, NULL, &err), 0);
  assert_int_equal(s->vt->get_run(s, "h1", &got, &err), 0);
  assert_int_equal(got.lease_renewed_us, 700);
  art_run_record_dispose(&got);
  release_ok(s, "h1");
  assert_int_equal(s->vt->get_run(s, "h1", &got, &err), 0);
  assert_int_equal(got.lease_renewed_us, 0);
  art_run_record_dispose(&got);
  art_run_record *list;
  size_t n;
  assert_int_equal(s->vt->lease_ready(s, NULL, "w", 900, 100, 1, &list, &n, &err), 0);
  assert_int_equal(n, 1);
  assert_string_equal(list[0].run_id, "h1");
  assert_int_equal(list[0].lease_renewed_us, 900);
  art_run_records_free(list, n);
  assert_int_equal(s->vt->get_run(s, "h2", &got, &err), 0);
  assert_int_equal(got.lease_renewed_us, 0);
  art_run_record_dispose(&got);
  art_store_close(s);
}

CONTRACT(limits_are_kept, contract_limits_are_kept)
CONTRACT(queue_limits, contract_queue_limits)
CONTRACT(tenant_limits, contract_tenant_limits)
CONTRACT(heartbeats, contract_heartbeats)

enum { RACE_RUNS = 120, RACE_WORKERS = 4 };

/* A worker process: leases up to 3 runs at a time until none is ready,
 * writing each id it took to its own file; exits 0, or 1 on an error. */
static void race_worker(const char *where, int worker) {
  art_store *s;
  art_error err = {0};
  char name[32], owner[32];
  snprintf(name, sizeof name, "race-%d.txt", worker);
  snprintf(owner, sizeof owner, "worker-%d", worker);
  FILE *f = fopen(tu_path(name), "w");
  if (!f || art_store_open_url(&s, where, &err) < 0) _exit(1);
  for (;;) {
    art_run_record *got;
    size_t n;
    if (s->vt->lease_ready(s, NULL, owner, art_now_us(), 3600000000LL, 3, &got, &n, &err) < 0)
      _exit(1);
    for (size_t i = 0; i < n; i++) fprintf(f, "%s\n", got[i].run_id);
    art_run_records_free(got, n);
    if (n == 0) break;
  }
  art_store_close(s);
  _exit(fclose(f) == 0 ? 0 : 1);
}

/* Several processes lease from one store at once: every run is taken by
 * exactly one of them. */
static void race_for_runs(const char *where) {
  art_store *s = open_url(where);
  art_error err = {0};
  art_run_record runs[RACE_RUNS];
  char ids[RACE_RUNS][16];
  for (int i = 0; i < RACE_RUNS; i++) {
    snprintf(ids[i], sizeof ids[i], "race-%03d", i);
    runs[i] = with_status(ids[i], i, ART_RUN_QUEUED, NULL);
  }
  assert_int_equal(s->vt->create_runs(s, runs, RACE_RUNS, &err), 0);
  art_store_close(s);
  pid_t pids[RACE_WORKERS];
  for (int w = 0; w < RACE_WORKERS; w++)
    if ((pids[w] = fork()) == 0) race_worker(where, w);
  int taken[RACE_RUNS] = {0}, status;
  for (int w = 0; w < RACE_WORKERS; w++) {
    assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  for (int w = 0; w < RACE_WORKERS; w++) {
    char name[32], line[32];
    snprintf(name, sizeof name, "race-%d.txt", w);
    FILE *f = fopen(tu_path(name), "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f)) taken[atoi(line + 5)]++;
    fclose(f);
  }
  for (int i = 0; i < RACE_RUNS; i++)
    if (taken[i] != 1) fail_msg("run %s was leased %d times", ids[i], taken[i]);
}

static void sqlite_workers_lease_each_run_once(void **state) {
  (void)state;
  race_for_runs(tu_path("race.db"));
}

static void postgres_workers_lease_each_run_once(void **state) {
  (void)state;
  race_for_runs(tu_pg_database("lease_race"));
}

enum { HOLD_RUNS = 48, HOLD_WORKERS = 4, QUEUE_LIMIT = 2, TENANT_LIMIT = 1 };

/* What the workers of held_within_limits say, in memory they share: how many
 * runs of the limited queue and of the limited tenant they hold now, the
 * most that ever were, and how many runs they finished.  A worker counts a
 * run once lease_ready has returned it and stops counting it before it
 * releases it, so its counts are never more than the store's: a count past
 * a limit is a limit the store broke. */
typedef struct held_counts {
  atomic_int queue, tenant, queue_most, tenant_most, finished;
} held_counts;

static void count_in(atomic_int *now, atomic_int *most) {
  int n = atomic_fetch_add(now, 1) + 1, seen = atomic_load(most);
  while (n > seen && !atomic_compare_exchange_weak(most, &seen, n)) {}
}

/* +1 or -1 to the counts a run of queue and tenant is under. */
static void count_run(held_counts *c, const art_run_record *r, int by) {
  bool limited = strcmp(r->queue, "limited") == 0, acme = r->tenant && !strcmp(r->tenant, "acme");
  if (by > 0 && limited) count_in(&c->queue, &c->queue_most);
  if (by > 0 && acme) count_in(&c->tenant, &c->tenant_most);
  if (by < 0 && limited) atomic_fetch_sub(&c->queue, 1);
  if (by < 0 && acme) atomic_fetch_sub(&c->tenant, 1);
}

/* Take up to two runs, hold them 2 ms, finish and release them; until every
 * run is finished (30 s at most: exit 1), or a store error (exit 1). */
static void limited_worker(const char *where, int worker, held_counts *c) {
  art_store *s;
  art_error err = {0};
  char owner[32];
  snprintf(owner, sizeof owner, "worker-%d", worker);
  if (art_store_open_url(&s, where, &err) < 0) _exit(1);
  int64_t give_up = art_now_us() + 30000000;
  while (atomic_load(&c->finished) < HOLD_RUNS && art_now_us() < give_up) {
    art_run_record *got;
    size_t n;
    if (s->vt->lease_ready(s, NULL, owner, art_now_us(), 3600000000LL, 2, &got, &n, &err) < 0)
      _exit(1);
    for (size_t i = 0; i < n; i++) count_run(c, &got[i], +1);
    usleep(n ? 2000 : 200);
    for (size_t i = 0; i < n; i++) {
      count_run(c, &got[i], -1);
      uint64_t gen = got[i].lease_generation;
      if (s->vt->set_status(s, got[i].run_id, gen, ART_RUN_FINISHED, "success", NULL, 1, &err) <
              0 ||
          s->vt->release(s, got[i].run_id, gen, &err) < 0)
        _exit(1);
      atomic_fetch_add(&c->finished, 1);
    }
    art_run_records_free(got, n);
  }
  art_store_close(s);
  _exit(atomic_load(&c->finished) == HOLD_RUNS ? 0 : 1);
}

/* Four processes lease runs of a queue limited to 2, a third of them of a
 * tenant limited to 1, other runs beside them: never more held than a
 * limit, and every run finished once. */
static void held_within_limits(const char *where) {
  art_store *s = open_url(where);
  art_error err = {0};
  art_run_record runs[HOLD_RUNS];
  char ids[HOLD_RUNS][16];
  for (int i = 0; i < HOLD_RUNS; i++) {
    snprintf(ids[i], sizeof ids[i], "held-%02d", i);
    runs[i] = of_tenant(ids[i], i, i % 3 == 2 ? "open" : "limited", i % 2 ? "acme" : NULL);
  }
  assert_int_equal(s->vt->create_runs(s, runs, HOLD_RUNS, &err), 0);
  set_limit(s, ART_LIMIT_QUEUE, "limited", QUEUE_LIMIT);
  set_limit(s, ART_LIMIT_TENANT, "acme", TENANT_LIMIT);
  held_counts *c = mmap(NULL, sizeof *c, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  assert_true(c != MAP_FAILED);
  *c = (held_counts){0};
  pid_t pids[HOLD_WORKERS];
  for (int w = 0; w < HOLD_WORKERS; w++)
    if ((pids[w] = fork()) == 0) limited_worker(where, w, c);
  for (int w = 0; w < HOLD_WORKERS; w++) {
    int status;
    assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  int queue_most = c->queue_most, tenant_most = c->tenant_most;
  munmap(c, sizeof *c);
  if (queue_most > QUEUE_LIMIT || tenant_most > TENANT_LIMIT)
    fail_msg("held at once: %d of queue limited (limit %d), %d of tenant acme (limit %d)",
             queue_most, QUEUE_LIMIT, tenant_most, TENANT_LIMIT);
  art_run_record *list;
  size_t n;
  assert_int_equal(s->vt->list_runs(s, ART_RUN_FINISHED, &list, &n, &err), 0);
  assert_int_equal(n, HOLD_RUNS);
  art_run_records_free(list, n);
  art_store_close(s);
}

static void sqlite_workers_hold_within_limits(void **state) {
  (void)state;
  held_within_limits(tu_path("limits.db"));
}

static void postgres_workers_hold_within_limits(void **state) {
  (void)state;
  held_within_limits(tu_pg_database("limits_race"));
}

/* ---- SQLite files --------------------------------------------------------------- */

static void a_store_outlives_its_process(void **state) {
  (void)state;
  art_store *s;
  art_error err = {0};
  const char *path = tu_path("persist.db");
  assert_int_equal(art_store_open_sqlite(&s, path, NULL, &err), 0);
  art_run_record r = record("kept", 5);
  assert_int_equal(s->vt->create_run(s, &r, &err), 0);
  append(s, "kept", 1, ART_EV_RUN_STARTED);
  art_store_close(s);
  art_sqlite_options full = {.synchronous_full = true};
  assert_int_equal(art_store_open_sqlite(&s, path, &full, &err), 0);
  art_run_record got;
  assert_int_equal(s->vt->get_run(s, "kept", &got, &err), 0);
  assert_int_equal(got.events, 1);
  art_run_record_dispose(&got);
  append(s, "kept", 2, ART_EV_STOP);
  art_store_close(s);
}

static void make_db(const char *path, const char *sql) {
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
}

/* What another handle sees of a run's events (how many are written). */
static uint32_t written(art_store *other, const char *run_id) {
  art_run_record got;
  art_error err = {0};
  assert_int_equal(other->vt->get_run(other, run_id, &got, &err), 0);
  uint32_t n = got.events;
  art_run_record_dispose(&got);
  return n;
}

/* Two handles on one file, as two processes have. */
static void open_two(const char *name, art_store **a, art_store **b) {
  art_error err = {0};
  const char *path = tu_path(name);
  assert_int_equal(art_store_open_sqlite(a, path, NULL, &err), 0);
  assert_int_equal(art_store_open_sqlite(b, path, NULL, &err), 0);
}

/* Events grouped in one handle do not lock the file: another process's handle
 * writes meanwhile, and the grouped events arrive whole when they are written. */
static void grouped_events_hold_no_lock(void **state) {
  (void)state;
  art_store *a, *b;
  art_error err = {0};
  open_two("group.db", &a, &b);
  art_run_record r1 = record("g1", 1), r2 = record("g2", 2);
  assert_int_equal(a->vt->create_run(a, &r1, &err), 0);
  assert_int_equal(b->vt->create_run(b, &r2, &err), 0);
  assert_int_equal(a->vt->append(a, "g1", 0, 1, 0, 1, ART_EV_RUN_STARTED, "{}", false, NULL, &err),
                   0);
  assert_int_equal(b->vt->request_cancel(b, "g2", "x", &err), 0); /* not blocked by a */
  assert_int_equal(written(b, "g1"), 0);
  assert_int_equal(a->vt->append(a, "g1", 0, 2, 1, 2, ART_EV_STOP, "{}", true, NULL, &err), 0);
  assert_int_equal(written(b, "g1"), 2);
  art_store_close(a);
  art_store_close(b);
}

/* A group is written once it spans 100 ms of the run's time or holds 65,536
 * events, whichever comes first. */
static void groups_are_written_by_time_and_size(void **state) {
  (void)state;
  art_store *a, *b;
  art_error err = {0};
  open_two("groups.db", &a, &b);
  art_run_record slow = record("slow", 1), fast = record("fast", 2);
  assert_int_equal(a->vt->create_run(a, &slow, &err), 0);
  assert_int_equal(a->vt->create_run(a, &fast, &err), 0);
  int64_t t0 = 1000000;
  assert_int_equal(
      a->vt->append(a, "slow", 0, 1, 0, t0, ART_EV_RUN_STARTED, "{}", false, NULL, &err), 0);
  assert_int_equal(
      a->vt->append(a, "slow", 0, 2, 1, t0 + 99999, ART_EV_DECISION, "{}", false, NULL, &err), 0);
  assert_int_equal(written(b, "slow"), 0);
  assert_int_equal(
      a->vt->append(a, "slow", 0, 3, 1, t0 + 100000, ART_EV_DECISION, "{}", false, NULL, &err), 0);
  assert_int_equal(written(b, "slow"), 3);
  for (uint32_t seq = 1; seq <= 65536; seq++) {
    if (seq % 16384 == 0) assert_int_equal(written(b, "fast"), 0);
    assert_int_equal(a->vt->append(a, "fast", 0, seq, seq, t0 + seq / 1000, ART_EV_DECISION, "{}",
                                   false, NULL, &err),
                     0);
  }
  assert_int_equal(written(b, "fast"), 65536);
  /* No event comes while a tool runs: asked meanwhile, the store writes
   * what has waited 100 ms, and nothing younger. */
  assert_int_equal(
      a->vt->append(a, "slow", 0, 4, 2, t0 + 200000, ART_EV_TOOL_CALL, "{}", false, NULL, &err), 0);
  assert_int_equal(a->vt->commit_waiting(a, t0 + 299999, &err), 0);
  assert_int_equal(written(b, "slow"), 3);
  assert_int_equal(a->vt->commit_waiting(a, t0 + 300000, &err), 0);
  assert_int_equal(written(b, "slow"), 4);
  art_store_close(a);
  art_store_close(b);
}

static void append_ok(art_store *s, const char *run_id, uint32_t seq, bool durable) {
  assert_int_equal(append_as(s, run_id, 0, seq, durable), 0);
}

/* A group holds the events of many runs: interleaved appends cost no commit
 * each; a durable one, or commit(), writes every run's events, with each
 * run's counters at its own last event. */
static void a_group_holds_many_runs(void **state) {
  (void)state;
  art_store *a, *b;
  art_error err = {0};
  open_two("many.db", &a, &b);
  const char *ids[] = {"m1", "m2", "m3"};
  for (int i = 0; i < 3; i++) {
    art_run_record r = record(ids[i], i + 1);
    assert_int_equal(a->vt->create_run(a, &r, &err), 0);
  }
  for (uint32_t seq = 1; seq <= 3; seq++)
    for (int i = 0; i < 3; i++)
      if (seq <= (uint32_t)i + 1) append_ok(a, ids[i], seq, false);
  for (int i = 0; i < 3; i++) assert_int_equal(written(b, ids[i]), 0);
  assert_int_equal(a->vt->append(a, "m1", 0, 3, 3, 3, ART_EV_DECISION, "{}", false, NULL, &err),
                   ART_ESTATE); /* m1 has 1 event: 3 does not follow it */
  append_ok(a, "m1", 2, true);
  assert_int_equal(written(b, "m1"), 2);
  assert_int_equal(written(b, "m2"), 2);
  assert_int_equal(written(b, "m3"), 3);
  append_ok(a, "m2", 3, false);
  append_ok(a, "m3", 4, false);
  assert_int_equal(a->vt->commit(a, NULL, 0, &err), 0);
  assert_int_equal(written(b, "m2"), 3);
  assert_int_equal(written(b, "m3"), 4);
  art_run_record got;
  assert_int_equal(b->vt->get_run(b, "m3", &got, &err), 0);
  assert_int_equal(got.steps, 4);
  art_run_record_dispose(&got);
  assert_int_equal(a->vt->commit(a, NULL, 0, &err), 0); /* nothing left: nothing to do */
  art_store_close(a);
  art_store_close(b);
}

/* A handle remembers where each run's journal ends, but a claim asks the
 * database again: another process may have driven the run meanwhile. */
static void a_claim_forgets_what_another_process_wrote(void **state) {
  (void)state;
  art_store *a, *b;
  art_error err = {0};
  open_two("claim.db", &a, &b);
  art_run_record r = record("c1", 1);
  assert_int_equal(a->vt->create_run(a, &r, &err), 0);
  append_ok(a, "c1", 1, true);
  append_ok(b, "c1", 2, true);
  append_ok(b, "c1", 3, true);
  uint64_t gen = 0;
  assert_int_equal(a->vt->claim(a, "c1", "a", 10, 1000, &gen, &err), 0);
  assert_int_equal(append_as(a, "c1", gen, 4, true), 0);
  assert_int_equal(written(b, "c1"), 4);
  art_store_close(a);
  art_store_close(b);
}

/* Events held back in one handle's group are fenced when the group is
 * written: another handle took the run over meanwhile and wrote its own
 * event; the old holder's are dropped, the other runs' in the group written. */
static void a_taken_over_run_is_dropped_from_the_group(void **state) {
  (void)state;
  art_store *a, *b;
  art_error err = {0};
  open_two("fenced.db", &a, &b);
  art_run_record t1 = record("t1", 1), t2 = record("t2", 2);
  t1.lease_owner = (char *)"a", t1.lease_until_us = 1000;
  assert_int_equal(a->vt->create_run(a, &t1, &err), 0);
  assert_int_equal(a->vt->create_run(a, &t2, &err), 0);
  assert_int_equal(append_as(a, "t1", 1, 1, false), 0);
  assert_int_equal(append_as(a, "t2", 0, 1, false), 0);
  uint64_t gen = 0;
  assert_int_equal(b->vt->claim(b, "t1", "b", 1000, 500, &gen, &err), 0);
  assert_int_equal(append_as(b, "t1", gen, 1, true), 0);
  assert_int_equal(a->vt->commit(a, "t1", 1, &err), ART_EFENCED);
  assert_int_equal(written(b, "t2"), 1);
  assert_int_equal(written(b, "t1"), 1);
  assert_int_equal(append_as(a, "t1", 1, 2, false), ART_EFENCED);
  assert_int_equal(append_as(b, "t1", gen, 2, true), 0);
  art_store_close(a);
  art_store_close(b);
}

/* Another process holding the write lock longer than a handle waits is
 * ART_EBUSY (try again), told apart from a store that fails. */
static void a_locked_store_is_busy(void **state) {
  (void)state;
  art_store *a;
  sqlite3 *other;
  art_error err = {0};
  const char *path = tu_path("busy.db");
  art_sqlite_options opts = {.lock_timeout_ms = 20};
  assert_int_equal(art_store_open_sqlite(&a, path, &opts, &err), 0);
  assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
  assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
  art_run_record r = record("b1", 1);
  assert_int_equal(a->vt->create_run(a, &r, &err), ART_EBUSY);
  assert_non_null(strstr(err.message, "locked by another process"));
  assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
  assert_int_equal(a->vt->create_run(a, &r, &err), 0);
  sqlite3_close(other);
  art_store_close(a);
}

/* A group whose write fails (the store stayed locked) is not written, and
 * each of its runs is told, once, at its holder's next commit or append:
 * its journal ends before the events it held back.  A holder that takes the
 * run anew is told nothing: it starts from the journal. */
static void a_lost_group_is_said_to_each_of_its_runs(void **state) {
  (void)state;
  art_store *a;
  sqlite3 *other;
  art_error err = {0};
  const char *path = tu_path("lost.db");
  art_sqlite_options opts = {.lock_timeout_ms = 20};
  assert_int_equal(art_store_open_sqlite(&a, path, &opts, &err), 0);
  art_run_record l1 = record("l1", 1), l2 = record("l2", 2), l3 = record("l3", 3);
  assert_int_equal(a->vt->create_run(a, &l1, &err), 0);
  assert_int_equal(a->vt->create_run(a, &l2, &err), 0);
  assert_int_equal(a->vt->create_run(a, &l3, &err), 0);
  append_ok(a, "l1", 1, true);
  append_ok(a, "l1", 2, false);
  append_ok(a, "l2", 1, false);
  append_ok(a, "l3", 1, false);
  assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
  assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
  assert_int_equal(a->vt->commit(a, "l1", 0, &err), ART_EBUSY);
  assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(other);
  assert_int_equal(a->vt->commit(a, "l2", 0, &err), ART_EIO);
  assert_non_null(strstr(err.message, "run l2: events it held back may not have been written"));
  assert_non_null(strstr(err.message, "locked by another process"));
  assert_int_equal(a->vt->commit(a, "l2", 0, &err), 0); /* said once */
  assert_int_equal(append_as(a, "l3", 0, 2, true), ART_EIO);
  assert_int_equal(written(a, "l1"), 1);
  assert_int_equal(written(a, "l2"), 0);
  assert_int_equal(written(a, "l3"), 0);
  append_ok(a, "l3", 1, true); /* its holder carries on from the journal */
  uint64_t generation = 0;
  assert_int_equal(a->vt->claim(a, "l1", "new", 10, 1000, &generation, &err), 0);
  assert_int_equal(append_as(a, "l1", generation, 2, true), 0);
  art_store_close(a);
}

/* A store written by the first schema opens in this build, its runs intact. */
static void schema_1_files_are_migrated(void **state) {
  (void)state;
  const char *path = tu_path("v1.db");
  make_db(
      path,
      "CREATE TABLE runs(run_id TEXT PRIMARY KEY, status INTEGER NOT NULL, stop_reason TEXT,"
      " detail TEXT, spec_json TEXT NOT NULL, spec_dir TEXT, steps INTEGER NOT NULL DEFAULT 0,"
      " events INTEGER NOT NULL DEFAULT 0, created_us INTEGER NOT NULL, updated_us INTEGER NOT"
      " NULL, lease_owner TEXT, lease_until_us INTEGER NOT NULL DEFAULT 0);"
      "CREATE INDEX runs_by_status ON runs(status, updated_us);"
      "CREATE TABLE events(run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,"
      " seq INTEGER NOT NULL, step INTEGER NOT NULL, type TEXT NOT NULL, ts_us INTEGER NOT NULL,"
      " json TEXT NOT NULL, PRIMARY KEY(run_id, seq)) WITHOUT ROWID;"
      "INSERT INTO runs(run_id, status, spec_json, events, created_us, updated_us)"
      " VALUES('old', 1, '{}', 1, 5, 5);"
      "INSERT INTO events VALUES('old', 1, 0, 'run_started', 5, '{\"seq\":1}');"
      "PRAGMA application_id=1634890801; PRAGMA user_version=1;");
  art_store *s;
  art_error err = {0};
  assert_int_equal(art_store_open_sqlite(&s, path, NULL, &err), 0);
  art_run_record got;
  assert_int_equal(s->vt->get_run(s, "old", &got, &err), 0);
  assert_int_equal(got.status, ART_RUN_PAUSED);
  assert_null(got.cancel_reason);
  art_run_record_dispose(&got);
  append(s, "old", 2, ART_EV_STOP);
  assert_int_equal(s->vt->request_cancel(s, "old", "now", &err), 0);
  art_store_close(s);
}

#define PAUSING_SPEC                                                                               \
  "{\"run_id\":\"old\",\"goal\":\"g\",\"tools\":[\"lookup_policy\",\"send_message\"],"             \
  "\"model\":{\"type\":\"scripted\",\"decisions\":["                                               \
  "{\"type\":\"tool\",\"name\":\"lookup_policy\",\"input\":{\"task\":\"t\"}},"                     \
  "{\"type\":\"tool\",\"name\":\"send_message\",\"input\":{\"to\":\"a\",\"body\":\"b\"}},"         \
  "{\"type\":\"answer\",\"text\":\"sent\"}]}}"

/* A store of schema 2 kept whole events in its rows; this build keeps bodies.
 * A run that paused under schema 2 resumes under this one: approved, it goes
 * on to its answer. */
static void schema_2_journals_are_migrated_and_resume(void **state) {
  (void)state;
  const char *path = tu_path("v2.db");
  art_error err = {0};
  json_t *spec_json = json_loads(PAUSING_SPEC, 0, NULL);
  art_spec *spec;
  art_spec_options opts = {.outbox = "/dev/null"};
  assert_int_equal(art_spec_parse(&spec, spec_json, "old.json", NULL, &opts, &err), 0);
  art_model *model;
  art_run *run;
  assert_int_equal(art_model_new(&model, spec, &err), 0);
  assert_int_equal(art_run_new(&run, spec, NULL), 0);
  assert_int_equal(art_run_until_stop(run, model), 0);
  assert_int_equal(art_run_stop_reason(run), ART_STOP_APPROVAL_REQUIRED);
  /* The store as schema 2 wrote it. */
  make_db(
      path,
      "CREATE TABLE runs(run_id TEXT PRIMARY KEY, status INTEGER NOT NULL, stop_reason TEXT,"
      " detail TEXT, spec_json TEXT NOT NULL, spec_dir TEXT, steps INTEGER NOT NULL DEFAULT 0,"
      " events INTEGER NOT NULL DEFAULT 0, created_us INTEGER NOT NULL, updated_us INTEGER NOT"
      " NULL, lease_owner TEXT, lease_until_us INTEGER NOT NULL DEFAULT 0, cancel_reason TEXT);"
      "CREATE TABLE events(run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,"
      " seq INTEGER NOT NULL, step INTEGER NOT NULL, type TEXT NOT NULL, ts_us INTEGER NOT NULL,"
      " json TEXT NOT NULL, PRIMARY KEY(run_id, seq)) WITHOUT ROWID;"
      "CREATE TABLE approvals(run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,"
      " event_seq INTEGER NOT NULL, action_id TEXT NOT NULL, tool TEXT, input_sha256 TEXT NOT"
      " NULL, requested_by TEXT, requested_at_us INTEGER NOT NULL, reviewer TEXT NOT NULL,"
      " decision TEXT NOT NULL, reason TEXT, decided_at_us INTEGER NOT NULL,"
      " expires_at_us INTEGER NOT NULL, PRIMARY KEY(run_id, event_seq)) WITHOUT ROWID;"
      "INSERT INTO runs(run_id, status, spec_json, created_us, updated_us)"
      " VALUES('old', 1, '{}', 5, 5);"
      "PRAGMA application_id=1634890801; PRAGMA user_version=2;");
  sqlite3 *db;
  sqlite3_stmt *ins;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(
      sqlite3_prepare_v2(db, "INSERT INTO events VALUES('old', ?, ?, ?, ?, ?)", -1, &ins, NULL),
      SQLITE_OK);
  for (size_t i = 0; i < art_run_event_count(run); i++) {
    const art_event *ev = art_run_event(run, i);
    json_t *whole = art_event_to_json(run, ev);
    char *text = json_dumps(whole, JSON_COMPACT);
    sqlite3_bind_int64(ins, 1, ev->seq);
    sqlite3_bind_int64(ins, 2, ev->step);
    sqlite3_bind_text(ins, 3, art_event_type_name(ev->type), -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 4, ev->ts_us);
    sqlite3_bind_text(ins, 5, text, -1, free);
    assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
    sqlite3_reset(ins);
    json_decref(whole);
  }
  sqlite3_finalize(ins);
  sqlite3_close(db);
  /* Opened by this build: bodies, steps counted as the run counts them, and
   * the run carries on from them. */
  art_store *s;
  if (art_store_open_sqlite(&s, path, NULL, &err) < 0) fail_msg("%s", err.message);
  art_run_record rec;
  assert_int_equal(s->vt->get_run(s, "old", &rec, &err), 0);
  assert_int_equal(rec.steps, art_run_steps(run));
  art_run_record_dispose(&rec);
  art_journal journal;
  assert_int_equal(s->vt->load_journal(s, "old", &journal, &err), 0);
  assert_int_equal(journal.n, art_run_event_count(run));
  assert_string_equal(journal.entries[0].body,
                      "{\"latency_us\":0,\"goal\":\"g\",\"max_steps\":10}");
  art_run *resumed;
  assert_int_equal(art_run_new(&resumed, spec, NULL), 0);
  if (art_run_replay_journal(resumed, &journal) < 0) fail_msg("%s", art_run_errmsg(resumed));
  assert_int_equal(art_run_stop_reason(resumed), ART_STOP_APPROVAL_REQUIRED);
  json_t *before = art_run_result_json(run), *after = art_run_result_json(resumed);
  assert_true(json_equal(before, after));
  const art_event *stop = art_run_event(resumed, art_run_event_count(resumed) - 1);
  art_approval yes = {.action_id = stop->u.stop.action_id, .approved = true, .reviewer = "lead"};
  assert_int_equal(art_run_feed_approval(resumed, &yes, art_now_us()), 0);
  assert_int_equal(art_run_until_stop(resumed, model), 0);
  assert_int_equal(art_run_stop_reason(resumed), ART_STOP_SUCCESS);
  json_decref(before), json_decref(after), json_decref(spec_json);
  art_journal_dispose(&journal);
  art_run_free(resumed);
  art_run_free(run);
  art_model_free(model);
  art_spec_free(spec);
  art_store_close(s);
}

/* A file that is not ours is refused, with a message, and not touched. */
static void refuse(const char *path, const char *want) {
  char *before = tu_read(path);
  size_t size = 0;
  FILE *f = fopen(path, "rb");
  fseek(f, 0, SEEK_END);
  size = (size_t)ftell(f);
  rewind(f);
  char *bytes = malloc(size + 1);
  assert_int_equal(fread(bytes, 1, size, f), size);
  fclose(f);
  art_store *s = NULL;
  art_error err = {0};
  assert_int_equal(art_store_open_sqlite(&s, path, NULL, &err), ART_ESPEC);
  assert_null(s);
  if (!strstr(err.message, want)) fail_msg("\"%s\" lacks \"%s\"", err.message, want);
  f = fopen(path, "rb");
  char *after = malloc(size + 1);
  assert_int_equal(fread(after, 1, size + 1, f), size);
  fclose(f);
  assert_memory_equal(bytes, after, size);
  free(before), free(bytes), free(after);
}

static void foreign_and_newer_files_are_refused_untouched(void **state) {
  (void)state;
  refuse(tu_write("notes.txt", "these are my notes, not a database\n"), "not a SQLite database");
  const char *other = tu_path("other.db");
  make_db(
      other,
      "CREATE TABLE photos(id INTEGER PRIMARY KEY, name TEXT); INSERT INTO photos VALUES(1,'a')");
  refuse(other, "a SQLite database of something else");
  const char *newer = tu_path("newer.db");
  art_store *s;
  art_error err = {0};
  assert_int_equal(art_store_open_sqlite(&s, newer, NULL, &err), 0);
  art_store_close(s);
  make_db(newer, "PRAGMA user_version=99");
  refuse(newer, "written by a newer agentrt (store schema 99, this build knows 8)");
}

/* Runs of a store of the schema before limits: their tenants are read from
 * their specs when the store is migrated (a spec that is not JSON has none),
 * and limits can be set. */
static void runs_of_the_last_schema_get_their_tenant(const char *where,
                                                     void (*downgrade)(const char *where)) {
  art_store *s = open_url(where);
  art_error err = {0};
  art_run_record runs[3] = {record("acme-run", 1), record("broken", 2), record("none", 3)};
  runs[0].spec_json = (char *)"{\"goal\":\"g\",\"actor\":{\"id\":\"u\",\"tenant\":\"acme\"}}";
  runs[1].spec_json = (char *)"{\"actor\":{\"tenant\":";
  assert_int_equal(s->vt->create_runs(s, runs, 3, &err), 0);
  art_store_close(s);
  downgrade(where);
  s = open_url(where);
  const char *want[3] = {"acme", NULL, NULL};
  for (int i = 0; i < 3; i++) {
    art_run_record got;
    assert_int_equal(s->vt->get_run(s, runs[i].run_id, &got, &err), 0);
    if (want[i])
      assert_string_equal(got.tenant, want[i]);
    else
      assert_null(got.tenant);
    art_run_record_dispose(&got);
  }
  set_limit(s, ART_LIMIT_TENANT, "acme", 1);
  assert_limits(s, "tenant:acme=1");
  art_store_close(s);
}

static void sqlite_to_schema_7(const char *path) {
  make_db(path, "DROP TABLE limits; DROP INDEX runs_held; ALTER TABLE runs DROP COLUMN tenant;"
                " ALTER TABLE runs DROP COLUMN lease_renewed_us; PRAGMA user_version=7");
}

static void postgres_to_schema_3(const char *url) {
  tu_pg_exec(url, "SET search_path TO agentrt; DROP TRIGGER runs_slot_freed ON runs;"
                  " DROP FUNCTION notify_slot_freed; DROP TABLE limits; DROP INDEX runs_held;"
                  " ALTER TABLE runs DROP COLUMN tenant, DROP COLUMN lease_renewed_us;"
                  " UPDATE meta SET value = '3' WHERE key = 'schema_version'");
}

static void schema_7_files_are_migrated(void **state) {
  (void)state;
  runs_of_the_last_schema_get_their_tenant(tu_path("v7.db"), sqlite_to_schema_7);
}

static void schema_3_databases_are_migrated(void **state) {
  (void)state;
  runs_of_the_last_schema_get_their_tenant(tu_pg_database("v3"), postgres_to_schema_3);
}

/* ---- PostgreSQL databases ------------------------------------------------------- */

/* A store whose schema is not ours is refused, with a message, untouched. */
static void pg_refuse(const char *url, const char *want) {
  art_store *s = NULL;
  art_error err = {0};
  assert_int_equal(art_store_open_postgres(&s, url, NULL, &err), ART_ESPEC);
  assert_null(s);
  if (!strstr(err.message, want)) fail_msg("\"%s\" lacks \"%s\"", err.message, want);
}

static void foreign_and_newer_schemas_are_refused_untouched(void **state) {
  (void)state;
  const char *foreign = tu_pg_database("foreign");
  tu_pg_exec(foreign, "CREATE SCHEMA agentrt; CREATE TABLE agentrt.photos(id int);"
                      " INSERT INTO agentrt.photos VALUES (1)");
  pg_refuse(foreign, "is not an agentrt store (schema agentrt holds tables of something else)");
  tu_pg_exec(foreign, "DO $$BEGIN IF (SELECT count(*) FROM agentrt.photos) <> 1 OR (SELECT"
                      " count(*) FROM pg_tables WHERE schemaname = 'agentrt') <> 1 THEN"
                      " RAISE 'the schema was touched'; END IF; END$$");
  const char *newer = tu_pg_database("newer");
  art_store *s;
  art_error err = {0};
  assert_int_equal(art_store_open_postgres(&s, newer, NULL, &err), 0);
  art_store_close(s);
  tu_pg_exec(newer, "UPDATE agentrt.meta SET value = '99' WHERE key = 'schema_version'");
  pg_refuse(newer, "written by a newer agentrt (store schema 99, this build knows 4)");
}

/* Processes that open a new database at once: one makes the schema, the others
 * wait for its advisory lock and find it made. */
static void first_openers_do_not_race(void **state) {
  (void)state;
  enum { KIDS = 4 };
  const char *url = tu_pg_database("race");
  pid_t kids[KIDS];
  for (int i = 0; i < KIDS; i++) {
    if ((kids[i] = fork()) != 0) continue;
    art_store *s;
    art_error err = {0};
    char id[16];
    snprintf(id, sizeof id, "kid-%d", i);
    art_run_record r = record(id, i);
    int rc = art_store_open_postgres(&s, url, NULL, &err);
    if (rc == 0) rc = s->vt->create_run(s, &r, &err), art_store_close(s);
    if (rc < 0) fprintf(stderr, "%s\n", err.message);
    _exit(rc < 0);
  }
  for (int i = 0; i < KIDS; i++) {
    int status;
    assert_int_equal(waitpid(kids[i], &status, 0), kids[i]);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  art_store *s = open_url(url);
  art_run_record *list;
  size_t n;
  art_error err = {0};
  assert_int_equal(s->vt->list_runs(s, -1, &list, &n, &err), 0);
  assert_int_equal(n, KIDS);
  art_run_records_free(list, n);
  art_store_close(s);
}

/* Another handle sees a group once it is written, not before; a lease taken
 * over from another handle fences that handle's writes. */
static void handles_share_a_database(void **state) {
  (void)state;
  const char *url = tu_pg_database("shared");
  art_store *a = open_url(url), *b = open_url(url);
  art_error err = {0};
  art_run_record r = record("shared", 1), got;
  assert_int_equal(a->vt->create_run(a, &r, &err), 0);
  assert_int_equal(
      a->vt->append(a, "shared", 0, 1, 0, 10, ART_EV_RUN_STARTED, "{}", false, NULL, &err), 0);
  assert_int_equal(b->vt->get_run(b, "shared", &got, &err), 0);
  assert_int_equal(got.events, 0);
  art_run_record_dispose(&got);
  assert_int_equal(a->vt->commit_waiting(a, 10 + 100000, &err), 0);
  assert_int_equal(b->vt->get_run(b, "shared", &got, &err), 0);
  assert_int_equal(got.events, 1);
  art_run_record_dispose(&got);
  uint64_t gen_b = 0, gen_a = 0;
  assert_int_equal(b->vt->claim(b, "shared", "b", 20, 1000, &gen_b, &err), 0);
  assert_int_equal(gen_b, 1);
  assert_int_equal(
      b->vt->append(b, "shared", gen_b, 2, 1, 30, ART_EV_DECISION, "{}", true, NULL, &err), 0);
  assert_int_equal(a->vt->claim(a, "shared", "a", 40, 1000, &gen_a, &err), ART_ESTATE);
  assert_int_equal(a->vt->claim(a, "shared", "a", 2000, 1000, &gen_a, &err), 0);
  assert_int_equal(gen_a, 2);
  assert_int_equal(/* b was slow, not dead: held back or not, its writes are refused */
                   b->vt->append(b, "shared", gen_b, 3, 1, 30, ART_EV_DECISION, "{}", false, NULL,
                                 &err),
                   0);
  assert_int_equal(b->vt->commit(b, "shared", gen_b, &err), ART_EFENCED);
  assert_int_equal(b->vt->append(b, "shared", gen_b, 3, 1, 30, ART_EV_STOP, "{}", true, NULL, &err),
                   ART_EFENCED);
  assert_int_equal(a->vt->append(a, "shared", gen_a, 3, 1, 30, ART_EV_STOP, "{}", true, NULL, &err),
                   0);
  assert_int_equal(b->vt->get_run(b, "shared", &got, &err), 0);
  assert_int_equal(got.events, 3);
  art_run_record_dispose(&got);
  art_store_close(a);
  art_store_close(b);
}

/* The driving handle reads a run's cancel request once and is told of new
 * ones: a cancel from another handle reaches it without being asked for. */
static void a_cancel_from_another_handle_arrives(void **state) {
  (void)state;
  const char *url = tu_pg_database("cancels");
  art_store *driver = open_url(url), *canceller = open_url(url);
  art_error err = {0};
  art_run_record r = record("to-cancel", 1), other = record("other", 2);
  assert_int_equal(driver->vt->create_run(driver, &r, &err), 0);
  assert_int_equal(driver->vt->create_run(driver, &other, &err), 0);
  char *reason = NULL;
  for (int i = 0; i < 3; i++) {
    assert_int_equal(driver->vt->cancel_requested(driver, "to-cancel", &reason, &err), 0);
    assert_null(reason);
  }
  assert_int_equal(canceller->vt->request_cancel(canceller, "to-cancel", "stop it", &err), 0);
  /* The announcement comes as soon as the server passes it on. */
  for (int tries = 0; !reason && tries < 5000; tries++) {
    assert_int_equal(driver->vt->cancel_requested(driver, "to-cancel", &reason, &err), 0);
    if (!reason) usleep(1000);
  }
  assert_non_null(reason);
  assert_string_equal(reason, "stop it");
  free(reason);
  assert_int_equal(driver->vt->cancel_requested(driver, "to-cancel", &reason, &err), 0);
  assert_string_equal(reason, "stop it"); /* and it stays */
  free(reason);
  assert_int_equal(driver->vt->cancel_requested(driver, "other", &reason, &err), 0);
  assert_null(reason);
  assert_int_equal(driver->vt->cancel_requested(driver, "nope", &reason, &err), ART_ENOTFOUND);
  art_store_close(driver);
  art_store_close(canceller);
}

static void expect_eio(const char *where, const char *want, const char *secret) {
  art_store *s = NULL;
  art_error err = {0};
  assert_int_equal(art_store_open_url(&s, where, &err), ART_EIO);
  assert_null(s);
  if (!strstr(err.message, want)) fail_msg("\"%s\" lacks \"%s\"", err.message, want);
  if (secret && strstr(err.message, secret)) fail_msg("\"%s\" shows \"%s\"", err.message, secret);
}

static void unreachable_servers_and_wrong_urls_say_so(void **state) {
  (void)state;
  expect_eio("postgresql://agentrt:s3cret@/nodb?host=/nonexistent",
             "cannot connect to store postgresql://agentrt@/nodb?host=/nonexistent: ", "s3cret");
  expect_eio("postgres://agentrt@/db?nosuchoption=1&password=s3cret",
             "cannot connect to store postgres://agentrt@/db?nosuchoption=1: invalid URI query"
             " parameter",
             "s3cret");
  char url[600];
  snprintf(url, sizeof url, "%s", tu_pg_url("no_such_db"));
  expect_eio(url, "database \"no_such_db\" does not exist", NULL);
}

static void a_wrong_password_is_refused(void **state) {
  (void)state;
  const char *db = tu_pg_database("passwords");
  tu_pg_exec(db, "GRANT CREATE ON DATABASE passwords TO " TU_PG_PASSWORD_ROLE);
  expect_eio(tu_pg_url_as("passwords", TU_PG_PASSWORD_ROLE ":wr0ng"),
             "password authentication failed for user \"" TU_PG_PASSWORD_ROLE "\"", "wr0ng");
  expect_eio(tu_pg_url_as("passwords", TU_PG_PASSWORD_ROLE), "no password supplied", NULL);
  art_store_close(open_url(tu_pg_url_as("passwords", TU_PG_PASSWORD_ROLE ":right")));
}

/* A role that may connect and no more: the schema is not made, not half made. */
static void a_role_that_may_only_connect_is_told_why(void **state) {
  (void)state;
  const char *db = tu_pg_database("connect_only");
  char want[600];
  snprintf(want, sizeof want,
           "cannot create the agentrt schema agentrt in store %s: permission denied for database"
           " connect_only",
           tu_pg_url_as("connect_only", "agentrt_connect"));
  expect_eio(tu_pg_url_as("connect_only", "agentrt_connect"), want, NULL);
  tu_pg_exec(db, "DO $$BEGIN IF EXISTS(SELECT 1 FROM pg_namespace WHERE nspname = 'agentrt')"
                 " THEN RAISE 'half made'; END IF; END$$");
}

static void shown(const char *where, const char *want) {
  char buf[256];
  art_store_url_redact(buf, sizeof buf, where);
  assert_string_equal(buf, want);
}

static void store_urls_are_shown_without_passwords(void **state) {
  (void)state;
  shown("postgresql://u:s3cret@db.example:5432/runs?sslmode=require",
        "postgresql://u@db.example:5432/runs?sslmode=require");
  shown("postgres://u:s3cret@h/db?password=x&sslmode=disable", "postgres://u@h/db?sslmode=disable");
  shown("postgresql:///db?host=/tmp&password=x", "postgresql:///db?host=/tmp");
  shown("host=/tmp dbname=db password='se cr\\'et' user=u", "host=/tmp dbname=db user=u");
  shown("password=x host=h", "host=h");
  shown("postgresql://u@h/db", "postgresql://u@h/db");
  shown("./agentrt.db", "./agentrt.db");
  assert_true(art_store_url_is_postgres("postgres://h/db"));
  assert_true(art_store_url_is_postgres("postgresql:///db"));
  assert_false(art_store_url_is_postgres("postgresql.db"));
}

/* Anything but a PostgreSQL URL is a SQLite store's path. */
static void urls_name_the_backend(void **state) {
  (void)state;
  art_store *s = open_url(tu_path("by-url.db"));
  assert_string_equal(s->vt->name, "sqlite");
  art_store_close(s);
  s = open_url(tu_pg_database("by_url"));
  assert_string_equal(s->vt->name, "postgres");
  art_store_close(s);
}

/* A backend built against another store.h is refused where it joins a run. */
static void a_store_of_another_version_is_refused(void **state) {
  (void)state;
  art_store *s;
  art_error err = {0};
  assert_int_equal(art_store_open_memory(&s, &err), 0);
  art_store_vtable older = *s->vt;
  older.version = ART_STORE_VERSION - 1;
  const art_store_vtable *own = s->vt;
  s->vt = &older;
  art_sink sink;
  assert_int_equal(art_store_sink_new(&sink, s, 0, &err), ART_EINVAL);
  char want[128];
  snprintf(want, sizeof want, "store version %d is not supported (expected %d)",
           ART_STORE_VERSION - 1, ART_STORE_VERSION);
  assert_string_equal(err.message, want);
  s->vt = own;
  art_store_close(s);
}

/* Before the per-test baselines: the server outlives every test. */
static int start_postgres(void **state) {
  (void)state;
  tu_pg_database("store_tests");
  tu_pg_exec(tu_pg_start(), "CREATE ROLE agentrt_connect LOGIN;"
                            " CREATE ROLE " TU_PG_PASSWORD_ROLE " LOGIN PASSWORD 'right'");
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(runs_and_journals_memory),
      cmocka_unit_test(runs_and_journals_sqlite),
      cmocka_unit_test(runs_and_journals_postgres),
      cmocka_unit_test(create_runs_memory),
      cmocka_unit_test(create_runs_sqlite),
      cmocka_unit_test(create_runs_postgres),
      cmocka_unit_test(cancel_requests_memory),
      cmocka_unit_test(cancel_requests_sqlite),
      cmocka_unit_test(cancel_requests_postgres),
      cmocka_unit_test(approval_records_memory),
      cmocka_unit_test(approval_records_sqlite),
      cmocka_unit_test(approval_records_postgres),
      cmocka_unit_test(grouped_events_hold_no_lock),
      cmocka_unit_test(groups_are_written_by_time_and_size),
      cmocka_unit_test(a_group_holds_many_runs),
      cmocka_unit_test(a_claim_forgets_what_another_process_wrote),
      cmocka_unit_test(schema_1_files_are_migrated),
      cmocka_unit_test(schema_2_journals_are_migrated_and_resume),
      cmocka_unit_test(schema_7_files_are_migrated),
      cmocka_unit_test(schema_3_databases_are_migrated),
      cmocka_unit_test(status_list_prune_memory),
      cmocka_unit_test(status_list_prune_sqlite),
      cmocka_unit_test(status_list_prune_postgres),
      cmocka_unit_test(prune_names_what_it_deletes_memory),
      cmocka_unit_test(prune_names_what_it_deletes_sqlite),
      cmocka_unit_test(prune_names_what_it_deletes_postgres),
      cmocka_unit_test(leases_memory),
      cmocka_unit_test(leases_sqlite),
      cmocka_unit_test(fencing_memory),
      cmocka_unit_test(fencing_sqlite),
      cmocka_unit_test(a_taken_over_run_is_dropped_from_the_group),
      cmocka_unit_test(a_locked_store_is_busy),
      cmocka_unit_test(a_lost_group_is_said_to_each_of_its_runs),
      cmocka_unit_test(leases_postgres),
      cmocka_unit_test(fencing_postgres),
      cmocka_unit_test(lease_ready_memory),
      cmocka_unit_test(lease_ready_sqlite),
      cmocka_unit_test(lease_ready_postgres),
      cmocka_unit_test(limits_are_kept_memory),
      cmocka_unit_test(limits_are_kept_sqlite),
      cmocka_unit_test(limits_are_kept_postgres),
      cmocka_unit_test(queue_limits_memory),
      cmocka_unit_test(queue_limits_sqlite),
      cmocka_unit_test(queue_limits_postgres),
      cmocka_unit_test(tenant_limits_memory),
      cmocka_unit_test(tenant_limits_sqlite),
      cmocka_unit_test(tenant_limits_postgres),
      cmocka_unit_test(heartbeats_memory),
      cmocka_unit_test(heartbeats_sqlite),
      cmocka_unit_test(heartbeats_postgres),
      cmocka_unit_test(sqlite_workers_lease_each_run_once),
      cmocka_unit_test(postgres_workers_lease_each_run_once),
      cmocka_unit_test(sqlite_workers_hold_within_limits),
      cmocka_unit_test(postgres_workers_hold_within_limits),
      cmocka_unit_test(journal_sink_and_replay_memory),
      cmocka_unit_test(journal_sink_and_replay_sqlite),
      cmocka_unit_test(journal_sink_and_replay_postgres),
      cmocka_unit_test(a_store_outlives_its_process),
      cmocka_unit_test(foreign_and_newer_files_are_refused_untouched),
      cmocka_unit_test(a_store_of_another_version_is_refused),
      cmocka_unit_test(foreign_and_newer_schemas_are_refused_untouched),
      cmocka_unit_test(first_openers_do_not_race),
      cmocka_unit_test(handles_share_a_database),
      cmocka_unit_test(a_cancel_from_another_handle_arrives),
      cmocka_unit_test(unreachable_servers_and_wrong_urls_say_so),
      cmocka_unit_test(a_wrong_password_is_refused),
      cmocka_unit_test(a_role_that_may_only_connect_is_told_why),
      cmocka_unit_test(store_urls_are_shown_without_passwords),
      cmocka_unit_test(urls_name_the_backend),
  };
  return cmocka_run_group_tests(tests, start_postgres, NULL);
}
