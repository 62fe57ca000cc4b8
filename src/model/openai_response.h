/* Reading a chat-completions response: the reply (text, tool calls, token
 * usage), the server's error message from an error body, and the decision a
 * reply amounts to.  Everything here reads untrusted input (fuzzed). */
#ifndef ART_OPENAI_RESPONSE_H
#define ART_OPENAI_RESPONSE_H

#include "agentrt/context.h"
#include "agentrt/decision.h"

typedef struct art_oai_reply {
  json_t *body;          /* the whole response (owned) */
  const json_t *message; /* choices[0].message */
  const char *text;      /* its content; NULL when none */
  const char *function;  /* the first tool call's function name; NULL when none */
  const char *arguments; /* its arguments (JSON text); NULL when absent */
  const char *ignored[ART_MODEL_CALL_MAX_IGNORED]; /* names of the calls after the first */
  size_t n_ignored;
  art_usage usage;
} art_oai_reply;

/* Parse a 2xx body.  ART_EINVAL with `why` ("not JSON: ...", "no choices",
 * ...) when it is not a chat completion at all; ART_ENOMEM.  A reply that is
 * a chat completion but not a usable decision parses fine: see
 * art_oai_decision. */
int art_oai_parse_reply(const char *body, size_t len, art_oai_reply *out, char *why,
                        size_t why_size);
void art_oai_reply_dispose(art_oai_reply *r);

/* The server's message in an error body: {"error":{"message"}}, {"error":"..."},
 * {"message"} or, for anything else, the start of the text itself. */
void art_oai_error_message(const char *body, size_t len, char *out, size_t size);

/* The decision `r` amounts to, given the tools `ctx` discloses: a tool call
 * -> tool (arguments parsed into *args, a new reference the caller keeps
 * alive with the decision), ask_human / stop -> those, text only -> answer.
 * Returns 0 when the decision is usable, ART_EINVAL with `problem` saying
 * what is wrong when it is not (arguments not JSON or not an object,
 * arguments that fail the tool's schema, an unknown function, a missing
 * question, no text and no call): the decision is then the closest one, for
 * the run to reject when no repair round helps. */
int art_oai_decision(const art_oai_reply *r, const art_context *ctx, art_decision *d,
                     json_t **args, char *problem, size_t problem_size);

#endif
