/* agentrt serve over real HTTP (libcurl, and raw sockets where a client must
 * misbehave): every endpoint and its error statuses, pagination, event
 * streams that resume from Last-Event-ID across a run still going, tenant
 * isolation and roles, bad input, 1,000 connections at once, and a client
 * that stops reading.  Runs are driven by `agentrt worker` beside the
 * service, on the same SQLite store. */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agentrt.h"
#include "testutil.h"

#define ANSWER "{\"type\":\"answer\",\"text\":\"done\"}"

/* ---- the service ------------------------------------------------------------------- */

static struct {
  pid_t pid;
  int port;
  char store[512];
  char tokens[512];
} srv;

static int store_count;

/* A store of the test's own, and the tokens file beside it (made anew). */
static void new_store(void) {
  char name[64];
  snprintf(name, sizeof name, "serve-%d.db", store_count);
  snprintf(srv.store, sizeof srv.store, "%s", tu_path(name));
  snprintf(name, sizeof name, "tokens-%d.json", store_count++);
  snprintf(srv.tokens, sizeof srv.tokens, "%s", tu_path(name));
}

/* The port in the service's "listening on" line, once it is there. */
static int wait_for_port(const char *log) {
  for (int i = 0; i < 1000; i++) {
    char *text = tu_read(tu_path(log));
    const char *at = text ? strstr(text, "listening on http://127.0.0.1:") : NULL;
    int port = at ? atoi(at + strlen("listening on http://127.0.0.1:")) : 0;
    free(text);
    if (port) return port;
    usleep(10000);
  }
  fail_msg("agentrt serve never listened (%s)", log);
  return 0;
}

/* The service, with its worker (looking for ready runs every 20 ms) or not:
 * without, tests drive runs with `agentrt worker --drain` (work). */
static void start_service_polling(bool worker, const char *poll) {
  const char *args[] = {
      "serve",    "--listen", "127.0.0.1:0", "--store",        srv.store,
      "--tokens", srv.tokens, "--specs",     tu_path("specs"), worker ? "--poll" : "--no-worker",
      poll,       NULL};
  if (!worker) args[10] = NULL;
  unlink(tu_path("serve.log"));
  srv.pid = tu_cli_start(args, "serve.log", 0);
  srv.port = wait_for_port("serve.log");
}

static void start_service_with(bool worker) { start_service_polling(worker, "20ms"); }

static void start_service(void) { start_service_with(false); }

/* SIGTERM: it closes its streams and connections and exits 0. */
static void stop_service(void) {
  int status;
  kill(srv.pid, SIGTERM);
  assert_int_equal(waitpid(srv.pid, &status, 0), srv.pid);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    char *log = tu_read(tu_path("serve.log"));
    fail_msg("agentrt serve ended with status %d:\n%s", status, log);
  }
}

/* A new token NAME of `tenant` and `role` (malloc'd). */
static char *token(const char *name, const char *tenant, const char *role) {
  char *out = NULL, *err = NULL;
  int rc = tu_cli(&out, &err, "tokens", "new", name, "--tenant", tenant, "--role", role, "--tokens",
                  srv.tokens, NULL);
  if (rc != 0) fail_msg("tokens new %s: %s", name, err);
  free(err);
  out[strcspn(out, "\n")] = '\0';
  return out;
}

/* Drive every ready run of the store to its next stop. */
static void work(void) {
  char *err = NULL;
  int rc = tu_cli(NULL, &err, "worker", "--drain", "--store", srv.store, NULL);
  if (rc != 0) fail_msg("worker: %s", err);
  free(err);
}

static void write_spec(const char *name, const char *text) {
  char path[128];
  mkdir(tu_path("specs"), 0700);
  snprintf(path, sizeof path, "specs/%s.json", name);
  tu_write(path, text);
}

static void write_specs(void) {
  write_spec("answer",
             "{\"goal\":\"g\",\"model\":{\"type\":\"scripted\",\"decisions\":[" ANSWER "]}}");
  write_spec("lookup", "{\"goal\":\"g\",\"tools\":[\"lookup_policy\"],\"model\":{\"type\":"
                       "\"scripted\",\"decisions\":[{\"type\":\"tool\",\"name\":\"lookup_policy\","
                       "\"input\":{\"task\":\"t\"}}," ANSWER "]}}");
  write_spec("send", "{\"goal\":\"g\",\"tools\":[\"send_message\"],\"model\":{\"type\":"
                     "\"scripted\",\"decisions\":[{\"type\":\"tool\",\"name\":\"send_message\","
                     "\"input\":{\"to\":\"a@example.com\",\"body\":\"hi\"}}," ANSWER "]}}");
  write_spec("hostile", /* what a run says is text on the console, never markup */
             "{\"goal\":\"g\",\"tools\":[\"send_message\"],\"model\":{\"type\":"
             "\"scripted\",\"decisions\":[{\"type\":\"tool\",\"name\":\"send_message\","
             "\"input\":{\"to\":\"a@example.com\",\"body\":\"<img src=x "
             "onerror=document.title='owned'>\"}}," ANSWER "]}}");
  write_spec("routed", /* its actor is replaced by the token, its route kept */
             "{\"goal\":\"g\",\"actor\":{\"id\":\"bot\",\"tenant\":\"other\",\"route\":"
             "\"support\"},\"tools\":[\"send_message\"],\"policy\":{\"rules\":[{\"when\":"
             "{\"tool\":\"send_*\",\"route\":\"support\"},\"effect\":\"allow\"}]},\"model\":"
             "{\"type\":\"scripted\",\"decisions\":[{\"type\":\"tool\",\"name\":"
             "\"send_message\",\"input\":{\"to\":\"a@example.com\",\"body\":\"hi\"}}," ANSWER
             "]}}");
  write_spec("ask", "{\"goal\":\"g\",\"model\":{\"type\":\"scripted\",\"decisions\":[{\"type\":"
                    "\"ask_human\",\"question\":\"which one?\"}," ANSWER "]}}");
  char text[1024];
  snprintf(text, sizeof text,
           "{\"goal\":\"g\",\"tools\":[{\"name\":\"wait\",\"side_effect\":\"read\",\"command\":"
           "[\"/bin/sh\",\"-c\",\"while [ ! -f %s ]; do sleep 0.01; done; echo ok\"]}],"
           "\"model\":{\"type\":\"scripted\",\"decisions\":[{\"type\":\"tool\",\"name\":\"wait\","
           "\"input\":{}}," ANSWER "]}}",
           tu_path("go"));
  write_spec("wait", text);
}

/* ---- HTTP ------------------------------------------------------------------------------ */

typedef struct reply {
  long status;
  char *body;
  size_t len;
} reply;

static size_t gather(char *data, size_t size, size_t n, void *ud) {
  reply *r = ud;
  r->body = realloc(r->body, r->len + size * n + 1);
  memcpy(r->body + r->len, data, size * n);
  r->len += size * n;
  r->body[r->len] = '\0';
  return size * n;
}

/* METHOD path with `token` (NULL: none) and `body` (NULL: none), and one more
 * header (NULL: none). */
static reply http_with(const char *method, const char *path, const char *tok, const char *body,
                       size_t body_len, const char *header) {
  reply r = {0, calloc(1, 1), 0};
  char url[1024], auth[256];
  struct curl_slist *headers = NULL;
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", srv.port, path);
  CURL *c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, gather);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
  if (tok) {
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
    headers = curl_slist_append(headers, auth);
  }
  if (header) headers = curl_slist_append(headers, header);
  headers = curl_slist_append(headers, "Expect:");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  if (body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
  }
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(c);
  return r;
}

