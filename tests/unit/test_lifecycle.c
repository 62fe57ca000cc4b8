/* What the store says about a run is true, across real processes: stores
 * created by several processes at once, runs whose set-up fails, statuses
 * (running, ready, paused, finished, cancelled) and dead holders, progress seen
 * while a tool runs, Ctrl-C and SIGTERM sent to a process group, the wall-time
 * budget cutting a call short, and the spec as the store keeps it (redacted). */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agentrt.h"
#include "agentrt/store.h"
#include "testutil.h"

#define ANSWER "{\"type\":\"answer\",\"text\":\"done\"}"
#define LOOKUP_TOOL ",\"tools\":[\"lookup_policy\"]"
#define LOOKUP "{\"type\":\"tool\",\"name\":\"lookup_policy\",\"input\":{\"task\":\"t\"}}"

/* A spec file `name`.json: run `run_id` (NULL: a generated id) with `members`
 * (each with a leading comma: the tools, and more) and the scripted `decisions`.  The
 * path is its file name, relative to the test directory the CLI runs in. */
static const char *spec(const char *name, const char *run_id, const char *members,
                        const char *decisions) {
  static char file[8][64];
  static int next;
  char text[8192], id[128] = "";
  char *path = file[next++ % 8];
  bool has_goal = strstr(members, "\"goal\"") != NULL; /* else a goal of its own */
  if (run_id) snprintf(id, sizeof id, "\"run_id\":\"%s\",", run_id);
  snprintf(text, sizeof text,
           "{%s%s%s,"
           "\"model\":{\"type\":\"scripted\",\"decisions\":[%s]}}",
           id, has_goal ? "" : "\"goal\":\"g\"", has_goal ? members + 1 : members, decisions);
  snprintf(path, sizeof file[0], "%s.json", name);
  tu_write(path, text);
  return path;
}

