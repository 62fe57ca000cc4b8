/* Limits from the command line: `agentrt queue set|list` and `agentrt tenant
 * set|list`, what `runs list` shows of a run's holder, and four real workers
 * on a PostgreSQL store that never drive more runs of a limited queue at once
 * than its limit (the runs' own tool says when each ran). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agentrt.h"
#include "agentrt/store.h"
#include "testutil.h"

static void assert_contains(const char *text, const char *part) {
  if (!text || !strstr(text, part))
    fail_msg("expected \"%s\" in:\n%s", part, text ? text : "(null)");
}

/* agentrt ARGS... --store STORE: its exit status; stdout into *out, stderr
 * into *err (both may be NULL). */
static int cli(char **out, char **err, const char *store, const char *const *args) {
  const char *argv[16];
  int n = 0;
  while (args[n]) argv[n] = args[n], n++;
  argv[n++] = "--store", argv[n++] = store, argv[n] = NULL;
  char *got_out = NULL, *got_err = NULL;
  int rc = tu_cli_argv(&got_out, &got_err, argv);
  if (out)
    *out = got_out;
  else
    free(got_out);
  if (err)
    *err = got_err;
  else
    free(got_err);
  return rc;
}

/* `agentrt queue|tenant list --json` as JSON. */
static json_t *listed(const char *store, const char *what) {
  char *out = NULL;
  assert_int_equal(cli(&out, NULL, store, (const char *[]){what, "list", "--json", NULL}), 0);
  json_t *j = json_loads(out, 0, NULL);
  if (!json_is_array(j)) fail_msg("not a JSON array:\n%s", out);
  free(out);
  return j;
}

/* Each row of a `list --json` as "name:limit:queued:ready:held", joined by
 * spaces ("-" for no limit). */
static void assert_listed(const char *store, const char *what, const char *want) {
  json_t *rows = listed(store, what), *row;
  size_t i;
  char got[512] = "";
  json_array_foreach(rows, i, row) {
    json_t *limit = json_object_get(row, "max_running");
    char max[16] = "-";
    if (!json_is_null(limit)) snprintf(max, sizeof max, "%lld", json_integer_value(limit));
    snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s:%s:%lld:%lld:%lld", i ? " " : "",
             json_string_value(json_object_get(row, what)), max,
             json_integer_value(json_object_get(row, "queued")),
             json_integer_value(json_object_get(row, "ready")),
             json_integer_value(json_object_get(row, "held")));
  }
  json_decref(rows);
  assert_string_equal(got, want);
}

/* A set refused: exit 2, `message` on stderr, and the limits as they were. */
static void refused(const char *store, const char *const *args, const char *message,
                    const char *limits_after) {
  char *out = NULL, *err = NULL;
  assert_int_equal(cli(&out, &err, store, args), 2);
  assert_contains(err, message);
  assert_string_equal(out, "");
  free(out), free(err);
  assert_listed(store, "queue", limits_after);
}

#define TENANT_SPEC(tenant)                                                                        \
  "{\"goal\":\"g\",\"actor\":{\"id\":\"u\",\"tenant\":\"" tenant "\"},"                            \
  "\"model\":{\"type\":\"scripted\",\"decisions\":[{\"type\":\"answer\",\"text\":\"x\"}]}}"

