/* Reading JSON text into jansson values, faster than jansson's own loader:
 * resuming a run parses every row of its journal, and json_loadb spends most
 * of its time feeding its lexer one byte at a time through a callback.
 *
 * The caller owns the value returned; the text is only borrowed. */
#ifndef ART_JSON_PARSE_H
#define ART_JSON_PARSE_H

#include <stddef.h>
#include <jansson.h>

#include "agentrt/common.h"

/* One JSON value parsed from text[0, len) (whitespace around it allowed) as a
 * new jansson value, or NULL with the reason in err (ART_EINVAL; ART_ENOMEM when
 * out of memory).  Same language and same values as jansson's
 * json_loadb(text, len, JSON_DECODE_ANY, ...): RFC 8259 strictly, any value at
 * the top, the last of duplicate keys wins, strings valid UTF-8 without
 * U+0000, integers in json_int_t's range, values nested at most
 * JSON_PARSER_MAX_DEPTH deep.  Messages say where: "invalid JSON at byte 17:
 * expected ':', found ','".  Allocations go through jansson's allocator. */
json_t *art_json_parse(const char *text, size_t len, art_error *err);

#endif
