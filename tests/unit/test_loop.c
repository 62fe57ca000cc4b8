/* The event-loop driver: many runs at once in one thread give, run by run,
 * the events the blocking driver gives; a run that hangs delays no other; a
 * cancel stops only its run; the wall-time budget interrupts a decision in
 * flight; freeing a loop lets go of what it drives. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "agentrt.h"
#include "agentrt/loop.h"
#include "agentrt/store.h"
#include "testutil.h"

#define LOOKUP "{\"type\":\"tool\",\"name\":\"lookup_policy\",\"input\":{\"task\":\"t\"}}"
#define SEND                                                                                       \
  "{\"type\":\"tool\",\"name\":\"send_message\",\"input\":{\"to\":\"c@example.com\",\"body\":"     \
  "\"hi\"}}"
#define ANSWER "{\"type\":\"answer\",\"text\":\"done\"}"

/* A command tool: `sh -c SCRIPT` with a timeout. */
static char *command_tool(char *buf, size_t size, const char *name, const char *script,
                          int timeout_ms) {
  snprintf(buf, size,
           "{\"name\":\"%s\",\"side_effect\":\"read\",\"timeout_ms\":%d,"
           "\"command\":[\"/bin/sh\",\"-c\",\"%s\"]}",
           name, timeout_ms, script);
  return buf;
}

/* The mixed specs of the differential test: every stop reason. */
static char **mixed_specs(size_t *n) {
  static char *specs[16];
  char ok[256], fails[256], slow[256], text[4096];
  command_tool(ok, sizeof ok, "ok", "cat >/dev/null; echo '{\\\"n\\\": 1}'", 5000);
  command_tool(fails, sizeof fails, "fails", "cat >/dev/null; echo broken >&2; exit 3", 5000);
  command_tool(slow, sizeof slow, "slow", "cat >/dev/null; sleep 5", 100);
  const char *cases[][3] = {
      {"", "", LOOKUP "," ANSWER},                                    /* success */
      {"", "", LOOKUP "," LOOKUP "," LOOKUP},                         /* max_steps */
      {"", "", SEND "," ANSWER},                                      /* approval */
      {"", "", "{\"type\":\"ask_human\",\"question\":\"which?\"}"},   /* blocked */
      {"", "", "{\"type\":\"tool\",\"name\":\"nope\",\"input\":{}}"}, /* refused */
      {"", "", "{\"type\":\"answer\",\"text\":\"\"}"},                /* invalid */
      {"", "", LOOKUP},                                               /* model_failure */
      {"",
       ",\"policy\":{\"rules\":[{\"when\":{\"tool\":\"lookup_policy\"},\"effect\":\"deny\","
       "\"reason\":\"no\"}]}",
       LOOKUP},                                                             /* policy_denied */
      {ok, "", "{\"type\":\"tool\",\"name\":\"ok\",\"input\":{}}," ANSWER}, /* command ok */
      {fails, "", "{\"type\":\"tool\",\"name\":\"fails\",\"input\":{}}"},   /* tool_failure */
      {slow, "", "{\"type\":\"tool\",\"name\":\"slow\",\"input\":{}}"},     /* timeout */
      {"", "", "{\"type\":\"stop\",\"reason\":\"enough\"}"},                /* blocked */
  };
  *n = sizeof cases / sizeof *cases;
  for (size_t i = 0; i < *n; i++) {
    snprintf(text, sizeof text,
             "{\"goal\":\"g\",\"max_steps\":2,\"actor\":{\"id\":\"agent\"},"
             "\"tools\":[\"lookup_policy\",\"send_message\"%s%s]%s,"
             "\"model\":{\"type\":\"scripted\",\"decisions\":[%s]}}",
             cases[i][0][0] ? "," : "", cases[i][0], cases[i][1], cases[i][2]);
    free(specs[i]);
    specs[i] = strdup(text);
  }
  return specs;
}

typedef tu_job job;

