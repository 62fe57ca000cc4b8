/* JSON-RPC 2.0 lines (tool/jsonrpc.h): framing bytes into lines, telling
 * requests, notifications, results and errors apart, and saying precisely why
 * a line is none of them. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tool/jsonrpc.h"

static void parse_ok(const char *line, art_rpc_kind kind, art_rpc_message *m) {
  char why[200] = "";
  int rc = art_rpc_parse(line, strlen(line), m, why, sizeof why);
  if (rc != 0) fail_msg("%s: %s", line, why);
  assert_int_equal(m->kind, kind);
}

static void parse_bad(const char *line, const char *why_part) {
  char why[200] = "";
  art_rpc_message m;
  assert_int_equal(art_rpc_parse(line, strlen(line), &m, why, sizeof why), ART_EINVAL);
  if (!strstr(why, why_part)) fail_msg("%s: expected \"%s\" in \"%s\"", line, why_part, why);
  assert_null(m.json);
}

static void test_kinds(void **state) {
  (void)state;
  art_rpc_message m;
  parse_ok("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"roots/list\",\"params\":{}}", ART_RPC_REQUEST,
           &m);
  assert_string_equal(m.method, "roots/list");
  assert_true(art_rpc_id_is(m.id, 7));
  art_rpc_message_dispose(&m);
  parse_ok("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}", ART_RPC_NOTIFICATION, &m);
  assert_null(m.id);
  art_rpc_message_dispose(&m);
  parse_ok("{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"result\":{\"x\":1}}", ART_RPC_RESULT, &m);
  assert_false(art_rpc_id_is(m.id, 1));
  assert_int_equal(json_integer_value(json_object_get(m.result, "x")), 1);
  art_rpc_message_dispose(&m);
  parse_ok("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"Parse "
           "error\",\"data\":5}}",
           ART_RPC_ERROR, &m);
  assert_int_equal(m.error_code, -32700);
  assert_string_equal(m.error_message, "Parse error");
  assert_non_null(m.error_data);
  art_rpc_message_dispose(&m);
}

static void test_bad_messages(void **state) {
  (void)state;
  parse_bad("hello", "not JSON: ");
  parse_bad("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}} trailing", "not JSON: ");
  parse_bad("[1,2]", "batches are not supported");
  parse_bad("42", "not an object");
  parse_bad("{\"id\":1,\"result\":{}}", "\"jsonrpc\" is not \"2.0\"");
  parse_bad("{\"jsonrpc\":\"1.0\",\"id\":1,\"result\":{}}", "\"jsonrpc\" is not \"2.0\"");
  parse_bad("{\"jsonrpc\":\"2.0\",\"method\":5}", "\"method\" is not a string");
  parse_bad("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":1.5}", "\"id\" is not a string");
  parse_bad("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":3}", "\"params\" is not an object");
  parse_bad("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"result\":3}", "cannot carry");
  parse_bad("{\"jsonrpc\":\"2.0\",\"result\":{}}", "no \"method\" and no \"id\"");
  parse_bad("{\"jsonrpc\":\"2.0\",\"id\":1}", "needs \"result\" or \"error\"");
  parse_bad("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1,\"error\":{}}", "both");
  parse_bad("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":3}", "\"error\" is not an object");
  parse_bad("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"message\":\"m\"}}",
            "\"error.code\" is not an integer");
  parse_bad("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1}}",
            "\"error.message\" is not a string");
  parse_bad("{\"jsonrpc\":\"2.0\",\"id\":true,\"error\":{\"code\":1,\"message\":\"m\"}}",
            "\"id\" is not a string, an integer or null");
  parse_bad("{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":{}}", "\"id\" is not a string");
  parse_bad("{\"jsonrpc\":\"2.0\",\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}", "not JSON: ");
}

static void test_lines(void **state) {
  (void)state;
  art_line_buffer b;
  const char *line;
  size_t len;
  art_line_buffer_init(&b, NULL, 16);
  assert_int_equal(art_line_buffer_append(&b, "one\r\ntw", 7), 0);
  assert_int_equal(art_line_buffer_next(&b, &line, &len), 1);
  assert_string_equal(line, "one");
  assert_int_equal(len, 3);
  assert_int_equal(art_line_buffer_next(&b, &line, &len), 0);
  assert_true(art_line_buffer_partial(&b));
  assert_int_equal(art_line_buffer_append(&b, "o\n\nthree\n", 9), 0);
  assert_int_equal(art_line_buffer_next(&b, &line, &len), 1);
  assert_string_equal(line, "two");
  assert_int_equal(art_line_buffer_next(&b, &line, &len), 1);
  assert_string_equal(line, "");
  assert_int_equal(art_line_buffer_next(&b, &line, &len), 1);
  assert_string_equal(line, "three");
  assert_false(art_line_buffer_partial(&b));
  /* Whole lines may be long in total; one unfinished line may not. */
  assert_int_equal(art_line_buffer_append(&b, "0123456789abcdef\n0123456789", 27), 0);
  assert_int_equal(art_line_buffer_append(&b, "abcdefXYZ", 9), ART_EINVAL);
  art_line_buffer_dispose(&b);
}

static void test_lines_survive_allocation_failure(void **state) {
  (void)state;
  tu_alloc t;
  tu_alloc_init(&t, 1);
  art_line_buffer b;
  art_line_buffer_init(&b, &t.a, 1024);
  assert_int_equal(art_line_buffer_append(&b, "x\n", 2), ART_ENOMEM);
  art_line_buffer_dispose(&b);
  assert_int_equal(t.live, 0);
}

static void test_encoding(void **state) {
  (void)state;
  char *line;
  size_t len;
  json_t *req = art_rpc_request(3, "tools/call", json_pack("{s:s}", "name", "echo"));
  assert_int_equal(art_rpc_encode(req, NULL, &line, &len), 0);
  assert_int_equal(line[len - 1], '\n');
  art_rpc_message m;
  char why[100];
  assert_int_equal(art_rpc_parse(line, len - 1, &m, why, sizeof why), 0);
  assert_int_equal(m.kind, ART_RPC_REQUEST);
  assert_true(art_rpc_id_is(m.id, 3));
  art_rpc_message_dispose(&m);
  free(line);
  json_decref(req);
  json_t *note = art_rpc_request(-1, "notifications/initialized", NULL);
  assert_null(json_object_get(note, "id"));
  json_decref(note);
  json_t *id = json_string("s-1");
  json_t *refusal = art_rpc_error_response(id, ART_RPC_METHOD_NOT_FOUND, "Method not found: x");
  assert_int_equal(json_integer_value(json_object_get(json_object_get(refusal, "error"), "code")),
                   -32601);
  assert_string_equal(json_string_value(json_object_get(refusal, "id")), "s-1");
  json_decref(refusal);
  json_decref(id);
  assert_string_equal(art_rpc_kind_name(ART_RPC_ERROR), "error");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kinds),
      cmocka_unit_test(test_bad_messages),
      cmocka_unit_test(test_lines),
      cmocka_unit_test(test_lines_survive_allocation_failure),
      cmocka_unit_test(test_encoding),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
