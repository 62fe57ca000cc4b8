/* The agentrt command, run as a real process in the test directory: help and
 * usage errors, the demo (table, --json, --trace), `run` exit codes and side
 * effects, and `eval` reports, JUnit files and suite file errors. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/text.h"
#include "testutil.h"

/* ---- spec and suite texts ----------------------------------------------------- */

#define ANSWER "{\"type\": \"answer\", \"text\": \"done\"}"
#define TOOL_CALL(name, input) "{\"type\": \"tool\", \"name\": \"" name "\", \"input\": " input "}"
#define MESSAGE "{\"to\": \"customer@example.com\", \"body\": \"Your refund is on its way.\"}"
#define SPEC(members, tools, decisions)                                                            \
  "{\"goal\": \"test the cli\", " members "\"tools\": [" tools "], "                               \
  "\"model\": {\"type\": \"scripted\", \"decisions\": [" decisions "]}}"

/* lookup_policy, then answer: success. */
#define READ_SPEC                                                                                  \
  SPEC("", "\"lookup_policy\"", TOOL_CALL("lookup_policy", "{\"task\": \"t\"}") ", " ANSWER)
/* send_message under the default policy: paused approval_required. */
#define SEND_SPEC SPEC("", "\"send_message\"", TOOL_CALL("send_message", MESSAGE) ", " ANSWER)
/* send_message under a policy that allows it: the message is sent. */
#define PERMISSIVE_SEND_SPEC                                                                       \
  SPEC("\"outbox\": \"eval-outbox.jsonl\", \"policy\": {\"rules\": [{\"when\": {\"tool\": "        \
       "\"send_message\"}, \"effect\": \"allow\", \"reason\": \"test\"}]}, ",                      \
       "\"send_message\"", TOOL_CALL("send_message", MESSAGE) ", " ANSWER)
#define FLAKY_SPEC SPEC("", "\"flaky_lookup\"", TOOL_CALL("flaky_lookup", "{}") ", " ANSWER)

#define DEMO_ANSWER "Policy was checked and the draft can be prepared safely."
#define DEMO_EVENTS 10

/* ---- running the command -------------------------------------------------------- */

typedef struct cli_output {
  int status;
  char *out;
  char *err;
} cli_output;

#define RUN_CLI(r, ...) ((r)->status = tu_cli(&(r)->out, &(r)->err, __VA_ARGS__, NULL))

static void cli_output_free(cli_output *r) {
  free(r->out);
  free(r->err);
}

static void assert_exit(const cli_output *r, int status) {
  if (r->status != status)
    fail_msg("exit status %d, expected %d\n--- stdout:\n%s\n--- stderr:\n%s", r->status, status,
             r->out, r->err);
}

static void assert_contains(const char *text, const char *part) {
  if (!text || !strstr(text, part))
    fail_msg("expected \"%s\" in:\n%s", part, text ? text : "(null)");
}

/* A file the command refused: exit 2, `message` on stderr, nothing on stdout. */
static void assert_file_refused(const cli_output *r, const char *message) {
  assert_exit(r, 2);
  assert_contains(r->err, message);
  assert_string_equal(r->out, "");
}

/* `first` occurs in text, and `then` after it. */
static void assert_in_order(const char *text, const char *first, const char *then) {
  assert_contains(text, first);
  assert_contains(strstr(text, first) + strlen(first), then);
}

static void assert_no_file(const char *name) {
  char *text = tu_read(tu_path(name));
  if (text) {
    free(text);
    fail_msg("%s should not exist", name);
  }
}

static size_t count_occurrences(const char *text, const char *part) {
  size_t n = 0;
  for (const char *at = strstr(text, part); at; at = strstr(at + 1, part)) n++;
  return n;
}

/* ---- JSON output ------------------------------------------------------------------ */

/* The whole of `text` as one JSON object (trailing garbage fails). */
static json_t *parse_object(const char *text) {
  json_error_t jerr;
  json_t *json = json_loads(text, 0, &jerr);
  if (!json_is_object(json)) fail_msg("not one JSON object (%s):\n%s", jerr.text, text);
  return json;
}

/* Every line of the file parsed as a JSON object, in an array. */
static json_t *parse_jsonl_file(const char *name) {
  char *text = tu_read(tu_path(name));
  if (!text) fail_msg("%s was not written", name);
  json_t *lines = json_array();
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
    json_array_append_new(lines, parse_object(line));
  free(text);
  return lines;
}

static void assert_json_string(const json_t *obj, const char *key, const char *want) {
  const char *got = json_string_value(json_object_get(obj, key));
  if (!got || strcmp(got, want) != 0)
    fail_msg("\"%s\" is \"%s\", expected \"%s\"", key, got ? got : "(not a string)", want);
}

static void assert_json_int(const json_t *obj, const char *key, json_int_t want) {
  const json_t *v = json_object_get(obj, key);
  if (!json_is_integer(v) || json_integer_value(v) != want)
    fail_msg("\"%s\" is not the integer %lld", key, (long long)want);
}

static void assert_trace_event(const json_t *ev, const char *run_id, json_int_t seq) {
  static const char *const keys[] = {"run_id", "seq", "type", "ts_us", "latency_us", "span_id"};
  for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
    if (!json_object_get(ev, keys[k]))
      fail_msg("trace event %lld has no \"%s\"", (long long)seq, keys[k]);
  assert_json_string(ev, "run_id", run_id);
  assert_json_int(ev, "seq", seq);
  assert_true(json_is_string(json_object_get(ev, "type")));
  assert_true(json_is_integer(json_object_get(ev, "ts_us")));
  assert_true(json_is_integer(json_object_get(ev, "latency_us")));
  assert_true(json_is_string(json_object_get(ev, "span_id")));
}

