/* Stores: one contract, every backend (memory, SQLite) passes it; then what
 * only a file can get wrong. */
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>

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

static art_run_record record(const char *id, int64_t created) {
  return (art_run_record){.run_id = (char *)id,
                          .status = ART_RUN_RUNNING,
                          .spec_json = (char *)"{\"goal\":\"g\"}",
                          .spec_dir = (char *)"/tmp",
                          .created_us = created};
}

static void append(art_store *s, const char *id, uint32_t seq, const char *type) {
  char json[128];
  art_error err = {0};
  snprintf(json, sizeof json, "{\"run_id\":\"%s\",\"seq\":%u,\"type\":\"%s\"}", id, seq, type);
  if (s->vt->append(s, id, seq, seq / 2, 1000 + seq, type, json, seq % 2, &err) < 0)
    fail_msg("%s", err.message);
}

/* ---- the contract -------------------------------------------------------------- */

static void contract_runs_and_journals(opener open) {
  art_store *s = open();
  art_error err = {0};
  art_run_record r1 = record("r1", 10), got;
  assert_int_equal(s->vt->create_run(s, &r1, &err), 0);
  assert_int_equal(s->vt->create_run(s, &r1, &err), ART_EINVAL);
  assert_non_null(strstr(err.message, "exists already"));
  for (uint32_t seq = 1; seq <= 5; seq++) append(s, "r1", seq, "decision");
  assert_int_equal(s->vt->append(s, "r1", 7, 3, 1, "stop", "{}", true, &err),
                   ART_ESTATE); /* a gap */
  assert_int_equal(s->vt->append(s, "r1", 5, 3, 1, "stop", "{}", true, &err),
                   ART_ESTATE); /* a repeat */
  assert_int_equal(s->vt->append(s, "nope", 1, 0, 1, "stop", "{}", true, &err), ART_ENOTFOUND);
  assert_int_equal(s->vt->get_run(s, "r1", &got, &err), 0);
  assert_string_equal(got.run_id, "r1");
  assert_int_equal(got.events, 5);
  assert_int_equal(got.steps, 2);
  assert_int_equal(got.updated_us, 1005);
  assert_string_equal(got.spec_json, "{\"goal\":\"g\"}");
  assert_string_equal(got.spec_dir, "/tmp");
  assert_null(got.stop_reason);
  art_run_record_dispose(&got);
  json_t *events;
  assert_int_equal(s->vt->load_events(s, "r1", &events, &err), 0);
  assert_int_equal(json_array_size(events), 5);
  for (size_t i = 0; i < 5; i++)
    assert_int_equal(json_integer_value(json_object_get(json_array_get(events, i), "seq")), i + 1);
  json_decref(events);
  assert_int_equal(s->vt->get_run(s, "nope", &got, &err), ART_ENOTFOUND);
  assert_int_equal(s->vt->load_events(s, "nope", &events, &err), ART_ENOTFOUND);
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
  append(s, "a", 1, "run_started"); /* its events go when it goes */
  assert_int_equal(s->vt->set_status(s, "a", ART_RUN_FINISHED, "success", "answered", 200, &err),
                   0);
  assert_int_equal(s->vt->set_status(s, "b", ART_RUN_PAUSED, "approval_required", "why", 200, &err),
                   0);
  assert_int_equal(s->vt->set_status(s, "c", ART_RUN_CANCELLED, "cancelled", "op", 900, &err), 0);
  assert_int_equal(s->vt->set_status(s, "zz", ART_RUN_CANCELLED, NULL, NULL, 1, &err),
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
  size_t deleted;
  assert_int_equal(s->vt->prune(s, 500, &deleted, &err), 0);
  assert_int_equal(deleted, 1); /* a finished before 500; c cancelled after; b paused, d running */
  art_run_record got;
  assert_int_equal(s->vt->get_run(s, "a", &got, &err), ART_ENOTFOUND);
  json_t *events;
  assert_int_equal(s->vt->load_events(s, "a", &events, &err), ART_ENOTFOUND);
  assert_int_equal(s->vt->prune(s, 1000, &deleted, &err), 0);
  assert_int_equal(deleted, 1);
  assert_int_equal(s->vt->list_runs(s, -1, &list, &n, &err), 0);
  assert_int_equal(n, 2);
  art_run_records_free(list, n);
  art_store_close(s);
}

static void contract_leases(opener open) {
  art_store *s = open();
  art_error err = {0};
  art_run_record r = record("r", 1);
  assert_int_equal(s->vt->create_run(s, &r, &err), 0);
  assert_int_equal(s->vt->claim(s, "r", "p1", 1000, 500, &err), 0);
  assert_int_equal(s->vt->claim(s, "r", "p1", 1100, 500, &err), 0); /* renewing */
  assert_int_equal(s->vt->claim(s, "r", "p2", 1200, 500, &err), ART_ESTATE);
  assert_non_null(strstr(err.message, "held by"));
  assert_int_equal(s->vt->claim(s, "r", "p2", 1700, 500, &err), 0); /* p1's lease ran out */
  assert_int_equal(s->vt->release(s, "r", "p1", &err), 0);          /* not p1's any more: no-op */
  assert_int_equal(s->vt->claim(s, "r", "p1", 1800, 500, &err), ART_ESTATE);
  assert_int_equal(s->vt->release(s, "r", "p2", &err), 0);
  assert_int_equal(s->vt->claim(s, "r", "p1", 1800, 500, &err), 0);
  assert_int_equal(s->vt->claim(s, "nope", "p1", 1800, 500, &err), ART_ENOTFOUND);
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
  assert_int_equal(art_store_sink_new(&sink, s), 0);
  assert_int_equal(art_run_add_sink(run, &sink), 0);
  assert_int_equal(art_run_until_stop(run, model), 0);
  json_t *events;
  assert_int_equal(s->vt->load_events(s, "demo_001", &events, &err), 0);
  assert_int_equal(json_array_size(events), art_run_event_count(run));
  assert_int_equal(art_run_new(&again, spec, NULL), 0);
  assert_int_equal(art_run_replay(again, events), 0);
  assert_int_equal(art_run_stop_reason(again), ART_STOP_SUCCESS);
  assert_int_equal(art_run_steps(again), 2);
  json_t *a = art_run_result_json(run), *b = art_run_result_json(again);
  assert_true(json_equal(a, b));
  json_decref(a), json_decref(b), json_decref(events);
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
  }

CONTRACT(runs_and_journals, contract_runs_and_journals)
CONTRACT(status_list_prune, contract_status_list_prune)
CONTRACT(leases, contract_leases)
CONTRACT(journal_sink_and_replay, contract_journal_sink_and_replay)

/* ---- SQLite files --------------------------------------------------------------- */

static void a_store_outlives_its_process(void **state) {
  (void)state;
  art_store *s;
  art_error err = {0};
  const char *path = tu_path("persist.db");
  assert_int_equal(art_store_open_sqlite(&s, path, NULL, &err), 0);
  art_run_record r = record("kept", 5);
  assert_int_equal(s->vt->create_run(s, &r, &err), 0);
  append(s, "kept", 1, "run_started");
  art_store_close(s);
  art_sqlite_options full = {.synchronous_full = true};
  assert_int_equal(art_store_open_sqlite(&s, path, &full, &err), 0);
  art_run_record got;
  assert_int_equal(s->vt->get_run(s, "kept", &got, &err), 0);
  assert_int_equal(got.events, 1);
  art_run_record_dispose(&got);
  append(s, "kept", 2, "stop");
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

static void make_db(const char *path, const char *sql) {
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
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
  refuse(newer, "written by a newer agentrt (store schema 99, this build knows 1)");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(runs_and_journals_memory),
      cmocka_unit_test(runs_and_journals_sqlite),
      cmocka_unit_test(status_list_prune_memory),
      cmocka_unit_test(status_list_prune_sqlite),
      cmocka_unit_test(leases_memory),
      cmocka_unit_test(leases_sqlite),
      cmocka_unit_test(journal_sink_and_replay_memory),
      cmocka_unit_test(journal_sink_and_replay_sqlite),
      cmocka_unit_test(a_store_outlives_its_process),
      cmocka_unit_test(foreign_and_newer_files_are_refused_untouched),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
