/* Building the context packet for each decision.  Everything but the memory
 * refs is a view onto the run's append-only arrays, so a packet costs O(1) to
 * build however long the run is; the memory refs are recomputed only when an
 * item may have expired or the retrieve policy depends on the step. */
#include "core/memory.h"
#include "core/run_internal.h"

static bool same_refs(const art_context_refs *a, const art_context_refs *b) {
  if (!a || a->n_memory != b->n_memory || a->n_omitted != b->n_omitted) return false;
  for (size_t i = 0; i < a->n_memory; i++)
    if (a->memory[i] != b->memory[i]) return false;
  for (size_t i = 0; i < a->n_omitted; i++)
    if (a->omitted[i].ref != b->omitted[i].ref || a->omitted[i].reason != b->omitted[i].reason)
      return false;
  return true;
}

/* Retrieve verdicts that a rule decided are traced whenever the choice changes. */
static int trace_retrieve_rules(art_run *run, int64_t now_us) {
  for (size_t i = 0; i < run->spec->n_memory; i++) {
    const art_memory_item *item = &run->spec->memory[i];
    art_verdict v;
    art_memory_classify(run->spec, run->steps, item, now_us, &v);
    if (v.rule < 0) continue;
    art_policy_query q = {.action = ART_GATE_RETRIEVE, .scope = item->scope};
    int rc = art_run_emit_policy(run, &q, &v, item->id, NULL, now_us);
    if (rc < 0) return rc;
  }
  return 0;
}

static int select_memory(art_run *run, int64_t now_us) {
  const art_spec *spec = run->spec;
  if (spec->fixed_refs) {
    run->refs = spec->fixed_refs;
    run->refs_valid_until_us = INT64_MAX;
    return spec->fixed_refs_ruled ? trace_retrieve_rules(run, now_us) : 0;
  }
  art_context_refs *refs = art_memory_choose(spec, run->steps, now_us, &run->arena.as_allocator);
  if (!refs) return ART_ENOMEM;
  run->refs_valid_until_us = art_policy_retrieval_varies_by_step(spec->policy)
                                 ? now_us
                                 : art_memory_next_expiry(spec, now_us);
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
  *c =
      (art_context){.run_id = run->run_id,
                    .goal = run->spec->goal,
                    .step = run->steps + 1,
                    .max_steps = run->spec->max_steps,
                    .recent = (const art_observation *)run->observations.items + (n_obs - n_recent),
                    .n_recent = n_recent,
                    .n_observations = n_obs,
                    .tools = run->tools,
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
