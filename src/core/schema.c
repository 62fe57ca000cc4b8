/* JSON Schema (draft 7 subset) compiled to a tree of nodes.
 *
 * Compilation runs in passes over the borrowed schema JSON:
 *   1. collect every "$id", so $refs can name subschemas by URI;
 *   2. compile the schema from its root, one node per schema object; a $ref
 *      becomes a node whose target is left pending;
 *   3. resolve pending $refs: the target JSON is found by URI and JSON pointer,
 *      and compiled then (memoised by JSON value, so "#" and cycles reuse the
 *      node being built instead of recursing);
 *   4. reject loops of $ref / allOf / anyOf / oneOf / not that never descend
 *      into the instance, and shorten $ref chains to one hop.
 * Nodes live in an arena owned by the schema.  Validation walks nodes only,
 * allocates nothing, and builds the instance path in a fixed array. */
#include "agentrt/schema.h"

#include <locale.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/schema_regex.h"
#include "core/text.h"

/* Deepest nesting of schemas (compile) or of schema applications (validate):
 * bounds the recursion of both against hostile or cyclic JSON. */
#define MAX_DEPTH 500
/* Instance path segments kept for messages; deeper ones print as "...". */
#define PATH_DEPTH 32
#define POINTER_SIZE 512
#define ARENA_CHUNK 4096

/* ---- text: appending to a fixed buffer, truncating, never allocating ------ */

typedef struct text {
  char *buf;
  size_t size, len;
  bool truncated;
} text;

static void text_init(text *t, char *buf, size_t size) {
  *t = (text){buf, size, 0, false};
  if (size) buf[0] = '\0';
}

/* Text that did not fit ends at its last whole character. */
static void text_end(text *t) {
  if (t->truncated) t->len = art_utf8_cut(t->buf, t->len);
  t->buf[t->len] = '\0';
}

static void text_add(text *t, const char *s, size_t n) {
  if (!t->size) return;
  size_t room = t->size - 1 - t->len;
  if (n > room) {
    n = room;
    t->truncated = true;
  }
  memcpy(t->buf + t->len, s, n);
  t->len += n;
  text_end(t);
}

static void text_str(text *t, const char *s) { text_add(t, s, strlen(s)); }

static void text_vprintf(text *t, const char *fmt, va_list ap) {
  if (!t->size) return;
  int n = vsnprintf(t->buf + t->len, t->size - t->len, fmt, ap);
  if (n < 0) return;
  if ((size_t)n >= t->size - t->len) {
    t->truncated = true;
    n = (int)(t->size - 1 - t->len);
  }
  t->len += (size_t)n;
  text_end(t);
}

