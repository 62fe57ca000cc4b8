#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char usage[] =
    "usage: agentrt runs list [--status S] [--store PATH] [--json]\n"
    "       agentrt runs show RUN [--store PATH] [--json]\n"
    "       agentrt runs trace RUN [--store PATH] [--jsonl | --json]\n"
    "       agentrt runs prune --older-than AGE [--store PATH] [--json]\n"
    "\n"
    "The runs kept in a store (default ./agentrt.db).\n"
    "  list    every run, newest first: id, status, stop reason, steps, queue,\n"
    "          holder (how long ago it last renewed its lease, its heartbeat, and\n"
    "          the lease's time left; --json: tenant and heartbeat_age_ms too)\n"
    "          (--status queued|running|ready|paused|finished|cancelled keeps one\n"
    "          status; queued: submitted, a worker will start it; running: a live\n"
    "          process drives it; ready: nobody does, resume it or let a worker)\n"
    "  show    one run as `agentrt run` printed it (--json: the result object plus\n"
    "          status and pending)\n"
    "  trace   its journal as a table, as JSON lines with --jsonl, or as one JSON\n"
    "          array with --json\n"
    "  prune   delete finished and cancelled runs, and their journals, last changed\n"
    "          more than AGE ago (AGE: a number and s, m, h or d, e.g. 30d; --json:\n"
    "          {\"pruned\": [RUN, ...]})\n";

static int prune(const cli_opts *o, art_store *store) {
  int64_t age = o->older_than ? cli_parse_age(o->older_than) : -1;
  if (age < 0) return cli_usage_error(usage, "--older-than needs an age such as 30d, 12h or 90m");
  char **pruned;
  size_t deleted;
  art_error err = {0};
  if (store->vt->prune(store, art_now_us() - age, &pruned, &deleted, &err) < 0)
    return cli_store_error(&err);
  int rc = 0;
  if (o->json) {
    json_t *ids = json_array();
    for (size_t i = 0; ids && i < deleted; i++)
      if (json_array_append_new(ids, json_string(pruned[i])) < 0) json_decref(ids), ids = NULL;
    json_t *j = ids ? json_pack("{s:o}", "pruned", ids) : NULL;
    rc = cli_print_json(j);
    json_decref(j);
  } else {
    printf("pruned %zu run%s\n", deleted, deleted == 1 ? "" : "s");
  }
  art_run_ids_free(pruned, deleted);
  return rc;
}

/* "host:pid (lease 42 s left, heartbeat 3 s ago)", "host:pid (lease ran
 * out, heartbeat 75 s ago)" or "-". */
static void holder_text(char *buf, size_t size, const art_run_record *r, int64_t now) {
  if (!r->lease_owner) {
    snprintf(buf, size, "-");
    return;
  }
  char lease[48] = "lease ran out", heartbeat[48] = "";
  int64_t age = art_holder_heartbeat_ms(r, now);
  if (art_holder_of(r, now) == ART_HOLDER_ALIVE)
    snprintf(lease, sizeof lease, "lease %lld s left",
             (long long)((r->lease_until_us - now + 999999) / 1000000));
  if (age >= 0)
    snprintf(heartbeat, sizeof heartbeat, ", heartbeat %lld s ago", (long long)age / 1000);
  snprintf(buf, size, "%s (%s%s)", r->lease_owner, lease, heartbeat);
}

static const char *queue_of(const art_run_record *r) {
  return r->queue ? r->queue : ART_QUEUE_DEFAULT;
}

static void list_one(json_t *arr, const art_run_record *r, art_run_status status, int64_t now) {
  if (arr) {
    json_array_append_new(arr, art_run_record_json(r, now));
    return;
  }
  char holder[ART_HOLDER_SIZE + 64];
  holder_text(holder, sizeof holder, r, now);
  printf("%-28s %-10s %-18s %5u  %-10s %s\n", r->run_id, art_run_status_name(status),
         r->stop_reason ? r->stop_reason : "-", r->steps, queue_of(r), holder);
}

/* Statuses are as of now: a run whose holder is gone is ready, whatever its
 * record was last set to, so the filter is applied here. */
