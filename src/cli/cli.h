/* The agentrt command: shared option parsing, running and printing.  One file
 * per subcommand (cmd_*.c). */
#ifndef ART_CLI_H
#define ART_CLI_H

#include <stdbool.h>
#include "agentrt.h"

/* Exit codes. */
enum { EXIT_OK = 0, EXIT_STOPPED = 1, EXIT_USAGE = 2, EXIT_PAUSED = 3 };

enum { OPT_JSON = 1, OPT_TRACE = 2, OPT_OUTBOX = 4, OPT_JUNIT = 8 };

typedef struct cli_opts {
  bool json;
  bool help;
  const char *trace;
  const char *outbox;
  const char *junit;
  const char *file; /* the positional argument */
} cli_opts;

/* Parse argv[1..] of a subcommand.  Returns 0, or EXIT_USAGE after printing
 * what is wrong and `usage` to stderr. */
int cli_parse(int argc, char **argv, unsigned allowed, bool needs_file, const char *usage,
              cli_opts *o);

/* Run `spec` to its stop with the options' sinks; prints and returns the exit
 * code (EXIT_OK / EXIT_STOPPED / EXIT_PAUSED / EXIT_USAGE for I/O errors). */
int cli_run_spec(art_spec *spec, const cli_opts *o, json_t *eval_expect);

void cli_print_eval_table(const json_t *report);
int cli_print_json(const json_t *j);
int cli_exit_code(art_stop_reason r);

int cmd_demo(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_eval(int argc, char **argv);

const char *cli_demo_spec(void);
const char *cli_demo_suite(void);

#endif
