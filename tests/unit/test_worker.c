/* The run queue from the command line, on SQLite and on PostgreSQL: `agentrt
 * submit` stores queued runs, `agentrt worker --drain` drives them; two
 * workers never drive one run, a paused run waits for its approval, and a
 * worker that dies has its run taken over once its lease runs out. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sqlite3.h>

#include "agentrt.h"
#include "testutil.h"

#define ANSWER "{\"type\":\"answer\",\"text\":\"done\"}"
#define CALL(tool) "{\"type\":\"tool\",\"name\":\"" tool "\",\"input\":{}}"
#define ALLOW_SLOW "\"policy\":{\"rules\":[{\"when\":{\"tool\":\"slow\"},\"effect\":\"allow\"}]},"

/* A spec whose `log` tool appends its run id to calls.log (and answers {});
 * the log starts empty. */
static const char *logging_spec(void) {
  char text[1024];
  unlink(tu_path("calls.log"));
  snprintf(text, sizeof text,
           "{\"goal\":\"g\",\"tools\":[{\"name\":\"log\",\"side_effect\":\"read\","
           "\"command\":[\"/bin/sh\",\"-c\",\"echo $AGENTRT_RUN_ID >> %s; echo {}\"]}],"
           "\"model\":{\"type\":\"scripted\",\"decisions\":[" CALL("log") "," ANSWER "]}}",
           tu_path("calls.log"));
  return tu_write("log.json", text);
}

static void assert_contains(const char *text, const char *part) {
  if (!text || !strstr(text, part))
    fail_msg("expected \"%s\" in:\n%s", part, text ? text : "(null)");
}

/* agentrt ARGS... --store STORE: its exit status; stdout into *out. */
static int cli(char **out, const char *store, const char *const *args) {
  const char *argv[16];
  int n = 0;
  while (args[n]) argv[n] = args[n], n++;
  argv[n++] = "--store", argv[n++] = store, argv[n] = NULL;
  char *err = NULL, *dropped = NULL;
  int rc = tu_cli_argv(out ? out : &dropped, &err, argv);
  if (rc != 0 && rc != 3) fprintf(stderr, "agentrt %s: %s\n", args[0], err);
  free(err);
  free(dropped);
  return rc;
}

static void submit_n(const char *store, const char *spec, int n) {
  for (int i = 0; i < n; i++) {
    char id[32];
    snprintf(id, sizeof id, "q%03d", i);
    assert_int_equal(cli(NULL, store, (const char *[]){"submit", spec, "--run-id", id, NULL}), 0);
  }
}

/* A member of run_id's object in `runs list --json` (NULL: no such run). */
static char *field_of(const char *store, const char *run_id, const char *member) {
  char *out = NULL;
  assert_int_equal(cli(&out, store, (const char *[]){"runs", "list", "--json", NULL}), 0);
  json_t *runs = json_loads(out, 0, NULL), *r;
  size_t i;
  char *status = NULL;
  json_array_foreach(runs, i, r) {
    if (strcmp(json_string_value(json_object_get(r, "run_id")), run_id) == 0)
      status = strdup(json_string_value(json_object_get(r, member)));
  }
  json_decref(runs);
  free(out);
  return status;
}

static char *status_of(const char *store, const char *run_id) {
  return field_of(store, run_id, "status");
}

static void assert_status(const char *store, const char *run_id, const char *want) {
  char *got = status_of(store, run_id);
  if (!got || strcmp(got, want) != 0)
    fail_msg("run %s is %s, expected %s", run_id, got ? got : "missing", want);
  free(got);
}

/* ---- the tests, each on a store ------------------------------------------------- */

