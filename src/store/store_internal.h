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

#endif
