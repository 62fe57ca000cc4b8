#define _GNU_SOURCE /* memmem */
#include "model/openai.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/spec_internal.h"
#include "model/http.h"
#include "model/openai_request.h"
#include "model/openai_response.h"
#include "model/retry.h"

#define TEXT_SIZE 512

/* One request's record and the texts it points at. */
typedef struct call_slot {
  char error[TEXT_SIZE];
  char malformed[TEXT_SIZE];
} call_slot;

typedef struct openai {
  art_model base;
  const art_spec *spec;
  const art_model_config *cfg;
  art_http *http;
  char *key;               /* the API key (masked in replies), NULL without one */
  art_oai_reply reply;     /* the reply the last decision was read from */
  json_t *args;            /* the last decision's tool input */
  char problem[TEXT_SIZE]; /* a malformed last decision points here */
  art_model_call *calls;   /* room for every request of one decision */
  call_slot *slots;
  size_t n_calls, max_calls;
  /* The decision being made: */
  const art_context *ctx;
  json_t *request;
  char *body;             /* the request as sent (jansson's allocator) */
  size_t first;           /* the first call of the exchange in progress */
  bool repairing;         /* the exchange is the repair round */
  int64_t retry_after_ms; /* what the last response's Retry-After asked for; -1: nothing */
  /* ... on an event loop: */
  art_model_job *job; /* NULL when none is in flight */
  art_http_response res;
  int64_t t0;
  art_decision out;
  art_error err;
} openai;

static int64_t mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static bool interrupted(const art_interrupt *interrupt) {
  return interrupt && interrupt->requested(interrupt->ud);
}

/* A retry's pause, in slices of at most 100 ms so that an interrupt is seen:
 * false when it came. */
static bool pause_ms(int64_t ms, const art_interrupt *interrupt) {
  int64_t until = mono_us() + ms * 1000;
  for (int64_t left; (left = until - mono_us()) > 0;) {
    if (interrupted(interrupt)) return false;
    int64_t slice = left < 100000 ? left : 100000;
    struct timespec ts = {0, (long)slice * 1000L};
    nanosleep(&ts, NULL);
  }
  return !interrupted(interrupt);
}

/* Whatever the server sends back never shows the key, even if it echoes it. */
static void mask_key(const openai *m, char *text, size_t len) {
  size_t k = m->key ? strlen(m->key) : 0;
  if (!k || !text) return;
  for (char *p = text; (p = memmem(p, len - (size_t)(p - text), m->key, k)) != NULL; p += k)
    memset(p, '*', k);
}

static art_model_call *new_call(openai *m, bool repair) {
  size_t i = m->n_calls++;
  m->calls[i] =
      (art_model_call){.attempt = (uint32_t)m->n_calls, .repair = repair, .retry_in_ms = -1};
  m->slots[i].error[0] = m->slots[i].malformed[0] = '\0';
  return &m->calls[i];
}

static void call_error(openai *m, art_model_call *c, const char *text) {
  call_slot *s = &m->slots[c - m->calls];
  snprintf(s->error, sizeof s->error, "%s", text);
  mask_key(m, s->error, strlen(s->error));
  c->error = s->error;
}

/* What a response that is not a reply says: "HTTP 500: <the server's message>". */
static void status_error(openai *m, art_model_call *c, const art_http_response *res) {
  char message[TEXT_SIZE - 32], text[TEXT_SIZE];
  art_oai_error_message(res->body, res->len, message, sizeof message);
  snprintf(text, sizeof text, "HTTP %d: %s", res->status, message);
  call_error(m, c, text);
}

/* What an HTTP exchange that happened amounts to: 0 with m->reply, 1 when it
 * may be retried, ART_EIO when not (the call says why). */
