#include "core/memory.h"

#include "core/alloc.h"

int art_memory_classify(const art_spec *spec, uint32_t steps, const art_memory_item *item,
                        int64_t now_us, art_verdict *v) {
  v->rule = -1;
  if (item->expires_at_us && now_us >= item->expires_at_us) return ART_OMIT_STALE;
  if (!(spec->context_scopes & (1u << item->scope))) return ART_OMIT_OUT_OF_SCOPE;
  art_policy_query q = {.action = ART_GATE_RETRIEVE,
                        .actor = spec->actor,
                        .tenant = spec->tenant,
                        .route = spec->route,
                        .sensitivity = item->sensitivity,
                        .scope = item->scope,
                        .remaining_steps = (int64_t)spec->max_steps - steps};
  art_policy_eval(spec->policy, &q, v);
  return v->effect == ART_EFFECT_ALLOW ? -1 : ART_OMIT_POLICY;
}

art_context_refs *art_memory_choose(const art_spec *spec, uint32_t steps, int64_t now_us,
                                    const art_allocator *alloc) {
  size_t n = spec->n_memory;
  art_context_refs *refs =
      art_alloc(alloc, sizeof *refs + n * (sizeof(art_memory_item *) + sizeof(art_omitted)));
  if (!refs) return NULL;
  art_omitted *omitted = (art_omitted *)(refs + 1);
  const art_memory_item **memory = (const art_memory_item **)(omitted + n);
  *refs = (art_context_refs){.memory = memory, .omitted = omitted};
  for (size_t i = 0; i < n; i++) {
    const art_memory_item *item = &spec->memory[i];
    art_verdict v;
    int omit = art_memory_classify(spec, steps, item, now_us, &v);
    if (omit >= 0) {
      omitted[refs->n_omitted++] = (art_omitted){item->id, (art_omit_reason)omit};
      continue;
    }
    memory[refs->n_memory++] = item;
    if (item->sensitivity > refs->sensitivity) refs->sensitivity = item->sensitivity;
  }
  return refs;
}

int64_t art_memory_next_expiry(const art_spec *spec, int64_t now_us) {
  int64_t next = INT64_MAX;
  for (size_t i = 0; i < spec->n_memory; i++) {
    int64_t at = spec->memory[i].expires_at_us;
    if (at && at > now_us && at < next) next = at;
  }
  return next;
}

bool art_memory_choice_varies(const art_spec *spec) {
  return art_memory_next_expiry(spec, INT64_MIN) != INT64_MAX ||
         art_policy_retrieval_varies_by_step(spec->policy);
}

bool art_memory_rule_decides(const art_spec *spec, uint32_t steps, int64_t now_us) {
  for (size_t i = 0; i < spec->n_memory; i++) {
    art_verdict v;
    art_memory_classify(spec, steps, &spec->memory[i], now_us, &v);
    if (v.rule >= 0) return true;
  }
  return false;
}
