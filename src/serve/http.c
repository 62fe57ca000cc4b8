/* HTTP/1.1 on libmicrohttpd inside a libuv loop (http.h). */
#include "serve/http.h"

#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADERS 6

struct http_request {
  http_server *server;
  struct MHD_Connection *conn;
  char *method, *path;
  char *body;
  size_t len, cap;
  unsigned status;
  void *ud;
  char *headers[MAX_HEADERS][2];
  int n_headers;
};

struct http_stream {
  http_server *server;
  struct MHD_Connection *conn;
  http_fill_fn fill;
  void (*closed)(void *ud);
  void *ud;
  bool asleep; /* suspended until woken */
  bool ending; /* the server closes: the body ends at once */
  http_stream *prev, *next;
};

struct http_server {
  struct MHD_Daemon *mhd;
  uv_poll_t poll;  /* MHD's epoll descriptor */
  uv_timer_t tick; /* MHD_get_timeout, and a turn of MHD_run after a wake */
  http_handlers h;
  size_t max_body;
  http_stream *streams;
  char last_log[256]; /* what MHD said last: why it could not start */
  int open_handles;
  void (*closed)(void *ud);
  void *closed_ud;
};

/* ---- running MHD on the loop -------------------------------------------------- */

static void on_tick(uv_timer_t *t);

/* MHD's work, then its next deadline on the timer. */
static void run_mhd(http_server *s) {
  MHD_UNSIGNED_LONG_LONG ms;
  MHD_run(s->mhd);
  if (MHD_get_timeout(s->mhd, &ms) == MHD_YES)
    uv_timer_start(&s->tick, on_tick, ms, 0);
  else
    uv_timer_stop(&s->tick);
}

static void on_tick(uv_timer_t *t) { run_mhd(t->data); }

static void on_ready(uv_poll_t *p, int status, int events) {
  (void)status, (void)events;
  run_mhd(p->data);
}

/* MHD_run on the loop's next turn: never from inside one of MHD's callbacks. */
static void kick(http_server *s) { uv_timer_start(&s->tick, on_tick, 0, 0); }

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
  http_server *s = cls;
  vsnprintf(s->last_log, sizeof s->last_log, fmt, ap);
}

/* ---- requests ------------------------------------------------------------------ */

static void request_free(http_request *req) {
  for (int i = 0; i < req->n_headers; i++) free(req->headers[i][0]), free(req->headers[i][1]);
  free(req->method);
  free(req->path);
  free(req->body);
  free(req);
}

static http_request *request_new(http_server *s, struct MHD_Connection *conn, const char *url,
                                 const char *method) {
  http_request *req = calloc(1, sizeof *req);
  if (!req) return NULL;
  *req = (http_request){.server = s, .conn = conn, .method = strdup(method), .path = strdup(url)};
  if (!req->method || !req->path) {
    request_free(req);
    return NULL;
  }
  return req;
}

/* A Content-Length over the bound: refused before the body is read. */
static bool declared_too_large(const http_request *req) {
  const char *length = http_header(req, "Content-Length");
  return length && strtoull(length, NULL, 10) > req->server->max_body;
}

/* Appends a piece of the body; false once it would grow over the bound. */
static bool take_body(http_request *req, const char *data, size_t n) {
  if (n > req->server->max_body - req->len) return false;
  if (req->len + n + 1 > req->cap) {
    size_t cap = req->cap ? req->cap : 1024;
    while (cap < req->len + n + 1) cap *= 2;
    char *grown = realloc(req->body, cap);
    if (!grown) return false;
    req->body = grown, req->cap = cap;
  }
  memcpy(req->body + req->len, data, n);
  req->len += n;
  req->body[req->len] = '\0';
  return true;
}