static reply http(const char *method, const char *path, const char *tok, const char *body) {
  return http_with(method, path, tok, body, body ? strlen(body) : 0, NULL);
}

/* The reply's JSON, having checked its status (a new reference). */
static json_t *expect(reply r, long status) {
  if (r.status != status) fail_msg("status %ld, expected %ld: %s", r.status, status, r.body);
  json_t *j = json_loads(r.body, JSON_DECODE_ANY, NULL);
  if (!j && status != 200) fail_msg("not JSON: %s", r.body);
  free(r.body);
  return j;
}

/* The error's code, having checked the status. */
static void expect_error(reply r, long status, const char *code) {
  char *body = strdup(r.body);
  json_t *j = expect(r, status);
  const char *got = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
  if (!got || strcmp(got, code) != 0) fail_msg("expected error %s: %s", code, body);
  free(body);
  json_decref(j);
}

static void assert_contains(const char *text, const char *part) {
  if (!text || !strstr(text, part)) fail_msg("expected \"%s\" in:\n%s", part, text ? text : "");
}

/* POST /v1/runs {"spec_ref": NAME}: the new run's id (malloc'd). */
static char *submit(const char *tok, const char *spec) {
  char body[256];
  snprintf(body, sizeof body, "{\"spec_ref\":\"%s\",\"goal\":\"from the API\"}", spec);
  json_t *j = expect(http("POST", "/v1/runs", tok, body), 201);
  assert_string_equal(json_string_value(json_object_get(j, "status")), "queued");
  char *id = strdup(json_string_value(json_object_get(j, "run_id")));
  json_decref(j);
  return id;
}

static json_t *get_run(const char *tok, const char *run_id) {
  char path[256];
  snprintf(path, sizeof path, "/v1/runs/%s", run_id);
  return expect(http("GET", path, tok, NULL), 200);
}

static void assert_run(const char *tok, const char *run_id, const char *status,
                       const char *stop_reason) {
  json_t *j = get_run(tok, run_id);
  assert_string_equal(json_string_value(json_object_get(j, "status")), status);
  if (stop_reason)
    assert_string_equal(json_string_value(json_object_get(j, "stop_reason")), stop_reason);
  json_decref(j);
}

/* POST /v1/runs/ID/VERB with `body`. */
static reply decide(const char *tok, const char *run_id, const char *verb, const char *body) {
  char path[256];
  snprintf(path, sizeof path, "/v1/runs/%s/%s", run_id, verb);
  return http("POST", path, tok, body);
}

/* The action a paused run waits for (malloc'd). */
static char *pending_action(const char *tok, const char *run_id) {
  json_t *j = get_run(tok, run_id);
  const char *a = json_string_value(json_object_get(json_object_get(j, "pending"), "action_id"));
  assert_non_null(a);
  char *copy = strdup(a);
  json_decref(j);
  return copy;
}

/* The runs the store has, whoever's: rows of the runs table. */
static int stored_runs(void) {
  char *out = NULL;
  tu_cli(&out, NULL, "runs", "list", "--json", "--store", srv.store, NULL);
  json_t *j = json_loads(out, 0, NULL);
  int n = (int)json_array_size(j);
  json_decref(j);
  free(out);
  return n;
}

/* ---- the tests ------------------------------------------------------------------------- */

static void setup_service(void) {
  new_store();
  write_specs();
}

static void tokens_new_prints_a_token_once_and_keeps_its_hash(void **state) {
  (void)state;
  setup_service();
  char *t = token("intake", "acme", "submitter");
  assert_int_equal(strlen(t), 68);
  char *file = tu_read(srv.tokens);
  assert_null(strstr(file, t));
  assert_contains(file, "\"name\": \"intake\"");
  assert_contains(file, "\"sha256\"");
  free(file);
  struct stat st;
  assert_int_equal(stat(srv.tokens, &st), 0);
  assert_int_equal(st.st_mode & 077, 0); /* its owner's only */
  char *err = NULL;
  assert_int_equal(tu_cli(NULL, &err, "tokens", "new", "intake", "--tenant", "acme", "--role",
                          "reviewer", "--tokens", srv.tokens, NULL),
                   2);
  assert_contains(err, "intake already");
  free(err);
  err = NULL;
  assert_int_equal(tu_cli(NULL, &err, "tokens", "new", "bob", "--tenant", "acme", "--role", "boss",
                          "--tokens", srv.tokens, NULL),
                   2);
  assert_contains(err, "--role is submitter, reviewer, operator or admin");
  free(err);
  free(t);
}

static void health_routes_and_401s(void **state) {
  (void)state;
  setup_service();
  char *t = token("intake", "acme", "submitter");
  start_service();
  json_t *j = expect(http("GET", "/healthz", NULL, NULL), 200);
  assert_string_equal(json_string_value(json_object_get(j, "status")), "ok");
  json_decref(j);
  expect_error(http("GET", "/v1/runs", NULL, NULL), 401, "unauthorized");
  expect_error(http("GET", "/v1/runs", "art_0000", NULL), 401, "unauthorized");
  reply r = http_with("GET", "/v1/runs", NULL, NULL, 0, "Authorization: Basic YWxpY2U6eA==");
  expect_error(r, 401, "unauthorized");
  expect_error(http("GET", "/v1/nothing", t, NULL), 404, "not_found");
  expect_error(http("DELETE", "/v1/runs", t, NULL), 405, "method_not_allowed");
  expect_error(http("GET", "/v1/runs/nope", t, NULL), 404, "not_found");
  expect_error(http("GET", "/metrics", t, NULL), 403, "forbidden"); /* operators' */
  expect_error(http("GET", "/v1/runs/x%0AGET%20/forged", t, NULL), 404, "not_found");
  stop_service();
  char *log = tu_read(tu_path("serve.log"));
  assert_contains(log, "GET /v1/runs/x?GET /forged 404 -\n"); /* one line, not two */
  free(log);
  char *err = NULL;
  assert_int_equal(tu_cli(NULL, &err, "serve", "--poll", "soon", "--store", srv.store, NULL), 2);
  assert_contains(err, "--poll needs a positive age");
  free(err);
  free(t);
}

/* The JSON lines of GET /v1/runs/ID/events are `agentrt runs trace --jsonl`. */
static void assert_events_are_the_trace(const char *tok, const char *run_id) {
  char path[256], *trace = NULL;
  snprintf(path, sizeof path, "/v1/runs/%s/events", run_id);
  reply r = http("GET", path, tok, NULL);
  assert_int_equal(r.status, 200);
  assert_int_equal(
      tu_cli(&trace, NULL, "runs", "trace", run_id, "--jsonl", "--store", srv.store, NULL), 0);
  char *ours = r.body, *theirs = trace;
  int lines = 0;
  for (char *a, *b; (a = strsep(&ours, "\n")) && (b = strsep(&theirs, "\n")) && *a; lines++) {
    json_t *x = json_loads(a, 0, NULL), *y = json_loads(b, 0, NULL);
    if (!json_equal(x, y)) fail_msg("event %d:\nserve %s\ntrace %s", lines + 1, a, b);
    json_decref(x);
    json_decref(y);
  }
  assert_true(lines > 3);
  free(r.body);
  free(trace);
}

