/* Helpers the store backends share. */
#ifndef ART_STORE_INTERNAL_H
#define ART_STORE_INTERNAL_H

#include "agentrt/store.h"

/* A deep copy of `from` into `to` (zeroed first); ART_ENOMEM leaves `to` empty. */
int art_record_copy(art_run_record *to, const art_run_record *from);
/* A deep copy of `from` into `to`; ART_ENOMEM leaves `to` empty. */
int art_approval_record_copy(art_approval_record *to, const art_approval_record *from);
/* Append a copy of `run_id` to the n ids of *run_ids (art_run_ids_free). */
int art_run_ids_add(char ***run_ids, size_t *n, const char *run_id);
/* Finished and cancelled runs never run again. */
bool art_status_is_final(art_run_status s);
/* Whether a run in `queue` (NULL: the default queue) is in one of `queues`
 * (NULL-terminated; NULL: every queue). */
bool art_queue_matches(const char *const *queues, const char *queue);
/* Oldest first: created_us, then run_id (a qsort order, <0, 0, >0). */
int art_record_older(const art_run_record *a, const art_run_record *b);
/* Whether a run is ready for lease_ready at now_us (store.h). */
bool art_record_ready(const art_run_record *r, int64_t now_us);

/* "queue" or "tenant" into *out; ART_EINVAL for anything else. */
int art_limit_kind_parse(const char *name, art_limit_kind *out);
/* What set_limit checks first: a known kind and a name (ART_EINVAL). */
int art_limit_check(art_limit_kind kind, const char *name, art_error *err);

/* The limits a lease_ready honours, with how many runs each binds are held
 * now: counted before it takes a run, and added to as it takes them.  The
 * limits are borrowed. */
typedef struct art_limit_tally {
  const art_limit *limits;
  size_t n;
  uint32_t *held; /* held[i]: the runs limits[i] binds held now */
} art_limit_tally;

/* ART_ENOMEM, or 0 with nothing held yet. */
int art_tally_init(art_limit_tally *t, const art_limit *limits, size_t n);
/* `count` more runs of `queue` (NULL: the default queue) and `tenant` (may
 * be NULL) are held. */
void art_tally_add(art_limit_tally *t, const char *queue, const char *tenant, uint32_t count);
/* Whether one more run of queue and tenant stays within every limit. */
bool art_tally_fits(const art_limit_tally *t, const char *queue, const char *tenant);
/* The names of `kind` whose limit is reached, as a NULL-terminated array
 * into *names (its strings are the limits'; free the array): a SQL backend
 * leaves their runs out of the next one it takes.  ART_ENOMEM. */
int art_tally_full(const art_limit_tally *t, art_limit_kind kind, const char ***names);
void art_tally_dispose(art_limit_tally *t);

/* The k records of `more` (an array, freed) added to the *n of *list: 0, or
 * ART_ENOMEM having freed `more` (*list is left as it was). */
int art_records_join(art_run_record **list, size_t *n, art_run_record *more, size_t k);

/* What a SQL backend's lease_ready does in its transaction, with `ctx`:
 * `limits`: the limits that bind the runs it may take, in *out (an array of
 * *n; art_limits_free), locked where other callers could change what they
 * count; `count_held`: the runs held now, added to t; `take`: up to `limit`
 * of the oldest ready runs, but for those of the queues and tenants in
 * full_queues and full_tenants (NULL-terminated), leased, into *got (an
 * array of *k). */
typedef struct art_lease_ops {
  int (*limits)(void *ctx, art_limit **out, size_t *n, art_error *err);
  int (*count_held)(void *ctx, art_limit_tally *t, art_error *err);
  int (*take)(void *ctx, const char *const *full_queues, const char *const *full_tenants,
              size_t limit, art_run_record **got, size_t *k, art_error *err);
} art_lease_ops;

/* Up to `max` ready runs leased within the limits, into *out (an array of
 * *n): the limits read, the runs held counted (when there are limits), then
 * while limits count the runs taken one at a time, each leaving out the
 * queues and tenants the ones before it filled; without, all at once. */
int art_lease_within_limits(const art_lease_ops *ops, void *ctx, size_t max, art_run_record **out,
                            size_t *n, art_error *err);

#endif
