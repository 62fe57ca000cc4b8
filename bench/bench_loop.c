/* Event-loop benchmarks.  One line per figure: "name value unit".
 *   W3  10,000 runs started at once on one loop, each 3 steps (two
 *       lookup_policy calls, then an answer), every decision delivered after a
 *       10 ms loop timer (the scripted model's delay_ms), traces in memory:
 *       wall time from the first add to the last stop, the process's peak RSS,
 *       and steps per second.  Ideal wall time: ~30 ms (three 10 ms waits).
 *   W3_sqlite  the same with every run journaled to one SQLite store; and
 *       W3_sqlite_floor_ms: SQLite alone writing the same rows (runs, events in
 *       the order they were written, each run's counters once a commit) into a
 *       new store of the same schema, in commits of the same size, through
 *       prepared statements: what W3_sqlite cannot go below on this machine.
 *   W3_http  1,000 runs at once, the same 3 steps, each decision from the
 *       openai model against a local chat-completions server (oai_server.h,
 *       started and stopped here) that answers 10 ms after each request,
 *       over the loop's curl multi with max_connections HTTP_CONNECTIONS:
 *       wall time, and its ratio to the ideal 30 ms.
 * Each variant runs in a process of its own, so its peak RSS is its own. */
#define _GNU_SOURCE /* oai_server.h: memmem, strcasestr */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "agentrt.h"
#include "bench.h"
#include "agentrt/loop.h"
#include "agentrt/store.h"
#include "oai_server.h"

#define RUNS 10000
#define HTTP_RUNS 1000
#define HTTP_CONNECTIONS 256
#define STEPS 3

static const char w3_spec[] =
    "{\"goal\":\"answer after two lookups\",\"max_steps\":5,\"tools\":[\"lookup_policy\"],"
    "\"model\":{\"type\":\"scripted\",\"delay_ms\":10,\"decisions\":["
    "{\"type\":\"tool\",\"name\":\"lookup_policy\",\"input\":{\"task\":\"refund\"},\"repeat\":2},"
    "{\"type\":\"answer\",\"text\":\"done\"}]}}";

static const char w3_http_spec[] =
    "{\"goal\":\"answer after two lookups\",\"max_steps\":5,\"tools\":[\"lookup_policy\"],"
    "\"model\":{\"type\":\"openai\",\"base_url\":\"http://127.0.0.1:%d/v1\",\"model\":\"m\","
    "\"max_connections\":%d}}";

static size_t stopped_ok;

static void stopped(void *ud, art_run *run, int rc) {
  (void)ud;
  if (rc == 0 && art_run_stop_reason(run) == ART_STOP_SUCCESS && art_run_steps(run) == STEPS)
    stopped_ok++;
}

/* The runs' records, stored in one transaction, as a program that submits
 * many runs at once stores them. */
static void create_runs(art_store *store, char (*ids)[16], int n) {
  art_run_record *recs = calloc((size_t)n, sizeof *recs);
  art_error err = {0};
  if (!recs) die("create", "out of memory");
  for (int i = 0; i < n; i++)
    recs[i] =
        (art_run_record){.run_id = ids[i], .spec_json = (char *)"{}", .created_us = art_now_us()};
  if (store->vt->create_runs(store, recs, (size_t)n, &err) < 0) die("create", err.message);
  free(recs);
}

/* W3 in this process: `n` runs of `spec_text`; `store` NULL keeps the traces
 * in memory.  The wall time in ms. */
