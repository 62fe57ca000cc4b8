/* A PostgreSQL store handle whose connection is cut: the server restarted
 * (`pg_ctl restart -m immediate`) or its backend terminated in the middle of
 * a commit.  The operation that finds the connection lost fails, the next one
 * connects again and the handle goes on as before (its LISTENs too); the
 * journal holds exactly what was committed, and a run whose events were held
 * back when the connection went is told so at its next commit.  A server of
 * its own: restarting it cuts no other test's connections. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agentrt.h"
#include "agentrt/store.h"
#include "testutil.h"

static art_store *open_store(const char *url) {
  art_store *s;
  art_error err = {0};
  if (art_store_open_url(&s, url, &err) < 0) fail_msg("%s", err.message);
  return s;
}

/* A run held by `owner` (lease generation 1). */
static void create_held(art_store *s, const char *run_id, const char *owner) {
  art_error err = {0};
  art_run_record r = {.run_id = (char *)run_id,
                      .status = ART_RUN_RUNNING,
                      .spec_json = (char *)"{}",
                      .created_us = 1,
                      .lease_owner = (char *)owner,
                      .lease_until_us = INT64_MAX / 2};
  if (s->vt->create_run(s, &r, &err) < 0) fail_msg("%s", err.message);
}

static int append_at(art_store *s, const char *run_id, uint32_t seq, bool durable, art_error *err) {
  char body[48];
  snprintf(body, sizeof body, "{\"n\":%u}", seq);
  return s->vt->append(s, run_id, 1, seq, seq, 1000 + seq, ART_EV_DECISION, body, durable, NULL,
                       err);
}

static void append_ok(art_store *s, const char *run_id, uint32_t seq, bool durable) {
  art_error err = {0};
  if (append_at(s, run_id, seq, durable, &err) < 0) fail_msg("%s", err.message);
}

/* The run's journal is events 1..n, each the one appended. */
static void assert_journal(art_store *s, const char *run_id, uint32_t n) {
  art_journal j;
  art_error err = {0};
  if (s->vt->load_journal(s, run_id, &j, &err) < 0) fail_msg("%s", err.message);
  if (j.n != n) fail_msg("run %s: %zu events in the journal, expected %u", run_id, j.n, n);
  for (uint32_t i = 0; i < n; i++) {
    char body[48];
    snprintf(body, sizeof body, "{\"n\":%u}", i + 1);
    assert_int_equal(j.entries[i].seq, i + 1);
    assert_string_equal(j.entries[i].body, body);
  }
  art_journal_dispose(&j);
}

static void assert_lost(int rc, const art_error *err) {
  assert_int_equal(rc, ART_EIO);
  if (!strstr(err->message, "lost the connection to store"))
    fail_msg("\"%s\" does not say the connection was lost", err->message);
}

/* wait_ready until it says 1 (a bounded wait). */
static void wait_told(art_store *s) {
  art_error err = {0};
  for (int i = 0; i < 100; i++) {
    int rc = s->vt->wait_ready(s, 100, &err);
    if (rc < 0) fail_msg("%s", err.message);
    if (rc == 1) return;
  }
  fail_msg("wait_ready was never told");
}

/* The contract: the first operation after the server went away fails
 * (ART_EIO, "lost the connection"); the next connects again and succeeds,
 * and so does all that follows: what was committed is there, nothing else,
 * cancels and ready runs are announced again, and a cancel asked while the
 * handle was away is read again rather than remembered as none. */
static void a_restarted_server_is_connected_to_again(void **state) {
  (void)state;
  const char *url = tu_pg_database("restart");
  art_store *a = open_store(url);
  art_error err = {0};
  create_held(a, "r", "a");
  for (uint32_t seq = 1; seq <= 5; seq++) append_ok(a, "r", seq, seq == 5);
  assert_int_equal(a->vt->wait_ready(a, 0, &err), 1); /* listening from now on */
  char *reason = NULL;
  assert_int_equal(a->vt->cancel_requested(a, "r", &reason, &err), 0);
  assert_null(reason); /* none: the handle watches for one */
  tu_pg_restart();
  art_store *b = open_store(url);
  if (b->vt->request_cancel(b, "r", "stop it", &err) < 0)
    fail_msg("%s", err.message); /* a misses the NOTIFY */
  art_run_record got;
  assert_lost(a->vt->get_run(a, "r", &got, &err), &err);
  assert_int_equal(a->vt->get_run(a, "r", &got, &err), 0);
  assert_int_equal(got.events, 5);
  art_run_record_dispose(&got);
  assert_int_equal(a->vt->cancel_requested(a, "r", &reason, &err), 0);
  assert_non_null(reason);
  assert_string_equal(reason, "stop it");
  free(reason);
  assert_int_equal(a->vt->wait_ready(a, 0, &err), 1); /* once: look again */
  assert_int_equal(a->vt->wait_ready(a, 0, &err), 0);
  art_run_record queued = {
      .run_id = (char *)"s", .status = ART_RUN_QUEUED, .spec_json = (char *)"{}", .created_us = 2};
  assert_int_equal(b->vt->create_run(b, &queued, &err), 0);
  wait_told(a); /* a LISTENs again */
  append_ok(a, "r", 6, true);
  assert_journal(b, "r", 6);
  art_store_close(a);
  art_store_close(b);
}

/* A server that stays away: the next operation tries to connect again for a
 * bounded time, then fails saying so. */
