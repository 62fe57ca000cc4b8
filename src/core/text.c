#include "core/text.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 when invalid. */
static size_t sequence_length(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  size_t len = c < 0x80             ? 1
               : (c & 0xE0) == 0xC0 ? 2
               : (c & 0xF0) == 0xE0 ? 3
               : (c & 0xF8) == 0xF0 ? 4
                                    : 0;
  if (!len || len > n) return 0;
  uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = cp << 6 | (s[i] & 0x3F);
  }
  static const uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < smallest[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

bool art_utf8_valid(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; i < n;) {
    uint64_t word;
    if (n - i >= 8 && (memcpy(&word, p + i, 8), !(word & 0x8080808080808080ull))) {
      i += 8; /* eight ASCII bytes at once: most text is ASCII */
      continue;
    }
    if (p[i] < 0x80) {
      i++;
      continue;
    }
    size_t len = sequence_length(p + i, n - i);
    if (!len) return false;
    i += len;
  }
  return true;
}

void art_utf8_repair(const char *s, size_t n, char *out) {
  const unsigned char *p = (const unsigned char *)s;
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    size_t len = sequence_length(p + i, n - i);
    if (!len) {
      out[o++] = '?';
      i++;
      continue;
    }
    memmove(out + o, p + i, len); /* out may be s */
    o += len, i += len;
  }
  out[o] = '\0';
}

size_t art_utf8_cut(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  size_t start = n; /* where the last character starts */
  while (start > 0 && n - start < 3 && (p[start - 1] & 0xC0) == 0x80) start--;
  if (start == 0) return n;
  unsigned lead = p[start - 1];
  size_t len = (lead & 0xE0) == 0xC0 ? 2 : (lead & 0xF0) == 0xE0 ? 3 : (lead & 0xF8) == 0xF0 ? 4 : 1;
  return start - 1 + len > n ? start - 1 : n;
}

int art_utf8_prefix(const char *s, size_t max) {
  size_t n = strnlen(s, max);
  return (int)(n < max ? n : art_utf8_cut(s, max));
}

int art_vformat(char *buf, size_t size, const char *fmt, va_list ap) {
  int needed = vsnprintf(buf, size, fmt, ap);
  if (needed >= 0 && (size_t)needed >= size && size > 0) buf[art_utf8_cut(buf, size - 1)] = '\0';
  return needed;
}

int art_format(char *buf, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int needed = art_vformat(buf, size, fmt, ap);
  va_end(ap);
  return needed;
}

void art_text_mark_cut(char *s, size_t size) {
  if (size < 4) return;
  memcpy(s + art_utf8_cut(s, size - 4), "...", 4);
}

void art_text_clip(char *buf, size_t size, int needed) {
  if (needed < 0 || (size_t)needed < size || size == 0) return;
  char *space = strrchr(buf, ' ');
  *(space ? space : buf) = '\0';
}
