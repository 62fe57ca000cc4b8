/* art_schema: every keyword, the messages (JSON pointers at compile time,
 * instance paths at validation time), $ref resolution, patterns, and
 * allocation-failure injection.  The official test suite runs in
 * test_schema_suite.c.
 *
 * JSON in these tests is written with ' for " (see parse) to stay readable. */
#include <locale.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentrt/schema.h"
#include "testutil.h"

/* JSON text with ' standing for " (there is no other use of ' in these tests). */
static json_t *parse(const char *text) {
  char *copy = strdup(text);
  assert_non_null(copy);
  for (char *c = copy; *c; c++)
    if (*c == '\'') *c = '"';
  json_error_t jerr;
  json_t *json = json_loads(copy, JSON_DECODE_ANY, &jerr);
  if (!json) fail_msg("bad test JSON %s: %s", text, jerr.text);
  free(copy);
  return json;
}

static art_schema *compile(const char *schema_text) {
  json_t *json = parse(schema_text);
  art_schema *schema = NULL;
  art_error err = {0};
  int rc = art_schema_compile(&schema, json, NULL, &err);
  if (rc != 0) fail_msg("schema %s does not compile: %s", schema_text, err.message);
  json_decref(json);
  return schema;
}

/* Validate; `why` gets the message. */
static int check(const art_schema *schema, const char *instance_text, char *why, size_t size) {
  json_t *instance = parse(instance_text);
  int rc = art_schema_validate(schema, instance, why, size);
  json_decref(instance);
  return rc;
}

static void expect_valid(const char *schema_text, const char *instance_text) {
  art_schema *schema = compile(schema_text);
  char why[256];
  if (check(schema, instance_text, why, sizeof why) != 0)
    fail_msg("%s should accept %s, but: %s", schema_text, instance_text, why);
  art_schema_free(schema);
}

/* `message`: the exact message, or NULL to check only that validation fails. */
static void expect_invalid(const char *schema_text, const char *instance_text,
                           const char *message) {
  art_schema *schema = compile(schema_text);
  char why[256];
  int rc = check(schema, instance_text, why, sizeof why);
  if (rc != ART_EINVAL) fail_msg("%s should reject %s", schema_text, instance_text);
  if (message && strcmp(why, message) != 0)
    fail_msg("%s on %s:\n  expected: %s\n  got:      %s", schema_text, instance_text, message, why);
  art_schema_free(schema);
}

static void expect_compile_error(const char *schema_text, const char *message) {
  json_t *json = parse(schema_text);
  art_schema *schema = (art_schema *)&schema; /* must be reset to NULL */
  art_error err = {0};
  int rc = art_schema_compile(&schema, json, NULL, &err);
  json_decref(json);
  if (rc != ART_EINVAL) fail_msg("%s should not compile (rc %d)", schema_text, rc);
  assert_null(schema);
  if (strcmp(err.message, message) != 0)
    fail_msg("%s:\n  expected: %s\n  got:      %s", schema_text, message, err.message);
}

/* ---- the example from the tool registry ---------------------------------- */

static const char *const task_schema = "{'type':'object','properties':{'task':{'type':'string'}},"
                                       "'required':['task'],'additionalProperties':false}";

static void test_task_schema(void **state) {
  (void)state;
  expect_valid(task_schema, "{'task':'draft a reply'}");
  expect_invalid(task_schema, "{}", "$: missing required property \"task\"");
  expect_invalid(task_schema, "{'task':'x','x':1}", "$: additional property \"x\" is not allowed");
  expect_invalid(task_schema, "{'task':7}", "$.task: expected string, got integer");
  expect_invalid(task_schema, "[]", "$: expected object, got array");
}

/* ---- keywords ------------------------------------------------------------- */

static void test_type(void **state) {
  (void)state;
  expect_valid("{'type':'integer'}", "1");
  expect_valid("{'type':'integer'}", "1.0"); /* draft 7: a number with no fraction */
  expect_invalid("{'type':'integer'}", "1.5", "$: expected integer, got number");
  expect_valid("{'type':'number'}", "1");
  expect_valid("{'type':'null'}", "null");
  expect_valid("{'type':'boolean'}", "false");
  expect_invalid("{'type':'boolean'}", "0", "$: expected boolean, got integer");
  expect_valid("{'type':['string','null']}", "null");
  expect_invalid("{'type':['string','null']}", "1", "$: expected string or null, got integer");
  expect_invalid("{'type':['integer','string','array']}", "{}",
                 "$: expected array, string or integer, got object");
  expect_valid("{}", "{'anything':[1,2,3]}");
  expect_valid("{'x-unknown-keyword':{'type':'string'}}", "1");
}

