/* MCP servers on the event loop: one session, attached once, serves many
 * runs of an art_loop at once, their calls in flight together on one server
 * process.  Against server-everything and the fake server (fake_mcp.js, which
 * logs what it receives): results come back to the right runs, a dying
 * server fails only the calls in flight, a cancel or a timeout gives up only
 * its own request (the server is told which), and a run gives the events the
 * blocking driver gives.  Every test ends with the descriptors it began with
 * and no child left. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "agentrt.h"
#include "agentrt/loop.h"

#define IT_DIR AGENTRT_SOURCE_DIR "/tests/it"
#define EVERYTHING_BIN AGENTRT_SOURCE_DIR "/tests/node_modules/.bin/mcp-server-everything"
#define FAKE_JS IT_DIR "/fake_mcp.js"
#define CALL(name, input) "{\"type\": \"tool\", \"name\": \"" name "\", \"input\": " input "}"
#define DONE "{\"type\": \"answer\", \"text\": \"done\"}"
#define LOOKUP CALL("lookup_policy", "{\"task\": \"t\"}")
#define SLOW CALL("fake.slow", "{\"ms\": 60000}")
#define MAX_MEMBERS 64

/* ---- a fleet: runs of one spec (one registry, one session) on one loop ------------ */

typedef struct fleet fleet;

typedef struct member {
  fleet *f;
  art_spec *script; /* its decisions: only its model is made from it */
  art_model *model;
  art_run *run;
  bool told;
  int rc;
  void (*on_stop)(struct member *m); /* may be NULL */
} member;

struct fleet {
  int fds;
  art_spec *spec;
  art_mcp_session *mcp;
  art_loop *loop;
  member m[MAX_MEMBERS];
  size_t n;
  member *victim; /* what an on_stop acts on */
  char log[512];  /* where the fake server logs what it receives */
};

/* `servers` is the spec's "mcp_servers" array; the spec and its session
 * allocate from `alloc` (NULL: malloc), the runs from malloc. */
static void fleet_open_with(fleet *f, const char *servers, const art_allocator *alloc) {
  char text[4096];
  art_error err = {0};
  memset(f, 0, sizeof *f);
  f->fds = tu_count_fds();
  snprintf(text, sizeof text,
           "{\"goal\": \"use MCP tools\", \"tools\": [\"lookup_policy\"], \"mcp_servers\": %s, "
           "\"model\": {\"type\": \"scripted\", \"decisions\": []}}",
           servers);
  art_spec_options spec_opts = {.alloc = alloc};
  if (art_spec_load(&f->spec, tu_write("fleet.json", text), &spec_opts, &err) < 0)
    fail_msg("spec: %s", err.message);
  art_mcp_options opts = {.version = ART_MCP_OPTIONS_VERSION, .shutdown_grace_ms = 300};
  if (art_mcp_attach(&f->mcp, f->spec, &opts, &err) < 0) fail_msg("attach: %s", err.message);
  assert_int_equal(art_loop_new(&f->loop, NULL, &err), 0);
}

static void fleet_open(fleet *f, const char *servers) { fleet_open_with(f, servers, NULL); }

static void member_told(void *ud, art_run *run, int rc) {
  member *m = ud;
  assert_ptr_equal(run, m->run);
  assert_false(m->told);
  m->told = true;
  m->rc = rc;
  if (m->on_stop) m->on_stop(m);
}

/* A run of the fleet's spec whose model is `model` (a "model" object). */
static member *member_make(fleet *f, const char *id, const char *model) {
  char text[4096];
  art_error err = {0};
  assert_true(f->n < MAX_MEMBERS);
  member *m = &f->m[f->n++];
  *m = (member){.f = f};
  snprintf(text, sizeof text, "{\"goal\": \"g\", \"model\": %s}", model);
  m->script = tu_spec(text);
  art_run_options opts = {.alloc = art_default_allocator(), .run_id = id};
  assert_int_equal(art_model_new(&m->model, m->script, &err), 0);
  assert_int_equal(art_run_new(&m->run, f->spec, &opts), 0);
  return m;
}

