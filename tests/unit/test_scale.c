/* Workers at scale, on SQLite and on PostgreSQL: many runs over several
 * worker processes, each run driven exactly once; workers killed at random
 * moments, their runs taken over once their leases run out, write tools
 * never repeated; a worker stopped past its lease and woken again is fenced
 * off; SIGTERM finishes the step in flight; --concurrency bounds what runs at
 * once.  Everything is checked from the store and from logs the tools
 * write. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agentrt.h"
#include "agentrt/durable.h"
#include "testutil.h"

#define ANSWER "{\"type\":\"answer\",\"text\":\"done\"}"
#define CALL(tool) "{\"type\":\"tool\",\"name\":\"" tool "\",\"input\":{}}"

/* A spec named `name` whose one tool, `tool` (side effect `effect`, allowed
 * by policy), runs `script` in sh and answers {}, and whose model calls it
 * `calls` times and answers. */
static const char *tool_spec(const char *name, const char *effect, const char *script,
                             int calls) {
  char decisions[512] = "", text[2048];
  for (int i = 0; i < calls; i++) strcat(decisions, CALL("tool") ",");
  snprintf(text, sizeof text,
           "{\"goal\":\"g\",\"policy\":{\"rules\":[{\"when\":{\"tool\":\"tool\"},"
           "\"effect\":\"allow\"}]},\"tools\":[{\"name\":\"tool\",\"side_effect\":\"%s\","
           "\"command\":[\"/bin/sh\",\"-c\",\"%s; echo {}\"]}],"
           "\"model\":{\"type\":\"scripted\",\"decisions\":[%s" ANSWER "]}}",
           effect, script, decisions);
  return tu_write(name, text);
}

/* The store `where` names, as a test reads it: a SQLite file in the test's
 * directory, or a PostgreSQL URL. */
static art_store *open_store(const char *where) {
  art_store *s;
  art_error err = {0};
  if (art_store_open_url(&s, art_store_url_is_postgres(where) ? where : tu_path(where), &err) < 0)
    fail_msg("cannot open %s: %s", where, err.message);
  return s;
}

/* n queued runs of `spec_path`, named PREFIX0000 on, in one go. */
static void submit_bulk(const char *store, const char *spec_path, int n, const char *prefix) {
  art_spec *spec;
  art_error err = {0};
  assert_int_equal(art_spec_load(&spec, spec_path, NULL, &err), 0);
  art_store *s = open_store(store);
  for (int i = 0; i < n; i++) {
    char id[32];
    snprintf(id, sizeof id, "%s%04d", prefix, i);
    if (art_durable_submit(s, spec, id, NULL, art_now_us(), &err) < 0)
      fail_msg("submit %s: %s", id, err.message);
  }
  art_store_close(s);
  art_spec_free(spec);
}

static pid_t start_worker(const char *store, const char *log, const char *const *flags) {
  const char *argv[24] = {"worker", "--store", store};
  int n = 3;
  while (flags && *flags) argv[n++] = *flags++;
  argv[n] = NULL;
  return tu_cli_start(argv, log, 0);
}

