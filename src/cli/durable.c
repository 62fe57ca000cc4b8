/* Durable runs from the command line: the store, a run's record and lease, and
 * rebuilding a run from its journal in a later process. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentrt/store.h"
#include "cli/cli.h"

/* A lease outlives no process by long: a crashed holder's run is free again. */
#define LEASE_US (60LL * 1000000)

/* Only `run` makes a SQLite file: a typo in --store is not a new store.  A
 * PostgreSQL database must exist; its schema is made on first use. */
static int open_store(const cli_opts *o, bool create, art_store **out) {
  art_error err = {0};
  art_sqlite_options must_exist = {.must_exist = true};
  int rc = create || art_store_url_is_postgres(o->store)
               ? art_store_open_url(out, o->store, &err)
               : art_store_open_sqlite(out, o->store, &must_exist, &err);
  return rc == 0 ? 0 : cli_error(EXIT_USAGE, CLI_ERR_STORE, "%s", err.message);
}

int cli_store_open(const cli_opts *o, art_store **out) { return open_store(o, false, out); }
int cli_store_create(const cli_opts *o, art_store **out) { return open_store(o, true, out); }

static void owner_name(char *buf, size_t size) {
  char host[64] = "?";
  gethostname(host, sizeof host - 1);
  snprintf(buf, size, "%s:%ld", host, (long)getpid());
}

/* Whether `owner` ("host:pid") is a process on this host that has died: its
 * lease need not run out before another process takes the run. */