static void submit_list_show_and_events(void **state) {
  (void)state;
  setup_service();
  char *t = token("intake", "acme", "submitter");
  start_service();
  char *id = submit(t, "lookup");
  assert_run(t, id, "queued", NULL);
  json_t *list = expect(http("GET", "/v1/runs", t, NULL), 200);
  assert_int_equal(json_array_size(json_object_get(list, "runs")), 1);
  assert_true(json_is_null(json_object_get(list, "next_cursor")));
  json_decref(list);
  work();
  json_t *run = get_run(t, id);
  assert_string_equal(json_string_value(json_object_get(run, "status")), "finished");
  assert_string_equal(json_string_value(json_object_get(run, "stop_reason")), "success");
  assert_true(json_is_null(json_object_get(run, "pending")));
  assert_true(json_is_array(json_object_get(run, "approvals")));
  const json_t *first = json_array_get(json_object_get(run, "trace"), 0);
  assert_string_equal(json_string_value(json_object_get(first, "goal")), "from the API");
  json_decref(run);
  assert_events_are_the_trace(t, id);
  char path[256];
  snprintf(path, sizeof path, "/v1/runs/%s/events?after=3", id);
  reply r = http("GET", path, t, NULL);
  assert_int_equal(r.status, 200);
  assert_true(strncmp(r.body, "{\"run_id\"", 9) == 0);
  assert_contains(r.body, "\"seq\":4,");
  assert_null(strstr(r.body, "\"seq\":3,"));
  free(r.body);
  snprintf(path, sizeof path, "/v1/runs/%s/events?after=x", id);
  expect_error(http("GET", path, t, NULL), 400, "bad_request");
  free(id);
  id = submit(t, "routed");
  work();
  assert_run(t, id, "finished", "success"); /* intake's now, and the route's rule allowed it */
  free(id);
  stop_service();
  free(t);
}

/* Every page of `query` (limit 3), its run ids in order into ids; with
 * `submit_meanwhile`, a new run is submitted after the first page. */
static int all_pages(const char *tok, const char *query, char ids[][64], int max,
                     bool submit_meanwhile) {
  char path[512], cursor[256] = "";
  int n = 0;
  for (int pages = 0; pages < 50; pages++) {
    snprintf(path, sizeof path, "/v1/runs?limit=3%s%s%s", query, cursor[0] ? "&cursor=" : "",
             cursor);
    json_t *page = expect(http("GET", path, tok, NULL), 200);
    size_t i;
    json_t *r;
    assert_true(json_array_size(json_object_get(page, "runs")) <= 3);
    json_array_foreach(json_object_get(page, "runs"), i, r) {
      assert_true(n < max);
      snprintf(ids[n++], 64, "%s", json_string_value(json_object_get(r, "run_id")));
    }
    const char *next = json_string_value(json_object_get(page, "next_cursor"));
    if (next) {
      char *escaped = curl_easy_escape(NULL, next, 0);
      snprintf(cursor, sizeof cursor, "%s", escaped);
      curl_free(escaped);
    }
    json_decref(page);
    if (!next) return n;
    if (pages == 0 && submit_meanwhile) free(submit(tok, "answer")); /* it shifts no page */
  }
  fail_msg("the pages never ended");
  return n;
}

static void pagination_is_stable(void **state) {
  (void)state;
  setup_service();
  char *t = token("intake", "acme", "submitter");
  start_service();
  char *made[7];
  for (int i = 0; i < 7; i++) made[i] = submit(t, "answer");
  char ids[20][64];
  int n = all_pages(t, "", ids, 20, true);
  assert_int_equal(n, 7); /* the one submitted meanwhile is newer than the first page */
  for (int i = 0; i < 7; i++) {
    int seen = 0;
    for (int k = 0; k < n; k++) seen += strcmp(ids[k], made[i]) == 0;
    assert_int_equal(seen, 1);
    assert_string_equal(ids[6 - i], made[i]); /* newest first */
    free(made[i]);
  }
  work();
  assert_int_equal(all_pages(t, "&status=finished", ids, 20, false), 8);
  assert_int_equal(all_pages(t, "&status=queued", ids, 20, false), 0);
  expect_error(http("GET", "/v1/runs?status=done", t, NULL), 400, "bad_request");
  expect_error(http("GET", "/v1/runs?limit=0", t, NULL), 400, "bad_request");
  expect_error(http("GET", "/v1/runs?limit=1001", t, NULL), 400, "bad_request");
  expect_error(http("GET", "/v1/runs?cursor=nonsense", t, NULL), 400, "bad_request");
  stop_service();
  free(t);
}

/* A run the submitter made, paused for its send_message. */
static char *paused_send(const char *tok) {
  char *id = submit(tok, "send");
  work();
  assert_run(tok, id, "paused", "approval_required");
  return id;
}

static void approvals_by_reviewers_only(void **state) {
  (void)state;
  setup_service();
  char *sub = token("intake", "acme", "submitter"), *rev = token("lead", "acme", "reviewer"),
       *op = token("oncall", "acme", "operator");
  start_service();
  char *id = paused_send(sub);
  json_t *waiting = expect(http("GET", "/v1/approvals?state=pending", rev, NULL), 200);
  const json_t *one = json_array_get(json_object_get(waiting, "approvals"), 0);
  assert_string_equal(json_string_value(json_object_get(one, "run_id")), id);
  assert_string_equal(json_string_value(json_object_get(one, "kind")), "approval");
  assert_string_equal(json_string_value(json_object_get(one, "tool")), "send_message");
  assert_string_equal(json_string_value(json_object_get(json_object_get(one, "input"), "to")),
                      "a@example.com");
  assert_string_equal(json_string_value(json_object_get(one, "requested_by")), "intake");
  json_decref(waiting);
  expect_error(http("GET", "/v1/approvals?state=done", rev, NULL), 400, "bad_request");
  char *action = pending_action(sub, id), body[512];
  snprintf(body, sizeof body, "{\"action_id\":\"%s\",\"reviewer\":\"mallory\"}", action);
  expect_error(decide(sub, id, "approve", body), 403, "forbidden");
  expect_error(decide(op, id, "approve", body), 403, "forbidden");
  expect_error(decide(rev, id, "approve", "{\"action_id\":\"act_nope\"}"), 404, "not_found");
  expect_error(decide(rev, id, "approve", "{}"), 400, "bad_request");
  expect_error(decide(rev, id, "approve", "{\"action_id\":"), 400, "bad_request");
  json_t *j = expect(decide(rev, id, "approve", body), 200); /* the forged reviewer is not read */
  assert_string_equal(json_string_value(json_object_get(j, "decision")), "approved");
  assert_string_equal(json_string_value(json_object_get(j, "status")), "ready");
  json_decref(j);
  expect_error(decide(rev, id, "approve", body), 409, "state");
  json_t *run = get_run(sub, id);
  const json_t *approval = json_array_get(json_object_get(run, "approvals"), 0);
  assert_string_equal(json_string_value(json_object_get(approval, "reviewer")), "lead");
  json_decref(run);
  work();
  assert_run(sub, id, "finished", "success");
  free(id);
  free(action);
  id = paused_send(sub); /* denied: a reason is required */
  action = pending_action(sub, id);
  snprintf(body, sizeof body, "{\"action_id\":\"%s\"}", action);
  expect_error(decide(rev, id, "deny", body), 400, "bad_request");
  snprintf(body, sizeof body, "{\"action_id\":\"%s\",\"reason\":\"not today\"}", action);
  j = expect(decide(rev, id, "deny", body), 200);
  assert_string_equal(json_string_value(json_object_get(j, "stop_reason")), "policy_denied");
  json_decref(j);
  free(id);
  free(action);
  stop_service();
  free(sub), free(rev), free(op);
}

