/* The SQLite store: the embedded default.  WAL, one row per event (a step costs
 * one INSERT however long the run is), a schema version with migrations, and a
 * clear refusal of files that are not agentrt stores. */
#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agentrt/store.h"
#include "store/event_group.h"
#include "store/store_internal.h"

/* 'art1' in the SQLite header's application_id: this file is an agentrt store. */
#define APPLICATION_ID 0x61727431
#define SCHEMA_VERSION 8

/* Events that need not be durable yet are kept here and written together,
 * whichever runs they belong to: a read-only stretch of a run, or one turn of
 * an event loop driving thousands of runs, costs one commit, and no lock is
 * held while the runs work between commits (other processes approve, cancel
 * and resume runs meanwhile).  A group is written when it holds GROUP_EVENTS
 * events or spans GROUP_SPAN_US, so a fast run commits rarely and a slow one
 * (a model taking seconds a step) about once a step: what other processes see
 * of a run is never far behind.  The group's arrays grow as it fills: a loop's
 * turn over 10,000 runs is tens of thousands of events, and each commit
 * rewrites the pages it touches, so a turn is best one commit (W3_sqlite: 256
 * events a group took 1.4 s, a group a turn 0.9 s). */
enum { GROUP_EVENTS = 65536 };
#define GROUP_SPAN_US 100000

typedef struct sql_store {
  art_store base;
  sqlite3 *db;
  char *path; /* for messages */
  int lock_timeout_ms;
  sqlite3_stmt *append_event, *touch_run, *add_approval, *get_cancel;
  art_event_group group; /* events not written yet, and the runs they belong to */
  int n_fenced;          /* runs of the group being written that were fenced */
  art_known_runs known;
} sql_store;

static int db_error(sql_store *q, art_error *err, const char *what) {
  int code = sqlite3_errcode(q->db);
  if (code == SQLITE_BUSY)
    return art_error_set(err, ART_EBUSY,
                         "%s: store %s is locked by another process (gave up after %d ms)", what,
                         q->path, q->lock_timeout_ms);
  if (code == SQLITE_READONLY)
    return art_error_set(err, ART_EIO, "%s: store %s is read-only here (%s)", what, q->path,
                         sqlite3_errmsg(q->db));
  return art_error_set(err, code == SQLITE_NOMEM ? ART_ENOMEM : ART_EIO, "%s: %s", what,
                       sqlite3_errmsg(q->db));
}

