/* The memory store: the contract of a store, in this process's memory. */
#include <stdlib.h>
#include <string.h>

#include "agentrt/store.h"
#include "store/store_internal.h"

typedef struct mem_run {
  art_run_record record; /* holds the lease too */
  art_journal journal;
  art_approval_record *approvals;
  size_t n_approvals;
} mem_run;

typedef struct mem_store {
  art_store base;
  mem_run **runs; /* in creation order */
  size_t n, cap;
  art_limit *limits; /* as list_limits returns them: queues, then tenants, by name */
  size_t n_limits;
} mem_store;

static mem_run *find(mem_store *m, const char *run_id) {
  for (size_t i = 0; i < m->n; i++)
    if (strcmp(m->runs[i]->record.run_id, run_id) == 0) return m->runs[i];
  return NULL;
}

static void run_free(mem_run *r) {
  art_journal_dispose(&r->journal);
  art_approval_records_free(r->approvals, r->n_approvals);
  art_run_record_dispose(&r->record);
  free(r);
}

static int mem_create(art_store *s, const art_run_record *rec, art_error *err) {
  mem_store *m = (mem_store *)s;
  if (find(m, rec->run_id))
    return art_error_set(err, ART_EEXIST, "run %s exists already", rec->run_id);
  if (m->n == m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 8;
    mem_run **runs = realloc(m->runs, cap * sizeof *runs);
    if (!runs) return art_error_set(err, ART_ENOMEM, "out of memory");
    m->runs = runs, m->cap = cap;
  }
  mem_run *r = calloc(1, sizeof *r);
  if (!r || art_record_copy(&r->record, rec) < 0) {
    if (r) run_free(r);
    return art_error_set(err, ART_ENOMEM, "out of memory");
  }
  r->record.events = r->record.steps = 0;
  r->record.lease_generation = rec->lease_owner ? 1 : 0;
  r->record.lease_renewed_us = rec->lease_owner ? rec->created_us : 0;
  m->runs[m->n++] = r;
  return 0;
}

/* One by one, each checked against those before it too; a failure takes
 * back the runs added before it. */
static int mem_create_runs(art_store *s, const art_run_record *recs, size_t n, art_error *err) {
  mem_store *m = (mem_store *)s;
  size_t before = m->n;
  for (size_t i = 0; i < n; i++) {
    int rc = mem_create(s, &recs[i], err);
    if (rc < 0) {
      while (m->n > before) run_free(m->runs[--m->n]);
      return rc;
    }
  }
  return 0;
}

static int add_approval(mem_run *r, const art_approval_record *a) {
  art_approval_record *grown = realloc(r->approvals, (r->n_approvals + 1) * sizeof *r->approvals);
  if (!grown) return ART_ENOMEM;
  r->approvals = grown;
  if (art_approval_record_copy(&r->approvals[r->n_approvals], a) < 0) return ART_ENOMEM;
  r->n_approvals++;
  return 0;
}

/* The run held at `generation`: ART_ENOTFOUND, ART_EFENCED, or 0 and *out. */
static int held_run(mem_store *m, const char *run_id, uint64_t generation, mem_run **out,
                    art_error *err) {
  mem_run *r = find(m, run_id);
  if (!r) return art_error_set(err, ART_ENOTFOUND, "no run %s", run_id);
  if (r->record.lease_generation != generation)
    return art_error_set(
        err, ART_EFENCED, "run %s: lease generation %llu was taken over (the run's is %llu)",
        run_id, (unsigned long long)generation, (unsigned long long)r->record.lease_generation);
  *out = r;
  return 0;
}

