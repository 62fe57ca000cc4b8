/* Runs over HTTP: submit one, list them a page at a time, show one, and the
 * approvals waiting for people. */
#include "serve/service.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---- POST /v1/runs -------------------------------------------------------------- */

/* A registered spec's name: letters, digits, '-', '_' and '.', not first. */
static bool spec_name_ok(const char *name) {
  if (!name || !name[0] || name[0] == '.' || strlen(name) > 100) return false;
  for (const char *p = name; *p; p++)
    if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.') return false;
  return true;
}

/* The request's input as a task memory item the context shows the model.
 * A spec whose memory is not an array is left for the spec's check to name. */
static int add_input(json_t *spec, const json_t *input) {
  json_t *memory = json_object_get(spec, "memory");
  if (!memory && json_object_set_new(spec, "memory", memory = json_array()) < 0) return -1;
  if (!json_is_array(memory)) return 0;
  char *text = json_is_string(input) ? strdup(json_string_value(input))
                                     : json_dumps(input, JSON_COMPACT | JSON_ENCODE_ANY);
  int rc = text ? json_array_append_new(memory, json_pack("{s:s, s:s, s:s}", "id", "input", "scope",
                                                          "task", "text", text))
                : -1;
  free(text);
  return rc;
}

/* What a {"spec_ref", "goal", "input"} body may hold, checked: 0, or -1
 * having replied 400. */
static int check_reference(serve_call *c, http_request *req, const json_t *body) {
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)body, key, v) {
    if (strcmp(key, "spec_ref") && strcmp(key, "goal") && strcmp(key, "input"))
      return serve_refuse(req, 400, "bad_request", "$.%s: unknown member (spec_ref, goal, input)",
                          key);
  }
  if (!spec_name_ok(json_string_value(json_object_get(body, "spec_ref"))))
    return serve_refuse(req, 400, "bad_request", "$.spec_ref: the name of a registered spec");
  v = json_object_get(body, "goal");
  if (v && !json_is_string(v)) return serve_refuse(req, 400, "bad_request", "$.goal: a string");
  if (!c->srv->opts.specs_dir)
    return serve_refuse(req, 400, "spec", "this service has no registered specs (--specs DIR)");
  return 0;
}

/* The registered spec a body names, its goal and input set (*out, a new
 * reference; `name` says which in messages): 0, or -1 having replied. */
static int registered_spec(serve_call *c, http_request *req, const json_t *body, char *name,
                           size_t size, json_t **out) {
  const char *ref = json_string_value(json_object_get(body, "spec_ref"));
  const json_t *goal = json_object_get(body, "goal"), *input = json_object_get(body, "input");
  char path[4096];
  *out = NULL;
  if (check_reference(c, req, body) < 0) return -1;
  snprintf(path, sizeof path, "%s/%s.json", c->srv->opts.specs_dir, ref);
  snprintf(name, size, "spec %s", ref);
  json_t *spec = json_load_file(path, 0, NULL);
  if (!json_is_object(spec)) {
    json_decref(spec);
    return serve_refuse(req, 400, "spec", "no registered spec %s", ref);
  }
  if ((goal && json_object_set(spec, "goal", (json_t *)goal) < 0) ||
      (input && add_input(spec, input) < 0)) {
    json_decref(spec);
    return serve_refuse(req, 500, "internal", "out of memory");
  }
  *out = spec;
  return 0;
}

/* The run acts for the token: actor.id its name, actor.tenant its tenant (a
 * registered spec's are replaced, its route kept; a spec of one's own that
 * names others is refused).  0, or -1 having replied. */
static int set_actor(json_t *spec, const serve_token *t, bool registered, http_request *req) {
  json_t *actor = json_object_get(spec, "actor");
  if (!actor && json_object_set_new(spec, "actor", actor = json_object()) < 0)
    return serve_refuse(req, 500, "internal", "out of memory");
  if (!json_is_object(actor)) return serve_refuse(req, 400, "spec", "$.actor: an object");
  const char *member[] = {"id", "tenant"}, *want[] = {t->name, t->tenant};
  for (int i = 0; i < 2; i++) {
    const json_t *given = json_object_get(actor, member[i]);
    if (!registered && given &&
        (!json_is_string(given) || strcmp(json_string_value(given), want[i]) != 0))
      return serve_refuse(req, 400, "spec",
                          "$.actor.%s: a run submitted with token %s acts as %s of tenant %s "
                          "(leave actor.%s out)",
                          member[i], t->name, t->name, t->tenant, member[i]);
    if (json_object_set_new(actor, member[i], json_string(want[i])) < 0)
      return serve_refuse(req, 500, "internal", "out of memory");
  }
  return 0;
}

