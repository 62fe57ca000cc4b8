/* Durable runs (durable.h): leases on runs in a store, rebuilding a run from
 * its journal, the outcome-unknown rule, and the watch that renews a lease and
 * sees a cancel while a run is driven. */
#include "agentrt/durable.h"

#include "core/run_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void art_holder_name(char *buf, size_t size, const char *worker) {
  char host[64] = "?";
  gethostname(host, sizeof host - 1);
  snprintf(buf, size, "%s:%ld%s%s", host, (long)getpid(), worker ? ":" : "", worker ? worker : "");
}

/* A lease not taken yet: who would hold what. */
static int lease_init(art_lease *l, art_store *store, const char *run_id, const char *owner,
                      int64_t now_us, int64_t ttl_us, art_error *err) {
  *l = (art_lease){.store = store,
                   .ttl_us = ttl_us ? ttl_us : ART_LEASE_TTL_US,
                   .renewed_us = now_us,
                   .generation = 1}; /* a new run's (create_run); a claim says otherwise */
  snprintf(l->owner, sizeof l->owner, "%s", owner);
  if (!(l->run_id = strdup(run_id))) return art_error_set(err, ART_ENOMEM, "out of memory");
  return 0;
}

static void lease_dispose(art_lease *l) {
  free(l->run_id);
  *l = (art_lease){0};
}

int art_lease_claim(art_lease *l, art_store *store, const char *run_id, const char *owner,
                    int64_t now_us, int64_t ttl_us, art_error *err) {
  int rc = lease_init(l, store, run_id, owner, now_us, ttl_us, err);
  if (rc < 0) return rc;
  rc = store->vt->claim(store, run_id, owner, now_us, l->ttl_us, &l->generation, err);
  if (rc < 0) lease_dispose(l);
  return rc;
}

/* A renewal that comes back with another generation took the run anew after
 * another holder had it: that lease is let go again, and this holder is
 * fenced. */
int art_lease_renew(art_lease *l, int64_t now_us, art_error *err) {
  if (now_us - l->renewed_us <= l->ttl_us / 3) return 0;
  uint64_t generation = l->generation;
  int rc = l->store->vt->claim(l->store, l->run_id, l->owner, now_us, l->ttl_us, &generation, err);
  if (rc == 0 && generation != l->generation) {
    l->store->vt->release(l->store, l->run_id, generation, err);
    return art_error_set(err, ART_EFENCED, "run %s was taken over by another holder", l->run_id);
  }
  if (rc == ART_ESTATE)
    return art_error_set(err, ART_EFENCED, "run %s is held by another holder", l->run_id);
  if (rc == 0) l->renewed_us = now_us;
  return rc;
}

void art_lease_abandon(art_lease *l) { lease_dispose(l); }

int art_lease_release(art_lease *l, art_error *err) {
  int rc = l->run_id ? l->store->vt->release(l->store, l->run_id, l->generation, err) : 0;
  lease_dispose(l);
  return rc;
}

art_holder_state art_holder_of(const art_run_record *r, int64_t now_us) {
  if (!r->lease_owner) return ART_HOLDER_NONE;
  return r->lease_until_us <= now_us ? ART_HOLDER_EXPIRED : ART_HOLDER_ALIVE;
}

art_run_status art_durable_status_of(const art_run *run) {
  switch (art_run_stop_reason(run)) {
  case ART_STOP_NONE: return ART_RUN_READY;
  case ART_STOP_APPROVAL_REQUIRED:
  case ART_STOP_BLOCKED: return ART_RUN_PAUSED;
  case ART_STOP_CANCELLED: return ART_RUN_CANCELLED;
  default: return ART_RUN_FINISHED;
  }
}

art_run_status art_durable_status_now(const art_run_record *r, int64_t now_us) {
  bool orphaned = r->status == ART_RUN_RUNNING && art_holder_of(r, now_us) != ART_HOLDER_ALIVE;
  return orphaned ? ART_RUN_READY : r->status;
}

/* A new run in the store: `rec` with the spec as it is stored (redacted),
 * and the spec's tenant. */
