/* The PostgreSQL store: many workers on many machines share one database.  The
 * tables live in a schema of their own ("agentrt"), beside a meta table that
 * says whose they are and which schema version they have; migrations run under
 * a transaction-scoped advisory lock, so concurrent first openers do not race.
 * Events are grouped as the SQLite store groups them, and a group is written
 * by one prepared statement (its events, its runs' counters and an approval)
 * whose parameters are arrays, which is one round trip and one commit however
 * many runs and events it holds. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agentrt/store.h"
#include "store/event_group.h"
#include "store/store_internal.h"

#define APPLICATION_ID "agentrt"
#define SCHEMA_VERSION 4
/* The advisory lock migrations take: 'art1' and the schema's hash. */
#define MIGRATION_LOCK 0x61727431
/* The one set_limit takes alone and lease_ready shared: 'artl' and the hash. */
#define LIMITS_LOCK 0x6172746c
/* As in the SQLite store: a loop's turn over thousands of runs is best one
 * commit. */
enum { GROUP_EVENTS = 65536 };
#define GROUP_SPAN_US 100000
/* Its cancel channel, "SCHEMA.cancel", is a name too: at most 63 bytes. */
enum { SCHEMA_NAME_MAX = 56 };
#define SQLSTATE_UNIQUE "23505"
#define SQLSTATE_NO_DATA "P0002"

typedef struct pg_store {
  art_store base;
  PGconn *conn;
  char where[512]; /* the conninfo without its password, for messages */
  char schema[64];
  char cancels[80];             /* the channel cancels are announced on: "SCHEMA.cancel" */
  char readies[80];             /* and runs made ready (a trigger on runs): "SCHEMA.ready" */
  char lock_limits_shared[128]; /* LIMITS_LOCK for the schema, as lease_ready takes it */
  char lock_limits_alone[128];  /* and as set_limit does */
  bool session_ok;              /* the connection is set up for the store (connected) */
  bool listening_ready;
  bool told_ready; /* a run was made ready since wait_ready last said so */
  art_event_group group;
  art_known_runs known;
} pg_store;

/* ---- statements and their parameters -------------------------------------------- */

/* Parameters kept in one buffer, each NUL-terminated (SIZE_MAX: NULL), and
 * the name of the prepared statement they are for, if any. */
typedef struct pg_args {
  const char *prepared;
  char *text;
  size_t len, cap;
  size_t *at;
  int n, n_cap;
  bool oom;
} pg_args;

static bool reserve(char **buf, size_t *cap, size_t need) {
  if (need <= *cap) return true;
  size_t cap2 = *cap ? *cap : 256;
  while (cap2 < need) cap2 *= 2;
  char *grown = realloc(*buf, cap2);
  if (grown) *buf = grown, *cap = cap2;
  return grown != NULL;
}

typedef struct pg_text {
  char *s;
  size_t len, cap;
  bool oom;
} pg_text;

static void text_put(pg_text *t, const char *s, size_t n) {
  if (!t->oom && !reserve(&t->s, &t->cap, t->len + n + 1)) t->oom = true;
  if (t->oom) return;
  memcpy(t->s + t->len, s, n);
  t->s[t->len += n] = '\0';
}

static void array_next(pg_text *t) { text_put(t, t->len ? "," : "{", 1); }

/* An element in quotes, its quotes and backslashes escaped. */
static void array_str(pg_text *t, const char *s) {
  array_next(t);
  text_put(t, "\"", 1);
  while (*s) {
    size_t plain = strcspn(s, "\"\\");
    text_put(t, s, plain);
    s += plain;
    if (*s) text_put(t, (const char[]){'\\', *s++}, 2);
  }
  text_put(t, "\"", 1);
}

static void array_int(pg_text *t, int64_t v) {
  char num[24];
  array_next(t);
  text_put(t, num, (size_t)snprintf(num, sizeof num, "%" PRId64, v));
}

static void array_opt(pg_text *t, const char *s) {
  if (s) {
    array_str(t, s);
    return;
  }
  array_next(t);
  text_put(t, "NULL", 4);
}

static void arg_text(pg_args *a, const char *s) {
  if (a->oom) return;
  if (a->n == a->n_cap) {
    int cap = a->n_cap ? 2 * a->n_cap : 16;
    size_t *grown = realloc(a->at, (size_t)cap * sizeof *grown);
    if (!grown) {
      a->oom = true;
      return;
    }
    a->at = grown, a->n_cap = cap;
  }
  size_t n = s ? strlen(s) + 1 : 0;
  if (s && !reserve(&a->text, &a->cap, a->len + n)) {
    a->oom = true;
    return;
  }
  a->at[a->n++] = s ? a->len : SIZE_MAX;
  if (s) memcpy(a->text + a->len, s, n), a->len += n;
}

static void arg_int(pg_args *a, int64_t v) {
  char num[24];
  snprintf(num, sizeof num, "%" PRId64, v);
  arg_text(a, num);
}

static void args_dispose(pg_args *a) {
  free(a->text);
  free(a->at);
  memset(a, 0, sizeof *a);
}

static void one_line(char *s) {
  size_t n = strlen(s);
  while (n && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
  for (char *c = s; *c; c++)
    if (*c == '\n' || *c == '\t') *c = ' ';
}

/* The server's (or libpq's) words for what went wrong, on one line. */
static void pg_message(pg_store *p, const PGresult *res, char *buf, size_t size) {
  const char *m = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  snprintf(buf, size, "%s", m ? m : PQerrorMessage(p->conn));
  one_line(buf);
}

/* The operation that finds the connection lost says so; the next one makes
 * it again (connected). */
static int lost_connection(pg_store *p, const char *msg, const char *what, art_error *err) {
  p->session_ok = false;
  return art_error_set(err, ART_EIO,
                       "%s: lost the connection to store %s (%s); the next operation connects"
                       " again",
                       what, p->where, msg);
}

/* A statement that failed without a word from the server (no SQLSTATE: it
 * closed the connection, or the connection was cut) lost the connection,
 * whether or not libpq has marked it bad yet. */
static int pg_error(pg_store *p, const PGresult *res, const char *what, art_error *err) {
  char msg[400];
  pg_message(p, res, msg, sizeof msg);
  if (PQstatus(p->conn) != CONNECTION_OK || (res && !PQresultErrorField(res, PG_DIAG_SQLSTATE)))
    return lost_connection(p, msg, what, err);
  return art_error_set(err, ART_EIO, "%s: store %s: %s", what, p->where, msg);
}

static bool sqlstate_is(const PGresult *res, const char *state) {
  const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  return s && strcmp(s, state) == 0;
}

/* Run `sql` (or a's prepared statement) with a's parameters; without
 * parameters, `sql` may be several statements. */
static PGresult *run_sql(pg_store *p, const char *sql, const pg_args *a) {
  if (!a->n) return PQexec(p->conn, sql);
  const char **values = malloc((size_t)a->n * sizeof *values);
  if (!values) return NULL;
  for (int i = 0; i < a->n; i++) values[i] = a->at[i] == SIZE_MAX ? NULL : a->text + a->at[i];
  PGresult *res = a->prepared ? PQexecPrepared(p->conn, a->prepared, a->n, values, NULL, NULL, 0)
                              : PQexecParams(p->conn, sql, a->n, NULL, values, NULL, NULL, 0);
  free(values);
  return res;
}

/* Run a statement that returns nothing to read: 0, or an error naming `what`;
 * *changed (may be NULL) is how many rows it changed. */
static int run_command(pg_store *p, const char *sql, pg_args *a, long *changed, const char *what,
                       art_error *err) {
  if (a->oom) {
    args_dispose(a);
    return art_error_set(err, ART_ENOMEM, "out of memory");
  }
  PGresult *res = run_sql(p, sql, a);
  args_dispose(a);
  int status = PQresultStatus(res);
  int rc =
      status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK ? 0 : pg_error(p, res, what, err);
  if (rc == 0 && changed) *changed = strtol(PQcmdTuples(res), NULL, 10);
  PQclear(res);
  return rc;
}

static int exec(pg_store *p, const char *sql, const char *what, art_error *err) {
  pg_args none = {0};
  return run_command(p, sql, &none, NULL, what, err);
}

/* Run a query: its rows in *res (PQclear), or an error naming `what`. */
static int run_query(pg_store *p, const char *sql, pg_args *a, PGresult **res, const char *what,
                     art_error *err) {
  *res = a->oom ? NULL : run_sql(p, sql, a);
  bool oom = a->oom;
  args_dispose(a);
  if (oom) return art_error_set(err, ART_ENOMEM, "out of memory");
  if (PQresultStatus(*res) == PGRES_TUPLES_OK) return 0;
  int rc = pg_error(p, *res, what, err);
  PQclear(*res);
  *res = NULL;
  return rc;
}

/* ---- the connection ------------------------------------------------------------ */

static int start_session(pg_store *p, art_error *err);

/* The pauses before each attempt to connect again: about 2 s in all, long
 * enough for a server that restarts, short enough to fail fast. */
static const int reconnect_pause_ms[] = {0, 100, 200, 300, 500, 800};

static void pause_ms(int ms) {
  struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000};
  while (nanosleep(&t, &t) < 0 && errno == EINTR) {}
}

