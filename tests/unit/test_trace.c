/* Trace: JSONL events, span ids, sinks, and redaction before any sink. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentrt.h"
#include "testutil.h"

static art_spec *load(const char *name, const char *text) {
  art_spec *spec;
  art_error err = {0};
  art_spec_options opts = {.outbox = tu_path("outbox.jsonl")};
  if (art_spec_load(&spec, tu_write(name, text), &opts, &err) < 0) fail_msg("%s", err.message);
  return spec;
}

/* Runs `spec` with a JSONL sink on `trace_name`; returns the run (caller frees). */
static art_run *run_to_file(art_spec *spec, const char *trace_name) {
  art_model *model;
  art_run *run;
  art_error err;
  FILE *f = fopen(tu_path(trace_name), "w");
  assert_non_null(f);
  assert_int_equal(art_model_new(&model, spec, &err), 0);
  assert_int_equal(art_run_new(&run, spec, tu_run_options(spec)), 0);
  art_sink sink = art_jsonl_sink(f);
  assert_int_equal(art_run_add_sink(run, &sink), 0);
  assert_int_equal(art_run_until_stop(run, model), 0);
  art_model_free(model);
  fclose(f);
  return run;
}

static const char *secret_spec =
    "{\"run_id\":\"secrets\",\"goal\":\"g\","
    "\"redact\":{\"keys\":[\"api_key\",\"password\"],\"patterns\":[\"sk-[A-Za-z0-9]+\"]},"
    "\"tools\":[{\"name\":\"echo\",\"side_effect\":\"read\",\"command\":[\"cat\"]}],"
    "\"model\":{\"type\":\"scripted\",\"decisions\":["
    "{\"type\":\"tool\",\"name\":\"echo\",\"input\":{\"api_key\":\"AKIA-raw-key\","
    "\"note\":\"use sk-other999 "
    "please\",\"nested\":{\"PassWord\":\"hunter2\"},\"list\":[\"sk-inlist1\"],"
    "\"visible\":\"keep me\"}},"
    "{\"type\":\"answer\",\"text\":\"done with sk-final777\"}]}}";

static void assert_no_secrets(const char *text) {
  const char *secrets[] = {"AKIA-raw-key", "sk-other999", "hunter2", "sk-inlist1", "sk-final777"};
  for (size_t i = 0; i < sizeof secrets / sizeof *secrets; i++)
    if (strstr(text, secrets[i])) fail_msg("secret %s leaked into:\n%s", secrets[i], text);
}

static void secrets_never_reach_the_trace_file(void **state) {
  (void)state;
  art_spec *spec = load("secrets.json", secret_spec);
  art_run *run = run_to_file(spec, "secrets.jsonl");
  assert_int_equal(art_run_stop_reason(run), ART_STOP_SUCCESS);
  char *trace = tu_read(tu_path("secrets.jsonl"));
  assert_no_secrets(trace);
  assert_non_null(strstr(trace, "[REDACTED]"));
  /* An operator still sees what happened: the tool, the untouched fields. */
  assert_non_null(strstr(trace, "\"tool\":\"echo\""));
  assert_non_null(strstr(trace, "keep me"));
  assert_non_null(strstr(trace, "use [REDACTED] please"));
  free(trace);
  /* The tool itself got the real input (it echoed it back as data)... */
  const art_observation *o = art_run_observation(run, 0);
  assert_string_equal(json_string_value(json_object_get(o->data, "api_key")), "AKIA-raw-key");
  /* ...but the result object (what --json prints) is redacted too. */
  json_t *result = art_run_result_json(run);
  char *text = json_dumps(result, 0);
  assert_no_secrets(text);
  free(text);
  json_decref(result);
  art_run_free(run);
  art_spec_free(spec);
}