static int exit_status(pid_t pid) {
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void assert_contains(const char *text, const char *part) {
  if (!text || !strstr(text, part))
    fail_msg("expected \"%s\" in:\n%s", part, text ? text : "(null)");
}

/* ---- stores created by several processes at once ------------------------------------ */

/* Four `agentrt run` start together on a store that does not exist yet: one
 * creates it, the others wait and use it.  Done five times over. */
static void concurrent_first_openers(void **state) {
  (void)state;
  const char *path = spec("quick", NULL, LOOKUP_TOOL, LOOKUP "," ANSWER);
  for (int round = 0; round < 5; round++) {
    char db[32], logs[4][32];
    pid_t pids[4];
    snprintf(db, sizeof db, "fresh%d.db", round);
    for (int i = 0; i < 4; i++) {
      snprintf(logs[i], sizeof logs[i], "open%d-%d.log", round, i);
      pids[i] = tu_cli_start((const char *[]){"run", path, "--store", db, NULL}, logs[i], 0);
    }
    for (int i = 0; i < 4; i++) {
      int rc = exit_status(pids[i]);
      char *log = tu_read(tu_path(logs[i]));
      if (rc != 0) fail_msg("round %d, process %d: exit %d\n%s", round, i, rc, log);
      free(log);
    }
    art_store *store;
    art_error err;
    art_run_record *runs;
    size_t n;
    assert_int_equal(art_store_open_sqlite(&store, tu_path(db), NULL, &err), 0);
    assert_int_equal(store->vt->list_runs(store, -1, &runs, &n, &err), 0);
    assert_int_equal(n, 4);
    art_run_records_free(runs, n);
    art_store_close(store);
  }
}

/* Two runs with the same run_id at once: one runs, the other is told why not. */
static void concurrent_runs_with_one_id(void **state) {
  (void)state;
  const char *path = spec("same", "r-same", LOOKUP_TOOL, LOOKUP "," ANSWER);
  for (int round = 0; round < 5; round++) {
    char db[32];
    snprintf(db, sizeof db, "same%d.db", round);
    pid_t a = tu_cli_start((const char *[]){"run", path, "--store", db, NULL}, "same-a.log", 0);
    pid_t b = tu_cli_start((const char *[]){"run", path, "--store", db, NULL}, "same-b.log", 0);
    int ra = exit_status(a), rb = exit_status(b);
    char *la = tu_read(tu_path("same-a.log")), *lb = tu_read(tu_path("same-b.log"));
    if (ra * 10 + rb != 2 && ra * 10 + rb != 20)
      fail_msg("exit codes %d and %d\n%s\n%s", ra, rb, la, lb);
    assert_contains(ra ? la : lb, "run r-same is in the store already");
    free(la), free(lb);
  }
}

/* ---- stores that are not there or cannot be written -------------------------------- */

/* Run `args` to its end: its exit code, and what it printed (stdout and
 * stderr together) in *said (malloc'd). */
static int cli(const char *const *args, char **said) {
  int rc = exit_status(tu_cli_start(args, "cli.log", 0));
  *said = tu_read(tu_path("cli.log"));
  return rc;
}

static void assert_cli(int want, const char *part, const char *const *args) {
  char *said;
  int rc = cli(args, &said);
  if (rc != want) fail_msg("%s %s: exit %d, expected %d\n%s", args[0], args[1], rc, want, said);
  assert_contains(said, part);
  free(said);
}

/* The file `name` in the test directory holds `part`. */
static void assert_file_contains(const char *name, const char *part) {
  char *text = tu_read(tu_path(name));
  assert_contains(text, part);
  free(text);
}

static bool exists(const char *name) { return access(tu_path(name), F_OK) == 0; }

/* Only `run` makes a store: a typo in --store is an error, not a new file. */
static void read_commands_never_create_a_store(void **state) {
  (void)state;
  static const char *const commands[][8] = {
      {"runs", "list", "--store", "typo.db", NULL},
      {"runs", "show", "r-x", "--store", "typo.db", NULL},
      {"runs", "trace", "r-x", "--store", "typo.db", NULL},
      {"runs", "prune", "--older-than", "1d", "--store", "typo.db", NULL},
      {"resume", "--all", "--store", "typo.db", NULL},
      {"resume", "r-x", "--store", "typo.db", NULL},
      {"cancel", "r-x", "--store", "typo.db", NULL},
      {"answer", "r-x", "yes", "--store", "typo.db", NULL},
      {"approve", "r-x", "act_1", "--reviewer", "lead", "--store", "typo.db", NULL}};
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
    assert_cli(2, "no store at typo.db", commands[i]);
    assert_false(exists("typo.db"));
  }
}

static void stores_that_cannot_be_made_or_written(void **state) {
  (void)state;
  const char *path = spec("ro", "r-ro", LOOKUP_TOOL, ANSWER);
  assert_cli(2, "cannot create store missing/dir/s.db: directory missing/dir: No such file",
             (const char *[]){"run", path, "--store", "missing/dir/s.db", NULL});
  /* A store another user made, which this one may only read. */
  assert_int_equal(mkdir(tu_path("shared"), 0755), 0);
  assert_cli(0, "success", (const char *[]){"run", path, "--store", "shared/s.db", NULL});
  assert_int_equal(chmod(tu_path("shared/s.db"), 0444), 0);
  assert_int_equal(chmod(tu_tmpdir(), 0755), 0);
  char command[1024];
  snprintf(command, sizeof command,
           "cd '%s' && setpriv --reuid=65534 --regid=65534 --clear-groups %s runs list --store "
           "shared/s.db >nobody.log 2>&1",
           tu_tmpdir(), AGENTRT_CLI);
  int status = system(command);
  char *said = tu_read(tu_path("nobody.log"));
  assert_true(WIFEXITED(status));
  if (WEXITSTATUS(status) != 2) fail_msg("exit %d\n%s", WEXITSTATUS(status), said);
  assert_contains(said, "store shared/s.db is read-only here");
  free(said);
}

/* ---- set-up failures and statuses -------------------------------------------------- */

#define STORE "--store", "life.db"

