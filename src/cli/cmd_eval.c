#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const char usage[] =
    "usage: agentrt eval SUITE.json [--jobs N] [--max-procs N] [--junit FILE] [--json] [--outbox "
    "FILE]\n"
    "\n"
    "Run every case of an eval suite and check it.  A suite is\n"
    "  {\"name\": \"...\", \"cases\": [{\"name\": \"...\", \"agent\": SPEC or \"spec.json\",\n"
    "                               \"expect\": {...}}]}\n"
    "expect keys: stop_reason, tools_called, tools_not_called, max_steps,\n"
    "evidence_required, no_repeated_side_effects.  Every case is also checked for\n"
    "approval bypass, and for invalid decisions and budget exhaustion unless its\n"
    "stop_reason expects them.\n"
    "\n"
    "  --jobs N        run up to N cases at once on one event loop (default 16; the\n"
    "                  report and the JUnit file list the cases in the suite's order)\n"
    "  --max-procs N   at most N child processes (command tools, command models) at\n"
    "                  once, 1 to 4096 (default 4 x cores)\n"
    "  --junit FILE    write JUnit XML to FILE\n"
    "  --json          print the report as JSON instead of a table\n"
    "  --outbox FILE   where the built-in send_message tool appends\n"
    "\n"
    "exit codes: 0 all cases passed, 1 a case failed, 2 bad usage or suite file\n";

static int write_junit(const json_t *report, const char *path) {
  FILE *f = fopen(path, "w");
  int rc = f ? art_eval_write_junit(report, f) : ART_EIO;
  if (f && fclose(f) != 0) rc = ART_EIO;
  return rc < 0 ? cli_error(EXIT_USAGE, CLI_ERR_IO, "cannot write %s: %s", path, strerror(errno))
                : 0;
}

#define DEFAULT_JOBS 16

/* The progress line on a terminal, rewritten after each case. */
static void progress(void *ud, size_t done, size_t total, size_t failed) {
  (void)ud;
  printf("\r%zu/%zu cases, %zu failed", done, total, failed);
  fflush(stdout);
}

static void progress_clear(void) {
  printf("\r\033[K");
  fflush(stdout);
}

int cmd_eval(int argc, char **argv) {
  cli_opts o;
  int rc = cli_parse(argc, argv, OPT_JUNIT | OPT_OUTBOX | OPT_JOBS | OPT_MAX_PROCS, 1, usage, &o);
  if (rc != 0 || o.help) return rc;
  art_eval_suite *suite;
  art_error err = {0};
  art_spec_options opts = {.outbox = o.outbox};
  if (art_eval_suite_load(&suite, o.args[0], &opts, &err) < 0)
    return cli_error(EXIT_USAGE, cli_err_of(err.code), "%s", err.message);
  bool on_tty = !o.json && isatty(STDOUT_FILENO);
  art_eval_options eo = {o.jobs ? o.jobs : DEFAULT_JOBS, on_tty ? progress : NULL, NULL,
                         o.max_procs};
  json_t *report = art_eval_suite_run_with(suite, &eo, &err);
  if (on_tty) progress_clear();
  if (!report) {
    art_eval_suite_free(suite);
    return cli_error(EXIT_USAGE, cli_err_of(err.code), "eval failed: %s", err.message);
  }
  rc = json_integer_value(json_object_get(report, "failed")) ? EXIT_STOPPED : EXIT_OK;
  if (!o.json) cli_print_eval_table(report);
  if (o.junit && write_junit(report, o.junit) != 0)
    rc = EXIT_USAGE;
  else if (o.json && cli_print_json(report) != 0)
    rc = EXIT_USAGE;
  json_decref(report);
  art_eval_suite_free(suite);
  return rc;
}
