/* Command tools and command models on the event loop, without threads: many
 * runs give, run by run, the blocking driver's events; a hanging command
 * delays no other run and times out; a cancel kills only its run's process
 * group; art_loop_options.max_procs bounds the children at once, and runs
 * waiting for one hold no descriptor; a cancel takes a waiting run out of
 * line.  Every test leaves the descriptors and children it found. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "agentrt.h"
#include "agentrt/loop.h"
#include "testutil.h"
#include "tool/command.h"

#define ANSWER "{\"type\":\"answer\",\"text\":\"done\"}"
#define CALL(name) "{\"type\":\"tool\",\"name\":\"" name "\",\"input\":{}}"

/* ---- the scripts the tools and models run ----------------------------------------- */

static const char *script(const char *name, const char *body) {
  char text[8192];
  snprintf(text, sizeof text, "#!/bin/sh\n%s\n", body);
  const char *path = tu_write(name, text);
  assert_int_equal(chmod(path, 0755), 0);
  return path;
}

/* A read tool running `path` with a timeout, as spec JSON. */
static void tool_json(char *buf, size_t size, const char *name, const char *path, int timeout_ms) {
  snprintf(buf, size,
           "{\"name\":\"%s\",\"side_effect\":\"read\",\"timeout_ms\":%d,\"command\":[\"%s\"]}",
           name, timeout_ms, path);
}

/* Every tool of the differential: each way a command can end. */
static char *tools_json(void) {
  static const char *const tools[][3] = {
      {"ok", "cat >/dev/null; echo '{\"n\": 1}'", "5000"},
      {"fails", "cat >/dev/null; echo first >&2; echo broken >&2; exit 3", "5000"},
      {"envelope", "cat >/dev/null; echo '{\"status\":\"refused\",\"message\":\"not today\"}'",
       "5000"},
      {"silent", "cat >/dev/null", "5000"},
      {"text", "cat >/dev/null; printf 'plain text\\n\\n'", "5000"},
      {"env",
       "cat >/dev/null; echo \"$AGENTRT_RUN_ID $AGENTRT_TOOL $AGENTRT_STEP "
       "$AGENTRT_ACTION_ID\"",
       "5000"},
      {"fds", "cat >/dev/null; exec ls /proc/self/fd", "5000"},
      {"echo", "cat", "5000"},
      {"killed", "cat >/dev/null; kill -9 $$", "5000"},
      {"slow", "cat >/dev/null; sleep 5", "150"},
      /* exits at once, but a grandchild holds the pipes: a timeout */
      {"orphan", "cat >/dev/null; echo '{\"n\": 2}'; sleep 5 &", "150"},
  };
  static char json[8192];
  size_t at = 0;
  for (size_t i = 0; i < sizeof tools / sizeof *tools; i++) {
    char file[64], one[512];
    snprintf(file, sizeof file, "%s.sh", tools[i][0]);
    tool_json(one, sizeof one, tools[i][0], script(file, tools[i][1]), atoi(tools[i][2]));
    at += (size_t)snprintf(json + at, sizeof json - at, "%s%s", i ? "," : "", one);
  }
  return json;
}

/* The specs of the differential: scripted models calling each tool, and
 * command models (one that calls a tool first, one that fails). */
static char **spawn_specs(size_t *n) {
  static char *specs[24];
  const char *tools = tools_json();
  const char *decider =
      script("decider.sh", "cat >/dev/null; if [ \"$AGENTRT_STEP\" = 1 ]; then echo '" CALL(
                               "env") "'; else echo '" ANSWER "'; fi");
  const char *broken = script("broken-model.sh", "cat >/dev/null; echo 'no model' >&2; exit 2");
  const char *scripted[] = {CALL("ok") "," ANSWER,  CALL("fails"),           CALL("envelope"),
                            CALL("silent"),         CALL("text") "," ANSWER, CALL("env") "," ANSWER,
                            CALL("fds") "," ANSWER, CALL("echo") "," ANSWER, CALL("killed"),
                            CALL("slow"),           CALL("orphan")};
  size_t n_scripted = sizeof scripted / sizeof *scripted;
  char text[16384];
  for (size_t i = 0; i < n_scripted + 2; i++) {
    char model[1024];
    if (i < n_scripted)
      snprintf(model, sizeof model, "{\"type\":\"scripted\",\"decisions\":[%s]}", scripted[i]);
    else
      snprintf(model, sizeof model, "{\"type\":\"command\",\"command\":[\"%s\"]}",
               i == n_scripted ? decider : broken);
    snprintf(text, sizeof text, "{\"goal\":\"g\",\"max_steps\":3,\"tools\":[%s],\"model\":%s}",
             tools, model);
    free(specs[i]);
    specs[i] = strdup(text);
  }
  *n = n_scripted + 2;
  return specs;
}

