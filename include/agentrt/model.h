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

/* A decision asked for on an event loop (art_loop, loop.h).  The loop fills
 * every member but `state`, and keeps the job until `done` is called or the
 * decision is cancelled. */
typedef struct art_model_job art_model_job;
struct art_model_job {
  struct uv_loop_s *uv; /* the loop, for a model that waits on sockets or processes */
  /* Call `fire(job)` on the loop's thread in `ms` milliseconds (one timer a
   * job: a second call replaces the first; cancelling the job stops it). */
  void (*after)(art_model_job *job, uint64_t ms, void (*fire)(art_model_job *job));
  /* The outcome, once, on the loop's thread: 0 and the decision (read during
   * the call), or a negative code and err (-> model_failure).  May be called
   * before start returns. */
  void (*done)(art_model_job *job, int rc, const art_decision *d, const art_error *err);
  void *state;         /* the model's own, between start and fire */
  void *loop_ud;       /* the loop's own */
  art_proc_gate procs; /* wait here for a slot before starting a child process */
};

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
  /* Version 4.  Start a decision on an event loop without blocking it; the
   * outcome comes through job->done.  NULL: the loop runs decide() on its
   * thread pool (with an interrupt for cancels and the wall-time budget).
   * Returns 0, or a negative code (err) when it cannot start (done is then
   * not called). */
  int (*start)(art_model *m, const art_context *ctx, art_model_job *job, art_error *err);
  /* Version 4.  Give up the decision started: job->done is not called after
   * this.  NULL when there is nothing to give up but the job's timer. */
  void (*cancel)(art_model *m, art_model_job *job);
} art_model_vtable;

#define ART_MODEL_VERSION 4

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
