/* The run queue: `agentrt submit` stores a run for later, `agentrt worker`
 * takes ready runs from the store and drives many at once (agentrt/worker.h). */
#include <uv.h>

#include "agentrt/worker.h"
#include "cli/cli.h"

/* How often the worker looks for a Ctrl-C or SIGTERM. */
#define SIGNAL_LOOK_MS 100

static const char submit_usage[] =
    "usage: agentrt submit SPEC.json [--run-id ID] [--queue NAME] [--store PATH] [--json]\n"
    "\n"
    "Check the spec as `agentrt run` does and keep it in the store as a queued run,\n"
    "without running it: a worker (agentrt worker) starts it.  Prints the run id\n"
    "(--json: {\"run_id\", \"status\"}).  A bad spec, or a run id the store has\n"
    "already, is exit 2 and stores nothing.\n"
    "\n"
    "  --run-id ID     the run's id (default: the spec's run_id, else a new one)\n"
    "  --queue NAME    the queue it waits in (default: default)\n"
    "  --store PATH    the SQLite store (created when missing) or a postgresql:// URL\n";

static const char worker_usage[] =
    "usage: agentrt worker [--queue NAME]... [--concurrency N] [--drain] [--lease AGE]\n"
    "                      [--poll AGE] [--max-procs N] [--store PATH] [--json]\n"
    "\n"
    "Take ready runs from the store and drive many at once on one event loop, each\n"
    "to its next stop, printing one line a run (--json: one JSON object a line:\n"
    "run_id, status, stop_reason).  Ready: queued (agentrt submit); approved, denied\n"
    "or answered since it paused; or interrupted, once its holder's lease has run\n"
    "out.  Paused runs are left paused.  Each run is held under a lease while it is\n"
    "driven: no two workers, on any machines, drive one run.\n"
    "\n"
    "  --queue NAME    take runs of this queue only (repeatable; default: every queue)\n"
    "  --concurrency N drive at most N runs at once (default 16)\n"
    "  --max-procs N   at most N child processes (command tools and models) at once\n"
    "  --drain         exit once no run is ready and none is in flight (default: wait);\n"
    "                  exit 2 if a run had to be given up on the way\n"
    "  --poll AGE      how often an idle worker looks for ready runs (default: 5s\n"
    "                  with PostgreSQL, which tells waiting workers at once when a\n"
    "                  run is submitted, decided or let go; 1s with SQLite)\n"
    "  --lease AGE     how long a lease lasts unless renewed (default 30s; e.g. 10s,\n"
    "                  2m): a worker that dies lets go of its run this long after,\n"
    "                  and another worker takes it over (a write tool call without a\n"
    "                  recorded result then stops the run blocked, outcome_unknown)\n"
    "  --store PATH    the SQLite store or a postgresql:// URL\n"
    "\n"
    "Ctrl-C or SIGTERM: no more runs are taken; each run in flight finishes the\n"
    "step it is in, is recorded ready and let go, and the worker exits 0.  A second\n"
    "signal ends it at once (its runs are taken over once their leases run out).\n";

/* ---- submit ------------------------------------------------------------------ */

static int submitted(const cli_opts *o, const char *run_id) {
  if (!o->json) return printf("%s\n", run_id) < 0 ? EXIT_USAGE : 0;
  json_t *j =
      json_pack("{s:s, s:s}", "run_id", run_id, "status", art_run_status_name(ART_RUN_QUEUED));
  int rc = cli_print_json(j);
  json_decref(j);
  return rc;
}

static int submit(const cli_opts *o, const art_spec *spec) {
  char generated[ART_RUN_ID_SIZE];
  art_run_id_generate(generated);
  const char *run_id = o->run_id               ? o->run_id
                       : art_spec_run_id(spec) ? art_spec_run_id(spec)
                                               : generated;
  art_store *store;
  art_error err = {0};
  int rc = cli_store_create(o, &store);
  if (rc != 0) return rc;
  rc = art_durable_submit(store, spec, run_id, o->queues[0], art_now_us(), &err);
  art_store_close(store);
  if (rc == ART_EEXIST) return cli_run_exists(run_id);
  return rc < 0 ? cli_store_error(&err) : submitted(o, run_id);
}

int cmd_submit(int argc, char **argv) {
  cli_opts o;
  int rc =
      cli_parse(argc, argv, OPT_STORE | OPT_QUEUE | OPT_RUN_ID | OPT_OUTBOX, 1, submit_usage, &o);
  if (rc != 0 || o.help) return rc;
  if (o.n_queues > 1) return cli_usage_error(submit_usage, "a run waits in one --queue");
  art_spec *spec;
  art_error err = {0};
  art_spec_options opts = {.outbox = o.outbox};
  if (art_spec_load(&spec, o.args[0], &opts, &err) < 0)
    return cli_error(EXIT_USAGE, cli_err_of(err.code), "%s", err.message);
  rc = submit(&o, spec);
  art_spec_free(spec);
  return rc;
}

