/* The service (serve.h): routes, bearer tokens, roles, and the replies every
 * handler shares. */
#include "serve/service.h"

#include <stdarg.h>
#include <string.h>

/* ---- roles ---------------------------------------------------------------------- */

bool serve_may(const serve_token *t, serve_act act) {
  switch (act) {
  case SERVE_READ:
  case SERVE_SUBMIT:
  case SERVE_ANSWER: return true;
  case SERVE_SUBMIT_SPEC: return t->role == SERVE_ADMIN;
  case SERVE_APPROVE: return t->role == SERVE_REVIEWER || t->role == SERVE_ADMIN;
  case SERVE_RESOLVE:
  case SERVE_CANCEL_ANY:
  case SERVE_METRICS: return t->role == SERVE_OPERATOR || t->role == SERVE_ADMIN;
  }
  return false;
}

/* ---- replies -------------------------------------------------------------------- */

void serve_json(http_request *req, unsigned status, json_t *j) {
  char *text = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
  json_decref(j);
  if (!text) {
    static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}\n";
    http_reply(req, 500, "application/json", oom, sizeof oom - 1);
    return;
  }
  size_t len = strlen(text);
  text[len] = '\n'; /* json_dumps leaves room: the NUL becomes the newline */
  http_reply(req, status, "application/json", text, len + 1);
  free(text);
}

static void error_v(http_request *req, unsigned status, const char *code, const char *fmt,
                    va_list ap) {
  char message[2 * ART_ERRMSG_SIZE];
  vsnprintf(message, sizeof message, fmt, ap);
  serve_json(req, status, json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message));
}

void serve_error(http_request *req, unsigned status, const char *code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  error_v(req, status, code, fmt, ap);
  va_end(ap);
}

int serve_refuse(http_request *req, unsigned status, const char *code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  error_v(req, status, code, fmt, ap);
  va_end(ap);
  return -1;
}

void serve_store_error(http_request *req, const art_error *err) {
  if (err->code == ART_ENOTFOUND)
    serve_error(req, 404, "not_found", "%s", err->message);
  else if (err->code == ART_EBUSY)
    serve_error(req, 503, "busy", "%s", err->message);
  else
    serve_error(req, 500, "store", "%s", err->message);
}

json_t *serve_body_object(http_request *req, bool empty_ok) {
  size_t len;
  const char *body = http_body(req, &len);
  json_error_t jerr;
  if (len == 0 && empty_ok) return json_object();
  json_t *j = json_loadb(body, len, 0, &jerr);
  if (!j) {
    serve_error(req, 400, "bad_request", "the body is not JSON: %s (line %d, column %d)", jerr.text,
                jerr.line, jerr.column);
    return NULL;
  }
  if (!json_is_object(j)) {
    json_decref(j);
    serve_error(req, 400, "bad_request", "the body must be a JSON object");
    return NULL;
  }
  return j;
}

void serve_runs_ready(serve *s) {
  if (s->opts.runs_ready) s->opts.runs_ready(s->opts.runs_ready_ud);
}

/* ---- tenants -------------------------------------------------------------------- */

/* The run's tenant is its record's (the spec's actor.tenant, kept beside
 * it); who submitted it, its actor's id, is only in the spec. */
bool serve_tenants(const serve_token *t, const art_run_record *r) {
  return r->tenant && strcmp(r->tenant, t->tenant) == 0;
}

bool serve_submitted(const serve_token *t, const art_run_record *r) {
  json_t *spec = r->spec_json ? json_loads(r->spec_json, 0, NULL) : NULL;
  const char *id = json_string_value(json_object_get(json_object_get(spec, "actor"), "id"));
  bool is = id && strcmp(id, t->name) == 0;
  json_decref(spec);
  return is;
}