static int exec(sql_store *q, const char *sql, art_error *err) {
  return sqlite3_exec(q->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : db_error(q, err, "store");
}

static int write_group(sql_store *q, const art_approval_record *approval, art_error *err);

/* Write the group, and `approval` (may be NULL) with it, in one transaction.
 * On failure the group is lost, as a crash would lose it. */
static int flush_with(sql_store *q, const art_approval_record *approval, art_error *err) {
  if (!q->group.n_pending) return 0;
  int rc = exec(q, "BEGIN IMMEDIATE", err);
  if (rc == 0) rc = write_group(q, approval, err);
  if (rc == 0 && sqlite3_exec(q->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
    rc = db_error(q, err, "commit events");
  if (rc < 0) sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
  art_group_done(&q->group, &q->known, rc, err);
  return rc;
}

static int flush(sql_store *q, art_error *err) { return flush_with(q, NULL, err); }

static int strip_envelopes(sql_store *q, art_error *err);

/* Schema version v + 1 is made from v by migrations[v]: SQL, then a
 * conversion of what the rows hold (may be NULL). */
static const struct migration {
  const char *sql;
  int (*convert)(sql_store *q, art_error *err);
} migrations[SCHEMA_VERSION] = {
    /* 1: runs and their journals */
    {"CREATE TABLE runs(run_id TEXT PRIMARY KEY, status INTEGER NOT NULL, stop_reason TEXT,"
     " detail TEXT, spec_json TEXT NOT NULL, spec_dir TEXT, steps INTEGER NOT NULL DEFAULT 0,"
     " events INTEGER NOT NULL DEFAULT 0, created_us INTEGER NOT NULL, updated_us INTEGER NOT NULL,"
     " lease_owner TEXT, lease_until_us INTEGER NOT NULL DEFAULT 0);"
     "CREATE INDEX runs_by_status ON runs(status, updated_us);"
     "CREATE TABLE events(run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,"
     " seq INTEGER NOT NULL, step INTEGER NOT NULL, type TEXT NOT NULL, ts_us INTEGER NOT NULL,"
     " json TEXT NOT NULL, PRIMARY KEY(run_id, seq)) WITHOUT ROWID;",
     NULL},
    /* 2: cancel requests from other processes; approvals as records */
    {"ALTER TABLE runs ADD COLUMN cancel_reason TEXT;"
     "CREATE TABLE approvals(run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,"
     " event_seq INTEGER NOT NULL, action_id TEXT NOT NULL, tool TEXT, input_sha256 TEXT NOT NULL,"
     " requested_by TEXT, requested_at_us INTEGER NOT NULL, reviewer TEXT NOT NULL,"
     " decision TEXT NOT NULL CHECK(decision IN ('approved', 'denied')), reason TEXT,"
     " decided_at_us INTEGER NOT NULL, expires_at_us INTEGER NOT NULL,"
     " PRIMARY KEY(run_id, event_seq)) WITHOUT ROWID;",
     NULL},
    /* 3: rows hold event bodies, not whole events (the envelope is in the
     * columns, the trace ids derive from the run id) */
    {"ALTER TABLE events RENAME COLUMN json TO body", strip_envelopes},
    /* 4: a run's steps are the decisions it took (schema 3 kept the step of
     * its last event, one more than that after a stop) */
    {"UPDATE runs SET steps = (SELECT count(*) FROM events"
     " WHERE events.run_id = runs.run_id AND events.type = 'decision')",
     NULL},
    /* 5: events in the order they are written (a rowid table) with a unique
     * index on (run_id, seq), instead of kept in (run_id, seq) order: a commit
     * for a loop's turn over thousands of runs then appends its rows and
     * updates the small index, instead of rewriting the pages of every run's
     * journal (W3_sqlite 670 -> 560 ms) */
    {"CREATE TABLE events_5(run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,"
     " seq INTEGER NOT NULL, step INTEGER NOT NULL, type TEXT NOT NULL, ts_us INTEGER NOT NULL,"
     " body TEXT NOT NULL);"
     "INSERT INTO events_5(run_id, seq, step, type, ts_us, body)"
     " SELECT run_id, seq, step, type, ts_us, body FROM events ORDER BY run_id, seq;"
     "DROP TABLE events;"
     "ALTER TABLE events_5 RENAME TO events;"
     "CREATE UNIQUE INDEX events_by_run ON events(run_id, seq);",
     NULL},
    /* 6: fenced leases: the lease's generation grows with each new holder,
     * and a write carries its holder's */
    {"ALTER TABLE runs ADD COLUMN lease_generation INTEGER NOT NULL DEFAULT 0", NULL},
    /* 7: queues: workers take the ready runs of theirs, oldest first */
    {"ALTER TABLE runs ADD COLUMN queue TEXT NOT NULL DEFAULT 'default';"
     "CREATE INDEX runs_by_queue ON runs(queue, status, created_us);",
     NULL},
    /* 8: limits on the runs held at once, per queue and per tenant (a run's
     * tenant is its spec's actor.tenant, read from the specs of the runs
     * there are); the heartbeat; live leases found without a scan */
    {"ALTER TABLE runs ADD COLUMN tenant TEXT;"
     "ALTER TABLE runs ADD COLUMN lease_renewed_us INTEGER NOT NULL DEFAULT 0;"
     "UPDATE runs SET tenant = json_extract(spec_json, '$.actor.tenant')"
     " WHERE json_valid(spec_json) AND json_type(spec_json, '$.actor.tenant') = 'text';"
     "CREATE INDEX runs_held ON runs(lease_until_us) WHERE lease_owner IS NOT NULL;"
     "CREATE TABLE limits(kind TEXT NOT NULL CHECK(kind IN ('queue', 'tenant')),"
     " name TEXT NOT NULL, max_running INTEGER NOT NULL CHECK(max_running > 0),"
     " PRIMARY KEY(kind, name)) WITHOUT ROWID;",
     NULL}};

/* art_body(event): the body of a whole event as schema 2 stored it, that is
 * the event without the members the columns and the run id give. */
static void body_of_event(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  static const char *const envelope[] = {"run_id", "seq",      "type",    "step",
                                         "ts_us",  "trace_id", "span_id", "parent_span_id"};
  (void)argc;
  json_t *ev = json_loads((const char *)sqlite3_value_text(argv[0]), 0, NULL);
  if (!json_is_object(ev)) {
    json_decref(ev);
    sqlite3_result_error(ctx, "a journal row is not a JSON object", -1);
    return;
  }
  for (size_t i = 0; i < sizeof envelope / sizeof *envelope; i++) json_object_del(ev, envelope[i]);
  char *body = json_dumps(ev, JSON_COMPACT);
  json_decref(ev);
  if (body)
    sqlite3_result_text(ctx, body, -1, free);
  else
    sqlite3_result_error_nomem(ctx);
}

static int strip_envelopes(sql_store *q, art_error *err) {
  if (sqlite3_create_function(q->db, "art_body", 1, SQLITE_UTF8, NULL, body_of_event, NULL, NULL) !=
      SQLITE_OK)
    return db_error(q, err, "migrate store");
  int rc = exec(q, "UPDATE events SET body = art_body(body)", err);
  sqlite3_create_function(q->db, "art_body", 1, SQLITE_UTF8, NULL, NULL, NULL, NULL);
  return rc;
}

/* Read-only checks first: a file that is not ours is left as it was.  One
 * statement reads all three, so they come from one snapshot of a file that
 * another process may be creating. */
static int check_identity(sql_store *q, const char *path, int *version, art_error *err) {
  sqlite3_stmt *st;
  int app = 0, tables = 0, rc = SQLITE_ERROR;
  if (sqlite3_prepare_v2(q->db,
                         "SELECT (SELECT application_id FROM pragma_application_id),"
                         " (SELECT count(*) FROM sqlite_master),"
                         " (SELECT user_version FROM pragma_user_version)",
                         -1, &st, NULL) == SQLITE_OK &&
      (rc = sqlite3_step(st)) == SQLITE_ROW) {
    app = sqlite3_column_int(st, 0);
    tables = sqlite3_column_int(st, 1);
    *version = sqlite3_column_int(st, 2);
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW) {
    if (sqlite3_errcode(q->db) == SQLITE_NOTADB)
      return art_error_set(err, ART_ESPEC, "%s is not an agentrt store (not a SQLite database)",
                           path);
    return db_error(q, err, "open store");
  }
  if (tables && app != APPLICATION_ID)
    return art_error_set(err, ART_ESPEC,
                         "%s is not an agentrt store (a SQLite database of something else)", path);
  if (*version > SCHEMA_VERSION)
    return art_error_set(err, ART_ESPEC,
                         "%s was written by a newer agentrt (store schema %d, this build knows %d)",
                         path, *version, SCHEMA_VERSION);
  return 0;
}

/* Several processes may open a new or old store at once: each takes the write
 * lock (waiting for it), then looks again at what the schema is, so one
 * migrates and the others find the work done. */
static int migrate(sql_store *q, int from, art_error *err) {
  if (from == SCHEMA_VERSION) return 0;
  if (exec(q, "BEGIN IMMEDIATE", err) < 0) return ART_EIO;
  int rc = check_identity(q, q->path, &from, err);
  for (int v = from; rc == 0 && v < SCHEMA_VERSION; v++) {
    rc = exec(q, migrations[v].sql, err);
    if (rc == 0 && migrations[v].convert) rc = migrations[v].convert(q, err);
  }
  if (rc == 0 && from < SCHEMA_VERSION) {
    char sql[96];
    snprintf(sql, sizeof sql, "PRAGMA application_id=%d; PRAGMA user_version=%d", APPLICATION_ID,
             SCHEMA_VERSION);
    rc = exec(q, sql, err);
  }
  if (rc == 0) return exec(q, "COMMIT", err);
  sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

static int prepare(sql_store *q, art_error *err) {
  if (sqlite3_prepare_v3(q->db,
                         "INSERT INTO events(run_id, seq, step, type, ts_us, body)"
                         " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                         -1, SQLITE_PREPARE_PERSISTENT, &q->append_event, NULL) != SQLITE_OK ||
      sqlite3_prepare_v3(q->db,
                         "UPDATE runs SET events = ?2, steps = ?3, updated_us = ?4"
                         " WHERE run_id = ?1 AND lease_generation = ?5",
                         -1, SQLITE_PREPARE_PERSISTENT, &q->touch_run, NULL) != SQLITE_OK ||
      sqlite3_prepare_v3(
          q->db,
          "INSERT INTO approvals(run_id, event_seq, action_id, tool, input_sha256,"
          " requested_by, requested_at_us, reviewer, decision, reason, decided_at_us,"
          " expires_at_us) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
          -1, SQLITE_PREPARE_PERSISTENT, &q->add_approval, NULL) != SQLITE_OK ||
      sqlite3_prepare_v3(q->db, "SELECT cancel_reason FROM runs WHERE run_id = ?", -1,
                         SQLITE_PREPARE_PERSISTENT, &q->get_cancel, NULL) != SQLITE_OK)
    return db_error(q, err, "store");
  return 0;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s) {
  if (s)
    sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(st, i);
}

/* Run one statement to completion: 0, or an error naming `what`. */
static int run_stmt(sql_store *q, sqlite3_stmt *st, const char *what, art_error *err) {
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : db_error(q, err, what);
}

/* What every operation but append starts with: commit the grouped events, then
 * prepare its statement. */
static int start_op(sql_store *q, const char *sql, sqlite3_stmt **st, const char *what,
                    art_error *err) {
  int rc = flush(q, err);
  if (rc < 0) return rc;
  return sqlite3_prepare_v2(q->db, sql, -1, st, NULL) == SQLITE_OK ? 0 : db_error(q, err, what);
}

#define INSERT_RUN                                                                                 \
  "INSERT INTO runs(run_id, status, stop_reason, detail, spec_json, spec_dir,"                     \
  " created_us, updated_us, lease_owner, lease_until_us, lease_generation, queue, tenant,"         \
  " lease_renewed_us) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)"

/* Insert r with st (INSERT_RUN), and know it has no events. */
static int insert_run(sql_store *q, sqlite3_stmt *st, const art_run_record *r, art_error *err) {
  bind_text(st, 1, r->run_id);
  sqlite3_bind_int(st, 2, r->status);
  bind_text(st, 3, r->stop_reason);
  bind_text(st, 4, r->detail);
  bind_text(st, 5, r->spec_json ? r->spec_json : "{}");
  bind_text(st, 6, r->spec_dir);
  sqlite3_bind_int64(st, 7, r->created_us);
  sqlite3_bind_int64(st, 8, r->created_us);
  bind_text(st, 9, r->lease_owner);
  sqlite3_bind_int64(st, 10, r->lease_owner ? r->lease_until_us : 0);
  sqlite3_bind_int64(st, 11, r->lease_owner ? 1 : 0);
  bind_text(st, 12, r->queue ? r->queue : ART_QUEUE_DEFAULT);
  bind_text(st, 13, r->tenant);
  sqlite3_bind_int64(st, 14, r->lease_owner ? r->created_us : 0);
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  if (rc == SQLITE_CONSTRAINT)
    return art_error_set(err, ART_EEXIST, "run %s exists already", r->run_id);
  if (rc != SQLITE_DONE) return db_error(q, err, "create run");
  art_known_run *k = art_known_put(&q->known, r->run_id); /* NULL: looked up later */
  if (k) k->known = true, k->seq = 0, k->steps = 0, k->generation = r->lease_owner ? 1 : 0;
  return 0;
}

static int sql_create(art_store *s, const art_run_record *r, art_error *err) {
  sql_store *q = (sql_store *)s;
  sqlite3_stmt *st;
  int rc = start_op(q, INSERT_RUN, &st, "create run", err);
  if (rc == 0) rc = insert_run(q, st, r, err);
  sqlite3_finalize(st);
  return rc;
}

/* One transaction; on a failure the runs inserted before it are rolled back,
 * and forgotten by the handle. */
static int sql_create_runs(art_store *s, const art_run_record *recs, size_t n, art_error *err) {
  sql_store *q = (sql_store *)s;
  sqlite3_stmt *st = NULL;
  int rc = start_op(q, INSERT_RUN, &st, "create runs", err);
  if (rc == 0) rc = exec(q, "BEGIN IMMEDIATE", err);
  for (size_t i = 0; rc == 0 && i < n; i++) rc = insert_run(q, st, &recs[i], err);
  sqlite3_finalize(st);
  if (rc == 0 && sqlite3_exec(q->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
    rc = db_error(q, err, "create runs");
  if (rc < 0) {
    sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
    art_known_forget(&q->known);
  }
  return rc;
}

static int run_exists(sql_store *q, const char *run_id) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(q->db, "SELECT 1 FROM runs WHERE run_id = ?", -1, &st, NULL) != SQLITE_OK)
    return 0;
  bind_text(st, 1, run_id);
  int found = sqlite3_step(st) == SQLITE_ROW;
  sqlite3_finalize(st);
  return found;
}

/* What the database holds of run_id: the seq of its last event (0: none), its
 * steps and its lease generation into k; ART_ENOTFOUND when there is no such
 * run. */
static int stored_counters(void *store, const char *run_id, art_known_run *k, art_error *err) {
  sql_store *q = store;
  sqlite3_stmt *st;
  bool found = false;
  if (sqlite3_prepare_v2(q->db,
                         "SELECT (SELECT coalesce(max(seq), 0) FROM events WHERE run_id = ?1),"
                         " steps, lease_generation FROM runs WHERE run_id = ?1",
                         -1, &st, NULL) == SQLITE_OK) {
    bind_text(st, 1, run_id);
    found = sqlite3_step(st) == SQLITE_ROW;
    if (found) k->seq = (uint32_t)sqlite3_column_int64(st, 0);
    if (found) k->steps = (uint32_t)sqlite3_column_int64(st, 1);
    if (found) k->generation = (uint64_t)sqlite3_column_int64(st, 2);
    sqlite3_finalize(st);
  }
  return found ? 0 : art_error_set(err, ART_ENOTFOUND, "no run %s", run_id);
}

static int insert_event(sql_store *q, const art_grouped_event *e, art_error *err) {
  sqlite3_stmt *ins = q->append_event;
  const char *run_id = e->run_id;
  bind_text(ins, 1, run_id);
  sqlite3_bind_int64(ins, 2, e->seq);
  sqlite3_bind_int64(ins, 3, e->step);
  bind_text(ins, 4, art_event_type_name(e->type));
  sqlite3_bind_int64(ins, 5, e->ts_us);
  bind_text(ins, 6, art_group_body(&q->group, e));
  int rc = run_stmt(q, ins, "append event", err);
  if (rc < 0 && sqlite3_errcode(q->db) == SQLITE_CONSTRAINT) /* another process wrote it */
    return art_error_set(err, ART_ESTATE, "run %s: event %u is in the journal already", run_id,
                         e->seq);
  return rc;
}

/* A run's counters follow its last event: written once per group, and only
 * while the generation its events were appended with is the run's.  A run
 * taken over meanwhile is fenced: its events are not written, and the handle
 * looks it up again (its next append sees the new generation). */
static int update_counters(sql_store *q, art_known_run *k, art_error *err) {
  sqlite3_stmt *up = q->touch_run;
  bind_text(up, 1, k->run_id);
  sqlite3_bind_int64(up, 2, k->seq);
  sqlite3_bind_int64(up, 3, k->steps);
  sqlite3_bind_int64(up, 4, k->ts_us);
  sqlite3_bind_int64(up, 5, (sqlite3_int64)k->generation);
  int rc = run_stmt(q, up, "append event", err);
  if (rc == 0 && sqlite3_changes(q->db) == 0) k->known = false, q->n_fenced++;
  return rc;
}

static int insert_approval(sql_store *q, const art_approval_record *a, art_error *err) {
  sqlite3_stmt *st = q->add_approval;
  bind_text(st, 1, a->run_id);
  sqlite3_bind_int64(st, 2, a->event_seq);
  bind_text(st, 3, a->action_id);
  bind_text(st, 4, a->tool);
  bind_text(st, 5, a->input_sha256);
  bind_text(st, 6, a->requested_by);
  sqlite3_bind_int64(st, 7, a->requested_at_us);
  bind_text(st, 8, a->reviewer);
  bind_text(st, 9, a->approved ? "approved" : "denied");
  bind_text(st, 10, a->reason);
  sqlite3_bind_int64(st, 11, a->decided_at_us);
  sqlite3_bind_int64(st, 12, a->expires_at_us);
  return run_stmt(q, st, "record approval", err);
}

/* Whether the group's events of run_id are to be dropped: its run was fenced. */
static bool fenced(const sql_store *q, const char *run_id) {
  return q->n_fenced && !art_known_find(&q->known, run_id)->known;
}

/* The runs' counters first: they say which runs are fenced. */
static int write_group(sql_store *q, const art_approval_record *approval, art_error *err) {
  int rc = 0;
  const art_event_group *g = &q->group;
  q->n_fenced = 0;
  for (int i = 0; rc == 0 && i < g->n_touched; i++)
    rc = update_counters(q, art_known_find(&q->known, g->touched[i]), err);
  for (int i = 0; rc == 0 && i < g->n_pending; i++)
    if (!fenced(q, g->pending[i].run_id)) rc = insert_event(q, &g->pending[i], err);
  if (rc == 0 && approval && !fenced(q, approval->run_id)) rc = insert_approval(q, approval, err);
  return rc;
}

/* After the group was written: whether run_id's events were all written
 * (art_group_written). */
static int run_written(sql_store *q, const char *run_id, uint64_t generation, art_error *err) {
  return art_group_written(&q->group, &q->known, stored_counters, q, run_id, generation, err);
}

/* The event joins the group; a durable one (or a full group) is written at
 * once, and then says whether its run's events were refused. */
static int sql_append(art_store *s, const char *run_id, uint64_t generation, uint32_t seq,
                      uint32_t step, int64_t ts_us, art_event_type type, const char *body,
                      bool durable, const art_approval_record *approval, art_error *err) {
  sql_store *q = (sql_store *)s;
  art_journal_entry e = {.seq = seq, .step = step, .ts_us = ts_us, .type = type, .body = body};
  int rc = art_group_append(&q->group, &q->known, stored_counters, q, run_id, generation, &e, err);
  if (rc < 0) return rc;
  if (!durable && !approval && !art_group_due(&q->group, GROUP_EVENTS, GROUP_SPAN_US, ts_us))
    return 0;
  rc = flush_with(q, approval, err);
  return rc < 0 ? rc : run_written(q, run_id, generation, err);
}

static int changed_one(sql_store *q, sqlite3_stmt *st, const char *run_id, const char *what,
                       art_error *err) {
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return db_error(q, err, what);
  return sqlite3_changes(q->db) == 1 ? 0 : art_error_set(err, ART_ENOTFOUND, "no run %s", run_id);
}

/* changed_one for a statement that changes the run only at `generation`. */
static int changed_held(sql_store *q, sqlite3_stmt *st, const char *run_id, uint64_t generation,
                        const char *what, art_error *err) {
  int rc = changed_one(q, st, run_id, what, err);
  return rc == ART_ENOTFOUND && run_exists(q, run_id)
             ? art_group_refuse_fenced(run_id, generation, err)
             : rc;
}

/* A run's status written by its holder at `generation` with `sql` (?1 the
 * run, ?2-?5 status, stop reason, detail and time, ?6 the generation). */
static int write_status(art_store *s, const char *sql, const char *what, const char *run_id,
                        uint64_t generation, art_run_status status, const char *stop_reason,
                        const char *detail, int64_t now_us, art_error *err) {
  sql_store *q = (sql_store *)s;
  sqlite3_stmt *st;
  int started = start_op(q, sql, &st, what, err);
  if (started < 0) return started;
  bind_text(st, 1, run_id);
  sqlite3_bind_int(st, 2, status);
  bind_text(st, 3, stop_reason);
  bind_text(st, 4, detail);
  sqlite3_bind_int64(st, 5, now_us);
  sqlite3_bind_int64(st, 6, (sqlite3_int64)generation);
  return changed_held(q, st, run_id, generation, what, err);
}

#define SET_STATUS "UPDATE runs SET status = ?2, stop_reason = ?3, detail = ?4, updated_us = ?5"
#define WHERE_HELD " WHERE run_id = ?1 AND lease_generation = ?6"

static int sql_set_status(art_store *s, const char *run_id, uint64_t generation,
                          art_run_status status, const char *stop_reason, const char *detail,
                          int64_t now_us, art_error *err) {
  return write_status(s, SET_STATUS WHERE_HELD, "set status", run_id, generation, status,
                      stop_reason, detail, now_us, err);
}

static int sql_settle(art_store *s, const char *run_id, uint64_t generation,
                      art_run_status status, const char *stop_reason, const char *detail,
                      int64_t now_us, art_error *err) {
  return write_status(s,
                      SET_STATUS ", lease_owner = NULL, lease_until_us = 0, lease_renewed_us = 0"
                          WHERE_HELD,
                      "settle run", run_id, generation, status, stop_reason, detail, now_us, err);
}

static char *column_text(sqlite3_stmt *st, int i, bool *oom) {
  const unsigned char *t = sqlite3_column_text(st, i);
  char *copy = t ? strdup((const char *)t) : NULL;
  if (t && !copy) *oom = true;
  return copy;
}

#define RECORD_COLUMNS                                                                             \
  "run_id, status, stop_reason, detail, spec_json, spec_dir, steps, events, created_us,"           \
  " updated_us, lease_owner, lease_until_us, cancel_reason, lease_generation, queue, tenant,"      \
  " lease_renewed_us"

static int read_record(sqlite3_stmt *st, art_run_record *r) {
  bool oom = false;
  *r = (art_run_record){.run_id = column_text(st, 0, &oom),
                        .status = (art_run_status)sqlite3_column_int(st, 1),
                        .stop_reason = column_text(st, 2, &oom),
                        .detail = column_text(st, 3, &oom),
                        .spec_json = column_text(st, 4, &oom),
                        .spec_dir = column_text(st, 5, &oom),
                        .steps = (uint32_t)sqlite3_column_int64(st, 6),
                        .events = (uint32_t)sqlite3_column_int64(st, 7),
                        .created_us = sqlite3_column_int64(st, 8),
                        .updated_us = sqlite3_column_int64(st, 9),
                        .lease_owner = column_text(st, 10, &oom),
                        .lease_until_us = sqlite3_column_int64(st, 11),
                        .cancel_reason = column_text(st, 12, &oom),
                        .lease_generation = (uint64_t)sqlite3_column_int64(st, 13),
                        .queue = column_text(st, 14, &oom),
                        .tenant = column_text(st, 15, &oom),
                        .lease_renewed_us = sqlite3_column_int64(st, 16)};
  if (!oom) return 0;
  art_run_record_dispose(r);
  return ART_ENOMEM;
}

static int sql_get(art_store *s, const char *run_id, art_run_record *out, art_error *err) {
  sql_store *q = (sql_store *)s;
  sqlite3_stmt *st;
  int started =
      start_op(q, "SELECT " RECORD_COLUMNS " FROM runs WHERE run_id = ?", &st, "get run", err);
  if (started < 0) return started;
  bind_text(st, 1, run_id);
  int rc = sqlite3_step(st);
  int result = rc == SQLITE_ROW    ? read_record(st, out)
               : rc == SQLITE_DONE ? art_error_set(err, ART_ENOTFOUND, "no run %s", run_id)
                                   : db_error(q, err, "get run");
  if (result == ART_ENOMEM) art_error_set(err, ART_ENOMEM, "out of memory");
  sqlite3_finalize(st);
  return result;
}

/* Rows straight into the journal: bodies are copied, not parsed. */
static int read_journal(sql_store *q, sqlite3_stmt *st, const char *run_id, art_journal *out,
                        art_error *err) {
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    art_journal_entry e = {.seq = (uint32_t)sqlite3_column_int64(st, 0),
                           .step = (uint32_t)sqlite3_column_int64(st, 1),
                           .ts_us = sqlite3_column_int64(st, 3),
                           .body = (const char *)sqlite3_column_text(st, 4),
                           .body_len = (size_t)sqlite3_column_bytes(st, 4)};
    const char *type = (const char *)sqlite3_column_text(st, 2);
    if (!type || !e.body || art_event_type_parse(type, &e.type) < 0)
      return art_error_set(err, ART_EIO, "run %s: journal event %u is damaged (type %s)", run_id,
                           e.seq, type ? type : "missing");
    if (art_journal_add(out, &e) < 0) return art_error_set(err, ART_ENOMEM, "out of memory");
  }
  return rc == SQLITE_DONE ? 0 : db_error(q, err, "load journal");
}

static int sql_load(art_store *s, const char *run_id, art_journal *out, art_error *err) {
  sql_store *q = (sql_store *)s;
  *out = (art_journal){0};
  sqlite3_stmt *st;
  int rc =
      start_op(q, "SELECT seq, step, type, ts_us, body FROM events WHERE run_id = ? ORDER BY seq",
               &st, "load journal", err);
  if (rc < 0) return rc;
  bind_text(st, 1, run_id);
  if (!run_exists(q, run_id))
    rc = art_error_set(err, ART_ENOTFOUND, "no run %s", run_id);
  else
    rc = read_journal(q, st, run_id, out, err);
  sqlite3_finalize(st);
  if (rc < 0) art_journal_dispose(out);
  return rc;
}

/* Every row st returns, as records, into *out (an array of *n); st is
 * finalized. */
static int read_records(sql_store *q, sqlite3_stmt *st, art_run_record **out, size_t *n,
                        const char *what, art_error *err) {
  art_run_record *list = NULL;
  size_t count = 0, cap = 0;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (count == cap) {
      art_run_record *grown = realloc(list, (cap = cap ? cap * 2 : 16) * sizeof *list);
      if (!grown) break;
      list = grown;
    }
    if (read_record(st, &list[count]) < 0) break;
    count++;
  }
  sqlite3_finalize(st);
  if (rc == SQLITE_DONE) {
    *out = list, *n = count;
    return 0;
  }
  art_run_records_free(list, count);
  return rc == SQLITE_ROW ? art_error_set(err, ART_ENOMEM, "out of memory")
                          : db_error(q, err, what);
}

static int sql_list(art_store *s, int status, art_run_record **out, size_t *n, art_error *err) {
  sql_store *q = (sql_store *)s;
  sqlite3_stmt *st;
  int started = start_op(q,
                         "SELECT " RECORD_COLUMNS " FROM runs WHERE ?1 < 0 OR status = ?1"
                         " ORDER BY created_us DESC, run_id",
                         &st, "list runs", err);
  if (started < 0) return started;
  sqlite3_bind_int(st, 1, status);
  return read_records(q, st, out, n, "list runs", err);
}

/* The queues as a JSON array for json_each (NULL: every queue). */
static char *queues_json(const char *const *queues, bool *oom) {
  if (!queues) return NULL;
  json_t *arr = json_array();
  for (size_t i = 0; arr && queues[i]; i++)
    if (json_array_append_new(arr, json_string(queues[i])) < 0) json_decref(arr), arr = NULL;
  char *text = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
  json_decref(arr);
  *oom = !text;
  return text;
}

/* The oldest ready runs of the queues ?7 (NULL: every queue) but those of
 * the full queues ?9 and tenants ?10, up to ?8 of them, leased and marked
 * running (?6). */
#define LEASE_READY                                                                                \
  "UPDATE runs SET lease_owner = ?1, lease_until_us = ?2 + ?3, lease_renewed_us = ?2, status = ?6," \
  " lease_generation = lease_generation + 1 WHERE run_id IN (SELECT run_id FROM runs"              \
  " WHERE status IN (?4, ?5, ?6) AND (lease_owner IS NULL OR lease_until_us <= ?2)"                \
  " AND (?7 IS NULL OR queue IN (SELECT value FROM json_each(?7)))"                                \
  " AND queue NOT IN (SELECT value FROM json_each(?9))"                                            \
  " AND (tenant IS NULL OR tenant NOT IN (SELECT value FROM json_each(?10)))"                      \
  " ORDER BY created_us, run_id LIMIT ?8) RETURNING " RECORD_COLUMNS

/* What a lease_ready takes, and for whom. */
typedef struct lease_pass {
  sql_store *q;
  const char *owner;
  int64_t now_us, ttl_us;
  const char *queues; /* JSON, NULL: every queue */
} lease_pass;

static int take_ready(void *ctx, const char *const *full_queues, const char *const *full_tenants,
                      size_t limit, art_run_record **got, size_t *k, art_error *err) {
  const lease_pass *p = ctx;
  sqlite3_stmt *st;
  bool oom = false;
  char *queues_full = queues_json(full_queues, &oom),
       *tenants_full = queues_json(full_tenants, &oom);
  int rc = oom ? art_error_set(err, ART_ENOMEM, "out of memory") : 0;
  if (rc == 0 && sqlite3_prepare_v2(p->q->db, LEASE_READY, -1, &st, NULL) != SQLITE_OK)
    rc = db_error(p->q, err, "lease ready runs");
  if (rc == 0) {
    bind_text(st, 1, p->owner);
    sqlite3_bind_int64(st, 2, p->now_us);
    sqlite3_bind_int64(st, 3, p->ttl_us);
    sqlite3_bind_int(st, 4, ART_RUN_QUEUED);
    sqlite3_bind_int(st, 5, ART_RUN_READY);
    sqlite3_bind_int(st, 6, ART_RUN_RUNNING);
    bind_text(st, 7, p->queues);
    sqlite3_bind_int64(st, 8, (sqlite3_int64)(limit > INT64_MAX ? INT64_MAX : limit));
    bind_text(st, 9, queues_full);
    bind_text(st, 10, tenants_full);
    rc = read_records(p->q, st, got, k, "lease ready runs", err);
  }
  free(queues_full), free(tenants_full);
  return rc;
}

static int read_limit(sqlite3_stmt *st, art_limit *l) {
  bool oom = false;
  if (art_limit_kind_parse((const char *)sqlite3_column_text(st, 0), &l->kind) < 0) return ART_EIO;
  l->max_running = (uint32_t)sqlite3_column_int64(st, 2);
  l->name = column_text(st, 1, &oom);
  return oom ? ART_ENOMEM : 0;
}

/* Every limit, queues first, then tenants, each kind by name. */
static int read_limits(sql_store *q, art_limit **out, size_t *n, art_error *err) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(q->db, "SELECT kind, name, max_running FROM limits ORDER BY kind, name",
                         -1, &st, NULL) != SQLITE_OK)
    return db_error(q, err, "read limits");
  art_limit *list = NULL;
  size_t count = 0;
  int rc = SQLITE_ERROR, bad = 0;
  while (bad == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    art_limit *grown = realloc(list, (count + 1) * sizeof *list);
    if (grown) list = grown;
    bad = !grown ? ART_ENOMEM : read_limit(st, &list[count]);
    if (bad == 0) count++;
  }
  sqlite3_finalize(st);
  if (bad == 0 && rc == SQLITE_DONE) {
    *out = list, *n = count;
    return 0;
  }
  art_limits_free(list, count);
  if (bad == ART_ENOMEM) return art_error_set(err, ART_ENOMEM, "out of memory");
  if (bad < 0) return art_error_set(err, ART_EIO, "store %s: a limit is damaged", q->path);
  return db_error(q, err, "read limits");
}

/* How many runs are held now, by queue and tenant, into t. */
static int count_held(void *ctx, art_limit_tally *t, art_error *err) {
  const lease_pass *p = ctx;
  sql_store *q = p->q;
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(q->db,
                         "SELECT queue, tenant, count(*) FROM runs WHERE lease_owner IS NOT NULL"
                         " AND lease_until_us > ?1 GROUP BY queue, tenant",
                         -1, &st, NULL) != SQLITE_OK)
    return db_error(q, err, "count held runs");
  sqlite3_bind_int64(st, 1, p->now_us);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    art_tally_add(t, (const char *)sqlite3_column_text(st, 0),
                  (const char *)sqlite3_column_text(st, 1), (uint32_t)sqlite3_column_int64(st, 2));
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : db_error(q, err, "count held runs");
}

