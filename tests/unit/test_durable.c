/* Durable runs through the command line, each command its own process: pause,
 * approve or deny or answer from "another shell", resume; a real SIGKILL in the
 * middle of a tool call; a run held by another process; files that are not
 * stores. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentrt.h"
#include "agentrt/store.h"
#include "testutil.h"

#define STORE "--store", "runs.db"
#define SEND                                                                                       \
  "{\"type\":\"tool\",\"name\":\"send_message\",\"input\":{\"to\":\"c@example.com\",\"body\":"     \
  "\"hi\"}}"
#define ANSWER "{\"type\":\"answer\",\"text\":\"done\"}"

static const char *spec(const char *name, const char *run_id, const char *extra,
                        const char *decisions) {
  char text[4096], file[64];
  snprintf(
      text, sizeof text,
      "{\"run_id\":\"%s\",\"goal\":\"g\",\"actor\":{\"id\":\"agent\"},\"outbox\":\"%s.outbox\","
      "\"tools\":[\"send_message\"]%s,\"model\":{\"type\":\"scripted\",\"decisions\":[%s]}}",
      run_id, run_id, extra, decisions);
  snprintf(file, sizeof file, "%s.json", name);
  return tu_write(file, text);
}

/* Run the CLI; what it says on stderr goes to the test's output. */
static char *cli_err;
static int cli_done(int rc) {
  if (cli_err && cli_err[0]) print_message("stderr: %s", cli_err);
  free(cli_err);
  cli_err = NULL;
  return rc;
}
#define CLI(out, ...) cli_done(tu_cli((out), &cli_err, __VA_ARGS__, NULL))

static json_t *show(const char *run_id) {
  char *out;
  assert_int_equal(CLI(&out, "runs", "show", run_id, "--json", STORE), 0);
  json_t *j = json_loads(out, 0, NULL);
  free(out);
  assert_non_null(j);
  return j;
}

static const char *pending_action(json_t *shown) {
  return json_string_value(json_object_get(json_object_get(shown, "pending"), "action_id"));
}

/* The id of the action the paused run waits for. */
static void pending_of(const char *run_id, char action[64]) {
  json_t *shown = show(run_id);
  snprintf(action, 64, "%s", pending_action(shown));
  json_decref(shown);
}

static void approval_across_processes(void **state) {
  (void)state;
  char *out;
  const char *path = spec("approve", "r-approve", "", SEND "," ANSWER);
  assert_int_equal(CLI(&out, "run", path, STORE), 3);
  assert_non_null(strstr(out, "to continue: agentrt approve r-approve act_"));
  free(out);
  assert_null(tu_read(tu_path("r-approve.outbox")));
  json_t *shown = show("r-approve");
  assert_string_equal(json_string_value(json_object_get(shown, "status")), "paused");
  json_t *pending = json_object_get(shown, "pending");
  assert_string_equal(json_string_value(json_object_get(pending, "kind")), "approval");
  assert_string_equal(json_string_value(json_object_get(pending, "tool")), "send_message");
  assert_string_equal(json_string_value(json_object_get(json_object_get(pending, "input"), "to")),
                      "c@example.com");
  char action[64];
  snprintf(action, sizeof action, "%s", pending_action(shown));
  json_decref(shown);
  /* The run's own actor, and another action, are refused; nothing changes. */
  assert_int_equal(CLI(&out, "approve", "r-approve", action, "--reviewer", "agent", STORE), 1);
  free(out);
  assert_int_equal(CLI(&out, "approve", "r-approve", "act_000000000000000000000000", "--reviewer",
                       "lead", STORE),
                   1);
  free(out);
  assert_int_equal(CLI(&out, "resume", "r-approve", STORE), 3); /* still waiting */
  free(out);
  assert_int_equal(CLI(&out, "approve", "r-approve", action, "--reviewer", "lead", STORE), 0);
  free(out);
  assert_int_equal(CLI(&out, "runs", "list", "--status", "ready", STORE), 0); /* ready to go on */
  assert_non_null(strstr(out, "r-approve"));
  free(out);
  assert_int_equal(CLI(&out, "approve", "r-approve", action, "--reviewer", "lead", STORE),
                   1); /* decided */
  free(out);
  assert_null(tu_read(tu_path("r-approve.outbox"))); /* approving is not running */
  assert_int_equal(CLI(&out, "resume", "--all", STORE), 0);
  assert_non_null(strstr(out, "r-approve: success"));
  free(out);
  assert_int_equal(tu_count_lines(tu_path("r-approve.outbox")), 1);
  assert_int_equal(CLI(&out, "resume", "r-approve", STORE), 1); /* finished */
  free(out);
  assert_int_equal(tu_count_lines(tu_path("r-approve.outbox")), 1);
  /* The journal has it all, once. */
  assert_int_equal(CLI(&out, "runs", "trace", "r-approve", "--jsonl", STORE), 0);
  assert_non_null(strstr(out, "\"type\":\"approval\""));
  assert_non_null(strstr(out, "\"reviewer\":\"lead\""));
  free(out);
  /* And the approval is a record: who decided which exact action, when. */
  shown = show("r-approve");
  json_t *approvals = json_object_get(shown, "approvals");
  assert_int_equal(json_array_size(approvals), 1);
  json_t *a = json_array_get(approvals, 0);
  assert_string_equal(json_string_value(json_object_get(a, "action_id")), action);
  assert_string_equal(json_string_value(json_object_get(a, "tool")), "send_message");
  assert_string_equal(json_string_value(json_object_get(a, "decision")), "approved");
  assert_string_equal(json_string_value(json_object_get(a, "reviewer")), "lead");
  assert_string_equal(json_string_value(json_object_get(a, "requested_by")), "agent");
  assert_int_equal(strlen(json_string_value(json_object_get(a, "input_sha256"))), 64);
  json_int_t requested = json_integer_value(json_object_get(a, "requested_at_us"));
  assert_true(requested > 0);
  assert_true(json_integer_value(json_object_get(a, "decided_at_us")) >= requested);
  assert_true(json_integer_value(json_object_get(a, "event_seq")) > 0);
  json_decref(shown);
}