/* The spec checked as `agentrt submit` checks it, and queued as run_id: 0,
 * or -1 having replied. */
static int queue_run(serve_call *c, http_request *req, json_t *spec_json, const char *name,
                     char run_id[ART_RUN_ID_SIZE]) {
  art_spec *spec;
  art_error err = {0};
  json_object_del(spec_json, "run_id"); /* the service names every run */
  if (art_spec_parse(&spec, spec_json, name, c->srv->opts.specs_dir, NULL, &err) < 0)
    return serve_refuse(req, 400, err.code == ART_ENOMEM ? "internal" : "spec", "%s", err.message);
  art_run_id_generate(run_id);
  int rc = art_durable_submit(c->srv->store, spec, run_id, NULL, art_now_us(), &err);
  art_spec_free(spec);
  if (rc == ART_ESPEC) return serve_refuse(req, 400, "spec", "%s", err.message);
  if (rc < 0) {
    serve_store_error(req, &err);
    return -1;
  }
  return 0;
}

int serve_create_run(serve_call *c, http_request *req, const json_t *body,
                     char run_id[ART_RUN_ID_SIZE]) {
  json_t *spec = NULL;
  char name[160] = "the request's spec";
  int rc = -1;
  bool registered = json_object_get(body, "spec_ref") != NULL;
  if (registered) {
    registered_spec(c, req, body, name, sizeof name, &spec);
  } else if (!serve_may(c->token, SERVE_SUBMIT_SPEC)) {
    serve_error(req, 403, "forbidden",
                "a spec runs what it names (commands, MCP servers, models) on the workers' "
                "machines: only admin tokens submit their own; submit a registered one with "
                "{\"spec_ref\": NAME}");
  } else {
    spec = json_deep_copy(body);
    if (!spec) serve_error(req, 500, "internal", "out of memory");
  }
  if (spec && set_actor(spec, c->token, registered, req) == 0)
    rc = queue_run(c, req, spec, name, run_id);
  json_decref(spec);
  if (rc == 0) serve_runs_ready(c->srv);
  return rc;
}

void serve_submit(serve_call *c, http_request *req) {
  json_t *body = serve_body_object(req, false);
  char run_id[ART_RUN_ID_SIZE], location[64 + ART_RUN_ID_SIZE];
  if (!body) return;
  if (serve_create_run(c, req, body, run_id) == 0) {
    snprintf(location, sizeof location, "/v1/runs/%s", run_id);
    http_add_header(req, "Location", location);
    serve_json(req, 201, json_pack("{s:s, s:s}", "run_id", run_id, "status", "queued"));
  }
  json_decref(body);
}

/* ---- GET /v1/runs --------------------------------------------------------------- */

#define DEFAULT_PAGE 50
#define MAX_PAGE 1000

/* The order of a list, newest first: created_us down, then run_id up. */
int serve_newest_first(const void *a, const void *b) {
  const art_run_record *x = a, *y = b;
  if (x->created_us != y->created_us) return x->created_us > y->created_us ? -1 : 1;
  return strcmp(x->run_id, y->run_id);
}

/* After the cursor "CREATED_US:RUN_ID" (the last record of the page before)
 * in that order. */
static bool after_cursor(const art_run_record *r, int64_t created, const char *run_id) {
  return r->created_us < created || (r->created_us == created && strcmp(r->run_id, run_id) > 0);
}

typedef struct page_query {
  int status; /* < 0: every status */
  long limit;
  int64_t cursor_created;
  const char *cursor_run; /* NULL: from the first */
} page_query;