static void test_numbers(void **state) {
  (void)state;
  const char *n = "{'properties':{'n':{'minimum':1,'maximum':10}}}";
  expect_valid(n, "{'n':10}");
  expect_valid(n, "{'n':1.0}");
  expect_invalid(n, "{'n':12}", "$.n: 12 is greater than the maximum 10");
  expect_invalid(n, "{'n':0.5}", "$.n: 0.5 is less than the minimum 1");
  expect_invalid("{'exclusiveMinimum':1.5}", "1.5",
                 "$: 1.5 is not greater than the exclusive minimum 1.5");
  expect_valid("{'exclusiveMinimum':1.5}", "1.6");
  expect_invalid("{'exclusiveMaximum':3}", "3", "$: 3 is not less than the exclusive maximum 3");
  expect_valid("{'exclusiveMaximum':3}", "2.999");
  expect_valid("{'multipleOf':2}", "10");
  expect_invalid("{'multipleOf':2}", "7", "$: 7 is not a multiple of 2");
  expect_valid("{'multipleOf':0.0001}", "0.0075");
  expect_valid("{'multipleOf':0.01}", "19.99");
  expect_invalid("{'multipleOf':0.0001}", "0.00751", NULL);
  expect_invalid("{'multipleOf':0.123456789}", "1e308", NULL);              /* quotient overflows */
  expect_invalid("{'maximum':9007199254740992}", "9007199254740993", NULL); /* exact */
  expect_valid("{'minimum':-1}", "'not a number'");
}

static void test_string_length(void **state) {
  (void)state;
  expect_valid("{'minLength':2,'maxLength':3}", "'ab'");
  expect_invalid("{'minLength':2}", "'a'", "$: string of 1 characters is shorter than minLength 2");
  expect_invalid("{'maxLength':3}", "'abcd'",
                 "$: string of 4 characters is longer than maxLength 3");
  /* code points, not bytes: é is 2 bytes, the emoji 4 */
  expect_valid("{'maxLength':1}", "'\\u00e9'");
  expect_valid("{'maxLength':1}", "'\\ud83d\\udca9'");
  expect_invalid("{'minLength':2}", "'\\ud83d\\udca9'", NULL);
  expect_valid("{'minLength':2,'maxLength':2}", "'\\u00e9\\u00e9'");
  expect_valid("{'minLength':2.0}", "'ab'"); /* 2.0 is an integer in draft 7 */
  expect_valid("{'maxLength':0}", "''");
}

static void test_pattern(void **state) {
  (void)state;
  expect_valid("{'pattern':'a+'}", "'xxaayy'"); /* unanchored, as ECMA-262 */
  expect_invalid("{'pattern':'^a+$'}", "'xxaayy'", "$: string does not match the pattern \"^a+$\"");
  expect_valid("{'pattern':'^[a-z]+$'}", "'abc'");
  expect_invalid("{'pattern':'^[a-z]+$'}", "'aBc'", NULL);
  expect_valid("{'pattern':'^a+$'}", "3"); /* strings only */
}