static void free_specs(char **specs, size_t n) {
  for (size_t i = 0; i < n; i++) free(specs[i]), specs[i] = NULL;
}

static art_loop *new_loop(uv_loop_t *uv, unsigned max_procs) {
  art_loop *loop;
  art_error err = {0};
  art_loop_options lo = {.uv = uv, .max_procs = max_procs};
  assert_int_equal(art_loop_new(&loop, &lo, &err), 0);
  return loop;
}

static void add(art_loop *loop, tu_job *j, art_loop_stopped_fn stopped, void *ud) {
  assert_int_equal(art_loop_add(loop, j->run, j->model, stopped, ud), 0);
}

/* ---- the differential ----------------------------------------------------------------- */

/* 200 runs with command tools and command models at once give, run by run,
 * the events the blocking driver gives. */
static void many_command_runs_give_the_blocking_drivers_events(void **state) {
  (void)state;
  size_t n_specs, n = 200;
  char **specs = spawn_specs(&n_specs);
  tu_job *jobs = calloc(n, sizeof *jobs);
  art_loop *loop = new_loop(NULL, 0);
  for (size_t i = 0; i < n; i++) {
    char id[32];
    snprintf(id, sizeof id, "s-%zu", i);
    tu_job_new(&jobs[i], specs[i % n_specs], id);
    add(loop, &jobs[i], tu_told, &jobs[i]);
  }
  assert_int_equal(art_loop_run(loop), 0);
  art_loop_free(loop);
  unsigned seen = 0;
  for (size_t i = 0; i < n; i++) {
    assert_true(jobs[i].told);
    assert_int_equal(jobs[i].rc, 0);
    seen |= 1u << art_run_stop_reason(jobs[i].run);
    tu_job alone;
    tu_job_new(&alone, specs[i % n_specs], art_run_id(jobs[i].run));
    assert_int_equal(art_run_until_stop(alone.run, alone.model), 0);
    tu_assert_same_events(jobs[i].run, alone.run);
    tu_job_free(&alone);
    tu_job_free(&jobs[i]);
  }
  assert_true(seen & (1u << ART_STOP_SUCCESS));
  assert_true(seen & (1u << ART_STOP_TOOL_FAILURE));
  assert_true(seen & (1u << ART_STOP_REFUSED));
  assert_true(seen & (1u << ART_STOP_MODEL_FAILURE));
  free(jobs);
  free_specs(specs, n_specs);
}

/* ---- a command that hangs ---------------------------------------------------------- */

static char order[32][16];
static size_t n_order;

static void told_in_order(void *ud, art_run *run, int rc) {
  tu_told(ud, run, rc);
  snprintf(order[n_order++ % 32], sizeof order[0], "%s", art_run_id(run));
}

/* A spec whose one tool writes its shell's pid (its group) to `pid_file`
 * and sleeps 30 s. */
static void hang_spec(char *buf, size_t size, const char *pid_file, int timeout_ms) {
  char body[512], tool[1024];
  snprintf(body, sizeof body, "cat >/dev/null; echo $$ > %s.tmp; mv %s.tmp %s; sleep 30", pid_file,
           pid_file, pid_file);
  tool_json(tool, sizeof tool, "hang", script("hang.sh", body), timeout_ms);
  snprintf(buf, size,
           "{\"goal\":\"g\",\"tools\":[%s],\"model\":{\"type\":\"scripted\",\"decisions\":[" CALL(
               "hang") "," ANSWER "]}}",
           tool);
}

static void quick_spec(char *buf, size_t size) {
  char tool[512];
  tool_json(tool, sizeof tool, "ok", script("quick.sh", "cat >/dev/null; echo '{\"n\": 1}'"), 5000);
  snprintf(buf, size,
           "{\"goal\":\"g\",\"tools\":[%s],\"model\":{\"type\":\"scripted\",\"decisions\":[" CALL(
               "ok") "," ANSWER "]}}",
           tool);
}

