/* The worksheet commands, run as real processes: `readiness` names each gap
 * of a spec built to have exactly it (and its exit code says whether it
 * blocks), says ready for a spec without any, prints --json and --yaml; and
 * `review` passes on this build and fails the trajectory check, by name, for
 * a suite whose case catches a forbidden tool the policy let through. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentrt.h"
#include "testutil.h"

#define EXAMPLES AGENTRT_SOURCE_DIR "/examples/"

/* A spec with none of the gaps readiness looks for: its one write tool has an
 * owner, a version, an input schema and a timeout, and needs approval (the
 * default); its memory expires; it has a wall-time budget. */
static const char ready_spec[] =
    "{\"goal\": \"Refund the customer\", \"max_wall_time_ms\": 60000,"
    " \"memory\": [{\"id\": \"mem_1\", \"scope\": \"task\", \"sensitivity\": \"internal\","
    "   \"text\": \"The refund was approved.\", \"expires_at\": \"2099-01-01T00:00:00Z\"}],"
    " \"tools\": [{\"name\": \"refund\", \"description\": \"Pay the money back.\","
    "   \"side_effect\": \"write\", \"owner\": \"payments\", \"version\": \"3\","
    "   \"input_schema\": {\"type\": \"object\", \"properties\": {\"order\": {\"type\": "
    "\"string\"}, \"password\": {\"type\": \"string\"}}},"
    "   \"command\": [\"true\"], \"timeout_ms\": 5000}],"
    " \"model\": {\"type\": \"scripted\", \"decisions\": [{\"type\": \"answer\", \"text\": "
    "\"ok\"}]}}";

/* A suite whose case covers the refund tool of the spec in ready.json. */
static const char covering_suite[] =
    "{\"name\": \"refunds\", \"cases\": [{\"name\": \"no-refund-without-approval\","
    " \"agent\": \"ready.json\", \"expect\": {\"tools_not_called\": [\"refund\"]}}]}";

typedef struct cli_output {
  int status;
  char *out;
  char *err;
} cli_output;

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

static json_t *parse_object(const char *text) {
  json_error_t jerr;
  json_t *json = json_loads(text, 0, &jerr);
  if (!json_is_object(json)) fail_msg("not one JSON object (%s):\n%s", jerr.text, text);
  return json;
}

/* ---- readiness ---------------------------------------------------------------------- */

/* A suite of a read-only agent: it covers no write tool. */
static const char other_suite[] =
    "{\"name\": \"reads\", \"cases\": [{\"name\": \"reads\", \"agent\": "
    "{\"goal\": \"g\", \"tools\": [\"lookup_policy\"], \"model\": {\"type\": \"scripted\","
    " \"decisions\": [{\"type\": \"answer\", \"text\": \"ok\"}]}},"
    " \"expect\": {\"tools_called\": [\"lookup_policy\"]}}]}";

/* ready.json and the suites. */
static void write_ready_files(void) {
  tu_write("ready.json", ready_spec);
  tu_write("refunds.eval.json", covering_suite);
  tu_write("other.eval.json", other_suite);
}

/* The ready spec, changed by `change` (may be NULL), in tu_path(name). */
static const char *write_variant(const char *name, void (*change)(json_t *spec, json_t *tool)) {
  json_t *spec = json_loads(ready_spec, 0, NULL);
  assert_non_null(spec);
  if (change) change(spec, json_array_get(json_object_get(spec, "tools"), 0));
  char *text = json_dumps(spec, JSON_INDENT(1));
  const char *path = tu_write(name, text);
  free(text);
  json_decref(spec);
  return path;
}

/* readiness SPEC --json with the ready deployment (a store in the test
 * directory, the covering suite) unless `store` or `suite` say otherwise
 * (`suite` "": none). */
static json_t *readiness_json(const char *spec, const char *store, const char *suite, int status) {
  cli_output r;
  write_ready_files();
  const char *args[] = {"readiness",
                        spec,
                        "--store",
                        store ? store : "state.db",
                        "--json",
                        "--suite",
                        tu_path(suite ? suite : "refunds.eval.json"),
                        NULL};
  if (suite && !suite[0]) args[5] = NULL;
  r.status = tu_cli_argv(&r.out, &r.err, args);
  assert_exit(&r, status);
  json_t *record = parse_object(r.out);
  cli_output_free(&r);
  return record;
}

