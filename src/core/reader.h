/* Strict reading of JSON documents (agent specs, eval suites): every error names
 * the file, the JSON path and what is wrong, e.g.
 *   agent.json: $.tools[1].side_effect: expected one of read, draft, write */
#ifndef ART_READER_H
#define ART_READER_H

#include <stdbool.h>
#include "agentrt/common.h"
#include "core/names.h"

#define ART_PATH_SIZE 256

typedef struct art_reader {
  const char *file; /* shown first in every message */
  art_error *err;
} art_reader;

int art_rd_fail(const art_reader *rd, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* path + ".key" / path + "[i]" into out (ART_PATH_SIZE bytes). */
void art_rd_member_path(char *out, const char *path, const char *key);
void art_rd_index_path(char *out, const char *path, size_t i);

int art_rd_expect_object(const art_reader *rd, const char *path, const json_t *v);
int art_rd_expect_array(const art_reader *rd, const char *path, const json_t *v);
/* Fails on the first member of obj whose key is not in `allowed` (NULL-terminated). */
int art_rd_known_keys(const art_reader *rd, const char *path, const json_t *obj,
                      const char *const *allowed);

/* Member readers: a missing member leaves *out untouched unless `required`. */
int art_rd_string(const art_reader *rd, const char *path, const json_t *obj, const char *key,
                  bool required, const char **out);
int art_rd_int(const art_reader *rd, const char *path, const json_t *obj, const char *key,
               int64_t min, int64_t max, int64_t *out);
/* An integer or real member within [min, max]. */
int art_rd_number(const art_reader *rd, const char *path, const json_t *obj, const char *key,
                  double min, double max, double *out);
int art_rd_bool(const art_reader *rd, const char *path, const json_t *obj, const char *key,
                bool *out);

/* A string member naming one value of `names`; *out is left untouched when
 * absent. */
int art_rd_enum(const art_reader *rd, const char *path, const json_t *obj, const char *key,
                const art_names *names, int *out);

/* A string member or a list of strings, each a value of `names`, as a bit set;
 * *mask is left untouched when absent. */
int art_rd_name_set(const art_reader *rd, const char *path, const json_t *obj, const char *key,
                    const art_names *names, unsigned *mask);

#endif