/* The record of `run_id` as `runs list --json` gives it. */
static json_t *listed(const char *run_id) {
  char *said;
  assert_int_equal(cli((const char *[]){"runs", "list", "--json", STORE, NULL}, &said), 0);
  json_t *list = json_loads(said, 0, NULL), *one, *found = NULL;
  size_t i;
  if (!list) fail_msg("not JSON:\n%s", said);
  free(said);
  json_array_foreach(list, i, one) if (strcmp(json_string_value(json_object_get(one, "run_id")),
                                              run_id) == 0) found = json_incref(one);
  json_decref(list);
  if (!found) fail_msg("run %s is not listed", run_id);
  return found;
}

static void assert_status(const char *run_id, const char *want) {
  json_t *r = listed(run_id);
  const char *got = json_string_value(json_object_get(r, "status"));
  if (!got || strcmp(got, want) != 0) fail_msg("run %s is %s, expected %s", run_id, got, want);
  json_decref(r);
}

/* A trace file that cannot be written is found before the run is stored:
 * nothing is left for `resume --all` to run later. */
static void a_failed_setup_leaves_no_runnable_run(void **state) {
  (void)state;
  const char *path = spec("setup", "r-setup", LOOKUP_TOOL, LOOKUP "," ANSWER);
  assert_cli(2, "cannot write trace file",
             (const char *[]){"run", path, "--trace", "/nonexistent/t.jsonl", STORE, NULL});
  assert_cli(0, "no run to resume", (const char *[]){"resume", "--all", STORE, NULL});
  assert_cli(2, "no run r-setup", (const char *[]){"runs", "show", "r-setup", STORE, NULL});
}

/* The write tool of the status tests: it records its calls in calls.log. */
static const char *tool_members(const char *tool, const char *side_effect, int sleep_s) {
  static char members[1024];
  char script[256];
  snprintf(script, sizeof script,
           "#!/bin/sh\ncat >/dev/null\necho \"$$\" >> calls.log\nsleep %d\necho '{}'\n", sleep_s);
  chmod(tu_write(tool, script), 0755);
  snprintf(members, sizeof members,
           ",\"actor\":{\"id\":\"agent\"},\"tools\":[{\"name\":\"t\",\"side_effect\":\"%s\","
           "\"command\":[\"./%s\"]}]",
           side_effect, tool);
  return members;
}
#define CALL_T "{\"type\":\"tool\",\"name\":\"t\",\"input\":{}}"

/* `agentrt run` of `run_id` whose read tool takes 30 s, once the tool runs. */
static pid_t run_with_slow_tool(const char *name, const char *run_id, const char *log) {
  remove(tu_path("calls.log"));
  const char *path = spec(name, run_id, tool_members("slow.sh", "read", 30), CALL_T "," ANSWER);
  pid_t pid = tu_cli_start((const char *[]){"run", path, STORE, NULL}, log, 0);
  for (int i = 0; i < 500 && tu_count_lines(tu_path("calls.log")) < 1; i++) usleep(10000);
  assert_int_equal(tu_count_lines(tu_path("calls.log")), 1);
  return pid;
}

static const char *pending(const char *run_id) {
  static char action[64];
  char *said;
  assert_int_equal(cli((const char *[]){"runs", "show", run_id, "--json", STORE, NULL}, &said), 0);
  json_t *j = json_loads(said, 0, NULL);
  free(said);
  snprintf(action, sizeof action, "%s",
           json_string_value(json_object_get(json_object_get(j, "pending"), "action_id")));
  json_decref(j);
  return action;
}