/* An approval is for one exact input: the same tool with another input waits
 * for its own approval, and the first approval's id does not open it. */
static void an_approval_binds_the_exact_input(void **state) {
  (void)state;
  char *out;
  const char *other = "{\"type\":\"tool\",\"name\":\"send_message\",\"input\":{\"to\":"
                      "\"c@example.com\",\"body\":\"pay 1000\"}}";
  char decisions[512];
  snprintf(decisions, sizeof decisions, "%s,%s,%s", SEND, other, ANSWER);
  assert_int_equal(CLI(&out, "run", spec("tamper", "r-tamper", "", decisions), STORE), 3);
  free(out);
  char first[64];
  pending_of("r-tamper", first);
  json_t *shown;
  assert_int_equal(CLI(&out, "approve", "r-tamper", first, "--reviewer", "lead", STORE), 0);
  free(out);
  assert_int_equal(CLI(&out, "resume", "r-tamper", STORE), 3); /* sent A, waits for B */
  free(out);
  assert_int_equal(tu_count_lines(tu_path("r-tamper.outbox")), 1);
  shown = show("r-tamper");
  assert_string_not_equal(pending_action(shown), first);
  json_t *input = json_object_get(json_object_get(shown, "pending"), "input");
  assert_string_equal(json_string_value(json_object_get(input, "body")), "pay 1000");
  json_decref(shown);
  char *err;
  assert_int_equal(
      tu_cli(&out, &err, "approve", "r-tamper", first, "--reviewer", "lead", STORE, NULL), 1);
  assert_non_null(strstr(err, "unknown action"));
  free(out), free(err);
  assert_int_equal(CLI(&out, "resume", "r-tamper", STORE), 3);
  free(out);
  assert_int_equal(tu_count_lines(tu_path("r-tamper.outbox")), 1); /* B never went out */
}

static void denial_stops_the_run(void **state) {
  (void)state;
  char *out;
  const char *path = spec("deny", "r-deny", "", SEND "," ANSWER);
  assert_int_equal(CLI(&out, "run", path, STORE), 3);
  free(out);
  char action[64];
  pending_of("r-deny", action);
  json_t *shown;
  assert_int_equal(CLI(&out, "deny", "r-deny", action, "--reviewer", "lead", STORE),
                   2); /* no --reason */
  free(out);
  char *err;
  assert_int_equal(tu_cli(&out, &err, "deny", "r-deny", action, "--reviewer", "lead", "--reason",
                          "wrong customer", STORE, NULL),
                   0);
  free(out), free(err);
  shown = show("r-deny");
  assert_string_equal(json_string_value(json_object_get(shown, "stop_reason")), "policy_denied");
  assert_string_equal(json_string_value(json_object_get(shown, "reason")),
                      "denied by lead: wrong customer");
  assert_string_equal(json_string_value(json_object_get(shown, "status")), "finished");
  json_decref(shown);
  assert_null(tu_read(tu_path("r-deny.outbox")));
}

