/* The chat-completions request for one decision: a system message with the
 * instructions, the goal and the context packet (state summary, in-scope
 * memory, recent observations, evidence and omitted refs), one user message
 * asking for the next step, and as `tools` the tools the packet discloses
 * plus the built-in functions ask_human{question} and stop{reason}.  The
 * packet is the model's whole view: no transcript grows from step to step. */
#ifndef ART_OPENAI_REQUEST_H
#define ART_OPENAI_REQUEST_H

#include "agentrt/context.h"

#define ART_OAI_ASK_HUMAN "ask_human"
#define ART_OAI_STOP "stop"

/* A new request object; temperature < 0 is left out.  NULL when out of memory. */
json_t *art_oai_request(const char *model, double temperature, const art_context *ctx);

/* Turn `request` into the repair round for a reply whose `message` (the
 * assistant message as the server sent it) could not be used: the message
 * is appended, then a `tool` message for each of its tool calls (the first
 * one gets `problem`, the others that they were ignored) or, without tool
 * calls, a user message with `problem`.  ART_ENOMEM. */
int art_oai_add_repair(json_t *request, const json_t *message, const char *problem);

#endif