static void jsonl_lines_are_complete_events(void **state) {
  (void)state;
  art_spec *spec =
      load("demo.json", "{\"run_id\":\"j1\",\"goal\":\"g\",\"tools\":[\"lookup_policy\"],"
                        "\"model\":{\"type\":\"scripted\",\"decisions\":["
                        "{\"type\":\"tool\",\"name\":\"lookup_policy\",\"input\":{\"task\":\"t\"},"
                        "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3}},"
                        "{\"type\":\"answer\",\"text\":\"ok\"}]}}");
  art_run *run = run_to_file(spec, "j1.jsonl");
  char *text = tu_read(tu_path("j1.jsonl"));
  int lines = 0;
  const char *trace_id = NULL;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), lines++) {
    json_t *ev = json_loads(line, 0, NULL);
    assert_non_null(ev);
    assert_string_equal(json_string_value(json_object_get(ev, "run_id")), "j1");
    assert_int_equal(json_integer_value(json_object_get(ev, "seq")), lines + 1);
    assert_true(json_integer_value(json_object_get(ev, "ts_us")) > 0);
    assert_true(json_is_integer(json_object_get(ev, "latency_us")));
    assert_int_equal(strlen(json_string_value(json_object_get(ev, "span_id"))), 16);
    const char *tid = json_string_value(json_object_get(ev, "trace_id"));
    assert_int_equal(strlen(tid), 32);
    if (!trace_id) trace_id = strdup(tid);
    assert_string_equal(trace_id, tid);
    if (strcmp(json_string_value(json_object_get(ev, "type")), "decision") == 0 && lines == 2) {
      json_t *cost = json_object_get(ev, "cost");
      assert_int_equal(json_integer_value(json_object_get(cost, "prompt_tokens")), 12);
      assert_int_equal(json_integer_value(json_object_get(cost, "completion_tokens")), 3);
    }
    json_decref(ev);
  }
  assert_int_equal(lines, (int)art_run_event_count(run));
  free((void *)trace_id);
  free(text);
  art_run_free(run);
  art_spec_free(spec);
}

static int failing_write(void *ud, const art_run *run, const art_event *ev) {
  (void)run;
  int *budget = ud;
  return ev->seq > (uint32_t)*budget ? ART_EIO : 0;
}

static int closed;
static void count_close(void *ud) { (void)ud, closed++; }
static const char *disk_full(void *ud) { return (void)ud, "the disk is full"; }

static void a_failing_sink_stops_the_run(void **state) {
  (void)state;
  art_spec *spec =
      load("s.json", "{\"goal\":\"g\",\"tools\":[\"lookup_policy\"],"
                     "\"model\":{\"type\":\"scripted\",\"decisions\":["
                     "{\"type\":\"tool\",\"name\":\"lookup_policy\",\"input\":{\"task\":\"t\"}},"
                     "{\"type\":\"answer\",\"text\":\"ok\"}]}}");
  art_model *model;
  art_run *run;
  art_error err;
  int budget = 3;
  assert_int_equal(art_model_new(&model, spec, &err), 0);
  assert_int_equal(art_run_new(&run, spec, tu_run_options(spec)), 0);
  art_sink sink = {ART_SINK_VERSION, failing_write, count_close, &budget, NULL, disk_full};
  art_sink bad = {99, failing_write, count_close, &budget, NULL, NULL};
  assert_int_equal(art_run_add_sink(run, &bad), ART_EINVAL);
  assert_string_equal(art_run_errmsg(run), "sink version 99 is not supported (expected 3)");
  assert_int_equal(closed, 1);
  assert_int_equal(art_run_add_sink(run, &sink), 0);
  assert_int_equal(art_run_until_stop(run, model), ART_EIO);
  assert_non_null(strstr(art_run_errmsg(run), "trace sink failed at event 4"));
  assert_non_null(strstr(art_run_errmsg(run), ": the disk is full")); /* the sink's why */
  const art_action *act;
  assert_int_equal(art_run_next(run, 1, &act), ART_ESTATE);
  art_sink late = {ART_SINK_VERSION, failing_write, count_close, &budget, NULL, NULL};
  assert_int_equal(art_run_add_sink(run, &late), ART_ESTATE); /* it would miss events */
  assert_int_equal(closed, 2);
  art_run_free(run);
  assert_int_equal(closed, 3);
  art_model_free(model);
  art_spec_free(spec);
}

