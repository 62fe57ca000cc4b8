/* The run's record, shared by the modules that make up the run: run.c (the
 * state machine), run_context.c (context packets), run_json.c (JSON views),
 * and what the drivers (src/driver/) need beyond the public API. */
#ifndef ART_RUN_INTERNAL_H
#define ART_RUN_INTERNAL_H

#include "agentrt/run.h"
#include "core/arena.h"
#include "core/spec_internal.h"
#include "core/tool_internal.h"

typedef enum {
  PH_NEW,            /* run_started not yet emitted */
  PH_DECIDE,         /* next(): build the context, hand out DECIDE */
  PH_AWAIT_DECISION, /* waiting for feed_decision */
  PH_CALL,           /* next(): hand out CALL_TOOL */
  PH_AWAIT_RESULT,   /* waiting for feed_tool_result */
  PH_STOPPED,        /* stopped: WAIT or DONE */
  PH_BROKEN          /* an event could not be recorded: the run accepts nothing more */
} art_phase;

/* An approval given during the run; action_id NULL once a write used it. */
typedef struct art_granted {
  const char *action_id;
  int64_t expires_at_us; /* 0: never */
} art_granted;

/* What a paused run waits for. */
typedef enum { PENDING_NONE, PENDING_APPROVAL, PENDING_HUMAN, PENDING_OPERATOR } art_pending;

struct art_run {
  const art_spec *spec;
  const art_allocator *alloc;
  art_arena arena;
  const char *run_id;
  art_sink *sinks;
  size_t n_sinks;
  bool owes_sync; /* a sink holds back an event that must be durable */

  art_phase phase;
  art_action action;
  art_context ctx;
  art_tool_call call;
  const art_tool *call_tool;
  const char *action_id;       /* the pending action's id (arena), NULL when none */
  struct art_replay *replay;   /* while a replay feeds a decision: the journal */
  int64_t call_expires_us;     /* the approval the pending call runs on expires then (0: never) */
  int call_rule;               /* the policy rule that asked for that approval (-1: default) */
  uint32_t journaled;          /* events up to this seq are in the journal already:
                                     a replay does not give them to the sinks again */
  json_t *call_input;          /* the run's reference to the pending call's input */
  json_t *call_input_redacted; /* borrowed from the decision event (or empty_input) */

  uint32_t steps;
  uint32_t seq;
  int64_t started_us;   /* when run_started was recorded */
  int64_t paused_us;    /* time spent paused so far: not part of the wall-time budget */
  int64_t paused_at_us; /* when the current pause began */
  uint32_t calls;
  int64_t decide_at_us, call_at_us;
  art_run_usage totals; /* what the decisions so far used */

  art_vec events;               /* art_event * */
  art_vec observations;         /* art_observation */
  art_vec evidence;             /* uint32_t observation numbers */
  art_vec approved;             /* art_granted: approvals given during the run */
  const art_tool *const *tools; /* enabled tools, sorted by name (the registry's) */
  size_t n_tools;
  const art_context_refs *refs; /* memory refs of the last context */
  int64_t refs_valid_until_us;  /* the next memory expiry (INT64_MAX: none) */

  art_stop_reason stop_reason;
  const char *stop_detail;
  const char *answer;          /* the model's answer, as given */
  const char *answer_redacted; /* what the trace shows of it */
  art_pending pending;
  const char *pending_answer; /* an answer at the gate or waiting for approval */
  const char *pending_answer_redacted;

  json_t *empty_input; /* {} for tool decisions without input */
  /* art_run_errmsg's text: ART_ERRMSG_SIZE bytes of the arena, taken the
   * first time there is a message (most runs never have one); errmsg_lost
   * when the arena could not give them. */
  char *errmsg;
  bool errmsg_lost;

  /* Not zeroed by art_run_new: first buffers for the vectors, so a short run
   * allocates nothing for them, and the message buffer. */
  art_event *first_events[16];
  art_observation first_observations[4];
  uint32_t first_evidence[4];
};

/* run.c: events.  A new event is stamped but not yet recorded; commit records
 * it (taking its JSON references) and hands it to the sinks.  Both mark the run
 * broken on failure. */
art_event *art_run_event_new(art_run *run, art_event_type type, int64_t now_us);
int art_run_event_commit(art_run *run, art_event *ev);
int art_run_emit_policy(art_run *run, const art_policy_query *q, const art_verdict *v,
                        const char *subject, const char *action_id, int64_t now_us);

/* run.c: a driver's reason for returning `code` becomes the run's message
 * (art_run_errmsg); returns code. */
int art_run_fail(art_run *run, int code, const char *message);
int art_run_failf(art_run *run, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The run has no message (art_run_errmsg is ""). */
void art_run_clear_errmsg(art_run *run);

/* run_context.c */
int art_run_build_context(art_run *run, int64_t now_us);

/* run_replay.c: while a replay feeds a decision, the action id the journal
 * recorded for it, or NULL. */
const char *art_replay_action_id(struct art_replay *r);

#endif
