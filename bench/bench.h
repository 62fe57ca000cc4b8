/* What every benchmark needs: a monotonic clock in seconds, and a way out
 * when the work it measures did not happen as it should. */
#ifndef AGENTRT_BENCH_H
#define AGENTRT_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static inline double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void die(const char *what, const char *why) {
  fprintf(stderr, "bench: %s: %s\n", what, why);
  exit(1);
}

/* A throwaway PostgreSQL server of the benchmark's own (scripts/pg-throwaway)
 * that keeps what it commits (fsync and synchronous_commit on), in a new
 * directory written into dir (room for 32 bytes); its URL into url. */
static inline void bench_pg_start(char *dir, char *url, size_t url_size) {
  char cmd[512];
  snprintf(dir, 32, "/tmp/agentrt-bench-pg-XXXXXX");
  if (!mkdtemp(dir)) die("mkdtemp", dir);
  snprintf(cmd, sizeof cmd,
           "'%s/scripts/pg-throwaway' start '%s' fsync=on synchronous_commit=on >/dev/null",
           AGENTRT_SOURCE_DIR, dir);
  if (system(cmd) != 0) die("PostgreSQL server", "did not start");
  snprintf(url, url_size, "postgresql://postgres@/postgres?host=%s", dir);
}

static inline void bench_pg_stop(const char *dir) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "'%s/scripts/pg-throwaway' stop '%s' >/dev/null", AGENTRT_SOURCE_DIR,
           dir);
  if (system(cmd) != 0) die("PostgreSQL server", "did not stop");
}

#endif
