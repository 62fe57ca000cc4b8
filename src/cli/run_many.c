/* agentrt run A.json B.json ... [--jobs N] [--max-procs N]: the specs' runs on
 * one event loop, at most N at once (and at most --max-procs child processes), all journaled in one store through batched sinks (one
 * transaction for the events of many runs; durable where a single run is).
 * One result line each, in the order the specs were given, each printed as
 * soon as it and the ones before it have stopped. */
#include <signal.h>
#include <stdlib.h>
#include <uv.h>

#include "agentrt/loop.h"
#include "cli/cli.h"

#define DEFAULT_JOBS 16
/* How often the loop looks for a Ctrl-C and for cancels asked from other
 * processes (`agentrt cancel RUN`), and renews the runs' leases (each at most
 * every third of a lease). */
#define WATCH_MS 200

typedef struct many many;

typedef struct run_slot {
  many *m;
  cli_prepared p;
  int exit; /* the run's exit code once it has stopped */
  bool done;
} run_slot;

struct many {
  const cli_opts *o;
  art_store *store;
  art_spec **specs;
  run_slot *slots;
  size_t n, next, in_flight, printed;
  uv_loop_t uv;
  uv_timer_t watch;
  art_loop *loop;
};

/* {"spec", "run_id", "status", "stop_reason", "reason", "steps", "answer"}. */
static json_t *result_line(const run_slot *s, const char *spec_path) {
  json_t *r = art_run_result_json(s->p.run);
  json_t *line =
      r ? json_pack("{s:s, s:O, s:s, s:O, s:O, s:O, s:O}", "spec", spec_path, "run_id",
                    json_object_get(r, "run_id"), "status",
                    art_run_status_name(art_durable_status_of(s->p.run)), "stop_reason",
                    json_object_get(r, "stop_reason"), "reason", json_object_get(r, "reason"),
                    "steps", json_object_get(r, "steps"), "answer", json_object_get(r, "answer"))
        : NULL;
  json_decref(r);
  return line;
}

static int print_line(const run_slot *s, const char *spec_path) {
  json_t *line = result_line(s, spec_path);
  if (!line) return cli_error(EXIT_USAGE, CLI_ERR_INTERNAL, "out of memory");
  int rc = 0;
  if (s->m->o->json) {
    rc = cli_print_json(line);
  } else {
    const char *stop = json_string_value(json_object_get(line, "stop_reason"));
    long long steps = (long long)json_integer_value(json_object_get(line, "steps"));
    printf("%s  %s  %lld step%s  %s\n", json_string_value(json_object_get(line, "run_id")),
           stop ? stop : json_string_value(json_object_get(line, "status")), steps,
           steps == 1 ? "" : "s", spec_path);
  }
  json_decref(line);
  return rc;
}

/* The lines of the runs that have stopped, in order, up to the first that
 * has not. */
static void print_ready(many *m) {
  for (; m->printed < m->n && m->slots[m->printed].done; m->printed++) {
    run_slot *s = &m->slots[m->printed];
    if (s->p.run && s->exit != EXIT_USAGE) {
      int rc = print_line(s, m->o->args[m->printed]);
      if (rc) s->exit = rc;
    }
    fflush(stdout);
  }
}

static void start_next(many *m);

static void finish(run_slot *s, int rc) {
  many *m = s->m;
  rc = cli_prepared_close(&s->p, m->o, rc);
  s->exit = rc ? rc : cli_exit_code(art_run_stop_reason(s->p.run));
  s->done = true;
  print_ready(m);
  start_next(m);
}

static void stopped(void *ud, art_run *run, int rc) {
  run_slot *s = ud;
  s->m->in_flight--;
  if (rc == ART_EINTR) {
    s->done = true; /* let go at a signal: recorded ready, said once by cli_run_many */
    cli_prepared_close(&s->p, s->m->o, 0);
    return;
  }
  if (rc < 0) rc = cli_drive_failed(run, rc, NULL, NULL);
  finish(s, rc);
}

static void start(many *m, run_slot *s, art_spec *spec) {
  int rc = cli_run_prepare(spec, m->o, m->store, true, &s->p);
  if (rc == 0 && art_run_stop_reason(s->p.run) == ART_STOP_NONE) {
    if (art_loop_add(m->loop, s->p.run, s->p.model, stopped, s) == 0) {
      m->in_flight++;
      return;
    }
    rc = cli_error(EXIT_USAGE, CLI_ERR_INTERNAL, "out of memory");
  }
  finish(s, rc);
}

static void start_next(many *m) {
  size_t jobs = m->o->jobs ? m->o->jobs : DEFAULT_JOBS;
  while (!cli_signal_caught() && m->next < m->n && m->in_flight < jobs) {
    size_t i = m->next++;
    start(m, &m->slots[i], m->specs[i]);
  }
}

