/* Trace: every state change of a run is an event, delivered in order to the
 * run's sinks (the in-memory trace, a JSONL file, a store journal).
 *
 * Events are compact structs in the run's arena; JSON text is produced only
 * when a sink asks for it (art_event_to_json).  Redaction happens before an
 * event is recorded: values under secret-named keys and values matching the
 * spec's patterns are replaced by "[REDACTED]" in every string and JSON value
 * an event carries, so no sink ever sees them. */
#ifndef AGENTRT_TRACE_H
#define AGENTRT_TRACE_H

#include <stdbool.h>
#include <stdio.h>
#include "agentrt/decision.h"
#include "agentrt/policy.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  ART_STOP_NONE,
  ART_STOP_SUCCESS,
  ART_STOP_BUDGET_EXHAUSTED,
  ART_STOP_INVALID_DECISION,
  ART_STOP_REFUSED,
  ART_STOP_POLICY_DENIED,
  ART_STOP_APPROVAL_REQUIRED,
  ART_STOP_BLOCKED,
  ART_STOP_TOOL_FAILURE,
  ART_STOP_MODEL_FAILURE,
  ART_STOP_CANCELLED
} art_stop_reason;

const char *art_stop_reason_name(art_stop_reason r);
int art_stop_reason_parse(const char *name, art_stop_reason *out);

typedef enum {
  ART_EV_RUN_STARTED,
  ART_EV_CONTEXT_BUILT,
  ART_EV_DECISION,
  ART_EV_POLICY_DECISION,
  ART_EV_APPROVAL,
  ART_EV_TOOL_CALL,
  ART_EV_TOOL_RESULT,
  ART_EV_HUMAN_INPUT,
  ART_EV_RESOLUTION,
  ART_EV_STOP,
  ART_EV_MODEL_CALL /* one request of a model (an HTTP attempt), before its decision */
} art_event_type;

const char *art_event_type_name(art_event_type t);
int art_event_type_parse(const char *name, art_event_type *out);
bool art_event_type_known(art_event_type t);

/* How an operator resolved a call whose outcome was unknown (art_run_resolve). */
typedef enum {
  ART_RESOLVE_DONE,  /* it acted: recorded as an ok result, the run goes on */
  ART_RESOLVE_RETRY, /* it did not act: run it again (same idempotency key) */
  ART_RESOLVE_FAILED /* it failed: recorded as an error, the run stops tool_failure */
} art_resolve_kind;

const char *art_resolve_kind_name(art_resolve_kind k);
int art_resolve_kind_parse(const char *name, art_resolve_kind *out); /* ART_EINVAL */

/* What a context_built event records: the packet's refs (memory, omitted) are
 * shared between consecutive events while they do not change. */
typedef struct art_context_refs {
  const art_memory_item *const *memory;
  size_t n_memory;
  const art_omitted *omitted;
  size_t n_omitted;
  art_sensitivity sensitivity;
} art_context_refs;

/* An event as a sink sees it: the members common to all, then the one of
 * `u` its type names.  An event takes only the memory its type needs, so
 * read it through a pointer and never copy it whole (*ev). */
typedef struct art_event {
  art_event_type type;
  uint32_t seq;  /* from 1, gap-free */
  uint32_t step; /* the step the event belongs to (0 before the first) */
  int64_t ts_us;
  int64_t latency_us; /* decision: time the model took; tool_result: the tool */
  union {
    struct {
      const char *goal;
      uint32_t max_steps;
    } run_started;
    struct {
      const art_context_refs *refs;
      uint32_t first_recent, last_recent; /* observation numbers, 0 when none */
      uint32_t n_evidence;
      uint32_t n_tools;
    } context;
    struct {
      art_decision_kind kind;
      const char *text; /* answer / question / stop reason / unknown type */
      const char *tool;
      json_t *input;
      art_usage usage; /* every request of this decision, repair rounds included */
      double cost_usd; /* usage at the spec's model.price */
    } decision;
    struct {
      uint32_t attempt;
      bool repair;
      int status;
      const char *outcome;
      const char *error;
      const char *malformed;
      int64_t retry_in_ms;
      art_usage usage;
      const char *const *ignored;
      uint32_t n_ignored;
    } model_call;
    struct {
      art_gate_action action;
      art_effect effect;
      int rule; /* -1: default policy */
      const char *reason;
      const char *subject; /* tool name, or memory item id for retrieve */
      const char *action_id;
      bool approved;
    } policy;
    struct {
      const char *action_id;
      bool approved;
      const char *reviewer;
      const char *reason;
      int64_t expires_at_us;    /* 0: never */
      const char *tool;         /* the action: NULL for a final answer */
      const char *input_sha256; /* SHA-256 of its canonical input, or of the answer */
      int64_t requested_at_us;  /* when the run paused for it */
    } approval;
    struct {
      uint32_t call_id;
      const char *tool;
      art_side_effect side_effect;
      json_t *input; /* the same value as the decision event's input */
      const char *action_id;
      const char *idempotency_key; /* draft and write tools */
    } tool_call;
    struct {
      uint32_t call_id;
      const char *tool;
      art_result_status status;
      json_t *data;
      const char *message;
      uint32_t observation;
    } tool_result;
    struct {
      const char *text;
      uint32_t observation;
    } human_input;
    struct {
      const char *action_id;
      art_resolve_kind kind;
      const char *operator_name;
      const char *note;
    } resolution;
    struct {
      art_stop_reason reason;
      const char *detail;
      const char *tool;
      const char *action_id;
      const char *answer;
      uint64_t prompt_tokens, completion_tokens; /* the run's totals */
      double cost_usd;
    } stop;
  } u;
} art_event;