/* Events numbered 1..n, each a complete trace event of `run_id`. */
static void assert_trace(const json_t *trace, const char *run_id, size_t n) {
  assert_int_equal(json_array_size(trace), n);
  for (size_t i = 0; i < n; i++)
    assert_trace_event(json_array_get(trace, i), run_id, (json_int_t)i + 1);
}

static json_t *demo_json(void) {
  cli_output r;
  RUN_CLI(&r, "demo", "--json");
  assert_exit(&r, 0);
  json_t *json = parse_object(r.out);
  cli_output_free(&r);
  return json;
}

/* ---- help ---------------------------------------------------------------------------------- */

static void test_help_lists_commands(void **state) {
  (void)state;
  cli_output r;
  RUN_CLI(&r, "--help");
  assert_exit(&r, 0);
  assert_contains(r.out, "usage: agentrt COMMAND");
  assert_contains(r.out, "demo");
  assert_contains(r.out, "run SPEC.json");
  assert_contains(r.out, "eval SUITE.json");
  cli_output_free(&r);
}

/* Every option the help describes ("  --name ...") is in its usage line. */
static void assert_usage_lists_the_options(const char *help) {
  const char *end = strchr(help, '\n');
  for (const char *at = strstr(help, "\n  --"); at; at = strstr(at + 1, "\n  --")) {
    char option[32];
    if (sscanf(at + 3, "%31s", option) != 1) continue;
    const char *in_usage = strstr(help, option);
    if (!in_usage || in_usage > end) fail_msg("%s is not in the usage line:\n%s", option, help);
  }
}

static void test_subcommand_help(void **state) {
  (void)state;
  static const char *const commands[] = {"demo", "run", "eval"};
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
    char usage[64];
    cli_output r;
    RUN_CLI(&r, commands[i], "--help");
    assert_exit(&r, 0);
    snprintf(usage, sizeof usage, "usage: agentrt %s", commands[i]);
    assert_contains(r.out, usage);
    assert_usage_lists_the_options(r.out);
    assert_string_equal(r.err, "");
    cli_output_free(&r);
  }
}

/* The README gives eval's usage line as --help does. */
static void test_readme_has_the_eval_usage(void **state) {
  (void)state;
  cli_output r;
  RUN_CLI(&r, "eval", "--help");
  char *readme = tu_read(AGENTRT_SOURCE_DIR "/README.md");
  *strchr(r.out, '\n') = '\0';
  char line[256];
  snprintf(line, sizeof line, "`%s`", r.out + strlen("usage: "));
  assert_contains(readme, line);
  free(readme);
  cli_output_free(&r);
}

static void test_version(void **state) {
  (void)state;
  cli_output r;
  RUN_CLI(&r, "--version");
  assert_exit(&r, 0);
  assert_contains(r.out, "agentrt ");
  cli_output_free(&r);
}

/* ---- usage errors, one table row each ---------------------------------------------- */

typedef struct usage_error_case {
  const char *args[4]; /* up to the first NULL */
  const char *message; /* expected on stderr, before the usage */
} usage_error_case;

/* Exit 2, the message and the usage on stderr, nothing on stdout. */
static void test_usage_error_case(void **state) {
  const usage_error_case *c = *state;
  cli_output r;
  r.status = tu_cli(&r.out, &r.err, c->args[0], c->args[1], c->args[2], c->args[3], NULL);
  assert_exit(&r, 2);
  assert_in_order(r.err, c->message, "usage: agentrt");
  assert_string_equal(r.out, "");
  cli_output_free(&r);
}

#define USAGE_ERROR(title, message, ...)                                                           \
  {                                                                                                \
    "usage error: " title, test_usage_error_case, NULL, NULL, &(usage_error_case) {                \
      {__VA_ARGS__}, message                                                                       \
    }                                                                                              \
  }

/* ---- demo ------------------------------------------------------------------------ */

static void test_demo_table(void **state) {
  (void)state;
  cli_output r;
  RUN_CLI(&r, "demo");
  assert_exit(&r, 0);
  assert_contains(r.out, "run demo_001: success");
  assert_contains(r.out, "answer: " DEMO_ANSWER);
  assert_in_order(r.out, "trace:", "run_started");
  assert_in_order(r.out, "run_started", "lookup_policy call 1 (read)");
  assert_in_order(r.out, "lookup_policy call 1 (read)", "stop");
  assert_in_order(r.out, "eval:", "demo-policy-read");
  assert_in_order(r.out, "demo-policy-read", "PASS");
  assert_contains(r.out, "1 passed, 0 failed");
  assert_string_equal(r.err, "");
  cli_output_free(&r);
}

static void test_demo_json(void **state) {
  (void)state;
  json_t *demo = demo_json();
  assert_json_string(demo, "run_id", "demo_001");
  assert_json_string(demo, "stop_reason", "success");
  assert_json_int(demo, "steps", 2);
  assert_json_string(demo, "answer", DEMO_ANSWER);
  const json_t *tools = json_object_get(demo, "tools_called");
  assert_int_equal(json_array_size(tools), 1);
  assert_string_equal(json_string_value(json_array_get(tools, 0)), "lookup_policy");
  const json_t *observations = json_object_get(demo, "observations");
  assert_int_equal(json_array_size(observations), 1);
  assert_json_string(json_array_get(observations, 0), "id", "obs_1");
  assert_trace(json_object_get(demo, "trace"), "demo_001", DEMO_EVENTS);
  assert_json_string(json_array_get(json_object_get(demo, "trace"), 0), "type", "run_started");
  assert_json_string(json_array_get(json_object_get(demo, "trace"), DEMO_EVENTS - 1), "type",
                     "stop");
  const json_t *eval_case =
      json_array_get(json_object_get(json_object_get(demo, "eval"), "cases"), 0);
  assert_json_string(eval_case, "name", "demo-policy-read");
  assert_true(json_is_true(json_object_get(eval_case, "passed")));
  json_decref(demo);
}

