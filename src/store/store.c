/* What every store backend shares: names, records, and the journal sink. */
#include "agentrt/store.h"

#include <stdlib.h>
#include <string.h>

#include "agentrt/run.h"
#include "core/json_writer.h"
#include "core/names.h"
#include "core/version.h"
#include "store/store_internal.h"

static const char *const status_names[] = {"running",   "paused", "finished",
                                           "cancelled", "ready",  "queued"};
static const art_names run_status_names = {status_names, 6,
                                           "queued, running, ready, paused, finished, cancelled"};

const char *art_run_status_name(art_run_status s) {
  return art_names_name(&run_status_names, (int)s);
}

int art_run_status_parse(const char *name, art_run_status *out) {
  int v = art_names_find(&run_status_names, name);
  if (v < 0) return ART_EINVAL;
  *out = (art_run_status)v;
  return 0;
}

void art_run_record_dispose(art_run_record *r) {
  free(r->run_id);
  free(r->stop_reason);
  free(r->detail);
  free(r->spec_json);
  free(r->spec_dir);
  free(r->lease_owner);
  free(r->cancel_reason);
  free(r->queue);
  free(r->tenant);
  memset(r, 0, sizeof *r);
}

static void approval_record_dispose(art_approval_record *a) {
  free(a->run_id), free(a->action_id), free(a->tool), free(a->input_sha256);
  free(a->requested_by), free(a->reviewer), free(a->reason);
  memset(a, 0, sizeof *a);
}

void art_approval_records_free(art_approval_record *list, size_t n) {
  for (size_t i = 0; i < n; i++) approval_record_dispose(&list[i]);
  free(list);
}

void art_run_ids_free(char **run_ids, size_t n) {
  for (size_t i = 0; i < n; i++) free(run_ids[i]);
  free(run_ids);
}

int art_run_ids_add(char ***run_ids, size_t *n, const char *run_id) {
  char **grown = realloc(*run_ids, (*n + 1) * sizeof **run_ids);
  if (!grown) return ART_ENOMEM;
  *run_ids = grown;
  if (!(grown[*n] = strdup(run_id))) return ART_ENOMEM;
  (*n)++;
  return 0;
}

void art_store_close(art_store *s) {
  if (s) s->vt->close(s);
}

/* The journal sink: each event's body as JSON text (the store keeps the rest
 * of its envelope in columns).  A tool_call of a draft or write
 * tool is durable before the tool runs (the intent), and so is what follows a
 * side effect or a person: its result, approvals, human answers, stops. */
typedef struct journal {
  art_store *store;
  uint64_t generation;    /* the holder's lease generation: what it writes with */
  const char *run_id;     /* the run's (set at its first event), for sync */
  bool batched;           /* durable events wait for sync (art_store_sink_batched) */
  bool owes;              /* one of them is waiting */
  bool after_side_effect; /* the last tool_call was a draft or a write */
  art_jw text;            /* reused for every event */
  art_error err;          /* the last failure, in words (journal_why) */
} journal;

static bool must_be_durable(journal *j, const art_event *ev) {
  switch (ev->type) {
  case ART_EV_TOOL_CALL:
    j->after_side_effect = ev->u.tool_call.side_effect != ART_SIDE_READ;
    return j->after_side_effect;
  case ART_EV_TOOL_RESULT: return j->after_side_effect;
  case ART_EV_APPROVAL:
  case ART_EV_HUMAN_INPUT:
  case ART_EV_RESOLUTION:
  case ART_EV_STOP: return true;
  default: return false;
  }
}

/* The record an approval event carries; its strings are the event's. */
static art_approval_record approval_record(const art_run *run, const art_event *ev) {
  return (art_approval_record){.run_id = (char *)art_run_id(run),
                               .action_id = (char *)ev->u.approval.action_id,
                               .tool = (char *)ev->u.approval.tool,
                               .input_sha256 = (char *)ev->u.approval.input_sha256,
                               .requested_by = (char *)art_spec_actor(art_run_spec(run)),
                               .requested_at_us = ev->u.approval.requested_at_us,
                               .reviewer = (char *)ev->u.approval.reviewer,
                               .approved = ev->u.approval.approved,
                               .reason = (char *)ev->u.approval.reason,
                               .decided_at_us = ev->ts_us,
                               .expires_at_us = ev->u.approval.expires_at_us,
                               .event_seq = ev->seq};
}