/* 500 runs of the mixed specs at once give, run by run, the blocking
 * driver's events and stops. */
static void the_loop_drives_as_the_blocking_driver_does(void **state) {
  (void)state;
  size_t n_specs, n = 500;
  char **specs = mixed_specs(&n_specs);
  job *on_loop = calloc(n, sizeof *on_loop);
  art_loop *loop;
  art_error err = {0};
  assert_int_equal(art_loop_new(&loop, NULL, &err), 0);
  for (size_t i = 0; i < n; i++) {
    char id[32];
    snprintf(id, sizeof id, "r-%zu", i);
    tu_job_new(&on_loop[i], specs[i % n_specs], id);
    assert_int_equal(art_loop_add(loop, on_loop[i].run, on_loop[i].model, tu_told, &on_loop[i]), 0);
  }
  assert_int_equal(art_loop_runs(loop), n);
  assert_int_equal(art_loop_run(loop), 0);
  assert_int_equal(art_loop_runs(loop), 0);
  art_loop_free(loop);
  unsigned seen = 0; /* the stop reasons, a bit each */
  for (size_t i = 0; i < n; i++) {
    char id[32];
    snprintf(id, sizeof id, "r-%zu", i);
    seen |= 1u << art_run_stop_reason(on_loop[i].run);
    job alone;
    tu_job_new(&alone, specs[i % n_specs], id);
    assert_int_equal(art_run_until_stop(alone.run, alone.model), 0);
    assert_true(on_loop[i].told);
    assert_int_equal(on_loop[i].rc, 0);
    tu_assert_same_events(on_loop[i].run, alone.run);
    tu_job_free(&alone);
    tu_job_free(&on_loop[i]);
  }
  for (art_stop_reason r = ART_STOP_SUCCESS; r <= ART_STOP_MODEL_FAILURE; r++)
    if (!(seen & (1u << r))) fail_msg("no run stopped %s", art_stop_reason_name(r));
  free(on_loop);
  for (size_t i = 0; i < n_specs; i++) free(specs[i]), specs[i] = NULL;
}

/* Stops of the loop's runs in the order the loop told them. */
static char order[64][16];
static size_t n_order;

static void told_in_order(void *ud, art_run *run, int rc) {
  tu_told(ud, run, rc);
  snprintf(order[n_order++ % 64], sizeof order[0], "%s", art_run_id(run));
}

#define HANG                                                                                       \
  "{\"goal\":\"g\",\"tools\":[{\"name\":\"hang\",\"side_effect\":\"read\",\"timeout_ms\":%d,"      \
  "\"command\":[\"/bin/sh\",\"-c\",\"cat >/dev/null; echo $$ > %s; sleep 30\"]}],"                 \
  "\"model\":{\"type\":\"scripted\",\"decisions\":[{\"type\":\"tool\",\"name\":\"hang\","          \
  "\"input\":{}}," ANSWER "]}}"
#define QUICK                                                                                      \
  "{\"goal\":\"g\",\"tools\":[\"lookup_policy\"],\"model\":{\"type\":\"scripted\",\"delay_ms\":5," \
  "\"decisions\":[" LOOKUP "," ANSWER "]}}"

static pid_t pid_in(const char *file) {
  char *text = NULL;
  for (int i = 0; i < 500 && !(text = tu_read(tu_path(file))); i++) usleep(10000);
  for (int i = 0; i < 500 && text && !strchr(text, '\n'); i++) {
    free(text);
    usleep(10000);
    text = tu_read(tu_path(file));
  }
  assert_non_null(text);
  pid_t pid = (pid_t)atol(text);
  free(text);
  return pid;
}

/* One run's tool hangs until its timeout: the others finish first, and the
 * timeout stops that run on time. */