static member *member_add(fleet *f, const char *id, const char *model) {
  member *m = member_make(f, id, model);
  assert_int_equal(art_loop_add(f->loop, m->run, m->model, member_told, m), 0);
  return m;
}

/* Decisions made at once, as a "model" object. */
static const char *scripted(char *buf, size_t size, const char *decisions) {
  snprintf(buf, size, "{\"type\": \"scripted\", \"decisions\": [%s]}", decisions);
  return buf;
}

static void fleet_run(fleet *f) {
  assert_int_equal(art_loop_run(f->loop), 0);
  assert_int_equal(art_loop_runs(f->loop), 0);
  art_loop_free(f->loop);
  f->loop = NULL;
  for (size_t i = 0; i < f->n; i++) {
    assert_true(f->m[i].told);
    assert_int_equal(f->m[i].rc, 0);
  }
}

static void member_free(member *m) {
  art_run_free(m->run);
  art_model_free(m->model);
  art_spec_free(m->script);
}

static void fleet_close(fleet *f) {
  for (size_t i = 0; i < f->n; i++) member_free(&f->m[i]);
  art_mcp_session_free(f->mcp);
  art_spec_free(f->spec);
  assert_int_equal(tu_count_fds(), f->fds);
  tu_assert_no_children();
}

static void assert_contains(const char *text, const char *part) {
  if (!text || !strstr(text, part))
    fail_msg("expected \"%s\" in:\n%s", part, text ? text : "(null)");
}

/* The run stopped `reason` with `detail_part` in its detail and `obs_part`
 * (may be NULL) in its observations. */
static void expect(const member *m, art_stop_reason reason, const char *detail_part,
                   const char *obs_part) {
  const char *detail = art_run_stop_detail(m->run);
  if (art_run_stop_reason(m->run) != reason)
    fail_msg("%s stopped %s (%s), expected %s", art_run_id(m->run),
             art_stop_reason_name(art_run_stop_reason(m->run)), detail,
             art_stop_reason_name(reason));
  assert_contains(detail, detail_part);
  if (!obs_part) return;
  json_t *result = art_run_result_json(m->run);
  char *obs = json_dumps(json_object_get(result, "observations"), JSON_COMPACT);
  assert_contains(obs, obs_part);
  free(obs);
  json_decref(result);
}

/* ---- what the fake server received ---------------------------------------------------- */

/* The messages logged at `path`, in order. */
static json_t *received(const char *path) {
  char *text = tu_read(path);
  json_t *all = json_array();
  assert_non_null(text);
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
    json_array_append_new(all, json_loads(line, 0, NULL));
  free(text);
  return all;
}

/* The id of the tools/call whose arguments carry `tag`. */
static json_int_t tagged_call_id(const json_t *log, const char *tag) {
  size_t i;
  const json_t *msg;
  json_array_foreach(log, i, msg) {
    const json_t *args = json_object_get(json_object_get(msg, "params"), "arguments");
    const char *t = json_string_value(json_object_get(args, "tag"));
    if (t && strcmp(t, tag) == 0) return json_integer_value(json_object_get(msg, "id"));
  }
  fail_msg("no call tagged %s", tag);
  return -1;
}

/* The params of the notifications/cancelled the log holds, in order. */
static json_t *cancellations(const json_t *log) {
  json_t *all = json_array();
  size_t i;
  const json_t *msg;
  json_array_foreach(log, i, msg) {
    const char *method = json_string_value(json_object_get(msg, "method"));
    if (method && strcmp(method, "notifications/cancelled") == 0)
      json_array_append(all, json_object_get(msg, "params"));
  }
  return all;
}

/* The server was told of one cancellation: of the call tagged `tag`, with
 * `reason`. */
static void expect_one_cancel(const char *log_path, const char *tag, const char *reason) {
  json_t *log = received(log_path), *cancels = cancellations(log);
  assert_int_equal(json_array_size(cancels), 1);
  const json_t *params = json_array_get(cancels, 0);
  assert_int_equal(json_integer_value(json_object_get(params, "requestId")),
                   tagged_call_id(log, tag));
  assert_string_equal(json_string_value(json_object_get(params, "reason")), reason);
  json_decref(cancels);
  json_decref(log);
}

