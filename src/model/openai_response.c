#include "model/openai_response.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/text.h"
#include "model/openai_request.h"

static int failf(char *why, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int failf(char *why, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  art_vformat(why, size, fmt, ap);
  va_end(ap);
  return ART_EINVAL;
}

static uint32_t token_count(const json_t *usage, const char *key) {
  json_int_t n = json_integer_value(json_object_get(usage, key));
  return n < 0 ? 0 : n > (json_int_t)UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

static const char *call_name(const json_t *call) {
  const char *name = json_string_value(json_object_get(json_object_get(call, "function"), "name"));
  return name ? name : "";
}

static void read_calls(const json_t *calls, art_oai_reply *r) {
  if (!json_is_array(calls) || json_array_size(calls) == 0) return;
  const json_t *first = json_array_get(calls, 0);
  r->function = call_name(first);
  r->arguments = json_string_value(json_object_get(json_object_get(first, "function"), "arguments"));
  for (size_t i = 1; i < json_array_size(calls) && r->n_ignored < ART_MODEL_CALL_MAX_IGNORED; i++)
    r->ignored[r->n_ignored++] = call_name(json_array_get(calls, i));
}

int art_oai_parse_reply(const char *body, size_t len, art_oai_reply *out, char *why,
                        size_t why_size) {
  json_error_t jerr;
  memset(out, 0, sizeof *out);
  out->body = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!out->body) return failf(why, why_size, "response is not JSON: %s", jerr.text);
  const json_t *choices = json_object_get(out->body, "choices");
  out->message = json_object_get(json_array_get(choices, 0), "message");
  if (!json_is_object(out->body) || !json_is_array(choices) || json_array_size(choices) == 0) {
    art_oai_reply_dispose(out);
    return failf(why, why_size, "response is not a chat completion (no \"choices\")");
  }
  if (!json_is_object(out->message)) {
    art_oai_reply_dispose(out);
    return failf(why, why_size, "response has no choices[0].message object");
  }
  out->text = json_string_value(json_object_get(out->message, "content"));
  read_calls(json_object_get(out->message, "tool_calls"), out);
  const json_t *usage = json_object_get(out->body, "usage");
  out->usage = (art_usage){token_count(usage, "prompt_tokens"),
                           token_count(usage, "completion_tokens")};
  return 0;
}

void art_oai_reply_dispose(art_oai_reply *r) {
  json_decref(r->body);
  memset(r, 0, sizeof *r);
}

/* At most `size` - 1 bytes of `text`, control characters as spaces. */
static void copy_printable(char *out, size_t size, const char *text, size_t len) {
  size_t n = 0;
  for (; n + 1 < size && n < len && text[n]; n++)
    out[n] = (unsigned char)text[n] < 0x20 ? ' ' : text[n];
  out[n] = '\0';
}

void art_oai_error_message(const char *body, size_t len, char *out, size_t size) {
  json_t *j = body ? json_loadb(body, len, 0, NULL) : NULL;
  const json_t *error = json_object_get(j, "error");
  const char *message = json_string_value(json_object_get(error, "message"));
  if (!message) message = json_string_value(error);
  if (!message) message = json_string_value(json_object_get(j, "message"));
  if (message)
    copy_printable(out, size, message, strlen(message));
  else if (body && len)
    copy_printable(out, size, body, len);
  else
    snprintf(out, size, "(empty body)");
  json_decref(j);
}

/* ---- reply -> decision --------------------------------------------------- */

static const art_tool *disclosed(const art_context *ctx, const char *name) {
  for (size_t i = 0; i < ctx->n_tools; i++)
    if (strcmp(art_tool_name(ctx->tools[i]), name) == 0) return ctx->tools[i];
  return NULL;
}

/* The arguments as an object into *args ("" or absent: {}); ART_EINVAL with
 * the decision made malformed otherwise. */
static int parse_arguments(const art_oai_reply *r, art_decision *d, json_t **args, char *problem,
                           size_t size) {
  json_error_t jerr;
  const char *text = r->arguments ? r->arguments : "";
  *args = text[strspn(text, " \t\r\n")] ? json_loads(text, JSON_DECODE_ANY, &jerr) : json_object();
  if (*args && json_is_object(*args)) return 0;
  if (*args)
    failf(problem, size, "malformed_decision: the arguments of %s are not a JSON object",
          r->function);
  else
    failf(problem, size, "malformed_decision: the arguments of %s are not JSON: %s", r->function,
          jerr.text);
  json_decref(*args);
  *args = NULL;
  *d = (art_decision){.kind = ART_DECISION_MALFORMED, .malformed = problem};
  return ART_EINVAL;
}

static int builtin_decision(const art_oai_reply *r, art_decision_kind kind, const char *key,
                            art_decision *d, json_t **args, char *problem, size_t size) {
  if (parse_arguments(r, d, args, problem, size) < 0) return ART_EINVAL;
  *d = (art_decision){.kind = kind, .text = json_string_value(json_object_get(*args, key))};
  if (kind == ART_DECISION_ASK_HUMAN && (!d->text || !d->text[0]))
    return failf(problem, size, "%s needs a non-empty string \"question\"", ART_OAI_ASK_HUMAN);
  return 0;
}

static int tool_decision(const art_oai_reply *r, const art_context *ctx, art_decision *d,
                         json_t **args, char *problem, size_t size) {
  const art_tool *t = disclosed(ctx, r->function);
  *d = (art_decision){.kind = ART_DECISION_TOOL, .tool = r->function};
  if (!t)
    return failf(problem, size, "there is no function named \"%s\"", r->function);
  if (parse_arguments(r, d, args, problem, size) < 0) return ART_EINVAL;
  *d = (art_decision){.kind = ART_DECISION_TOOL, .tool = r->function, .input = *args};
  char why[ART_ERRMSG_SIZE];
  if (art_tool_check_input(t, *args, why, sizeof why) < 0)
    return failf(problem, size, "the arguments of %s do not match its parameters: %s",
                 r->function, why);
  return 0;
}

int art_oai_decision(const art_oai_reply *r, const art_context *ctx, art_decision *d,
                     json_t **args, char *problem, size_t problem_size) {
  *args = NULL;
  problem[0] = '\0';
  if (r->function && strcmp(r->function, ART_OAI_ASK_HUMAN) == 0)
    return builtin_decision(r, ART_DECISION_ASK_HUMAN, "question", d, args, problem, problem_size);
  if (r->function && strcmp(r->function, ART_OAI_STOP) == 0)
    return builtin_decision(r, ART_DECISION_STOP, "reason", d, args, problem, problem_size);
  if (r->function) return tool_decision(r, ctx, d, args, problem, problem_size);
  *d = (art_decision){.kind = ART_DECISION_ANSWER, .text = r->text ? r->text : ""};
  if (!r->text || !r->text[strspn(r->text, " \t\r\n")])
    return failf(problem, problem_size, "the reply has neither text nor a function call");
  return 0;
}
