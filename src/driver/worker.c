/* A worker (worker.h): ready runs leased from a store and driven on an
 * event loop, many at once.
 *
 * One repeating timer (the tick) renews the leases of the runs in flight,
 * sees cancels asked from other processes, and looks for ready runs when the
 * poll is due.  A look also comes on the next turn after a run stops (its
 * place is free) and when the listener hears that a run was made ready.  The
 * listener is a thread with a second store handle blocked in wait_ready: the
 * worker's own store handle is used on the loop's thread only.
 *
 * The store is asked on the loop's thread, between turns: a look, a lease
 * renewal or a journal commit holds up the runs on the loop for as long as
 * the store takes (a round trip to PostgreSQL, a SQLite commit). */
#include "agentrt/worker.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <uv.h>

#define DEFAULT_CONCURRENCY 16
/* How often leases are renewed (each at most every third of a lease) and
 * cancels looked for. */
#define TICK_MS 200
/* How long the listener waits at a time: how soon it sees it must stop. */
#define LISTEN_MS 250

typedef struct wrun wrun;

struct wrun {
  art_worker *w;
  wrun *prev, *next;
  art_lease lease;
  art_durable d;
  bool fenced; /* a renewal found the run taken over: what it writes now is refused */
};

struct art_worker {
  art_loop *loop;
  art_store *store; /* borrowed */
  art_worker_options o;
  char owner[ART_HOLDER_SIZE];
  wrun *runs;
  size_t n_runs;
  int64_t next_look_us; /* when the poll is due */
  uv_timer_t tick;
  uv_idle_t look_soon;
  uv_async_t told; /* the listener heard of a run made ready */
  unsigned open_handles;
  art_store *listener; /* NULL: the worker polls */
  uv_thread_t listener_thread;
  atomic_bool listener_stop;
  bool stopping; /* art_worker_stop: no more runs are taken */
  bool done;     /* its handles are closed or closing */
  bool freeing;  /* art_worker_free was called: the last run frees it */
};

static void report(art_worker *w, const char *run_id, const art_run *run, int rc,
                   const art_error *err) {
  if (w->o.on_run) w->o.on_run(w->o.ud, run_id, run, rc, err);
}

static const char *store_name(const art_worker *w) {
  return w->o.store_url ? w->o.store_url : "the store";
}

/* ---- ending ---------------------------------------------------------------------- */

static void maybe_free(art_worker *w) {
  if (w->freeing && w->open_handles == 0 && w->n_runs == 0) free(w);
}

static void handle_closed(uv_handle_t *h) {
  art_worker *w = h->data;
  w->open_handles--;
  maybe_free(w);
}

static void stop_listener(art_worker *w) {
  if (!w->listener) return;
  atomic_store(&w->listener_stop, true);
  uv_thread_join(&w->listener_thread);
  art_store_close(w->listener);
  w->listener = NULL;
}

/* Nothing more to look for: the handles close, and the loop may return. */
static void close_handles(art_worker *w) {
  if (w->done) return;
  w->done = true;
  stop_listener(w);
  uv_close((uv_handle_t *)&w->tick, handle_closed);
  uv_close((uv_handle_t *)&w->look_soon, handle_closed);
  uv_close((uv_handle_t *)&w->told, handle_closed);
}

static void look_soon(uv_idle_t *idle);

/* A place was freed (or more runs may be ready): look on the next turn; a
 * stopping worker whose last run has gone is done. */
static void after_run(art_worker *w) {
  if (w->stopping && w->n_runs == 0) close_handles(w);
  if (!w->done) uv_idle_start(&w->look_soon, look_soon);
  maybe_free(w);
}

/* ---- a run ----------------------------------------------------------------------- */

static void link_run(wrun *r) {
  art_worker *w = r->w;
  r->next = w->runs;
  if (w->runs) w->runs->prev = r;
  w->runs = r;
  w->n_runs++;
}

static void unlink_run(wrun *r) {
  art_worker *w = r->w;
  if (r->prev) r->prev->next = r->next;
  if (r->next) r->next->prev = r->prev;
  if (w->runs == r) w->runs = r->next;
  w->n_runs--;
}

/* Told, and forgotten.  A lease not released here stays held until it runs
 * out: a run taken over is another holder's, and a run given up is then
 * replayed from what the store committed. */
