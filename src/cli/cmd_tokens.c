/* agentrt tokens new: a bearer token for agentrt serve, printed once; only its
 * hash is kept (src/serve/tokens.h). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "serve/tokens.h"

static const char usage[] =
    "usage: agentrt tokens new NAME --tenant T --role R [--tokens FILE] [--json]\n"
    "\n"
    "Make a new token for agentrt serve, print it once, and add its SHA-256 to the\n"
    "tokens file (default agentrt-tokens.json; made, readable by its owner only,\n"
    "when missing).  The token is not kept anywhere: give it to whoever is NAME.\n"
    "NAME is recorded as the reviewer or operator of what the token decides.\n"
    "\n"
    "  --tenant T   the tenant whose runs the token sees and acts on\n"
    "  --role R     submitter (submits runs, reads, answers, cancels its own),\n"
    "               reviewer (and approves or denies), operator (and resolves,\n"
    "               cancels any run, reads /metrics), admin (all of it, and\n"
    "               submits specs of its own)\n";

static int made(const cli_opts *o, const char *token, serve_role role) {
  if (!o->json) return printf("%s\n", token) < 0 ? EXIT_USAGE : 0;
  json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", o->args[1], "tenant", o->tenant,
                        "role", serve_role_name(role), "token", token, "tokens_file", o->tokens);
  int rc = cli_print_json(j);
  json_decref(j);
  return rc;
}

int cmd_tokens(int argc, char **argv) {
  cli_opts o;
  int rc = cli_parse(argc, argv, OPT_TOKENS | OPT_TENANT | OPT_ROLE, 2, usage, &o);
  if (rc != 0 || o.help) return rc;
  if (strcmp(o.args[0], "new") != 0)
    return cli_unknown(usage, "tokens command", o.args[0], (const char *const[]){"new", NULL});
  serve_role role;
  if (!o.tenant || !o.tenant[0]) return cli_usage_error(usage, "--tenant is required");
  if (!o.role || serve_role_parse(o.role, &role) < 0)
    return cli_usage_error(usage, "--role is submitter, reviewer, operator or admin");
  char token[SERVE_TOKEN_SIZE];
  art_error err = {0};
  if (serve_token_generate(token, &err) < 0 ||
      serve_tokens_add(o.tokens, o.args[1], o.tenant, role, token, &err) < 0)
    return cli_error(EXIT_USAGE, err.code == ART_EEXIST ? CLI_ERR_STATE : CLI_ERR_IO, "%s",
                     err.message);
  return made(&o, token, role);
}