static int list(const cli_opts *o, art_store *store) {
  art_run_status status;
  if (o->status && art_run_status_parse(o->status, &status) < 0)
    return cli_error(EXIT_USAGE, CLI_ERR_USAGE,
                     "unknown status \"%s\" (queued, running, ready, paused, finished, cancelled)",
                     o->status);
  art_run_record *runs;
  size_t n;
  art_error err = {0};
  if (store->vt->list_runs(store, -1, &runs, &n, &err) < 0) return cli_store_error(&err);
  int64_t now = art_now_us();
  json_t *arr = o->json ? json_array() : NULL;
  if (!o->json)
    printf("%-28s %-10s %-18s %5s  %-10s %s\n", "run", "status", "stop_reason", "steps", "queue",
           "holder");
  for (size_t i = 0; i < n; i++) {
    art_run_status now_status = art_durable_status_now(&runs[i], now);
    if (!o->status || now_status == status) list_one(arr, &runs[i], now_status, now);
  }
  art_run_records_free(runs, n);
  int rc = o->json ? cli_print_json(arr) : 0;
  json_decref(arr);
  return rc;
}

/* The journal as JSON lines, or (`array`) as one JSON array. */
static int print_events(const art_run *run, bool array) {
  json_t *all = array ? json_array() : NULL;
  int rc = array && !all ? cli_error(EXIT_USAGE, CLI_ERR_INTERNAL, "out of memory") : 0;
  for (size_t i = 0; rc == 0 && i < art_run_event_count(run); i++) {
    json_t *ev = art_event_to_json(run, art_run_event(run, i));
    if (!ev)
      rc = cli_error(EXIT_USAGE, CLI_ERR_INTERNAL, "out of memory");
    else if (array)
      rc = json_array_append(all, ev) < 0 ? cli_error(EXIT_USAGE, CLI_ERR_INTERNAL, "out of memory")
                                          : 0;
    else if (json_dumpf(ev, stdout, JSON_COMPACT) < 0 || putchar('\n') == EOF)
      rc = cli_error(EXIT_USAGE, CLI_ERR_IO, "cannot write to stdout");
    json_decref(ev);
  }
  if (rc == 0 && array) rc = cli_print_json(all);
  json_decref(all);
  return rc;
}

/* The run's approval records as JSON objects, or NULL (having said why). */
static json_t *approvals_json(art_store *store, const char *run_id) {
  art_approval_record *list;
  size_t n;
  art_error err = {0};
  if (store->vt->list_approvals(store, run_id, &list, &n, &err) < 0) {
    cli_store_error(&err);
    return NULL;
  }
  json_t *array = art_approval_records_json(list, n);
  art_approval_records_free(list, n);
  if (!array) cli_error(EXIT_USAGE, CLI_ERR_INTERNAL, "out of memory");
  return array;
}

static int show(const cli_opts *o, art_store *store, bool trace) {
  art_durable d;
  int rc = cli_rebuild(store, o->store, o->args[1], NULL, &d);
  if (rc != 0) return rc;
  json_t *approvals = trace ? NULL : approvals_json(store, o->args[1]);
  if (trace && (o->jsonl || o->json))
    rc = print_events(d.run, !o->jsonl);
  else if (!trace && !approvals)
    rc = EXIT_USAGE;
  else
    rc = cli_report(d.run, o, NULL, o->store, approvals, &d.record);
  json_decref(approvals);
  art_durable_dispose(&d);
  return rc;
}

int cmd_runs(int argc, char **argv) {
  cli_opts o;
  const char *what = argc > 1 ? argv[1] : "";
  bool is_list = strcmp(what, "list") == 0, is_prune = strcmp(what, "prune") == 0;
  if (!is_list && !is_prune && strcmp(what, "show") != 0 && strcmp(what, "trace") != 0) {
    static const char *const commands[] = {"list", "show", "trace", "prune", NULL};
    if (strcmp(what, "--help") == 0 || strcmp(what, "-h") == 0)
      return fputs(usage, stdout), EXIT_OK;
    cli_set_json(cli_args_ask_json(argc, argv));
    if (!what[0] || what[0] == '-')
      return cli_usage_error(usage, "runs needs list, show, trace or prune");
    return cli_unknown(usage, "runs command", what, commands);
  }
  unsigned flags = OPT_STORE | (strcmp(what, "trace") == 0 ? OPT_JSONL : 0) |
                   (is_list ? OPT_STATUS : 0) | (is_prune ? OPT_OLDER_THAN : 0);
  int rc = cli_parse(argc, argv, flags, is_list || is_prune ? 1 : 2, usage, &o);
  if (rc != 0 || o.help) return rc;
  art_store *store;
  if ((rc = cli_store_open(&o, &store)) != 0) return rc;
  if (is_prune)
    rc = prune(&o, store);
  else
    rc = is_list ? list(&o, store) : show(&o, store, strcmp(what, "trace") == 0);
  art_store_close(store);
  return rc;
}