static void test_demo_trace_file(void **state) {
  (void)state;
  cli_output r;
  RUN_CLI(&r, "demo", "--trace", "demo-trace.jsonl");
  assert_exit(&r, 0);
  cli_output_free(&r);
  json_t *lines = parse_jsonl_file("demo-trace.jsonl");
  json_t *demo = demo_json();
  assert_int_equal(tu_count_lines(tu_path("demo-trace.jsonl")), DEMO_EVENTS);
  assert_int_equal(json_array_size(lines), json_array_size(json_object_get(demo, "trace")));
  assert_trace(lines, "demo_001", DEMO_EVENTS);
  json_decref(demo);
  json_decref(lines);
}

/* ---- run ----------------------------------------------------------------------------- */

static void test_run_success_json_and_trace(void **state) {
  (void)state;
  cli_output r;
  tu_write("read.json", READ_SPEC);
  RUN_CLI(&r, "run", "read.json", "--json", "--trace=read-trace.jsonl");
  assert_exit(&r, 0);
  json_t *result = parse_object(r.out);
  json_t *lines = parse_jsonl_file("read-trace.jsonl");
  assert_json_string(result, "stop_reason", "success");
  assert_json_string(result, "answer", "done");
  assert_int_equal(json_array_size(lines), json_array_size(json_object_get(result, "trace")));
  assert_trace(lines, json_string_value(json_object_get(result, "run_id")), json_array_size(lines));
  json_decref(lines);
  json_decref(result);
  cli_output_free(&r);
}

/* `agentrt run FILE` of `spec` exits `status` and prints both parts. */
static void expect_run(const char *file, const char *spec, int status, const char *part,
                       const char *other_part) {
  cli_output r;
  tu_write(file, spec);
  RUN_CLI(&r, "run", file);
  assert_exit(&r, status);
  assert_contains(r.out, part);
  assert_contains(r.out, other_part);
  cli_output_free(&r);
}

/* The table shortens long details between characters: the output stays UTF-8. */
static void test_run_table_cuts_between_characters(void **state) {
  (void)state;
  char goal[301] = "", spec[1024]; /* 60 three-byte and 60 two-byte characters */
  for (int i = 0; i < 120; i++) strcat(goal, i % 2 ? "\xc3\xa9" : "\xe2\x82\xac");
  snprintf(spec, sizeof spec,
           "{\"goal\": \"%s\", \"model\": {\"type\": \"scripted\", \"decisions\": "
           "[{\"type\": \"answer\", \"text\": \"%s\"}]}}",
           goal, goal);
  cli_output r;
  tu_write("utf8.json", spec);
  RUN_CLI(&r, "run", "utf8.json", "--store", "utf8.db");
  assert_exit(&r, 0);
  assert_contains(r.out, "goal \"\xe2\x82\xac\xc3\xa9");
  assert_contains(r.out, "...");
  if (!art_utf8_valid(r.out, strlen(r.out))) fail_msg("not UTF-8:\n%s", r.out);
  cli_output_free(&r);
}

/* A command model's runs are labelled by what they came to, with their usage. */
static void test_run_command_model_calls(void **state) {
  (void)state;
  cli_output r;
  tu_write(
      "command-model.json",
      "{\"goal\": \"g\", \"model\": {\"type\": \"command\", \"command\": [\"" AGENTRT_SOURCE_DIR
      "/tests/unit/tools/print.sh\", \"{\\\"type\\\": \\\"answer\\\", \\\"text\\\": "
      "\\\"hi\\\", \\\"usage\\\": {\\\"prompt_tokens\\\": 12, \\\"completion_tokens\\\": "
      "3}}\"]}}");
  RUN_CLI(&r, "run", "command-model.json", "--store", "command-model.db");
  assert_exit(&r, 0);
  assert_contains(r.out, "model_call");
  assert_contains(r.out, "attempt 1: command exit 0");
  assert_null(strstr(r.out, "no response"));
  cli_output_free(&r);
  RUN_CLI(&r, "run", "command-model.json", "--store", "command-model.db", "--trace",
          "command-model.jsonl");
  assert_exit(&r, 0);
  cli_output_free(&r);
  char *trace = tu_read(tu_path("command-model.jsonl"));
  assert_contains(trace, "\"outcome\":\"command exit 0\"");
  assert_contains(trace, "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3}");
  free(trace);
}

/* A bad spec runs nothing: no output, no trace file, no outbox. */
static void test_run_spec_error(void **state) {
  (void)state;
  cli_output r;
  tu_write("bad-spec.json", SPEC("", "\"lookup_policy\", \"lookup_polcy\"", ANSWER));
  RUN_CLI(&r, "run", "bad-spec.json", "--trace", "bad-trace.jsonl", "--outbox", "bad-outbox.jsonl");
  assert_exit(&r, 2);
  assert_contains(r.err, "bad-spec.json: $.tools[1]: unknown built-in tool \"lookup_polcy\"");
  assert_string_equal(r.out, "");
  assert_no_file("bad-trace.jsonl");
  assert_no_file("bad-outbox.jsonl");
  cli_output_free(&r);
}

/* A directory is neither a spec nor a suite. */
static void test_directory_given_as_a_file(void **state) {
  (void)state;
  static const char *const commands[] = {"run", "eval"};
  assert_true(mkdir(tu_path("specs"), 0700) == 0 || errno == EEXIST);
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
    cli_output r;
    RUN_CLI(&r, commands[i], "specs/");
    assert_file_refused(&r, "agentrt: specs/: is a directory, not a JSON file");
    cli_output_free(&r);
  }
}

