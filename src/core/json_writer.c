#include "core/json_writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool reserve(art_jw *w, size_t n) {
  if (w->failed) return false;
  if (w->len + n + 1 <= w->cap) return true;
  size_t cap = w->cap ? w->cap : 256;
  while (cap < w->len + n + 1) cap *= 2;
  char *s = realloc(w->s, cap);
  if (!s) {
    w->failed = true;
    return false;
  }
  w->s = s, w->cap = cap;
  return true;
}

/* Room for n more bytes and the NUL after them: the common case inline. */
static inline bool room(art_jw *w, size_t n) {
  return (w->len + n + 1 <= w->cap && !w->failed) || reserve(w, n);
}

static inline void put(art_jw *w, const char *p, size_t n) {
  if (!room(w, n)) return;
  memcpy(w->s + w->len, p, n);
  w->len += n;
  w->s[w->len] = '\0';
}

static inline void put_char(art_jw *w, char c) {
  if (!room(w, 1)) return;
  w->s[w->len++] = c;
  w->s[w->len] = '\0';
}

void art_jw_reset(art_jw *w) {
  w->len = 0;
  w->failed = false;
  w->first = true;
  if (w->s) w->s[0] = '\0';
}

void art_jw_dispose(art_jw *w) {
  free(w->s);
  memset(w, 0, sizeof *w);
}

/* Before an element: a comma unless it is the first in its object or array, or
 * the value right after a key. */
static void element(art_jw *w) {
  if (!w->first && w->len) put_char(w, ',');
  w->first = false;
}

void art_jw_open(art_jw *w, char c) {
  element(w);
  put_char(w, c);
  w->first = true;
}

void art_jw_close(art_jw *w, char c) {
  put_char(w, c);
  w->first = false;
}

/* Valid UTF-8 in (the run keeps only that); control characters, quotes and
 * backslashes escaped. */
static void put_string(art_jw *w, const char *s) {
  put_char(w, '"');
  const char *run = s;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    put(w, run, (size_t)(s - run));
    char esc[8];
    if (c == '"' || c == '\\')
      snprintf(esc, sizeof esc, "\\%c", c);
    else if (c == '\n')
      snprintf(esc, sizeof esc, "\\n");
    else if (c == '\t')
      snprintf(esc, sizeof esc, "\\t");
    else
      snprintf(esc, sizeof esc, "\\u%04x", c);
    put(w, esc, strlen(esc));
    run = s + 1;
  }
  put(w, run, (size_t)(s - run));
  put_char(w, '"');
}

/* Keys are the names this library gives its members: plain text, no escapes. */
void art_jw_key(art_jw *w, const char *key) {
  size_t n = strlen(key);
  element(w);
  if (!room(w, n + 3)) return;
  char *p = w->s + w->len;
  p[0] = '"';
  memcpy(p + 1, key, n);
  p[n + 1] = '"';
  p[n + 2] = ':';
  p[n + 3] = '\0';
  w->len += n + 3;
  w->first = true; /* the value that follows takes no comma */
}

void art_jw_str(art_jw *w, const char *s) {
  element(w);
  if (s)
    put_string(w, s);
  else
    put(w, "null", 4);
}

/* Decimal digits without printf: events are mostly numbers. */
void art_jw_int(art_jw *w, int64_t n) {
  char num[24], *p = num + sizeof num;
  uint64_t v = n < 0 ? 0 - (uint64_t)n : (uint64_t)n;
  do *--p = (char)('0' + v % 10);
  while (v /= 10);
  if (n < 0) *--p = '-';
  element(w);
  put(w, p, (size_t)(num + sizeof num - p));
}

void art_jw_raw(art_jw *w, const char *text) {
  element(w);
  put(w, text, strlen(text));
}

/* Dumped straight into the buffer's free room; only a value bigger than that
 * is dumped twice (once to learn its size). */
void art_jw_value(art_jw *w, const json_t *v) {
  element(w);
  if (!reserve(w, 256)) return;
  size_t room = w->cap - w->len - 1;
  size_t n = json_dumpb(v, w->s + w->len, room, JSON_COMPACT | JSON_ENCODE_ANY);
  if (n > room) {
    if (!reserve(w, n)) return;
    n = json_dumpb(v, w->s + w->len, n, JSON_COMPACT | JSON_ENCODE_ANY);
  }
  if (!n) {
    w->failed = true;
    return;
  }
  w->len += n;
  w->s[w->len] = '\0';
}

void art_jw_member_str(art_jw *w, const char *key, const char *s) {
  if (!s) return;
  art_jw_key(w, key);
  art_jw_str(w, s);
}

void art_jw_member_int(art_jw *w, const char *key, int64_t n) {
  art_jw_key(w, key);
  art_jw_int(w, n);
}

void art_jw_real(art_jw *w, double d) {
  char num[40];
  int n = snprintf(num, sizeof num, "%.10g", d);
  element(w);
  /* A whole number stays a real ("2.0"), so that readers see the same type. */
  put(w, num, (size_t)n);
  if (!strpbrk(num, ".eEn")) put(w, ".0", 2);
}

void art_jw_member_real(art_jw *w, const char *key, double d) {
  art_jw_key(w, key);
  art_jw_real(w, d);
}

void art_jw_member_value(art_jw *w, const char *key, const json_t *v) {
  if (!v) return;
  art_jw_key(w, key);
  art_jw_value(w, v);
}
