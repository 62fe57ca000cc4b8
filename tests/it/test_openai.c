/* The openai model against real servers: @dwmkerr/mock-llm (tests/package.json)
 * for the ordinary cases, and tests/it/http_peer.js for what mock-llm cannot
 * do (Retry-After, slow replies, a reset mid-body, a body that is not JSON).
 * Each server runs on a loopback port of its own and is stopped (its process
 * group killed and reaped) when its tests are done.  Retry waits are a few ms.
 * The last group runs the model on the event loop (art_loop): many runs at
 * once against http_peer.js's `agent` scenario, which counts the connections
 * it is sent requests on; fds are back to where they were after each. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "agentrt.h"
#include "agentrt/loop.h"
#include "testutil.h"

#define KEY "sk-test-0123456789abcdef"

typedef struct peer {
  pid_t pid;
  int port;
} peer;

/* ---- servers -------------------------------------------------------------- */

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t n = sizeof a;
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &n), 0);
  close(fd);
  return ntohs(a.sin_port);
}

static bool listening(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
  close(fd);
  return ok;
}

/* Start argv in a process group of its own that dies with the test; its
 * stdout comes back through *out_fd (NULL: to /dev/null, for a server that
 * must not die writing to a closed pipe). */
static pid_t spawn(char *const argv[], const char *port_env, int *out_fd) {
  int p[2];
  assert_int_equal(pipe(p), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int out = out_fd ? p[1] : open("/dev/null", O_WRONLY);
    dup2(out, 1);
    close(p[0]);
    close(p[1]);
    if (port_env) setenv("PORT", port_env, 1);
    setenv("HOST", "127.0.0.1", 1);
    execvp(argv[0], argv);
    _exit(127);
  }
  close(p[1]);
  if (out_fd)
    *out_fd = p[0];
  else
    close(p[0]);
  return pid;
}

static void wait_listening(const peer *p) {
  for (int i = 0; i < 1000 && !listening(p->port); i++) {
    int status;
    if (waitpid(p->pid, &status, WNOHANG) == p->pid) fail_msg("the server exited before listening");
    usleep(10000);
  }
  assert_true(listening(p->port));
}

static void stop_peer(peer *p) {
  if (p->pid <= 0) return;
  kill(-p->pid, SIGKILL);
  waitpid(p->pid, NULL, 0);
  p->pid = 0;
}

static peer start_mock_llm(void) {
  char port[16], config[600];
  peer p = {0, free_port()};
  snprintf(port, sizeof port, "%d", p.port);
  snprintf(config, sizeof config, "%s", tu_write("mock-llm.json", "{\"rules\":[]}"));
  char *argv[] = {AGENTRT_MOCK_LLM, "--config", config, NULL};
  p.pid = spawn(argv, port, NULL);
  wait_listening(&p);
  return p;
}

/* http_peer.js SCENARIO, with `option` (KEY=VALUE, may be NULL) for the agent scenario. */
static peer start_http_peer_with(const char *scenario, const char *option) {
  char script[600], line[32] = "";
  int fd;
  snprintf(script, sizeof script, "%s/tests/it/http_peer.js", AGENTRT_SOURCE_DIR);
  char *argv[] = {"node", script, (char *)scenario, (char *)option, NULL};
  peer p = {spawn(argv, NULL, &fd), 0};
  FILE *f = fdopen(fd, "r");
  if (!fgets(line, sizeof line, f)) fail_msg("http_peer.js %s did not start", scenario);
  fclose(f);
  p.port = atoi(line);
  wait_listening(&p);
  return p;
}

static peer start_http_peer(const char *scenario) { return start_http_peer_with(scenario, NULL); }

/* Replace the mock's rules (and restart its request count): `responses` is a
 * JSON array of {"status", "body"} answered in turn, the last one ever after. */
static void mock_responses(const peer *p, const char *responses) {
  json_t *list = json_loads(responses, 0, NULL), *rules = json_array(), *r;
  size_t i;
  assert_non_null(list);
  json_array_foreach(list, i, r) {
    char *body = json_dumps(json_object_get(r, "body"), JSON_COMPACT | JSON_ENCODE_ANY);
    json_t *rule =
        json_pack("{s:s, s:s, s:{s:O, s:s}}", "path", "/v1/chat/completions", "method", "POST",
                  "response", "status", json_object_get(r, "status"), "content", body);
    if (i + 1 < json_array_size(list))
      json_object_set_new(rule, "sequence", json_integer((json_int_t)i));
    json_array_append_new(rules, rule);
    free(body);
  }
  /* The sequenced rules come last so that they win over the catch-all. */
  json_t *last = json_array_get(rules, json_array_size(rules) - 1);
  json_incref(last);
  json_array_remove(rules, json_array_size(rules) - 1);
  json_array_insert_new(rules, 0, last);
  json_t *doc = json_pack("{s:o}", "rules", rules);
  char *config = json_dumps(doc, JSON_COMPACT);
  json_decref(doc);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/config", p->port);
  CURL *c = curl_easy_init();
  struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
  FILE *devnull = fopen("/dev/null", "w");
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, devnull);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
  assert_int_equal(curl_easy_perform(c), CURLE_OK);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, config);
  assert_int_equal(curl_easy_perform(c), CURLE_OK);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  assert_int_equal(status, 200);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  fclose(devnull);
  free(config);
  json_decref(list);
}