/* A fake server's "mcp_servers" entry: its messages logged at `log` (NULL:
 * none), its calls bounded by `timeout_ms`. */
static const char *fake_server(char *buf, size_t size, const char *name, const char *log,
                               int timeout_ms) {
  snprintf(buf, size, "{\"name\": \"%s\", \"command\": [\"%s\", \"ok\"%s%s%s], \"timeout_ms\": %d}",
           name, FAKE_JS, log ? ", \"" : "", log ? log : "", log ? "\"" : "", timeout_ms);
  return buf;
}

/* A fleet of one fake server, "fake", logging what it receives to
 * tu_path(log_name) (NULL: nowhere) in f->log. */
static void fleet_open_fake_with(fleet *f, const char *log_name, const art_allocator *alloc) {
  char fake[1024], servers[1100], log[512];
  snprintf(log, sizeof log, "%s", log_name ? tu_path(log_name) : "");
  if (log_name) remove(log);
  snprintf(servers, sizeof servers, "[%s]",
           fake_server(fake, sizeof fake, "fake", log_name ? log : NULL, 60000));
  fleet_open_with(f, servers, alloc);
  snprintf(f->log, sizeof f->log, "%s", log);
}

static void fleet_open_fake(fleet *f, const char *log_name) {
  fleet_open_fake_with(f, log_name, NULL);
}

/* A run whose model answers after 10 ms, and `on_stop` acts then (the runs
 * added before it have started their calls). */
static void add_trigger(fleet *f, void (*on_stop)(member *m)) {
  member_add(f, "trigger", "{\"type\": \"scripted\", \"delay_ms\": 10, \"decisions\": [" DONE "]}")
      ->on_stop = on_stop;
}

/* n runs "PREFIX-i" with the same model. */
static void add_runs(fleet *f, const char *prefix, int n, const char *model) {
  char id[64];
  for (int i = 0; i < n; i++) {
    snprintf(id, sizeof id, "%s-%d", prefix, i);
    member_add(f, id, model);
  }
}

/* ---- many runs, one server ------------------------------------------------------------ */

/* 50 runs each call server-everything's long-running operation and then echo
 * through one session: every run gets its own answers, and all 50 first
 * calls were in flight at once (they are all sent in the loop's first turn,
 * before any answer is read). */
static void fifty_runs_share_one_server(void **state) {
  (void)state;
  fleet f;
  char model[2048], id[32], decisions[512];
  fleet_open(&f,
             "[{\"name\": \"ev\", \"command\": [\"" EVERYTHING_BIN "\"], \"timeout_ms\": 30000}]");
  for (size_t i = 0; i < 50; i++) {
    snprintf(id, sizeof id, "run-%zu", i);
    snprintf(
        decisions, sizeof decisions,
        CALL("ev.trigger-long-running-operation", "{\"duration\": 0.3, \"steps\": 1}") ", " CALL(
            "ev.echo", "{\"message\": \"from %s\"}") ", " DONE,
        id);
    member_add(&f, id, scripted(model, sizeof model, decisions));
  }
  fleet_run(&f);
  for (size_t i = 0; i < 50; i++) {
    char echo[64];
    snprintf(echo, sizeof echo, "Echo: from run-%zu\"", i);
    expect(&f.m[i], ART_STOP_SUCCESS, "answered", echo);
    expect(&f.m[i], ART_STOP_SUCCESS, "answered", "Long running operation completed");
  }
  assert_int_equal(art_mcp_server_peak_in_flight(f.mcp, 0), 50);
  fleet_close(&f);
}

/* Runs on the loop give, run by run, the events the blocking driver gives
 * over the same session: results of every kind, an isError result, a server
 * request refused, input refused before any call, a tool that is not MCP. */
