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
} art_event_group;

/* What every append checks before it asks the database: the run id fits, the
 * event type is one agentrt knows. */
int art_append_check(const char *run_id, art_event_type type, art_error *err);
/* ART_ESTATE unless event `seq` follows the run's last one (k). */
int art_append_follows(const art_known_run *k, const char *run_id, uint32_t seq, art_error *err);

/* The event joins the group (its run k too, the first time), and k follows
 * it; ART_ENOMEM. */
int art_group_add(art_event_group *g, art_known_run *k, uint32_t seq, uint32_t step,
                  int64_t ts_us, art_event_type type, const char *body, art_error *err);
/* Whether the group must be written now: it holds max_events events, or its
 * oldest is span_us older than now_us. */
bool art_group_due(const art_event_group *g, int max_events, int64_t span_us, int64_t now_us);
/* The body of one of the group's events. */
const char *art_group_body(const art_event_group *g, const art_grouped_event *e);
/* After a write (rc: its result): the group is empty.  A failed write lost
 * the group, so the handle forgets every run (the database says again what
 * each holds); so does one that knows too many runs. */
void art_group_done(art_event_group *g, art_known_runs *known, int rc);
void art_group_dispose(art_event_group *g);

#endif
