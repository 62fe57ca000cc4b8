/* Agent spec loading (art_spec_load / art_spec_parse): every kind of mistake in
 * a spec file is ART_ESPEC with the message "FILE: $.path: what is wrong", a
 * full spec loads as written, and a load survives every allocation failure. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"
#include "agentrt/spec.h"
#include "core/spec_internal.h"
#include "core/tool_internal.h"
#include "tool/command.h"

#define FULL_SPEC_FIXTURE AGENTRT_SOURCE_DIR "/tests/unit/fixtures/spec_full.json"
#define BUILTIN_TOOLS "lookup_policy, draft_message, send_message, flaky_lookup"

/* The smallest valid spec; most error cases replace one of its members. */
static const char minimal_spec[] = "{\"goal\": \"Say hello\", \"model\": {\"type\": \"scripted\", "
                                   "\"decisions\": [{\"type\": \"answer\", \"text\": \"hello\"}]}}";

/* ---- helpers ------------------------------------------------------------- */

static void assert_contains(const char *text, const char *part) {
  if (!text || !strstr(text, part))
    fail_msg("expected \"%s\" in: %s", part, text ? text : "(null)");
}

static json_t *parse_json(const char *text) {
  json_error_t jerr;
  json_t *json = json_loads(text, JSON_DECODE_ANY, &jerr);
  if (!json) fail_msg("test JSON does not parse (%s): %s", jerr.text, text);
  return json;
}

/* Write minimal_spec with member `key` set to the JSON text `value` (NULL:
 * member removed) to tu_path(name); with key NULL, `value` is the whole file. */
static void write_spec_variant(const char *name, const char *key, const char *value) {
  if (!key) {
    tu_write(name, value);
    return;
  }
  json_t *spec = parse_json(minimal_spec);
  if (value)
    json_object_set_new(spec, key, parse_json(value));
  else
    json_object_del(spec, key);
  char *text = json_dumps(spec, JSON_INDENT(2));
  tu_write(name, text);
  free(text);
  json_decref(spec);
}

/* A copy of the full spec fixture in the test directory, so relative command
 * paths resolve there; returns its path. */
static const char *write_full_spec(const char *name) {
  char *text = tu_read(FULL_SPEC_FIXTURE);
  assert_non_null(text);
  const char *path = tu_write(name, text);
  free(text);
  return path;
}

static void assert_message_starts_with(const art_error *err, const char *prefix) {
  if (strncmp(err->message, prefix, strlen(prefix)) != 0)
    fail_msg("expected the message to start with \"%s\", got: %s", prefix, err->message);
}

/* rc and err are ART_ESPEC with "FILE: JSON_PATH: " and then every one of the
 * NULL-terminated `words`. */
static void assert_spec_error(int rc, const art_error *err, const char *file, const char *json_path,
                              const char *const *words) {
  char prefix[1024];
  if (rc != ART_ESPEC) fail_msg("expected ART_ESPEC, got %s: %s", art_strerror(rc), err->message);
  assert_int_equal(err->code, ART_ESPEC);
  snprintf(prefix, sizeof prefix, "%s: %s: ", file, json_path);
  assert_message_starts_with(err, prefix);
  for (; *words; words++) assert_contains(err->message, *words);
}

static art_spec *load_ok(const char *path, const art_spec_options *opts) {
  art_spec *spec = NULL;
  art_error err = {0};
  int rc = art_spec_load(&spec, path, opts, &err);
  if (rc != 0) fail_msg("loading %s failed (%s): %s", path, art_strerror(rc), err.message);
  return spec;
}

/* ---- every spec error, one table row each ------------------------------------ */

typedef struct spec_error_case {
  const char *key;       /* top-level member replaced; NULL: `value` is the whole file */
  const char *value;     /* JSON text; NULL: the member is removed */
  const char *json_path; /* expected right after "FILE: " */
  const char *words[4];  /* expected anywhere in the message; NULL-terminated */
} spec_error_case;

static void test_spec_error_case(void **state) {
  const spec_error_case *c = *state;
  char file[600];
  snprintf(file, sizeof file, "%s", tu_path("spec.json"));
  write_spec_variant("spec.json", c->key, c->value);
  art_spec *spec = NULL;
  art_error err = {0};
  int rc = art_spec_load(&spec, file, NULL, &err);
  assert_null(spec);
  assert_spec_error(rc, &err, file, c->json_path, c->words);
}

#define SPEC_ERROR(title, key, value, json_path, ...)                                              \
  {                                                                                                \
    "spec error: " title, test_spec_error_case, NULL, NULL, &(spec_error_case) {                   \
      key, value, json_path, { __VA_ARGS__, NULL }                                                 \
    }                                                                                              \
  }

/* A tool object that is valid except for `fields` (a JSON members fragment). */
#define TOOL_WITH(fields) "[{\"name\": \"t\", \"side_effect\": \"read\", " fields "}]"
#define RULE_WITH(fields) "{\"rules\": [{\"effect\": \"allow\", " fields "}]}"
#define WHEN(fields) RULE_WITH("\"when\": {" fields "}")
#define OPENAI_WITH(fields)                                                                        \
  "{\"type\": \"openai\", \"base_url\": \"http://127.0.0.1:1/v1\", \"model\": \"m\", " fields "}"
#define DECISION_WITH(fields)                                                                      \
  "{\"type\": \"scripted\", \"decisions\": [{\"type\": \"answer\", \"text\": \"x\", " fields "}]}"

/* ---- files that are not specs ------------------------------------------------ */

static void test_missing_file(void **state) {
  (void)state;
  char file[600], prefix[700];
  snprintf(file, sizeof file, "%s", tu_path("no-such-spec.json"));
  art_spec *spec = NULL;
  art_error err = {0};
  assert_int_equal(art_spec_load(&spec, file, NULL, &err), ART_ESPEC);
  assert_null(spec);
  snprintf(prefix, sizeof prefix, "%s: ", file);
  assert_message_starts_with(&err, prefix);
  assert_contains(err.message, strerror(ENOENT));
}