static void run_done(wrun *r, const char *run_id, int rc, const art_error *err) {
  report(r->w, run_id, r->d.run, rc, err);
  art_lease_abandon(&r->lease);
  art_durable_dispose(&r->d);
  free(r);
}

/* The run stopped or was let go: its status into its record, its lease let
 * go. */
static int settle_run(wrun *r, art_error *err) {
  int rc = art_run_owes_sync(r->d.run) ? art_run_sync(r->d.run) : 0;
  if (rc < 0)
    return art_error_set(err, rc, "run %s: %s", r->lease.run_id, art_run_errmsg(r->d.run));
  return art_durable_settle(&r->lease, r->d.run, err);
}

static void run_stopped(void *ud, art_run *run, int rc) {
  wrun *r = ud;
  art_worker *w = r->w;
  art_error err = {0};
  unlink_run(r);
  if (r->fenced || rc == ART_EFENCED)
    rc = art_error_set(&err, ART_EFENCED, "run %s was taken over by another holder",
                       r->lease.run_id);
  else if (rc == 0 || rc == ART_EINTR)
    rc = settle_run(r, &err);
  else
    art_error_set(&err, rc, "run %s failed: %s", art_run_id(run), art_run_errmsg(run));
  run_done(r, art_run_id(run), rc, &err);
  after_run(w);
}

/* Open the leased run, settle what its last driver left, and put it on the
 * loop; a run that stops before it is driven (it was settled blocked, its
 * tools failed) is recorded and let go at once. */
static void start_run(art_worker *w, const art_lease *lease) {
  art_error err = {0};
  wrun *r = calloc(1, sizeof *r);
  if (!r) {
    art_lease held = *lease;
    report(w, lease->run_id, NULL, art_error_set(&err, ART_ENOMEM, "out of memory"), &err);
    art_lease_abandon(&held);
    return;
  }
  *r = (wrun){.w = w, .lease = *lease};
  bool drive = false;
  int rc = art_durable_open(&r->d, w->store, r->lease.run_id, &r->lease, store_name(w), true, &err);
  if (rc == 0) rc = art_durable_begin(&r->d, &r->lease, &drive, &err);
  if (rc == 0 && drive) {
    if (art_loop_add(w->loop, r->d.run, r->d.model, run_stopped, r) == 0) {
      link_run(r);
      return;
    }
    rc = art_error_set(&err, ART_ENOMEM, "out of memory");
  }
  if (rc == 0) rc = settle_run(r, &err);
  run_done(r, r->d.run ? art_run_id(r->d.run) : r->lease.run_id, rc, &err);
  after_run(w);
}

/* ---- looking for runs ------------------------------------------------------------ */

/* Lease as many ready runs as there are places, and start them. */
static void look(art_worker *w) {
  if (w->done || w->stopping) return;
  int64_t now = art_now_us();
  w->next_look_us = now + w->o.poll_ms * 1000;
  size_t places = w->o.concurrency - w->n_runs;
  if (places == 0) return;
  art_error err = {0};
  art_lease *leases = calloc(places, sizeof *leases);
  size_t n = 0;
  int rc = leases ? art_lease_ready(leases, places, &n, w->store, w->o.queues, w->owner, now,
                                    w->o.lease_ttl_us, &err)
                  : art_error_set(&err, ART_ENOMEM, "out of memory");
  for (size_t i = 0; i < n; i++) start_run(w, &leases[i]);
  free(leases);
  if (rc < 0) report(w, NULL, NULL, rc, &err); /* the next look tries again */
  if (w->o.drain && w->n_runs == 0 && (rc < 0 || n == 0)) close_handles(w);
}

static void look_soon(uv_idle_t *idle) {
  uv_idle_stop(idle);
  look(idle->data);
}

static void told(uv_async_t *async) { look(async->data); }

void art_worker_poke(art_worker *w) {
  if (!w->done && !w->stopping) uv_idle_start(&w->look_soon, look_soon);
}

/* A run in flight: its lease renewed (one found taken over is cancelled:
 * its holder is another, and its writes are refused), and a cancel asked
 * from elsewhere seen. */
