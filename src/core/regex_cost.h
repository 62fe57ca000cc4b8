/* A guard for patterns that come from outside (schema `pattern`, redaction
 * patterns): glibc's regcomp copies a quantified group once per repetition, so
 * nested quantifiers multiply and a 300-byte pattern can ask for gigabytes.
 * This estimates the compiled size before regcomp sees the pattern. */
#ifndef ART_REGEX_COST_H
#define ART_REGEX_COST_H

#include <stddef.h>

/* The most a pattern may cost: about the number of nodes regcomp builds. */
#define ART_REGEX_MAX_COST 4000

/* 0 when `pattern` (POSIX ERE: check what regcomp will see) costs at most
 * ART_REGEX_MAX_COST, has no unmatched ')' (glibc would take it as a literal
 * and can then take seconds to compile) and no quantifier applied to a
 * quantifier (other than a lazy `?`); ART_EINVAL with `why` set otherwise. */
int art_regex_check_cost(const char *pattern, char *why, size_t why_size);

#endif