/* ?status=&limit=&cursor=: 0, or -1 having replied 400. */
static int read_page_query(http_request *req, page_query *q) {
  const char *status = http_query(req, "status"), *limit = http_query(req, "limit"),
             *cursor = http_query(req, "cursor");
  art_run_status s;
  char *end;
  *q = (page_query){-1, DEFAULT_PAGE, 0, NULL};
  if (status && art_run_status_parse(status, &s) < 0)
    return serve_refuse(req, 400, "bad_request",
                        "status is queued, running, ready, paused, finished or cancelled");
  if (status) q->status = (int)s;
  if (limit && ((q->limit = strtol(limit, &end, 10)) < 1 || q->limit > MAX_PAGE || *end))
    return serve_refuse(req, 400, "bad_request", "limit is a number from 1 to %d", MAX_PAGE);
  if (cursor) {
    q->cursor_created = strtoll(cursor, &end, 10);
    if (*end != ':' || !end[1])
      return serve_refuse(req, 400, "bad_request", "cursor is a next_cursor this API gave");
    q->cursor_run = end + 1;
  }
  return 0;
}

static bool in_page(serve_call *c, const page_query *q, const art_run_record *r, int64_t now) {
  if (q->cursor_run && !after_cursor(r, q->cursor_created, q->cursor_run)) return false;
  if (q->status >= 0 && (int)art_durable_status_now(r, now) != q->status) return false;
  return serve_tenants(c->token, r);
}

void serve_list_runs(serve_call *c, http_request *req) {
  page_query q;
  art_run_record *all;
  size_t n;
  art_error err = {0};
  if (read_page_query(req, &q) < 0) return;
  if (c->srv->store->vt->list_runs(c->srv->store, -1, &all, &n, &err) < 0)
    return serve_store_error(req, &err);
  qsort(all, n, sizeof *all, serve_newest_first);
  int64_t now = art_now_us();
  json_t *runs = json_array(), *next = json_null();
  const art_run_record *last = NULL;
  for (size_t i = 0; runs && i < n; i++) {
    if (!in_page(c, &q, &all[i], now)) continue;
    if (json_array_size(runs) == (size_t)q.limit) { /* one more: there is a next page */
      char cursor[64 + SERVE_ID_SIZE];
      snprintf(cursor, sizeof cursor, "%" PRId64 ":%s", last->created_us, last->run_id);
      json_decref(next);
      next = json_string(cursor);
      break;
    }
    if (json_array_append_new(runs, art_run_record_json(&all[i], now)) < 0)
      json_decref(runs), runs = NULL;
    last = &all[i];
  }
  serve_json(req, 200, runs ? json_pack("{s:o, s:o}", "runs", runs, "next_cursor", next) : NULL);
  art_run_records_free(all, n);
}

/* ---- GET /v1/runs/{id} ------------------------------------------------------------ */

/* The run rebuilt from its journal (to read, holding nothing): 0, or -1
 * having replied. */
static int rebuild(serve_call *c, http_request *req, const char *run_id, art_durable *d) {
  art_error err = {0};
  int rc = art_durable_open(d, c->srv->store, run_id, NULL, c->srv->opts.store_name, false, &err);
  if (rc == 0) return 0;
  if (rc != ART_ENOTFOUND && rc != ART_EBUSY)
    return serve_refuse(req, 500, "internal", "run %s cannot be rebuilt: %s", run_id, err.message);
  serve_store_error(req, &err);
  return -1;
}

/* What `agentrt runs show --json` prints: the result object, its status,
 * what it waits for, its approvals. */
static json_t *shown(serve *s, const art_durable *d, art_error *err) {
  art_approval_record *list;
  size_t n;
  if (s->store->vt->list_approvals(s->store, d->record.run_id, &list, &n, err) < 0) return NULL;
  json_t *approvals = art_approval_records_json(list, n);
  art_approval_records_free(list, n);
  json_t *result = art_run_result_json(d->run);
  const char *status = art_run_status_name(art_durable_status_now(&d->record, art_now_us()));
  if (!result || !approvals || json_object_set_new(result, "status", json_string(status)) < 0 ||
      json_object_set_new(result, "pending", art_durable_pending_json(d->run)) < 0 ||
      json_object_set(result, "approvals", approvals) < 0) {
    json_decref(result);
    result = NULL;
    art_error_set(err, ART_ENOMEM, "out of memory");
  }
  json_decref(approvals);
  return result;
}

