/* Core benchmarks.  One line per figure: "name value unit".
 *   W1  the demo run (2 steps, trace in memory), µs per run over 100,000 runs
 *   W2  one run of 1,001 steps (1,000 lookup_policy calls, then an answer), µs per
 *       step, and the mean step over steps 0-99 and 900-999 (flatness)
 *   demo_process_ms  `agentrt demo` as a whole process
 *   json_parse  art_json_parse of a journal row, µs per parse, and how many times
 *       faster it is than json_loadb on the same text */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <malloc.h>

#include "agentrt.h"
#include "bench.h"
#include "core/json_parse.h"

static art_spec *load(const char *path) {
  art_spec *spec;
  art_error err = {0};
  art_spec_options opts = {.outbox = "/dev/null"};
  if (art_spec_load(&spec, path, &opts, &err) < 0) {
    fprintf(stderr, "bench: %s\n", err.message);
    exit(1);
  }
  return spec;
}

static void run_once(art_spec *spec, art_stop_reason want) {
  art_model *model;
  art_run *run;
  art_error err;
  if (art_model_new(&model, spec, &err) < 0 || art_run_new(&run, spec, NULL) < 0 ||
      art_run_until_stop(run, model) < 0 || art_run_stop_reason(run) != want) {
    fprintf(stderr, "bench: the run did not stop %s\n", art_stop_reason_name(want));
    exit(1);
  }
  art_run_free(run);
  art_model_free(model);
}

static void bench_w1(void) {
  art_spec *spec = load(AGENTRT_SOURCE_DIR "/examples/demo.json");
  const int runs = 100000;
  for (int i = 0; i < 1000; i++) run_once(spec, ART_STOP_SUCCESS);
  double t0 = now_s();
  for (int i = 0; i < runs; i++) run_once(spec, ART_STOP_SUCCESS);
  printf("W1_us_per_run %.3f us\n", (now_s() - t0) / runs * 1e6);
  art_spec_free(spec);
}

static const char *w2_spec =
    "{\"run_id\":\"w2\",\"goal\":\"Check policy before drafting a customer reply\","
    "\"max_steps\":1001,\"actor\":{\"id\":\"agent\",\"tenant\":\"acme\",\"route\":\"support\"},"
    "\"memory\":[{\"id\":\"mem_1\",\"scope\":\"project\",\"text\":\"a\"},"
    "{\"id\":\"mem_2\",\"scope\":\"task\",\"text\":\"b\"},{\"id\":\"mem_3\",\"scope\":\"user\","
    "\"text\":\"c\"}],"
    "\"tools\":[\"lookup_policy\",\"draft_message\",\"send_message\"],"
    "\"model\":{\"type\":\"scripted\",\"decisions\":["
    "{\"type\":\"tool\",\"name\":\"lookup_policy\",\"input\":{\"task\":\"draft a "
    "reply\"},\"repeat\":1000},"
    "{\"type\":\"answer\",\"text\":\"done\"}]}}";

/* The blocking driver's loop, with the time noted when steps 0, 100, 900 and
 * 1000 begin (4 extra clock reads a run). */
static void w2_instrumented(art_spec *spec, double marks[4]) {
  art_model *model;
  art_run *run;
  art_error err;
  art_model_new(&model, spec, &err);
  art_run_new(&run, spec, NULL);
  int64_t now = art_now_us();
  unsigned decides = 0;
  for (;;) {
    const art_action *act;
    art_run_next(run, now, &act);
    if (act->kind == ART_ACT_DONE || act->kind == ART_ACT_WAIT) break;
    if (act->kind == ART_ACT_DECIDE) {
      if (decides == 0) marks[0] = now_s();
      if (decides == 100) marks[1] = now_s();
      if (decides == 900) marks[2] = now_s();
      if (decides == 1000) marks[3] = now_s();
      decides++;
      art_decision d;
      art_model_decide(model, act->context, &d, &err);
      now = art_now_us();
      art_run_feed_decision(run, &d, now);
    } else {
      art_tool_result r = {0};
      art_tool_invoke(act->tool, act->call, &r);
      now = art_now_us();
      art_run_feed_tool_result(run, act->call->id, &r, now);
      art_tool_result_dispose(&r);
    }
  }
  if (art_run_steps(run) != 1001 || art_run_stop_reason(run) != ART_STOP_SUCCESS) {
    fprintf(stderr, "bench: W2 run did not complete\n");
    exit(1);
  }
  art_run_free(run);
  art_model_free(model);
}