static void a_hanging_tool_delays_no_other_run(void **state) {
  (void)state;
  char text[2048];
  job jobs[5];
  snprintf(text, sizeof text, HANG, 700, tu_path("hang.pid"));
  tu_job_new(&jobs[0], text, "hangs");
  for (int i = 1; i < 5; i++) {
    char id[16];
    snprintf(id, sizeof id, "quick-%d", i);
    tu_job_new(&jobs[i], QUICK, id);
  }
  art_loop *loop;
  art_error err = {0};
  assert_int_equal(art_loop_new(&loop, NULL, &err), 0);
  n_order = 0;
  for (int i = 0; i < 5; i++)
    assert_int_equal(art_loop_add(loop, jobs[i].run, jobs[i].model, told_in_order, &jobs[i]), 0);
  assert_int_equal(art_loop_run(loop), 0);
  art_loop_free(loop);
  assert_int_equal(n_order, 5);
  assert_string_equal(order[4], "hangs");
  assert_int_equal(art_run_stop_reason(jobs[0].run), ART_STOP_TOOL_FAILURE);
  assert_string_equal(art_run_stop_detail(jobs[0].run), "timeout");
  for (int i = 1; i < 5; i++) assert_int_equal(art_run_stop_reason(jobs[i].run), ART_STOP_SUCCESS);
  for (int i = 0; i < 5; i++) tu_job_free(&jobs[i]);
}

/* A cancel stops its run, and kills its tool's process group; the others
 * go on. */
typedef struct canceller {
  art_loop *loop;
  art_run *victim;
} canceller;

static void cancel_victim(void *ud, art_run *run, int rc) {
  canceller *c = ud;
  (void)run, (void)rc;
  assert_int_equal(art_loop_cancel(c->loop, c->victim, "not needed"), 0);
}

static void a_cancel_stops_only_its_run(void **state) {
  (void)state;
  char text[2048];
  size_t n = 1000;
  job *jobs = calloc(n, sizeof *jobs);
  snprintf(text, sizeof text, HANG, 30000, tu_path("victim.pid"));
  remove(tu_path("victim.pid"));
  tu_job_new(&jobs[0], text, "victim");
  for (size_t i = 1; i < n; i++) {
    char id[16];
    snprintf(id, sizeof id, "other-%zu", i);
    tu_job_new(&jobs[i], QUICK, id);
  }
  art_loop *loop;
  art_error err = {0};
  assert_int_equal(art_loop_new(&loop, NULL, &err), 0);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(art_loop_add(loop, jobs[i].run, jobs[i].model, tu_told, &jobs[i]), 0);
  /* A run that stops after 200 ms, when the victim's tool runs, cancels the
   * victim from its callback on the loop, as a service would. */
  canceller c = {loop, jobs[0].run};
  job trigger;
  tu_job_new(&trigger,
             "{\"goal\":\"g\",\"model\":{\"type\":\"scripted\",\"delay_ms\":200,"
             "\"decisions\":[" ANSWER "]}}",
             "trigger");
  assert_int_equal(art_loop_add(loop, trigger.run, trigger.model, cancel_victim, &c), 0);
  assert_int_equal(art_loop_run(loop), 0);
  art_loop_free(loop);
  pid_t victim_tool = pid_in("victim.pid");
  assert_int_equal(art_run_stop_reason(jobs[0].run), ART_STOP_CANCELLED);
  assert_string_equal(art_run_stop_detail(jobs[0].run), "not needed");
  for (int i = 0; i < 100 && kill(victim_tool, 0) == 0; i++) usleep(10000);
  assert_int_not_equal(kill(victim_tool, 0), 0); /* its group was killed */
  for (size_t i = 1; i < n; i++) {
    assert_true(jobs[i].told);
    assert_int_equal(art_run_stop_reason(jobs[i].run), ART_STOP_SUCCESS);
  }
  for (size_t i = 0; i < n; i++) tu_job_free(&jobs[i]);
  tu_job_free(&trigger);
  free(jobs);
}

