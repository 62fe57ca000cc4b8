#include "core/schema_regex.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

/* The POSIX spellings of the ECMA class escapes outside brackets. */
#define DIGITS "0-9"
#define WORD "0-9A-Z_a-z"
#define SPACE "[:space:]"

/* A pattern being translated: input cursor, output buffer, first error. */
typedef struct translator {
  const char *p;
  char *out;
  size_t len, cap;
  char *why;
  size_t why_size;
  bool failed;
} translator;

/* One member of an ECMA character class: a code point range, or a class escape
 * (cls is one of d D w W s S; 0 for a range). */
typedef struct member {
  uint32_t lo, hi;
  char cls;
} member;

/* What an ECMA character class contains, as POSIX can express it. */
typedef struct bracket {
  bool ascii[128];
  bool all_non_ascii;  /* a negated escape (\D \W \S) admits every non-ASCII character */
  bool some_non_ascii; /* explicit non-ASCII members, emitted verbatim */
} bracket;

typedef void (*member_fn)(translator *t, const member *m, void *ud);

static void fail(translator *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(translator *t, const char *fmt, ...) {
  if (t->failed) return;
  t->failed = true;
  if (t->why && t->why_size) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->why, t->why_size, fmt, ap);
    va_end(ap);
  }
}

static void emit_bytes(translator *t, const char *s, size_t n) {
  if (t->failed) return;
  if (n >= t->cap - t->len) {
    fail(t, "pattern is too long to translate");
    return;
  }
  memcpy(t->out + t->len, s, n);
  t->len += n;
  t->out[t->len] = '\0';
}

static void emit_str(translator *t, const char *s) { emit_bytes(t, s, strlen(s)); }
static void emit_char(translator *t, char c) { emit_bytes(t, &c, 1); }

/* ---- UTF-8 ---------------------------------------------------------------- */

static size_t utf8_encode(uint32_t cp, char out[4]) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | cp >> 6);
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | cp >> 12);
    out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | cp >> 18);
  out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
  out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Decode one character at s (valid UTF-8, as jansson guarantees; a stray byte
 * is taken as itself).  Returns its length in bytes. */
static size_t utf8_decode(const char *s, uint32_t *cp) {
  const unsigned char *u = (const unsigned char *)s;
  size_t n = u[0] >= 0xF0 ? 4 : u[0] >= 0xE0 ? 3 : u[0] >= 0xC0 ? 2 : 1;
  uint32_t v = n == 1 ? u[0] : u[0] & (0x7F >> n);
  for (size_t i = 1; i < n; i++) {
    if ((u[i] & 0xC0) != 0x80) {
      *cp = u[0];
      return 1;
    }
    v = v << 6 | (u[i] & 0x3F);
  }
  *cp = v;
  return n;
}

