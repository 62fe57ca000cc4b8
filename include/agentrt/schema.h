/* JSON Schema validation of tool input.
 *
 * A schema is compiled once (when a tool is registered) into a tree of nodes, so
 * validating an input on the hot path walks structs, not JSON, and allocates
 * nothing.  Supported keywords (draft 7 semantics): type, properties, required,
 * additionalProperties, patternProperties, enum, const, items, additionalItems,
 * minItems, maxItems, uniqueItems, minimum, maximum, exclusiveMinimum,
 * exclusiveMaximum, multipleOf, minLength, maxLength, pattern, minProperties,
 * maxProperties, anyOf, oneOf, allOf, not, and $ref within the document
 * ("#", "#/definitions/x", "#/$defs/x", any JSON pointer into the document, or
 * a subschema named by "$id").  Boolean schemas (true / false) are accepted.
 * Unknown keywords are ignored, as the specification asks; remote $refs are a
 * compile error, and so are $ref loops that never descend into the value
 * (e.g. {"allOf": [{"$ref": "#"}]}), which could never finish validating.
 * Draft 7 details: 1.0 is an integer, 1 == 1.0 for enum/const/uniqueItems,
 * string lengths count code points, a $ref's sibling keywords are ignored.
 *
 * `pattern` is an ECMA-262 regular expression; it is translated to a POSIX
 * extended regular expression (\d \w \s and their negations are supported;
 * lookaround, backreferences and \b are compile errors).  Matching gives the
 * ECMA-262 answer whatever the process locale.
 *
 * A compiled schema is immutable: threads may validate against it at once. */
#ifndef AGENTRT_SCHEMA_H
#define AGENTRT_SCHEMA_H

#include "agentrt/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct art_schema art_schema;

/* Compile `schema` (borrowed; not kept).  On error returns ART_EINVAL with a
 * message naming the JSON pointer of the bad keyword, e.g.
 * "#/properties/to/minLength: expected a non-negative integer", or ART_ENOMEM
 * when an allocation through `alloc` (NULL: malloc) fails; *out is then NULL
 * and nothing is left allocated. */
int art_schema_compile(art_schema **out, const json_t *schema, const art_allocator *alloc,
                       art_error *err);

/* 0 when `instance` is valid; ART_EINVAL when not, with `why` (when not NULL)
 * set to the first failure, e.g. "$.to: expected string, got integer",
 * "$: missing required property \"task\"", "$.tags[2]: ..." (truncated to
 * why_size).  Values nested deeper than 500 levels are rejected. */
int art_schema_validate(const art_schema *schema, const json_t *instance, char *why,
                        size_t why_size);

void art_schema_free(art_schema *schema);

#ifdef __cplusplus
}
#endif
#endif
