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
    "  runs list|show|trace the runs in the store\n"
    "  approve RUN ACTION   approve the action a paused run waits for (--reviewer NAME)\n"
    "  deny RUN ACTION      deny it (--reviewer NAME --reason R)\n"
    "  answer RUN TEXT      answer the question of a run blocked on ask_human\n"
    "  resolve RUN ACTION   say what became of a call whose outcome is unknown\n"
    "  resume RUN           continue a run from where its journal stops\n"
    "  cancel RUN           stop a run that has not finished\n"
    "  tools list SPEC.json the spec's tools (built-in, command, MCP) and what the policy does\n"
    "\n"
    "options:\n"
    "  -h, --help           show help (also: agentrt COMMAND --help)\n"
    "  --version            show the version\n"
    "\n"
    "The store is ./agentrt.db unless a command is given --store PATH.\n"
    "\n"
    "exit codes: 0 success, 1 the run stopped without success, an eval case failed or a\n"
    "            decision was refused, 2 bad usage, a bad spec/suite/store file,\n"
    "            3 the run is paused (approval, human, or an outcome to resolve)\n";

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(usage, stderr);
    return EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
    fputs(usage, stdout);
    return EXIT_OK;
  }
  if (strcmp(cmd, "--version") == 0) {
    puts("agentrt 0.1.0");
    return EXIT_OK;
  }
  if (strcmp(cmd, "demo") == 0) return cmd_demo(argc - 1, argv + 1);
  if (strcmp(cmd, "run") == 0) return cmd_run(argc - 1, argv + 1);
  if (strcmp(cmd, "eval") == 0) return cmd_eval(argc - 1, argv + 1);
  if (strcmp(cmd, "runs") == 0) return cmd_runs(argc - 1, argv + 1);
  if (strcmp(cmd, "approve") == 0) return cmd_approve(argc - 1, argv + 1);
  if (strcmp(cmd, "deny") == 0) return cmd_deny(argc - 1, argv + 1);
  if (strcmp(cmd, "answer") == 0) return cmd_answer(argc - 1, argv + 1);
  if (strcmp(cmd, "resume") == 0) return cmd_resume(argc - 1, argv + 1);
  if (strcmp(cmd, "cancel") == 0) return cmd_cancel(argc - 1, argv + 1);
  if (strcmp(cmd, "resolve") == 0) return cmd_resolve(argc - 1, argv + 1);
  if (strcmp(cmd, "tools") == 0) return cmd_tools(argc - 1, argv + 1);
  fprintf(stderr, "agentrt: unknown command \"%s\"\n\n%s", cmd, usage);
  return EXIT_USAGE;
}