/* Decisions delayed 30, 10 and 20 ms, three runs each, added in turns: the
 * loop keeps one timer per delay, and still tells the runs in the order
 * their delays end (each delay's runs in the order they were added); a
 * cancel from the stop of the first 10 ms run takes the next one out of the
 * list being fired without stopping the others. */
static canceller delay_canceller;

static void told_and_cancel(void *ud, art_run *run, int rc) {
  told_in_order(ud, run, rc);
  if (strcmp(art_run_id(run), "10-1") == 0) cancel_victim(&delay_canceller, run, rc);
}

static void decision_delays_end_in_order(void **state) {
  (void)state;
  static const int delays[] = {30, 10, 20};
  job jobs[10];
  art_loop *loop;
  art_error err = {0};
  assert_int_equal(art_loop_new(&loop, NULL, &err), 0);
  n_order = 0;
  for (int i = 0; i < 10; i++) {
    char text[256], id[16];
    snprintf(text, sizeof text,
             "{\"goal\":\"g\",\"model\":{\"type\":\"scripted\",\"delay_ms\":%d,"
             "\"decisions\":[" ANSWER "]}}",
             delays[i % 3]);
    snprintf(id, sizeof id, "%d-%d", delays[i % 3], i);
    tu_job_new(&jobs[i], text, id);
    assert_int_equal(art_loop_add(loop, jobs[i].run, jobs[i].model, told_and_cancel, &jobs[i]), 0);
  }
  delay_canceller = (canceller){loop, jobs[4].run};
  assert_int_equal(art_loop_run(loop), 0);
  art_loop_free(loop);
  static const char *const want[] = {"10-1", "10-4", "10-7", "20-2", "20-5",
                                     "20-8", "30-0", "30-3", "30-6", "30-9"};
  assert_int_equal(n_order, 10);
  for (int i = 0; i < 10; i++) assert_string_equal(order[i], want[i]);
  assert_int_equal(art_run_stop_reason(jobs[4].run), ART_STOP_CANCELLED);
  for (int i = 0; i < 10; i++) {
    if (i != 4) assert_int_equal(art_run_stop_reason(jobs[i].run), ART_STOP_SUCCESS);
    tu_job_free(&jobs[i]);
  }
}

/* The wall-time budget interrupts a decision in flight on the loop. */
static void the_wall_time_budget_interrupts_a_decision(void **state) {
  (void)state;
  job j;
  tu_job_new(&j,
             "{\"goal\":\"g\",\"max_wall_time_ms\":50,\"model\":{\"type\":\"scripted\","
             "\"delay_ms\":5000,\"decisions\":[" ANSWER "]}}",
             "slow-model");
  art_loop *loop;
  art_error err = {0};
  assert_int_equal(art_loop_new(&loop, NULL, &err), 0);
  assert_int_equal(art_loop_add(loop, j.run, j.model, tu_told, &j), 0);
  assert_int_equal(art_loop_run(loop), 0);
  art_loop_free(loop);
  /* Not the answer 5 s later: the decision was given up, none recorded. */
  assert_int_equal(art_run_stop_reason(j.run), ART_STOP_BUDGET_EXHAUSTED);
  assert_string_equal(art_run_stop_detail(j.run), "wall_time");
  for (size_t i = 0; i < art_run_event_count(j.run); i++)
    assert_int_not_equal(art_run_event(j.run, i)->type, ART_EV_DECISION);
  tu_job_free(&j);
}

/* Freeing a loop with runs in flight lets go of them: told ART_EINTR, not
 * stopped, and driven to the end afterwards by the blocking driver. */
