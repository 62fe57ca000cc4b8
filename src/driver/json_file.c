#include "driver/json_file.h"

#include <sys/stat.h>

static int load_error(art_error *err, const char *path, const json_error_t *jerr) {
  if (json_error_code(jerr) == json_error_out_of_memory || !jerr->text[0])
    return art_error_set(err, ART_ENOMEM, "%s: out of memory", path);
  if (jerr->line < 0) return art_error_set(err, ART_ESPEC, "%s: %s", path, jerr->text);
  return art_error_set(err, ART_ESPEC, "%s:%d:%d: invalid JSON: %s", path, jerr->line, jerr->column,
                       jerr->text);
}

int art_json_load_file(const char *path, json_t **out, art_error *err) {
  struct stat st;
  json_error_t jerr;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
    return art_error_set(err, ART_ESPEC, "%s: is a directory, not a JSON file", path);
  *out = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
  return *out ? 0 : load_error(err, path, &jerr);
}