static int exit_of(pid_t pid) {
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static art_run_record record_of(art_store *s, const char *run_id) {
  art_run_record r;
  art_error err = {0};
  if (s->vt->get_run(s, run_id, &r, &err) < 0) fail_msg("run %s: %s", run_id, err.message);
  return r;
}

/* How many lines of tu_path(log) are `line`. */
static int lines_equal(const char *log, const char *line) {
  char *text = tu_read(tu_path(log));
  int n = 0;
  size_t len = strlen(line);
  for (char *at = text; at && *at;) {
    char *end = strchr(at, '\n');
    size_t l = end ? (size_t)(end - at) : strlen(at);
    n += l == len && strncmp(at, line, len) == 0;
    at = end ? end + 1 : at + l;
  }
  free(text);
  return n;
}

/* Until tu_path(log) has at least n lines (a bounded wait). */
static void wait_for_lines(const char *log, int n) {
  for (int i = 0; i < 3000 && tu_count_lines(tu_path(log)) < n; i++) usleep(10000);
  if (tu_count_lines(tu_path(log)) < n) fail_msg("%s never had %d lines", log, n);
}

/* The run rebuilt from its journal, which is one history: seqs 1..n, and a
 * replay that gives the stop the record says. */
static art_stop_reason assert_replays(art_store *s, const char *run_id) {
  art_journal j = {0};
  art_error err = {0};
  assert_int_equal(s->vt->load_journal(s, run_id, &j, &err), 0);
  for (size_t i = 0; i < j.n; i++) assert_int_equal(j.entries[i].seq, i + 1);
  art_journal_dispose(&j);
  art_durable d;
  if (art_durable_open(&d, s, run_id, NULL, "test store", false, &err) < 0)
    fail_msg("run %s does not replay: %s", run_id, err.message);
  art_stop_reason r = art_run_stop_reason(d.run);
  art_durable_dispose(&d);
  return r;
}

/* ---- the tests, each on a store ----------------------------------------------------- */

#define LOG_ID "echo $AGENTRT_RUN_ID >> calls.log"

/* n runs drained by `workers` worker processes at once: each run finished,
 * its tool called once (its id once in calls.log), its journal replays. */
static void drain_with(const char *store, int n, int workers, const char *prefix) {
  unlink(tu_path("calls.log"));
  submit_bulk(store, tool_spec("w1.json", "read", LOG_ID, 1), n, prefix);
  pid_t pids[8];
  const char *flags[] = {"--drain", "--concurrency", "8", NULL};
  for (int i = 0; i < workers; i++) pids[i] = start_worker(store, NULL, flags);
  for (int i = 0; i < workers; i++) assert_int_equal(exit_of(pids[i]), 0);
  assert_int_equal(tu_count_lines(tu_path("calls.log")), n);
  art_store *s = open_store(store);
  for (int i = 0; i < n; i++) {
    char id[32];
    snprintf(id, sizeof id, "%s%04d", prefix, i);
    if (lines_equal("calls.log", id) != 1) fail_msg("run %s called its tool %d times", id,
                                                    lines_equal("calls.log", id));
    art_run_record r = record_of(s, id);
    assert_int_equal(r.status, ART_RUN_FINISHED);
    assert_null(r.lease_owner);
    art_run_record_dispose(&r);
    assert_int_equal(assert_replays(s, id), ART_STOP_SUCCESS);
  }
  art_store_close(s);
}

static void a_thousand_runs_over_two_then_four_workers(const char *store) {
  drain_with(store, 1000, 2, "a");
  drain_with(store, 1000, 4, "b");
}

/* How many events of `type` the run's journal holds. */
static int events_of(art_store *s, const char *run_id, art_event_type type) {
  art_journal j = {0};
  art_error err = {0};
  assert_int_equal(s->vt->load_journal(s, run_id, &j, &err), 0);
  int n = 0;
  for (size_t i = 0; i < j.n; i++) n += j.entries[i].type == type;
  art_journal_dispose(&j);
  return n;
}

/* Until no run of PREFIX0000.. is ready or held: drained again and again
 * (the dead workers' leases run out meanwhile). */
static void drain_until_settled(art_store *s, const char *store, int n, const char *prefix) {
  const char *drain[] = {"--drain", "--lease", "1s", NULL};
  for (int pass = 0, left = n; left > 0; pass++) {
    if (pass == 100) fail_msg("%d runs never ended", left);
    assert_int_equal(exit_of(start_worker(store, NULL, drain)), 0);
    left = 0;
    for (int i = 0; i < n; i++) {
      char id[32];
      snprintf(id, sizeof id, "%s%04d", prefix, i);
      art_run_record r = record_of(s, id);
      left += r.status != ART_RUN_FINISHED && r.status != ART_RUN_PAUSED;
      art_run_record_dispose(&r);
    }
    if (left) usleep(300000);
  }
}

/* Workers killed (SIGKILL) at random moments, again and again, over runs
 * that call a write tool twice: every run ends; each call's side effect
 * happened at most once (no more writes than intents recorded, no fewer than
 * results), so exactly twice in a run that finished; a call whose result was
 * lost stopped its run blocked (outcome_unknown). */
static void workers_killed_at_random_moments(const char *store) {
  enum { RUNS = 40, ROUNDS = 6 };
  unlink(tu_path("writes.log"));
  const char *spec =
      tool_spec("write.json", "write", "echo $AGENTRT_RUN_ID >> writes.log; sleep 0.05", 2);
  submit_bulk(store, spec, RUNS, "k");
  const char *flags[] = {"--concurrency", "4", "--lease", "1s", "--poll", "100ms", NULL};
  srand(15);
  for (int round = 0; round < ROUNDS; round++) {
    pid_t a = start_worker(store, NULL, flags), b = start_worker(store, NULL, flags);
    usleep(50000 + (useconds_t)(rand() % 400) * 1000);
    kill(a, SIGKILL);
    usleep((useconds_t)(rand() % 200) * 1000);
    kill(b, SIGKILL);
    assert_int_equal(exit_of(a), 128 + SIGKILL); /* it was still working */
    assert_int_equal(exit_of(b), 128 + SIGKILL);
  }
  art_store *s = open_store(store);
  drain_until_settled(s, store, RUNS, "k");
  int finished = 0;
  for (int i = 0; i < RUNS; i++) {
    char id[32];
    snprintf(id, sizeof id, "k%04d", i);
    art_run_record r = record_of(s, id);
    int writes = lines_equal("writes.log", id), intents = events_of(s, id, ART_EV_TOOL_CALL),
        results = events_of(s, id, ART_EV_TOOL_RESULT);
    if (writes < results || writes > intents)
      fail_msg("run %s (%s) wrote %d times for %d intents and %d results", id,
               art_run_status_name(r.status), writes, intents, results);
    art_stop_reason stop = assert_replays(s, id);
    if (r.status == ART_RUN_FINISHED) {
      assert_int_equal(stop, ART_STOP_SUCCESS);
      assert_int_equal(writes, 2);
      finished++;
    } else {
      assert_int_equal(r.status, ART_RUN_PAUSED);
      assert_int_equal(stop, ART_STOP_BLOCKED);
      assert_string_equal(r.detail, "outcome_unknown");
    }
    art_run_record_dispose(&r);
  }
  art_store_close(s);
  print_message("%d runs finished, %d blocked (a write's outcome lost with its worker)\n",
                finished, RUNS - finished);
  assert_true(finished > 0);
}

/* A worker stopped (SIGSTOP) past its lease while its run's call is in
 * flight: another worker takes the run over and finishes it; woken
 * (SIGCONT), the first worker's writes are refused and it drops the run.
 * The journal stays one history, with one result for the call. */
static void a_worker_stopped_past_its_lease_is_fenced(const char *store) {
  unlink(tu_path("stop.pids"));
  submit_bulk(store, tool_spec("stop.json", "read", "echo $$ >> stop.pids; sleep 1.5", 1), 1,
              "s");
  const char *flags[] = {"--drain", "--lease", "1s", NULL};
  pid_t a = start_worker(store, "first.log", flags);
  wait_for_lines("stop.pids", 1);
  kill(a, SIGSTOP);
  art_store *s = open_store(store);
  for (int i = 0;; i++) { /* until a's lease has run out */
    art_run_record r = record_of(s, "s0000");
    bool out = art_durable_status_now(&r, art_now_us()) == ART_RUN_READY;
    art_run_record_dispose(&r);
    if (out) break;
    if (i == 1000) fail_msg("the stopped worker's lease never ran out");
    usleep(10000);
  }
  pid_t b = start_worker(store, "second.log", flags);
  wait_for_lines("stop.pids", 2); /* b runs the read call again */
  kill(a, SIGCONT);
  assert_int_equal(exit_of(a), 0);
  assert_int_equal(exit_of(b), 0);
  char *said = tu_read(tu_path("first.log"));
  if (!said || !strstr(said, "taken over")) fail_msg("the first worker said: %s", said);
  free(said);
  art_run_record r = record_of(s, "s0000");
  assert_int_equal(r.status, ART_RUN_FINISHED);
  art_run_record_dispose(&r);
  assert_int_equal(assert_replays(s, "s0000"), ART_STOP_SUCCESS);
  assert_int_equal(events_of(s, "s0000", ART_EV_TOOL_RESULT), 1);
  art_store_close(s);
}

/* SIGTERM: each run's call in flight finishes and is recorded, no next call
 * starts, each run is left ready and unheld, the worker exits 0; the next
 * worker finishes the runs without calling anything twice. */
static void sigterm_finishes_the_step_in_flight(const char *store) {
  unlink(tu_path("steps.log"));
  const char *spec = tool_spec(
      "term.json", "read", "echo start >> steps.log; sleep 0.5; echo end >> steps.log", 2);
  submit_bulk(store, spec, 4, "t");
  const char *flags[] = {"--concurrency", "4", NULL};
  pid_t w = start_worker(store, NULL, flags);
  wait_for_lines("steps.log", 4);
  kill(w, SIGTERM);
  assert_int_equal(exit_of(w), 0);
  assert_int_equal(lines_equal("steps.log", "start"), 4);
  assert_int_equal(lines_equal("steps.log", "end"), 4);
  art_store *s = open_store(store);
  for (int i = 0; i < 4; i++) {
    char id[32];
    snprintf(id, sizeof id, "t%04d", i);
    art_run_record r = record_of(s, id);
    assert_int_equal(r.status, ART_RUN_READY);
    assert_null(r.lease_owner);
    art_run_record_dispose(&r);
    assert_int_equal(events_of(s, id, ART_EV_TOOL_RESULT), 1);
  }
  const char *drain[] = {"--drain", NULL};
  assert_int_equal(exit_of(start_worker(store, NULL, drain)), 0);
  assert_int_equal(lines_equal("steps.log", "start"), 8);
  for (int i = 0; i < 4; i++) {
    char id[32];
    snprintf(id, sizeof id, "t%04d", i);
    assert_int_equal(assert_replays(s, id), ART_STOP_SUCCESS);
  }
  art_store_close(s);
}

/* --concurrency N: never more than N runs' calls at once, and more than one
 * (the calls overlap: the runs are driven at once). */
static void concurrency_bounds_the_runs_at_once(const char *store) {
  unlink(tu_path("spans.log"));
  const char *spec = tool_spec("span.json", "read",
                               "echo start >> spans.log; sleep 0.4; echo end >> spans.log", 1);
  submit_bulk(store, spec, 9, "c");
  const char *flags[] = {"--drain", "--concurrency", "3", NULL};
  assert_int_equal(exit_of(start_worker(store, NULL, flags)), 0);
  char *log = tu_read(tu_path("spans.log"));
  int open = 0, most = 0;
  for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
    open += strcmp(line, "start") == 0 ? 1 : -1;
    if (open > most) most = open;
  }
  free(log);
  assert_int_equal(open, 0);
  assert_in_range(most, 2, 3);
}