/* The tool result of a run's first call. */
static json_t *first_tool_result(const art_run *run) {
  json_t *result = art_run_result_json(run), *ev;
  size_t i;
  json_array_foreach(json_object_get(result, "trace"), i, ev) {
    if (strcmp(json_string_value(json_object_get(ev, "type")), "tool_result") != 0) continue;
    json_incref(ev);
    json_decref(result);
    return ev;
  }
  fail_msg("run %s has no tool result", art_run_id(run));
  return NULL;
}

/* One run's command hangs: 20 runs with commands of their own finish first,
 * and the hanging one stops on its timeout, its group killed. */
static void a_hanging_command_delays_no_other_run(void **state) {
  (void)state;
  char hang[2048], quick[1024];
  hang_spec(hang, sizeof hang, tu_path("hang.pid"),
            5000); /* the others' forks take longer under ASan */
  quick_spec(quick, sizeof quick);
  tu_job jobs[21];
  tu_job_new(&jobs[0], hang, "hangs");
  for (int i = 1; i < 21; i++) {
    char id[16];
    snprintf(id, sizeof id, "quick-%d", i);
    tu_job_new(&jobs[i], quick, id);
  }
  art_loop *loop = new_loop(NULL, 2); /* the hanging one holds one of the two */
  n_order = 0;
  for (int i = 0; i < 21; i++) add(loop, &jobs[i], told_in_order, &jobs[i]);
  assert_int_equal(art_loop_run(loop), 0);
  art_loop_free(loop);
  assert_int_equal(n_order, 21);
  assert_string_equal(order[20], "hangs");
  for (int i = 1; i < 21; i++) assert_int_equal(art_run_stop_reason(jobs[i].run), ART_STOP_SUCCESS);
  assert_int_equal(art_run_stop_reason(jobs[0].run), ART_STOP_TOOL_FAILURE);
  json_t *result = first_tool_result(jobs[0].run);
  assert_string_equal(json_string_value(json_object_get(result, "status")), "error");
  assert_string_equal(json_string_value(json_object_get(result, "message")), "timeout");
  assert_int_equal(
      json_integer_value(json_object_get(json_object_get(result, "data"), "timeout_ms")), 5000);
  json_decref(result);
  for (int i = 0; i < 21; i++) tu_job_free(&jobs[i]);
}

/* ---- cancels ------------------------------------------------------------------------ */

/* The group id a hanging tool wrote, once it is there (0: not yet). */
static pid_t group_in(const char *file) {
  char *text = tu_read(file);
  pid_t pgid = text && strchr(text, '\n') ? (pid_t)atol(text) : 0;
  free(text);
  return pgid;
}

static void assert_group_gone(pid_t pgid) {
  for (int i = 0; i < 500 && kill(-pgid, 0) == 0; i++) usleep(10000);
  assert_int_equal(kill(-pgid, 0), -1);
  assert_int_equal(errno, ESRCH);
}

/* Watches for a hanging tool's pid file and then cancels runs, as a service
 * would, from a callback on the loop. */
typedef struct canceller {
  art_loop *loop;
  uv_timer_t timer;
  const char *pid_file;
  art_run *victims[2];
  pid_t pgid;
} canceller;

static void cancel_once_started(uv_timer_t *t) {
  canceller *c = t->data;
  if (!(c->pgid = group_in(c->pid_file))) return;
  for (int i = 0; i < 2 && c->victims[i]; i++)
    assert_int_equal(art_loop_cancel(c->loop, c->victims[i], "not needed"), 0);
  uv_close((uv_handle_t *)t, NULL);
}

static void watch_and_cancel(canceller *c, uv_loop_t *uv) {
  uv_timer_init(uv, &c->timer);
  c->timer.data = c;
  uv_timer_start(&c->timer, cancel_once_started, 5, 5);
}

static void close_uv(uv_loop_t *uv) {
  uv_run(uv, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(uv), 0);
}

/* A cancel among 1,000 runs while its command runs: only that run stops,
 * cancelled, and its command's process group is gone. */