/* ---- worker ------------------------------------------------------------------ */

typedef struct working {
  const cli_opts *o;
  /* A run of its own failed, or the store did: said at once, and the worker
   * went on; a draining worker's exit status says so too. */
  int failed;
  bool stopping;
  uv_timer_t signals;
  art_worker *worker;
} working;

/* What became of a run: one line (or one JSON object a line) for a run that
 * stopped or was let go; a message for one taken over or given up. */
static void worked(void *ud, const char *run_id, const art_run *run, int rc,
                   const art_error *err) {
  working *wk = ud;
  if (rc == ART_EFENCED) {
    fprintf(stderr, "agentrt worker: %s; another worker drives it now\n", err->message);
    return;
  }
  if (rc < 0) {
    wk->failed = cli_error(EXIT_USAGE, cli_err_of(rc), "%s%s", err->message,
                           run_id ? " (given up: it is taken again once its lease runs out)" : "");
    return;
  }
  art_run_status status = art_durable_status_of(run);
  art_stop_reason r = art_run_stop_reason(run);
  const char *stop = r == ART_STOP_NONE ? NULL : art_stop_reason_name(r);
  if (wk->o->json) {
    json_t *j = json_pack("{s:s, s:s, s:s?}", "run_id", run_id, "status",
                          art_run_status_name(status), "stop_reason", stop);
    cli_print_json(j);
    json_decref(j);
  } else {
    printf("%s %s %s\n", run_id, art_run_status_name(status), stop ? stop : "-");
  }
  fflush(stdout);
}

/* The first Ctrl-C or SIGTERM: take no more runs, let each go once its step
 * in flight has ended. */
static void watch_signals(uv_timer_t *t) {
  working *wk = t->data;
  if (!cli_signal_caught() || wk->stopping) return;
  wk->stopping = true;
  art_worker_stop(wk->worker);
}

static int work(working *wk, art_store *store, const art_worker_options *wo) {
  uv_loop_t uv;
  art_loop *loop;
  art_error err = {0};
  if (uv_loop_init(&uv) != 0) return cli_error(EXIT_USAGE, CLI_ERR_INTERNAL, "out of memory");
  art_loop_options lo = {.uv = &uv, .max_procs = wk->o->max_procs};
  int rc = art_loop_new(&loop, &lo, &err);
  if (rc == 0) {
    rc = art_worker_new(&wk->worker, loop, store, wo, &err);
    if (rc == 0) {
      uv_timer_init(&uv, &wk->signals);
      wk->signals.data = wk;
      uv_timer_start(&wk->signals, watch_signals, SIGNAL_LOOK_MS, SIGNAL_LOOK_MS);
      uv_unref((uv_handle_t *)&wk->signals); /* the worker keeps the loop going */
      if (art_loop_run(loop) < 0) rc = cli_error(EXIT_USAGE, CLI_ERR_INTERNAL, "loop failed");
      uv_close((uv_handle_t *)&wk->signals, NULL);
      art_worker_free(wk->worker);
    } else {
      rc = cli_store_error(&err);
    }
    art_loop_free(loop);
  } else {
    rc = cli_error(EXIT_USAGE, cli_err_of(err.code), "%s", err.message);
  }
  uv_run(&uv, UV_RUN_DEFAULT);
  uv_loop_close(&uv);
  return rc;
}

int cmd_worker(int argc, char **argv) {
  cli_opts o;
  int rc = cli_parse(argc, argv,
                     OPT_STORE | OPT_QUEUE | OPT_DRAIN | OPT_LEASE | OPT_POLL | OPT_CONCURRENCY |
                         OPT_MAX_PROCS,
                     0, worker_usage, &o);
  if (rc != 0 || o.help) return rc;
  int64_t ttl = o.lease ? cli_parse_age(o.lease) : cli_lease_ttl();
  if (ttl <= 0 && o.lease)
    return cli_error(EXIT_USAGE, CLI_ERR_USAGE,
                     "--lease needs a positive age such as 30s, 2m or 1h, not \"%s\"", o.lease);
  int64_t poll_us = o.poll ? cli_parse_age(o.poll) : 0;
  if (poll_us <= 0 && o.poll)
    return cli_error(EXIT_USAGE, CLI_ERR_USAGE,
                     "--poll needs a positive age such as 500ms, 5s or 1m, not \"%s\"", o.poll);
  if (o.json) cli_set_json_lines(true);
  art_store *store;
  if ((rc = cli_store_open(&o, &store)) != 0) return rc;
  working wk = {.o = &o};
  art_worker_options wo = {.queues = o.n_queues ? o.queues : NULL,
                           .concurrency = o.concurrency,
                           .lease_ttl_us = ttl,
                           .poll_ms = poll_us / 1000,
                           .drain = o.drain,
                           .store_url = o.store,
                           .on_run = worked,
                           .ud = &wk};
  cli_signals_catch();
  rc = work(&wk, store, &wo);
  art_store_close(store);
  return rc ? rc : o.drain ? wk.failed : 0;
}