/* Mean µs per step over `runs` W2 runs, and over steps 0-99 and 900-999. */
static void w2_figures(art_spec *spec, int runs, double *per_step, double *first, double *last) {
  double t0 = now_s(), marks[4];
  for (int i = 0; i < runs; i++) run_once(spec, ART_STOP_SUCCESS);
  *per_step = (now_s() - t0) / runs / 1001 * 1e6;
  *first = *last = 0;
  for (int i = 0; i < runs; i++) {
    w2_instrumented(spec, marks);
    *first += marks[1] - marks[0];
    *last += marks[3] - marks[2];
  }
  *first = *first / runs / 100 * 1e6;
  *last = *last / runs / 100 * 1e6;
}

/* A process that runs one long run at a time hands its arena back to the
 * kernel after every run (glibc trims a free heap top over 128 KiB), so the
 * next run pays a page fault per fresh page: the "cold" figure.  A server
 * running many runs keeps its heap; the steady-state figures model that by
 * turning trimming off, as such a server would (mallopt). */
static void bench_w2(void) {
  json_t *json = json_loads(w2_spec, 0, NULL);
  art_spec *spec;
  art_error err;
  art_spec_options opts = {.outbox = "/dev/null"};
  if (!json || art_spec_parse(&spec, json, "w2", NULL, &opts, &err) < 0) exit(1);
  const int runs = 300;
  double per_step, first, last;
  w2_figures(spec, runs, &per_step, &first, &last);
  printf("W2_cold_pages_us_per_step %.3f us\n", per_step);
  printf("W2_cold_pages_last100_vs_first100 %.2f ratio\n", last / first);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  for (int i = 0; i < 20; i++) run_once(spec, ART_STOP_SUCCESS);
  w2_figures(spec, runs, &per_step, &first, &last);
  printf("W2_us_per_step %.3f us\n", per_step);
  printf("W2_first100_us_per_step %.3f us\n", first);
  printf("W2_last100_us_per_step %.3f us\n", last);
  printf("W2_last100_vs_first100 %.2f ratio\n", last / first);
  art_spec_free(spec);
  json_decref(json);
}

static void bench_demo_process(void) {
  const int runs = 50;
  double t0 = now_s();
  for (int i = 0; i < runs; i++) {
    pid_t pid = fork();
    if (pid == 0) {
      int null = open("/dev/null", O_WRONLY);
      dup2(null, 1);
      if (chdir("/tmp") != 0) _exit(127);
      execl(AGENTRT_CLI, "agentrt", "demo", "--outbox", "/dev/null", (char *)NULL);
      _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "bench: agentrt demo failed\n");
      exit(1);
    }
  }
  printf("demo_process_ms %.3f ms\n", (now_s() - t0) / runs * 1e3);
}

/* A tool_result row's fields as a journal holds them (about 220 bytes). */
static const char *journal_row =
    "{\"latency_us\":15,\"call_id\":1,\"tool\":\"lookup_policy\",\"status\":\"ok\","
    "\"data\":{\"policy_id\":\"reply-policy-v1\",\"text\":\"Customer replies may be drafted "
    "freely; sending a message to a customer requires approval.\"},\"observation\":\"obs_1\"}";

/* µs per parse of journal_row over `runs` parses, by ours or by jansson's. */
static double json_parse_us(bool jansson, int runs) {
  size_t len = strlen(journal_row);
  double t0 = now_s();
  for (int i = 0; i < runs; i++) {
    json_t *v = jansson ? json_loadb(journal_row, len, JSON_DECODE_ANY, NULL)
                        : art_json_parse(journal_row, len, NULL);
    if (!v) {
      fprintf(stderr, "bench: the journal row did not parse\n");
      exit(1);
    }
    json_decref(v);
  }
  return (now_s() - t0) / runs * 1e6;
}

/* The two parsers take turns, so that both see the same machine. */
static void bench_json_parse(void) {
  const int runs = 200000, rounds = 5;
  double ours = 0, theirs = 0;
  json_parse_us(false, runs / 10);
  json_parse_us(true, runs / 10);
  for (int i = 0; i < rounds; i++) {
    ours += json_parse_us(false, runs);
    theirs += json_parse_us(true, runs);
  }
  printf("json_parse_us %.3f us\n", ours / rounds);
  printf("json_parse_vs_jansson %.2f ratio\n", theirs / ours);
}

int main(void) {
  bench_w1();
  bench_w2();
  bench_demo_process();
  bench_json_parse();
  return 0;
}
