/* Crash recovery with real SIGKILLs: a child process drives a run journaled in
 * SQLite and is killed at every event boundary in turn, and at random moments
 * inside tool calls; each time the parent rebuilds the run from the journal and
 * resumes it the way `agentrt resume` does.  Every non-idempotent side effect
 * happens at most once, idempotent ones at least once and always with the same
 * key, and the journal always replays. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agentrt.h"
#include "agentrt/durable.h"
#include "agentrt/store.h"
#include "testutil.h"

/* Each tool appends "TOOL IDEMPOTENCY_KEY" to the side-effect log, then takes
 * a moment.  Written once: the tool of a killed run may still be starting
 * from it, and a file being executed cannot be opened for writing (ETXTBSY). */
static const char *tool_script(void) {
  static char path[512];
  if (path[0]) return path;
  snprintf(path, sizeof path, "%s",
           tu_write("effect.sh", "#!/bin/sh\n"
                                 "cat >/dev/null\n"
                                 "echo \"$AGENTRT_TOOL $AGENTRT_IDEMPOTENCY_KEY\" >> \"$1\"\n"
                                 "sleep 0.02\n"
                                 "echo '{\"done\": true}'\n"));
  chmod(path, 0755);
  return path;
}

static art_spec *crash_spec(const char *log) {
  char text[4096];
  const char *sh = tool_script();
  snprintf(text, sizeof text,
           "{\"run_id\":\"crash\",\"goal\":\"g\",\"max_steps\":8,\"tools\":[\"lookup_policy\","
           "{\"name\":\"draft\",\"side_effect\":\"draft\",\"command\":[\"%s\",\"%s\"]},"
           "{\"name\":\"send\",\"side_effect\":\"write\",\"command\":[\"%s\",\"%s\"]},"
           "{\"name\":\"upsert\",\"side_effect\":\"write\",\"idempotent\":true,\"command\":[\"%s\","
           "\"%s\"]}],"
           "\"policy\":{\"rules\":[{\"when\":{\"side_effect\":\"write\"},\"effect\":\"allow\","
           "\"reason\":\"test\"}]},"
           "\"model\":{\"type\":\"scripted\",\"decisions\":["
           "{\"type\":\"tool\",\"name\":\"lookup_policy\",\"input\":{\"task\":\"t\"}},"
           "{\"type\":\"tool\",\"name\":\"draft\",\"input\":{\"n\":1}},"
           "{\"type\":\"tool\",\"name\":\"send\",\"input\":{\"n\":2}},"
           "{\"type\":\"tool\",\"name\":\"upsert\",\"input\":{\"n\":3}},"
           "{\"type\":\"answer\",\"text\":\"done\"}]}}",
           sh, log, sh, log, sh, log);
  json_t *json = json_loads(text, 0, NULL);
  art_spec *spec;
  art_error err = {0};
  if (art_spec_parse(&spec, json, "crash.json", NULL, NULL, &err) < 0) fail_msg("%s", err.message);
  json_decref(json);
  return spec;
}

/* Dies, for real, once event `kill_at` is handed to the sinks (after the
 * journal sink, which was added first). */
static int killer(void *ud, const art_run *run, const art_event *ev) {
  (void)run;
  if (ev->seq == *(uint32_t *)ud) raise(SIGKILL);
  return 0;
}

/* The child writes a byte to `ready` once its run is in the store. */
static void child(const char *db, const char *log, uint32_t kill_at, int ready) {
  art_store *store;
  art_error err = {0};
  art_spec *spec = crash_spec(log);
  if (art_store_open_sqlite(&store, db, NULL, &err) < 0) _exit(2);
  art_run_record rec = {
      .run_id = (char *)"crash", .spec_json = (char *)"{}", .created_us = art_now_us()};
  art_model *model;
  art_run *run;
  art_sink journal, die = {ART_SINK_VERSION, killer, NULL, &kill_at, NULL, NULL};
  if (store->vt->create_run(store, &rec, &err) < 0 || art_model_new(&model, spec, &err) < 0 ||
      art_run_new(&run, spec, NULL) < 0 || art_store_sink_new(&journal, store, 0, &err) < 0 ||
      art_run_add_sink(run, &journal) < 0 || art_run_add_sink(run, &die) < 0 ||
      write(ready, "r", 1) != 1)
    _exit(2);
  art_run_until_stop(run, model);
  _exit(0);
}

static size_t count_decisions(const art_journal *journal) {
  size_t n = 0;
  for (size_t i = 0; i < journal->n; i++) n += journal->entries[i].type == ART_EV_DECISION;
  return n;
}

/* `agentrt resume`, by hand: rebuild, then the outcome-unknown rule
 * (durable.h): an interrupted non-idempotent call stops outcome_unknown,
 * anything else is driven to its stop. */