/* A run in flight: its lease renewed (the heartbeat; one taken over is
 * stopped, and its writes are refused), and a cancel asked from elsewhere
 * seen. */
static void watch_one(many *m, run_slot *s, int64_t now) {
  char *reason = NULL;
  art_error err = {0};
  if (art_lease_renew(&s->p.lease, now, &err) == ART_EFENCED)
    art_loop_cancel(m->loop, s->p.run, err.message);
  else if (m->store->vt->cancel_requested(m->store, art_run_id(s->p.run), &reason, &err) == 0 &&
           reason)
    art_loop_cancel(m->loop, s->p.run, reason);
  free(reason);
}

/* A Ctrl-C lets go of every run; each run in flight is watched. */
static void watch(uv_timer_t *t) {
  many *m = t->data;
  if (cli_signal_caught()) {
    art_loop_stop(m->loop);
    return;
  }
  int64_t now = art_now_us();
  for (size_t i = 0; i < m->next; i++)
    if (!m->slots[i].done && m->slots[i].p.run && m->slots[i].p.lease.run_id)
      watch_one(m, &m->slots[i], now);
}

/* Every spec is read before anything runs: a mistake in one runs none. */
static int load_specs(many *m) {
  art_spec_options opts = {.outbox = m->o->outbox};
  for (size_t i = 0; i < m->n; i++) {
    art_error err = {0};
    if (art_spec_load(&m->specs[i], m->o->args[i], &opts, &err) < 0)
      return cli_error(EXIT_USAGE, cli_err_of(err.code), "%s", err.message);
  }
  return 0;
}

static int drive_all(many *m) {
  art_error err = {0};
  art_loop_options lo = {.uv = &m->uv, .max_procs = m->o->max_procs};
  if (uv_loop_init(&m->uv) != 0) return cli_error(EXIT_USAGE, CLI_ERR_INTERNAL, "out of memory");
  int rc = art_loop_new(&m->loop, &lo, &err);
  if (rc == 0) {
    cli_signals_catch();
    uv_timer_init(&m->uv, &m->watch);
    m->watch.data = m;
    uv_timer_start(&m->watch, watch, WATCH_MS, WATCH_MS);
    uv_unref((uv_handle_t *)&m->watch); /* the runs keep the loop going, not the watch */
    start_next(m);
    if (art_loop_run(m->loop) < 0) rc = cli_error(EXIT_USAGE, CLI_ERR_INTERNAL, "loop failed");
    art_loop_free(m->loop); /* runs still in flight (a signal) are let go */
    uv_close((uv_handle_t *)&m->watch, NULL);
  } else {
    rc = cli_error(EXIT_USAGE, cli_err_of(err.code), "%s", err.message);
  }
  uv_run(&m->uv, UV_RUN_DEFAULT);
  uv_loop_close(&m->uv);
  return rc;
}

/* Bad usage or a failure first; then a signal; then a run stopped without
 * success; then a paused run; else 0. */
static int overall(const many *m, int rc) {
  static const int order[] = {EXIT_USAGE, EXIT_STOPPED, EXIT_PAUSED};
  if (rc) return rc;
  int sig = cli_signal_caught();
  if (sig)
    return cli_error(128 + sig, CLI_ERR_INTERRUPTED,
                     "%s: the runs in flight were let go and are ready to resume; %zu of %zu "
                     "were not started",
                     sig == SIGTERM ? "SIGTERM" : "interrupted (SIGINT)", m->n - m->next, m->n);
  for (size_t k = 0; k < sizeof order / sizeof *order; k++)
    for (size_t i = 0; i < m->n; i++)
      if (m->slots[i].exit == order[k]) return order[k];
  return 0;
}

int cli_run_many(const cli_opts *o) {
  many m = {.o = o, .n = (size_t)o->n_args};
  cli_set_json_lines(true);
  m.specs = calloc(m.n, sizeof *m.specs);
  m.slots = calloc(m.n, sizeof *m.slots);
  int rc = m.specs && m.slots ? 0 : cli_error(EXIT_USAGE, CLI_ERR_INTERNAL, "out of memory");
  for (size_t i = 0; m.slots && i < m.n; i++) m.slots[i].m = &m;
  if (rc == 0) rc = load_specs(&m);
  if (rc == 0) rc = cli_store_create(o, &m.store);
  if (rc == 0) rc = drive_all(&m);
  rc = overall(&m, rc);
  for (size_t i = 0; i < m.n; i++) {
    if (m.slots) cli_prepared_dispose(&m.slots[i].p);
    if (m.specs) art_spec_free(m.specs[i]);
  }
  art_store_close(m.store);
  free(m.specs);
  free(m.slots);
  return rc;
}
