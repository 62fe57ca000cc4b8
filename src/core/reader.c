#include "core/reader.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/text.h"

int art_rd_fail(const art_reader *rd, const char *path, const char *fmt, ...) {
  char what[ART_ERRMSG_SIZE];
  va_list ap;
  va_start(ap, fmt);
  art_vformat(what, sizeof what, fmt, ap);
  va_end(ap);
  return art_error_set(rd->err, ART_ESPEC, "%s: %s: %s", rd->file, path, what);
}

/* A path too long for the buffer ends in "..." rather than silently short. */
static void mark_truncated(char *out, int n) {
  if (n >= ART_PATH_SIZE) art_text_mark_cut(out, ART_PATH_SIZE);
}

void art_rd_member_path(char *out, const char *path, const char *key) {
  mark_truncated(out, snprintf(out, ART_PATH_SIZE, "%s.%s", path, key));
}

void art_rd_index_path(char *out, const char *path, size_t i) {
  mark_truncated(out, snprintf(out, ART_PATH_SIZE, "%s[%zu]", path, i));
}

static const char *type_name(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT: return "an object";
  case JSON_ARRAY: return "an array";
  case JSON_STRING: return "a string";
  case JSON_INTEGER: return "an integer";
  case JSON_REAL: return "a number";
  case JSON_TRUE:
  case JSON_FALSE: return "a boolean";
  default: return "null";
  }
}

int art_rd_expect_object(const art_reader *rd, const char *path, const json_t *v) {
  return json_is_object(v) ? 0 : art_rd_fail(rd, path, "expected an object, got %s", type_name(v));
}

int art_rd_expect_array(const art_reader *rd, const char *path, const json_t *v) {
  return json_is_array(v) ? 0 : art_rd_fail(rd, path, "expected an array, got %s", type_name(v));
}

static bool key_allowed(const char *key, const char *const *allowed) {
  for (; *allowed; allowed++)
    if (strcmp(key, *allowed) == 0) return true;
  return false;
}

int art_rd_known_keys(const art_reader *rd, const char *path, const json_t *obj,
                      const char *const *allowed) {
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    if (!key_allowed(key, allowed)) return art_rd_fail(rd, path, "unknown key \"%s\"", key);
  }
  return 0;
}

static int missing(const art_reader *rd, const char *path, const char *key) {
  return art_rd_fail(rd, path, "missing required key \"%s\"", key);
}

int art_rd_string(const art_reader *rd, const char *path, const json_t *obj, const char *key,
                  bool required, const char **out) {
  const json_t *v = json_object_get(obj, key);
  if (!v) return required ? missing(rd, path, key) : 0;
  char sub[ART_PATH_SIZE];
  art_rd_member_path(sub, path, key);
  if (!json_is_string(v)) return art_rd_fail(rd, sub, "expected a string, got %s", type_name(v));
  if (required && !json_string_value(v)[0]) return art_rd_fail(rd, sub, "must not be empty");
  *out = json_string_value(v);
  return 0;
}

int art_rd_int(const art_reader *rd, const char *path, const json_t *obj, const char *key,
               int64_t min, int64_t max, int64_t *out) {
  const json_t *v = json_object_get(obj, key);
  if (!v) return 0;
  char sub[ART_PATH_SIZE];
  art_rd_member_path(sub, path, key);
  if (!json_is_integer(v)) return art_rd_fail(rd, sub, "expected an integer, got %s", type_name(v));
  json_int_t n = json_integer_value(v);
  if (n < min || n > max)
    return art_rd_fail(rd, sub, "must be between %lld and %lld", (long long)min, (long long)max);
  *out = n;
  return 0;
}

int art_rd_number(const art_reader *rd, const char *path, const json_t *obj, const char *key,
                  double min, double max, double *out) {
  const json_t *v = json_object_get(obj, key);
  if (!v) return 0;
  char sub[ART_PATH_SIZE];
  art_rd_member_path(sub, path, key);
  if (!json_is_number(v)) return art_rd_fail(rd, sub, "expected a number, got %s", type_name(v));
  double d = json_number_value(v);
  if (!(d >= min && d <= max)) return art_rd_fail(rd, sub, "must be between %g and %g", min, max);
  *out = d;
  return 0;
}

int art_rd_bool(const art_reader *rd, const char *path, const json_t *obj, const char *key,
                bool *out) {
  const json_t *v = json_object_get(obj, key);
  if (!v) return 0;
  char sub[ART_PATH_SIZE];
  art_rd_member_path(sub, path, key);
  if (!json_is_boolean(v)) return art_rd_fail(rd, sub, "expected a boolean, got %s", type_name(v));
  *out = json_is_true(v);
  return 0;
}

int art_rd_enum(const art_reader *rd, const char *path, const json_t *obj, const char *key,
                const art_names *names, int *out) {
  const char *name = NULL;
  if (art_rd_string(rd, path, obj, key, false, &name) < 0) return ART_ESPEC;
  if (!name) return 0;
  int v = art_names_find(names, name);
  if (v >= 0) {
    *out = v;
    return 0;
  }
  char sub[ART_PATH_SIZE];
  art_rd_member_path(sub, path, key);
  return art_rd_fail(rd, sub, "expected one of %s", names->expected);
}

static int name_bit(const art_reader *rd, const char *path, const json_t *v, const art_names *names,
                    unsigned *mask) {
  int bit = json_is_string(v) ? art_names_find(names, json_string_value(v)) : -1;
  if (bit < 0) return art_rd_fail(rd, path, "expected one of %s", names->expected);
  *mask |= 1u << bit;
  return 0;
}

int art_rd_name_set(const art_reader *rd, const char *path, const json_t *obj, const char *key,
                    const art_names *names, unsigned *mask) {
  const json_t *v = json_object_get(obj, key);
  if (!v) return 0;
  char sub[ART_PATH_SIZE], item[ART_PATH_SIZE];
  art_rd_member_path(sub, path, key);
  unsigned set = 0;
  if (!json_is_array(v)) {
    if (name_bit(rd, sub, v, names, &set) < 0) return ART_ESPEC;
  } else {
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e) {
      art_rd_index_path(item, sub, i);
      if (name_bit(rd, item, e, names, &set) < 0) return ART_ESPEC;
    }
    if (!set) return art_rd_fail(rd, sub, "must not be empty");
  }
  *mask = set;
  return 0;
}
