/* The events a store handle holds back (appends without `durable`), to be
 * written together, whichever runs they belong to: a read-only stretch of a
 * run, or one turn of an event loop driving thousands of runs, costs one
 * commit.  The group's arrays and its text buffer grow as it fills and are
 * reused after each write.  Shared by the SQL backends, which also share the
 * checks every append starts with. */
#ifndef ART_STORE_EVENT_GROUP_H
#define ART_STORE_EVENT_GROUP_H

#include "agentrt/store.h"
#include "store/known_runs.h"

/* The longest run id a store keeps. */
enum { ART_RUN_ID_MAX = 127 };
/* A handle that has appended to more runs than this forgets them all (when
 * its group is empty) and looks each up again. */
#define ART_KNOWN_RUNS_MAX 100000

typedef struct art_grouped_event {
  const char *run_id; /* its run's entry's (in the handle's known runs) */
  uint32_t seq, step;
  int64_t ts_us;
  art_event_type type;
  size_t body; /* offset of its NUL-terminated text in the group's buffer */
} art_grouped_event;

typedef struct art_event_group {
  art_grouped_event *pending; /* events not written yet */
  int n_pending;
  /* The group's runs, each once, by their entries' ids (entries move when the
   * table grows; their ids do not). */
  const char **touched;
  int n_touched;
  int cap; /* of both */
  char *text;
  size_t text_len, text_cap;
  char failure[ART_ERRMSG_SIZE]; /* why the last write that failed did, for the runs it lost */
} art_event_group;

/* A backend's answer to what its database holds of a run: the seq of its last
 * event (0: none), its steps and its lease generation into k; ART_ENOTFOUND
 * when there is no such run, or another negative code, with a message. */
typedef int (*art_stored_counters)(void *store, const char *run_id, art_known_run *k,
                                   art_error *err);

/* What the handle knows of run_id's last event and lease generation, asking
 * `stored` the first time: the entry, or a negative code. */
int art_group_known_run(art_known_runs *known, art_stored_counters stored, void *store,
                        const char *run_id, art_known_run **out, art_error *err);

/* What every append does before it writes: the run id must fit and the event
 * type be one agentrt knows (ART_EINVAL), events the holder of `generation`
 * appended before not have been lost by a write that failed (ART_EIO, said
 * once: art_group_written), the run exist (ART_ENOTFOUND; the
 * handle asks `stored` the first time it meets the run), `generation` be the
 * run's lease generation as the handle knows it (ART_EFENCED) and e->seq
 * follow its last event (ART_ESTATE); then the event (its body e->body) joins
 * the group (its run too, the first time).  ART_ENOMEM. */
int art_group_append(art_event_group *g, art_known_runs *known, art_stored_counters stored,
                     void *store, const char *run_id, uint64_t generation,
                     const art_journal_entry *e, art_error *err);
/* ART_EFENCED, saying that run_id's lease generation `generation` was taken over. */
int art_group_refuse_fenced(const char *run_id, uint64_t generation, art_error *err);
/* After a group was written: whether the events run_id's holder of
 * `generation` appended are all written.  ART_EIO when some were held back in
 * a group whose write failed before (the connection was lost, the store was
 * locked): they are not in the journal, the run must be rebuilt from what is;
 * said once, to the holder that appended them (a holder that takes the run
 * anew writes at another generation).  ART_EFENCED when its events in the
 * group were refused (the backend forgot the run, and the database now says
 * another generation).  Else 0. */
int art_group_written(art_event_group *g, art_known_runs *known, art_stored_counters stored,
                      void *store, const char *run_id, uint64_t generation, art_error *err);
/* Whether the group must be written now: it holds max_events events, or its
 * oldest is span_us older than now_us. */
bool art_group_due(const art_event_group *g, int max_events, int64_t span_us, int64_t now_us);
/* The body of one of the group's events. */
const char *art_group_body(const art_event_group *g, const art_grouped_event *e);
/* After a write (rc: its result, err: why it failed, may be NULL): the group
 * is empty.  A failed write lost the group: its runs are marked lost (their
 * holders are told, art_group_written) and the handle forgets what it knew of
 * every run (the database says again what each holds).  A handle that knows
 * too many runs forgets them all. */
void art_group_done(art_event_group *g, art_known_runs *known, int rc, const art_error *err);
void art_group_dispose(art_event_group *g);

#endif