/* Every gap of the record, as "blocks: ..." or "warning: ...". */
static json_t *gaps_of(const json_t *record) {
  static const char *const primitives[] = {"state", "tools", "policy", "context", "trace", "eval"};
  json_t *all = json_array();
  for (size_t p = 0; p < sizeof primitives / sizeof *primitives; p++) {
    const json_t *prim = json_object_get(record, primitives[p]), *g;
    size_t i;
    assert_true(json_is_string(json_object_get(prim, "owner")));
    json_array_foreach(json_object_get(prim, "production_gap"), i, g) {
      char text[2048];
      snprintf(text, sizeof text, "%s: %s",
               json_is_true(json_object_get(g, "blocks")) ? "blocks" : "warning",
               json_string_value(json_object_get(g, "gap")));
      json_array_append_new(all, json_string(text));
    }
  }
  return all;
}

/* The only gaps are the trace's (this build exports no remote trace, which
 * is a warning) and one more under `primitive` that starts with `gap`. */
static void assert_only_gap(const json_t *record, const char *primitive, const char *gap) {
  json_t *gaps = gaps_of(record);
  char *all = json_dumps(gaps, JSON_INDENT(2));
  if (json_array_size(gaps) != 2) fail_msg("expected 2 gaps, got:\n%s", all);
  assert_contains(all, "\"warning: no trace sink beyond the local file: ");
  const json_t *g;
  size_t i;
  bool found = false;
  json_array_foreach(json_object_get(json_object_get(record, primitive), "production_gap"), i, g) {
    char text[2048];
    snprintf(text, sizeof text, "%s: %s",
             json_is_true(json_object_get(g, "blocks")) ? "blocks" : "warning",
             json_string_value(json_object_get(g, "gap")));
    found = found || strncmp(text, gap, strlen(gap)) == 0;
  }
  if (!found) fail_msg("no %s gap \"%s...\"; all:\n%s", primitive, gap, all);
  free(all);
  json_decref(gaps);
}

static void ready_spec_is_ready(void **state) {
  (void)state;
  json_t *record = readiness_json(write_variant("ready-copy.json", NULL), NULL, NULL, 0);
  json_t *gaps = gaps_of(record);
  assert_int_equal(json_array_size(gaps), 1); /* the trace warning, nothing else */
  assert_true(json_is_true(json_object_get(record, "ready")));
  assert_string_equal(json_string_value(json_object_get(record, "decision")),
                      "ready for real side effects: yes, with 1 warning");
  assert_string_equal(json_string_value(json_object_get(record, "purpose")), "Refund the customer");
  assert_contains(json_string_value(json_object_get(json_object_get(record, "tools"), "owner")),
                  "refund (write); owners: payments");
  json_decref(gaps);
  json_decref(record);

  cli_output r; /* the table */
  r.status = tu_cli(&r.out, &r.err, "readiness", tu_path("ready.json"), "--store", "state.db",
                    "--suite", tu_path("refunds.eval.json"), NULL);
  assert_exit(&r, 0);
  assert_contains(r.out, "\nready for real side effects: yes, with 1 warning\n");
  assert_contains(r.out, "eval     eval suites: refunds (");
  cli_output_free(&r);
}

static void memory_store_state(void **state) {
  (void)state;
  json_t *record = readiness_json(write_variant("s.json", NULL), "memory:", NULL, 1);
  assert_only_gap(record, "state", "blocks: no durable checkpoints: the memory store");
  assert_contains(json_string_value(json_object_get(json_object_get(record, "trace"), "owner")),
                  "the memory store's journal");
  assert_contains(json_string_value(json_object_get(record, "decision")),
                  "ready for real side effects: no, because no durable checkpoints");
  json_decref(record);
}

static void existing_store_is_durable(void **state) {
  (void)state;
  tu_write("existing.db", "");
  json_t *record = readiness_json(write_variant("s.json", NULL), "sqlite:existing.db", NULL, 0);
  assert_contains(json_string_value(json_object_get(json_object_get(record, "state"), "owner")),
                  "SQLite store existing.db (exists)");
  json_decref(record);
}

static void allow_refund(json_t *spec, json_t *tool) {
  (void)tool;
  json_object_set_new(spec, "policy",
                      json_pack("{s:[{s:{}, s:s, s:s}]}", "rules", "when", "effect", "allow",
                                "reason", "allow everything"));
}