static void answers_and_cancellation(void **state) {
  (void)state;
  char *out;
  const char *path =
      spec("ask", "r-ask", "", "{\"type\":\"ask_human\",\"question\":\"which?\"}," ANSWER);
  assert_int_equal(CLI(&out, "run", path, STORE), 3);
  assert_non_null(strstr(out, "agentrt answer r-ask"));
  free(out);
  assert_int_equal(CLI(&out, "answer", "r-ask", "the blue one", STORE), 0);
  free(out);
  assert_int_equal(CLI(&out, "resume", "r-ask", STORE, "--json"), 0);
  json_t *j = json_loads(out, 0, NULL);
  free(out);
  assert_string_equal(json_string_value(json_object_get(j, "status")), "finished");
  assert_true(json_is_null(json_object_get(j, "pending")));
  json_decref(j);

  path = spec("cancel", "r-cancel", "", SEND);
  assert_int_equal(CLI(&out, "run", path, STORE), 3);
  free(out);
  assert_int_equal(CLI(&out, "cancel", "r-cancel", "--reason", "not needed", STORE), 0);
  free(out);
  assert_int_equal(CLI(&out, "runs", "list", "--status", "cancelled", STORE), 0);
  assert_non_null(strstr(out, "r-cancel"));
  assert_null(strstr(out, "r-ask"));
  free(out);
  assert_int_equal(CLI(&out, "cancel", "r-cancel", STORE), 1);
  free(out);
  /* Pruning: only finished and cancelled runs older than the age go. */
  assert_int_equal(CLI(&out, "runs", "prune", "--older-than", "soon", STORE), 2);
  free(out);
  assert_int_equal(CLI(&out, "runs", "prune", "--older-than", "1d", STORE), 0);
  assert_string_equal(out, "pruned 0 runs\n");
  free(out);
  usleep(20000);
  assert_int_equal(CLI(&out, "runs", "prune", "--older-than", "0s", STORE), 0);
  assert_non_null(strstr(out, "pruned "));
  free(out);
  assert_int_equal(CLI(&out, "runs", "list", STORE), 0);
  assert_null(strstr(out, "r-cancel"));
  assert_null(strstr(out, "r-ask"));
  free(out);
}

/* A paused ask_human run shows its question; a ready run has no stop reason
 * (null in JSON, never "(null)" in text). */
static void a_question_and_no_stop_reason_yet(void **state) {
  (void)state;
  char *out;
  const char *path = spec("q", "r-q", "",
                          "{\"type\":\"ask_human\",\"question\":\"Which refund policy?\"}," ANSWER);
  assert_int_equal(CLI(&out, "run", path, STORE), 3);
  assert_non_null(strstr(out, "paused: waiting for a human answer to: Which refund policy?\n"));
  free(out);
  json_t *shown = show("r-q");
  json_t *pending = json_object_get(shown, "pending");
  assert_string_equal(json_string_value(json_object_get(pending, "kind")), "human");
  assert_string_equal(json_string_value(json_object_get(pending, "question")),
                      "Which refund policy?");
  json_decref(shown);

  assert_int_equal(CLI(&out, "answer", "r-q", "the new one", STORE), 0);
  free(out);
  assert_int_equal(CLI(&out, "runs", "show", "r-q", STORE), 0);
  assert_null(strstr(out, "(null)"));
  assert_null(strstr(out, "none"));
  assert_non_null(strstr(out, "run r-q: ready, not stopped yet, after 1 step\n"));
  free(out);
  shown = show("r-q");
  assert_true(json_is_null(json_object_get(shown, "stop_reason")));
  assert_true(json_is_null(json_object_get(shown, "pending")));
  assert_string_equal(json_string_value(json_object_get(shown, "status")), "ready");
  json_decref(shown);
  assert_int_equal(CLI(&out, "runs", "list", "--json", STORE), 0);
  json_t *list = json_loads(out, 0, NULL);
  free(out);
  assert_true(json_is_null(json_object_get(json_array_get(list, 0), "stop_reason")));
  json_decref(list);
  assert_int_equal(CLI(&out, "resume", "r-q", STORE), 0);
  free(out);
}

/* --expires takes a positive age; an approval that expired says so in the trace. */
static void approvals_that_expire(void **state) {
  (void)state;
  char *out, action[64];
  assert_int_equal(CLI(&out, "run", spec("exp", "r-exp", "", SEND "," ANSWER), STORE), 3);
  free(out);
  pending_of("r-exp", action);
  const char *bad[] = {"0s", "0d", "-5m", "1w", "soon", ""};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char *err;
    assert_int_equal(tu_cli(&out, &err, "approve", "r-exp", action, "--reviewer", "lead",
                            "--expires", bad[i], STORE, NULL),
                     2);
    assert_true(strstr(err, "--expires needs a positive age") || strstr(err, "bad option"));
    free(out), free(err);
  }
  json_t *shown = show("r-exp");
  assert_string_equal(json_string_value(json_object_get(shown, "status")), "paused");
  json_decref(shown);
  assert_int_equal(
      CLI(&out, "approve", "r-exp", action, "--reviewer", "lead", "--expires", "1s", STORE), 0);
  free(out);
  usleep(1100000);
  assert_int_equal(CLI(&out, "resume", "r-exp", STORE), 3);
  assert_non_null(strstr(out, "run r-exp: approval_required (approval expired)"));
  assert_non_null(strstr(out, "send_message: approval_required by default (approval expired)"));
  free(out);
  assert_null(tu_read(tu_path("r-exp.outbox")));
}