/* ---- runs ------------------------------------------------------------------ */

typedef struct outcome {
  art_spec *spec;
  art_model *model;
  art_run *run;
  json_t *result; /* art_run_result_json */
} outcome;

static const char *tool_spec =
    "{\"name\":\"lookup\",\"description\":\"look a policy up\",\"side_effect\":\"read\","
    "\"input_schema\":{\"type\":\"object\",\"properties\":{\"task\":{\"type\":\"string\"}},"
    "\"required\":[\"task\"],\"additionalProperties\":false},"
    "\"command\":[\"" AGENTRT_SOURCE_DIR "/tests/unit/tools/print.sh\",\"{\\\"found\\\":true}\"]}";

/* An agent with `goal` and `tools` against the server on `port`, not run yet. */
static outcome agent_new(int port, const char *goal, const char *tools, const char *extra,
                         const char *model_extra, const char *run_id) {
  char text[4096];
  snprintf(text, sizeof text,
           "{\"goal\":\"%s\",\"max_steps\":4,\"tools\":[%s]%s,"
           "\"model\":{\"type\":\"openai\",\"base_url\":\"http://127.0.0.1:%d/v1\","
           "\"model\":\"test-model\",\"api_key_env\":\"AGENTRT_TEST_KEY\",\"temperature\":0,"
           "\"timeout_ms\":5000,\"max_retries\":2,\"retry_backoff_ms\":1,\"max_backoff_ms\":5,"
           "\"price\":{\"input_per_mtok\":2.5,\"output_per_mtok\":10}%s}}",
           goal, tools, extra, port, model_extra);
  outcome o = {0};
  art_error err = {0};
  json_t *json = json_loads(text, 0, NULL);
  assert_non_null(json);
  if (art_spec_parse(&o.spec, json, "it.json", NULL, NULL, &err) < 0) fail_msg("%s", err.message);
  json_decref(json);
  if (art_model_new(&o.model, o.spec, &err) < 0) fail_msg("%s", err.message);
  art_run_options opts = {.run_id = run_id};
  assert_int_equal(art_run_new(&o.run, o.spec, run_id ? &opts : tu_run_options(o.spec)), 0);
  return o;
}

/* A run of an agent with the lookup tool against the server on `port`;
 * `extra` is more members of the spec (budgets), `model_extra` of its model. */
static outcome run_agent(int port, const char *extra, const char *model_extra) {
  outcome o = agent_new(port, "answer with evidence", tool_spec, extra, model_extra, NULL);
  assert_int_equal(art_run_until_stop(o.run, o.model), 0);
  o.result = art_run_result_json(o.run);
  assert_non_null(o.result);
  return o;
}

static void outcome_dispose(outcome *o) {
  json_decref(o->result);
  art_run_free(o->run);
  art_model_free(o->model);
  art_spec_free(o->spec);
}

static void assert_stop(const outcome *o, const char *reason, const char *detail) {
  const char *got = art_run_stop_detail(o->run);
  if (strcmp(art_stop_reason_name(art_run_stop_reason(o->run)), reason) != 0 ||
      (detail && (!got || !strstr(got, detail))))
    fail_msg("stopped %s (%s), expected %s (%s)", art_stop_reason_name(art_run_stop_reason(o->run)),
             got ? got : "", reason, detail ? detail : "");
}

/* The trace's events of one type, as JSON (from the result object). */
static size_t events_of(const outcome *o, const char *type, const json_t **found, size_t max) {
  size_t n = 0, i;
  const json_t *ev;
  json_array_foreach(json_object_get(o->result, "trace"), i, ev) {
    if (strcmp(json_string_value(json_object_get(ev, "type")), type) == 0 && n < max)
      found[n++] = ev;
  }
  return n;
}

static json_int_t int_at(const json_t *obj, const char *key) {
  return json_integer_value(json_object_get(obj, key));
}

/* ---- replies ---------------------------------------------------------------- */

#define CALL(name, args)                                                                           \
  "{\"status\":200,\"body\":{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":null,"  \
  "\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"" name            \
  "\",\"arguments\":" args "}}]}}],\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":20}}}"
#define ANSWER(text)                                                                               \
  "{\"status\":200,\"body\":{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":"       \
  "\"" text "\"}}],\"usage\":{\"prompt_tokens\":200,\"completion_tokens\":10}}}"
#define STATUS(code, msg) "{\"status\":" #code ",\"body\":{\"error\":{\"message\":\"" msg "\"}}}"

static peer mock;

static int mock_up(void **state) {
  (void)state;
  setenv("AGENTRT_TEST_KEY", KEY, 1);
  mock = start_mock_llm();
  return 0;
}

static int mock_down(void **state) {
  (void)state;
  stop_peer(&mock);
  return 0;
}

