#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char usage[] =
    "usage: agentrt COMMAND [OPTIONS]\n"
    "\n"
    "agentrt runs goal-directed agents under a budget, a policy gate and a trace.\n"
    "\n"
    "commands:\n"
    "  demo                 run the built-in demo agent, show its trace and eval case\n"
    "  run SPEC.json        run an agent spec until it stops; the run is kept in the store\n"
    "  eval SUITE.json      run an eval suite; exit 1 when any case fails\n"
    "  runs list|show|...   the runs in the store: list, show, trace, prune\n"
    "  approve RUN ACTION   approve the action a paused run waits for (--reviewer NAME)\n"
    "  deny RUN ACTION      deny it (--reviewer NAME --reason R)\n"
    "  answer RUN TEXT      answer the question of a run blocked on ask_human\n"
    "  resolve RUN ACTION   say what became of a call whose outcome is unknown\n"
    "  resume RUN           continue a run from where its journal stops\n"
    "  submit SPEC.json     queue a run in the store, for a worker to run\n"
    "  worker               drive the store's ready runs (--drain: until none is left)\n"
    "  queue set|list       at most N runs of a queue held at once (--max-running N)\n"
    "  tenant set|list      the same for a tenant (a spec's actor.tenant)\n"
    "  serve                an HTTP API over the store (tokens per tenant) and a worker\n"
    "  tokens new NAME      a new token for agentrt serve (--tenant T --role R)\n"
    "  cancel RUN           stop a run that has not finished\n"
    "  tools list SPEC.json the spec's tools (built-in, command, MCP) and what the policy does\n"
    "  readiness SPEC.json  the runtime readiness record: per primitive its owner and gaps;\n"
    "                       exit 1 when a gap blocks real side effects\n"
    "  review               the review gate's five checks, with evidence; exit 1 if one fails\n"
    "\n"
    "options:\n"
    "  -h, --help           show help (also: agentrt COMMAND --help)\n"
    "  --version            show the version\n"
    "  --json               (every command) print one JSON value on stdout; an error\n"
    "                       is {\"error\": {\"code\", \"message\"}}, with the same exit code\n"
    "\n"
    "The store is ./agentrt.db unless a command is given --store PATH or URL, or\n"
    "AGENTRT_STORE names one (--store wins): a path is a SQLite store, a\n"
    "postgresql://USER@HOST/DB URL (or postgres://) a PostgreSQL database, where\n"
    "agentrt makes its tables (schema agentrt) on first use.\n"
    "\n"
    "exit codes: 0 success, 1 the run stopped without success, an eval case failed or a\n"
    "            decision was refused, 2 bad usage, a bad spec/suite/store file,\n"
    "            3 the run is paused (approval, human, or an outcome to resolve)\n";

int main(int argc, char **argv) {
  if (argc < 2) return cli_usage_error(usage, "missing command");
  const char *cmd = argv[1];
  if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
    fputs(usage, stdout);
    return EXIT_OK;
  }
  if (strcmp(cmd, "--version") == 0) {
    puts("agentrt 0.1.0");
    return EXIT_OK;
  }
  static const char *const names[] = {"demo",  "run",       "eval",   "runs",   "approve",
                                      "deny",  "answer",    "resume", "cancel", "resolve",
                                      "tools", "readiness", "review", "submit", "worker",
                                      "serve", "tokens",    "queue",  "tenant", NULL};
  static int (*const commands[])(int, char **) = {
      cmd_demo,   cmd_run,    cmd_eval,    cmd_runs,  cmd_approve,   cmd_deny,   cmd_answer,
      cmd_resume, cmd_cancel, cmd_resolve, cmd_tools, cmd_readiness, cmd_review, cmd_submit,
      cmd_worker, cmd_serve,  cmd_tokens,  cmd_queue, cmd_tenant};
  for (size_t i = 0; names[i]; i++)
    if (strcmp(cmd, names[i]) == 0) return commands[i](argc - 1, argv + 1);
  cli_set_json(cli_args_ask_json(argc, argv));
  return cli_unknown(usage, "command", cmd, names);
}