/* [pattern, instance, 1 if it matches] */
static const char *const pattern_cases[][3] = {
    {"^\\d+$", "123", "1"},
    {"^\\d+$", "12a", "0"},
    {"^\\D+$", "abc", "1"},
    {"^\\D$", "\xdf\x80", "1"}, /* NKO digit zero: not \d */
    {"^\\d$", "\xdf\x80", "0"},
    {"^\\w+$", "a_1", "1"},
    {"^\\w$", "\xc3\xa9", "0"},
    {"^\\W$", "\xc3\xa9", "1"},
    {"^\\s$", " ", "1"},
    {"^\\s$", "\xc2\xa0", "1"}, /* no-break space */
    {"^\\S$", "\xc2\xa0", "0"},
    {"^\\S$", "\xc3\xa9", "1"},
    {"^[\\d.]+$", "1.5", "1"},
    {"^[\\d.]+$", "1,5", "0"},
    {"^[^\\d]+$", "abc", "1"},
    {"^[^\\d]+$", "ab1", "0"},
    {"^[\\w-]+$", "a-b_c", "1"},
    {"^[\\s\\d]+$", "1 2", "1"},
    {"^[a\\D]$", "b", "1"},
    {"^[a\\D]$", "1", "0"},
    {"^[^\\D]$", "5", "1"},
    {"^[^\\D]$", "x", "0"},
    {"^.$", "\xc3\xa9", "1"},
    {"^.$", "\n", "0"},
    {"^.{2}$", "\xc3\xa9\xc3\xa9", "1"},
    {"^[^a]$", "\xe2\x82\xac", "1"},
    {"^[^\xc3\xa9]$", "\xc3\xa9", "0"},
    {"^[^\xc3\xa9]$", "\xc3\xa8", "1"},
    {"^[\xc3\xa0-\xc3\xbc]+$", "\xc3\xa9\xc3\xa8", "1"},
    {"^[\\u4e00-\\u9fff]+$", "\xe4\xb8\xad", "1"},
    {"^\xc3\xa9+$", "\xc3\xa9\xc3\xa9", "1"},
    {"^\\u00e9$", "\xc3\xa9", "1"},
    {"^\\x41$", "A", "1"},
    {"^\\t$", "\t", "1"},
    {"^\\cC$", "\x03", "1"},
    {"^a\\.b$", "a.b", "1"},
    {"^a\\.b$", "axb", "0"},
    {"^\\/\\*$", "/*", "1"},
    {"^[\\]\\[^-]+$", "]^[-", "1"},
    {"^[-^]$", "^", "1"},
    {"^[\\^]$", "^", "1"},
    {"^a{2}$", "aa", "1"},
    {"^a{2,}?$", "aaa", "1"},
    {"^x{$", "x{", "1"},
    {"^{}$", "{}", "1"},
    {"^a*?b+?c??$", "abc", "1"},
    {"^(?:ab)+$", "abab", "1"},
    {"^(?<word>ab)$", "ab", "1"},
    {"^(a|b)c$", "bc", "1"},
    {"^[]]$", "]", "0"}, /* ECMA: [] is empty, then ']' */
    {"^[^]$", "\n", "1"},
    {"^\\$\\($", "$(", "1"},
    {"^[^\\s\\S]$", "a", "0"},
    {"^a[]*b$", "ab", "1"},
};

static void expect_pattern(const char *pattern, const char *instance, bool matches) {
  json_t *schema_json = json_pack("{s:s}", "pattern", pattern);
  art_schema *schema;
  art_error err;
  assert_non_null(schema_json);
  if (art_schema_compile(&schema, schema_json, NULL, &err) != 0)
    fail_msg("pattern %s: %s", pattern, err.message);
  json_t *value = json_string(instance);
  bool valid = art_schema_validate(schema, value, NULL, 0) == 0;
  if (valid != matches)
    fail_msg("pattern %s on \"%s\": expected %s", pattern, instance, matches ? "a match" : "none");
  json_decref(value);
  json_decref(schema_json);
  art_schema_free(schema);
}

static void run_pattern_cases(void) {
  for (size_t i = 0; i < sizeof pattern_cases / sizeof pattern_cases[0]; i++)
    expect_pattern(pattern_cases[i][0], pattern_cases[i][1], pattern_cases[i][2][0] == '1');
}

/* The same answers whatever the process locale. */
static void test_pattern_translation(void **state) {
  (void)state;
  run_pattern_cases();
  if (setlocale(LC_ALL, "C.UTF-8") || setlocale(LC_ALL, "C.utf8")) {
    run_pattern_cases();
    setlocale(LC_ALL, "C");
  }
}

static void test_arrays(void **state) {
  (void)state;
  const char *tags = "{'properties':{'tags':{'type':'array','items':{'type':'string'}}}}";
  expect_valid(tags, "{'tags':['a','b']}");
  expect_invalid(tags, "{'tags':['a','b',3]}", "$.tags[2]: expected string, got integer");
  const char *tuple = "{'items':[{'type':'integer'},{'type':'string'}],'additionalItems':false}";
  expect_valid(tuple, "[1,'a']");
  expect_valid(tuple, "[1]");
  expect_invalid(tuple, "['a']", "$[0]: expected integer, got string");
  expect_invalid(tuple, "[1,'a',null]",
                 "$: array has 3 items, but items lists only 2 and additionalItems is false");
  expect_invalid("{'items':[{}],'additionalItems':{'type':'null'}}", "[1,null,2]",
                 "$[2]: expected null, got integer");
  expect_valid("{'additionalItems':false}", "[1,2,3]"); /* ignored without an items array */
  expect_invalid("{'minItems':1}", "[]", "$: array of 0 items is shorter than minItems 1");
  expect_invalid("{'maxItems':1}", "[1,2]", "$: array of 2 items is longer than maxItems 1");
  expect_invalid("{'uniqueItems':true}", "[1,2,1.0]",
                 "$: items 0 and 2 are equal, but uniqueItems is true");
  expect_invalid("{'uniqueItems':true}", "[{'a':[1]},{'a':[1.0]}]", NULL);
  expect_valid("{'uniqueItems':true}", "[1,true,'1',[1],{'1':1}]");
  expect_valid("{'uniqueItems':false}", "[1,1]");
}

