/* The run: a sans-I/O state machine for one goal-directed agent loop.
 *
 * The driver asks art_run_next() for the next action and performs it:
 *   DECIDE     ask a model for a decision about `context`, feed it back with
 *              art_run_feed_decision (or art_run_feed_model_failure);
 *   CALL_TOOL  call `tool` with `call` (validated, gated), feed the result back
 *              with art_run_feed_tool_result;
 *   WAIT       the run is paused (approval_required, or blocked waiting for a
 *              human): feed art_run_feed_approval / art_run_feed_human_input;
 *   DONE       the run has stopped for good.
 * Time is passed in; the run never reads a clock, does I/O or blocks.  Every
 * state change is an event, recorded in the run's trace and given to its sinks.
 * The loop, not the model, owns the budget and the stop reason. */
#ifndef AGENTRT_RUN_H
#define AGENTRT_RUN_H

#include "agentrt/model.h"
#include "agentrt/spec.h"
#include "agentrt/trace.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { ART_ACT_DECIDE, ART_ACT_CALL_TOOL, ART_ACT_WAIT, ART_ACT_DONE } art_action_kind;

typedef struct art_action {
  art_action_kind kind;
  const art_context *context;  /* DECIDE */
  const art_tool *tool;        /* CALL_TOOL */
  const art_tool_call *call;   /* CALL_TOOL */
  art_stop_reason stop_reason; /* WAIT, DONE */
  const char *detail;          /* WAIT, DONE */
} art_action;

/* Everything a driver feeds (decisions and their JSON, tool results) is read
 * during the call; what the run keeps it copies or holds a reference to, and a
 * JSON value it holds a reference to must not be changed afterwards. */
typedef struct art_run_options {
  const art_allocator *alloc; /* NULL: the spec's allocator */
  const char *run_id;         /* NULL: the spec's run_id */
} art_run_options;

/* ART_EINVAL when neither the options nor the spec give a run id
 * (art_run_id_generate makes one). */
int art_run_new(art_run **out, const art_spec *spec, const art_run_options *opts);

#define ART_RUN_ID_SIZE 24

/* A new run id, "run_" and 16 random hex digits.  Randomness, like the clock,
 * is the drivers' (src/driver/): the core never draws any. */
void art_run_id_generate(char out[ART_RUN_ID_SIZE]);
void art_run_free(art_run *run);
const char *art_run_errmsg(const art_run *run);

/* The run takes the sink; its close() is called when the run is freed (also
 * when adding fails).  Sinks are added before the run's first event, so every
 * sink sees every event (ART_ESTATE after that).  ART_EINVAL for a sink whose
 * version is not ART_SINK_VERSION, or that has no write(). */
int art_run_add_sink(art_run *run, const art_sink *sink);

/* Whether a sink holds back an event that must be durable before the run
 * goes on (ART_SINK_HELD): a driver calls art_run_sync before it performs
 * the next action (a tool's side effect, a model call) or reports that the
 * run waits or is done.  A driver of many runs syncs them together, once a
 * turn, so that one commit serves them all. */
bool art_run_owes_sync(const art_run *run);
/* Sync the run's sinks: 0, or the sink's negative code (the run fails, as
 * when a sink's write fails). */
int art_run_sync(art_run *run);

int art_run_next(art_run *run, int64_t now_us, const art_action **out);
int art_run_feed_decision(art_run *run, const art_decision *d, int64_t now_us);
int art_run_feed_model_failure(art_run *run, const char *detail, int64_t now_us);
/* Records one request the model made for the decision the run waits for (a
 * `model_call` event, `now_us` when it ended), before that decision or
 * failure is fed.  Tokens count towards the budget with the decision. */
int art_run_feed_model_call(art_run *run, const art_model_call *call, int64_t now_us);
/* The run's tools cannot be used at all (an MCP server did not start, or failed
 * while setting up): the run, waiting for a decision, stops tool_failure with
 * `detail` before any decision is asked for. */
int art_run_feed_tools_failure(art_run *run, const char *detail, int64_t now_us);
/* Takes nothing from `result`: the run keeps its own reference to the data. */
int art_run_feed_tool_result(art_run *run, uint32_t call_id, const art_tool_result *result,
                             int64_t now_us);
/* Answers the question of a run blocked on ask_human; the run continues. */
int art_run_feed_human_input(art_run *run, const char *text, int64_t now_us);
/* A reviewer's decision on the action a paused run waits for. */
typedef struct art_approval {
  const char *action_id; /* must be the action the run waits for (ART_ENOTFOUND) */
  bool approved;
  const char *reviewer;  /* required; not the run's actor unless the policy allows it */
  const char *reason;    /* may be NULL */
  int64_t expires_at_us; /* 0: never; an approval that expires before its action runs
                              puts the run back to waiting for approval */
} art_approval;

/* Records the decision (an approval event) and goes on: an approved action
 * passes the gate, a denied one stops the run policy_denied. */
int art_run_feed_approval(art_run *run, const art_approval *a, int64_t now_us);
/* After a replay: whether the journal ends with a call handed out and no
 * result, so the tool may or may not have acted before the process died. */
bool art_run_call_interrupted(const art_run *run);
/* For such a call to a tool that is not idempotent: it is not run again; the
 * run stops `blocked` with detail `outcome_unknown` for an operator. */