static int judge(openai *m, const art_http_response *res, art_model_call *c) {
  char why[TEXT_SIZE];
  if (res->status == 0) {
    call_error(m, c, res->error);
    return 1;
  }
  if (res->status < 200 || res->status > 299) {
    status_error(m, c, res);
    return art_retry_status(res->status) ? 1 : ART_EIO;
  }
  if (art_oai_parse_reply(res->body ? res->body : "", res->len, &m->reply, why, sizeof why) < 0) {
    call_error(m, c, why);
    return ART_EIO;
  }
  c->usage = m->reply.usage;
  c->ignored = m->reply.ignored;
  c->n_ignored = m->reply.n_ignored;
  return 0;
}

/* ---- one decision, step by step (both drivers below take the same steps) ---- */

static void free_body(openai *m) {
  json_free_t free_fn;
  json_get_alloc_funcs(NULL, &free_fn);
  free_fn(m->body); /* jansson's allocator made it */
  m->body = NULL;
}

static void forget_last(openai *m) {
  art_oai_reply_dispose(&m->reply);
  json_decref(m->args);
  m->args = NULL;
  m->n_calls = 0;
}

/* Send m->request (a repair round's or not) until a reply comes or the
 * retries run out: its text, and where its attempts begin. */
static int exchange_begin(openai *m, bool repair, art_error *err) {
  free_body(m);
  if (!(m->body = json_dumps(m->request, JSON_COMPACT)))
    return art_error_set(err, ART_ENOMEM, "out of memory");
  m->first = m->n_calls;
  m->repairing = repair;
  return 0;
}

static int decision_begin(openai *m, const art_context *ctx, art_error *err) {
  forget_last(m);
  m->ctx = ctx;
  if (!(m->request = art_oai_request(m->cfg->model, m->cfg->temperature, ctx)))
    return art_error_set(err, ART_ENOMEM, "out of memory");
  return exchange_begin(m, false, err);
}

static art_model_call *last_call(openai *m) { return &m->calls[m->n_calls - 1]; }

/* An attempt's response (`rc` from the HTTP layer) into its call: judge()'s
 * answer, or ART_ENOMEM.  `res` is disposed of. */
static int attempt_end(openai *m, int rc, art_http_response *res, int64_t t0) {
  art_model_call *c = last_call(m);
  c->latency_us = mono_us() - t0;
  c->ended_us = art_now_us();
  c->status = res->status;
  mask_key(m, res->body, res->len);
  m->retry_after_ms = art_retry_after_ms(res->retry_after, (int64_t)time(NULL));
  if (rc == 0) rc = judge(m, res, c);
  art_http_response_dispose(m->http, res);
  return rc;
}

/* After an attempt that may be retried: whether one more follows (the call
 * then says in how long). */
static bool plan_retry(openai *m) {
  size_t attempts = m->n_calls - m->first;
  if (attempts > (size_t)m->cfg->max_retries) return false;
  last_call(m)->retry_in_ms = art_retry_wait_ms(
      m->retry_after_ms, (int)attempts, m->cfg->backoff_ms, m->cfg->max_backoff_ms, arc4random());
  return true;
}

/* The exchange ended with the last attempt's answer `v`: 0 (a reply), or a
 * failure saying what the last attempt got, e.g. "HTTP 500: overloaded
 * (after 3 attempts)". */
static int exchange_end(openai *m, int v, art_error *err) {
  if (v == ART_ENOMEM) return art_error_set(err, ART_ENOMEM, "out of memory");
  if (v == 0) return 0;
  size_t attempts = m->n_calls - m->first;
  const char *last = last_call(m)->error;
  if (attempts == 1) return art_error_set(err, ART_EIO, "%s", last);
  return art_error_set(err, ART_EIO, "%s (after %zu attempts)", last, attempts);
}

/* The last request's reply could not be used: m->problem says why. */
static void mark_malformed(openai *m) {
  last_call(m)->malformed = strcpy(m->slots[m->n_calls - 1].malformed, m->problem);
}