static void submit_stores_a_queued_run(const char *store) {
  char *out = NULL;
  const char *spec = logging_spec();
  assert_int_equal(cli(&out, store, (const char *[]){"submit", spec, "--json", NULL}), 0);
  json_t *j = json_loads(out, 0, NULL);
  assert_string_equal(json_string_value(json_object_get(j, "status")), "queued");
  assert_status(store, json_string_value(json_object_get(j, "run_id")), "queued");
  json_decref(j);
  free(out);
  tu_write("bad.json", "{\"goal\": \"g\", \"model\": {\"type\": \"nope\"}}");
  assert_int_equal(cli(NULL, store, (const char *[]){"submit", "bad.json", "--run-id", "b", NULL}),
                   2);
  assert_null(status_of(store, "b"));
  assert_int_equal(cli(NULL, store, (const char *[]){"submit", spec, "--run-id", "d", NULL}), 0);
  assert_int_equal(cli(NULL, store, (const char *[]){"submit", spec, "--run-id", "d", NULL}), 2);
  assert_int_equal(
      cli(NULL, store, (const char *[]){"submit", spec, "--run-id", "m", "--queue", "mail", NULL}),
      0);
  char *queue = field_of(store, "m", "queue");
  assert_string_equal(queue, "mail");
  free(queue);
  assert_int_equal(tu_count_lines(tu_path("calls.log")), 0); /* nothing ran */
}

/* Each run's tool call, once: its id in calls.log exactly once. */
static void assert_each_ran_once(const char *store, int n) {
  char *log = tu_read(tu_path("calls.log")), *out = NULL;
  assert_non_null(log);
  assert_int_equal(cli(&out, store, (const char *[]){"runs", "list", "--json", NULL}), 0);
  json_t *runs = json_loads(out, 0, NULL), *r;
  size_t k;
  assert_int_equal(json_array_size(runs), n);
  json_array_foreach(runs, k, r) {
    const char *id = json_string_value(json_object_get(r, "run_id"));
    char line[40];
    snprintf(line, sizeof line, "%s\n", id);
    const char *at = strstr(log, line);
    if (!at || strstr(at + 1, line))
      fail_msg("run %s called its tool %s", id, at ? "twice" : "never");
    assert_string_equal(json_string_value(json_object_get(r, "status")), "finished");
    assert_string_equal(json_string_value(json_object_get(r, "stop_reason")), "success");
  }
  assert_int_equal(tu_count_lines(tu_path("calls.log")), n);
  json_decref(runs);
  free(out);
  free(log);
}

static void a_worker_drains_the_queue(const char *store) {
  submit_n(store, logging_spec(), 20);
  assert_int_equal(cli(NULL, store, (const char *[]){"worker", "--drain", NULL}), 0);
  assert_each_ran_once(store, 20);
}

static void two_workers_share_the_queue(const char *store) {
  submit_n(store, logging_spec(), 100);
  const char *argv[] = {"worker", "--drain", "--store", store, NULL};
  pid_t a = tu_cli_start(argv, "worker-a.log", 0), b = tu_cli_start(argv, "worker-b.log", 0);
  int status_a, status_b;
  assert_int_equal(waitpid(a, &status_a, 0), a);
  assert_int_equal(waitpid(b, &status_b, 0), b);
  assert_true(WIFEXITED(status_a) && WEXITSTATUS(status_a) == 0);
  assert_true(WIFEXITED(status_b) && WEXITSTATUS(status_b) == 0);
  assert_each_ran_once(store, 100);
}

static void write_send_spec(void) {
  tu_write("send.json", "{\"goal\":\"g\",\"run_id\":\"p\",\"tools\":[\"send_message\"],"
                        "\"model\":{\"type\":\"scripted\",\"decisions\":["
                        "{\"type\":\"tool\",\"name\":\"send_message\",\"input\":"
                        "{\"to\":\"a@example.com\",\"body\":\"hi\"}}," ANSWER "]}}");
}

