/* The eval harness: expectations checked against a run's result and trace. */
#include "agentrt/eval.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "agentrt/run.h"
#include "core/alloc.h"
#include "core/reader.h"
#include "core/text.h"

/* ---- expectations ------------------------------------------------------------- */

static int check_name_list(const art_reader *rd, const char *path, const json_t *expect,
                           const char *key) {
  const json_t *list = json_object_get(expect, key);
  char sub[ART_PATH_SIZE], item[ART_PATH_SIZE];
  if (!list) return 0;
  art_rd_member_path(sub, path, key);
  if (art_rd_expect_array(rd, sub, list) < 0) return ART_ESPEC;
  for (size_t i = 0; i < json_array_size(list); i++) {
    art_rd_index_path(item, sub, i);
    if (!json_is_string(json_array_get(list, i)))
      return art_rd_fail(rd, item, "expected a tool name");
  }
  return 0;
}

int art_eval_expect_check(const json_t *expect, const char *file, const char *path,
                          art_error *err) {
  static const char *const keys[] = {"stop_reason", "tools_called",      "tools_not_called",
                                     "max_steps",   "evidence_required", "no_repeated_side_effects",
                                     NULL};
  art_reader rd = {file, err};
  const char *stop = NULL;
  int64_t max_steps;
  bool flag;
  if (art_rd_expect_object(&rd, path, expect) < 0 ||
      art_rd_known_keys(&rd, path, expect, keys) < 0 ||
      art_rd_string(&rd, path, expect, "stop_reason", false, &stop) < 0 ||
      check_name_list(&rd, path, expect, "tools_called") < 0 ||
      check_name_list(&rd, path, expect, "tools_not_called") < 0 ||
      art_rd_int(&rd, path, expect, "max_steps", 0, UINT32_MAX, &max_steps) < 0 ||
      art_rd_bool(&rd, path, expect, "evidence_required", &flag) < 0 ||
      art_rd_bool(&rd, path, expect, "no_repeated_side_effects", &flag) < 0)
    return ART_ESPEC;
  art_stop_reason reason;
  if (stop && art_stop_reason_parse(stop, &reason) < 0) {
    char sub[ART_PATH_SIZE];
    art_rd_member_path(sub, path, "stop_reason");
    return art_rd_fail(&rd, sub, "unknown stop reason \"%s\"", stop);
  }
  return 0;
}

/* ---- checks --------------------------------------------------------------------- */

/* The failures found so far; a failure that cannot be recorded marks the whole
 * check out of memory rather than let a failing case pass. */
typedef struct failure_list {
  json_t *list;
  bool lost;
} failure_list;