static double w3(const char *name, const char *spec_text, int n, art_store *store) {
  json_t *json = json_loads(spec_text, 0, NULL);
  art_spec *spec;
  art_error err = {0};
  art_spec_options opts = {.outbox = "/dev/null"};
  if (!json || art_spec_parse(&spec, json, "w3", NULL, &opts, &err) < 0) die("spec", err.message);
  json_decref(json);
  art_run **runs = calloc((size_t)n, sizeof *runs);
  art_model **models = calloc((size_t)n, sizeof *models);
  art_loop *loop;
  if (!runs || !models || art_loop_new(&loop, NULL, &err) < 0) die("loop", "out of memory");
  char(*ids)[16] = calloc((size_t)n, sizeof *ids);
  if (!ids) die("ids", "out of memory");
  double t0 = now_s();
  for (int i = 0; i < n; i++) snprintf(ids[i], sizeof ids[i], "w3-%d", i);
  if (store) create_runs(store, ids, n);
  for (int i = 0; i < n; i++) {
    art_run_options ro = {.run_id = ids[i]};
    if (art_model_new(&models[i], spec, &err) < 0 || art_run_new(&runs[i], spec, &ro) < 0)
      die("run", "out of memory");
    art_sink sink;
    if (store &&
        (art_store_sink_batched(&sink, store, 0, &err) < 0 || art_run_add_sink(runs[i], &sink) < 0))
      die("sink", "out of memory");
    if (art_loop_add(loop, runs[i], models[i], stopped, NULL) < 0) die("add", "out of memory");
  }
  if (art_loop_run(loop) < 0) die("loop", "failed");
  double wall = now_s() - t0;
  if (stopped_ok != (size_t)n) die(name, "not every run answered after 3 steps");
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("%s_wall_ms %.1f ms\n", name, wall * 1e3);
  if (!store && n == RUNS) {
    printf("%s_peak_rss_mib %.1f MiB\n", name, ru.ru_maxrss / 1024.0);
    printf("%s_steps_per_s %.0f steps/s\n", name, n * STEPS / wall);
  }
  fflush(stdout);
  art_loop_free(loop);
  for (int i = 0; i < n; i++) art_run_free(runs[i]), art_model_free(models[i]);
  free(runs), free(models), free(ids);
  art_spec_free(spec);
  return wall * 1e3;
}

static sqlite3 *db_open(const char *path) {
  sqlite3 *db;
  if (sqlite3_open(path, &db) != SQLITE_OK ||
      sqlite3_exec(db, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON", NULL, NULL, NULL))
    die("floor", sqlite3_errmsg(db));
  return db;
}

static sqlite3_stmt *db_prepare(sqlite3 *db, const char *sql) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) die("floor", sqlite3_errmsg(db));
  return st;
}

static void db_exec(sqlite3 *db, const char *sql) {
  if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) die("floor", sqlite3_errmsg(db));
}

static void db_step(sqlite3 *db, sqlite3_stmt *st) {
  if (sqlite3_step(st) != SQLITE_DONE) die("floor", sqlite3_errmsg(db));
  sqlite3_reset(st);
}