static void a_cancel_kills_only_its_runs_group(void **state) {
  (void)state;
  size_t n = 1000;
  char hang[2048], quick[1024], pid_file[512];
  snprintf(pid_file, sizeof pid_file, "%s", tu_path("victim.pid"));
  remove(pid_file);
  hang_spec(hang, sizeof hang, pid_file, 30000);
  quick_spec(quick, sizeof quick);
  tu_job *jobs = calloc(n, sizeof *jobs);
  tu_job_new(&jobs[0], hang, "victim");
  for (size_t i = 1; i < n; i++) {
    char id[16];
    snprintf(id, sizeof id, "other-%zu", i);
    tu_job_new(&jobs[i],
               i % 10 ? "{\"goal\":\"g\",\"model\":{\"type\":\"scripted\",\"delay_ms\":5,"
                        "\"decisions\":[" ANSWER "]}}"
                      : quick,
               id);
  }
  uv_loop_t uv;
  assert_int_equal(uv_loop_init(&uv), 0);
  art_loop *loop = new_loop(&uv, 0);
  canceller c = {.loop = loop, .pid_file = pid_file, .victims = {jobs[0].run}};
  watch_and_cancel(&c, &uv);
  for (size_t i = 0; i < n; i++) add(loop, &jobs[i], tu_told, &jobs[i]);
  assert_int_equal(art_loop_run(loop), 0);
  art_loop_free(loop);
  close_uv(&uv);
  assert_int_equal(art_run_stop_reason(jobs[0].run), ART_STOP_CANCELLED);
  assert_string_equal(art_run_stop_detail(jobs[0].run), "not needed");
  assert_group_gone(c.pgid);
  for (size_t i = 1; i < n; i++) {
    assert_true(jobs[i].told);
    assert_int_equal(art_run_stop_reason(jobs[i].run), ART_STOP_SUCCESS);
  }
  for (size_t i = 0; i < n; i++) tu_job_free(&jobs[i]);
  free(jobs);
}

/* With one process slot: a run waiting for it is cancelled (its command
 * never starts), then the one holding it; the run behind them gets the slot
 * and succeeds. */
static void a_cancel_takes_a_waiting_run_out_of_line(void **state) {
  (void)state;
  char hang[2048], waiting[2048], tool[1536], quick[1024], pid_file[512], marker[512];
  snprintf(pid_file, sizeof pid_file, "%s", tu_path("holder.pid"));
  snprintf(marker, sizeof marker, "%s", tu_path("waiter.ran"));
  remove(pid_file), remove(marker);
  hang_spec(hang, sizeof hang, pid_file, 30000);
  char body[1024];
  snprintf(body, sizeof body, "cat >/dev/null; touch %s; echo '{}'", marker);
  tool_json(tool, sizeof tool, "mark", script("mark.sh", body), 5000);
  snprintf(waiting, sizeof waiting,
           "{\"goal\":\"g\",\"tools\":[%s],\"model\":{\"type\":\"scripted\",\"decisions\":[" CALL(
               "mark") "," ANSWER "]}}",
           tool);
  quick_spec(quick, sizeof quick);
  tu_job jobs[3];
  tu_job_new(&jobs[0], hang, "holder");
  tu_job_new(&jobs[1], waiting, "waiter");
  tu_job_new(&jobs[2], quick, "behind");
  uv_loop_t uv;
  assert_int_equal(uv_loop_init(&uv), 0);
  art_loop *loop = new_loop(&uv, 1);
  canceller c = {.loop = loop, .pid_file = pid_file, .victims = {jobs[1].run, jobs[0].run}};
  watch_and_cancel(&c, &uv);
  for (int i = 0; i < 3; i++) add(loop, &jobs[i], tu_told, &jobs[i]);
  assert_int_equal(art_loop_run(loop), 0);
  art_loop_free(loop);
  close_uv(&uv);
  assert_int_equal(art_run_stop_reason(jobs[0].run), ART_STOP_CANCELLED);
  assert_int_equal(art_run_stop_reason(jobs[1].run), ART_STOP_CANCELLED);
  assert_int_equal(art_run_stop_reason(jobs[2].run), ART_STOP_SUCCESS);
  assert_null(tu_read(marker));
  assert_group_gone(c.pgid);
  for (int i = 0; i < 3; i++) tu_job_free(&jobs[i]);
}

/* ---- the process limit ------------------------------------------------------------- */

/* Samples the loop's descriptors while runs wait for process slots. */
typedef struct fd_sampler {
  uv_check_t check;
  int most;
} fd_sampler;

static void sample_fds(uv_check_t *h) {
  fd_sampler *s = h->data;
  int n = tu_count_fds();
  if (n > s->most) s->most = n;
}

/* 20 runs whose tools count the tools running at once (a directory entry
 * each, made and removed under flock) with max_procs 2: never more than 2,
 * and all 20 finish; the runs waiting hold no descriptor (each child takes
 * three pipes; the loop itself a few). */
