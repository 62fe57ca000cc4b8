/* Text that enters a trace must be valid UTF-8 (JSON needs it) and must not be
 * cut in the middle of a character or a word: a secret cut short would slip
 * past the redaction patterns. */
#ifndef ART_TEXT_H
#define ART_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Whether s[0..n) is valid UTF-8. */
bool art_utf8_valid(const char *s, size_t n);

/* Copy s[0..n) into out (n + 1 bytes; may be s itself), each invalid byte
 * replaced by '?'. */
void art_utf8_repair(const char *s, size_t n, char *out);

/* After snprintf into buf (size bytes) reported `needed` characters: when the
 * text was cut, cut it further back to the last space, so neither a character
 * nor a word (a token, a key) is left half there. */
void art_text_clip(char *buf, size_t size, int needed);

#endif