/* ---- on SQLite and on PostgreSQL -------------------------------------------------- */

TU_ON_BOTH(a_thousand_runs_over_two_then_four_workers, "scale")
TU_ON_BOTH(workers_killed_at_random_moments, "scale")
TU_ON_BOTH(a_worker_stopped_past_its_lease_is_fenced, "scale")
TU_ON_BOTH(sigterm_finishes_the_step_in_flight, "scale")
TU_ON_BOTH(concurrency_bounds_the_runs_at_once, "scale")

/* ---- PostgreSQL only -------------------------------------------------------------- */

/* Until every run of PREFIX0000.. (n of them) has finished (a bounded wait). */
static void wait_all_finished(art_store *s, int n, const char *prefix) {
  for (int i = 0; i < 3000; i++) {
    int left = 0;
    for (int k = 0; k < n; k++) {
      char id[32];
      snprintf(id, sizeof id, "%s%04d", prefix, k);
      art_run_record r;
      art_error err = {0};
      left += s->vt->get_run(s, id, &r, &err) < 0 || r.status != ART_RUN_FINISHED;
      if (err.code == 0) art_run_record_dispose(&r);
    }
    if (!left) return;
    usleep(20000);
  }
  fail_msg("runs never finished");
}

/* The database restarted (a crash: pg_ctl restart -m immediate) under a
 * worker with runs in flight: the worker connects again and goes on, the
 * runs it was driving are replayed from what was committed once their
 * leases run out, and every run finishes with its three results, held by
 * nobody; the worker still stops cleanly. */
