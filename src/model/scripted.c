#include "model/scripted.h"

#include "core/alloc.h"
#include "core/spec_internal.h"

typedef struct scripted {
  art_model base;
  const art_spec *spec;
  size_t next;   /* index of the current script entry */
  uint32_t used; /* times the current entry has been given */
} scripted;

/* Decisions come at once: nothing to interrupt. */
static int scripted_decide(art_model *m, const art_context *ctx, const art_interrupt *interrupt,
                           art_decision *out, art_error *err) {
  scripted *s = (scripted *)m;
  (void)ctx, (void)interrupt;
  if (s->next >= s->spec->n_script)
    return art_error_set(err, ART_EINVAL, "script_exhausted: no scripted decision left");
  *out = s->spec->script[s->next];
  if (++s->used >= s->spec->script_repeat[s->next]) {
    s->next++;
    s->used = 0;
  }
  return 0;
}

static void scripted_resume_after(art_model *m, size_t n) {
  art_decision skipped;
  art_error err;
  for (size_t i = 0; i < n && scripted_decide(m, NULL, NULL, &skipped, &err) == 0; i++) {}
}

static void scripted_free(art_model *m) {
  scripted *s = (scripted *)m;
  art_release(s->spec->alloc, s);
}

/* On an event loop: the next decision, after the spec's delay_ms. */
static void scripted_fire(art_model_job *job) {
  art_decision d;
  art_error err = {0};
  int rc = scripted_decide(job->state, NULL, NULL, &d, &err);
  job->done(job, rc, rc == 0 ? &d : NULL, &err);
}

static int scripted_start(art_model *m, const art_context *ctx, art_model_job *job,
                          art_error *err) {
  scripted *s = (scripted *)m;
  (void)ctx, (void)err;
  job->state = m;
  if (s->spec->script_delay_ms)
    job->after(job, s->spec->script_delay_ms, scripted_fire);
  else
    scripted_fire(job);
  return 0;
}

static const art_model_vtable scripted_vtable = {
    ART_MODEL_VERSION,     "scripted", scripted_decide, scripted_free,
    scripted_resume_after, NULL,       scripted_start,  NULL};

int art_scripted_model_new(art_model **out, const art_spec *spec, art_error *err) {
  scripted *s = art_zalloc(spec->alloc, sizeof *s);
  if (!s) return art_error_set(err, ART_ENOMEM, "out of memory");
  s->base.vt = &scripted_vtable;
  s->spec = spec;
  *out = &s->base;
  return 0;
}