static void test_objects(void **state) {
  (void)state;
  expect_invalid("{'minProperties':2}", "{'a':1}",
                 "$: object has 1 properties, fewer than minProperties 2");
  expect_invalid("{'maxProperties':1}", "{'a':1,'b':2}",
                 "$: object has 2 properties, more than maxProperties 1");
  const char *pp = "{'patternProperties':{'^x-':{'type':'string'}},'additionalProperties':false}";
  expect_valid(pp, "{'x-a':'1'}");
  expect_invalid(pp, "{'x-a':1}", "$[\"x-a\"]: expected string, got integer");
  expect_invalid(pp, "{'y':1}", "$: additional property \"y\" is not allowed");
  const char *extra = "{'properties':{'a':{}},'additionalProperties':{'type':'integer'}}";
  expect_valid(extra, "{'a':'x','b':2}");
  expect_invalid(extra, "{'a':'x','b':'y'}", "$.b: expected integer, got string");
  /* properties and patternProperties both apply to a member */
  const char *both =
      "{'properties':{'aa':{'maxLength':3}},'patternProperties':{'a':{'minLength':2}}}";
  expect_valid(both, "{'aa':'xy'}");
  expect_invalid(both, "{'aa':'x'}", NULL);
  expect_invalid(both, "{'aa':'wxyz'}", NULL);
  /* many properties: looked up by binary search */
  const char *many = "{'properties':{'e':{'type':'string'},'b':{},'a':{},'dd':{},'c':{},"
                     "'ccc':{'type':'null'}},'additionalProperties':false}";
  expect_valid(many, "{'a':1,'b':2,'c':3,'dd':4,'e':'5','ccc':null}");
  expect_invalid(many, "{'ccc':1}", "$.ccc: expected null, got integer");
  expect_invalid(many, "{'d':1}", "$: additional property \"d\" is not allowed");
  expect_valid("{'required':[]}", "{}");
  expect_valid("{'required':['a']}", "['not an object']");
}

static void test_instance_paths(void **state) {
  (void)state;
  const char *deep = "{'properties':{'a':{'items':{'properties':{'b c':{'properties':"
                     "{'q\\\"\\\\':{'type':'string'}}}}}}}}";
  expect_invalid(deep, "{'a':[{},{'b c':{'q\\\"\\\\':1}}]}",
                 "$.a[1][\"b c\"][\"q\\\"\\\\\"]: expected string, got integer");
  /* deeper than the recorded path: the message says so */
  art_schema *schema = compile("{'items':{'$ref':'#'},'type':'array'}");
  char text[512] = "", why[256];
  for (int i = 0; i < 40; i++) strcat(text, "[");
  strcat(text, "1");
  for (int i = 0; i < 40; i++) strcat(text, "]");
  assert_int_equal(check(schema, text, why, sizeof why), ART_EINVAL);
  assert_non_null(strstr(why, "...: expected array, got integer"));
  assert_int_equal(check(schema, "[[1]]", why, 12), ART_EINVAL); /* truncated, terminated */
  assert_string_equal(why, "$[0][0]: ex");
  assert_int_equal(check(schema, "[[1]]", NULL, 0), ART_EINVAL);
  art_schema_free(schema);
}

static void test_enum_const(void **state) {
  (void)state;
  const char *mode = "{'properties':{'mode':{'enum':['fast','slow',1,null]}}}";
  expect_valid(mode, "{'mode':'slow'}");
  expect_valid(mode, "{'mode':1.0}"); /* 1 == 1.0 */
  expect_valid(mode, "{'mode':null}");
  expect_invalid(mode, "{'mode':'x'}", "$.mode: expected one of \"fast\", \"slow\", 1, null");
  expect_invalid("{'enum':[[1],{'a':1}]}", "[2]", "$: value is not one of the values of enum");
  expect_valid("{'enum':[[1],{'a':1}]}", "{'a':1.0}");
  expect_invalid("{'enum':[]}", "1", NULL);
  expect_valid("{'const':{'a':[1,2]}}", "{'a':[1.0,2]}");
  expect_invalid("{'const':{'a':[1,2]}}", "{'a':[2,1]}", "$: value is not the const value");
  expect_invalid("{'const':0.5}", "1", "$: expected 0.5");
  expect_invalid("{'const':false}", "0", "$: expected false");
  expect_valid("{'const':null}", "null");
}

