/* agentrt tools list: every tool a spec gives its agent (built-in, command and
 * MCP), with its side effect, where that came from, and what the policy gate
 * would say to a call of it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/text.h"

static const char usage[] =
    "usage: agentrt tools list SPEC.json [--json]\n"
    "\n"
    "Start the spec's MCP servers and list every tool of the spec: its name (MCP\n"
    "tools are SERVER.TOOL), its side effect (read, draft, write) and where that\n"
    "came from (declared in the spec or code, an MCP annotation, the MCP default,\n"
    "or the spec's override), what the policy would do with a call of it\n"
    "(allow, deny, approval_required, and the rule that decides; rules on input\n"
    "fields are matched against an empty input), and its input schema.\n"
    "\n"
    "  --json          one JSON object: {servers: [{name, protocol}], tools: [...]}\n"
    "\n"
    "exit codes: 0 listed, 1 an MCP server could not be set up, 2 bad usage or spec\n";

void cli_tool_verdict(const art_spec *spec, const art_tool *t, const json_t *input,
                      art_verdict *v) {
  json_t *empty = input ? NULL : json_object();
  art_policy_query q = {.action = ART_GATE_TOOL,
                        .actor = art_spec_actor(spec),
                        .tenant = art_spec_tenant(spec),
                        .route = art_spec_route(spec),
                        .tool = art_tool_name(t),
                        .side_effect = art_tool_side_effect(t),
                        .input = input ? input : empty,
                        .sensitivity = ART_SENS_PUBLIC,
                        .remaining_steps = art_spec_max_steps(spec)};
  art_policy_eval(art_spec_policy(spec), &q, v);
  json_decref(empty);
}

/* "rule 2: why", or the default's own reason ("default: read allowed"). */
static void rule_name(const art_verdict *v, char *buf, size_t size) {
  if (v->rule < 0)
    art_format(buf, size, "%s", v->reason ? v->reason : "default");
  else
    art_format(buf, size, "rule %d: %s", v->rule, v->reason ? v->reason : "");
}

static json_t *tool_json(const art_spec *spec, const art_tool *t) {
  art_verdict v;
  cli_tool_verdict(spec, t, NULL, &v);
  return json_pack("{s:s, s:s, s:s, s:s, s:s?, s:b, s:b, s:{s:s, s:o, s:s}, s:O?}", "name",
                   art_tool_name(t), "description", art_tool_description(t), "side_effect",
                   art_side_effect_name(art_tool_side_effect(t)), "side_effect_source",
                   art_side_effect_source_name(art_tool_side_effect_source(t)), "owner",
                   art_tool_owner(t), "idempotent", art_tool_idempotent(t), "enabled",
                   art_tool_enabled(t), "policy", "effect", art_effect_name(v.effect), "rule",
                   v.rule < 0 ? json_null() : json_integer(v.rule), "reason",
                   v.reason ? v.reason : "", "input_schema", (json_t *)art_tool_input_schema(t));
}

static int print_json(const art_spec *spec, const art_mcp_session *mcp) {
  json_t *servers = json_array(), *tools = json_array();
  const art_registry *reg = art_spec_registry((art_spec *)spec);
  for (size_t i = 0; i < art_mcp_server_count(mcp); i++)
    json_array_append_new(servers, json_pack("{s:s, s:s}", "name", art_mcp_server_name(mcp, i),
                                             "protocol", art_mcp_server_protocol(mcp, i)));
  for (size_t i = 0; i < art_registry_count(reg); i++)
    json_array_append_new(tools, tool_json(spec, art_registry_at(reg, i)));
  json_t *all = json_pack("{s:o, s:o}", "servers", servers, "tools", tools);
  int rc = cli_print_json(all);
  json_decref(all);
  return rc;
}

static void print_tool(const art_spec *spec, const art_tool *t) {
  art_verdict v;
  char rule[300];
  cli_tool_verdict(spec, t, NULL, &v);
  rule_name(&v, rule, sizeof rule);
  printf("%-32s %-6s %-10s %-18s %s\n", art_tool_name(t),
         art_side_effect_name(art_tool_side_effect(t)),
         art_side_effect_source_name(art_tool_side_effect_source(t)), art_effect_name(v.effect),
         rule);
  if (art_tool_description(t)[0]) printf("    %s\n", art_tool_description(t));
  char *schema = art_tool_input_schema(t)
                     ? json_dumps(art_tool_input_schema(t), JSON_COMPACT | JSON_SORT_KEYS)
                     : NULL;
  printf("    input: %s\n", schema ? schema : "any object");
  free(schema);
}

static int print_table(const art_spec *spec, const art_mcp_session *mcp) {
  const art_registry *reg = art_spec_registry((art_spec *)spec);
  for (size_t i = 0; i < art_mcp_server_count(mcp); i++)
    printf("mcp server %s: protocol %s\n", art_mcp_server_name(mcp, i),
           art_mcp_server_protocol(mcp, i));
  printf("%-32s %-6s %-10s %-18s %s\n", "tool", "side", "source", "policy", "rule");
  for (size_t i = 0; i < art_registry_count(reg); i++) print_tool(spec, art_registry_at(reg, i));
  return EXIT_OK;
}

static int list(const cli_opts *o) {
  art_spec *spec;
  art_mcp_session *mcp = NULL;
  art_error err = {0};
  if (art_spec_load(&spec, o->args[1], NULL, &err) < 0)
    return cli_error(EXIT_USAGE, cli_err_of(err.code), "%s", err.message);
  int rc = cli_mcp_list_tools(spec, &mcp);
  if (rc == 0) rc = o->json ? print_json(spec, mcp) : print_table(spec, mcp);
  art_mcp_session_free(mcp);
  art_spec_free(spec);
  return rc;
}

int cmd_tools(int argc, char **argv) {
  cli_opts o;
  int rc = cli_parse(argc, argv, 0, 2, usage, &o);
  if (rc != 0 || o.help) return rc;
  static const char *const commands[] = {"list", NULL};
  if (strcmp(o.args[0], "list") != 0)
    return cli_unknown(usage, "tools command", o.args[0], commands);
  return list(&o);
}