/* Approve run p's pending action as ops. */
static void approve_p(const char *store) {
  char *out = NULL;
  assert_int_equal(cli(&out, store, (const char *[]){"runs", "show", "p", "--json", NULL}), 0);
  json_t *shown = json_loads(out, 0, NULL);
  const char *action =
      json_string_value(json_object_get(json_object_get(shown, "pending"), "action_id"));
  assert_non_null(action);
  assert_int_equal(
      cli(NULL, store, (const char *[]){"approve", "p", action, "--reviewer", "ops", NULL}), 0);
  json_decref(shown);
  free(out);
}

static void a_paused_run_waits_for_its_approval(const char *store) {
  write_send_spec();
  assert_int_equal(cli(NULL, store, (const char *[]){"submit", "send.json", NULL}), 0);
  assert_int_equal(cli(NULL, store, (const char *[]){"worker", "--drain", NULL}), 0);
  assert_status(store, "p", "paused");
  approve_p(store);
  assert_status(store, "p", "ready");
  assert_int_equal(cli(NULL, store, (const char *[]){"worker", "--drain", NULL}), 0);
  assert_status(store, "p", "finished");
}

static void wait_for_status(const char *store, const char *run_id, const char *want) {
  for (int i = 0; i < 1500; i++) {
    char *status = status_of(store, run_id);
    bool there = status && strcmp(status, want) == 0;
    free(status);
    if (there) return;
    usleep(20000);
  }
  fail_msg("run %s never became %s", run_id, want);
}

/* A worker that waits (polling once an hour) is woken by PostgreSQL when
 * another process approves a paused run, and finishes it; SIGTERM then ends
 * it with 0. */