/* What every operation starts with.  A connection found lost (a statement
 * failed, and libpq says CONNECTION_BAD) fails the operation that found it;
 * the next one connects again here, before its first statement and never in
 * the middle of one, so nothing a failed operation left uncommitted is redone
 * behind its caller's back.  The session is set up again (start_session), and
 * what the handle knew is forgotten: notifications sent while it was away were
 * missed, so each run's cancel request and counters are read again, and a
 * waiter is told to look again (wait_ready says 1 once).  Runs whose events a
 * failed write lost stay marked (art_group_written). */
static int connected(pg_store *p, art_error *err) {
  if (PQstatus(p->conn) == CONNECTION_OK && p->session_ok) return 0;
  for (size_t i = 0; i < sizeof reconnect_pause_ms / sizeof *reconnect_pause_ms; i++) {
    pause_ms(reconnect_pause_ms[i]);
    PQreset(p->conn);
    if (PQstatus(p->conn) == CONNECTION_OK) break;
  }
  if (PQstatus(p->conn) != CONNECTION_OK) {
    char msg[400];
    pg_message(p, NULL, msg, sizeof msg);
    return art_error_set(err, ART_EIO,
                         "lost the connection to store %s and cannot connect again: %s", p->where,
                         msg);
  }
  int rc = start_session(p, err);
  p->session_ok = rc == 0;
  art_known_forget(&p->known);
  p->told_ready = p->listening_ready;
  return rc;
}

static char *text_at(const PGresult *res, int row, int col, bool *oom) {
  if (PQgetisnull(res, row, col)) return NULL;
  char *copy = strdup(PQgetvalue(res, row, col));
  if (!copy) *oom = true;
  return copy;
}