static int by_text(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Each run among the group's `n` events once (the ids are freed). */
static void touch_runs(sqlite3 *dst, sqlite3_stmt *touch, char **ids, int n) {
  qsort(ids, (size_t)n, sizeof *ids, by_text);
  for (int i = 0; i < n; i++) {
    if (i == 0 || strcmp(ids[i], ids[i - 1]) != 0) {
      sqlite3_bind_text(touch, 1, ids[i], -1, SQLITE_STATIC);
      db_step(dst, touch);
    }
  }
  for (int i = 0; i < n; i++) free(ids[i]);
}

/* W3_sqlite_floor_ms: the rows of the store at `from` written again into a
 * new store at `to`; returns the wall time in ms. */
static double w3_sqlite_floor(const char *from, const char *to) {
  enum { GROUP = 65536 };
  art_store *fresh;
  art_error err = {0};
  if (art_store_open_sqlite(&fresh, to, NULL, &err) < 0) die("floor", err.message);
  art_store_close(fresh); /* the schema */
  sqlite3 *src = db_open(from), *dst = db_open(to);
  sqlite3_stmt *runs = db_prepare(src, "SELECT run_id FROM runs"),
               *events = db_prepare(src, "SELECT run_id, seq, step, type, ts_us, body FROM events"
                                         " ORDER BY rowid"),
               *add_run = db_prepare(dst, "INSERT INTO runs(run_id, status, spec_json, created_us,"
                                          " updated_us) VALUES(?, 0, '{}', 1, 1)"),
               *add_event = db_prepare(dst, "INSERT INTO events(run_id, seq, step, type, ts_us,"
                                            " body) VALUES(?,?,?,?,?,?)"),
               *touch = db_prepare(dst, "UPDATE runs SET events = events + 1 WHERE run_id = ?");
  char **ids = malloc(GROUP * sizeof *ids);
  if (!ids) die("floor", "out of memory");
  double t0 = now_s();
  db_exec(dst, "BEGIN");
  while (sqlite3_step(runs) == SQLITE_ROW) {
    sqlite3_bind_value(add_run, 1, sqlite3_column_value(runs, 0));
    db_step(dst, add_run);
  }
  db_exec(dst, "COMMIT");
  for (int more = 1, n = 0; more;) {
    db_exec(dst, "BEGIN");
    for (n = 0; n < GROUP && (more = sqlite3_step(events) == SQLITE_ROW); n++) {
      for (int c = 0; c < 6; c++)
        sqlite3_bind_value(add_event, c + 1, sqlite3_column_value(events, c));
      db_step(dst, add_event);
      if (!(ids[n] = strdup((const char *)sqlite3_column_text(events, 0)))) die("floor", "strdup");
    }
    touch_runs(dst, touch, ids, n);
    db_exec(dst, "COMMIT");
  }
  double wall = (now_s() - t0) * 1e3;
  free(ids);
  sqlite3_finalize(runs), sqlite3_finalize(events), sqlite3_finalize(add_run);
  sqlite3_finalize(add_event), sqlite3_finalize(touch);
  sqlite3_close(src), sqlite3_close(dst);
  return wall;
}

static void w3_sqlite(void) {
  char dir[] = "/tmp/agentrt-w3-XXXXXX", path[64], again[64];
  if (!mkdtemp(dir)) die("mkdtemp", "failed");
  snprintf(path, sizeof path, "%s/w3.db", dir);
  snprintf(again, sizeof again, "%s/floor.db", dir);
  art_store *store;
  art_error err = {0};
  if (art_store_open_sqlite(&store, path, NULL, &err) < 0) die("store", err.message);
  double wall = w3("W3_sqlite", w3_spec, RUNS, store);
  art_store_close(store);
  double floor = w3_sqlite_floor(path, again);
  printf("W3_sqlite_floor_ms %.1f ms\n", floor);
  printf("W3_sqlite_vs_floor %.2f x (SQLite alone writing the same rows, in commits as large)\n",
         wall / floor);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) die("cleanup", dir);
}

/* Each variant in a child process: its RSS is measured alone. */
static void in_child(void (*fn)(void)) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) die("fork", "failed");
  if (pid == 0) {
    fn();
    exit(0);
  }
  int status;
  if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) exit(1);
}

static void w3_memory(void) { w3("W3", w3_spec, RUNS, NULL); }

static void w3_http(void) {
  pid_t server;
  char spec[512];
  int port = oai_server_start(10, &server);
  snprintf(spec, sizeof spec, w3_http_spec, port, HTTP_CONNECTIONS);
  double wall = w3("W3_http", spec, HTTP_RUNS, NULL);
  printf("W3_http_vs_ideal %.1f x (ideal 30 ms: three 10 ms replies; %d runs, %d connections)\n",
         wall / 30.0, HTTP_RUNS, HTTP_CONNECTIONS);
  kill(server, SIGKILL);
  waitpid(server, NULL, 0);
}

/* bench_loop [W3|W3_sqlite|W3_http]...: the variants named (default: all). */
int main(int argc, char **argv) {
  static const struct {
    const char *name;
    void (*fn)(void);
  } variants[] = {{"W3", w3_memory}, {"W3_sqlite", w3_sqlite}, {"W3_http", w3_http}};
  for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
    bool named = argc < 2;
    for (int a = 1; a < argc; a++) named = named || strcmp(argv[a], variants[i].name) == 0;
    if (named) in_child(variants[i].fn);
  }
  return 0;
}
