/* Model sources: where decisions come from.  A model is a versioned vtable; the
 * blocking driver asks it for one decision per step.  The spec's "model" says
 * which:
 *   scripted  replays decisions in order, each `repeat` times (default 1);
 *             running out of decisions is a model failure;
 *   openai    an OpenAI-compatible chat-completions server over HTTP, with
 *             retries, a repair round for malformed replies and token usage;
 *   command   an external program: the context packet JSON on stdin, one
 *             decision JSON on stdout. */
#ifndef AGENTRT_MODEL_H
#define AGENTRT_MODEL_H

#include "agentrt/context.h"
#include "agentrt/decision.h"
#include "agentrt/spec.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct art_model art_model;

typedef struct art_model_vtable {
  int version; /* ART_MODEL_VERSION */
  const char *name;
  /* Fill `out` (valid until the next call) and return 0, or return a negative
   * code with err saying why the model source failed (-> model_failure).
   * `interrupt` (may be NULL) is asked while the model waits (a request, a
   * program, a retry's pause): when it says so, decide gives up at once
   * (ART_EIO, "interrupted"). */
  int (*decide)(art_model *m, const art_context *ctx, const art_interrupt *interrupt,
                art_decision *out, art_error *err);
  void (*free)(art_model *m);
  /* Resuming a run: the model has already made `n` decisions for it (the
   * journal says so).  NULL for models that keep no position (they see the
   * context packet, which carries the run's state). */
  void (*resume_after)(art_model *m, size_t n);
  /* The requests the last decide() made (HTTP attempts, repair rounds), valid
   * until the next decide(); NULL for models that make none (scripted). */
  const art_model_call *(*calls)(const art_model *m, size_t *n);
} art_model_vtable;

#define ART_MODEL_VERSION 3

/* Every model starts with this header. */
struct art_model {
  const art_model_vtable *vt;
};

/* The model the spec describes. */
int art_model_new(art_model **out, const art_spec *spec, art_error *err);
int art_model_decide(art_model *m, const art_context *ctx, art_decision *out, art_error *err);
/* The same, given up when `interrupt` (may be NULL) asks. */
int art_model_decide_until(art_model *m, const art_context *ctx, const art_interrupt *interrupt,
                           art_decision *out, art_error *err);
void art_model_free(art_model *m);
void art_model_resume_after(art_model *m, size_t decisions);
/* The requests the last art_model_decide made, to be fed to the run
 * (art_run_feed_model_call) before its decision or failure; *n = 0 for none. */
const art_model_call *art_model_calls(const art_model *m, size_t *n);

#ifdef __cplusplus
}
#endif
#endif