static void test_directory(void **state) {
  (void)state;
  char dir[600], message[700];
  snprintf(dir, sizeof dir, "%s", tu_tmpdir());
  art_spec *spec = NULL;
  art_error err = {0};
  assert_int_equal(art_spec_load(&spec, dir, NULL, &err), ART_ESPEC);
  assert_null(spec);
  snprintf(message, sizeof message, "%s: is a directory, not a JSON file", dir);
  assert_string_equal(err.message, message);
}

/* A JSON syntax error is reported as FILE:LINE:COLUMN. */
static void test_bad_json(void **state) {
  (void)state;
  char prefix[700];
  const char *file = tu_write("bad.json", "{\n  \"goal\": \"g\",\n  oops\n}\n");
  art_spec *spec = NULL;
  art_error err = {0};
  assert_int_equal(art_spec_load(&spec, file, NULL, &err), ART_ESPEC);
  assert_null(spec);
  snprintf(prefix, sizeof prefix, "%s:3:", file);
  assert_message_starts_with(&err, prefix);
  assert_contains(err.message, "invalid JSON");
}

static void test_duplicate_json_key(void **state) {
  (void)state;
  char prefix[700];
  const char *file = tu_write("dup.json", "{\"goal\": \"a\", \"goal\": \"b\"}");
  art_spec *spec = NULL;
  art_error err = {0};
  assert_int_equal(art_spec_load(&spec, file, NULL, &err), ART_ESPEC);
  snprintf(prefix, sizeof prefix, "%s:1:", file);
  assert_message_starts_with(&err, prefix);
  assert_contains(err.message, "duplicate");
}

/* art_spec_parse names the document with the name it is given. */
static void test_parse_names_the_document(void **state) {
  (void)state;
  json_t *json = parse_json("{\"goal\": \"g\", \"gaol\": 1}");
  static const char *const words[] = {"unknown key \"gaol\"", NULL};
  art_spec *spec = NULL;
  art_error err = {0};
  int rc = art_spec_parse(&spec, json, "inline agent", NULL, NULL, &err);
  assert_null(spec);
  assert_spec_error(rc, &err, "inline agent", "$", words);
  json_decref(json);
}

/* ---- a full spec ------------------------------------------------------------ */

static void assert_tool(const art_registry *reg, size_t i, const char *name, art_side_effect side,
                        bool enabled) {
  const art_tool *t = art_registry_at(reg, i);
  assert_non_null(t);
  assert_string_equal(art_tool_name(t), name);
  assert_int_equal(art_tool_side_effect(t), side);
  assert_int_equal(art_tool_enabled(t), enabled);
}

static void test_full_spec_accessors(void **state) {
  (void)state;
  art_spec *spec = load_ok(write_full_spec("full.json"), NULL);
  assert_string_equal(art_spec_run_id(spec), "run_full");
  assert_string_equal(art_spec_goal(spec), "Answer the customer about their refund");
  assert_int_equal(art_spec_max_steps(spec), 7);
  assert_string_equal(art_spec_outbox(spec), "sent.jsonl");
  assert_int_equal(art_policy_rule_count(art_spec_policy(spec)), 3);
  assert_true(art_policy_preapproved(art_spec_policy(spec), "act_0123"));
  assert_non_null(art_spec_redactor(spec));
  assert_string_equal(json_string_value(json_object_get(art_spec_model(spec), "type")), "scripted");

  const art_registry *reg = art_spec_registry(spec);
  assert_int_equal(art_registry_count(reg), 5);
  assert_tool(reg, 0, "archive", ART_SIDE_DRAFT, false);
  assert_tool(reg, 1, "check_stock", ART_SIDE_READ, true);
  assert_tool(reg, 2, "lookup_policy", ART_SIDE_READ, true);
  assert_tool(reg, 3, "notify", ART_SIDE_WRITE, true);
  assert_tool(reg, 4, "send_message", ART_SIDE_WRITE, true);
  const art_tool *stock = art_registry_find(reg, "check_stock");
  assert_string_equal(art_tool_owner(stock), "ops");
  assert_string_equal(art_tool_version(stock), "2");
  assert_string_equal(art_tool_description(stock), "Ask the warehouse.");
  assert_int_equal(art_command_tool_of(stock)->timeout_ms, 5000);
  art_spec_free(spec);
}

/* The parts only the run reads: actor, memory, context, the script. */
static void test_full_spec_internals(void **state) {
  (void)state;
  art_spec *spec = load_ok(write_full_spec("full.json"), NULL);
  assert_string_equal(spec->actor, "agent_1");
  assert_string_equal(spec->tenant, "acme");
  assert_string_equal(spec->route, "support");
  assert_int_equal(spec->n_memory, 3);
  assert_int_equal(spec->memory[0].scope, ART_SCOPE_PROJECT);
  assert_int_equal(spec->memory[0].sensitivity, ART_SENS_PUBLIC);
  assert_int_equal(spec->memory[1].expires_at_us, 1769860800LL * 1000000 + 250000);
  assert_int_equal(spec->memory[2].scope, ART_SCOPE_TASK);
  assert_int_equal(spec->memory[2].sensitivity, ART_SENS_INTERNAL);
  assert_int_equal(spec->memory[2].expires_at_us, 0);
  assert_int_equal(spec->context_scopes, 1u << ART_SCOPE_TASK | 1u << ART_SCOPE_USER);
  assert_int_equal(spec->recent_observations, 3);
  assert_int_equal(spec->n_script, 2);
  assert_int_equal(spec->script_repeat[0], 2);
  assert_int_equal(spec->script_repeat[1], 1);
  assert_int_equal(spec->script[0].usage.prompt_tokens, 120);
  assert_int_equal(spec->script[0].usage.completion_tokens, 8);
  assert_int_equal(spec->n_mcp_servers, 1);
  const art_mcp_server_config *fs = &spec->mcp_servers[0];
  assert_string_equal(fs->name, "fs");
  assert_string_equal(fs->argv[0], tu_path("servers/fs")); /* resolved against the spec's dir */
  assert_string_equal(fs->argv[1], "/srv/notes");
  assert_null(fs->argv[2]);
  assert_string_equal(fs->env[0], "DEBUG=0");
  assert_string_equal(fs->env[1], "LANG=C");
  assert_null(fs->env[2]);
  assert_int_equal(fs->timeout_ms, 2000);
  assert_int_equal(fs->init_timeout_ms, 4000);
  assert_non_null(json_object_get(fs->tools, "write_file"));
  art_spec_free(spec);
}

