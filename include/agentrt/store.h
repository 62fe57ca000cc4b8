/* Stores: where runs live between processes.
 *
 * A store keeps, per run, a record (id, status, stop reason, the spec it runs,
 * times, a lease, a cancel request), its journal: the run's events, one row
 * per event, append-only, so a step costs O(step) however long the run is,
 * and its approvals: who decided which exact action, when, and why.  Backends are
 * versioned vtables (memory, SQLite, PostgreSQL) and all pass the same
 * contract tests.  Every function returns 0 or a negative ART_E* code with the
 * reason in err.
 *
 * Leases are fenced: each run has a lease generation, a number that grows
 * each time a new holder claims the run.  A holder writes with the generation
 * its claim returned, and a store refuses (ART_EFENCED) a write whose
 * generation is no longer the run's, in the same transaction as the write:
 * a holder whose lease ran out and was taken over cannot add to the journal
 * of the run its successor drives, whatever it still believes. */
#ifndef AGENTRT_STORE_H
#define AGENTRT_STORE_H

#include <stdbool.h>
#include "agentrt/trace.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where a run stands.  The numbers are what stores keep: new ones go last. */
typedef enum {
  ART_RUN_RUNNING,   /* a driver holds it (its lease says who; see art_run_record) */
  ART_RUN_PAUSED,    /* waiting for an approval, a human answer or an operator */
  ART_RUN_FINISHED,  /* stopped for good */
  ART_RUN_CANCELLED, /* stopped for good, by a cancel */
  ART_RUN_READY,     /* not stopped and nobody drives it: decided since it paused, or
                        interrupted; the next driver to claim it continues it */
  ART_RUN_QUEUED     /* submitted, not started: a worker (lease_ready) starts it */
} art_run_status;

const char *art_run_status_name(art_run_status s);
int art_run_status_parse(const char *name, art_run_status *out);

/* A run's record.  Strings belong to the record (art_run_record_dispose). */
typedef struct art_run_record {
  char *run_id;
  art_run_status status;
  char *stop_reason; /* NULL while running */
  char *detail;
  char *spec_json; /* the spec the run was started with, as JSON text */
  char *spec_dir;  /* where relative command paths resolve */
  uint32_t steps;  /* decisions taken: the decision events in its journal */
  uint32_t events; /* journal length */
  int64_t created_us, updated_us;
  char *lease_owner; /* who holds the run, NULL when nobody; create_run takes a
                        record's lease with it, so a new run is never unheld */
  int64_t lease_until_us;
  uint64_t lease_generation; /* grows with each new holder: 1 for a run created held,
                                0 for one created unheld (create_run sets it) */
  char *cancel_reason;       /* a cancel asked for from outside, NULL when none */
  char *queue;               /* version 8: the queue workers take it from; NULL is "default" */
  char *tenant;              /* version 10: the spec's actor.tenant, NULL when it names none */
  int64_t lease_renewed_us;  /* version 10: when the holder took its lease or last renewed it
                                (its heartbeat); 0 while nobody holds the run.  create_run
                                sets it to created_us for a run created held */
} art_run_record;

/* The queue a run is in when its record names none. */
#define ART_QUEUE_DEFAULT "default"

void art_run_record_dispose(art_run_record *r);
/* Frees what list_runs returned. */
void art_run_records_free(art_run_record *list, size_t n);

/* An approval or a denial, as a durable record beside the journal event that
 * carries it.  Strings belong to the record (art_approval_records_free). */
typedef struct art_approval_record {
  char *run_id;
  char *action_id;    /* what was decided: ... */
  char *tool;         /* ... this tool (NULL: the run's final answer) ... */
  char *input_sha256; /* ... with this canonical input (or answer text) */
  char *requested_by; /* the run's actor, NULL when the spec names none */
  int64_t requested_at_us;
  char *reviewer;
  bool approved;
  char *reason;
  int64_t decided_at_us;
  int64_t expires_at_us; /* 0: never */
  uint32_t event_seq;    /* the approval event in the run's journal */
} art_approval_record;

void art_approval_records_free(art_approval_record *list, size_t n);

/* Version 10: how many runs of one queue, or of one tenant, may be held at
 * once (lease_ready honours it).  The numbers are what stores keep. */
typedef enum { ART_LIMIT_QUEUE, ART_LIMIT_TENANT } art_limit_kind;

const char *art_limit_kind_name(art_limit_kind kind); /* "queue", "tenant" */

typedef struct art_limit {
  art_limit_kind kind;
  char *name;           /* the queue's or the tenant's; the limit's own copy */
  uint32_t max_running; /* at most this many of its runs held at once (> 0) */
} art_limit;

