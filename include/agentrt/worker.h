/* A worker: takes ready runs from a store and drives many of them at once on
 * an event loop (loop.h), each under a lease (durable.h).  `agentrt worker`
 * is one; `agentrt serve` embeds one in its own loop.
 *
 * Ready runs are queued ones (art_durable_submit), ones a person decided since
 * they paused, and ones whose holder's lease ran out (it died or was cut off:
 * the run is replayed and continued, under the outcome-unknown rule).  While
 * a run is driven its lease is renewed and a cancel asked from another
 * process is seen; a run found taken over is dropped at once.  When a run
 * stops (paused, finished, cancelled) its status is recorded and its lease
 * let go.  A run the worker cannot go on with (its spec no longer rebuilds,
 * the store failed under it) is given up: its lease runs out, and then it is
 * replayed from what the store committed, by this worker or another.
 *
 *   uv_loop_t uv;  art_loop *loop;  art_worker *w;
 *   uv_loop_init(&uv);
 *   art_loop_new(&loop, &(art_loop_options){.uv = &uv}, &err);
 *   art_worker_new(&w, loop, store, &(art_worker_options){.drain = true}, &err);
 *   art_loop_run(loop);   (returns once the worker is done: drained, or stopped)
 *   art_worker_free(w);  art_loop_free(loop);  ...
 *
 * Everything runs on the loop's thread; the store is borrowed and used only
 * there (a store that announces ready runs is listened to on a second handle,
 * in a thread of the worker's own). */
#ifndef AGENTRT_WORKER_H
#define AGENTRT_WORKER_H

#include <stdbool.h>
#include "agentrt/durable.h"
#include "agentrt/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct art_worker art_worker;

/* Told on the loop's thread each time the worker is done with a run, before
 * it lets go of the run: rc 0: it stopped where art_durable_status_of(run)
 * says (or waits, ready, after art_worker_stop: status ready); ART_EFENCED:
 * another holder took it over; another negative code: the worker gave it up
 * (err says why).  `run` is NULL when the run could not even be opened. */
typedef void (*art_worker_run_fn)(void *ud, const char *run_id, const art_run *run, int rc,
                                  const art_error *err);

typedef struct art_worker_options {
  const char *const *queues; /* NULL-terminated; NULL: every queue */
  const char *name;          /* the holder's name after host:pid (NULL: "worker") */
  unsigned concurrency;      /* runs driven at once; 0: 16 */
  int64_t lease_ttl_us;      /* 0: ART_LEASE_TTL_US */
  /* How often an idle worker looks for ready runs: 0: 5 s when the store
   * announces ready runs (listen_url), 1 s when it does not. */
  int64_t poll_ms;
  bool drain; /* done once no run is ready and none is in flight */
  /* The store's URL (art_store_open_url), for a second handle that listens
   * for runs made ready (PostgreSQL: at once, not at the next poll); NULL:
   * the worker polls.  Also the store's name in messages. */
  const char *store_url;
  art_worker_run_fn on_run; /* may be NULL */
  void *ud;
} art_worker_options;

/* A worker on `loop` (made with options.uv set: the worker's own timers go on
 * that libuv loop) taking runs from `store`; it starts looking on the loop's
 * next turn. */
int art_worker_new(art_worker **out, art_loop *loop, art_store *store,
                   const art_worker_options *opts, art_error *err);

/* Take no more runs; let each run in flight go at its next step boundary
 * (the call or decision in flight finishes and is recorded), recorded ready
 * and released.  The worker is done once the last has gone. */
void art_worker_stop(art_worker *w);

/* Look for ready runs on the loop's next turn, not at the next poll: for
 * whoever made a run ready on this loop (a service that queued one, or
 * recorded a decision that lets one go on).  Called on the loop's thread. */
void art_worker_poke(art_worker *w);

/* Done: drained (options.drain) or stopped, with no run in flight; its
 * handles are closed then, and art_loop_run returns. */
bool art_worker_done(const art_worker *w);

/* Runs in flight now. */
size_t art_worker_runs(const art_worker *w);

/* Frees the worker once it is done.  Called with runs in flight (a hard
 * stop), it closes its handles and takes no more runs; art_loop_free, which
 * must follow, then lets each go (recorded ready and released; on_run told
 * ART_EINTR, so its ud must live until then), and the last frees what is
 * left of the worker. */
void art_worker_free(art_worker *w);

#ifdef __cplusplus
}
#endif
#endif