static void the_loop_gives_the_blocking_drivers_events(void **state) {
  (void)state;
  const char *cases[] = {
      CALL("ev.echo", "{\"message\": \"hello\"}") ", " CALL("ev.get-sum",
                                                            "{\"a\": 2, \"b\": 40}") ", " DONE,
      CALL("ev.get-annotated-message",
           "{\"messageType\": \"success\", \"includeImage\": true}") ", " DONE,
      CALL("ev.get-structured-content", "{\"location\": \"Chicago\"}") ", " DONE,
      CALL("fake.t1", "{}") ", " CALL("fake.ask", "{}") ", " DONE,
      CALL("fake.oops", "{}") ", " DONE,
      CALL("ev.get-sum", "{\"a\": \"two\", \"b\": 1}") ", " DONE,
      LOOKUP ", " DONE,
  };
  const size_t n_cases = sizeof cases / sizeof *cases, n = 3 * n_cases;
  fleet f;
  char model[2048], id[32], fake[512], servers[1024];
  snprintf(servers, sizeof servers,
           "[{\"name\": \"ev\", \"command\": [\"" EVERYTHING_BIN "\"], \"timeout_ms\": 30000}, %s]",
           fake_server(fake, sizeof fake, "fake", NULL, 30000));
  fleet_open(&f, servers);
  for (size_t i = 0; i < n; i++) {
    snprintf(id, sizeof id, "run-%zu", i);
    member_add(&f, id, scripted(model, sizeof model, cases[i % n_cases]));
  }
  fleet_run(&f);
  for (size_t i = 0; i < n; i++) {
    member *alone =
        member_make(&f, art_run_id(f.m[i].run), scripted(model, sizeof model, cases[i % n_cases]));
    assert_int_equal(art_run_until_stop(alone->run, alone->model), 0);
    tu_assert_same_events(f.m[i].run, alone->run);
  }
  expect(&f.m[1], ART_STOP_SUCCESS, "answered", "\"mimeType\":\"image/png\"");
  expect(&f.m[2], ART_STOP_SUCCESS, "answered", "\"structuredContent\":{\"temperature\":36");
  expect(&f.m[3], ART_STOP_SUCCESS, "answered", "client answered error -32601");
  expect(&f.m[4], ART_STOP_TOOL_FAILURE, "it went wrong", NULL);
  expect(&f.m[5], ART_STOP_INVALID_DECISION, "input_schema: $.a", NULL);
  assert_true(art_mcp_server_peak_in_flight(f.mcp, 0) > 1);
  fleet_close(&f);
}

/* ---- a server that dies --------------------------------------------------------------- */

#define KILLED "mcp server \"fake\": killed by signal 9 during tools/call \"killself\""

/* Once the server is down, a run that calls it fails at once, with the
 * reason it went down. */
static void call_the_dead_server(member *m) {
  char model[512];
  if (m != m->f->victim) return;
  m->f->victim =
      member_add(m->f, "later", scripted(model, sizeof model, CALL("fake.t1", "{}") ", " DONE));
}

/* Five runs wait on slow calls when a sixth run's call kills the server:
 * those six stop tool_failure naming the server; a run whose call was
 * answered before, and a run of a model that takes its time with a tool
 * that is not MCP, finish as they would; a run that calls the server later
 * fails at once with the same reason. */
static void a_dying_server_fails_only_the_calls_in_flight(void **state) {
  (void)state;
  fleet f;
  char model[512];
  fleet_open_fake(&f, NULL);
  add_runs(&f, "slow", 5, scripted(model, sizeof model, SLOW ", " DONE));
  f.victim = &f.m[0];
  f.m[0].on_stop = call_the_dead_server;
  member *before = member_add(
      &f, "before", scripted(model, sizeof model, CALL("fake.t1", "{}") ", " LOOKUP ", " DONE));
  member *killer =
      member_add(&f, "killer", scripted(model, sizeof model, CALL("fake.killself", "{}")));
  member *aside = member_add(&f, "aside",
                             "{\"type\": \"scripted\", \"delay_ms\": 20, "
                             "\"decisions\": [" LOOKUP ", " DONE "]}");
  fleet_run(&f);
  for (int i = 0; i < 5; i++)
    expect(&f.m[i], ART_STOP_TOOL_FAILURE, KILLED " and 5 other requests", NULL);
  expect(killer, ART_STOP_TOOL_FAILURE, KILLED " and 5 other requests", NULL);
  expect(before, ART_STOP_SUCCESS, "answered", "fake.t1 ok: called t1");
  expect(aside, ART_STOP_SUCCESS, "answered", NULL);
  assert_ptr_not_equal(f.victim, &f.m[0]);
  expect(f.victim, ART_STOP_TOOL_FAILURE, art_run_stop_detail(f.m[0].run), NULL);
  fleet_close(&f);
}

