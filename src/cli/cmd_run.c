#include <stdio.h>

#include "cli/cli.h"

static const char usage[] =
    "usage: agentrt run SPEC.json [--json] [--trace FILE] [--outbox FILE]\n"
    "\n"
    "Run the agent SPEC.json describes until it stops, then print the stop reason,\n"
    "the answer and the trace.\n"
    "\n"
    "  --json          print one JSON object: run_id, stop_reason, reason, steps,\n"
    "                  tools_called, answer, observations, trace\n"
    "  --trace FILE    also write the trace to FILE as JSON lines, one event a line\n"
    "  --outbox FILE   where the built-in send_message tool appends (default: the\n"
    "                  spec's \"outbox\", else outbox.jsonl)\n"
    "\n"
    "exit codes: 0 success, 1 stopped without success, 2 bad usage or spec,\n"
    "            3 paused (approval_required or blocked)\n";

int cmd_run(int argc, char **argv) {
  cli_opts o;
  int rc = cli_parse(argc, argv, OPT_JSON | OPT_TRACE | OPT_OUTBOX, true, usage, &o);
  if (rc != 0 || o.help) return rc;
  art_spec *spec;
  art_error err = {0};
  art_spec_options opts = {.outbox = o.outbox};
  if (art_spec_load(&spec, o.file, &opts, &err) < 0) {
    fprintf(stderr, "agentrt: %s\n", err.message);
    return EXIT_USAGE;
  }
  rc = cli_run_spec(spec, &o, NULL);
  art_spec_free(spec);
  return rc;
}