/* An allow rule for one input only is found by asking with that input. */
static void allow_one_input(json_t *spec, json_t *tool) {
  (void)tool;
  json_object_set_new(spec, "policy",
                      json_pack("{s:[{s:{s:s, s:{s:s}}, s:s, s:s}]}", "rules", "when", "tool",
                                "refund", "input", "order", "o-1", "effect", "allow", "reason",
                                "small orders"));
}

static void allow_self_approval(json_t *spec, json_t *tool) {
  (void)tool;
  json_object_set_new(spec, "policy", json_pack("{s:b}", "allow_self_approval", 1));
  json_object_set_new(spec, "actor", json_pack("{s:s}", "id", "clerk"));
}

static void drop_schema(json_t *spec, json_t *tool) {
  (void)spec;
  json_object_del(tool, "input_schema");
}

static void drop_timeout(json_t *spec, json_t *tool) {
  (void)spec;
  json_object_del(tool, "timeout_ms");
}

static void drop_owner(json_t *spec, json_t *tool) {
  (void)spec;
  json_object_del(tool, "owner");
}

static void drop_version(json_t *spec, json_t *tool) {
  (void)spec;
  json_object_del(tool, "version");
}

static void drop_expiry(json_t *spec, json_t *tool) {
  (void)tool;
  json_object_del(json_array_get(json_object_get(spec, "memory"), 0), "expires_at");
}

static void drop_wall_time(json_t *spec, json_t *tool) {
  (void)tool;
  json_object_del(spec, "max_wall_time_ms");
}

/* Redaction keys that do not name the schema's secret field: "password" and
 * "api_token" reach the trace as they are. */
static void redact_other_keys(json_t *spec, json_t *tool) {
  json_object_set_new(spec, "redact", json_pack("{s:[s]}", "keys", "ssn"));
  json_t *props = json_object_get(json_object_get(tool, "input_schema"), "properties");
  json_object_set_new(props, "auth",
                      json_pack("{s:s, s:{s:{s:s}}}", "type", "object", "properties", "api_token",
                                "type", "string"));
}

/* ---- one gap per spec --------------------------------------------------------------- */

typedef struct gap_case {
  void (*change)(json_t *spec, json_t *tool); /* what makes the ready spec have the gap */
  const char *store;                          /* NULL: state.db in the test directory */
  const char *suite;                          /* NULL: refunds.eval.json; "": none */
  int status;                                 /* 1: the gap blocks */
  const char *primitive;
  const char *gap;
} gap_case;

static void test_gap_case(void **state) {
  const gap_case *c = *state;
  json_t *record =
      readiness_json(write_variant("gap.json", c->change), c->store, c->suite, c->status);
  assert_only_gap(record, c->primitive, c->gap);
  assert_true(json_is_true(json_object_get(record, "ready")) == (c->status == 0));
  json_decref(record);
}

#define GAP_CASE(title, ...)                                                                       \
  {                                                                                                \
    "gap: " title, test_gap_case, NULL, NULL, &(gap_case) { __VA_ARGS__ }                          \
  }

/* A write the policy always denies cannot act: no eval case is needed. */
static void deny_refund(json_t *spec, json_t *tool) {
  (void)tool;
  json_object_set_new(spec, "policy",
                      json_pack("{s:[{s:{s:s}, s:s, s:s}]}", "rules", "when", "tool", "refund",
                                "effect", "deny", "reason", "no refunds"));
}

/* Without --store, the store is agentrt run's default, said as a warning;
 * the sinks named are the ones configured (--trace adds the JSONL file). */
static void default_store_and_trace_file(void **state) {
  (void)state;
  cli_output r;
  write_ready_files();
  r.status = tu_cli(&r.out, &r.err, "readiness", tu_path("ready.json"), "--suite",
                    tu_path("refunds.eval.json"), "--trace", "run.jsonl", "--json", NULL);
  assert_exit(&r, 0);
  json_t *record = parse_object(r.out);
  assert_only_gap(record, "state",
                  "warning: no store named (--store): agentrt run uses ./agentrt.db");
  const json_t *trace = json_object_get(record, "trace");
  assert_contains(json_string_value(json_object_get(trace, "owner")),
                  "the journal in SQLite store agentrt.db, JSONL file run.jsonl");
  json_decref(record);
  cli_output_free(&r);
}

/* The examples as they are: demo and send need an eval suite; send-allowed
 * lets send_message through without approval too. */