static void tool_call_then_answer_succeeds(void **state) {
  (void)state;
  mock_responses(&mock, "[" CALL("lookup", "\"{\\\"task\\\":\\\"refund\\\"}\"") "," ANSWER(
                            "refunds take 5 days") "]");
  outcome o = run_agent(mock.port, "", "");
  assert_stop(&o, "success", "answered");
  assert_string_equal(art_run_answer(o.run), "refunds take 5 days");
  const json_t *calls[4];
  assert_int_equal(events_of(&o, "tool_call", calls, 4), 1);
  assert_int_equal(events_of(&o, "model_call", calls, 4), 2);
  assert_int_equal(int_at(calls[0], "status"), 200);
  assert_int_equal(int_at(calls[0], "attempt"), 1);
  outcome_dispose(&o);
}

static void usage_and_cost_are_recorded(void **state) {
  (void)state;
  mock_responses(&mock,
                 "[" CALL("lookup", "\"{\\\"task\\\":\\\"refund\\\"}\"") "," ANSWER("ok") "]");
  outcome o = run_agent(mock.port, "", "");
  const json_t *decisions[4];
  assert_int_equal(events_of(&o, "decision", decisions, 4), 2);
  const json_t *cost = json_object_get(decisions[0], "cost");
  assert_int_equal(int_at(cost, "prompt_tokens"), 100);
  assert_int_equal(int_at(cost, "completion_tokens"), 20);
  /* 100 * 2.5 / 1e6 + 20 * 10 / 1e6 */
  assert_true(json_real_value(json_object_get(cost, "cost_usd")) > 0.000449 &&
              json_real_value(json_object_get(cost, "cost_usd")) < 0.000451);
  const json_t *usage = json_object_get(o.result, "usage");
  assert_int_equal(int_at(usage, "prompt_tokens"), 300);
  assert_int_equal(int_at(usage, "completion_tokens"), 30);
  art_run_usage totals = art_run_totals(o.run);
  assert_true(totals.cost_usd > 0.001049 && totals.cost_usd < 0.001051); /* + 0.0005 + 0.0001 */
  outcome_dispose(&o);
}

static void unknown_tool_is_refused(void **state) {
  (void)state;
  mock_responses(&mock, "[" CALL("delete_everything", "\"{}\"") "]");
  outcome o = run_agent(mock.port, "", "");
  assert_stop(&o, "refused", "unknown_tool: delete_everything");
  const json_t *calls[4];
  assert_int_equal(events_of(&o, "model_call", calls, 4), 2); /* the repair round asked again */
  assert_non_null(strstr(json_string_value(json_object_get(calls[0], "malformed")),
                         "no function named \"delete_everything\""));
  assert_true(json_is_true(json_object_get(calls[1], "repair")));
  assert_int_equal(events_of(&o, "tool_call", calls, 4), 0);
  outcome_dispose(&o);
}

static void bad_arguments_are_repaired(void **state) {
  (void)state;
  mock_responses(&mock, "[" CALL("lookup", "\"{task: refund\"") "," CALL(
                            "lookup", "\"{\\\"task\\\":\\\"refund\\\"}\"") "," ANSWER("ok") "]");
  outcome o = run_agent(mock.port, "", "");
  assert_stop(&o, "success", "answered");
  const json_t *calls[4];
  assert_int_equal(events_of(&o, "model_call", calls, 4), 3);
  assert_non_null(strstr(json_string_value(json_object_get(calls[0], "malformed")), "not JSON"));
  assert_true(json_is_true(json_object_get(calls[1], "repair")));
  /* The decision counts the tokens of both requests. */
  const json_t *decisions[2];
  events_of(&o, "decision", decisions, 2);
  assert_int_equal(int_at(json_object_get(decisions[0], "cost"), "prompt_tokens"), 200);
  outcome_dispose(&o);
}

static void failed_repair_is_an_invalid_decision(void **state) {
  (void)state;
  mock_responses(&mock, "[" CALL("lookup", "\"{\\\"task\\\":42}\"") "]");
  outcome o = run_agent(mock.port, "", "");
  assert_stop(&o, "invalid_decision", "input_schema: $.task: expected string");
  const json_t *calls[4];
  assert_int_equal(events_of(&o, "model_call", calls, 4), 2);
  assert_non_null(json_object_get(calls[1], "malformed"));
  outcome_dispose(&o);
}

static void arguments_never_json_are_an_invalid_decision(void **state) {
  (void)state;
  mock_responses(&mock, "[" CALL("lookup", "\"not json\"") "]");
  outcome o = run_agent(mock.port, "", "");
  assert_stop(&o, "invalid_decision", "arguments of lookup are not JSON");
  outcome_dispose(&o);
}

static void too_many_requests_then_success_is_retried(void **state) {
  (void)state;
  mock_responses(&mock, "[" STATUS(429, "rate limited") "," ANSWER("ok") "]");
  outcome o = run_agent(mock.port, "", "");
  assert_stop(&o, "success", "answered");
  const json_t *calls[4];
  assert_int_equal(events_of(&o, "model_call", calls, 4), 2);
  assert_int_equal(int_at(calls[0], "status"), 429);
  assert_string_equal(json_string_value(json_object_get(calls[0], "error")),
                      "HTTP 429: rate limited");
  assert_true(int_at(calls[0], "retry_in_ms") >= 0 && int_at(calls[0], "retry_in_ms") <= 5);
  assert_int_equal(int_at(calls[1], "status"), 200);
  outcome_dispose(&o);
}