static int64_t int_at(const PGresult *res, int row, int col) {
  return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* ---- the group ----------------------------------------------------------------- */

/* The run named in a unique violation's detail ("Key (run_id)=(x) already
 * exists."), into buf; false when the server did not say. */
static bool conflicting_key(const PGresult *res, char *buf, size_t size) {
  const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
  const char *from = detail ? strstr(detail, ")=(") : NULL;
  const char *to = from ? strstr(from, ") already exists") : NULL;
  if (!to) return false;
  snprintf(buf, size, "%.*s", (int)(to - from - 3), from + 3);
  return true;
}

/* A group is written by one prepared statement whatever its size: each column
 * is one parameter, an array literal ({"a","b"}) the server unnests. */
enum {
  EV_RUN,
  EV_SEQ,
  EV_STEP,
  EV_TYPE,
  EV_TS,
  EV_BODY,
  RUN_ID,
  RUN_EVENTS,
  RUN_STEPS,
  RUN_TS,
  RUN_GEN,
  GROUP_COLUMNS
};
/* Its rows: the runs whose events were refused (their lease was taken over).
 * $12, NULL or a JSON object of approvals' columns, is the approval that
 * comes with the group's last event: written only when its run is. */
#define WRITE_GROUP                                                                                \
  "SELECT fenced FROM write_group($1::text[], $2::bigint[], $3::bigint[], $4::text[],"             \
  " $5::bigint[], $6::text[], $7::text[], $8::bigint[], $9::bigint[], $10::bigint[],"              \
  " $11::bigint[], $12::jsonb) AS w(fenced)"

/* Each of n columns, an array, into a parameter of a. */
static void columns_args(pg_text *cols, int n, pg_args *a) {
  for (int c = 0; c < n; c++) {
    text_put(&cols[c], cols[c].len ? "}" : "{}", cols[c].len ? 1 : 2);
    a->oom |= cols[c].oom;
    arg_text(a, cols[c].s);
    free(cols[c].s);
  }
}

static void group_columns(pg_store *p, pg_text *cols) {
  const art_event_group *g = &p->group;
  for (int i = 0; i < g->n_pending; i++) {
    const art_grouped_event *e = &g->pending[i];
    array_str(&cols[EV_RUN], e->run_id), array_int(&cols[EV_SEQ], e->seq);
    array_int(&cols[EV_STEP], e->step), array_str(&cols[EV_TYPE], art_event_type_name(e->type));
    array_int(&cols[EV_TS], e->ts_us), array_str(&cols[EV_BODY], art_group_body(g, e));
  }
  for (int i = 0; i < g->n_touched; i++) { /* a run's counters follow its last event */
    const art_known_run *k = art_known_find(&p->known, g->touched[i]);
    array_str(&cols[RUN_ID], k->run_id), array_int(&cols[RUN_EVENTS], k->seq);
    array_int(&cols[RUN_STEPS], k->steps), array_int(&cols[RUN_TS], k->ts_us);
    array_int(&cols[RUN_GEN], (int64_t)k->generation);
  }
}

/* The approval as the JSON object write_group makes its row of (NULL: none). */
static void approval_arg(pg_args *a, const art_approval_record *ap) {
  json_t *row =
      ap ? json_pack("{s:s, s:I, s:s, s:s?, s:s, s:s?, s:I, s:s, s:s, s:s?, s:I, s:I}", "run_id",
                     ap->run_id, "event_seq", (json_int_t)ap->event_seq, "action_id", ap->action_id,
                     "tool", ap->tool, "input_sha256", ap->input_sha256, "requested_by",
                     ap->requested_by, "requested_at_us", (json_int_t)ap->requested_at_us,
                     "reviewer", ap->reviewer, "decision", ap->approved ? "approved" : "denied",
                     "reason", ap->reason, "decided_at_us", (json_int_t)ap->decided_at_us,
                     "expires_at_us", (json_int_t)ap->expires_at_us)
         : NULL;
  char *text = row ? json_dumps(row, JSON_COMPACT) : NULL;
  a->oom |= ap && !text;
  arg_text(a, text);
  free(text);
  json_decref(row);
}

/* The group's statement and its parameters into a. */
static void group_args(pg_store *p, const art_approval_record *approval, pg_args *a) {
  pg_text cols[GROUP_COLUMNS] = {{0}};
  group_columns(p, cols);
  a->prepared = "write_group";
  columns_args(cols, GROUP_COLUMNS, a);
  approval_arg(a, approval);
}

/* The runs write_group refused are forgotten: their next append, or the
 * check after this write, learns their new generation. */
static void forget_fenced(pg_store *p, const PGresult *res) {
  for (int i = 0; i < PQntuples(res); i++) {
    art_known_run *k = art_known_find(&p->known, PQgetvalue(res, i, 0));
    if (k) k->known = false;
  }
}

/* Write the group, and `approval` (may be NULL) with it, in one statement.
 * On failure the group is lost, as a crash would lose it. */
static int flush_with(pg_store *p, const art_approval_record *approval, art_error *err) {
  int rc = connected(p, err);
  if (rc < 0 || !p->group.n_pending) return rc;
  pg_args a = {0};
  group_args(p, approval, &a);
  const art_grouped_event *first = &p->group.pending[0];
  PGresult *res = a.oom ? NULL : run_sql(p, NULL, &a);
  rc = a.oom ? art_error_set(err, ART_ENOMEM, "out of memory") : 0;
  if (rc == 0 && PQresultStatus(res) != PGRES_TUPLES_OK)
    rc = sqlstate_is(res, SQLSTATE_UNIQUE)
             ? art_error_set(err, ART_ESTATE, "run %s: event %u is in the journal already",
                             first->run_id, first->seq)
         : sqlstate_is(res, SQLSTATE_NO_DATA)
             ? art_error_set(err, ART_ENOTFOUND, "no run %s (deleted meanwhile)", first->run_id)
             : pg_error(p, res, "commit events", err);
  if (rc == 0) forget_fenced(p, res);
  PQclear(res);
  args_dispose(&a);
  art_group_done(&p->group, &p->known, rc, err);
  return rc;
}

static int flush(pg_store *p, art_error *err) { return flush_with(p, NULL, err); }

/* What the database holds of run_id (art_stored_counters). */
static int stored_counters(void *store, const char *run_id, art_known_run *k, art_error *err) {
  pg_store *p = store;
  pg_args a = {.prepared = "stored_counters"};
  arg_text(&a, run_id);
  PGresult *res;
  int rc = run_query(p, NULL, &a, &res, "append event", err);
  if (rc < 0) return rc;
  bool found = PQntuples(res) == 1;
  if (found) k->seq = (uint32_t)int_at(res, 0, 0), k->steps = (uint32_t)int_at(res, 0, 1);
  if (found) k->generation = (uint64_t)int_at(res, 0, 2);
  PQclear(res);
  return found ? 0 : art_error_set(err, ART_ENOTFOUND, "no run %s", run_id);
}

/* After the group was written: whether run_id's events were all written
 * (art_group_written). */
static int run_written(pg_store *p, const char *run_id, uint64_t generation, art_error *err) {
  return art_group_written(&p->group, &p->known, stored_counters, p, run_id, generation, err);
}

static int pg_append(art_store *s, const char *run_id, uint64_t generation, uint32_t seq,
                     uint32_t step, int64_t ts_us, art_event_type type, const char *body,
                     bool durable, const art_approval_record *approval, art_error *err) {
  pg_store *p = (pg_store *)s;
  art_journal_entry e = {.seq = seq, .step = step, .ts_us = ts_us, .type = type, .body = body};
  int rc = connected(p, err);
  if (rc == 0)
    rc = art_group_append(&p->group, &p->known, stored_counters, p, run_id, generation, &e, err);
  if (rc < 0) return rc;
  if (!durable && !approval && !art_group_due(&p->group, GROUP_EVENTS, GROUP_SPAN_US, ts_us))
    return 0;
  rc = flush_with(p, approval, err);
  return rc < 0 ? rc : run_written(p, run_id, generation, err);
}

static int pg_commit(art_store *s, const char *run_id, uint64_t generation, art_error *err) {
  pg_store *p = (pg_store *)s;
  int rc = flush(p, err);
  return rc < 0 || !run_id ? rc : run_written(p, run_id, generation, err);
}

static int pg_commit_waiting(art_store *s, int64_t now_us, art_error *err) {
  pg_store *p = (pg_store *)s;
  return art_group_due(&p->group, GROUP_EVENTS + 1, GROUP_SPAN_US, now_us) ? flush(p, err) : 0;
}

/* ---- runs ---------------------------------------------------------------------- */

/* A run creation's failure: an id that exists (named), or the server's words. */
static int create_failed(pg_store *p, PGresult *res, const char *run_id, const char *what,
                         art_error *err) {
  char id[ART_RUN_ID_MAX + 1];
  int rc;
  if (!sqlstate_is(res, SQLSTATE_UNIQUE))
    rc = pg_error(p, res, what, err);
  else if (conflicting_key(res, id, sizeof id))
    rc = art_error_set(err, ART_EEXIST, "run %s exists already", id);
  else
    rc = art_error_set(err, ART_EEXIST, "run %s (or another of them) exists already", run_id);
  PQclear(res);
  return rc;
}

/* Runs are inserted as groups are written: one statement, each column an
 * array. */
enum {
  RUN_ID_COL,
  STATUS,
  STOP_REASON,
  DETAIL,
  SPEC_JSON,
  SPEC_DIR,
  CREATED,
  LEASE_OWNER,
  LEASE_UNTIL,
  QUEUE,
  TENANT,
  RUN_COLUMNS
};
/* A run created held is at lease generation 1, one created unheld at 0. */
#define INSERT_RUNS                                                                                \
  "INSERT INTO runs(run_id, status, stop_reason, detail, spec_json, spec_dir, created_us,"         \
  " updated_us, lease_owner, lease_until_us, lease_generation, queue, tenant, lease_renewed_us)"   \
  " SELECT r, s, sr, d, j, sd, c, c, lo, lu, (lo IS NOT NULL)::int, qu, te,"                       \
  " CASE WHEN lo IS NULL THEN 0 ELSE c END FROM"                                                   \
  " unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[],"   \
  " $8::text[], $9::bigint[], $10::text[], $11::text[])"                                           \
  " AS x(r, s, sr, d, j, sd, c, lo, lu, qu, te)"

static void run_columns(const art_run_record *recs, size_t n, pg_text *cols) {
  for (size_t i = 0; i < n; i++) {
    const art_run_record *r = &recs[i];
    array_str(&cols[RUN_ID_COL], r->run_id), array_int(&cols[STATUS], r->status);
    array_opt(&cols[STOP_REASON], r->stop_reason), array_opt(&cols[DETAIL], r->detail);
    array_str(&cols[SPEC_JSON], r->spec_json ? r->spec_json : "{}");
    array_opt(&cols[SPEC_DIR], r->spec_dir), array_int(&cols[CREATED], r->created_us);
    array_opt(&cols[LEASE_OWNER], r->lease_owner);
    array_int(&cols[LEASE_UNTIL], r->lease_owner ? r->lease_until_us : 0);
    array_str(&cols[QUEUE], r->queue ? r->queue : ART_QUEUE_DEFAULT);
    array_opt(&cols[TENANT], r->tenant);
  }
}

/* Insert recs[0..n) with one statement (all or none); the handle knows they
 * have no events. */
static int insert_runs(pg_store *p, const art_run_record *recs, size_t n, const char *what,
                       art_error *err) {
  pg_text cols[RUN_COLUMNS] = {{0}};
  pg_args a = {0};
  run_columns(recs, n, cols);
  columns_args(cols, RUN_COLUMNS, &a);
  PGresult *res = a.oom ? NULL : run_sql(p, INSERT_RUNS, &a);
  bool oom = a.oom;
  args_dispose(&a);
  if (oom) return art_error_set(err, ART_ENOMEM, "out of memory");
  if (PQresultStatus(res) != PGRES_COMMAND_OK)
    return create_failed(p, res, recs[0].run_id, what, err);
  PQclear(res);
  for (size_t i = 0; i < n; i++) {
    art_known_run *k = art_known_put(&p->known, recs[i].run_id); /* NULL: looked up later */
    if (k) k->known = true, k->seq = 0, k->steps = 0, k->generation = recs[i].lease_owner ? 1 : 0;
  }
  return 0;
}

static int pg_create(art_store *s, const art_run_record *r, art_error *err) {
  pg_store *p = (pg_store *)s;
  int rc = flush(p, err);
  return rc < 0 ? rc : insert_runs(p, r, 1, "create run", err);
}

/* One statement, so all or none; on a failure the handle forgets every run. */
static int pg_create_runs(art_store *s, const art_run_record *recs, size_t n, art_error *err) {
  pg_store *p = (pg_store *)s;
  int rc = flush(p, err);
  if (rc == 0 && n) rc = insert_runs(p, recs, n, "create runs", err);
  if (rc < 0) art_known_forget(&p->known);
  return rc;
}

/* ART_ENOTFOUND for a run that does not exist, else `otherwise`. */
static int missing_or(pg_store *p, const char *run_id, int otherwise, art_error *err) {
  pg_args a = {0};
  arg_text(&a, run_id);
  PGresult *res;
  int rc = run_query(p, "SELECT 1 FROM runs WHERE run_id = $1", &a, &res, "look up run", err);
  if (rc < 0) return rc;
  bool found = PQntuples(res) == 1;
  PQclear(res);
  return found ? otherwise : art_error_set(err, ART_ENOTFOUND, "no run %s", run_id);
}

/* Commit the group, then run a statement about run_id that changes one row:
 * ART_ENOTFOUND when it changed none and there is no such run, else
 * `when_unchanged` (with its message set by the caller's err when < 0). */
static int change_run(pg_store *p, const char *sql, pg_args *a, const char *run_id,
                      int when_unchanged, const char *what, art_error *err) {
  long changed = 0;
  int rc = flush(p, err);
  if (rc == 0)
    rc = run_command(p, sql, a, &changed, what, err);
  else
    args_dispose(a);
  if (rc < 0 || changed == 1) return rc;
  return missing_or(p, run_id, when_unchanged, err);
}

/* change_run for a statement that changes the run only at `generation`: a
 * run that exists but was not changed was taken over. */
static int change_held(pg_store *p, const char *sql, pg_args *a, const char *run_id,
                       uint64_t generation, const char *what, art_error *err) {
  int rc = change_run(p, sql, a, run_id, ART_EFENCED, what, err);
  return rc == ART_EFENCED ? art_group_refuse_fenced(run_id, generation, err) : rc;
}

/* A run's status written by its holder at `generation` with `sql` ($1 the
 * run, $2-$5 status, stop reason, detail and time, $6 the generation). */
static int write_status(art_store *s, const char *sql, const char *what, const char *run_id,
                        uint64_t generation, art_run_status status, const char *stop_reason,
                        const char *detail, int64_t now_us, art_error *err) {
  pg_args a = {0};
  arg_text(&a, run_id), arg_int(&a, status), arg_text(&a, stop_reason), arg_text(&a, detail);
  arg_int(&a, now_us), arg_int(&a, (int64_t)generation);
  return change_held((pg_store *)s, sql, &a, run_id, generation, what, err);
}

#define SET_STATUS "UPDATE runs SET status = $2, stop_reason = $3, detail = $4, updated_us = $5"
#define WHERE_HELD " WHERE run_id = $1 AND lease_generation = $6"

static int pg_set_status(art_store *s, const char *run_id, uint64_t generation,
                         art_run_status status, const char *stop_reason, const char *detail,
                         int64_t now_us, art_error *err) {
  return write_status(s, SET_STATUS WHERE_HELD, "set status", run_id, generation, status,
                      stop_reason, detail, now_us, err);
}

static int pg_settle(art_store *s, const char *run_id, uint64_t generation,
                     art_run_status status, const char *stop_reason, const char *detail,
                     int64_t now_us, art_error *err) {
  return write_status(s,
                      SET_STATUS ", lease_owner = NULL, lease_until_us = 0, lease_renewed_us = 0"
                          WHERE_HELD,
                      "settle run", run_id, generation, status, stop_reason, detail, now_us, err);
}

#define RECORD_COLUMNS                                                                             \
  "run_id, status, stop_reason, detail, spec_json, spec_dir, steps, events, created_us,"           \
  " updated_us, lease_owner, lease_until_us, cancel_reason, lease_generation, queue, tenant,"      \
  " lease_renewed_us"

static int read_record(const PGresult *res, int row, art_run_record *r) {
  bool oom = false;
  *r = (art_run_record){.run_id = text_at(res, row, 0, &oom),
                        .status = (art_run_status)int_at(res, row, 1),
                        .stop_reason = text_at(res, row, 2, &oom),
                        .detail = text_at(res, row, 3, &oom),
                        .spec_json = text_at(res, row, 4, &oom),
                        .spec_dir = text_at(res, row, 5, &oom),
                        .steps = (uint32_t)int_at(res, row, 6),
                        .events = (uint32_t)int_at(res, row, 7),
                        .created_us = int_at(res, row, 8),
                        .updated_us = int_at(res, row, 9),
                        .lease_owner = text_at(res, row, 10, &oom),
                        .lease_until_us = int_at(res, row, 11),
                        .cancel_reason = text_at(res, row, 12, &oom),
                        .lease_generation = (uint64_t)int_at(res, row, 13),
                        .queue = text_at(res, row, 14, &oom),
                        .tenant = text_at(res, row, 15, &oom),
                        .lease_renewed_us = int_at(res, row, 16)};
  if (!oom) return 0;
  art_run_record_dispose(r);
  return ART_ENOMEM;
}

/* How the rows of a query become an array of records. */
typedef struct row_kind {
  size_t size;
  int (*read)(const PGresult *res, int row, void *record);
  void (*free)(void *records, size_t n);
} row_kind;

/* Every row of res (cleared) into *out, an array of *n records. */
static int read_rows(PGresult *res, const row_kind *kind, void **out, size_t *n, art_error *err) {
  size_t rows = (size_t)PQntuples(res), count = 0;
  char *list = rows ? calloc(rows, kind->size) : NULL;
  int rc = rows && !list ? ART_ENOMEM : 0;
  for (; rc == 0 && count < rows; count++)
    rc = kind->read(res, (int)count, list + count * kind->size);
  PQclear(res);
  if (rc == 0) {
    *out = list, *n = rows;
    return 0;
  }
  kind->free(list, count);
  return art_error_set(err, ART_ENOMEM, "out of memory");
}

static int read_record_row(const PGresult *res, int row, void *r) {
  return read_record(res, row, r);
}
static void free_records(void *list, size_t n) { art_run_records_free(list, n); }
static const row_kind record_rows = {sizeof(art_run_record), read_record_row, free_records};

/* Commit the group, then run a query. */
static int query_after_flush(pg_store *p, const char *sql, pg_args *a, PGresult **res,
                             const char *what, art_error *err) {
  int rc = flush(p, err);
  if (rc == 0) return run_query(p, sql, a, res, what, err);
  args_dispose(a);
  return rc;
}

static int pg_get(art_store *s, const char *run_id, art_run_record *out, art_error *err) {
  pg_store *p = (pg_store *)s;
  pg_args a = {0};
  arg_text(&a, run_id);
  PGresult *res;
  int rc = query_after_flush(p, "SELECT " RECORD_COLUMNS " FROM runs WHERE run_id = $1", &a, &res,
                             "get run", err);
  if (rc < 0) return rc;
  if (PQntuples(res) == 0)
    rc = art_error_set(err, ART_ENOTFOUND, "no run %s", run_id);
  else if (read_record(res, 0, out) < 0)
    rc = art_error_set(err, ART_ENOMEM, "out of memory");
  PQclear(res);
  return rc;
}

/* Rows straight into the journal: bodies are copied, not parsed.  The first
 * column is NULL in the one row of a run without events. */
static int read_journal(const PGresult *res, const char *run_id, art_journal *out, art_error *err) {
  for (int i = 0; i < PQntuples(res) && !PQgetisnull(res, i, 0); i++) {
    art_journal_entry e = {.seq = (uint32_t)int_at(res, i, 0),
                           .step = (uint32_t)int_at(res, i, 1),
                           .ts_us = int_at(res, i, 3),
                           .body = PQgetvalue(res, i, 4),
                           .body_len = (size_t)PQgetlength(res, i, 4)};
    const char *type = PQgetvalue(res, i, 2);
    if (art_event_type_parse(type, &e.type) < 0)
      return art_error_set(err, ART_EIO, "run %s: journal event %u is damaged (type %s)", run_id,
                           e.seq, type);
    if (art_journal_add(out, &e) < 0) return art_error_set(err, ART_ENOMEM, "out of memory");
  }
  return 0;
}

static int pg_load(art_store *s, const char *run_id, art_journal *out, art_error *err) {
  pg_store *p = (pg_store *)s;
  *out = (art_journal){0};
  pg_args a = {0};
  arg_text(&a, run_id);
  PGresult *res;
  int rc = query_after_flush(p,
                             "SELECT e.seq, e.step, e.type, e.ts_us, e.body FROM runs r"
                             " LEFT JOIN events e ON e.run_id = r.run_id WHERE r.run_id = $1"
                             " ORDER BY e.seq",
                             &a, &res, "load journal", err);
  if (rc < 0) return rc;
  rc = PQntuples(res) == 0 ? art_error_set(err, ART_ENOTFOUND, "no run %s", run_id)
                           : read_journal(res, run_id, out, err);
  PQclear(res);
  if (rc < 0) art_journal_dispose(out);
  return rc;
}

static int pg_list(art_store *s, int status, art_run_record **out, size_t *n, art_error *err) {
  pg_store *p = (pg_store *)s;
  pg_args a = {0};
  arg_int(&a, status);
  PGresult *res;
  int rc = query_after_flush(p,
                             "SELECT " RECORD_COLUMNS " FROM runs WHERE $1::int < 0 OR status = $1"
                             " ORDER BY created_us DESC, run_id",
                             &a, &res, "list runs", err);
  return rc < 0 ? rc : read_rows(res, &record_rows, (void **)out, n, err);
}

/* The generation goes up for a new holder and stays for a renewal. */
static int pg_claim(art_store *s, const char *run_id, const char *owner, int64_t now_us,
                    int64_t ttl_us, uint64_t *generation, art_error *err) {
  pg_store *p = (pg_store *)s;
  /* Another process may have driven the run since this one last did. */
  art_known_run *k = art_known_find(&p->known, run_id);
  if (k) k->known = false;
  int rc = flush(p, err);
  if (rc < 0) return rc;
  pg_args a = {0};
  arg_text(&a, run_id), arg_text(&a, owner), arg_int(&a, now_us), arg_int(&a, ttl_us);
  PGresult *res;
  rc = run_query(p,
                 "UPDATE runs SET lease_generation = lease_generation"
                 " + (lease_owner IS DISTINCT FROM $2)::int, lease_owner = $2,"
                 " lease_until_us = $3::bigint + $4::bigint, lease_renewed_us = $3::bigint"
                 " WHERE run_id = $1"
                 " AND (lease_owner IS NULL OR lease_owner = $2 OR lease_until_us <= $3::bigint)"
                 " RETURNING lease_generation",
                 &a, &res, "claim run", err);
  if (rc < 0) return rc;
  bool claimed = PQntuples(res) == 1;
  if (claimed && generation) *generation = (uint64_t)int_at(res, 0, 0);
  PQclear(res);
  if (claimed) return 0;
  rc = missing_or(p, run_id, ART_ESTATE, err);
  return rc == ART_ESTATE
             ? art_error_set(err, ART_ESTATE, "run %s is held by another process", run_id)
             : rc;
}

/* The queues as an array literal (NULL: every queue). */
static void queues_arg(pg_args *a, const char *const *queues) {
  if (!queues) {
    arg_text(a, NULL);
    return;
  }
  pg_text t = {0};
  for (size_t i = 0; queues[i]; i++) array_str(&t, queues[i]);
  columns_args(&t, 1, a);
}

/* One statement: the oldest ready runs of the queues $5 (NULL: every queue)
 * but those of the full queues $7 and tenants $8, up to $6 of them, are
 * chosen and locked (skipping those another caller has locked: it takes
 * them), then leased and marked running ($9). */
#define LEASE_READY                                                                                \
  "WITH c AS (SELECT run_id AS ready_id FROM runs WHERE status = ANY($4::int[])"                   \
  " AND (lease_owner IS NULL OR lease_until_us <= $2::bigint)"                                     \
  " AND ($5::text[] IS NULL OR queue = ANY($5::text[])) AND queue <> ALL($7::text[])"              \
  " AND (tenant IS NULL OR tenant <> ALL($8::text[])) ORDER BY created_us, run_id"                 \
  " LIMIT $6::bigint FOR UPDATE SKIP LOCKED) UPDATE runs SET lease_owner = $1,"                    \
  " lease_until_us = $2::bigint + $3::bigint, lease_renewed_us = $2::bigint, status = $9::int,"    \
  " lease_generation = lease_generation + 1 FROM c WHERE runs.run_id = c.ready_id"                 \
  " RETURNING " RECORD_COLUMNS

/* What a lease_ready takes, and for whom. */
typedef struct lease_pass {
  pg_store *p;
  const char *const *queues;
  const char *owner;
  int64_t now_us, ttl_us;
} lease_pass;

static int take_ready(void *ctx, const char *const *full_queues, const char *const *full_tenants,
                      size_t limit, art_run_record **got, size_t *k, art_error *err) {
  const lease_pass *l = ctx;
  pg_args a = {0};
  char statuses[64];
  snprintf(statuses, sizeof statuses, "{%d,%d,%d}", ART_RUN_QUEUED, ART_RUN_READY, ART_RUN_RUNNING);
  arg_text(&a, l->owner), arg_int(&a, l->now_us), arg_int(&a, l->ttl_us), arg_text(&a, statuses);
  queues_arg(&a, l->queues);
  arg_int(&a, limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
  queues_arg(&a, full_queues), queues_arg(&a, full_tenants);
  arg_int(&a, ART_RUN_RUNNING);
  PGresult *res;
  int rc = run_query(l->p, LEASE_READY, &a, &res, "lease ready runs", err);
  return rc < 0 ? rc : read_rows(res, &record_rows, (void **)got, k, err);
}

static int read_limit(const PGresult *res, int row, void *limit) {
  art_limit *l = limit;
  bool oom = false;
  /* The table's CHECK allows these two kinds only. */
  l->kind = strcmp(PQgetvalue(res, row, 0), "tenant") == 0 ? ART_LIMIT_TENANT : ART_LIMIT_QUEUE;
  l->max_running = (uint32_t)int_at(res, row, 2);
  l->name = text_at(res, row, 1, &oom);
  return oom ? ART_ENOMEM : 0;
}
static void free_limits(void *list, size_t n) { art_limits_free(list, n); }
static const row_kind limit_rows = {sizeof(art_limit), read_limit, free_limits};

/* The limits that bind the runs of `queues` (every tenant's, and the
 * queues'), queues first, then tenants, each by name, locked in that order
 * until the transaction ends: every lease_ready locks them in the same
 * order, so two never wait for each other. */
static int lock_limits(pg_store *p, const char *const *queues, art_limit **out, size_t *n,
                       art_error *err) {
  pg_args a = {0};
  queues_arg(&a, queues);
  PGresult *res;
  int rc = run_query(p,
                     "SELECT kind, name, max_running FROM limits WHERE kind = 'tenant'"
                     " OR $1::text[] IS NULL OR name = ANY($1::text[]) ORDER BY kind, name"
                     " FOR UPDATE",
                     &a, &res, "lease ready runs", err);
  return rc < 0 ? rc : read_rows(res, &limit_rows, (void **)out, n, err);
}

/* How many runs are held now, by queue and tenant, into t. */
static int count_held(void *ctx, art_limit_tally *t, art_error *err) {
  const lease_pass *l = ctx;
  pg_store *p = l->p;
  pg_args a = {0};
  arg_int(&a, l->now_us);
  PGresult *res;
  int rc = run_query(p,
                     "SELECT queue, tenant, count(*) FROM runs WHERE lease_owner IS NOT NULL"
                     " AND lease_until_us > $1::bigint GROUP BY queue, tenant",
                     &a, &res, "lease ready runs", err);
  if (rc < 0) return rc;
  for (int i = 0; i < PQntuples(res); i++)
    art_tally_add(t, PQgetvalue(res, i, 0), PQgetisnull(res, i, 1) ? NULL : PQgetvalue(res, i, 1),
                  (uint32_t)int_at(res, i, 2));
  PQclear(res);
  return 0;
}

static int limits_of(void *ctx, art_limit **out, size_t *n, art_error *err) {
  const lease_pass *l = ctx;
  return lock_limits(l->p, l->queues, out, n, err);
}

static const art_lease_ops lease_ops = {limits_of, count_held, take_ready};

/* Why no two callers, in any processes, fill one slot of a limit: every run
 * a limit binds is leased only by a transaction that holds the limit's row
 * lock (lock_limits) until it commits, and counts the runs held only after
 * it has that lock, in a statement of its own.  In READ COMMITTED each
 * statement reads a snapshot taken when it starts, so that count sees every
 * lease committed by the transactions that held the lock before: the leases
 * of one limit's runs are made one transaction after another, each knowing
 * all the ones before.  A limit set meanwhile is covered by LIMITS_LOCK:
 * set_limit holds it alone until it commits and every lease_ready holds it
 * shared before it looks for limits, so a lease_ready either commits before
 * the limit exists or sees it.  The runs themselves are still taken FOR
 * UPDATE SKIP LOCKED: callers whose runs no limit binds do not wait for each
 * other, and each run is taken once. */
static int pg_lease_ready(art_store *s, const char *const *queues, const char *owner,
                          int64_t now_us, int64_t ttl_us, size_t max, art_run_record **out,
                          size_t *n, art_error *err) {
  pg_store *p = (pg_store *)s;
  lease_pass pass = {p, queues, owner, now_us, ttl_us};
  char begin[200];
  snprintf(begin, sizeof begin, "BEGIN; %s", p->lock_limits_shared);
  int rc = flush(p, err);
  if (rc == 0) rc = exec(p, begin, "lease ready runs", err);
  if (rc == 0) rc = art_lease_within_limits(&lease_ops, &pass, max, out, n, err);
  if (rc == 0 && (rc = exec(p, "COMMIT", "lease ready runs", err)) < 0)
    art_run_records_free(*out, *n);
  if (rc < 0) exec(p, "ROLLBACK", "lease ready runs", NULL);
  if (rc == 0) art_known_leased(&p->known, *out, *n);
  return rc;
}

/* Alone under LIMITS_LOCK (see pg_lease_ready); waiting workers are told,
 * as a limit raised or removed may let them take runs. */
static int pg_set_limit(art_store *s, art_limit_kind kind, const char *name, uint32_t max_running,
                        art_error *err) {
  pg_store *p = (pg_store *)s;
  char begin[200];
  snprintf(begin, sizeof begin, "BEGIN; %s", p->lock_limits_alone);
  int rc = art_limit_check(kind, name, err);
  if (rc == 0) rc = flush(p, err);
  if (rc == 0) rc = exec(p, begin, "set limit", err);
  pg_args a = {0};
  arg_text(&a, p->readies), arg_text(&a, art_limit_kind_name(kind)), arg_text(&a, name);
  if (max_running) arg_int(&a, max_running);
  if (rc == 0)
    rc = run_command(p,
                     max_running ? "WITH u AS (INSERT INTO limits(kind, name, max_running)"
                                   " VALUES ($2, $3, $4::int) ON CONFLICT (kind, name) DO UPDATE"
                                   " SET max_running = excluded.max_running)"
                                   " SELECT pg_notify($1, '')"
                                 : "WITH d AS (DELETE FROM limits WHERE kind = $2 AND name = $3)"
                                   " SELECT pg_notify($1, '')",
                     &a, NULL, "set limit", err);
  else
    args_dispose(&a);
  if (rc == 0) return exec(p, "COMMIT", "set limit", err);
  exec(p, "ROLLBACK", "set limit", NULL);
  return rc;
}

static int pg_list_limits(art_store *s, art_limit **out, size_t *n, art_error *err) {
  pg_store *p = (pg_store *)s;
  pg_args a = {0};
  PGresult *res;
  int rc = query_after_flush(p, "SELECT kind, name, max_running FROM limits ORDER BY kind, name",
                             &a, &res, "list limits", err);
  return rc < 0 ? rc : read_rows(res, &limit_rows, (void **)out, n, err);
}

static int pg_release(art_store *s, const char *run_id, uint64_t generation, art_error *err) {
  pg_args a = {0};
  arg_text(&a, run_id), arg_int(&a, (int64_t)generation);
  return change_held((pg_store *)s,
                     "UPDATE runs SET lease_owner = NULL, lease_until_us = 0, lease_renewed_us = 0"
                     " WHERE run_id = $1 AND lease_generation = $2",
                     &a, run_id, generation, "release run", err);
}

static int pg_request_cancel(art_store *s, const char *run_id, const char *reason, art_error *err) {
  pg_args a = {0};
  arg_text(&a, run_id), arg_text(&a, reason && reason[0] ? reason : "cancelled");
  arg_int(&a, ART_RUN_FINISHED), arg_int(&a, ART_RUN_CANCELLED);
  pg_store *p = (pg_store *)s;
  arg_text(&a, p->cancels);
  int rc = change_run(p,
                      "WITH u AS (UPDATE runs SET cancel_reason = $2 WHERE run_id = $1"
                      " AND status NOT IN ($3::int, $4::int) RETURNING run_id)"
                      " SELECT pg_notify($5, run_id) FROM u",
                      &a, run_id, ART_ESTATE, "cancel run", err);
  return rc == ART_ESTATE ? art_error_set(err, ART_ESTATE, "run %s has ended already", run_id) : rc;
}

/* The cancels announced since the last look (each a notification naming its
 * run): those runs' requests are read again. */
static int take_notices(pg_store *p, art_error *err) {
  if (!PQconsumeInput(p->conn)) { /* it reads what the server sent: nothing comes of a lost one */
    char msg[400];
    pg_message(p, NULL, msg, sizeof msg);
    return lost_connection(p, msg, "cancel request", err);
  }
  PGnotify *n;
  while ((n = PQnotifies(p->conn)) != NULL) {
    art_known_run *k =
        strcmp(n->relname, p->cancels) == 0 ? art_known_find(&p->known, n->extra) : NULL;
    if (k) k->watched = false;
    p->told_ready |= strcmp(n->relname, p->readies) == 0;
    PQfreemem(n);
  }
  return 0;
}

/* The server's socket readable within timeout_ms: 1, or 0. */
static int socket_readable(pg_store *p, int timeout_ms) {
  struct pollfd fd = {.fd = PQsocket(p->conn), .events = POLLIN};
  int r;
  do r = poll(&fd, 1, timeout_ms);
  while (r < 0 && errno == EINTR && (timeout_ms = 0, true));
  return r > 0;
}

/* A connection lost while waiting is made again at once: what was announced
 * meanwhile was missed, so the waiter is told to look (1). */
static int pg_wait_ready(art_store *s, int timeout_ms, art_error *err) {
  pg_store *p = (pg_store *)s;
  int rc = connected(p, err);
  if (rc < 0) return rc;
  if (!p->listening_ready) {
    char sql[128];
    snprintf(sql, sizeof sql, "LISTEN \"%s\"", p->readies);
    if ((rc = exec(p, sql, "wait for ready runs", err)) < 0) return rc;
    p->listening_ready = true;
    return 1;
  }
  rc = take_notices(p, err);
  if (rc == 0 && !p->told_ready && socket_readable(p, timeout_ms)) rc = take_notices(p, err);
  if (rc < 0 && !p->session_ok) rc = connected(p, err);
  if (rc < 0) return rc;
  bool told = p->told_ready;
  p->told_ready = false;
  return told ? 1 : 0;
}

static int read_cancel(pg_store *p, const char *run_id, char **reason, art_error *err) {
  pg_args a = {.prepared = "cancel_requested"};
  arg_text(&a, run_id);
  PGresult *res;
  int rc = run_query(p, NULL, &a, &res, "cancel request", err);
  if (rc < 0) return rc;
  bool oom = false;
  if (PQntuples(res) == 0)
    rc = art_error_set(err, ART_ENOTFOUND, "no run %s", run_id);
  else if ((*reason = text_at(res, 0, 0, &oom)), oom)
    rc = art_error_set(err, ART_ENOMEM, "out of memory");
  PQclear(res);
  return rc;
}

/* Asked at every step, answered without a round trip: the handle listens for
 * cancels (request_cancel announces each), so a run's request is read once,
 * and again only when one is announced.  No flush first: a step's grouped
 * events need not be written to read this. */
static int pg_cancel_requested(art_store *s, const char *run_id, char **reason, art_error *err) {
  pg_store *p = (pg_store *)s;
  *reason = NULL;
  int rc = connected(p, err);
  if (rc == 0) rc = take_notices(p, err);
  art_known_run *k = art_known_find(&p->known, run_id);
  if (rc < 0 || (k && k->watched)) return rc;
  if ((rc = read_cancel(p, run_id, reason, err)) < 0) return rc;
  k = *reason ? NULL : art_known_put(&p->known, run_id); /* NULL: read again next time */
  if (k) k->watched = true;
  return 0;
}

/* One statement deletes the runs and names them, in a transaction, so that
 * running out of memory deletes nothing. */
static int pg_prune(art_store *s, int64_t before_us, char ***run_ids, size_t *n, art_error *err) {
  pg_store *p = (pg_store *)s;
  *run_ids = NULL, *n = 0;
  pg_args a = {0};
  arg_int(&a, ART_RUN_FINISHED), arg_int(&a, ART_RUN_CANCELLED), arg_int(&a, before_us);
  int rc = flush(p, err);
  if (rc == 0) rc = exec(p, "BEGIN", "prune", err);
  if (rc < 0) {
    args_dispose(&a);
    return rc;
  }
  PGresult *res;
  rc = run_query(p,
                 "WITH d AS (DELETE FROM runs WHERE status IN ($1::int, $2::int)"
                 " AND updated_us < $3::bigint RETURNING run_id), e AS (DELETE FROM events"
                 " WHERE run_id IN (SELECT run_id FROM d)) SELECT run_id FROM d",
                 &a, &res, "prune", err);
  for (int i = 0; rc == 0 && i < PQntuples(res); i++)
    if (art_run_ids_add(run_ids, n, PQgetvalue(res, i, 0)) < 0)
      rc = art_error_set(err, ART_ENOMEM, "out of memory");
  PQclear(res);
  art_known_forget(&p->known); /* the runs deleted are no longer known */
  if (rc == 0 && (rc = exec(p, "COMMIT", "prune", err)) == 0) return 0;
  exec(p, "ROLLBACK", "prune", NULL);
  art_run_ids_free(*run_ids, *n);
  *run_ids = NULL, *n = 0;
  return rc;
}

static int read_approval(const PGresult *res, int row, art_approval_record *ap) {
  bool oom = false;
  *ap = (art_approval_record){.run_id = text_at(res, row, 0, &oom),
                              .event_seq = (uint32_t)int_at(res, row, 1),
                              .action_id = text_at(res, row, 2, &oom),
                              .tool = text_at(res, row, 3, &oom),
                              .input_sha256 = text_at(res, row, 4, &oom),
                              .requested_by = text_at(res, row, 5, &oom),
                              .requested_at_us = int_at(res, row, 6),
                              .reviewer = text_at(res, row, 7, &oom),
                              .approved = strcmp(PQgetvalue(res, row, 8), "approved") == 0,
                              .reason = text_at(res, row, 9, &oom),
                              .decided_at_us = int_at(res, row, 10),
                              .expires_at_us = int_at(res, row, 11)};
  return oom ? ART_ENOMEM : 0;
}

static int read_approval_row(const PGresult *res, int row, void *a) {
  return read_approval(res, row, a);
}
static void free_approvals(void *list, size_t n) { art_approval_records_free(list, n); }
static const row_kind approval_rows = {sizeof(art_approval_record), read_approval_row,
                                       free_approvals};

static int pg_list_approvals(art_store *s, const char *run_id, art_approval_record **out, size_t *n,
                             art_error *err) {
  pg_store *p = (pg_store *)s;
  int rc = flush(p, err);
  if (rc == 0) rc = missing_or(p, run_id, 0, err);
  if (rc < 0) return rc;
  pg_args a = {0};
  arg_text(&a, run_id);
  PGresult *res;
  rc = run_query(p,
                 "SELECT run_id, event_seq, action_id, tool, input_sha256, requested_by,"
                 " requested_at_us, reviewer, decision, reason, decided_at_us, expires_at_us"
                 " FROM approvals WHERE run_id = $1 ORDER BY event_seq",
                 &a, &res, "list approvals", err);
  return rc < 0 ? rc : read_rows(res, &approval_rows, (void **)out, n, err);
}

static void pg_close(art_store *s) {
  pg_store *p = (pg_store *)s;
  if (p->conn && p->session_ok && PQstatus(p->conn) == CONNECTION_OK) flush(p, NULL);
  art_known_clear(&p->known);
  art_group_dispose(&p->group);
  PQfinish(p->conn);
  free(p);
}

static const art_store_vtable pg_vtable = {.version = ART_STORE_VERSION,
                                           .name = "postgres",
                                           .create_run = pg_create,
                                           .create_runs = pg_create_runs,
                                           .append = pg_append,
                                           .set_status = pg_set_status,
                                           .get_run = pg_get,
                                           .load_journal = pg_load,
                                           .list_runs = pg_list,
                                           .claim = pg_claim,
                                           .release = pg_release,
                                           .settle = pg_settle,
                                           .prune = pg_prune,
                                           .request_cancel = pg_request_cancel,
                                           .cancel_requested = pg_cancel_requested,
                                           .commit = pg_commit,
                                           .commit_waiting = pg_commit_waiting,
                                           .list_approvals = pg_list_approvals,
                                           .close = pg_close,
                                           .lease_ready = pg_lease_ready,
                                           .wait_ready = pg_wait_ready,
                                           .set_limit = pg_set_limit,
                                           .list_limits = pg_list_limits};

/* ---- opening: identity, migrations ---------------------------------------------- */

/* The runs_ready trigger (migration 3) names these statuses by number. */
_Static_assert(ART_RUN_RUNNING == 0 && ART_RUN_READY == 4 && ART_RUN_QUEUED == 5,
               "run statuses are stored by number");

/* Schema version v + 1 is made from v by migrations[v]. */
static const char *const migrations[SCHEMA_VERSION] = {
    /* 1: runs, their journals and approvals */
    "CREATE TABLE meta(key text PRIMARY KEY, value text NOT NULL);"
    "CREATE TABLE runs(run_id text PRIMARY KEY, status integer NOT NULL, stop_reason text,"
    " detail text, spec_json text NOT NULL, spec_dir text, steps bigint NOT NULL DEFAULT 0,"
    " events bigint NOT NULL DEFAULT 0, created_us bigint NOT NULL, updated_us bigint NOT NULL,"
    " lease_owner text, lease_until_us bigint NOT NULL DEFAULT 0, cancel_reason text,"
    " lease_generation bigint NOT NULL DEFAULT 0);"
    "CREATE INDEX runs_by_status ON runs(status, updated_us);"
    /* No foreign key: write_group checks a group's runs once, where a key would
     * check every row (half of what a journaled step cost); prune deletes a
     * run's events with it. */
    "CREATE TABLE events(run_id text NOT NULL, seq bigint NOT NULL, step bigint NOT NULL,"
    " type text NOT NULL, ts_us bigint NOT NULL, body text NOT NULL, PRIMARY KEY(run_id, seq));"
    /* A group's runs are written only at the lease generation their events
     * were appended with: a run taken over meanwhile is fenced, its events
     * dropped and its id returned; the others are written. */
    "CREATE FUNCTION write_group(ev_run text[], ev_seq bigint[], ev_step bigint[],"
    " ev_type text[], ev_ts bigint[], ev_body text[], run_ids text[], run_events bigint[],"
    " run_steps bigint[], run_ts bigint[], run_gen bigint[], approval jsonb) RETURNS SETOF text"
    " LANGUAGE plpgsql AS $$ DECLARE kept text[]; BEGIN"
    " WITH u AS (UPDATE runs SET events = v.events, steps = v.steps, updated_us = v.updated_us"
    " FROM unnest(run_ids, run_events, run_steps, run_ts, run_gen)"
    " AS v(run_id, events, steps, updated_us, gen)"
    " WHERE runs.run_id = v.run_id AND runs.lease_generation = v.gen RETURNING runs.run_id)"
    " SELECT coalesce(array_agg(u.run_id), '{}') INTO kept FROM u;"
    " IF cardinality(kept) < cardinality(run_ids) AND EXISTS (SELECT 1 FROM unnest(run_ids)"
    " AS g(id) WHERE NOT EXISTS (SELECT 1 FROM runs WHERE runs.run_id = g.id)) THEN"
    " RAISE EXCEPTION 'a run of the group is gone' USING ERRCODE = 'no_data_found'; END IF;"
    " INSERT INTO events(run_id, seq, step, type, ts_us, body)"
    " SELECT * FROM unnest(ev_run, ev_seq, ev_step, ev_type, ev_ts, ev_body) AS e(r)"
    " WHERE cardinality(kept) = cardinality(run_ids) OR e.r = ANY(kept);"
    " IF approval IS NOT NULL AND approval->>'run_id' = ANY(kept) THEN"
    " INSERT INTO approvals SELECT * FROM jsonb_populate_record(NULL::approvals, approval);"
    " END IF;"
    " RETURN QUERY SELECT g.id FROM unnest(run_ids) AS g(id) WHERE NOT (g.id = ANY(kept));"
    " END $$;"
    "CREATE TABLE approvals(run_id text NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,"
    " event_seq bigint NOT NULL, action_id text NOT NULL, tool text, input_sha256 text NOT NULL,"
    " requested_by text, requested_at_us bigint NOT NULL, reviewer text NOT NULL,"
    " decision text NOT NULL CHECK(decision IN ('approved', 'denied')), reason text,"
    " decided_at_us bigint NOT NULL, expires_at_us bigint NOT NULL,"
    " PRIMARY KEY(run_id, event_seq));",
    /* 2: queues: workers take the ready runs of theirs, oldest first */
    "ALTER TABLE runs ADD COLUMN queue text NOT NULL DEFAULT 'default';"
    "CREATE INDEX runs_by_queue ON runs(queue, status, created_us);",
    /* 3: runs made ready announced to waiting workers (wait_ready): a run
     * nobody holds that is running (its holder let go), ready or queued */
    "CREATE FUNCTION notify_ready() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " PERFORM pg_notify(TG_TABLE_SCHEMA || '.ready', ''); RETURN NULL; END $$;"
    "CREATE TRIGGER runs_ready AFTER INSERT OR UPDATE OF status, lease_owner ON runs"
    " FOR EACH ROW WHEN (NEW.lease_owner IS NULL AND NEW.status IN (0, 4, 5))"
    " EXECUTE FUNCTION notify_ready();",
    /* 4: limits on the runs held at once, per queue and per tenant (a run's
     * tenant is its spec's actor.tenant, read from the specs of the runs
     * there are); the heartbeat; live leases found without a scan; a run of
     * a limited queue or tenant let go for good frees a slot, which waiting
     * workers are told of */
    "ALTER TABLE runs ADD COLUMN tenant text,"
    " ADD COLUMN lease_renewed_us bigint NOT NULL DEFAULT 0;"
    "DO $$ DECLARE r record; BEGIN"
    " FOR r IN SELECT run_id, spec_json FROM runs WHERE spec_json LIKE '%\"tenant\"%' LOOP"
    " BEGIN UPDATE runs SET tenant = r.spec_json::jsonb #>> '{actor,tenant}'"
    " WHERE run_id = r.run_id; EXCEPTION WHEN data_exception THEN NULL; END; END LOOP; END $$;"
    "CREATE INDEX runs_held ON runs(lease_until_us) WHERE lease_owner IS NOT NULL;"
    "CREATE TABLE limits(kind text NOT NULL CHECK(kind IN ('queue', 'tenant')),"
    " name text NOT NULL, max_running integer NOT NULL CHECK(max_running > 0),"
    " PRIMARY KEY(kind, name));"
    "CREATE FUNCTION notify_slot_freed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " IF EXISTS (SELECT 1 FROM limits WHERE (kind = 'queue' AND name = NEW.queue)"
    " OR (kind = 'tenant' AND name = NEW.tenant)) THEN"
    " PERFORM pg_notify(TG_TABLE_SCHEMA || '.ready', ''); END IF; RETURN NULL; END $$"
    " SET search_path FROM CURRENT;"
    "CREATE TRIGGER runs_slot_freed AFTER UPDATE OF lease_owner ON runs FOR EACH ROW"
    " WHEN (OLD.lease_owner IS NOT NULL AND NEW.lease_owner IS NULL"
    " AND NEW.status NOT IN (0, 4, 5)) EXECUTE FUNCTION notify_slot_freed();"};

/* What the database holds in the store's schema. */
typedef struct identity {
  bool schema_exists;
  long tables;
  bool has_meta;
  char app[32];
  int version;
} identity;

static int read_meta(pg_store *p, identity *id, art_error *err) {
  pg_args a = {0};
  PGresult *res;
  int rc = run_query(p,
                     "SELECT max(value) FILTER (WHERE key = 'application_id'),"
                     " max(value) FILTER (WHERE key = 'schema_version') FROM meta",
                     &a, &res, "open store", err);
  if (rc < 0) return rc;
  snprintf(id->app, sizeof id->app, "%s", PQgetvalue(res, 0, 0));
  id->version = (int)strtol(PQgetvalue(res, 0, 1), NULL, 10);
  PQclear(res);
  return 0;
}

/* Read-only checks first: a schema that is not ours is left as it was. */
static int check_identity(pg_store *p, identity *id, art_error *err) {
  pg_args a = {0};
  arg_text(&a, p->schema);
  PGresult *res;
  int rc =
      run_query(p,
                "SELECT EXISTS(SELECT 1 FROM pg_namespace WHERE nspname = $1),"
                " (SELECT count(*) FROM pg_tables WHERE schemaname = $1),"
                " EXISTS(SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = 'meta')",
                &a, &res, "open store", err);
  if (rc < 0) return rc;
  *id = (identity){.schema_exists = PQgetvalue(res, 0, 0)[0] == 't',
                   .tables = strtol(PQgetvalue(res, 0, 1), NULL, 10),
                   .has_meta = PQgetvalue(res, 0, 2)[0] == 't'};
  PQclear(res);
  if (id->has_meta && (rc = read_meta(p, id, err)) < 0) return rc;
  if (id->tables && strcmp(id->app, APPLICATION_ID) != 0)
    return art_error_set(err, ART_ESPEC,
                         "store %s is not an agentrt store (schema %s holds tables of something"
                         " else)",
                         p->where, p->schema);
  if (id->version > SCHEMA_VERSION)
    return art_error_set(err, ART_ESPEC,
                         "store %s was written by a newer agentrt (store schema %d, this build"
                         " knows %d)",
                         p->where, id->version, SCHEMA_VERSION);
  return 0;
}

static int create_schema(pg_store *p, art_error *err) {
  char sql[128];
  snprintf(sql, sizeof sql, "CREATE SCHEMA \"%s\"", p->schema);
  PGresult *res = PQexec(p->conn, sql);
  int rc = 0;
  if (PQresultStatus(res) != PGRES_COMMAND_OK) {
    char msg[300];
    pg_message(p, res, msg, sizeof msg);
    rc = art_error_set(err, ART_EIO,
                       "cannot create the agentrt schema %s in store %s: %s (a role that may"
                       " create schemas in the database opens it once to make it)",
                       p->schema, p->where, msg);
  }
  PQclear(res);
  return rc;
}

/* A schema made by someone else that this role may not make tables in is
 * said in words (the server would say "no schema has been selected to create
 * in": without USAGE, the schema is not on the search path). */
static int may_create_in_schema(pg_store *p, art_error *err) {
  pg_args a = {0};
  arg_text(&a, p->schema);
  PGresult *res;
  int rc = run_query(
      p, "SELECT has_schema_privilege($1, 'USAGE') AND has_schema_privilege($1, 'CREATE')", &a,
      &res, "open store", err);
  if (rc < 0) return rc;
  bool may = PQgetvalue(res, 0, 0)[0] == 't';
  PQclear(res);
  return may ? 0
             : art_error_set(err, ART_EIO,
                             "cannot create the agentrt tables in schema %s of store %s:"
                             " permission denied for schema %s (a role that may create tables"
                             " in it opens the store once to make them)",
                             p->schema, p->where, p->schema);
}

static int write_migrations(pg_store *p, const identity *id, art_error *err) {
  int rc = !id->schema_exists ? create_schema(p, err)
           : id->version == 0 ? may_create_in_schema(p, err)
                              : 0;
  for (int v = id->version; rc == 0 && v < SCHEMA_VERSION; v++) {
    char what[64];
    snprintf(what, sizeof what, "migrate store to schema %d", v + 1);
    rc = exec(p, migrations[v], what, err);
  }
  pg_args a = {0};
  arg_text(&a, APPLICATION_ID), arg_int(&a, SCHEMA_VERSION);
  return rc < 0 ? (args_dispose(&a), rc)
                : run_command(p,
                              "INSERT INTO meta(key, value) VALUES ('application_id', $1),"
                              " ('schema_version', $2) ON CONFLICT (key) DO UPDATE"
                              " SET value = excluded.value",
                              &a, NULL, "migrate store", err);
}

/* Under the advisory lock, look again: another process may have migrated
 * meanwhile. */
static int migrate(pg_store *p, const identity *seen, art_error *err) {
  if (seen->version == SCHEMA_VERSION) return 0;
  char lock[160];
  snprintf(lock, sizeof lock, "SELECT pg_advisory_xact_lock(%d, hashtext('%s'))", MIGRATION_LOCK,
           p->schema);
  identity now;
  int rc = exec(p, "BEGIN", "migrate store", err);
  if (rc == 0) rc = exec(p, lock, "migrate store", err);
  if (rc == 0) rc = check_identity(p, &now, err);
  if (rc == 0 && now.version < SCHEMA_VERSION) rc = write_migrations(p, &now, err);
  if (rc == 0) return exec(p, "COMMIT", "migrate store", err);
  exec(p, "ROLLBACK", "migrate store", NULL);
  return rc;
}

/* The store's schema (opts->schema, or "agentrt"), and the names that
 * derive from it. */
static int name_schema(pg_store *p, const art_postgres_options *opts, art_error *err) {
  const char *schema = opts && opts->schema ? opts->schema : "agentrt";
  size_t n = strlen(schema);
  if (n == 0 || n > SCHEMA_NAME_MAX || strspn(schema, "abcdefghijklmnopqrstuvwxyz0123456789_") != n)
    return art_error_set(err, ART_EINVAL,
                         "store schema name %s: lower-case letters, digits and _ only, at most %d",
                         schema, SCHEMA_NAME_MAX);
  memcpy(p->schema, schema, n + 1);
  snprintf(p->cancels, sizeof p->cancels, "%s.cancel", schema);
  snprintf(p->readies, sizeof p->readies, "%s.ready", schema);
  snprintf(p->lock_limits_shared, sizeof p->lock_limits_shared,
           "SELECT pg_advisory_xact_lock_shared(%d, hashtext('%s'))", LIMITS_LOCK, schema);
  snprintf(p->lock_limits_alone, sizeof p->lock_limits_alone,
           "SELECT pg_advisory_xact_lock(%d, hashtext('%s'))", LIMITS_LOCK, schema);
  return 0;
}

/* The settings of a new connection, and its LISTENs: cancels always, runs
 * made ready once a waiter has asked (wait_ready). */
static int session_settings(pg_store *p, art_error *err) {
  char sql[320];
  int n = snprintf(sql, sizeof sql,
                   "SET client_min_messages TO warning; SET search_path TO \"%s\"; LISTEN \"%s\"",
                   p->schema, p->cancels);
  if (p->listening_ready) snprintf(sql + n, sizeof sql - (size_t)n, "; LISTEN \"%s\"", p->readies);
  return exec(p, sql, "open store", err);
}

/* What is asked at every step, and the group's statement, are prepared once a
 * connection: planned once, a small query costs a quarter of the round trip. */
static const struct statement {
  const char *name, *sql;
} statements[] = {
    {"cancel_requested", "SELECT cancel_reason FROM runs WHERE run_id = $1"},
    {"stored_counters", "SELECT (SELECT coalesce(max(seq), 0) FROM events WHERE run_id = $1),"
                        " steps, lease_generation FROM runs WHERE run_id = $1"},
    {"write_group", WRITE_GROUP},
};

static int prepare(pg_store *p, art_error *err) {
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < sizeof statements / sizeof *statements; i++) {
    PGresult *res = PQprepare(p->conn, statements[i].name, statements[i].sql, 0, NULL);
    rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : pg_error(p, res, "open store", err);
    PQclear(res);
  }
  return rc;
}

/* A connection made again: set up as the first one was (the schema is made). */
static int start_session(pg_store *p, art_error *err) {
  int rc = session_settings(p, err);
  return rc < 0 ? rc : prepare(p, err);
}

/* The server's notices (a warning that it shuts down, say) are not printed:
 * a library does not write to stderr, and what fails is said by the
 * operation that fails. */
static void ignore_notice(void *ud, const char *message) { (void)ud, (void)message; }

static int connect_to(pg_store *p, const char *conninfo, art_error *err) {
  art_store_url_redact(p->where, sizeof p->where, conninfo);
  p->conn = PQconnectdb(conninfo);
  if (!p->conn) return art_error_set(err, ART_ENOMEM, "out of memory");
  PQsetNoticeProcessor(p->conn, ignore_notice, NULL); /* kept by PQreset */
  if (PQstatus(p->conn) == CONNECTION_OK) return 0;
  char msg[400];
  pg_message(p, NULL, msg, sizeof msg);
  return art_error_set(err, ART_EIO, "cannot connect to store %s: %s", p->where, msg);
}

int art_store_open_postgres(art_store **out, const char *conninfo, const art_postgres_options *opts,
                            art_error *err) {
  pg_store *p = calloc(1, sizeof *p);
  if (!p) return art_error_set(err, ART_ENOMEM, "out of memory");
  p->base.vt = &pg_vtable;
  identity id;
  int rc = name_schema(p, opts, err);
  if (rc == 0) rc = connect_to(p, conninfo, err);
  if (rc == 0) rc = session_settings(p, err);
  if (rc == 0) rc = check_identity(p, &id, err);
  if (rc == 0) rc = migrate(p, &id, err);
  if (rc == 0) rc = prepare(p, err);
  p->session_ok = rc == 0;
  if (rc < 0) {
    pg_close(&p->base);
    return rc;
  }
  *out = &p->base;
  return 0;
}