/* ---- a real crash in the middle of a tool call ------------------------------------ */

/* A write tool that records its call, then (the first time) hangs. */
static const char *slow_writer(void) {
  return tu_write("writer.sh", "#!/bin/sh\n"
                               "cat >/dev/null\n"
                               "echo \"$AGENTRT_IDEMPOTENCY_KEY\" >> \"$1\"\n"
                               "if [ ! -e \"$1.hung\" ]; then touch \"$1.hung\"; sleep 30; fi\n"
                               "echo '{\"written\": true}'\n");
}

/* `agentrt ARGS... --store runs.db` in the background, its output dropped. */
static pid_t start_cli(const char *const *args) {
  const char *argv[8];
  int n = 0;
  while (*args && n < 5) argv[n++] = *args++;
  argv[n++] = "--store", argv[n++] = "runs.db", argv[n] = NULL;
  return tu_cli_start(argv, NULL, 0);
}

static pid_t start_run(const char *path) { return start_cli((const char *[]){"run", path, NULL}); }

/* Once the killed holder's lease has run out, the run is ready (asked again
 * for a while). */
static void wait_until_ready(const char *run_id) {
  for (int i = 0; i < 200; i++) {
    json_t *shown = show(run_id);
    bool ready = strcmp(json_string_value(json_object_get(shown, "status")), "ready") == 0;
    json_decref(shown);
    if (ready) return;
    usleep(20000);
  }
  fail_msg("run %s is not ready", run_id);
}

static void crash_in_a_call(bool idempotent, const char *run_id) {
  char tools[512], log[64], *out;
  chmod(slow_writer(), 0755);
  snprintf(log, sizeof log, "%s.log", run_id);
  snprintf(tools, sizeof tools,
           ",\"tools\":[{\"name\":\"write\",\"side_effect\":\"write\",\"idempotent\":%s,"
           "\"command\":[\"%s\",\"%s\"]}],\"policy\":{\"rules\":[{\"when\":{\"tool\":\"write\"},"
           "\"effect\":\"allow\"}]}",
           idempotent ? "true" : "false", tu_path("writer.sh"), tu_path(log));
  char text[2048];
  snprintf(text, sizeof text,
           "{\"run_id\":\"%s\",\"goal\":\"g\"%s,\"model\":{\"type\":\"scripted\",\"decisions\":["
           "{\"type\":\"tool\",\"name\":\"write\",\"input\":{\"n\":1}}," ANSWER "]}}",
           run_id, tools);
  char name[64];
  snprintf(name, sizeof name, "%s.json", run_id);
  setenv("AGENTRT_LEASE_MS", "300", 1); /* a short lease, for the take-over */
  pid_t pid = start_run(tu_write(name, text));
  unsetenv("AGENTRT_LEASE_MS");
  for (int i = 0; i < 500 && tu_count_lines(tu_path(log)) < 1; i++) usleep(10000);
  assert_int_equal(tu_count_lines(tu_path(log)), 1); /* the tool acted ... */
  kill(pid, SIGKILL);                                /* ... and the process died */
  int status;
  waitpid(pid, &status, 0);
  assert_true(WIFSIGNALED(status));
  wait_until_ready(run_id);
  char *err;
  int rc = tu_cli(&out, &err, "resume", run_id, STORE, NULL);
  free(err);
  if (idempotent) {
    assert_int_equal(rc, 0); /* run again, with the same idempotency key */
    char *lines = tu_read(tu_path(log));
    char *second = strchr(lines, '\n') + 1;
    assert_int_equal(strncmp(lines, "idem_", 5), 0);
    assert_int_equal(strncmp(lines, second, 37), 0);
    assert_int_equal(tu_count_lines(tu_path(log)), 2);
    free(lines);
  } else {
    assert_int_equal(rc, 3); /* never silently repeated */
    assert_non_null(strstr(out, "outcome_unknown"));
    assert_int_equal(tu_count_lines(tu_path(log)), 1);
  }
  free(out);
}

static void a_killed_write_is_not_repeated(void **state) {
  (void)state;
  crash_in_a_call(false, "r-crash");
}

/* The operator says what became of the call: done (the run goes on with that
 * as its result), retry (it runs again, with its key) or failed. */