static int mem_append(art_store *s, const char *run_id, uint64_t generation, uint32_t seq,
                      uint32_t step, int64_t ts_us, art_event_type type, const char *body,
                      bool durable, const art_approval_record *approval, art_error *err) {
  (void)durable;
  mem_run *r = NULL;
  int rc = held_run((mem_store *)s, run_id, generation, &r, err);
  if (rc < 0) return rc;
  if (seq != r->record.events + 1)
    return art_error_set(err, ART_ESTATE, "run %s: event %u does not follow event %u", run_id, seq,
                         r->record.events);
  if (!art_event_type_known(type))
    return art_error_set(err, ART_EINVAL, "run %s: no event type %d", run_id, (int)type);
  art_journal_entry e = {.seq = seq,
                         .step = step,
                         .ts_us = ts_us,
                         .type = type,
                         .body = body,
                         .body_len = strlen(body)};
  if (art_journal_add(&r->journal, &e) < 0) return art_error_set(err, ART_ENOMEM, "out of memory");
  if (approval && add_approval(r, approval) < 0) {
    r->journal.n--;
    return art_error_set(err, ART_ENOMEM, "out of memory");
  }
  r->record.events++;
  r->record.steps += type == ART_EV_DECISION; /* a step is a decision taken */
  r->record.updated_us = ts_us;
  return 0;
}

static int mem_set_status(art_store *s, const char *run_id, uint64_t generation,
                          art_run_status status, const char *stop_reason, const char *detail,
                          int64_t now_us, art_error *err) {
  mem_run *r = NULL;
  int rc = held_run((mem_store *)s, run_id, generation, &r, err);
  if (rc < 0) return rc;
  char *reason = stop_reason ? strdup(stop_reason) : NULL, *why = detail ? strdup(detail) : NULL;
  if ((stop_reason && !reason) || (detail && !why)) {
    free(reason), free(why);
    return art_error_set(err, ART_ENOMEM, "out of memory");
  }
  free(r->record.stop_reason), free(r->record.detail);
  r->record.stop_reason = reason, r->record.detail = why;
  r->record.status = status;
  r->record.updated_us = now_us;
  return 0;
}

static int mem_get(art_store *s, const char *run_id, art_run_record *out, art_error *err) {
  mem_run *r = find((mem_store *)s, run_id);
  if (!r) return art_error_set(err, ART_ENOTFOUND, "no run %s", run_id);
  return art_record_copy(out, &r->record) < 0 ? art_error_set(err, ART_ENOMEM, "out of memory") : 0;
}

static int mem_load(art_store *s, const char *run_id, art_journal *out, art_error *err) {
  mem_run *r = find((mem_store *)s, run_id);
  *out = (art_journal){0};
  if (!r) return art_error_set(err, ART_ENOTFOUND, "no run %s", run_id);
  for (size_t i = 0; i < r->journal.n; i++)
    if (art_journal_add(out, &r->journal.entries[i]) < 0) {
      art_journal_dispose(out);
      return art_error_set(err, ART_ENOMEM, "out of memory");
    }
  return 0;
}

static int mem_list(art_store *s, int status, art_run_record **out, size_t *n, art_error *err) {
  mem_store *m = (mem_store *)s;
  art_run_record *list = calloc(m->n ? m->n : 1, sizeof *list);
  size_t k = 0;
  if (!list) return art_error_set(err, ART_ENOMEM, "out of memory");
  for (size_t i = m->n; i-- > 0;) { /* newest first */
    if (status >= 0 && (int)m->runs[i]->record.status != status) continue;
    if (art_record_copy(&list[k], &m->runs[i]->record) < 0) {
      art_run_records_free(list, k);
      return art_error_set(err, ART_ENOMEM, "out of memory");
    }
    k++;
  }
  *out = list, *n = k;
  return 0;
}

