/* Running a spec from the command line and printing runs, traces and eval
 * reports for people (tables) and scripts (--json). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/text.h"

int cli_exit_code(art_stop_reason r) {
  if (r == ART_STOP_SUCCESS) return EXIT_OK;
  if (r == ART_STOP_APPROVAL_REQUIRED || r == ART_STOP_BLOCKED) return EXIT_PAUSED;
  return EXIT_STOPPED;
}

/* ---- the trace table --------------------------------------------------------- */

static void compact(char *buf, size_t size, const json_t *v) {
  char *text = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
  snprintf(buf, size, "%s", text ? text : "");
  free(text);
}

static void refs_detail(char *buf, size_t size, const art_event *ev) {
  const art_context_refs *r = ev->u.context.refs;
  size_t n = (size_t)snprintf(buf, size, "memory [");
  for (size_t i = 0; i < r->n_memory && n < size; i++)
    n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? ", " : "", r->memory[i]->id);
  if (n < size) n += (size_t)snprintf(buf + n, size - n, "] omitted [");
  for (size_t i = 0; i < r->n_omitted && n < size; i++)
    n += (size_t)snprintf(buf + n, size - n, "%s%s: %s", i ? ", " : "", r->omitted[i].ref,
                          art_omit_reason_name(r->omitted[i].reason));
  if (n < size) snprintf(buf + n, size - n, "] evidence %u", ev->u.context.n_evidence);
}

static void decision_detail(char *buf, size_t size, const art_event *ev) {
  char input[200];
  const char *text = ev->u.decision.text ? ev->u.decision.text : "";
  switch (ev->u.decision.kind) {
  case ART_DECISION_TOOL:
    compact(input, sizeof input, ev->u.decision.input);
    snprintf(buf, size, "tool %s %s", ev->u.decision.tool ? ev->u.decision.tool : "(none)", input);
    break;
  case ART_DECISION_MALFORMED: snprintf(buf, size, "malformed (type \"%s\")", text); break;
  default: snprintf(buf, size, "%s \"%s\"", art_decision_kind_name(ev->u.decision.kind), text);
  }
}

static void policy_detail(char *buf, size_t size, const art_event *ev) {
  char rule[32] = "default";
  if (ev->u.policy.rule >= 0) snprintf(rule, sizeof rule, "rule %d", ev->u.policy.rule);
  snprintf(buf, size, "%s%s%s: %s by %s (%s)%s", art_gate_action_name(ev->u.policy.action),
           ev->u.policy.subject ? " " : "", ev->u.policy.subject ? ev->u.policy.subject : "",
           ev->u.policy.approved ? "approval_required, approved"
                                 : art_effect_name(ev->u.policy.effect),
           rule, ev->u.policy.reason, ev->u.policy.approved ? ": allow" : "");
}

static void model_call_detail(char *buf, size_t size, const art_event *ev) {
  char status[32] = "no response";
  if (ev->u.model_call.status)
    snprintf(status, sizeof status, "status %d", ev->u.model_call.status);
  int n = snprintf(buf, size, "attempt %u%s: %s", ev->u.model_call.attempt,
                   ev->u.model_call.repair ? " (repair)" : "",
                   ev->u.model_call.outcome ? ev->u.model_call.outcome : status);
  const char *why = ev->u.model_call.error ? ev->u.model_call.error : ev->u.model_call.malformed;
  if (why && n >= 0 && (size_t)n < size) n += snprintf(buf + n, size - n, ", %s", why);
  if (ev->u.model_call.n_ignored && n >= 0 && (size_t)n < size)
    n += snprintf(buf + n, size - n, ", %u more tool calls ignored", ev->u.model_call.n_ignored);
  if (ev->u.model_call.retry_in_ms >= 0 && n >= 0 && (size_t)n < size)
    snprintf(buf + n, size - n, ", retry in %lld ms", (long long)ev->u.model_call.retry_in_ms);
}