static void freeing_the_loop_lets_go(void **state) {
  (void)state;
  job j;
  tu_job_new(&j,
             "{\"goal\":\"g\",\"tools\":[\"lookup_policy\"],\"model\":{\"type\":\"scripted\","
             "\"delay_ms\":5000,\"decisions\":[" LOOKUP "," ANSWER "]}}",
             "let-go");
  art_loop *loop;
  art_error err = {0};
  assert_int_equal(art_loop_new(&loop, NULL, &err), 0);
  assert_int_equal(art_loop_add(loop, j.run, j.model, tu_told, &j), 0);
  assert_int_equal(art_loop_cancel(loop, NULL, NULL), ART_ENOTFOUND);
  art_loop_free(loop);
  assert_true(j.told);
  assert_int_equal(j.rc, ART_EINTR);
  assert_int_equal(art_run_stop_reason(j.run), ART_STOP_NONE);
  assert_int_equal(art_run_until_stop(j.run, j.model), 0);
  assert_int_equal(art_run_stop_reason(j.run), ART_STOP_SUCCESS);
  tu_job_free(&j);
}

/* A C tool that starts its call on the loop: it answers after 20 ms on a
 * timer of its own (the blocking driver calls `fn`, which answers the same
 * at once).  Input {"now": true} answers before start returns, {"bad": true}
 * cannot start. */
typedef struct timed_tool {
  unsigned started, cancelled, open_timers;
} timed_tool;

typedef struct timed_call {
  uv_timer_t timer;
  art_tool_job *tjob;
  timed_tool *tool;
  uint32_t call_id;
} timed_call;

static void timed_answer(art_tool_result *r, uint32_t call_id) {
  art_tool_result_set(r, ART_RESULT_OK, json_pack("{si}", "call", (int)call_id), "%s", "");
}

static int timed_fn(void *ud, const art_tool_call *call, art_tool_result *result) {
  (void)ud;
  if (json_object_get(call->input, "bad")) return ART_EIO;
  timed_answer(result, call->id);
  return 0;
}

static void timed_closed(uv_handle_t *h) {
  timed_call *c = h->data;
  c->tool->open_timers--;
  free(c);
}

static void timed_fired(uv_timer_t *t) {
  timed_call *c = t->data;
  art_tool_job *tj = c->tjob;
  art_tool_result r = {0};
  timed_answer(&r, c->call_id);
  uv_close((uv_handle_t *)&c->timer, timed_closed);
  tj->done(tj, &r);
}

static int timed_start(void *ud, const art_tool_call *call, art_tool_job *tj) {
  timed_tool *tool = ud;
  tool->started++;
  if (json_object_get(call->input, "bad")) return ART_EIO;
  if (json_object_get(call->input, "now")) {
    art_tool_result r = {0};
    timed_answer(&r, call->id);
    tj->done(tj, &r);
    return 0;
  }
  timed_call *c = calloc(1, sizeof *c);
  if (!c) return ART_ENOMEM;
  *c = (timed_call){.tjob = tj, .tool = tool, .call_id = call->id};
  uv_timer_init(tj->uv, &c->timer);
  c->timer.data = c;
  tool->open_timers++;
  uv_timer_start(&c->timer, timed_fired, 20, 0);
  tj->state = c;
  return 0;
}

static void timed_cancel(void *ud, art_tool_job *tj) {
  timed_tool *tool = ud;
  timed_call *c = tj->state;
  tool->cancelled++;
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, timed_closed);
}

#define TIMED(input) "{\"type\":\"tool\",\"name\":\"timed\",\"input\":" input "}"

static void job_with_timed(job *j, const char *decisions, const char *run_id, timed_tool *tool) {
  char text[1024];
  snprintf(text, sizeof text,
           "{\"goal\":\"g\",\"max_steps\":4,\"model\":{\"type\":\"scripted\","
           "\"decisions\":[%s]}}",
           decisions);
  art_error err = {0};
  memset(j, 0, sizeof *j);
  j->spec = tu_spec(text);
  art_tool_def def = {.name = "timed",
                      .side_effect = ART_SIDE_READ,
                      .fn = timed_fn,
                      .start = timed_start,
                      .cancel = timed_cancel,
                      .ud = tool};
  assert_int_equal(art_registry_add(art_spec_registry(j->spec), &def, &err), 0);
  art_run_options opts = {.run_id = run_id};
  assert_int_equal(art_model_new(&j->model, j->spec, &err), 0);
  assert_int_equal(art_run_new(&j->run, j->spec, &opts), 0);
}

