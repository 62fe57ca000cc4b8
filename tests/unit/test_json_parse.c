/* art_json_parse (core/json_parse.h): every kind of value, escapes and UTF-8,
 * every rejection with the byte its message names, jansson's depth limit and
 * its quirks, a locale with a decimal comma, and allocation failures.  Every
 * text a test parses is also given to json_loadb: the two must agree. */
#include <locale.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_parse.h"
#include "testutil.h"

/* A literal's bytes and length, NULs inside included. */
#define TEXT(s) s, sizeof(s) - 1

/* How much of a text a failure message shows. */
static int shown(size_t len) { return len > 60 ? 60 : (int)len; }

/* json_loadb must say the same: both fail, or both give equal values. */
static void same_as_jansson(const char *text, size_t len, const json_t *ours) {
  json_error_t jerr;
  json_t *theirs = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
  if (!theirs && ours) fail_msg("%.*s: accepted, jansson says %s", shown(len), text, jerr.text);
  if (theirs && !ours) fail_msg("%.*s: rejected, jansson accepts it", shown(len), text);
  if (theirs && !json_equal(theirs, ours)) fail_msg("%.*s: not jansson's value", shown(len), text);
  json_decref(theirs);
}

static json_t *parse_ok(const char *text, size_t len) {
  art_error err = {0};
  json_t *value = art_json_parse(text, len, &err);
  if (!value) fail_msg("%.*s: %s", shown(len), text, err.message);
  same_as_jansson(text, len, value);
  return value;
}

/* Rejected, with a message that names `byte` and says `why`. */
static void parse_bad(const char *text, size_t len, size_t byte, const char *why) {
  art_error err = {0};
  json_t *value = art_json_parse(text, len, &err);
  if (value) fail_msg("%.*s: accepted", shown(len), text);
  same_as_jansson(text, len, NULL);
  char where[64];
  snprintf(where, sizeof where, "invalid JSON at byte %zu: ", byte);
  assert_int_equal(err.code, ART_EINVAL);
  if (strncmp(err.message, where, strlen(where)) != 0 || !strstr(err.message, why))
    fail_msg("%.*s: expected \"%s...%s\", got \"%s\"", shown(len), text, where, why, err.message);
}

static void check_string(const char *text, size_t len, const char *want, size_t want_len) {
  json_t *v = parse_ok(text, len);
  assert_true(json_is_string(v));
  assert_int_equal(json_string_length(v), want_len);
  assert_memory_equal(json_string_value(v), want, want_len);
  json_decref(v);
}

static void check_integer(const char *text, json_int_t want) {
  json_t *v = parse_ok(text, strlen(text));
  assert_true(json_is_integer(v));
  assert_true(json_integer_value(v) == want);
  json_decref(v);
}

static void check_real(const char *text, double want) {
  json_t *v = parse_ok(text, strlen(text));
  assert_true(json_is_real(v));
  assert_true(json_real_value(v) == want);
  assert_int_equal(signbit(json_real_value(v)), signbit(want));
  json_decref(v);
}

static void test_literals(void **state) {
  (void)state;
  assert_true(parse_ok(TEXT("null")) == json_null());
  assert_true(parse_ok(TEXT(" true ")) == json_true());
  assert_true(parse_ok(TEXT("\t\r\nfalse\n")) == json_false());
}

static void test_numbers(void **state) {
  (void)state;
  check_integer("0", 0);
  check_integer("-0", 0); /* an integer, as jansson has it */
  check_integer("42", 42);
  check_integer("-17", -17);
  check_integer("9223372036854775807", 9223372036854775807LL);
  check_integer("-9223372036854775808", -9223372036854775807LL - 1);
  check_real("1.5", 1.5);
  check_real("-0.0", -0.0);
  check_real("0.1", 0.1);
  check_real("1e3", 1000);
  check_real("1E+2", 100);
  check_real("2.5e-3", 2.5e-3);
  check_real("-12.75E1", -127.5);
  check_real("1e-400", 0); /* underflow is not an error, overflow is */
  check_real("1.7976931348623157e308", 1.7976931348623157e308);
  check_real("123456789012345678901234567890.0", 123456789012345678901234567890.0);
}