/* A relative argv[0] of a spec in the working directory prints as written. */
static void test_run_prints_relative_commands_as_written(void **state) {
  (void)state;
  cli_output r;
  tu_write("missing-tool.json",
           SPEC("",
                "{\"name\": \"t\", \"side_effect\": \"read\", \"command\": [\"./bin/missing\"]}",
                TOOL_CALL("t", "{}") ", " ANSWER));
  RUN_CLI(&r, "run", "missing-tool.json", "--store", "missing-tool.db");
  assert_exit(&r, 1);
  assert_contains(r.out, "cannot run \"./bin/missing\"");
  assert_null(strstr(r.out, "././"));
  cli_output_free(&r);
}

/* The step of the first event of `type` in a JSONL trace, or -1. */
static int step_of(const char *trace, const char *type) {
  for (const char *line = trace; line && *line;
       line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
    json_t *ev = json_loadb(line, strcspn(line, "\n"), 0, NULL);
    int step = ev && strcmp(json_string_value(json_object_get(ev, "type")), type) == 0
                   ? (int)json_integer_value(json_object_get(ev, "step"))
                   : -1;
    json_decref(ev);
    if (step >= 0) return step;
  }
  return -1;
}

/* A server that cannot start stops the run in the step whose context was built. */
static void test_run_set_up_failure_stops_in_step_1(void **state) {
  (void)state;
  cli_output r;
  tu_write("no-server.json",
           "{\"goal\": \"g\", \"mcp_servers\": [{\"name\": \"fs\", \"command\": "
           "[\"/nonexistent/server\"]}], \"model\": {\"type\": \"scripted\", \"decisions\": "
           "[" ANSWER "]}}");
  RUN_CLI(&r, "run", "no-server.json", "--store", "no-server.db", "--trace", "no-server.jsonl");
  assert_exit(&r, 1);
  assert_contains(r.out, "tool_failure");
  cli_output_free(&r);
  char *trace = tu_read(tu_path("no-server.jsonl"));
  assert_int_equal(step_of(trace, "context_built"), 1);
  assert_int_equal(step_of(trace, "stop"), 1);
  free(trace);
}

/* A misspelled decision type is a mistake in the spec, found before anything runs. */
static void test_run_misspelled_decision_type(void **state) {
  (void)state;
  cli_output r;
  tu_write("anwser.json",
           SPEC("", "\"lookup_policy\"", "{\"type\": \"anwser\", \"text\": \"hi\"}"));
  RUN_CLI(&r, "run", "anwser.json", "--store", "anwser.db");
  assert_file_refused(&r, "anwser.json: $.model.decisions[0].type: expected one of answer, tool, "
                          "ask_human, stop");
  cli_output_free(&r);
}

static void test_run_missing_spec_file(void **state) {
  (void)state;
  cli_output r;
  RUN_CLI(&r, "run", "no-such-spec.json");
  assert_exit(&r, 2);
  assert_contains(r.err, "no-such-spec.json");
  assert_string_equal(r.out, "");
  cli_output_free(&r);
}

/* A write under the default policy pauses the run before the tool runs. */
static void test_run_approval_required(void **state) {
  (void)state;
  cli_output r;
  expect_run("send.json", SEND_SPEC, 3, "approval_required", "send_message: approval_required");
  assert_no_file("outbox.jsonl");
  RUN_CLI(&r, "run", "send.json", "--outbox", "approval-outbox.jsonl", "--json");
  assert_exit(&r, 3);
  json_t *result = parse_object(r.out);
  assert_json_string(result, "stop_reason", "approval_required");
  assert_int_equal(json_array_size(json_object_get(result, "tools_called")), 0);
  assert_no_file("approval-outbox.jsonl");
  json_decref(result);
  cli_output_free(&r);
}

static void test_run_tool_failure(void **state) {
  (void)state;
  expect_run("flaky.json", FLAKY_SPEC, 1, "tool_failure", "flaky_lookup error: upstream_timeout");
}

static void test_run_unwritable_trace(void **state) {
  (void)state;
  cli_output r;
  tu_write("read.json", READ_SPEC);
  RUN_CLI(&r, "run", "read.json", "--trace", "/nonexistent-dir/x.jsonl");
  assert_exit(&r, 2);
  assert_contains(r.err, "cannot write trace file /nonexistent-dir/x.jsonl");
  assert_contains(r.err, strerror(ENOENT));
  assert_string_equal(r.out, "");
  cli_output_free(&r);
}

/* ---- eval ------------------------------------------------------------------------------ */

#define CASE(name, agent, expect)                                                                  \
  "{\"name\": \"" name "\", \"agent\": " agent ", \"expect\": " expect "}"
#define SUITE(cases) "{\"name\": \"cli-suite\", \"cases\": [" cases "]}"
#define READS_POLICY_CASE                                                                          \
  CASE("reads-policy", READ_SPEC,                                                                  \
       "{\"stop_reason\": \"success\", \"tools_called\": [\"lookup_policy\"]}")

/* ---- several specs at once: agentrt run A B ... --jobs N ---- */

/* The types of a trace's events, one string. */
static char *event_types(const json_t *trace) {
  char buf[1024] = "";
  size_t i;
  json_t *ev;
  json_array_foreach(trace, i, ev) {
    strncat(buf, json_string_value(json_object_get(ev, "type")), sizeof buf - strlen(buf) - 2);
    strncat(buf, " ", sizeof buf - strlen(buf) - 1);
  }
  return strdup(buf);
}

/* What `agentrt run FILE --json` alone records for a spec. */
static char *alone_event_types(const char *file) {
  cli_output r;
  RUN_CLI(&r, "run", file, "--json", "--store", "alone.db");
  json_t *result = parse_object(r.out);
  char *types = event_types(json_object_get(result, "trace"));
  json_decref(result);
  cli_output_free(&r);
  return types;
}