/* ---- a cancel and a timeout give up only their own request ----------------------------- */

static void cancel_the_victim(member *m) {
  assert_int_equal(art_loop_cancel(m->f->loop, m->f->victim->run, "operator stop"), 0);
}

/* Calls that wait until the server hears of a cancellation, as a "model". */
static const char *waits_for_a_cancel(char *buf, size_t size, const char *server, const char *log) {
  char decisions[1024];
  snprintf(decisions, sizeof decisions,
           "{\"type\": \"tool\", \"name\": \"%s.wait-for\", \"input\": {\"path\": \"%s\", "
           "\"method\": \"notifications/cancelled\"}}, " DONE,
           server, log);
  return scripted(buf, size, decisions);
}

/* One run among five is cancelled while its call is in flight: it stops
 * cancelled without a result (the server's late answer is dropped), the
 * server hears of that request's cancellation only, and the other runs'
 * calls, which the server answers once it has heard of it, complete. */
static void a_cancel_gives_up_only_its_call(void **state) {
  (void)state;
  fleet f;
  char model[2048];
  fleet_open_fake(&f, "cancel.log");
  add_runs(&f, "waits", 4, waits_for_a_cancel(model, sizeof model, "fake", f.log));
  f.victim =
      member_add(&f, "victim",
                 scripted(model, sizeof model,
                          CALL("fake.slow", "{\"ms\": 60000, \"tag\": \"victim\"}") ", " DONE));
  add_trigger(&f, cancel_the_victim);
  fleet_run(&f);
  expect(f.victim, ART_STOP_CANCELLED, "operator stop", NULL);
  json_t *result = art_run_result_json(f.victim->run);
  char *trace = json_dumps(json_object_get(result, "trace"), JSON_COMPACT);
  if (strstr(trace, "\"type\":\"tool_result\"")) fail_msg("a cancelled call has a result");
  free(trace);
  json_decref(result);
  for (int i = 0; i < 4; i++)
    expect(&f.m[i], ART_STOP_SUCCESS, "answered", "saw notifications/cancelled");
  expect_one_cancel(f.log, "victim", "the run is being cancelled");
  assert_true(art_mcp_server_peak_in_flight(f.mcp, 0) >= 5);
  fleet_close(&f);
}

/* One call runs past its server's timeout while calls to another server
 * wait (until the first server hears of the cancellation) and a quick call
 * to the same server completes: only the slow call fails, with the blocking
 * path's message, and the server hears of that request's cancellation. */
static void a_timeout_fails_only_its_call(void **state) {
  (void)state;
  fleet f;
  char model[2048], quick[512], other[512], servers[1100];
  const char *log = tu_path("timeout.log");
  remove(log);
  snprintf(servers, sizeof servers, "[%s, %s]",
           fake_server(quick, sizeof quick, "quick", log, 1000),
           fake_server(other, sizeof other, "fake", NULL, 60000));
  fleet_open(&f, servers);
  member *late =
      member_add(&f, "late",
                 scripted(model, sizeof model,
                          CALL("quick.slow", "{\"ms\": 60000, \"tag\": \"late\"}") ", " DONE));
  add_runs(&f, "waits", 4, waits_for_a_cancel(model, sizeof model, "fake", log));
  member *fast =
      member_add(&f, "fast", scripted(model, sizeof model, CALL("quick.t1", "{}") ", " DONE));
  fleet_run(&f);
  expect(
      late, ART_STOP_TOOL_FAILURE,
      "mcp server \"quick\": no answer to tools/call \"slow\" within 1000 ms (request cancelled)",
      NULL);
  for (int i = 1; i <= 4; i++)
    expect(&f.m[i], ART_STOP_SUCCESS, "answered", "saw notifications/cancelled");
  expect(fast, ART_STOP_SUCCESS, "answered", "quick.t1 ok: called t1");
  expect_one_cancel(log, "late", "timeout after 1000 ms");
  fleet_close(&f);
}

