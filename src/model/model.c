#include "agentrt/model.h"

#include <string.h>

#include "model/command_model.h"
#include "model/openai.h"
#include "model/scripted.h"

int art_model_new(art_model **out, const art_spec *spec, art_error *err) {
  const char *type = json_string_value(json_object_get(art_spec_model(spec), "type"));
  if (type && strcmp(type, "scripted") == 0) return art_scripted_model_new(out, spec, err);
  if (type && strcmp(type, "openai") == 0) return art_openai_model_new(out, spec, err);
  if (type && strcmp(type, "command") == 0) return art_command_model_new(out, spec, err);
  return art_error_set(err, ART_EINVAL, "unknown model type \"%s\"", type ? type : "");
}

int art_model_decide(art_model *m, const art_context *ctx, art_decision *out, art_error *err) {
  return m->vt->decide(m, ctx, NULL, out, err);
}

int art_model_decide_until(art_model *m, const art_context *ctx, const art_interrupt *interrupt,
                           art_decision *out, art_error *err) {
  return m->vt->decide(m, ctx, interrupt, out, err);
}

void art_model_free(art_model *m) {
  if (m) m->vt->free(m);
}

const art_model_call *art_model_calls(const art_model *m, size_t *n) {
  const art_model_call *calls = m->vt->calls ? m->vt->calls(m, n) : NULL;
  if (!calls) *n = 0;
  return calls;
}

void art_model_resume_after(art_model *m, size_t decisions) {
  if (m->vt->resume_after) m->vt->resume_after(m, decisions);
}
