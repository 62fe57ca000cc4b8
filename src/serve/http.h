/* HTTP/1.1 for the service: libmicrohttpd run inside a libuv loop, in its
 * external epoll mode (its epoll descriptor watched by a uv_poll_t, MHD_run
 * when it is ready, a uv timer for MHD_get_timeout), so requests are handled
 * on the loop's thread beside the runs a worker drives there.
 *
 * A request is told twice: when its head has come (on_head may reply at once,
 * before any body is read: a 401, a 404), and when its body has come whole
 * (on_request replies).  Bodies are bounded: a Content-Length over the bound
 * is a 413 before anything is read; a chunked body that grows over it closes
 * the connection.  A client that sends nothing for `timeout_s` is cut off.
 *
 * A stream (Server-Sent Events) is a reply whose body a fill function makes
 * as the client reads: the server never holds more for a stream than fill
 * gave it last, however slowly the client reads.  When fill has nothing, the
 * connection is suspended (it costs no work) until http_stream_wake. */
#ifndef ART_SERVE_HTTP_H
#define ART_SERVE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "agentrt/common.h"

typedef struct http_server http_server;
typedef struct http_request http_request;
typedef struct http_stream http_stream;

typedef struct http_handlers {
  /* The head has come; reply now, or leave the request to on_request. */
  void (*on_head)(void *ud, http_request *req);
  void (*on_request)(void *ud, http_request *req);
  /* The request is over (replied, or its client went away): for a log. */
  void (*on_done)(void *ud, const http_request *req);
  void *ud;
} http_handlers;

typedef struct http_options {
  const char *listen; /* "HOST:PORT" (an IPv4 address, or [IPv6]); port 0: any free one */
  size_t max_body;    /* bytes */
  unsigned timeout_s; /* a connection idle this long is closed */
  unsigned max_connections;
} http_options;

/* Listening, on `uv`, once this returns 0.  ART_EINVAL for a bad `listen`,
 * ART_EIO when it cannot listen there (err says why). */
int http_server_new(http_server **out, uv_loop_t *uv, const http_options *opts,
                    const http_handlers *h, art_error *err);
/* The port it listens on. */
uint16_t http_server_port(const http_server *s);
/* Ends every stream (their clients see the end of the body), closes every
 * connection and the listening socket, and frees the server once its libuv
 * handles are closed (the loop must run on for that); then `closed`. */
void http_server_close(http_server *s, void (*closed)(void *ud), void *ud);

const char *http_method(const http_request *req);
const char *http_path(const http_request *req);
const char *http_header(const http_request *req, const char *name);
const char *http_query(const http_request *req, const char *name);
/* The body (NUL-terminated; "" when none) and its length. */
const char *http_body(const http_request *req, size_t *len);
/* The reply's status, 0 before it is given. */
unsigned http_status(const http_request *req);
/* Where the service keeps what it knows of the request. */
void http_set_ud(http_request *req, void *ud);
void *http_ud(const http_request *req);

/* A header for the reply to come (name and value are copied; at most 6). */
void http_add_header(http_request *req, const char *name, const char *value);
/* Reply with `len` bytes of `body` (copied). */
void http_reply(http_request *req, unsigned status, const char *content_type, const char *body,
                size_t len);

#define HTTP_STREAM_END ((ssize_t)-1)

/* Writes at most `max` bytes of the stream into buf: their number, 0 when it
 * has nothing now (the stream sleeps until http_stream_wake), or
 * HTTP_STREAM_END. */
typedef ssize_t (*http_fill_fn)(void *ud, char *buf, size_t max);

/* Reply 200 with a body that `fill` makes as the client reads; `closed` is
 * told once the stream is over (ended, its client gone, or the server
 * closing), after which neither the stream nor fill are used again. */
int http_reply_stream(http_request *req, const char *content_type, http_fill_fn fill,
                      void (*closed)(void *ud), void *ud, http_stream **out);
/* A sleeping stream is asked to fill again, on the loop's next turn. */
void http_stream_wake(http_stream *st);

#endif