/* Three specs on one loop, two at a time: one JSON line each in the order
 * given, the exit code of the worst (tool_failure over a pause), and each
 * run's journal in the store the one the run alone gives. */
static void test_run_several_specs_at_once(void **state) {
  (void)state;
  cli_output r;
  const char *files[] = {"many-read.json", "many-send.json", "many-flaky.json"};
  const char *stops[] = {"success", "approval_required", "tool_failure"};
  tu_write(files[0], READ_SPEC);
  tu_write(files[1], SEND_SPEC);
  tu_write(files[2], FLAKY_SPEC);
  RUN_CLI(&r, "run", files[0], files[1], files[2], "--jobs", "2", "--json", "--store", "many.db");
  assert_exit(&r, 1);
  assert_int_equal(count_occurrences(r.out, "\n"), 3);
  char *line = r.out;
  for (int i = 0; i < 3; i++) {
    char *end = strchr(line, '\n');
    *end = '\0';
    json_t *got = parse_object(line);
    assert_json_string(got, "spec", files[i]);
    assert_json_string(got, "stop_reason", stops[i]);
    cli_output shown;
    RUN_CLI(&shown, "runs", "show", json_string_value(json_object_get(got, "run_id")), "--json",
            "--store", "many.db");
    json_t *stored = parse_object(shown.out);
    char *types = event_types(json_object_get(stored, "trace")),
         *alone = alone_event_types(files[i]);
    assert_string_equal(types, alone);
    free(types), free(alone);
    json_decref(stored), json_decref(got);
    cli_output_free(&shown);
    line = end + 1;
  }
  cli_output_free(&r);
  RUN_CLI(&r, "run", files[0], files[1], "--store", "many.db");
  assert_exit(&r, 3);
  assert_in_order(r.out, "success  2 steps  many-read.json",
                  "approval_required  1 step  many-send.json");
  cli_output_free(&r);
}

/* A spec whose one tool is a command. */
#define COMMAND_SPEC                                                                               \
  SPEC("",                                                                                         \
       "{\"name\": \"probe\", \"side_effect\": \"read\", \"command\": [\"/bin/sh\", "              \
       "\"-c\", \"cat >/dev/null; echo '{\\\"n\\\": 1}'\"]}",                                      \
       TOOL_CALL("probe", "{}") ", " ANSWER)

/* Two runs with command tools, one child process at a time: both succeed. */
static void test_run_several_one_process_at_a_time(void **state) {
  (void)state;
  cli_output r;
  tu_write("cmd-a.json", COMMAND_SPEC);
  tu_write("cmd-b.json", COMMAND_SPEC);
  RUN_CLI(&r, "run", "--jobs", "4", "--max-procs", "1", "cmd-a.json", "cmd-b.json", "--store",
          "procs.db");
  assert_exit(&r, 0);
  assert_in_order(r.out, "success  2 steps  cmd-a.json", "success  2 steps  cmd-b.json");
  cli_output_free(&r);
}

/* A mistake in one spec runs none of them; --trace takes one spec. */
static void test_run_several_refused_whole(void **state) {
  (void)state;
  cli_output r;
  tu_write("whole-read.json", READ_SPEC);
  tu_write("whole-bad.json", "{\"goal\": \"g\"}");
  RUN_CLI(&r, "run", "whole-read.json", "whole-bad.json", "--store", "whole.db");
  assert_exit(&r, 2);
  assert_contains(r.err, "whole-bad.json");
  assert_string_equal(r.out, "");
  assert_no_file("whole.db");
  cli_output_free(&r);
  RUN_CLI(&r, "run", "whole-read.json", "whole-read.json", "--trace", "t.jsonl");
  assert_exit(&r, 2);
  assert_contains(r.err, "--trace takes one spec");
  assert_no_file("t.jsonl");
  cli_output_free(&r);
}

static void test_eval_failing_case_and_junit(void **state) {
  (void)state;
  cli_output r;
  tu_write("mixed.eval.json",
           SUITE(READS_POLICY_CASE ", " CASE("sends-anyway", PERMISSIVE_SEND_SPEC,
                                             "{\"tools_not_called\": [\"send_message\"]}")));
  RUN_CLI(&r, "eval", "mixed.eval.json", "--junit", "out.xml");
  assert_exit(&r, 1);
  assert_in_order(r.out, "reads-policy", "PASS");
  assert_in_order(r.out, "sends-anyway", "FAIL");
  assert_contains(r.out, "forbidden tool was called: send_message");
  assert_contains(r.out, "1 passed, 1 failed");
  assert_int_equal(tu_count_lines(tu_path("eval-outbox.jsonl")), 1); /* the allowed send ran */
  cli_output_free(&r);

  char *xml = tu_read(tu_path("out.xml"));
  assert_non_null(xml);
  assert_true(strncmp(xml, "<?xml version=\"1.0\"", 19) == 0);
  assert_contains(xml, "<testsuite name=\"cli-suite\" tests=\"2\" failures=\"1\">");
  assert_contains(xml, "<failure message=\"forbidden tool was called: send_message\"/>");
  assert_int_equal(count_occurrences(xml, "<testcase "), 2);
  assert_int_equal(count_occurrences(xml, "</testcase>"), 2);
  assert_int_equal(count_occurrences(xml, "<failure "), 1);
  assert_contains(xml, "</testsuite>\n</testsuites>\n");
  free(xml);
}

static void test_eval_all_cases_pass(void **state) {
  (void)state;
  cli_output r;
  tu_write("pass.eval.json",
           SUITE(READS_POLICY_CASE ", " CASE("send-pauses", SEND_SPEC,
                                             "{\"stop_reason\": \"approval_required\", "
                                             "\"tools_not_called\": [\"send_message\"]}")));
  RUN_CLI(&r, "eval", "pass.eval.json", "--json");
  assert_exit(&r, 0);
  json_t *report = parse_object(r.out);
  assert_json_int(report, "passed", 2);
  assert_json_int(report, "failed", 0);
  json_decref(report);
  cli_output_free(&r);
  RUN_CLI(&r, "eval", "pass.eval.json");
  assert_exit(&r, 0);
  assert_contains(r.out, "2 passed, 0 failed");
  cli_output_free(&r);
}