static void max_procs_bounds_the_children_at_once(void **state) {
  (void)state;
  mkdir(tu_path("running"), 0755);
  remove(tu_path("counts"));
  char body[4096], tool[4096 + 128], spec[4096 + 512];
  snprintf(body, sizeof body,
           "cat >/dev/null; flock %s sh -c \"mkdir %s/$$; ls %s | wc -l >> %s\"; sleep 0.05; "
           "rmdir %s/$$; echo '{}'",
           tu_path("count.lock"), tu_path("running"), tu_path("running"), tu_path("counts"),
           tu_path("running"));
  tool_json(tool, sizeof tool, "count", script("count.sh", body), 10000);
  snprintf(spec, sizeof spec,
           "{\"goal\":\"g\",\"tools\":[%s],\"model\":{\"type\":\"scripted\",\"decisions\":[" CALL(
               "count") "," ANSWER "]}}",
           tool);
  tu_job jobs[20];
  uv_loop_t uv;
  assert_int_equal(uv_loop_init(&uv), 0);
  art_loop *loop = new_loop(&uv, 2);
  fd_sampler sampler = {.most = tu_count_fds()};
  uv_check_init(&uv, &sampler.check);
  sampler.check.data = &sampler;
  uv_check_start(&sampler.check, sample_fds);
  uv_unref((uv_handle_t *)&sampler.check);
  int before = sampler.most;
  for (int i = 0; i < 20; i++) {
    char id[16];
    snprintf(id, sizeof id, "count-%d", i);
    tu_job_new(&jobs[i], spec, id);
    add(loop, &jobs[i], tu_told, &jobs[i]);
  }
  assert_int_equal(art_loop_run(loop), 0);
  art_loop_free(loop);
  uv_close((uv_handle_t *)&sampler.check, NULL);
  close_uv(&uv);
  for (int i = 0; i < 20; i++) {
    assert_int_equal(art_run_stop_reason(jobs[i].run), ART_STOP_SUCCESS);
    tu_job_free(&jobs[i]);
  }
  assert_int_equal(tu_count_lines(tu_path("counts")), 20);
  char *counts = tu_read(tu_path("counts"));
  for (char *line = counts; *line; line = strchr(line, '\n') + 1) {
    int running = atoi(line);
    if (running < 1 || running > 2) fail_msg("%d tools ran at once:\n%s", running, counts);
  }
  free(counts);
  assert_true(sampler.most - before <= 2 * 3 + 4);
}

/* A program with a reaper of its own (waitpid(-1)) takes the child from the
 * job: the call ends with an error result saying it cannot wait for it. */
typedef struct reaped_elsewhere {
  int rc;
  art_tool_result result;
  bool done;
} reaped_elsewhere;

static void reaped_done(void *ud, int rc, art_tool_result *result, const char *ending) {
  reaped_elsewhere *r = ud;
  (void)ending;
  r->rc = rc;
  r->result = *result;
  r->done = true;
}

static void a_child_reaped_elsewhere_ends_its_call(void **state) {
  (void)state;
  const char *argv[] = {"/bin/sh", "-c", "exit 0", NULL};
  json_t *input = json_object();
  art_tool_call call = {.id = 1, .step = 1, .run_id = "r", .tool = "t", .input = input};
  uv_loop_t uv;
  assert_int_equal(uv_loop_init(&uv), 0);
  reaped_elsewhere r = {0};
  art_command_start how = {
      .uv = &uv, .argv = argv, .timeout_ms = 5000, .call = &call, .done = reaped_done, .ud = &r};
  assert_non_null(art_command_tool_start(&how));
  int status;
  assert_true(waitpid(-1, &status, 0) > 0); /* the program's own reaper */
  assert_int_equal(uv_run(&uv, UV_RUN_DEFAULT), 0);
  assert_true(r.done);
  assert_int_equal(r.result.status, ART_RESULT_ERROR);
  if (!strstr(r.result.message, "cannot wait for"))
    fail_msg("the result says: %s", r.result.message);
  art_tool_result_dispose(&r.result);
  assert_int_equal(uv_loop_close(&uv), 0);
  json_decref(input);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(many_command_runs_give_the_blocking_drivers_events),
      cmocka_unit_test(a_hanging_command_delays_no_other_run),
      cmocka_unit_test(a_cancel_kills_only_its_runs_group),
      cmocka_unit_test(a_cancel_takes_a_waiting_run_out_of_line),
      cmocka_unit_test(max_procs_bounds_the_children_at_once),
      cmocka_unit_test(a_child_reaped_elsewhere_ends_its_call),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
