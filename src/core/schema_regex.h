/* ECMA-262 regular expressions (JSON Schema `pattern`, `patternProperties`)
 * translated to POSIX extended regular expressions, so the schema validator can
 * use regcomp/regexec.
 *
 * Supported: literals and escapes (\n \t \xHH \uHHHH \cX \/ ...), \d \D \w \W
 * \s \S inside and outside brackets, `.`, character classes with ranges,
 * groups (also (?:...) and named groups), alternation, anchors, greedy and lazy
 * quantifiers (laziness does not change whether a string matches).
 * Rejected with a message: lookaround, backreferences, \b \B, \p{...}, \0.
 *
 * Character semantics follow ECMA-262 whatever the process locale: \d and \w
 * are ASCII, \s includes the Unicode spaces, and `.`, negated classes and
 * \D \W \S match one whole UTF-8 character.  To get that, regcomp and regexec
 * run under the "C" locale (uselocale, for the calling thread only, restored
 * before returning), where POSIX regex sees bytes, and the translation spells
 * every non-ASCII character as its UTF-8 byte sequence.  (glibc's regcomp
 * rejects non-ASCII ranges under C.UTF-8, so leaving it to the locale is not
 * an option.)  One deviation: `.` matches U+2028 and U+2029, which ECMA-262
 * excludes; that keeps the common `.` short. */
#ifndef ART_SCHEMA_REGEX_H
#define ART_SCHEMA_REGEX_H

#include <locale.h>
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include "agentrt/common.h"

/* Translate `pattern` into `out` (out_size bytes; 0 measures only).  Returns 0
 * with *needed set to the translation's size including its NUL (the output is
 * complete when *needed <= out_size), or ART_EINVAL with `why` saying what is
 * not supported or malformed. */
int art_ecma_regex_translate(const char *pattern, char *out, size_t out_size, size_t *needed,
                             char *why, size_t why_size);

/* Translate and regcomp (REG_EXTENDED | REG_NOSUB) into *re; the caller
 * regfree()s it on success.  `c_locale` is newlocale(LC_ALL_MASK, "C", 0).  The
 * translation's buffer comes from `a`.  Returns 0, ART_ENOMEM, or ART_EINVAL
 * with `why` set. */
int art_ecma_regex_compile(regex_t *re, const char *pattern, locale_t c_locale,
                           const art_allocator *a, char *why, size_t why_size);

/* Whether the pattern matches anywhere in s[0..len) (unanchored, as in
 * ECMA-262).  Allocates nothing itself (glibc's regexec may, internally). */
bool art_ecma_regex_search(const regex_t *re, locale_t c_locale, const char *s, size_t len);

#endif
