#include "core/schema_regex.h"

#include "core/regex_cost.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

#define MAX_CODE_POINT 0x10FFFFu
/* Non-ASCII ranges one character class may hold once merged; far more than
 * hand-written patterns use, and it keeps a class on the stack. */
#define MAX_RANGES 64
/* Any non-ASCII character, given valid UTF-8 input.  The greedy tail cannot
 * stop inside a character: nothing in a translation matches a lone
 * continuation byte. */
#define ANY_NON_ASCII "[\xC0-\xFF][\x80-\xBF]*"

/* A pattern being translated: input cursor, output, first error.  `len`
 * counts everything emitted, also past `cap`, so a first pass can measure. */
typedef struct translator {
  const char *p;
  char *out;
  size_t len, cap;
  char *why;
  size_t why_size;
  bool failed;
} translator;

typedef struct range {
  uint32_t lo, hi;
} range;

/* A set of characters: ASCII as a bitmap, the rest as sorted, disjoint,
 * non-adjacent ranges. */
typedef struct charset {
  bool ascii[128];
  range wide[MAX_RANGES];
  size_t wide_count;
} charset;

/* ECMA-262 WhiteSpace and LineTerminator characters beyond ASCII (\s). */
static const range unicode_spaces[] = {
    {0xA0, 0xA0},     {0x1680, 0x1680}, {0x2000, 0x200A}, {0x2028, 0x2029},
    {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000}, {0xFEFF, 0xFEFF},
};

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
  if (t->len < t->cap) {
    size_t room = t->cap - t->len;
    memcpy(t->out + t->len, s, n < room ? n : room);
  }
  t->len += n;
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

/* Decode one character at s (jansson strings are valid UTF-8; a stray byte is
 * taken as itself).  Returns its length in bytes. */
