#include "core/text.h"

#include <stdint.h>
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

void art_text_clip(char *buf, size_t size, int needed) {
  if (needed < 0 || (size_t)needed < size || size == 0) return;
  char *space = strrchr(buf, ' ');
  *(space ? space : buf) = '\0';
}