static void a_reviewer_cannot_approve_its_own_run(void **state) {
  (void)state;
  setup_service();
  char *rev = token("lead", "acme", "reviewer"), *other = token("lead-2", "acme", "reviewer");
  start_service();
  char *id = paused_send(rev), *action = pending_action(rev, id), body[256];
  snprintf(body, sizeof body, "{\"action_id\":\"%s\"}", action);
  expect_error(decide(rev, id, "approve", body), 403, "refused");
  assert_run(rev, id, "paused", "approval_required");
  json_decref(expect(decide(other, id, "approve", body), 200));
  free(id);
  free(action);
  stop_service();
  free(rev), free(other);
}

static void tenants_see_their_own_runs_only(void **state) {
  (void)state;
  setup_service();
  char *a = token("intake", "acme", "submitter"), *b_rev = token("globex-lead", "globex", "reviewer"),
       *b_op = token("globex-oncall", "globex", "operator");
  start_service();
  char *id = paused_send(a), *action = pending_action(a, id), path[256], body[256];
  snprintf(path, sizeof path, "/v1/runs/%s", id);
  expect_error(http("GET", path, b_rev, NULL), 404, "not_found");
  snprintf(path, sizeof path, "/v1/runs/%s/events", id);
  expect_error(http("GET", path, b_rev, NULL), 404, "not_found");
  snprintf(body, sizeof body, "{\"action_id\":\"%s\"}", action);
  expect_error(decide(b_rev, id, "approve", body), 404, "not_found");
  expect_error(decide(b_op, id, "cancel", "{}"), 404, "not_found");
  json_t *list = expect(http("GET", "/v1/runs", b_op, NULL), 200);
  assert_int_equal(json_array_size(json_object_get(list, "runs")), 0);
  json_decref(list);
  list = expect(http("GET", "/v1/approvals", b_rev, NULL), 200);
  assert_int_equal(json_array_size(json_object_get(list, "approvals")), 0);
  json_decref(list);
  char *metrics = http("GET", "/metrics", b_op, NULL).body;
  assert_null(strstr(metrics, "approval_required"));
  free(metrics);
  assert_run(a, id, "paused", "approval_required");
  free(id);
  free(action);
  stop_service();
  free(a), free(b_rev), free(b_op);
}

static void answers_cancels_and_resolves(void **state) {
  (void)state;
  setup_service();
  char *a = token("intake", "acme", "submitter"), *a2 = token("intake-2", "acme", "submitter"),
       *op = token("oncall", "acme", "operator");
  start_service();
  char *id = submit(a, "ask");
  work();
  json_t *run = get_run(a, id);
  assert_string_equal(
      json_string_value(json_object_get(json_object_get(run, "pending"), "question")),
      "which one?");
  json_decref(run);
  expect_error(decide(a, id, "answer", "{\"text\":7}"), 400, "bad_request");
  expect_error(decide(op, id, "resolve", "{\"action_id\":\"x\",\"outcome\":\"maybe\"}"), 400,
               "bad_request");
  expect_error(decide(a, id, "resolve", "{\"action_id\":\"x\",\"outcome\":\"done\"}"), 403,
               "forbidden");
  expect_error(decide(op, id, "resolve", "{\"action_id\":\"x\",\"outcome\":\"done\"}"), 409,
               "state");
  json_t *j = expect(decide(a, id, "answer", "{\"text\":\"the blue one\"}"), 200);
  assert_string_equal(json_string_value(json_object_get(j, "decision")), "answered");
  json_decref(j);
  work();
  assert_run(a, id, "finished", "success");
  expect_error(decide(a, id, "cancel", "{}"), 409, "state"); /* it has ended */
  free(id);
  id = submit(a, "answer");
  expect_error(decide(a2, id, "cancel", "{}"), 403, "forbidden"); /* not al's */
  j = expect(decide(a, id, "cancel", "{\"reason\":\"changed my mind\"}"), 200);
  assert_string_equal(json_string_value(json_object_get(j, "status")), "cancelled");
  json_decref(j);
  free(id);
  id = submit(a, "answer");
  json_decref(expect(decide(op, id, "cancel", NULL), 200)); /* operators cancel any */
  assert_run(a, id, "cancelled", "cancelled");
  free(id);
  stop_service();
  free(a), free(a2), free(op);
}

static void bad_input_changes_nothing(void **state) {
  (void)state;
  setup_service();
  char *a = token("intake", "acme", "submitter"), *root = token("admin", "acme", "admin");
  start_service();
  size_t big = 2 * 1024 * 1024;
  char *huge = malloc(big);
  memset(huge, ' ', big);
  huge[0] = '{', huge[big - 1] = '}';
  expect_error(http_with("POST", "/v1/runs", root, huge, big, NULL), 413, "too_large");
  free(huge);
  expect_error(http("POST", "/v1/runs", a, "{\"spec_ref\": "), 400, "bad_request");
  expect_error(http("POST", "/v1/runs", a, "[1]"), 400, "bad_request");
  expect_error(http("POST", "/v1/runs", a, ""), 400, "bad_request");
  expect_error(http("POST", "/v1/runs", a, "{\"spec_ref\":\"../x\"}"), 400, "bad_request");
  expect_error(http("POST", "/v1/runs", a, "{\"spec_ref\":\"nope\"}"), 400, "spec");
  expect_error(http("POST", "/v1/runs", a, "{\"spec_ref\":\"answer\",\"goal\":1}"), 400,
               "bad_request");
  expect_error(http("POST", "/v1/runs", a, "{\"spec_ref\":\"answer\",\"queue\":\"x\"}"), 400,
               "bad_request");
  const char *spec = "{\"goal\":\"g\",\"model\":{\"type\":\"scripted\",\"decisions\":[]}}";
  expect_error(http("POST", "/v1/runs", a, spec), 403, "forbidden"); /* a spec of its own */
  reply r = http("POST", "/v1/runs", root,
                 "{\"goal\":\"g\",\"tools\":[\"no_such_tool\"],\"model\":{\"type\":\"scripted\","
                 "\"decisions\":[]}}");
  assert_contains(r.body, "$.tools");
  expect_error(r, 400, "spec");
  expect_error(http("POST", "/v1/runs", root,
                    "{\"goal\":\"g\",\"actor\":{\"tenant\":\"globex\"},\"model\":{\"type\":"
                    "\"scripted\",\"decisions\":[]}}"),
               400, "spec");
  assert_int_equal(stored_runs(), 0);
  json_t *j = expect(http("POST", "/v1/runs", root, spec), 201);
  json_decref(j);
  assert_int_equal(stored_runs(), 1);
  stop_service();
  free(a), free(root);
}

/* Whether the file at `path` holds `needle` anywhere (a binary file too). */
static bool file_has(const char *path, const char *needle) {
  FILE *f = fopen(path, "rb");
  if (!f) return false;
  size_t cap = 1 << 16, len = 0, n;
  char *buf = malloc(cap);
  while ((n = fread(buf + len, 1, cap - len, f)) > 0)
    if ((len += n) == cap) buf = realloc(buf, cap *= 2);
  fclose(f);
  bool has = memmem(buf, len, needle, strlen(needle)) != NULL;
  free(buf);
  return has;
}

