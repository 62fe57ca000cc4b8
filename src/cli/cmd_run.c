#include <stdio.h>

#include "cli/cli.h"

static const char usage[] =
    "usage: agentrt run SPEC.json... [--jobs N] [--max-procs N] [--store PATH] [--json] [--trace "
    "FILE] "
    "[--outbox FILE]\n"
    "\n"
    "Run the agent SPEC.json describes until it stops, then print the stop reason,\n"
    "the answer and the trace.  The run and every event of it are kept in the store,\n"
    "so a run that pauses (approval_required, blocked) can be approved, answered and\n"
    "resumed later, from another process.\n"
    "\n"
    "  --store PATH    the SQLite store (default $AGENTRT_STORE, else ./agentrt.db;\n"
    "                  created when missing), or a postgresql:// URL: a PostgreSQL\n"
    "                  database (its agentrt schema is made on first use)\n"
    "  --json          print one JSON object: run_id, stop_reason, reason, steps,\n"
    "                  tools_called, answer, observations, trace, status, pending\n"
    "  --trace FILE    also write the trace to FILE as JSON lines, one event a line\n"
    "  --outbox FILE   where the built-in send_message tool appends (default: the\n"
    "                  spec's \"outbox\", else outbox.jsonl)\n"
    "  --jobs N        with several specs: run up to N at once on one event loop\n"
    "                  (default 16), one line each in the order given: run id, stop\n"
    "                  reason, steps, spec; with --json one JSON object a line\n"
    "                  (spec, run_id, status, stop_reason, reason, steps, answer)\n"
    "  --max-procs N   with several specs: at most N child processes (command tools,\n"
    "                  command models) at once, 1 to 4096 (default 4 x cores); calls\n"
    "                  beyond it wait their turn\n"
    "\n"
    "The spec's \"model\" says where decisions come from: \"scripted\" (a list),\n"
    "\"openai\" (any OpenAI-compatible chat-completions server: base_url, model,\n"
    "api_key_env naming the environment variable that holds the key, temperature,\n"
    "timeout_ms, max_retries, price) or \"command\" (a program that reads the\n"
    "context packet on stdin and prints a decision).  Every model request is a\n"
    "model_call event in the trace; max_tokens_total and max_cost_usd stop the run\n"
    "budget_exhausted (tokens, cost).  See the README, \"Real models\".\n"
    "\n"
    "Ctrl-C or SIGTERM stops the call in flight and leaves the run ready, to go on\n"
    "with `agentrt resume RUN`; a second Ctrl-C ends agentrt at once.\n"
    "\n"
    "exit codes: 0 success, 1 stopped without success, 2 bad usage or spec,\n"
    "            3 paused (approval_required or blocked), 130/143 interrupted;\n"
    "            of several runs, the first of 2, 130/143, 1, 3 that applies\n";

int cmd_run(int argc, char **argv) {
  cli_opts o;
  int rc = cli_parse(argc, argv, OPT_TRACE | OPT_OUTBOX | OPT_STORE | OPT_JOBS | OPT_MAX_PROCS,
                     CLI_ARGS_MANY, usage, &o);
  if (rc != 0 || o.help) return rc;
  if (o.n_args > 1 && o.trace)
    return cli_usage_error(usage, "--trace takes one spec (the store keeps every run's trace)");
  if (o.n_args > 1) return cli_run_many(&o);
  art_spec *spec;
  art_error err = {0};
  art_spec_options opts = {.outbox = o.outbox};
  if (art_spec_load(&spec, o.args[0], &opts, &err) < 0)
    return cli_error(EXIT_USAGE, cli_err_of(err.code), "%s", err.message);
  art_store *store = NULL;
  rc = cli_store_create(&o, &store);
  if (rc == 0) rc = cli_run_spec(spec, &o, NULL, store);
  art_store_close(store);
  art_spec_free(spec);
  return rc;
}
