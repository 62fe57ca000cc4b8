/* How the agentrt command speaks to scripts: JSON on stdout, and every error
 * said one way, through cli_error.
 *
 * The mode is the process's own (one command a process, one thread): it is
 * set once, by cli_parse, so that every error after it, from any file, comes
 * out as the command's caller asked. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static bool json_mode;
static bool lines_mode;  /* one compact JSON value a line */
static json_t *captured; /* while set, JSON goes here instead of stdout */

static const char *const codes[] = {"usage",   "spec",  "store", "not_found",   "state",
                                    "refused", "tools", "io",    "interrupted", "internal"};

void cli_set_json(bool on) { json_mode = on; }

void cli_set_json_lines(bool on) { lines_mode = on; }

bool cli_args_ask_json(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--json") == 0) return true;
  return false;
}

void cli_capture_json(json_t *array) { captured = array; }

static int put_json(const json_t *j) {
  if (captured) return json_array_append(captured, (json_t *)j);
  int rc =
      json_dumpf(j, stdout, lines_mode ? JSON_COMPACT : JSON_INDENT(2)) == 0 && putchar('\n') != EOF
          ? 0
          : -1;
  return fflush(stdout) == 0 ? rc : -1;
}

/* {"error": {"code", "message"}} on stdout; on stderr if that cannot be made. */
static void say_json(cli_err code, const char *message) {
  json_t *j = json_pack("{s:{s:s, s:s}}", "error", "code", codes[code], "message", message);
  if (!j || put_json(j) < 0) fprintf(stderr, "agentrt: %s\n", message);
  json_decref(j);
}

int cli_print_json(const json_t *j) {
  if (!j) return cli_error(EXIT_USAGE, CLI_ERR_INTERNAL, "out of memory");
  if (put_json(j) < 0) return cli_error(EXIT_USAGE, CLI_ERR_IO, "cannot write to stdout");
  return 0;
}

static int say(int exit_code, cli_err code, const char *usage, const char *fmt, va_list ap) {
  char message[2 * ART_ERRMSG_SIZE];
  vsnprintf(message, sizeof message, fmt, ap);
  if (json_mode)
    say_json(code, message);
  else
    fprintf(stderr, "agentrt: %s\n%s%s", message, usage ? "\n" : "", usage ? usage : "");
  return exit_code;
}

int cli_error(int exit_code, cli_err code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  say(exit_code, code, NULL, fmt, ap);
  va_end(ap);
  return exit_code;
}

int cli_usage_error(const char *usage, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  say(EXIT_USAGE, CLI_ERR_USAGE, usage, fmt, ap);
  va_end(ap);
  return EXIT_USAGE;
}

cli_err cli_err_of(int art_code) {
  switch (art_code) {
  case ART_EINVAL: return CLI_ERR_REFUSED;
  case ART_ESPEC: return CLI_ERR_SPEC;
  case ART_ESTATE: return CLI_ERR_STATE;
  case ART_EIO: return CLI_ERR_IO;
  case ART_ENOTFOUND: return CLI_ERR_NOT_FOUND;
  case ART_EFENCED:
  case ART_EEXIST: return CLI_ERR_STATE;
  case ART_EBUSY: return CLI_ERR_STORE;
  default: return CLI_ERR_INTERNAL;
  }
}

/* What the store said: a missing run or a run in the wrong state as such,
 * anything else as the store's failure. */
int cli_store_error(const art_error *err) {
  cli_err code = err->code == ART_ENOTFOUND || err->code == ART_ESTATE || err->code == ART_ENOMEM
                     ? cli_err_of(err->code)
                     : CLI_ERR_STORE;
  return cli_error(EXIT_USAGE, code, "%s", err->message);
}