static int create_with_spec(art_store *store, art_run_record *rec, const art_spec *spec,
                            art_error *err) {
  json_t *stored;
  int rc = art_spec_stored_json(spec, &stored, err);
  if (rc < 0) return rc;
  char *spec_json = json_dumps(stored, JSON_COMPACT);
  json_decref(stored);
  rec->spec_json = spec_json;
  rec->spec_dir = (char *)art_spec_base_dir(spec);
  rec->tenant = (char *)art_spec_tenant(spec); /* what tenant limits count */
  rc = spec_json ? store->vt->create_run(store, rec, err)
                 : art_error_set(err, ART_ENOMEM, "out of memory");
  free(spec_json);
  return rc;
}

/* The run's record as create_run takes it, held by l->owner. */
static int create_record(const art_lease *l, const art_spec *spec, art_run *run, art_error *err) {
  art_run_record rec = {.run_id = (char *)art_run_id(run),
                        .status = ART_RUN_RUNNING,
                        .created_us = l->renewed_us,
                        .lease_owner = (char *)l->owner,
                        .lease_until_us = l->renewed_us + l->ttl_us};
  return create_with_spec(l->store, &rec, spec, err);
}

int art_durable_submit(art_store *store, const art_spec *spec, const char *run_id,
                       const char *queue, int64_t now_us, art_error *err) {
  art_run_record rec = {.run_id = (char *)run_id,
                        .status = ART_RUN_QUEUED,
                        .created_us = now_us,
                        .queue = (char *)queue};
  return create_with_spec(store, &rec, spec, err);
}

int art_lease_ready(art_lease *leases, size_t max, size_t *n, art_store *store,
                    const char *const *queues, const char *owner, int64_t now_us, int64_t ttl_us,
                    art_error *err) {
  art_run_record *got = NULL;
  size_t taken = 0;
  int64_t ttl = ttl_us ? ttl_us : ART_LEASE_TTL_US;
  *n = 0;
  int rc = store->vt->lease_ready(store, queues, owner, now_us, ttl, max, &got, &taken, err);
  for (size_t i = 0; rc == 0 && i < taken; i++) {
    rc = lease_init(&leases[i], store, got[i].run_id, owner, now_us, ttl, err);
    if (rc == 0) leases[i].generation = got[i].lease_generation, (*n)++;
  }
  /* Out of memory for a copy: the runs not copied stay leased until their
   * leases run out, as a holder's that died do. */
  art_run_records_free(got, taken);
  return rc;
}

int art_durable_create(art_lease *lease, art_store *store, const art_spec *spec, art_run *run,
                       const char *owner, int64_t ttl_us, bool batched, art_error *err) {
  int rc = lease_init(lease, store, art_run_id(run), owner, art_now_us(), ttl_us, err);
  if (rc == 0) rc = create_record(lease, spec, run, err);
  art_sink sink;
  if (rc == 0)
    rc = batched ? art_store_sink_batched(&sink, store, lease->generation, err)
                 : art_store_sink_new(&sink, store, lease->generation, err);
  if (rc == 0 && art_run_add_sink(run, &sink) < 0)
    rc = art_error_set(err, ART_ENOMEM, "out of memory");
  if (rc < 0) lease_dispose(lease);
  return rc;
}

int art_durable_mark_running(const art_lease *lease, art_error *err) {
  return lease->store->vt->set_status(lease->store, lease->run_id, lease->generation,
                                      ART_RUN_RUNNING, NULL, NULL, art_now_us(), err);
}

int art_durable_settle(art_lease *lease, const art_run *run, art_error *err) {
  bool stopped = art_run_stop_reason(run) != ART_STOP_NONE;
  int rc = lease->run_id
               ? lease->store->vt->settle(
                     lease->store, lease->run_id, lease->generation, art_durable_status_of(run),
                     stopped ? art_stop_reason_name(art_run_stop_reason(run)) : NULL,
                     art_run_stop_detail(run), art_now_us(), err)
               : 0;
  lease_dispose(lease);
  return rc;
}

/* ---- opening a run from its journal ------------------------------------------ */