static void queue_and_tenant_limits_are_set_and_listed(void **state) {
  (void)state;
  const char *store = "limits.db";
  char *out = NULL;
  assert_int_equal(
      cli(&out, NULL, store, (const char *[]){"queue", "set", "mail", "--max-running", "2", NULL}),
      0);
  assert_string_equal(out, "queue mail: at most 2 runs held at once\n");
  free(out);
  assert_listed(store, "queue", "mail:2:0:0:0");
  refused(store, (const char *[]){"queue", "set", "mail", "--max-running", "-1", NULL},
          "--max-running takes a number from 0 to 1000000", "mail:2:0:0:0");
  refused(store, (const char *[]){"queue", "set", "mail", "--max-running", "2x", NULL},
          "--max-running takes a number", "mail:2:0:0:0");
  refused(store, (const char *[]){"queue", "set", "mail", "--max-running", "99999999999", NULL},
          "--max-running takes a number", "mail:2:0:0:0");
  refused(store, (const char *[]){"queue", "set", "mail", NULL}, "set needs --max-running N",
          "mail:2:0:0:0");
  refused(store, (const char *[]){"queue", "set", "", "--max-running", "1", NULL},
          "a queue's name cannot be empty", "mail:2:0:0:0");
  refused(store, (const char *[]){"queue", "sett", "mail", NULL}, "did you mean \"set\"?",
          "mail:2:0:0:0");
  refused(store, (const char *[]){"queue", "list", "--max-running", "3", NULL}, "bad option",
          "mail:2:0:0:0");
  tu_write("acme.json", TENANT_SPEC("acme"));
  tu_write("beta.json", TENANT_SPEC("beta"));
  const char *const submits[][6] = {{"submit", "acme.json", "--queue", "mail", NULL},
                                    {"submit", "acme.json", NULL},
                                    {"submit", "beta.json", "--queue", "mail", NULL}};
  for (int i = 0; i < 3; i++) assert_int_equal(cli(NULL, NULL, store, submits[i]), 0);
  assert_int_equal(
      cli(&out, NULL, store,
          (const char *[]){"tenant", "set", "acme", "--max-running", "1", "--json", NULL}),
      0);
  json_t *said = json_loads(out, 0, NULL);
  assert_string_equal(json_string_value(json_object_get(said, "tenant")), "acme");
  assert_int_equal(json_integer_value(json_object_get(said, "max_running")), 1);
  json_decref(said), free(out);
  assert_listed(store, "queue", "default:-:1:0:0 mail:2:2:0:0");
  assert_listed(store, "tenant", "acme:1:2:0:0 beta:-:1:0:0");
  assert_int_equal(cli(NULL, NULL, store, (const char *[]){"worker", "--drain", NULL}), 0);
  assert_listed(store, "queue", "default:-:0:0:0 mail:2:0:0:0");
  assert_int_equal(
      cli(&out, NULL, store, (const char *[]){"queue", "set", "mail", "--max-running", "0", NULL}),
      0);
  assert_string_equal(out, "queue mail: no limit\n");
  free(out);
  assert_listed(store, "queue", "default:-:0:0:0 mail:-:0:0:0");
  assert_int_equal(cli(&out, NULL, store, (const char *[]){"queue", "list", NULL}), 0);
  assert_contains(out, "queue                      limit  queued   ready    held\n");
  assert_contains(out, "mail                           -       0       0       0\n");
  free(out);
}

/* What `runs list` says of a held run: its holder, how long ago it renewed
 * its lease, its tenant. */
static void runs_list_shows_the_heartbeat(void **state) {
  (void)state;
  art_store *s;
  art_error err = {0};
  const char *store = tu_path("heartbeat.db");
  assert_int_equal(art_store_open_sqlite(&s, store, NULL, &err), 0);
  int64_t now = art_now_us();
  art_run_record held = {.run_id = (char *)"held",
                         .status = ART_RUN_RUNNING,
                         .spec_json = (char *)"{}",
                         .created_us = now - 7000000,
                         .lease_owner = (char *)"host:42:worker",
                         .lease_until_us = now + 600000000,
                         .tenant = (char *)"acme"};
  assert_int_equal(s->vt->create_run(s, &held, &err), 0);
  art_store_close(s);
  char *out = NULL;
  assert_int_equal(cli(&out, NULL, store, (const char *[]){"runs", "list", NULL}), 0);
  assert_contains(out, "host:42:worker (lease 600 s left, heartbeat 7 s ago)");
  free(out);
  assert_int_equal(cli(&out, NULL, store, (const char *[]){"runs", "list", "--json", NULL}), 0);
  json_t *runs = json_loads(out, 0, NULL), *run = json_array_get(runs, 0);
  assert_string_equal(json_string_value(json_object_get(run, "tenant")), "acme");
  assert_true(json_integer_value(json_object_get(run, "heartbeat_age_ms")) >= 7000);
  assert_string_equal(json_string_value(json_object_get(json_object_get(run, "holder"), "owner")),
                      "host:42:worker");
  json_decref(runs), free(out);
}

/* ---- four workers, a queue limited to two ---------------------------------------- */

enum { LIMITED_RUNS = 12, WORKERS = 4, LIMIT = 2 };

/* A run of queue `limited` whose tool logs "start NS RUN" and "end NS RUN"
 * (a clock every process shares) around 0.2 s of work. */
