/* The event-loop driver: many runs at once in one thread, on libuv.
 *
 * A loop drives each run added to it as art_run_drive does (asking the run
 * for its next action, performing it, feeding the outcome back), but never
 * waits for one run: while a run's model decides or its tool works, the loop
 * drives the others.  Decisions of models that can start one without blocking
 * (model vtable version 4: `start`: scripted, openai, command) and tools
 * that can start a call on the loop (`art_tool_def.start`: command tools;
 * MCP tools, whose session serves all the loop's runs at once, see mcp.h) or
 * do not block run on the loop's thread; a model without `start` decides,
 * and a tool that may block (C tools marked `may_block`) runs, on libuv's
 * thread pool, with an interrupt for cancels and the wall-time budget.
 * Child processes started on the loop are limited (max_procs); calls beyond
 * it wait in line.  The run itself is only
 * ever touched on the loop's thread.
 *
 *   art_loop *loop;
 *   art_loop_new(&loop, NULL, &err);
 *   for (i = 0; i < n; i++) art_loop_add(loop, runs[i], models[i], on_stop, NULL);
 *   art_loop_run(loop);   (returns once every run waits or is done)
 *   art_loop_free(loop);
 */
#ifndef AGENTRT_LOOP_H
#define AGENTRT_LOOP_H

#include "agentrt/run.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct art_loop art_loop;

typedef struct art_loop_options {
  struct uv_loop_s *uv;       /* NULL: the loop makes its own (and closes it when freed) */
  const art_allocator *alloc; /* NULL: malloc; the loop's own memory (not its runs') */
  /* Child processes (command tools, command models) running at once; a call
   * that would start one more waits, holding no process and no descriptor,
   * until one ends.  0: 4 x the number of cores. */
  unsigned max_procs;
} art_loop_options;

/* Told once, on the loop's thread, that the loop is done with `run`: it
 * waits or is done (rc 0: art_run_next says which), it failed (rc < 0:
 * art_run_errmsg), or the loop was freed first (ART_EINTR: let go, not
 * stopped; it goes on when driven again).  The run and its model are the
 * caller's again from this call on, and may be freed in it. */
typedef void (*art_loop_stopped_fn)(void *ud, art_run *run, int rc);

int art_loop_new(art_loop **out, const art_loop_options *opts, art_error *err);

/* Drive `run` with `model` on the loop, from the next turn of the loop on.
 * Neither may be freed or driven elsewhere until `stopped` is called. */
int art_loop_add(art_loop *loop, art_run *run, art_model *model, art_loop_stopped_fn stopped,
                 void *ud);

/* Stop a run the loop drives `cancelled` with `reason` (NULL: "cancelled"):
 * a call in flight is interrupted (a command tool's process group killed)
 * and nothing is recorded for it.  ART_ENOTFOUND when the loop does not
 * drive `run`. */
int art_loop_cancel(art_loop *loop, art_run *run, const char *reason);

/* Let go of a run the loop drives once the action in flight ends (its
 * outcome is fed and recorded), before the next one starts: `stopped` is
 * then told ART_EINTR, or 0 when the run waits or is done by then.  A
 * graceful stop; art_loop_cancel stops a run, art_loop_free interrupts what
 * is in flight.  ART_ENOTFOUND when the loop does not drive `run`. */
int art_loop_let_go(art_loop *loop, art_run *run);

/* The libuv loop the loop turns (its own, or art_loop_options.uv). */
struct uv_loop_s *art_loop_uv(art_loop *loop);

/* Turn the loop until no run is left on it (each has been told `stopped`)
 * or art_loop_stop is called.  0, or a negative code. */
int art_loop_run(art_loop *loop);
/* From a callback on the loop: art_loop_run returns after this turn. */
void art_loop_stop(art_loop *loop);

/* The runs the loop drives now. */
size_t art_loop_runs(const art_loop *loop);

/* Interrupts what is in flight, waits for the thread pool's part of it, and
 * tells each run left `stopped` with ART_EINTR; then frees the loop. */
void art_loop_free(art_loop *loop);

#ifdef __cplusplus
}
#endif

#endif
