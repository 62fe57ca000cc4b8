/* The Agent Protocol's runs (langchain-ai/agent-protocol, the API LangGraph
 * Server implements), served beside /v1 where agentrt has the same
 * operation, so that its clients work unchanged: POST /runs, /runs/wait,
 * /runs/stream and /runs/search; GET /runs/{id}, /runs/{id}/wait and
 * /runs/{id}/stream; POST /runs/{id}/cancel.  Same tokens, roles and
 * tenants as /v1 (another tenant's run is a 404 here too).
 *
 * An agent (agent_id, or LangGraph's assistant_id) is a spec registered with
 * --specs; a run's input is the input of POST /v1/runs.  The protocol's
 * threads, assistants and store have no counterpart (README: "The Agent
 * Protocol"). */
#include "serve/service.h"

#include <string.h>
#include <time.h>

/* ---- a run, as the protocol shows it ---------------------------------------------- */

/* pending (queued, ready, running), interrupted (paused for a person, or
 * cancelled), success, or error (any other stop). */
static const char *protocol_status(const art_run_record *r, int64_t now) {
  switch (art_durable_status_now(r, now)) {
  case ART_RUN_PAUSED:
  case ART_RUN_CANCELLED: return "interrupted";
  case ART_RUN_FINISHED:
    return r->stop_reason && strcmp(r->stop_reason, "success") == 0 ? "success" : "error";
  default: return "pending";
  }
}

/* RFC 3339, in UTC, to the microsecond. */
static json_t *timestamp(int64_t us) {
  char text[40];
  time_t s = (time_t)(us / 1000000);
  struct tm tm;
  gmtime_r(&s, &tm);
  size_t n = strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(text + n, sizeof text - n, ".%06dZ", (int)(us % 1000000));
  return json_string(text);
}

/* The protocol's Run: agentrt's own record under metadata.agentrt.  A run
 * keeps no thread, and not the agent it was made from (agent_id: NULL but
 * in the reply to its creation). */
static json_t *protocol_run(const art_run_record *r, const char *agent_id) {
  int64_t now = art_now_us();
  return json_pack("{s:s, s:n, s:s?, s:o, s:o, s:s, s:{s:o}, s:{}, s:s}", "run_id", r->run_id,
                   "thread_id", "agent_id", agent_id, "created_at", timestamp(r->created_us),
                   "updated_at", timestamp(r->updated_us), "status", protocol_status(r, now),
                   "metadata", "agentrt", art_run_record_json(r, now), "kwargs",
                   "multitask_strategy", "reject");
}

/* RunWaitResponse: {"run", "values"}, values the result object of GET
 * /v1/runs/{id} without its trace (GET /runs/{id}/stream has the events). */
static char *wait_result(serve *s, const char *run_id, size_t *len) {
  art_run_record r;
  art_error err = {0};
  json_t *values = NULL, *reply = NULL;
  if (s->store->vt->get_run(s->store, run_id, &r, &err) < 0) return NULL;
  if ((values = serve_run_result(s, run_id, &err))) {
    json_object_del(values, "trace");
    reply = json_pack("{s:o, s:o}", "run", protocol_run(&r, NULL), "values", values);
  }
  art_run_record_dispose(&r);
  char *text = reply ? json_dumps(reply, JSON_COMPACT) : NULL;
  json_decref(reply);
  if (text) *len = strlen(text);
  return text;
}

/* ---- creating one ------------------------------------------------------------------- */

/* Members of RunCreate that change nothing here: accepted and left alone. */
static const char *const ignored[] = {"metadata",      "config",           "stream_mode",
                                      "on_completion", "on_disconnect",    "multitask_strategy",
                                      "if_not_exists", "stream_subgraphs", NULL};

static bool ignored_member(const char *key) {
  for (const char *const *k = ignored; *k; k++)
    if (strcmp(*k, key) == 0) return true;
  return false;
}

/* RunCreate as a POST /v1/runs body ({"spec_ref", "input"}; a new
 * reference), or NULL having replied 400: a member that asks for what
 * agentrt does not do (a thread, a webhook, a run later) is refused, not
 * dropped. */
static json_t *as_submit_body(http_request *req, const json_t *body) {
  const char *key, *agent = NULL;
  json_t *v, *input = NULL;
  json_object_foreach((json_t *)body, key, v) {
    if (json_is_null(v)) continue; /* clients send what they leave unset as null */
    if (strcmp(key, "agent_id") == 0 || strcmp(key, "assistant_id") == 0)
      agent = json_string_value(v);
    else if (strcmp(key, "input") == 0 || (strcmp(key, "messages") == 0 && !input))
      input = v;
    else if (!ignored_member(key)) {
      serve_error(req, 400, "bad_request",
                  "$.%s: not served here (runs have no threads, webhooks or schedules)", key);
      return NULL;
    }
  }
  if (!agent) {
    serve_error(req, 400, "bad_request",
                "$.agent_id: the name of a spec this service registers (--specs DIR)");
    return NULL;
  }
  json_t *submit = json_pack("{s:s, s:O?}", "spec_ref", agent, "input", input);
  if (!submit) serve_error(req, 500, "internal", "out of memory");
  return submit;
}