/* The decision the reply amounts to: 0 (*out, malformed or not), or 1 when
 * it is no usable decision and the repair round, telling the model what was
 * wrong, is to be sent (its reply is taken as it is); ART_ENOMEM. */
static int reply_read(openai *m, art_decision *out, art_error *err) {
  if (art_oai_decision(&m->reply, m->ctx, out, &m->args, m->problem, sizeof m->problem) == 0)
    return 0;
  mark_malformed(m);
  if (m->repairing) return 0;
  if (art_oai_add_repair(m->request, m->reply.message, m->problem) < 0)
    return art_error_set(err, ART_ENOMEM, "out of memory");
  art_oai_reply_dispose(&m->reply);
  json_decref(m->args);
  m->args = NULL;
  int rc = exchange_begin(m, true, err);
  return rc < 0 ? rc : 1;
}

static void add_usage(art_usage *total, const art_model_call *calls, size_t n) {
  *total = (art_usage){0, 0};
  for (size_t i = 0; i < n; i++) {
    total->prompt_tokens += calls[i].usage.prompt_tokens;
    total->completion_tokens += calls[i].usage.completion_tokens;
  }
}

static int decision_end(openai *m, int rc, art_decision *out) {
  json_decref(m->request);
  m->request = NULL;
  free_body(m);
  if (rc == 0) add_usage(&out->usage, m->calls, m->n_calls);
  return rc;
}

/* ---- blocking ------------------------------------------------------------------ */

/* One attempt: attempt_end()'s answer. */
static int attempt(openai *m, const art_interrupt *interrupt) {
  art_http_response res;
  int64_t t0 = mono_us();
  new_call(m, m->repairing);
  int rc = art_http_post(m->http, m->body, strlen(m->body), m->cfg->timeout_ms, interrupt, &res);
  return attempt_end(m, rc, &res, t0);
}

static int exchange(openai *m, const art_interrupt *interrupt, art_error *err) {
  int v;
  while ((v = attempt(m, interrupt)) == 1 && !interrupted(interrupt) && plan_retry(m) &&
         pause_ms(last_call(m)->retry_in_ms, interrupt)) {}
  return exchange_end(m, v, err);
}

static int openai_decide(art_model *base, const art_context *ctx, const art_interrupt *interrupt,
                         art_decision *out, art_error *err) {
  openai *m = (openai *)base;
  int rc = decision_begin(m, ctx, err);
  while (rc == 0 && (rc = exchange(m, interrupt, err)) == 0 && (rc = reply_read(m, out, err)) == 1)
    rc = 0; /* the repair round */
  return decision_end(m, rc, out);
}

/* ---- on an event loop: each attempt over the loop's curl multi, each retry's
 * pause on the job's timer ------------------------------------------------------- */

static void loop_end(openai *m, int rc) {
  art_model_job *job = m->job;
  m->job = NULL;
  rc = decision_end(m, rc, &m->out);
  job->done(job, rc, rc == 0 ? &m->out : NULL, &m->err);
}

static void loop_replied(art_http *h, int rc, void *ud);

static void loop_send(openai *m) {
  m->t0 = mono_us();
  int rc = art_http_start(m->http, m->job->uv, m->body, strlen(m->body), m->cfg->timeout_ms,
                          m->cfg->max_connections, &m->res, loop_replied, m, &m->err);
  if (rc < 0) {
    loop_end(m, rc);
    return;
  }
  new_call(m, m->repairing);
}

static void loop_pause_over(art_model_job *job) { loop_send(job->state); }

static void loop_replied(art_http *h, int rc, void *ud) {
  openai *m = ud;
  (void)h;
  int v = attempt_end(m, rc, &m->res, m->t0);
  if (v == 1 && plan_retry(m)) {
    m->job->after(m->job, (uint64_t)last_call(m)->retry_in_ms, loop_pause_over);
    return;
  }
  rc = exchange_end(m, v, &m->err);
  if (rc == 0) rc = reply_read(m, &m->out, &m->err);
  if (rc == 1)
    loop_send(m);
  else
    loop_end(m, rc);
}

