/* The tool registry, and command tools declared in a spec driven by a run:
 * ok, non-zero exit, text output, timeout. */
#include <string.h>

#include "agentrt.h"
#include "testutil.h"

static int echo_tool(void *ud, const art_tool_call *call, art_tool_result *r) {
  (*(int *)ud)++;
  art_tool_result_set(r, ART_RESULT_OK, json_deep_copy(call->input), NULL);
  return 0;
}

static int oom_tool(void *ud, const art_tool_call *call, art_tool_result *r) {
  (void)ud, (void)call, (void)r;
  return ART_ENOMEM;
}

static void registry_keeps_tools_sorted_and_checks_them(void **state) {
  (void)state;
  art_registry *reg;
  art_error err = {0};
  int calls = 0;
  assert_int_equal(art_registry_new(&reg, NULL), 0);
  json_t *schema = json_pack("{s:s, s:{s:{s:s}}, s:[s]}", "type", "object", "properties", "q",
                             "type", "string", "required", "q");
  art_tool_def zeta = {.name = "zeta",
                       .side_effect = ART_SIDE_WRITE,
                       .fn = echo_tool,
                       .ud = &calls,
                       .input_schema = schema,
                       .owner = "team",
                       .version = "2"};
  art_tool_def alpha = {.name = "alpha", .side_effect = ART_SIDE_READ, .fn = oom_tool};
  assert_int_equal(art_registry_add(reg, &zeta, &err), 0);
  assert_int_equal(art_registry_add(reg, &alpha, &err), 0);
  assert_string_equal(art_tool_name(art_registry_at(reg, 0)), "alpha");
  assert_string_equal(art_tool_name(art_registry_at(reg, 1)), "zeta");
  const art_tool *z = art_registry_find(reg, "zeta");
  assert_false(art_tool_idempotent(z));
  assert_true(art_tool_idempotent(art_registry_find(reg, "alpha"))); /* reads are idempotent */
  assert_string_equal(art_tool_owner(z), "team");
  assert_string_equal(art_tool_version(z), "2");
  assert_null(art_tool_owner(art_registry_find(reg, "alpha"))); /* none given: none */
  assert_null(art_tool_version(art_registry_find(reg, "alpha")));
  assert_null(art_registry_find(reg, "beta"));

  assert_int_equal(art_registry_add(reg, &zeta, &err), ART_EINVAL);
  assert_non_null(strstr(err.message, "registered twice"));
  art_tool_def nameless = {.name = "", .fn = echo_tool};
  assert_int_equal(art_registry_add(reg, &nameless, &err), ART_EINVAL);
  art_tool_def odd = {.name = "odd", .side_effect = (art_side_effect)3, .fn = echo_tool};
  assert_int_equal(art_registry_add(reg, &odd, &err), ART_EINVAL);
  assert_non_null(strstr(err.message, "not read, draft or write"));
  art_tool_def neither = {.name = "x"};
  assert_int_equal(art_registry_add(reg, &neither, &err), ART_EINVAL);
  assert_non_null(strstr(err.message, "has no function"));
  assert_int_equal(art_registry_add_command(reg, &neither, (const char *const[]){NULL}, 0, &err),
                   ART_EINVAL);
  assert_non_null(strstr(err.message, "empty command"));
  json_t *bad_schema = json_pack("{s:s}", "type", "no-such-type");
  art_tool_def bad = {.name = "bad", .fn = echo_tool, .input_schema = bad_schema};
  assert_int_equal(art_registry_add(reg, &bad, &err), ART_EINVAL);
  assert_non_null(strstr(err.message, "bad input schema"));

  char why[128];
  json_t *ok = json_pack("{s:s}", "q", "x"), *wrong = json_pack("{s:i}", "q", 1),
         *arr = json_array();
  assert_int_equal(art_tool_check_input(z, ok, why, sizeof why), 0);
  assert_int_equal(art_tool_check_input(z, wrong, why, sizeof why), ART_EINVAL);
  assert_int_equal(art_tool_check_input(z, arr, why, sizeof why), ART_EINVAL);
  assert_string_equal(why, "tool input is not a JSON object");

  art_tool_call call = {.id = 1, .step = 1, .run_id = "r", .tool = "zeta", .input = ok};
  art_tool_result r = {0};
  assert_int_equal(art_tool_invoke(z, &call, &r), 0);
  assert_int_equal(calls, 1);
  assert_true(json_equal(r.data, ok));
  assert_int_equal(art_tool_invoke(art_registry_find(reg, "alpha"), &call, &r), 0);
  assert_int_equal(r.status, ART_RESULT_ERROR);
  assert_string_equal(r.message, "ART_ENOMEM");
  art_tool_result_dispose(&r);
  json_decref(ok), json_decref(wrong), json_decref(arr), json_decref(schema),
      json_decref(bad_schema);
  art_registry_free(reg);
}