/* paused -> (approve) ready -> (resume) finished; ask_human -> (answer) ready. */
static void statuses_say_who_acts_next(void **state) {
  (void)state;
  const char *path = spec("st", "r-st", tool_members("quick.sh", "write", 0), CALL_T "," ANSWER);
  assert_cli(3, "approval_required", (const char *[]){"run", path, STORE, NULL});
  assert_status("r-st", "paused");
  assert_cli(
      0, "approved",
      (const char *[]){"approve", "r-st", pending("r-st"), "--reviewer", "lead", STORE, NULL});
  assert_status("r-st", "ready");
  assert_cli(0, "ready", (const char *[]){"runs", "list", "--status", "ready", STORE, NULL});
  char *said;
  assert_int_equal(cli((const char *[]){"runs", "show", "r-st", "--json", STORE, NULL}, &said), 0);
  assert_contains(said, "\"status\": \"ready\"");
  free(said);
  assert_cli(0, "success", (const char *[]){"resume", "--all", STORE, NULL});
  assert_status("r-st", "finished");

  const char *ask =
      spec("ask", "r-ask", LOOKUP_TOOL, "{\"type\":\"ask_human\",\"question\":\"which?\"}," ANSWER);
  assert_cli(3, "blocked", (const char *[]){"run", ask, STORE, NULL});
  assert_status("r-ask", "paused");
  assert_cli(0, "answered", (const char *[]){"answer", "r-ask", "this one", STORE, NULL});
  assert_status("r-ask", "ready");
}

/* The status of a listed run, once it is `want` (asked again for a while). */
static json_t *listed_as(const char *run_id, const char *want) {
  for (int i = 0;; i++) {
    json_t *r = listed(run_id);
    const char *status = json_string_value(json_object_get(r, "status"));
    if (strcmp(status, want) == 0 || i == 200) return r;
    json_decref(r);
    usleep(20000);
  }
}

/* A run whose process is alive is running, with its holder; once SIGKILL
 * took the process, its (short) lease runs out: the run is ready and its
 * holder is shown as gone. */
static void a_holder_whose_lease_ran_out_is_seen(void **state) {
  (void)state;
  setenv("AGENTRT_LEASE_MS", "1000", 1);
  pid_t pid = run_with_slow_tool("dead", "r-dead", "dead.log");
  unsetenv("AGENTRT_LEASE_MS");
  json_t *r = listed("r-dead");
  assert_string_equal(json_string_value(json_object_get(r, "status")), "running");
  json_t *holder = json_object_get(r, "holder");
  assert_true(json_is_true(json_object_get(holder, "alive")));
  char owner[64];
  snprintf(owner, sizeof owner, ":%d", (int)pid);
  assert_non_null(strstr(json_string_value(json_object_get(holder, "owner")), owner));
  json_decref(r);
  kill(pid, SIGKILL);
  assert_int_equal(exit_status(pid), 128 + SIGKILL);
  r = listed_as("r-dead", "ready");
  assert_string_equal(json_string_value(json_object_get(r, "status")), "ready");
  assert_true(json_is_false(json_object_get(json_object_get(r, "holder"), "alive")));
  json_decref(r);
  assert_cli(0, "(lease ran out, heartbeat ", (const char *[]){"runs", "list", STORE, NULL});
  char *pid_text = tu_read(tu_path("calls.log"));
  kill((pid_t)atoi(pid_text), SIGKILL); /* the orphaned tool */
  free(pid_text);
}

/* ---- progress while a tool runs ------------------------------------------------------ */

/* The events of run `run_id` that another process reads from the store. */
static size_t events_seen(const char *run_id, const char *type) {
  char *said;
  if (cli((const char *[]){"runs", "trace", run_id, "--jsonl", STORE, NULL}, &said) != 0) {
    free(said);
    return 0;
  }
  size_t n = 0;
  char want[64];
  snprintf(want, sizeof want, "\"type\":\"%s\"", type);
  for (const char *at = strstr(said, want); at; at = strstr(at + 1, want)) n++;
  free(said);
  return n;
}

/* A read tool that takes 30 s: what came before it is in the store soon
 * after it starts, although no event comes until it ends. */
static void progress_is_seen_while_a_tool_runs(void **state) {
  (void)state;
  pid_t pid = run_with_slow_tool("prog", "r-prog", "prog.log");
  size_t seen = 0;
  for (int i = 0; i < 100 && !(seen = events_seen("r-prog", "tool_call")); i++) usleep(50000);
  assert_int_equal(seen, 1);
  assert_int_equal(events_seen("r-prog", "run_started"), 1);
  assert_cli(0, "cancel requested", (const char *[]){"cancel", "r-prog", STORE, NULL});
  assert_int_equal(exit_status(pid), 1);
}

