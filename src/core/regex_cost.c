#include "core/regex_cost.h"

#include <stdbool.h>
#include <stdio.h>

#include "agentrt/common.h"

/* Group nesting, and quantifiers nested in quantified groups: glibc's matcher
 * can take seconds on (((x)+)+)+-like patterns well before the size grows. */
enum { MAX_DEPTH = 32, MAX_QUANTIFIER_NESTING = 3 };

typedef struct cost_scan {
  const char *p;
  double size[MAX_DEPTH + 1]; /* the cost of each open group so far */
  int depth;
  int nesting[MAX_DEPTH + 1]; /* the deepest quantifier nesting in each open group */
  double last;                /* the cost of the last atom, 0 when there is none */
  int last_nesting;           /* the quantifier nesting inside the last atom */
  bool quantified;            /* the last thing was a quantifier */
} cost_scan;

/* The digits at p as a number (capped: only "very many" matters), or NULL. */
static const char *read_count(const char *p, double *n) {
  if (*p < '0' || *p > '9') return NULL;
  for (*n = 0; *p >= '0' && *p <= '9'; p++)
    if (*n < 1e9) *n = *n * 10 + (*p - '0');
  return p;
}

/* How many copies a quantifier at s makes; *len is its length (0: none). */
static double repetitions(const char *s, size_t *len) {
  *len = 1;
  if (*s == '*' || *s == '?') return 1;
  if (*s == '+') return 2;
  double lo, hi;
  const char *end = *s == '{' ? read_count(s + 1, &lo) : NULL;
  if (!end) return *len = 0, 0; /* not a quantifier: a literal brace at most */
  hi = lo + 1;                  /* {n} and {n,} */
  if (*end == ',' && end[1] != '}') {
    end = read_count(end + 1, &hi);
    if (!end) return *len = 0, 0;
  } else if (*end == ',') {
    end++;
  }
  if (*end != '}') return *len = 0, 0;
  *len = (size_t)(end - s) + 1;
  return (hi > lo ? hi : lo) + 1;
}

/* Past the bracket expression at p ('['), by POSIX rules: a ']' first is a
 * member, a backslash is a member, [:class:] [=x=] [.x.] are one member each. */
static const char *skip_class(const char *p) {
  p++;
  if (*p == '^') p++;
  if (*p == ']') p++;
  while (*p && *p != ']') {
    if (p[0] == '[' && (p[1] == ':' || p[1] == '=' || p[1] == '.')) {
      char close = p[1];
      const char *end = p + 2;
      while (*end && !(end[0] == close && end[1] == ']')) end++;
      p = *end ? end + 2 : end;
    } else {
      p++;
    }
  }
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
  if (++s->last_nesting > s->nesting[s->depth]) s->nesting[s->depth] = s->last_nesting;
  if (s->last_nesting > MAX_QUANTIFIER_NESTING) {
    snprintf(why, why_size, "quantifiers nest deeper than %d", MAX_QUANTIFIER_NESTING);
    return ART_EINVAL;
  }
  s->p += len;
  if (s->p[0] == '?') s->p++; /* lazy */
  return 0;
}

static void atom(cost_scan *s, double cost, int nesting, const char *next) {
  s->size[s->depth] += cost;
  s->last = cost;
  s->last_nesting = nesting;
  if (nesting > s->nesting[s->depth]) s->nesting[s->depth] = nesting;
  s->quantified = false;
  s->p = next;
}

static int step(cost_scan *s, char *why, size_t why_size) {
  size_t len;
  double times = repetitions(s->p, &len);
  if (len && s->last) return quantify(s, times, len, why, why_size);
  switch (*s->p) {
  case '\\': atom(s, 1, 0, s->p + (s->p[1] ? 2 : 1)); return 0;
  case '[': atom(s, 1, 0, skip_class(s->p)); return 0;
  case '(':
    if (s->depth == MAX_DEPTH) {
      snprintf(why, why_size, "groups nest deeper than %d", MAX_DEPTH);
      return ART_EINVAL;
    }
    s->depth++;
    s->size[s->depth] = 0;
    s->nesting[s->depth] = 0;
    s->last = 0;
    s->p++;
    return 0;
  case ')':
    if (s->depth == 0) {
      snprintf(why, why_size, "unmatched )");
      return ART_EINVAL;
    }
    s->depth--;
    atom(s, s->size[s->depth + 1] + 1, s->nesting[s->depth + 1], s->p + 1);
    return 0;
  case '|': s->last = 0, s->quantified = false, s->p++; return 0;
  default: atom(s, 1, 0, s->p + 1); return 0;
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