/* Tools that start their calls on the loop: a result that comes later, at
 * once, or never (cannot start) gives the blocking driver's events; a cancel
 * gives up only its run's call; no timer is left open. */
static void a_tool_started_on_the_loop(void **state) {
  (void)state;
  const char *cases[] = {
      TIMED("{}") "," TIMED("{}") "," ANSWER,
      TIMED("{\"now\":true}") "," ANSWER,
      TIMED("{\"bad\":true}") "," ANSWER,
  };
  size_t n = 300;
  job *jobs = calloc(n, sizeof *jobs);
  timed_tool on_loop = {0}, alone_tool = {0};
  art_loop *loop;
  art_error err = {0};
  assert_int_equal(art_loop_new(&loop, NULL, &err), 0);
  for (size_t i = 0; i < n; i++) {
    char id[32];
    snprintf(id, sizeof id, "t-%zu", i);
    job_with_timed(&jobs[i], cases[i % 3], id, &on_loop);
    assert_int_equal(art_loop_add(loop, jobs[i].run, jobs[i].model, tu_told, &jobs[i]), 0);
  }
  canceller c = {loop, jobs[3].run}; /* a run whose first call takes 20 ms */
  job trigger;
  tu_job_new(&trigger,
             "{\"goal\":\"g\",\"model\":{\"type\":\"scripted\",\"delay_ms\":10,"
             "\"decisions\":[" ANSWER "]}}",
             "trigger");
  assert_int_equal(art_loop_add(loop, trigger.run, trigger.model, cancel_victim, &c), 0);
  assert_int_equal(art_loop_run(loop), 0);
  art_loop_free(loop);
  assert_int_equal(on_loop.cancelled, 1);
  assert_int_equal(on_loop.open_timers, 0);
  assert_int_equal(art_run_stop_reason(jobs[3].run), ART_STOP_CANCELLED);
  for (size_t i = 0; i < n; i++) {
    assert_true(jobs[i].told);
    assert_int_equal(jobs[i].rc, 0);
    if (i == 3) continue;
    job alone;
    job_with_timed(&alone, cases[i % 3], art_run_id(jobs[i].run), &alone_tool);
    assert_int_equal(art_run_until_stop(alone.run, alone.model), 0);
    tu_assert_same_events(jobs[i].run, alone.run);
    tu_job_free(&alone);
  }
  assert_int_equal(alone_tool.started, 0); /* the blocking driver calls fn */
  assert_int_equal(art_run_stop_reason(jobs[2].run), ART_STOP_TOOL_FAILURE);
  for (size_t i = 0; i < n; i++) tu_job_free(&jobs[i]);
  tu_job_free(&trigger);
  free(jobs);
}

static void let_go_of_victim(void *ud, art_run *run, int rc) {
  canceller *c = ud;
  (void)run, (void)rc;
  assert_int_equal(art_loop_let_go(c->loop, c->victim), 0);
}

/* Letting go of a run (a worker stopping) lets its call in flight finish and
 * records its result, then stops before the next decision: told ART_EINTR,
 * not stopped, nothing cancelled; the blocking driver goes on from there. */