typedef struct art_run art_run;

/* A sink receives every event in order.  `write` returns 0 when the event is
 * written (durable, where the sink makes events durable); ART_SINK_HELD when
 * it is written but held back, not durable until `sync` is called: the run
 * then owes a sync, and its driver pays it before it goes on to what follows
 * (art_run_owes_sync, art_run_sync); a negative code stops the operation that
 * produced the event and is returned to the driver. */
typedef struct art_sink {
  int version; /* ART_SINK_VERSION */
  int (*write)(void *ud, const art_run *run, const art_event *ev);
  void (*close)(void *ud); /* may be NULL; called when the run is freed */
  void *ud;
  /* Version 2.  Make every event written so far durable: 0 or a negative
   * code.  NULL for a sink whose write never holds an event back. */
  int (*sync)(void *ud);
  /* Version 3.  Why the last write or sync failed, in words (the run's error
   * message quotes it), or NULL.  May be NULL. */
  const char *(*why)(void *ud);
} art_sink;

#define ART_SINK_VERSION 3
#define ART_SINK_HELD 1

/* OpenTelemetry-style ids, derived from the run id: the run is the root span,
 * each step a span under it, each tool call a span under its step.  An event's
 * span is the one it happened in; `parent` is 0 for the root. */
void art_event_spans(const art_run *run, const art_event *ev, uint64_t *span, uint64_t *parent);

/* The event as JSON: {"run_id","seq","type","step","ts_us","latency_us",
 * "trace_id","span_id","parent_span_id", ...type fields}.  New reference; NULL
 * when out of memory. */
json_t *art_event_to_json(const art_run *run, const art_event *ev);

/* A sink writing one JSON object per line to `f` (not closed; flushed per event). */
art_sink art_jsonl_sink(FILE *f);

/* A run's journal as stores keep it: per event its envelope (seq, step, time,
 * type) and its body, the text of a JSON object with the rest of what
 * art_event_to_json gives but the trace and span ids (which derive from the
 * run id): {"latency_us", ...type fields}.  A body is parsed only when a
 * replay needs what it holds. */
typedef struct art_journal_entry {
  uint32_t seq, step;
  int64_t ts_us;
  art_event_type type;
  const char *body; /* NUL-terminated; the journal's own copy */
  size_t body_len;
} art_journal_entry;

typedef struct art_journal {
  art_journal_entry *entries; /* from seq 1 */
  size_t n, cap;
  void *text; /* where the bodies are kept */
} art_journal;

/* The event an entry of run `run_id`'s journal keeps, as art_event_to_json
 * gave it when it was recorded (its trace and span ids derived again): a
 * reader of the journal gets the trace without rebuilding the run.  New
 * reference; NULL when out of memory or the body is not a JSON object. */
json_t *art_journal_entry_to_json(const char *run_id, const art_journal_entry *e);

/* Appends a copy of `e` (and of its body); ART_ENOMEM leaves `j` as it was. */
int art_journal_add(art_journal *j, const art_journal_entry *e);
void art_journal_dispose(art_journal *j);

/* Redaction rules. */
typedef struct art_redactor art_redactor;

/* keys: names whose values are redacted, compared case-insensitively (NULL: the
 * defaults api_key, authorization, password, secret, token); patterns: POSIX
 * extended regular expressions whose matches are redacted (may be NULL). */
int art_redactor_new(art_redactor **out, const char *const *keys, const char *const *patterns,
                     const art_allocator *alloc, art_error *err);
void art_redactor_free(art_redactor *r);
/* A reference to `v` itself when nothing in it needs redacting (the common case,
 * no allocation), else a redacted deep copy.  NULL stays NULL; NULL on ENOMEM
 * for non-NULL v. */
json_t *art_redact_json(const art_redactor *r, json_t *v);
/* `text` itself when no pattern matches, else a redacted copy from `alloc`
 * (*copied set to true).  NULL when out of memory. */
char *art_redact_text(const art_redactor *r, const char *text, const art_allocator *alloc,
                      bool *copied);

#ifdef __cplusplus
}
#endif
#endif