static void reply_too_large(http_request *req) {
  char body[160];
  int n =
      snprintf(body, sizeof body,
               "{\"error\":{\"code\":\"too_large\",\"message\":\"the body is over %zu bytes\"}}\n",
               req->server->max_body);
  http_reply(req, 413, "application/json", body, (size_t)n);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls) {
  http_server *s = cls;
  http_request *req = *con_cls;
  (void)version;
  if (!req) {
    if (!(req = request_new(s, conn, url, method))) return MHD_NO;
    *con_cls = req;
    s->h.on_head(s->h.ud, req);
    if (!req->status && declared_too_large(req)) reply_too_large(req);
    return MHD_YES; /* a reply given now: MHD sends it, drops the body and closes */
  }
  if (*upload_size) {
    if (!take_body(req, upload, *upload_size)) return MHD_NO; /* chunked, over the bound */
    *upload_size = 0;
    return MHD_YES;
  }
  if (!req->status) s->h.on_request(s->h.ud, req);
  if (!req->status) return MHD_NO; /* a handler that gave no reply: the client is cut off */
  return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  http_server *s = cls;
  http_request *req = *con_cls;
  (void)conn, (void)toe;
  if (!req) return;
  if (s->h.on_done) s->h.on_done(s->h.ud, req);
  request_free(req);
  *con_cls = NULL;
}

const char *http_method(const http_request *req) { return req->method; }
const char *http_path(const http_request *req) { return req->path; }
const char *http_header(const http_request *req, const char *name) {
  return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}
const char *http_query(const http_request *req, const char *name) {
  return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}
const char *http_body(const http_request *req, size_t *len) {
  if (len) *len = req->len;
  return req->body ? req->body : "";
}
unsigned http_status(const http_request *req) { return req->status; }
void http_set_ud(http_request *req, void *ud) { req->ud = ud; }
void *http_ud(const http_request *req) { return req->ud; }

void http_add_header(http_request *req, const char *name, const char *value) {
  if (req->n_headers == MAX_HEADERS) return;
  char *n = strdup(name), *v = strdup(value);
  if (!n || !v) {
    free(n), free(v);
    return;
  }
  req->headers[req->n_headers][0] = n;
  req->headers[req->n_headers++][1] = v;
}

/* Sends `r` (taken) with the request's headers; a response MHD cannot queue
 * leaves the status 0, and the connection is closed. */
static void queue(http_request *req, unsigned status, const char *content_type,
                  struct MHD_Response *r) {
  if (!r) return;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
  for (int i = 0; i < req->n_headers; i++)
    MHD_add_response_header(r, req->headers[i][0], req->headers[i][1]);
  if (MHD_queue_response(req->conn, status, r) == MHD_YES) req->status = status;
  MHD_destroy_response(r);
}

void http_reply(http_request *req, unsigned status, const char *content_type, const char *body,
                size_t len) {
  queue(req, status, content_type,
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY));
}

/* ---- streams ------------------------------------------------------------------- */

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
  http_stream *st = cls;
  (void)pos;
  if (st->ending) return MHD_CONTENT_READER_END_OF_STREAM;
  ssize_t n = st->fill(st->ud, buf, max);
  if (n == HTTP_STREAM_END) return MHD_CONTENT_READER_END_OF_STREAM;
  if (n == 0) { /* nothing now: no work for this connection until it is woken */
    st->asleep = true;
    MHD_suspend_connection(st->conn);
  }
  return n;
}

static void stream_free(void *cls) {
  http_stream *st = cls;
  if (st->prev)
    st->prev->next = st->next;
  else
    st->server->streams = st->next;
  if (st->next) st->next->prev = st->prev;
  st->closed(st->ud);
  free(st);
}

int http_reply_stream(http_request *req, const char *content_type, http_fill_fn fill,
                      void (*closed)(void *ud), void *ud, http_stream **out) {
  http_stream *st = calloc(1, sizeof *st);
  if (!st) return ART_ENOMEM;
  http_server *s = req->server;
  *st = (http_stream){s, req->conn, fill, closed, ud, false, false, NULL, s->streams};
  struct MHD_Response *r =
      MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, st, stream_free);
  if (!r) {
    free(st);
    return ART_ENOMEM;
  }
  if (s->streams) s->streams->prev = st;
  s->streams = st;
  *out = st;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
  queue(req, 200, content_type, r); /* from here on, stream_free is MHD's to call */
  return req->status ? 0 : ART_EIO;
}

