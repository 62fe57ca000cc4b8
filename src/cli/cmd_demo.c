#include <stdio.h>

#include "cli/cli.h"

static const char usage[] =
    "usage: agentrt demo [--json] [--trace FILE] [--outbox FILE]\n"
    "\n"
    "Run the built-in demo (examples/demo.json): run demo_001 checks the reply\n"
    "policy with lookup_policy (read) and answers; send_message (write) is\n"
    "registered but never called.  Prints the stop reason, the answer, the trace\n"
    "and the eval case demo-policy-read (examples/demo.eval.json).\n"
    "\n"
    "  --json          print one JSON object (the run result plus \"eval\")\n"
    "  --trace FILE    also write the trace to FILE as JSON lines\n"
    "  --outbox FILE   where send_message would append (default outbox.jsonl)\n";

int cmd_demo(int argc, char **argv) {
  cli_opts o;
  int rc = cli_parse(argc, argv, OPT_TRACE | OPT_OUTBOX, 0, usage, &o);
  if (rc != 0 || o.help) return rc;
  json_t *spec_json = json_loads(cli_demo_spec(), 0, NULL);
  json_t *suite = json_loads(cli_demo_suite(), 0, NULL);
  art_spec *spec = NULL;
  art_error err = {0};
  art_spec_options opts = {.outbox = o.outbox};
  rc = spec_json && suite ? art_spec_parse(&spec, spec_json, "demo.json", NULL, &opts, &err)
                          : ART_ENOMEM;
  if (rc < 0)
    rc = cli_error(EXIT_USAGE, CLI_ERR_INTERNAL, "demo: %s",
                   err.message[0] ? err.message : "out of memory");
  else
    rc = cli_run_spec(spec, &o, json_array_get(json_object_get(suite, "cases"), 0), NULL);
  art_spec_free(spec);
  json_decref(spec_json);
  json_decref(suite);
  return rc;
}