/* ---- the session between loops ---------------------------------------------------------- */

static void stop_the_loop(member *m) { art_loop_stop(m->f->loop); }

/* A loop freed while calls are in flight gives them up (the runs are let go,
 * the server hears of each cancellation) and leaves nothing of the session
 * on it: the session then serves a run on another loop, and the blocking
 * driver. */
static void a_session_moves_to_another_loop(void **state) {
  (void)state;
  fleet f;
  char model[2048];
  fleet_open_fake(&f, "moves.log");
  add_runs(&f, "let-go", 3, scripted(model, sizeof model, SLOW ", " DONE));
  add_trigger(&f, stop_the_loop);
  assert_int_equal(art_loop_run(f.loop), 0);
  art_loop_free(f.loop);
  for (int i = 0; i < 3; i++) assert_int_equal(f.m[i].rc, ART_EINTR);
  art_error err = {0};
  assert_int_equal(art_loop_new(&f.loop, NULL, &err), 0);
  member *next =
      member_add(&f, "next", scripted(model, sizeof model, CALL("fake.t1", "{}") ", " DONE));
  assert_int_equal(art_loop_run(f.loop), 0);
  art_loop_free(f.loop);
  expect(next, ART_STOP_SUCCESS, "answered", "fake.t1 ok: called t1");
  /* logged before that call: the server reads in order */
  json_t *got = received(f.log), *cancels = cancellations(got);
  assert_int_equal(json_array_size(cancels), 3);
  json_decref(cancels);
  json_decref(got);
  member *alone =
      member_make(&f, "alone", scripted(model, sizeof model, CALL("fake.t3", "{}") ", " DONE));
  assert_int_equal(art_run_until_stop(alone->run, alone->model), 0);
  expect(alone, ART_STOP_SUCCESS, "answered", "fake.t3 ok: called t3");
  fleet_close(&f);
}

/* ---- allocation failures ---------------------------------------------------------------- */

/* Each allocation the session makes for calls on the loop fails in turn (the
 * runs allocate from malloc): the runs still stop, tool_failure when their
 * call could not be made, and the session leaks nothing and leaves no
 * handle, descriptor or child. */
static void allocation_failures_on_the_loop(void **state) {
  (void)state;
  char model[512];
  for (long k = 1;; k++) {
    tu_alloc t;
    fleet f;
    tu_alloc_init(&t, 0);
    fleet_open_fake_with(&f, NULL, &t.a);
    t.fail_at = t.count + k;
    add_runs(&f, "run", 3, scripted(model, sizeof model, CALL("fake.t1", "{}") ", " DONE));
    fleet_run(&f);
    for (size_t i = 0; i < f.n; i++) {
      art_stop_reason r = art_run_stop_reason(f.m[i].run);
      if (r != ART_STOP_SUCCESS && r != ART_STOP_TOOL_FAILURE)
        fail_msg("allocation %ld failed: %s stopped %s", k, art_run_id(f.m[i].run),
                 art_stop_reason_name(r));
    }
    fleet_close(&f);
    assert_int_equal(t.live, 0);
    if (!t.failed) break; /* every allocation of the calls has failed once */
  }
}

/* libuv opens descriptors of its own once per process, with the first loop:
 * made here, so that the tests see only their own. */
static int open_a_first_loop(void **state) {
  (void)state;
  art_loop *loop;
  art_error err = {0};
  assert_int_equal(art_loop_new(&loop, NULL, &err), 0);
  art_loop_free(loop);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(fifty_runs_share_one_server),
      cmocka_unit_test(the_loop_gives_the_blocking_drivers_events),
      cmocka_unit_test(a_dying_server_fails_only_the_calls_in_flight),
      cmocka_unit_test(a_cancel_gives_up_only_its_call),
      cmocka_unit_test(a_timeout_fails_only_its_call),
      cmocka_unit_test(a_session_moves_to_another_loop),
      cmocka_unit_test(allocation_failures_on_the_loop),
  };
  return cmocka_run_group_tests(tests, open_a_first_loop, NULL);
}