static void an_unknown_outcome_is_resolved_by_an_operator(void **state) {
  (void)state;
  const char *runs[] = {"r-done", "r-retry", "r-failed", "r-answered"};
  const char *outcomes[] = {"done", "retry", "failed", NULL};
  for (int i = 0; i < 4; i++) {
    char *out, *err, log[64];
    crash_in_a_call(false, runs[i]);
    json_t *shown = show(runs[i]);
    json_t *pending = json_object_get(shown, "pending");
    assert_string_equal(json_string_value(json_object_get(pending, "kind")), "outcome_unknown");
    char action[64];
    snprintf(action, sizeof action, "%s", pending_action(shown));
    json_decref(shown);
    if (outcomes[i]) {
      assert_int_equal(
          CLI(&out, "resolve", runs[i], action, "--outcome", "maybe", "--reviewer", "ops", STORE),
          2);
      free(out);
      assert_int_equal(CLI(&out, "resolve", runs[i], "act_000000000000000000000000", "--outcome",
                           outcomes[i], "--reviewer", "ops", STORE),
                       1);
      free(out);
      assert_int_equal(CLI(&out, "resolve", runs[i], action, "--outcome", outcomes[i], "--reviewer",
                           "ops", "--reason", "checked the remote side", STORE),
                       0);
    } else {
      assert_int_equal(CLI(&out, "answer", runs[i], "it was written", STORE), 0);
    }
    free(out);
    int rc = tu_cli(&out, &err, "resume", runs[i], STORE, "--json", NULL);
    free(out), free(err);
    json_t *j = show(runs[i]);
    snprintf(log, sizeof log, "%s.log", runs[i]);
    int want_lines = i == 1 ? 2 : 1;
    assert_int_equal(tu_count_lines(tu_path(log)), want_lines);
    if (i == 2) {
      assert_int_equal(rc, 1); /* stopped when resolved: nothing to resume */
      assert_string_equal(json_string_value(json_object_get(j, "stop_reason")), "tool_failure");
      assert_non_null(strstr(json_string_value(json_object_get(j, "reason")), "resolved by ops"));
    } else {
      assert_int_equal(rc, 0);
      assert_string_equal(json_string_value(json_object_get(j, "stop_reason")), "success");
    }
    json_decref(j);
  }
  /* The retried call ran with the same idempotency key. */
  char *lines = tu_read(tu_path("r-retry.log"));
  char *second = strchr(lines, '\n') + 1;
  assert_int_equal(strncmp(lines, second, 37), 0);
  free(lines);
}

static void a_killed_idempotent_call_runs_again_with_its_key(void **state) {
  (void)state;
  crash_in_a_call(true, "r-crash-idem");
}

/* ---- cancellation and concurrent resumers ------------------------------------------- */

/* A tool that writes its pid, then takes far longer than any test. */
static const char *sleeper(void) {
  const char *path = tu_write("sleeper.sh", "#!/bin/sh\n"
                                            "cat >/dev/null\n"
                                            "echo $$ > \"$1\"\n"
                                            "sleep 30\n"
                                            "echo '{}'\n");
  chmod(path, 0755);
  return path;
}

static bool gone(pid_t pid) {
  for (int i = 0; i < 500; i++) {
    if (kill(pid, 0) < 0) return true;
    usleep(10000);
  }
  return false;
}

static void cancel_during_a_long_command_tool(void **state) {
  (void)state;
  char text[1024], *out;
  const char *pidfile = tu_path("sleeper.pid");
  remove(pidfile);
  snprintf(text, sizeof text,
           "{\"run_id\":\"r-long\",\"goal\":\"g\",\"tools\":[{\"name\":\"wait\",\"side_effect\":"
           "\"read\",\"timeout_ms\":60000,\"command\":[\"%s\",\"%s\"]}],\"model\":{\"type\":"
           "\"scripted\",\"decisions\":[{\"type\":\"tool\",\"name\":\"wait\",\"input\":{}}," ANSWER
           "]}}",
           sleeper(), pidfile);
  pid_t run = start_run(tu_write("long.json", text));
  char *pid_text = NULL;
  for (int i = 0; i < 500 && (!(pid_text = tu_read(pidfile)) || !atoi(pid_text)); i++) {
    free(pid_text); /* the file may exist before the pid is in it */
    pid_text = NULL;
    usleep(10000);
  }
  assert_non_null(pid_text);
  pid_t tool = (pid_t)atoi(pid_text);
  free(pid_text);
  assert_int_equal(CLI(&out, "cancel", "r-long", "--reason", "operator stop", STORE), 0);
  assert_non_null(strstr(out, "cancel requested"));
  free(out);
  int status;
  waitpid(run, &status, 0);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 1); /* stopped, not success */
  assert_true(gone(tool));                  /* the tool's process was killed */
  json_t *shown = show("r-long");
  assert_string_equal(json_string_value(json_object_get(shown, "status")), "cancelled");
  assert_string_equal(json_string_value(json_object_get(shown, "stop_reason")), "cancelled");
  assert_string_equal(json_string_value(json_object_get(shown, "reason")), "operator stop");
  json_decref(shown);
  assert_int_equal(CLI(&out, "cancel", "r-long", STORE), 1); /* it has ended */
  free(out);
}

/* Two processes resume the same approved run at once: one drives it, the
 * other is turned away, and the slow write happens once. */