static void test_combinators(void **state) {
  (void)state;
  const char *all = "{'allOf':[{'type':'integer'},{'minimum':3}]}";
  expect_valid(all, "4");
  expect_invalid(all, "2", "$: 2 is less than the minimum 3");
  const char *any = "{'properties':{'v':{'anyOf':[{'type':'string'},{'type':'null'}]}}}";
  expect_valid(any, "{'v':null}");
  expect_invalid(any, "{'v':1}", "$.v: matches none of the schemas in anyOf");
  const char *one = "{'oneOf':[{'type':'integer'},{'minimum':2},{'type':'string'}]}";
  expect_valid(one, "1");
  expect_valid(one, "2.5");
  expect_invalid(one, "3", "$: matches schemas 0 and 1 of oneOf, but must match exactly one");
  expect_invalid("{'oneOf':[{'type':'integer'}]}", "'a'",
                 "$: matches none of the schemas in oneOf");
  expect_invalid("{'not':{'type':'string'}}", "'a'", "$: must not match the schema in not");
  expect_valid("{'not':{'type':'string'}}", "1");
  /* a failure inside anyOf is not reported; the next keyword's is */
  expect_invalid("{'anyOf':[{'type':'string'},true],'maximum':1}", "2",
                 "$: 2 is greater than the maximum 1");
}

static void test_boolean_schemas(void **state) {
  (void)state;
  expect_valid("true", "{'a':1}");
  expect_invalid("false", "{}", "$: no value is allowed here");
  expect_invalid("{'properties':{'x':false}}", "{'x':1}", "$.x: no value is allowed here");
  expect_valid("{'properties':{'x':false}}", "{}");
  expect_valid("{'items':false}", "[]");
}

/* ---- $ref ------------------------------------------------------------------ */

static void test_refs(void **state) {
  (void)state;
  const char *tree = "{'type':'object','properties':{'value':{'type':'integer'},"
                     "'children':{'type':'array','items':{'$ref':'#'}}},'required':['value']}";
  expect_valid(tree, "{'value':1,'children':[{'value':2,'children':[{'value':3}]}]}");
  expect_invalid(tree, "{'value':1,'children':[{'value':2,'children':[{'value':'x'}]}]}",
                 "$.children[0].children[0].value: expected integer, got string");
  expect_invalid(tree, "{'value':1,'children':[{}]}",
                 "$.children[0]: missing required property \"value\"");
  const char *defs = "{'definitions':{'name':{'type':'string','minLength':1}},"
                     "'$defs':{'age':{'type':'integer'}},"
                     "'properties':{'n':{'$ref':'#/definitions/name'},'a':{'$ref':'#/$defs/age'}}}";
  expect_valid(defs, "{'n':'x','a':3}");
  expect_invalid(defs, "{'n':''}", "$.n: string of 0 characters is shorter than minLength 1");
  expect_invalid(defs, "{'a':'3'}", "$.a: expected integer, got string");
  /* escapes in pointers: ~0 ~1 and %25; a target under an unknown keyword */
  const char *escaped = "{'x':{'a~b':{'type':'null'},'c/d':{'type':'integer'},"
                        "'e%f':{'type':'string'}},"
                        "'properties':{'p':{'$ref':'#/x/a~0b'},'q':{'$ref':'#/x/c~1d'},"
                        "'r':{'$ref':'#/x/e%25f'}}}";
  expect_valid(escaped, "{'p':null,'q':1,'r':'s'}");
  expect_invalid(escaped, "{'q':'1'}", "$.q: expected integer, got string");
  expect_invalid(escaped, "{'r':1}", NULL);
  /* chains of refs, refs into arrays, siblings of $ref ignored */
  expect_invalid("{'definitions':{'a':{'type':'integer'},'b':{'$ref':'#/definitions/a'}},"
                 "'$ref':'#/definitions/b'}",
                 "'x'", "$: expected integer, got string");
  expect_valid("{'items':[{'type':'integer'},{'$ref':'#/items/0'}]}", "[1,2]");
  expect_invalid("{'items':[{'type':'integer'},{'$ref':'#/items/0'}]}", "[1,'2']", NULL);
  expect_valid("{'definitions':{'a':{'type':'array'}},"
               "'properties':{'f':{'$ref':'#/definitions/a','maxItems':1}}}",
               "{'f':[1,2,3]}");
  expect_invalid("{'$ref':'#/definitions/no','definitions':{'no':false}}", "1", NULL);
}