static void text_printf(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_printf(text *t, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  text_vprintf(t, fmt, ap);
  va_end(ap);
}

/* ---- arena: the schema's nodes, freed together ---------------------------- */

/* Small chunks: a registry keeps one schema per tool and most are a handful of
 * nodes.  Node construction relies on zeroed memory. */
static void *arena_alloc(art_arena *ar, size_t n) { return art_arena_zalloc(ar, n ? n : 1); }

static void *arena_array(art_arena *ar, size_t count, size_t size) {
  if (size && count > SIZE_MAX / 2 / size) return NULL;
  return arena_alloc(ar, count * size);
}

/* ---- the compiled form ---------------------------------------------------- */

enum type_bit {
  T_NULL = 1 << 0,
  T_BOOLEAN = 1 << 1,
  T_INTEGER = 1 << 2,
  T_NUMBER = 1 << 3,
  T_STRING = 1 << 4,
  T_ARRAY = 1 << 5,
  T_OBJECT = 1 << 6
};
static const char *const type_names[] = {"null",   "boolean", "integer", "number",
                                         "string", "array",   "object"};
#define TYPE_COUNT (sizeof type_names / sizeof type_names[0])
/* The order of type names in messages: "expected string or null". */
static const unsigned char type_message_order[TYPE_COUNT] = {6, 5, 4, 2, 3, 1, 0};

/* Which groups of keywords a node has, so validation skips the rest cheaply. */
enum check_bit {
  C_FALSE = 1 << 0, /* the schema `false` */
  C_TYPE = 1 << 1,
  C_MINIMUM = 1 << 2,
  C_MAXIMUM = 1 << 3,
  C_EXCLUSIVE_MINIMUM = 1 << 4,
  C_EXCLUSIVE_MAXIMUM = 1 << 5,
  C_MULTIPLE_OF = 1 << 6,
  C_STRING = 1 << 7, /* minLength, maxLength, pattern */
  C_ARRAY = 1 << 8,  /* minItems, maxItems, items, uniqueItems */
  C_OBJECT = 1 << 9, /* min/maxProperties, (pattern/additional)properties, required */
  C_ENUM = 1 << 10,
  C_CONST = 1 << 11,
  C_COMBINATOR = 1 << 12 /* allOf, anyOf, oneOf, not */
};
#define C_NUMBER (C_MINIMUM | C_MAXIMUM | C_EXCLUSIVE_MINIMUM | C_EXCLUSIVE_MAXIMUM | C_MULTIPLE_OF)

/* A number from the schema; integers stay exact. */
typedef struct number {
  bool is_int;
  json_int_t i;
  double d;
} number;

typedef struct node node;

typedef struct name {
  const char *text;
  size_t len;
} name;

typedef struct property {
  name key;
  node *schema;
} property;

typedef struct pattern_property {
  regex_t re;
  node *schema;
} pattern_property;

typedef struct node_list {
  node **items;
  size_t count;
} node_list;

struct node {
  node *ref;       /* $ref: validate against this node instead (siblings are ignored) */
  unsigned checks; /* check_bit */
  unsigned types;  /* type_bit of `type` */
  number minimum, maximum, exclusive_minimum, exclusive_maximum, multiple_of;
  size_t min_length, max_length; /* in code points */
  regex_t *pattern;
  const char *pattern_source; /* for messages */
  size_t min_items, max_items;
  bool has_tuple; /* `items` is an array: tuple, then additional_items */
  bool unique_items;
  node *items; /* `items` as one schema */
  node_list tuple;
  node *additional_items;
  size_t min_properties, max_properties;
  property *properties; /* sorted by key_order */
  size_t property_count;
  pattern_property *pattern_properties;
  size_t pattern_count; /* compiled so far: these are regfree()d */
  node *additional_properties;
  name *required;
  size_t required_count;
  json_t *enum_values; /* owned array */
  json_t *const_value; /* owned */
  node_list all_of, any_of, one_of;
  node *not_schema;
  node *next;          /* every node of the schema, for freeing */
  unsigned char visit; /* loop check while compiling */
};

struct art_schema {
  const art_allocator *alloc;
  art_arena arena;
  node *root;
  node *nodes;
  locale_t c_locale; /* patterns run under it (see schema_regex.h); 0 without patterns */
};

/* ---- compiler state ------------------------------------------------------- */

/* A $ref met while compiling, resolved once the whole document is compiled. */
typedef struct pending_ref {
  node *at;
  const char *ref;     /* as written */
  const char *base;    /* base URI in effect where it was written */
  const char *pointer; /* JSON pointer of the schema holding it, for messages */
  struct pending_ref *next;
} pending_ref;

/* The node compiled for a JSON value, so $refs to it share the node. */
typedef struct memo {
  const json_t *json;
  node *n;
  struct memo *next;
} memo;

/* A subschema named by "$id": a new base URI, or a plain-name fragment. */
typedef struct resource {
  const char *uri;  /* absolute; with its fragment for plain names */
  const char *base; /* base URI inside the subschema */
  const json_t *json;
  bool changes_base;
  struct resource *next;
} resource;

typedef struct compiler {
  art_schema *schema;
  art_arena scratch; /* compile-time data, freed when compilation ends */
  art_error *err;
  const json_t *root;
  const char *root_base;
  const char *base; /* base URI in effect */
  char pointer[POINTER_SIZE];
  size_t pointer_len;
  unsigned depth;
  pending_ref *refs, **refs_tail;
  memo *memo;
  resource *resources;
} compiler;

static int compile_schema(compiler *c, const json_t *json, node **out);

static int out_of_memory(compiler *c) { return art_error_set(c->err, ART_ENOMEM, "out of memory"); }

/* "<pointer>[/<keyword>]: <message>" as an ART_EINVAL. */
static int schema_error(compiler *c, const char *keyword, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int schema_error(compiler *c, const char *keyword, const char *fmt, ...) {
  char message[ART_ERRMSG_SIZE];
  va_list ap;
  va_start(ap, fmt);
  art_vformat(message, sizeof message, fmt, ap);
  va_end(ap);
  return art_error_set(c->err, ART_EINVAL, "%s%s%s: %s", c->pointer, keyword ? "/" : "",
                       keyword ? keyword : "", message);
}

/* ---- JSON pointer of the schema being compiled ---------------------------- */

static void pointer_set(compiler *c, const char *pointer) {
  text t;
  text_init(&t, c->pointer, sizeof c->pointer);
  text_str(&t, pointer);
  c->pointer_len = t.len;
}

/* Append "/segment" (escaped as RFC 6901 says); returns what pointer_pop needs. */
static size_t pointer_push(compiler *c, const char *segment, size_t len) {
  size_t saved = c->pointer_len;
  text t = {c->pointer, sizeof c->pointer, c->pointer_len, false};
  text_add(&t, "/", 1);
  for (size_t i = 0; i < len; i++) {
    if (segment[i] == '~')
      text_add(&t, "~0", 2);
    else if (segment[i] == '/')
      text_add(&t, "~1", 2);
    else
      text_add(&t, segment + i, 1);
  }
  c->pointer_len = t.len;
  return saved;
}

static size_t pointer_push_index(compiler *c, size_t index) {
  char digits[24];
  int n = snprintf(digits, sizeof digits, "%zu", index);
  return pointer_push(c, digits, (size_t)n);
}

static void pointer_pop(compiler *c, size_t saved) {
  c->pointer_len = saved;
  c->pointer[saved] = '\0';
}

/* ---- URIs ($id and $ref), just enough of RFC 3986 ------------------------- */

/* Length of "scheme:" at the start of s, or 0. */
static size_t scheme_length(const char *s) {
  size_t i = 0;
  if (!((s[0] | 0x20) >= 'a' && (s[0] | 0x20) <= 'z')) return 0;
  while (s[i] && (strchr("+-.", s[i]) || ((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'z') ||
                  (s[i] >= '0' && s[i] <= '9')))
    i++;
  return s[i] == ':' ? i + 1 : 0;
}

/* End of "scheme://authority" in s (just the scheme when there is none). */
static size_t authority_end(const char *s, size_t scheme) {
  if (s[scheme] != '/' || s[scheme + 1] != '/') return scheme;
  return scheme + 2 + strcspn(s + scheme + 2, "/?#");
}

/* `ref` resolved against `base` (no dot-segment removal), in the scratch arena. */
static char *resolve_uri(compiler *c, const char *base, const char *ref) {
  size_t base_len = strcspn(base, "#"), scheme = scheme_length(base);
  size_t keep = 0;
  const char *separator = "";
  if (scheme_length(ref)) {
    keep = 0;
  } else if (ref[0] == '#' || !ref[0]) {
    keep = base_len;
  } else if (ref[0] == '/') {
    keep = ref[1] == '/' ? scheme : authority_end(base, scheme);
  } else {
    size_t authority = authority_end(base, scheme);
    size_t slash = base_len;
    while (slash > authority && base[slash - 1] != '/') slash--;
    if (slash > authority) {
      keep = slash; /* just past the path's last '/' */
    } else if (authority > scheme) {
      keep = base_len; /* "http://host" + "/" + ref */
      separator = "/";
    } else {
      keep = scheme;
    }
  }
  size_t ref_len = strlen(ref), sep_len = strlen(separator);
  char *uri = arena_alloc(&c->scratch, keep + sep_len + ref_len + 1);
  if (!uri) return NULL;
  memcpy(uri, base, keep);
  memcpy(uri + keep, separator, sep_len);
  memcpy(uri + keep + sep_len, ref, ref_len);
  return uri;
}

static int add_resource(compiler *c, const char *uri, const char *base, const json_t *json,
                        bool changes_base) {
  resource *r = arena_alloc(&c->scratch, sizeof *r);
  if (!r) return out_of_memory(c);
  *r = (resource){uri, base, json, changes_base, c->resources};
  c->resources = r;
  return 0;
}

/* A schema object's "$id" (ignored next to "$ref", as draft 7 says). */
static const char *id_of(const json_t *json) {
  if (!json_is_object(json) || json_object_get(json, "$ref")) return NULL;
  return json_string_value(json_object_get(json, "$id"));
}

/* Register json's "$id" and update *base to the base URI inside it. */
static int register_id(compiler *c, const json_t *json, const char **base) {
  const char *id = id_of(json);
  if (!id) return 0;
  char *uri = resolve_uri(c, *base, id);
  if (!uri) return out_of_memory(c);
  size_t doc_len = strcspn(uri, "#");
  char *inner = art_arena_strndup(&c->scratch, uri, doc_len);
  if (!inner) return out_of_memory(c);
  int rc = 0;
  if (id[0] != '#') rc = add_resource(c, inner, inner, json, true);
  if (rc == 0 && uri[doc_len] && uri[doc_len + 1]) rc = add_resource(c, uri, inner, json, false);
  *base = inner;
  return rc;
}

/* Pass 1: every "$id" of the document.  enum and const hold data, not schemas. */
static int collect_ids(compiler *c, const json_t *json, const char *base, unsigned depth) {
  if (depth > MAX_DEPTH) return schema_error(c, NULL, "schema nesting is too deep");
  int rc = json_is_object(json) ? register_id(c, json, &base) : 0;
  if (json_is_object(json)) {
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)json, key, value) {
      if (rc == 0 && strcmp(key, "enum") != 0 && strcmp(key, "const") != 0)
        rc = collect_ids(c, value, base, depth + 1);
    }
  } else if (json_is_array(json)) {
    for (size_t i = 0; rc == 0 && i < json_array_size(json); i++)
      rc = collect_ids(c, json_array_get(json, i), base, depth + 1);
  }
  return rc;
}

/* The base URI inside json, given the one around it. */
static const char *base_of(const compiler *c, const json_t *json, const char *base) {
  if (!id_of(json)) return base;
  for (const resource *r = c->resources; r; r = r->next)
    if (r->json == json && r->changes_base) return r->base;
  return base;
}

static const resource *find_resource(const compiler *c, const char *uri, size_t len) {
  for (const resource *r = c->resources; r; r = r->next)
    if (strlen(r->uri) == len && memcmp(r->uri, uri, len) == 0) return r;
  return NULL;
}

/* ---- nodes ------------------------------------------------------------------ */

static node *new_node(compiler *c, const json_t *json) {
  node *n = arena_alloc(&c->schema->arena, sizeof *n);
  memo *m = arena_alloc(&c->scratch, sizeof *m);
  if (!n || !m) return NULL;
  n->max_length = n->max_items = n->max_properties = SIZE_MAX;
  n->next = c->schema->nodes;
  c->schema->nodes = n;
  *m = (memo){json, n, c->memo};
  c->memo = m;
  return n;
}

static node *memo_find(const compiler *c, const json_t *json) {
  for (const memo *m = c->memo; m; m = m->next)
    if (m->json == json) return m->n;
  return NULL;
}

/* A subschema under keyword[/key]; key NULL for a keyword holding one schema. */
static int compile_member(compiler *c, const char *keyword, const char *key, size_t key_len,
                          const json_t *json, node **out) {
  size_t saved = pointer_push(c, keyword, strlen(keyword));
  if (key) pointer_push(c, key, key_len);
  int rc = compile_schema(c, json, out);
  pointer_pop(c, saved);
  return rc;
}

static int compile_item(compiler *c, const char *keyword, size_t index, const json_t *json,
                        node **out) {
  size_t saved = pointer_push(c, keyword, strlen(keyword));
  pointer_push_index(c, index);
  int rc = compile_schema(c, json, out);
  pointer_pop(c, saved);
  return rc;
}

static int compile_optional(compiler *c, const json_t *s, const char *keyword, node **out) {
  const json_t *v = json_object_get(s, keyword);
  return v ? compile_member(c, keyword, NULL, 0, v, out) : 0;
}

/* A keyword holding an array of schemas. */
static int compile_list(compiler *c, const json_t *s, const char *keyword, bool non_empty,
                        node_list *out) {
  const json_t *v = json_object_get(s, keyword);
  if (!v) return 0;
  if (!json_is_array(v) || (non_empty && !json_array_size(v)))
    return schema_error(c, keyword, "expected a %sarray of schemas", non_empty ? "non-empty " : "");
  size_t count = json_array_size(v);
  out->items = arena_array(&c->schema->arena, count, sizeof *out->items);
  if (!out->items) return out_of_memory(c);
  for (size_t i = 0; i < count; i++) {
    int rc = compile_item(c, keyword, i, json_array_get(v, i), &out->items[i]);
    if (rc < 0) return rc;
    out->count++;
  }
  return 0;
}

/* ---- keywords --------------------------------------------------------------- */

static unsigned type_bit(const char *type_name) {
  for (size_t i = 0; type_name && i < TYPE_COUNT; i++)
    if (strcmp(type_name, type_names[i]) == 0) return 1u << i;
  return 0;
}

static int compile_type(compiler *c, node *n, const json_t *s) {
  const json_t *type = json_object_get(s, "type");
  if (!type) return 0;
  const char *expected = "expected a type name or a non-empty array of type names";
  if (json_is_string(type)) {
    n->types = type_bit(json_string_value(type));
    if (!n->types) return schema_error(c, "type", "unknown type \"%s\"", json_string_value(type));
  } else if (json_is_array(type) && json_array_size(type)) {
    for (size_t i = 0; i < json_array_size(type); i++) {
      unsigned bit = type_bit(json_string_value(json_array_get(type, i)));
      if (!bit) return schema_error(c, "type", "%s", expected);
      n->types |= bit;
    }
  } else {
    return schema_error(c, "type", "%s", expected);
  }
  n->checks |= C_TYPE;
  return 0;
}

static bool is_integral(double d) { return isfinite(d) && floor(d) == d; }

/* minLength, maxItems, ...: a non-negative integer (2.0 counts, as in draft 7). */
static int read_count(compiler *c, const json_t *s, const char *keyword, size_t *out) {
  const json_t *v = json_object_get(s, keyword);
  if (!v) return 0;
  double d = json_number_value(v);
  bool ok =
      json_is_integer(v) ? json_integer_value(v) >= 0 : json_is_real(v) && is_integral(d) && d >= 0;
  if (!ok) return schema_error(c, keyword, "expected a non-negative integer");
  if (json_is_integer(v))
    *out = (size_t)json_integer_value(v);
  else
    *out = d >= 18446744073709551615.0 ? SIZE_MAX : (size_t)d;
  return 0;
}

static int read_number(compiler *c, node *n, const json_t *s, const char *keyword, unsigned check,
                       number *out) {
  const json_t *v = json_object_get(s, keyword);
  if (!v) return 0;
  if (!json_is_number(v)) return schema_error(c, keyword, "expected a number");
  out->is_int = json_is_integer(v);
  out->i = out->is_int ? json_integer_value(v) : 0;
  out->d = json_number_value(v);
  n->checks |= check;
  return 0;
}

static int compile_number_keywords(compiler *c, node *n, const json_t *s) {
  int rc = read_number(c, n, s, "minimum", C_MINIMUM, &n->minimum);
  if (rc == 0) rc = read_number(c, n, s, "maximum", C_MAXIMUM, &n->maximum);
  if (rc == 0)
    rc = read_number(c, n, s, "exclusiveMinimum", C_EXCLUSIVE_MINIMUM, &n->exclusive_minimum);
  if (rc == 0)
    rc = read_number(c, n, s, "exclusiveMaximum", C_EXCLUSIVE_MAXIMUM, &n->exclusive_maximum);
  if (rc == 0) rc = read_number(c, n, s, "multipleOf", C_MULTIPLE_OF, &n->multiple_of);
  if (rc == 0 && (n->checks & C_MULTIPLE_OF) && !(n->multiple_of.d > 0))
    rc = schema_error(c, "multipleOf", "expected a number greater than 0");
  return rc;
}

/* Compile an ECMA-262 pattern into *re, naming the current pointer on error. */
static int compile_regex(compiler *c, regex_t *re, const char *pattern) {
  art_schema *s = c->schema;
  if (!s->c_locale) s->c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
  if (!s->c_locale) return out_of_memory(c);
  char why[256];
  int rc = art_ecma_regex_compile(re, pattern, s->c_locale, s->alloc, why, sizeof why);
  if (rc == ART_ENOMEM) return out_of_memory(c);
  if (rc < 0) return schema_error(c, NULL, "invalid pattern \"%s\": %s", pattern, why);
  return 0;
}

static int compile_pattern(compiler *c, node *n, const json_t *s) {
  const json_t *v = json_object_get(s, "pattern");
  if (!v) return 0;
  if (!json_is_string(v)) return schema_error(c, "pattern", "expected a string");
  regex_t *re = arena_alloc(&c->schema->arena, sizeof *re);
  char *source = art_arena_strdup(&c->schema->arena, json_string_value(v));
  if (!re || !source) return out_of_memory(c);
  size_t saved = pointer_push(c, "pattern", 7);
  int rc = compile_regex(c, re, source);
  pointer_pop(c, saved);
  if (rc < 0) return rc;
  n->pattern = re;
  n->pattern_source = source;
  return 0;
}

static int compile_string_keywords(compiler *c, node *n, const json_t *s) {
  int rc = read_count(c, s, "minLength", &n->min_length);
  if (rc == 0) rc = read_count(c, s, "maxLength", &n->max_length);
  if (rc == 0) rc = compile_pattern(c, n, s);
  if (n->min_length || n->max_length != SIZE_MAX || n->pattern) n->checks |= C_STRING;
  return rc;
}

static int compile_items(compiler *c, node *n, const json_t *s) {
  const json_t *items = json_object_get(s, "items");
  if (!json_is_array(items)) return compile_optional(c, s, "items", &n->items);
  n->has_tuple = true;
  return compile_list(c, s, "items", false, &n->tuple);
}

static int read_bool(compiler *c, const json_t *s, const char *keyword, bool *out) {
  const json_t *v = json_object_get(s, keyword);
  if (!v) return 0;
  if (!json_is_boolean(v)) return schema_error(c, keyword, "expected true or false");
  *out = json_is_true(v);
  return 0;
}

static int compile_array_keywords(compiler *c, node *n, const json_t *s) {
  int rc = read_count(c, s, "minItems", &n->min_items);
  if (rc == 0) rc = read_count(c, s, "maxItems", &n->max_items);
  if (rc == 0) rc = compile_items(c, n, s);
  if (rc == 0) rc = compile_optional(c, s, "additionalItems", &n->additional_items);
  if (rc == 0) rc = read_bool(c, s, "uniqueItems", &n->unique_items);
  if (n->min_items || n->max_items != SIZE_MAX || n->items || n->has_tuple || n->unique_items)
    n->checks |= C_ARRAY;
  return rc;
}

static int key_order(const char *a, size_t a_len, const char *b, size_t b_len) {
  if (a_len != b_len) return a_len < b_len ? -1 : 1;
  return memcmp(a, b, a_len);
}

static int compare_properties(const void *a, const void *b) {
  const property *x = a, *y = b;
  return key_order(x->key.text, x->key.len, y->key.text, y->key.len);
}

/* An object of schemas, for properties, patternProperties and definitions. */
static int expect_schema_map(compiler *c, const json_t *v, const char *keyword) {
  if (json_is_object(v)) return 0;
  return schema_error(c, keyword, "expected an object whose values are schemas");
}

static int compile_properties(compiler *c, node *n, const json_t *s) {
  const json_t *props = json_object_get(s, "properties");
  if (!props) return 0;
  if (expect_schema_map(c, props, "properties")) return ART_EINVAL;
  n->properties = arena_array(&c->schema->arena, json_object_size(props), sizeof *n->properties);
  if (!n->properties) return out_of_memory(c);
  const char *key;
  size_t len;
  json_t *value;
  json_object_keylen_foreach((json_t *)props, key, len, value) {
    property *p = &n->properties[n->property_count];
    p->key = (name){art_arena_strndup(&c->schema->arena, key, len), len};
    if (!p->key.text) return out_of_memory(c);
    int rc = compile_member(c, "properties", key, len, value, &p->schema);
    if (rc < 0) return rc;
    n->property_count++;
  }
  qsort(n->properties, n->property_count, sizeof *n->properties, compare_properties);
  return 0;
}

static int compile_pattern_property(compiler *c, node *n, const char *key, size_t len,
                                    const json_t *value) {
  pattern_property *p = &n->pattern_properties[n->pattern_count];
  size_t saved = pointer_push(c, "patternProperties", 17);
  pointer_push(c, key, len);
  int rc = compile_regex(c, &p->re, key);
  if (rc == 0) {
    n->pattern_count++;
    rc = compile_schema(c, value, &p->schema);
  }
  pointer_pop(c, saved);
  return rc;
}

static int compile_pattern_properties(compiler *c, node *n, const json_t *s) {
  const json_t *props = json_object_get(s, "patternProperties");
  if (!props) return 0;
  if (expect_schema_map(c, props, "patternProperties")) return ART_EINVAL;
  n->pattern_properties =
      arena_array(&c->schema->arena, json_object_size(props), sizeof *n->pattern_properties);
  if (!n->pattern_properties) return out_of_memory(c);
  const char *key;
  size_t len;
  json_t *value;
  json_object_keylen_foreach((json_t *)props, key, len, value) {
    int rc = compile_pattern_property(c, n, key, len, value);
    if (rc < 0) return rc;
  }
  return 0;
}

static int compile_required(compiler *c, node *n, const json_t *s) {
  const json_t *req = json_object_get(s, "required");
  if (!req) return 0;
  if (!json_is_array(req)) return schema_error(c, "required", "expected an array of strings");
  n->required = arena_array(&c->schema->arena, json_array_size(req), sizeof *n->required);
  if (!n->required) return out_of_memory(c);
  for (size_t i = 0; i < json_array_size(req); i++) {
    const json_t *v = json_array_get(req, i);
    if (!json_is_string(v)) return schema_error(c, "required", "expected an array of strings");
    size_t len = json_string_length(v);
    n->required[i] = (name){art_arena_strndup(&c->schema->arena, json_string_value(v), len), len};
    if (!n->required[i].text) return out_of_memory(c);
    n->required_count++;
  }
  return 0;
}

static int compile_object_keywords(compiler *c, node *n, const json_t *s) {
  int rc = read_count(c, s, "minProperties", &n->min_properties);
  if (rc == 0) rc = read_count(c, s, "maxProperties", &n->max_properties);
  if (rc == 0) rc = compile_properties(c, n, s);
  if (rc == 0) rc = compile_pattern_properties(c, n, s);
  if (rc == 0) rc = compile_optional(c, s, "additionalProperties", &n->additional_properties);
  if (rc == 0) rc = compile_required(c, n, s);
  if (n->min_properties || n->max_properties != SIZE_MAX || n->property_count || n->pattern_count ||
      n->additional_properties || n->required_count)
    n->checks |= C_OBJECT;
  return rc;
}

/* enum and const keep a private copy: the schema JSON is only borrowed. */
static int compile_value_keywords(compiler *c, node *n, const json_t *s) {
  const json_t *values = json_object_get(s, "enum");
  const json_t *constant = json_object_get(s, "const");
  if (values && !json_is_array(values)) return schema_error(c, "enum", "expected an array");
  if (values) {
    n->enum_values = json_deep_copy(values);
    if (!n->enum_values) return out_of_memory(c);
    n->checks |= C_ENUM;
  }
  if (constant) {
    n->const_value = json_deep_copy(constant);
    if (!n->const_value) return out_of_memory(c);
    n->checks |= C_CONST;
  }
  return 0;
}

static int compile_combinators(compiler *c, node *n, const json_t *s) {
  int rc = compile_list(c, s, "allOf", true, &n->all_of);
  if (rc == 0) rc = compile_list(c, s, "anyOf", true, &n->any_of);
  if (rc == 0) rc = compile_list(c, s, "oneOf", true, &n->one_of);
  if (rc == 0) rc = compile_optional(c, s, "not", &n->not_schema);
  if (n->all_of.count || n->any_of.count || n->one_of.count || n->not_schema)
    n->checks |= C_COMBINATOR;
  return rc;
}

/* definitions / $defs are only reached through $ref, but compiling them now
 * reports their errors even when nothing refers to them. */
static int compile_definitions(compiler *c, const json_t *s, const char *keyword) {
  const json_t *defs = json_object_get(s, keyword);
  if (!defs) return 0;
  if (expect_schema_map(c, defs, keyword)) return ART_EINVAL;
  const char *key;
  size_t len;
  json_t *value;
  json_object_keylen_foreach((json_t *)defs, key, len, value) {
    node *unused;
    int rc = compile_member(c, keyword, key, len, value, &unused);
    if (rc < 0) return rc;
  }
  return 0;
}

static int compile_keywords(compiler *c, node *n, const json_t *s) {
  int rc = compile_type(c, n, s);
  if (rc == 0) rc = compile_number_keywords(c, n, s);
  if (rc == 0) rc = compile_string_keywords(c, n, s);
  if (rc == 0) rc = compile_array_keywords(c, n, s);
  if (rc == 0) rc = compile_object_keywords(c, n, s);
  if (rc == 0) rc = compile_value_keywords(c, n, s);
  if (rc == 0) rc = compile_combinators(c, n, s);
  if (rc == 0) rc = compile_definitions(c, s, "definitions");
  if (rc == 0) rc = compile_definitions(c, s, "$defs");
  return rc;
}

static int add_pending_ref(compiler *c, node *n, const json_t *ref) {
  if (!json_is_string(ref)) return schema_error(c, "$ref", "expected a string");
  pending_ref *p = arena_alloc(&c->scratch, sizeof *p);
  char *written = art_arena_strdup(&c->scratch, json_string_value(ref));
  char *pointer = art_arena_strdup(&c->scratch, c->pointer);
  if (!p || !written || !pointer) return out_of_memory(c);
  *p = (pending_ref){n, written, c->base, pointer, NULL};
  *c->refs_tail = p;
  c->refs_tail = &p->next;
  return 0;
}

static int compile_schema(compiler *c, const json_t *json, node **out) {
  if (c->depth >= MAX_DEPTH) return schema_error(c, NULL, "schema nesting is too deep");
  node *n = new_node(c, json);
  if (!n) return out_of_memory(c);
  *out = n;
  if (json_is_boolean(json)) {
    if (json_is_false(json)) n->checks = C_FALSE;
    return 0;
  }
  if (!json_is_object(json))
    return schema_error(c, NULL, "expected a schema (an object or a boolean)");
  const json_t *ref = json_object_get(json, "$ref");
  if (ref) return add_pending_ref(c, n, ref);
  const char *outer_base = c->base;
  c->base = base_of(c, json, c->base);
  c->depth++;
  int rc = compile_keywords(c, n, json);
  c->depth--;
  c->base = outer_base;
  return rc;
}

/* ---- $ref resolution ---------------------------------------------------------- */

/* Where a $ref leads: a JSON value and the base URI in effect there. */
typedef struct target {
  const json_t *json;
  const char *base;
} target;

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') return (c | 0x20) - 'a' + 10;
  return -1;
}

