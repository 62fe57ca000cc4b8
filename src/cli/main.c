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
    "  run SPEC.json        run an agent spec until it stops\n"
    "  eval SUITE.json      run an eval suite; exit 1 when any case fails\n"
    "\n"
    "options:\n"
    "  -h, --help           show help (also: agentrt COMMAND --help)\n"
    "  --version            show the version\n"
    "\n"
    "exit codes: 0 success, 1 the run stopped without success or an eval case failed,\n"
    "            2 bad usage or a bad spec/suite file, 3 the run is paused (approval or human)\n";

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
  fprintf(stderr, "agentrt: unknown command \"%s\"\n\n%s", cmd, usage);
  return EXIT_USAGE;
}
