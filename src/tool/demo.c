#include "tool/demo.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

static const char *const policy_text =
    "Customer replies may be drafted freely; sending a message to a customer requires approval.";

/* lookup_policy's ud: the answer, built once at registration. */
static int lookup_policy(void *ud, const art_tool_call *call, art_tool_result *r) {
  (void)call;
  art_tool_result_set(r, ART_RESULT_OK, json_incref(ud), NULL);
  return 0;
}

static int draft_message(void *ud, const art_tool_call *call, art_tool_result *r) {
  (void)ud;
  json_t *draft = json_pack("{s:O, s:O, s:b}", "to", json_object_get(call->input, "to"), "body",
                            json_object_get(call->input, "body"), "draft", 1);
  if (!draft) return ART_ENOMEM;
  art_tool_result_set(r, ART_RESULT_OK, draft, NULL);
  return 0;
}

/* Appends {"run_id","action_id","to","body"} as one line, so tests can count
 * side effects. */
static int send_message(void *ud, const art_tool_call *call, art_tool_result *r) {
  const char *outbox = json_string_value(ud);
  json_t *line =
      json_pack("{s:s, s:s?, s:O, s:O}", "run_id", call->run_id, "action_id", call->action_id, "to",
                json_object_get(call->input, "to"), "body", json_object_get(call->input, "body"));
  if (!line) return ART_ENOMEM;
  FILE *f = fopen(outbox, "a");
  int ok = f && json_dumpf(line, f, JSON_COMPACT) == 0 && fputc('\n', f) != EOF;
  if (f && fclose(f) != 0) ok = 0;
  json_decref(line);
  if (!ok) {
    art_tool_result_set(r, ART_RESULT_ERROR, NULL, "outbox %s: %s", outbox, strerror(errno));
    return 0;
  }
  art_tool_result_set(r, ART_RESULT_OK, json_pack("{s:b, s:s}", "sent", 1, "outbox", outbox), NULL);
  return 0;
}

static int flaky_lookup(void *ud, const art_tool_call *call, art_tool_result *r) {
  (void)ud, (void)call;
  art_tool_result_set(r, ART_RESULT_ERROR, NULL, "upstream_timeout");
  return 0;
}

static void free_json(void *ud) { json_decref(ud); }

/* Schemas are built with json_pack, not parsed: jansson's parser can drop a
 * character when an allocation fails, which would silently weaken a schema. */
static json_t *message_schema(void) {
  return json_pack("{s:s, s:{s:{s:s, s:i}, s:{s:s, s:i}}, s:[s, s], s:b}", "type", "object",
                   "properties", "to", "type", "string", "minLength", 1, "body", "type", "string",
                   "minLength", 1, "required", "to", "body", "additionalProperties", 0);
}

static int register_with_schema(art_registry *reg, art_tool_def *def, json_t *schema,
                                art_error *err) {
  if (!schema) {
    if (def->free_ud) def->free_ud(def->ud);
    return art_error_set(err, ART_ENOMEM, "out of memory");
  }
  def->input_schema = schema;
  int rc = art_registry_add(reg, def, err);
  json_decref(schema);
  return rc;
}

static int add_lookup_policy(art_registry *reg, art_error *err) {
  json_t *answer = json_pack("{s:s, s:s}", "policy_id", "reply-policy-v1", "text", policy_text);
  if (!answer) return art_error_set(err, ART_ENOMEM, "out of memory");
  art_tool_def def = {.name = "lookup_policy",
                      .description = "Look up the policy that applies to a customer task.",
                      .side_effect = ART_SIDE_READ,
                      .fn = lookup_policy,
                      .ud = answer,
                      .free_ud = free_json};
  json_t *schema =
      json_pack("{s:s, s:{s:{s:s}}, s:[s], s:b}", "type", "object", "properties", "task", "type",
                "string", "required", "task", "additionalProperties", 0);
  return register_with_schema(reg, &def, schema, err);
}

static int add_send_message(art_registry *reg, const char *outbox, art_error *err) {
  json_t *path = json_string(outbox);
  if (!path) return art_error_set(err, ART_ENOMEM, "out of memory");
  art_tool_def def = {.name = "send_message",
                      .description = "Send a message to a customer (appends to the outbox).",
                      .side_effect = ART_SIDE_WRITE,
                      .fn = send_message,
                      .ud = path,
                      .free_ud = free_json};
  return register_with_schema(reg, &def, message_schema(), err);
}

int art_demo_tool_register(art_registry *reg, const char *name, const char *outbox,
                           art_error *err) {
  if (strcmp(name, "lookup_policy") == 0) return add_lookup_policy(reg, err);
  if (strcmp(name, "send_message") == 0) return add_send_message(reg, outbox, err);
  if (strcmp(name, "draft_message") == 0) {
    art_tool_def def = {.name = name,
                        .description = "Draft a customer message (not sent).",
                        .side_effect = ART_SIDE_DRAFT,
                        .fn = draft_message};
    return register_with_schema(reg, &def, message_schema(), err);
  }
  if (strcmp(name, "flaky_lookup") == 0) {
    art_tool_def def = {.name = name,
                        .description = "Look up a record in a flaky upstream service.",
                        .side_effect = ART_SIDE_READ,
                        .fn = flaky_lookup};
    return register_with_schema(reg, &def, json_pack("{s:s}", "type", "object"), err);
  }
  return ART_ENOTFOUND;
}

const char *art_demo_tool_names(void) {
  return "lookup_policy, draft_message, send_message, flaky_lookup";
}