static void watch(art_worker *w, wrun *r, int64_t now) {
  char *reason = NULL;
  art_error err = {0};
  if (r->fenced) return;
  if (art_lease_renew(&r->lease, now, &err) == ART_EFENCED) {
    r->fenced = true;
    art_loop_cancel(w->loop, r->d.run, err.message);
  } else if (w->store->vt->cancel_requested(w->store, r->lease.run_id, &reason, &err) == 0 &&
             reason) {
    art_loop_cancel(w->loop, r->d.run, reason);
  }
  free(reason);
}

static void ticked(uv_timer_t *t) {
  art_worker *w = t->data;
  int64_t now = art_now_us();
  for (wrun *r = w->runs, *next; r; r = next) {
    next = r->next; /* a cancel may stop r at once */
    watch(w, r, now);
  }
  if (now >= w->next_look_us) look(w);
}

/* ---- the listener ---------------------------------------------------------------- */

static void nap_ms(int ms) {
  struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000};
  nanosleep(&t, NULL);
}

static void listen_for_ready(void *arg) {
  art_worker *w = arg;
  while (!atomic_load(&w->listener_stop)) {
    art_error err = {0};
    int rc = w->listener->vt->wait_ready(w->listener, LISTEN_MS, &err);
    if (rc == 1)
      uv_async_send(&w->told);
    else if (rc < 0)
      nap_ms(LISTEN_MS); /* the store is away: the handle reconnects at its next use */
  }
}

/* A second handle on the store, listening from now on (wait_ready's first
 * call), so that nothing made ready after the worker's first look is
 * missed. */
static int open_listener(art_worker *w, art_error *err) {
  int rc = art_store_open_url(&w->listener, w->o.store_url, err);
  if (rc == 0 && w->listener->vt->wait_ready)
    rc = w->listener->vt->wait_ready(w->listener, 0, err) < 0 ? err->code : 0;
  if (rc < 0 || !w->listener->vt->wait_ready) {
    art_store_close(w->listener);
    w->listener = NULL;
  }
  return rc;
}

/* ---- the worker ------------------------------------------------------------------ */

int art_worker_new(art_worker **out, art_loop *loop, art_store *store,
                   const art_worker_options *opts, art_error *err) {
  art_worker *w = calloc(1, sizeof *w);
  if (!w) return art_error_set(err, ART_ENOMEM, "out of memory");
  *w = (art_worker){.loop = loop, .store = store, .o = opts ? *opts : (art_worker_options){0}};
  if (!w->o.concurrency) w->o.concurrency = DEFAULT_CONCURRENCY;
  art_holder_name(w->owner, sizeof w->owner, w->o.name ? w->o.name : "worker");
  atomic_init(&w->listener_stop, false);
  int rc = w->o.store_url && store->vt->wait_ready ? open_listener(w, err) : 0;
  if (rc < 0) {
    free(w);
    return rc;
  }
  uv_loop_t *uv = art_loop_uv(loop);
  uv_timer_init(uv, &w->tick);
  uv_idle_init(uv, &w->look_soon);
  uv_async_init(uv, &w->told, told);
  w->tick.data = w->look_soon.data = w->told.data = w;
  w->open_handles = 3;
  uv_timer_start(&w->tick, ticked, TICK_MS, TICK_MS);
  uv_idle_start(&w->look_soon, look_soon);
  if (w->listener && uv_thread_create(&w->listener_thread, listen_for_ready, w) != 0) {
    art_store_close(w->listener); /* it polls instead */
    w->listener = NULL;
  }
  if (!w->o.poll_ms) w->o.poll_ms = w->listener ? 5000 : 1000;
  *out = w;
  return 0;
}

void art_worker_stop(art_worker *w) {
  if (w->stopping) return;
  w->stopping = true;
  for (wrun *r = w->runs; r; r = r->next) art_loop_let_go(w->loop, r->d.run);
  if (w->n_runs == 0) close_handles(w);
}

bool art_worker_done(const art_worker *w) { return w->done && w->n_runs == 0; }

size_t art_worker_runs(const art_worker *w) { return w->n_runs; }

void art_worker_free(art_worker *w) {
  if (!w) return;
  w->stopping = w->freeing = true;
  close_handles(w);
  maybe_free(w);
}
