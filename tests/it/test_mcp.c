/* MCP servers as tools, against real servers (server-everything and
 * server-filesystem from tests/node_modules, installed by scripts/bootstrap)
 * and a fake one (fake_mcp.js) that misbehaves on purpose.  Scripted-model
 * agents drive every case.  Runs in this process check that every server is
 * reaped and every descriptor closed afterwards. */
#define _GNU_SOURCE /* asprintf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "agentrt.h"

#define IT_DIR AGENTRT_SOURCE_DIR "/tests/it"
#define BIN AGENTRT_SOURCE_DIR "/tests/node_modules/.bin"
#define EVERYTHING "\"" BIN "/mcp-server-everything\""
#define FILESYSTEM "\"" BIN "/mcp-server-filesystem\""
#define FAKE(mode) "\"" IT_DIR "/fake_mcp.js\", \"" mode "\""
#define TOOL(name, input) "{\"type\": \"tool\", \"name\": \"" name "\", \"input\": " input "}"
#define ANSWER "{\"type\": \"answer\", \"text\": \"done\"}"
#define SERVER(name, argv, extra)                                                                  \
  "{\"name\": \"" name "\", \"command\": [" argv "], \"timeout_ms\": 5000" extra "}"
#define SPEC(servers, policy, decisions)                                                           \
  "{\"goal\": \"use MCP tools\", \"mcp_servers\": [" servers "], " policy                          \
  "\"model\": {\"type\": \"scripted\", \"decisions\": [" decisions "]}}"

/* ---- running a spec in this process ---------------------------------------------- */

typedef struct outcome {
  art_stop_reason reason;
  char detail[1024];
  json_t *result; /* art_run_result_json */
} outcome;

static void assert_contains(const char *text, const char *part) {
  if (!text || !strstr(text, part))
    fail_msg("expected \"%s\" in:\n%s", part, text ? text : "(null)");
}

static art_spec *load(const char *text) {
  art_spec *spec;
  art_error err = {0};
  const char *path = tu_write("agent.json", text);
  if (art_spec_load(&spec, path, NULL, &err) < 0) fail_msg("spec: %s", err.message);
  return spec;
}

/* Attach, run to the stop (a failed attach stops the run tool_failure, as the
 * CLI does), shut down; the descriptors and children are as they were.
 * `hooks` (may be NULL) are the driver's. */
static void run_spec_with(const char *text, const art_drive_hooks *hooks, outcome *o) {
  int fds = tu_count_fds();
  art_spec *spec = load(text);
  art_mcp_session *mcp = NULL;
  art_mcp_options opts = {.version = ART_MCP_OPTIONS_VERSION, .shutdown_grace_ms = 300};
  art_error err = {0};
  art_model *model;
  art_run *run;
  int attached = art_mcp_attach(&mcp, spec, &opts, &err);
  assert_int_equal(art_model_new(&model, spec, NULL), 0);
  assert_int_equal(art_run_new(&run, spec, tu_run_options(spec)), 0);
  if (attached < 0) {
    const art_action *act;
    assert_int_equal(art_run_next(run, art_now_us(), &act), 0);
    assert_int_equal(art_run_feed_tools_failure(run, err.message, art_now_us()), 0);
  } else {
    assert_int_equal(art_run_drive(run, model, hooks), 0);
  }
  o->reason = art_run_stop_reason(run);
  snprintf(o->detail, sizeof o->detail, "%s", art_run_stop_detail(run));
  o->result = art_run_result_json(run);
  art_run_free(run);
  art_model_free(model);
  art_mcp_session_free(mcp);
  art_spec_free(spec);
  assert_int_equal(tu_count_fds(), fds);
  tu_assert_no_children();
}

static void run_spec(const char *text, outcome *o) { run_spec_with(text, NULL, o); }

static void expect_stop(const outcome *o, art_stop_reason reason, const char *detail_part) {
  if (o->reason != reason)
    fail_msg("stopped %s (%s), expected %s", art_stop_reason_name(o->reason), o->detail,
             art_stop_reason_name(reason));
  assert_contains(o->detail, detail_part);
}

/* The observations' JSON text, for looking into. */
static char *observations_text(const outcome *o) {
  return json_dumps(json_object_get(o->result, "observations"), JSON_COMPACT);
}

