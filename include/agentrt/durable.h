/* Durable runs: a run kept in a store (store.h), driven by whoever holds its
 * lease, rebuilt from its journal by whoever drives it next.  `agentrt
 * resume`, the worker and the service share this one implementation.
 *
 * A lease (art_lease) is a holder's claim on one run until a time it renews
 * while it drives (a heartbeat, at most every ttl / 3).  Another holder takes
 * the run over only once the lease has run out, whichever host it is on, and
 * the take-over is fenced: the lease's generation grows, and the store
 * refuses every write of the old holder (ART_EFENCED), which then drops the
 * run.  A durable run (art_durable) is a run rebuilt from its
 * store: its record, its spec, its MCP servers, its model where its journal
 * left it, and the run itself with its journal sink on.  Ownership: the
 * store is borrowed by both and must outlive them; everything else in them is
 * theirs (art_lease_release, art_durable_dispose).  Functions return 0 or a
 * negative ART_E* code with the reason in err. */
#ifndef AGENTRT_DURABLE_H
#define AGENTRT_DURABLE_H

#include <stdbool.h>
#include "agentrt/mcp.h"
#include "agentrt/model.h"
#include "agentrt/run.h"
#include "agentrt/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How long a lease lasts unless renewed: a holder that stops renewing (it
 * died, hangs, or lost its host) lets go of its run this long after. */
#define ART_LEASE_TTL_US (30LL * 1000000)
/* The size of a holder's name: "host:pid", or "host:pid:worker". */
#define ART_HOLDER_SIZE 192

/* This process's name as a holder, with `worker` (may be NULL) after it. */
void art_holder_name(char *buf, size_t size, const char *worker);

typedef struct art_lease {
  art_store *store; /* borrowed */
  char *run_id;     /* the lease's own copy */
  char owner[ART_HOLDER_SIZE];
  int64_t ttl_us;
  int64_t renewed_us;  /* when it was taken or last renewed */
  uint64_t generation; /* the lease's fencing generation: every write carries it */
} art_lease;

/* Take `run_id` in `store` for `owner` (art_holder_name) until now + ttl
 * (ttl 0: ART_LEASE_TTL_US): a run nobody holds, or whose holder's lease has
 * run out (a take-over: the generation grows).  ART_ESTATE when another
 * holder's lease has not run out; *l is then empty. */
int art_lease_claim(art_lease *l, art_store *store, const char *run_id, const char *owner,
                    int64_t now_us, int64_t ttl_us, art_error *err);
/* Extend the lease to now + ttl, at most every ttl / 3 (0 at once otherwise).
 * ART_EFENCED when another holder took the run over meanwhile: the caller
 * must stop driving it. */
int art_lease_renew(art_lease *l, int64_t now_us, art_error *err);
/* Let go of the run and free what *l holds (a zeroed or released lease:
 * nothing to do). */
int art_lease_release(art_lease *l, art_error *err);
/* Forget the lease without letting go of the run in the store: it stays held
 * until the lease runs out (a run this holder cannot drive is not taken
 * again at once by every other holder). */
void art_lease_abandon(art_lease *l);

/* Take up to `max` of the oldest ready runs of `queues` (NULL-terminated;
 * NULL: every queue) for `owner` until now + ttl (0: ART_LEASE_TTL_US), each
 * at a new generation (store.h, lease_ready): leases[0..*n) hold them (*n 0:
 * no run is ready).  Each is then driven with art_durable_open and
 * art_durable_continue (or art_durable_begin on a loop), as a claimed run
 * is; a queued run has no journal yet, and starts from its spec. */
int art_lease_ready(art_lease *leases, size_t max, size_t *n, art_store *store,
                    const char *const *queues, const char *owner, int64_t now_us, int64_t ttl_us,
                    art_error *err);

/* Who holds a record's run: nobody, a holder whose lease runs, or one whose
 * lease ran out (it stopped renewing it: the run is free to take over). */
typedef enum { ART_HOLDER_NONE, ART_HOLDER_ALIVE, ART_HOLDER_EXPIRED } art_holder_state;

art_holder_state art_holder_of(const art_run_record *r, int64_t now_us);
/* Where a run stands by its own state: ready (not stopped: whoever drove it
 * has let go), paused, finished or cancelled. */
art_run_status art_durable_status_of(const art_run *run);
/* Where a record's run stands now: marked running without a live holder, it
 * is ready (interrupted: the next driver continues it). */
art_run_status art_durable_status_now(const art_run_record *r, int64_t now_us);