static void tokens_never_reach_the_store_the_trace_or_the_log(void **state) {
  (void)state;
  setup_service();
  char *a = token("intake", "acme", "submitter"), *rev = token("lead", "acme", "reviewer");
  start_service();
  char *id = paused_send(a), *action = pending_action(rev, id), body[256], path[256], *trace = NULL;
  snprintf(body, sizeof body, "{\"action_id\":\"%s\",\"reason\":\"%s\"}", action, a);
  json_decref(expect(decide(rev, id, "approve", body), 200)); /* a token as a reason, even */
  work();
  snprintf(path, sizeof path, "/v1/runs/%s/events", id);
  free(http("GET", path, a, NULL).body);
  stop_service();
  assert_int_equal(tu_cli(&trace, NULL, "runs", "trace", id, "--jsonl", "--store", srv.store, NULL),
                   0);
  assert_contains(trace, "lead");
  const char *tokens[] = {rev, NULL};
  for (int i = 0; tokens[i]; i++) {
    char wal[600];
    snprintf(wal, sizeof wal, "%s-wal", srv.store);
    assert_null(strstr(trace, tokens[i]));
    assert_false(file_has(srv.store, tokens[i]));
    assert_false(file_has(wal, tokens[i]));
    assert_false(file_has(tu_path("serve.log"), tokens[i]));
    assert_false(file_has(srv.tokens, tokens[i]));
  }
  assert_true(file_has(tu_path("serve.log"), "POST /v1/runs 201 intake"));
  free(trace);
  free(id), free(action);
  free(a), free(rev);
}

static void a_run_survives_a_restart_of_the_service(void **state) {
  (void)state;
  setup_service();
  char *a = token("intake", "acme", "submitter");
  start_service();
  char *id = submit(a, "lookup");
  stop_service();
  start_service();
  assert_run(a, id, "queued", NULL);
  work();
  assert_run(a, id, "finished", "success");
  stop_service();
  free(id);
  free(a);
}

static void metrics_count_the_tenants_runs(void **state) {
  (void)state;
  setup_service();
  char *a = token("intake", "acme", "submitter"), *op = token("oncall", "acme", "operator");
  start_service();
  free(submit(a, "lookup"));
  free(paused_send(a)); /* drives the lookup run too */
  reply r = http("GET", "/metrics", op, NULL);
  assert_int_equal(r.status, 200);
  assert_contains(r.body, "agentrt_runs{status=\"finished\",stop_reason=\"success\"} 1\n");
  assert_contains(r.body, "agentrt_runs{status=\"paused\",stop_reason=\"approval_required\"} 1\n");
  assert_contains(r.body, "agentrt_approvals_waiting 1\n");
  assert_contains(r.body, "agentrt_tool_calls_total{tool=\"lookup_policy\"} 1\n");
  assert_contains(r.body, "agentrt_step_latency_seconds_bucket{le=\"+Inf\"} ");
  assert_contains(r.body, "agentrt_serve_event_streams 0\n");
  free(r.body);
  stop_service();
  free(a), free(op);
}

/* ---- misbehaving clients --------------------------------------------------------------- */

/* A socket connected to the service (its receive buffer `rcvbuf` bytes, 0:
 * the default). */
static int connect_to_service(int rcvbuf) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv.port)};
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (rcvbuf) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (fd < 0 || connect(fd, (struct sockaddr *)&to, sizeof to) != 0) fail_msg("connect failed");
  return fd;
}

static void send_all(int fd, const char *text) {
  size_t len = strlen(text);
  assert_int_equal(write(fd, text, len), (ssize_t)len);
}

/* The status of the one response on `fd` (which the service closes after it). */
static int read_status(int fd) {
  char buf[4096];
  size_t len = 0;
  ssize_t n;
  while ((n = read(fd, buf + len, sizeof buf - 1 - len)) > 0 && len < sizeof buf - 1)
    len += (size_t)n;
  buf[len] = '\0';
  return strncmp(buf, "HTTP/1.1 ", 9) == 0 ? atoi(buf + 9) : -1;
}

/* 1,000 clients connected at once, each asking before any is answered. */
static void a_thousand_connections_at_once(void **state) {
  (void)state;
  enum { N = 1000 };
  setup_service();
  char *a = token("intake", "acme", "submitter"), request[256];
  start_service();
  free(submit(a, "answer"));
  static int fds[N];
  for (int i = 0; i < N; i++) fds[i] = connect_to_service(0);
  for (int i = 0; i < N; i++) {
    snprintf(request, sizeof request,
             i % 2 ? "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                   : "GET /v1/runs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                     "Connection: close\r\n\r\n",
             a);
    send_all(fds[i], request);
  }
  for (int i = 0; i < N; i++) {
    assert_int_equal(read_status(fds[i]), 200);
    close(fds[i]);
  }
  stop_service();
  free(a);
}

/* The service's resident memory, KiB.  Under ASan, which keeps what is
 * freed in quarantine, it says nothing of what the service holds. */
#ifdef __SANITIZE_ADDRESS__
#define RSS_TELLS false
#else
#define RSS_TELLS true
#endif

static long rss_kib(pid_t pid) {
  char path[64], *status;
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  status = tu_read(path);
  const char *rss = status ? strstr(status, "VmRSS:") : NULL;
  long kib = rss ? atol(rss + 6) : -1;
  free(status);
  return kib;
}

/* A metric's value in /metrics. */
static long metric(const char *tok, const char *name) {
  reply r = http("GET", "/metrics", tok, NULL);
  char key[128];
  snprintf(key, sizeof key, "\n%s ", name);
  const char *at = strstr(r.body, key);
  long v = at ? atol(at + strlen(key)) : -1;
  free(r.body);
  return v;
}

/* Streams of a long run whose clients read nothing: the service holds a
 * bounded batch a stream, not the run; once the clients go, their streams go. */
static void clients_that_stop_reading_hold_little(void **state) {
  (void)state;
  enum { STREAMS = 20, RESULTS = 40 };
  setup_service();
  char text[1024];
  snprintf(
      text, sizeof text,
      "{\"goal\":\"g\",\"max_steps\":50,\"tools\":[{\"name\":\"big\",\"side_effect\":"
      "\"read\",\"command\":[\"/bin/sh\",\"-c\",\"head -c 200000 /dev/zero | tr '\\\\0' a\"]}],"
      "\"model\":{\"type\":\"scripted\",\"decisions\":[{\"type\":\"tool\",\"name\":"
      "\"big\",\"input\":{},\"repeat\":%d}," ANSWER "]}}",
      RESULTS);
  write_spec("big", text);
  char *a = token("intake", "acme", "submitter"), *op = token("oncall", "acme", "operator");
  start_service();
  char *id = submit(a, "big"), request[512];
  work(); /* 40 results of 200 KB: 8 MB of events */
  long before = rss_kib(srv.pid);
  int fds[STREAMS];
  snprintf(request, sizeof request,
           "GET /v1/runs/%s/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n"
           "Authorization: Bearer %s\r\n\r\n",
           id, a);
  for (int i = 0; i < STREAMS; i++) {
    fds[i] = connect_to_service(4096);
    send_all(fds[i], request);
  }
  for (int i = 0; i < 500 && metric(op, "agentrt_serve_event_streams") < STREAMS; i++)
    usleep(10000);
  assert_int_equal(metric(op, "agentrt_serve_event_streams"), STREAMS);
  usleep(500000); /* let it write what it can */
  long buffered = metric(op, "agentrt_serve_event_stream_buffered_bytes");
  assert_true(buffered <= STREAMS * (64 * 1024 + 220 * 1024)); /* a batch, and one event over */
  long grown = rss_kib(srv.pid) - before;
  if (RSS_TELLS && grown > 64 * 1024) fail_msg("the service grew by %ld KiB", grown);
  for (int i = 0; i < STREAMS; i++) close(fds[i]);
  for (int i = 0; i < 1000 && metric(op, "agentrt_serve_event_streams") > 0; i++) usleep(10000);
  assert_int_equal(metric(op, "agentrt_serve_event_streams"), 0);
  stop_service();
  free(id);
  free(a), free(op);
}