int serve_visible_run(serve_call *c, http_request *req, art_run_record *out) {
  art_error err = {0};
  art_store *store = c->srv->store;
  int rc = store->vt->get_run(store, c->run_id, out, &err);
  if (rc == ART_ENOTFOUND) return serve_refuse(req, 404, "not_found", "no run %s", c->run_id);
  if (rc < 0) {
    serve_store_error(req, &err);
    return -1;
  }
  if (serve_tenants(c->token, out)) return 0;
  art_run_record_dispose(out);
  return serve_refuse(req, 404, "not_found", "no run %s", c->run_id); /* as a missing one */
}

/* ---- routes --------------------------------------------------------------------- */

static void healthz(serve_call *c, http_request *req) {
  (void)c;
  serve_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

typedef void (*serve_handler)(serve_call *c, http_request *req);
/* "{id}" in a pattern is a run id. */
static const struct route {
  const char *method, *pattern;
  serve_handler handler;
  bool open; /* no token needed */
  int arg;
} routes[] = {
    {"GET", "/", serve_console, true, 0},
    {"GET", "/console.js", serve_console, true, 0},
    {"GET", "/console.css", serve_console, true, 0},
    {"GET", "/healthz", healthz, true, 0},
    {"GET", "/metrics", serve_metrics, false, 0},
    {"POST", "/v1/runs", serve_submit, false, 0},
    {"GET", "/v1/runs", serve_list_runs, false, 0},
    {"GET", "/v1/runs/{id}", serve_show_run, false, 0},
    {"GET", "/v1/runs/{id}/events", serve_events, false, 0},
    {"POST", "/v1/runs/{id}/approve", serve_decide, false, ART_DECIDE_APPROVE},
    {"POST", "/v1/runs/{id}/deny", serve_decide, false, ART_DECIDE_DENY},
    {"POST", "/v1/runs/{id}/answer", serve_decide, false, ART_DECIDE_ANSWER},
    {"POST", "/v1/runs/{id}/resolve", serve_decide, false, ART_DECIDE_RESOLVE},
    {"POST", "/v1/runs/{id}/cancel", serve_decide, false, ART_DECIDE_CANCEL},
    {"GET", "/v1/approvals", serve_list_approvals, false, 0},
    /* the Agent Protocol's (agent_protocol.c) */
    {"POST", "/runs", serve_protocol_create, false, SERVE_CREATE_ONLY},
    {"POST", "/runs/wait", serve_protocol_create, false, SERVE_CREATE_WAIT},
    {"POST", "/runs/stream", serve_protocol_create, false, SERVE_CREATE_STREAM},
    {"POST", "/runs/search", serve_protocol_search, false, 0},
    {"GET", "/runs/{id}", serve_protocol_show, false, 0},
    {"GET", "/runs/{id}/wait", serve_protocol_wait, false, 0},
    {"GET", "/runs/{id}/stream", serve_event_stream_to_stop, false, 0},
    {"POST", "/runs/{id}/cancel", serve_decide, false, ART_DECIDE_CANCEL},
};

/* Whether `path` is `pattern`, its {id} into id (which must fit). */
static bool path_matches(const char *pattern, const char *path, char id[SERVE_ID_SIZE]) {
  const char *hole = strstr(pattern, "{id}");
  if (!hole) return strcmp(pattern, path) == 0;
  size_t before = (size_t)(hole - pattern);
  if (strncmp(pattern, path, before) != 0) return false;
  const char *start = path + before, *end = strchr(start, '/');
  size_t n = end ? (size_t)(end - start) : strlen(start);
  if (n == 0 || n >= SERVE_ID_SIZE || strcmp(hole + 4, end ? end : "") != 0) return false;
  memcpy(id, start, n);
  id[n] = '\0';
  return true;
}

/* The route of the request; *path_known when the path has a route under
 * another method. */
static const struct route *route_of(const http_request *req, char id[SERVE_ID_SIZE],
                                    bool *path_known) {
  *path_known = false;
  for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
    if (!path_matches(routes[i].pattern, http_path(req), id)) continue;
    if (strcmp(routes[i].method, http_method(req)) == 0) return &routes[i];
    *path_known = true;
  }
  return NULL;
}