static size_t decisions_in(const art_journal *journal) {
  size_t n = 0;
  for (size_t i = 0; i < journal->n; i++) n += journal->entries[i].type == ART_EV_DECISION;
  return n;
}

/* The spec the run was started with; one that no longer parses is the
 * store's fault (ART_EIO). */
static int load_spec(art_durable *d, const char *store_name, art_error *err) {
  json_error_t jerr;
  art_error why = {0};
  char name[256], where[200];
  json_t *json = json_loads(d->record.spec_json, 0, &jerr);
  art_store_url_redact(where, sizeof where, store_name); /* no password in a message */
  snprintf(name, sizeof name, "%s: run %s: spec", where, d->record.run_id);
  int rc = json ? art_spec_parse(&d->spec, json, name, d->record.spec_dir, NULL, &why)
                : art_error_set(&why, ART_EIO, "%s: not JSON", name);
  json_decref(json);
  return rc < 0 ? art_error_set(err, ART_EIO, "%s", why.message) : 0;
}

/* The run's MCP tools, for the replay and for what comes after it; a failure
 * to start them is kept for art_durable_continue (a spec mistake or no memory
 * is an error). */
static int attach_servers(art_durable *d, art_error *err) {
  art_error why = {0};
  int rc = art_mcp_attach(&d->mcp, d->spec, NULL, &why);
  if (rc < 0) snprintf(d->mcp_failure, sizeof d->mcp_failure, "%s", why.message);
  if (rc != ART_ESPEC && rc != ART_ENOMEM) return 0;
  return art_error_set(err, rc, "%s", why.message);
}

/* The model and the run, with its journal sink writing as `generation`. */
static int make_run(art_durable *d, const char *run_id, uint64_t generation, bool batched,
                    art_error *err) {
  art_run_options opts = {.run_id = run_id};
  art_sink sink;
  if (art_model_new(&d->model, d->spec, err) < 0) return err->code;
  if (art_run_new(&d->run, d->spec, &opts) < 0)
    return art_error_set(err, ART_ENOMEM, "out of memory");
  int rc = batched ? art_store_sink_batched(&sink, d->store, generation, err)
                   : art_store_sink_new(&sink, d->store, generation, err);
  if (rc < 0) return rc;
  if (art_run_add_sink(d->run, &sink) < 0) return art_error_set(err, ART_ENOMEM, "out of memory");
  return 0;
}

static int replay(art_durable *d, const char *run_id, art_error *err) {
  art_journal journal = {0};
  int rc = d->store->vt->load_journal(d->store, run_id, &journal, err);
  if (rc == 0 && art_run_replay_journal(d->run, &journal) < 0)
    rc =
        art_error_set(err, ART_EIO, "run %s cannot be rebuilt: %s", run_id, art_run_errmsg(d->run));
  if (rc == 0) art_model_resume_after(d->model, decisions_in(&journal));
  art_journal_dispose(&journal);
  return rc;
}

int art_durable_open(art_durable *d, art_store *store, const char *run_id, const art_lease *lease,
                     const char *store_name, bool batched, art_error *err) {
  *d = (art_durable){.store = store};
  int rc = store->vt->get_run(store, run_id, &d->record, err);
  if (rc == 0) rc = load_spec(d, store_name, err);
  if (rc == 0) rc = attach_servers(d, err);
  if (rc == 0)
    rc = make_run(d, run_id, lease ? lease->generation : d->record.lease_generation, batched,
                  err);
  if (rc == 0) rc = replay(d, run_id, err);
  if (rc < 0) art_durable_dispose(d);
  return rc;
}

void art_durable_dispose(art_durable *d) {
  art_run_free(d->run);
  art_model_free(d->model);
  art_mcp_session_free(d->mcp);
  art_spec_free(d->spec);
  art_run_record_dispose(&d->record);
  *d = (art_durable){0};
}

/* ---- driving ------------------------------------------------------------------ */

