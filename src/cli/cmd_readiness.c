/* agentrt readiness: the runtime readiness record of an agent spec, as a
 * table, JSON, or YAML in the shape of the chapter's record. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/readiness.h"

static const char usage[] =
    "usage: agentrt readiness SPEC.json [--store URL] [--suite FILE ...] [--trace FILE] [--json | "
    "--yaml]\n"
    "\n"
    "The runtime readiness record of the agent as it would really run: for each\n"
    "primitive (state, tools, policy, context, trace, eval) who owns it in this\n"
    "deployment and its production gaps, read off the spec (its tools, after\n"
    "starting its MCP servers; its policy; its memory; its redaction), the store\n"
    "and the eval suites given; then the decision.  Nothing is run.\n"
    "\n"
    "  --store URL     memory: (the memory store), sqlite:PATH or PATH (a SQLite\n"
    "                  store), or a postgresql:// URL (a PostgreSQL store; not\n"
    "                  connected to); default: $AGENTRT_STORE, else ./agentrt.db,\n"
    "                  as agentrt run uses\n"
    "  --suite FILE    an eval suite that checks this agent (repeatable)\n"
    "  --trace FILE    the JSONL trace file agentrt run would be given\n"
    "  --json          the record as one JSON object\n"
    "  --yaml          the record as YAML: runtime_readiness: purpose, state:\n"
    "                  {owner, production_gap}, ..., decision\n"
    "\n"
    "A gap blocks real side effects when a write could happen unchecked or\n"
    "unrecorded:\n"
    "  - no durable checkpoints (the memory store, a store that cannot be written\n"
    "    or created)\n"
    "  - a write tool the policy allows without approval (asked with an empty\n"
    "    input and with each input a rule names), or allow_self_approval with\n"
    "    write tools\n"
    "  - an input field named like a secret (password, token, api_key, ...) that\n"
    "    the spec's redaction keys do not hide\n"
    "  - a write tool that no case of the given suites covers (names it in\n"
    "    tools_called or tools_not_called, or runs an agent that has it), unless\n"
    "    the policy denies it for every one of those inputs\n"
    "Every other gap is a warning: no owner or version, a command tool without an\n"
    "input schema or a timeout of its own, memory without expires_at, no store\n"
    "named, no wall-time budget, no trace sink beyond the local host, no suite.\n"
    "\n"
    "exit codes: 0 ready (warnings may remain), 1 a gap blocks real side effects\n"
    "            or an MCP server could not be set up, 2 bad usage, spec or suite\n";

/* ---- YAML, written by hand: every string double-quoted ---------------------------- */

static void yaml_string(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      printf("\\%c", c);
    else if (c == '\n')
      fputs("\\n", stdout);
    else if (c == '\t')
      fputs("\\t", stdout);
    else if (c < 0x20 || c == 0x7f)
      printf("\\x%02x", c);
    else
      putchar(c);
  }
  putchar('"');
}

static void yaml_key(int indent, const char *key, const char *value) {
  printf("%*s%s:", indent, "", key);
  if (value) {
    putchar(' ');
    yaml_string(value);
  }
  putchar('\n');
}

static const char *text_of(const json_t *record, const char *key) {
  return json_string_value(json_object_get(record, key));
}

/* "blocks: ..." or "warning: ...". */
static void gap_text(const json_t *g, char *buf, size_t size) {
  snprintf(buf, size, "%s: %s", json_is_true(json_object_get(g, "blocks")) ? "blocks" : "warning",
           json_string_value(json_object_get(g, "gap")));
}

static int print_yaml(const json_t *record) {
  char line[8192];
  yaml_key(0, "runtime_readiness", NULL);
  yaml_key(2, "agent", text_of(record, "agent"));
  yaml_key(2, "purpose", text_of(record, "purpose"));
  for (const char *const *p = readiness_primitives; *p; p++) {
    const json_t *prim = json_object_get(record, *p), *g;
    const json_t *gaps = json_object_get(prim, "production_gap");
    size_t i;
    yaml_key(2, *p, NULL);
    yaml_key(4, "owner", text_of(prim, "owner"));
    if (!json_array_size(gaps)) {
      puts("    production_gap: []");
      continue;
    }
    yaml_key(4, "production_gap", NULL);
    json_array_foreach(gaps, i, g) {
      gap_text(g, line, sizeof line);
      fputs("      - ", stdout);
      yaml_string(line);
      putchar('\n');
    }
  }
  printf("  ready: %s\n", json_is_true(json_object_get(record, "ready")) ? "true" : "false");
  yaml_key(2, "decision", text_of(record, "decision"));
  return fflush(stdout) == 0 ? 0 : cli_error(EXIT_USAGE, CLI_ERR_IO, "cannot write to stdout");
}

static int print_table(const json_t *record) {
  printf("readiness of %s\npurpose: %s\n\n", text_of(record, "agent"), text_of(record, "purpose"));
  for (const char *const *p = readiness_primitives; *p; p++) {
    const json_t *prim = json_object_get(record, *p), *g;
    size_t i;
    printf("%-8s %s\n", *p, text_of(prim, "owner"));
    json_array_foreach(json_object_get(prim, "production_gap"), i, g) {
      printf("  %-7s %s\n", json_is_true(json_object_get(g, "blocks")) ? "BLOCKS" : "warning",
             json_string_value(json_object_get(g, "gap")));
    }
  }
  printf("\n%s\n", text_of(record, "decision"));
  return fflush(stdout) == 0 ? 0 : cli_error(EXIT_USAGE, CLI_ERR_IO, "cannot write to stdout");
}

/* ---- the command ------------------------------------------------------------------- */

static int report(const cli_opts *o, art_spec *spec, art_eval_suite **suites) {
  readiness_input in = {.spec = spec,
                        .spec_path = o->args[0],
                        .store = o->store,
                        .store_given = o->store_given,
                        .trace_file = o->trace,
                        .suites = (const art_eval_suite *const *)suites,
                        .suite_paths = o->suites,
                        .n_suites = (size_t)o->n_suites};
  json_t *record = readiness_record(&in);
  if (!record) return cli_error(EXIT_USAGE, CLI_ERR_INTERNAL, "out of memory");
  int rc = o->json ? cli_print_json(record) : o->yaml ? print_yaml(record) : print_table(record);
  if (rc == 0) rc = json_is_true(json_object_get(record, "ready")) ? EXIT_OK : EXIT_STOPPED;
  json_decref(record);
  return rc;
}

int cmd_readiness(int argc, char **argv) {
  cli_opts o;
  int rc = cli_parse(argc, argv, OPT_STORE | OPT_SUITE | OPT_TRACE | OPT_YAML, 1, usage, &o);
  if (rc != 0 || o.help) return rc;
  if (o.json && o.yaml) return cli_usage_error(usage, "--json and --yaml exclude each other");
  if (strcmp(o.store, "sqlite:") == 0)
    return cli_usage_error(usage, "--store sqlite: names no file");
  art_spec *spec;
  art_mcp_session *mcp = NULL;
  art_eval_suite *suites[CLI_MAX_SUITES] = {0};
  art_error err = {0};
  if (art_spec_load(&spec, o.args[0], NULL, &err) < 0)
    return cli_error(EXIT_USAGE, cli_err_of(err.code), "%s", err.message);
  rc = cli_load_suites(&o, suites);
  if (rc == 0) rc = cli_mcp_list_tools(spec, &mcp);
  if (rc == 0) rc = report(&o, spec, suites);
  cli_free_suites(&o, suites);
  art_mcp_session_free(mcp);
  art_spec_free(spec);
  return rc;
}