static void a_server_that_stays_away_is_said(void **state) {
  (void)state;
  const char *url = tu_pg_database("stays_away");
  art_store *a = open_store(url);
  art_error err = {0};
  create_held(a, "r", "a");
  tu_pg_exec(tu_pg_start(), "ALTER DATABASE stays_away ALLOW_CONNECTIONS false");
  tu_pg_exec(tu_pg_start(), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                            " WHERE datname = 'stays_away'");
  art_run_record got;
  assert_lost(a->vt->get_run(a, "r", &got, &err), &err);
  assert_int_equal(a->vt->get_run(a, "r", &got, &err), ART_EIO);
  if (!strstr(err.message, "cannot connect again"))
    fail_msg("\"%s\" does not say it cannot connect again", err.message);
  tu_pg_exec(tu_pg_start(), "ALTER DATABASE stays_away ALLOW_CONNECTIONS true");
  assert_int_equal(a->vt->get_run(a, "r", &got, &err), 0);
  art_run_record_dispose(&got);
  art_store_close(a);
}

/* A second process that waits until the store's backend waits for a lock
 * (its commit is in the middle of its statement), then terminates it. */
static pid_t terminate_when_waiting(const char *url, const char *db) {
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid) return pid;
  PGconn *c = PQconnectdb(url);
  char sql[256];
  snprintf(sql, sizeof sql,
           "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s'"
           " AND wait_event_type = 'Lock' AND query LIKE '%%write_group%%'",
           db);
  for (int i = 0; i < 3000; i++) {
    PGresult *res = PQexec(c, sql);
    int killed = PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res) : -1;
    PQclear(res);
    if (killed) _exit(killed == 1 ? 0 : 1);
    usleep(5000);
  }
  _exit(1);
}

/* The connection is cut while a commit writes a group of two runs' events:
 * the commit fails (ART_EIO), neither run's journal has any of the group
 * (the statement is all or nothing), and the other run is told at its next
 * commit that its events held back may not have been written.  Each run is
 * then continued from its journal by a holder that takes it anew. */
static void a_commit_cut_off_is_said_to_every_run_of_its_group(void **state) {
  (void)state;
  const char *url = tu_pg_database("cut_off");
  art_store *a = open_store(url);
  art_error err = {0};
  create_held(a, "x", "a");
  create_held(a, "y", "a");
  append_ok(a, "x", 1, true);
  append_ok(a, "y", 1, true);
  for (uint32_t seq = 2; seq <= 2000; seq++) {
    append_ok(a, "x", seq, false);
    append_ok(a, "y", seq, false);
  }
  PGconn *holder = PQconnectdb(url); /* x's row locked: the group's statement waits for it */
  PQclear(PQexec(holder, "BEGIN"));
  PQclear(PQexec(holder, "SELECT 1 FROM agentrt.runs WHERE run_id = 'x' FOR UPDATE"));
  pid_t killer = terminate_when_waiting(tu_pg_start(), "cut_off");
  assert_lost(a->vt->commit(a, "x", 1, &err), &err);
  int status;
  assert_int_equal(waitpid(killer, &status, 0), killer);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  PQclear(PQexec(holder, "ROLLBACK"));
  PQfinish(holder);
  assert_int_equal(a->vt->commit(a, "y", 1, &err), ART_EIO);
  if (!strstr(err.message, "run y: events it held back may not have been written"))
    fail_msg("\"%s\" does not tell y", err.message);
  assert_int_equal(a->vt->commit(a, "y", 1, &err), 0); /* said once */
  art_store *b = open_store(url);
  assert_journal(b, "x", 1);
  assert_journal(b, "y", 1);
  uint64_t generation = 0;
  assert_int_equal(b->vt->claim(b, "y", "b", 2, 1000, &generation, &err), ART_ESTATE);
  assert_int_equal(b->vt->claim(b, "y", "b", INT64_MAX / 2, 1000, &generation, &err), 0);
  assert_int_equal(generation, 2);
  assert_int_equal(
      b->vt->append(b, "y", 2, 2, 2, 1, ART_EV_DECISION, "{\"n\":2}", true, NULL, &err), 0);
  assert_journal(a, "y", 2);
  art_store_close(b);
  art_store_close(a);
}

/* The server restarts with events held back in the handle's group: the
 * commit that writes them fails, and the run is told at its next append. */
static void events_held_back_across_a_restart_are_said(void **state) {
  (void)state;
  const char *url = tu_pg_database("held_back");
  art_store *a = open_store(url);
  art_error err = {0};
  create_held(a, "h", "a");
  append_ok(a, "h", 1, true);
  append_ok(a, "h", 2, false);
  tu_pg_restart();
  append_ok(a, "h", 3, false); /* held back: nothing goes to the server yet */
  assert_lost(a->vt->commit(a, NULL, 0, &err), &err);
  assert_int_equal(append_at(a, "h", 4, true, &err), ART_EIO);
  assert_non_null(strstr(err.message, "run h: events it held back may not have been written"));
  assert_journal(a, "h", 1);
  append_ok(a, "h", 2, true); /* the holder carries on from its journal */
  assert_journal(a, "h", 2);
  art_store_close(a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_restarted_server_is_connected_to_again),
      cmocka_unit_test(a_server_that_stays_away_is_said),
      cmocka_unit_test(a_commit_cut_off_is_said_to_every_run_of_its_group),
      cmocka_unit_test(events_held_back_across_a_restart_are_said),
  };
  return cmocka_run_group_tests(tests, tu_pg_setup_crash_safe, NULL);
}