static void an_approval_wakes_a_waiting_worker(void **state) {
  (void)state;
  unlink(tu_path("calls.log"));
  const char *store = tu_pg_database("wake");
  write_send_spec();
  const char *argv[] = {"worker", "--poll", "1h", "--store", store, NULL};
  pid_t worker = tu_cli_start(argv, "waiting-worker.log", 0);
  assert_int_equal(cli(NULL, store, (const char *[]){"submit", "send.json", NULL}), 0);
  wait_for_status(store, "p", "paused"); /* the submit woke it too */
  approve_p(store);
  wait_for_status(store, "p", "finished");
  kill(worker, SIGTERM);
  int status;
  assert_int_equal(waitpid(worker, &status, 0), worker);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The file's text once it exists (a bounded wait). */
static char *wait_for_file(const char *name) {
  for (int i = 0; i < 1000; i++) {
    char *text = tu_read(tu_path(name));
    if (text && text[0]) return text;
    free(text);
    usleep(10000);
  }
  fail_msg("%s never came", name);
  return NULL;
}

/* Until the run's holder has let its lease run out (a bounded wait). */
static void wait_until_ready(const char *store, const char *run_id) {
  for (int i = 0; i < 500; i++) {
    char *status = status_of(store, run_id);
    bool ready = status && strcmp(status, "ready") == 0;
    free(status);
    if (ready) return;
    usleep(20000);
  }
  fail_msg("run %s never became ready", run_id);
}

static void a_dead_workers_run_is_taken_over(const char *store) {
  char text[1024];
  snprintf(text, sizeof text,
           "{\"goal\":\"g\",\"run_id\":\"k\"," ALLOW_SLOW
           "\"tools\":[{\"name\":\"slow\",\"side_effect\":\"write\",\"command\":[\"/bin/sh\","
           "\"-c\",\"echo $$ > %s; exec sleep 60\"]}],"
           "\"model\":{\"type\":\"scripted\",\"decisions\":[" CALL("slow") "," ANSWER "]}}",
           tu_path("slow.pid"));
  tu_write("slow.json", text);
  unlink(tu_path("slow.pid"));
  assert_int_equal(cli(NULL, store, (const char *[]){"submit", "slow.json", NULL}), 0);
  pid_t w =
      tu_cli_start((const char *[]){"worker", "--drain", "--lease", "1s", "--store", store, NULL},
                   "dying.log", 0);
  char *pid = wait_for_file("slow.pid");
  kill(w, SIGKILL);
  int status;
  assert_int_equal(waitpid(w, &status, 0), w);
  kill((pid_t)atol(pid), SIGKILL); /* the tool the dead worker left behind */
  free(pid);
  wait_until_ready(store, "k");
  assert_int_equal(cli(NULL, store, (const char *[]){"worker", "--drain", "--lease", "1s", NULL}),
                   0);
  assert_status(store, "k", "paused");
  char *out = NULL;
  cli(&out, store, (const char *[]){"runs", "show", "k", "--json", NULL});
  assert_contains(out, "outcome_unknown");
  free(out);
}

/* A run that cannot be rebuilt (its stored spec broken behind agentrt's
 * back) stops no worker: the others are driven, the worker says which run
 * failed and exits 2 once drained, and the broken run is not taken again at
 * once by the next worker (it stays held until its lease runs out). */
static void a_broken_run_stops_no_worker(const char *store,
                                         void (*exec)(const char *, const char *),
                                         const char *runs_table) {
  submit_n(store, logging_spec(), 5);
  char sql[160];
  snprintf(sql, sizeof sql, "UPDATE %s SET spec_json = '{' WHERE run_id = 'q000'", runs_table);
  exec(store, sql);
  assert_int_equal(cli(NULL, store, (const char *[]){"worker", "--drain", NULL}), 2);
  assert_int_equal(tu_count_lines(tu_path("calls.log")), 4);
  for (int i = 1; i < 5; i++) {
    char id[32];
    snprintf(id, sizeof id, "q%03d", i);
    assert_status(store, id, "finished");
  }
  assert_int_equal(cli(NULL, store, (const char *[]){"worker", "--drain", NULL}), 0);
  assert_status(store, "q000", "running"); /* taken, not started: held until the lease runs out */
}

static void sqlite_exec(const char *store, const char *sql) {
  sqlite3 *db;
  assert_int_equal(sqlite3_open(tu_path(store), &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
}

/* ---- on SQLite and on PostgreSQL -------------------------------------------------- */

TU_ON_BOTH(submit_stores_a_queued_run, "queue")
TU_ON_BOTH(a_worker_drains_the_queue, "queue")
TU_ON_BOTH(two_workers_share_the_queue, "queue")
TU_ON_BOTH(a_paused_run_waits_for_its_approval, "queue")
TU_ON_BOTH(a_dead_workers_run_is_taken_over, "queue")

static void a_broken_run_stops_no_worker_sqlite(void **state) {
  (void)state;
  a_broken_run_stops_no_worker(tu_new_sqlite_store("queue"), sqlite_exec, "runs");
}

static void a_broken_run_stops_no_worker_postgres(void **state) {
  (void)state;
  a_broken_run_stops_no_worker(tu_new_postgres_store("queue"), tu_pg_exec, "agentrt.runs");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(submit_stores_a_queued_run_sqlite),
      cmocka_unit_test(submit_stores_a_queued_run_postgres),
      cmocka_unit_test(a_worker_drains_the_queue_sqlite),
      cmocka_unit_test(a_worker_drains_the_queue_postgres),
      cmocka_unit_test(two_workers_share_the_queue_sqlite),
      cmocka_unit_test(two_workers_share_the_queue_postgres),
      cmocka_unit_test(a_paused_run_waits_for_its_approval_sqlite),
      cmocka_unit_test(a_paused_run_waits_for_its_approval_postgres),
      cmocka_unit_test(a_dead_workers_run_is_taken_over_sqlite),
      cmocka_unit_test(a_dead_workers_run_is_taken_over_postgres),
      cmocka_unit_test(a_broken_run_stops_no_worker_sqlite),
      cmocka_unit_test(a_broken_run_stops_no_worker_postgres),
      cmocka_unit_test(an_approval_wakes_a_waiting_worker),
  };
  return cmocka_run_group_tests(tests, tu_pg_setup, NULL);
}