static art_redactor *redactor(const char *const *keys, const char *const *patterns) {
  art_redactor *r;
  art_error err;
  assert_int_equal(art_redactor_new(&r, keys, patterns, NULL, &err), 0);
  return r;
}

static void redaction_rules(void **state) {
  (void)state;
  const char *patterns[] = {"sk-[a-z0-9]+", "x*", NULL};
  art_redactor *r = redactor(NULL, patterns);
  json_t *clean = json_pack("{s:s, s:[i]}", "a", "plain", "b", 1);
  json_t *same = art_redact_json(r, clean);
  assert_ptr_equal(same, clean); /* nothing to redact: no copy */
  json_decref(same);
  json_t *dirty = json_pack("{s:s, s:s, s:s, s:{s:s}}", "TOKEN", "t0k", "Authorization", "Bearer z",
                            "msg", "a sk-1 b sk-22 c", "in", "secret", "s");
  json_t *out = art_redact_json(r, dirty);
  assert_ptr_not_equal(out, dirty);
  assert_string_equal(json_string_value(json_object_get(out, "TOKEN")), "[REDACTED]");
  assert_string_equal(json_string_value(json_object_get(out, "Authorization")), "[REDACTED]");
  assert_string_equal(json_string_value(json_object_get(out, "msg")),
                      "a [REDACTED] b [REDACTED] c");
  assert_string_equal(json_string_value(json_object_get(json_object_get(out, "in"), "secret")),
                      "[REDACTED]");
  assert_string_equal(json_string_value(json_object_get(dirty, "TOKEN")),
                      "t0k"); /* input untouched */
  bool copied;
  assert_ptr_equal(art_redact_text(r, "nothing here", art_default_allocator(), &copied),
                   "nothing here");
  assert_false(copied);
  char *t = art_redact_text(r, "key sk-abc", art_default_allocator(), &copied);
  assert_true(copied);
  assert_string_equal(t, "key [REDACTED]");
  free(t);
  json_decref(clean), json_decref(dirty), json_decref(out);
  art_redactor_free(r);

  const char *keys[] = {"ssn", NULL};
  r = redactor(keys, NULL); /* given keys replace the defaults */
  dirty = json_pack("{s:s, s:s}", "ssn", "123", "token", "visible");
  out = art_redact_json(r, dirty);
  assert_string_equal(json_string_value(json_object_get(out, "ssn")), "[REDACTED]");
  assert_string_equal(json_string_value(json_object_get(out, "token")), "visible");
  json_decref(dirty), json_decref(out);
  art_redactor_free(r);

  /* Keys matching a pattern, and strings with a NUL inside, are redacted too. */
  const char *sk[] = {"sk-[a-z0-9]+", NULL};
  r = redactor(NULL, sk);
  dirty = json_loads("{\"sk-abcdef\":1,\"nul\":\"ok\\u0000sk-hidden\"}", JSON_ALLOW_NUL, NULL);
  assert_non_null(dirty);
  out = art_redact_json(r, dirty);
  char *text = json_dumps(out, JSON_SORT_KEYS);
  assert_string_equal(text, "{\"[REDACTED]\": 1, \"nul\": \"[REDACTED]\"}");
  free(text);
  json_decref(dirty), json_decref(out);
  art_redactor_free(r);

  art_error err;
  const char *explosive[] = {"(a{100}){100}", NULL};
  assert_int_equal(art_redactor_new(&r, NULL, explosive, NULL, &err), ART_EINVAL);
  assert_non_null(strstr(err.message, "too complex"));

  const char *bad[] = {"([", NULL};
  assert_int_equal(art_redactor_new(&r, NULL, bad, NULL, &err), ART_EINVAL);
  assert_non_null(strstr(err.message, "bad redaction pattern"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(secrets_never_reach_the_trace_file),
      cmocka_unit_test(jsonl_lines_are_complete_events),
      cmocka_unit_test(a_failing_sink_stops_the_run),
      cmocka_unit_test(redaction_rules),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
