/* GET /v1/runs/{id}/events: a run's trace from its journal, as JSON lines,
 * or as Server-Sent Events that follow the run while it goes on.
 *
 * A stream (a follower) keeps the seq of the next event to send and at most
 * one fill's worth of text; events are read from the store when the client
 * has taken what was made, so a client that stops reading holds its
 * connection's buffers and no more.  A follower with nothing to send sleeps;
 * the follow timer looks at the store once for each run sleepers wait on,
 * and wakes those whose run has new events or has ended; a sleeper that has
 * sent nothing for keepalive_s sends a comment line, which is how a client
 * that went away is found.  Each event's SSE id is its seq: a client that
 * reconnects with Last-Event-ID gets the events after it, none twice, none
 * missed.
 *
 * A stream may end when its run pauses too (the Agent Protocol's streams
 * do).  A waiter is a follower that sends no events: it sleeps as one until
 * its run stops (pauses, finishes or is cancelled), then sends the one body
 * its result function makes (the Agent Protocol's wait: agent_protocol.c).
 * Its keep-alive is a newline, which a JSON body may start with. */
#include "serve/service.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Text a fill makes at most (one event more, when a single one is bigger). */
#define FILL_BYTES (64 * 1024)

struct serve_follower {
  serve *srv;
  http_stream *stream;
  char run_id[SERVE_ID_SIZE];
  uint32_t next_seq;
  char *text; /* made, not yet taken by the connection: text[taken..len) */
  size_t len, taken, cap;
  bool sleeping;
  bool keepalive;         /* a comment is due */
  int64_t last_sent_us;   /* when it last gave its connection something */
  bool run_ended;         /* every event of a finished or cancelled run is made */
  serve_result_fn result; /* a waiter's (NULL: a stream of events) */
  bool until_stopped;     /* the stream ends when the run pauses too */
  serve_follower *prev, *next;
};

/* ---- the journal's events as text ------------------------------------------------ */

/* The events of run_id from seq `from` on, in the journal `j`: each as
 * `line` formats it (a JSON line, or an SSE event) into *text, until it holds
 * `max` bytes; *next the seq after the last made. */
static int events_text(const char *run_id, const art_journal *j, uint32_t from, size_t max,
                       bool sse, char **text, size_t *len, size_t *cap, uint32_t *next) {
  *next = from;
  for (size_t i = 0; i < j->n && *len < max; i++) {
    const art_journal_entry *e = &j->entries[i];
    if (e->seq < from) continue;
    json_t *ev = art_journal_entry_to_json(run_id, e);
    char *json = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    if (!json) return ART_ENOMEM;
    size_t need = strlen(json) + 64 + strlen(art_event_type_name(e->type));
    if (*len + need > *cap) {
      size_t grown_cap = *cap ? *cap : 4096;
      while (grown_cap < *len + need) grown_cap *= 2;
      char *grown = realloc(*text, grown_cap);
      if (!grown) return free(json), ART_ENOMEM;
      *text = grown, *cap = grown_cap;
    }
    *len += (size_t)(sse ? snprintf(*text + *len, *cap - *len,
                                    "id: %" PRIu32 "\nevent: %s\ndata: %s\n\n", e->seq,
                                    art_event_type_name(e->type), json)
                         : snprintf(*text + *len, *cap - *len, "%s\n", json));
    free(json);
    *next = e->seq + 1;
  }
  return 0;
}

/* ?after=SEQ (and for a stream Last-Event-ID, which wins): the first seq to
 * send; 0, or -1 having replied 400. */
static int first_seq(http_request *req, bool sse, uint32_t *from) {
  const char *after = sse && http_header(req, "Last-Event-ID") ? http_header(req, "Last-Event-ID")
                                                               : http_query(req, "after");
  char *end;
  unsigned long long n = after ? strtoull(after, &end, 10) : 0;
  if (after && (!after[0] || *end || n >= UINT32_MAX))
    return serve_refuse(req, 400, "bad_request", "after (or Last-Event-ID) is an event seq");
  *from = (uint32_t)n + 1;
  return 0;
}

