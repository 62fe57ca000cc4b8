/* libFuzzer target: art_json_parse against jansson.  For any bytes, both
 * parsers must reject them, or both accept them with equal values (reals
 * compare exactly: both read them with strtod).  A rejection must say where,
 * and as out of memory never.  Any difference aborts. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  art_error err = {0};
  json_error_t jerr;
  json_t *ours = art_json_parse((const char *)data, size, &err);
  json_t *theirs = json_loadb((const char *)data, size, JSON_DECODE_ANY, &jerr);
  if (!ours != !theirs) abort();
  if (ours && !json_equal(ours, theirs)) abort();
  if (!ours && (err.code != ART_EINVAL || strncmp(err.message, "invalid JSON at byte ", 21) != 0))
    abort();
  json_decref(ours);
  json_decref(theirs);
  return 0;
}