static int mem_claim(art_store *s, const char *run_id, const char *owner, int64_t now_us,
                     int64_t ttl_us, uint64_t *generation, art_error *err) {
  mem_run *r = find((mem_store *)s, run_id);
  if (!r) return art_error_set(err, ART_ENOTFOUND, "no run %s", run_id);
  art_run_record *rec = &r->record;
  if (rec->lease_owner && strcmp(rec->lease_owner, owner) != 0 && rec->lease_until_us > now_us)
    return art_error_set(err, ART_ESTATE, "run %s is held by %s", run_id, rec->lease_owner);
  char *copy = strdup(owner);
  if (!copy) return art_error_set(err, ART_ENOMEM, "out of memory");
  rec->lease_generation += !rec->lease_owner || strcmp(rec->lease_owner, owner) != 0;
  free(rec->lease_owner);
  rec->lease_owner = copy;
  rec->lease_until_us = now_us + ttl_us;
  rec->lease_renewed_us = now_us;
  if (generation) *generation = rec->lease_generation;
  return 0;
}

static int mem_release(art_store *s, const char *run_id, uint64_t generation, art_error *err) {
  mem_run *r = NULL;
  int rc = held_run((mem_store *)s, run_id, generation, &r, err);
  if (rc < 0) return rc;
  free(r->record.lease_owner);
  r->record.lease_owner = NULL;
  r->record.lease_until_us = r->record.lease_renewed_us = 0;
  return 0;
}

static int mem_settle(art_store *s, const char *run_id, uint64_t generation,
                      art_run_status status, const char *stop_reason, const char *detail,
                      int64_t now_us, art_error *err) {
  int rc = mem_set_status(s, run_id, generation, status, stop_reason, detail, now_us, err);
  return rc < 0 ? rc : mem_release(s, run_id, generation, err);
}

static bool prunable(const mem_run *r, int64_t before_us) {
  return art_status_is_final(r->record.status) && r->record.updated_us < before_us;
}

/* The ids first, so that running out of memory deletes nothing. */
static int mem_prune(art_store *s, int64_t before_us, char ***run_ids, size_t *n, art_error *err) {
  mem_store *m = (mem_store *)s;
  size_t kept = 0;
  *run_ids = NULL, *n = 0;
  for (size_t i = 0; i < m->n; i++)
    if (prunable(m->runs[i], before_us) && art_run_ids_add(run_ids, n, m->runs[i]->record.run_id)) {
      art_run_ids_free(*run_ids, *n);
      *run_ids = NULL, *n = 0;
      return art_error_set(err, ART_ENOMEM, "out of memory");
    }
  for (size_t i = 0; i < m->n; i++) {
    if (prunable(m->runs[i], before_us))
      run_free(m->runs[i]);
    else
      m->runs[kept++] = m->runs[i];
  }
  m->n = kept;
  return 0;
}

static int mem_request_cancel(art_store *s, const char *run_id, const char *reason,
                              art_error *err) {
  mem_run *r = find((mem_store *)s, run_id);
  if (!r) return art_error_set(err, ART_ENOTFOUND, "no run %s", run_id);
  if (art_status_is_final(r->record.status))
    return art_error_set(err, ART_ESTATE, "run %s has ended already", run_id);
  char *copy = strdup(reason && reason[0] ? reason : "cancelled");
  if (!copy) return art_error_set(err, ART_ENOMEM, "out of memory");
  free(r->record.cancel_reason);
  r->record.cancel_reason = copy;
  return 0;
}

/* Every append is seen at once: nothing waits, and a refused one was said. */
static int mem_commit(art_store *s, const char *run_id, uint64_t generation, art_error *err) {
  (void)s, (void)run_id, (void)generation, (void)err;
  return 0;
}

static int mem_commit_waiting(art_store *s, int64_t now_us, art_error *err) {
  (void)now_us;
  return mem_commit(s, NULL, 0, err);
}

static int mem_cancel_requested(art_store *s, const char *run_id, char **reason, art_error *err) {
  mem_run *r = find((mem_store *)s, run_id);
  if (!r) return art_error_set(err, ART_ENOTFOUND, "no run %s", run_id);
  *reason = r->record.cancel_reason ? strdup(r->record.cancel_reason) : NULL;
  return r->record.cancel_reason && !*reason ? art_error_set(err, ART_ENOMEM, "out of memory") : 0;
}