static void test_strings(void **state) {
  (void)state;
  check_string(TEXT("\"\""), "", 0);
  check_string(TEXT("\"hello, world\""), TEXT("hello, world"));
  check_string(TEXT("\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\""), TEXT("\" \\ / \b \f \n \r \t"));
  check_string(TEXT("\"\\u0041\\u00e9\\u00E9\\u20AC\""), TEXT("A\xc3\xa9\xc3\xa9\xe2\x82\xac"));
  check_string(TEXT("\"\\uD83D\\uDE00\""), TEXT("\xf0\x9f\x98\x80"));
  check_string(TEXT("\"\\udbff\\udfff\""), TEXT("\xf4\x8f\xbf\xbf")); /* U+10FFFF */
  check_string(TEXT("\"\\uffff\\u0001\""), TEXT("\xef\xbf\xbf\x01"));
  /* Raw UTF-8 of every length stays as it is, DEL included. */
  check_string(TEXT("\"\x7f \xc2\x80 \xdf\xbf \xe0\xa0\x80 \xed\x9f\xbf \xee\x80\x80 \xef\xbf\xbf "
                    "\xf0\x90\x80\x80 \xf4\x8f\xbf\xbf\""),
               TEXT("\x7f \xc2\x80 \xdf\xbf \xe0\xa0\x80 \xed\x9f\xbf \xee\x80\x80 \xef\xbf\xbf "
                    "\xf0\x90\x80\x80 \xf4\x8f\xbf\xbf"));
  check_string(TEXT("\"a long string with words and no escapes, long enough for words\""),
               TEXT("a long string with words and no escapes, long enough for words"));
  check_string(TEXT("\"escape at the end \\n\""), TEXT("escape at the end \n"));
}

/* n copies of `unit`, in quotes when `quoted`. */
static char *repeat(const char *unit, size_t n, bool quoted) {
  size_t u = strlen(unit), len = 0;
  char *text = malloc(n * u + 3);
  assert_non_null(text);
  if (quoted) text[len++] = '"';
  for (size_t i = 0; i < n; i++, len += u) memcpy(text + len, unit, u);
  if (quoted) text[len++] = '"';
  text[len] = '\0';
  return text;
}

/* Escaped keys wait on the scratch stack while their value is parsed, also
 * when the value's own escapes make that stack move to the heap. */
static void test_escaped_keys_and_long_strings(void **state) {
  (void)state;
  json_t *v =
      parse_ok(TEXT("{\"k\\u00e9y\":{\"n\\ne\":\"v\\t\",\"plain\":\"p\"},\"k\\u00e9y2\":1}"));
  json_t *inner = json_object_get(v, "k\xc3\xa9y");
  assert_string_equal(json_string_value(json_object_get(inner, "n\ne")), "v\t");
  assert_string_equal(json_string_value(json_object_get(inner, "plain")), "p");
  assert_int_equal(json_integer_value(json_object_get(v, "k\xc3\xa9y2")), 1);
  json_decref(v);

  char *key = repeat("k\\u00e9", 300, true), *key_want = repeat("k\xc3\xa9", 300, false);
  char *value = repeat("\\\"v\\n", 400, true), *value_want = repeat("\"v\n", 400, false);
  size_t len = strlen(key) + strlen(value) + 16;
  char *text = malloc(len);
  snprintf(text, len, "{%s:[%s, 2.5]}", key, value);
  v = parse_ok(text, strlen(text));
  json_t *arr = json_object_get(v, key_want);
  assert_int_equal(json_array_size(arr), 2);
  assert_string_equal(json_string_value(json_array_get(arr, 0)), value_want);
  json_decref(v);
  free(text), free(key), free(value), free(key_want), free(value_want);
}