/* A new run in the store for `run` of `spec`, held by `owner` from the start
 * (*lease, generation 1, for ttl_us; 0: ART_LEASE_TTL_US), with its journal
 * sink added to the run (batched: for a driver that syncs,
 * art_store_sink_batched).  ART_EEXIST when the id is taken. */
int art_durable_create(art_lease *lease, art_store *store, const art_spec *spec, art_run *run,
                       const char *owner, int64_t ttl_us, bool batched, art_error *err);
/* A queued run of `spec` named `run_id` in `queue` (NULL: the default queue),
 * held by nobody, with no journal: a worker (art_lease_ready) starts it.  The
 * spec is stored as art_durable_create stores it.  ART_EEXIST when the id is
 * taken. */
int art_durable_submit(art_store *store, const art_spec *spec, const char *run_id,
                       const char *queue, int64_t now_us, art_error *err);
/* The record says running: the lease's holder drives the run. */
int art_durable_mark_running(const art_lease *lease, art_error *err);
/* Done with the run: where it stands into its record, and the lease let go,
 * in one write (store.h, settle).  The lease is the caller's no more,
 * whatever this returns: on ART_EFENCED the run was another holder's
 * already; on another failure the lease runs out by itself. */
int art_durable_settle(art_lease *lease, const art_run *run, art_error *err);

typedef struct art_durable {
  art_store *store;      /* borrowed */
  art_run_record record; /* as the store had it when the run was opened */
  art_spec *spec;
  art_mcp_session *mcp;              /* NULL when the servers could not be set up ... */
  char mcp_failure[ART_ERRMSG_SIZE]; /* ... and why (art_durable_continue stops the run) */
  art_model *model;
  art_run *run;
} art_durable;

/* Open `run_id` from `store` (named `store_name` in messages): its record and
 * spec, its MCP servers, its run rebuilt by replaying its journal, its model
 * resumed after the decisions taken, its journal sink on (`batched`: for a
 * driver that syncs, art_store_sink_batched), writing as `lease`
 * (the caller's on the run, to drive it; NULL only to read it: the sink then
 * writes as the record's holder, and any write of a holder since is refused).  ART_ESPEC: the spec is wrong
 * for this process (an MCP override for a tool its server lacks); ART_EIO:
 * the store holds a spec or journal that does not rebuild; else the store's
 * code.  *d is empty after a failure. */
int art_durable_open(art_durable *d, art_store *store, const char *run_id, const art_lease *lease,
                     const char *store_name, bool batched, art_error *err);
void art_durable_dispose(art_durable *d);

/* Renewing a lease and watching for a cancel while a run is driven: `hooks`
 * for art_run_drive ask the store at every step boundary (and while a call
 * runs) for a cancel asked from another process, renew the lease, and commit
 * the events the store holds back once they have waited.  A renewal that
 * finds the run taken over lets go of it at once.  `outer` (may be NULL)
 * adds the caller's own let_go and child_group. */
typedef struct art_durable_watch {
  art_lease *lease; /* borrowed */
  const art_drive_hooks *outer;
  char *reason; /* the cancel asked for, once seen */
  bool fenced;  /* the lease was taken over */
} art_durable_watch;

void art_durable_watch_init(art_durable_watch *w, art_lease *lease, const art_drive_hooks *outer,
                            art_drive_hooks *hooks);
void art_durable_watch_dispose(art_durable_watch *w);

/* art_run_drive under a watch on `lease`: the run's journal sink must write as
 * the lease's generation.  ART_EFENCED: the run was taken over (a renewal or
 * a write was refused): this holder has stopped driving it, and must not
 * touch it again.  ART_EINTR: let go (outer->let_go). */
int art_durable_drive(art_run *run, art_model *model, art_lease *lease,
                      const art_drive_hooks *outer);

/* The outcome-unknown rule, for a run rebuilt after its driver stopped: a call
 * handed out without a recorded result runs again only when its tool is
 * idempotent (with the same idempotency key); a non-idempotent one stops the
 * run blocked (detail outcome_unknown), for an operator.  *settled: the run
 * stopped so, and is not to be driven. */
int art_durable_settle_interrupted(art_run *run, int64_t now_us, bool *settled);

/* Begin going on with a ready run the lease's holder opened: it is marked
 * running; a run whose MCP servers failed stops tool_failure; the
 * outcome-unknown rule.  *drive: the run is to be driven to its next stop
 * (art_durable_drive, or on a loop); false: it stopped here. */
int art_durable_begin(art_durable *d, const art_lease *lease, bool *drive, art_error *err);