static void persistent_server_error_is_a_model_failure(void **state) {
  (void)state;
  mock_responses(&mock, "[" STATUS(500, "the model is on fire") "]");
  outcome o = run_agent(mock.port, "", "");
  assert_stop(&o, "model_failure", "HTTP 500: the model is on fire (after 3 attempts)");
  const json_t *calls[8];
  assert_int_equal(events_of(&o, "model_call", calls, 8), 3); /* max_retries 2 */
  assert_null(json_object_get(calls[2], "retry_in_ms"));
  outcome_dispose(&o);
}

static void client_error_is_not_retried(void **state) {
  (void)state;
  mock_responses(&mock, "[" STATUS(400, "unknown model test-model") "]");
  outcome o = run_agent(mock.port, "", "");
  assert_stop(&o, "model_failure", "HTTP 400: unknown model test-model");
  const json_t *calls[4];
  assert_int_equal(events_of(&o, "model_call", calls, 4), 1);
  outcome_dispose(&o);
}

static void token_budget_stops_the_run(void **state) {
  (void)state;
  mock_responses(&mock, "[" CALL("lookup", "\"{\\\"task\\\":\\\"a\\\"}\"") "]");
  outcome o = run_agent(mock.port, ",\"max_tokens_total\":250", "");
  assert_stop(&o, "budget_exhausted", "tokens");
  assert_int_equal(art_run_steps(o.run), 3); /* 120 tokens a step: 360 >= 250 after 3 */
  outcome_dispose(&o);
}

static void cost_budget_stops_the_run(void **state) {
  (void)state;
  mock_responses(&mock, "[" CALL("lookup", "\"{\\\"task\\\":\\\"a\\\"}\"") "]");
  outcome o = run_agent(mock.port, ",\"max_cost_usd\":0.0008", "");
  assert_stop(&o, "budget_exhausted", "cost");
  assert_int_equal(art_run_steps(o.run), 2); /* $0.00045 a step */
  outcome_dispose(&o);
}

static void several_tool_calls_take_the_first(void **state) {
  (void)state;
  mock_responses(
      &mock, "[{\"status\":200,\"body\":{\"choices\":[{\"message\":{\"tool_calls\":["
             "{\"id\":\"a\",\"function\":{\"name\":\"lookup\",\"arguments\":\"{\\\"task\\\":"
             "\\\"x\\\"}\"}},"
             "{\"id\":\"b\",\"function\":{\"name\":\"stop\",\"arguments\":\"{}\"}},"
             "{\"id\":\"c\",\"function\":{\"name\":\"lookup\",\"arguments\":\"{}\"}}]}}]}}," ANSWER(
                 "ok") "]");
  outcome o = run_agent(mock.port, "", "");
  assert_stop(&o, "success", "answered");
  const json_t *calls[4];
  events_of(&o, "model_call", calls, 4);
  const json_t *ignored = json_object_get(calls[0], "ignored_calls");
  assert_int_equal(json_array_size(ignored), 2);
  assert_string_equal(json_string_value(json_array_get(ignored, 0)), "stop");
  assert_int_equal(events_of(&o, "tool_call", calls, 4), 1);
  outcome_dispose(&o);
}

/* The key goes out as a Bearer token; the server echoing it back does not get
 * it into the trace, the result or the CLI's --json output. */
static void api_key_is_sent_and_never_shown(void **state) {
  (void)state;
  mock_responses(&mock, "[{\"status\":200,\"body\":{\"choices\":[{\"message\":{\"content\":"
                        "\"you sent {{jmes request headers.authorization}}\"}}]}}]");
  char spec[1024];
  snprintf(spec, sizeof spec,
           "{\"goal\":\"g\",\"model\":{\"type\":\"openai\",\"base_url\":\"http://127.0.0.1:%d/v1\","
           "\"model\":\"m\",\"api_key_env\":\"AGENTRT_TEST_KEY\"}}",
           mock.port);
  char *out = NULL, *err = NULL;
  int rc = tu_cli(&out, &err, "run", tu_write("key.json", spec), "--json", "--store",
                  tu_path("key.db"), NULL);
  assert_int_equal(rc, 0);
  assert_non_null(strstr(out, "you sent Bearer ****"));
  assert_null(strstr(out, KEY));
  assert_null(strstr(err, KEY));
  free(out), free(err);
  /* An error message with the key in it. */
  mock_responses(&mock, "[{\"status\":401,\"body\":{\"error\":{\"message\":"
                        "\"bad key {{jmes request headers.authorization}}\"}}}]");
  rc =
      tu_cli(&out, &err, "run", tu_path("key.json"), "--json", "--store", tu_path("key2.db"), NULL);
  assert_int_equal(rc, 1);
  assert_non_null(strstr(out, "model_failure"));
  assert_non_null(strstr(out, "HTTP 401: bad key Bearer ****"));
  assert_null(strstr(out, KEY));
  free(out), free(err);
}

/* ---- the test HTTP server ----------------------------------------------------- */

static outcome run_against(const char *scenario, const char *model_extra, peer *p) {
  *p = start_http_peer(scenario);
  outcome o = run_agent(p->port, "", model_extra);
  stop_peer(p);
  return o;
}