int art_run_feed_outcome_unknown(art_run *run, int64_t now_us);

/* What an operator found out about a call whose outcome was unknown
 * (art_resolve_kind: done, retry or failed, in trace.h). */
typedef struct art_resolution {
  const char *action_id; /* must be the pending call's (ART_ENOTFOUND) */
  art_resolve_kind kind;
  const char *operator_name; /* required */
  const char *note;          /* may be NULL; the done result's data and the failure's detail */
} art_resolution;

/* Records the resolution (a resolution event) and goes on as it says. */
int art_run_resolve(art_run *run, const art_resolution *r, int64_t now_us);

/* When the run's wall-time budget (max_wall_time_ms) runs out, on the clock
 * the run is fed: the time by which a driver interrupts the decision or call
 * in flight (art_run_feed_time_out).  0 when there is no such budget, or the
 * run is not working (not started, stopped, paused). */
int64_t art_run_next_deadline(const art_run *run);
/* The wall-time budget ran out while a decision or a call was in flight, and
 * the driver gave up on it: the run stops budget_exhausted (wall_time), with
 * the tool of the call.  Nothing is recorded for the call: like a cancel, it
 * may or may not have acted.  ART_ESTATE when nothing is in flight or the
 * budget has not run out by now_us. */
int art_run_feed_time_out(art_run *run, int64_t now_us);

/* Stops the run `cancelled` at once (any state but stopped for good). */
int art_run_cancel(art_run *run, const char *reason, int64_t now_us);

/* Rebuild a run from its journal (a store's art_journal).  The recorded outcomes
 * (decisions, tool results, human answers, approvals, cancellation) are fed
 * back through the state machine of `run` (new, not started, made from the
 * same spec), which must produce the journal's events again: ART_ESTATE with
 * the first difference otherwise.  Afterwards the run is exactly where the
 * journal left it, ready for art_run_next.  Sinks do not see the journal's
 * events again, only the ones that follow (and any that an interrupted step
 * had not recorded yet).  What the journal holds redacted stays redacted. */
int art_run_replay_journal(art_run *run, const art_journal *journal);

/* The same from a trace: `events` are JSON objects in order from seq 1, as
 * art_event_to_json wrote them (a run's result "trace", a JSONL file). */
int art_run_replay(art_run *run, const json_t *events);

/* Blocking driver: drives the run with `model` and the registry's tools until
 * it waits or is done.  Returns 0 or a negative code (art_run_errmsg):
 * ART_EINVAL, before anything is done, for a model whose vtable's version is
 * not ART_MODEL_VERSION. */
int art_run_until_stop(art_run *run, art_model *model);

/* What a driver asks while it drives a run, so that the run can be cancelled
 * or let go from elsewhere (a signal, another thread, another process through
 * a store).  Every member but ud may be NULL. */
typedef struct art_drive_hooks {
  /* Asked at every step boundary, and through the interrupt of the call in
   * flight (a tool or a model): a reason (valid until the next call) cancels
   * the run. */
  const char *(*cancel_reason)(void *ud);
  void *ud;
  /* Asked before every action and as cancel_reason is: true makes the driver
   * give up the call in flight (as for a cancel, nothing is recorded for it)
   * and return ART_EINTR with the run not stopped, to go on when driven again
   * (after a replay, in another process). */
  bool (*let_go)(void *ud);
  /* Told the process group of each child a call starts, and -1 once it is
   * gone (art_interrupt.child_group). */
  void (*child_group)(void *ud, long pgid);
} art_drive_hooks;

/* art_run_until_stop, asking `hooks` (may be NULL).  A run cancelled while a
 * call was in flight stops cancelled (with the tool of a call); one whose
 * wall-time budget (max_wall_time_ms) runs out meanwhile stops
 * budget_exhausted (wall_time): the call is interrupted, its result not
 * recorded.  ART_EINTR: let go (hooks->let_go), not stopped. */
int art_run_drive(art_run *run, art_model *model, const art_drive_hooks *hooks);

const char *art_run_id(const art_run *run);
art_stop_reason art_run_stop_reason(const art_run *run);
const char *art_run_stop_detail(const art_run *run);
const char *art_run_answer(const art_run *run); /* NULL unless success */
uint32_t art_run_steps(const art_run *run);
size_t art_run_event_count(const art_run *run);
const art_event *art_run_event(const art_run *run, size_t i);
size_t art_run_observation_count(const art_run *run);
const art_observation *art_run_observation(const art_run *run, size_t i);
const art_spec *art_run_spec(const art_run *run);

/* What the run's decisions used so far: tokens, and money at the spec's
 * model.price.  The budgets max_tokens_total and max_cost_usd are checked
 * against these before each decision. */
typedef struct art_run_usage {
  uint64_t prompt_tokens, completion_tokens;
  double cost_usd;
} art_run_usage;
art_run_usage art_run_totals(const art_run *run);

/* {"run_id","stop_reason","reason","steps","tools_called","answer",
 *  "observations","usage","trace"}: everything redacted.  New reference or NULL. */
json_t *art_run_result_json(const art_run *run);

#ifdef __cplusplus
}
#endif
#endif
