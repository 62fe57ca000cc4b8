/* ECMA-262 regular expressions (JSON Schema `pattern`, `patternProperties`)
 * translated to POSIX extended regular expressions, so the schema validator can
 * use regcomp/regexec.
 *
 * Supported: literals and escapes (\n \t \xHH \uHHHH \cX \/ ...), \d \D \w \W
 * \s \S inside and outside brackets, `.`, character classes with ranges,
 * groups (also (?:...) and named groups), alternation, anchors, greedy and lazy
 * quantifiers (laziness does not change whether a string matches).
 * Rejected with a message: lookaround, backreferences, \b \B, \p{...}.
 *
 * \w \d \s are ASCII-only, as in ECMA-262 (\s leaves out the non-ASCII
 * spaces).  Non-ASCII characters inside brackets, and `.` against non-ASCII
 * input, follow the process's LC_CTYPE: exact under a UTF-8 locale, byte-wise
 * under "C". */
#ifndef ART_SCHEMA_REGEX_H
#define ART_SCHEMA_REGEX_H

#include <regex.h>
#include <stddef.h>
#include "agentrt/common.h"

/* Size of an output buffer that always holds the translation (with its NUL)
 * of a pattern of `pattern_len` bytes; 0 when that would overflow size_t. */
size_t art_ecma_regex_bound(size_t pattern_len);

/* Translate `pattern` into `out` (out_size bytes).  Returns 0, or ART_EINVAL
 * with `why` saying what is not supported or malformed. */
int art_ecma_regex_translate(const char *pattern, char *out, size_t out_size, char *why,
                             size_t why_size);

/* Translate and regcomp (REG_EXTENDED | REG_NOSUB) into *re; the caller
 * regfree()s it on success.  The scratch buffer comes from `a`.  Returns 0,
 * ART_ENOMEM, or ART_EINVAL with `why` set. */
int art_ecma_regex_compile(regex_t *re, const char *pattern, const art_allocator *a, char *why,
                           size_t why_size);

#endif
