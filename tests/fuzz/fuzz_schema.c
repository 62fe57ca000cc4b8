/* libFuzzer target: a JSON Schema and an instance from outside.  The input is
 * split at its first NUL byte (or, when there is none, its first newline) into
 * the schema and the instance; a schema that compiles validates the instance. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "agentrt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;
  const char *split = memchr(text, '\0', size);
  if (!split) split = memchr(text, '\n', size);
  size_t schema_size = split ? (size_t)(split - text) : size;
  json_error_t jerr;
  json_t *schema_json = json_loadb(text, schema_size, JSON_DECODE_ANY, &jerr);
  if (!schema_json) return 0;
  art_schema *schema = NULL;
  art_error err = {0};
  if (art_schema_compile(&schema, schema_json, NULL, &err) == 0) {
    json_t *instance =
        split ? json_loadb(split + 1, size - schema_size - 1, JSON_DECODE_ANY, &jerr) : NULL;
    char why[48]; /* small, so long messages are truncated */
    if (instance) (void)art_schema_validate(schema, instance, why, sizeof why);
    json_decref(instance);
    art_schema_free(schema);
  }
  json_decref(schema_json);
  return 0;
}