static void letting_go_ends_the_step_in_flight(void **state) {
  (void)state;
  job j, trigger;
  timed_tool tool = {0};
  job_with_timed(&j, TIMED("{}") "," ANSWER, "let-go-step", &tool);
  tu_job_new(&trigger,
             "{\"goal\":\"g\",\"model\":{\"type\":\"scripted\",\"delay_ms\":5,"
             "\"decisions\":[" ANSWER "]}}",
             "trigger");
  art_loop *loop;
  art_error err = {0};
  assert_int_equal(art_loop_new(&loop, NULL, &err), 0);
  assert_int_equal(art_loop_add(loop, j.run, j.model, tu_told, &j), 0);
  canceller c = {loop, j.run}; /* its call takes 20 ms; the trigger stops after 5 */
  assert_int_equal(art_loop_add(loop, trigger.run, trigger.model, let_go_of_victim, &c), 0);
  assert_int_equal(art_loop_let_go(loop, trigger.run), 0); /* not started yet: let go too */
  assert_int_equal(art_loop_run(loop), 0);
  assert_int_equal(art_loop_let_go(loop, j.run), ART_ENOTFOUND);
  art_loop_free(loop);
  assert_true(j.told);
  assert_int_equal(j.rc, ART_EINTR);
  assert_int_equal(tool.started, 1);
  assert_int_equal(tool.cancelled, 0);
  assert_int_equal(art_run_stop_reason(j.run), ART_STOP_NONE);
  size_t results = 0, decisions = 0;
  for (size_t i = 0; i < art_run_event_count(j.run); i++) {
    results += art_run_event(j.run, i)->type == ART_EV_TOOL_RESULT;
    decisions += art_run_event(j.run, i)->type == ART_EV_DECISION;
  }
  assert_int_equal(results, 1); /* the call's result is recorded ... */
  assert_int_equal(decisions, 1); /* ... and no decision was asked after it */
  assert_int_equal(art_run_until_stop(j.run, j.model), 0);
  assert_int_equal(art_run_stop_reason(j.run), ART_STOP_SUCCESS);
  tu_job_free(&j);
  tu_job_free(&trigger);
}

/* ---- journaling many runs to one SQLite store in batches ---- */

/* A draft tool that looks, through another handle on the store, at what its
 * run has written: its own intent must be there before it acts. */
typedef struct witness {
  art_store *other;
  unsigned calls;
} witness;

static art_journal stored_journal(art_store *s, const char *run_id) {
  art_journal j;
  art_error err = {0};
  assert_int_equal(s->vt->load_journal(s, run_id, &j, &err), 0);
  return j;
}

static int witness_fn(void *ud, const art_tool_call *call, art_tool_result *result) {
  witness *w = ud;
  art_journal j = stored_journal(w->other, call->run_id);
  assert_true(j.n > 0);
  assert_int_equal(j.entries[j.n - 1].type, ART_EV_TOOL_CALL);
  assert_int_equal(j.entries[j.n - 1].step, call->step);
  art_journal_dispose(&j);
  w->calls++;
  art_tool_result_set(result, ART_RESULT_OK, json_pack("{s:b}", "seen", 1), "%s", "");
  return 0;
}

typedef struct stored_job {
  job j;
  witness *w;
} stored_job;

/* Told that a run stopped: its stop is already in the store. */
static void told_stored(void *ud, art_run *run, int rc) {
  stored_job *s = ud;
  tu_told(&s->j, run, rc);
  art_journal j = stored_journal(s->w->other, art_run_id(run));
  assert_int_equal(j.n, art_run_event_count(run));
  assert_int_equal(j.entries[j.n - 1].type, ART_EV_STOP);
  art_journal_dispose(&j);
}

#define WITNESS "{\"type\":\"tool\",\"name\":\"witness\",\"input\":{}}"

static void stored_job_new(stored_job *s, art_store *store, witness *w, size_t i) {
  const char *decisions[] = {LOOKUP "," WITNESS "," LOOKUP "," ANSWER, WITNESS "," ANSWER,
                             LOOKUP ","
                                    "{\"type\":\"ask_human\",\"question\":\"which?\"}"};
  char text[1024], id[32];
  snprintf(text, sizeof text,
           "{\"goal\":\"g\",\"max_steps\":5,\"tools\":[\"lookup_policy\"],"
           "\"model\":{\"type\":\"scripted\",\"delay_ms\":%zu,\"decisions\":[%s]}}",
           i % 3, decisions[i % 3]);
  snprintf(id, sizeof id, "b-%zu", i);
  s->w = w;
  art_error err = {0};
  tu_job_new(&s->j, text, id);
  art_tool_def def = {.name = "witness", .side_effect = ART_SIDE_DRAFT, .fn = witness_fn, .ud = w};
  assert_int_equal(art_registry_add(art_spec_registry(s->j.spec), &def, &err), 0);
  art_run_record rec = {.run_id = id, .spec_json = (char *)"{}", .created_us = 1};
  assert_int_equal(store->vt->create_run(store, &rec, &err), 0);
  art_sink sink;
  assert_int_equal(art_store_sink_batched(&sink, store, 0, &err), 0);
  assert_int_equal(art_run_add_sink(s->j.run, &sink), 0);
}

