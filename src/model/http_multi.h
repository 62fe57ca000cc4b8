/* libcurl's multi interface on a libuv loop, for HTTP requests that must not
 * block the loop.  Every transfer started on one uv loop goes through one
 * multi handle, found on the loop itself (no registry: its timer is one of
 * the loop's handles), so all of them share its connection cache (keep-alive,
 * at most `max_host_connections` connections to one host; more transfers
 * wait for a free one).  curl_multi_socket_action is driven by one uv_poll_t
 * per socket curl asks for and one uv_timer_t.  The multi exists while a
 * transfer is in flight on it: it is made by the first and freed (its
 * connections closed, its handles closed on the loop) when the last one ends
 * or is cancelled and no callback of its own is running, so a run that
 * starts its next request from the completion of the previous one reuses
 * the connection, and a loop whose transfers have all ended or been cancelled
 * holds none of its handles (it can be closed and freed). */
#ifndef ART_HTTP_MULTI_H
#define ART_HTTP_MULTI_H

#include <stdbool.h>

#include "model/curl_api.h"

struct uv_loop_s;
typedef struct art_curl_multi art_curl_multi;
typedef struct art_curl_transfer art_curl_transfer;

/* One easy handle's life on a loop; embed it, set easy and done, zero the rest. */
struct art_curl_transfer {
  CURL *easy; /* its options set; CURLOPT_PRIVATE is the multi's */
  /* The transfer ended with `rc`, on the loop's thread; the easy handle has
   * left the multi and may be started again from here. */
  void (*done)(art_curl_transfer *t, CURLcode rc);
  /* The multi's own: */
  art_curl_multi *multi;          /* the one last used, while it lives (a cache) */
  art_curl_transfer *prev, *next; /* the transfers that know that multi */
  bool in_flight;
};

/* Start t->easy on `uv`'s multi, made when the loop has none.  0, ART_ENOMEM
 * or ART_EIO (err says why). */
int art_curl_transfer_start(art_curl_transfer *t, const art_curl_api *api, struct uv_loop_s *uv,
                            long max_host_connections, art_error *err);
/* Give the transfer in flight up (nothing when none is): done is not called. */
void art_curl_transfer_cancel(art_curl_transfer *t);
/* Before t goes: cancels it and lets its multi forget it. */
void art_curl_transfer_dispose(art_curl_transfer *t);

#endif
