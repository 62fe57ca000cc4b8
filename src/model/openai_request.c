#include "model/openai_request.h"

#include <stdio.h>
#include <string.h>

#include "core/json_build.h"

static const char instructions[] =
    "You are the decision step of an agent. Work towards the goal below. Each turn, either call "
    "exactly one of the functions offered (a tool, " ART_OAI_ASK_HUMAN
    " to ask a person a question, or " ART_OAI_STOP
    " to give up with a reason), or reply with text only: that text is your final answer and "
    "ends the run. Arguments must be a JSON object that matches the function's parameters. The "
    "context packet below is everything known so far: tool results arrive there as recent "
    "observations.";

static json_t *function(const char *name, const char *description, json_t *parameters) {
  return json_pack("{s:s, s:{s:s, s:s, s:o}}", "type", "function", "function", "name", name,
                   "description", description ? description : "", "parameters", parameters);
}

static json_t *one_string_parameter(const char *name, const char *description) {
  return json_pack("{s:s, s:{s:{s:s, s:s}}, s:[s], s:b}", "type", "object", "properties", name,
                   "type", "string", "description", description, "required", name,
                   "additionalProperties", 0);
}

static json_t *tool_function(const art_tool *t) {
  const json_t *schema = art_tool_input_schema(t);
  json_t *parameters = schema ? json_deep_copy(schema) : json_pack("{s:s}", "type", "object");
  return function(art_tool_name(t), art_tool_description(t), parameters);
}

static json_t *tools_json(const art_context *ctx) {
  int ok = 1;
  json_t *tools = json_array();
  if (!tools) return NULL;
  for (size_t i = 0; i < ctx->n_tools; i++) art_append(tools, tool_function(ctx->tools[i]), &ok);
  art_append(tools,
             function(ART_OAI_ASK_HUMAN, "Ask a person a question and wait for the answer.",
                      one_string_parameter("question", "the question")),
             &ok);
  art_append(tools,
             function(ART_OAI_STOP, "Stop working on the goal without an answer.",
                      one_string_parameter("reason", "why you stop")),
             &ok);
  if (!ok) json_decref(tools), tools = NULL;
  return tools;
}

/* The instructions, the goal and the packet (without its tools: they are the
 * request's functions). */
static json_t *system_message(const art_context *ctx) {
  json_t *packet = art_context_to_json(ctx);
  if (!packet) return NULL;
  json_object_del(packet, "tools");
  char *text = json_dumps(packet, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(packet);
  json_t *content = text ? json_sprintf("%s\n\nGoal: %s\n\nContext packet: %s", instructions,
                                        ctx->goal, text)
                         : NULL;
  json_free_t free_fn;
  json_get_alloc_funcs(NULL, &free_fn);
  free_fn(text); /* jansson's own allocator made it */
  return content ? json_pack("{s:s, s:o}", "role", "system", "content", content) : NULL;
}

static json_t *user_message(const art_context *ctx) {
  json_t *content = json_sprintf("Decide step %u of at most %u.", ctx->step, ctx->max_steps);
  return content ? json_pack("{s:s, s:o}", "role", "user", "content", content) : NULL;
}

json_t *art_oai_request(const char *model, double temperature, const art_context *ctx) {
  json_t *req = json_pack("{s:s, s:[o, o], s:o, s:s}", "model", model, "messages",
                          system_message(ctx), user_message(ctx), "tools", tools_json(ctx),
                          "tool_choice", "auto");
  int ok = req != NULL;
  if (req && temperature >= 0) art_put(req, "temperature", json_real(temperature), &ok);
  if (!ok) json_decref(req), req = NULL;
  return req;
}

static json_t *tool_reply(const json_t *call, const char *text) {
  const char *id = json_string_value(json_object_get(call, "id"));
  return json_pack("{s:s, s:s, s:s}", "role", "tool", "tool_call_id", id ? id : "", "content", text);
}

int art_oai_add_repair(json_t *request, const json_t *message, const char *problem) {
  json_t *messages = json_object_get(request, "messages");
  const json_t *calls = json_object_get(message, "tool_calls");
  int ok = messages != NULL;
  json_t *note = json_sprintf("Your last reply could not be used: %s. Reply again, following the "
                              "instructions.", problem);
  if (!note) return ART_ENOMEM;
  art_append(messages, json_deep_copy(message), &ok);
  for (size_t i = 0; i < json_array_size(calls); i++)
    art_append(messages,
               tool_reply(json_array_get(calls, i),
                          i ? "ignored: only the first function call of a reply is taken"
                            : json_string_value(note)),
               &ok);
  if (json_array_size(calls) == 0)
    art_append(messages, json_pack("{s:s, s:O}", "role", "user", "content", note), &ok);
  json_decref(note);
  return ok ? 0 : ART_ENOMEM;
}