/* Frees what list_limits returned. */
void art_limits_free(art_limit *list, size_t n);
/* Frees what prune returned. */
void art_run_ids_free(char **run_ids, size_t n);

typedef struct art_store art_store;

typedef struct art_store_vtable {
  int version; /* ART_STORE_VERSION */
  const char *name;
  /* A new run with no events, held by r->lease_owner when set (one
   * statement: no other process can take it first), at lease generation 1
   * (0 when unheld; r->lease_generation is ignored); ART_EEXIST when the id
   * exists. */
  int (*create_run)(art_store *s, const art_run_record *r, art_error *err);
  /* Append event `seq` (must be the journal length + 1) with its body (JSON
   * object text, art_journal_entry), and update the record's steps/updated
   * time, atomically.  With `durable`, this
   * event and every one before it are on disk when append returns; without, a
   * backend may group it with the events that follow (a crash then loses at
   * most those, never a durable one, and never half an event).  No lock is
   * held between appends.  `approval` (NULL for other events) is stored with
   * its event, in the same transaction.
   * Version 7: `generation` is the appending holder's (from claim, or 1 after
   * create_run).  ART_EFENCED when it is not the run's lease generation, and
   * nothing of the event is written: checked in the transaction that writes
   * the event, so an event held back is refused when its group is written if
   * the run was claimed by another holder meanwhile (the run's events in the
   * group are dropped, the other runs' written); the run's next append, or
   * commit naming it, is then ART_EFENCED. */
  int (*append)(art_store *s, const char *run_id, uint64_t generation, uint32_t seq, uint32_t step,
                int64_t ts_us, art_event_type type, const char *body, bool durable,
                const art_approval_record *approval, art_error *err);
  /* Version 7: ART_EFENCED, nothing changed, when `generation` is not the
   * run's lease generation. */
  int (*set_status)(art_store *s, const char *run_id, uint64_t generation, art_run_status status,
                    const char *stop_reason, const char *detail, int64_t now_us, art_error *err);
  /* ART_ENOTFOUND when there is no such run. */
  int (*get_run)(art_store *s, const char *run_id, art_run_record *out, art_error *err);
  /* The run's journal from seq 1 into *out (zeroed first; art_journal_dispose). */
  int (*load_journal)(art_store *s, const char *run_id, art_journal *out, art_error *err);
  /* Records, newest first; status < 0: every status.  *out is an array of n. */
  int (*list_runs)(art_store *s, int status, art_run_record **out, size_t *n, art_error *err);
  /* Take the run for `owner` until now + ttl, atomically; ART_ESTATE when
   * another owner's lease has not expired (lease_until_us > now_us).
   * Version 7: *generation (may be NULL) is the lease's generation: one more
   * than the run's when the run was unheld or held by another owner (whose
   * lease expired), the same when `owner` holds it already (a renewal).  A
   * renewer whose generation comes back changed was taken over meanwhile.
   * Version 10: lease_renewed_us becomes now_us (the holder's heartbeat). */
  int (*claim)(art_store *s, const char *run_id, const char *owner, int64_t now_us, int64_t ttl_us,
               uint64_t *generation, art_error *err);
  /* Let go of the run: nobody holds it (the generation stays; lease_owner
   * NULL, lease_until_us and lease_renewed_us 0).  Version 7:
   * ART_EFENCED, nothing changed, when `generation` is not the run's lease
   * generation (a stale holder cannot release its successor's lease). */
  int (*release)(art_store *s, const char *run_id, uint64_t generation, art_error *err);
  /* Delete finished and cancelled runs last updated before `before_us`, with
   * their journals and approvals.  *run_ids (n of them, in no particular
   * order; art_run_ids_free) names the runs deleted. */
  int (*prune)(art_store *s, int64_t before_us, char ***run_ids, size_t *n, art_error *err);
  /* Ask the process driving a run to cancel it (it looks at its next step
   * boundary, and while a tool runs).  ART_ESTATE when the run has ended. */
  int (*request_cancel)(art_store *s, const char *run_id, const char *reason, art_error *err);
  /* The cancel asked for the run (*reason, malloc'd), or NULL: cheap enough to
   * ask at every step. */
  int (*cancel_requested)(art_store *s, const char *run_id, char **reason, art_error *err);
  /* Write the events a backend holds back (append without `durable`) once
   * the oldest has waited as long as the backend lets a group wait, by
   * `now_us`: asked while a run waits for a tool or a model, so that other
   * processes see its progress even when no event comes for a while. */
  int (*commit_waiting)(art_store *s, int64_t now_us, art_error *err);
  /* Version 5.  Write every event a backend holds back, now: a driver that
   * journals many runs through batched sinks (art_store_sink_batched) commits
   * them all at once.  Version 7: then, when `run_id` is not NULL,
   * ART_EFENCED when events of that run appended with `generation` were
   * refused (its lease generation is no longer `generation`); a fenced run
   * does not make the commit fail for the others.  Version 10: a write of
   * held-back events that fails (the store locked too long, the connection
   * lost) writes none of them, whichever runs they belong to, and fails the
   * operation that wrote; each of those runs is then told at its holder's
   * next commit naming it, or next append (ART_EIO, once, for the events
   * appended at `generation`): its journal may end before the events it
   * held back, and the run must be rebuilt from the journal (a holder that
   * takes it anew starts there and is told nothing). */
  int (*commit)(art_store *s, const char *run_id, uint64_t generation, art_error *err);
  /* Version 6.  `n` new runs as create_run makes each, all or none, in one
   * transaction: submitting ten thousand runs costs one commit, not ten
   * thousand.  ART_EEXIST naming an id that exists (or comes twice). */
  int (*create_runs)(art_store *s, const art_run_record *records, size_t n, art_error *err);
  /* The run's approvals in the order they were given. */
  int (*list_approvals)(art_store *s, const char *run_id, art_approval_record **out, size_t *n,
                        art_error *err);
  void (*close)(art_store *s);
  /* Version 8.  Take up to `max` ready runs of `queues` (a NULL-terminated
   * array of names; NULL: every queue) for `owner` until now + ttl, each at a
   * new lease generation (one more than the run's), oldest first (created_us,
   * then run_id), and return their records as leased, into *out (an array of
   * *n; art_run_records_free).  Ready: queued; or ready or running, and
   * nobody holds it or its holder's lease has run out (lease_until_us <=
   * now_us: it died or let go without releasing).  Paused, finished and
   * cancelled runs are never taken.  Atomic against every other caller, in
   * this process or another: each run is taken by one caller only, and taken
   * again only once that lease has run out.
   * Version 10: a run is not taken when that would make more runs of its
   * queue, or of its tenant, held at once than their limit (set_limit).
   * Held: lease_owner set and lease_until_us > now_us, whoever holds it and
   * whatever its status (a run an operator resumed counts too).  A run that
   * does not fit is skipped, and younger ones of other queues and tenants are
   * still taken.  Atomic in the same way: no two callers fill one slot.  The
   * record's lease_renewed_us is now_us.  Version 11: the runs taken are
   * marked running (their holder drives them from now on), in the same
   * statement. */
  int (*lease_ready)(art_store *s, const char *const *queues, const char *owner, int64_t now_us,
                     int64_t ttl_us, size_t max, art_run_record **out, size_t *n, art_error *err);
  /* Version 9.  Wait at most timeout_ms for word that a run may have become
   * ready (submitted, released, decided by a person; version 10: a run of a
   * limited queue or tenant let go, which frees a slot) in this process or
   * another: 1 when told (look with lease_ready), 0 when the time ran out.
   * The first call only starts listening and returns 1, so that nothing made
   * ready between a caller's last look and its wait is missed.  A lease that
   * runs out is not announced: waiters look again at their timeout.  A
   * connection lost while waiting is made again at once and says 1 (what was
   * announced meanwhile was missed).  NULL
   * when the backend is told nothing (memory, SQLite): callers poll. */
  int (*wait_ready)(art_store *s, int timeout_ms, art_error *err);
  /* Version 10.  At most `max_running` runs of the queue (ART_LIMIT_QUEUE:
   * `name` as in art_run_record.queue, "default" for the default queue) or of
   * the tenant (ART_LIMIT_TENANT: actor.tenant) `name` held at once by the
   * runs lease_ready hands out, across every process; 0 removes the limit.
   * A limit set below what is held now takes no lease back: lease_ready
   * takes none of its runs until fewer are held.  claim is not limited (an
   * operator resuming a named run, a holder renewing its lease), though the
   * runs it holds count.  ART_EINVAL for an empty name or an unknown kind. */
  int (*set_limit)(art_store *s, art_limit_kind kind, const char *name, uint32_t max_running,
                   art_error *err);
  /* Version 10.  Every limit set, queues first, then tenants, each kind by
   * name, into *out (an array of *n; art_limits_free). */
  int (*list_limits)(art_store *s, art_limit **out, size_t *n, art_error *err);
  /* Version 11.  set_status and release in one write: where the run stands,
   * and nobody holds it (what a driver does when it is done with a run, one
   * commit instead of two).  ART_EFENCED, nothing changed, when `generation`
   * is not the run's lease generation. */
  int (*settle)(art_store *s, const char *run_id, uint64_t generation, art_run_status status,
                const char *stop_reason, const char *detail, int64_t now_us, art_error *err);
} art_store_vtable;