static void json_lines(serve_call *c, http_request *req, uint32_t from) {
  art_journal j = {0};
  art_error err = {0};
  char *text = NULL;
  size_t len = 0, cap = 0;
  uint32_t next;
  if (c->srv->store->vt->load_journal(c->srv->store, c->run_id, &j, &err) < 0)
    return serve_store_error(req, &err);
  if (events_text(c->run_id, &j, from, SIZE_MAX, false, &text, &len, &cap, &next) < 0)
    serve_error(req, 500, "internal", "out of memory");
  else
    http_reply(req, 200, "application/x-ndjson", text ? text : "", len);
  free(text);
  art_journal_dispose(&j);
}

/* ---- streams ----------------------------------------------------------------------- */

static bool run_stopped(art_run_status s) {
  return s == ART_RUN_PAUSED || s == ART_RUN_FINISHED || s == ART_RUN_CANCELLED;
}

/* A waiter's body, once its run has stopped; until then it waits for events
 * after the run's last. */
static int read_result(serve_follower *f, const art_run_record *r) {
  if (!run_stopped(r->status)) {
    f->next_seq = r->events + 1;
    return 0;
  }
  free(f->text);
  f->text = f->result(f->srv, f->run_id, &f->len);
  f->taken = 0, f->cap = f->len;
  f->run_ended = true;
  return f->text ? 0 : ART_ENOMEM;
}

/* More events into f->text: those after next_seq, up to FILL_BYTES.  The
 * record is read first: once it says the run ended, its journal is whole. */
static int read_more(serve_follower *f) {
  art_store *store = f->srv->store;
  art_run_record r;
  art_journal j = {0};
  art_error err = {0};
  int rc = store->vt->get_run(store, f->run_id, &r, &err);
  if (rc < 0) return rc;
  if (f->result) {
    rc = read_result(f, &r);
    art_run_record_dispose(&r);
    return rc;
  }
  bool ended = f->until_stopped ? run_stopped(r.status)
                                : r.status == ART_RUN_FINISHED || r.status == ART_RUN_CANCELLED;
  uint32_t events = r.events;
  bool more = events >= f->next_seq;
  art_run_record_dispose(&r);
  if (more && (rc = store->vt->load_journal(store, f->run_id, &j, &err)) < 0) return rc;
  f->len = f->taken = 0;
  rc = more ? events_text(f->run_id, &j, f->next_seq, FILL_BYTES, true, &f->text, &f->len, &f->cap,
                          &f->next_seq)
            : 0;
  art_journal_dispose(&j);
  if (rc == 0 && ended && f->next_seq > events) f->run_ended = true;
  return rc;
}

/* What the connection takes of the text made; the text is let go once it
 * is all taken, so a sleeping stream holds nothing. */
static ssize_t take(serve_follower *f, char *buf, size_t max) {
  size_t n = f->len - f->taken < max ? f->len - f->taken : max;
  memcpy(buf, f->text + f->taken, n);
  f->taken += n;
  if (f->taken == f->len) {
    free(f->text);
    f->text = NULL;
    f->len = f->taken = f->cap = 0;
  }
  return (ssize_t)n;
}

static ssize_t fill(void *ud, char *buf, size_t max) {
  static const char comment[] = ": keep-alive\n\n";
  serve_follower *f = ud;
  f->last_sent_us = art_now_us();
  if (f->taken < f->len) return take(f, buf, max);
  if (f->keepalive && max >= sizeof comment - 1) {
    f->keepalive = false;
    if (f->result) return buf[0] = '\n', 1;
    memcpy(buf, comment, sizeof comment - 1);
    return sizeof comment - 1;
  }
  if (f->run_ended) return HTTP_STREAM_END;
  if (read_more(f) < 0) return HTTP_STREAM_END; /* the client reconnects from its last id */
  if (f->taken < f->len) return take(f, buf, max);
  if (f->run_ended) return HTTP_STREAM_END;
  f->sleeping = true;
  if (!uv_is_active((uv_handle_t *)&f->srv->follow))
    uv_timer_start(&f->srv->follow, serve_follow_tick, f->srv->opts.follow_ms,
                   f->srv->opts.follow_ms);
  return 0;
}

static void closed(void *ud) {
  serve_follower *f = ud;
  if (f->prev)
    f->prev->next = f->next;
  else
    f->srv->followers = f->next;
  if (f->next) f->next->prev = f->prev;
  free(f->text);
  free(f);
}