/* ---- Ctrl-C, SIGTERM and the wall-time budget -------------------------------------- */

/* A command tool `t` (a `side_effect` tool that the policy allows): the first
 * call records its pid in started.pid, sleeps 30 s and then does its side
 * effect (a line in effect.log); later calls do it at once. */
static const char *sleepy_tool(const char *side_effect) {
  static char members[1024];
  chmod(tu_write("sleepy.sh", "#!/bin/sh\n"
                              "cat >/dev/null\n"
                              "if [ ! -e started.pid ]; then echo $$ > started.pid; sleep 30; fi\n"
                              "echo done >> effect.log\n"
                              "echo '{}'\n"),
        0755);
  snprintf(members, sizeof members,
           ",\"tools\":[{\"name\":\"t\",\"side_effect\":\"%s\",\"command\":[\"./sleepy.sh\"]}],"
           "\"policy\":{\"rules\":[{\"when\":{\"tool\":\"t\"},\"effect\":\"allow\"}]}",
           side_effect);
  remove(tu_path("started.pid"));
  remove(tu_path("effect.log"));
  return members;
}

/* The pid of the tool's first call, once it has started. */
static pid_t tool_started(void) {
  char *text = NULL;
  for (int i = 0; i < 1000 && !(text = tu_read(tu_path("started.pid"))); i++) usleep(10000);
  assert_non_null(text);
  pid_t pid = (pid_t)atoi(text);
  free(text);
  return pid;
}

/* Whether any process of group `pgid` still runs: /proc/PID/stat has the
 * state (3rd field) and the group (5th).  A zombie does not run: its parent
 * may be a container's init that does not reap orphans. */
static bool group_runs(pid_t pgid) {
  DIR *proc = opendir("/proc");
  struct dirent *e;
  bool runs = false;
  while (proc && !runs && (e = readdir(proc))) {
    char path[300], state;
    int group;
    snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    FILE *f = fopen(path, "r");
    char line[1024];
    if (!f) continue;
    const char *after_name = fgets(line, sizeof line, f) ? strrchr(line, ')') : NULL;
    fclose(f);
    runs = after_name && sscanf(after_name, ") %c %*d %d", &state, &group) == 2 && group == pgid &&
           state != 'Z';
  }
  if (proc) closedir(proc);
  return runs;
}

/* Killed processes take a moment to die: the group has gone within a second. */
/* Killed processes take a while to be reaped once their parent has exited
 * (by whoever adopts them), longer on a loaded machine: up to 10 s. */
static bool group_gone(pid_t pgid) {
  for (int i = 0; i < 1000 && group_runs(pgid); i++) usleep(10000);
  return !group_runs(pgid);
}

/* `agentrt run` as a shell's foreground job: a group of its own. */
static pid_t run_in_group(const char *path, const char *log) {
  return tu_cli_start((const char *[]){"run", path, STORE, NULL}, log, 1);
}

static void ctrl_c_lets_go_of_the_run(void **state) {
  (void)state;
  const char *path = spec("int", "r-int", sleepy_tool("read"), CALL_T "," ANSWER);
  pid_t pid = run_in_group(path, "int.log");
  pid_t tool = tool_started();
  kill(-pid, SIGINT); /* as a terminal sends it: to agentrt's group, not the tool's */
  assert_int_equal(exit_status(pid), 130);
  assert_true(group_gone(tool)); /* killed as agentrt exited */
  char *said = tu_read(tu_path("int.log"));
  assert_contains(said, "interrupted (SIGINT): run r-int let go at step 1");
  assert_contains(said, "agentrt resume r-int --store life.db");
  free(said);
  assert_false(exists("effect.log"));
  json_t *r = listed("r-int");
  assert_string_equal(json_string_value(json_object_get(r, "status")), "ready");
  assert_true(json_is_null(json_object_get(r, "holder"))); /* the lease was released */
  json_decref(r);
  assert_int_equal(events_seen("r-int", "tool_call"), 1);
  assert_int_equal(events_seen("r-int", "tool_result"), 0);
  /* A read tool is run again: the run goes on where it was. */
  assert_cli(0, "success", (const char *[]){"resume", "r-int", STORE, NULL});
  assert_int_equal(tu_count_lines(tu_path("effect.log")), 1);
}