#define ART_STORE_VERSION 11

/* Every backend's handle starts with this header. */
struct art_store {
  const art_store_vtable *vt;
};

/* A store in this process's memory (tests, embedding without persistence). */
int art_store_open_memory(art_store **out, art_error *err);

/* How long a handle waits for another process's write lock before it gives
 * up with "store X is locked by another process" (ART_EBUSY). */
#define ART_SQLITE_LOCK_TIMEOUT_MS 5000

typedef struct art_sqlite_options {
  bool synchronous_full; /* PRAGMA synchronous=FULL (default NORMAL: WAL, durable at checkpoints) */
  bool must_exist;       /* a missing file is ART_ENOTFOUND instead of a new store */
  int lock_timeout_ms;   /* 0: ART_SQLITE_LOCK_TIMEOUT_MS */
} art_sqlite_options;

/* A SQLite store at `path`, created when missing (unless opts->must_exist);
 * one thread at a time uses a handle (open one per thread; processes share
 * the file safely, and several may create or migrate it at once: one does,
 * the others wait for the lock and find it done).  A file that is not an
 * agentrt store, or one written by a newer agentrt, is ART_ESPEC with a
 * message saying which, and is left untouched.  A missing directory or a
 * store this process cannot write is ART_EIO with a message saying so. */
