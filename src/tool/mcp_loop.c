/* An MCP server's requests on an event loop (see mcp_loop.h).
 *
 * Handle lifetimes: a request's timer lives in the request, which is freed
 * when the timer has closed; the poll handles live in a watch, freed when
 * they have all closed.  Neither close callback touches the server, so the
 * server (and its session) may go while the loop still closes them. */
#include "tool/mcp_loop.h"

#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "core/alloc.h"

/* A server whose stdout ended has as good as exited (its pipes close as it
 * exits): the loop, which every run shares, waits this long at most to say
 * how it ended, then kills it. */
#define REAP_MS 20
#define WHAT_SIZE 200

typedef struct mcp_request {
  uv_timer_t timer; /* its timeout */
  const art_allocator *alloc;
  mcp_server *s;
  struct mcp_request *next; /* the server's requests in flight, newest first */
  json_int_t id;
  mcp_answered_fn answered; /* NULL once abandoned */
  void *ud;
  char what[WHAT_SIZE];
} mcp_request;

typedef struct mcp_watch {
  uv_poll_t out, err, in; /* data: the server; NULL: never initialised */
  uv_loop_t *uv;
  const art_allocator *alloc;
  unsigned open;
  bool writing; /* `in` waits for the pipe to take more */
} mcp_watch;

static void unwatch(mcp_server *s);

/* ---- watching the pipes ----------------------------------------------------------- */

static void watch_closed(uv_handle_t *h) {
  mcp_watch *w = h->data;
  if (--w->open == 0) art_release(w->alloc, w);
}

static void detach(mcp_server *s) {
  mcp_watch *w = s->watch;
  if (!w) return;
  s->watch = NULL;
  uv_poll_t *polls[] = {&w->out, &w->err, &w->in};
  for (size_t i = 0; i < sizeof polls / sizeof *polls; i++) {
    if (!polls[i]->data) continue;
    polls[i]->data = w;
    uv_close((uv_handle_t *)polls[i], watch_closed);
  }
  if (w->open == 0) art_release(w->alloc, w);
}

/* What failure messages say the server was doing: the newest request, and
 * how many others were in flight with it. */
static void in_flight_what(const mcp_server *s, char *buf) {
  if (!s->in_flight)
    snprintf(buf, WHAT_SIZE, "a request");
  else if (s->n_in_flight == 1)
    snprintf(buf, WHAT_SIZE, "%s", s->in_flight->what);
  else
    snprintf(buf, WHAT_SIZE, "%.150s and %zu other requests", s->in_flight->what,
             s->n_in_flight - 1);
}

static void on_stdin(uv_poll_t *h, int status, int events);

/* Writes what the pipe takes now, and watches it for the rest. */
static void flush(mcp_server *s, const char *what) {
  if (mcp_server_write_queued(s, what, REAP_MS) < 0) return; /* down: unwatched */
  mcp_watch *w = s->watch;
  bool more = mcp_server_queued(s);
  if (!w || more == w->writing) return;
  w->writing = more;
  if (more)
    uv_poll_start(&w->in, UV_WRITABLE, on_stdin);
  else
    uv_poll_stop(&w->in);
}

static void post(mcp_server *s, json_t *msg_take, const char *what) {
  if (mcp_server_queue(s, msg_take) == 0) flush(s, what);
}

static void on_stdin(uv_poll_t *h, int status, int events) {
  (void)status, (void)events;
  mcp_server *s = h->data;
  char what[WHAT_SIZE];
  in_flight_what(s, what);
  flush(s, what);
}

/* ---- requests in flight ------------------------------------------------------------ */

static void request_closed(uv_handle_t *h) {
  mcp_request *r = h->data;
  art_release(r->alloc, r);
}

static void unlink_request(mcp_server *s, mcp_request *r) {
  for (mcp_request **p = &s->in_flight; *p; p = &(*p)->next) {
    if (*p != r) continue;
    *p = r->next;
    s->n_in_flight--;
    return;
  }
}

/* The request, out of the list already, is over: its caller is told (unless
 * it gave up), and the server is let go once nothing is in flight. */
static void finish_request(mcp_server *s, mcp_request *r, int outcome, const art_rpc_message *m) {
  mcp_answered_fn answered = r->answered;
  void *ud = r->ud;
  uv_close((uv_handle_t *)&r->timer, request_closed);
  if (answered) answered(ud, outcome, m);
  if (s->n_in_flight == 0) detach(s);
}

static void cancel_on_server(mcp_server *s, const mcp_request *r, bool interrupted) {
  post(s,
       art_rpc_request(-1, "notifications/cancelled",
                       mcp_server_cancel_params(s, r->id, interrupted)),
       r->what);
}

static void timed_out(uv_timer_t *t) {
  mcp_request *r = t->data;
  mcp_server *s = r->s;
  unlink_request(s, r);
  cancel_on_server(s, r, false);
  finish_request(s, r, MCP_TIMED_OUT, NULL);
}

/* The server's descriptors are about to close: stop watching them; once it
 * is down, every request in flight fails with the reason. */