/* SIGTERM during a write: it exits 143, and since nobody knows whether the
 * write acted, the resumed run asks an operator rather than repeat it. */
static void sigterm_during_a_write(void **state) {
  (void)state;
  const char *path = spec("term", "r-term", sleepy_tool("write"), CALL_T "," ANSWER);
  pid_t pid = run_in_group(path, "term.log");
  pid_t tool = tool_started();
  kill(pid, SIGTERM);
  assert_int_equal(exit_status(pid), 143);
  assert_true(group_gone(tool));
  assert_file_contains("term.log", "SIGTERM: run r-term let go");
  assert_status("r-term", "ready");
  assert_cli(3, "outcome_unknown", (const char *[]){"resume", "r-term", STORE, NULL});
  assert_false(exists("effect.log"));
}

/* Ctrl-C twice: agentrt ends at once, and the tool's group still goes. */
static void a_second_ctrl_c_still_kills_the_tool(void **state) {
  (void)state;
  const char *path = spec("twice", "r-twice", sleepy_tool("read"), CALL_T "," ANSWER);
  pid_t pid = run_in_group(path, "twice.log");
  pid_t tool = tool_started();
  kill(-pid, SIGINT);
  kill(-pid, SIGINT);
  assert_int_equal(exit_status(pid), 130);
  assert_true(group_gone(tool));
  assert_false(exists("effect.log"));
}

/* The stop of `run_id` as `runs show --json` rebuilds it from the journal. */
static void assert_stopped(const char *run_id, const char *reason, const char *detail) {
  char *said;
  assert_int_equal(cli((const char *[]){"runs", "show", run_id, "--json", STORE, NULL}, &said), 0);
  json_t *j = json_loads(said, 0, NULL);
  if (!j) fail_msg("not JSON:\n%s", said);
  free(said);
  assert_string_equal(json_string_value(json_object_get(j, "stop_reason")), reason);
  assert_string_equal(json_string_value(json_object_get(j, "reason")), detail);
  json_decref(j);
}

/* A 1.5 s budget cuts a 30 s tool short: the run stops budget_exhausted. */
static void the_wall_time_budget_cuts_a_tool_short(void **state) {
  (void)state;
  char members[1200];
  snprintf(members, sizeof members, ",\"max_wall_time_ms\":1500%s", sleepy_tool("read"));
  const char *path = spec("wall", "r-wall", members, CALL_T "," ANSWER);
  pid_t pid = run_in_group(path, "wall.log");
  pid_t tool = tool_started();
  assert_int_equal(exit_status(pid), 1);
  assert_true(group_gone(tool));
  assert_file_contains("wall.log", "budget_exhausted (wall_time)");
  assert_false(exists("effect.log"));
  assert_stopped("r-wall", "budget_exhausted", "wall_time");
}

/* The same for a model command that takes 30 s to decide. */
static void the_wall_time_budget_cuts_a_model_short(void **state) {
  (void)state;
  chmod(tu_write("slow-model.sh", "#!/bin/sh\ncat >/dev/null\necho $$ > started.pid\nsleep 30\n"
                                  "echo '{\"type\":\"answer\",\"text\":\"late\"}'\n"),
        0755);
  remove(tu_path("started.pid"));
  tu_write("model.json", "{\"run_id\":\"r-model\",\"goal\":\"g\",\"max_wall_time_ms\":1500,"
                         "\"model\":{\"type\":\"command\",\"command\":[\"./slow-model.sh\"]}}");
  pid_t pid = run_in_group("model.json", "model.log");
  pid_t model = tool_started();
  assert_int_equal(exit_status(pid), 1);
  assert_true(group_gone(model));
  assert_file_contains("model.log", "budget_exhausted (wall_time)");
  assert_stopped("r-model", "budget_exhausted", "wall_time");
}

/* ---- the spec as the store keeps it ----------------------------------------------- */

