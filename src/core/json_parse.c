#include "core/json_parse.h"

json_t *art_json_parse(const char *text, size_t len, art_error *err) {
  json_error_t e;
  json_t *v = json_loadb(text, len, JSON_DECODE_ANY, &e);
  if (!v) art_error_set(err, ART_EINVAL, "%s", e.text);
  return v;
}
