#include "model/http.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"

/* libcurl is loaded when a handle is made, not when a program using agentrt
 * starts: with what it links (TLS, Kerberos, LDAP, ...) it takes several
 * milliseconds to load, which every `agentrt` process would pay, model or not. */
typedef struct curl_api {
  void *lib;
  CURL *(*easy_init)(void);
  CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
  CURLcode (*easy_perform)(CURL *);
  CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
  void (*easy_cleanup)(CURL *);
  const char *(*easy_strerror)(CURLcode);
  struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
  void (*slist_free_all)(struct curl_slist *);
} curl_api;

#define CURL_LIBRARY "libcurl.so.4"

static int load_curl(curl_api *api, art_error *err) {
  static const char *const names[] = {"curl_easy_init",     "curl_easy_setopt",
                                      "curl_easy_perform",  "curl_easy_getinfo",
                                      "curl_easy_cleanup",  "curl_easy_strerror",
                                      "curl_slist_append",  "curl_slist_free_all"};
  void **slots[] = {(void **)&api->easy_init,     (void **)&api->easy_setopt,
                    (void **)&api->easy_perform,  (void **)&api->easy_getinfo,
                    (void **)&api->easy_cleanup,  (void **)&api->easy_strerror,
                    (void **)&api->slist_append,  (void **)&api->slist_free_all};
  /* Never unloaded: libcurl's global state (TLS set-up) lives as long as the process. */
  if (!(api->lib = dlopen(CURL_LIBRARY, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE)))
    return art_error_set(err, ART_EIO, "cannot load %s (install libcurl4): %s", CURL_LIBRARY,
                         dlerror());
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    if (!(*slots[i] = dlsym(api->lib, names[i])))
      return art_error_set(err, ART_EIO, "%s has no %s", CURL_LIBRARY, names[i]);
  return 0;
}

struct art_http {
  const art_allocator *alloc;
  curl_api api;
  CURL *curl;
  struct curl_slist *headers;
  char *auth; /* the Authorization header line; wiped before it is freed */
};

/* Where the callbacks put what arrives. */
typedef struct sink {
  art_http *h;
  art_http_response *res;
  size_t cap;
  bool too_large, no_memory;
} sink;

static size_t on_body(char *data, size_t size, size_t n, void *ud) {
  sink *s = ud;
  size_t add = size * n, need = s->res->len + add + 1;
  if (need > ART_HTTP_BODY_MAX) return s->too_large = true, 0;
  if (need > s->cap) {
    size_t cap = s->cap ? s->cap : 4096;
    while (cap < need) cap *= 2;
    char *body = art_resize(s->h->alloc, s->res->body, cap);
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
  sink *s = ud;
  size_t len = size * n;
  static const char name[] = "retry-after:";
  if (len > sizeof name && strncasecmp(line, name, sizeof name - 1) == 0) {
    size_t v = sizeof name - 1, end = len;
    while (end > v && (line[end - 1] == '\r' || line[end - 1] == '\n')) end--;
    snprintf(s->res->retry_after, sizeof s->res->retry_after, "%.*s", (int)(end - v), line + v);
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

int art_http_new(art_http **out, const char *url, const char *bearer, const art_allocator *alloc,
                 art_error *err) {
  alloc = art_allocator_or_default(alloc);
  art_http *h = art_zalloc(alloc, sizeof *h);
  if (!h) return art_error_set(err, ART_ENOMEM, "out of memory");
  h->alloc = alloc;
  int loaded = load_curl(&h->api, err);
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
  setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  *out = h;
  return 0;
}

void art_http_free(art_http *h) {
  if (!h) return;
  if (h->curl) h->api.easy_cleanup(h->curl);
  if (h->headers) h->api.slist_free_all(h->headers);
  if (h->auth) {
    volatile char *p = h->auth;
    while (*p) *p++ = '\0';
    art_release(h->alloc, h->auth);
  }
  if (h->api.lib) dlclose(h->api.lib);
  art_release(h->alloc, h);
}

static void transport_error(const sink *s, CURLcode rc, const char *msg, int timeout_ms) {
  art_http_response *r = s->res;
  r->status = 0;
  if (rc == CURLE_ABORTED_BY_CALLBACK) {
    snprintf(r->error, sizeof r->error, "interrupted");
  } else if (rc == CURLE_OPERATION_TIMEDOUT) {
    r->timed_out = true;
    snprintf(r->error, sizeof r->error, "timeout after %d ms", timeout_ms);
  } else if (s->too_large) {
    snprintf(r->error, sizeof r->error, "response larger than %zu bytes", ART_HTTP_BODY_MAX);
  } else {
    snprintf(r->error, sizeof r->error, "connection: %s", msg[0] ? msg : s->h->api.easy_strerror(rc));
  }
}

int art_http_post(art_http *h, const char *body, size_t len, int timeout_ms,
                  const art_interrupt *interrupt, art_http_response *res) {
  char msg[CURL_ERROR_SIZE] = "";
  sink s = {h, res, 0, false, false};
  memset(res, 0, sizeof *res);
  CURL *c = h->curl;
  CURLcode (*setopt)(CURL *, CURLoption, ...) = h->api.easy_setopt;
  setopt(c, CURLOPT_POSTFIELDS, body);
  setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
  setopt(c, CURLOPT_WRITEDATA, &s);
  setopt(c, CURLOPT_HEADERDATA, &s);
  setopt(c, CURLOPT_ERRORBUFFER, msg);
  setopt(c, CURLOPT_NOPROGRESS, interrupt ? 0L : 1L);
  setopt(c, CURLOPT_XFERINFODATA, (void *)interrupt);
  CURLcode rc = h->api.easy_perform(c);
  setopt(c, CURLOPT_ERRORBUFFER, NULL);
  if (s.no_memory) return ART_ENOMEM;
  long status = 0;
  if (rc == CURLE_OK && h->api.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK)
    res->status = (int)status;
  else
    transport_error(&s, rc, msg, timeout_ms);
  return 0;
}

void art_http_response_dispose(art_http *h, art_http_response *res) {
  art_release(h->alloc, res->body);
  res->body = NULL;
  res->len = 0;
}