static int limits_of(void *ctx, art_limit **out, size_t *n, art_error *err) {
  return read_limits(((lease_pass *)ctx)->q, out, n, err);
}

static const art_lease_ops lease_ops = {limits_of, count_held, take_ready};

/* One write transaction: no other caller sees a run between its selection
 * and its lease, nor the runs held between their count and a lease. */
static int sql_lease_ready(art_store *s, const char *const *queues, const char *owner,
                           int64_t now_us, int64_t ttl_us, size_t max, art_run_record **out,
                           size_t *n, art_error *err) {
  sql_store *q = (sql_store *)s;
  bool oom = false;
  lease_pass pass = {q, owner, now_us, ttl_us, queues_json(queues, &oom)};
  int rc = oom ? art_error_set(err, ART_ENOMEM, "out of memory") : flush(q, err);
  if (rc == 0) rc = exec(q, "BEGIN IMMEDIATE", err);
  if (rc == 0) rc = art_lease_within_limits(&lease_ops, &pass, max, out, n, err);
  if (rc == 0 && sqlite3_exec(q->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
    rc = db_error(q, err, "lease ready runs");
    art_run_records_free(*out, *n);
  }
  if (rc < 0 && sqlite3_get_autocommit(q->db) == 0)
    sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
  if (rc == 0) art_known_leased(&q->known, *out, *n);
  free((char *)pass.queues);
  return rc;
}

static int sql_set_limit(art_store *s, art_limit_kind kind, const char *name, uint32_t max_running,
                         art_error *err) {
  sql_store *q = (sql_store *)s;
  sqlite3_stmt *st;
  int rc = art_limit_check(kind, name, err);
  if (rc == 0)
    rc = start_op(q,
                  max_running ? "INSERT INTO limits(kind, name, max_running) VALUES(?1, ?2, ?3)"
                                " ON CONFLICT(kind, name) DO UPDATE SET max_running = ?3"
                              : "DELETE FROM limits WHERE kind = ?1 AND name = ?2",
                  &st, "set limit", err);
  if (rc < 0) return rc;
  bind_text(st, 1, art_limit_kind_name(kind));
  bind_text(st, 2, name);
  if (max_running) sqlite3_bind_int64(st, 3, max_running);
  rc = sqlite3_step(st);
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? 0 : db_error(q, err, "set limit");
}

static int sql_list_limits(art_store *s, art_limit **out, size_t *n, art_error *err) {
  sql_store *q = (sql_store *)s;
  int rc = flush(q, err);
  return rc < 0 ? rc : read_limits(q, out, n, err);
}

/* One statement: the lease and its generation (one more for a new holder)
 * change together, and the generation comes back with them. */
static int sql_claim(art_store *s, const char *run_id, const char *owner, int64_t now_us,
                     int64_t ttl_us, uint64_t *generation, art_error *err) {
  sql_store *q = (sql_store *)s;
  sqlite3_stmt *st;
  int started = start_op(
      q,
      "UPDATE runs SET lease_generation = lease_generation + (lease_owner IS NOT ?2),"
      " lease_owner = ?2, lease_until_us = ?3 + ?4, lease_renewed_us = ?3 WHERE run_id = ?1"
      " AND (lease_owner IS NULL OR lease_owner = ?2 OR lease_until_us <= ?3)"
      " RETURNING lease_generation",
      &st, "claim run", err);
  if (started < 0) return started;
  bind_text(st, 1, run_id);
  bind_text(st, 2, owner);
  sqlite3_bind_int64(st, 3, now_us);
  sqlite3_bind_int64(st, 4, ttl_us);
  /* Another process may have driven the run since this one last did. */
  art_known_run *k = art_known_find(&q->known, run_id);
  if (k) k->known = false;
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW && generation) *generation = (uint64_t)sqlite3_column_int64(st, 0);
  if (rc == SQLITE_ROW) rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return db_error(q, err, "claim run");
  if (sqlite3_changes(q->db) == 1) return 0;
  if (!run_exists(q, run_id)) return art_error_set(err, ART_ENOTFOUND, "no run %s", run_id);
  return art_error_set(err, ART_ESTATE, "run %s is held by another process", run_id);
}