/* A URI fragment with its %XX escapes decoded, in the scratch arena. */
static char *percent_decode(compiler *c, const char *s) {
  char *out = arena_alloc(&c->scratch, strlen(s) + 1), *o = out;
  if (!out) return NULL;
  for (; *s; s++) {
    int hi = *s == '%' ? hex_digit(s[1]) : -1, lo = hi >= 0 ? hex_digit(s[2]) : -1;
    if (lo >= 0) {
      *o++ = (char)(hi * 16 + lo);
      s += 2;
    } else {
      *o++ = *s;
    }
  }
  return out;
}

/* One step of a JSON pointer: an object member or an array index. */
static const json_t *pointer_step(const json_t *json, const char *token, size_t len) {
  if (json_is_object(json)) return json_object_getn(json, token, len);
  if (!json_is_array(json) || !len || len > 19 || (token[0] == '0' && len > 1)) return NULL;
  size_t index = 0;
  for (size_t i = 0; i < len; i++) {
    if (token[i] < '0' || token[i] > '9') return NULL;
    index = index * 10 + (size_t)(token[i] - '0');
  }
  return json_array_get(json, index);
}

/* Follow the (decoded) JSON pointer from `at`; 1 when it leads nowhere. */
static int walk_pointer(compiler *c, const char *pointer, target *at) {
  char *token = arena_alloc(&c->scratch, strlen(pointer) + 1);
  if (!token) return out_of_memory(c);
  const char *p = pointer;
  while (*p == '/') {
    size_t len = 0;
    for (p++; *p && *p != '/'; p++) {
      bool escape = p[0] == '~' && (p[1] == '0' || p[1] == '1');
      token[len++] = escape ? (p[1] == '0' ? '~' : '/') : *p;
      p += escape;
    }
    at->json = pointer_step(at->json, token, len);
    if (!at->json) return 1;
    at->base = base_of(c, at->json, at->base);
  }
  return *p ? 1 : 0;
}