static int openai_start(art_model *base, const art_context *ctx, art_model_job *job,
                        art_error *err) {
  openai *m = (openai *)base;
  int rc = decision_begin(m, ctx, err);
  if (rc < 0) return decision_end(m, rc, NULL);
  job->state = m;
  m->job = job;
  m->err = (art_error){0};
  loop_send(m);
  return 0;
}

/* The request in flight leaves the loop's multi; a retry's pause is the
 * job's timer, which the loop stops. */
static void openai_cancel(art_model *base, art_model_job *job) {
  openai *m = (openai *)base;
  if (m->job != job) return;
  m->job = NULL;
  if (m->http) art_http_cancel(m->http);
  art_http_response_dispose(m->http, &m->res);
  decision_end(m, ART_EINTR, NULL);
}

static const art_model_call *openai_calls(const art_model *base, size_t *n) {
  const openai *m = (const openai *)base;
  *n = m->n_calls;
  return m->calls;
}

static void openai_free(art_model *base) {
  openai *m = (openai *)base;
  const art_allocator *a = m->spec->alloc;
  if (m->job) openai_cancel(base, m->job);
  forget_last(m);
  art_http_free(m->http);
  if (m->key) {
    memset(m->key, 0, strlen(m->key));
    art_release(a, m->key);
  }
  art_release(a, m->calls);
  art_release(a, m->slots);
  art_release(a, m);
}

static const art_model_vtable openai_vtable = {ART_MODEL_VERSION, "openai",     openai_decide,
                                               openai_free,       NULL,         openai_calls,
                                               openai_start,      openai_cancel};

/* base_url + "/chat/completions" (one slash between). */
static char *endpoint(const art_allocator *a, const char *base_url) {
  size_t n = strlen(base_url);
  while (n && base_url[n - 1] == '/') n--;
  char *url = art_alloc(a, n + sizeof "/chat/completions");
  if (url) snprintf(url, n + sizeof "/chat/completions", "%.*s/chat/completions", (int)n, base_url);
  return url;
}

static int read_key(openai *m, art_error *err) {
  const char *name = m->cfg->api_key_env;
  if (!name) return 0;
  const char *key = getenv(name);
  if (!key || !key[0])
    return art_error_set(err, ART_EINVAL,
                         "the environment variable %s (model.api_key_env) is not set", name);
  m->key = art_strdup(m->spec->alloc, key);
  return m->key ? 0 : art_error_set(err, ART_ENOMEM, "out of memory");
}

static int setup(openai *m, art_error *err) {
  const art_allocator *a = m->spec->alloc;
  m->max_calls = 2 * ((size_t)m->cfg->max_retries + 1); /* a repair round retries too */
  m->calls = art_zalloc(a, m->max_calls * sizeof *m->calls);
  m->slots = art_zalloc(a, m->max_calls * sizeof *m->slots);
  if (!m->calls || !m->slots) return art_error_set(err, ART_ENOMEM, "out of memory");
  int rc = read_key(m, err);
  if (rc < 0) return rc;
  char *url = endpoint(a, m->cfg->base_url);
  if (!url) return art_error_set(err, ART_ENOMEM, "out of memory");
  rc = art_http_new(&m->http, url, m->key, a, err);
  art_release(a, url);
  return rc;
}

int art_openai_model_new(art_model **out, const art_spec *spec, art_error *err) {
  openai *m = art_zalloc(spec->alloc, sizeof *m);
  if (!m) return art_error_set(err, ART_ENOMEM, "out of memory");
  m->base.vt = &openai_vtable;
  m->spec = spec;
  m->cfg = &spec->model_cfg;
  int rc = setup(m, err);
  if (rc < 0) {
    openai_free(&m->base);
    return rc;
  }
  *out = &m->base;
  return 0;
}