static void test_minimal_spec_defaults(void **state) {
  (void)state;
  art_spec *spec = load_ok(tu_write("minimal.json", minimal_spec), NULL);
  assert_null(art_spec_run_id(spec));
  assert_int_equal(art_spec_max_steps(spec), 10);
  assert_string_equal(art_spec_outbox(spec), "outbox.jsonl");
  assert_int_equal(art_registry_count(art_spec_registry(spec)), 0);
  assert_int_equal(art_policy_rule_count(art_spec_policy(spec)), 0);
  art_spec_free(spec);
}

static void test_outbox_option_overrides_spec(void **state) {
  (void)state;
  art_spec_options opts = {.outbox = "elsewhere.jsonl"};
  art_spec *spec = load_ok(write_full_spec("full.json"), &opts);
  assert_string_equal(art_spec_outbox(spec), "elsewhere.jsonl");
  art_spec_free(spec);
  spec = load_ok(tu_write("minimal.json", minimal_spec), &opts);
  assert_string_equal(art_spec_outbox(spec), "elsewhere.jsonl");
  art_spec_free(spec);
}

/* ---- command paths ------------------------------------------------------------ */

static const char *command_argv(art_spec *spec, const char *tool, int i) {
  const art_tool *t = art_registry_find(art_spec_registry(spec), tool);
  assert_non_null(t);
  assert_non_null(art_command_tool_of(t));
  return art_command_tool_of(t)->argv[i];
}

/* A relative argv[0] with a slash is the spec's directory's; absolute paths and
 * bare names (looked up in PATH when run) are kept as written. */
static void test_relative_command_resolves_against_spec_dir(void **state) {
  (void)state;
  char want[700];
  art_spec *spec = load_ok(write_full_spec("full.json"), NULL);
  snprintf(want, sizeof want, "%s/bin/check_stock.sh", tu_tmpdir());
  assert_string_equal(command_argv(spec, "check_stock", 0), want);
  assert_string_equal(command_argv(spec, "check_stock", 1), "--fast");
  assert_null(command_argv(spec, "check_stock", 2));
  assert_string_equal(command_argv(spec, "archive", 0), "/bin/true");
  assert_string_equal(command_argv(spec, "notify", 0), "true");
  art_spec_free(spec);
}

static art_spec *parse_full_spec(const char *base_dir) {
  char *text = tu_read(FULL_SPEC_FIXTURE);
  json_t *json = parse_json(text);
  art_spec *spec = NULL;
  art_error err = {0};
  int rc = art_spec_parse(&spec, json, "full", base_dir, NULL, &err);
  if (rc != 0) fail_msg("parse failed: %s", err.message);
  json_decref(json);
  free(text);
  return spec;
}

/* Joined without a "./" or "//" in the middle: "./servers/fs" of a spec in
 * "." is "./servers/fs". */
