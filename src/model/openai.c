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
  char *key; /* the API key (masked in replies), NULL without one */
  art_oai_reply reply;    /* the reply the last decision was read from */
  json_t *args;           /* the last decision's tool input */
  char problem[TEXT_SIZE]; /* a malformed last decision points here */
  art_model_call *calls;  /* room for every request of one decision */
  call_slot *slots;
  size_t n_calls, max_calls;
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
  m->calls[i] = (art_model_call){.attempt = (uint32_t)m->n_calls, .repair = repair,
                                  .retry_in_ms = -1};
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

/* One attempt: judge()'s answer, or ART_ENOMEM. */
static int attempt(openai *m, const char *body, size_t len, const art_interrupt *interrupt,
                   art_model_call *c, int64_t *retry_after_ms) {
  art_http_response res;
  int64_t t0 = mono_us();
  int rc = art_http_post(m->http, body, len, m->cfg->timeout_ms, interrupt, &res);
  c->latency_us = mono_us() - t0;
  c->ended_us = art_now_us();
  c->status = res.status;
  mask_key(m, res.body, res.len);
  *retry_after_ms = art_retry_after_ms(res.retry_after, (int64_t)time(NULL));
  if (rc == 0) rc = judge(m, &res, c);
  art_http_response_dispose(m->http, &res);
  return rc;
}

/* Send `request` until a reply comes or the retries run out; a failure says
 * what the last attempt got, e.g. "HTTP 500: overloaded (after 3 attempts)". */
static int exchange(openai *m, const json_t *request, bool repair, const art_interrupt *interrupt,
                    art_error *err) {
  char *body = json_dumps(request, JSON_COMPACT);
  if (!body) return art_error_set(err, ART_ENOMEM, "out of memory");
  size_t first = m->n_calls;
  int rc;
  for (int retry = 1;; retry++) {
    int64_t retry_after_ms;
    art_model_call *c = new_call(m, repair);
    rc = attempt(m, body, strlen(body), interrupt, c, &retry_after_ms);
    if (rc != 1 || retry > m->cfg->max_retries || interrupted(interrupt)) break;
    c->retry_in_ms = art_retry_wait_ms(retry_after_ms, retry, m->cfg->backoff_ms,
                                       m->cfg->max_backoff_ms, arc4random());
    if (!pause_ms(c->retry_in_ms, interrupt)) break;
  }
  json_free_t free_fn;
  json_get_alloc_funcs(NULL, &free_fn);
  free_fn(body); /* jansson's allocator made it */
  if (rc == ART_ENOMEM) return art_error_set(err, ART_ENOMEM, "out of memory");
  if (rc == 0) return 0;
  size_t attempts = m->n_calls - first;
  const char *last = m->calls[m->n_calls - 1].error;
  if (attempts == 1) return art_error_set(err, ART_EIO, "%s", last);
  return art_error_set(err, ART_EIO, "%s (after %zu attempts)", last, attempts);
}

static void forget_last(openai *m) {
  art_oai_reply_dispose(&m->reply);
  json_decref(m->args);
  m->args = NULL;
  m->n_calls = 0;
}

static void add_usage(art_usage *total, const art_model_call *calls, size_t n) {
  *total = (art_usage){0, 0};
  for (size_t i = 0; i < n; i++) {
    total->prompt_tokens += calls[i].usage.prompt_tokens;
    total->completion_tokens += calls[i].usage.completion_tokens;
  }
}

/* The last request's reply could not be used: m->problem says why. */
static void mark_malformed(openai *m) {
  art_model_call *c = &m->calls[m->n_calls - 1];
  c->malformed = strcpy(m->slots[m->n_calls - 1].malformed, m->problem);
}

/* Tell the model what was wrong and take its second reply as it is. */
static int repair(openai *m, json_t *request, const art_context *ctx,
                  const art_interrupt *interrupt, art_decision *out, art_error *err) {
  mark_malformed(m);
  if (art_oai_add_repair(request, m->reply.message, m->problem) < 0)
    return art_error_set(err, ART_ENOMEM, "out of memory");
  art_oai_reply_dispose(&m->reply);
  json_decref(m->args);
  m->args = NULL;
  int rc = exchange(m, request, true, interrupt, err);
  if (rc == 0 && art_oai_decision(&m->reply, ctx, out, &m->args, m->problem, sizeof m->problem) < 0)
    mark_malformed(m);
  return rc;
}

static int openai_decide(art_model *base, const art_context *ctx, const art_interrupt *interrupt,
                         art_decision *out, art_error *err) {
  openai *m = (openai *)base;
  forget_last(m);
  json_t *request = art_oai_request(m->cfg->model, m->cfg->temperature, ctx);
  if (!request) return art_error_set(err, ART_ENOMEM, "out of memory");
  int rc = exchange(m, request, false, interrupt, err);
  if (rc == 0 &&
      art_oai_decision(&m->reply, ctx, out, &m->args, m->problem, sizeof m->problem) < 0)
    rc = repair(m, request, ctx, interrupt, out, err);
  json_decref(request);
  if (rc == 0) add_usage(&out->usage, m->calls, m->n_calls);
  return rc;
}

static const art_model_call *openai_calls(const art_model *base, size_t *n) {
  const openai *m = (const openai *)base;
  *n = m->n_calls;
  return m->calls;
}

static void openai_free(art_model *base) {
  openai *m = (openai *)base;
  const art_allocator *a = m->spec->alloc;
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

static const art_model_vtable openai_vtable = {ART_MODEL_VERSION, "openai", openai_decide,
                                               openai_free, NULL, openai_calls, NULL, NULL};

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
