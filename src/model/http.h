/* One HTTP POST of a JSON body over libcurl, for the openai model: the
 * response status, body and Retry-After header, or why there was none.
 * The handle is reused across requests (keep-alive). */
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
void art_http_response_dispose(art_http *h, art_http_response *res);

#endif
