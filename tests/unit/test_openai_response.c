/* Reading chat-completions responses (model/openai_response.h): replies,
 * error bodies, and the decision a reply amounts to. */
#include <string.h>

#include "agentrt.h"
#include "model/openai_response.h"
#include "testutil.h"

typedef struct fixture {
  art_registry *reg;
  const art_tool *tools[1];
  art_context ctx;
  art_oai_reply reply;
  art_decision d;
  json_t *args;
  char problem[512];
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  json_t *schema = json_loads("{\"type\":\"object\",\"properties\":{\"task\":{\"type\":\"string\"}},"
                              "\"required\":[\"task\"]}",
                              0, NULL);
  art_tool_def def = {.name = "lookup", .input_schema = schema};
  art_error err;
  assert_int_equal(art_registry_new(&f->reg, NULL), 0);
  assert_int_equal(art_registry_add_command(f->reg, &def, (const char *const[]){"true", NULL}, 0, &err),
                   0);
  json_decref(schema);
  f->tools[0] = art_registry_find(f->reg, "lookup");
  f->ctx = (art_context){.run_id = "r", .goal = "g", .step = 1, .max_steps = 3, .tools = f->tools, .n_tools = 1};
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  art_oai_reply_dispose(&f->reply);
  json_decref(f->args);
  art_registry_free(f->reg);
  free(f);
  return 0;
}

/* Parse `body` (must be a chat completion) and read its decision. */
static int decide(fixture *f, const char *body) {
  char why[256];
  if (art_oai_parse_reply(body, strlen(body), &f->reply, why, sizeof why) < 0) fail_msg("%s", why);
  return art_oai_decision(&f->reply, &f->ctx, &f->d, &f->args, f->problem, sizeof f->problem);
}

static const char *call_body(const char *name, const char *args) {
  static char body[1024];
  snprintf(body, sizeof body,
           "{\"choices\":[{\"message\":{\"content\":null,\"tool_calls\":[{\"id\":\"1\",\"type\":"
           "\"function\",\"function\":{\"name\":\"%s\",\"arguments\":\"%s\"}}]}}],"
           "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":5,\"total_tokens\":17}}",
           name, args);
  return body;
}

static void text_is_an_answer(void **state) {
  fixture *f = *state;
  assert_int_equal(decide(f, "{\"choices\":[{\"message\":{\"content\":\"42\"}}]}"), 0);
  assert_int_equal(f->d.kind, ART_DECISION_ANSWER);
  assert_string_equal(f->d.text, "42");
  assert_int_equal(f->reply.usage.prompt_tokens, 0);
}

static void tool_call_is_a_tool_decision_with_usage(void **state) {
  fixture *f = *state;
  assert_int_equal(decide(f, call_body("lookup", "{\\\"task\\\":\\\"x\\\"}")), 0);
  assert_int_equal(f->d.kind, ART_DECISION_TOOL);
  assert_string_equal(f->d.tool, "lookup");
  assert_string_equal(json_string_value(json_object_get(f->d.input, "task")), "x");
  assert_int_equal(f->reply.usage.prompt_tokens, 12);
  assert_int_equal(f->reply.usage.completion_tokens, 5);
}

static void builtins_are_ask_human_and_stop(void **state) {
  fixture *f = *state;
  assert_int_equal(decide(f, call_body("ask_human", "{\\\"question\\\":\\\"which?\\\"}")), 0);
  assert_int_equal(f->d.kind, ART_DECISION_ASK_HUMAN);
  assert_string_equal(f->d.text, "which?");
  art_oai_reply_dispose(&f->reply);
  json_decref(f->args);
  assert_int_equal(decide(f, call_body("stop", "{\\\"reason\\\":\\\"stuck\\\"}")), 0);
  assert_int_equal(f->d.kind, ART_DECISION_STOP);
  assert_string_equal(f->d.text, "stuck");
}

