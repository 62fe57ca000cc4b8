/* One HTTP POST of a JSON body over libcurl, for the openai model: the
 * response status, body and Retry-After header, or why there was none.
 * The handle is reused across requests (keep-alive), one request at a time,
 * sent either at once (art_http_post, blocking) or on a libuv loop
 * (art_http_start: through the loop's shared multi handle, http_multi.h). */
#ifndef ART_HTTP_H
#define ART_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "agentrt/tool.h"

#define ART_HTTP_BODY_MAX ((size_t)16 << 20) /* a larger response is an error */

typedef struct art_http art_http;

typedef struct art_http_response {
  int status; /* 0: no response (see error) */
  char *body; /* NUL-terminated; from the handle's allocator */
  size_t len;
  char retry_after[64]; /* the Retry-After header, "" when absent */
  char error[256];      /* a transport failure: "timeout after 200 ms", "connection: ..." */
  bool timed_out;
} art_http_response;

/* `bearer` (may be NULL) is sent as "Authorization: Bearer <bearer>". */
int art_http_new(art_http **out, const char *url, const char *bearer, const art_allocator *alloc,
                 art_error *err);
void art_http_free(art_http *h);
/* 0 when the exchange happened or failed in transport (status 0, error set,
 * "interrupted" when `interrupt`, asked while the request is in flight, said
 * so); ART_ENOMEM.  `res` is reset first; dispose it after. */
int art_http_post(art_http *h, const char *body, size_t len, int timeout_ms,
                  const art_interrupt *interrupt, art_http_response *res);
struct uv_loop_s;
/* The request started by art_http_start ended: rc 0 with *res filled as
 * art_http_post fills it, or ART_ENOMEM. */
typedef void (*art_http_done_fn)(art_http *h, int rc, void *ud);
/* Start the POST on `uv` without blocking: `done` is called on the loop's
 * thread (never before this returns), unless art_http_cancel comes first.
 * `body` must stay valid until then; at most `max_connections` connections
 * to one host are open on the loop.  0, or a negative code (err; done is
 * not called). */
int art_http_start(art_http *h, struct uv_loop_s *uv, const char *body, size_t len, int timeout_ms,
                   long max_connections, art_http_response *res, art_http_done_fn done, void *ud,
                   art_error *err);
/* Give up the request started (nothing when none is in flight). */
void art_http_cancel(art_http *h);
void art_http_response_dispose(art_http *h, art_http_response *res);

#endif