/* The JSON value a resolved $ref URI names, within this document. */
static int find_target(compiler *c, const pending_ref *p, const char *uri, target *out) {
  size_t doc_len = strcspn(uri, "#");
  const char *fragment = uri[doc_len] ? uri + doc_len + 1 : "";
  const resource *r = doc_len ? find_resource(c, uri, doc_len) : NULL;
  if (doc_len && !r)
    return schema_error(c, "$ref", "remote reference \"%s\" is not supported", p->ref);
  *out = r ? (target){r->json, r->base} : (target){c->root, c->root_base};
  if (fragment[0] && fragment[0] != '/') { /* a plain name given by "$id": "#name" */
    r = find_resource(c, uri, strlen(uri));
    if (!r) return schema_error(c, "$ref", "no schema has the \"$id\" \"%s\"", p->ref);
    *out = (target){r->json, r->base};
    return 0;
  }
  char *pointer = percent_decode(c, fragment);
  if (!pointer) return out_of_memory(c);
  int rc = walk_pointer(c, pointer, out);
  if (rc > 0) return schema_error(c, "$ref", "\"%s\" does not point into the schema", p->ref);
  return rc;
}

/* Compile the target of a $ref that nothing compiled yet (e.g. under an
 * unknown keyword); messages name it by its URI. */