static void two_resumers_at_once(void **state) {
  (void)state;
  char text[1024], *out;
  const char *log = tu_path("two.log");
  remove(log);
  const char *slow = tu_write("slow.sh", "#!/bin/sh\n"
                                         "cat >/dev/null\n"
                                         "echo once >> \"$1\"\n"
                                         "sleep 0.5\n"
                                         "echo '{}'\n");
  chmod(slow, 0755);
  snprintf(text, sizeof text,
           "{\"run_id\":\"r-two\",\"goal\":\"g\",\"actor\":{\"id\":\"agent\"},\"tools\":[{\"name\":"
           "\"post\",\"side_effect\":\"write\",\"command\":[\"%s\",\"%s\"]}],\"model\":{\"type\":"
           "\"scripted\",\"decisions\":[{\"type\":\"tool\",\"name\":\"post\",\"input\":{}}," ANSWER
           "]}}",
           slow, log);
  assert_int_equal(CLI(&out, "run", tu_write("two.json", text), STORE), 3);
  free(out);
  char action[64];
  pending_of("r-two", action);
  json_t *shown;
  assert_int_equal(CLI(&out, "approve", "r-two", action, "--reviewer", "lead", STORE), 0);
  free(out);
  const char *resume[] = {"resume", "r-two", "--json", NULL};
  pid_t a = start_cli(resume), b = start_cli(resume);
  int sa, sb;
  waitpid(a, &sa, 0);
  waitpid(b, &sb, 0);
  int codes = WEXITSTATUS(sa) * 10 + WEXITSTATUS(sb);
  if (codes != 2 && codes != 20) fail_msg("exit codes %d and %d", WEXITSTATUS(sa), WEXITSTATUS(sb));
  assert_int_equal(tu_count_lines(log), 1);
  shown = show("r-two");
  assert_string_equal(json_string_value(json_object_get(shown, "stop_reason")), "success");
  json_decref(shown);
}

/* ---- leases and files ---------------------------------------------------------------- */

static void a_run_held_elsewhere_is_not_driven_twice(void **state) {
  (void)state;
  char *out, *err;
  const char *path = spec("held", "r-held", "", SEND "," ANSWER);
  assert_int_equal(CLI(&out, "run", path, STORE), 3);
  free(out);
  art_store *store;
  art_error e;
  assert_int_equal(art_store_open_sqlite(&store, tu_path("runs.db"), NULL, &e), 0);
  assert_int_equal(
      store->vt->claim(store, "r-held", "other-host:1", art_now_us(), 60000000, NULL, &e), 0);
  art_store_close(store);
  assert_int_equal(tu_cli(&out, &err, "resume", "r-held", STORE, NULL), 2);
  assert_non_null(strstr(err, "being driven by another process"));
  free(out), free(err);
}

static void files_that_are_not_stores_are_refused(void **state) {
  (void)state;
  char *out, *err;
  const char *notes = tu_write("notes.txt", "not a database\n");
  assert_int_equal(tu_cli(&out, &err, "runs", "list", "--store", notes, NULL), 2);
  assert_non_null(strstr(err, "is not an agentrt store"));
  free(out), free(err);
  assert_int_equal(tu_cli(&out, &err, "run", spec("x", "r-x", "", ANSWER), "--store", notes, NULL),
                   2);
  free(out), free(err);
  char *after = tu_read(notes);
  assert_string_equal(after, "not a database\n");
  free(after);
  assert_int_equal(tu_cli(&out, &err, "runs", "show", "nope", STORE, NULL), 2);
  assert_non_null(strstr(err, "no run nope"));
  free(out), free(err);
}

/* Damage every page of a store but the first: a clear error, exit 2, and the
 * file left as it was. */
static void a_corrupt_store_is_refused_untouched(void **state) {
  (void)state;
  char *out, *err;
  assert_int_equal(
      tu_cli(&out, &err, "run", spec("c", "r-c", "", ANSWER), "--store", "bad.db", NULL), 0);
  free(out), free(err);
  FILE *f = fopen(tu_path("bad.db"), "r+b");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  char junk[200];
  memset(junk, 0xa5, sizeof junk);
  for (long page = 4096; page < size; page += 4096) {
    fseek(f, page + 8, SEEK_SET);
    assert_int_equal(fwrite(junk, 1, sizeof junk, f), sizeof junk);
  }
  fclose(f);
  char *before = tu_read(tu_path("bad.db"));
  const char *commands[][3] = {{"runs", "list", NULL}, {"runs", "show", "r-c"}, {"resume", "r-c"}};
  for (size_t i = 0; i < 3; i++) {
    int rc = commands[i][2]
                 ? tu_cli(&out, &err, commands[i][0], commands[i][1], commands[i][2], "--store",
                          "bad.db", NULL)
                 : tu_cli(&out, &err, commands[i][0], commands[i][1], "--store", "bad.db", NULL);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(err, "malformed"));
    free(out), free(err);
  }
  char *after = tu_read(tu_path("bad.db"));
  assert_memory_equal(before, after, (size_t)size);
  free(before), free(after);
}