static const art_tool *attached_tool(art_spec *spec, art_mcp_session **mcp, const char *name) {
  art_error err = {0};
  art_mcp_options opts = {.version = ART_MCP_OPTIONS_VERSION, .shutdown_grace_ms = 300};
  if (!*mcp && art_mcp_attach(mcp, spec, &opts, &err) < 0) fail_msg("attach: %s", err.message);
  const art_tool *t = art_registry_find(art_spec_registry(spec), name);
  if (!t) fail_msg("no tool %s", name);
  return t;
}

/* ---- server-everything ------------------------------------------------------------ */

static void test_everything_echo_add_annotated(void **state) {
  (void)state;
  outcome o;
  run_spec(SPEC(SERVER("ev", EVERYTHING, ""), "",
                TOOL("ev.echo", "{\"message\": \"hello MCP\"}") ", " TOOL(
                    "ev.get-sum",
                    "{\"a\": 2, \"b\": 40}") ", " TOOL("ev.get-annotated-message",
                                                       "{\"messageType\": \"success\","
                                                       " \"includeImage\": true}") ", " ANSWER),
           &o);
  expect_stop(&o, ART_STOP_SUCCESS, "answered");
  char *obs = observations_text(&o);
  assert_contains(obs, "ev.echo ok: Echo: hello MCP");
  assert_contains(obs, "The sum of 2 and 40 is 42.");
  assert_contains(obs, "\"type\":\"image\"");
  assert_contains(obs, "\"mimeType\":\"image/png\"");
  free(obs);
  json_decref(o.result);
}

static void test_everything_input_checked_before_the_call(void **state) {
  (void)state;
  outcome o;
  run_spec(SPEC(SERVER("ev", EVERYTHING, ""), "",
                TOOL("ev.get-sum", "{\"a\": \"two\", \"b\": 40}") ", " ANSWER),
           &o);
  expect_stop(&o, ART_STOP_INVALID_DECISION, "input_schema: $.a");
  json_decref(o.result);
}

static void test_everything_side_effects(void **state) {
  (void)state;
  art_spec *spec = load(
      SPEC(SERVER("ev", EVERYTHING, ", \"tools\": {\"get-sum\": {\"side_effect\": \"draft\"}}"), "",
           ANSWER));
  art_mcp_session *mcp = NULL;
  const art_tool *echo = attached_tool(spec, &mcp, "ev.echo");
  assert_int_equal(art_tool_side_effect(echo), ART_SIDE_READ);
  assert_int_equal(art_tool_side_effect_source(echo), ART_SOURCE_ANNOTATION);
  const art_tool *gzip = attached_tool(spec, &mcp, "ev.gzip-file-as-resource");
  assert_int_equal(art_tool_side_effect(gzip), ART_SIDE_WRITE); /* readOnlyHint: false */
  assert_int_equal(art_tool_side_effect_source(gzip), ART_SOURCE_ANNOTATION);
  const art_tool *sum = attached_tool(spec, &mcp, "ev.get-sum");
  assert_int_equal(art_tool_side_effect(sum), ART_SIDE_DRAFT);
  assert_int_equal(art_tool_side_effect_source(sum), ART_SOURCE_OVERRIDE);
  assert_string_equal(art_tool_description(sum), "Returns the sum of two numbers");
  assert_non_null(json_object_get(art_tool_input_schema(sum), "properties"));
  assert_string_equal(art_mcp_server_protocol(mcp, 0), "2025-11-25");
  art_mcp_session_free(mcp);
  art_spec_free(spec);
}

/* A spec calling server-everything's long-running operation for `seconds`,
 * with the call's `timeout_ms`, its wire written to `log`. */
static char *long_operation_spec(int seconds, int timeout_ms, const char *log) {
  char *text;
  if (asprintf(&text,
               SPEC("{\"name\": \"ev\", \"command\": [\"" IT_DIR "/wire_tap.sh\", " EVERYTHING
                    "], \"timeout_ms\": %d, \"env\": {\"MCP_WIRE_LOG\": \"%s\"}}",
                    "",
                    TOOL("ev.trigger-long-running-operation",
                         "{\"duration\": %d, \"steps\": %d}") ", " ANSWER),
               timeout_ms, log, seconds, seconds) < 0)
    fail();
  return text;
}

