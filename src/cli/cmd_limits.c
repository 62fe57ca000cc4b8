/* Limits on the runs workers hold at once: `agentrt queue set|list` and
 * `agentrt tenant set|list`.  The store keeps them and lease_ready honours
 * them for every worker (store.h, set_limit); this is how an operator sets
 * and sees them. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* The most a limit may say: far more runs than a store holds at once. */
#define MAX_RUNNING_MAX 1000000

static const char queue_usage[] =
    "usage: agentrt queue set NAME --max-running N [--store PATH] [--json]\n"
    "       agentrt queue list [--store PATH] [--json]\n"
    "\n"
    "How many runs of a queue workers hold at once, on every machine (the store\n"
    "enforces it when a worker takes a run).\n"
    "  set     at most N runs of queue NAME held at once (N from 0 to 1000000; 0\n"
    "          removes the limit).  A run past the limit waits, ready, while workers\n"
    "          take other queues' runs; runs held already keep their leases.  The\n"
    "          store is created when missing (--json: {\"queue\", \"max_running\"})\n"
    "  list    each queue with runs or a limit: its limit (- for none) and how many\n"
    "          of its runs are queued, ready and held now (--json: an array of\n"
    "          {\"queue\", \"max_running\", \"queued\", \"ready\", \"held\"};\n"
    "          max_running null for none)\n";

static const char tenant_usage[] =
    "usage: agentrt tenant set NAME --max-running N [--store PATH] [--json]\n"
    "       agentrt tenant list [--store PATH] [--json]\n"
    "\n"
    "How many runs of a tenant (a spec's actor.tenant) workers hold at once, over\n"
    "every queue and on every machine (the store enforces it when a worker takes\n"
    "a run).\n"
    "  set     at most N runs of tenant NAME held at once (N from 0 to 1000000; 0\n"
    "          removes the limit).  A run past the limit waits, ready, while workers\n"
    "          take other tenants' runs; runs held already keep their leases.  The\n"
    "          store is created when missing (--json: {\"tenant\", \"max_running\"})\n"
    "  list    each tenant with runs or a limit: its limit (- for none) and how many\n"
    "          of its runs are queued, ready and held now (--json: an array of\n"
    "          {\"tenant\", \"max_running\", \"queued\", \"ready\", \"held\"})\n";

/* One queue's (or tenant's) line of `list`. */
typedef struct limit_row {
  const char *name;     /* borrowed from a record or a limit */
  uint32_t max_running; /* 0: no limit */
  unsigned queued, ready, held;
} limit_row;

typedef struct limit_rows {
  limit_row *rows;
  size_t n;
} limit_rows;

/* The row of `name`, added when missing; NULL when out of memory. */
static limit_row *row_of(limit_rows *t, const char *name) {
  for (size_t i = 0; i < t->n; i++)
    if (strcmp(t->rows[i].name, name) == 0) return &t->rows[i];
  limit_row *grown = realloc(t->rows, (t->n + 1) * sizeof *grown);
  if (!grown) return NULL;
  t->rows = grown;
  t->rows[t->n] = (limit_row){.name = name};
  return &t->rows[t->n++];
}

/* Where a run stands for its queue's or tenant's row, now. */
static void count_run(limit_row *row, const art_run_record *r, int64_t now) {
  art_run_status status = art_durable_status_now(r, now);
  if (art_holder_of(r, now) == ART_HOLDER_ALIVE)
    row->held++;
  else if (status == ART_RUN_QUEUED)
    row->queued++;
  else if (status == ART_RUN_READY)
    row->ready++;
}

static int by_name(const void *a, const void *b) {
  return strcmp(((const limit_row *)a)->name, ((const limit_row *)b)->name);
}

/* The rows of `kind`, from the runs and the limits (borrowed by the rows),
 * by name: 0, or -1 when out of memory. */
static int make_rows(art_limit_kind kind, const art_run_record *runs, size_t n_runs,
                     const art_limit *limits, size_t n_limits, limit_rows *t) {
  int64_t now = art_now_us();
  for (size_t i = 0; i < n_limits; i++) {
    if (limits[i].kind != kind) continue;
    limit_row *row = row_of(t, limits[i].name);
    if (!row) return -1;
    row->max_running = limits[i].max_running;
  }
  for (size_t i = 0; i < n_runs; i++) {
    const char *name = kind == ART_LIMIT_QUEUE ? (runs[i].queue ? runs[i].queue : ART_QUEUE_DEFAULT)
                                               : runs[i].tenant;
    limit_row *row = name ? row_of(t, name) : NULL;
    if (name && !row) return -1;
    if (row) count_run(row, &runs[i], now);
  }
  if (t->n > 1) qsort(t->rows, t->n, sizeof *t->rows, by_name);
  return 0;
}