static void test_eval_demo_example(void **state) {
  (void)state;
  cli_output r;
  RUN_CLI(&r, "eval", AGENTRT_SOURCE_DIR "/examples/demo.eval.json");
  assert_exit(&r, 0);
  assert_in_order(r.out, "demo-policy-read", "PASS");
  cli_output_free(&r);
}

/* --jobs 1 and --jobs 8 write the same JUnit file (times aside); stdout is
 * not a terminal here, so no progress line is printed. */
/* The JUnit file `agentrt eval SUITE --jobs JOBS` writes, its times zeroed. */
static char *junit_with_jobs(const char *suite, const char *jobs, int status) {
  cli_output r;
  RUN_CLI(&r, "eval", suite, "--jobs", jobs, "--junit", "jobs.xml");
  assert_exit(&r, status);
  assert_null(strchr(r.out, '\r'));
  cli_output_free(&r);
  char *xml = tu_read(tu_path("jobs.xml"));
  assert_non_null(xml);
  for (char *t = strstr(xml, "time=\""); t; t = strstr(t + 1, "time=\""))
    for (char *c = t + 6; *c && *c != '"'; c++) *c = '0';
  return xml;
}

static void assert_same_junit(const char *suite, int status) {
  char *one = junit_with_jobs(suite, "1", status), *many = junit_with_jobs(suite, "32", status);
  assert_string_equal(one, many);
  free(one), free(many);
}

/* 100 generated cases of four kinds (success, a pause, a tool failure, a
 * sent message), each expected to succeed, so a half of them fail. */
static const char *generated_suite(void) {
  static const char *const agents[] = {READ_SPEC, SEND_SPEC, FLAKY_SPEC, PERMISSIVE_SEND_SPEC};
  size_t cap = 200000, len = 0;
  char *text = malloc(cap);
  len += (size_t)snprintf(text + len, cap - len, "{\"name\": \"generated\", \"cases\": [");
  for (int i = 0; i < 100; i++)
    len += (size_t)snprintf(text + len, cap - len,
                            "%s{\"name\": \"case-%03d\", \"agent\": %s, \"expect\": "
                            "{\"stop_reason\": \"success\"}}",
                            i ? ", " : "", i, agents[i % 4]);
  snprintf(text + len, cap - len, "]}");
  const char *path = tu_write("generated.eval.json", text);
  free(text);
  return path;
}

/* --jobs 1 and --jobs 32 write the same JUnit file: the examples' suite and a
 * generated one of 100 cases. */
static void test_eval_jobs_same_junit(void **state) {
  (void)state;
  assert_same_junit(AGENTRT_SOURCE_DIR "/examples/demo.eval.json", 0);
  assert_same_junit(generated_suite(), 1);
  char *xml = tu_read(tu_path("jobs.xml"));
  assert_int_equal(count_occurrences(xml, "<testcase "), 100);
  assert_int_equal(count_occurrences(xml, "<failure"), 50);
  free(xml);
}

static void test_eval_unwritable_junit(void **state) {
  (void)state;
  cli_output r;
  tu_write("one.eval.json", SUITE(READS_POLICY_CASE));
  RUN_CLI(&r, "eval", "one.eval.json", "--junit", "/nonexistent-dir/out.xml");
  assert_exit(&r, 2);
  assert_contains(r.err, "/nonexistent-dir/out.xml");
  cli_output_free(&r);
}

/* ---- suite file errors, one table row each ------------------------------------------------ */

typedef struct suite_error_case {
  const char *suite; /* the suite file's text */
  const char *where; /* expected on stderr right after the suite's path; NULL: not checked */
  const char *what;  /* expected on stderr too */
} suite_error_case;

static void test_suite_error_case(void **state) {
  const suite_error_case *c = *state;
  char where[700];
  cli_output r;
  const char *path = tu_write("broken.eval.json", c->suite);
  snprintf(where, sizeof where, "%s%s", path, c->where ? c->where : "");
  RUN_CLI(&r, "eval", path);
  assert_exit(&r, 2);
  if (c->where) assert_contains(r.err, where);
  assert_contains(r.err, c->what);
  assert_string_equal(r.out, "");
  cli_output_free(&r);
}

#define SUITE_ERROR(title, suite, where, what)                                                     \
  {                                                                                                \
    "suite error: " title, test_suite_error_case, NULL, NULL, &(suite_error_case) {                \
      suite, where, what                                                                           \
    }                                                                                              \
  }

/* ---- a PostgreSQL store ------------------------------------------------------------ */

/* --store URL, or AGENTRT_STORE when --store is not given, names the store. */
static void test_postgres_store_by_flag_and_environment(void **state) {
  (void)state;
  cli_output r;
  char url[600];
  snprintf(url, sizeof url, "%s", tu_pg_database("cli_runs"));
  tu_write("pg-send.json", SEND_SPEC);
  RUN_CLI(&r, "run", "pg-send.json", "--store", url);
  assert_exit(&r, 3);
  assert_contains(r.out, url); /* how to carry on names the store */
  cli_output_free(&r);
  setenv("AGENTRT_STORE", url, 1);
  RUN_CLI(&r, "runs", "list");
  assert_exit(&r, 0);
  assert_contains(r.out, "paused");
  cli_output_free(&r);
  RUN_CLI(&r, "runs", "list", "--store", "not-there.db"); /* --store wins */
  assert_file_refused(&r, "no store at not-there.db");
  cli_output_free(&r);
  unsetenv("AGENTRT_STORE");
  assert_no_file("agentrt.db");
}