static void test_everything_timeout_cancels(void **state) {
  (void)state;
  outcome o;
  const char *log = tu_path("wire.log");
  char *text = long_operation_spec(5, 300, log);
  run_spec(text, &o);
  free(text);
  expect_stop(&o, ART_STOP_TOOL_FAILURE,
              "mcp server \"ev\": no answer to tools/call \"trigger-long-running-operation\" "
              "within 300 ms (request cancelled)");
  char *wire = tu_read(log);
  assert_contains(wire, "\"method\":\"notifications/cancelled\"");
  assert_contains(wire, "\"params\":{\"requestId\":3,");
  free(wire);
  json_decref(o.result);
}

/* Cancels the run at the third question: the first is the step boundary
 * before the call, the others come while the call is in flight. */
static const char *cancel_during_the_call(void *ud) {
  return ++*(int *)ud >= 3 ? "operator stop" : NULL;
}

/* A run cancelled while an MCP call is in flight does not wait for the call
 * (30 s) or its timeout (60 s): the call is abandoned with a cancellation the
 * server sees, and the run stops cancelled without a result for it. */
static void test_everything_cancel_during_a_call(void **state) {
  (void)state;
  outcome o;
  const char *log = tu_path("wire-cancel.log");
  char *text = long_operation_spec(30, 60000, log);
  int asked = 0;
  art_drive_hooks hooks = {.cancel_reason = cancel_during_the_call, .ud = &asked};
  run_spec_with(text, &hooks, &o);
  free(text);
  expect_stop(&o, ART_STOP_CANCELLED, "operator stop");
  char *trace = json_dumps(json_object_get(o.result, "trace"), JSON_COMPACT);
  if (strstr(trace, "\"type\":\"tool_result\"")) fail_msg("an abandoned call has a result");
  free(trace);
  char *wire = tu_read(log);
  assert_contains(wire, "\"method\":\"notifications/cancelled\"");
  assert_contains(wire, "\"reason\":\"the run is being cancelled\"");
  free(wire);
  json_decref(o.result);
}

/* ---- the fake server: pagination, noise, server requests, crashes ---------------- */

