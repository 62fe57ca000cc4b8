#include "model/http.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "model/curl_api.h"
#include "model/http_multi.h"

/* Where the callbacks put what arrives, for the request in flight. */
typedef struct sink {
  art_http_response *res;
  size_t cap;
  bool too_large, no_memory;
} sink;

struct art_http {
  const art_allocator *alloc;
  art_curl_api api;
  CURL *curl;
  struct curl_slist *headers;
  char *auth; /* the Authorization header line; wiped before it is freed */
  /* The request in flight: */
  sink sink;
  int timeout_ms;
  char msg[CURL_ERROR_SIZE];
  /* On a loop: */
  art_curl_transfer transfer;
  art_http_done_fn done;
  void *done_ud;
};

static size_t on_body(char *data, size_t size, size_t n, void *ud) {
  art_http *h = ud;
  sink *s = &h->sink;
  size_t add = size * n, need = s->res->len + add + 1;
  if (need > ART_HTTP_BODY_MAX) return s->too_large = true, 0;
  if (need > s->cap) {
    size_t cap = s->cap ? s->cap : 4096;
    while (cap < need) cap *= 2;
    char *body = art_resize(h->alloc, s->res->body, cap);
    if (!body) return s->no_memory = true, 0;
    s->res->body = body;
    s->cap = cap;
  }
  memcpy(s->res->body + s->res->len, data, add);
  s->res->len += add;
  s->res->body[s->res->len] = '\0';
  return add;
}

static size_t on_header(char *line, size_t size, size_t n, void *ud) {
  art_http *h = ud;
  size_t len = size * n;
  static const char name[] = "retry-after:";
  if (len > sizeof name && strncasecmp(line, name, sizeof name - 1) == 0) {
    size_t v = sizeof name - 1, end = len;
    while (end > v && (line[end - 1] == '\r' || line[end - 1] == '\n')) end--;
    snprintf(h->sink.res->retry_after, sizeof h->sink.res->retry_after, "%.*s", (int)(end - v),
             line + v);
  }
  return len;
}

