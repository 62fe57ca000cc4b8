/* Redaction: secrets never reach a sink.  Values under secret-named keys are
 * replaced whole; matches of the patterns are replaced inside strings.  The
 * common case (nothing to redact) returns the input itself, so redaction costs
 * one walk of the value and no allocation. */
#include "agentrt/trace.h"

#include <regex.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/regex_cost.h"

#define REDACTED "[REDACTED]"

struct art_redactor {
  const art_allocator *alloc;
  char **keys;
  size_t *key_lengths; /* checked first: most keys differ in length from every secret name */
  size_t n_keys;
  regex_t *patterns;
  size_t n_patterns;
};

static const char *const default_keys[] = {"api_key", "authorization", "password",
                                           "secret",  "token",         NULL};

static size_t count(const char *const *list) {
  size_t n = 0;
  while (list && list[n]) n++;
  return n;
}

static int copy_keys(art_redactor *r, const char *const *keys) {
  size_t n = count(keys);
  r->keys = art_zalloc(r->alloc, (n ? n : 1) * sizeof *r->keys);
  r->key_lengths = art_zalloc(r->alloc, (n ? n : 1) * sizeof *r->key_lengths);
  if (!r->keys || !r->key_lengths) return ART_ENOMEM;
  for (; r->n_keys < n; r->n_keys++) {
    if (!(r->keys[r->n_keys] = art_strdup(r->alloc, keys[r->n_keys]))) return ART_ENOMEM;
    r->key_lengths[r->n_keys] = strlen(keys[r->n_keys]);
  }
  return 0;
}

static int compile_patterns(art_redactor *r, const char *const *patterns, art_error *err) {
  size_t n = count(patterns);
  r->patterns = art_alloc(r->alloc, (n ? n : 1) * sizeof *r->patterns);
  if (!r->patterns) return art_error_set(err, ART_ENOMEM, "out of memory");
  for (; r->n_patterns < n; r->n_patterns++) {
    const char *pattern = patterns[r->n_patterns];
    regex_t *re = &r->patterns[r->n_patterns];
    char why[128];
    int rc = art_regex_check_cost(pattern, why, sizeof why) < 0
                 ? -1
                 : regcomp(re, pattern, REG_EXTENDED);
    if (rc > 0) regerror(rc, re, why, sizeof why);
    if (rc != 0)
      return art_error_set(err, ART_EINVAL, "bad redaction pattern \"%s\": %s", pattern, why);
  }
  return 0;
}

int art_redactor_new(art_redactor **out, const char *const *keys, const char *const *patterns,
                     const art_allocator *alloc, art_error *err) {
  alloc = art_allocator_or_default(alloc);
  art_redactor *r = art_zalloc(alloc, sizeof *r);
  if (!r) return art_error_set(err, ART_ENOMEM, "out of memory");
  r->alloc = alloc;
  int rc = copy_keys(r, keys ? keys : default_keys);
  if (rc < 0)
    art_error_set(err, rc, "out of memory");
  else
    rc = compile_patterns(r, patterns, err);
  if (rc < 0) {
    art_redactor_free(r);
    return rc;
  }
  *out = r;
  return 0;
}

void art_redactor_free(art_redactor *r) {
  if (!r) return;
  for (size_t i = 0; i < r->n_keys; i++) art_release(r->alloc, r->keys[i]);
  for (size_t i = 0; i < r->n_patterns; i++) regfree(&r->patterns[i]);
  art_release(r->alloc, r->keys);
  art_release(r->alloc, r->key_lengths);
  art_release(r->alloc, r->patterns);
  art_release(r->alloc, r);
}

static bool secret_key(const art_redactor *r, const char *key, size_t n) {
  for (size_t i = 0; i < r->n_keys; i++)
    if (n == r->key_lengths[i] && strcasecmp(key, r->keys[i]) == 0) return true;
  return false;
}

/* The next non-empty match of `re` at or after text[from]; an empty match
 * redacts nothing, so the search moves past it. */
static bool next_match(const regex_t *re, const char *text, size_t from, regmatch_t *m) {
  const char *p = text + from;
  while (regexec(re, p, 1, m, p == text ? 0 : REG_NOTBOL) == 0) {
    if (m->rm_eo > m->rm_so) {
      m->rm_so += p - text;
      m->rm_eo += p - text;
      return true;
    }
    if (!p[m->rm_so]) return false;
    p += m->rm_so + 1;
  }
  return false;
}

static bool text_matches(const art_redactor *r, const char *text) {
  regmatch_t m;
  for (size_t i = 0; i < r->n_patterns; i++)
    if (next_match(&r->patterns[i], text, 0, &m)) return true;
  return false;
}

/* A string with a NUL inside cannot be searched past the NUL, so with patterns
 * set it is redacted whole. */
static bool string_needs_redaction(const art_redactor *r, const json_t *v) {
  const char *text = json_string_value(v);
  return r->n_patterns && (strlen(text) != json_string_length(v) || text_matches(r, text));
}

