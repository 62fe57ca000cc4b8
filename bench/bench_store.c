/* Durable benchmarks.  One line per figure: "name value unit".
 *   W2 journaled: the 1,001-step run with every event appended to a SQLite
 *   store (WAL; synchronous NORMAL and FULL), µs per step overall and over
 *   steps 0-99 and 900-999.
 *   PG_W2_us_per_step: the same run journaled to a PostgreSQL store on a
 *   throwaway local server (scripts/pg-throwaway; unix socket, fsync and
 *   synchronous_commit on), and PG_W2_vs_sqlite its ratio to the SQLite
 *   figure with synchronous NORMAL.
 *   resume_10k_steps_ms: load a 10,000-step run's journal from its SQLite
 *   store and replay it. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "agentrt.h"
#include "bench.h"
#include "agentrt/store.h"

static art_spec *steps_spec(int tools, char *run_id) {
  char text[1024];
  snprintf(text, sizeof text,
           "{\"run_id\":\"%s\",\"goal\":\"g\",\"max_steps\":%d,\"tools\":[\"lookup_policy\"],"
           "\"model\":{\"type\":\"scripted\",\"decisions\":[{\"type\":\"tool\",\"name\":\"lookup_"
           "policy\","
           "\"input\":{\"task\":\"draft a "
           "reply\"},\"repeat\":%d},{\"type\":\"answer\",\"text\":\"done\"}]}}",
           run_id, tools + 1, tools);
  json_t *json = json_loads(text, 0, NULL);
  art_spec *spec;
  art_error err;
  if (!json || art_spec_parse(&spec, json, "bench", NULL, NULL, &err) < 0) die("spec", err.message);
  json_decref(json);
  return spec;
}

/* One journaled run, driven as `agentrt run` drives it (the store is asked for
 * a cancel request at every step boundary); marks[] gets the time steps 0,
 * 100, 900 and 1000 began. */
static void journaled_run(art_store *store, int tools, const char *run_id, double marks[4]) {
  char id[64];
  snprintf(id, sizeof id, "%s", run_id);
  art_spec *spec = steps_spec(tools, id);
  art_error err = {0};
  art_run_record rec = {.run_id = id, .spec_json = (char *)"{}", .created_us = art_now_us()};
  if (store->vt->create_run(store, &rec, &err) < 0) die("create", err.message);
  art_model *model;
  art_run *run;
  art_model_new(&model, spec, &err);
  art_run_new(&run, spec, NULL);
  art_sink sink;
  if (art_store_sink_new(&sink, store, 0, &err) < 0 || art_run_add_sink(run, &sink) < 0)
    die("sink", "out of memory");
  int64_t now = art_now_us();
  unsigned decides = 0;
  for (;;) {
    const art_action *act;
    if (art_run_next(run, now, &act) < 0) die("next", art_run_errmsg(run));
    if (act->kind == ART_ACT_DONE || act->kind == ART_ACT_WAIT) break;
    if (act->kind == ART_ACT_DECIDE) {
      if (marks && (decides == 0 || decides == 100 || decides == 900 || decides == 1000))
        marks[decides == 0 ? 0 : decides == 100 ? 1 : decides == 900 ? 2 : 3] = now_s();
      decides++;
      char *cancel;
      if (store->vt->cancel_requested(store, id, &cancel, &err) < 0) die("cancel", err.message);
      free(cancel);
      art_decision d;
      art_model_decide(model, act->context, &d, &err);
      now = art_now_us();
      if (art_run_feed_decision(run, &d, now) < 0) die("decide", art_run_errmsg(run));
    } else {
      art_tool_result r = {0};
      art_tool_invoke(act->tool, act->call, &r);
      now = art_now_us();
      if (art_run_feed_tool_result(run, act->call->id, &r, now) < 0)
        die("result", art_run_errmsg(run));
      art_tool_result_dispose(&r);
    }
  }
  art_run_free(run);
  art_model_free(model);
  art_spec_free(spec);
}