void http_stream_wake(http_stream *st) {
  if (!st->asleep) return;
  st->asleep = false;
  MHD_resume_connection(st->conn);
  kick(st->server);
}

/* ---- the server ---------------------------------------------------------------- */

/* "HOST:PORT" or "[V6]:PORT" as an address to listen on. */
static int resolve_listen(const char *listen, struct addrinfo **out, art_error *err) {
  char host[256];
  const char *colon = strrchr(listen, ':');
  if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof host || !colon[1])
    return art_error_set(err, ART_EINVAL, "--listen takes HOST:PORT, not \"%s\"", listen);
  const char *start = listen[0] == '[' ? listen + 1 : listen;
  size_t n = (size_t)(colon - start) - (listen[0] == '[' && colon[-1] == ']');
  snprintf(host, sizeof host, "%.*s", (int)n, start);
  struct addrinfo hints = {
      .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
  int rc = getaddrinfo(host, colon + 1, &hints, out);
  if (rc != 0) return art_error_set(err, ART_EINVAL, "--listen %s: %s", listen, gai_strerror(rc));
  return 0;
}

static struct MHD_Daemon *start_mhd(http_server *s, const struct addrinfo *ai,
                                    const http_options *opts) {
  unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
  if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
  return MHD_start_daemon(
      flags, 0, NULL, NULL, on_access, s, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)opts->timeout_s, MHD_OPTION_CONNECTION_LIMIT,
      (unsigned int)opts->max_connections, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)4096,
      MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1, MHD_OPTION_NOTIFY_COMPLETED,
      on_completed, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s, MHD_OPTION_END);
}

int http_server_new(http_server **out, uv_loop_t *uv, const http_options *opts,
                    const http_handlers *h, art_error *err) {
  struct addrinfo *ai;
  int rc = resolve_listen(opts->listen, &ai, err);
  if (rc < 0) return rc;
  http_server *s = calloc(1, sizeof *s);
  if (!s) {
    freeaddrinfo(ai);
    return art_error_set(err, ART_ENOMEM, "out of memory");
  }
  s->h = *h;
  s->max_body = opts->max_body;
  s->mhd = start_mhd(s, ai, opts);
  freeaddrinfo(ai);
  if (!s->mhd) {
    rc = art_error_set(err, ART_EIO, "cannot listen on %s: %s", opts->listen,
                       s->last_log[0] ? s->last_log : "libmicrohttpd would not start");
    free(s);
    return rc;
  }
  int epoll_fd = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD)->epoll_fd;
  uv_poll_init(uv, &s->poll, epoll_fd);
  uv_timer_init(uv, &s->tick);
  s->poll.data = s->tick.data = s;
  s->open_handles = 2;
  uv_poll_start(&s->poll, UV_READABLE, on_ready);
  run_mhd(s);
  *out = s;
  return 0;
}

uint16_t http_server_port(const http_server *s) {
  return MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT)->port;
}

static void handle_closed(uv_handle_t *handle) {
  http_server *s = handle->data;
  if (--s->open_handles > 0) return;
  void (*closed)(void *) = s->closed;
  void *ud = s->closed_ud;
  free(s);
  if (closed) closed(ud);
}

void http_server_close(http_server *s, void (*closed)(void *ud), void *ud) {
  s->closed = closed, s->closed_ud = ud;
  for (http_stream *st = s->streams; st; st = st->next) {
    st->ending = true;
    if (st->asleep) st->asleep = false, MHD_resume_connection(st->conn);
  }
  MHD_run(s->mhd);        /* the resumed streams end their bodies */
  uv_poll_stop(&s->poll); /* before MHD closes the descriptor it watches */
  MHD_stop_daemon(s->mhd);
  uv_close((uv_handle_t *)&s->poll, handle_closed);
  uv_close((uv_handle_t *)&s->tick, handle_closed);
}