int art_store_open_sqlite(art_store **out, const char *path, const art_sqlite_options *opts,
                          art_error *err);

typedef struct art_postgres_options {
  const char *schema; /* where the store's tables are: NULL is "agentrt" (a name of
                         lower-case letters, digits and _, at most 56 bytes) */
} art_postgres_options;

/* A PostgreSQL store in the database `conninfo` names (a libpq connection
 * string: postgresql://user@host/db or "host=... dbname=..."), its tables made
 * on first use in the schema "agentrt" or opts->schema (several processes may do that at once:
 * one does, the others find it done).  One thread at a time uses a handle;
 * any number of processes on any number of machines share the database.  A
 * database whose schema holds tables that are not an agentrt
 * store's, or one written by a newer agentrt, is ART_ESPEC and is left
 * untouched.  A server that cannot be reached, a login that is refused, or a
 * database where the schema cannot be made is ART_EIO with a message naming
 * the store (its URL without the password) and saying which.
 *
 * A connection lost (the server restarted, the network cut it) fails the
 * operation that finds it so, with ART_EIO and "lost the connection to store
 * X".  What that operation wrote is written whole or not at all (one
 * transaction), and only the store can say which: a run's holder rebuilds the
 * run from its journal (see commit).  The next operation connects again first
 * (for about 2 s at most, else ART_EIO "cannot connect again", and the one
 * after tries again), sets the session up again, LISTENs again and forgets
 * what the handle knew of runs (where their journals end, their cancel
 * requests: read again). */
int art_store_open_postgres(art_store **out, const char *conninfo, const art_postgres_options *opts,
                            art_error *err);

/* Whether `where` names a PostgreSQL store: a postgresql:// or postgres:// URL. */
bool art_store_url_is_postgres(const char *where);
/* The store `where` names: a postgresql:// or postgres:// URL opens PostgreSQL
 * (art_store_open_postgres), anything else is the path of a SQLite store
 * (art_store_open_sqlite), created when missing. */
int art_store_open_url(art_store **out, const char *where, art_error *err);
/* `where` as it may be shown: a URL's password (user:PASSWORD@, password=...)
 * left out.  Written into buf (size bytes, truncated to fit). */
void art_store_url_redact(char *buf, size_t size, const char *where);

void art_store_close(art_store *s);

/* A sink that appends every event to its run's journal in `store` (the run
 * must exist there), as the holder of lease generation `generation` (a
 * refused append, ART_EFENCED, fails the run: its holder drops it).  Events are made durable where it matters: a draft or
 * write tool_call (the intent, before the tool runs), its tool_result, approvals,
 * human answers and stops; read-only stretches are written in groups.  This is
 * where a store joins a run: ART_EINVAL when its vtable's version is not
 * ART_STORE_VERSION (a backend built against another store.h). */
int art_store_sink_new(art_sink *out, art_store *store, uint64_t generation, art_error *err);

/* The same, for a driver that syncs its runs (art_run_sync; art_loop does, once
 * a turn for all its runs): an event that must be durable is held back with
 * the events of every other run, and written when the run is synced, before
 * the driver goes on to what follows it.  One commit then makes a whole turn
 * of thousands of runs durable. */
int art_store_sink_batched(art_sink *out, art_store *store, uint64_t generation, art_error *err);

#ifdef __cplusplus
}
#endif
#endif