/* SIGTERM with a stream open on a paused run: the stream's body ends (its
 * last chunk), and the service exits 0 having freed what it held. */
static void the_service_stops_with_streams_open(void **state) {
  (void)state;
  setup_service();
  char *a = token("intake", "acme", "submitter"), request[512], buf[8192] = "";
  start_service();
  char *id = paused_send(a);
  snprintf(request, sizeof request,
           "GET /v1/runs/%s/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n"
           "Authorization: Bearer %s\r\n\r\n",
           id, a);
  int fd = connect_to_service(0);
  send_all(fd, request);
  size_t len = 0;
  ssize_t n;
  while (!strstr(buf, "event: stop") && (n = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
    buf[len += (size_t)n] = '\0';
  stop_service();
  while ((n = read(fd, buf + len, sizeof buf - 1 - len)) > 0) buf[len += (size_t)n] = '\0';
  assert_non_null(strstr(buf, "\r\n0\r\n\r\n")); /* the chunked body's end */
  close(fd);
  free(id);
  free(a);
}

/* ---- with the worker in the service ----------------------------------------------------- */

/* Until the run is `status` (a bounded wait: the worker looks every 20 ms). */
static void wait_for_status(const char *tok, const char *run_id, const char *status) {
  for (int i = 0; i < 1500; i++) {
    json_t *j = get_run(tok, run_id);
    bool there = strcmp(json_string_value(json_object_get(j, "status")), status) == 0;
    json_decref(j);
    if (there) return;
    usleep(20000);
  }
  fail_msg("run %s never became %s", run_id, status);
}

static void approve(const char *tok, const char *run_id, const char *action) {
  char body[256];
  snprintf(body, sizeof body, "{\"action_id\":\"%s\"}", action);
  json_decref(expect(decide(tok, run_id, "approve", body), 200));
}

/* The service's own worker drives what is submitted and what is approved; a
 * paused run survives a restart of the service and its worker. */
static void the_services_worker_drives_its_runs(void **state) {
  (void)state;
  setup_service();
  char *a = token("intake", "acme", "submitter"), *rev = token("lead", "acme", "reviewer");
  unlink(tu_path("outbox.jsonl"));
  start_service_with(true);
  char *looked = submit(a, "lookup"), *sent = submit(a, "send");
  wait_for_status(a, looked, "finished");
  assert_run(a, looked, "finished", "success");
  wait_for_status(a, sent, "paused");
  char *action = pending_action(a, sent);
  stop_service();
  start_service_with(true);
  approve(rev, sent, action);
  wait_for_status(a, sent, "finished");
  assert_run(a, sent, "finished", "success");
  assert_int_equal(tu_count_lines(tu_path("outbox.jsonl")), 1); /* sent once */
  stop_service();
  char *log = tu_read(tu_path("serve.log"));
  assert_contains(log, "finished success\n");
  free(log);
  free(looked), free(sent), free(action);
  free(a), free(rev);
}

/* A run the service queues or lets go on is taken by its worker at once, not
 * at the next poll (an hour away). */
static void the_services_worker_is_poked(void **state) {
  (void)state;
  setup_service();
  char *a = token("intake", "acme", "submitter"), *rev = token("lead", "acme", "reviewer");
  start_service_polling(true, "1h");
  usleep(100000); /* past the worker's first look, which finds nothing */
  char *sent = submit(a, "send");
  wait_for_status(a, sent, "paused");
  char *action = pending_action(a, sent);
  approve(rev, sent, action);
  wait_for_status(a, sent, "finished");
  assert_run(a, sent, "finished", "success");
  stop_service();
  free(sent), free(action), free(a), free(rev);
}

/* ---- the console -------------------------------------------------------------------- */

/* node tests/it/console_driver.js with `args`, leading a process group of its
 * own (Chromium's helpers are in another, its own, which the driver kills):
 * its exit status, and its one line of JSON into *report (a new reference). */
static int drive_console(const char *const args[4], json_t **report) {
  char driver[600];
  snprintf(driver, sizeof driver, "%s/tests/it/console_driver.js", AGENTRT_SOURCE_DIR);
  const char *out = tu_path("console-driver.out");
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    setpgid(0, 0);
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || dup2(fd, 1) < 0) _exit(127);
    close(fd);
    execlp("node", "node", driver, args[0], args[1], args[2], args[3], (char *)NULL);
    _exit(127);
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  kill(-pid, SIGKILL); /* nothing of its group outlives it */
  char *text = tu_read(out);
  *report = text ? json_loads(text, 0, NULL) : NULL;
  if (!*report) fail_msg("console_driver.js said no report (status %d): %s", status, text);
  free(text);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* A reviewer opens the console in headless Chromium: it sees the paused run's
 * pending action (its tool and the input it would allow), opens the run's
 * timeline, approves, and watches the run finish there; the page's JS console
 * says no error, and the markup in the run's input is shown as text.  The screenshot is left in the build directory
 * (console.png; `make screenshot` copies it to docs/). */
static void the_console_in_headless_chromium(void **state) {
  (void)state;
  setup_service();
  char *a = token("intake", "acme", "submitter"), *rev = token("lead", "acme", "reviewer");
  unlink(tu_path("outbox.jsonl"));
  start_service_with(true);
  char *sent = submit(a, "hostile");
  wait_for_status(a, sent, "paused");
  reply page = http("GET", "/", NULL, NULL);
  assert_int_equal(page.status, 200);
  assert_contains(page.body, "<script src=\"/console.js\" defer></script>");
  free(page.body);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/", srv.port);
  json_t *report;
  const char *args[4] = {url, rev, sent, AGENTRT_BINARY_DIR "/console.png"};
  int rc = drive_console(args, &report);
  if (rc != 0) {
    char *text = json_dumps(report, JSON_INDENT(1));
    fail_msg("the console test failed:\n%s", text);
  }
  assert_contains(json_string_value(json_object_get(report, "page")), "success");
  assert_int_equal(json_array_size(json_object_get(report, "errors")), 0);
  json_decref(report);
  assert_run(a, sent, "finished", "success");
  assert_int_equal(tu_count_lines(tu_path("outbox.jsonl")), 1);
  stop_service();
  struct stat st;
  assert_int_equal(stat(AGENTRT_BINARY_DIR "/console.png", &st), 0);
  assert_true(st.st_size > 1000);
  free(sent), free(a), free(rev);
}

/* ---- event streams ------------------------------------------------------------------- */

typedef struct sse {
  char *text; /* what came, not yet split into events */
  size_t len;
  unsigned ids[256];
  char types[256][32];
  int n;
  const char *stop_after; /* end the connection after an event of this type */
  const char *touch;      /* a file to make once the stream is open */
  CURL *curl;
} sse;

/* Complete events ("...\n\n") out of s->text into ids and types. */
static bool split_events(sse *s) {
  char *end;
  while ((end = strstr(s->text, "\n\n"))) {
    *end = '\0';
    const char *id = strstr(s->text, "id: "), *type = strstr(s->text, "event: ");
    bool stop = false;
    if (id && type && s->n < 256) {
      s->ids[s->n] = (unsigned)atoi(id + 4);
      sscanf(type + 7, "%31s", s->types[s->n]);
      stop = s->stop_after && strcmp(s->types[s->n], s->stop_after) == 0;
      s->n++;
    }
    size_t used = (size_t)(end + 2 - s->text);
    memmove(s->text, end + 2, s->len - used + 1);
    s->len -= used;
    if (stop) return false;
  }
  return true;
}

static size_t on_sse(char *data, size_t size, size_t n, void *ud) {
  sse *s = ud;
  s->text = realloc(s->text, s->len + size * n + 1);
  memcpy(s->text + s->len, data, size * n);
  s->len += size * n;
  s->text[s->len] = '\0';
  return split_events(s) ? size * n : 0; /* 0: curl ends the connection */
}

/* Once the stream has answered 200, s->touch is made (a run's tool waits
 * for it). */
static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d) {
  sse *s = ud;
  long status = 0;
  (void)a, (void)b, (void)c, (void)d;
  curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
  if (s->touch && status == 200) {
    tu_write(s->touch, "");
    s->touch = NULL;
  }
  return 0;
}

/* Follow the run's events from after `last_id` (0: from the start) until the
 * stream ends or an event of type stop_after comes. */
static void follow(const char *tok, const char *run_id, unsigned last_id, sse *s) {
  char url[256], auth[256], last[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/runs/%s/events", srv.port, run_id);
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
  snprintf(last, sizeof last, "Last-Event-ID: %u", last_id);
  struct curl_slist *h = curl_slist_append(NULL, auth);
  h = curl_slist_append(h, "Accept: text/event-stream");
  if (last_id) h = curl_slist_append(h, last);
  CURL *c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_sse);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, s);
  s->curl = c;
  s->text = calloc(1, 1);
  s->len = 0;
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK && !(s->stop_after && rc == CURLE_WRITE_ERROR))
    fail_msg("events of %s: %s", run_id, curl_easy_strerror(rc));
  free(s->text);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
}