static void test_containers(void **state) {
  (void)state;
  json_t *v = parse_ok(TEXT("[]"));
  assert_int_equal(json_array_size(v), 0);
  json_decref(v);
  v = parse_ok(TEXT("{}"));
  assert_int_equal(json_object_size(v), 0);
  json_decref(v);
  v = parse_ok(TEXT(" \t\r\n{ \"a\" : [ 1 , [ 2 , [ ] ] , { } ] ,\n\"b\":\"x\" } \r\n"));
  assert_int_equal(json_object_size(v), 2);
  json_t *a = json_object_get(v, "a");
  assert_int_equal(json_array_size(a), 3);
  assert_int_equal(json_array_size(json_array_get(json_array_get(a, 1), 1)), 0);
  assert_true(json_is_object(json_array_get(a, 2)));
  json_decref(v);
  /* The last of duplicate keys wins, as in jansson. */
  v = parse_ok(TEXT("{\"a\":1,\"b\":2,\"a\":{\"c\":3},\"a\":[4]}"));
  assert_int_equal(json_object_size(v), 2);
  assert_int_equal(json_integer_value(json_array_get(json_object_get(v, "a"), 0)), 4);
  json_decref(v);
  v = parse_ok(TEXT("{\"\":0}"));
  assert_int_equal(json_integer_value(json_object_get(v, "")), 0);
  json_decref(v);
}