/* ---- --json on every command ------------------------------------------------------------ */

/* `args` and, with `json`, --json after them. */
static int cli_json_or_not(const char *const *args, bool json, char **out, char **err) {
  const char *argv[24];
  size_t n = 0;
  while (args[n] && n < 22) argv[n] = args[n], n++;
  if (json) argv[n++] = "--json";
  argv[n] = NULL;
  return tu_cli_argv(out, err, argv);
}

/* With --json `args` exit `status`, print one JSON value on stdout and nothing
 * on stderr; the value is returned. */
static json_t *expect_json(int status, const char *const *args) {
  char *out, *err;
  int rc = cli_json_or_not(args, true, &out, &err);
  json_error_t jerr;
  json_t *j = json_loads(out, 0, &jerr);
  if (rc != status || !j || err[0])
    fail_msg("%s ... --json: exit %d (expected %d), stdout:\n%s\nstderr:\n%s", args[0], rc, status,
             out, err);
  free(out), free(err);
  return j;
}

/* `args` fail with `status` both ways: with --json as {"error": {"code": code,
 * "message"}} on stdout, without as "agentrt: " and the same message on stderr. */
static void expect_error(int status, const char *code, const char *const *args) {
  json_t *j = expect_json(status, args);
  json_t *e = json_object_get(j, "error");
  const char *message = json_string_value(json_object_get(e, "message"));
  if (json_object_size(j) != 1 || !json_is_string(json_object_get(e, "code")) || !message ||
      !message[0] || strcmp(json_string_value(json_object_get(e, "code")), code) != 0)
    fail_msg("%s ... --json: not an error \"%s\": %s", args[0], code, json_dumps(j, 0));
  char *out, *err, line[1024];
  assert_int_equal(cli_json_or_not(args, false, &out, &err), status);
  snprintf(line, sizeof line, "agentrt: %s\n", message);
  if (strncmp(err, line, strlen(line)) != 0)
    fail_msg("%s ...: stderr is not \"%s\":\n%s", args[0], line, err);
  assert_null(strchr(out, '{'));
  free(out), free(err);
  json_decref(j);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define EXPECT_ERROR(status, code, ...) expect_error(status, code, ARGS(__VA_ARGS__))

/* What a decision command prints with --json. */
static void expect_decided(const char *const *args, const char *run_id, const char *action_id,
                           const char *decision, const char *status) {
  json_t *j = expect_json(0, args);
  assert_string_equal(json_string_value(json_object_get(j, "run_id")), run_id);
  if (action_id)
    assert_string_equal(json_string_value(json_object_get(j, "action_id")), action_id);
  else
    assert_true(json_is_null(json_object_get(j, "action_id")));
  assert_string_equal(json_string_value(json_object_get(j, "decision")), decision);
  assert_string_equal(json_string_value(json_object_get(j, "status")), status);
  json_decref(j);
}

static void errors_of_every_command_in_json(const char *paused, const char *resolvable) {
  const char *notes = tu_write("j-notes.txt", "not a store\n");
  EXPECT_ERROR(2, "usage", "frobnicate");
  EXPECT_ERROR(2, "usage", "demo", "--bogus");
  EXPECT_ERROR(2, "spec", "run", "j-missing.json", STORE);
  EXPECT_ERROR(2, "usage", "run", STORE);
  EXPECT_ERROR(2, "spec", "eval", "j-missing.json");
  EXPECT_ERROR(2, "usage", "runs", "lst", STORE);
  EXPECT_ERROR(2, "usage", "runs", "list", "--status", "nope", STORE);
  EXPECT_ERROR(2, "not_found", "runs", "show", "nope", STORE);
  EXPECT_ERROR(2, "not_found", "runs", "trace", "nope", STORE);
  EXPECT_ERROR(2, "usage", "runs", "prune", "--older-than", "soon", STORE);
  EXPECT_ERROR(2, "store", "runs", "list", "--store", notes);
  EXPECT_ERROR(1, "not_found", "approve", "j-cancel", "act_000000000000000000000000", "--reviewer",
               "lead", STORE);
  EXPECT_ERROR(2, "usage", "deny", "j-cancel", paused, "--reviewer", "lead", STORE);
  EXPECT_ERROR(2, "not_found", "answer", "nope", "blue", STORE);
  EXPECT_ERROR(2, "usage", "resolve", "j-resolve", resolvable, "--outcome", "maybe", "--reviewer",
               "ops", STORE);
  EXPECT_ERROR(2, "not_found", "resume", "nope", STORE);
  EXPECT_ERROR(2, "store", "resume", "--all", "--store", notes);
  EXPECT_ERROR(2, "usage", "cancel", STORE);
  EXPECT_ERROR(2, "spec", "tools", "list", "j-missing.json");
  EXPECT_ERROR(2, "usage", "tools", "lst", "j-missing.json");
}

/* Every command takes --json: what it prints parses, and so do its errors. */
static void every_command_speaks_json(void **state) {
  (void)state;
  char *out, approve[64], deny[64], cancel[64], resolve[64];
  crash_in_a_call(false, "j-resolve");
  const char *runs[][2] = {
      {"j-approve", SEND "," ANSWER},
      {"j-deny", SEND},
      {"j-cancel", SEND},
      {"j-answer", "{\"type\":\"ask_human\",\"question\":\"which?\"}," ANSWER}};
  for (size_t i = 0; i < 4; i++) {
    assert_int_equal(CLI(&out, "run", spec(runs[i][0], runs[i][0], "", runs[i][1]), STORE), 3);
    free(out);
  }
  pending_of("j-approve", approve), pending_of("j-deny", deny);
  pending_of("j-cancel", cancel), pending_of("j-resolve", resolve);
  errors_of_every_command_in_json(cancel, resolve);

  json_decref(expect_json(0, ARGS("demo")));
  json_decref(expect_json(0, ARGS("run", spec("j-read", "j-read", "", ANSWER), STORE)));
  json_decref(expect_json(0, ARGS("eval", AGENTRT_SOURCE_DIR "/examples/demo.eval.json")));
  json_decref(expect_json(0, ARGS("tools", "list", tu_path("j-read.json"))));
  json_t *j = expect_json(0, ARGS("runs", "list", STORE));
  assert_true(json_is_array(j));
  json_decref(j);
  json_decref(expect_json(0, ARGS("runs", "show", "j-approve", STORE)));
  j = expect_json(0, ARGS("runs", "trace", "j-approve", STORE));
  assert_int_equal(json_array_size(j), 5);
  assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "type")),
                      "run_started");
  json_decref(j);
  expect_decided(ARGS("approve", "j-approve", approve, "--reviewer", "lead", STORE), "j-approve",
                 approve, "approved", "ready");
  expect_decided(ARGS("deny", "j-deny", deny, "--reviewer", "lead", "--reason", "no", STORE),
                 "j-deny", deny, "denied", "finished");
  expect_decided(ARGS("answer", "j-answer", "blue", STORE), "j-answer", NULL, "answered", "ready");
  expect_decided(
      ARGS("resolve", "j-resolve", resolve, "--outcome", "done", "--reviewer", "ops", STORE),
      "j-resolve", resolve, "resolved", "ready");
  expect_decided(ARGS("cancel", "j-cancel", "--reason", "not needed", STORE), "j-cancel", NULL,
                 "cancelled", "cancelled");
  j = expect_json(0, ARGS("resume", "j-approve", STORE));
  assert_string_equal(json_string_value(json_object_get(j, "stop_reason")), "success");
  json_decref(j);
  j = expect_json(0, ARGS("resume", "--all", STORE));
  assert_int_equal(json_array_size(j), 2); /* j-answer and j-resolve */
  for (size_t i = 0; i < 2; i++)
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, i), "stop_reason")),
                        "success");
  json_decref(j);
}