/* An approval is written at once, with its record, even in a batch. */
static int journal_write(void *ud, const art_run *run, const art_event *ev) {
  journal *j = ud;
  if (art_event_write_body(ev, &j->text) < 0) return ART_ENOMEM;
  art_approval_record approval;
  bool is_approval = ev->type == ART_EV_APPROVAL;
  if (is_approval) approval = approval_record(run, ev);
  bool durable = must_be_durable(j, ev);
  bool held = durable && j->batched && !is_approval;
  j->run_id = art_run_id(run);
  int rc = j->store->vt->append(j->store, j->run_id, j->generation, ev->seq, ev->step, ev->ts_us,
                                ev->type, j->text.s, durable && !held,
                                is_approval ? &approval : NULL, &j->err);
  if (rc < 0 || !held) return rc;
  j->owes = true;
  return ART_SINK_HELD;
}

static int journal_sync(void *ud) {
  journal *j = ud;
  int rc = j->owes ? j->store->vt->commit(j->store, j->run_id, j->generation, &j->err) : 0;
  if (rc == 0) j->owes = false;
  return rc;
}

static const char *journal_why(void *ud) { return ((journal *)ud)->err.message; }

static void journal_close(void *ud) {
  journal *j = ud;
  art_jw_dispose(&j->text);
  free(j);
}

static int journal_sink(art_sink *out, art_store *store, uint64_t generation, bool batched,
                        art_error *err) {
  int rc = art_version_check("store", store->vt->version, ART_STORE_VERSION, err);
  if (rc < 0) return rc;
  journal *j = calloc(1, sizeof *j);
  if (!j) return art_error_set(err, ART_ENOMEM, "out of memory");
  j->store = store;
  j->batched = batched;
  j->generation = generation;
  *out = (art_sink){ART_SINK_VERSION, journal_write, journal_close, j, journal_sync, journal_why};
  return 0;
}

int art_store_sink_new(art_sink *out, art_store *store, uint64_t generation, art_error *err) {
  return journal_sink(out, store, generation, false, err);
}

int art_store_sink_batched(art_sink *out, art_store *store, uint64_t generation, art_error *err) {
  return journal_sink(out, store, generation, true, err);
}

static int copy_text(char **to, const char *from) {
  return from && !(*to = strdup(from)) ? ART_ENOMEM : 0;
}

int art_record_copy(art_run_record *to, const art_run_record *from) {
  *to = *from;
  to->run_id = to->stop_reason = to->detail = to->spec_json = to->spec_dir = to->lease_owner =
      to->cancel_reason = to->queue = to->tenant = NULL;
  if (copy_text(&to->run_id, from->run_id) < 0 ||
      copy_text(&to->cancel_reason, from->cancel_reason) < 0 ||
      copy_text(&to->stop_reason, from->stop_reason) < 0 ||
      copy_text(&to->detail, from->detail) < 0 || copy_text(&to->spec_json, from->spec_json) < 0 ||
      copy_text(&to->spec_dir, from->spec_dir) < 0 ||
      copy_text(&to->lease_owner, from->lease_owner) < 0 ||
      copy_text(&to->queue, from->queue) < 0 || copy_text(&to->tenant, from->tenant) < 0) {
    art_run_record_dispose(to);
    return ART_ENOMEM;
  }
  return 0;
}

int art_approval_record_copy(art_approval_record *to, const art_approval_record *from) {
  *to = *from;
  to->run_id = to->action_id = to->tool = to->input_sha256 = to->requested_by = to->reviewer =
      to->reason = NULL;
  if (copy_text(&to->run_id, from->run_id) == 0 &&
      copy_text(&to->action_id, from->action_id) == 0 && copy_text(&to->tool, from->tool) == 0 &&
      copy_text(&to->input_sha256, from->input_sha256) == 0 &&
      copy_text(&to->requested_by, from->requested_by) == 0 &&
      copy_text(&to->reviewer, from->reviewer) == 0 && copy_text(&to->reason, from->reason) == 0)
    return 0;
  approval_record_dispose(to);
  return ART_ENOMEM;
}

void art_run_records_free(art_run_record *list, size_t n) {
  for (size_t i = 0; i < n; i++) art_run_record_dispose(&list[i]);
  free(list);
}

