#include "model/http_multi.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

/* How uv_walk tells the multi's timer from the loop's other timers: its data
 * points at the multi it is embedded in, which starts with this tag. */
static const char multi_tag[16] = "art_curl_multi";

/* A socket curl asked to watch. */
typedef struct watch {
  uv_poll_t poll;
  art_curl_multi *m;
  curl_socket_t fd;
  struct watch *prev, *next;
} watch;

struct art_curl_multi {
  char tag[sizeof multi_tag];
  uv_timer_t timer; /* curl's timeout (CURLMOPT_TIMERFUNCTION) */
  uv_loop_t *uv;
  art_curl_api api; /* a copy of the first transfer's (the library stays loaded) */
  CURLM *curl;
  long max_host;
  size_t in_flight;
  unsigned depth;             /* inside our own callbacks: freeing waits for their end */
  bool closing;               /* freeing: curl's calls back change nothing */
  art_curl_transfer *members; /* the transfers whose `multi` is this one */
  watch *watches;
};

/* ---- finding the loop's multi --------------------------------------------------- */

static void look_at(uv_handle_t *h, void *arg) {
  art_curl_multi **found = arg;
  if (*found || h->type != UV_TIMER || uv_is_closing(h)) return;
  char *owner = (char *)h - offsetof(art_curl_multi, timer);
  if (h->data == owner && memcmp(owner, multi_tag, sizeof multi_tag) == 0)
    *found = (art_curl_multi *)owner;
}

static art_curl_multi *find_multi(uv_loop_t *uv) {
  art_curl_multi *found = NULL;
  uv_walk(uv, look_at, &found);
  return found;
}

/* ---- sockets and the timer ------------------------------------------------------ */

static void act(art_curl_multi *m, curl_socket_t fd, int flags);

static void watch_freed(uv_handle_t *h) { free(h->data); }

static void watch_close(art_curl_multi *m, watch *w) {
  if (w->prev) w->prev->next = w->next;
  if (w->next) w->next->prev = w->prev;
  if (m->watches == w) m->watches = w->next;
  if (!m->closing) m->api.multi_assign(m->curl, w->fd, NULL);
  uv_close((uv_handle_t *)&w->poll, watch_freed);
}

static void polled(uv_poll_t *p, int status, int events) {
  watch *w = p->data;
  int flags = status < 0 ? CURL_CSELECT_ERR
                         : ((events & UV_READABLE) ? CURL_CSELECT_IN : 0) |
                               ((events & UV_WRITABLE) ? CURL_CSELECT_OUT : 0);
  act(w->m, w->fd, flags);
}

static watch *watch_new(art_curl_multi *m, curl_socket_t fd) {
  watch *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  if (uv_poll_init_socket(m->uv, &w->poll, fd) < 0) {
    free(w);
    return NULL;
  }
  w->poll.data = w;
  w->m = m;
  w->fd = fd;
  w->next = m->watches;
  if (m->watches) m->watches->prev = w;
  m->watches = w;
  m->api.multi_assign(m->curl, fd, w);
  return w;
}

/* CURLMOPT_SOCKETFUNCTION: what to wait for on `fd` (-1 fails the transfers on it). */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *ud, void *socketp) {
  art_curl_multi *m = ud;
  watch *w = socketp;
  (void)easy;
  if (what == CURL_POLL_REMOVE) {
    if (w) watch_close(m, w);
    return 0;
  }
  if (m->closing || (!w && !(w = watch_new(m, fd)))) return -1;
  int events =
      ((what & CURL_POLL_IN) ? UV_READABLE : 0) | ((what & CURL_POLL_OUT) ? UV_WRITABLE : 0);
  return uv_poll_start(&w->poll, events, polled) < 0 ? -1 : 0;
}

static void timed_out(uv_timer_t *t) { act(t->data, CURL_SOCKET_TIMEOUT, 0); }

/* CURLMOPT_TIMERFUNCTION: curl wants to be called in `ms` (-1: never). */
static int on_timer(CURLM *multi, long ms, void *ud) {
  art_curl_multi *m = ud;
  (void)multi;
  if (ms < 0 || m->closing) return uv_timer_stop(&m->timer) < 0 ? -1 : 0;
  return uv_timer_start(&m->timer, timed_out, (uint64_t)ms, 0) < 0 ? -1 : 0;
}

/* ---- the multi ------------------------------------------------------------------ */

static void multi_freed(uv_handle_t *h) { free(h->data); }

/* Its connections closed, its handles closing: the members forget it. */
static void multi_free(art_curl_multi *m) {
  for (art_curl_transfer *t = m->members; t; t = t->next) t->multi = NULL;
  m->members = NULL;
  m->closing = true;
  m->api.multi_cleanup(m->curl);
  while (m->watches) watch_close(m, m->watches);
  uv_close((uv_handle_t *)&m->timer, multi_freed);
}

