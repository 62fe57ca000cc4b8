/* What a store handle knows of the runs it appends to: each run's last event,
 * so that the next append is checked to follow it without asking the
 * database (a lease keeps other processes away while a run is driven), and
 * whether the run has events in the handle's group not written yet. */
#ifndef ART_STORE_KNOWN_RUNS_H
#define ART_STORE_KNOWN_RUNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct art_known_run {
  char *run_id; /* NULL: a free slot */
  bool known;   /* seq and ts_us are the run's last event, steps its decisions */
  uint32_t seq, steps;
  int64_t ts_us;
  uint64_t generation; /* the run's lease generation, as the handle last saw it */
  bool in_group;       /* it has events in the group */
  bool watched;        /* its cancel request was read, none was made, and the handle is told
                          of new ones (PostgreSQL: LISTEN): no need to read it again */
  bool lost;           /* events it appended at lost_generation were held back in a group
                          whose write failed: not written, and not said to its holder yet */
  uint64_t lost_generation;
} art_known_run;

typedef struct art_known_runs {
  art_known_run *slots;
  size_t cap, n; /* cap is a power of two; n counts the slots in use */
} art_known_runs;

/* The run's entry, or NULL. */
art_known_run *art_known_find(const art_known_runs *k, const char *run_id);
/* The run's entry, added (not known yet) when missing; NULL when out of memory. */
art_known_run *art_known_put(art_known_runs *k, const char *run_id);
struct art_run_record;
/* What lease_ready took: put oldest first (created_us, then run_id), and
 * forgotten (another process may have driven them since). */
void art_known_leased(art_known_runs *k, struct art_run_record *list, size_t n);
/* Forget what the handle knows of every run: its last event and lease
 * generation (asked again), whether its cancel request is watched (read
 * again); runs whose events were lost stay marked. */
void art_known_forget(art_known_runs *k);
/* Forget every run, lost ones too, and free the table (a handle closing). */
void art_known_clear(art_known_runs *k);

#endif