#define SECRET_RULES ",\"redact\":{\"patterns\":[\"sk-[a-z0-9]+\"]}"

/* The spec the store keeps for run_id. */
static char *stored_spec(const char *run_id) {
  art_store *store;
  art_error err;
  art_run_record r;
  assert_int_equal(art_store_open_sqlite(&store, tu_path("life.db"), NULL, &err), 0);
  assert_int_equal(store->vt->get_run(store, run_id, &r, &err), 0);
  char *kept = r.spec_json;
  r.spec_json = NULL;
  art_run_record_dispose(&r);
  art_store_close(store);
  return kept;
}

/* Secrets in the goal, a memory text and a scripted input are stored
 * redacted, as the trace has them, and the run still pauses and resumes. */
static void the_stored_spec_is_redacted(void **state) {
  (void)state;
  const char *path =
      spec("secret", "r-secret",
           SECRET_RULES ",\"goal\":\"use key sk-goal1\",\"actor\":{\"id\":\"agent\"},"
                        "\"tools\":[\"send_message\"],\"outbox\":\"secret.outbox\","
                        "\"memory\":[{\"id\":\"m1\",\"text\":\"the key is sk-memory2\"}]",
           "{\"type\":\"tool\",\"name\":\"send_message\",\"input\":{\"to\":\"a@example.com\","
           "\"body\":\"key sk-input3\"}}," ANSWER);
  assert_cli(3, "approval_required", (const char *[]){"run", path, STORE, NULL});
  char *kept = stored_spec("r-secret");
  assert_contains(kept, "[REDACTED]");
  assert_contains(kept, "sk-[a-z0-9]+"); /* the rules themselves are kept */
  if (strstr(kept, "sk-goal1") || strstr(kept, "sk-memory2") || strstr(kept, "sk-input3"))
    fail_msg("a secret is stored in plain text:\n%s", kept);
  free(kept);
  assert_cli(0, "approved",
             (const char *[]){"approve", "r-secret", pending("r-secret"), "--reviewer", "lead",
                              STORE, NULL});
  assert_cli(0, "success", (const char *[]){"resume", "r-secret", STORE, NULL});
  assert_int_equal(tu_count_lines(tu_path("secret.outbox")), 1);
}

/* A secret a tool needs, in the spec where redaction would hide it from a
 * resumed run: refused before anything runs or is stored. */
static void a_spec_that_would_not_resume_redacted_is_refused(void **state) {
  (void)state;
  const char *path = spec("needs", "r-needs",
                          SECRET_RULES ",\"tools\":[{\"name\":\"t\",\"side_effect\":\"read\","
                                       "\"command\":[\"./sleepy.sh\",\"sk-token9\"]}]",
                          ANSWER);
  assert_cli(2, "$.tools[0].command[1] holds what the redact rules hide",
             (const char *[]){"run", path, STORE, NULL});
  assert_cli(2, "no run r-needs", (const char *[]){"runs", "show", "r-needs", STORE, NULL});
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(concurrent_first_openers),
      cmocka_unit_test(concurrent_runs_with_one_id),
      cmocka_unit_test(read_commands_never_create_a_store),
      cmocka_unit_test(stores_that_cannot_be_made_or_written),
      cmocka_unit_test(a_failed_setup_leaves_no_runnable_run),
      cmocka_unit_test(statuses_say_who_acts_next),
      cmocka_unit_test(a_holder_whose_lease_ran_out_is_seen),
      cmocka_unit_test(progress_is_seen_while_a_tool_runs),
      cmocka_unit_test(ctrl_c_lets_go_of_the_run),
      cmocka_unit_test(sigterm_during_a_write),
      cmocka_unit_test(a_second_ctrl_c_still_kills_the_tool),
      cmocka_unit_test(the_wall_time_budget_cuts_a_tool_short),
      cmocka_unit_test(the_wall_time_budget_cuts_a_model_short),
      cmocka_unit_test(the_stored_spec_is_redacted),
      cmocka_unit_test(a_spec_that_would_not_resume_redacted_is_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
