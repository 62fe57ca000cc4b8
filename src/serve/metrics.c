/* GET /metrics: Prometheus text, computed from the store for the token's
 * tenant: runs by status and stop reason, approvals waiting, tool calls and
 * errors by tool, model tokens and cost, the step latency histogram; and the
 * service's own event streams. */
#include "serve/service.h"

#include <stdio.h>
#include <string.h>

/* Step latency buckets, seconds. */
static const double buckets[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60};
#define N_BUCKETS (sizeof buckets / sizeof *buckets)

typedef struct tally {
  json_t *runs;        /* "status\tstop_reason" -> count */
  json_t *tool_calls;  /* tool -> count */
  json_t *tool_errors; /* "tool\tstatus" -> count */
  size_t approvals_waiting;
  uint64_t prompt_tokens, completion_tokens;
  double cost_usd;
  uint64_t step_counts[N_BUCKETS + 1]; /* the last: +Inf */
  double step_seconds;
  uint64_t steps;
} tally;

static void count(json_t *map, const char *key, json_int_t n) {
  json_int_t had = json_integer_value(json_object_get(map, key));
  json_object_set_new(map, key, json_integer(had + n));
}

static void count_step(tally *t, int64_t latency_us) {
  double s = (double)latency_us / 1e6;
  size_t b = 0;
  while (b < N_BUCKETS && s > buckets[b]) b++;
  t->step_counts[b]++;
  t->step_seconds += s;
  t->steps++;
}

/* One event's part of the tallies; *step_us gathers the latency of its step:
 * what its model and its tools took (waiting for people is not a step's). */
static void count_event(tally *t, const art_journal_entry *e, int64_t *step_us) {
  if (e->type != ART_EV_DECISION && e->type != ART_EV_TOOL_CALL && e->type != ART_EV_TOOL_RESULT)
    return;
  json_t *body = json_loadb(e->body, e->body_len, 0, NULL);
  const char *tool = json_string_value(json_object_get(body, "tool"));
  if (e->type == ART_EV_TOOL_CALL && tool) count(t->tool_calls, tool, 1);
  if (e->type == ART_EV_TOOL_RESULT && tool) {
    const char *status = json_string_value(json_object_get(body, "status"));
    if (status && strcmp(status, "ok") != 0) {
      char key[512];
      snprintf(key, sizeof key, "%s\t%s", tool, status);
      count(t->tool_errors, key, 1);
    }
  }
  if (e->type != ART_EV_TOOL_CALL)
    *step_us += json_integer_value(json_object_get(body, "latency_us"));
  const json_t *cost = json_object_get(body, "cost");
  t->prompt_tokens += (uint64_t)json_integer_value(json_object_get(cost, "prompt_tokens"));
  t->completion_tokens += (uint64_t)json_integer_value(json_object_get(cost, "completion_tokens"));
  t->cost_usd += json_number_value(json_object_get(cost, "cost_usd"));
  json_decref(body);
}

static int count_journal(tally *t, art_store *store, const char *run_id, art_error *err) {
  art_journal j = {0};
  int rc = store->vt->load_journal(store, run_id, &j, err);
  uint32_t step = 0;
  int64_t step_us = 0;
  for (size_t i = 0; rc == 0 && i < j.n; i++) {
    if (j.entries[i].step != step) {
      if (step) count_step(t, step_us);
      step = j.entries[i].step, step_us = 0;
    }
    count_event(t, &j.entries[i], &step_us);
  }
  if (step) count_step(t, step_us);
  art_journal_dispose(&j);
  return rc;
}

static int count_runs(tally *t, serve_call *c, art_error *err) {
  art_store *store = c->srv->store;
  art_run_record *all;
  size_t n;
  int rc = store->vt->list_runs(store, -1, &all, &n, err);
  if (rc < 0) return rc;
  int64_t now = art_now_us();
  for (size_t i = 0; rc == 0 && i < n; i++) {
    char key[128];
    if (!serve_tenants(c->token, &all[i])) continue;
    snprintf(key, sizeof key, "%s\t%s", art_run_status_name(art_durable_status_now(&all[i], now)),
             all[i].stop_reason ? all[i].stop_reason : "");
    count(t->runs, key, 1);
    t->approvals_waiting += all[i].status == ART_RUN_PAUSED && all[i].stop_reason &&
                            strcmp(all[i].stop_reason, "approval_required") == 0;
    rc = count_journal(t, store, all[i].run_id, err);
  }
  art_run_records_free(all, n);
  return rc;
}

/* ---- the text ---------------------------------------------------------------------- */

/* A label value as Prometheus reads it: \, " and newlines escaped. */
static void label(FILE *f, const char *v) {
  for (; *v; v++) {
    if (*v == '\\' || *v == '"')
      fputc('\\', f), fputc(*v, f);
    else if (*v == '\n')
      fputs("\\n", f);
    else
      fputc(*v, f);
  }
}

