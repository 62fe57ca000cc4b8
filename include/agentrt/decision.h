/* Decisions: what a model proposes.  answer{text} | tool{name, input} |
 * ask_human{question} | stop{reason}.
 *
 * A decision is parsed from JSON without judging it; the run validates it before
 * anything acts on it (art_decision_check), so a malformed decision travels to
 * the run and ends it `invalid_decision` with a detail saying which rule it broke. */
#ifndef AGENTRT_DECISION_H
#define AGENTRT_DECISION_H

#include <stdbool.h>
#include "agentrt/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  ART_DECISION_ANSWER,
  ART_DECISION_TOOL,
  ART_DECISION_ASK_HUMAN,
  ART_DECISION_STOP,
  ART_DECISION_MALFORMED /* not one of the four: `malformed` says why */
} art_decision_kind;

/* Token usage a model reports with a decision (0 when unknown). */
typedef struct art_usage {
  uint32_t prompt_tokens;
  uint32_t completion_tokens;
} art_usage;

/* One request a model made while deciding (an HTTP attempt, a command run):
 * recorded as a `model_call` event before the decision or the failure it led
 * to.  Pointers are borrowed, as for a decision. */
typedef struct art_model_call {
  uint32_t attempt; /* 1, 2, ... within one decision (repair rounds included) */
  bool repair;      /* the request was a repair round after a malformed reply */
  int status;       /* HTTP status; 0: no response, or not an HTTP request */
  const char *outcome; /* what a request that is not HTTP came to ("command exit 0",
                          "command killed by signal 9"); NULL: none */
  int64_t latency_us;
  int64_t ended_us;           /* wall clock when it ended; 0: when it is fed */
  const char *error;          /* why the attempt failed; NULL when it did not */
  const char *malformed;      /* the reply could not be used as a decision: why */
  int64_t retry_in_ms;        /* the wait before the next attempt; -1: none follows */
  art_usage usage;            /* tokens this request used (0 when unknown) */
  const char *const *ignored; /* tool calls after the first one, which is taken */
  size_t n_ignored;           /* at most ART_MODEL_CALL_MAX_IGNORED */
} art_model_call;

#define ART_MODEL_CALL_MAX_IGNORED 16

/* All pointers are borrowed from whoever made the decision (the model) and must
 * stay valid until the run has been fed it; the run copies what it keeps. */
typedef struct art_decision {
  art_decision_kind kind;
  const char *text;      /* answer text, ask_human question or stop reason */
  const char *tool;      /* tool name */
  const json_t *input;   /* tool input */
  const char *malformed; /* why a MALFORMED decision is malformed */
  art_usage usage;
} art_decision;

/* Fill `out` from a decision object such as {"type":"tool","name":"x","input":{}}.
 * Never fails: anything that is not a decision becomes ART_DECISION_MALFORMED.
 * Strings are borrowed from `json`. */
void art_decision_from_json(const json_t *json, art_decision *out);

/* 0 when the decision is well formed; ART_EINVAL with a detail such as
 * "empty_answer_text" or "unknown_decision_type: delete" otherwise.  Tool input
 * is checked against the tool's schema by the run, not here. */
int art_decision_check(const art_decision *d, char *detail, size_t detail_size);

const char *art_decision_kind_name(art_decision_kind k);

#ifdef __cplusplus
}
#endif
#endif