/* A new SQLite store in a temporary file (path: its name). */
static art_store *temp_store(char path[32], bool full) {
  snprintf(path, 32, "/tmp/agentrt-bench-XXXXXX");
  int fd = mkstemp(path);
  close(fd);
  unlink(path);
  art_store *store;
  art_error err = {0};
  art_sqlite_options opts = {.synchronous_full = full};
  if (art_store_open_sqlite(&store, path, &opts, &err) < 0) die("store", err.message);
  return store;
}

static void remove_store(art_store *store, const char *path) {
  char side[48];
  art_store_close(store);
  unlink(path);
  snprintf(side, sizeof side, "%s-wal", path), unlink(side);
  snprintf(side, sizeof side, "%s-shm", path), unlink(side);
}

/* Five W2 runs journaled in `store`: µs per step overall, and over steps
 * 0-99 and 900-999 into first100 and last100. */
static double w2_us_per_step(art_store *store, double *first100, double *last100) {
  const int runs = 5;
  double total = 0, first = 0, last = 0, marks[4];
  for (int i = 0; i < runs; i++) {
    char id[32];
    snprintf(id, sizeof id, "w2-%d", i);
    double t0 = now_s();
    journaled_run(store, 1000, id, marks);
    total += now_s() - t0;
    first += marks[1] - marks[0];
    last += marks[3] - marks[2];
  }
  *first100 = first / runs / 100 * 1e6;
  *last100 = last / runs / 100 * 1e6;
  return total / runs / 1001 * 1e6;
}

static double bench_w2(const char *label, bool full) {
  char path[32];
  double first, last;
  art_store *store = temp_store(path, full);
  double us = w2_us_per_step(store, &first, &last);
  printf("W2_sqlite_%s_us_per_step %.2f us\n", label, us);
  if (!full) {
    printf("W2_sqlite_first100_us_per_step %.2f us\n", first);
    printf("W2_sqlite_last100_us_per_step %.2f us\n", last);
  }
  remove_store(store, path);
  return us;
}

/* W2 on a PostgreSQL server of its own that keeps what it commits. */
static void bench_w2_postgres(double sqlite_us) {
  char dir[32], url[128];
  bench_pg_start(dir, url, sizeof url);
  art_store *store;
  art_error err = {0};
  double first, last, us = 0;
  if (art_store_open_url(&store, url, &err) == 0) {
    us = w2_us_per_step(store, &first, &last);
    art_store_close(store);
  }
  bench_pg_stop(dir);
  if (!us) die("store", err.message);
  printf("PG_W2_us_per_step %.2f us\n", us);
  printf("PG_W2_vs_sqlite %.2f x\n", us / sqlite_us);
}

/* As `agentrt resume` does it: the journal read from the SQLite file, then
 * replayed into a new run. */
static void bench_resume(void) {
  char path[32];
  art_store *store = temp_store(path, false);
  art_error err = {0};
  journaled_run(store, 9999, "resume-10k", NULL);
  char id[] = "resume-10k";
  art_spec *spec = steps_spec(9999, id);
  double best = 1e9;
  for (int i = 0; i < 5; i++) {
    double t0 = now_s();
    art_journal journal;
    art_run *run;
    if (store->vt->load_journal(store, id, &journal, &err) < 0) die("load", err.message);
    art_run_new(&run, spec, NULL);
    if (art_run_replay_journal(run, &journal) < 0) die("replay", art_run_errmsg(run));
    double t = now_s() - t0;
    if (art_run_steps(run) != 10000) die("replay", "not 10,000 steps");
    best = t < best ? t : best;
    art_run_free(run);
    art_journal_dispose(&journal);
  }
  printf("resume_10k_steps_ms %.2f ms\n", best * 1e3);
  art_spec_free(spec);
  remove_store(store, path);
}

int main(void) {
  double sqlite_us = bench_w2("normal", false);
  bench_w2("full", true);
  bench_w2_postgres(sqlite_us);
  bench_resume();
  return 0;
}