static void retry_after_seconds_is_honoured(void **state) {
  (void)state;
  peer p;
  /* max_backoff_ms caps a server's wait too: raise it above Retry-After's 1 s. */
  outcome o = run_against("retry_after_seconds", ",\"max_backoff_ms\":5000", &p);
  assert_stop(&o, "success", "answered");
  const json_t *calls[4];
  assert_int_equal(events_of(&o, "model_call", calls, 4), 2);
  assert_int_equal(int_at(calls[0], "status"), 429);
  assert_int_equal(int_at(calls[0], "retry_in_ms"), 1000);
  outcome_dispose(&o);
}

static void retry_after_date_is_honoured(void **state) {
  (void)state;
  peer p;
  outcome o = run_against("retry_after_date", ",\"max_backoff_ms\":5000", &p);
  assert_stop(&o, "success", "answered");
  const json_t *calls[4];
  assert_int_equal(events_of(&o, "model_call", calls, 4), 2);
  assert_int_equal(int_at(calls[0], "status"), 503);
  assert_int_equal(int_at(calls[0], "retry_in_ms"), 0); /* the date has passed */
  outcome_dispose(&o);
}

static void slow_replies_time_out(void **state) {
  (void)state;
  peer p;
  outcome o = run_against("slow", ",\"timeout_ms\":150,\"max_retries\":1", &p);
  assert_stop(&o, "model_failure", "timeout after 150 ms (after 2 attempts)");
  outcome_dispose(&o);
}

/* The run's wall-time budget bounds a request in flight: it is given up and
 * the run stops budget_exhausted, though the server would answer in 2 s. */
static void the_wall_time_budget_cuts_a_request_short(void **state) {
  (void)state;
  peer p = start_http_peer("slow");
  outcome o = run_agent(p.port, ",\"max_wall_time_ms\":300", "");
  stop_peer(&p);
  assert_stop(&o, "budget_exhausted", "wall_time");
  const json_t *calls[4];
  assert_int_equal(events_of(&o, "model_call", calls, 4), 1);
  assert_string_equal(json_string_value(json_object_get(calls[0], "error")), "interrupted");
  outcome_dispose(&o);
}

static void reset_mid_body_is_retried(void **state) {
  (void)state;
  peer p;
  outcome o = run_against("reset_once", "", &p);
  assert_stop(&o, "success", "answered");
  const json_t *calls[4];
  assert_int_equal(events_of(&o, "model_call", calls, 4), 2);
  assert_non_null(strstr(json_string_value(json_object_get(calls[0], "error")), "connection: "));
  outcome_dispose(&o);
}

static void body_that_is_not_json_is_a_model_failure(void **state) {
  (void)state;
  peer p;
  outcome o = run_against("not_json", "", &p);
  assert_stop(&o, "model_failure", "response is not JSON");
  const json_t *calls[4];
  assert_int_equal(events_of(&o, "model_call", calls, 4), 1);
  outcome_dispose(&o);
}

static void connection_refused_is_a_model_failure(void **state) {
  (void)state;
  outcome o = run_agent(free_port(), "", "");
  assert_stop(&o, "model_failure", "connection: ");
  assert_non_null(strstr(art_run_stop_detail(o.run), "(after 3 attempts)"));
  outcome_dispose(&o);
}

/* ---- on the event loop ------------------------------------------------------------ */

/* The agent peer's tool: lookup_policy runs on the loop's thread, so a run's
 * next request follows its last reply at once. */
#define LOOP_TOOLS "\"lookup_policy\""
/* For the runs whose server never answers: only they get a short timeout, so
 * that a slow moment of the machine does not time the others out. */
#define HANG_EXTRA ",\"timeout_ms\":300,\"max_retries\":1"

static int open_fds(void) {
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  assert_non_null(d);
  for (struct dirent *e; (e = readdir(d)) != NULL;) n += e->d_name[0] != '.';
  closedir(d);
  return n - 1; /* the directory's own */
}

/* libuv opens a pipe of its own (signals) for the process with the first
 * loop: made here, before any test counts fds. */
static int loop_up(void **state) {
  uv_loop_t uv;
  (void)state;
  if (uv_loop_init(&uv) < 0) return -1;
  return uv_loop_close(&uv);
}

typedef struct on_loop {
  outcome o;
  bool told;
  int rc;
} on_loop;

static art_loop *the_loop;
static on_loop *victim;  /* cancelled once every other run has stopped */
static size_t n_to_stop; /* runs the loop has not told stopped yet */

static void told(void *ud, art_run *run, int rc) {
  on_loop *r = ud;
  assert_ptr_equal(run, r->o.run);
  assert_false(r->told);
  r->told = true;
  r->rc = rc;
  if (--n_to_stop == 1 && victim && !victim->told)
    assert_int_equal(art_loop_cancel(the_loop, victim->o.run, "operator"), 0);
}

/* Runs named loop-0, loop-1, ... with goals[i % n_goals] and `model_extra`,
 * or `hang_extra` (when not NULL) for those whose server never answers. */
static on_loop *loop_runs(int port, size_t n, const char *const *goals, size_t n_goals,
                          const char *model_extra, const char *hang_extra) {
  on_loop *runs = calloc(n, sizeof *runs);
  for (size_t i = 0; i < n; i++) {
    char id[32];
    const char *goal = goals[i % n_goals];
    snprintf(id, sizeof id, "loop-%zu", i);
    const char *extra = hang_extra && strstr(goal, "[hang]") ? hang_extra : model_extra;
    runs[i].o = agent_new(port, goal, LOOP_TOOLS, "", extra, id);
  }
  return runs;
}