static void event_detail(char *buf, size_t size, const art_event *ev) {
  switch (ev->type) {
  case ART_EV_RUN_STARTED:
    snprintf(buf, size, "goal \"%s\", max_steps %u", ev->u.run_started.goal,
             ev->u.run_started.max_steps);
    break;
  case ART_EV_CONTEXT_BUILT: refs_detail(buf, size, ev); break;
  case ART_EV_DECISION: decision_detail(buf, size, ev); break;
  case ART_EV_POLICY_DECISION: policy_detail(buf, size, ev); break;
  case ART_EV_APPROVAL:
    snprintf(buf, size, "%s %s by %s", ev->u.approval.action_id,
             ev->u.approval.approved ? "approved" : "denied", ev->u.approval.reviewer);
    break;
  case ART_EV_TOOL_CALL:
    snprintf(buf, size, "%s call %u (%s)", ev->u.tool_call.tool, ev->u.tool_call.call_id,
             art_side_effect_name(ev->u.tool_call.side_effect));
    break;
  case ART_EV_TOOL_RESULT:
    snprintf(
        buf, size, "%s %s%s%s -> obs_%u", ev->u.tool_result.tool,
        art_result_status_name(ev->u.tool_result.status), ev->u.tool_result.message ? ": " : "",
        ev->u.tool_result.message ? ev->u.tool_result.message : "", ev->u.tool_result.observation);
    break;
  case ART_EV_HUMAN_INPUT: snprintf(buf, size, "\"%s\"", ev->u.human_input.text); break;
  case ART_EV_RESOLUTION:
    snprintf(buf, size, "%s %s by %s", ev->u.resolution.action_id,
             art_resolve_kind_name(ev->u.resolution.kind), ev->u.resolution.operator_name);
    break;
  case ART_EV_STOP:
    snprintf(buf, size, "%s (%s)", art_stop_reason_name(ev->u.stop.reason),
             ev->u.stop.detail ? ev->u.stop.detail : "");
    break;
  case ART_EV_MODEL_CALL: model_call_detail(buf, size, ev); break;
  }
}

static void print_trace_table(const art_run *run) {
  printf("%4s  %4s  %-16s %9s  %s\n", "seq", "step", "event", "latency", "detail");
  for (size_t i = 0; i < art_run_event_count(run); i++) {
    const art_event *ev = art_run_event(run, i);
    char detail[512];
    event_detail(detail, sizeof detail, ev);
    for (char *c = detail; *c; c++)
      if (*c == '\n' || *c == '\r' || *c == '\t') *c = ' '; /* one line per event */
    if (strlen(detail) > 90) art_text_mark_cut(detail, 91);
    printf("%4u  %4u  %-16s %6lld us  %s\n", ev->seq, ev->step, art_event_type_name(ev->type),
           (long long)ev->latency_us, detail);
  }
}

/* What a paused run waits for is a call whose outcome is unknown. */
static bool outcome_unknown(const json_t *pending) {
  const char *kind = json_string_value(json_object_get(pending, "kind"));
  return kind && strcmp(kind, "outcome_unknown") == 0;
}

/* The stop, the answer (as the trace shows it) and what a paused run waits for. */
static void print_stop(const art_run *run, art_run_status status) {
  const art_event *stop = art_run_event(run, art_run_event_count(run) - 1);
  art_stop_reason r = art_run_stop_reason(run);
  unsigned steps = art_run_steps(run);
  if (r == ART_STOP_NONE) {
    printf("run %s: %s, not stopped yet, after %u step%s\n", art_run_id(run),
           art_run_status_name(status), steps, steps == 1 ? "" : "s");
    return;
  }
  printf("run %s: %s (%s) after %u step%s\n", art_run_id(run), art_stop_reason_name(r),
         art_run_stop_detail(run) ? art_run_stop_detail(run) : "", steps, steps == 1 ? "" : "s");
  if (!stop || stop->type != ART_EV_STOP) return;
  if (stop->u.stop.answer) printf("answer: %s\n", stop->u.stop.answer);
  if (stop->u.stop.prompt_tokens || stop->u.stop.completion_tokens)
    printf("usage: %llu prompt + %llu completion tokens, $%.6f\n",
           (unsigned long long)stop->u.stop.prompt_tokens,
           (unsigned long long)stop->u.stop.completion_tokens, stop->u.stop.cost_usd);
  if (r == ART_STOP_APPROVAL_REQUIRED)
    printf("paused: %s action %s waits for approval\n",
           stop->u.stop.tool ? stop->u.stop.tool : "answer", stop->u.stop.action_id);
  json_t *pending = art_durable_pending_json(run);
  const char *question = json_string_value(json_object_get(pending, "question"));
  if (outcome_unknown(pending))
    printf("paused: nobody knows whether %s call %s acted; an operator must say\n",
           stop->u.stop.tool, stop->u.stop.action_id);
  else if (r == ART_STOP_BLOCKED && question)
    printf("paused: waiting for a human answer to: %s\n", question);
  else if (r == ART_STOP_BLOCKED)
    printf("paused: waiting for a human answer\n");
  json_decref(pending);
}

