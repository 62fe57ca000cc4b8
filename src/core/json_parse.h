/* Parsing JSON text into jansson values, fast enough for a journal. */
#ifndef ART_JSON_PARSE_H
#define ART_JSON_PARSE_H

#include "agentrt/common.h"

json_t *art_json_parse(const char *text, size_t len, art_error *err);

#endif
