/* Text that enters a trace must be valid UTF-8 (JSON needs it) and must not be
 * cut in the middle of a character or a word: a secret cut short would slip
 * past the redaction patterns. */
#ifndef ART_TEXT_H
#define ART_TEXT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* Whether s[0..n) is valid UTF-8. */
bool art_utf8_valid(const char *s, size_t n);

/* Copy s[0..n) into out (n + 1 bytes; may be s itself), each invalid byte
 * replaced by '?'. */
void art_utf8_repair(const char *s, size_t n, char *out);

/* Shortening text never cuts a character in two: */

/* The length of s[0..n) without a character cut short at its end: n, or the
 * start of the last character when it needs bytes from s[n...]. */
size_t art_utf8_cut(const char *s, size_t n);

/* A precision for "%.*s" that prints at most `max` bytes of s and no part of a
 * character. */
int art_utf8_prefix(const char *s, size_t max);

/* vsnprintf / snprintf that, when the text does not fit, cut it back to its
 * last whole character.  They return what vsnprintf returns. */
int art_vformat(char *buf, size_t size, const char *fmt, va_list ap);
int art_format(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* s (at least size - 1 bytes long) made to end in "..." within `size` bytes,
 * the NUL included, after its last whole character. */
void art_text_mark_cut(char *s, size_t size);

/* After snprintf into buf (size bytes) reported `needed` characters: when the
 * text was cut, cut it further back to the last space, so neither a character
 * nor a word (a token, a key) is left half there. */
void art_text_clip(char *buf, size_t size, int needed);

#endif
