#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* The value of a flag that takes one ("--trace FILE" or "--trace=FILE"). */
static const char *flag_value(int argc, char **argv, int *i, const char *name) {
  size_t n = strlen(name);
  if (strncmp(argv[*i], name, n) == 0 && argv[*i][n] == '=') return argv[*i] + n + 1;
  if (strcmp(argv[*i], name) != 0) return NULL;
  return *i + 1 < argc ? argv[++*i] : "";
}

/* A flag that takes a number from 1 to `max`: 1 when `argv[*i]` is `name`
 * and its value is such a number, 0 when it is not `name`, -1 when the value
 * is not. */
static int number_flag(int argc, char **argv, int *i, const char *name, long max, unsigned *out) {
  const char *v = flag_value(argc, argv, i, name);
  if (!v) return 0;
  char *end;
  long n = strtol(v, &end, 10);
  if (!v[0] || *end || n < 1 || n > max) return -1;
  *out = (unsigned)n;
  return 1;
}

/* A flag that may come up to `max` times, its values into list[*n]: 1 when
 * argv[*i] is `name` with a value, 0 when it is not `name`, -1 when its
 * value is missing, -2 when it came too often. */
static int repeated_flag(int argc, char **argv, int *i, const char *name, const char **list, int *n,
                         int max) {
  const char *v = flag_value(argc, argv, i, name);
  if (!v) return 0;
  if (!v[0]) return -1;
  if (*n == max) return -2;
  list[(*n)++] = v;
  return 1;
}

/* The flags that take a number from 1 to max. */
static const struct {
  unsigned bit;
  const char *name;
  long max;
  size_t offset;
  const char *what; /* said after the range when the value is wrong */
} numbers[] = {{OPT_JOBS, "--jobs", CLI_MAX_JOBS, offsetof(cli_opts, jobs), ""},
               {OPT_MAX_PROCS, "--max-procs", CLI_MAX_PROCS, offsetof(cli_opts, max_procs),
                " (child processes at once)"},
               {OPT_CONCURRENCY, "--concurrency", CLI_MAX_JOBS, offsetof(cli_opts, concurrency),
                " (runs driven at once)"}};

/* parse_flag's code for a wrong value of numbers[k]. */
#define BAD_NUMBER(k) (-10 - (int)(k))

static int parse_flag(int argc, char **argv, int *i, unsigned allowed, cli_opts *o) {
  static const struct {
    unsigned bit;
    const char *name;
    size_t offset;
  } valued[] = {{OPT_TRACE, "--trace", offsetof(cli_opts, trace)},
                {OPT_OUTBOX, "--outbox", offsetof(cli_opts, outbox)},
                {OPT_JUNIT, "--junit", offsetof(cli_opts, junit)},
                {OPT_STORE, "--store", offsetof(cli_opts, store)},
                {OPT_STATUS, "--status", offsetof(cli_opts, status)},
                {OPT_REVIEWER, "--reviewer", offsetof(cli_opts, reviewer)},
                {OPT_REASON, "--reason", offsetof(cli_opts, reason)},
                {OPT_OLDER_THAN, "--older-than", offsetof(cli_opts, older_than)},
                {OPT_EXPIRES, "--expires", offsetof(cli_opts, expires)},
                {OPT_OUTCOME, "--outcome", offsetof(cli_opts, outcome)},
                {OPT_LEASE, "--lease", offsetof(cli_opts, lease)},
                {OPT_POLL, "--poll", offsetof(cli_opts, poll)},
                {OPT_RUN_ID, "--run-id", offsetof(cli_opts, run_id)},
                {OPT_LISTEN, "--listen", offsetof(cli_opts, listen)},
                {OPT_TOKENS, "--tokens", offsetof(cli_opts, tokens)},
                {OPT_SPECS, "--specs", offsetof(cli_opts, specs)},
                {OPT_TENANT, "--tenant", offsetof(cli_opts, tenant)},
                {OPT_ROLE, "--role", offsetof(cli_opts, role)},
                {OPT_MAX_RUNNING, "--max-running", offsetof(cli_opts, max_running)}};
  if (strcmp(argv[*i], "--json") == 0) return o->json = true, 0;
  if ((allowed & OPT_JSONL) && strcmp(argv[*i], "--jsonl") == 0) return o->jsonl = true, 0;
  if ((allowed & OPT_ALL) && strcmp(argv[*i], "--all") == 0) return o->all = true, 0;
  if ((allowed & OPT_YAML) && strcmp(argv[*i], "--yaml") == 0) return o->yaml = true, 0;
  if ((allowed & OPT_DRAIN) && strcmp(argv[*i], "--drain") == 0) return o->drain = true, 0;
  if ((allowed & OPT_NO_WORKER) && strcmp(argv[*i], "--no-worker") == 0)
    return o->no_worker = true, 0;
  for (size_t k = 0; k < sizeof numbers / sizeof *numbers; k++) {
    int number = allowed & numbers[k].bit
                     ? number_flag(argc, argv, i, numbers[k].name, numbers[k].max,
                                   (unsigned *)((char *)o + numbers[k].offset))
                     : 0;
    if (number) return number < 0 ? BAD_NUMBER(k) : 0;
  }
  int repeated = allowed & OPT_SUITE ? repeated_flag(argc, argv, i, "--suite", o->suites,
                                                     &o->n_suites, CLI_MAX_SUITES)
                                     : 0;
  if (!repeated && (allowed & OPT_QUEUE))
    repeated = repeated_flag(argc, argv, i, "--queue", o->queues, &o->n_queues, CLI_MAX_QUEUES);
  if (repeated) return repeated < 0 ? repeated : 0;
  for (size_t k = 0; k < sizeof valued / sizeof *valued; k++) {
    if (!(allowed & valued[k].bit)) continue;
    const char *v = flag_value(argc, argv, i, valued[k].name);
    if (!v) continue;
    if (!v[0]) return -1;
    *(const char **)((char *)o + valued[k].offset) = v;
    o->store_given |= valued[k].bit == OPT_STORE;
    return 0;
  }
  return -1;
}