/* Each refusal exits 2 and names the store, without its password. */
static void test_postgres_store_errors_name_the_store(void **state) {
  (void)state;
  cli_output r;
  RUN_CLI(&r, "runs", "list", "--store", "postgresql://agentrt:s3cret@/nodb?host=/nonexistent");
  assert_file_refused(&r, "cannot connect to store postgresql://agentrt@/nodb?host=/nonexistent");
  assert_null(strstr(r.err, "s3cret"));
  cli_output_free(&r);
  tu_pg_database("cli_denied");
  RUN_CLI(&r, "runs", "list", "--store", tu_pg_url_as("cli_denied", TU_PG_PASSWORD_ROLE ":wr0ng"));
  assert_file_refused(&r, "password authentication failed");
  assert_null(strstr(r.err, "wr0ng"));
  cli_output_free(&r);
  tu_write("pg-read.json", READ_SPEC);
  RUN_CLI(&r, "readiness", "pg-read.json", "--store",
          "postgresql://agentrt:s3cret@db.example/runs");
  assert_contains(r.out, "PostgreSQL store postgresql://agentrt@db.example/runs (agentrt makes");
  assert_contains(r.out, "the journal in PostgreSQL store postgresql://agentrt@db.example/runs");
  assert_null(strstr(r.out, "s3cret"));
  cli_output_free(&r);
  RUN_CLI(&r, "run", "pg-read.json", "--store", tu_pg_url_as("cli_denied", "agentrt_connect"));
  assert_file_refused(&r, "cannot create the agentrt schema agentrt in store postgresql://"
                          "agentrt_connect@/cli_denied");
  cli_output_free(&r);
}

/* The message of a --json error on stdout, having checked its code. */
static char *json_error_message(const cli_output *r, const char *code) {
  json_t *j = parse_object(r->out), *e = json_object_get(j, "error");
  assert_json_string(e, "code", code);
  char *message = strdup(json_string_value(json_object_get(e, "message")));
  json_decref(j);
  return message;
}

/* Nothing of the store was made in database `db`: no agentrt schema, or an
 * empty one. */
static void assert_no_store_in(const char *db) {
  tu_pg_exec(tu_pg_url(db), "DO $$BEGIN IF EXISTS(SELECT 1 FROM pg_tables WHERE schemaname ="
                            " 'agentrt') OR EXISTS(SELECT 1 FROM pg_proc p JOIN pg_namespace n"
                            " ON n.oid = p.pronamespace WHERE nspname = 'agentrt')"
                            " THEN RAISE 'half made'; END IF; END$$");
}

/* A store that cannot be used, whichever command is given it: exit 2, the
 * store named without its password, and nothing left behind in the
 * database, whether the server cannot be reached, the database does not
 * exist, or the role may neither create the schema nor make tables in a
 * schema someone else made. */
static void test_postgres_stores_that_cannot_be_used_are_left_as_they_were(void **state) {
  (void)state;
  cli_output r;
  tu_write("pg-bad.json", READ_SPEC);
  RUN_CLI(&r, "submit", "pg-bad.json", "--json", "--store",
          "postgresql://agentrt:s3cret@127.0.0.1:1/runs");
  assert_exit(&r, 2);
  char *message = json_error_message(&r, "store");
  assert_contains(message, "cannot connect to store postgresql://agentrt@127.0.0.1:1/runs: ");
  assert_null(strstr(message, "s3cret"));
  free(message);
  cli_output_free(&r);
  RUN_CLI(&r, "worker", "--drain", "--store",
          tu_pg_url_as("cli_no_such_db", TU_PG_PASSWORD_ROLE ":right"));
  assert_file_refused(&r, "database \"cli_no_such_db\" does not exist");
  assert_contains(r.err, "store postgresql://" TU_PG_PASSWORD_ROLE "@/cli_no_such_db");
  assert_null(strstr(r.err, ":right@"));
  cli_output_free(&r);
  tu_pg_database("cli_no_rights");
  RUN_CLI(&r, "queue", "set", "mail", "--max-running", "2", "--store",
          tu_pg_url_as("cli_no_rights", TU_PG_PASSWORD_ROLE ":right"));
  assert_file_refused(
      &r, "cannot create the agentrt schema agentrt in store postgresql://" TU_PG_PASSWORD_ROLE
          "@/cli_no_rights");
  assert_contains(r.err, "permission denied for database cli_no_rights");
  assert_null(strstr(r.err, ":right@"));
  cli_output_free(&r);
  tu_pg_exec(tu_pg_url("cli_no_rights"), "DO $$BEGIN IF EXISTS(SELECT 1 FROM pg_namespace"
                                         " WHERE nspname = 'agentrt') THEN RAISE 'half made';"
                                         " END IF; END$$");
  tu_pg_exec(tu_pg_database("cli_schema_only"), "CREATE SCHEMA agentrt");
  RUN_CLI(&r, "submit", "pg-bad.json", "--store",
          tu_pg_url_as("cli_schema_only", TU_PG_PASSWORD_ROLE ":right"));
  assert_file_refused(&r, "cannot create the agentrt tables in schema agentrt of store "
                          "postgresql://" TU_PG_PASSWORD_ROLE "@/cli_schema_only");
  assert_contains(r.err, "permission denied for schema agentrt");
  assert_null(strstr(r.err, ":right@"));
  cli_output_free(&r);
  assert_no_store_in("cli_schema_only");
}