/* The token of "Authorization: Bearer TOKEN", or NULL. */
static const serve_token *bearer(const serve *s, const http_request *req) {
  const char *auth = http_header(req, "Authorization");
  if (!auth || strncasecmp(auth, "Bearer ", 7) != 0) return NULL;
  return serve_tokens_find(&s->tokens, auth + 7);
}

static void on_head(void *ud, http_request *req) {
  serve *s = ud;
  serve_call *c = calloc(1, sizeof *c);
  if (!c) return serve_error(req, 500, "internal", "out of memory");
  c->srv = s;
  http_set_ud(req, c);
  bool path_known;
  const struct route *r = route_of(req, c->run_id, &path_known);
  if (!r && path_known)
    return serve_error(req, 405, "method_not_allowed", "%s is not allowed on %s", http_method(req),
                       http_path(req));
  if (!r) return serve_error(req, 404, "not_found", "no such path: %s", http_path(req));
  c->handler = r->handler;
  c->arg = r->arg;
  if (r->open) return;
  if (!(c->token = bearer(s, req))) {
    http_add_header(req, "WWW-Authenticate", "Bearer");
    return serve_error(req, 401, "unauthorized", "a valid bearer token is required");
  }
}

static void on_request(void *ud, http_request *req) {
  serve_call *c = http_ud(req);
  (void)ud;
  c->handler(c, req);
}

/* One line a request: who (a token's name, never the token) did what.  The
 * path comes unescaped from the client: a control character in it (a
 * newline, to forge a line) is written as '?'. */
static void on_done(void *ud, const http_request *req) {
  serve *s = ud;
  serve_call *c = http_ud(req);
  char path[512];
  snprintf(path, sizeof path, "%s", http_path(req));
  for (char *p = path; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
  if (s->opts.log)
    fprintf(s->opts.log, "%s %s %u %s\n", http_method(req), path, http_status(req),
            c && c->token ? c->token->name : "-");
  free(c);
}

/* ---- the service ---------------------------------------------------------------- */

int serve_new(serve **out, uv_loop_t *uv, art_store *store, const serve_options *opts,
              art_error *err) {
  serve *s = calloc(1, sizeof *s);
  if (!s) return art_error_set(err, ART_ENOMEM, "out of memory");
  s->store = store;
  s->opts = *opts;
  if (!s->opts.max_body) s->opts.max_body = 1024 * 1024;
  if (!s->opts.timeout_s) s->opts.timeout_s = 30;
  if (!s->opts.max_connections) s->opts.max_connections = 10000;
  if (!s->opts.follow_ms) s->opts.follow_ms = 200;
  if (!s->opts.keepalive_s) s->opts.keepalive_s = 15;
  art_holder_name(s->holder, sizeof s->holder, "serve");
  int rc = serve_tokens_load(&s->tokens, opts->tokens_path, err);
  http_options http = {s->opts.listen, s->opts.max_body, s->opts.timeout_s,
                       s->opts.max_connections};
  http_handlers h = {on_head, on_request, on_done, s};
  if (rc == 0) rc = http_server_new(&s->http, uv, &http, &h, err);
  if (rc < 0) {
    serve_tokens_dispose(&s->tokens);
    free(s);
    return rc;
  }
  uv_timer_init(uv, &s->follow);
  s->follow.data = s;
  s->open_parts = 2;
  *out = s;
  return 0;
}

uint16_t serve_port(const serve *s) { return http_server_port(s->http); }

static void part_closed(void *ud) {
  serve *s = ud;
  if (--s->open_parts > 0) return;
  void (*closed)(void *) = s->closed;
  void *closed_ud = s->closed_ud;
  serve_tokens_dispose(&s->tokens);
  free(s);
  if (closed) closed(closed_ud);
}

static void timer_closed(uv_handle_t *h) { part_closed(h->data); }

void serve_close(serve *s, void (*closed)(void *ud), void *ud) {
  s->closed = closed, s->closed_ud = ud;
  uv_close((uv_handle_t *)&s->follow, timer_closed);
  http_server_close(s->http, part_closed, s); /* the streams end: their followers go */
}
