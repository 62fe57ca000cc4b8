/* Event-loop benchmarks.  One line per figure: "name value unit".
 *   W3  10,000 runs started at once on one loop, each 3 steps (two
 *       lookup_policy calls, then an answer), every decision delivered after a
 *       10 ms loop timer (the scripted model's delay_ms), traces in memory:
 *       wall time from the first add to the last stop, the process's peak RSS,
 *       and steps per second.  Ideal wall time: ~30 ms (three 10 ms waits).
 *   W3_sqlite  the same with every run journaled to one SQLite store.
 * Each variant runs in a process of its own, so its peak RSS is its own. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agentrt.h"
#include "bench.h"
#include "agentrt/loop.h"
#include "agentrt/store.h"

#define RUNS 10000
#define STEPS 3

static const char w3_spec[] =
    "{\"goal\":\"answer after two lookups\",\"max_steps\":5,\"tools\":[\"lookup_policy\"],"
    "\"model\":{\"type\":\"scripted\",\"delay_ms\":10,\"decisions\":["
    "{\"type\":\"tool\",\"name\":\"lookup_policy\",\"input\":{\"task\":\"refund\"},\"repeat\":2},"
    "{\"type\":\"answer\",\"text\":\"done\"}]}}";

static size_t stopped_ok;

static void stopped(void *ud, art_run *run, int rc) {
  (void)ud;
  if (rc == 0 && art_run_stop_reason(run) == ART_STOP_SUCCESS && art_run_steps(run) == STEPS)
    stopped_ok++;
}

/* W3 in this process: `store` NULL keeps the traces in memory. */
static void w3(const char *name, art_store *store) {
  json_t *json = json_loads(w3_spec, 0, NULL);
  art_spec *spec;
  art_error err = {0};
  art_spec_options opts = {.outbox = "/dev/null"};
  if (!json || art_spec_parse(&spec, json, "w3", NULL, &opts, &err) < 0) die("spec", err.message);
  json_decref(json);
  art_run **runs = calloc(RUNS, sizeof *runs);
  art_model **models = calloc(RUNS, sizeof *models);
  art_loop *loop;
  if (!runs || !models || art_loop_new(&loop, NULL, &err) < 0) die("loop", "out of memory");
  double t0 = now_s();
  for (int i = 0; i < RUNS; i++) {
    char id[32];
    snprintf(id, sizeof id, "w3-%d", i);
    art_run_options ro = {.run_id = id};
    if (art_model_new(&models[i], spec, &err) < 0 || art_run_new(&runs[i], spec, &ro) < 0)
      die("run", "out of memory");
    if (store) {
      art_run_record rec = {.run_id = id, .spec_json = (char *)"{}", .created_us = art_now_us()};
      art_sink sink;
      if (store->vt->create_run(store, &rec, &err) < 0) die("create", err.message);
      if (art_store_sink_batched(&sink, store, &err) < 0 || art_run_add_sink(runs[i], &sink) < 0)
        die("sink", "out of memory");
    }
    if (art_loop_add(loop, runs[i], models[i], stopped, NULL) < 0) die("add", "out of memory");
  }
  if (art_loop_run(loop) < 0) die("loop", "failed");
  double wall = now_s() - t0;
  if (stopped_ok != RUNS) die(name, "not every run answered after 3 steps");
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("%s_wall_ms %.1f ms\n", name, wall * 1e3);
  if (!store) {
    printf("%s_peak_rss_mib %.1f MiB\n", name, ru.ru_maxrss / 1024.0);
    printf("%s_steps_per_s %.0f steps/s\n", name, RUNS * STEPS / wall);
  }
  fflush(stdout);
  art_loop_free(loop);
  for (int i = 0; i < RUNS; i++) art_run_free(runs[i]), art_model_free(models[i]);
  free(runs), free(models);
  art_spec_free(spec);
}

static void w3_sqlite(void) {
  char dir[] = "/tmp/agentrt-w3-XXXXXX", path[64];
  if (!mkdtemp(dir)) die("mkdtemp", "failed");
  snprintf(path, sizeof path, "%s/w3.db", dir);
  art_store *store;
  art_error err = {0};
  if (art_store_open_sqlite(&store, path, NULL, &err) < 0) die("store", err.message);
  w3("W3_sqlite", store);
  art_store_close(store);
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

static void w3_memory(void) { w3("W3", NULL); }

int main(void) {
  in_child(w3_memory);
  in_child(w3_sqlite);
  return 0;
}