static void test_refs_by_id(void **state) {
  (void)state;
  const char *by_id = "{'$id':'http://example.com/root.json','properties':{"
                      "'a':{'$ref':'item.json'},'b':{'$ref':'#name'},"
                      "'c':{'$ref':'http://example.com/root.json#/definitions/n'}},"
                      "'definitions':{'i':{'$id':'item.json','type':'integer'},"
                      "'n':{'$id':'#name','type':'null'}}}";
  expect_valid(by_id, "{'a':1,'b':null,'c':null}");
  expect_invalid(by_id, "{'a':'1'}", "$.a: expected integer, got string");
  expect_invalid(by_id, "{'b':1}", "$.b: expected null, got integer");
  expect_invalid(by_id, "{'c':1}", NULL);
  /* a ref is resolved against the $id of the subschema it is in */
  const char *nested = "{'$id':'http://x.org/a/','properties':{'p':{'$id':'sub/',"
                       "'properties':{'q':{'$ref':'t.json'}}}},"
                       "'definitions':{'t':{'$id':'http://x.org/a/sub/t.json','type':'string'}}}";
  expect_valid(nested, "{'p':{'q':'s'}}");
  expect_invalid(nested, "{'p':{'q':1}}", "$.p.q: expected string, got integer");
}

/* ---- compile errors -------------------------------------------------------- */

static void test_compile_errors(void **state) {
  (void)state;
  expect_compile_error("{'properties':{'to':{'minLength':-1}}}",
                       "#/properties/to/minLength: expected a non-negative integer");
  expect_compile_error("{'maxItems':1.5}", "#/maxItems: expected a non-negative integer");
  expect_compile_error("{'type':'text'}", "#/type: unknown type \"text\"");
  expect_compile_error("{'type':[]}",
                       "#/type: expected a type name or a non-empty array of type names");
  expect_compile_error("{'items':[{},3]}", "#/items/1: expected a schema (an object or a boolean)");
  expect_compile_error("3", "#: expected a schema (an object or a boolean)");
  expect_compile_error("{'minimum':'1'}", "#/minimum: expected a number");
  expect_compile_error("{'multipleOf':0}", "#/multipleOf: expected a number greater than 0");
  expect_compile_error("{'required':'a'}", "#/required: expected an array of strings");
  expect_compile_error("{'required':['a',1]}", "#/required: expected an array of strings");
  expect_compile_error("{'enum':1}", "#/enum: expected an array");
  expect_compile_error("{'uniqueItems':1}", "#/uniqueItems: expected true or false");
  expect_compile_error("{'anyOf':[]}", "#/anyOf: expected a non-empty array of schemas");
  expect_compile_error("{'properties':[]}",
                       "#/properties: expected an object whose values are schemas");
  expect_compile_error("{'definitions':{'a/b':{'type':1}}}",
                       "#/definitions/a~1b/type: expected a type name or a non-empty array of "
                       "type names");
  expect_compile_error("{'pattern':'(?=a)'}",
                       "#/pattern: invalid pattern \"(?=a)\": lookahead and lookbehind are not "
                       "supported");
  expect_compile_error("{'pattern':'(a'}", "#/pattern: invalid pattern \"(a\": Unmatched ( or \\(");
  expect_compile_error("{'properties':{'p':{'patternProperties':{'\\\\1':{}}}}}",
                       "#/properties/p/patternProperties/\\1: invalid pattern \"\\1\": "
                       "backreferences (\\1) are not supported");
  expect_compile_error("{'pattern':'a\\\\u0000'}",
                       "#/pattern: invalid pattern \"a\\u0000\": NUL characters are not supported");
  expect_compile_error("{'pattern':'[b-a]'}",
                       "#/pattern: invalid pattern \"[b-a]\": character class range out of order");
  expect_compile_error("{'pattern':'a\\\\bc'}",
                       "#/pattern: invalid pattern \"a\\bc\": word boundaries (\\b) are not "
                       "supported");
  /* Patterns that would make regcomp expand without bound, found by fuzzing. */
  expect_compile_error(
      "{'pattern':'((((a)+)+)+)+'}",
      "#/pattern: invalid pattern \"((((a)+)+)+)+\": quantifiers nest deeper than 3");
  expect_compile_error("{'pattern':'(a{100}){100}'}",
                       "#/pattern: invalid pattern \"(a{100}){100}\": pattern is too complex "
                       "(nested repetition would expand past 4000)");
  expect_compile_error("{'pattern':'(a))'}", "#/pattern: invalid pattern \"(a))\": unmatched )");
  expect_compile_error(
      "{'pattern':'a++'}",
      "#/pattern: invalid pattern \"a++\": a quantifier cannot follow a quantifier");
  expect_compile_error("{'patternProperties':{'[b-a':true}}",
                       "#/patternProperties/[b-a: invalid pattern \"[b-a\": character class range "
                       "out of order");
}