static void test_rejections(void **state) {
  (void)state;
  /* Structure */
  parse_bad(TEXT(""), 0, "expected a value, found the end of the text");
  parse_bad(TEXT("   "), 3, "expected a value, found the end of the text");
  parse_bad(TEXT("[1,]"), 3, "expected a value, found ']'");
  parse_bad(TEXT("[,1]"), 1, "expected a value, found ','");
  parse_bad(TEXT("[1 2]"), 3, "expected ',' or ']', found '2'");
  parse_bad(TEXT("[1"), 2, "expected ',' or ']', found the end of the text");
  parse_bad(TEXT("{\"a\":1,}"), 7, "expected a string key, found '}'");
  parse_bad(TEXT("{,}"), 1, "expected a string key, found ','");
  parse_bad(TEXT("{1:2}"), 1, "expected a string key, found '1'");
  parse_bad(TEXT("{'a':1}"), 1, "expected a string key, found '''");
  parse_bad(TEXT("{\"a\" 1}"), 5, "expected ':', found '1'");
  parse_bad(TEXT("{\"a\"}"), 4, "expected ':', found '}'");
  parse_bad(TEXT("{\"a\":1 \"b\":2}"), 7, "expected ',' or '}', found '\"'");
  parse_bad(TEXT("{\"a\":}"), 5, "expected a value, found '}'");
  parse_bad(TEXT("/* no */ 1"), 0, "expected a value, found '/'");
  parse_bad(TEXT("[1] // no"), 4, "expected the end of the text, found '/'");
  parse_bad(TEXT("1 2"), 2, "expected the end of the text, found '2'");
  parse_bad(TEXT("{} x"), 3, "expected the end of the text, found 'x'");
  parse_bad(TEXT("\"a\"\"b\""), 3, "expected the end of the text, found '\"'");
  parse_bad(TEXT("\xc3\xa9"), 0, "expected a value, found byte 0xc3");
  parse_bad(TEXT("\f1"), 0, "expected a value, found byte 0x0c");
  /* Literals */
  parse_bad(TEXT("nul"), 0, "invalid literal");
  parse_bad(TEXT("truex"), 0, "invalid literal");
  parse_bad(TEXT("[fals]"), 1, "invalid literal");
  parse_bad(TEXT("True"), 0, "expected a value, found 'T'");
  parse_bad(TEXT("NaN"), 0, "expected a value, found 'N'");
  parse_bad(TEXT("Infinity"), 0, "expected a value, found 'I'");
  parse_bad(TEXT("'a'"), 0, "expected a value, found '''");
  /* Numbers */
  parse_bad(TEXT("-Infinity"), 1, "expected a digit, found 'I'");
  parse_bad(TEXT("-"), 1, "expected a digit, found the end of the text");
  parse_bad(TEXT("+1"), 0, "expected a value, found '+'");
  parse_bad(TEXT(".5"), 0, "expected a value, found '.'");
  parse_bad(TEXT("01"), 0, "leading zeros are not allowed");
  parse_bad(TEXT("[-00]"), 2, "leading zeros are not allowed");
  parse_bad(TEXT("1."), 2, "expected a digit after '.', found the end of the text");
  parse_bad(TEXT("1.e5"), 2, "expected a digit after '.', found 'e'");
  parse_bad(TEXT("1e"), 2, "expected a digit in the exponent");
  parse_bad(TEXT("1e+"), 3, "expected a digit in the exponent");
  parse_bad(TEXT("0x1F"), 1, "expected the end of the text, found 'x'");
  parse_bad(TEXT("9223372036854775808"), 0, "too big integer");
  parse_bad(TEXT("-9223372036854775809"), 0, "too big negative integer");
  parse_bad(TEXT("[1, 123456789012345678901234567890]"), 4, "too big integer");
  parse_bad(TEXT("1e400"), 0, "real number overflow");
  parse_bad(TEXT("[-1.5e99999]"), 1, "real number overflow");
  /* Strings */
  parse_bad(TEXT("\"abc"), 4, "unterminated string (it starts at byte 0)");
  parse_bad(TEXT("[\"a\\\"]"), 6, "unterminated string (it starts at byte 1)");
  parse_bad(TEXT("\"\\"), 2, "unterminated string");
  parse_bad(TEXT("\"a\nb\""), 2, "control character 0x0a in a string");
  parse_bad(TEXT("\"a\tb\""), 2, "control character 0x09 in a string");
  parse_bad(TEXT("\"a\0b\""), 2, "control character 0x00 in a string");
  parse_bad(TEXT("\"\\x\""), 1, "invalid escape '\\x'");
  parse_bad(TEXT("\"\\'\""), 1, "invalid escape '\\''");
  parse_bad(TEXT("\"\\\xc3\xa9\""), 1, "invalid escape (byte 0xc3 after '\\')");
  parse_bad(TEXT("\"\\u12G4\""), 1, "invalid \\u escape");
  parse_bad(TEXT("\"\\u12\""), 1, "invalid \\u escape");
  parse_bad(TEXT("\"\\U0041\""), 1, "invalid escape '\\U'");
  parse_bad(TEXT("\"\\u0000\""), 1, "\\u0000 is not allowed in a string");
  parse_bad(TEXT("{\"a\\u0000\":1}"), 3, "\\u0000 is not allowed in a string");
  /* Surrogates: paired, or refused */
  parse_bad(TEXT("\"\\ud800\""), 1, "lone surrogate \\uD800");
  parse_bad(TEXT("\"x\\ud800x\""), 2, "lone surrogate \\uD800");
  parse_bad(TEXT("\"\\udc00\\ud800\""), 1, "lone surrogate \\uDC00");
  parse_bad(TEXT("\"\\ud800\\u0041\""), 1, "surrogate \\uD800 followed by \\u0041");
  parse_bad(TEXT("\"\\ud800\\ud800\""), 1, "surrogate \\uD800 followed by \\uD800");
  parse_bad(TEXT("\"\\ud800\\uZZZZ\""), 7, "invalid \\u escape");
  parse_bad(TEXT("\"\\ud800\\n\""), 1, "lone surrogate \\uD800");
  /* UTF-8: overlong forms, surrogates, beyond U+10FFFF, stray and cut bytes */
  parse_bad(TEXT("\"\xc0\x80\""), 1, "invalid UTF-8 (byte 0xc0)");
  parse_bad(TEXT("\"\xc1\xbf\""), 1, "invalid UTF-8 (byte 0xc1)");
  parse_bad(TEXT("\"\xe0\x80\xaf\""), 1, "invalid UTF-8 (byte 0xe0)");
  parse_bad(TEXT("\"\xf0\x8f\xbf\xbf\""), 1, "invalid UTF-8 (byte 0xf0)");
  parse_bad(TEXT("\"ab\xed\xa0\x80\""), 3, "invalid UTF-8 (byte 0xed)");
  parse_bad(TEXT("\"\xed\xbf\xbf\""), 1, "invalid UTF-8 (byte 0xed)");
  parse_bad(TEXT("\"\xf4\x90\x80\x80\""), 1, "invalid UTF-8 (byte 0xf4)");
  parse_bad(TEXT("\"\xf5\x80\x80\x80\""), 1, "invalid UTF-8 (byte 0xf5)");
  parse_bad(TEXT("\"\x80\""), 1, "invalid UTF-8 (byte 0x80)");
  parse_bad(TEXT("\"\xff\""), 1, "invalid UTF-8 (byte 0xff)");
  parse_bad(TEXT("\"\xe2\x82\""), 1, "invalid UTF-8 (byte 0xe2)");
  parse_bad(TEXT("\"\xe2\x82"), 1, "invalid UTF-8 (byte 0xe2)");
  parse_bad(TEXT("\"\xf0\x9f\x98\""), 1, "invalid UTF-8 (byte 0xf0)");
  parse_bad(TEXT("\"0123456789\xc3\""), 11, "invalid UTF-8 (byte 0xc3)");
  /* NUL bytes */
  parse_bad(TEXT("\0"), 0, "expected a value, found byte 0x00");
  parse_bad(TEXT("\"a\"\0"), 3, "expected the end of the text, found byte 0x00");
  parse_bad(TEXT("[] \0"), 3, "expected the end of the text, found byte 0x00");
  parse_bad(TEXT("1 \0"), 2, "expected the end of the text, found byte 0x00");
  parse_bad(TEXT("1\0\0"), 2, "expected the end of the text, found byte 0x00");
  parse_bad(TEXT("[1\0\0]"), 3, "expected ',' or ']', found byte 0x00");
}