void serve_follow(serve_call *c, http_request *req, uint32_t from, bool until_stopped,
                  serve_result_fn result) {
  serve_follower *f = calloc(1, sizeof *f);
  if (!f) return serve_error(req, 500, "internal", "out of memory");
  serve *s = c->srv;
  f->srv = s;
  f->next_seq = from;
  f->result = result;
  f->until_stopped = until_stopped || result;
  f->last_sent_us = art_now_us();
  snprintf(f->run_id, sizeof f->run_id, "%s", c->run_id);
  if (http_reply_stream(req, result ? "application/json" : "text/event-stream", fill, closed, f,
                        &f->stream) == ART_ENOMEM) {
    free(f);
    return serve_error(req, 500, "internal", "out of memory");
  }
  f->next = s->followers; /* from here on, `closed` frees it */
  if (s->followers) s->followers->prev = f;
  s->followers = f;
}

void serve_events(serve_call *c, http_request *req) {
  art_run_record r;
  const char *accept = http_header(req, "Accept");
  bool sse = accept && strstr(accept, "text/event-stream");
  uint32_t from = 1;
  if (serve_visible_run(c, req, &r) < 0) return;
  art_run_record_dispose(&r);
  if (first_seq(req, sse, &from) < 0) return;
  if (sse)
    serve_follow(c, req, from, false, NULL);
  else
    json_lines(c, req, from);
}

void serve_event_stream_to_stop(serve_call *c, http_request *req) {
  art_run_record r;
  uint32_t from = 1;
  if (serve_visible_run(c, req, &r) < 0) return;
  art_run_record_dispose(&r);
  if (first_seq(req, true, &from) == 0) serve_follow(c, req, from, true, NULL);
}

/* ---- the follow timer -------------------------------------------------------------- */

/* Where a run's journal stands, as the follow timer looks at it. */
typedef struct run_news {
  uint32_t events;
  bool ended;   /* or gone: a fill finds out which, and the stream ends */
  bool stopped; /* ended, or paused: what a waiter waits for */
} run_news;

static run_news news_of(serve *s, const char *run_id) {
  art_run_record r;
  art_error err = {0};
  if (s->store->vt->get_run(s->store, run_id, &r, &err) < 0) return (run_news){0, true, true};
  run_news n = {r.events, r.status == ART_RUN_FINISHED || r.status == ART_RUN_CANCELLED,
                run_stopped(r.status)};
  art_run_record_dispose(&r);
  return n;
}

static int by_run(const void *a, const void *b) {
  return strcmp((*(serve_follower *const *)a)->run_id, (*(serve_follower *const *)b)->run_id);
}

/* The sleepers, sorted by run, so that one look at the store serves every
 * stream of a run (NULL when there are none, or no memory: the next tick). */
static serve_follower **sleepers_by_run(serve *s, size_t *n) {
  *n = 0;
  for (serve_follower *f = s->followers; f; f = f->next) *n += f->sleeping;
  serve_follower **list = *n ? malloc(*n * sizeof *list) : NULL;
  if (!list) return NULL;
  size_t i = 0;
  for (serve_follower *f = s->followers; f; f = f->next)
    if (f->sleeping) list[i++] = f;
  qsort(list, *n, sizeof *list, by_run);
  return list;
}

void serve_follow_tick(uv_timer_t *t) {
  serve *s = t->data;
  int64_t now = art_now_us(), quiet_us = (int64_t)s->opts.keepalive_s * 1000000;
  size_t n, still_asleep = 0;
  serve_follower **list = sleepers_by_run(s, &n);
  run_news news = {0};
  for (size_t i = 0; list && i < n; i++) {
    serve_follower *f = list[i];
    if (i == 0 || strcmp(f->run_id, list[i - 1]->run_id) != 0) news = news_of(s, f->run_id);
    f->keepalive = now - f->last_sent_us >= quiet_us;
    if (f->keepalive || news.ended || news.events >= f->next_seq ||
        (f->until_stopped && news.stopped)) {
      f->sleeping = false;
      http_stream_wake(f->stream);
    } else {
      still_asleep++;
    }
  }
  free(list);
  if (n && !list) return;              /* no memory now: the next tick */
  if (!still_asleep) uv_timer_stop(t); /* a follower that sleeps again starts it */
}

size_t serve_streams(const serve *s, size_t *buffered_bytes) {
  size_t n = 0;
  *buffered_bytes = 0;
  for (const serve_follower *f = s->followers; f; f = f->next, n++)
    *buffered_bytes += f->len - f->taken;
  return n;
}