static int compile_target(compiler *c, const char *uri, const target *t, node **out) {
  pointer_set(c, uri);
  c->base = t->base;
  c->depth = 0;
  return compile_schema(c, t->json, out);
}

static int resolve_ref(compiler *c, pending_ref *p) {
  pointer_set(c, p->pointer);
  const char *uri = resolve_uri(c, p->base, p->ref);
  if (!uri) return out_of_memory(c);
  target t = {0};
  int rc = find_target(c, p, uri, &t);
  if (rc < 0) return rc;
  p->at->ref = memo_find(c, t.json);
  if (!p->at->ref) rc = compile_target(c, uri, &t, &p->at->ref);
  return rc;
}

/* Pass 3; compiling a target may add more pending refs to the list. */
static int resolve_refs(compiler *c) {
  for (pending_ref *p = c->refs; p; p = p->next) {
    int rc = resolve_ref(c, p);
    if (rc < 0) return rc;
  }
  return 0;
}

enum { UNSEEN, ON_PATH, DONE };

static bool loops_in_place(node *n);

static bool list_loops(const node_list *list) {
  for (size_t i = 0; i < list->count; i++)
    if (loops_in_place(list->items[i])) return true;
  return false;
}

/* Whether a path of $ref / allOf / anyOf / oneOf / not edges (which apply a
 * schema to the same instance) comes back to n: validation would never end. */
static bool loops_in_place(node *n) {
  if (n->visit != UNSEEN) return n->visit == ON_PATH;
  n->visit = ON_PATH;
  bool loop = (n->ref && loops_in_place(n->ref)) || list_loops(&n->all_of) ||
              list_loops(&n->any_of) || list_loops(&n->one_of) ||
              (n->not_schema && loops_in_place(n->not_schema));
  n->visit = DONE;
  return loop;
}