static void malformed_replies_say_why(void **state) {
  fixture *f = *state;
  static const struct {
    const char *name, *args, *problem;
  } cases[] = {
      {"lookup", "{task", "the arguments of lookup are not JSON"},
      {"lookup", "[1]", "the arguments of lookup are not a JSON object"},
      {"lookup", "{\\\"task\\\":1}", "do not match its parameters: $.task: expected string"},
      {"nope", "{}", "there is no function named \"nope\""},
      {"ask_human", "{}", "ask_human needs a non-empty string \"question\""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    assert_int_equal(decide(f, call_body(cases[i].name, cases[i].args)), ART_EINVAL);
    if (!strstr(f->problem, cases[i].problem))
      fail_msg("case %zu: \"%s\" does not say \"%s\"", i, f->problem, cases[i].problem);
    art_oai_reply_dispose(&f->reply);
    json_decref(f->args);
    f->args = NULL;
  }
  assert_int_equal(decide(f, "{\"choices\":[{\"message\":{\"content\":\" \"}}]}"), ART_EINVAL);
  assert_string_equal(f->problem, "the reply has neither text nor a function call");
}

static void a_malformed_decision_is_rejected_by_the_run(void **state) {
  fixture *f = *state;
  char detail[256];
  assert_int_equal(decide(f, call_body("lookup", "nope")), ART_EINVAL);
  assert_int_equal(f->d.kind, ART_DECISION_MALFORMED);
  assert_int_equal(art_decision_check(&f->d, detail, sizeof detail), ART_EINVAL);
  assert_non_null(strstr(detail, "malformed_decision: the arguments of lookup are not JSON"));
}

static void extra_tool_calls_are_listed(void **state) {
  fixture *f = *state;
  assert_int_equal(
      decide(f, "{\"choices\":[{\"message\":{\"tool_calls\":[{\"function\":{\"name\":\"lookup\","
                "\"arguments\":\"{\\\"task\\\":\\\"a\\\"}\"}},{\"function\":{\"name\":\"b\"}},"
                "{\"function\":{}}]}}]}"),
      0);
  assert_string_equal(f->d.tool, "lookup");
  assert_int_equal(f->reply.n_ignored, 2);
  assert_string_equal(f->reply.ignored[0], "b");
  assert_string_equal(f->reply.ignored[1], "");
}

static void not_a_chat_completion(void **state) {
  (void)state;
  static const struct {
    const char *body, *why;
  } cases[] = {
      {"<html>", "response is not JSON"},
      {"[]", "no \"choices\""},
      {"{\"choices\":[]}", "no \"choices\""},
      {"{\"choices\":[{}]}", "no choices[0].message object"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    art_oai_reply r;
    char why[256];
    assert_int_equal(art_oai_parse_reply(cases[i].body, strlen(cases[i].body), &r, why, sizeof why),
                     ART_EINVAL);
    assert_non_null(strstr(why, cases[i].why));
    assert_null(r.body);
  }
}

static void usage_out_of_range_is_clamped(void **state) {
  fixture *f = *state;
  assert_int_equal(decide(f, "{\"choices\":[{\"message\":{\"content\":\"a\"}}],\"usage\":"
                             "{\"prompt_tokens\":-5,\"completion_tokens\":99999999999}}"),
                   0);
  assert_int_equal(f->reply.usage.prompt_tokens, 0);
  assert_int_equal(f->reply.usage.completion_tokens, UINT32_MAX);
}

static void error_messages(void **state) {
  (void)state;
  static const struct {
    const char *body, *message;
  } cases[] = {
      {"{\"error\":{\"message\":\"Rate limit\",\"type\":\"x\"}}", "Rate limit"},
      {"{\"error\":\"overloaded\"}", "overloaded"},
      {"{\"message\":\"bad\"}", "bad"},
      {"Bad Gateway\r\n", "Bad Gateway  "},
      {"", "(empty body)"},
  };
  char out[64];
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    art_oai_error_message(cases[i].body, strlen(cases[i].body), out, sizeof out);
    assert_string_equal(out, cases[i].message);
  }
  char longer[200];
  memset(longer, 'x', sizeof longer - 1);
  longer[sizeof longer - 1] = '\0';
  art_oai_error_message(longer, strlen(longer), out, sizeof out);
  assert_int_equal(strlen(out), sizeof out - 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(text_is_an_answer, setup, teardown),
      cmocka_unit_test_setup_teardown(tool_call_is_a_tool_decision_with_usage, setup, teardown),
      cmocka_unit_test_setup_teardown(builtins_are_ask_human_and_stop, setup, teardown),
      cmocka_unit_test_setup_teardown(malformed_replies_say_why, setup, teardown),
      cmocka_unit_test_setup_teardown(a_malformed_decision_is_rejected_by_the_run, setup, teardown),
      cmocka_unit_test_setup_teardown(extra_tool_calls_are_listed, setup, teardown),
      cmocka_unit_test(not_a_chat_completion),
      cmocka_unit_test_setup_teardown(usage_out_of_range_is_clamped, setup, teardown),
      cmocka_unit_test(error_messages),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
