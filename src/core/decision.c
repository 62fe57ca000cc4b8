#include "agentrt/decision.h"

#include <stdio.h>
#include <string.h>

static const char *string_member(const json_t *obj, const char *key) {
  return json_string_value(json_object_get(obj, key));
}

static void set_malformed(art_decision *out, const char *why) {
  out->kind = ART_DECISION_MALFORMED;
  out->malformed = why;
}

void art_decision_from_json(const json_t *json, art_decision *out) {
  memset(out, 0, sizeof *out);
  if (!json_is_object(json)) return set_malformed(out, "malformed_decision: not a JSON object");
  const char *type = string_member(json, "type");
  if (!type) return set_malformed(out, "malformed_decision: missing decision type");
  if (strcmp(type, "answer") == 0) {
    out->kind = ART_DECISION_ANSWER;
    out->text = string_member(json, "text");
  } else if (strcmp(type, "tool") == 0) {
    out->kind = ART_DECISION_TOOL;
    out->tool = string_member(json, "name");
    out->input = json_object_get(json, "input");
  } else if (strcmp(type, "ask_human") == 0) {
    out->kind = ART_DECISION_ASK_HUMAN;
    out->text = string_member(json, "question");
  } else if (strcmp(type, "stop") == 0) {
    out->kind = ART_DECISION_STOP;
    out->text = string_member(json, "reason");
  } else {
    /* The type name is part of the detail; it is borrowed from the JSON. */
    out->kind = ART_DECISION_MALFORMED;
    out->malformed = NULL;
    out->text = type;
  }
}

int art_decision_check(const art_decision *d, char *detail, size_t detail_size) {
  const char *why = NULL;
  switch (d->kind) {
  case ART_DECISION_ANSWER:
    if (!d->text || !d->text[0]) why = "empty_answer_text";
    break;
  case ART_DECISION_TOOL:
    if (!d->tool || !d->tool[0])
      why = "missing_tool_name";
    else if (d->input && !json_is_object(d->input))
      why = "tool_input_not_object";
    break;
  case ART_DECISION_ASK_HUMAN:
    if (!d->text || !d->text[0]) why = "empty_question";
    break;
  case ART_DECISION_STOP: break;
  case ART_DECISION_MALFORMED:
    if (!d->malformed) {
      snprintf(detail, detail_size, "unknown_decision_type: %s", d->text ? d->text : "");
      return ART_EINVAL;
    }
    why = d->malformed;
    break;
  default: why = "malformed_decision: bad kind";
  }
  if (!why) return 0;
  snprintf(detail, detail_size, "%s", why);
  return ART_EINVAL;
}