/* jansson loses a NUL byte right after a number or a literal (see
 * skip_lost_nul); art_json_parse takes the same texts. */
static void test_nul_after_number_or_literal(void **state) {
  (void)state;
  json_decref(parse_ok(TEXT("1\0")));
  json_decref(parse_ok(TEXT("[true\0,null\0, false\0 ]")));
  json_decref(parse_ok(TEXT("{\"a\":-2.5e3\0}")));
  json_decref(parse_ok(TEXT("-0\0 ")));
}

/* `n` arrays (or objects, as {"a": ...}) nested, around `inner`. */
static char *nested(int n, bool objects, const char *inner) {
  size_t cap = (size_t)n * 6 + strlen(inner) + 1, len = 0;
  char *text = malloc(cap);
  assert_non_null(text);
  for (int i = 0; i < n; i++) len += (size_t)sprintf(text + len, "%s", objects ? "{\"a\":" : "[");
  len += (size_t)sprintf(text + len, "%s", inner);
  for (int i = 0; i < n; i++) text[len++] = objects ? '}' : ']';
  text[len] = '\0';
  return text;
}

static void depth_ok(int n, bool objects, const char *inner) {
  char *text = nested(n, objects, inner);
  json_decref(parse_ok(text, strlen(text)));
  free(text);
}

static void depth_bad(int n, bool objects, const char *inner, size_t byte) {
  char *text = nested(n, objects, inner);
  parse_bad(text, strlen(text), byte, "nested deeper than 2048");
  free(text);
}