static void print_run(const art_run *run, art_run_status status) {
  print_stop(run, status);
  printf("\ntrace:\n");
  print_trace_table(run);
}

void cli_print_eval_table(const json_t *report) {
  const json_t *cases = json_object_get(report, "cases"), *c, *f;
  size_t i, k;
  printf("%-32s %-6s %-18s %5s\n", "case", "result", "stop_reason", "steps");
  json_array_foreach(cases, i, c) {
    const char *stop = json_string_value(json_object_get(c, "stop_reason"));
    printf("%-32s %-6s %-18s %5lld\n", json_string_value(json_object_get(c, "name")),
           json_is_true(json_object_get(c, "passed")) ? "PASS" : "FAIL", stop ? stop : "-",
           (long long)json_integer_value(json_object_get(c, "steps")));
    json_array_foreach(json_object_get(c, "failures"), k, f)
        printf("    - %s\n", json_string_value(f));
  }
  printf("%lld passed, %lld failed\n",
         (long long)json_integer_value(json_object_get(report, "passed")),
         (long long)json_integer_value(json_object_get(report, "failed")));
}

/* ---- running ------------------------------------------------------------------- */

static int open_trace(art_run *run, const char *path, FILE **f) {
  if (!path) return 0;
  if (!(*f = fopen(path, "w")))
    return cli_error(EXIT_USAGE, CLI_ERR_IO, "cannot write trace file %s: %s", path,
                     strerror(errno));
  art_sink sink = art_jsonl_sink(*f);
  return art_run_add_sink(run, &sink) < 0 ? EXIT_USAGE : 0;
}

void cli_store_flag(char *buf, size_t size, const char *store) {
  bool other = strcmp(store, CLI_DEFAULT_STORE) != 0;
  char shown[256];
  art_store_url_redact(shown, sizeof shown, store);
  snprintf(buf, size, "%s%s", other ? " --store " : "", other ? shown : "");
}

/* What agentrt says when a signal made it let go of a run. */
static int let_go(const art_run *run, const char *store_path) {
  int sig = cli_signal_caught();
  char flag[300];
  cli_store_flag(flag, sizeof flag, store_path);
  return cli_error(128 + sig, CLI_ERR_INTERRUPTED,
                   "%s: run %s let go at step %u (a call in flight was stopped and is not "
                   "recorded); it is ready: agentrt resume %s%s",
                   sig == SIGTERM ? "SIGTERM" : "interrupted (SIGINT)", art_run_id(run),
                   art_run_steps(run), art_run_id(run), flag);
}

int cli_drive_failed(const art_run *run, int rc, const art_error *err, const char *store_path) {
  if (rc == ART_EINTR && store_path) return let_go(run, store_path);
  if (rc == ART_EFENCED)
    return cli_error(EXIT_USAGE, CLI_ERR_STATE,
                     "run %s was taken over by another process (this one's lease ran out): it "
                     "stopped driving it at step %u",
                     art_run_id(run), art_run_steps(run));
  if (err && err->message[0]) return cli_error(EXIT_USAGE, CLI_ERR_INTERNAL, "%s", err->message);
  return cli_error(EXIT_USAGE, CLI_ERR_INTERNAL, "run %s failed: %s", art_run_id(run),
                   art_run_errmsg(run));
}

