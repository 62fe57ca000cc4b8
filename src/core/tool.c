#include "tool_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/text.h"

struct art_registry {
  const art_allocator *alloc;
  art_tool **tools;   /* sorted by name */
  art_tool **enabled; /* the enabled ones, sorted by name: what a context discloses */
  size_t count, n_enabled;
  size_t cap;
};

void art_tool_result_set(art_tool_result *r, art_result_status status, json_t *data_take,
                         const char *fmt, ...) {
  json_decref(r->data);
  r->status = status;
  r->data = data_take;
  r->message[0] = '\0';
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    art_text_clip(r->message, sizeof r->message, vsnprintf(r->message, sizeof r->message, fmt, ap));
    va_end(ap);
  }
}

void art_tool_result_dispose(art_tool_result *r) {
  json_decref(r->data);
  r->data = NULL;
}

int art_registry_new(art_registry **out, const art_allocator *alloc) {
  alloc = art_allocator_or_default(alloc);
  art_registry *reg = art_zalloc(alloc, sizeof *reg);
  if (!reg) return ART_ENOMEM;
  reg->alloc = alloc;
  *out = reg;
  return 0;
}

const art_allocator *art_registry_allocator(const art_registry *reg) { return reg->alloc; }

static void tool_free(art_tool *t) {
  const art_allocator *a = t->alloc;
  art_release(a, t->name);
  art_release(a, t->description);
  art_release(a, t->owner);
  art_release(a, t->version);
  json_decref(t->input_schema);
  art_schema_free(t->schema);
  if (t->free_ud) t->free_ud(t->ud);
  art_release(a, t);
}

void art_registry_free(art_registry *reg) {
  if (!reg) return;
  for (size_t i = 0; i < reg->count; i++) tool_free(reg->tools[i]);
  art_release(reg->alloc, reg->tools);
  art_release(reg->alloc, reg->enabled);
  art_release(reg->alloc, reg);
}

static int copy_strings(art_tool *t, const art_tool_def *def) {
  const art_allocator *a = t->alloc;
  t->name = art_strdup(a, def->name);
  t->description = art_strdup(a, def->description ? def->description : "");
  if (def->version) t->version = art_strdup(a, def->version);
  if (def->owner) t->owner = art_strdup(a, def->owner);
  bool ok = t->name && t->description && (!def->version || t->version) && (!def->owner || t->owner);
  return ok ? 0 : ART_ENOMEM;
}

static int check_def(const art_registry *reg, const art_tool_def *def, art_error *err) {
  if (!def->name || !def->name[0]) return art_error_set(err, ART_EINVAL, "tool name is empty");
  if (art_registry_find(reg, def->name))
    return art_error_set(err, ART_EINVAL, "tool \"%s\" is registered twice", def->name);
  if (!def->fn) return art_error_set(err, ART_EINVAL, "tool \"%s\" has no function", def->name);
  if (!def->start != !def->cancel)
    return art_error_set(err, ART_EINVAL, "tool \"%s\": start and cancel go together", def->name);
  if ((unsigned)def->side_effect > ART_SIDE_WRITE)
    return art_error_set(err, ART_EINVAL, "tool \"%s\": side effect %d is not read, draft or write",
                         def->name, (int)def->side_effect);
  if (def->input_schema && !json_is_object(def->input_schema) &&
      !json_is_boolean(def->input_schema))
    return art_error_set(err, ART_EINVAL, "tool \"%s\": input schema must be an object", def->name);
  return 0;
}

static int tool_new(art_tool **out, const art_allocator *a, const art_tool_def *def,
                    art_error *err) {
  art_tool *t = art_zalloc(a, sizeof *t);
  if (!t) {
    if (def->free_ud) def->free_ud(def->ud);
    return art_error_set(err, ART_ENOMEM, "out of memory");
  }
  t->alloc = a;
  t->side_effect = def->side_effect;
  t->side_effect_source = def->side_effect_source;
  t->idempotent = def->idempotent || def->side_effect == ART_SIDE_READ;
  t->may_block = def->may_block;
  t->enabled = !def->disabled;
  t->fn = def->fn;
  t->start = def->start;
  t->cancel = def->cancel;
  t->ud = def->ud;
  t->free_ud = def->free_ud;
  int rc = copy_strings(t, def);
  if (rc < 0) art_error_set(err, rc, "out of memory");
  if (rc == 0 && def->input_schema) {
    t->input_schema = json_incref((json_t *)def->input_schema);
    rc = art_schema_compile(&t->schema, def->input_schema, a, err);
    if (rc < 0 && rc != ART_ENOMEM) {
      char why[ART_ERRMSG_SIZE];
      snprintf(why, sizeof why, "%s", err ? err->message : "");
      art_error_set(err, rc, "tool \"%s\": bad input schema: %s", def->name, why);
    }
  }
  if (rc < 0) {
    tool_free(t);
    return rc;
  }
  *out = t;
  return 0;
}