static void test_pagination_and_defaults(void **state) {
  (void)state;
  art_spec *spec = load(SPEC(SERVER("fake", FAKE("ok"), ""), "", ANSWER));
  art_mcp_session *mcp = NULL;
  attached_tool(spec, &mcp, "fake.t1");
  const char *names[] = {"fake.t1", "fake.t2", "fake.t3", "fake.t4", "fake.t5", "fake.ask"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    assert_non_null(art_registry_find(art_spec_registry(spec), names[i]));
  const art_tool *t2 = art_registry_find(art_spec_registry(spec), "fake.t2");
  assert_int_equal(art_tool_side_effect(t2), ART_SIDE_WRITE); /* not read-only, not destructive */
  const art_tool *t4 = art_registry_find(art_spec_registry(spec), "fake.t4");
  assert_int_equal(art_tool_side_effect(t4), ART_SIDE_WRITE);
  assert_int_equal(art_tool_side_effect_source(t4), ART_SOURCE_DEFAULT); /* no readOnlyHint */
  const art_tool *t5 = art_registry_find(art_spec_registry(spec), "fake.t5");
  assert_int_equal(art_tool_side_effect_source(t5), ART_SOURCE_DEFAULT);
  art_mcp_session_free(mcp);
  art_spec_free(spec);
}

static void test_server_request_answered_method_not_found(void **state) {
  (void)state;
  outcome o;
  run_spec(SPEC(SERVER("fake", FAKE("ok"), ""), "",
                TOOL("fake.t1", "{}") ", " TOOL("fake.ask", "{}") ", " ANSWER),
           &o);
  expect_stop(&o, ART_STOP_SUCCESS, "answered");
  char *obs = observations_text(&o);
  assert_contains(obs, "fake.t1 ok: called t1"); /* the log message before it was ignored */
  assert_contains(obs, "client answered error -32601");
  free(obs);
  json_decref(o.result);
}

/* A server's ping gets the empty result the MCP spec asks for. */
static void test_server_ping_answered(void **state) {
  (void)state;
  outcome o;
  run_spec(SPEC(SERVER("fake", FAKE("ok"), ""), "", TOOL("fake.ping", "{}") ", " ANSWER), &o);
  expect_stop(&o, ART_STOP_SUCCESS, "answered");
  char *obs = observations_text(&o);
  assert_contains(obs, "client answered a result: {}");
  free(obs);
  json_decref(o.result);
}

static void check_failure(const char *text, const char *detail_part) {
  outcome o;
  run_spec(text, &o);
  expect_stop(&o, ART_STOP_TOOL_FAILURE, detail_part);
  json_decref(o.result);
}

static void test_server_dies_mid_call(void **state) {
  (void)state;
  check_failure(SPEC(SERVER("fake", FAKE("ok"), ""), "", TOOL("fake.die", "{}") ", " ANSWER),
                "mcp server \"fake\": exited with status 7 during tools/call \"die\" (stderr: "
                "fake: dying on purpose)");
}

static void test_server_killed_mid_call(void **state) {
  (void)state;
  check_failure(SPEC(SERVER("fake", FAKE("ok"), ""), "", TOOL("fake.killself", "{}") ", " ANSWER),
                "mcp server \"fake\": killed by signal 9 during tools/call \"killself\"");
}

static void test_garbage_mid_call(void **state) {
  (void)state;
  check_failure(SPEC(SERVER("fake", FAKE("ok"), ""), "", TOOL("fake.garble", "{}") ", " ANSWER),
                "mcp server \"fake\": wrote a line that is not JSON-RPC during tools/call "
                "\"garble\": not JSON:");
}

static void test_garbage_at_initialize(void **state) {
  (void)state;
  check_failure(SPEC(SERVER("fake", FAKE("garbage"), ""), "", ANSWER),
                "mcp server \"fake\": wrote a line that is not JSON-RPC during initialize: not "
                "JSON: ");
}

static void test_hang_at_initialize(void **state) {
  (void)state;
  check_failure(
      SPEC("{\"name\": \"fake\", \"command\": [" FAKE("hang") "], \"init_timeout_ms\": 300}", "",
           ANSWER),
      "mcp server \"fake\": no answer to initialize within 300 ms");
}

static void test_exit_at_initialize(void **state) {
  (void)state;
  check_failure(SPEC(SERVER("fake", FAKE("exit-init"), ""), "", ANSWER),
                "mcp server \"fake\": exited with status 3 during initialize (stderr: fake: "
                "refusing to initialize)");
}

static void test_unsupported_protocol_version(void **state) {
  (void)state;
  check_failure(SPEC(SERVER("fake", FAKE("old-version"), ""), "", ANSWER),
                "initialize: the server speaks protocol version \"2023-01-01\"");
}

static void test_server_fails_to_start(void **state) {
  (void)state;
  check_failure(SPEC(SERVER("nope", "\"" IT_DIR "/no-such-server\"", ""), "", ANSWER),
                "mcp server \"nope\": cannot run \"" IT_DIR
                "/no-such-server\": No such file or directory");
}

static void test_override_of_a_missing_tool(void **state) {
  (void)state;
  art_spec *spec =
      load(SPEC(SERVER("fake", FAKE("ok"), ", \"tools\": {\"t9\": {\"side_effect\": \"read\"}}"),
                "", ANSWER));
  art_mcp_session *mcp = NULL;
  art_error err = {0};
  int fds = tu_count_fds();
  assert_int_equal(art_mcp_attach(&mcp, spec, NULL, &err), ART_ESPEC);
  assert_null(mcp);
  assert_contains(err.message, "$.mcp_servers[0].tools.t9: server \"fake\" has no tool \"t9\"");
  assert_int_equal(tu_count_fds(), fds);
  tu_assert_no_children();
  art_spec_free(spec);
}

/* ---- server-filesystem, through the agentrt command --------------------------------- */

typedef struct cli_out {
  int status;
  char *out, *err;
} cli_out;

static void fs_run(const char *policy, const char *decision, cli_out *r) {
  char *text;
  const char *dir = tu_path("files");
  mkdir(dir, 0755);
  tu_write("files/notes.txt", "meeting at noon\n");
  if (asprintf(
          &text,
          SPEC("{\"name\": \"fs\", \"command\": [" FILESYSTEM ", \"%s\"]}", "%s", "%s, " ANSWER),
          dir, policy, decision) < 0)
    fail();
  tu_write("fs.json", text);
  free(text);
  unlink(tu_path("agentrt.db"));
  r->status = tu_cli(&r->out, &r->err, "run", "fs.json", NULL);
}

static void cli_out_free(cli_out *r) {
  free(r->out);
  free(r->err);
}

static char *in_dir(const char *fmt) {
  char *s;
  if (asprintf(&s, fmt, tu_path("files")) < 0) fail();
  return s;
}

static void test_filesystem_read(void **state) {
  (void)state;
  cli_out r;
  char *decision = in_dir(TOOL("fs.read_text_file", "{\"path\": \"%s/notes.txt\"}"));
  fs_run("", decision, &r);
  assert_int_equal(r.status, 0);
  assert_contains(r.out, "success (answered)");
  assert_contains(r.out, "fs.read_text_file ok: meeting at noon");
  free(decision);
  cli_out_free(&r);
}

static void test_filesystem_write_needs_approval(void **state) {
  (void)state;
  cli_out r;
  char *decision =
      in_dir(TOOL("fs.write_file", "{\"path\": \"%s/out.txt\", \"content\": \"written\"}"));
  fs_run("", decision, &r);
  assert_int_equal(r.status, 3);
  assert_contains(r.out, "approval_required (default: write requires approval)");
  assert_null(tu_read(tu_path("files/out.txt")));
  free(decision);
  cli_out_free(&r);
}

static void test_filesystem_write_allowed(void **state) {
  (void)state;
  cli_out r;
  char *decision =
      in_dir(TOOL("fs.write_file", "{\"path\": \"%s/out.txt\", \"content\": \"written\"}"));
  fs_run("\"policy\": {\"rules\": [{\"when\": {\"tool\": \"fs.write_file\"}, \"effect\": "
         "\"allow\", \"reason\": \"notes may be written\"}]}, ",
         decision, &r);
  assert_int_equal(r.status, 0);
  char *written = tu_read(tu_path("files/out.txt"));
  assert_string_equal(written, "written");
  free(written);
  free(decision);
  cli_out_free(&r);
}

static void test_filesystem_outside_the_directory(void **state) {
  (void)state;
  cli_out r;
  fs_run("", TOOL("fs.read_text_file", "{\"path\": \"/etc/hostname\"}"), &r);
  assert_int_equal(r.status, 1);
  assert_contains(r.out, "tool_failure (Access denied - path outside allowed directories");
  cli_out_free(&r);
}

static void test_filesystem_resume_after_approval(void **state) {
  (void)state;
  cli_out r, a, b;
  char *decision =
      in_dir(TOOL("fs.write_file", "{\"path\": \"%s/later.txt\", \"content\": \"approved\"}"));
  fs_run("", decision, &r);
  assert_int_equal(r.status, 3);
  const char *cmd = strstr(r.out, "agentrt approve ");
  assert_non_null(cmd);
  char run_id[64], action[64];
  assert_int_equal(sscanf(cmd, "agentrt approve %63s %63s", run_id, action), 2);
  a.status = tu_cli(&a.out, &a.err, "approve", run_id, action, "--reviewer", "lead", NULL);
  assert_int_equal(a.status, 0);
  b.status = tu_cli(&b.out, &b.err, "resume", run_id, NULL);
  if (b.status != 0) fail_msg("resume: %s\n%s", b.out, b.err);
  char *written = tu_read(tu_path("files/later.txt"));
  assert_string_equal(written, "approved");
  free(written);
  free(decision);
  cli_out_free(&r);
  cli_out_free(&a);
  cli_out_free(&b);
}

static void test_tools_list(void **state) {
  (void)state;
  cli_out r;
  char *text = in_dir(SPEC("{\"name\": \"fs\", \"command\": [" FILESYSTEM ", \"%s\"], "
                           "\"tools\": {\"move_file\": {\"side_effect\": \"draft\"}}}",
                           "\"tools\": [\"lookup_policy\"], ", ANSWER));
  mkdir(tu_path("files"), 0755);
  tu_write("list.json", text);
  r.status = tu_cli(&r.out, &r.err, "tools", "list", "list.json", "--json", NULL);
  assert_int_equal(r.status, 0);
  json_error_t jerr;
  json_t *j = json_loads(r.out, 0, &jerr), *tool;
  assert_non_null(j);
  size_t i;
  int seen = 0;
  json_array_foreach(json_object_get(j, "tools"), i, tool) {
    const char *name = json_string_value(json_object_get(tool, "name"));
    const char *side = json_string_value(json_object_get(tool, "side_effect"));
    const char *source = json_string_value(json_object_get(tool, "side_effect_source"));
    const char *effect =
        json_string_value(json_object_get(json_object_get(tool, "policy"), "effect"));
    if (strcmp(name, "fs.write_file") == 0)
      seen++, assert_string_equal(side, "write"), assert_string_equal(source, "annotation"),
          assert_string_equal(effect, "approval_required");
    if (strcmp(name, "fs.read_text_file") == 0)
      seen++, assert_string_equal(side, "read"), assert_string_equal(effect, "allow"),
          assert_non_null(json_object_get(tool, "input_schema"));
    if (strcmp(name, "fs.move_file") == 0)
      seen++, assert_string_equal(side, "draft"), assert_string_equal(source, "override");
    if (strcmp(name, "lookup_policy") == 0) seen++, assert_string_equal(source, "declared");
  }
  assert_int_equal(seen, 4);
  json_decref(j);
  cli_out_free(&r);
  r.status = tu_cli(&r.out, &r.err, "tools", "list", "list.json", NULL);
  assert_int_equal(r.status, 0);
  assert_contains(r.out, "mcp server fs: protocol 2025-11-25");
  assert_contains(r.out, "fs.write_file");
  cli_out_free(&r);
  free(text);
}

/* Options of another version are refused before any server starts. */
static void test_options_of_another_version_are_refused(void **state) {
  (void)state;
  art_spec *spec = load("{\"goal\":\"g\",\"mcp_servers\":[{\"name\":\"e\",\"command\":["
                        EVERYTHING "]}],\"model\":{\"type\":\"scripted\",\"decisions\":[]}}");
  art_mcp_options opts = ART_MCP_OPTIONS_INIT;
  opts.version = ART_MCP_OPTIONS_VERSION + 1;
  art_mcp_session *mcp = NULL;
  art_error err = {0};
  assert_int_equal(art_mcp_attach(&mcp, spec, &opts, &err), ART_EINVAL);
  assert_null(mcp);
  assert_string_equal(err.message, "mcp options version 2 is not supported (expected 1)");
  assert_int_equal(art_registry_count(art_spec_registry(spec)), 0);
  art_spec_free(spec);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_options_of_another_version_are_refused),
      cmocka_unit_test(test_everything_echo_add_annotated),
      cmocka_unit_test(test_everything_input_checked_before_the_call),
      cmocka_unit_test(test_everything_side_effects),
      cmocka_unit_test(test_everything_timeout_cancels),
      cmocka_unit_test(test_everything_cancel_during_a_call),
      cmocka_unit_test(test_pagination_and_defaults),
      cmocka_unit_test(test_server_request_answered_method_not_found),
      cmocka_unit_test(test_server_ping_answered),
      cmocka_unit_test(test_server_dies_mid_call),
      cmocka_unit_test(test_server_killed_mid_call),
      cmocka_unit_test(test_garbage_mid_call),
      cmocka_unit_test(test_garbage_at_initialize),
      cmocka_unit_test(test_hang_at_initialize),
      cmocka_unit_test(test_exit_at_initialize),
      cmocka_unit_test(test_unsupported_protocol_version),
      cmocka_unit_test(test_server_fails_to_start),
      cmocka_unit_test(test_override_of_a_missing_tool),
      cmocka_unit_test(test_filesystem_read),
      cmocka_unit_test(test_filesystem_write_needs_approval),
      cmocka_unit_test(test_filesystem_write_allowed),
      cmocka_unit_test(test_filesystem_outside_the_directory),
      cmocka_unit_test(test_filesystem_resume_after_approval),
      cmocka_unit_test(test_tools_list),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
