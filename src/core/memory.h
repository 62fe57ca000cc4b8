/* Which memory items enter a context: in scope, not expired, allowed by the
 * retrieve policy.  When nothing about the choice can change during a run (no
 * item expires, no retrieve rule looks at the remaining steps), the spec makes
 * the choice once when it is loaded and every run shares it. */
#ifndef ART_MEMORY_H
#define ART_MEMORY_H

#include "core/spec_internal.h"

/* Why `item` is left out (an art_omit_reason), or -1 when it is included; `v`
 * is the retrieve verdict (v->rule -1 when no rule decided). */
int art_memory_classify(const art_spec *spec, uint32_t steps, const art_memory_item *item,
                        int64_t now_us, art_verdict *v);

/* A new choice in one allocation from `alloc`, or NULL on ENOMEM. */
art_context_refs *art_memory_choose(const art_spec *spec, uint32_t steps, int64_t now_us,
                                    const art_allocator *alloc);

/* Whether the choice can change during a run. */
bool art_memory_choice_varies(const art_spec *spec);

/* The first expiry after now_us (INT64_MAX: none). */
int64_t art_memory_next_expiry(const art_spec *spec, int64_t now_us);

/* Whether a retrieve rule (not the default) decides any item. */
bool art_memory_rule_decides(const art_spec *spec, uint32_t steps, int64_t now_us);

#endif