static void unwatch(mcp_server *s) {
  detach(s);
  while (s->down && s->in_flight) {
    mcp_request *r = s->in_flight;
    unlink_request(s, r);
    finish_request(s, r, ART_EIO, NULL);
  }
}

/* ---- messages in -------------------------------------------------------------------- */

/* The request a response answers: by id; an error with a null id answers
 * the request the server could not read, which is only known when one is
 * in flight. */
static mcp_request *answered_request(mcp_server *s, const json_t *id) {
  if (json_is_null(id)) return s->n_in_flight == 1 ? s->in_flight : NULL;
  for (mcp_request *r = s->in_flight; r; r = r->next)
    if (art_rpc_id_is(id, r->id)) return r;
  return NULL; /* given up or timed out: dropped */
}

static void dispatch(mcp_server *s, const art_rpc_message *m, const char *what) {
  if (m->kind == ART_RPC_REQUEST) {
    post(s, mcp_server_answer(m), what);
    return;
  }
  mcp_request *r = m->kind == ART_RPC_NOTIFICATION ? NULL : answered_request(s, m->id);
  if (!r) return;
  unlink_request(s, r);
  finish_request(s, r, MCP_GOT, m);
}

static void on_stdout(uv_poll_t *h, int status, int events) {
  (void)status, (void)events;
  mcp_server *s = h->data;
  char what[WHAT_SIZE];
  art_rpc_message m;
  in_flight_what(s, what);
  if (mcp_server_read(s, what, REAP_MS) < 0) return; /* down: every request told */
  while (mcp_server_next_message(s, what, &m) == 1) {
    dispatch(s, &m, what);
    art_rpc_message_dispose(&m);
  }
}

static void on_stderr(uv_poll_t *h, int status, int events) {
  (void)status, (void)events;
  if (!mcp_server_read_stderr(h->data)) uv_poll_stop(h); /* its end: nothing more to keep */
}

/* ---- attaching ---------------------------------------------------------------------- */

static int watch_fd(mcp_watch *w, uv_poll_t *p, int fd, mcp_server *s) {
  if (fd < 0 || uv_poll_init(w->uv, p, fd) < 0) return ART_EIO;
  p->data = s;
  w->open++;
  return 0;
}

static int watch(mcp_server *s, uv_loop_t *uv) {
  mcp_watch *w = art_zalloc(s->alloc, sizeof *w);
  if (!w) return ART_ENOMEM;
  w->uv = uv;
  w->alloc = s->alloc;
  s->watch = w;
  s->unwatch = unwatch;
  int rc = watch_fd(w, &w->out, s->proc.out_fd, s);
  if (rc == 0) rc = uv_poll_start(&w->out, UV_READABLE, on_stdout) < 0 ? ART_EIO : 0;
  if (rc == 0) rc = watch_fd(w, &w->in, s->proc.in_fd, s);
  if (rc < 0) return mcp_server_fail(s, "the event loop cannot watch its pipes");
  if (watch_fd(w, &w->err, s->proc.err_fd, s) == 0) uv_poll_start(&w->err, UV_READABLE, on_stderr);
  return 0;
}

static int attach(mcp_server *s, uv_loop_t *uv) {
  if (s->watch) return s->watch->uv == uv ? 0 : ART_EINVAL;
  return watch(s, uv);
}

static mcp_request *request_new(mcp_server *s, uv_loop_t *uv, const char *what,
                                mcp_answered_fn answered, void *ud) {
  mcp_request *r = art_zalloc(s->alloc, sizeof *r);
  if (!r) return NULL;
  *r = (mcp_request){.alloc = s->alloc, .s = s, .id = s->next_id++, .answered = answered, .ud = ud};
  snprintf(r->what, sizeof r->what, "%s", what);
  uv_timer_init(uv, &r->timer);
  r->timer.data = r;
  r->next = s->in_flight;
  s->in_flight = r;
  if (++s->n_in_flight > s->peak_in_flight) s->peak_in_flight = s->n_in_flight;
  return r;
}

int mcp_loop_request(mcp_server *s, uv_loop_t *uv, const char *method, json_t *params_take,
                     const char *what, mcp_answered_fn answered, void *ud) {
  int rc = s->down ? ART_EIO : attach(s, uv);
  mcp_request *r = rc == 0 ? request_new(s, uv, what, answered, ud) : NULL;
  if (!r) {
    json_decref(params_take);
    if (rc == 0 && s->n_in_flight == 0) detach(s);
    if (rc != ART_EIO) return rc ? rc : ART_ENOMEM;
    answered(ud, ART_EIO, NULL);
    return 0;
  }
  uv_timer_start(&r->timer, timed_out, (uint64_t)s->timeout_ms, 0);
  post(s, art_rpc_request(r->id, method, params_take), r->what);
  return 0;
}

void mcp_loop_abandon(mcp_server *s, void *ud) {
  mcp_request *r = s->in_flight;
  while (r && r->ud != ud) r = r->next;
  if (!r) return;
  unlink_request(s, r);
  r->answered = NULL;
  cancel_on_server(s, r, true);
  finish_request(s, r, 0, NULL);
}