bool art_queue_matches(const char *const *queues, const char *queue) {
  if (!queues) return true;
  for (size_t i = 0; queues[i]; i++)
    if (strcmp(queues[i], queue ? queue : ART_QUEUE_DEFAULT) == 0) return true;
  return false;
}

int art_record_older(const art_run_record *a, const art_run_record *b) {
  if (a->created_us != b->created_us) return a->created_us < b->created_us ? -1 : 1;
  return strcmp(a->run_id, b->run_id);
}

bool art_record_ready(const art_run_record *r, int64_t now_us) {
  bool free_to_take = !r->lease_owner || r->lease_until_us <= now_us;
  return free_to_take && (r->status == ART_RUN_QUEUED || r->status == ART_RUN_READY ||
                          r->status == ART_RUN_RUNNING);
}

const char *art_limit_kind_name(art_limit_kind kind) {
  return kind == ART_LIMIT_QUEUE ? "queue" : kind == ART_LIMIT_TENANT ? "tenant" : "?";
}

int art_limit_kind_parse(const char *name, art_limit_kind *out) {
  if (strcmp(name, "queue") == 0) return *out = ART_LIMIT_QUEUE, 0;
  if (strcmp(name, "tenant") == 0) return *out = ART_LIMIT_TENANT, 0;
  return ART_EINVAL;
}

void art_limits_free(art_limit *list, size_t n) {
  for (size_t i = 0; i < n; i++) free(list[i].name);
  free(list);
}

int art_limit_check(art_limit_kind kind, const char *name, art_error *err) {
  if (kind != ART_LIMIT_QUEUE && kind != ART_LIMIT_TENANT)
    return art_error_set(err, ART_EINVAL, "no limit kind %d (queue or tenant)", (int)kind);
  if (!name || !name[0])
    return art_error_set(err, ART_EINVAL, "a %s limit needs the %s's name",
                         art_limit_kind_name(kind), art_limit_kind_name(kind));
  return 0;
}

int art_tally_init(art_limit_tally *t, const art_limit *limits, size_t n) {
  *t = (art_limit_tally){limits, n, calloc(n ? n : 1, sizeof *t->held)};
  return t->held ? 0 : ART_ENOMEM;
}

/* Whether limit l binds a run of queue and tenant. */
static bool limit_binds(const art_limit *l, const char *queue, const char *tenant) {
  if (l->kind == ART_LIMIT_QUEUE) return strcmp(l->name, queue ? queue : ART_QUEUE_DEFAULT) == 0;
  return tenant && strcmp(l->name, tenant) == 0;
}

void art_tally_add(art_limit_tally *t, const char *queue, const char *tenant, uint32_t count) {
  for (size_t i = 0; i < t->n; i++)
    if (limit_binds(&t->limits[i], queue, tenant)) t->held[i] += count;
}

bool art_tally_fits(const art_limit_tally *t, const char *queue, const char *tenant) {
  for (size_t i = 0; i < t->n; i++)
    if (limit_binds(&t->limits[i], queue, tenant) && t->held[i] >= t->limits[i].max_running)
      return false;
  return true;
}

int art_tally_full(const art_limit_tally *t, art_limit_kind kind, const char ***names) {
  size_t n = 0;
  if (!(*names = calloc(t->n + 1, sizeof **names))) return ART_ENOMEM;
  for (size_t i = 0; i < t->n; i++)
    if (t->limits[i].kind == kind && t->held[i] >= t->limits[i].max_running)
      (*names)[n++] = t->limits[i].name;
  return 0;
}

void art_tally_dispose(art_limit_tally *t) {
  free(t->held);
  *t = (art_limit_tally){0};
}

int art_records_join(art_run_record **list, size_t *n, art_run_record *more, size_t k) {
  art_run_record *grown = k ? realloc(*list, (*n + k) * sizeof *grown) : *list;
  if (k && !grown) {
    art_run_records_free(more, k);
    return ART_ENOMEM;
  }
  if (k) memcpy(grown + *n, more, k * sizeof *more);
  free(more);
  *list = grown, *n += k;
  return 0;
}

/* Runs taken with ops->take, within the limits of t (added to as runs are
 * taken). */
