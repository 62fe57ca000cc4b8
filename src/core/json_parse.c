/* A strict JSON parser building jansson values (see json_parse.h).  It walks
 * the text with a pointer and checks everything itself (grammar, UTF-8,
 * escapes, ranges), so values are made with jansson's _nocheck constructors
 * and strings without escapes go to jansson straight from the text. */
#include "core/json_parse.h"
#include "core/text.h"

#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Strings with escapes are decoded, and reals copied for strtod, into a
 * scratch buffer used as a stack: an object's key stays there while its value
 * is parsed above it.  Most texts never need more than the part inside the
 * parser. */
#define SCRATCH_INLINE 256

typedef struct parser {
  const char *text, *p, *end; /* p: the next byte to read */
  art_error *err;
  char *scratch; /* scratch_inline or allocated */
  size_t top, cap;
  char point; /* the locale's decimal point, once a real has needed it */
  char scratch_inline[SCRATCH_INLINE];
} parser;

/* A string's text: in the input (no escapes) or decoded in the scratch buffer. */
typedef struct text_span {
  const char *raw; /* NULL: at scratch + at */
  size_t at, len;
} text_span;

/* ---- errors ---------------------------------------------------------------- */

/* Reports invalid JSON at byte `at`.  Returns NULL, for the caller to return
 * as its own failure (NULL, or false where it returns bool). */
__attribute__((format(printf, 3, 4))) static void *fail(parser *ps, const char *at, const char *fmt,
                                                        ...) {
  if (!ps->err) return NULL;
  char what[160];
  va_list ap;
  va_start(ap, fmt);
  art_vformat(what, sizeof what, fmt, ap);
  va_end(ap);
  art_error_set(ps->err, ART_EINVAL, "invalid JSON at byte %zu: %s", (size_t)(at - ps->text), what);
  return NULL;
}

/* "expected X" with what stands there instead. */
static void *expected(parser *ps, const char *at, const char *what) {
  if (at == ps->end) return fail(ps, at, "expected %s, found the end of the text", what);
  unsigned char c = (unsigned char)*at;
  if (c > ' ' && c < 0x7f) return fail(ps, at, "expected %s, found '%c'", what, c);
  return fail(ps, at, "expected %s, found byte 0x%02x", what, c);
}

static void *out_of_memory(parser *ps) {
  art_error_set(ps->err, ART_ENOMEM, "out of memory parsing JSON");
  return NULL;
}

/* ---- the scratch stack -------------------------------------------------------- */

/* Room for n more bytes at scratch + top.  jansson's allocator, so that a
 * caller who gave jansson one sees every allocation a parse makes. */
static bool scratch_reserve(parser *ps, size_t n) {
  if (ps->cap - ps->top > n) return true; /* n + 1: room for the NUL after a real */
  size_t cap = ps->cap * 2;
  while (cap - ps->top <= n) cap *= 2;
  json_malloc_t malloc_fn;
  json_free_t free_fn;
  json_get_alloc_funcs(&malloc_fn, &free_fn);
  char *scratch = malloc_fn(cap);
  if (!scratch) return out_of_memory(ps);
  memcpy(scratch, ps->scratch, ps->top);
  if (ps->scratch != ps->scratch_inline) free_fn(ps->scratch);
  ps->scratch = scratch;
  ps->cap = cap;
  return true;
}

static bool scratch_push(parser *ps, const char *bytes, size_t n) {
  if (!scratch_reserve(ps, n)) return false;
  memcpy(ps->scratch + ps->top, bytes, n);
  ps->top += n;
  return true;
}

static void scratch_dispose(parser *ps) {
  if (ps->scratch == ps->scratch_inline) return;
  json_free_t free_fn;
  json_get_alloc_funcs(NULL, &free_fn);
  free_fn(ps->scratch);
}

/* ---- bytes -------------------------------------------------------------------- */

static int peek(const parser *ps) { return ps->p < ps->end ? (unsigned char)*ps->p : -1; }