int cli_drive(art_run *run, art_model *model, art_lease *lease, const char *store_path) {
  if (lease) cli_signals_catch();
  int rc = lease ? art_durable_drive(run, model, lease, cli_signal_hooks())
                 : art_run_drive(run, model, NULL);
  return rc == 0 ? 0 : cli_drive_failed(run, rc, NULL, lease ? store_path : NULL);
}

/* How to carry on with a paused run kept in a store. */
static void print_next_steps(const art_run *run, const char *store) {
  const art_event *stop = art_run_event(run, art_run_event_count(run) - 1);
  char flag[300];
  json_t *pending = art_durable_pending_json(run);
  cli_store_flag(flag, sizeof flag, store);
  if (art_run_stop_reason(run) == ART_STOP_APPROVAL_REQUIRED)
    printf("to continue: agentrt approve %s %s --reviewer NAME%s && agentrt resume %s%s\n"
           "         or: agentrt deny %s %s --reviewer NAME --reason WHY%s\n",
           art_run_id(run), stop->u.stop.action_id, flag, art_run_id(run), flag, art_run_id(run),
           stop->u.stop.action_id, flag);
  else if (outcome_unknown(pending))
    printf("to continue: agentrt resolve %s %s --outcome done|retry|failed --reviewer NAME%s"
           " && agentrt resume %s%s\n",
           art_run_id(run), stop->u.stop.action_id, flag, art_run_id(run), flag);
  else if (art_run_stop_reason(run) == ART_STOP_BLOCKED)
    printf("to continue: agentrt answer %s \"TEXT\"%s && agentrt resume %s%s\n", art_run_id(run),
           flag, art_run_id(run), flag);
  json_decref(pending);
}

static void print_approvals(const json_t *approvals) {
  size_t i;
  const json_t *a;
  if (!json_array_size(approvals)) return;
  printf("\napprovals:\n");
  json_array_foreach(approvals, i, a) {
    const char *reason = json_string_value(json_object_get(a, "reason"));
    printf("  event %lld: %s %s (%s) by %s%s%s\n",
           (long long)json_integer_value(json_object_get(a, "event_seq")),
           json_string_value(json_object_get(a, "decision")),
           json_string_value(json_object_get(a, "action_id")),
           json_is_string(json_object_get(a, "tool"))
               ? json_string_value(json_object_get(a, "tool"))
               : "answer",
           json_string_value(json_object_get(a, "reviewer")), reason ? ": " : "",
           reason ? reason : "");
  }
}

int cli_report(const art_run *run, const cli_opts *o, json_t *eval, const char *store,
               json_t *approvals, const art_run_record *record) {
  art_run_status status =
      record ? art_durable_status_now(record, art_now_us()) : art_durable_status_of(run);
  if (!o->json) {
    print_run(run, status);
    print_approvals(approvals);
    if (store && art_durable_status_of(run) == ART_RUN_PAUSED) print_next_steps(run, store);
    if (eval) {
      printf("\neval:\n");
      cli_print_eval_table(eval);
    }
    return 0;
  }
  json_t *result = art_run_result_json(run);
  if (!result ||
      json_object_set_new(result, "status", json_string(art_run_status_name(status))) < 0 ||
      json_object_set_new(result, "pending", art_durable_pending_json(run)) < 0 ||
      (approvals && json_object_set(result, "approvals", approvals) < 0) ||
      (eval && json_object_set(result, "eval", eval) < 0)) {
    json_decref(result);
    return cli_error(EXIT_USAGE, CLI_ERR_INTERNAL, "out of memory");
  }
  int rc = cli_print_json(result);
  json_decref(result);
  return rc;
}

/* The demo's eval case, checked against the run just made. */
static json_t *eval_run(const art_run *run, const char *name, const json_t *expect) {
  json_t *result = art_run_result_json(run);
  json_t *failures = result ? art_eval_check(expect, result) : NULL;
  json_t *c = failures ? json_pack("{s:s, s:b, s:O, s:I, s:o}", "name", name, "passed",
                                   json_array_size(failures) == 0, "stop_reason",
                                   json_object_get(result, "stop_reason"), "steps",
                                   json_object_get(result, "steps")
                                       ? json_integer_value(json_object_get(result, "steps"))
                                       : 0,
                                   "failures", failures)
                       : NULL;
  json_decref(result);
  if (!c) return NULL;
  return json_pack("{s:s, s:I, s:I, s:[o]}", "suite", "demo", "passed",
                   (json_int_t)json_is_true(json_object_get(c, "passed")), "failed",
                   (json_int_t)!json_is_true(json_object_get(c, "passed")), "cases", c);
}

