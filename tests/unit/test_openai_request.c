/* The chat-completions request (model/openai_request.h): what the model is
 * shown and offered, and the repair round. */
#include <string.h>

#include "agentrt.h"
#include "model/openai_request.h"
#include "testutil.h"

static art_registry *registry(void) {
  art_registry *reg;
  art_error err;
  json_t *schema = json_loads("{\"type\":\"object\",\"properties\":{\"q\":{\"type\":\"string\"}}}", 0, NULL);
  art_tool_def with_schema = {.name = "search", .description = "search the web",
                              .input_schema = schema};
  art_tool_def without = {.name = "clock"};
  const char *const argv[] = {"true", NULL};
  assert_int_equal(art_registry_new(&reg, NULL), 0);
  assert_int_equal(art_registry_add_command(reg, &with_schema, argv, 0, &err), 0);
  assert_int_equal(art_registry_add_command(reg, &without, argv, 0, &err), 0);
  json_decref(schema);
  return reg;
}

static json_t *request_for(art_registry *reg, size_t n_tools, double temperature) {
  const art_tool *tools[] = {art_registry_find(reg, "clock"), art_registry_find(reg, "search")};
  art_memory_item mem = {.id = "mem_1", .scope = ART_SCOPE_TASK, .text = "prefers email"};
  const art_memory_item *memory[] = {&mem};
  art_context ctx = {.run_id = "r1", .goal = "find the refund policy", .step = 2, .max_steps = 5,
                     .tools = tools, .n_tools = n_tools, .memory = memory, .n_memory = 1};
  json_t *req = art_oai_request("gpt-test", temperature, &ctx);
  assert_non_null(req);
  return req;
}

static const json_t *function_named(const json_t *req, const char *name) {
  size_t i;
  const json_t *t;
  json_array_foreach(json_object_get(req, "tools"), i, t) {
    const json_t *fn = json_object_get(t, "function");
    if (strcmp(json_string_value(json_object_get(fn, "name")), name) == 0) return fn;
  }
  return NULL;
}

static void request_has_model_messages_and_tools(void **state) {
  (void)state;
  art_registry *reg = registry();
  json_t *req = request_for(reg, 2, 0.2);
  assert_string_equal(json_string_value(json_object_get(req, "model")), "gpt-test");
  assert_true(json_real_value(json_object_get(req, "temperature")) == 0.2);
  const json_t *messages = json_object_get(req, "messages");
  assert_int_equal(json_array_size(messages), 2);
  const char *system = json_string_value(json_object_get(json_array_get(messages, 0), "content"));
  assert_non_null(strstr(system, "Goal: find the refund policy"));
  assert_non_null(strstr(system, "\"state_summary\":\"step 2 of 5"));
  assert_non_null(strstr(system, "prefers email"));
  assert_null(strstr(system, "\"tools\""));
  assert_int_equal(json_array_size(json_object_get(req, "tools")), 4);
  const json_t *search = function_named(req, "search");
  assert_string_equal(json_string_value(json_object_get(search, "description")), "search the web");
  assert_non_null(json_object_get(json_object_get(json_object_get(search, "parameters"), "properties"), "q"));
  const json_t *clock = function_named(req, "clock");
  assert_string_equal(json_string_value(json_object_get(json_object_get(clock, "parameters"), "type")), "object");
  const json_t *ask = function_named(req, "ask_human");
  assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(ask, "parameters"), "required"), 0)), "question");
  assert_non_null(function_named(req, "stop"));
  json_decref(req);
  art_registry_free(reg);
}

static void only_disclosed_tools_and_no_temperature_when_unset(void **state) {
  (void)state;
  art_registry *reg = registry();
  json_t *req = request_for(reg, 1, -1);
  assert_null(json_object_get(req, "temperature"));
  assert_non_null(function_named(req, "clock"));
  assert_null(function_named(req, "search"));
  json_decref(req);
  art_registry_free(reg);
}

static void repair_answers_every_tool_call(void **state) {
  (void)state;
  art_registry *reg = registry();
  json_t *req = request_for(reg, 2, -1);
  json_t *message = json_loads(
      "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"a\",\"type\":\"function\","
      "\"function\":{\"name\":\"search\",\"arguments\":\"{\"}},{\"id\":\"b\",\"type\":\"function\","
      "\"function\":{\"name\":\"clock\",\"arguments\":\"{}\"}}]}",
      0, NULL);
  assert_int_equal(art_oai_add_repair(req, message, "arguments are not JSON"), 0);
  const json_t *messages = json_object_get(req, "messages");
  assert_int_equal(json_array_size(messages), 5);
  assert_true(json_equal(json_array_get(messages, 2), message));
  const json_t *first = json_array_get(messages, 3), *second = json_array_get(messages, 4);
  assert_string_equal(json_string_value(json_object_get(first, "role")), "tool");
  assert_string_equal(json_string_value(json_object_get(first, "tool_call_id")), "a");
  assert_non_null(strstr(json_string_value(json_object_get(first, "content")), "arguments are not JSON"));
  assert_string_equal(json_string_value(json_object_get(second, "tool_call_id")), "b");
  assert_non_null(strstr(json_string_value(json_object_get(second, "content")), "ignored"));
  json_decref(message);
  json_decref(req);
  art_registry_free(reg);
}

static void repair_of_a_text_reply_is_a_user_message(void **state) {
  (void)state;
  art_registry *reg = registry();
  json_t *req = request_for(reg, 2, -1);
  json_t *message = json_loads("{\"role\":\"assistant\",\"content\":\"\"}", 0, NULL);
  assert_int_equal(art_oai_add_repair(req, message, "no text"), 0);
  const json_t *last = json_array_get(json_object_get(req, "messages"), 3);
  assert_string_equal(json_string_value(json_object_get(last, "role")), "user");
  assert_non_null(strstr(json_string_value(json_object_get(last, "content")), "no text"));
  json_decref(message);
  json_decref(req);
  art_registry_free(reg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(request_has_model_messages_and_tools),
      cmocka_unit_test(only_disclosed_tools_and_no_temperature_when_unset),
      cmocka_unit_test(repair_answers_every_tool_call),
      cmocka_unit_test(repair_of_a_text_reply_is_a_user_message),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