static int print_rows(art_limit_kind kind, const limit_rows *t, bool json) {
  const char *what = art_limit_kind_name(kind);
  if (!json) {
    printf("%-24s %7s %7s %7s %7s\n", what, "limit", "queued", "ready", "held");
    for (size_t i = 0; i < t->n; i++) {
      const limit_row *r = &t->rows[i];
      char limit[16] = "-";
      if (r->max_running) snprintf(limit, sizeof limit, "%u", r->max_running);
      printf("%-24s %7s %7u %7u %7u\n", r->name, limit, r->queued, r->ready, r->held);
    }
    return 0;
  }
  json_t *arr = json_array();
  for (size_t i = 0; arr && i < t->n; i++) {
    const limit_row *r = &t->rows[i];
    json_t *one = json_pack("{s:s, s:o, s:i, s:i, s:i}", what, r->name, "max_running",
                            r->max_running ? json_integer(r->max_running) : json_null(), "queued",
                            r->queued, "ready", r->ready, "held", r->held);
    if (json_array_append_new(arr, one) < 0) json_decref(arr), arr = NULL;
  }
  int rc = cli_print_json(arr);
  json_decref(arr);
  return rc;
}

static int list(art_limit_kind kind, const cli_opts *o) {
  art_store *store;
  int rc = cli_store_open(o, &store);
  if (rc != 0) return rc;
  art_run_record *runs = NULL;
  art_limit *limits = NULL;
  size_t n_runs = 0, n_limits = 0;
  art_error err = {0};
  limit_rows t = {0};
  if (store->vt->list_runs(store, -1, &runs, &n_runs, &err) < 0 ||
      store->vt->list_limits(store, &limits, &n_limits, &err) < 0)
    rc = cli_store_error(&err);
  else if (make_rows(kind, runs, n_runs, limits, n_limits, &t) < 0)
    rc = cli_error(EXIT_USAGE, CLI_ERR_INTERNAL, "out of memory");
  else
    rc = print_rows(kind, &t, o->json);
  free(t.rows);
  art_limits_free(limits, n_limits);
  art_run_records_free(runs, n_runs);
  art_store_close(store);
  return rc;
}

/* --max-running N: a number from 0 to MAX_RUNNING_MAX, digits only. */
static int parse_max_running(const char *usage, const char *text, uint32_t *out) {
  if (!text) return cli_usage_error(usage, "set needs --max-running N (0 removes the limit)");
  char *end;
  long n = strtol(text, &end, 10);
  if (text[0] < '0' || text[0] > '9' || *end || n > MAX_RUNNING_MAX)
    return cli_usage_error(usage,
                           "--max-running takes a number from 0 to %d (0 removes the limit), "
                           "not \"%s\"",
                           MAX_RUNNING_MAX, text);
  *out = (uint32_t)n;
  return 0;
}

static int said_set(art_limit_kind kind, const char *name, uint32_t max_running, bool json) {
  const char *what = art_limit_kind_name(kind);
  if (json) {
    json_t *j = json_pack("{s:s, s:o}", what, name, "max_running",
                          max_running ? json_integer(max_running) : json_null());
    int rc = cli_print_json(j);
    json_decref(j);
    return rc;
  }
  if (max_running)
    printf("%s %s: at most %u run%s held at once\n", what, name, max_running,
           max_running == 1 ? "" : "s");
  else
    printf("%s %s: no limit\n", what, name);
  return 0;
}

static int set(art_limit_kind kind, const char *usage, const cli_opts *o) {
  uint32_t max_running = 0;
  const char *name = o->args[1];
  int rc = parse_max_running(usage, o->max_running, &max_running);
  if (rc != 0) return rc;
  if (!name[0])
    return cli_usage_error(usage, "a %s's name cannot be empty", art_limit_kind_name(kind));
  art_store *store;
  if ((rc = cli_store_create(o, &store)) != 0) return rc;
  art_error err = {0};
  rc = store->vt->set_limit(store, kind, name, max_running, &err) < 0
           ? cli_store_error(&err)
           : said_set(kind, name, max_running, o->json);
  art_store_close(store);
  return rc;
}

/* agentrt queue|tenant set|list: `set` takes NAME and --max-running. */
static int limits_command(art_limit_kind kind, const char *usage, int argc, char **argv) {
  const char *what = argc > 1 ? argv[1] : "";
  bool is_set = strcmp(what, "set") == 0;
  if (!is_set && strcmp(what, "list") != 0) {
    static const char *const commands[] = {"set", "list", NULL};
    if (strcmp(what, "--help") == 0 || strcmp(what, "-h") == 0)
      return fputs(usage, stdout), EXIT_OK;
    cli_set_json(cli_args_ask_json(argc, argv));
    if (!what[0] || what[0] == '-')
      return cli_usage_error(usage, "%s needs set or list", art_limit_kind_name(kind));
    return cli_unknown(usage, kind == ART_LIMIT_QUEUE ? "queue command" : "tenant command", what,
                       commands);
  }
  cli_opts o;
  int rc =
      cli_parse(argc, argv, OPT_STORE | (is_set ? OPT_MAX_RUNNING : 0), is_set ? 2 : 1, usage, &o);
  if (rc != 0 || o.help) return rc;
  return is_set ? set(kind, usage, &o) : list(kind, &o);
}

int cmd_queue(int argc, char **argv) {
  return limits_command(ART_LIMIT_QUEUE, queue_usage, argc, argv);
}

int cmd_tenant(int argc, char **argv) {
  return limits_command(ART_LIMIT_TENANT, tenant_usage, argc, argv);
}