/* Continue a ready run the lease's holder opened: art_durable_begin, then
 * art_durable_drive to its next stop (`outer` may be NULL).  ART_EINTR: let
 * go; ART_EFENCED: taken over; the reason is in err. */
int art_durable_continue(art_durable *d, art_lease *lease, const art_drive_hooks *outer,
                         art_error *err);

/* ---- records as JSON (records.c): what `agentrt runs list|show --json` and
 * the service say of a run and its approvals ---- */

/* How long ago a record's holder took or last renewed its lease (its
 * heartbeat), in ms; -1 when nobody holds the run (or a store of before
 * vtable version 10 did not say). */
int64_t art_holder_heartbeat_ms(const art_run_record *r, int64_t now_us);
/* {"run_id", "status" (as of now_us: art_durable_status_now), "stop_reason",
 * "reason", "steps", "queue", "tenant" (or null), "created_us", "updated_us",
 * "holder": {"owner", "alive", "lease_until_us"} or null, "heartbeat_age_ms"
 * (art_holder_heartbeat_ms, null when -1)}.  New reference; NULL when out of
 * memory. */
json_t *art_run_record_json(const art_run_record *r, int64_t now_us);
/* [{"run_id", "action_id", "tool", "input_sha256", "requested_by",
 * "requested_at_us", "reviewer", "decision": "approved"|"denied", "reason",
 * "decided_at_us", "expires_at_us", "event_seq"}, ...].  New reference; NULL
 * when out of memory. */
json_t *art_approval_records_json(const art_approval_record *list, size_t n);

/* ---- what people decide about a run (decide.c) ------------------------------
 * `agentrt approve|deny|answer|resolve|cancel` and the service's requests of
 * the same names share these rules: the run is held, rebuilt from its journal,
 * given the decision (the run itself checks it: the action it waits for, no
 * self-approval, not decided already), its status recorded, and let go; the
 * worker that takes it next continues it. */

typedef enum {
  ART_DECIDE_APPROVE,
  ART_DECIDE_DENY,
  ART_DECIDE_ANSWER, /* a run blocked on ask_human; for one blocked with
                        outcome_unknown, the text is what the call did: a
                        resolution `done` with the text as its note */
  ART_DECIDE_RESOLVE,
  ART_DECIDE_CANCEL /* a run another holder drives is asked to stop (request_cancel) */
} art_decide_kind;

typedef struct art_decide_request {
  art_decide_kind kind;
  const char *run_id;
  const char *action_id;    /* approve, deny, resolve: the action the run waits for */
  const char *by;           /* the reviewer (approve, deny) or operator (resolve, and an
                               answer that resolves: NULL is "operator") */
  const char *text;         /* the reason (approve, deny, cancel), the answer, or the
                               resolution's note; may be NULL but for an answer */
  art_resolve_kind outcome; /* resolve */
  int64_t expires_at_us;    /* approve: 0 never */
} art_decide_request;

/* Where a decision that failed stopped: holding the run (ART_ESTATE: another
 * holder drives it; for a cancel: the run has ended), rebuilding it, the run
 * refusing the decision (the message is the run's), recording where it stands. */
typedef enum {
  ART_DECIDE_AT_HOLD,
  ART_DECIDE_AT_OPEN,
  ART_DECIDE_AT_FEED,
  ART_DECIDE_AT_RECORD
} art_decide_stage;

typedef struct art_decide_result {
  const char *decision;     /* "approved", "denied", "answered", "resolved", "cancelled", or
                           "cancel_requested" (another holder stops it at its next step) */
  char action_id[64];       /* the action decided ("" for an answer or a cancel) */
  art_resolve_kind outcome; /* "resolved": how */
  art_run_status status;    /* where the run stands now */
  art_stop_reason stop_reason;
  art_decide_stage failed_at; /* when art_durable_decide failed */
} art_decide_result;

/* Decide about run req->run_id in `store` (named `store_name` in messages) as
 * holder `owner` for at most ttl_us (0: ART_LEASE_TTL_US).  0, or a negative
 * code with the reason in err and out->failed_at saying where. */
int art_durable_decide(art_store *store, const char *store_name, const char *owner, int64_t ttl_us,
                       const art_decide_request *req, art_decide_result *out, art_error *err);

/* What a paused run waits for, from its trace: {"action_id", "kind":
 * "approval"|"human"|"outcome_unknown", "tool", "input", "question"}, a key
 * that does not apply null; JSON null when the run is not paused.  New
 * reference; NULL when out of memory. */
json_t *art_durable_pending_json(const art_run *run);

#ifdef __cplusplus
}
#endif
#endif