json_t *serve_run_result(serve *s, const char *run_id, art_error *err) {
  art_durable d;
  if (art_durable_open(&d, s->store, run_id, NULL, s->opts.store_name, false, err) < 0) return NULL;
  json_t *j = shown(s, &d, err);
  art_durable_dispose(&d);
  return j;
}

void serve_show_run(serve_call *c, http_request *req) {
  art_run_record r;
  art_error err = {0};
  if (serve_visible_run(c, req, &r) < 0) return;
  art_run_record_dispose(&r);
  json_t *j = serve_run_result(c->srv, c->run_id, &err);
  if (j)
    serve_json(req, 200, j);
  else if (err.code == ART_ENOTFOUND || err.code == ART_EBUSY)
    serve_store_error(req, &err);
  else
    serve_error(req, 500, "internal", "run %s cannot be rebuilt: %s", c->run_id, err.message);
}

/* ---- GET /v1/approvals?state=pending --------------------------------------------- */

/* What a paused run waits for, with the run and when it paused. */
static json_t *waiting_for(serve_call *c, http_request *req, const art_run_record *r) {
  art_durable d;
  if (rebuild(c, req, r->run_id, &d) < 0) return NULL;
  json_t *pending = art_durable_pending_json(d.run);
  size_t events = art_run_event_count(d.run);
  const art_event *stop = events ? art_run_event(d.run, events - 1) : NULL;
  if (json_is_object(pending) &&
      (json_object_set_new(pending, "run_id", json_string(r->run_id)) < 0 ||
       json_object_set_new(pending, "requested_by", json_pack("s?", art_spec_actor(d.spec))) < 0 ||
       json_object_set_new(pending, "requested_at_us", json_integer(stop ? stop->ts_us : 0)) < 0))
    json_decref(pending), pending = NULL;
  art_durable_dispose(&d);
  if (!pending) serve_error(req, 500, "internal", "out of memory");
  return pending;
}

static int oldest_first(const void *a, const void *b) {
  json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "requested_at_us"));
  json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "requested_at_us"));
  return x < y ? -1 : x > y;
}

/* The array sorted oldest first (a new reference). */
static json_t *sorted_oldest_first(json_t *list) {
  size_t n = json_array_size(list);
  json_t **items = calloc(n + 1, sizeof *items), *sorted = json_array();
  for (size_t i = 0; items && i < n; i++) items[i] = json_array_get(list, i);
  if (items) qsort(items, n, sizeof *items, oldest_first);
  for (size_t i = 0; items && sorted && i < n; i++)
    if (json_array_append(sorted, items[i]) < 0) json_decref(sorted), sorted = NULL;
  free(items);
  return items ? sorted : (json_decref(sorted), NULL);
}

void serve_list_approvals(serve_call *c, http_request *req) {
  const char *state = http_query(req, "state");
  art_run_record *all;
  size_t n;
  art_error err = {0};
  if (state && strcmp(state, "pending") != 0)
    return serve_error(req, 400, "bad_request", "state is pending (what waits for people)");
  if (c->srv->store->vt->list_runs(c->srv->store, ART_RUN_PAUSED, &all, &n, &err) < 0)
    return serve_store_error(req, &err);
  json_t *list = json_array();
  for (size_t i = 0; list && i < n; i++) {
    if (!serve_tenants(c->token, &all[i])) continue;
    json_t *one = waiting_for(c, req, &all[i]);
    if (!one)
      json_decref(list), list = NULL; /* replied */
    else if (json_array_append_new(list, one) < 0)
      json_decref(list), list = NULL;
  }
  art_run_records_free(all, n);
  if (!list) {
    if (!http_status(req)) serve_error(req, 500, "internal", "out of memory");
    return;
  }
  json_t *sorted = sorted_oldest_first(list);
  json_decref(list);
  serve_json(req, 200, sorted ? json_pack("{s:o}", "approvals", sorted) : NULL);
}