/* Index of the first tool whose name is >= name. */
static size_t lower_bound(const art_registry *reg, const char *name) {
  size_t lo = 0, hi = reg->count;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (strcmp(reg->tools[mid]->name, name) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static int reserve_slot(art_registry *reg) {
  if (reg->count < reg->cap) return 0;
  size_t cap = reg->cap ? reg->cap * 2 : 8;
  art_tool **tools = art_resize(reg->alloc, reg->tools, cap * sizeof *tools);
  if (!tools) return ART_ENOMEM;
  reg->tools = tools;
  art_tool **enabled = art_resize(reg->alloc, reg->enabled, cap * sizeof *enabled);
  if (!enabled) return ART_ENOMEM;
  reg->enabled = enabled;
  reg->cap = cap;
  return 0;
}

static void list_enabled(art_registry *reg) {
  reg->n_enabled = 0;
  for (size_t i = 0; i < reg->count; i++)
    if (reg->tools[i]->enabled) reg->enabled[reg->n_enabled++] = reg->tools[i];
}

const art_tool *const *art_registry_enabled(const art_registry *reg, size_t *n) {
  *n = reg->n_enabled;
  return (const art_tool *const *)reg->enabled;
}

int art_registry_add(art_registry *reg, const art_tool_def *def, art_error *err) {
  int rc = check_def(reg, def, err);
  if (rc == 0 && reserve_slot(reg) < 0) rc = art_error_set(err, ART_ENOMEM, "out of memory");
  if (rc < 0) {
    if (def->free_ud) def->free_ud(def->ud);
    return rc;
  }
  art_tool *t;
  if ((rc = tool_new(&t, reg->alloc, def, err)) < 0) return rc; /* tool_new released ud */
  size_t at = lower_bound(reg, t->name);
  memmove(reg->tools + at + 1, reg->tools + at, (reg->count - at) * sizeof *reg->tools);
  reg->tools[at] = t;
  reg->count++;
  list_enabled(reg);
  return 0;
}

const art_tool *art_registry_find(const art_registry *reg, const char *name) {
  size_t at = lower_bound(reg, name);
  return at < reg->count && strcmp(reg->tools[at]->name, name) == 0 ? reg->tools[at] : NULL;
}

size_t art_registry_count(const art_registry *reg) { return reg->count; }
const art_tool *art_registry_at(const art_registry *reg, size_t i) {
  return i < reg->count ? reg->tools[i] : NULL;
}

const char *art_tool_name(const art_tool *t) { return t->name; }
const char *art_tool_description(const art_tool *t) { return t->description; }
const json_t *art_tool_input_schema(const art_tool *t) { return t->input_schema; }
art_side_effect art_tool_side_effect(const art_tool *t) { return t->side_effect; }
art_side_effect_source art_tool_side_effect_source(const art_tool *t) {
  return t->side_effect_source;
}
bool art_tool_idempotent(const art_tool *t) { return t->idempotent; }

const char *art_side_effect_source_name(art_side_effect_source s) {
  static const char *const names[] = {"declared", "annotation", "default", "override"};
  return (unsigned)s < sizeof names / sizeof *names ? names[s] : "?";
}
bool art_tool_enabled(const art_tool *t) { return t->enabled; }
bool art_tool_may_block(const art_tool *t) { return t->may_block; }
bool art_tool_can_start(const art_tool *t) { return t->start != NULL; }
const char *art_tool_owner(const art_tool *t) { return t->owner; }
const char *art_tool_version(const art_tool *t) { return t->version; }

int art_tool_check_input(const art_tool *t, const json_t *input, char *why, size_t why_size) {
  if (!json_is_object(input)) {
    snprintf(why, why_size, "tool input is not a JSON object");
    return ART_EINVAL;
  }
  return t->schema ? art_schema_validate(t->schema, input, why, why_size) : 0;
}

int art_tool_invoke(const art_tool *t, const art_tool_call *call, art_tool_result *result) {
  int rc = t->fn(t->ud, call, result);
  if (rc < 0) art_tool_result_set(result, ART_RESULT_ERROR, NULL, "%s", art_strerror(rc));
  return 0;
}

int art_tool_start(const art_tool *t, const art_tool_call *call, art_tool_job *job,
                   art_tool_result *result) {
  int rc = t->start ? t->start(t->ud, call, job) : ART_EINVAL;
  if (rc < 0) art_tool_result_set(result, ART_RESULT_ERROR, NULL, "%s", art_strerror(rc));
  return rc;
}

void art_tool_cancel(const art_tool *t, art_tool_job *job) {
  if (t->cancel) t->cancel(t->ud, job);
}
