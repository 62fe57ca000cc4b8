/* The run queue on PostgreSQL (a throwaway local server of its own, fsync and
 * synchronous_commit on).  One line per figure: "name value unit".
 *   PG_runs_per_s_1w, _2w, _4w: RUNS W1-shaped runs (examples/demo.json: a
 *   lookup_policy call, then an answer) submitted in bulk, then drained by
 *   that many `agentrt worker --drain` processes at once; runs per second
 *   from the workers' start to the last one's exit.  Every run must have
 *   finished with the same journal (none lost, none driven twice).
 *   PG_takeover_ms: from a worker's SIGKILL while its run's call is in
 *   flight to that run's next event, written by another worker that took it
 *   over once the lease ran out (--lease 2s); the mean of TAKEOVERS. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agentrt.h"
#include "agentrt/durable.h"
#include "bench.h"

#define RUNS 4000
#define TAKEOVERS 3

static pid_t start_worker(const char *url, const char *const *flags) {
  pid_t pid = fork();
  if (pid < 0) die("fork", "failed");
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) dup2(null, STDOUT_FILENO);
    const char *argv[16] = {"agentrt", "worker", "--store", url};
    int n = 4;
    while (*flags) argv[n++] = *flags++;
    argv[n] = NULL;
    execv(AGENTRT_CLI, (char *const *)argv);
    _exit(127);
  }
  return pid;
}

static void wait_worker(pid_t pid) {
  int status;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    die("agentrt worker", "did not drain cleanly");
}

static void submit(art_store *store, const char *spec_path, const char *prefix, int n) {
  art_spec *spec;
  art_error err = {0};
  art_spec_options opts = {.outbox = "/dev/null"};
  if (art_spec_load(&spec, spec_path, &opts, &err) < 0) die("spec", err.message);
  for (int i = 0; i < n; i++) {
    char id[32];
    snprintf(id, sizeof id, "%s%05d", prefix, i);
    if (art_durable_submit(store, spec, id, NULL, art_now_us(), &err) < 0)
      die("submit", err.message);
  }
  art_spec_free(spec);
}

/* Every run finished, each with the journal of the first (none lost, none
 * driven twice); then they are deleted for the next figure. */
static void check_and_clear(art_store *store) {
  art_run_record *runs;
  size_t n;
  art_error err = {0};
  if (store->vt->list_runs(store, -1, &runs, &n, &err) < 0) die("list", err.message);
  if (n != RUNS) die("queue", "runs were lost");
  for (size_t i = 0; i < n; i++)
    if (runs[i].status != ART_RUN_FINISHED || runs[i].events != runs[0].events)
      die("queue", "a run did not finish once");
  art_run_records_free(runs, n);
  char **gone;
  if (store->vt->prune(store, art_now_us() + 1, &gone, &n, &err) < 0) die("prune", err.message);
  art_run_ids_free(gone, n);
}

static void bench_runs_per_s(art_store *store, const char *url, int workers) {
  char prefix[8];
  snprintf(prefix, sizeof prefix, "w%d-", workers);
  submit(store, AGENTRT_SOURCE_DIR "/examples/demo.json", prefix, RUNS);
  const char *flags[] = {"--drain", "--concurrency", "32", NULL};
  pid_t pids[4];
  double t0 = now_s();
  for (int i = 0; i < workers; i++) pids[i] = start_worker(url, flags);
  for (int i = 0; i < workers; i++) wait_worker(pids[i]);
  double t = now_s() - t0;
  check_and_clear(store);
  printf("PG_runs_per_s_%dw %.0f runs/s\n", workers, RUNS / t);
}

static uint32_t events_of(art_store *store, const char *run_id) {
  art_run_record r;
  art_error err = {0};
  if (store->vt->get_run(store, run_id, &r, &err) < 0) die("get", err.message);
  uint32_t n = r.events;
  art_run_record_dispose(&r);
  return n;
}

/* Until the run has more than `events` events: when that was seen, polling
 * the store every millisecond. */
static double when_past(art_store *store, const char *run_id, uint32_t events) {
  for (double t0 = now_s(); now_s() - t0 < 30; usleep(1000))
    if (events_of(store, run_id) > events) return now_s();
  die("take-over", "the run never went on");
  return 0;
}

/* A run whose call hangs the first time (the worker is killed in it; the
 * marker file names the hanging process) and answers at once the second. */
static void write_takeover_spec(const char *path, const char *marker) {
  FILE *f = fopen(path, "w");
  if (!f) die("spec", path);
  fprintf(f,
          "{\"goal\":\"g\",\"tools\":[{\"name\":\"slow\",\"side_effect\":\"read\","
          "\"command\":[\"/bin/sh\",\"-c\",\"if [ -e %s ]; then echo {}; else echo $$ > %s;"
          " exec sleep 60; fi\"]}],\"model\":{\"type\":\"scripted\",\"decisions\":["
          "{\"type\":\"tool\",\"name\":\"slow\",\"input\":{}},"
          "{\"type\":\"answer\",\"text\":\"done\"}]}}",
          marker, marker);
  fclose(f);
}

static double one_takeover(art_store *store, const char *url, const char *dir, int i) {
  char spec[96], marker[96], id[32];
  snprintf(spec, sizeof spec, "%s/takeover.json", dir);
  snprintf(marker, sizeof marker, "%s/marker-%d", dir, i);
  snprintf(id, sizeof id, "t%d-", i);
  write_takeover_spec(spec, marker);
  submit(store, spec, id, 1);
  snprintf(id, sizeof id, "t%d-00000", i);
  const char *flags[] = {"--lease", "2s", "--poll", "100ms", NULL};
  pid_t first = start_worker(url, flags);
  /* Until its call is in flight, and the marker written. */
  for (double t0 = now_s(); access(marker, F_OK) != 0; usleep(1000))
    if (now_s() - t0 > 30) die("take-over", "the first worker never started its call");
  usleep(10000);
  uint32_t events = events_of(store, id);
  kill(first, SIGKILL);
  double t0 = now_s();
  waitpid(first, NULL, 0);
  pid_t second = start_worker(url, flags);
  double t = when_past(store, id, events) - t0;
  kill(second, SIGTERM);
  wait_worker(second);
  FILE *f = fopen(marker, "r");
  long hanging = 0;
  if (f && fscanf(f, "%ld", &hanging) == 1 && hanging > 0) kill((pid_t)hanging, SIGKILL);
  if (f) fclose(f);
  return t;
}

static void bench_takeover(art_store *store, const char *url, const char *dir) {
  double sum = 0;
  for (int i = 0; i < TAKEOVERS; i++) sum += one_takeover(store, url, dir, i);
  printf("PG_takeover_ms %.0f ms\n", sum / TAKEOVERS * 1e3);
}

int main(void) {
  char dir[32], url[128];
  art_store *store;
  art_error err = {0};
  bench_pg_start(dir, url, sizeof url);
  if (art_store_open_url(&store, url, &err) < 0) die("store", err.message);
  for (int workers = 1; workers <= 4; workers *= 2) bench_runs_per_s(store, url, workers);
  bench_takeover(store, url, dir);
  art_store_close(store);
  bench_pg_stop(dir);
  return 0;
}