static int sql_release(art_store *s, const char *run_id, uint64_t generation, art_error *err) {
  sql_store *q = (sql_store *)s;
  sqlite3_stmt *st;
  int started = start_op(q,
                         "UPDATE runs SET lease_owner = NULL, lease_until_us = 0,"
                         " lease_renewed_us = 0 WHERE run_id = ?1 AND lease_generation = ?2",
                         &st, "release run", err);
  if (started < 0) return started;
  bind_text(st, 1, run_id);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)generation);
  return changed_held(q, st, run_id, generation, "release run", err);
}

/* One statement deletes the runs and names them, so no run changes in between;
 * in a transaction, so that running out of memory deletes nothing. */
static int delete_returning_ids(sql_store *q, sqlite3_stmt *st, char ***run_ids, size_t *n,
                                art_error *err) {
  int rc, added = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW && added == 0)
    added = art_run_ids_add(run_ids, n, (const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  art_known_forget(&q->known); /* the runs deleted are no longer known */
  if (rc == SQLITE_DONE && sqlite3_exec(q->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) return 0;
  rc = added < 0 ? art_error_set(err, ART_ENOMEM, "out of memory") : db_error(q, err, "prune");
  sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

static int sql_prune(art_store *s, int64_t before_us, char ***run_ids, size_t *n, art_error *err) {
  sql_store *q = (sql_store *)s;
  sqlite3_stmt *st;
  *run_ids = NULL, *n = 0;
  int rc = start_op(q,
                    "DELETE FROM runs WHERE status IN (?1, ?2) AND updated_us < ?3"
                    " RETURNING run_id",
                    &st, "prune", err);
  if (rc < 0) return rc;
  if ((rc = exec(q, "BEGIN IMMEDIATE", err)) < 0) {
    sqlite3_finalize(st);
    return rc;
  }
  sqlite3_bind_int(st, 1, ART_RUN_FINISHED);
  sqlite3_bind_int(st, 2, ART_RUN_CANCELLED);
  sqlite3_bind_int64(st, 3, before_us);
  if ((rc = delete_returning_ids(q, st, run_ids, n, err)) < 0) {
    art_run_ids_free(*run_ids, *n);
    *run_ids = NULL, *n = 0;
  }
  return rc;
}

static int sql_request_cancel(art_store *s, const char *run_id, const char *reason,
                              art_error *err) {
  sql_store *q = (sql_store *)s;
  sqlite3_stmt *st;
  int started = start_op(q,
                         "UPDATE runs SET cancel_reason = ?2 WHERE run_id = ?1"
                         " AND status NOT IN (?3, ?4)",
                         &st, "cancel run", err);
  if (started < 0) return started;
  bind_text(st, 1, run_id);
  bind_text(st, 2, reason && reason[0] ? reason : "cancelled");
  sqlite3_bind_int(st, 3, ART_RUN_FINISHED);
  sqlite3_bind_int(st, 4, ART_RUN_CANCELLED);
  int rc = changed_one(q, st, run_id, "cancel run", err);
  if (rc == ART_ENOTFOUND && run_exists(q, run_id))
    return art_error_set(err, ART_ESTATE, "run %s has ended already", run_id);
  return rc;
}

static int sql_commit(art_store *s, const char *run_id, uint64_t generation, art_error *err) {
  sql_store *q = (sql_store *)s;
  int rc = flush(q, err);
  return rc < 0 || !run_id ? rc : run_written(q, run_id, generation, err);
}

static int sql_commit_waiting(art_store *s, int64_t now_us, art_error *err) {
  sql_store *q = (sql_store *)s;
  return art_group_due(&q->group, INT_MAX, GROUP_SPAN_US, now_us) ? flush(q, err) : 0;
}

/* No flush first: a step's grouped events need not be written to read this. */
static int sql_cancel_requested(art_store *s, const char *run_id, char **reason, art_error *err) {
  sql_store *q = (sql_store *)s;
  sqlite3_stmt *st = q->get_cancel;
  bool oom = false;
  bind_text(st, 1, run_id);
  int rc = sqlite3_step(st);
  *reason = rc == SQLITE_ROW ? column_text(st, 0, &oom) : NULL;
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (oom) return art_error_set(err, ART_ENOMEM, "out of memory");
  if (rc == SQLITE_DONE) return art_error_set(err, ART_ENOTFOUND, "no run %s", run_id);
  return rc == SQLITE_ROW ? 0 : db_error(q, err, "cancel request");
}

static int read_approval(sqlite3_stmt *st, art_approval_record *a) {
  bool oom = false;
  const char *decision = (const char *)sqlite3_column_text(st, 8);
  *a = (art_approval_record){.run_id = column_text(st, 0, &oom),
                             .event_seq = (uint32_t)sqlite3_column_int64(st, 1),
                             .action_id = column_text(st, 2, &oom),
                             .tool = column_text(st, 3, &oom),
                             .input_sha256 = column_text(st, 4, &oom),
                             .requested_by = column_text(st, 5, &oom),
                             .requested_at_us = sqlite3_column_int64(st, 6),
                             .reviewer = column_text(st, 7, &oom),
                             .approved = decision && strcmp(decision, "approved") == 0,
                             .reason = column_text(st, 9, &oom),
                             .decided_at_us = sqlite3_column_int64(st, 10),
                             .expires_at_us = sqlite3_column_int64(st, 11)};
  return oom ? ART_ENOMEM : 0;
}

static int sql_list_approvals(art_store *s, const char *run_id, art_approval_record **out,
                              size_t *n, art_error *err) {
  sql_store *q = (sql_store *)s;
  if (!run_exists(q, run_id)) return art_error_set(err, ART_ENOTFOUND, "no run %s", run_id);
  sqlite3_stmt *st;
  int started = start_op(q,
                         "SELECT run_id, event_seq, action_id, tool, input_sha256, requested_by,"
                         " requested_at_us, reviewer, decision, reason, decided_at_us,"
                         " expires_at_us FROM approvals WHERE run_id = ? ORDER BY event_seq",
                         &st, "list approvals", err);
  if (started < 0) return started;
  bind_text(st, 1, run_id);
  art_approval_record *list = NULL;
  size_t count = 0;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    art_approval_record *grown = realloc(list, (count + 1) * sizeof *list);
    if (!grown) break;
    list = grown;
    if (read_approval(st, &list[count++]) < 0) break;
  }
  sqlite3_finalize(st);
  if (rc == SQLITE_DONE) {
    *out = list, *n = count;
    return 0;
  }
  art_approval_records_free(list, count);
  return rc == SQLITE_ROW ? art_error_set(err, ART_ENOMEM, "out of memory")
                          : db_error(q, err, "list approvals");
}

static void sql_close(art_store *s) {
  sql_store *q = (sql_store *)s;
  flush(q, NULL);
  art_known_clear(&q->known);
  sqlite3_finalize(q->append_event);
  sqlite3_finalize(q->touch_run);
  sqlite3_finalize(q->add_approval);
  sqlite3_finalize(q->get_cancel);
  sqlite3_close(q->db);
  art_group_dispose(&q->group);
  free(q->path);
  free(q);
}

static const art_store_vtable sql_vtable = {.version = ART_STORE_VERSION,
                                            .name = "sqlite",
                                            .create_run = sql_create,
                                            .create_runs = sql_create_runs,
                                            .append = sql_append,
                                            .set_status = sql_set_status,
                                            .get_run = sql_get,
                                            .load_journal = sql_load,
                                            .list_runs = sql_list,
                                            .claim = sql_claim,
                                            .settle = sql_settle,
                                            .release = sql_release,
                                            .prune = sql_prune,
                                            .request_cancel = sql_request_cancel,
                                            .cancel_requested = sql_cancel_requested,
                                            .commit = sql_commit,
                                            .commit_waiting = sql_commit_waiting,
                                            .list_approvals = sql_list_approvals,
                                            .close = sql_close,
                                            .lease_ready = sql_lease_ready,
                                            .set_limit = sql_set_limit,
                                            .list_limits = sql_list_limits};

/* Whether the journal mode is WAL after `sql` (a journal_mode pragma). */
static bool journal_is_wal(sql_store *q, const char *sql) {
  sqlite3_stmt *st;
  bool wal = sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) == SQLITE_OK &&
             sqlite3_step(st) == SQLITE_ROW &&
             sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
  sqlite3_finalize(st);
  return wal;
}

/* Switching to WAL takes an exclusive lock, and every process that has the
 * store open in WAL mode holds a shared lock for as long as it does: a process
 * that found a new file in the old mode must look again while it waits (another
 * process may have switched it meanwhile), not wait for a lock that stays. */
/* Whether the file is in WAL mode now.  It is read first: a handle that
 * opened it before another process switched it keeps the old mode until it
 * reads again, and would wait for a lock that WAL readers never give up. */
static bool file_is_wal(sql_store *q) {
  sqlite3_exec(q->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
  return journal_is_wal(q, "PRAGMA journal_mode");
}

static int use_wal(sql_store *q, art_error *err) {
  enum { SLICE_MS = 10 };
  sqlite3_busy_timeout(q->db, SLICE_MS);
  bool wal = false;
  for (int waited = 0; !wal && waited < q->lock_timeout_ms; waited += SLICE_MS)
    wal = file_is_wal(q) || journal_is_wal(q, "PRAGMA journal_mode=WAL");
  sqlite3_busy_timeout(q->db, q->lock_timeout_ms);
  return wal ? 0 : db_error(q, err, "switch the store to WAL");
}

static int configure(sql_store *q, const art_sqlite_options *opts, art_error *err) {
  int rc = use_wal(q, err);
  if (rc == 0) rc = exec(q, "PRAGMA foreign_keys=ON", err);
  /* Damaged pages are reported ("database disk image is malformed") instead of
   * being read as empty or short: a corrupt store fails loudly. */
  if (rc == 0) rc = exec(q, "PRAGMA cell_size_check=ON", err);
  if (rc < 0) return rc;
  return exec(
      q, opts && opts->synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
      err);
}

/* What opening needs said in words: a store that must exist and does not, a
 * directory that is missing. */
static int cannot_open(sql_store *q, const char *path, bool must_exist, art_error *err) {
  struct stat st;
  if (must_exist && stat(path, &st) < 0 && errno == ENOENT)
    return art_error_set(err, ART_ENOTFOUND,
                         "no store at %s (agentrt run creates one; --store names another)", path);
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash) *(slash == dir ? slash + 1 : slash) = '\0';
  if (slash && stat(dir, &st) < 0)
    return art_error_set(err, ART_EIO, "cannot create store %s: directory %s: %s", path, dir,
                         strerror(errno));
  return art_error_set(err, ART_EIO, "cannot open store %s: %s", path,
                       q->db ? sqlite3_errmsg(q->db) : "out of memory");
}

static int open_db(sql_store *q, const char *path, const art_sqlite_options *opts, art_error *err) {
  bool must_exist = opts && opts->must_exist;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (must_exist ? 0 : SQLITE_OPEN_CREATE);
  q->lock_timeout_ms =
      opts && opts->lock_timeout_ms > 0 ? opts->lock_timeout_ms : ART_SQLITE_LOCK_TIMEOUT_MS;
  if (!(q->path = strdup(path))) return art_error_set(err, ART_ENOMEM, "out of memory");
  /* A store handle belongs to one thread at a time: no locking inside SQLite. */
  if (sqlite3_open_v2(path, &q->db, flags, NULL) != SQLITE_OK)
    return cannot_open(q, path, must_exist, err);
  if (sqlite3_db_readonly(q->db, "main") == 1)
    return art_error_set(err, ART_EIO, "store %s is read-only here: agentrt writes to its store",
                         path);
  sqlite3_busy_timeout(q->db, q->lock_timeout_ms);
  return 0;
}

int art_store_open_sqlite(art_store **out, const char *path, const art_sqlite_options *opts,
                          art_error *err) {
  sql_store *q = calloc(1, sizeof *q);
  if (!q) return art_error_set(err, ART_ENOMEM, "out of memory");
  q->base.vt = &sql_vtable;
  int version = 0;
  int rc = open_db(q, path, opts, err);
  if (rc == 0) rc = check_identity(q, path, &version, err);
  if (rc == 0) rc = configure(q, opts, err);
  if (rc == 0) rc = migrate(q, version, err);
  if (rc == 0) rc = prepare(q, err);
  if (rc < 0) {
    sql_close(&q->base);
    return rc;
  }
  *out = &q->base;
  return 0;
}