static bool holder_died(const char *owner) {
  char host[64] = "?";
  gethostname(host, sizeof host - 1);
  size_t n = strlen(host);
  if (!owner || strncmp(owner, host, n) != 0 || owner[n] != ':') return false;
  long pid = strtol(owner + n + 1, NULL, 10);
  return pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

/* Take over a dead holder's lease: claim as of when it runs out, then renew. */
static int take_over(art_store *store, const char *run_id, const char *owner, art_error *err) {
  art_run_record rec;
  if (store->vt->get_run(store, run_id, &rec, err) < 0) return err->code;
  int rc = holder_died(rec.lease_owner)
               ? store->vt->claim(store, run_id, owner, rec.lease_until_us, LEASE_US, err)
               : ART_ESTATE;
  art_run_record_dispose(&rec);
  if (rc == 0) rc = store->vt->claim(store, run_id, owner, art_now_us(), LEASE_US, err);
  return rc;
}

int cli_try_claim(art_store *store, const char *run_id, art_error *err) {
  char owner[128];
  owner_name(owner, sizeof owner);
  int rc = store->vt->claim(store, run_id, owner, art_now_us(), LEASE_US, err);
  return rc == ART_ESTATE ? take_over(store, run_id, owner, err) : rc;
}

int cli_claim(art_store *store, const char *run_id) {
  art_error err = {0};
  if (cli_try_claim(store, run_id, &err) == 0) return 0;
  if (err.code == ART_ESTATE)
    return cli_error(EXIT_USAGE, CLI_ERR_STATE,
                     "run %s is being driven by another process; try again when it stops", run_id);
  return cli_store_error(&err);
}

void cli_release(art_store *store, const char *run_id) {
  char owner[128];
  art_error err = {0};
  owner_name(owner, sizeof owner);
  store->vt->release(store, run_id, owner, &err);
}

/* A new run's record, held by this process from the start, and its journal
 * sink. */
int cli_persist_new(art_store *store, const art_spec *spec, art_run *run, bool batched) {
  art_error err = {0};
  char owner[128];
  owner_name(owner, sizeof owner);
  json_t *stored;
  if (art_spec_stored_json(spec, &stored, &err) < 0)
    return cli_error(EXIT_USAGE, cli_err_of(err.code), "%s", err.message);
  char *spec_json = json_dumps(stored, JSON_COMPACT);
  json_decref(stored);
  int64_t now = art_now_us();
  art_run_record rec = {.run_id = (char *)art_run_id(run),
                        .status = ART_RUN_RUNNING,
                        .spec_json = spec_json,
                        .spec_dir = (char *)art_spec_base_dir(spec),
                        .created_us = now,
                        .lease_owner = owner,
                        .lease_until_us = now + LEASE_US};
  int rc = spec_json ? store->vt->create_run(store, &rec, &err)
                     : art_error_set(&err, ART_ENOMEM, "out of memory");
  free(spec_json);
  if (rc == ART_EINVAL)
    art_error_set(&err, rc,
                  "run %s is in %s already (give the spec another run_id, or leave it out)",
                  art_run_id(run), "the store");
  if (rc == ART_EINVAL) return cli_error(EXIT_USAGE, CLI_ERR_STATE, "%s", err.message);
  if (rc < 0) return cli_store_error(&err);
  art_sink sink;
  rc =
      batched ? art_store_sink_batched(&sink, store, &err) : art_store_sink_new(&sink, store, &err);
  if (rc < 0 || art_run_add_sink(run, &sink) < 0)
    return cli_error(EXIT_USAGE, CLI_ERR_INTERNAL, "out of memory");
  return 0;
}

art_run_status cli_status_of(const art_run *run) {
  switch (art_run_stop_reason(run)) {
  case ART_STOP_NONE: return ART_RUN_READY;
  case ART_STOP_APPROVAL_REQUIRED:
  case ART_STOP_BLOCKED: return ART_RUN_PAUSED;
  case ART_STOP_CANCELLED: return ART_RUN_CANCELLED;
  default: return ART_RUN_FINISHED;
  }
}

cli_holder cli_holder_of(const art_run_record *r, int64_t now_us) {
  if (!r->lease_owner) return CLI_HOLDER_NONE;
  if (holder_died(r->lease_owner)) return CLI_HOLDER_DIED;
  return r->lease_until_us <= now_us ? CLI_HOLDER_EXPIRED : CLI_HOLDER_ALIVE;
}

art_run_status cli_status_now(const art_run_record *r, int64_t now_us) {
  bool orphaned = r->status == ART_RUN_RUNNING && cli_holder_of(r, now_us) != CLI_HOLDER_ALIVE;
  return orphaned ? ART_RUN_READY : r->status;
}

int cli_mark_running(art_store *store, const art_run *run) {
  art_error err = {0};
  int rc = store->vt->set_status(store, art_run_id(run), ART_RUN_RUNNING, NULL, NULL, art_now_us(),
                                 &err);
  return rc < 0 ? cli_store_error(&err) : 0;
}

/* Where the run stands, into its record; the lease is let go. */
int cli_record_status(art_store *store, const art_run *run) {
  art_error err = {0};
  bool stopped = art_run_stop_reason(run) != ART_STOP_NONE;
  int rc = store->vt->set_status(store, art_run_id(run), cli_status_of(run),
                                 stopped ? art_stop_reason_name(art_run_stop_reason(run)) : NULL,
                                 art_run_stop_detail(run), art_now_us(), &err);
  cli_release(store, art_run_id(run));
  return rc < 0 ? cli_store_error(&err) : 0;
}

static size_t decisions_in(const art_journal *journal) {
  size_t n = 0;
  for (size_t i = 0; i < journal->n; i++) n += journal->entries[i].type == ART_EV_DECISION;
  return n;
}

static int load_spec(const art_run_record *rec, const char *store_path, art_spec **spec) {
  json_error_t jerr;
  art_error err = {0};
  char name[256], where[200];
  json_t *json = json_loads(rec->spec_json, 0, &jerr);
  art_store_url_redact(where, sizeof where, store_path);
  snprintf(name, sizeof name, "%s: run %s: spec", where, rec->run_id);
  int rc = json ? art_spec_parse(spec, json, name, rec->spec_dir, NULL, &err)
                : art_error_set(&err, ART_ESPEC, "%s: not JSON", name);
  json_decref(json);
  return rc < 0 ? cli_error(EXIT_USAGE, CLI_ERR_STORE, "%s", err.message) : 0;
}

/* The run's MCP tools, for the replay and for what comes after it; a failure
 * is kept for resume to stop the run with (a spec mistake is an error). */
static int attach_servers(cli_durable *d) {
  int rc = cli_mcp_attach(d->spec, &d->mcp, d->mcp_failure, sizeof d->mcp_failure);
  if (rc != ART_ESPEC && rc != ART_ENOMEM) return 0;
  return cli_error(EXIT_USAGE, cli_err_of(rc), "%s", d->mcp_failure);
}

/* The run `run_id` as its journal left it, with its model where it was and its
 * journal sink on.  The caller holds the lease. */
int cli_rebuild(art_store *store, const char *store_path, const char *run_id, cli_durable *d) {
  art_error err = {0};
  art_journal journal = {0};
  memset(d, 0, sizeof *d);
  if (store->vt->get_run(store, run_id, &d->record, &err) < 0) return cli_store_error(&err);
  int rc = load_spec(&d->record, store_path, &d->spec);
  if (rc == 0) rc = attach_servers(d);
  if (rc == 0 && store->vt->load_journal(store, run_id, &journal, &err) < 0)
    rc = cli_store_error(&err);
  d->store = store;
  art_run_options opts = {.run_id = run_id};
  art_sink sink;
  if (rc == 0 &&
      (art_model_new(&d->model, d->spec, &err) < 0 || art_run_new(&d->run, d->spec, &opts) < 0 ||
       art_store_sink_new(&sink, store, &err) < 0 || art_run_add_sink(d->run, &sink) < 0)) {
    rc = cli_error(EXIT_USAGE, err.message[0] ? cli_err_of(err.code) : CLI_ERR_INTERNAL, "%s",
                   err.message[0] ? err.message : "out of memory");
  }
  if (rc == 0 && art_run_replay_journal(d->run, &journal) < 0)
    rc = cli_error(EXIT_USAGE, CLI_ERR_STORE, "run %s cannot be rebuilt: %s", run_id,
                   art_run_errmsg(d->run));
  if (rc == 0) art_model_resume_after(d->model, decisions_in(&journal));
  art_journal_dispose(&journal);
  if (rc != 0) cli_durable_dispose(d);
  return rc;
}

static const char *watch_cancel_reason(void *ud) {
  cli_watch *w = ud;
  art_error err = {0};
  int64_t now = art_now_us();
  if (now - w->renewed_us > LEASE_US / 3) {
    char owner[128];
    owner_name(owner, sizeof owner);
    if (w->store->vt->claim(w->store, w->run_id, owner, now, LEASE_US, &err) == 0)
      w->renewed_us = now;
  }
  /* A failure to write now is the next append's to report. */
  w->store->vt->commit_waiting(w->store, now, &err);
  if (!w->reason && w->store->vt->cancel_requested(w->store, w->run_id, &w->reason, &err) < 0)
    w->reason = NULL; /* the store cannot say now: asked again at the next boundary */
  return w->reason;
}

static bool watch_let_go(void *ud) {
  (void)ud;
  return cli_signal_caught() != 0;
}

static void watch_child_group(void *ud, long pgid) {
  (void)ud;
  cli_signals_child_group(pgid);
}

void cli_watch_init(cli_watch *w, art_store *store, const char *run_id, art_drive_hooks *hooks) {
  *w = (cli_watch){store, run_id, art_now_us(), NULL};
  *hooks = (art_drive_hooks){watch_cancel_reason, w, watch_let_go, watch_child_group};
}

void cli_watch_dispose(cli_watch *w) {
  free(w->reason);
  w->reason = NULL;
}

void cli_durable_dispose(cli_durable *d) {
  art_run_free(d->run);
  art_model_free(d->model);
  art_mcp_session_free(d->mcp);
  art_spec_free(d->spec);
  art_run_record_dispose(&d->record);
  memset(d, 0, sizeof *d);
}