static void test_ref_errors(void **state) {
  (void)state;
  expect_compile_error("{'$ref':'http://json-schema.org/draft-07/schema#'}",
                       "#/$ref: remote reference \"http://json-schema.org/draft-07/schema#\" is "
                       "not supported");
  expect_compile_error("{'properties':{'a':{'$ref':'other.json#/x'}}}",
                       "#/properties/a/$ref: remote reference \"other.json#/x\" is not supported");
  expect_compile_error("{'properties':{'a':{'$ref':'#/definitions/missing'}}}",
                       "#/properties/a/$ref: \"#/definitions/missing\" does not point into the "
                       "schema");
  expect_compile_error("{'$ref':'#nowhere'}", "#/$ref: no schema has the \"$id\" \"#nowhere\"");
  expect_compile_error("{'$ref':5}", "#/$ref: expected a string");
  expect_compile_error("{'$ref':'#/definitions/x','definitions':{'x':{'minItems':'no'}}}",
                       "#/definitions/x/minItems: expected a non-negative integer");
  /* loops that never descend into the instance would never end */
  expect_compile_error("{'$ref':'#'}", "#/$ref: \"#\" leads to a loop that never descends into "
                                       "the value");
  expect_compile_error("{'allOf':[{'$ref':'#'}]}",
                       "#/allOf/0/$ref: \"#\" leads to a loop that never descends into the value");
  expect_compile_error("{'definitions':{'a':{'$ref':'#/definitions/b'},"
                       "'b':{'not':{'$ref':'#/definitions/a'}}},'$ref':'#/definitions/a'}",
                       "#/$ref: \"#/definitions/a\" leads to a loop that never descends into the "
                       "value");
}

/* ---- robustness -------------------------------------------------------------- */

static void test_nesting_limit(void **state) {
  (void)state;
  art_schema *schema = compile("{'items':{'$ref':'#'}}");
  size_t depth = 2000;
  char *text = malloc(2 * depth + 2), why[256];
  assert_non_null(text);
  memset(text, '[', depth);
  memset(text + depth, ']', depth);
  text[2 * depth] = '\0';
  json_t *deep = json_loads(text, 0, NULL); /* jansson's own limit is 2048 */
  assert_non_null(deep);
  assert_int_equal(art_schema_validate(schema, deep, why, sizeof why), ART_EINVAL);
  assert_non_null(strstr(why, "nested too deeply"));
  json_decref(deep);
  free(text);
  art_schema_free(schema);
  assert_int_equal(art_schema_validate(NULL, json_null(), why, sizeof why), ART_EINVAL);
  art_schema_free(NULL);
}

/* json_set_alloc_funcs takes no user data, so the count has to be static. */
static long jansson_allocations;
static void *counting_malloc(size_t n) {
  jansson_allocations++;
  return malloc(n);
}

/* Validation is on the hot path: it must not allocate, not even through
 * jansson (the test counts jansson's allocations; art_schema_validate takes no
 * allocator of its own). */
static void test_validate_does_not_allocate(void **state) {
  (void)state;
  art_schema *schema =
      compile("{'type':'object','properties':{'a':{'enum':['x',[1]]},'b':{'const':{'k':[1]}},"
              "'c':{'uniqueItems':true},'d':{'oneOf':[{'type':'string'},{'maxLength':2}]}},"
              "'required':['a'],'additionalProperties':{'type':'integer'}}");
  json_t *good = parse("{'a':'x','b':{'k':[1.0]},'c':[1,2],'d':5,'e':1}");
  json_t *bad = parse("{'a':'y','b':{'k':[2]},'c':[1,1],'d':'s','e':'f'}");
  char why[256];
  json_set_alloc_funcs(counting_malloc, free);
  assert_int_equal(art_schema_validate(schema, good, why, sizeof why), 0);
  assert_int_equal(art_schema_validate(schema, bad, why, sizeof why), ART_EINVAL);
  json_set_alloc_funcs(malloc, free);
  assert_int_equal(jansson_allocations, 0);
  json_decref(good);
  json_decref(bad);
  art_schema_free(schema);
}

/* ---- allocation failures ------------------------------------------------------ */