static void test_parse_base_dir(void **state) {
  (void)state;
  static const char *const cases[][3] = {
      {"/opt/agents", "/opt/agents/bin/check_stock.sh", "/opt/agents/servers/fs"},
      {".", "./bin/check_stock.sh", "./servers/fs"},
      {"/", "/bin/check_stock.sh", "/servers/fs"},
      {"agents/", "agents/bin/check_stock.sh", "agents/servers/fs"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    art_spec *spec = parse_full_spec(cases[i][0]);
    assert_string_equal(command_argv(spec, "check_stock", 0), cases[i][1]);
    assert_string_equal(spec->mcp_servers[0].argv[0], cases[i][2]);
    art_spec_free(spec);
  }
  art_spec *spec = parse_full_spec(NULL);
  assert_string_equal(command_argv(spec, "check_stock", 0), "bin/check_stock.sh");
  art_spec_free(spec);
}

/* The resolved command really runs, from a test whose working directory is
 * not the spec's. */
static void test_relative_command_runs(void **state) {
  (void)state;
  mkdir(tu_path("bin"), 0755);
  const char *script = tu_write("bin/check_stock.sh", "#!/bin/sh\necho '{\"in_stock\": true}'\n");
  assert_int_equal(chmod(script, 0755), 0);
  art_spec *spec = load_ok(write_full_spec("full.json"), NULL);
  const art_tool *t = art_registry_find(art_spec_registry(spec), "check_stock");
  json_t *input = parse_json("{\"sku\": \"A1\"}");
  art_tool_call call = {.id = 1,
                        .step = 1,
                        .run_id = "run_full",
                        .tool = "check_stock",
                        .input = input,
                        .action_id = "act_1"};
  art_tool_result result = {0};
  assert_int_equal(art_tool_invoke(t, &call, &result), 0);
  if (result.status != ART_RESULT_OK) fail_msg("tool failed: %s", result.message);
  assert_true(json_is_true(json_object_get(result.data, "in_stock")));
  art_tool_result_dispose(&result);
  json_decref(input);
  art_spec_free(spec);
}

/* ---- allocation failures -------------------------------------------------------- */

/* jansson's allocation hooks take no user pointer, so what they forward to has
 * to be file-scope; it is set only while a counted load or parse runs. */
static struct {
  tu_alloc *counter;
  long refused; /* allocations jansson asked for and did not get */
} jansson_hook;

static void *jansson_alloc(size_t size) {
  void *ptr = jansson_hook.counter->a.alloc(jansson_hook.counter->a.ud, size);
  if (!ptr) jansson_hook.refused++;
  return ptr;
}

static void jansson_release(void *ptr) {
  jansson_hook.counter->a.release(jansson_hook.counter->a.ud, ptr);
}

static void count_jansson_allocations(tu_alloc *t) {
  jansson_hook.counter = t;
  jansson_hook.refused = 0;
  json_set_alloc_funcs(jansson_alloc, jansson_release);
}

static void stop_counting_jansson(void) {
  json_set_alloc_funcs(malloc, free);
  jansson_hook.counter = NULL;
}

typedef struct counted_load {
  int rc;
  tu_alloc alloc; /* the spec's and jansson's allocations */
  art_error err;
  bool jansson_refused; /* the failed allocation was one of jansson's */
} counted_load;

/* Load and free `path` with every allocation going through a fresh counter
 * that fails allocation `fail_at` (0: none). */
static void load_counted(const char *path, long fail_at, counted_load *out) {
  art_spec_options opts = {.alloc = &out->alloc.a};
  art_spec *spec = NULL;
  memset(&out->err, 0, sizeof out->err);
  tu_alloc_init(&out->alloc, fail_at);
  count_jansson_allocations(&out->alloc);
  out->rc = art_spec_load(&spec, path, &opts, &out->err);
  art_spec_free(spec);
  out->jansson_refused = jansson_hook.refused > 0;
  stop_counting_jansson();
}

/* How many allocations jansson's parser makes for `path` before the spec is
 * read: a failure among them may be reported as a parse error (ART_ESPEC). */
static long parser_allocations(const char *path) {
  tu_alloc t;
  tu_alloc_init(&t, 0);
  count_jansson_allocations(&t);
  json_decref(json_load_file(path, JSON_REJECT_DUPLICATES, NULL));
  stop_counting_jansson();
  assert_int_equal(t.live, 0);
  return t.count;
}

/* The load failed with ART_ENOMEM (or ART_ESPEC inside the parser) and leaked
 * nothing.  One exception: jansson 2.14's lexer ignores a failure to grow its
 * token buffer (lex_save) and drops a character, so a refused jansson
 * allocation can end in a successful load of a shorter string; a failed
 * allocation of agentrt's own must always fail the load. */
static void check_failed_load(long fail_at, const counted_load *l, bool in_parser) {
  bool code_ok = l->rc == ART_ENOMEM || (in_parser && l->rc == ART_ESPEC) ||
                 (l->jansson_refused && l->rc == 0);
  if (!code_ok || l->alloc.failed != 1 || l->alloc.live != 0)
    fail_msg("failing allocation %ld%s: rc %s (%s), %ld failed, %ld still live", fail_at,
             l->jansson_refused ? " (jansson's)" : "", art_strerror(l->rc), l->err.message,
             l->alloc.failed, l->alloc.live);
  if (l->rc == ART_ENOMEM) assert_non_null(strstr(l->err.message, "out of memory"));
}

static void test_load_survives_every_allocation_failure(void **state) {
  (void)state;
  const char *path = write_full_spec("oom.json");
  counted_load l;
  load_counted(path, 0, &l);
  assert_int_equal(l.rc, 0);
  assert_int_equal(l.alloc.live, 0);
  long total = l.alloc.count, in_parser = parser_allocations(path), swallowed = 0;
  assert_true(total > in_parser);
  for (long i = 1; i <= total; i++) {
    load_counted(path, i, &l);
    check_failed_load(i, &l, i <= in_parser);
    swallowed += l.rc == 0;
  }
  print_message("%ld allocations (%ld in the parser); %ld failures swallowed by jansson\n", total,
                in_parser, swallowed);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_missing_file),
      cmocka_unit_test(test_directory),
      cmocka_unit_test(test_bad_json),
      cmocka_unit_test(test_duplicate_json_key),
      cmocka_unit_test(test_parse_names_the_document),
      /* the top level */
      SPEC_ERROR("top level not an object", NULL, "[1, 2]", "$",
                 "expected an object, got an array"),
      SPEC_ERROR("unknown top-level key", "gaol", "\"typo\"", "$", "unknown key \"gaol\""),
      SPEC_ERROR("missing goal", "goal", NULL, "$", "missing required key \"goal\""),
      SPEC_ERROR("empty goal", "goal", "\"\"", "$.goal", "must not be empty"),
      SPEC_ERROR("goal not a string", "goal", "5", "$.goal", "expected a string, got an integer"),
      SPEC_ERROR("empty run_id", "run_id", "\"\"", "$.run_id", "must not be empty"),
      SPEC_ERROR("outbox not a string", "outbox", "true", "$.outbox", "expected a string"),
      SPEC_ERROR("max_steps a string", "max_steps", "\"10\"", "$.max_steps",
                 "expected an integer, got a string"),
      SPEC_ERROR("max_steps 0", "max_steps", "0", "$.max_steps", "must be between 1 and"),
      SPEC_ERROR("max_steps a fraction", "max_steps", "2.5", "$.max_steps",
                 "expected an integer, got a number"),
      /* mcp_servers */
      SPEC_ERROR("mcp_servers not an array", "mcp_servers", "{}", "$.mcp_servers",
                 "expected an array, got an object"),
      SPEC_ERROR("mcp server not an object", "mcp_servers", "[\"fs\"]", "$.mcp_servers[0]",
                 "expected an object"),
      SPEC_ERROR("mcp server missing name", "mcp_servers", "[{\"command\": [\"x\"]}]",
                 "$.mcp_servers[0]", "missing required key \"name\""),
      SPEC_ERROR("mcp server name with a dot", "mcp_servers",
                 "[{\"name\": \"my.fs\", \"command\": [\"x\"]}]", "$.mcp_servers[0].name",
                 "\"my.fs\" is not a server name"),
      SPEC_ERROR("mcp server missing command", "mcp_servers", "[{\"name\": \"fs\"}]",
                 "$.mcp_servers[0].command", "expected a non-empty array of strings"),
      SPEC_ERROR("mcp server command a string", "mcp_servers",
                 "[{\"name\": \"fs\", \"command\": \"node server.js\"}]",
                 "$.mcp_servers[0].command", "(argv, no shell)"),
      SPEC_ERROR("mcp server unknown key", "mcp_servers",
                 "[{\"name\": \"fs\", \"command\": [\"x\"], \"shell\": true}]",
                 "$.mcp_servers[0]", "unknown key \"shell\""),
      SPEC_ERROR("mcp server timeout 0", "mcp_servers",
                 "[{\"name\": \"fs\", \"command\": [\"x\"], \"timeout_ms\": 0}]",
                 "$.mcp_servers[0].timeout_ms", "must be between 1 and"),
      SPEC_ERROR("mcp server env value not a string", "mcp_servers",
                 "[{\"name\": \"fs\", \"command\": [\"x\"], \"env\": {\"DEBUG\": 1}}]",
                 "$.mcp_servers[0].env.DEBUG", "expected a string"),
      SPEC_ERROR("mcp server env name with =", "mcp_servers",
                 "[{\"name\": \"fs\", \"command\": [\"x\"], \"env\": {\"A=B\": \"1\"}}]",
                 "$.mcp_servers[0].env.A=B", "not a variable name"),
      SPEC_ERROR("mcp tool override bad side effect", "mcp_servers",
                 "[{\"name\": \"fs\", \"command\": [\"x\"], \"tools\": {\"write_file\": "
                 "{\"side_effect\": \"delete\"}}}]",
                 "$.mcp_servers[0].tools.write_file.side_effect",
                 "expected one of read, draft, write"),
      SPEC_ERROR("mcp tool override unknown key", "mcp_servers",
                 "[{\"name\": \"fs\", \"command\": [\"x\"], \"tools\": {\"write_file\": "
                 "{\"allowed\": true}}}]",
                 "$.mcp_servers[0].tools.write_file", "unknown key \"allowed\""),
      SPEC_ERROR("mcp duplicate server names", "mcp_servers",
                 "[{\"name\": \"fs\", \"command\": [\"x\"]}, {\"name\": \"fs\", "
                 "\"command\": [\"y\"]}]",
                 "$.mcp_servers[1]", "duplicate MCP server name \"fs\""),
      /* actor */
      SPEC_ERROR("actor not an object", "actor", "\"bob\"", "$.actor",
                 "expected an object, got a string"),
      SPEC_ERROR("actor unknown key", "actor", "{\"id\": \"a\", \"name\": \"b\"}", "$.actor",
                 "unknown key \"name\""),
      SPEC_ERROR("actor id not a string", "actor", "{\"id\": 7}", "$.actor.id",
                 "expected a string"),
      /* memory */
      SPEC_ERROR("memory not an array", "memory", "{}", "$.memory",
                 "expected an array, got an object"),
      SPEC_ERROR("memory item not an object", "memory", "[\"m1\"]", "$.memory[0]",
                 "expected an object"),
      SPEC_ERROR("memory item missing id", "memory", "[{\"text\": \"t\"}]", "$.memory[0]",
                 "missing required key \"id\""),
      SPEC_ERROR("memory item missing text", "memory", "[{\"id\": \"m1\"}]", "$.memory[0]",
                 "missing required key \"text\""),
      SPEC_ERROR("memory item unknown key", "memory",
                 "[{\"id\": \"m1\", \"text\": \"t\", \"ttl\": 5}]", "$.memory[0]",
                 "unknown key \"ttl\""),
      SPEC_ERROR("memory bad scope", "memory",
                 "[{\"id\": \"m1\", \"text\": \"t\"}, {\"id\": \"m2\", \"text\": \"t\", \"scope\": "
                 "\"global\"}]",
                 "$.memory[1].scope", "expected one of task, project, user, tenant"),
      SPEC_ERROR("memory bad sensitivity", "memory",
                 "[{\"id\": \"m1\", \"text\": \"t\", \"sensitivity\": \"secret\"}]",
                 "$.memory[0].sensitivity",
                 "expected one of public, internal, confidential, restricted"),
      SPEC_ERROR("memory bad expires_at", "memory",
                 "[{\"id\": \"m1\", \"text\": \"t\", \"expires_at\": \"tomorrow\"}]",
                 "$.memory[0].expires_at", "expected a UTC time"),
      SPEC_ERROR(
          "memory expires_at without Z", "memory",
          "[{\"id\": \"m1\", \"text\": \"t\", \"expires_at\": \"2026-01-31T12:00:00+01:00\"}]",
          "$.memory[0].expires_at", "expected a UTC time"),
      SPEC_ERROR("memory expires_at on a day that does not exist", "memory",
                 "[{\"id\": \"m1\", \"text\": \"t\", \"expires_at\": \"2026-02-31T12:00:00Z\"}]",
                 "$.memory[0].expires_at", "expected a UTC time"),
      SPEC_ERROR("memory expires_at second 60", "memory",
                 "[{\"id\": \"m1\", \"text\": \"t\", \"expires_at\": \"2026-01-31T12:00:60Z\"}]",
                 "$.memory[0].expires_at", "expected a UTC time"),
      SPEC_ERROR("memory expires_at short fields", "memory",
                 "[{\"id\": \"m1\", \"text\": \"t\", \"expires_at\": \"2026-1-1T1:1:1Z\"}]",
                 "$.memory[0].expires_at", "expected a UTC time"),
      SPEC_ERROR("memory expires_at at the epoch", "memory",
                 "[{\"id\": \"m1\", \"text\": \"t\", \"expires_at\": \"1970-01-01T00:00:00Z\"}]",
                 "$.memory[0].expires_at", "after 1970"),
      SPEC_ERROR("memory expires_at empty fraction", "memory",
                 "[{\"id\": \"m1\", \"text\": \"t\", \"expires_at\": \"2026-01-31T12:00:00.Z\"}]",
                 "$.memory[0].expires_at", "expected a UTC time"),
      SPEC_ERROR("duplicate memory id", "memory",
                 "[{\"id\": \"m1\", \"text\": \"a\"}, {\"id\": \"m1\", \"text\": \"b\"}]",
                 "$.memory[1]", "duplicate memory id \"m1\""),
      /* tools */
      SPEC_ERROR("tools not an array", "tools", "\"lookup_policy\"", "$.tools",
                 "expected an array, got a string"),
      SPEC_ERROR("tool neither name nor object", "tools", "[42]", "$.tools[0]",
                 "expected a built-in tool name or a tool object"),
      SPEC_ERROR("unknown built-in tool", "tools", "[\"lookup_policy\", \"lookup_polcy\"]",
                 "$.tools[1]", "unknown built-in tool \"lookup_polcy\"", BUILTIN_TOOLS),
      SPEC_ERROR("built-in tool listed twice", "tools", "[\"send_message\", \"send_message\"]",
                 "$.tools[1]", "\"send_message\"", "twice"),
      SPEC_ERROR("command tool listed twice", "tools",
                 "[{\"name\": \"t\", \"side_effect\": \"read\", \"command\": [\"true\"]},"
                 " {\"name\": \"t\", \"side_effect\": \"read\", \"command\": [\"true\"]}]",
                 "$.tools[1]", "\"t\"", "twice"),
      SPEC_ERROR(
          "built-in after a command tool of that name", "tools",
          "[{\"name\": \"flaky_lookup\", \"side_effect\": \"read\", \"command\": [\"true\"]},"
          " \"flaky_lookup\"]",
          "$.tools[1]", "\"flaky_lookup\"", "twice"),
      SPEC_ERROR("tool missing name", "tools",
                 "[{\"side_effect\": \"read\", \"command\": [\"true\"]}]", "$.tools[0]",
                 "missing required key \"name\""),
      SPEC_ERROR("tool missing side_effect", "tools",
                 "[{\"name\": \"t\", \"command\": [\"true\"]}]", "$.tools[0]",
                 "missing required key \"side_effect\""),
      SPEC_ERROR("tool missing command", "tools", TOOL_WITH("\"description\": \"d\""),
                 "$.tools[0].command", "expected a non-empty array of strings"),
      SPEC_ERROR("tool bad side_effect", "tools",
                 "[{\"name\": \"t\", \"side_effect\": \"delete\", \"command\": [\"true\"]}]",
                 "$.tools[0].side_effect", "expected one of read, draft, write"),
      SPEC_ERROR("tool command a string", "tools", TOOL_WITH("\"command\": \"ls -l\""),
                 "$.tools[0].command", "expected a non-empty array of strings"),
      SPEC_ERROR("tool command empty", "tools", TOOL_WITH("\"command\": []"), "$.tools[0].command",
                 "expected a non-empty array of strings"),
      SPEC_ERROR("tool command element not a string", "tools",
                 TOOL_WITH("\"command\": [\"ls\", 1]"), "$.tools[0].command[1]",
                 "expected a string"),
      SPEC_ERROR("tool command argv[0] empty", "tools", TOOL_WITH("\"command\": [\"\"]"),
                 "$.tools[0].command", "argv[0] is empty"),
      SPEC_ERROR("tool input_schema not an object", "tools",
                 TOOL_WITH("\"command\": [\"true\"], \"input_schema\": \"object\""),
                 "$.tools[0].input_schema", "expected an object"),
      SPEC_ERROR("tool unknown key", "tools", TOOL_WITH("\"command\": [\"true\"], \"shell\": true"),
                 "$.tools[0]", "unknown key \"shell\""),
      SPEC_ERROR("tool timeout_ms 0", "tools",
                 TOOL_WITH("\"command\": [\"true\"], \"timeout_ms\": 0"), "$.tools[0].timeout_ms",
                 "must be between 1 and 3600000"),
      SPEC_ERROR("tool timeout_ms too large", "tools",
                 TOOL_WITH("\"command\": [\"true\"], \"timeout_ms\": 3600001"),
                 "$.tools[0].timeout_ms", "must be between 1 and 3600000"),
      SPEC_ERROR("tool enabled not a boolean", "tools",
                 TOOL_WITH("\"command\": [\"true\"], \"enabled\": \"yes\""), "$.tools[0].enabled",
                 "expected a boolean, got a string"),
      /* policy */
      SPEC_ERROR("policy not an object", "policy", "[]", "$.policy",
                 "expected an object, got an array"),
      SPEC_ERROR("policy unknown key", "policy", "{\"default\": \"deny\"}", "$.policy",
                 "unknown key \"default\""),
      SPEC_ERROR("policy rules not an array", "policy", "{\"rules\": {}}", "$.policy.rules",
                 "expected an array, got an object"),
      SPEC_ERROR("policy rule not an object", "policy", "{\"rules\": [\"allow\"]}",
                 "$.policy.rules[0]", "expected an object"),
      SPEC_ERROR("policy rule unknown key", "policy", RULE_WITH("\"if\": {}"), "$.policy.rules[0]",
                 "unknown key \"if\""),
      SPEC_ERROR("policy rule bad effect", "policy", "{\"rules\": [{\"effect\": \"maybe\"}]}",
                 "$.policy.rules[0].effect", "expected one of allow, deny, approval_required"),
      SPEC_ERROR("policy rule missing effect", "policy",
                 "{\"rules\": [{\"effect\": \"deny\"}, {\"reason\": \"r\"}]}", "$.policy.rules[1]",
                 "missing required key \"effect\""),
      SPEC_ERROR("policy when not an object", "policy", RULE_WITH("\"when\": \"always\""),
                 "$.policy.rules[0].when", "expected an object"),
      SPEC_ERROR("policy when unknown key", "policy", WHEN("\"tools\": \"x\""),
                 "$.policy.rules[0].when", "unknown key \"tools\""),
      SPEC_ERROR("policy bad when.action", "policy", WHEN("\"action\": \"call\""),
                 "$.policy.rules[0].when.action", "expected one of tool, retrieve, answer"),
      SPEC_ERROR("policy bad when.side_effect", "policy", WHEN("\"side_effect\": \"delete\""),
                 "$.policy.rules[0].when.side_effect", "expected one of read, draft, write"),
      SPEC_ERROR("policy bad when.side_effect list element", "policy",
                 WHEN("\"side_effect\": [\"read\", \"delete\"]"),
                 "$.policy.rules[0].when.side_effect[1]", "expected one of read, draft, write"),
      SPEC_ERROR("policy empty when.side_effect list", "policy", WHEN("\"side_effect\": []"),
                 "$.policy.rules[0].when.side_effect", "must not be empty"),
      SPEC_ERROR("policy when.input not an object", "policy", WHEN("\"input\": [\"to\"]"),
                 "$.policy.rules[0].when.input", "expected an object, got an array"),
      SPEC_ERROR("policy approved_action_ids not an array", "policy",
                 "{\"approved_action_ids\": \"act_1\"}", "$.policy.approved_action_ids",
                 "expected an array, got a string"),
      SPEC_ERROR("policy approved_action_ids element not a string", "policy",
                 "{\"approved_action_ids\": [\"act_1\", 2]}", "$.policy.approved_action_ids[1]",
                 "expected a string"),
      /* model */
      SPEC_ERROR("model missing", "model", NULL, "$", "missing required key \"model\""),
      SPEC_ERROR("model not an object", "model", "\"scripted\"", "$.model",
                 "expected an object, got a string"),
      SPEC_ERROR("model missing type", "model", "{\"decisions\": []}", "$.model",
                 "missing required key \"type\""),
      SPEC_ERROR("model unknown type", "model", "{\"type\": \"gpt\"}", "$.model.type",
                 "unknown model type \"gpt\"", "scripted, openai, command"),
      SPEC_ERROR("scripted model without decisions", "model", "{\"type\": \"scripted\"}", "$.model",
                 "missing required key \"decisions\""),
      SPEC_ERROR("scripted model unknown key", "model",
                 "{\"type\": \"scripted\", \"decisions\": [], \"seed\": 1}", "$.model",
                 "unknown key \"seed\""),
      SPEC_ERROR("decisions not an array", "model", "{\"type\": \"scripted\", \"decisions\": {}}",
                 "$.model.decisions", "expected an array, got an object"),
      SPEC_ERROR("decision entry not an object", "model",
                 "{\"type\": \"scripted\", \"decisions\": [\"answer\"]}", "$.model.decisions[0]",
                 "expected an object, got a string"),
      SPEC_ERROR("decision type misspelled", "model",
                 "{\"type\": \"scripted\", \"decisions\": [{\"type\": \"anwser\", \"text\": \"x\"}]}",
                 "$.model.decisions[0].type", "expected one of answer, tool, ask_human, stop"),
      SPEC_ERROR("decision type malformed", "model",
                 "{\"type\": \"scripted\", \"decisions\": [{\"type\": \"malformed\"}]}",
                 "$.model.decisions[0].type", "expected one of answer, tool, ask_human, stop"),
      SPEC_ERROR("decision type missing", "model",
                 "{\"type\": \"scripted\", \"decisions\": [{\"text\": \"x\"}]}",
                 "$.model.decisions[0]", "missing required key \"type\""),
      SPEC_ERROR("decision type not a string", "model",
                 "{\"type\": \"scripted\", \"decisions\": [{\"type\": 1}]}",
                 "$.model.decisions[0].type", "expected a string"),
      SPEC_ERROR("decision entry unknown key", "model", DECISION_WITH("\"tool\": \"x\""),
                 "$.model.decisions[0]", "unknown key \"tool\""),
      SPEC_ERROR("decision repeat 0", "model", DECISION_WITH("\"repeat\": 0"),
                 "$.model.decisions[0].repeat", "must be between 1 and"),
      SPEC_ERROR("decision repeat not an integer", "model", DECISION_WITH("\"repeat\": \"2\""),
                 "$.model.decisions[0].repeat", "expected an integer, got a string"),
      SPEC_ERROR("decision usage not an object", "model", DECISION_WITH("\"usage\": 5"),
                 "$.model.decisions[0].usage", "expected an object"),
      SPEC_ERROR("decision usage unknown key", "model", DECISION_WITH("\"usage\": {\"tokens\": 5}"),
                 "$.model.decisions[0].usage", "unknown key \"tokens\""),
      SPEC_ERROR("decision usage negative", "model",
                 DECISION_WITH("\"usage\": {\"prompt_tokens\": -1}"),
                 "$.model.decisions[0].usage.prompt_tokens", "must be between 0 and"),
      /* openai and command models, price, token and cost budgets */
      SPEC_ERROR("openai model without base_url", "model", "{\"type\": \"openai\", \"model\": \"m\"}",
                 "$.model", "missing required key \"base_url\""),
      SPEC_ERROR("openai model without model", "model",
                 "{\"type\": \"openai\", \"base_url\": \"http://h/v1\"}", "$.model",
                 "missing required key \"model\""),
      SPEC_ERROR("openai base_url not http", "model",
                 "{\"type\": \"openai\", \"base_url\": \"ftp://h\", \"model\": \"m\"}",
                 "$.model.base_url", "expected an http:// or https:// URL"),
      SPEC_ERROR("openai unknown key", "model", OPENAI_WITH("\"api_key\": \"sk-x\""), "$.model",
                 "unknown key \"api_key\""),
      SPEC_ERROR("openai api_key_env not a name", "model", OPENAI_WITH("\"api_key_env\": \"sk-123 x\""),
                 "$.model.api_key_env", "the name of an environment variable"),
      SPEC_ERROR("openai temperature out of range", "model", OPENAI_WITH("\"temperature\": 3"),
                 "$.model.temperature", "must be between 0 and 2"),
      SPEC_ERROR("openai temperature not a number", "model", OPENAI_WITH("\"temperature\": \"hot\""),
                 "$.model.temperature", "expected a number, got a string"),
      SPEC_ERROR("openai timeout_ms 0", "model", OPENAI_WITH("\"timeout_ms\": 0"),
                 "$.model.timeout_ms", "must be between 1 and"),
      SPEC_ERROR("openai max_retries negative", "model", OPENAI_WITH("\"max_retries\": -1"),
                 "$.model.max_retries", "must be between 0 and 20"),
      SPEC_ERROR("openai max_connections 0", "model", OPENAI_WITH("\"max_connections\": 0"),
                 "$.model.max_connections", "must be between 1 and 10000"),
      SPEC_ERROR("openai max_backoff below backoff", "model",
                 OPENAI_WITH("\"retry_backoff_ms\": 100, \"max_backoff_ms\": 10"),
                 "$.model.max_backoff_ms", "must not be below retry_backoff_ms (100)"),
      SPEC_ERROR("openai price not an object", "model", OPENAI_WITH("\"price\": 3"), "$.model.price",
                 "expected an object"),
      SPEC_ERROR("openai price unknown key", "model", OPENAI_WITH("\"price\": {\"per_token\": 1}"),
                 "$.model.price", "unknown key \"per_token\""),
      SPEC_ERROR("openai price negative", "model",
                 OPENAI_WITH("\"price\": {\"input_per_mtok\": -1}"), "$.model.price.input_per_mtok",
                 "must be between 0 and"),
      SPEC_ERROR("tool named like a built-in function", NULL,
                 "{\"goal\": \"g\", \"tools\": [{\"name\": \"stop\", \"side_effect\": \"read\", "
                 "\"command\": [\"true\"]}], \"model\": " OPENAI_WITH("\"max_retries\": 1") "}",
                 "$.tools", "\"stop\" clashes with the openai model's built-in function"),
      SPEC_ERROR("command model without command", "model", "{\"type\": \"command\"}",
                 "$.model.command", "expected a non-empty array of strings"),
      SPEC_ERROR("command model unknown key", "model",
                 "{\"type\": \"command\", \"command\": [\"x\"], \"shell\": true}", "$.model",
                 "unknown key \"shell\""),
      SPEC_ERROR("command model argv not strings", "model",
                 "{\"type\": \"command\", \"command\": [\"x\", 1]}", "$.model.command[1]",
                 "expected a string"),
      SPEC_ERROR("scripted price not numbers", "model",
                 "{\"type\": \"scripted\", \"decisions\": [], \"price\": {\"output_per_mtok\": \"1\"}}",
                 "$.model.price.output_per_mtok", "expected a number"),
      SPEC_ERROR("max_tokens_total 0", "max_tokens_total", "0", "$.max_tokens_total",
                 "must be between 1 and"),
      SPEC_ERROR("max_cost_usd 0", "max_cost_usd", "0", "$.max_cost_usd", "must be between"),
      SPEC_ERROR("max_cost_usd not a number", "max_cost_usd", "\"1\"", "$.max_cost_usd",
                 "expected a number, got a string"),
      /* context */
      SPEC_ERROR("context not an object", "context", "5", "$.context", "expected an object"),
      SPEC_ERROR("context unknown key", "context", "{\"window\": 5}", "$.context",
                 "unknown key \"window\""),
      SPEC_ERROR("context bad scope", "context", "{\"scopes\": \"galaxy\"}", "$.context.scopes",
                 "expected one of task, project, user, tenant"),
      SPEC_ERROR("context bad scope in list", "context", "{\"scopes\": [\"task\", \"galaxy\"]}",
                 "$.context.scopes[1]", "expected one of task, project, user, tenant"),
      SPEC_ERROR("context recent_observations negative", "context", "{\"recent_observations\": -1}",
                 "$.context.recent_observations", "must be between 0 and 1000"),
      /* redact */
      SPEC_ERROR("redact not an object", "redact", "[]", "$.redact", "expected an object"),
      SPEC_ERROR("redact unknown key", "redact", "{\"fields\": []}", "$.redact",
                 "unknown key \"fields\""),
      SPEC_ERROR("redact bad pattern", "redact", "{\"patterns\": [\"ok\", \"(unclosed\"]}",
                 "$.redact.patterns", "(unclosed"),
      SPEC_ERROR("redact patterns not an array", "redact", "{\"patterns\": \"x+\"}",
                 "$.redact.patterns", "expected an array, got a string"),
      SPEC_ERROR("redact keys not an array", "redact", "{\"keys\": \"password\"}", "$.redact.keys",
                 "expected an array, got a string"),
      SPEC_ERROR("redact keys element not a string", "redact", "{\"keys\": [\"password\", 3]}",
                 "$.redact.keys[1]", "expected a string"),
      /* loading what is right */
      cmocka_unit_test(test_full_spec_accessors),
      cmocka_unit_test(test_full_spec_internals),
      cmocka_unit_test(test_minimal_spec_defaults),
      cmocka_unit_test(test_outbox_option_overrides_spec),
      cmocka_unit_test(test_relative_command_resolves_against_spec_dir),
      cmocka_unit_test(test_parse_base_dir),
      cmocka_unit_test(test_relative_command_runs),
      cmocka_unit_test(test_load_survives_every_allocation_failure),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