/* Drive them all on one loop, then read each result. */
static void drive_on_loop(on_loop *runs, size_t n) {
  art_error err = {0};
  assert_int_equal(art_loop_new(&the_loop, NULL, &err), 0);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(art_loop_add(the_loop, runs[i].o.run, runs[i].o.model, told, &runs[i]), 0);
  n_to_stop = n;
  assert_int_equal(art_loop_run(the_loop), 0);
  art_loop_free(the_loop);
  the_loop = NULL;
  for (size_t i = 0; i < n; i++) {
    assert_true(runs[i].told);
    assert_int_equal(runs[i].rc, 0);
    assert_non_null(runs[i].o.result = art_run_result_json(runs[i].o.run));
  }
}

static void loop_runs_free(on_loop *runs, size_t n) {
  for (size_t i = 0; i < n; i++) outcome_dispose(&runs[i].o);
  free(runs);
}

/* `n` runs against a fresh agent peer, driven on one loop; with
 * `cancel_first`, the first is cancelled once it is the only one left. */
typedef struct loop_case {
  int fds; /* open before it began */
  peer p;
  on_loop *runs;
  size_t n;
} loop_case;

static loop_case loop_case_run(size_t n, const char *const *goals, size_t n_goals,
                               const char *model_extra, const char *hang_extra, bool cancel_first) {
  loop_case c = {.fds = open_fds(), .n = n};
  c.p = start_http_peer_with("agent", "tool=lookup_policy");
  c.runs = loop_runs(c.p.port, n, goals, n_goals, model_extra, hang_extra);
  victim = cancel_first ? &c.runs[0] : NULL;
  drive_on_loop(c.runs, n);
  victim = NULL;
  return c;
}

/* The runs and the peer go, and every fd with them. */
static void loop_case_end(loop_case *c) {
  loop_runs_free(c->runs, c->n);
  stop_peer(&c->p);
  assert_int_equal(open_fds(), c->fds);
}

/* GET or POST `path` on the peer: the body, malloc'd. */
static char *peer_get(const peer *p, const char *path, bool post) {
  char url[96];
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", p->port, path);
  char *body = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&body, &len);
  CURL *c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
  if (post) curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
  assert_int_equal(curl_easy_perform(c), CURLE_OK);
  curl_easy_cleanup(c);
  fclose(f);
  return body;
}

static json_int_t peer_stat(const peer *p, const char *name) {
  char *text = peer_get(p, "/stats", false);
  json_t *stats = json_loads(text, 0, NULL);
  assert_non_null(stats);
  json_int_t v = int_at(stats, name);
  json_decref(stats);
  free(text);
  return v;
}

/* The statuses of a run's model calls, e.g. "429 500 200 200 200". */
static void statuses(const outcome *o, char *out, size_t size) {
  const json_t *calls[32];
  size_t n = events_of(o, "model_call", calls, 32), used = 0;
  out[0] = '\0';
  for (size_t i = 0; i < n && used < size; i++)
    used += (size_t)snprintf(out + used, size - used, "%s%lld", i ? " " : "",
                             (long long)int_at(calls[i], "status"));
}

/* 200 runs at once, 3 steps each, share the loop's few connections. */
static void many_runs_share_few_connections(void **state) {
  (void)state;
  const char *goals[] = {"look it up twice"};
  loop_case c = loop_case_run(200, goals, 1, "", NULL, false);
  on_loop *runs = c.runs;
  for (size_t i = 0; i < 200; i++) {
    assert_stop(&runs[i].o, "success", "answered");
    assert_int_equal(art_run_steps(runs[i].o.run), 3);
    const json_t *calls[4];
    assert_int_equal(events_of(&runs[i].o, "model_call", calls, 4), 3);
  }
  assert_int_equal(peer_stat(&c.p, "requests"), 600);
  json_int_t connections = peer_stat(&c.p, "connections");
  print_message("200 runs, 600 requests: %lld connections\n", (long long)connections);
  if (connections < 1 || connections > 16) /* max_connections' default */
    fail_msg("%lld connections for 200 runs", (long long)connections);
  loop_case_end(&c);
}

/* Each run gets 429 (Retry-After: 1 s), then 500, then its reply at every
 * step, or its first body cut off, while plain runs go on beside them. */
static void retries_per_run_on_the_loop(void **state) {
  (void)state;
  const char *goals[] = {"[flaky] try", "[reset] try", "plain"};
  loop_case c = loop_case_run(30, goals, 3, ",\"max_backoff_ms\":5000", NULL, false);
  on_loop *runs = c.runs;
  for (size_t i = 0; i < 30; i++) {
    char got[128];
    const json_t *calls[16];
    assert_stop(&runs[i].o, "success", "answered");
    statuses(&runs[i].o, got, sizeof got);
    size_t n = events_of(&runs[i].o, "model_call", calls, 16);
    if (i % 3 == 0) {
      assert_string_equal(got, "429 500 200 429 500 200 429 500 200");
      assert_int_equal(int_at(calls[0], "retry_in_ms"), 1000); /* what Retry-After said */
      assert_string_equal(json_string_value(json_object_get(calls[1], "error")), "HTTP 500: oops");
    } else if (i % 3 == 1) {
      assert_string_equal(got, "0 200 0 200 0 200");
      assert_non_null(
          strstr(json_string_value(json_object_get(calls[0], "error")), "connection: "));
    } else {
      assert_string_equal(got, "200 200 200");
    }
    assert_true(n > 0);
  }
  loop_case_end(&c);
}

