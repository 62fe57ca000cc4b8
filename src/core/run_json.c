/* JSON views of a run: the result object printed by `agentrt run --json` and
 * read by the eval harness. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/json_build.h"
#include "core/run_internal.h"

static int append(json_t *arr, json_t *v) {
  return v && json_array_append_new(arr, v) == 0 ? 0 : ART_ENOMEM;
}

static json_t *trace_json(const art_run *run) {
  json_t *arr = json_array();
  for (size_t i = 0; arr && i < art_run_event_count(run); i++)
    if (append(arr, art_event_to_json(run, art_run_event(run, i))) < 0)
      json_decref(arr), arr = NULL;
  return arr;
}

static json_t *tools_called_json(const art_run *run) {
  json_t *arr = json_array();
  for (size_t i = 0; arr && i < art_run_event_count(run); i++) {
    const art_event *ev = art_run_event(run, i);
    if (ev->type == ART_EV_TOOL_CALL && append(arr, json_string(ev->u.tool_call.tool)) < 0)
      json_decref(arr), arr = NULL;
  }
  return arr;
}

static json_t *observations_json(const art_run *run) {
  json_t *arr = json_array();
  for (size_t i = 0; arr && i < art_run_observation_count(run); i++)
    if (append(arr, art_observation_json(art_run_observation(run, i), run->spec->redactor)) < 0)
      json_decref(arr), arr = NULL;
  return arr;
}

json_t *art_run_result_json(const art_run *run) {
  json_t *tools = tools_called_json(run), *obs = observations_json(run), *trace = trace_json(run);
  if (!tools || !obs || !trace) {
    json_decref(tools), json_decref(obs), json_decref(trace);
    return NULL;
  }
  const char *answer = run->answer_redacted, *detail = art_run_stop_detail(run);
  const art_run_usage *u = &run->totals;
  art_stop_reason stop = art_run_stop_reason(run);
  return json_pack(
      "{s:s, s:s?, s:o, s:I, s:o, s:o, s:o, s:{s:I, s:I, s:f}, s:o}", "run_id", art_run_id(run),
      "stop_reason", stop == ART_STOP_NONE ? NULL : art_stop_reason_name(stop), "reason",
      detail ? json_string(detail) : json_null(), "steps", (json_int_t)art_run_steps(run),
      "tools_called", tools, "answer", answer ? json_string(answer) : json_null(), "observations",
      obs, "usage", "prompt_tokens", (json_int_t)u->prompt_tokens, "completion_tokens",
      (json_int_t)u->completion_tokens, "cost_usd", u->cost_usd, "trace", trace);
}