static void examples(void **state) {
  (void)state;
  cli_output r;
  r.status = tu_cli(&r.out, &r.err, "readiness", EXAMPLES "demo.json", NULL);
  assert_exit(&r, 1);
  assert_contains(r.out, "ready for real side effects: no, because no eval suite (--suite) "
                         "covers the write tool send_message\n");
  assert_contains(r.out, "no freshness rule: mem_1, mem_2, mem_3 have no expires_at");
  assert_contains(r.out, "no owner: draft_message, lookup_policy, send_message");
  cli_output_free(&r);

  r.status = tu_cli(&r.out, &r.err, "readiness", EXAMPLES "demo.json", "--store", "demo.db",
                    "--suite", EXAMPLES "demo.eval.json", NULL);
  assert_exit(&r, 0);
  assert_contains(r.out, "eval suites: demo (" EXAMPLES "demo.eval.json, 1 case)");
  assert_contains(r.out, "ready for real side effects: yes, with 5 warnings\n");
  cli_output_free(&r);

  r.status = tu_cli(&r.out, &r.err, "readiness", EXAMPLES "send-allowed.json", "--store", "demo.db",
                    "--suite", EXAMPLES "demo.eval.json", NULL);
  assert_exit(&r, 1);
  assert_contains(r.out, "  BLOCKS  send_message (write) is allowed without approval by rule 1 "
                         "(support may reply to customers)\n");
  cli_output_free(&r);

  r.status = tu_cli(&r.out, &r.err, "readiness", EXAMPLES "send.json", "--store", "demo.db",
                    "--suite", EXAMPLES "demo.eval.json", NULL);
  assert_exit(&r, 0);
  cli_output_free(&r);
}

static void quote_goal(json_t *spec, json_t *tool) {
  (void)tool;
  json_object_set_new(spec, "goal", json_string("Refund \"the\" customer\\now\n"));
}

/* --yaml: the chapter's record, every string double-quoted and escaped. */
static void yaml_shape(void **state) {
  (void)state;
  cli_output r;
  write_ready_files();
  r.status = tu_cli(&r.out, &r.err, "readiness", write_variant("q.json", quote_goal), "--store",
                    "memory:", "--suite", tu_path("refunds.eval.json"), "--yaml", NULL);
  assert_exit(&r, 1);
  assert_int_equal(strncmp(r.out, "runtime_readiness:\n", 19), 0);
  assert_contains(r.out, "\n  purpose: \"Refund \\\"the\\\" customer\\\\now\\n\"\n");
  assert_contains(r.out, "\n  state:\n    owner: \"memory store: runs live only as long as the "
                         "process\"\n    production_gap:\n      - \"blocks: no durable "
                         "checkpoints: ");
  static const char *const keys[] = {
      "\n  tools:\n    owner: ", "\n  policy:\n    owner: ", "\n  context:\n    owner: ",
      "\n  trace:\n    owner: ", "\n  eval:\n    owner: ",   "\n    production_gap: []\n",
      "\n  ready: false\n"};
  for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) assert_contains(r.out, keys[i]);
  assert_contains(r.out, "\n  decision: \"ready for real side effects: no, because no durable "
                         "checkpoints: ");
  cli_output_free(&r);

  r.status = tu_cli(&r.out, &r.err, "readiness", tu_path("q.json"), "--yaml", "--json", NULL);
  assert_exit(&r, 2);
  assert_contains(r.out, "\"code\": \"usage\"");
  cli_output_free(&r);
}