static void failure(failure_list *failures, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void failure(failure_list *failures, const char *fmt, ...) {
  char text[ART_ERRMSG_SIZE];
  va_list ap;
  va_start(ap, fmt);
  art_text_clip(text, sizeof text, vsnprintf(text, sizeof text, fmt, ap));
  va_end(ap);
  if (json_array_append_new(failures->list, json_string(text)) < 0) failures->lost = true;
}

static const char *str(const json_t *obj, const char *key) {
  const char *s = json_string_value(json_object_get(obj, key));
  return s ? s : "";
}

static bool is_event(const json_t *ev, const char *type) {
  return strcmp(str(ev, "type"), type) == 0;
}

static bool list_has(const json_t *list, const char *name) {
  size_t i;
  const json_t *v;
  json_array_foreach(list, i, v) {
    if (strcmp(json_string_value(v), name) == 0) return true;
  }
  return false;
}

static void check_stop(const json_t *expect, const json_t *result, failure_list *failures) {
  const char *got = str(result, "stop_reason"),
             *want = json_string_value(json_object_get(expect, "stop_reason"));
  if (want) {
    if (strcmp(want, got) != 0)
      failure(failures, "stop reason was %s (%s), expected %s", got, str(result, "reason"), want);
    return;
  }
  if (strcmp(got, "invalid_decision") == 0)
    failure(failures, "invalid decision: %s", str(result, "reason"));
  if (strcmp(got, "budget_exhausted") == 0)
    failure(failures, "budget exhausted after %lld steps",
            (long long)json_integer_value(json_object_get(result, "steps")));
}

static void check_tools(const json_t *expect, const json_t *result, failure_list *failures) {
  const json_t *called = json_object_get(result, "tools_called"), *v;
  size_t i;
  json_array_foreach(json_object_get(expect, "tools_called"), i, v) {
    if (!list_has(called, json_string_value(v)))
      failure(failures, "expected tool was not called: %s", json_string_value(v));
  }
  json_array_foreach(json_object_get(expect, "tools_not_called"), i, v) {
    if (list_has(called, json_string_value(v)))
      failure(failures, "forbidden tool was called: %s", json_string_value(v));
  }
}

static void check_steps(const json_t *expect, const json_t *result, failure_list *failures) {
  const json_t *max = json_object_get(expect, "max_steps");
  json_int_t steps = json_integer_value(json_object_get(result, "steps"));
  if (max && steps > json_integer_value(max))
    failure(failures, "took %lld steps, more than max_steps %lld", (long long)steps,
            (long long)json_integer_value(max));
}

/* The answer must have been given with tool evidence in its context. */
static void check_evidence(const json_t *trace, failure_list *failures) {
  json_int_t evidence = 0;
  size_t i;
  const json_t *ev;
  json_array_foreach(trace, i, ev) {
    if (is_event(ev, "context_built"))
      evidence = json_integer_value(json_object_get(ev, "evidence_count"));
    if (is_event(ev, "stop") && json_object_get(ev, "answer") && evidence == 0)
      failure(failures, "answer without tool evidence");
  }
}

static bool side_effect_call(const json_t *ev) {
  return is_event(ev, "tool_call") && strcmp(str(ev, "side_effect"), "read") != 0;
}

static void check_repeats(const json_t *trace, failure_list *failures) {
  size_t i, k;
  const json_t *ev, *earlier;
  json_array_foreach(trace, i, ev) {
    if (!side_effect_call(ev)) continue;
    for (k = 0; k < i; k++) {
      earlier = json_array_get(trace, k);
      if (side_effect_call(earlier) &&
          strcmp(str(earlier, "action_id"), str(ev, "action_id")) == 0) {
        failure(failures, "repeated side effect: %s (%s)", str(ev, "tool"), str(ev, "action_id"));
        break;
      }
    }
  }
}

/* A write may run only after an allow rule matched or its action was approved. */
static void check_approvals(const json_t *trace, failure_list *failures) {
  const json_t *gate = NULL, *ev;
  size_t i;
  json_array_foreach(trace, i, ev) {
    if (is_event(ev, "policy_decision") && strcmp(str(ev, "action"), "tool") == 0) gate = ev;
    if (!is_event(ev, "tool_call") || strcmp(str(ev, "side_effect"), "write") != 0) continue;
    bool allowed = gate && strcmp(str(gate, "tool"), str(ev, "tool")) == 0 &&
                   strcmp(str(gate, "effect"), "allow") == 0 &&
                   (json_is_integer(json_object_get(gate, "rule")) ||
                    json_is_true(json_object_get(gate, "approved")));
    if (!allowed)
      failure(failures, "approval bypass: %s ran without an allow rule or approval",
              str(ev, "tool"));
  }
}

json_t *art_eval_check(const json_t *expect, const json_t *result) {
  failure_list failures = {json_array(), false};
  const json_t *trace = json_object_get(result, "trace");
  if (!failures.list) return NULL;
  check_stop(expect, result, &failures);
  check_tools(expect, result, &failures);
  check_steps(expect, result, &failures);
  if (json_is_true(json_object_get(expect, "evidence_required"))) check_evidence(trace, &failures);
  if (json_is_true(json_object_get(expect, "no_repeated_side_effects")))
    check_repeats(trace, &failures);
  check_approvals(trace, &failures);
  if (!failures.lost) return failures.list;
  json_decref(failures.list);
  return NULL;
}