/* A map whose keys are label values joined by tabs, as `metric{names...} n`. */
static void write_map(FILE *f, const char *metric, const char *const *names, const json_t *map) {
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)map, key, v) {
    fprintf(f, "%s{", metric);
    const char *part = key;
    for (int i = 0; names[i]; i++) {
      const char *tab = strchr(part, '\t');
      char value[512];
      snprintf(value, sizeof value, "%.*s", (int)(tab ? tab - part : (long)strlen(part)), part);
      fprintf(f, "%s%s=\"", i ? "," : "", names[i]);
      label(f, value);
      fputc('"', f);
      part = tab ? tab + 1 : part + strlen(part);
    }
    fprintf(f, "} %lld\n", (long long)json_integer_value(v));
  }
}

static void write_histogram(FILE *f, const tally *t) {
  uint64_t cumulative = 0;
  fputs("# HELP agentrt_step_latency_seconds What a step's model and tools took.\n"
        "# TYPE agentrt_step_latency_seconds histogram\n",
        f);
  for (size_t b = 0; b <= N_BUCKETS; b++) {
    cumulative += t->step_counts[b];
    if (b < N_BUCKETS)
      fprintf(f, "agentrt_step_latency_seconds_bucket{le=\"%g\"} %llu\n", buckets[b],
              (unsigned long long)cumulative);
    else
      fprintf(f, "agentrt_step_latency_seconds_bucket{le=\"+Inf\"} %llu\n",
              (unsigned long long)cumulative);
  }
  fprintf(f, "agentrt_step_latency_seconds_sum %.6f\nagentrt_step_latency_seconds_count %llu\n",
          t->step_seconds, (unsigned long long)t->steps);
}

static void write_metrics(FILE *f, const tally *t, const serve *s) {
  size_t buffered, streams = serve_streams(s, &buffered);
  fputs("# HELP agentrt_runs Runs of the tenant by status and stop reason.\n"
        "# TYPE agentrt_runs gauge\n",
        f);
  write_map(f, "agentrt_runs", (const char *const[]){"status", "stop_reason", NULL}, t->runs);
  fprintf(f,
          "# HELP agentrt_approvals_waiting Paused runs waiting for an approval.\n"
          "# TYPE agentrt_approvals_waiting gauge\nagentrt_approvals_waiting %zu\n",
          t->approvals_waiting);
  fputs("# HELP agentrt_tool_calls_total Tool calls by tool.\n"
        "# TYPE agentrt_tool_calls_total counter\n",
        f);
  write_map(f, "agentrt_tool_calls_total", (const char *const[]){"tool", NULL}, t->tool_calls);
  fputs("# HELP agentrt_tool_errors_total Tool results other than ok, by tool and status.\n"
        "# TYPE agentrt_tool_errors_total counter\n",
        f);
  write_map(f, "agentrt_tool_errors_total", (const char *const[]){"tool", "status", NULL},
            t->tool_errors);
  fprintf(f,
          "# HELP agentrt_model_tokens_total Model tokens, prompt and completion.\n"
          "# TYPE agentrt_model_tokens_total counter\n"
          "agentrt_model_tokens_total{kind=\"prompt\"} %llu\n"
          "agentrt_model_tokens_total{kind=\"completion\"} %llu\n"
          "# HELP agentrt_model_cost_usd_total Model cost at the specs' prices.\n"
          "# TYPE agentrt_model_cost_usd_total counter\nagentrt_model_cost_usd_total %.6f\n",
          (unsigned long long)t->prompt_tokens, (unsigned long long)t->completion_tokens,
          t->cost_usd);
  write_histogram(f, t);
  fprintf(f,
          "# HELP agentrt_serve_event_streams Event streams open on this service.\n"
          "# TYPE agentrt_serve_event_streams gauge\nagentrt_serve_event_streams %zu\n"
          "# HELP agentrt_serve_event_stream_buffered_bytes What they hold, not yet sent.\n"
          "# TYPE agentrt_serve_event_stream_buffered_bytes gauge\n"
          "agentrt_serve_event_stream_buffered_bytes %zu\n",
          streams, buffered);
}

void serve_metrics(serve_call *c, http_request *req) {
  if (!serve_may(c->token, SERVE_METRICS))
    return serve_error(req, 403, "forbidden", "metrics are for operator and admin tokens");
  tally t = {.runs = json_object(), .tool_calls = json_object(), .tool_errors = json_object()};
  art_error err = {0};
  char *out = NULL;
  size_t len = 0;
  FILE *f = t.runs && t.tool_calls && t.tool_errors ? open_memstream(&out, &len) : NULL;
  if (!f)
    serve_error(req, 500, "internal", "out of memory");
  else if (count_runs(&t, c, &err) < 0)
    serve_store_error(req, &err);
  else
    write_metrics(f, &t, c->srv);
  if (f && fclose(f) != 0 && !http_status(req))
    serve_error(req, 500, "internal", "out of memory");
  else if (!http_status(req))
    http_reply(req, 200, "text/plain; version=0.0.4", out, len);
  free(out);
  json_decref(t.runs);
  json_decref(t.tool_calls);
  json_decref(t.tool_errors);
}