/* The run the body asks for, queued: 0 (c->run_id names it), or -1 having
 * replied. */
static int create(serve_call *c, http_request *req, json_t **agent_id) {
  json_t *body = serve_body_object(req, false), *submit = body ? as_submit_body(req, body) : NULL;
  char run_id[ART_RUN_ID_SIZE], location[64 + ART_RUN_ID_SIZE];
  int rc = submit ? serve_create_run(c, req, submit, run_id) : -1;
  if (rc == 0) {
    snprintf(c->run_id, sizeof c->run_id, "%s", run_id);
    snprintf(location, sizeof location, "/runs/%s", run_id);
    http_add_header(req, "Content-Location", location);
    *agent_id = json_incref(json_object_get(submit, "spec_ref"));
  }
  json_decref(submit);
  json_decref(body);
  return rc;
}

static void reply_run(serve_call *c, http_request *req, const char *agent_id) {
  art_run_record r;
  art_error err = {0};
  if (c->srv->store->vt->get_run(c->srv->store, c->run_id, &r, &err) < 0)
    return serve_store_error(req, &err);
  serve_json(req, 200, protocol_run(&r, agent_id));
  art_run_record_dispose(&r);
}

/* POST /runs (background), /runs/wait, /runs/stream; c->arg says which. */
void serve_protocol_create(serve_call *c, http_request *req) {
  json_t *agent_id = NULL;
  if (create(c, req, &agent_id) < 0) return;
  if (c->arg == SERVE_CREATE_WAIT)
    serve_follow(c, req, 1, true, wait_result);
  else if (c->arg == SERVE_CREATE_STREAM)
    serve_follow(c, req, 1, true, NULL);
  else
    reply_run(c, req, json_string_value(agent_id));
  json_decref(agent_id);
}

/* ---- one run -------------------------------------------------------------------------- */

void serve_protocol_show(serve_call *c, http_request *req) {
  art_run_record r;
  if (serve_visible_run(c, req, &r) < 0) return;
  serve_json(req, 200, protocol_run(&r, NULL));
  art_run_record_dispose(&r);
}

void serve_protocol_wait(serve_call *c, http_request *req) {
  art_run_record r;
  if (serve_visible_run(c, req, &r) < 0) return;
  art_run_record_dispose(&r);
  serve_follow(c, req, 1, true, wait_result);
}

/* ---- POST /runs/search ------------------------------------------------------------------ */

/* RunSearchRequest: {"status", "limit" (1 to 1000, 10), "offset" (0)};
 * 0, or -1 having replied 400. */
static int read_search(http_request *req, const json_t *body, const char **status, long *limit,
                       long *offset) {
  const char *key;
  json_t *v;
  *status = NULL, *limit = 10, *offset = 0;
  json_object_foreach((json_t *)body, key, v) {
    if (strcmp(key, "status") == 0 && (json_is_string(v) || json_is_null(v)))
      *status = json_string_value(v);
    else if (strcmp(key, "limit") == 0 && json_is_integer(v))
      *limit = (long)json_integer_value(v);
    else if (strcmp(key, "offset") == 0 && json_is_integer(v))
      *offset = (long)json_integer_value(v);
    else if (strcmp(key, "metadata") != 0 || !json_is_object(v) || json_object_size(v) > 0)
      return serve_refuse(req, 400, "bad_request",
                          "$.%s: runs are searched by status, limit and offset (agent_id and "
                          "metadata are not kept with a run)",
                          key);
  }
  if (*limit < 1 || *limit > 1000 || *offset < 0)
    return serve_refuse(req, 400, "bad_request", "limit is 1 to 1000, offset 0 or more");
  static const char *const statuses[] = {"pending", "error", "success", "timeout", "interrupted"};
  for (size_t i = 0; *status && i < sizeof statuses / sizeof *statuses; i++)
    if (strcmp(*status, statuses[i]) == 0) return 0;
  if (*status)
    return serve_refuse(req, 400, "bad_request",
                        "$.status: pending, error, success, timeout or interrupted");
  return 0;
}

void serve_protocol_search(serve_call *c, http_request *req) {
  json_t *body = serve_body_object(req, true);
  const char *status;
  long limit, offset;
  art_run_record *all = NULL;
  size_t n = 0;
  art_error err = {0};
  if (!body) return;
  if (read_search(req, body, &status, &limit, &offset) < 0) goto done;
  if (c->srv->store->vt->list_runs(c->srv->store, -1, &all, &n, &err) < 0) {
    serve_store_error(req, &err);
    goto done;
  }
  qsort(all, n, sizeof *all, serve_newest_first);
  int64_t now = art_now_us();
  json_t *runs = json_array();
  for (size_t i = 0; runs && i < n && json_array_size(runs) < (size_t)limit; i++) {
    if (!serve_tenants(c->token, &all[i])) continue;
    if (status && strcmp(protocol_status(&all[i], now), status) != 0) continue;
    if (offset > 0) {
      offset--;
      continue;
    }
    if (json_array_append_new(runs, protocol_run(&all[i], NULL)) < 0)
      json_decref(runs), runs = NULL;
  }
  serve_json(req, 200, runs);
done:
  art_run_records_free(all, n);
  json_decref(body);
}