/* libcurl asks this while a request is in flight (at least once a second). */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow) {
  const art_interrupt *interrupt = ud;
  (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
  return interrupt && interrupt->requested(interrupt->ud);
}

static int oom(art_http *h, art_error *err) {
  art_http_free(h);
  return art_error_set(err, ART_ENOMEM, "out of memory");
}

static int add_header(art_http *h, const char *line) {
  struct curl_slist *l = h->api.slist_append(h->headers, line);
  if (!l) return ART_ENOMEM;
  h->headers = l;
  return 0;
}

static int set_auth(art_http *h, const char *bearer) {
  size_t n = strlen(bearer) + sizeof "Authorization: Bearer ";
  if (!(h->auth = art_alloc(h->alloc, n))) return ART_ENOMEM;
  snprintf(h->auth, n, "Authorization: Bearer %s", bearer);
  return add_header(h, h->auth);
}

static void transfer_done(art_curl_transfer *t, CURLcode rc);

int art_http_new(art_http **out, const char *url, const char *bearer, const art_allocator *alloc,
                 art_error *err) {
  alloc = art_allocator_or_default(alloc);
  art_http *h = art_zalloc(alloc, sizeof *h);
  if (!h) return art_error_set(err, ART_ENOMEM, "out of memory");
  h->alloc = alloc;
  int loaded = art_curl_api_load(&h->api, err);
  if (loaded < 0) {
    art_http_free(h);
    return loaded;
  }
  if (!(h->curl = h->api.easy_init())) return oom(h, err);
  if (add_header(h, "Content-Type: application/json") < 0 || add_header(h, "Expect:") < 0 ||
      (bearer && set_auth(h, bearer) < 0))
    return oom(h, err);
  CURL *c = h->curl;
  CURLcode (*setopt)(CURL *, CURLoption, ...) = h->api.easy_setopt;
  if (setopt(c, CURLOPT_URL, url) != CURLE_OK) return oom(h, err);
  setopt(c, CURLOPT_HTTPHEADER, h->headers);
  setopt(c, CURLOPT_NOSIGNAL, 1L);
  setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  setopt(c, CURLOPT_WRITEDATA, h);
  setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  setopt(c, CURLOPT_HEADERDATA, h);
  setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  h->transfer = (art_curl_transfer){.easy = c, .done = transfer_done};
  *out = h;
  return 0;
}

void art_http_free(art_http *h) {
  if (!h) return;
  art_curl_transfer_dispose(&h->transfer);
  if (h->curl) h->api.easy_cleanup(h->curl);
  if (h->headers) h->api.slist_free_all(h->headers);
  if (h->auth) {
    volatile char *p = h->auth;
    while (*p) *p++ = '\0';
    art_release(h->alloc, h->auth);
  }
  art_curl_api_unload(&h->api);
  art_release(h->alloc, h);
}

static void transport_error(art_http *h, CURLcode rc) {
  art_http_response *r = h->sink.res;
  r->status = 0;
  if (rc == CURLE_ABORTED_BY_CALLBACK) {
    snprintf(r->error, sizeof r->error, "interrupted");
  } else if (rc == CURLE_OPERATION_TIMEDOUT) {
    r->timed_out = true;
    snprintf(r->error, sizeof r->error, "timeout after %d ms", h->timeout_ms);
  } else if (h->sink.too_large) {
    snprintf(r->error, sizeof r->error, "response larger than %zu bytes", ART_HTTP_BODY_MAX);
  } else {
    snprintf(r->error, sizeof r->error, "connection: %.240s", /* curl says less */
             h->msg[0] ? h->msg : h->api.easy_strerror(rc));
  }
}

/* The request's options, the same for both ways of sending it. */
static void request_begin(art_http *h, const char *body, size_t len, int timeout_ms,
                          art_http_response *res) {
  memset(res, 0, sizeof *res);
  h->sink = (sink){res, 0, false, false};
  h->timeout_ms = timeout_ms;
  h->msg[0] = '\0';
  CURL *c = h->curl;
  CURLcode (*setopt)(CURL *, CURLoption, ...) = h->api.easy_setopt;
  setopt(c, CURLOPT_POSTFIELDS, body);
  setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
  setopt(c, CURLOPT_ERRORBUFFER, h->msg);
}

/* What the request came to: the response, or why there was none. */
static int request_end(art_http *h, CURLcode rc) {
  h->api.easy_setopt(h->curl, CURLOPT_ERRORBUFFER, NULL);
  if (h->sink.no_memory) return ART_ENOMEM;
  long status = 0;
  if (rc == CURLE_OK && h->api.easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK)
    h->sink.res->status = (int)status;
  else
    transport_error(h, rc);
  return 0;
}

int art_http_post(art_http *h, const char *body, size_t len, int timeout_ms,
                  const art_interrupt *interrupt, art_http_response *res) {
  request_begin(h, body, len, timeout_ms, res);
  h->api.easy_setopt(h->curl, CURLOPT_NOPROGRESS, interrupt ? 0L : 1L);
  h->api.easy_setopt(h->curl, CURLOPT_XFERINFODATA, (void *)interrupt);
  return request_end(h, h->api.easy_perform(h->curl));
}

static void transfer_done(art_curl_transfer *t, CURLcode rc) {
  art_http *h = (art_http *)((char *)t - offsetof(art_http, transfer));
  h->done(h, request_end(h, rc), h->done_ud);
}

int art_http_start(art_http *h, struct uv_loop_s *uv, const char *body, size_t len, int timeout_ms,
                   long max_connections, art_http_response *res, art_http_done_fn done, void *ud,
                   art_error *err) {
  request_begin(h, body, len, timeout_ms, res);
  h->api.easy_setopt(h->curl, CURLOPT_NOPROGRESS, 1L);
  h->done = done;
  h->done_ud = ud;
  int rc = art_curl_transfer_start(&h->transfer, &h->api, uv, max_connections, err);
  if (rc < 0) h->api.easy_setopt(h->curl, CURLOPT_ERRORBUFFER, NULL);
  return rc;
}

void art_http_cancel(art_http *h) {
  if (!h->transfer.in_flight) return;
  art_curl_transfer_cancel(&h->transfer);
  h->api.easy_setopt(h->curl, CURLOPT_ERRORBUFFER, NULL);
}

void art_http_response_dispose(art_http *h, art_http_response *res) {
  art_release(h->alloc, res->body);
  res->body = NULL;
  res->len = 0;
}