/* Pass 4. */
static int finish_refs(compiler *c) {
  for (pending_ref *p = c->refs; p; p = p->next) {
    if (loops_in_place(p->at)) {
      pointer_set(c, p->pointer);
      return schema_error(c, "$ref", "\"%s\" leads to a loop that never descends into the value",
                          p->ref);
    }
  }
  for (pending_ref *p = c->refs; p; p = p->next)
    while (p->at->ref->ref) p->at->ref = p->at->ref->ref;
  return 0;
}

static int compile_document(compiler *c, const json_t *root) {
  c->root = root;
  c->root_base = "";
  int rc = collect_ids(c, root, "", 0);
  if (rc == 0) {
    c->root_base = base_of(c, root, "");
    c->base = c->root_base;
    rc = compile_schema(c, root, &c->schema->root);
  }
  if (rc == 0) rc = resolve_refs(c);
  if (rc == 0) rc = finish_refs(c);
  return rc;
}

int art_schema_compile(art_schema **out, const json_t *schema, const art_allocator *alloc,
                       art_error *err) {
  alloc = art_allocator_or_default(alloc);
  *out = NULL;
  if (!schema) return art_error_set(err, ART_EINVAL, "#: no schema given");
  art_schema *s = art_zalloc(alloc, sizeof *s);
  if (!s) return art_error_set(err, ART_ENOMEM, "out of memory");
  s->alloc = alloc;
  art_arena_init(&s->arena, alloc, NULL, 0, ARENA_CHUNK);
  compiler c = {.schema = s, .err = err};
  art_arena_init(&c.scratch, alloc, NULL, 0, ARENA_CHUNK);
  pointer_set(&c, "#");
  c.refs_tail = &c.refs;
  int rc = compile_document(&c, schema);
  art_arena_dispose(&c.scratch);
  if (rc < 0) {
    art_schema_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

void art_schema_free(art_schema *schema) {
  if (!schema) return;
  for (node *n = schema->nodes; n; n = n->next) {
    if (n->pattern) regfree(n->pattern);
    for (size_t i = 0; i < n->pattern_count; i++) regfree(&n->pattern_properties[i].re);
    json_decref(n->enum_values);
    json_decref(n->const_value);
  }
  if (schema->c_locale) freelocale(schema->c_locale);
  art_arena_dispose(&schema->arena);
  art_release(schema->alloc, schema);
}

/* ---- validation ----------------------------------------------------------------- */

/* One step of the instance path: an object member, or an array index when key
 * is NULL. */
typedef struct segment {
  const char *key;
  size_t len;
  size_t index;
} segment;

typedef struct validation {
  locale_t c_locale; /* the schema's, for patterns */
  char *why;
  size_t why_size;
  unsigned depth;   /* segments in the instance path (may exceed PATH_DEPTH) */
  unsigned nesting; /* schema applications in progress */
  unsigned quiet;   /* > 0 inside anyOf/oneOf/not, whose failures are expected */
  segment path[PATH_DEPTH];
} validation;

static int validate_node(validation *v, const node *n, const json_t *x);

static bool is_identifier(const char *s, size_t len) {
  if (!len || (s[0] >= '0' && s[0] <= '9')) return false;
  for (size_t i = 0; i < len; i++) {
    char ch = s[i];
    if (!(ch == '_' || (ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z')))
      return false;
  }
  return true;
}

/* $.to, $.tags[2], $["content type"] */
static void write_segment(text *t, const segment *s) {
  if (!s->key) {
    text_printf(t, "[%zu]", s->index);
  } else if (is_identifier(s->key, s->len)) {
    text_add(t, ".", 1);
    text_add(t, s->key, s->len);
  } else {
    text_add(t, "[\"", 2);
    for (size_t i = 0; i < s->len; i++) {
      if (s->key[i] == '"' || s->key[i] == '\\') text_add(t, "\\", 1);
      text_add(t, s->key + i, 1);
    }
    text_add(t, "\"]", 2);
  }
}

static int fail(validation *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(validation *v, const char *fmt, ...) {
  if (v->quiet || !v->why_size) return ART_EINVAL;
  text t;
  text_init(&t, v->why, v->why_size);
  text_add(&t, "$", 1);
  for (unsigned i = 0; i < v->depth && i < PATH_DEPTH; i++) write_segment(&t, &v->path[i]);
  if (v->depth > PATH_DEPTH) text_add(&t, "...", 3);
  text_add(&t, ": ", 2);
  va_list ap;
  va_start(ap, fmt);
  text_vprintf(&t, fmt, ap);
  va_end(ap);
  return ART_EINVAL;
}

static void enter_key(validation *v, const char *key, size_t len) {
  if (v->depth < PATH_DEPTH) v->path[v->depth] = (segment){key, len, 0};
  v->depth++;
}

static void enter_index(validation *v, size_t index) {
  if (v->depth < PATH_DEPTH) v->path[v->depth] = (segment){NULL, 0, index};
  v->depth++;
}

static void leave(validation *v) { v->depth--; }

static const node *resolved(const node *n) { return n->ref ? n->ref : n; }

/* ---- values in messages ---- */

static void write_double(text *t, double d) {
  char digits[32];
  for (int precision = 1; precision <= 17; precision++) { /* shortest that reads back */
    snprintf(digits, sizeof digits, "%.*g", precision, d);
    if (strtod(digits, NULL) == d) break;
  }
  text_str(t, digits);
}

static void write_number(text *t, const number *n) {
  if (n->is_int)
    text_printf(t, "%" JSON_INTEGER_FORMAT, n->i);
  else
    write_double(t, n->d);
}

/* A scalar as JSON text; false for arrays and objects. */
static bool write_scalar(text *t, const json_t *x) {
  switch (json_typeof(x)) {
  case JSON_STRING:
    text_add(t, "\"", 1);
    text_add(t, json_string_value(x), json_string_length(x));
    text_add(t, "\"", 1);
    return true;
  case JSON_INTEGER: text_printf(t, "%" JSON_INTEGER_FORMAT, json_integer_value(x)); return true;
  case JSON_REAL: write_double(t, json_real_value(x)); return true;
  case JSON_TRUE: text_str(t, "true"); return true;
  case JSON_FALSE: text_str(t, "false"); return true;
  case JSON_NULL: text_str(t, "null"); return true;
  default: return false;
  }
}

static const char *type_name_of(const json_t *x) {
  switch (json_typeof(x)) {
  case JSON_OBJECT: return "object";
  case JSON_ARRAY: return "array";
  case JSON_STRING: return "string";
  case JSON_INTEGER: return "integer";
  case JSON_REAL: return "number";
  case JSON_TRUE:
  case JSON_FALSE: return "boolean";
  default: return "null";
  }
}

/* "expected string or null, got integer" */
static int fail_type(validation *v, unsigned types, const json_t *x) {
  if (v->quiet) return ART_EINVAL;
  char expected[96];
  text t;
  text_init(&t, expected, sizeof expected);
  unsigned remaining = types;
  for (size_t k = 0; k < TYPE_COUNT; k++) {
    unsigned i = type_message_order[k];
    if (!(types & (1u << i))) continue;
    remaining &= ~(1u << i);
    text_str(&t, type_names[i]);
    if (remaining) text_str(&t, (remaining & (remaining - 1)) ? ", " : " or ");
  }
  return fail(v, "expected %s, got %s", expected, type_name_of(x));
}

/* "12 is greater than the maximum 10" */
static int fail_number(validation *v, const json_t *x, const char *relation, const number *limit) {
  if (v->quiet) return ART_EINVAL;
  char value[40], bound[40];
  text a, b;
  text_init(&a, value, sizeof value);
  text_init(&b, bound, sizeof bound);
  write_scalar(&a, x);
  write_number(&b, limit);
  return fail(v, "%s %s %s", value, relation, bound);
}

/* "expected one of "fast", "slow"" when the values are short scalars. */
static int fail_enum(validation *v, const json_t *values) {
  if (v->quiet) return ART_EINVAL;
  char list[160];
  text t;
  text_init(&t, list, sizeof list);
  bool listed = true;
  for (size_t i = 0; listed && i < json_array_size(values); i++) {
    if (i) text_add(&t, ", ", 2);
    listed = write_scalar(&t, json_array_get(values, i));
  }
  if (!listed || t.truncated) return fail(v, "value is not one of the values of enum");
  return fail(v, "expected one of %s", list);
}

static int fail_const(validation *v, const json_t *value) {
  if (v->quiet) return ART_EINVAL;
  char shown[160];
  text t;
  text_init(&t, shown, sizeof shown);
  if (!write_scalar(&t, value) || t.truncated) return fail(v, "value is not the const value");
  return fail(v, "expected %s", shown);
}

/* ---- equality (draft 7: 1 and 1.0 are equal) ---- */

static int compare_json_numbers(const json_t *a, const json_t *b) {
  if (json_is_integer(a) && json_is_integer(b)) {
    json_int_t x = json_integer_value(a), y = json_integer_value(b);
    return (x > y) - (x < y);
  }
  /* long double holds every json_int_t exactly on the usual ABIs */
  long double x = json_is_integer(a) ? (long double)json_integer_value(a) : json_real_value(a);
  long double y = json_is_integer(b) ? (long double)json_integer_value(b) : json_real_value(b);
  return (x > y) - (x < y);
}

static bool values_equal(const json_t *a, const json_t *b);

static bool objects_equal(const json_t *a, const json_t *b) {
  if (json_object_size(a) != json_object_size(b)) return false;
  json_t *obj = (json_t *)a; /* jansson iterates non-const objects; nothing changes */
  for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
    const json_t *other =
        json_object_getn(b, json_object_iter_key(it), json_object_iter_key_len(it));
    if (!other || !values_equal(json_object_iter_value(it), other)) return false;
  }
  return true;
}

static bool values_equal(const json_t *a, const json_t *b) {
  if (json_is_number(a) && json_is_number(b)) return compare_json_numbers(a, b) == 0;
  if (json_typeof(a) != json_typeof(b)) return false;
  switch (json_typeof(a)) {
  case JSON_OBJECT: return objects_equal(a, b);
  case JSON_ARRAY:
    if (json_array_size(a) != json_array_size(b)) return false;
    for (size_t i = 0; i < json_array_size(a); i++)
      if (!values_equal(json_array_get(a, i), json_array_get(b, i))) return false;
    return true;
  case JSON_STRING:
    return json_string_length(a) == json_string_length(b) &&
           memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
  default: return true; /* true, false, null */
  }
}

/* ---- numbers ---- */

static int compare_to_limit(const json_t *x, const number *limit) {
  if (json_is_integer(x) && limit->is_int) {
    json_int_t a = json_integer_value(x);
    return (a > limit->i) - (a < limit->i);
  }
  long double a = json_is_integer(x) ? (long double)json_integer_value(x) : json_real_value(x);
  long double b = limit->is_int ? (long double)limit->i : limit->d;
  return (a > b) - (a < b);
}

/* Decimal fractions are inexact in binary (0.0075 / 0.0001 = 75.00000000000001),
 * so a quotient within a few ulps of an integer counts as one. */
static bool is_multiple(const json_t *x, const number *m) {
  if (json_is_integer(x) && m->is_int) return json_integer_value(x) % m->i == 0;
  double q = json_number_value(x) / m->d;
  if (!isfinite(q)) return false;
  return fabs(q - nearbyint(q)) <= 8 * 2.220446049250313e-16 * fabs(q);
}

static int validate_number(validation *v, const node *n, const json_t *x) {
  unsigned k = n->checks;
  if ((k & C_MINIMUM) && compare_to_limit(x, &n->minimum) < 0)
    return fail_number(v, x, "is less than the minimum", &n->minimum);
  if ((k & C_MAXIMUM) && compare_to_limit(x, &n->maximum) > 0)
    return fail_number(v, x, "is greater than the maximum", &n->maximum);
  if ((k & C_EXCLUSIVE_MINIMUM) && compare_to_limit(x, &n->exclusive_minimum) <= 0)
    return fail_number(v, x, "is not greater than the exclusive minimum", &n->exclusive_minimum);
  if ((k & C_EXCLUSIVE_MAXIMUM) && compare_to_limit(x, &n->exclusive_maximum) >= 0)
    return fail_number(v, x, "is not less than the exclusive maximum", &n->exclusive_maximum);
  if ((k & C_MULTIPLE_OF) && !is_multiple(x, &n->multiple_of))
    return fail_number(v, x, "is not a multiple of", &n->multiple_of);
  return 0;
}

/* ---- strings ---- */

static size_t count_code_points(const char *s, size_t bytes) {
  size_t n = 0;
  for (size_t i = 0; i < bytes; i++) n += ((unsigned char)s[i] & 0xC0) != 0x80;
  return n;
}

static int validate_string(validation *v, const node *n, const json_t *x) {
  const char *s = json_string_value(x);
  size_t bytes = json_string_length(x);
  /* A string has between bytes/4 and bytes code points: count them only when
   * that range does not settle minLength and maxLength. */
  if (n->min_length > bytes / 4 || bytes > n->max_length) {
    size_t chars = count_code_points(s, bytes);
    if (chars < n->min_length)
      return fail(v, "string of %zu characters is shorter than minLength %zu", chars,
                  n->min_length);
    if (chars > n->max_length)
      return fail(v, "string of %zu characters is longer than maxLength %zu", chars, n->max_length);
  }
  if (n->pattern && !art_ecma_regex_search(n->pattern, v->c_locale, s, bytes))
    return fail(v, "string does not match the pattern \"%s\"", n->pattern_source);
  return 0;
}

/* ---- arrays ---- */

static const node *item_schema(const node *n, size_t index) {
  if (!n->has_tuple) return n->items;
  return index < n->tuple.count ? n->tuple.items[index] : n->additional_items;
}

static int validate_items(validation *v, const node *n, const json_t *x, size_t count) {
  const node *extra = n->has_tuple && n->additional_items ? resolved(n->additional_items) : NULL;
  if (extra && (extra->checks & C_FALSE) && count > n->tuple.count)
    return fail(v, "array has %zu items, but items lists only %zu and additionalItems is false",
                count, n->tuple.count);
  for (size_t i = 0; i < count; i++) {
    const node *schema = item_schema(n, i);
    if (!schema) break;
    enter_index(v, i);
    int rc = validate_node(v, schema, json_array_get(x, i));
    leave(v);
    if (rc) return rc;
  }
  return 0;
}

static int check_unique(validation *v, const json_t *x, size_t count) {
  for (size_t i = 0; i < count; i++)
    for (size_t j = i + 1; j < count; j++)
      if (values_equal(json_array_get(x, i), json_array_get(x, j)))
        return fail(v, "items %zu and %zu are equal, but uniqueItems is true", i, j);
  return 0;
}

static int validate_array(validation *v, const node *n, const json_t *x) {
  size_t count = json_array_size(x);
  if (count < n->min_items)
    return fail(v, "array of %zu items is shorter than minItems %zu", count, n->min_items);
  if (count > n->max_items)
    return fail(v, "array of %zu items is longer than maxItems %zu", count, n->max_items);
  int rc = validate_items(v, n, x, count);
  if (rc == 0 && n->unique_items) rc = check_unique(v, x, count);
  return rc;
}

/* ---- objects ---- */

static const property *find_property(const node *n, const char *key, size_t len) {
  size_t lo = 0, hi = n->property_count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const property *p = &n->properties[mid];
    int order = key_order(key, len, p->key.text, p->key.len);
    if (order == 0) return p;
    if (order < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return NULL;
}

/* properties and patternProperties for one member; *matched tells whether any
 * applied, which decides whether additionalProperties does. */
static int validate_named(validation *v, const node *n, const char *key, size_t len,
                          const json_t *value, bool *matched) {
  const property *p = find_property(n, key, len);
  int rc = 0;
  *matched = p != NULL;
  enter_key(v, key, len);
  if (p) rc = validate_node(v, p->schema, value);
  for (size_t i = 0; rc == 0 && i < n->pattern_count; i++) {
    if (!art_ecma_regex_search(&n->pattern_properties[i].re, v->c_locale, key, len)) continue;
    *matched = true;
    rc = validate_node(v, n->pattern_properties[i].schema, value);
  }
  leave(v);
  return rc;
}

static int validate_member(validation *v, const node *n, const char *key, size_t len,
                           const json_t *value) {
  bool matched;
  int rc = validate_named(v, n, key, len, value, &matched);
  if (rc || matched || !n->additional_properties) return rc;
  const node *extra = resolved(n->additional_properties);
  if (extra->checks & C_FALSE) return fail(v, "additional property \"%s\" is not allowed", key);
  enter_key(v, key, len);
  rc = validate_node(v, extra, value);
  leave(v);
  return rc;
}

static int validate_object(validation *v, const node *n, const json_t *x) {
  size_t count = json_object_size(x);
  if (count < n->min_properties)
    return fail(v, "object has %zu properties, fewer than minProperties %zu", count,
                n->min_properties);
  if (count > n->max_properties)
    return fail(v, "object has %zu properties, more than maxProperties %zu", count,
                n->max_properties);
  for (size_t i = 0; i < n->required_count; i++)
    if (!json_object_getn(x, n->required[i].text, n->required[i].len))
      return fail(v, "missing required property \"%s\"", n->required[i].text);
  if (!n->property_count && !n->pattern_count && !n->additional_properties) return 0;
  json_t *obj = (json_t *)x; /* jansson iterates non-const objects; nothing changes */
  for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
    int rc = validate_member(v, n, json_object_iter_key(it), json_object_iter_key_len(it),
                             json_object_iter_value(it));
    if (rc) return rc;
  }
  return 0;
}

/* ---- combinators ---- */

/* How many schemas of `list` x matches, counting up to `limit`; their indexes
 * go to which[].  Failures inside are expected, so they are not reported. */
static size_t count_matches(validation *v, const node_list *list, const json_t *x, size_t limit,
                            size_t *which) {
  size_t found = 0;
  v->quiet++;
  for (size_t i = 0; i < list->count && found < limit; i++)
    if (validate_node(v, list->items[i], x) == 0) which[found++] = i;
  v->quiet--;
  return found;
}

static int validate_combinators(validation *v, const node *n, const json_t *x) {
  size_t which[2];
  for (size_t i = 0; i < n->all_of.count; i++) {
    int rc = validate_node(v, n->all_of.items[i], x);
    if (rc) return rc;
  }
  if (n->any_of.count && !count_matches(v, &n->any_of, x, 1, which))
    return fail(v, "matches none of the schemas in anyOf");
  if (n->one_of.count) {
    size_t found = count_matches(v, &n->one_of, x, 2, which);
    if (!found) return fail(v, "matches none of the schemas in oneOf");
    if (found > 1)
      return fail(v, "matches schemas %zu and %zu of oneOf, but must match exactly one", which[0],
                  which[1]);
  }
  if (n->not_schema) {
    v->quiet++;
    int rc = validate_node(v, n->not_schema, x);
    v->quiet--;
    if (rc == 0) return fail(v, "must not match the schema in not");
  }
  return 0;
}

/* ---- dispatch ---- */

static bool in_enum(const json_t *values, const json_t *x) {
  for (size_t i = 0; i < json_array_size(values); i++)
    if (values_equal(json_array_get(values, i), x)) return true;
  return false;
}

static unsigned type_bits_of(const json_t *x) {
  switch (json_typeof(x)) {
  case JSON_OBJECT: return T_OBJECT;
  case JSON_ARRAY: return T_ARRAY;
  case JSON_STRING: return T_STRING;
  case JSON_INTEGER: return T_INTEGER | T_NUMBER;
  case JSON_REAL: return is_integral(json_real_value(x)) ? T_INTEGER | T_NUMBER : T_NUMBER;
  case JSON_TRUE:
  case JSON_FALSE: return T_BOOLEAN;
  default: return T_NULL;
  }
}

static int validate_by_type(validation *v, const node *n, const json_t *x) {
  if ((n->checks & C_TYPE) && !(n->types & type_bits_of(x))) return fail_type(v, n->types, x);
  switch (json_typeof(x)) {
  case JSON_OBJECT: return (n->checks & C_OBJECT) ? validate_object(v, n, x) : 0;
  case JSON_ARRAY: return (n->checks & C_ARRAY) ? validate_array(v, n, x) : 0;
  case JSON_STRING: return (n->checks & C_STRING) ? validate_string(v, n, x) : 0;
  case JSON_INTEGER:
  case JSON_REAL: return (n->checks & C_NUMBER) ? validate_number(v, n, x) : 0;
  default: return 0;
  }
}

static int validate_node(validation *v, const node *n, const json_t *x) {
  n = resolved(n);
  if (!n->checks) return 0;
  if (n->checks & C_FALSE) return fail(v, "no value is allowed here");
  if (v->nesting >= MAX_DEPTH) return fail(v, "the value or the schema is nested too deeply");
  v->nesting++;
  int rc = validate_by_type(v, n, x);
  if (rc == 0 && (n->checks & C_ENUM) && !in_enum(n->enum_values, x))
    rc = fail_enum(v, n->enum_values);
  if (rc == 0 && (n->checks & C_CONST) && !values_equal(n->const_value, x))
    rc = fail_const(v, n->const_value);
  if (rc == 0 && (n->checks & C_COMBINATOR)) rc = validate_combinators(v, n, x);
  v->nesting--;
  return rc;
}

int art_schema_validate(const art_schema *schema, const json_t *instance, char *why,
                        size_t why_size) {
  validation v;
  v.c_locale = schema ? schema->c_locale : (locale_t)0;
  v.why = why;
  v.why_size = why ? why_size : 0;
  v.depth = v.nesting = v.quiet = 0;
  if (v.why_size) why[0] = '\0';
  if (!schema || !instance) return fail(&v, "no %s to validate", schema ? "value" : "schema");
  return validate_node(&v, schema->root, instance);
}