static void free_if_unused(art_curl_multi *m) {
  if (m->in_flight == 0 && m->depth == 0) multi_free(m);
}

static int multi_new(art_curl_multi **out, const art_curl_api *api, uv_loop_t *uv, art_error *err) {
  art_curl_multi *m = calloc(1, sizeof *m);
  if (!m) return art_error_set(err, ART_ENOMEM, "out of memory");
  memcpy(m->tag, multi_tag, sizeof multi_tag);
  m->uv = uv;
  m->api = *api;
  m->api.lib = NULL;
  if (!(m->curl = api->multi_init())) {
    free(m);
    return art_error_set(err, ART_ENOMEM, "out of memory");
  }
  if (uv_timer_init(uv, &m->timer) < 0) {
    api->multi_cleanup(m->curl);
    free(m);
    return art_error_set(err, ART_EIO, "the event loop cannot set a timer");
  }
  m->timer.data = m;
  api->multi_setopt(m->curl, CURLMOPT_SOCKETFUNCTION, on_socket);
  api->multi_setopt(m->curl, CURLMOPT_SOCKETDATA, m);
  api->multi_setopt(m->curl, CURLMOPT_TIMERFUNCTION, on_timer);
  api->multi_setopt(m->curl, CURLMOPT_TIMERDATA, m);
  *out = m;
  return 0;
}

static void take_out(art_curl_transfer *t) {
  art_curl_multi *m = t->multi;
  m->api.multi_remove_handle(m->curl, t->easy);
  t->in_flight = false;
  m->in_flight--;
}

/* The transfers curl has finished: each leaves the multi, then hears its
 * outcome (and may start again). */
static void finish_transfers(art_curl_multi *m) {
  CURLMsg *msg;
  int left;
  while ((msg = m->api.multi_info_read(m->curl, &left)) != NULL) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURL *easy = msg->easy_handle;
    CURLcode rc = msg->data.result;
    char *t = NULL;
    m->api.easy_getinfo(easy, CURLINFO_PRIVATE, &t);
    take_out((art_curl_transfer *)t);
    ((art_curl_transfer *)t)->done((art_curl_transfer *)t, rc);
  }
}

/* Something happened on `fd` (or the timer fired): curl moves the transfers on. */
static void act(art_curl_multi *m, curl_socket_t fd, int flags) {
  int running;
  m->depth++;
  m->api.multi_socket_action(m->curl, fd, flags, &running);
  finish_transfers(m);
  m->depth--;
  free_if_unused(m);
}

/* ---- transfers ------------------------------------------------------------------ */

static void join(art_curl_transfer *t, art_curl_multi *m) {
  t->multi = m;
  t->prev = NULL;
  t->next = m->members;
  if (m->members) m->members->prev = t;
  m->members = t;
}

static void leave(art_curl_transfer *t) {
  art_curl_multi *m = t->multi;
  if (!m) return;
  if (t->prev) t->prev->next = t->next;
  if (t->next) t->next->prev = t->prev;
  if (m->members == t) m->members = t->next;
  t->multi = NULL;
  t->prev = t->next = NULL;
}

/* The loop's multi, joined: the one t knows, the one on the loop, or a new one. */
static int multi_for(art_curl_transfer *t, const art_curl_api *api, uv_loop_t *uv, art_error *err) {
  if (t->multi && t->multi->uv == uv) return 0;
  leave(t);
  art_curl_multi *m = find_multi(uv);
  int rc = m ? 0 : multi_new(&m, api, uv, err);
  if (rc == 0) join(t, m);
  return rc;
}

int art_curl_transfer_start(art_curl_transfer *t, const art_curl_api *api, uv_loop_t *uv,
                            long max_host_connections, art_error *err) {
  int rc = multi_for(t, api, uv, err);
  if (rc < 0) return rc;
  art_curl_multi *m = t->multi;
  if (max_host_connections > m->max_host) {
    m->max_host = max_host_connections;
    m->api.multi_setopt(m->curl, CURLMOPT_MAX_HOST_CONNECTIONS, m->max_host);
  }
  api->easy_setopt(t->easy, CURLOPT_PRIVATE, (char *)t);
  if (m->api.multi_add_handle(m->curl, t->easy) != CURLM_OK) {
    free_if_unused(m);
    return art_error_set(err, ART_ENOMEM, "out of memory");
  }
  t->in_flight = true;
  m->in_flight++;
  return 0;
}

void art_curl_transfer_cancel(art_curl_transfer *t) {
  if (!t->in_flight) return;
  art_curl_multi *m = t->multi;
  take_out(t);
  free_if_unused(m);
}

void art_curl_transfer_dispose(art_curl_transfer *t) {
  art_curl_transfer_cancel(t);
  leave(t);
}