/* The stream is cut while the run waits on its tool, then picked up with
 * Last-Event-ID while it still waits; the run goes on and ends; every event
 * came once, in order. */
static void events_resume_from_last_event_id(bool embedded_worker) {
  setup_service();
  char *t = token("intake", "acme", "submitter");
  start_service_with(embedded_worker);
  unlink(tu_path("go"));
  char *id = submit(t, "wait");
  pid_t worker =
      embedded_worker
          ? 0
          : tu_cli_start((const char *[]){"worker", "--drain", "--store", srv.store, NULL},
                         "worker.log", 0);
  sse first = {.stop_after = "tool_call"}, second = {.touch = "go"};
  follow(t, id, 0, &first);
  assert_string_equal(first.types[first.n - 1], "tool_call");
  assert_run(t, id, "running", NULL);             /* its tool waits for "go" */
  follow(t, id, first.ids[first.n - 1], &second); /* "go" is made once it is open */
  assert_string_equal(second.types[second.n - 1], "stop");
  for (int i = 0; i < first.n; i++) assert_int_equal(first.ids[i], i + 1);
  for (int i = 0; i < second.n; i++) assert_int_equal(second.ids[i], first.n + i + 1);
  json_t *run = get_run(t, id);
  assert_int_equal(json_array_size(json_object_get(run, "trace")), first.n + second.n);
  assert_string_equal(json_string_value(json_object_get(run, "stop_reason")), "success");
  json_decref(run);
  sse again = {0}; /* a finished run's stream gives what is left and ends */
  follow(t, id, first.n + second.n - 2, &again);
  assert_int_equal(again.n, 2);
  int status;
  if (worker) assert_int_equal(waitpid(worker, &status, 0), worker);
  if (worker) assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  free(id);
  stop_service();
  free(t);
}

/* A worker process beside the service, and the service's own. */
static void events_resume_from_last_event_id_worker_beside(void **state) {
  (void)state;
  events_resume_from_last_event_id(false);
}

static void events_resume_from_last_event_id_worker_within(void **state) {
  (void)state;
  events_resume_from_last_event_id(true);
}

/* ---- the Agent Protocol ------------------------------------------------------------------ */

/* A request sent from a thread of its own, for the replies that come only
 * once a run stops (wait, stream). */
typedef struct in_flight {
  const char *method, *tok, *body;
  char path[256];
  reply r;
  pthread_t thread;
} in_flight;

static void *send_in_flight(void *ud) {
  in_flight *f = ud;
  f->r = http(f->method, f->path, f->tok, f->body);
  return NULL;
}

static void start_in_flight(in_flight *f) {
  assert_int_equal(pthread_create(&f->thread, NULL, send_in_flight, f), 0);
}

static void join_in_flight(in_flight *f) { assert_int_equal(pthread_join(f->thread, NULL), 0); }

/* A stream's body: events 1 to N, each once, in order, the last a stop; N. */
static int assert_whole_stream(reply r, const char *run_id) {
  if (r.status != 200) fail_msg("stream: status %ld: %s", r.status, r.body);
  assert_contains(r.body, run_id);
  sse s = {.text = r.body, .len = r.len};
  split_events(&s);
  assert_true(s.n > 0);
  for (int i = 0; i < s.n; i++) assert_int_equal(s.ids[i], i + 1);
  assert_string_equal(s.types[s.n - 1], "stop");
  free(r.body);
  return s.n;
}

static const char *member_string(const json_t *j, const char *a, const char *b) {
  const json_t *v = json_object_get(j, a);
  return json_string_value(b ? json_object_get(v, b) : v);
}

static json_t *protocol_get(const char *tok, const char *run_id, const char *tail) {
  char path[256];
  snprintf(path, sizeof path, "/runs/%s%s", run_id, tail);
  return expect(http("GET", path, tok, NULL), 200);
}

/* POST /runs: the new run's id (malloc'd). */
static char *protocol_create(const char *tok, const char *agent) {
  char body[256];
  snprintf(body, sizeof body, "{\"agent_id\":\"%s\",\"input\":{\"to\":\"bob\"},\"metadata\":{}}",
           agent);
  json_t *run = expect(http("POST", "/runs", tok, body), 200);
  assert_string_equal(member_string(run, "agent_id", NULL), agent);
  assert_string_equal(member_string(run, "status", NULL), "pending");
  assert_true(json_is_null(json_object_get(run, "thread_id")));
  char *id = strdup(member_string(run, "run_id", NULL));
  json_decref(run);
  return id;
}

static void protocol_search(const char *tok, const char *body, size_t want) {
  json_t *runs = expect(http("POST", "/runs/search", tok, body), 200);
  assert_true(json_is_array(runs));
  if (json_array_size(runs) != want) fail_msg("search %s: %zu runs", body, json_array_size(runs));
  json_decref(runs);
}

/* POST /runs, /runs/wait and /runs/search, GET /runs/{id} and its wait, and
 * cancel, over registered specs; statuses as the protocol names them; the
 * tenants' rules as on /v1; what it asks that agentrt does not do is a 400
 * that stores nothing. */