/* 300 runs journal to one store through batched sinks: a draft tool finds
 * its intent written before it acts, a run's stop is written before the loop
 * says it stopped, and each stored journal is its run's trace. */
static void batched_sinks_are_durable_where_it_matters(void **state) {
  (void)state;
  size_t n = 300;
  art_store *store;
  witness w = {0};
  art_error err = {0};
  assert_int_equal(art_store_open_sqlite(&store, tu_path("batched.db"), NULL, &err), 0);
  assert_int_equal(art_store_open_sqlite(&w.other, tu_path("batched.db"), NULL, &err), 0);
  stored_job *jobs = calloc(n, sizeof *jobs);
  art_loop *loop;
  assert_int_equal(art_loop_new(&loop, NULL, &err), 0);
  for (size_t i = 0; i < n; i++) {
    stored_job_new(&jobs[i], store, &w, i);
    assert_int_equal(art_loop_add(loop, jobs[i].j.run, jobs[i].j.model, told_stored, &jobs[i]), 0);
  }
  assert_int_equal(art_loop_run(loop), 0);
  art_loop_free(loop);
  assert_int_equal(w.calls, 200);
  for (size_t i = 0; i < n; i++) {
    assert_true(jobs[i].j.told);
    assert_int_equal(jobs[i].j.rc, 0);
    art_journal j = stored_journal(w.other, art_run_id(jobs[i].j.run));
    assert_int_equal(j.n, art_run_event_count(jobs[i].j.run));
    for (size_t k = 0; k < j.n; k++)
      assert_int_equal(j.entries[k].type, art_run_event(jobs[i].j.run, k)->type);
    art_journal_dispose(&j);
    art_run_record rec;
    assert_int_equal(w.other->vt->get_run(w.other, art_run_id(jobs[i].j.run), &rec, &err), 0);
    assert_int_equal(rec.steps, art_run_steps(jobs[i].j.run));
    art_run_record_dispose(&rec);
    tu_job_free(&jobs[i].j);
  }
  free(jobs);
  art_store_close(w.other);
  art_store_close(store);
}

/* start without cancel (or the other way round) is refused. */
static void start_and_cancel_go_together(void **state) {
  (void)state;
  art_registry *reg;
  art_error err = {0};
  assert_int_equal(art_registry_new(&reg, NULL), 0);
  art_tool_def def = {.name = "half", .fn = timed_fn, .start = timed_start};
  assert_int_equal(art_registry_add(reg, &def, &err), ART_EINVAL);
  assert_non_null(strstr(err.message, "start and cancel go together"));
  art_registry_free(reg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(the_loop_drives_as_the_blocking_driver_does),
      cmocka_unit_test(a_hanging_tool_delays_no_other_run),
      cmocka_unit_test(decision_delays_end_in_order),
      cmocka_unit_test(a_cancel_stops_only_its_run),
      cmocka_unit_test(the_wall_time_budget_interrupts_a_decision),
      cmocka_unit_test(freeing_the_loop_lets_go),
      cmocka_unit_test(letting_go_ends_the_step_in_flight),
      cmocka_unit_test(a_tool_started_on_the_loop),
      cmocka_unit_test(start_and_cancel_go_together),
      cmocka_unit_test(batched_sinks_are_durable_where_it_matters),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