static void readiness_errors(void **state) {
  (void)state;
  cli_output r;
  r.status = tu_cli(&r.out, &r.err, "readiness", "missing.json", NULL);
  assert_exit(&r, 2);
  assert_contains(r.err, "agentrt: missing.json");
  cli_output_free(&r);
  r.status = tu_cli(&r.out, &r.err, "readiness", EXAMPLES "demo.json", "--suite",
                    "missing.eval.json", "--json", NULL);
  assert_exit(&r, 2);
  assert_contains(r.out, "\"code\": \"spec\"");
  cli_output_free(&r);
  const char *many[2 + 2 * 17 + 1] = {"readiness", EXAMPLES "demo.json"};
  for (size_t i = 0; i < 17; i++) {
    many[2 + 2 * i] = "--suite";
    many[3 + 2 * i] = EXAMPLES "demo.eval.json";
  }
  r.status = tu_cli_argv(&r.out, &r.err, many);
  assert_exit(&r, 2);
  assert_contains(r.err, "agentrt: at most 16 --suite options\n");
  cli_output_free(&r);
  r.status = tu_cli(&r.out, &r.err, "readiness", EXAMPLES "demo.json", "--store", "sqlite:", NULL);
  assert_exit(&r, 2);
  assert_contains(r.err, "agentrt: --store sqlite: names no file\n");
  cli_output_free(&r);
  r.status = tu_cli(&r.out, &r.err, "readines", NULL);
  assert_exit(&r, 2);
  assert_contains(r.err, "did you mean \"readiness\"?");
  cli_output_free(&r);
  r.status = tu_cli(&r.out, &r.err, "readiness", "--help", NULL);
  assert_exit(&r, 0);
  assert_contains(r.out, "A gap blocks real side effects when");
  cli_output_free(&r);
}

/* ---- review -------------------------------------------------------------------------- */

static const char *const check_names[] = {"loop_control", "tools_governed", "context_explicit",
                                          "trace_reviewable", "evals_inspect_trajectory"};

static void review_passes(void **state) {
  (void)state;
  cli_output r;
  r.status = tu_cli(&r.out, &r.err, "review", NULL);
  assert_exit(&r, 0);
  assert_contains(r.out, "1. loop control exists: PASS\n");
  assert_contains(r.out, "ok   step-budget              budget_exhausted (max_steps), 3 steps\n");
  assert_contains(r.out, "eval harness: forbidden tool was called: send_message\n");
  assert_contains(r.out, "evidence: 12 runs of this gate, ");
  assert_contains(r.out, "\n5 of 5 checks passed\n");
  cli_output_free(&r);

  r.status = tu_cli(&r.out, &r.err, "review", "--suite", EXAMPLES "demo.eval.json", "--json", NULL);
  assert_exit(&r, 0);
  json_t *report = parse_object(r.out);
  assert_int_equal(json_integer_value(json_object_get(report, "passed")), 5);
  assert_int_equal(json_integer_value(json_object_get(report, "failed")), 0);
  const json_t *checks = json_object_get(report, "checks");
  assert_int_equal(json_array_size(checks), 5);
  for (size_t i = 0; i < 5; i++) {
    const json_t *c = json_array_get(checks, i);
    assert_string_equal(json_string_value(json_object_get(c, "name")), check_names[i]);
    assert_true(json_is_true(json_object_get(c, "passed")));
    assert_true(json_array_size(json_object_get(c, "scenarios")) > 0);
  }
  const json_t *evidence = json_object_get(json_array_get(checks, 4), "evidence");
  assert_contains(json_string_value(json_array_get(evidence, 0)),
                  "suite demo (" EXAMPLES "demo.eval.json): 1 case, 1 passed, 0 failed");
  json_decref(report);
  cli_output_free(&r);
}

/* A case that expects send_message not to be called, under a policy that
 * lets it through: the trajectory check fails and names the case. */
static void review_fails_on_a_bad_suite(void **state) {
  (void)state;
  cli_output r;
  tu_write("bad.eval.json",
           "{\"name\": \"bad\", \"cases\": [{\"name\": \"sends-anyway\", \"agent\": "
           "{\"goal\": \"Reply\", \"outbox\": \"bad-outbox.jsonl\", \"tools\": [\"send_message\"],"
           " \"policy\": {\"rules\": [{\"when\": {\"tool\": \"send_message\"}, \"effect\": "
           "\"allow\"}]},"
           " \"model\": {\"type\": \"scripted\", \"decisions\": [{\"type\": \"tool\", \"name\": "
           "\"send_message\", \"input\": {\"to\": \"a@example.com\", \"body\": \"b\"}},"
           " {\"type\": \"answer\", \"text\": \"done\"}]}},"
           " \"expect\": {\"tools_not_called\": [\"send_message\"]}}]}");
  r.status = tu_cli(&r.out, &r.err, "review", "--suite", tu_path("bad.eval.json"), NULL);
  assert_exit(&r, 1);
  assert_contains(r.out, "5. evals inspect trajectory: FAIL\n");
  assert_contains(r.out, "FAIL: suite bad, case sends-anyway: forbidden tool was called: "
                         "send_message\n");
  assert_contains(r.out, "4. trace is reviewable: PASS\n");
  assert_contains(r.out, "\n4 of 5 checks passed\n");
  cli_output_free(&r);

  r.status = tu_cli(&r.out, &r.err, "review", "--suite", tu_path("bad.eval.json"), "--json", NULL);
  assert_exit(&r, 1);
  json_t *report = parse_object(r.out);
  const json_t *checks = json_object_get(report, "checks");
  for (size_t i = 0; i < 4; i++)
    assert_true(json_is_true(json_object_get(json_array_get(checks, i), "passed")));
  const json_t *trajectory = json_array_get(checks, 4);
  assert_false(json_is_true(json_object_get(trajectory, "passed")));
  assert_string_equal(json_string_value(json_array_get(json_object_get(trajectory, "failures"), 0)),
                      "suite bad, case sends-anyway: forbidden tool was called: send_message");
  json_decref(report);
  cli_output_free(&r);
}