int cli_parse(int argc, char **argv, unsigned allowed, int args, const char *usage, cli_opts *o) {
  memset(o, 0, sizeof *o);
  const char *env = getenv("AGENTRT_STORE");
  o->store_given = env && env[0];
  o->store = o->store_given ? env : CLI_DEFAULT_STORE;
  o->tokens = CLI_DEFAULT_TOKENS;
  cli_set_json(cli_args_ask_json(argc, argv));
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(usage, stdout);
      o->help = true;
      return 0;
    }
    if (a[0] == '-' && a[1]) {
      int rc = parse_flag(argc, argv, &i, allowed, o);
      if (rc == -2)
        return cli_usage_error(usage, "at most %d %s options", CLI_MAX_SUITES,
                               strncmp(a, "--queue", 7) == 0 ? "--queue" : "--suite");
      size_t k = (size_t)(BAD_NUMBER(0) - rc);
      if (rc <= BAD_NUMBER(0) && k < sizeof numbers / sizeof *numbers)
        return cli_usage_error(usage, "%s takes a number from 1 to %ld%s", numbers[k].name,
                               numbers[k].max, numbers[k].what);
      if (rc < 0)
        return cli_usage_error(usage, "bad option \"%s\" (unknown, or missing its value)", a);
    } else if (o->n_args < (args == CLI_ARGS_MANY ? CLI_MAX_ARGS : args)) {
      o->args[o->n_args++] = a;
    } else if (args == CLI_ARGS_MANY) {
      return cli_usage_error(usage, "at most %d arguments", CLI_MAX_ARGS);
    } else {
      return cli_usage_error(usage, "unexpected argument \"%s\"", a);
    }
  }
  if (o->n_args < (args == CLI_ARGS_MANY ? 1 : args))
    return cli_usage_error(usage, "missing argument");
  return 0;
}

int64_t cli_parse_age(const char *text) {
  static const struct {
    const char *unit;
    int64_t us;
  } units[] = {{"ms", 1000LL},
               {"s", 1000000LL},
               {"m", 60000000LL},
               {"h", 3600000000LL},
               {"d", 86400000000LL}};
  char *unit;
  long n = strtol(text, &unit, 10);
  if (unit == text || n < 0) return -1;
  for (size_t i = 0; i < sizeof units / sizeof *units; i++)
    if (strcmp(unit, units[i].unit) == 0) return n * units[i].us;
  return -1;
}

/* Edits (insert, delete, replace, swap two neighbours) from a to b, up to 3. */
static size_t edits(const char *a, const char *b) {
  size_t n = strlen(a), m = strlen(b);
  if (n > 32 || m > 32) return 3;
  size_t d[33][33];
  for (size_t i = 0; i <= n; i++) d[i][0] = i;
  for (size_t j = 0; j <= m; j++) d[0][j] = j;
  for (size_t i = 1; i <= n; i++)
    for (size_t j = 1; j <= m; j++) {
      size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
          d[i - 2][j - 2] + 1 < best)
        best = d[i - 2][j - 2] + 1;
      d[i][j] = best;
    }
  return d[n][m] < 3 ? d[n][m] : 3;
}

int cli_unknown(const char *usage, const char *what, const char *word, const char *const *names) {
  const char *closest = NULL;
  size_t fewest = strlen(word) < 4 ? 2 : 3; /* a short word: one edit at most */
  for (size_t i = 0; names[i]; i++) {
    size_t e = edits(word, names[i]);
    if (e < fewest) fewest = e, closest = names[i];
  }
  if (closest)
    return cli_usage_error(usage, "unknown %s \"%s\" (did you mean \"%s\"?)", what, word, closest);
  return cli_usage_error(usage, "unknown %s \"%s\"", what, word);
}
