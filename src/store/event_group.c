#include "store/event_group.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"

static int append_check(const char *run_id, art_event_type type, art_error *err) {
  if (strlen(run_id) > ART_RUN_ID_MAX)
    return art_error_set(err, ART_EINVAL, "run id %.*s... is too long for a store",
                         art_utf8_prefix(run_id, 40), run_id);
  if (!art_event_type_known(type))
    return art_error_set(err, ART_EINVAL, "run %s: no event type %d", run_id, (int)type);
  return 0;
}

static int append_follows(const art_known_run *k, const char *run_id, uint32_t seq,
                          art_error *err) {
  if (seq == k->seq + 1) return 0;
  return art_error_set(err, ART_ESTATE, "run %s: event %u does not follow the journal", run_id,
                       seq);
}

/* A copy of `s` at the end of the group's buffer; its offset, or -1. */
static int64_t keep_text(art_event_group *g, const char *s) {
  size_t n = strlen(s) + 1;
  if (g->text_len + n > g->text_cap) {
    size_t cap = g->text_cap ? g->text_cap : 4096;
    while (cap < g->text_len + n) cap *= 2;
    char *grown = realloc(g->text, cap);
    if (!grown) return -1;
    g->text = grown, g->text_cap = cap;
  }
  memcpy(g->text + g->text_len, s, n);
  g->text_len += n;
  return (int64_t)(g->text_len - n);
}

/* Room for one more event (and run) in the group: 0, or -1. */
static int group_room(art_event_group *g) {
  if (g->n_pending < g->cap) return 0;
  int cap = g->cap ? 2 * g->cap : 256;
  art_grouped_event *pending = realloc(g->pending, (size_t)cap * sizeof *pending);
  if (pending) g->pending = pending;
  const char **touched = pending ? realloc(g->touched, (size_t)cap * sizeof *touched) : NULL;
  if (touched) g->touched = touched, g->cap = cap;
  return touched ? 0 : -1;
}

static int group_add(art_event_group *g, art_known_run *k, const art_journal_entry *e,
                     art_error *err) {
  int64_t body_at = group_room(g) < 0 ? -1 : keep_text(g, e->body);
  if (body_at < 0) return art_error_set(err, ART_ENOMEM, "out of memory");
  if (!k->in_group) g->touched[g->n_touched++] = k->run_id;
  k->in_group = true;
  g->pending[g->n_pending++] =
      (art_grouped_event){k->run_id, e->seq, e->step, e->ts_us, e->type, (size_t)body_at};
  k->seq = e->seq, k->ts_us = e->ts_us;
  k->steps += e->type == ART_EV_DECISION; /* a step is a decision taken */
  return 0;
}

int art_group_refuse_fenced(const char *run_id, uint64_t generation, art_error *err) {
  return art_error_set(err, ART_EFENCED, "run %s: lease generation %llu was taken over", run_id,
                       (unsigned long long)generation);
}

int art_group_known_run(art_known_runs *known, art_stored_counters stored, void *store,
                        const char *run_id, art_known_run **out, art_error *err) {
  art_known_run *k = art_known_put(known, run_id);
  if (!k) return art_error_set(err, ART_ENOMEM, "out of memory");
  if (!k->known) {
    int rc = stored(store, run_id, k, err);
    if (rc < 0) return rc;
    k->known = true;
  }
  *out = k;
  return 0;
}

/* ART_EIO, once, when events the holder of `generation` appended to run_id
 * were lost by a group's failed write. */
static int lost_before(art_event_group *g, art_known_runs *known, const char *run_id,
                       uint64_t generation, art_error *err) {
  art_known_run *k = art_known_find(known, run_id);
  if (!k || !k->lost || k->lost_generation != generation) return 0;
  k->lost = false;
  return art_error_set(err, ART_EIO,
                       "run %s: events it held back may not have been written (%s): rebuild"
                       " the run from its journal",
                       run_id, g->failure);
}

int art_group_written(art_event_group *g, art_known_runs *known, art_stored_counters stored,
                      void *store, const char *run_id, uint64_t generation, art_error *err) {
  int rc = lost_before(g, known, run_id, generation, err);
  const art_known_run *k = art_known_find(known, run_id);
  if (rc < 0 || (k && k->known)) return rc;
  art_known_run *now = NULL;
  rc = art_group_known_run(known, stored, store, run_id, &now, err);
  if (rc < 0) return rc;
  return now->generation == generation ? 0 : art_group_refuse_fenced(run_id, generation, err);
}

int art_group_append(art_event_group *g, art_known_runs *known, art_stored_counters stored,
                     void *store, const char *run_id, uint64_t generation,
                     const art_journal_entry *e, art_error *err) {
  art_known_run *k = NULL;
  int rc = append_check(run_id, e->type, err);
  if (rc == 0) rc = lost_before(g, known, run_id, generation, err);
  if (rc == 0) rc = art_group_known_run(known, stored, store, run_id, &k, err);
  if (rc == 0 && generation != k->generation) rc = art_group_refuse_fenced(run_id, generation, err);
  if (rc == 0) rc = append_follows(k, run_id, e->seq, err);
  return rc < 0 ? rc : group_add(g, k, e, err);
}

bool art_group_due(const art_event_group *g, int max_events, int64_t span_us, int64_t now_us) {
  return g->n_pending && (g->n_pending >= max_events || now_us - g->pending[0].ts_us >= span_us);
}

const char *art_group_body(const art_event_group *g, const art_grouped_event *e) {
  return g->text + e->body;
}

void art_group_done(art_event_group *g, art_known_runs *known, int rc, const art_error *err) {
  for (int i = 0; i < g->n_touched; i++) {
    art_known_run *k = art_known_find(known, g->touched[i]);
    k->in_group = false;
    if (rc < 0) k->lost = true, k->lost_generation = k->generation;
  }
  if (rc < 0) {
    snprintf(g->failure, sizeof g->failure, "%s", err ? err->message : "the store failed");
    art_known_forget(known);
  } else if (known->n > ART_KNOWN_RUNS_MAX) {
    art_known_clear(known);
  }
  g->n_pending = g->n_touched = 0;
  g->text_len = 0;
}

void art_group_dispose(art_event_group *g) {
  free(g->pending);
  free(g->touched);
  free(g->text);
  *g = (art_event_group){0};
}