static int mem_list_approvals(art_store *s, const char *run_id, art_approval_record **out,
                              size_t *n, art_error *err) {
  mem_run *r = find((mem_store *)s, run_id);
  if (!r) return art_error_set(err, ART_ENOTFOUND, "no run %s", run_id);
  art_approval_record *list = calloc(r->n_approvals ? r->n_approvals : 1, sizeof *list);
  if (!list) return art_error_set(err, ART_ENOMEM, "out of memory");
  for (size_t i = 0; i < r->n_approvals; i++)
    if (art_approval_record_copy(&list[i], &r->approvals[i]) < 0) {
      art_approval_records_free(list, i);
      return art_error_set(err, ART_ENOMEM, "out of memory");
    }
  *out = list, *n = r->n_approvals;
  return 0;
}

static int oldest_first(const void *a, const void *b) {
  return art_record_older(&(*(mem_run *const *)a)->record, &(*(mem_run *const *)b)->record);
}

/* A new lease on r for `owner`, and a copy of its record as leased. */
static int lease_one(mem_run *r, const char *owner, int64_t now_us, int64_t ttl_us,
                     art_run_record *out) {
  char *copy = strdup(owner);
  if (!copy) return ART_ENOMEM;
  free(r->record.lease_owner);
  r->record.lease_owner = copy;
  r->record.lease_until_us = now_us + ttl_us;
  r->record.lease_renewed_us = now_us;
  r->record.lease_generation++;
  r->record.status = ART_RUN_RUNNING;
  return art_record_copy(out, &r->record);
}

/* The runs held at now_us, counted against the store's limits. */
static int count_held(const mem_store *m, int64_t now_us, art_limit_tally *t) {
  if (art_tally_init(t, m->limits, m->n_limits) < 0) return ART_ENOMEM;
  for (size_t i = 0; i < m->n; i++) {
    const art_run_record *r = &m->runs[i]->record;
    if (r->lease_owner && r->lease_until_us > now_us) art_tally_add(t, r->queue, r->tenant, 1);
  }
  return 0;
}

/* The ready runs of `queues`, oldest first, into *ready (an array of *found). */
static int ready_runs(const mem_store *m, const char *const *queues, int64_t now_us,
                      mem_run ***ready, size_t *found) {
  *found = 0;
  if (!(*ready = calloc(m->n ? m->n : 1, sizeof **ready))) return ART_ENOMEM;
  for (size_t i = 0; i < m->n; i++)
    if (art_record_ready(&m->runs[i]->record, now_us) &&
        art_queue_matches(queues, m->runs[i]->record.queue))
      (*ready)[(*found)++] = m->runs[i];
  qsort(*ready, *found, sizeof **ready, oldest_first);
  return 0;
}

/* Oldest first, each that fits within its queue's and its tenant's limits. */
static int mem_lease_ready(art_store *s, const char *const *queues, const char *owner,
                           int64_t now_us, int64_t ttl_us, size_t max, art_run_record **out,
                           size_t *n, art_error *err) {
  mem_store *m = (mem_store *)s;
  mem_run **ready = NULL;
  art_run_record *list = calloc(max ? max : 1, sizeof *list);
  art_limit_tally tally = {0};
  size_t found = 0, taken = 0;
  int rc = list ? count_held(m, now_us, &tally) : ART_ENOMEM;
  if (rc == 0) rc = ready_runs(m, queues, now_us, &ready, &found);
  for (size_t i = 0; rc == 0 && i < found && taken < max; i++) {
    const art_run_record *r = &ready[i]->record;
    if (!art_tally_fits(&tally, r->queue, r->tenant)) continue;
    art_tally_add(&tally, r->queue, r->tenant, 1);
    rc = lease_one(ready[i], owner, now_us, ttl_us, &list[taken]);
    if (rc == 0) taken++;
  }
  free(ready);
  art_tally_dispose(&tally);
  if (rc == 0) {
    *out = list, *n = taken;
    return 0;
  }
  art_run_records_free(list, taken); /* the one that failed is empty */
  return art_error_set(err, ART_ENOMEM, "out of memory");
}