/* Runs whose server never answers time out (each attempt after timeout_ms)
 * while the others succeed. */
static void a_server_that_never_answers_times_out_alone(void **state) {
  (void)state;
  const char *goals[] = {"[hang] wait", "plain", "plain", "plain", "plain"};
  loop_case c = loop_case_run(40, goals, 5, "", HANG_EXTRA, false);
  for (size_t i = 0; i < 40; i++) {
    if (i % 5 == 0)
      assert_stop(&c.runs[i].o, "model_failure", "timeout after 300 ms (after 2 attempts)");
    else
      assert_stop(&c.runs[i].o, "success", "answered");
  }
  loop_case_end(&c);
}

/* Cancelling the one run whose request is in flight (its server never
 * answers) stops it cancelled, with nothing recorded for the request. */
static void cancel_of_one_run_in_flight(void **state) {
  (void)state;
  const char *goals[20] = {"[hang] wait"};
  for (size_t i = 1; i < 20; i++) goals[i] = "plain";
  loop_case c = loop_case_run(20, goals, 20, "", NULL, true);
  assert_stop(&c.runs[0].o, "cancelled", "operator");
  const json_t *calls[4];
  assert_int_equal(events_of(&c.runs[0].o, "model_call", calls, 4), 0);
  for (size_t i = 1; i < 20; i++) assert_stop(&c.runs[i].o, "success", "answered");
  loop_case_end(&c);
}

static int done_calls;

static void count_done(art_model_job *job, int rc, const art_decision *d, const art_error *err) {
  (void)job, (void)rc, (void)d, (void)err;
  done_calls++;
}

static void no_after(art_model_job *job, uint64_t ms, void (*fire)(art_model_job *job)) {
  (void)job, (void)ms, (void)fire;
  fail_msg("no retry was due");
}

static art_model *cancel_model;
static art_model_job cancel_job;

static void cancel_now(uv_timer_t *t) {
  cancel_model->vt->cancel(cancel_model, &cancel_job);
  uv_close((uv_handle_t *)t, NULL);
}

/* The model's own start and cancel on a bare uv loop: after the cancel, done
 * never comes (the server would answer in 2 s) and the loop holds nothing of
 * the model's: uv_run returns at once and the loop closes. */
static void a_cancelled_decision_is_never_done(void **state) {
  (void)state;
  int fds = open_fds();
  peer p = start_http_peer("slow");
  outcome o = agent_new(p.port, "g", LOOP_TOOLS, "", "", "direct");
  const art_action *act;
  assert_int_equal(art_run_next(o.run, art_now_us(), &act), 0);
  assert_int_equal(act->kind, ART_ACT_DECIDE);
  uv_loop_t uv;
  uv_timer_t timer;
  assert_int_equal(uv_loop_init(&uv), 0);
  uv_timer_init(&uv, &timer);
  uv_timer_start(&timer, cancel_now, 100, 0);
  cancel_model = o.model;
  cancel_job = (art_model_job){.uv = &uv, .after = no_after, .done = count_done};
  art_error err = {0};
  done_calls = 0;
  assert_int_equal(o.model->vt->start(o.model, act->context, &cancel_job, &err), 0);
  assert_int_equal(uv_run(&uv, UV_RUN_DEFAULT), 0);
  assert_int_equal(done_calls, 0);
  assert_int_equal(uv_loop_close(&uv), 0);
  outcome_dispose(&o);
  stop_peer(&p);
  assert_int_equal(open_fds(), fds);
}

static void stop_the_loop(uv_timer_t *t) {
  art_loop_stop(t->data);
  uv_close((uv_handle_t *)t, NULL);
}

/* Freeing the loop with requests in flight lets the runs go (ART_EINTR) and
 * leaves no handle of the models' on the uv loop, which then closes. */
static void freeing_the_loop_with_requests_in_flight(void **state) {
  (void)state;
  int fds = open_fds();
  peer p = start_http_peer_with("agent", "tool=lookup_policy");
  const char *goals[] = {"[hang] wait"};
  on_loop *runs = loop_runs(p.port, 10, goals, 1, "", NULL);
  uv_loop_t uv;
  uv_timer_t timer;
  assert_int_equal(uv_loop_init(&uv), 0);
  art_loop_options opts = {.uv = &uv};
  art_error err = {0};
  assert_int_equal(art_loop_new(&the_loop, &opts, &err), 0);
  for (size_t i = 0; i < 10; i++)
    assert_int_equal(art_loop_add(the_loop, runs[i].o.run, runs[i].o.model, told, &runs[i]), 0);
  n_to_stop = 10;
  uv_timer_init(&uv, &timer);
  timer.data = the_loop;
  uv_timer_start(&timer, stop_the_loop, 200, 0);
  assert_int_equal(art_loop_run(the_loop), 0);
  art_loop_free(the_loop);
  the_loop = NULL;
  for (size_t i = 0; i < 10; i++) {
    assert_true(runs[i].told);
    assert_int_equal(runs[i].rc, ART_EINTR);
  }
  assert_int_equal(uv_loop_close(&uv), 0);
  loop_runs_free(runs, 10);
  stop_peer(&p);
  assert_int_equal(open_fds(), fds);
}