static art_stop_reason recover(const char *db, const char *log) {
  art_store *store;
  art_error err = {0};
  art_journal journal;
  art_spec *spec = crash_spec(log);
  if (art_store_open_sqlite(&store, db, NULL, &err) < 0) fail_msg("%s", err.message);
  assert_int_equal(store->vt->load_journal(store, "crash", &journal, &err), 0);
  art_model *model;
  art_run *run;
  art_sink sink;
  assert_int_equal(art_model_new(&model, spec, &err), 0);
  assert_int_equal(art_run_new(&run, spec, NULL), 0);
  assert_int_equal(art_store_sink_new(&sink, store, 0, &err), 0);
  assert_int_equal(art_run_add_sink(run, &sink), 0);
  if (art_run_replay_journal(run, &journal) < 0)
    fail_msg("journal of %zu events: %s", journal.n, art_run_errmsg(run));
  art_model_resume_after(model, count_decisions(&journal));
  bool settled;
  assert_int_equal(art_durable_settle_interrupted(run, art_now_us(), &settled), 0);
  if (!settled) assert_int_equal(art_run_until_stop(run, model), 0);
  art_stop_reason stop = art_run_stop_reason(run);
  art_journal_dispose(&journal);
  art_run_free(run);
  art_model_free(model);
  art_spec_free(spec);
  art_store_close(store);
  return stop;
}

/* At most once for draft and send, at least once for upsert, one key each. */
static void check_effects(const char *log, art_stop_reason stop, const char *where) {
  char *text = tu_read(log);
  int counts[3] = {0};
  char keys[3][64] = {"", "", ""};
  const char *names[] = {"draft", "send", "upsert"};
  for (char *line = text ? strtok(text, "\n") : NULL; line; line = strtok(NULL, "\n")) {
    char tool[32], key[64];
    assert_int_equal(sscanf(line, "%31s %63s", tool, key), 2);
    for (int t = 0; t < 3; t++) {
      if (strcmp(tool, names[t]) != 0) continue;
      if (counts[t]++ && strcmp(keys[t], key) != 0)
        fail_msg("%s: %s ran with two keys", where, tool);
      snprintf(keys[t], sizeof keys[t], "%s", key);
    }
  }
  free(text);
  if (counts[0] > 1 || counts[1] > 1)
    fail_msg("%s: draft ran %d times, send %d times", where, counts[0], counts[1]);
  if (stop == ART_STOP_SUCCESS && counts[2] < 1)
    fail_msg("%s: the run succeeded without upsert", where);
  if (stop != ART_STOP_SUCCESS && stop != ART_STOP_BLOCKED)
    fail_msg("%s: stopped %s", where, art_stop_reason_name(stop));
}

static void run_to_death(const char *db, const char *log, uint32_t kill_at, int kill_after_ms) {
  char side[600];
  remove(db), remove(log);
  snprintf(side, sizeof side, "%s-wal", db), remove(side);
  snprintf(side, sizeof side, "%s-shm", db), remove(side);
  int ready[2];
  assert_int_equal(pipe(ready), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) child(db, log, kill_at, ready[1]);
  close(ready[1]);
  char byte;
  assert_int_equal(read(ready[0], &byte, 1), 1); /* the run exists: the clock starts */
  close(ready[0]);
  if (kill_after_ms >= 0) {
    usleep((useconds_t)kill_after_ms * 1000);
    kill(pid, SIGKILL);
  }
  int status;
  waitpid(pid, &status, 0);
}

static void killed_at_every_event_boundary(void **state) {
  (void)state;
  char db[512], log[512]; /* tu_path's buffers are reused */
  snprintf(db, sizeof db, "%s", tu_path("crash.db"));
  snprintf(log, sizeof log, "%s", tu_path("effects.log"));
  /* A clean run first: how many events there are to die at. */
  run_to_death(db, log, 0, -1);
  art_store *store;
  art_error err;
  art_run_record rec;
  assert_int_equal(art_store_open_sqlite(&store, db, NULL, &err), 0);
  assert_int_equal(store->vt->get_run(store, "crash", &rec, &err), 0);
  uint32_t events = rec.events;
  art_run_record_dispose(&rec);
  art_store_close(store);
  assert_true(events > 20);
  int outcome_unknown = 0;
  for (uint32_t k = 1; k <= events; k++) {
    char where[32];
    snprintf(where, sizeof where, "killed at event %u", k);
    run_to_death(db, log, k, -1);
    art_stop_reason stop = recover(db, log);
    outcome_unknown += stop == ART_STOP_BLOCKED;
    check_effects(log, stop, where);
  }
  print_message("kill points: %u event boundaries (%d left an outcome unknown)\n", events,
                outcome_unknown);
  assert_true(outcome_unknown > 0); /* the draft's and the send's calls were hit */
}

static void killed_inside_tool_calls(void **state) {
  (void)state;
  char db[512], log[512];
  snprintf(db, sizeof db, "%s", tu_path("crash-random.db"));
  srand(12345);
  for (int i = 0; i < 12; i++) {
    char where[48], name[32];
    int ms = 5 + rand() % 120;
    /* A log of its own each time: the killed process's tool runs on (in its own
     * process group) and may still write after the next run has begun. */
    snprintf(name, sizeof name, "effects-random-%d.log", i);
    snprintf(log, sizeof log, "%s", tu_path(name));
    snprintf(where, sizeof where, "killed %d ms into the run", ms);
    run_to_death(db, log, 0, ms);
    art_stop_reason stop = recover(db, log);
    usleep(100000); /* the orphaned tool (it takes 20 ms) has written by now */
    check_effects(log, stop, where);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(killed_at_every_event_boundary),
      cmocka_unit_test(killed_inside_tool_calls),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