/* Before the per-test baselines: the server outlives every test. */
static int start_postgres(void **state) {
  (void)state;
  tu_pg_exec(tu_pg_start(), "CREATE ROLE agentrt_connect LOGIN;"
                            " CREATE ROLE " TU_PG_PASSWORD_ROLE " LOGIN PASSWORD 'right'");
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_help_lists_commands),
      cmocka_unit_test(test_postgres_store_by_flag_and_environment),
      cmocka_unit_test(test_postgres_store_errors_name_the_store),
      cmocka_unit_test(test_postgres_stores_that_cannot_be_used_are_left_as_they_were),
      cmocka_unit_test(test_subcommand_help),
      cmocka_unit_test(test_readme_has_the_eval_usage),
      cmocka_unit_test(test_version),
      USAGE_ERROR("no arguments", "", NULL),
      USAGE_ERROR("unknown command", "unknown command \"frobnicate\"", "frobnicate"),
      USAGE_ERROR("unknown option", "bad option \"--frob\"", "run", "--frob", "spec.json"),
      USAGE_ERROR("option of another command", "bad option \"--junit\"", "demo", "--junit",
                  "out.xml"),
      USAGE_ERROR("option without its value", "bad option \"--trace\"", "demo", "--trace"),
      USAGE_ERROR("run without a file", "missing argument", "run"),
      USAGE_ERROR("eval without a file", "missing argument", "eval"),
      USAGE_ERROR("eval with no jobs", "--jobs takes a number from 1 to 10000", "eval", "s.json",
                  "--jobs", "0"),
      USAGE_ERROR("run with no jobs", "--jobs takes a number from 1 to 10000", "run", "a.json",
                  "--jobs=0"),
      USAGE_ERROR("run with no processes", "--max-procs takes a number from 1 to 4096", "run",
                  "a.json", "--max-procs", "0"),
      USAGE_ERROR("eval with too many processes", "--max-procs takes a number from 1 to 4096",
                  "eval", "s.json", "--max-procs=4097"),
      cmocka_unit_test(test_demo_table),
      cmocka_unit_test(test_demo_json),
      cmocka_unit_test(test_demo_trace_file),
      cmocka_unit_test(test_run_success_json_and_trace),
      cmocka_unit_test(test_run_table_cuts_between_characters),
      cmocka_unit_test(test_run_command_model_calls),
      cmocka_unit_test(test_run_spec_error),
      cmocka_unit_test(test_run_missing_spec_file),
      cmocka_unit_test(test_run_misspelled_decision_type),
      cmocka_unit_test(test_directory_given_as_a_file),
      cmocka_unit_test(test_run_set_up_failure_stops_in_step_1),
      cmocka_unit_test(test_run_prints_relative_commands_as_written),
      cmocka_unit_test(test_run_approval_required),
      cmocka_unit_test(test_run_tool_failure),
      cmocka_unit_test(test_run_unwritable_trace),
      cmocka_unit_test(test_run_several_specs_at_once),
      cmocka_unit_test(test_run_several_refused_whole),
      cmocka_unit_test(test_run_several_one_process_at_a_time),
      cmocka_unit_test(test_eval_failing_case_and_junit),
      cmocka_unit_test(test_eval_all_cases_pass),
      cmocka_unit_test(test_eval_demo_example),
      cmocka_unit_test(test_eval_jobs_same_junit),
      cmocka_unit_test(test_eval_unwritable_junit),
      SUITE_ERROR("not JSON", "{\"cases\": [", ":1:", "invalid JSON"),
      SUITE_ERROR("missing cases", "{\"name\": \"x\"}", ": $: ", "missing required key \"cases\""),
      SUITE_ERROR("no cases", "{\"name\": \"x\", \"cases\": []}",
                  ": $.cases: ", "no cases: an empty suite checks nothing"),
      SUITE_ERROR("unknown top-level key", "{\"cases\": [], \"tags\": []}",
                  ": $: ", "unknown key \"tags\""),
      SUITE_ERROR("unknown key in a case",
                  SUITE("{\"name\": \"a\", \"agent\": " READ_SPEC ", \"tags\": []}"),
                  ": $.cases[0]: ", "unknown key \"tags\""),
      SUITE_ERROR("case without a name", SUITE("{\"agent\": " READ_SPEC "}"),
                  ": $.cases[0]: ", "missing required key \"name\""),
      SUITE_ERROR("missing agent", SUITE("{\"name\": \"a\", \"expect\": {}}"),
                  ": $.cases[0]: ", "missing required key \"agent\""),
      SUITE_ERROR("agent neither object nor path", SUITE("{\"name\": \"a\", \"agent\": 5}"),
                  ": $.cases[0].agent: ", "expected an agent spec object or the path"),
      SUITE_ERROR("bad expect key", SUITE(CASE("a", READ_SPEC, "{\"stops\": \"success\"}")),
                  ": $.cases[0].expect: ", "unknown key \"stops\""),
      SUITE_ERROR("unknown stop_reason", SUITE(CASE("a", READ_SPEC, "{\"stop_reason\": \"done\"}")),
                  ": $.cases[0].expect.stop_reason: ", "unknown stop reason \"done\""),
      SUITE_ERROR("tools_called not a list of names",
                  SUITE(CASE("a", READ_SPEC, "{\"tools_called\": [\"lookup_policy\", 3]}")),
                  ": $.cases[0].expect.tools_called[1]: ", "expected a tool name"),
      SUITE_ERROR("duplicate case name", SUITE(READS_POLICY_CASE ", " READS_POLICY_CASE),
                  ": $.cases[1]: ", "duplicate case name \"reads-policy\""),
      SUITE_ERROR("inline agent with a spec error", SUITE(CASE("a", "{\"goal\": \"g\"}", "{}")),
                  ": $.cases[0].agent: $: ", "missing required key \"model\""),
      /* The message names the agent file the suite points at. */
      SUITE_ERROR("agent path that does not exist",
                  SUITE(CASE("a", "\"missing-agent.json\"", "{}")), NULL, "/missing-agent.json: "),
  };
  return cmocka_run_group_tests(tests, start_postgres, NULL);
}