/* A run's trace without what depends on the clock: timestamps, latencies,
 * and a retry's wait when it was backoff with jitter (random). */
static json_t *timeless_trace(const outcome *o) {
  json_t *trace = json_deep_copy(json_object_get(o->result, "trace"));
  size_t i;
  json_t *ev;
  json_array_foreach(trace, i, ev) {
    json_object_del(ev, "ts_us");
    json_object_del(ev, "latency_us");
    if (json_object_get(ev, "retry_in_ms")) json_object_set_new(ev, "retry_in_ms", json_true());
  }
  return trace;
}

/* The same server replies give, run by run, the same events on the loop as
 * under the blocking driver: retries, resets, repair rounds, timeouts. */
static void the_loop_journals_as_the_blocking_driver_does(void **state) {
  (void)state;
  const char *goals[] = {"plain", "[flaky] try", "[reset] try", "[repair] try", "[hang] wait"};
  loop_case c = loop_case_run(10, goals, 5, "", HANG_EXTRA, false);
  on_loop *runs = c.runs;
  free(peer_get(&c.p, "/reset", true));
  for (size_t i = 0; i < 10; i++) {
    char id[32];
    snprintf(id, sizeof id, "loop-%zu", i);
    const char *extra = strstr(goals[i % 5], "[hang]") ? HANG_EXTRA : "";
    outcome alone = agent_new(c.p.port, goals[i % 5], LOOP_TOOLS, "", extra, id);
    assert_int_equal(art_run_until_stop(alone.run, alone.model), 0);
    assert_non_null(alone.result = art_run_result_json(alone.run));
    json_t *a = timeless_trace(&runs[i].o), *b = timeless_trace(&alone);
    if (!json_equal(a, b)) {
      char *ta = json_dumps(a, JSON_COMPACT), *tb = json_dumps(b, JSON_COMPACT);
      fail_msg("run %s differs:\nloop:     %s\nblocking: %s", id, ta, tb);
    }
    json_decref(a), json_decref(b);
    outcome_dispose(&alone);
  }
  assert_stop(&runs[4].o, "model_failure", "timeout after 300 ms (after 2 attempts)");
  assert_stop(&runs[3].o, "success", "answered");
  loop_case_end(&c);
}

int main(void) {
  const struct CMUnitTest with_mock[] = {
      cmocka_unit_test(tool_call_then_answer_succeeds),
      cmocka_unit_test(usage_and_cost_are_recorded),
      cmocka_unit_test(unknown_tool_is_refused),
      cmocka_unit_test(bad_arguments_are_repaired),
      cmocka_unit_test(failed_repair_is_an_invalid_decision),
      cmocka_unit_test(arguments_never_json_are_an_invalid_decision),
      cmocka_unit_test(too_many_requests_then_success_is_retried),
      cmocka_unit_test(persistent_server_error_is_a_model_failure),
      cmocka_unit_test(client_error_is_not_retried),
      cmocka_unit_test(token_budget_stops_the_run),
      cmocka_unit_test(cost_budget_stops_the_run),
      cmocka_unit_test(several_tool_calls_take_the_first),
      cmocka_unit_test(api_key_is_sent_and_never_shown),
  };
  const struct CMUnitTest with_peer[] = {
      cmocka_unit_test(retry_after_seconds_is_honoured),
      cmocka_unit_test(retry_after_date_is_honoured),
      cmocka_unit_test(slow_replies_time_out),
      cmocka_unit_test(the_wall_time_budget_cuts_a_request_short),
      cmocka_unit_test(reset_mid_body_is_retried),
      cmocka_unit_test(body_that_is_not_json_is_a_model_failure),
      cmocka_unit_test(connection_refused_is_a_model_failure),
  };
  const struct CMUnitTest on_the_loop[] = {
      cmocka_unit_test(many_runs_share_few_connections),
      cmocka_unit_test(retries_per_run_on_the_loop),
      cmocka_unit_test(a_server_that_never_answers_times_out_alone),
      cmocka_unit_test(cancel_of_one_run_in_flight),
      cmocka_unit_test(a_cancelled_decision_is_never_done),
      cmocka_unit_test(freeing_the_loop_with_requests_in_flight),
      cmocka_unit_test(the_loop_journals_as_the_blocking_driver_does),
  };
  setenv("AGENTRT_TEST_KEY", KEY, 1);
  int failed = cmocka_run_group_tests_name("openai model, mock-llm", with_mock, mock_up, mock_down);
  failed += cmocka_run_group_tests_name("openai model, test HTTP server", with_peer, NULL, NULL);
  failed +=
      cmocka_run_group_tests_name("openai model, on the event loop", on_the_loop, loop_up, NULL);
  return failed;
}