/* ---- escapes -------------------------------------------------------------- */

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* `digits` hex digits at s, or -1. */
static long read_hex(const char *s, int digits) {
  long v = 0;
  for (int i = 0; i < digits; i++) {
    int h = hex_value(s[i]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

/* \uHHHH, joining a surrogate pair written as two escapes.  t->p is at 'u'. */
static uint32_t read_unicode_escape(translator *t) {
  long hi = read_hex(t->p + 1, 4);
  if (hi < 0) {
    fail(t, "\\u must be followed by four hex digits");
    return 0;
  }
  t->p += 5;
  if (hi >= 0xD800 && hi <= 0xDBFF && t->p[0] == '\\' && t->p[1] == 'u') {
    long lo = read_hex(t->p + 2, 4);
    if (lo >= 0xDC00 && lo <= 0xDFFF) {
      t->p += 6;
      return 0x10000 + (uint32_t)((hi - 0xD800) << 10 | (lo - 0xDC00));
    }
  }
  return (uint32_t)hi;
}

static bool is_ascii_alnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* Escapes that stand for one character; t->p is at the character after the
 * backslash.  Returns the code point, or sets t->failed. */
static uint32_t read_char_escape(translator *t, bool in_bracket) {
  char c = *t->p;
  switch (c) {
  case 'f': return t->p++, '\f';
  case 'n': return t->p++, '\n';
  case 'r': return t->p++, '\r';
  case 't': return t->p++, '\t';
  case 'v': return t->p++, '\v';
  default: break;
  }
  if (c == 'b' && in_bracket) return t->p++, 0x08;
  if (c == 'u') return read_unicode_escape(t);
  if (c == 'x') {
    long v = read_hex(t->p + 1, 2);
    if (v < 0) fail(t, "\\x must be followed by two hex digits");
    t->p += 3;
    return (uint32_t)(v < 0 ? 0 : v);
  }
  if (c == 'c' && ((t->p[1] | 0x20) >= 'a' && (t->p[1] | 0x20) <= 'z')) {
    t->p += 2;
    return (uint32_t)(t->p[-1] & 0x1F);
  }
  if (c == 'b' || c == 'B') fail(t, "word boundaries (\\%c) are not supported", c);
  else if (c == '0') fail(t, "\\0 (NUL) is not supported");
  else if (c >= '1' && c <= '9') fail(t, "backreferences (\\%c) are not supported", c);
  else if (c == 'p' || c == 'P') fail(t, "Unicode property escapes (\\%c) are not supported", c);
  else if (is_ascii_alnum(c)) fail(t, "unknown escape \\%c", c);
  else if (!c) fail(t, "pattern ends with a backslash");
  if (t->failed) return 0;
  uint32_t cp;
  t->p += utf8_decode(t->p, &cp); /* identity escape: \/ \. \\ ... */
  return cp;
}

/* Any escape; t->p is at the character after the backslash. */
static member read_escape(translator *t, bool in_bracket) {
  member m = {0, 0, 0};
  if (*t->p && strchr("dDwWsS", *t->p)) {
    m.cls = *t->p++;
    return m;
  }
  m.lo = m.hi = read_char_escape(t, in_bracket);
  return m;
}

/* ---- outside brackets ----------------------------------------------------- */

static const char *class_outside_brackets(char cls) {
  switch (cls) {
  case 'd': return "[" DIGITS "]";
  case 'D': return "[^" DIGITS "]";
  case 'w': return "[" WORD "]";
  case 'W': return "[^" WORD "]";
  case 's': return "[" SPACE "]";
  default: return "[^" SPACE "]";
  }
}

/* One character as a POSIX literal.  A multi-byte character is grouped so that
 * a following quantifier applies to all of it even under the "C" locale. */
static void emit_literal(translator *t, uint32_t cp) {
  char buf[4];
  size_t n = utf8_encode(cp, buf);
  if (n == 1) {
    if (strchr("^.[$()|*+?{\\", buf[0])) emit_char(t, '\\');
    emit_char(t, buf[0]);
    return;
  }
  bool quantified = *t->p && strchr("*+?{", *t->p);
  if (quantified) emit_char(t, '(');
  emit_bytes(t, buf, n);
  if (quantified) emit_char(t, ')');
}

/* Whether a lazy quantifier matches is the same as for the greedy one. */
static void skip_lazy(translator *t) {
  if (*t->p == '?') t->p++;
}

/* Length of a {n}, {n,} or {n,m} quantifier at s; 0 when s is a literal brace. */
static size_t interval_length(const char *s) {
  size_t i = 1;
  if (!(s[i] >= '0' && s[i] <= '9')) return 0;
  while (s[i] >= '0' && s[i] <= '9') i++;
  if (s[i] == ',') {
    i++;
    while (s[i] >= '0' && s[i] <= '9') i++;
  }
  return s[i] == '}' ? i + 1 : 0;
}

static void translate_brace(translator *t) {
  size_t n = interval_length(t->p);
  if (!n) {
    emit_str(t, "\\{");
    t->p++;
    return;
  }
  emit_bytes(t, t->p, n);
  t->p += n;
  skip_lazy(t);
}

static void translate_group_open(translator *t) {
  if (t->p[1] != '?') {
    t->p++;
  } else if (t->p[2] == ':') {
    t->p += 3;
  } else if (t->p[2] == '<' && t->p[3] != '=' && t->p[3] != '!' && strchr(t->p, '>')) {
    t->p = strchr(t->p, '>') + 1; /* named group: the name only matters to backreferences */
  } else {
    fail(t, "lookahead and lookbehind are not supported");
    return;
  }
  emit_char(t, '(');
}

static void translate_escape(translator *t) {
  t->p++;
  member m = read_escape(t, false);
  if (t->failed) return;
  if (m.cls) emit_str(t, class_outside_brackets(m.cls));
  else emit_literal(t, m.lo);
}

/* ---- brackets ------------------------------------------------------------- */

/* One class atom (a character or an escape); t->p is at it. */
static member read_class_atom(translator *t) {
  if (*t->p == '\\') {
    t->p++;
    return read_escape(t, true);
  }
  member m = {0, 0, 0};
  t->p += utf8_decode(t->p, &m.lo);
  m.hi = m.lo;
  return m;
}

/* Read the members of the class at t->p (just after '[' or "[^") up to and
 * past its ']', passing each to fn.  A '-' next to a class escape is a literal,
 * as ECMA-262 Annex B says. */
static void read_class(translator *t, member_fn fn, void *ud) {
  while (!t->failed && *t->p != ']') {
    if (!*t->p) {
      fail(t, "unterminated character class");
      return;
    }
    member m = read_class_atom(t);
    if (!m.cls && t->p[0] == '-' && t->p[1] && t->p[1] != ']') {
      t->p++;
      member hi = read_class_atom(t);
      if (hi.cls) {
        fn(t, &m, ud);
        m = (member){'-', '-', 0};
        fn(t, &hi, ud);
      } else if (hi.lo < m.lo) {
        fail(t, "character class range out of order");
      } else {
        m.hi = hi.lo;
      }
    }
    if (!t->failed) fn(t, &m, ud);
  }
  t->p++;
}

static bool class_has(char cls, unsigned c) {
  switch (cls | 0x20) {
  case 'd': return c >= '0' && c <= '9';
  case 'w': return is_ascii_alnum((char)c) || c == '_';
  default: return c == ' ' || (c >= '\t' && c <= '\r');
  }
}

static void collect_member(translator *t, const member *m, void *ud) {
  bracket *b = ud;
  (void)t;
  if (m->cls) {
    bool negated = m->cls >= 'A' && m->cls <= 'Z';
    for (unsigned c = 1; c < 128; c++)
      if (class_has(m->cls, c) != negated) b->ascii[c] = true;
    if (negated) b->all_non_ascii = true;
    return;
  }
  for (uint32_t c = m->lo; c <= m->hi && c < 128; c++) b->ascii[c] = true;
  if (m->hi >= 128) b->some_non_ascii = true;
}

static void emit_non_ascii_member(translator *t, const member *m, void *ud) {
  char buf[4];
  (void)ud;
  if (m->cls || m->hi < 128) return;
  uint32_t lo = m->lo < 128 ? 128 : m->lo;
  emit_bytes(t, buf, utf8_encode(lo, buf));
  if (m->hi == lo) return;
  emit_char(t, '-');
  emit_bytes(t, buf, utf8_encode(m->hi, buf));
}

/* The characters that need a fixed place in a POSIX bracket expression. */
static bool bracket_special(unsigned c) { return c == ']' || c == '^' || c == '-' || c == '['; }

/* The ASCII members between '[' (or "[^") and ']': ']' first, '-' last, '^'
 * never first, '[' never followed by . : = (which would start [. [: [=). */
static void emit_ascii_members(translator *t, const bool set[128], bool negated) {
  bool first = !negated;
  if (set[']']) emit_char(t, ']'), first = false;
  for (unsigned c = 1; c < 128; c++) {
    if (!set[c] || bracket_special(c)) continue;
    unsigned end = c;
    while (end + 1 < 128 && set[end + 1] && !bracket_special(end + 1)) end++;
    emit_char(t, (char)c);
    if (end - c >= 2) {
      emit_char(t, '-');
      emit_char(t, (char)end);
    } else {
      for (unsigned d = c + 1; d <= end; d++) emit_char(t, (char)d);
    }
    c = end;
    first = false;
  }
  if (set['[']) emit_char(t, '['), first = false;
  if (set['^'] && first && set['-']) {
    emit_str(t, "-^"); /* '^' may not open the list; '-' may */
    return;
  }
  if (set['^']) emit_char(t, '^');
  if (set['-']) emit_char(t, '-');
}

static size_t ascii_count(const bool set[128]) {
  size_t n = 0;
  for (unsigned c = 1; c < 128; c++) n += set[c];
  return n;
}

/* "[set]" for a non-empty ASCII set (a lone '^' cannot sit in a bracket). */
static void emit_ascii_bracket(translator *t, const bool set[128]) {
  if (ascii_count(set) == 1 && set['^']) {
    emit_str(t, "\\^");
    return;
  }
  emit_char(t, '[');
  emit_ascii_members(t, set, false);
  emit_char(t, ']');
}

/* A class that admits every non-ASCII character: the complement of the ASCII
 * characters it leaves out. */
static void emit_complement(translator *t, const bracket *b, bool negated) {
  bool rest[128] = {false};
  for (unsigned c = 1; c < 128; c++) rest[c] = !b->ascii[c];
  if (negated) {
    if (ascii_count(rest)) emit_ascii_bracket(t, rest);
    else fail(t, "character class matches nothing");
  } else if (ascii_count(rest)) {
    emit_str(t, "[^");
    emit_ascii_members(t, rest, true);
    emit_char(t, ']');
  } else {
    emit_char(t, '.'); /* POSIX '.' matches any character, newlines included */
  }
}

static void emit_positive_class(translator *t, const bracket *b, const char *members) {
  bool has_ascii = ascii_count(b->ascii) > 0;
  if (!has_ascii && !b->some_non_ascii) {
    fail(t, "empty character class [] matches nothing");
    return;
  }
  bool both = has_ascii && b->some_non_ascii;
  if (both) emit_char(t, '(');
  if (has_ascii) emit_ascii_bracket(t, b->ascii);
  if (both) emit_char(t, '|');
  if (b->some_non_ascii) {
    emit_char(t, '[');
    t->p = members;
    read_class(t, emit_non_ascii_member, NULL);
    emit_char(t, ']');
  }
  if (both) emit_char(t, ')');
}

static void emit_negated_class(translator *t, const bracket *b, const char *members) {
  if (!ascii_count(b->ascii) && !b->some_non_ascii) {
    emit_char(t, '.'); /* [^] matches any character */
    return;
  }
  emit_str(t, "[^");
  emit_ascii_members(t, b->ascii, true);
  t->p = members;
  read_class(t, emit_non_ascii_member, NULL);
  emit_char(t, ']');
}

/* Two passes over the class: collect what it contains, then write it; the
 * second pass re-reads the members to copy the non-ASCII ones. */
static void translate_bracket(translator *t) {
  bool negated = t->p[1] == '^';
  const char *members = t->p + (negated ? 2 : 1);
  bracket b;
  memset(&b, 0, sizeof b);
  t->p = members;
  read_class(t, collect_member, &b);
  if (t->failed) return;
  const char *after = t->p;
  if (b.all_non_ascii) emit_complement(t, &b, negated);
  else if (negated) emit_negated_class(t, &b, members);
  else emit_positive_class(t, &b, members);
  t->p = after;
}

/* ---- driver --------------------------------------------------------------- */

static void translate_token(translator *t) {
  char c = *t->p;
  switch (c) {
  case '\\': translate_escape(t); return;
  case '[': translate_bracket(t); return;
  case '(': translate_group_open(t); return;
  case '{': translate_brace(t); return;
  case '.':
    t->p++;
    emit_str(t, "[^\n\r]"); /* ECMA '.' stops at line terminators; POSIX '.' does not */
    return;
  case '*': case '+': case '?':
    t->p++;
    emit_char(t, c);
    skip_lazy(t);
    return;
  default:
    break;
  }
  if ((unsigned char)c < 0x80) { /* ^ $ | ) ] } and plain characters mean the same in ERE */
    emit_char(t, c);
    t->p++;
    return;
  }
  uint32_t cp;
  t->p += utf8_decode(t->p, &cp);
  emit_literal(t, cp);
}

size_t art_ecma_regex_bound(size_t pattern_len) {
  if (pattern_len > (SIZE_MAX - 64) / 16) return 0;
  return pattern_len * 16 + 64;
}

int art_ecma_regex_translate(const char *pattern, char *out, size_t out_size, char *why,
                             size_t why_size) {
  translator t = {pattern, out, 0, out_size, why, why_size, false};
  if (!out_size) return ART_EINVAL;
  out[0] = '\0';
  while (*t.p && !t.failed) translate_token(&t);
  return t.failed ? ART_EINVAL : 0;
}

int art_ecma_regex_compile(regex_t *re, const char *pattern, const art_allocator *a, char *why,
                           size_t why_size) {
  size_t cap = art_ecma_regex_bound(strlen(pattern));
  char *posix = cap ? art_alloc(a, cap) : NULL;
  if (!posix) return ART_ENOMEM;
  int rc = art_ecma_regex_translate(pattern, posix, cap, why, why_size);
  if (rc == 0) {
    int e = regcomp(re, posix, REG_EXTENDED | REG_NOSUB);
    if (e == REG_ESPACE) {
      rc = ART_ENOMEM;
    } else if (e) {
      regerror(e, re, why, why_size);
      rc = ART_EINVAL;
    }
  }
  art_release(a, posix);
  return rc;
}