/* The heartbeat: a holder found taken over lets go of the run at once. */
static const char *watch_cancel_reason(void *ud) {
  art_durable_watch *w = ud;
  art_lease *l = w->lease;
  art_error err = {0};
  int64_t now = art_now_us();
  if (art_lease_renew(l, now, &err) == ART_EFENCED) w->fenced = true;
  /* A failure to write now is the next append's to report. */
  l->store->vt->commit_waiting(l->store, now, &err);
  if (!w->reason && l->store->vt->cancel_requested(l->store, l->run_id, &w->reason, &err) < 0)
    w->reason = NULL; /* the store cannot say now: asked again at the next boundary */
  return w->reason;
}

static bool watch_let_go(void *ud) {
  const art_durable_watch *w = ud;
  const art_drive_hooks *outer = w->outer;
  return w->fenced || (outer && outer->let_go && outer->let_go(outer->ud));
}

static void watch_child_group(void *ud, long pgid) {
  const art_drive_hooks *outer = ((art_durable_watch *)ud)->outer;
  if (outer && outer->child_group) outer->child_group(outer->ud, pgid);
}

void art_durable_watch_init(art_durable_watch *w, art_lease *lease, const art_drive_hooks *outer,
                            art_drive_hooks *hooks) {
  *w = (art_durable_watch){lease, outer, NULL, false};
  *hooks = (art_drive_hooks){watch_cancel_reason, w, watch_let_go, watch_child_group};
}

void art_durable_watch_dispose(art_durable_watch *w) {
  free(w->reason);
  w->reason = NULL;
}

int art_durable_settle_interrupted(art_run *run, int64_t now_us, bool *settled) {
  const art_action *act;
  *settled = art_run_call_interrupted(run) && art_run_next(run, now_us, &act) == 0 &&
             !art_tool_idempotent(act->tool);
  return *settled ? art_run_feed_outcome_unknown(run, now_us) : 0;
}

/* A run whose tools could not be set up stops before it asks for a decision. */
static int stop_tools_failed(art_durable *d, art_error *err) {
  const art_action *act;
  int64_t now = art_now_us();
  if (art_run_next(d->run, now, &act) == 0 && act->kind == ART_ACT_DECIDE &&
      art_run_feed_tools_failure(d->run, d->mcp_failure, now) == 0)
    return 0;
  return art_error_set(err, ART_ESTATE, "run %s: %s", art_run_id(d->run), d->mcp_failure);
}

int art_durable_drive(art_run *run, art_model *model, art_lease *lease,
                      const art_drive_hooks *outer) {
  art_durable_watch watch;
  art_drive_hooks hooks;
  art_durable_watch_init(&watch, lease, outer, &hooks);
  int rc = art_run_drive(run, model, &hooks);
  if (rc == ART_EINTR && watch.fenced)
    rc = art_run_fail(run, ART_EFENCED, "the run was taken over by another holder");
  art_durable_watch_dispose(&watch);
  return rc;
}

/* A run leased from the queue is marked running as it is leased (store.h,
 * lease_ready): one write less for each. */
int art_durable_begin(art_durable *d, const art_lease *lease, bool *drive, art_error *err) {
  *drive = false;
  int rc = d->record.status == ART_RUN_RUNNING ? 0 : art_durable_mark_running(lease, err);
  if (rc < 0) return rc;
  if (d->mcp_failure[0]) return stop_tools_failed(d, err);
  bool settled;
  rc = art_durable_settle_interrupted(d->run, art_now_us(), &settled);
  if (rc < 0)
    return art_error_set(err, rc, "run %s failed: %s", art_run_id(d->run), art_run_errmsg(d->run));
  *drive = !settled;
  return 0;
}

int art_durable_continue(art_durable *d, art_lease *lease, const art_drive_hooks *outer,
                         art_error *err) {
  bool drive;
  int rc = art_durable_begin(d, lease, &drive, err);
  if (rc < 0 || !drive) return rc;
  rc = art_durable_drive(d->run, d->model, lease, outer);
  if (rc < 0 && rc != ART_EINTR)
    art_error_set(err, rc, "run %s failed: %s", art_run_id(d->run), art_run_errmsg(d->run));
  return rc;
}
