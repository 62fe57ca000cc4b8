/* The spec as a store keeps it: redacted where it holds what a run says,
 * refused where redaction would change what the run does. */
#include <stdio.h>
#include <string.h>

#include "core/spec_internal.h"

/* Members whose values are what a run says, not how it acts: redaction may
 * change them (a resumed run sees them redacted, as the trace does). */
static bool said(const char *member) {
  static const char *const members[] = {"goal", "description", "memory"};
  for (size_t i = 0; i < sizeof members / sizeof *members; i++)
    if (strcmp(member, members[i]) == 0) return true;
  return false;
}

/* The JSON path of the first place where `a` and `b` differ, appended to
 * path; false when they are equal. */
static bool first_difference(const json_t *a, const json_t *b, char *path, size_t size) {
  if (json_equal(a, b)) return false;
  size_t n = strlen(path);
  if (json_is_object(a) && json_is_object(b)) {
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)a, key, v) {
      snprintf(path + n, size - n, ".%s", key);
      if (first_difference(v, json_object_get(b, key), path, size)) return true;
    }
  } else if (json_is_array(a) && json_is_array(b) && json_array_size(a) == json_array_size(b)) {
    for (size_t i = 0; i < json_array_size(a); i++) {
      snprintf(path + n, size - n, "[%zu]", i);
      if (first_difference(json_array_get(a, i), json_array_get(b, i), path, size)) return true;
    }
  }
  path[n] = '\0';
  return true;
}

/* What the run acts by in `spec` (a copy's member, or the model without its
 * scripted decisions); NULL for what it says. */
static json_t *acted_by(json_t *spec, const char *member) {
  json_t *v = json_object_get(spec, member);
  if (said(member) || !v) return NULL;
  if (strcmp(member, "model") != 0 || !json_object_get(v, "decisions")) return json_incref(v);
  json_t *setup = json_copy(v);
  if (setup) json_object_del(setup, "decisions");
  return setup;
}

static int check_unchanged(const art_spec *s, json_t *redacted, art_error *err) {
  const char *member;
  json_t *v;
  int rc = 0;
  json_object_foreach(s->json, member, v) {
    json_t *before = acted_by(s->json, member), *after = acted_by(redacted, member);
    char path[512];
    snprintf(path, sizeof path, "$.%s", member);
    if (before && first_difference(before, after, path, sizeof path))
      rc = art_error_set(err, ART_ESPEC,
                         "%s: %s holds what the redact rules hide, and the store keeps specs "
                         "redacted: a resumed run would not have it (give a tool its secret "
                         "through the environment)",
                         s->name, path);
    json_decref(before);
    json_decref(after);
    if (rc < 0) return rc;
  }
  return 0;
}

int art_spec_stored_json(const art_spec *s, json_t **out, art_error *err) {
  json_t *redacted = art_redact_json(s->redactor, s->json);
  if (!redacted) return art_error_set(err, ART_ENOMEM, "out of memory");
  json_t *rules = json_object_get(s->json, "redact"); /* the rules themselves are not secrets */
  /* A copy is a new object (art_redact_json): its member may be replaced. */
  if (redacted != s->json && rules && json_object_set(redacted, "redact", rules) < 0) {
    json_decref(redacted);
    return art_error_set(err, ART_ENOMEM, "out of memory");
  }
  int rc = check_unchanged(s, redacted, err);
  if (rc < 0) {
    json_decref(redacted);
    return rc;
  }
  *out = redacted;
  return 0;
}