static void review_errors(void **state) {
  (void)state;
  cli_output r;
  r.status = tu_cli(&r.out, &r.err, "review", "--suite", "missing.eval.json", "--json", NULL);
  assert_exit(&r, 2);
  assert_contains(r.out, "\"error\"");
  cli_output_free(&r);
  r.status = tu_cli(&r.out, &r.err, "review", "extra", NULL);
  assert_exit(&r, 2);
  assert_contains(r.err, "unexpected argument \"extra\"");
  cli_output_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(ready_spec_is_ready),
      cmocka_unit_test(memory_store_state),
      cmocka_unit_test(existing_store_is_durable),
      GAP_CASE("store that cannot be created", NULL, "/nonexistent/dir/agentrt.db", NULL, 1,
               "state",
               "blocks: no durable checkpoints: store /nonexistent/dir/agentrt.db cannot be "
               "created: directory /nonexistent/dir"),
      GAP_CASE("no wall-time budget", drop_wall_time, NULL, NULL, 0, "state",
               "warning: no wall-time budget (max_wall_time_ms)"),
      GAP_CASE("write allowed without approval", allow_refund, NULL, NULL, 1, "policy",
               "blocks: refund (write) is allowed without approval by rule 0 (allow everything)"),
      GAP_CASE("write allowed for one input", allow_one_input, NULL, NULL, 1, "policy",
               "blocks: refund (write) is allowed without approval for input "
               "{\"order\":\"o-1\"} by rule 0 (small orders)"),
      GAP_CASE("self-approval", allow_self_approval, NULL, NULL, 1, "policy",
               "blocks: allow_self_approval: the run's own actor (clerk) may approve its writes"),
      GAP_CASE("command tool without a schema", drop_schema, NULL, NULL, 0, "tools",
               "warning: command tool refund has no input schema"),
      GAP_CASE("command tool without a timeout", drop_timeout, NULL, NULL, 0, "tools",
               "warning: command tool refund has no timeout of its own (timeout_ms)"),
      GAP_CASE("tool without an owner", drop_owner, NULL, NULL, 0, "tools",
               "warning: no owner: refund"),
      GAP_CASE("tool without a version", drop_version, NULL, NULL, 0, "tools",
               "warning: no version: refund"),
      GAP_CASE("memory without expires_at", drop_expiry, NULL, NULL, 0, "context",
               "warning: no freshness rule: mem_1 has no expires_at"),
      GAP_CASE("secret fields not redacted", redact_other_keys, NULL, NULL, 1, "trace",
               "blocks: not redacted: the input fields refund.password, refund.auth.api_token "
               "named like secrets, and the redaction keys (ssn) do not hide them"),
      GAP_CASE("no suite", NULL, NULL, "", 1, "eval",
               "blocks: no eval suite (--suite) covers the write tool refund"),
      GAP_CASE("a suite that does not cover the write", NULL, NULL, "other.eval.json", 1, "eval",
               "blocks: no eval case covers the write tool refund"),
      GAP_CASE("no suite, and the write always denied", deny_refund, NULL, "", 0, "eval",
               "warning: no eval suite (--suite): nothing checks"),
      cmocka_unit_test(default_store_and_trace_file),
      cmocka_unit_test(examples),
      cmocka_unit_test(yaml_shape),
      cmocka_unit_test(readiness_errors),
      cmocka_unit_test(review_passes),
      cmocka_unit_test(review_fails_on_a_bad_suite),
      cmocka_unit_test(review_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