static void write_timed_spec(void) {
  char text[1024];
  snprintf(text, sizeof text,
           "{\"goal\":\"g\",\"tools\":[{\"name\":\"work\",\"side_effect\":\"read\","
           "\"command\":[\"/bin/sh\",\"-c\",\"echo start $(date +%%s%%N) $AGENTRT_RUN_ID >> %s;"
           " sleep 0.2; echo end $(date +%%s%%N) $AGENTRT_RUN_ID >> %s\"]}],"
           "\"model\":{\"type\":\"scripted\",\"decisions\":[{\"type\":\"tool\",\"name\":"
           "\"work\",\"input\":{}},{\"type\":\"answer\",\"text\":\"done\"}]}}",
           tu_path("times.log"), tu_path("times.log"));
  tu_write("timed.json", text);
}

/* How many runs of the queue are not finished. */
static int unfinished(const char *store) {
  char *out = NULL;
  assert_int_equal(cli(&out, NULL, store, (const char *[]){"runs", "list", "--json", NULL}), 0);
  json_t *runs = json_loads(out, 0, NULL), *r;
  size_t i;
  int left = 0;
  json_array_foreach(runs, i, r) {
    left += strcmp(json_string_value(json_object_get(r, "status")), "finished") != 0;
  }
  json_decref(runs), free(out);
  return left;
}

typedef struct mark {
  long long ns;
  int by; /* +1 a start, -1 an end */
} mark;

static int by_time(const void *a, const void *b) {
  const mark *x = a, *y = b;
  if (x->ns != y->ns) return x->ns < y->ns ? -1 : 1;
  return x->by - y->by; /* at the same moment, an end before a start */
}

/* The most tool calls that ever overlapped, from the log; each run's tool
 * started and ended once. */
static int most_at_once(void) {
  char *log = tu_read(tu_path("times.log"));
  assert_non_null(log);
  mark marks[2 * LIMITED_RUNS];
  int n = 0, starts = 0;
  for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
    char what[8];
    long long ns;
    if (n == 2 * LIMITED_RUNS || sscanf(line, "%7s %lld", what, &ns) != 2)
      fail_msg("bad or extra line in times.log: %s", line);
    starts += strcmp(what, "start") == 0;
    marks[n++] = (mark){ns, strcmp(what, "start") == 0 ? 1 : -1};
  }
  free(log);
  assert_int_equal(n, 2 * LIMITED_RUNS);
  assert_int_equal(starts, LIMITED_RUNS);
  qsort(marks, (size_t)n, sizeof *marks, by_time);
  int now = 0, most = 0;
  for (int i = 0; i < n; i++) {
    now += marks[i].by;
    if (now > most) most = now;
  }
  return most;
}

/* Four workers that wait for runs (they never leave early because a limit
 * held them back), on a queue limited to two: every run is driven, and no
 * more than two tool calls ever overlap.  A tool call runs while its worker
 * holds the run's lease, so overlapping calls are runs held at once. */
static void four_workers_hold_two_runs_at_once(void **state) {
  (void)state;
  char store[512];
  snprintf(store, sizeof store, "%s", tu_pg_database("four_workers"));
  write_timed_spec();
  char limit[8];
  snprintf(limit, sizeof limit, "%d", LIMIT);
  assert_int_equal(cli(NULL, NULL, store,
                       (const char *[]){"queue", "set", "limited", "--max-running", limit, NULL}),
                   0);
  for (int i = 0; i < LIMITED_RUNS; i++)
    assert_int_equal(cli(NULL, NULL, store,
                         (const char *[]){"submit", "timed.json", "--queue", "limited", NULL}),
                     0);
  const char *argv[] = {"worker", "--poll", "1s", "--store", store, NULL};
  pid_t workers[WORKERS];
  for (int w = 0; w < WORKERS; w++) workers[w] = tu_cli_start(argv, NULL, 0);
  for (int i = 0; i < 1500 && unfinished(store); i++) usleep(20000);
  for (int w = 0; w < WORKERS; w++) kill(workers[w], SIGTERM);
  for (int w = 0; w < WORKERS; w++) {
    int status;
    assert_int_equal(waitpid(workers[w], &status, 0), workers[w]);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  assert_int_equal(unfinished(store), 0);
  int most = most_at_once();
  if (most > LIMIT) fail_msg("%d runs of the queue were driven at once (limit %d)", most, LIMIT);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(queue_and_tenant_limits_are_set_and_listed),
      cmocka_unit_test(runs_list_shows_the_heartbeat),
      cmocka_unit_test(four_workers_hold_two_runs_at_once),
  };
  return cmocka_run_group_tests(tests, tu_pg_setup, NULL);
}
