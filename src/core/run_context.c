/* Building the context packet for each decision.  Everything but the memory
 * refs is a view onto the run's append-only arrays, so a packet costs O(1) to
 * build however long the run is; the memory refs are recomputed only when an
 * item may have expired or the retrieve policy depends on the step. */
#include "core/run_internal.h"

static void classify(art_run *run, const art_memory_item *item, int64_t now_us, art_verdict *v,
                     int *omit) {
  const art_spec *spec = run->spec;
  v->rule = -1;
  *omit = -1;
  if (item->expires_at_us && now_us >= item->expires_at_us) {
    *omit = ART_OMIT_STALE;
    return;
  }
  if (!(spec->context_scopes & (1u << item->scope))) {
    *omit = ART_OMIT_OUT_OF_SCOPE;
    return;
  }
  art_policy_query q = {.action = ART_GATE_RETRIEVE,
                        .actor = spec->actor,
                        .tenant = spec->tenant,
                        .route = spec->route,
                        .sensitivity = item->sensitivity,
                        .scope = item->scope,
                        .remaining_steps = (int64_t)spec->max_steps - run->steps};
  art_policy_eval(spec->policy, &q, v);
  if (v->effect != ART_EFFECT_ALLOW) *omit = ART_OMIT_POLICY;
}

static int64_t next_expiry(const art_spec *spec, int64_t now_us) {
  int64_t next = INT64_MAX;
  for (size_t i = 0; i < spec->n_memory; i++) {
    int64_t at = spec->memory[i].expires_at_us;
    if (at && at > now_us && at < next) next = at;
  }
  return next;
}

static bool same_refs(const art_context_refs *a, const art_context_refs *b) {
  if (!a || a->n_memory != b->n_memory || a->n_omitted != b->n_omitted) return false;
  for (size_t i = 0; i < a->n_memory; i++)
    if (a->memory[i] != b->memory[i]) return false;
  for (size_t i = 0; i < a->n_omitted; i++)
    if (a->omitted[i].ref != b->omitted[i].ref || a->omitted[i].reason != b->omitted[i].reason)
      return false;
  return true;
}

static art_context_refs *new_refs(art_run *run) {
  size_t n = run->spec->n_memory ? run->spec->n_memory : 1;
  art_context_refs *refs = art_arena_alloc(&run->arena, sizeof *refs);
  const art_memory_item **memory = art_arena_alloc(&run->arena, n * sizeof *memory);
  art_omitted *omitted = art_arena_alloc(&run->arena, n * sizeof *omitted);
  if (!refs || !memory || !omitted) return NULL;
  *refs = (art_context_refs){.memory = memory, .omitted = omitted};
  return refs;
}

static void build_refs(art_run *run, art_context_refs *refs, int64_t now_us) {
  const art_memory_item **memory = (const art_memory_item **)refs->memory;
  art_omitted *omitted = (art_omitted *)refs->omitted;
  for (size_t i = 0; i < run->spec->n_memory; i++) {
    const art_memory_item *item = &run->spec->memory[i];
    art_verdict v;
    int omit;
    classify(run, item, now_us, &v, &omit);
    if (omit >= 0) {
      omitted[refs->n_omitted++] = (art_omitted){item->id, (art_omit_reason)omit};
      continue;
    }
    memory[refs->n_memory++] = item;
    if (item->sensitivity > refs->sensitivity) refs->sensitivity = item->sensitivity;
  }
}

/* Retrieve verdicts that a rule decided are traced whenever the selection changes. */
static int trace_retrieve_rules(art_run *run, int64_t now_us) {
  for (size_t i = 0; i < run->spec->n_memory; i++) {
    const art_memory_item *item = &run->spec->memory[i];
    art_verdict v;
    int omit;
    classify(run, item, now_us, &v, &omit);
    if (v.rule < 0) continue;
    art_policy_query q = {.action = ART_GATE_RETRIEVE, .scope = item->scope};
    int rc = art_run_emit_policy(run, &q, &v, item->id, NULL, now_us);
    if (rc < 0) return rc;
  }
  return 0;
}

static int select_memory(art_run *run, int64_t now_us) {
  art_context_refs *refs = new_refs(run);
  if (!refs) return ART_ENOMEM;
  build_refs(run, refs, now_us);
  run->refs_valid_until_us = art_policy_retrieval_varies_by_step(run->spec->policy)
                                 ? now_us
                                 : next_expiry(run->spec, now_us);
  if (same_refs(run->refs, refs)) return 0;
  run->refs = refs;
  return trace_retrieve_rules(run, now_us);
}

static int emit_context_built(art_run *run, int64_t now_us) {
  art_event *ev = art_run_event_new(run, ART_EV_CONTEXT_BUILT, now_us);
  if (!ev) return ART_ENOMEM;
  const art_context *c = &run->ctx;
  ev->u.context.refs = run->refs;
  ev->u.context.first_recent = c->n_recent ? c->recent[0].n : 0;
  ev->u.context.last_recent = c->n_recent ? c->recent[c->n_recent - 1].n : 0;
  ev->u.context.n_evidence = (uint32_t)c->n_evidence;
  ev->u.context.n_tools = (uint32_t)c->n_tools;
  return art_run_event_commit(run, ev);
}

int art_run_build_context(art_run *run, int64_t now_us) {
  if (!run->refs || now_us >= run->refs_valid_until_us) {
    int rc = select_memory(run, now_us);
    if (rc < 0) return rc;
  }
  art_context *c = &run->ctx;
  size_t n_obs = run->observations.len;
  size_t n_recent = n_obs < run->spec->recent_observations ? n_obs : run->spec->recent_observations;
  *c = (art_context){.run_id = run->run_id,
                     .goal = run->spec->goal,
                     .step = run->steps + 1,
                     .max_steps = run->spec->max_steps,
                     .recent = (const art_observation *)run->observations.items + (n_obs - n_recent),
                     .n_recent = n_recent,
                     .n_observations = n_obs,
                     .tools = (const art_tool *const *)run->tools,
                     .n_tools = run->n_tools,
                     .evidence = run->evidence.items,
                     .n_evidence = run->evidence.len,
                     .memory = run->refs->memory,
                     .n_memory = run->refs->n_memory,
                     .omitted = run->refs->omitted,
                     .n_omitted = run->refs->n_omitted,
                     .sensitivity = run->refs->sensitivity};
  return emit_context_built(run, now_us);
}
