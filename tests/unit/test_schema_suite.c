/* The official JSON-Schema-Test-Suite (draft 7) against art_schema, for every
 * keyword agentrt supports.  Each group's schema is compiled once and every
 * test's data validated; a result that differs from "valid" fails the test,
 * except in the groups of the exclusion table below. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "agentrt/schema.h"
#include "testutil.h"

#define SUITE_DIR "/usr/share/json-schema-test-suite/tests/draft7"

/* One file per supported keyword. */
static const char *const suite_files[] = {
    "type",
    "properties",
    "required",
    "additionalProperties",
    "patternProperties",
    "enum",
    "const",
    "items",
    "additionalItems",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "minProperties",
    "maxProperties",
    "pattern",
    "anyOf",
    "oneOf",
    "allOf",
    "not",
    "ref",
    "definitions",
    "boolean_schema",
};
#define FILE_COUNT (sizeof suite_files / sizeof suite_files[0])

/* Groups that are not run, and why.  Each must still exist in the suite (a
 * stale entry fails the test), so the table cannot silently grow stale. */
typedef struct exclusion {
  const char *file;
  const char *group; /* the group's "description" */
  const char *reason;
} exclusion;

static const exclusion exclusions[] = {
    /* These three groups validate against {"$ref": "http://json-schema.org/draft-07/schema#"},
     * the draft 7 meta-schema.  Fetching it is a remote $ref, which art_schema
     * rejects at compile time by design (tool schemas must be self-contained). */
    {"ref", "remote ref, containing refs itself", "remote $ref to the draft 7 meta-schema"},
    {"definitions", "valid definition", "remote $ref to the draft 7 meta-schema"},
    {"definitions", "invalid definition", "remote $ref to the draft 7 meta-schema"},
};
#define EXCLUSION_COUNT (sizeof exclusions / sizeof exclusions[0])

typedef struct tally {
  int passed, failed, skipped;
} tally;

/* The exclusion for this group, or -1. */
static int find_exclusion(const char *file, const char *group) {
  for (size_t i = 0; i < EXCLUSION_COUNT; i++)
    if (strcmp(exclusions[i].file, file) == 0 && strcmp(exclusions[i].group, group) == 0)
      return (int)i;
  return -1;
}

static void run_case(const char *file, const char *group, const art_schema *schema,
                     const json_t *test, tally *t) {
  char why[256];
  const char *description = json_string_value(json_object_get(test, "description"));
  bool expected = json_is_true(json_object_get(test, "valid"));
  bool valid = art_schema_validate(schema, json_object_get(test, "data"), why, sizeof why) == 0;
  if (valid == expected) {
    t->passed++;
    return;
  }
  t->failed++;
  printf("  MISMATCH %s.json / %s / %s: expected %s, got %s%s%s\n", file, group, description,
         expected ? "valid" : "invalid", valid ? "valid" : "invalid", valid ? "" : ": ",
         valid ? "" : why);
}

static void run_group(const char *file, const json_t *group, bool *used, tally *t) {
  const char *description = json_string_value(json_object_get(group, "description"));
  const json_t *tests = json_object_get(group, "tests");
  int excluded = find_exclusion(file, description);
  if (excluded >= 0) {
    used[excluded] = true;
    t->skipped += (int)json_array_size(tests);
    return;
  }
  art_schema *schema;
  art_error err = {0};
  if (art_schema_compile(&schema, json_object_get(group, "schema"), NULL, &err) != 0) {
    t->failed += (int)json_array_size(tests);
    printf("  COMPILE ERROR %s.json / %s: %s\n", file, description, err.message);
    return;
  }
  for (size_t i = 0; i < json_array_size(tests); i++)
    run_case(file, description, schema, json_array_get(tests, i), t);
  art_schema_free(schema);
}

static void run_file(const char *file, bool *used, tally *total) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s.json", SUITE_DIR, file);
  json_error_t jerr;
  json_t *groups = json_load_file(path, 0, &jerr);
  if (!groups) fail_msg("cannot read %s: %s", path, jerr.text);
  tally t = {0, 0, 0};
  for (size_t i = 0; i < json_array_size(groups); i++)
    run_group(file, json_array_get(groups, i), used, &t);
  printf("  %-24s %3d/%-3d passed", file, t.passed, t.passed + t.failed);
  if (t.skipped) printf(" (%d excluded)", t.skipped);
  printf("\n");
  total->passed += t.passed;
  total->failed += t.failed;
  total->skipped += t.skipped;
  json_decref(groups);
}

static void test_draft7_suite(void **state) {
  (void)state;
  FILE *probe = fopen(SUITE_DIR "/type.json", "r");
  if (!probe)
    fail_msg("JSON-Schema-Test-Suite not found at " SUITE_DIR
             ": install the Debian package json-schema-test-suite (scripts/bootstrap test does)");
  fclose(probe);
  bool used[EXCLUSION_COUNT] = {false};
  tally total = {0, 0, 0};
  for (size_t i = 0; i < FILE_COUNT; i++) run_file(suite_files[i], used, &total);
  printf("JSON-Schema-Test-Suite draft7: %d/%d passed, %d skipped by %zu exclusions\n",
         total.passed, total.passed + total.failed, total.skipped, EXCLUSION_COUNT);
  for (size_t i = 0; i < EXCLUSION_COUNT; i++)
    if (!used[i])
      fail_msg("stale exclusion: %s.json / %s", exclusions[i].file, exclusions[i].group);
  assert_int_equal(total.failed, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_draft7_suite),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