static size_t utf8_decode(const char *s, uint32_t *cp) {
  const unsigned char *u = (const unsigned char *)s;
  size_t n = u[0] >= 0xF0 ? 4 : u[0] >= 0xE0 ? 3 : u[0] >= 0xC0 ? 2 : 1;
  uint32_t v = n == 1 ? u[0] : u[0] & (0x7Fu >> n);
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

/* ---- character sets ------------------------------------------------------- */

/* Insert [lo, hi] (all >= 0x80), merging with overlapping or adjacent ranges. */
static void add_wide(translator *t, charset *cs, uint32_t lo, uint32_t hi) {
  range merged = {lo, hi}, kept[MAX_RANGES + 1];
  size_t n = 0;
  bool placed = false;
  for (size_t i = 0; i < cs->wide_count; i++) {
    range r = cs->wide[i];
    if (r.hi + 1 < merged.lo) {
      kept[n++] = r;
    } else if (r.lo > merged.hi + 1) {
      if (!placed) kept[n++] = merged;
      placed = true;
      kept[n++] = r;
    } else {
      merged.lo = r.lo < merged.lo ? r.lo : merged.lo;
      merged.hi = r.hi > merged.hi ? r.hi : merged.hi;
    }
  }
  if (!placed) kept[n++] = merged;
  if (n > MAX_RANGES) {
    fail(t, "character class is too complex");
    return;
  }
  memcpy(cs->wide, kept, n * sizeof *kept);
  cs->wide_count = n;
}

static void charset_add(translator *t, charset *cs, uint32_t lo, uint32_t hi) {
  for (uint32_t c = lo; c <= hi && c < 128; c++) cs->ascii[c] = true;
  if (hi >= 128) add_wide(t, cs, lo < 128 ? 128 : lo, hi);
}

/* Every character (but NUL, which a C string cannot hold) not in cs. */
static void charset_invert(translator *t, charset *cs) {
  for (unsigned c = 1; c < 128; c++) cs->ascii[c] = !cs->ascii[c];
  cs->ascii[0] = false;
  range inverted[MAX_RANGES + 1];
  size_t n = 0;
  uint32_t next = 0x80;
  for (size_t i = 0; i < cs->wide_count; i++) {
    if (cs->wide[i].lo > next) inverted[n++] = (range){next, cs->wide[i].lo - 1};
    next = cs->wide[i].hi + 1;
  }
  if (next <= MAX_CODE_POINT) inverted[n++] = (range){next, MAX_CODE_POINT};
  if (n > MAX_RANGES) {
    fail(t, "character class is too complex");
    return;
  }
  memcpy(cs->wide, inverted, n * sizeof *inverted);
  cs->wide_count = n;
}

static bool is_ascii_alnum(unsigned c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* cls: d w s (lower case) */
static bool class_has_ascii(char cls, unsigned c) {
  if (cls == 'd') return c >= '0' && c <= '9';
  if (cls == 'w') return is_ascii_alnum(c) || c == '_';
  return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Add a class escape: \d \w \s, or their complements \D \W \S. */
static void charset_add_class(translator *t, charset *cs, char cls) {
  charset part;
  memset(&part, 0, sizeof part);
  char lower = (char)(cls | 0x20);
  for (unsigned c = 1; c < 128; c++) part.ascii[c] = class_has_ascii(lower, c);
  for (size_t i = 0; lower == 's' && i < sizeof unicode_spaces / sizeof *unicode_spaces; i++)
    add_wide(t, &part, unicode_spaces[i].lo, unicode_spaces[i].hi);
  if (cls != lower) charset_invert(t, &part);
  for (unsigned c = 0; c < 128; c++) cs->ascii[c] |= part.ascii[c];
  for (size_t i = 0; i < part.wide_count; i++) add_wide(t, cs, part.wide[i].lo, part.wide[i].hi);
}

static size_t ascii_count(const charset *cs) {
  size_t n = 0;
  for (unsigned c = 1; c < 128; c++) n += cs->ascii[c];
  return n;
}

/* ---- writing a set as POSIX ------------------------------------------------ */

/* The characters that need a fixed place inside a bracket expression. */
static bool bracket_special(unsigned c) { return c == ']' || c == '^' || c == '-' || c == '['; }

/* Runs of ordinary ASCII members, "a-z" from three in a row; whether any. */
static bool emit_ascii_runs(translator *t, const bool set[128]) {
  bool any = false;
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
    any = true;
  }
  return any;
}

/* What goes between "[" (or "[^") and "]": ']' first, '-' last, '^' never
 * first, '[' never followed by . : = (which would open [. [: [=). */
static void emit_members(translator *t, const charset *cs, bool negated, bool high_bytes) {
  bool first = !negated;
  if (cs->ascii[']']) {
    emit_char(t, ']');
    first = false;
  }
  if (emit_ascii_runs(t, cs->ascii)) first = false;
  if (high_bytes) {
    emit_str(t, "\x80-\xFF");
    first = false;
  }
  if (cs->ascii['[']) {
    emit_char(t, '[');
    first = false;
  }
  if (cs->ascii['^'] && first && cs->ascii['-']) {
    emit_str(t, "-^"); /* '^' may not open the list; '-' may */
    return;
  }
  if (cs->ascii['^']) emit_char(t, '^');
  if (cs->ascii['-']) emit_char(t, '-');
}

/* "[members]" for ASCII members; a lone '^' cannot be a bracket's only member. */
static void emit_bracket(translator *t, const charset *cs) {
  if (ascii_count(cs) == 1 && cs->ascii['^']) {
    emit_str(t, "\\^");
    return;
  }
  emit_char(t, '[');
  emit_members(t, cs, false, false);
  emit_char(t, ']');
}

/* Alternatives matching the UTF-8 encodings of [lo, hi]: split until every
 * byte position is a plain byte range (the method of RE2's UTF-8 ranges). */
static void emit_utf8_range(translator *t, uint32_t lo, uint32_t hi, bool *first) {
  static const uint32_t length_limits[] = {0x7F, 0x7FF, 0xFFFF};
  for (size_t i = 0; i < 3; i++) {
    uint32_t limit = length_limits[i];
    if (lo <= limit && hi > limit) {
      emit_utf8_range(t, lo, limit, first);
      emit_utf8_range(t, limit + 1, hi, first);
      return;
    }
  }
  char a[4], b[4];
  size_t n = utf8_encode(lo, a);
  utf8_encode(hi, b);
  for (size_t i = 1; i < n; i++) {
    uint32_t m = (1u << (6 * i)) - 1; /* the bits held by the last i bytes */
    if ((lo & ~m) == (hi & ~m)) continue;
    if (lo & m) {
      emit_utf8_range(t, lo, lo | m, first);
      emit_utf8_range(t, (lo | m) + 1, hi, first);
      return;
    }
    if ((hi & m) != m) {
      emit_utf8_range(t, lo, (hi & ~m) - 1, first);
      emit_utf8_range(t, hi & ~m, hi, first);
      return;
    }
  }
  if (!*first) emit_char(t, '|');
  *first = false;
  for (size_t i = 0; i < n; i++) { /* bytes >= 0x80: nothing to escape */
    if (a[i] == b[i]) {
      emit_char(t, a[i]);
    } else {
      char bracket[5] = {'[', a[i], '-', b[i], ']'};
      emit_bytes(t, bracket, sizeof bracket);
    }
  }
}

/* regcomp sees bytes (see art_ecma_regex_compile), so non-ASCII members
 * become UTF-8 byte sequences, alternatives to an ASCII-only bracket. */
static void emit_set(translator *t, const charset *cs) {
  if (t->failed) return;
  if (!ascii_count(cs) && !cs->wide_count) {
    emit_str(t, "($.)"); /* [] matches nothing: a character after the end */
    return;
  }
  if (!cs->wide_count) {
    emit_bracket(t, cs);
    return;
  }
  bool first = true;
  emit_char(t, '(');
  if (ascii_count(cs) > 64) { /* shorter as a complement, which must leave out high bytes */
    charset rest = *cs;
    for (unsigned c = 1; c < 128; c++) rest.ascii[c] = !cs->ascii[c];
    emit_str(t, "[^");
    emit_members(t, &rest, true, true);
    emit_char(t, ']');
    first = false;
  } else if (ascii_count(cs)) {
    emit_bracket(t, cs);
    first = false;
  }
  if (cs->wide_count == 1 && cs->wide[0].lo == 0x80 && cs->wide[0].hi == MAX_CODE_POINT) {
    emit_str(t, first ? ANY_NON_ASCII : "|" ANY_NON_ASCII);
  } else {
    for (size_t i = 0; i < cs->wide_count; i++)
      emit_utf8_range(t, cs->wide[i].lo, cs->wide[i].hi, &first);
  }
  emit_char(t, ')');
}

/* ---- escapes -------------------------------------------------------------- */

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') return (c | 0x20) - 'a' + 10;
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

/* \f \n \r \t \v, or -1. */
static int control_escape(char c) {
  switch (c) {
  case 'f': return '\f';
  case 'n': return '\n';
  case 'r': return '\r';
  case 't': return '\t';
  case 'v': return '\v';
  default: return -1;
  }
}

static void reject_escape(translator *t, char c) {
  if (c == 'b' || c == 'B')
    fail(t, "word boundaries (\\%c) are not supported", c);
  else if (c == '0')
    fail(t, "\\0 (NUL) is not supported");
  else if (c >= '1' && c <= '9')
    fail(t, "backreferences (\\%c) are not supported", c);
  else if (c == 'p' || c == 'P')
    fail(t, "Unicode property escapes (\\%c) are not supported", c);
  else if (c == 'x')
    fail(t, "\\x must be followed by two hex digits");
  else if (c == 'c')
    fail(t, "\\c must be followed by a letter");
  else if (!c)
    fail(t, "pattern ends with a backslash");
  else
    fail(t, "unknown escape \\%c", c);
}

/* An escape that stands for one character; t->p is just past the backslash. */
static uint32_t read_char_escape(translator *t, bool in_bracket) {
  char c = *t->p;
  uint32_t cp;
  if (control_escape(c) >= 0) {
    t->p++;
    return (uint32_t)control_escape(c);
  }
  if (c == 'b' && in_bracket) { /* backspace, inside a class only */
    t->p++;
    return 0x08;
  }
  if (c == 'u') return read_unicode_escape(t);
  if (c == 'x' && read_hex(t->p + 1, 2) >= 0) {
    t->p += 3;
    return (uint32_t)read_hex(t->p - 2, 2);
  }
  if (c == 'c' && (t->p[1] | 0x20) >= 'a' && (t->p[1] | 0x20) <= 'z') { /* \cX: control X */
    t->p += 2;
    return (uint32_t)(t->p[-1] & 0x1F);
  }
  if (!c || is_ascii_alnum((unsigned char)c)) {
    reject_escape(t, c);
    return 0;
  }
  t->p += utf8_decode(t->p, &cp); /* identity escape: \/ \. \\ \- ... */
  return cp;
}

/* One character, or a class escape (cls one of d D w W s S, else 0). */
typedef struct atom {
  uint32_t cp;
  char cls;
} atom;

/* t->p is just past the backslash. */
static atom read_escape(translator *t, bool in_bracket) {
  atom a = {0, 0};
  if (*t->p && strchr("dDwWsS", *t->p))
    a.cls = *t->p++;
  else
    a.cp = read_char_escape(t, in_bracket);
  return a;
}

static void add_atom(translator *t, charset *cs, atom a) {
  if (a.cls)
    charset_add_class(t, cs, a.cls);
  else
    charset_add(t, cs, a.cp, a.cp);
}

/* ---- outside brackets ----------------------------------------------------- */

/* One character as a POSIX literal.  A multi-byte character is grouped so that
 * a following quantifier applies to all of it under a single-byte locale. */
static void emit_literal(translator *t, uint32_t cp) {
  char buf[4];
  if (cp == 0) {
    fail(t, "NUL characters are not supported"); /* regcomp takes a C string */
    return;
  }
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
  atom a = read_escape(t, false);
  if (t->failed) return;
  if (!a.cls) {
    emit_literal(t, a.cp);
    return;
  }
  charset cs;
  memset(&cs, 0, sizeof cs);
  charset_add_class(t, &cs, a.cls);
  emit_set(t, &cs);
}

/* ECMA '.': anything but \n and \r (see the header about U+2028 and U+2029). */
static void translate_dot(translator *t) {
  charset cs;
  memset(&cs, 0, sizeof cs);
  charset_add(t, &cs, 1, MAX_CODE_POINT);
  cs.ascii['\n'] = cs.ascii['\r'] = false;
  emit_set(t, &cs);
  t->p++;
}

/* ---- brackets ------------------------------------------------------------- */

static atom read_class_atom(translator *t) {
  atom a = {0, 0};
  if (*t->p == '\\') {
    t->p++;
    return read_escape(t, true);
  }
  t->p += utf8_decode(t->p, &a.cp);
  return a;
}

/* The members of the class at t->p (just past '[' or "[^") up to and past its
 * ']'.  A '-' next to a class escape is a literal, as ECMA-262 Annex B says. */
static void read_class(translator *t, charset *cs) {
  while (!t->failed && *t->p != ']') {
    if (!*t->p) {
      fail(t, "unterminated character class");
      return;
    }
    atom lo = read_class_atom(t);
    if (lo.cls || t->p[0] != '-' || !t->p[1] || t->p[1] == ']') {
      add_atom(t, cs, lo);
      continue;
    }
    t->p++;
    atom hi = read_class_atom(t);
    if (hi.cls) {
      add_atom(t, cs, lo);
      charset_add(t, cs, '-', '-');
      add_atom(t, cs, hi);
    } else if (hi.cp < lo.cp) {
      fail(t, "character class range out of order");
    } else {
      charset_add(t, cs, lo.cp, hi.cp);
    }
  }
  if (!t->failed) t->p++; /* past ']'; after a failure the cursor may be at the end */
}

static void translate_bracket(translator *t) {
  bool negated = t->p[1] == '^';
  charset cs;
  memset(&cs, 0, sizeof cs);
  t->p += negated ? 2 : 1;
  read_class(t, &cs);
  if (negated) charset_invert(t, &cs);
  emit_set(t, &cs);
}

/* ---- driver --------------------------------------------------------------- */

static void translate_token(translator *t) {
  char c = *t->p;
  switch (c) {
  case '\\': translate_escape(t); return;
  case '[': translate_bracket(t); return;
  case '(': translate_group_open(t); return;
  case '{': translate_brace(t); return;
  case '.': translate_dot(t); return;
  case '*':
  case '+':
  case '?':
    t->p++;
    emit_char(t, c);
    skip_lazy(t);
    return;
  default: break;
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

int art_ecma_regex_translate(const char *pattern, char *out, size_t out_size, size_t *needed,
                             char *why, size_t why_size) {
  translator t = {pattern, out, 0, out_size, why, why_size, false};
  while (!t.failed && *t.p) translate_token(&t);
  emit_char(&t, '\0');
  if (out_size) out[out_size - 1] = '\0'; /* a cut-short translation still ends */
  *needed = t.len;
  return t.failed ? ART_EINVAL : 0;
}

int art_ecma_regex_compile(regex_t *re, const char *pattern, locale_t c_locale,
                           const art_allocator *a, char *why, size_t why_size) {
  size_t size;
  if (art_ecma_regex_translate(pattern, NULL, 0, &size, why, why_size) < 0) return ART_EINVAL;
  char *posix = art_alloc(a, size);
  if (!posix) return ART_ENOMEM;
  art_ecma_regex_translate(pattern, posix, size, &size, why, why_size);
  if (art_regex_check_cost(posix, why, why_size) < 0) {
    art_release(a, posix);
    return ART_EINVAL;
  }
  locale_t outer = uselocale(c_locale);
  int rc = regcomp(re, posix, REG_EXTENDED | REG_NOSUB);
  if (rc && rc != REG_ESPACE) regerror(rc, re, why, why_size);
  uselocale(outer);
  art_release(a, posix);
  if (rc) return rc == REG_ESPACE ? ART_ENOMEM : ART_EINVAL;
  return 0;
}

bool art_ecma_regex_search(const regex_t *re, locale_t c_locale, const char *s, size_t len) {
  locale_t outer = uselocale(c_locale);
#ifdef REG_STARTEND /* lets a string with an embedded NUL be searched whole */
  regmatch_t span = {0, (regoff_t)len};
  int rc = regexec(re, s, 1, &span, REG_STARTEND);
#else
  (void)len;
  int rc = regexec(re, s, 0, NULL, 0);
#endif
  uselocale(outer);
  return rc == 0;
}
