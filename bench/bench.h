/* What every benchmark needs: a monotonic clock in seconds, and a way out
 * when the work it measures did not happen as it should. */
#ifndef AGENTRT_BENCH_H
#define AGENTRT_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void die(const char *what, const char *why) {
  fprintf(stderr, "bench: %s: %s\n", what, why);
  exit(1);
}

#endif