static bool is_digit(int c) { return c >= '0' && c <= '9'; }

static void skip_space(parser *ps) {
  const char *p = ps->p;
  while (p < ps->end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
  ps->p = p;
}

/* jansson's lexer reads one byte past a number or a literal and puts it back,
 * and a NUL byte put back is lost (its stream buffer is NUL-terminated): so
 * json_loadb accepts "1\0" and "[true\0]".  Skipping that one byte keeps the
 * two parsers' languages the same. */
static void skip_lost_nul(parser *ps) {
  if (ps->p < ps->end && *ps->p == '\0') ps->p++;
}

/* ---- strings ------------------------------------------------------------------ */

/* Bytes that stand for themselves in a string: ASCII from 0x20 up, but for the
 * quote and the backslash.  The rest need a closer look. */
static bool plain_byte(unsigned char c) { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; }

/* Whether all 8 bytes at u are plain: a word at a time, since long strings
 * are most of a journal's bytes.  (x - 0x01..) & ~x & 0x80.. is non-zero
 * exactly when a byte of x is zero, and with 0x20.. when one is below 0x20. */
static bool plain_word(const unsigned char *u) {
  const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
  uint64_t w, quote, backslash;
  memcpy(&w, u, sizeof w);
  quote = w ^ (ones * '"');
  backslash = w ^ (ones * '\\');
  uint64_t control = (w - ones * 0x20) & ~w;
  return ((control | ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash) | w) & high) ==
         0;
}

/* What the one-letter escapes stand for; 0: not one. */
static const char simple_escape[256] = {['"'] = '"',  ['\\'] = '\\', ['/'] = '/',  ['b'] = '\b',
                                        ['f'] = '\f', ['n'] = '\n',  ['r'] = '\r', ['t'] = '\t'};

/* Length of the well-formed UTF-8 sequence of 2 to 4 bytes at p, or 0.  The
 * second byte's range rules out overlong forms, UTF-16 surrogates and code
 * points above U+10FFFF, as jansson does. */
static size_t utf8_length(const unsigned char *p, const unsigned char *end) {
  unsigned lo = 0x80, hi = 0xBF;
  size_t n;
  if (p[0] >= 0xC2 && p[0] <= 0xDF) {
    n = 2;
  } else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
    n = 3;
    lo = p[0] == 0xE0 ? 0xA0 : lo;
    hi = p[0] == 0xED ? 0x9F : hi;
  } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
    n = 4;
    lo = p[0] == 0xF0 ? 0x90 : lo;
    hi = p[0] == 0xF4 ? 0x8F : hi;
  } else {
    return 0;
  }
  if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi) return 0;
  for (size_t i = 2; i < n; i++)
    if ((p[i] & 0xC0) != 0x80) return 0;
  return n;
}

/* The first quote or backslash from p on, the bytes before it checked: no
 * control characters, valid UTF-8.  NULL when there is none or a byte is bad. */
static const char *scan_plain(parser *ps, const char *p, const char *open) {
  const unsigned char *u = (const unsigned char *)p, *end = (const unsigned char *)ps->end;
  for (;;) {
    while (end - u >= 8 && plain_word(u)) u += 8;
    while (u < end && plain_byte(*u)) u++;
    if (u == end)
      return fail(ps, ps->end, "unterminated string (it starts at byte %zu)",
                  (size_t)(open - ps->text));
    if (*u == '"' || *u == '\\') return (const char *)u;
    if (*u < 0x20) return fail(ps, (const char *)u, "control character 0x%02x in a string", *u);
    size_t n = utf8_length(u, end);
    if (!n) return fail(ps, (const char *)u, "invalid UTF-8 (byte 0x%02x)", *u);
    u += n;
  }
}