static int start(art_spec *spec, const cli_opts *o, art_store *store, bool batched,
                 cli_prepared *p) {
  art_error err = {0};
  if (art_model_new(&p->model, spec, &err) < 0)
    return cli_error(EXIT_USAGE, cli_err_of(err.code), "%s", err.message);
  char id[ART_RUN_ID_SIZE];
  art_run_id_generate(id);
  art_run_options opts = {.run_id = art_spec_run_id(spec) ? NULL : id};
  if (art_run_new(&p->run, spec, &opts) < 0)
    return cli_error(EXIT_USAGE, CLI_ERR_INTERNAL, "out of memory");
  /* Everything that can fail is set up before the run is stored: a run in
   * the store is one that ran, or can. */
  int rc = open_trace(p->run, o->trace, &p->trace);
  return rc || !store ? rc : cli_persist_new(store, spec, p->run, batched, &p->lease);
}

/* A spec mistake found only once the servers speak (an override for a tool a
 * server does not have) or no memory is a usage error; any other failure to set
 * up the servers stops the run tool_failure. */
static int attach_servers(art_spec *spec, art_mcp_session **mcp, char *why, size_t size) {
  int rc = cli_mcp_attach(spec, mcp, why, size);
  if (rc != ART_ESPEC && rc != ART_ENOMEM) return rc;
  return cli_error(EXIT_USAGE, cli_err_of(rc), "%s", why);
}

int cli_run_prepare(art_spec *spec, const cli_opts *o, art_store *store, bool batched,
                    cli_prepared *p) {
  char why[ART_ERRMSG_SIZE];
  *p = (cli_prepared){0};
  int attached = attach_servers(spec, &p->mcp, why, sizeof why);
  if (attached == EXIT_USAGE) return EXIT_USAGE;
  int rc = start(spec, o, store, batched, p);
  return rc == 0 && attached < 0 ? cli_stop_tools_failed(p->run, why) : rc;
}

int cli_prepared_close(cli_prepared *p, const cli_opts *o, int rc) {
  if (p->lease.run_id) { /* whatever happened: where the run stands, and nobody holds it */
    int kept = cli_record_status(&p->lease, p->run);
    if (rc == 0) rc = kept;
  }
  if (p->trace && fclose(p->trace) != 0 && rc == 0)
    rc = cli_error(EXIT_USAGE, CLI_ERR_IO, "cannot write trace file %s: %s", o->trace,
                   strerror(errno));
  p->trace = NULL;
  return rc;
}

void cli_prepared_dispose(cli_prepared *p) {
  art_error ignored = {0};
  art_lease_release(&p->lease, &ignored);
  art_run_free(p->run);
  art_model_free(p->model);
  art_mcp_session_free(p->mcp);
  *p = (cli_prepared){0};
}

int cli_run_spec(art_spec *spec, const cli_opts *o, json_t *eval_case, art_store *store) {
  cli_prepared p;
  json_t *eval = NULL;
  int rc = cli_run_prepare(spec, o, store, false, &p);
  if (rc == 0 && art_run_stop_reason(p.run) == ART_STOP_NONE)
    rc = cli_drive(p.run, p.model, store ? &p.lease : NULL, o->store);
  rc = cli_prepared_close(&p, o, rc);
  if (rc == 0 && eval_case)
    eval = eval_run(p.run, json_string_value(json_object_get(eval_case, "name")),
                    json_object_get(eval_case, "expect"));
  if (rc == 0) rc = cli_report(p.run, o, eval, store ? o->store : NULL, NULL, NULL);
  if (rc == 0) rc = cli_exit_code(art_run_stop_reason(p.run));
  if (rc == 0 && eval && json_integer_value(json_object_get(eval, "failed"))) rc = EXIT_STOPPED;
  json_decref(eval);
  cli_prepared_dispose(&p);
  return rc;
}
