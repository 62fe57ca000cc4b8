/* The clock: drivers read it and pass the time in; the core never does. */
#include <time.h>

#include "agentrt/common.h"

int64_t art_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
