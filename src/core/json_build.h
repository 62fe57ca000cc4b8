/* Building JSON objects without leaking on the way: the setters take the new
 * value's reference whatever happens and remember a failure in *ok. */
#ifndef ART_JSON_BUILD_H
#define ART_JSON_BUILD_H

#include "agentrt/trace.h"

static inline void art_put(json_t *obj, const char *key, json_t *value, int *ok) {
  if (!value || json_object_set_new(obj, key, value) < 0) *ok = 0;
}

static inline void art_append(json_t *arr, json_t *value, int *ok) {
  if (!value || json_array_append_new(arr, value) < 0) *ok = 0;
}

/* {"id","kind","summary","data"}; the data is redacted by `r` unless it is NULL
 * (the model's own view).  NULL when out of memory. */
json_t *art_observation_json(const art_observation *o, const art_redactor *r);

#endif
