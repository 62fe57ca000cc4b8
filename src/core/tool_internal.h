/* The registry's tool record, shared by the core modules that read it directly
 * on the hot path (run, context). */
#ifndef ART_TOOL_INTERNAL_H
#define ART_TOOL_INTERNAL_H

#include "agentrt/schema.h"
#include "agentrt/tool.h"

struct art_tool {
  char *name;
  char *description;
  char *owner;
  char *version;
  json_t *input_schema; /* NULL: any object */
  art_schema *schema;   /* compiled input_schema, NULL when none */
  art_side_effect side_effect;
  art_side_effect_source side_effect_source;
  bool idempotent;
  bool enabled;
  bool may_block;
  art_tool_fn fn;
  art_tool_start_fn start; /* NULL: an event loop calls fn */
  art_tool_cancel_fn cancel;
  void *ud;
  void (*free_ud)(void *ud);
  const art_allocator *alloc;
};

/* The allocator the registry and its tools allocate with. */
const art_allocator *art_registry_allocator(const art_registry *reg);

/* The enabled tools, sorted by name; valid until the next art_registry_add
 * (a run keeps a copy). */
const art_tool *const *art_registry_enabled(const art_registry *reg, size_t *n);

#endif
