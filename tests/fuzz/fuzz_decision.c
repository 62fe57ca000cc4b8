/* libFuzzer target: a model's decision and text to redact, from outside.
 * Bytes -> JSON -> art_decision_from_json -> art_decision_check; the same JSON
 * and the bytes as a C string go through a redactor, and no string value it
 * returns may still hold a match of its "sk-[a-z0-9]+" pattern: one that does
 * is a secret leaking into a trace, so the target aborts. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agentrt.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static art_redactor *redactor; /* reachable for the whole process: not a leak */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  static const char *const patterns[] = {"sk-[a-z0-9]+", "x*", NULL};
  art_error err = {0};
  if (art_redactor_new(&redactor, NULL, patterns, NULL, &err) < 0) abort();
  return 0;
}

/* Whether s[0..n) holds a match of sk-[a-z0-9]+ (ASCII, as in the C locale). */
static bool has_secret(const char *s, size_t n) {
  for (size_t i = 0; i + 3 < n; i++)
    if (memcmp(s + i, "sk-", 3) == 0 &&
        ((s[i + 3] >= 'a' && s[i + 3] <= 'z') || (s[i + 3] >= '0' && s[i + 3] <= '9')))
      return true;
  return false;
}

/* Every string value (keys are not redacted by pattern), whole, NULs included. */
static bool json_has_secret(const json_t *v) {
  const char *key;
  const json_t *member;
  size_t i;
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    json_object_foreach((json_t *)v, key, member) {
      if (json_has_secret(member)) return true;
    }
    return false;
  case JSON_ARRAY:
    json_array_foreach(v, i, member) {
      if (json_has_secret(member)) return true;
    }
    return false;
  case JSON_STRING: return has_secret(json_string_value(v), json_string_length(v));
  default: return false;
  }
}

static void check_decision(const json_t *json) {
  art_decision d;
  char detail[24]; /* small, so long details are truncated */
  art_decision_from_json(json, &d);
  (void)art_decision_check(&d, detail, sizeof detail);
  (void)art_decision_kind_name(d.kind);
}

static void check_redact_json(json_t *json) {
  json_t *redacted = art_redact_json(redactor, json);
  if (redacted && json_has_secret(redacted)) abort();
  json_decref(redacted);
}

static void check_redact_text(const uint8_t *data, size_t size) {
  const art_allocator *alloc = art_default_allocator();
  char *text = malloc(size + 1);
  if (!text) return;
  memcpy(text, data, size);
  text[size] = '\0';
  bool copied = false;
  char *redacted = art_redact_text(redactor, text, alloc, &copied);
  if (redacted && has_secret(redacted, strlen(redacted))) abort();
  if (copied) alloc->release(alloc->ud, redacted);
  free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  json_error_t jerr;
  json_t *json = json_loadb((const char *)data, size, JSON_DECODE_ANY, &jerr);
  check_decision(json);
  if (json) check_redact_json(json);
  json_decref(json);
  check_redact_text(data, size);
  return 0;
}
