/* The run queue: `agentrt submit` stores a run for later, `agentrt worker`
 * takes ready runs from the store and drives them (agentrt/durable.h:
 * art_lease_ready, art_durable_open, art_durable_continue). */
#include <time.h>

#include "cli/cli.h"

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
    "usage: agentrt worker [--queue NAME]... [--drain] [--lease AGE] [--poll AGE]\n"
    "                      [--store PATH] [--json]\n"
    "\n"
    "Take ready runs from the store, one at a time, and drive each to its next\n"
    "stop, printing one line a run (--json: one JSON object a line: run_id, status,\n"
    "stop_reason).  Ready: queued (agentrt submit); approved, denied or answered\n"
    "since it paused; or interrupted, once its holder's lease has run out.  Paused\n"
    "runs are left paused.  Each run is held under a lease while it is driven: no\n"
    "two workers, on any machines, drive one run.\n"
    "\n"
    "  --queue NAME    take runs of this queue only (repeatable; default: every queue)\n"
    "  --drain         exit once no run is ready (default: wait for one)\n"
    "  --poll AGE      how often an idle worker looks for ready runs (default: 5s\n"
    "                  with PostgreSQL, which tells waiting workers at once when a\n"
    "                  run is submitted, decided or let go; 1s with SQLite)\n"
    "  --lease AGE     how long a lease lasts unless renewed (default 60s; e.g. 30s,\n"
    "                  2m): a worker that dies lets go of its run this long after,\n"
    "                  and another worker takes it over (a write tool call without a\n"
    "                  recorded result then stops the run blocked, outcome_unknown)\n"
    "  --store PATH    the SQLite store or a postgresql:// URL\n"
    "\n"
    "Ctrl-C or SIGTERM stops the call in flight, leaves the run ready and exits 0.\n";

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

/* What became of a run: one line, or one JSON object a line. */
static int worked(const cli_opts *o, const art_run *run) {
  art_run_status status = art_durable_status_of(run);
  art_stop_reason r = art_run_stop_reason(run);
  const char *stop = r == ART_STOP_NONE ? NULL : art_stop_reason_name(r);
  if (!o->json)
    return printf("%s %s %s\n", art_run_id(run), art_run_status_name(status), stop ? stop : "-") < 0
               ? EXIT_USAGE
               : 0;
  json_t *j = json_pack("{s:s, s:s, s:s?}", "run_id", art_run_id(run), "status",
                        art_run_status_name(status), "stop_reason", stop);
  int rc = cli_print_json(j);
  json_decref(j);
  return rc;
}

/* Drive the run *lease holds to its next stop, record where it stands and
 * let go of it.  A run taken over meanwhile is dropped (another worker
 * drives it); a signal leaves it ready.  A run that cannot be rebuilt (its
 * stored spec no longer parses, say) is said and kept until its lease runs
 * out: were it let go, every worker would take it again at once. */
static int drive_leased(const cli_opts *o, art_store *store, art_lease *lease) {
  art_durable d;
  art_error err = {0}, ignored = {0};
  int rc = cli_rebuild(store, o->store, lease->run_id, lease, &d);
  if (rc != 0) {
    art_lease_abandon(lease);
    return rc;
  }
  rc = art_durable_continue(&d, lease, cli_signal_hooks(), &err);
  if (rc == ART_EFENCED) {
    fprintf(stderr, "agentrt worker: %s\n", err.message);
    art_lease_release(lease, &ignored);
    rc = 0;
  } else {
    int kept = cli_record_status(lease, d.run);
    if (rc == ART_EINTR) /* left ready; the loop sees the signal */
      rc = kept;
    else if (rc < 0)
      rc = cli_drive_failed(d.run, rc, &err, NULL);
    else
      rc = kept ? kept : worked(o, d.run);
  }
  art_durable_dispose(&d);
  return rc;
}

/* Until the store says a run may be ready, or poll_ms pass (a store that
 * says nothing: poll_ms, or less when a signal comes). */
static int wait_for_ready(art_store *store, int64_t poll_ms) {
  art_error err = {0};
  if (store->vt->wait_ready)
    return store->vt->wait_ready(store, (int)poll_ms, &err) < 0 ? cli_store_error(&err) : 0;
  struct timespec nap = {poll_ms / 1000, (long)(poll_ms % 1000) * 1000000};
  nanosleep(&nap, NULL);
  return 0;
}

static int work(const cli_opts *o, int64_t ttl_us, int64_t poll_ms) {
  art_store *store;
  char owner[ART_HOLDER_SIZE];
  art_holder_name(owner, sizeof owner, "worker");
  int rc = cli_store_open(o, &store);
  const char *const *queues = o->n_queues ? o->queues : NULL;
  int failed = 0; /* a run of its own failed: said, and the worker goes on with the others */
  cli_signals_catch();
  while (rc == 0 && !cli_signal_caught()) {
    art_lease lease;
    art_error err = {0};
    int ran = 0;
    if (art_lease_ready(&lease, store, queues, owner, art_now_us(), ttl_us, &err) < 0)
      rc = cli_store_error(&err);
    else if (lease.run_id)
      ran = drive_leased(o, store, &lease);
    else if (o->drain)
      break;
    else
      rc = wait_for_ready(store, poll_ms ? poll_ms : store->vt->wait_ready ? 5000 : 1000);
    if (ran != 0) failed = ran;
  }
  art_store_close(store);
  return rc ? rc : failed;
}

int cmd_worker(int argc, char **argv) {
  cli_opts o;
  int rc = cli_parse(argc, argv, OPT_STORE | OPT_QUEUE | OPT_DRAIN | OPT_LEASE | OPT_POLL, 0,
                     worker_usage, &o);
  if (rc != 0 || o.help) return rc;
  int64_t ttl = o.lease ? cli_parse_age(o.lease) : cli_lease_ttl();
  if (ttl <= 0 && o.lease)
    return cli_error(EXIT_USAGE, CLI_ERR_USAGE,
                     "--lease needs a positive age such as 30s, 2m or 1h, not \"%s\"", o.lease);
  int64_t poll_us = o.poll ? cli_parse_age(o.poll) : 0;
  if (poll_us <= 0 && o.poll)
    return cli_error(EXIT_USAGE, CLI_ERR_USAGE,
                     "--poll needs a positive age such as 5s, 30s or 1m, not \"%s\"", o.poll);
  if (o.json) cli_set_json_lines(true);
  return work(&o, ttl, poll_us / 1000);
}