static void a_worker_outlives_a_database_restart(void **state) {
  (void)state;
  const char *store = tu_new_postgres_store("restart");
  unlink(tu_path("calls.log"));
  const char *spec =
      tool_spec("restart.json", "read", "echo $AGENTRT_RUN_ID >> calls.log; sleep 0.3", 3);
  submit_bulk(store, spec, 20, "d"); /* about 5 s of work: the restart comes in the middle */
  const char *flags[] = {"--concurrency", "4", "--lease", "1s", "--poll", "200ms", NULL};
  pid_t w = start_worker(store, "restart.log", flags);
  wait_for_lines("calls.log", 10);
  tu_pg_restart();
  art_store *s = open_store(store);
  wait_all_finished(s, 20, "d");
  kill(w, SIGTERM);
  assert_int_equal(exit_of(w), 0);
  char *said = tu_read(tu_path("restart.log"));
  if (!said || !strstr(said, "lost the connection")) fail_msg("the worker said:\n%s", said);
  free(said);
  for (int i = 0; i < 20; i++) {
    char id[32];
    snprintf(id, sizeof id, "d%04d", i);
    art_run_record r = record_of(s, id);
    assert_null(r.lease_owner);
    art_run_record_dispose(&r);
    assert_int_equal(assert_replays(s, id), ART_STOP_SUCCESS);
    assert_int_equal(events_of(s, id, ART_EV_TOOL_RESULT), 3);
  }
  art_store_close(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(concurrency_bounds_the_runs_at_once_sqlite),
      cmocka_unit_test(concurrency_bounds_the_runs_at_once_postgres),
      cmocka_unit_test(sigterm_finishes_the_step_in_flight_sqlite),
      cmocka_unit_test(sigterm_finishes_the_step_in_flight_postgres),
      cmocka_unit_test(a_worker_stopped_past_its_lease_is_fenced_sqlite),
      cmocka_unit_test(a_worker_stopped_past_its_lease_is_fenced_postgres),
      cmocka_unit_test(workers_killed_at_random_moments_sqlite),
      cmocka_unit_test(workers_killed_at_random_moments_postgres),
      cmocka_unit_test(a_thousand_runs_over_two_then_four_workers_sqlite),
      cmocka_unit_test(a_thousand_runs_over_two_then_four_workers_postgres),
      cmocka_unit_test(a_worker_outlives_a_database_restart),
  };
  return cmocka_run_group_tests(tests, tu_pg_setup_crash_safe, NULL);
}
