/* agentrt common definitions: error codes, the error record, the allocator.
 *
 * Every fallible function returns 0 (or a non-negative count) on success and a
 * negative ART_E* code on failure.  Functions without a handle to hang a message
 * on fill an art_error the caller provides; handles keep their own message
 * (art_run_errmsg).  Nothing in the library prints, exits or aborts. */
#ifndef AGENTRT_COMMON_H
#define AGENTRT_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
  ART_OK = 0,
  ART_ENOMEM = -1,    /* an allocation failed */
  ART_EINVAL = -2,    /* bad argument or bad input data */
  ART_ESPEC = -3,     /* the agent spec or suite file is wrong */
  ART_ESTATE = -4,    /* the call does not fit the run's current state */
  ART_EIO = -5,       /* reading or writing a file, pipe or process failed */
  ART_ENOTFOUND = -6, /* a named thing does not exist */
  ART_EINTR = -7,     /* a driver let go of a run it was asked to: the run is not
                         stopped, and goes on when driven again */
  ART_EFENCED = -8,   /* a store refused a write from a holder whose lease on the run
                         was taken over (its generation is no longer the run's): the
                         holder must stop driving the run */
  ART_EEXIST = -9,    /* a thing to be made exists already (a run id in a store) */
  ART_EBUSY = -10     /* a store is locked by another process for longer than the
                         handle waits: try again later */
};

#define ART_ERRMSG_SIZE 512

typedef struct art_error {
  int code;
  char message[ART_ERRMSG_SIZE];
} art_error;

/* Set err (when not NULL) to code and a printf-style message; returns code. */
int art_error_set(art_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Name of an ART_E* code, e.g. "ART_ENOMEM". */
const char *art_strerror(int code);

/* Allocation hooks.  Every allocation the library makes itself goes through the
 * allocator of the handle it belongs to, so a caller can count, pool or fail
 * allocations.  NULL wherever an allocator is accepted means malloc/realloc/free. */
typedef struct art_allocator {
  void *(*alloc)(void *ud, size_t size);
  void *(*resize)(void *ud, void *ptr, size_t size);
  void (*release)(void *ud, void *ptr);
  void *ud;
} art_allocator;

const art_allocator *art_default_allocator(void);

/* Wall-clock time in microseconds since the Unix epoch.  The core never calls
 * it: drivers read the clock and pass the time in. */
int64_t art_now_us(void);

#ifdef __cplusplus
}
#endif
#endif