/* Queues before tenants, each kind by name: the order list_limits keeps. */
static int limit_order(const art_limit *a, art_limit_kind kind, const char *name) {
  if (a->kind != kind) return a->kind < kind ? -1 : 1;
  return strcmp(a->name, name);
}

static int mem_set_limit(art_store *s, art_limit_kind kind, const char *name, uint32_t max_running,
                         art_error *err) {
  mem_store *m = (mem_store *)s;
  int rc = art_limit_check(kind, name, err);
  if (rc < 0) return rc;
  size_t at = 0;
  while (at < m->n_limits && limit_order(&m->limits[at], kind, name) < 0) at++;
  bool exists = at < m->n_limits && limit_order(&m->limits[at], kind, name) == 0;
  if (exists && max_running) {
    m->limits[at].max_running = max_running;
  } else if (exists) {
    free(m->limits[at].name);
    memmove(&m->limits[at], &m->limits[at + 1], (--m->n_limits - at) * sizeof *m->limits);
  } else if (max_running) {
    art_limit *grown = realloc(m->limits, (m->n_limits + 1) * sizeof *grown);
    char *copy = grown ? strdup(name) : NULL;
    if (grown) m->limits = grown;
    if (!copy) return art_error_set(err, ART_ENOMEM, "out of memory");
    memmove(&m->limits[at + 1], &m->limits[at], (m->n_limits++ - at) * sizeof *m->limits);
    m->limits[at] = (art_limit){kind, copy, max_running};
  }
  return 0;
}

static int mem_list_limits(art_store *s, art_limit **out, size_t *n, art_error *err) {
  mem_store *m = (mem_store *)s;
  art_limit *list = calloc(m->n_limits ? m->n_limits : 1, sizeof *list);
  if (!list) return art_error_set(err, ART_ENOMEM, "out of memory");
  for (size_t i = 0; i < m->n_limits; i++) {
    list[i] = m->limits[i];
    if (!(list[i].name = strdup(m->limits[i].name))) {
      art_limits_free(list, i);
      return art_error_set(err, ART_ENOMEM, "out of memory");
    }
  }
  *out = list, *n = m->n_limits;
  return 0;
}

static void mem_close(art_store *s) {
  mem_store *m = (mem_store *)s;
  for (size_t i = 0; i < m->n; i++) run_free(m->runs[i]);
  free(m->runs);
  art_limits_free(m->limits, m->n_limits);
  free(m);
}

static const art_store_vtable mem_vtable = {.version = ART_STORE_VERSION,
                                            .name = "memory",
                                            .create_run = mem_create,
                                            .create_runs = mem_create_runs,
                                            .append = mem_append,
                                            .set_status = mem_set_status,
                                            .get_run = mem_get,
                                            .load_journal = mem_load,
                                            .list_runs = mem_list,
                                            .claim = mem_claim,
                                            .release = mem_release,
                                            .settle = mem_settle,
                                            .prune = mem_prune,
                                            .request_cancel = mem_request_cancel,
                                            .cancel_requested = mem_cancel_requested,
                                            .commit = mem_commit,
                                            .commit_waiting = mem_commit_waiting,
                                            .list_approvals = mem_list_approvals,
                                            .close = mem_close,
                                            .lease_ready = mem_lease_ready,
                                            .set_limit = mem_set_limit,
                                            .list_limits = mem_list_limits};

int art_store_open_memory(art_store **out, art_error *err) {
  mem_store *m = calloc(1, sizeof *m);
  if (!m) return art_error_set(err, ART_ENOMEM, "out of memory");
  m->base.vt = &mem_vtable;
  *out = &m->base;
  return 0;
}