static const char *const big_schema =
    "{'$id':'http://example.com/s.json','type':'object',"
    "'definitions':{'tag':{'type':'string','pattern':'^[a-z][\\\\w-]*$','maxLength':32},"
    "'node':{'properties':{'kids':{'items':{'$ref':'#/definitions/node'}}}}},"
    "'properties':{'to':{'type':'string','minLength':1},'tags':{'type':'array',"
    "'items':{'$ref':'#/definitions/tag'},'uniqueItems':true},"
    "'mode':{'enum':['a','b']},'n':{'type':'integer','minimum':0,'maximum':10},"
    "'tree':{'$ref':'#/definitions/node'},'x':{'$ref':'#/unused/deep'},"
    "'any':{'anyOf':[{'type':'null'},{'const':1}],'not':{'const':2}}},"
    "'unused':{'deep':{'allOf':[{'$ref':'s.json#/definitions/tag'}]}},"
    "'patternProperties':{'^x-\\\\d+$':{'type':'boolean'}},"
    "'required':['to'],'additionalProperties':false}";

/* Compile `json` once to count its allocations, then again failing each one in
 * turn: every failure must give ART_ENOMEM and leave nothing allocated. */
static void fail_each_allocation(const json_t *json, const char *instance_text) {
  tu_alloc counter;
  tu_alloc_init(&counter, 0);
  art_schema *schema;
  art_error err;
  assert_int_equal(art_schema_compile(&schema, json, &counter.a, &err), 0);
  char why[256];
  json_t *instance = parse(instance_text);
  if (art_schema_validate(schema, instance, why, sizeof why) != 0) fail_msg("%s", why);
  json_decref(instance);
  art_schema_free(schema);
  assert_int_equal(counter.live, 0);
  long count = counter.count;
  assert_true(count >= 4);
  for (long i = 1; i <= count; i++) {
    tu_alloc failing;
    tu_alloc_init(&failing, i);
    schema = (art_schema *)&failing; /* must be reset to NULL */
    int rc = art_schema_compile(&schema, json, &failing.a, &err);
    if (rc != ART_ENOMEM) fail_msg("allocation %ld of %ld failed: rc %d", i, count, rc);
    assert_string_equal(err.message, "out of memory");
    assert_null(schema);
    assert_int_equal(failing.failed, 1);
    assert_int_equal(failing.live, 0);
  }
}

/* Many definitions and refs, so allocations fall in every phase of compiling
 * (nodes, $id collection, pending refs, memo, lazily compiled targets). */
static json_t *many_refs_schema(int count) {
  json_t *defs = json_object(), *props = json_object();
  for (int i = 0; i < count; i++) {
    char name[16], ref[40];
    snprintf(name, sizeof name, "d%d", i);
    snprintf(ref, sizeof ref, "#/definitions/d%d", (i + 1) % count);
    json_object_set_new(defs, name,
                        json_pack("{s:s,s:{s:{s:s}},s:s}", "type", "object", "properties", "next",
                                  "$ref", ref, "pattern", "^x"));
    snprintf(ref, sizeof ref, "#/definitions/d%d", i);
    json_object_set_new(props, name, json_pack("{s:s}", "$ref", ref));
  }
  return json_pack("{s:o,s:o,s:{s:s}}", "definitions", defs, "properties", props, "unused", "$ref",
                   "#/definitions/d0");
}

static void test_compile_allocation_failures(void **state) {
  (void)state;
  json_t *json = parse(big_schema);
  fail_each_allocation(json, "{'to':'x','tags':['a-b'],'tree':{'kids':[{'kids':[]}]},'x-1':true}");
  json_decref(json);
  json = many_refs_schema(60);
  fail_each_allocation(json, "{'d3':{'next':{'next':{}}}}");
  json_decref(json);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_task_schema),
      cmocka_unit_test(test_type),
      cmocka_unit_test(test_numbers),
      cmocka_unit_test(test_string_length),
      cmocka_unit_test(test_pattern),
      cmocka_unit_test(test_pattern_translation),
      cmocka_unit_test(test_arrays),
      cmocka_unit_test(test_objects),
      cmocka_unit_test(test_instance_paths),
      cmocka_unit_test(test_enum_const),
      cmocka_unit_test(test_combinators),
      cmocka_unit_test(test_boolean_schemas),
      cmocka_unit_test(test_refs),
      cmocka_unit_test(test_refs_by_id),
      cmocka_unit_test(test_compile_errors),
      cmocka_unit_test(test_ref_errors),
      cmocka_unit_test(test_nesting_limit),
      cmocka_unit_test(test_validate_does_not_allocate),
      cmocka_unit_test(test_compile_allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