static int lease_within(art_limit_tally *t, size_t max, const art_lease_ops *ops, void *ctx,
                        art_run_record **out, size_t *n, art_error *err) {
  int rc = 0;
  bool more = true;
  while (rc == 0 && more && *n < max) {
    const char **full_queues = NULL, **full_tenants = NULL;
    art_run_record *got = NULL;
    size_t k = 0;
    if (art_tally_full(t, ART_LIMIT_QUEUE, &full_queues) < 0 ||
        art_tally_full(t, ART_LIMIT_TENANT, &full_tenants) < 0)
      rc = art_error_set(err, ART_ENOMEM, "out of memory");
    if (rc == 0) rc = ops->take(ctx, full_queues, full_tenants, t->n ? 1 : max, &got, &k, err);
    free(full_queues), free(full_tenants);
    for (size_t i = 0; rc == 0 && i < k; i++) art_tally_add(t, got[i].queue, got[i].tenant, 1);
    more = k && t->n;
    if (rc == 0 && art_records_join(out, n, got, k) < 0)
      rc = art_error_set(err, ART_ENOMEM, "out of memory");
  }
  return rc;
}

int art_lease_within_limits(const art_lease_ops *ops, void *ctx, size_t max, art_run_record **out,
                            size_t *n, art_error *err) {
  art_limit *limits = NULL;
  size_t n_limits = 0;
  art_limit_tally tally = {0};
  *out = NULL, *n = 0;
  int rc = ops->limits(ctx, &limits, &n_limits, err);
  if (rc == 0 && art_tally_init(&tally, limits, n_limits) < 0)
    rc = art_error_set(err, ART_ENOMEM, "out of memory");
  if (rc == 0 && n_limits) rc = ops->count_held(ctx, &tally, err);
  if (rc == 0) rc = lease_within(&tally, max, ops, ctx, out, n, err);
  art_tally_dispose(&tally);
  art_limits_free(limits, n_limits);
  if (rc < 0) {
    art_run_records_free(*out, *n);
    *out = NULL, *n = 0;
  }
  return rc;
}

bool art_status_is_final(art_run_status s) {
  return s == ART_RUN_FINISHED || s == ART_RUN_CANCELLED;
}

bool art_store_url_is_postgres(const char *where) {
  return strncmp(where, "postgresql://", 13) == 0 || strncmp(where, "postgres://", 11) == 0;
}

int art_store_open_url(art_store **out, const char *where, art_error *err) {
  if (art_store_url_is_postgres(where)) return art_store_open_postgres(out, where, NULL, err);
  return art_store_open_sqlite(out, where, NULL, err);
}

/* The end of a `password=` value starting at v: a quoted one ends after its
 * closing quote, any other at a space or an '&'. */
static const char *password_end(const char *v) {
  if (*v != '\'') return v + strcspn(v, " &");
  for (v++; *v && *v != '\''; v++)
    if (*v == '\\' && v[1]) v++;
  return *v ? v + 1 : v;
}

/* Leaves out every `password=...` (a URL's query parameter, a conninfo
 * keyword) with the separator before it. */
static void drop_password_params(char *s) {
  for (char *at = s; (at = strstr(at, "password=")) != NULL;) {
    bool starts = at == s || strchr("?& \t", at[-1]);
    if (!starts) {
      at++;
      continue;
    }
    char *end = (char *)password_end(at + 9);
    char *from = at > s && strchr("& \t", at[-1]) ? at - 1 : at;
    if (from == at && (*end == '&' || *end == ' ')) end++;
    memmove(from, end, strlen(end) + 1);
    at = from;
  }
}

/* Leaves out a URL's user:PASSWORD@. */
static void drop_userinfo_password(char *s) {
  char *host = strstr(s, "://");
  if (!host) return;
  host += 3;
  size_t authority = strcspn(host, "/?");
  char *at = NULL;
  for (char *c = host; c < host + authority; c++)
    if (*c == '@') at = c;
  char *colon = at ? memchr(host, ':', (size_t)(at - host)) : NULL;
  if (colon) memmove(colon, at, strlen(at) + 1);
}

void art_store_url_redact(char *buf, size_t size, const char *where) {
  if (!size) return;
  snprintf(buf, size, "%s", where);
  drop_userinfo_password(buf);
  drop_password_params(buf);
}
