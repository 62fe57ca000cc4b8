/* JSON documents from files (agent specs, eval suites): reading a file is the
 * drivers' business, never the core's. */
#ifndef ART_JSON_FILE_H
#define ART_JSON_FILE_H

#include "agentrt/common.h"

/* The JSON of a file (duplicate keys rejected), or ART_ESPEC "FILE: is a
 * directory, not a JSON file", "FILE:LINE:COL: invalid JSON: ...", "FILE:
 * unable to open ...", or ART_ENOMEM when jansson ran out of memory without
 * saying why. */
int art_json_load_file(const char *path, json_t **out, art_error *err);

#endif
