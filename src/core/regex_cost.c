#include "core/regex_cost.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "agentrt/common.h"

enum { MAX_DEPTH = 32 };

typedef struct cost_scan {
  const char *p;
  double size[MAX_DEPTH + 1]; /* the cost of each open group so far */
  int depth;
  double last;                /* the cost of the last atom, 0 when there is none */
  bool quantified;            /* the last thing was a quantifier */
} cost_scan;

/* How many copies a quantifier at s makes; *len is its length (0: none). */
static double repetitions(const char *s, size_t *len) {
  *len = 1;
  if (*s == '*' || *s == '?') return 1;
  if (*s == '+') return 2;
  if (*s != '{') return *len = 0, 0;
  char *end;
  long lo = strtol(s + 1, &end, 10), hi = lo;
  if (end == s + 1) return *len = 0, 0; /* a literal brace */
  if (*end == ',') {
    char *after = end + 1;
    hi = strtol(end + 1, &end, 10);
    if (end == after) hi = lo + 1; /* {n,} */
  }
  if (*end != '}') return *len = 0, 0;
  *len = (size_t)(end - s) + 1;
  return (double)(hi > lo ? hi : lo) + 1;
}

/* Past the class at p ('['), escapes and all. */
static const char *skip_class(const char *p) {
  p++;
  if (*p == '^') p++;
  if (*p == ']') p++;
  while (*p && *p != ']') p += p[0] == '\\' && p[1] ? 2 : 1;
  return *p ? p + 1 : p;
}

static int quantify(cost_scan *s, double times, size_t len, char *why, size_t why_size) {
  if (s->quantified) {
    snprintf(why, why_size, "a quantifier cannot follow a quantifier");
    return ART_EINVAL;
  }
  s->size[s->depth] += s->last * (times - 1);
  s->last *= times;
  s->quantified = true;
  s->p += len;
  if (s->p[0] == '?') s->p++; /* lazy */
  return 0;
}

static void atom(cost_scan *s, double cost, const char *next) {
  s->size[s->depth] += cost;
  s->last = cost;
  s->quantified = false;
  s->p = next;
}

static int step(cost_scan *s, char *why, size_t why_size) {
  size_t len;
  double times = repetitions(s->p, &len);
  if (len && s->last) return quantify(s, times, len, why, why_size);
  switch (*s->p) {
  case '\\': atom(s, 1, s->p + (s->p[1] ? 2 : 1)); return 0;
  case '[': atom(s, 1, skip_class(s->p)); return 0;
  case '(':
    if (s->depth == MAX_DEPTH) {
      snprintf(why, why_size, "groups nest deeper than %d", MAX_DEPTH);
      return ART_EINVAL;
    }
    s->size[++s->depth] = 0;
    s->last = 0;
    s->p++;
    return 0;
  case ')':
    if (s->depth == 0) { atom(s, 1, s->p + 1); return 0; }
    atom(s, s->size[s->depth--] + 1, s->p + 1);
    return 0;
  case '|': s->last = 0, s->quantified = false, s->p++; return 0;
  default: atom(s, 1, s->p + 1); return 0;
  }
}

int art_regex_check_cost(const char *pattern, char *why, size_t why_size) {
  cost_scan s = {.p = pattern};
  while (*s.p) {
    if (step(&s, why, why_size) < 0) return ART_EINVAL;
    double total = 0;
    for (int d = 0; d <= s.depth; d++) total += s.size[d];
    if (total > ART_REGEX_MAX_COST) {
      snprintf(why, why_size, "pattern is too complex (nested repetition would expand past %d)",
               ART_REGEX_MAX_COST);
      return ART_EINVAL;
    }
  }
  return 0;
}