/* jansson counts every value's depth, the top one being 1: 2048 nested empty
 * arrays load, 2048 around a value do not. */
static void test_depth_limit(void **state) {
  (void)state;
  assert_int_equal(JSON_PARSER_MAX_DEPTH, 2048);
  depth_ok(2048, false, "");
  depth_bad(2049, false, "", 2048);
  depth_ok(2047, false, "1");
  depth_bad(2048, false, "1", 2048);
  depth_ok(2047, true, "{}");
  depth_bad(2048, true, "{}", 2048 * 5);
  depth_ok(2047, true, "\"s\"");
  depth_bad(2048, true, "\"s\"", 2048 * 5);
}

/* Texts where a parser is easily more or less lenient than jansson. */
static void test_tricky_texts_as_jansson(void **state) {
  (void)state;
  static const struct {
    const char *text;
    size_t len;
  } texts[] = {
      {TEXT("[1e5,1E5,1e+5,1e-5,-1.0e0,0e0,0.0,-0e-0]")},
      {TEXT("[0.1e1, 100e-2, 5E00, 1e0001]")},
      {TEXT("[-9223372036854775808, 9223372036854775807, -1]")},
      {TEXT("[2.2250738585072011e-308, 4.9e-324, 1e-324, 1.7976931348623158e308]")},
      {TEXT("1.7976931348623159e308")},
      {TEXT("[100000000000000000000000000000000000000000000000000000000000000000.5]")},
      {TEXT("\"\\/\\\\\\\"\\b\\f\\n\\r\\t\"")},
      {TEXT("\"\\uDBFF\\uDFFF\\uD800\\uDC00\\u007f\\u0080\\u07ff\\u0800\\ufffe\"")},
      {TEXT("\"\\uD800\\\\u0041\"")},
      {TEXT("\"\\uD800\\u\"")},
      {TEXT("{\"a\":1,\"a\":2,\"a\":3}")},
      {TEXT("{\"\\u0061\":1,\"a\":2}")},
      {TEXT(" [ ] ")},
      {TEXT("[\"\x7f\"]")},
      {TEXT("[truefalse]")},
      {TEXT("[true false]")},
      {TEXT("[null,]")},
      {TEXT("{\"a\":1,,\"b\":2}")},
      {TEXT("[1,,2]")},
      {TEXT("]")},
      {TEXT("}")},
      {TEXT(":")},
      {TEXT("[1]]")},
      {TEXT("{\"a\":1}}")},
      {TEXT("[\"a\":1]")},
      {TEXT("{\"a\":1:2}")},
      {TEXT("-01.5")},
      {TEXT("1.5.3")},
      {TEXT("1e5e5")},
      {TEXT("--1")},
      {TEXT("1-2")},
      {TEXT("\xef\xbb\xbf{}")}, /* a byte order mark is not whitespace */
      {TEXT("\x0b 1")},
      {TEXT("\xc2\xa0 1")},
      {TEXT("true\0")},
      {TEXT("truE")},
      {TEXT("nulll")},
      {TEXT("null1")},
      {TEXT("1true")},
      {TEXT("\"\\u00\"")},
      {TEXT("\"\\")},
      {TEXT("\"")},
      {TEXT("[\"\xf4\x8f\xbf\xbf\", \"\xee\x80\x80\"]")},
  };
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
    json_t *ours = art_json_parse(texts[i].text, texts[i].len, NULL);
    same_as_jansson(texts[i].text, texts[i].len, ours);
    json_decref(ours);
  }
}

static void test_no_text(void **state) {
  (void)state;
  art_error err = {0};
  assert_null(art_json_parse(NULL, 0, &err));
  assert_int_equal(err.code, ART_EINVAL);
  assert_null(art_json_parse(TEXT("[1,"), NULL)); /* no error record: still fine */
  json_t *v = art_json_parse("[1] trailing", 3, NULL);
  assert_int_equal(json_array_size(v), 1); /* only len bytes are read */
  json_decref(v);
}