/* runs prune --json names the runs it deleted. */
static void prune_names_the_runs_it_deleted(void **state) {
  (void)state;
  char *out;
  assert_int_equal(CLI(&out, "run", spec("p1", "j-pruned", "", ANSWER), "--store", "p.db"), 0);
  free(out);
  usleep(2000);
  json_t *j = expect_json(0, ARGS("runs", "prune", "--older-than", "0s", "--store", "p.db"));
  json_t *pruned = json_object_get(j, "pruned");
  assert_int_equal(json_array_size(pruned), 1);
  assert_string_equal(json_string_value(json_array_get(pruned, 0)), "j-pruned");
  json_decref(j);
  assert_int_equal(CLI(&out, "runs", "prune", "--older-than", "0s", "--store", "p.db"), 0);
  assert_string_equal(out, "pruned 0 runs\n");
  free(out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(approval_across_processes),
      cmocka_unit_test(denial_stops_the_run),
      cmocka_unit_test(answers_and_cancellation),
      cmocka_unit_test(a_question_and_no_stop_reason_yet),
      cmocka_unit_test(approvals_that_expire),
      cmocka_unit_test(an_approval_binds_the_exact_input),
      cmocka_unit_test(a_killed_write_is_not_repeated),
      cmocka_unit_test(an_unknown_outcome_is_resolved_by_an_operator),
      cmocka_unit_test(cancel_during_a_long_command_tool),
      cmocka_unit_test(two_resumers_at_once),
      cmocka_unit_test(a_killed_idempotent_call_runs_again_with_its_key),
      cmocka_unit_test(a_run_held_elsewhere_is_not_driven_twice),
      cmocka_unit_test(files_that_are_not_stores_are_refused),
      cmocka_unit_test(a_corrupt_store_is_refused_untouched),
      cmocka_unit_test(every_command_speaks_json),
      cmocka_unit_test(prune_names_the_runs_it_deleted),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