static bool key_needs_redaction(const art_redactor *r, const char *key, size_t key_len) {
  return r->n_patterns && (strlen(key) != key_len || text_matches(r, key));
}

static bool needs_redaction(const art_redactor *r, const json_t *v) {
  const char *key;
  json_t *member;
  size_t i, key_len;
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    json_object_keylen_foreach((json_t *)v, key, key_len, member) {
      if (secret_key(r, key, key_len) || key_needs_redaction(r, key, key_len) ||
          needs_redaction(r, member))
        return true;
    }
    return false;
  case JSON_ARRAY:
    json_array_foreach(v, i, member) {
      if (needs_redaction(r, member)) return true;
    }
    return false;
  case JSON_STRING: return string_needs_redaction(r, v);
  default: return false;
  }
}

typedef struct text_buf {
  const art_allocator *alloc;
  char *s;
  size_t len, cap;
  bool failed;
} text_buf;

static void buf_add(text_buf *b, const char *p, size_t n) {
  if (b->failed) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = (b->len + n + 1) * 2;
    char *s = art_resize(b->alloc, b->s, cap);
    if (!s) {
      b->failed = true;
      return;
    }
    b->s = s, b->cap = cap;
  }
  memcpy(b->s + b->len, p, n);
  b->len += n;
  b->s[b->len] = '\0';
}

/* Every match of `re` in `text` replaced; from r->alloc, NULL on ENOMEM. */
static char *replace_matches(const art_redactor *r, const regex_t *re, const char *text) {
  text_buf b = {.alloc = r->alloc};
  size_t from = 0;
  regmatch_t m;
  while (next_match(re, text, from, &m)) {
    buf_add(&b, text + from, (size_t)m.rm_so - from);
    buf_add(&b, REDACTED, sizeof REDACTED - 1);
    from = (size_t)m.rm_eo;
  }
  buf_add(&b, text + from, strlen(text + from));
  if (!b.failed) return b.s;
  art_release(r->alloc, b.s);
  return NULL;
}

/* All patterns applied in turn; from r->alloc. */
static char *redact_string(const art_redactor *r, const char *text) {
  char *cur = art_strdup(r->alloc, text);
  for (size_t i = 0; cur && i < r->n_patterns; i++) {
    char *next = replace_matches(r, &r->patterns[i], cur);
    art_release(r->alloc, cur);
    cur = next;
  }
  return cur;
}

static json_t *redacted_string(const art_redactor *r, const json_t *v) {
  const char *text = json_string_value(v);
  if (strlen(text) != json_string_length(v)) return json_string(REDACTED);
  char *redacted = redact_string(r, text);
  json_t *s = redacted ? json_string(redacted) : NULL;
  art_release(r->alloc, redacted);
  return s;
}

static json_t *redacted_copy(const art_redactor *r, json_t *v);

/* A key that itself matches a pattern is redacted too. */
static int set_member(const art_redactor *r, json_t *copy, const char *key, size_t key_len,
                      json_t *value) {
  if (!key_needs_redaction(r, key, key_len)) return json_object_setn_new(copy, key, key_len, value);
  char *redacted = strlen(key) == key_len ? redact_string(r, key) : art_strdup(r->alloc, REDACTED);
  int rc = redacted ? json_object_set_new(copy, redacted, value) : (json_decref(value), -1);
  art_release(r->alloc, redacted);
  return rc;
}

static json_t *redacted_object(const art_redactor *r, json_t *v) {
  json_t *copy = json_object(), *member;
  const char *key;
  size_t key_len;
  if (!copy) return NULL;
  json_object_keylen_foreach(v, key, key_len, member) {
    json_t *value = secret_key(r, key, key_len) ? json_string(REDACTED) : redacted_copy(r, member);
    if (set_member(r, copy, key, key_len, value) < 0) { /* takes value, even on failure */
      json_decref(copy);
      return NULL;
    }
  }
  return copy;
}

static json_t *redacted_array(const art_redactor *r, json_t *v) {
  json_t *copy = json_array(), *member;
  size_t i;
  if (!copy) return NULL;
  json_array_foreach(v, i, member) {
    if (json_array_append_new(copy, redacted_copy(r, member)) < 0) {
      json_decref(copy);
      return NULL;
    }
  }
  return copy;
}

static json_t *redacted_copy(const art_redactor *r, json_t *v) {
  if (!needs_redaction(r, v)) return json_incref(v);
  if (json_is_object(v)) return redacted_object(r, v);
  if (json_is_array(v)) return redacted_array(r, v);
  return redacted_string(r, v);
}

json_t *art_redact_json(const art_redactor *r, json_t *v) { return v ? redacted_copy(r, v) : NULL; }

char *art_redact_text(const art_redactor *r, const char *text, const art_allocator *alloc,
                      bool *copied) {
  *copied = false;
  if (!r->n_patterns || !text_matches(r, text)) return (char *)text;
  char *redacted = redact_string(r, text);
  char *out = redacted ? art_strdup(alloc, redacted) : NULL;
  art_release(r->alloc, redacted);
  *copied = out != NULL;
  return out;
}