/* A locale whose decimal point is a comma, made with localedef in the test's
 * directory; skipped where that cannot be done. */
static void test_decimal_comma_locale(void **state) {
  (void)state;
  char cmd[600];
  snprintf(cmd, sizeof cmd, "localedef -i de_DE -f UTF-8 '%s' >/dev/null 2>&1",
           tu_path("de_DE.UTF-8"));
  setenv("LOCPATH", tu_tmpdir(), 1);
  if (system(cmd) != 0 || !setlocale(LC_NUMERIC, "de_DE.UTF-8")) {
    unsetenv("LOCPATH");
    skip();
  }
  assert_string_equal(localeconv()->decimal_point, ",");
  check_real("1.25", 1.25);
  check_real("-0.5e1", -5);
  parse_bad(TEXT("1,5"), 1, "expected the end of the text, found ','");
  setlocale(LC_NUMERIC, "C");
  unsetenv("LOCPATH");
}

/* ---- allocation failures ------------------------------------------------------ */

static tu_alloc *counter; /* jansson's hooks take no user pointer */
static void *count_alloc(size_t n) { return counter->a.alloc(counter, n); }
static void count_release(void *p) { counter->a.release(counter, p); }

/* Every kind of value, and escaped strings long enough to move the scratch
 * stack to the heap. */
static char *allocation_text(void) {
  char *key = repeat("k\\u00e9", 100, true), *value = repeat("\\\"v\\n", 100, true);
  size_t len = strlen(key) + strlen(value) + 100;
  char *text = malloc(len);
  snprintf(text, len, "{\"a\":[1,-2.5,\"s\",true,null,{}],%s:{\"b\":%s,\"c\\t\":[[]]},\"d\":1e3}",
           key, value);
  free(key), free(value);
  return text;
}

/* Whether `text` parsed with jansson's allocations counted by t, and the
 * `fail_at`th of them failed (0: none). */
static bool parse_counted(tu_alloc *t, long fail_at, const char *text, art_error *err) {
  tu_alloc_init(t, fail_at);
  counter = t;
  json_set_alloc_funcs(count_alloc, count_release);
  json_t *v = art_json_parse(text, strlen(text), err);
  json_decref(v);
  json_set_alloc_funcs(malloc, free);
  return v != NULL;
}

static void test_allocation_failures(void **state) {
  (void)state;
  char *text = allocation_text();
  tu_alloc t;
  art_error err = {0};
  json_decref(parse_ok(text, strlen(text))); /* jansson seeds its hash once */
  assert_true(parse_counted(&t, 0, text, &err));
  assert_int_equal(t.live, 0);
  long total = t.count;
  assert_true(total > 20);
  for (long i = 1; i <= total; i++) {
    memset(&err, 0, sizeof err);
    if (parse_counted(&t, i, text, &err))
      fail_msg("allocation %ld of %ld failed: parsed", i, total);
    if (err.code != ART_ENOMEM || t.live != 0)
      fail_msg("allocation %ld of %ld failed: %s, %ld live", i, total, err.message, t.live);
    assert_string_equal(err.message, "out of memory parsing JSON");
  }
  free(text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_literals),
      cmocka_unit_test(test_numbers),
      cmocka_unit_test(test_strings),
      cmocka_unit_test(test_escaped_keys_and_long_strings),
      cmocka_unit_test(test_containers),
      cmocka_unit_test(test_rejections),
      cmocka_unit_test(test_nul_after_number_or_literal),
      cmocka_unit_test(test_depth_limit),
      cmocka_unit_test(test_tricky_texts_as_jansson),
      cmocka_unit_test(test_no_text),
      cmocka_unit_test(test_decimal_comma_locale),
      cmocka_unit_test(test_allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