/* The four hex digits at p as a number, or -1. */
static long hex4(const char *p, const char *end) {
  if (end - p < 4) return -1;
  long v = 0;
  for (int i = 0; i < 4; i++) {
    int c = (unsigned char)p[i], d;
    if (is_digit(c))
      d = c - '0';
    else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
      d = (c | 0x20) - 'a' + 10;
    else
      return -1;
    v = v << 4 | d;
  }
  return v;
}

static bool push_utf8(parser *ps, long cp) {
  char b[4];
  size_t n;
  if (cp < 0x80) {
    b[0] = (char)cp, n = 1;
  } else if (cp < 0x800) {
    b[0] = (char)(0xC0 | cp >> 6), b[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
  } else if (cp < 0x10000) {
    b[0] = (char)(0xE0 | cp >> 12), b[1] = (char)(0x80 | (cp >> 6 & 0x3F));
    b[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
  } else {
    b[0] = (char)(0xF0 | cp >> 18), b[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    b[2] = (char)(0x80 | (cp >> 6 & 0x3F)), b[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
  }
  return scratch_push(ps, b, n);
}

/* The \u escape (four hex digits) at p (a surrogate pair takes two), decoded onto the
 * scratch stack; returns the byte after it.  A lone or mismatched surrogate and
 * U+0000 are refused, as jansson refuses them. */
static const char *decode_unicode(parser *ps, const char *p) {
  long cp = hex4(p + 2, ps->end);
  if (cp < 0) return fail(ps, p, "invalid \\u escape");
  if (cp >= 0xDC00 && cp <= 0xDFFF) return fail(ps, p, "lone surrogate \\u%04lX", cp);
  if (cp >= 0xD800 && cp <= 0xDBFF) {
    const char *low = p + 6;
    if (ps->end - low < 2 || low[0] != '\\' || low[1] != 'u')
      return fail(ps, p, "lone surrogate \\u%04lX", cp);
    long lo = hex4(low + 2, ps->end);
    if (lo < 0) return fail(ps, low, "invalid \\u escape");
    if (lo < 0xDC00 || lo > 0xDFFF)
      return fail(ps, p, "surrogate \\u%04lX followed by \\u%04lX", cp, lo);
    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    p = low;
  }
  if (cp == 0) return fail(ps, p, "\\u0000 is not allowed in a string");
  return push_utf8(ps, cp) ? p + 6 : NULL;
}

/* The escape at p (a backslash), decoded onto the scratch stack; returns the
 * byte after it. */
static const char *decode_escape(parser *ps, const char *p) {
  char c = ps->end - p >= 2 ? simple_escape[(unsigned char)p[1]] : 0;
  if (c) return scratch_push(ps, &c, 1) ? p + 2 : NULL;
  if (ps->end - p >= 2 && p[1] == 'u') return decode_unicode(ps, p);
  if (ps->end - p < 2) return fail(ps, ps->end, "unterminated string");
  unsigned char after = (unsigned char)p[1];
  if (after > ' ' && after < 0x7f) return fail(ps, p, "invalid escape '\\%c'", after);
  return fail(ps, p, "invalid escape (byte 0x%02x after '\\')", after);
}

/* The rest of a string with escapes, from the first backslash at p: decoded
 * onto the scratch stack. */
static bool read_escaped(parser *ps, const char *open, const char *p, text_span *out) {
  out->raw = NULL;
  out->at = ps->top;
  if (!scratch_push(ps, open + 1, (size_t)(p - open - 1))) return false;
  while (*p == '\\') {
    const char *run = decode_escape(ps, p);
    if (!run || !(p = scan_plain(ps, run, open))) return false;
    if (!scratch_push(ps, run, (size_t)(p - run))) return false;
  }
  out->len = ps->top - out->at;
  ps->p = p + 1;
  return true;
}

/* The string whose opening quote is at ps->p.  Without escapes (the usual
 * case) its text is the input's own. */
static bool read_string(parser *ps, text_span *out) {
  const char *open = ps->p, *p = scan_plain(ps, open + 1, open);
  if (!p) return false;
  if (*p == '\\') return read_escaped(ps, open, p, out);
  out->raw = open + 1;
  out->len = (size_t)(p - open - 1);
  ps->p = p + 1;
  return true;
}

static const char *span_text(const parser *ps, const text_span *t) {
  return t->raw ? t->raw : ps->scratch + t->at;
}

static json_t *parse_string(parser *ps) {
  size_t mark = ps->top;
  text_span s;
  if (!read_string(ps, &s)) return NULL;
  json_t *v = json_stringn_nocheck(span_text(ps, &s), s.len);
  ps->top = mark;
  return v ? v : out_of_memory(ps);
}

/* ---- numbers and literals ---------------------------------------------------- */

/* The digits [d, end) as a json_int_t, or an error as jansson's strtoll gives
 * one when it is out of range. */
static json_t *make_integer(parser *ps, const char *start, bool negative, const char *d,
                            const char *end) {
  unsigned long long limit = negative ? (unsigned long long)LLONG_MAX + 1 : LLONG_MAX;
  unsigned long long v = 0;
  for (; d < end; d++) {
    unsigned digit = (unsigned)(*d - '0');
    if (v > limit / 10 || (v == limit / 10 && digit > limit % 10))
      return fail(ps, start, negative ? "too big negative integer" : "too big integer");
    v = v * 10 + digit;
  }
  json_int_t i = negative ? (v ? -(json_int_t)(v - 1) - 1 : 0) : (json_int_t)v;
  json_t *value = json_integer(i);
  return value ? value : out_of_memory(ps);
}

/* The number text [start, end), checked already, as a real.  strtod reads the
 * locale's decimal point: jansson puts it in place of the '.', and so does
 * this (agentrt never calls setlocale, but a program embedding it may). */
static json_t *make_real(parser *ps, const char *start, const char *end) {
  size_t n = (size_t)(end - start);
  if (!scratch_reserve(ps, n)) return NULL;
  char *s = ps->scratch + ps->top;
  memcpy(s, start, n);
  s[n] = '\0';
  if (!ps->point) ps->point = localeconv()->decimal_point[0];
  char *dot = ps->point != '.' ? memchr(s, '.', n) : NULL;
  if (dot) *dot = ps->point;
  errno = 0;
  double d = strtod(s, NULL);
  if (errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL))
    return fail(ps, start, "real number overflow");
  json_t *value = json_real(d);
  return value ? value : out_of_memory(ps);
}

static const char *skip_digits(const char *p, const char *end) {
  while (p < end && is_digit((unsigned char)*p)) p++;
  return p;
}

/* A number: an integer without fraction or exponent, otherwise a real. */
static json_t *parse_number(parser *ps) {
  const char *start = ps->p, *p = start, *end = ps->end;
  bool negative = *p == '-';
  p += negative;
  const char *digits = p;
  if (p == end || !is_digit((unsigned char)*p)) return expected(ps, p, "a digit");
  if (*p == '0' && p + 1 < end && is_digit((unsigned char)p[1]))
    return fail(ps, p, "leading zeros are not allowed");
  p = skip_digits(p, end);
  const char *int_end = p;
  if (p < end && *p == '.') {
    if (++p == end || !is_digit((unsigned char)*p)) return expected(ps, p, "a digit after '.'");
    p = skip_digits(p, end);
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < end && (*p == '+' || *p == '-')) p++;
    if (p == end || !is_digit((unsigned char)*p)) return expected(ps, p, "a digit in the exponent");
    p = skip_digits(p, end);
  }
  ps->p = p;
  json_t *v = p == int_end ? make_integer(ps, start, negative, digits, p) : make_real(ps, start, p);
  skip_lost_nul(ps);
  return v;
}

/* true, false or null; jansson reads a whole word, so "nullx" is one bad word,
 * not null followed by x. */
static json_t *parse_literal(parser *ps, const char *word, json_t *value) {
  size_t n = strlen(word);
  const char *after = ps->p + n;
  if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0 ||
      (after < ps->end && ((*after | 0x20) >= 'a' && (*after | 0x20) <= 'z')))
    return fail(ps, ps->p, "invalid literal (true, false or null expected)");
  ps->p = after;
  skip_lost_nul(ps);
  return value;
}

/* ---- objects and arrays -------------------------------------------------------- */

static json_t *parse_value(parser *ps, size_t depth);

/* "key": value, into obj. */
static bool parse_member(parser *ps, json_t *obj, size_t depth) {
  size_t mark = ps->top;
  text_span key;
  if (peek(ps) != '"') return expected(ps, ps->p, "a string key");
  if (!read_string(ps, &key)) return false;
  skip_space(ps);
  if (peek(ps) != ':') return expected(ps, ps->p, "':'");
  ps->p++;
  skip_space(ps);
  json_t *value = parse_value(ps, depth + 1);
  if (!value) return false;
  /* The key may be in the scratch buffer, which the value may have moved. */
  if (json_object_setn_new_nocheck(obj, span_text(ps, &key), key.len, value) < 0)
    return out_of_memory(ps);
  ps->top = mark;
  return true;
}

static bool parse_element(parser *ps, json_t *arr, size_t depth) {
  json_t *elem = parse_value(ps, depth + 1);
  if (!elem) return false;
  if (json_array_append_new(arr, elem) < 0) return out_of_memory(ps);
  return true;
}

typedef bool (*item_parser)(parser *ps, json_t *container, size_t depth);

/* The members or elements of the container (new, or NULL when out of memory)
 * whose opening bracket is at ps->p, each read by `item`, up to `close`. */
static json_t *parse_items(parser *ps, json_t *container, char close, item_parser item,
                           size_t depth) {
  if (!container) return out_of_memory(ps);
  ps->p++;
  skip_space(ps);
  if (peek(ps) == close) {
    ps->p++;
    return container;
  }
  while (item(ps, container, depth)) {
    skip_space(ps);
    int next = peek(ps);
    if (next == close) {
      ps->p++;
      return container;
    }
    if (next != ',') {
      expected(ps, ps->p, close == '}' ? "',' or '}'" : "',' or ']'");
      break;
    }
    ps->p++;
    skip_space(ps);
  }
  json_decref(container);
  return NULL;
}

/* The value at ps->p, at nesting depth `depth` (the top is 1).  jansson counts
 * every value, so it takes 2048 nested empty arrays but not 2048 around a 1. */
static json_t *parse_value(parser *ps, size_t depth) {
  if (depth > JSON_PARSER_MAX_DEPTH)
    return fail(ps, ps->p, "nested deeper than %d", JSON_PARSER_MAX_DEPTH);
  switch (peek(ps)) {
  case '{': return parse_items(ps, json_object(), '}', parse_member, depth);
  case '[': return parse_items(ps, json_array(), ']', parse_element, depth);
  case '"': return parse_string(ps);
  case 't': return parse_literal(ps, "true", json_true());
  case 'f': return parse_literal(ps, "false", json_false());
  case 'n': return parse_literal(ps, "null", json_null());
  default:
    if (peek(ps) == '-' || is_digit(peek(ps))) return parse_number(ps);
    return expected(ps, ps->p, "a value");
  }
}

json_t *art_json_parse(const char *text, size_t len, art_error *err) {
  if (!text) {
    art_error_set(err, ART_EINVAL, "invalid JSON: no text");
    return NULL;
  }
  parser ps = {.text = text, .p = text, .end = text + len, .err = err, .cap = SCRATCH_INLINE};
  ps.scratch = ps.scratch_inline;
  skip_space(&ps);
  json_t *value = parse_value(&ps, 1);
  if (value) skip_space(&ps);
  if (value && ps.p != ps.end) {
    json_decref(value);
    value = expected(&ps, ps.p, "the end of the text");
  }
  scratch_dispose(&ps);
  return value;
}