static void agent_protocol_runs(void **state) {
  (void)state;
  setup_service();
  char *a = token("intake", "acme", "submitter"), *rev = token("lead", "acme", "reviewer"),
       *o = token("globex-admin", "globex", "admin");
  start_service_with(true);
  char *sent = protocol_create(a, "send");
  json_t *waited = protocol_get(a, sent, "/wait"); /* it pauses for approval */
  assert_string_equal(member_string(waited, "run", "status"), "interrupted");
  assert_string_equal(member_string(json_object_get(waited, "values"), "pending", "tool"),
                      "send_message");
  assert_null(json_object_get(json_object_get(waited, "values"), "trace"));
  json_decref(waited);
  char *action = pending_action(a, sent);
  approve(rev, sent, action);
  waited = protocol_get(a, sent, "/wait");
  assert_string_equal(member_string(waited, "run", "status"), "success");
  assert_string_equal(member_string(waited, "values", "answer"), "done");
  json_decref(waited);
  json_t *run = protocol_get(a, sent, "");
  assert_string_equal(member_string(run, "status", NULL), "success");
  assert_string_equal(member_string(json_object_get(run, "metadata"), "agentrt", "status"),
                      "finished");
  json_decref(run);
  waited = expect(http("POST", "/runs/wait", a, /* what a client leaves unset is null */
                       "{\"assistant_id\":\"answer\",\"input\":\"hi\",\"thread_id\":null,"
                       "\"webhook\":null}"),
                  200);
  assert_string_equal(member_string(waited, "run", "status"), "success");
  json_decref(waited);
  char *cancelled = protocol_create(a, "send"), path[256];
  json_decref(protocol_get(a, cancelled, "/wait"));
  snprintf(path, sizeof path, "/runs/%s/cancel", cancelled);
  json_decref(expect(http("POST", path, a, NULL), 200));
  run = protocol_get(a, cancelled, "");
  assert_string_equal(member_string(run, "status", NULL), "interrupted");
  assert_string_equal(member_string(json_object_get(run, "metadata"), "agentrt", "status"),
                      "cancelled");
  json_decref(run);
  protocol_search(a, "{\"status\":\"success\"}", 2);
  protocol_search(a, "{\"status\":\"success\",\"limit\":1,\"offset\":1}", 1);
  protocol_search(a, "{\"status\":\"interrupted\"}", 1);
  protocol_search(a, "{}", 3);
  protocol_search(o, "{}", 0); /* another tenant's runs */
  const char *tails[] = {"", "/wait", "/stream"};
  for (int i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "/runs/%s%s", sent, tails[i]);
    expect_error(http("GET", path, o, NULL), 404, "not_found");
  }
  snprintf(path, sizeof path, "/runs/%s/cancel", cancelled);
  expect_error(http("POST", path, o, NULL), 404, "not_found");
  int stored = stored_runs();
  expect_error(http("POST", "/runs", NULL, "{\"agent_id\":\"answer\"}"), 401, "unauthorized");
  expect_error(http("POST", "/runs", a, "{\"input\":1}"), 400, "bad_request");
  expect_error(http("POST", "/runs", a, "{\"agent_id\":\"nope\"}"), 400, "spec");
  expect_error(http("POST", "/runs", a, "{\"agent_id\":\"answer\",\"thread_id\":\"t\"}"), 400,
               "bad_request");
  expect_error(http("POST", "/runs/wait", a, "{\"agent_id\":\"answer\",\"webhook\":\"x\"}"), 400,
               "bad_request");
  expect_error(http("POST", "/runs/stream", a, "{\"agent_id\":"), 400, "bad_request");
  expect_error(http("POST", "/runs/search", a, "{\"status\":\"done\"}"), 400, "bad_request");
  expect_error(http("POST", "/runs/search", a, "{\"agent_id\":\"send\"}"), 400, "bad_request");
  expect_error(http("DELETE", "/runs/search", a, NULL), 405, "method_not_allowed");
  assert_int_equal(stored_runs(), stored);
  stop_service();
  free(sent), free(cancelled), free(action), free(a), free(rev), free(o);
}

/* A run that is still going (its tool waits for "go"): GET /runs/{id}/wait,
 * GET /runs/{id}/stream and POST /runs/stream are open before it goes on;
 * the wait gives its result, the streams every event once, in order, seq as
 * the SSE id, and end with its stop. */
static void agent_protocol_wait_and_stream_a_run_still_going(void **state) {
  (void)state;
  setup_service();
  char *a = token("intake", "acme", "submitter"), *op = token("oncall", "acme", "operator");
  unlink(tu_path("go"));
  start_service_with(true);
  char *id = protocol_create(a, "wait");
  wait_for_status(a, id, "running");
  in_flight waiting = {.method = "GET", .tok = a}, streaming = {.method = "GET", .tok = a},
            created = {.method = "POST", .tok = a, .body = "{\"agent_id\":\"wait\"}"};
  snprintf(waiting.path, sizeof waiting.path, "/runs/%s/wait", id);
  snprintf(streaming.path, sizeof streaming.path, "/runs/%s/stream", id);
  snprintf(created.path, sizeof created.path, "/runs/stream");
  start_in_flight(&waiting), start_in_flight(&streaming), start_in_flight(&created);
  for (int i = 0; i < 1000 && metric(op, "agentrt_serve_event_streams") < 3; i++) usleep(10000);
  assert_int_equal(metric(op, "agentrt_serve_event_streams"), 3);
  tu_write("go", "");
  join_in_flight(&waiting), join_in_flight(&streaming), join_in_flight(&created);
  json_t *result = expect(waiting.r, 200);
  assert_string_equal(member_string(result, "run", "status"), "success");
  assert_string_equal(member_string(result, "values", "answer"), "done");
  json_decref(result);
  int events = assert_whole_stream(streaming.r, id);
  json_t *run = get_run(a, id);
  assert_int_equal(json_array_size(json_object_get(run, "trace")), events);
  json_decref(run);
  assert_whole_stream(created.r, "run_");
  stop_service();
  free(id), free(a), free(op);
}

int main(void) {
  struct rlimit r;
  if (getrlimit(RLIMIT_NOFILE, &r) == 0) r.rlim_cur = r.rlim_max, setrlimit(RLIMIT_NOFILE, &r);
  curl_global_init(CURL_GLOBAL_ALL);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(tokens_new_prints_a_token_once_and_keeps_its_hash),
      cmocka_unit_test(health_routes_and_401s),
      cmocka_unit_test(submit_list_show_and_events),
      cmocka_unit_test(pagination_is_stable),
      cmocka_unit_test(approvals_by_reviewers_only),
      cmocka_unit_test(a_reviewer_cannot_approve_its_own_run),
      cmocka_unit_test(tenants_see_their_own_runs_only),
      cmocka_unit_test(answers_cancels_and_resolves),
      cmocka_unit_test(bad_input_changes_nothing),
      cmocka_unit_test(events_resume_from_last_event_id_worker_beside),
      cmocka_unit_test(events_resume_from_last_event_id_worker_within),
      cmocka_unit_test(tokens_never_reach_the_store_the_trace_or_the_log),
      cmocka_unit_test(a_run_survives_a_restart_of_the_service),
      cmocka_unit_test(metrics_count_the_tenants_runs),
      cmocka_unit_test(a_thousand_connections_at_once),
      cmocka_unit_test(clients_that_stop_reading_hold_little),
      cmocka_unit_test(the_service_stops_with_streams_open),
      cmocka_unit_test(the_services_worker_drives_its_runs),
      cmocka_unit_test(the_services_worker_is_poked),
      cmocka_unit_test(agent_protocol_runs),
      cmocka_unit_test(agent_protocol_wait_and_stream_a_run_still_going),
      cmocka_unit_test(the_console_in_headless_chromium),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