/* Run a one-tool spec whose tool is a command; returns the run's stop reason. */
static art_stop_reason run_command_tool(const char *command_json, int timeout_ms, char *detail,
                                        size_t size) {
  char text[2048];
  snprintf(
      text, sizeof text,
      "{\"goal\":\"g\",\"tools\":[{\"name\":\"cmd\",\"side_effect\":\"read\",\"timeout_ms\":%d,"
      "\"command\":%s}],\"model\":{\"type\":\"scripted\",\"decisions\":["
      "{\"type\":\"tool\",\"name\":\"cmd\",\"input\":{\"n\":1}},{\"type\":\"answer\",\"text\":"
      "\"ok\"}]}}",
      timeout_ms, command_json);
  art_spec *spec;
  art_model *model;
  art_run *run;
  art_error err;
  if (art_spec_load(&spec, tu_write("cmd.json", text), NULL, &err) < 0) fail_msg("%s", err.message);
  assert_int_equal(art_model_new(&model, spec, &err), 0);
  assert_int_equal(art_run_new(&run, spec, tu_run_options(spec)), 0);
  assert_int_equal(art_run_until_stop(run, model), 0);
  art_stop_reason stop = art_run_stop_reason(run);
  snprintf(detail, size, "%s", art_run_stop_detail(run));
  art_run_free(run);
  art_model_free(model);
  art_spec_free(spec);
  return stop;
}

static void command_tools_in_a_run(void **state) {
  (void)state;
  char detail[512];
  assert_int_equal(run_command_tool("[\"cat\"]", 5000, detail, sizeof detail), ART_STOP_SUCCESS);
  assert_int_equal(run_command_tool("[\"sh\",\"-c\",\"echo no such customer >&2; exit 3\"]", 5000,
                                    detail, sizeof detail),
                   ART_STOP_TOOL_FAILURE);
  assert_non_null(strstr(detail, "exit status 3"));
  assert_non_null(strstr(detail, "no such customer"));
  /* Text and objects that only have a "status" of their own are data. */
  assert_int_equal(run_command_tool("[\"echo\",\"not json\"]", 5000, detail, sizeof detail),
                   ART_STOP_SUCCESS);
  assert_int_equal(
      run_command_tool("[\"echo\",\"{\\\"status\\\":\\\"shipped\\\",\\\"eta\\\":\\\"tomorrow\\\"}\"]",
                       5000, detail, sizeof detail),
      ART_STOP_SUCCESS);
  assert_int_equal(run_command_tool("[\"sleep\",\"10\"]", 200, detail, sizeof detail),
                   ART_STOP_TOOL_FAILURE);
  assert_non_null(strstr(detail, "timeout"));
  assert_int_equal(
      run_command_tool(
          "[\"echo\",\"{\\\"status\\\":\\\"refused\\\",\\\"message\\\":\\\"not mine\\\"}\"]", 5000,
          detail, sizeof detail),
      ART_STOP_REFUSED);
  assert_string_equal(detail, "not mine");
  assert_int_equal(run_command_tool("[\"/nonexistent/tool\"]", 5000, detail, sizeof detail),
                   ART_STOP_TOOL_FAILURE);
  assert_non_null(strstr(detail, "cannot run"));
  /* Bytes that are not UTF-8 on stderr still make a valid trace. */
  assert_int_equal(run_command_tool("[\"sh\",\"-c\",\"printf 'bad \\\\377 byte' >&2; exit 1\"]",
                                    5000, detail, sizeof detail),
                   ART_STOP_TOOL_FAILURE);
  assert_non_null(strstr(detail, "bad ? byte"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(registry_keeps_tools_sorted_and_checks_them),
      cmocka_unit_test(command_tools_in_a_run),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
