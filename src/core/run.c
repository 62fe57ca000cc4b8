#include "core/run_internal.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>

#include "core/alloc.h"
#include "core/sha256.h"
#include "core/text.h"
#include "core/version.h"

/* The run's first arena block comes with the run, sized for a short run (a
 * 3-step run uses about 1.2 KB), so that 10,000 runs in flight on a loop hold
 * 30 MiB, not 76 (bench_loop's W3).  Later chunks double from there (3 KiB,
 * 6 KiB, ...) up to CHUNK_SIZE, so a run a little longer costs a little more,
 * and stay small enough that malloc serves them from its heap rather than a
 * fresh mmap, so chunks one run frees are reused by the next. */
enum { FIRST_BLOCK = 1536, CHUNK_SIZE = 64 * 1024 };

/* ---- errors ---------------------------------------------------------------- */

int art_run_failf(art_run *run, int code, const char *fmt, ...) {
  if (!run->errmsg && !(run->errmsg = art_arena_alloc(&run->arena, ART_ERRMSG_SIZE))) {
    run->errmsg_lost = true;
    return code;
  }
  va_list ap;
  va_start(ap, fmt);
  art_vformat(run->errmsg, ART_ERRMSG_SIZE, fmt, ap);
  va_end(ap);
  run->errmsg_lost = false;
  return code;
}

void art_run_clear_errmsg(art_run *run) {
  if (run->errmsg) run->errmsg[0] = '\0';
  run->errmsg_lost = false;
}

/* An event that could not be recorded leaves the trace short of the state: the
 * run refuses everything after that rather than carry on unrecorded. */
static int broken(art_run *run, int code) {
  run->phase = PH_BROKEN;
  if (code == ART_ENOMEM) return art_run_failf(run, code, "out of memory while recording an event");
  return code;
}

int art_run_fail(art_run *run, int code, const char *message) {
  return art_run_failf(run, code, "%s", message);
}

const char *art_run_errmsg(const art_run *run) {
  return run->errmsg_lost ? "out of memory" : run->errmsg ? run->errmsg : "";
}

/* ---- creation -------------------------------------------------------------- */

/* The spec outlives its runs, so its run id is borrowed; a caller's is copied. */
static const char *choose_run_id(art_run *run, const art_run_options *opts) {
  if (opts && opts->run_id) return art_arena_strdup(&run->arena, opts->run_id);
  return run->spec->run_id;
}

/* The run's own copy of the enabled tools: a tool added to the registry later
 * must not move the array under it. */
static int disclose_tools(art_run *run) {
  size_t n;
  const art_tool *const *enabled = art_registry_enabled(run->spec->registry, &n);
  const art_tool **tools = art_arena_alloc(&run->arena, (n ? n : 1) * sizeof *tools);
  if (!tools) return ART_ENOMEM;
  if (n) memcpy(tools, enabled, n * sizeof *tools);
  run->tools = tools;
  run->n_tools = n;
  return 0;
}

int art_run_new(art_run **out, const art_spec *spec, const art_run_options *opts) {
  if (!(opts && opts->run_id) && !spec->run_id) return ART_EINVAL;
  const art_allocator *alloc = opts && opts->alloc ? opts->alloc : spec->alloc;
  art_run *run = art_alloc(alloc, sizeof *run + FIRST_BLOCK);
  if (!run) return ART_ENOMEM;
  memset(run, 0, offsetof(art_run, first_events));
  run->events = (art_vec){run->first_events, 0, 16};
  run->observations = (art_vec){run->first_observations, 0, 4};
  run->evidence = (art_vec){run->first_evidence, 0, 4};
  run->spec = spec;
  run->alloc = alloc;
  art_arena_init(&run->arena, alloc, run + 1, FIRST_BLOCK, CHUNK_SIZE);
  run->run_id = choose_run_id(run, opts);
  if (!run->run_id || disclose_tools(run) < 0) {
    art_run_free(run);
    return ART_ENOMEM;
  }
  run->refs_valid_until_us = INT64_MIN;
  *out = run;
  return 0;
}

static void release_event_json(const art_event *ev) {
  switch (ev->type) {
  case ART_EV_DECISION: json_decref(ev->u.decision.input); break;
  /* A tool_call's input belongs to the decision event that asked for the call. */
  case ART_EV_TOOL_RESULT: json_decref(ev->u.tool_result.data); break;
  default: break;
  }
}

void art_run_free(art_run *run) {
  if (!run) return;
  for (size_t i = 0; i < run->n_sinks; i++)
    if (run->sinks[i].close) run->sinks[i].close(run->sinks[i].ud);
  art_event **events = run->events.items;
  for (uint32_t i = 0; i < run->events.len; i++) release_event_json(events[i]);
  art_observation *obs = run->observations.items;
  for (uint32_t i = 0; i < run->observations.len; i++) json_decref(obs[i].data);
  json_decref(run->call_input);
  json_decref(run->empty_input);
  art_arena_dispose(&run->arena);
  art_release(run->alloc, run);
}

/* The sink's own words for its last failure, when it has some. */
static const char *sink_why(const art_sink *sink) {
  const char *why = sink->why ? sink->why(sink->ud) : NULL;
  return why && why[0] ? why : NULL;
}

int art_run_add_sink(art_run *run, const art_sink *sink) {
  art_error why = {0};
  int rc = art_version_check("sink", sink->version, ART_SINK_VERSION, &why);
  if (rc < 0 || !sink->write || run->events.len) {
    if (sink->close) sink->close(sink->ud);
    if (run->events.len)
      return art_run_failf(run, ART_ESTATE, "sinks must be added before the first event");
    if (rc < 0) return art_run_failf(run, rc, "%s", why.message);
    return art_run_failf(run, ART_EINVAL, "a sink needs a write function");
  }
  art_sink *sinks = art_arena_alloc(&run->arena, (run->n_sinks + 1) * sizeof *sinks);
  if (!sinks) {
    if (sink->close) sink->close(sink->ud);
    return art_run_failf(run, ART_ENOMEM, "out of memory");
  }
  if (run->n_sinks) memcpy(sinks, run->sinks, run->n_sinks * sizeof *sinks);
  sinks[run->n_sinks++] = *sink;
  run->sinks = sinks;
  return 0;
}

/* ---- events ---------------------------------------------------------------- */

#define EVENT_SIZE(member) (offsetof(art_event, u) + sizeof(((art_event *)NULL)->u.member))

/* An event of `type` takes its common members and its own of `u`: a run's
 * short events (context_built, run_started) are half the size of the union. */
static size_t event_size(art_event_type type) {
  switch (type) {
  case ART_EV_RUN_STARTED: return EVENT_SIZE(run_started);
  case ART_EV_CONTEXT_BUILT: return EVENT_SIZE(context);
  case ART_EV_DECISION: return EVENT_SIZE(decision);
  case ART_EV_POLICY_DECISION: return EVENT_SIZE(policy);
  case ART_EV_APPROVAL: return EVENT_SIZE(approval);
  case ART_EV_TOOL_CALL: return EVENT_SIZE(tool_call);
  case ART_EV_TOOL_RESULT: return EVENT_SIZE(tool_result);
  case ART_EV_HUMAN_INPUT: return EVENT_SIZE(human_input);
  case ART_EV_RESOLUTION: return EVENT_SIZE(resolution);
  case ART_EV_STOP: return EVENT_SIZE(stop);
  case ART_EV_MODEL_CALL: return EVENT_SIZE(model_call);
  }
  return sizeof(art_event);
}

art_event *art_run_event_new(art_run *run, art_event_type type, int64_t now_us) {
  size_t size = event_size(type);
  art_event *ev = art_arena_alloc(&run->arena, size);
  if (!ev) {
    broken(run, ART_ENOMEM);
    return NULL;
  }
  memset(ev, 0, size);
  ev->type = type;
  /* A context is built, and the model asked, for the step about to be decided;
   * a stop before the decision (the model or the tools failed) ends that step. */
  bool deciding = type == ART_EV_CONTEXT_BUILT || type == ART_EV_MODEL_CALL ||
                  (type == ART_EV_STOP && run->phase == PH_AWAIT_DECISION);
  ev->step = deciding ? run->steps + 1 : run->steps;
  ev->ts_us = now_us;
  return ev;
}

/* Record `ev` (its JSON references now belong to the trace) and hand it to
 * every sink. */
int art_run_event_commit(art_run *run, art_event *ev) {
  art_event **slot = art_vec_push(&run->arena, &run->events, sizeof *slot);
  if (!slot) {
    release_event_json(ev);
    return broken(run, ART_ENOMEM);
  }
  *slot = ev;
  ev->seq = ++run->seq;
  for (size_t i = 0; ev->seq > run->journaled && i < run->n_sinks; i++) {
    int rc = run->sinks[i].write(run->sinks[i].ud, run, ev);
    if (rc == ART_SINK_HELD && run->sinks[i].sync) {
      run->owes_sync = true;
    } else if (rc != 0) {
      if (rc > 0) rc = ART_EINVAL; /* held back by a sink that cannot sync */
      broken(run, rc);
      const char *why = sink_why(&run->sinks[i]);
      return art_run_failf(run, rc, "trace sink failed at event %" PRIu32 " (%s)%s%s", ev->seq,
                           art_event_type_name(ev->type), why ? ": " : "", why ? why : "");
    }
  }
  return 0;
}

bool art_run_owes_sync(const art_run *run) { return run->owes_sync; }

int art_run_sync(art_run *run) {
  for (size_t i = 0; run->owes_sync && i < run->n_sinks; i++) {
    int rc = run->sinks[i].sync ? run->sinks[i].sync(run->sinks[i].ud) : 0;
    if (rc < 0) {
      broken(run, rc);
      const char *why = sink_why(&run->sinks[i]);
      return art_run_failf(run, rc, "trace sink failed to make event %" PRIu32 " durable%s%s",
                           run->seq, why ? ": " : "", why ? why : "");
    }
  }
  run->owes_sync = false;
  return 0;
}

/* A copy of `text` in the arena, valid UTF-8 (bad bytes become '?'), with
 * secrets redacted; NULL stays NULL. */
static const char *keep_text(art_run *run, const char *text, int *rc) {
  if (!text || *rc < 0) return NULL;
  size_t n = strlen(text);
  char *valid = NULL;
  if (!art_utf8_valid(text, n)) {
    if (!(valid = art_arena_alloc(&run->arena, n + 1))) goto oom;
    art_utf8_repair(text, n, valid);
    text = valid;
  }
  bool copied = false;
  char *kept = art_redact_text(run->spec->redactor, text, &run->arena.as_allocator, &copied);
  if (kept && !copied) kept = valid ? valid : art_arena_strndup(&run->arena, text, n);
  if (kept) return kept;
oom:
  *rc = ART_ENOMEM;
  return NULL;
}

static json_t *keep_json(art_run *run, const json_t *v, int *rc) {
  if (!v || *rc < 0) return NULL;
  json_t *kept = art_redact_json(run->spec->redactor, (json_t *)v);
  if (!kept) *rc = ART_ENOMEM;
  return kept;
}

/* ---- stopping -------------------------------------------------------------- */

static bool pausable(art_stop_reason r) {
  return r == ART_STOP_APPROVAL_REQUIRED || r == ART_STOP_BLOCKED;
}

/* Stop the run with `detail` (redacted and copied). */
static int stop(art_run *run, art_stop_reason reason, const char *tool, const char *action_id,
                int64_t now_us, const char *detail) {
  art_event *ev = art_run_event_new(run, ART_EV_STOP, now_us);
  int rc = ev ? 0 : ART_ENOMEM;
  const char *kept = keep_text(run, detail, &rc);
  if (rc < 0) return broken(run, rc);
  ev->u.stop.reason = reason;
  ev->u.stop.detail = kept;
  ev->u.stop.tool = tool;
  ev->u.stop.action_id = action_id;
  ev->u.stop.answer = run->answer_redacted;
  ev->u.stop.prompt_tokens = run->totals.prompt_tokens;
  ev->u.stop.completion_tokens = run->totals.completion_tokens;
  ev->u.stop.cost_usd = run->totals.cost_usd;
  run->stop_reason = reason;
  run->stop_detail = kept;
  run->phase = PH_STOPPED;
  run->paused_at_us = now_us;
  run->action = (art_action){.kind = pausable(reason) ? ART_ACT_WAIT : ART_ACT_DONE,
                             .stop_reason = reason,
                             .detail = kept};
  return art_run_event_commit(run, ev);
}

static int stopf(art_run *run, art_stop_reason reason, const char *tool, const char *action_id,
                 int64_t now_us, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* The detail is formatted whole (never cut, so no secret is cut short of its
 * redaction pattern) before stop() redacts it. */
static int stopf(art_run *run, art_stop_reason reason, const char *tool, const char *action_id,
                 int64_t now_us, const char *fmt, ...) {
  va_list ap, again;
  va_start(ap, fmt);
  va_copy(again, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *detail = n >= 0 ? art_arena_alloc(&run->arena, (size_t)n + 1) : NULL;
  if (detail) vsnprintf(detail, (size_t)n + 1, fmt, again);
  va_end(again);
  if (!detail) return broken(run, ART_ENOMEM);
  return stop(run, reason, tool, action_id, now_us, detail);
}

/* ---- next ------------------------------------------------------------------ */

static int emit_run_started(art_run *run, int64_t now_us) {
  art_event *ev = art_run_event_new(run, ART_EV_RUN_STARTED, now_us);
  if (!ev) return broken(run, ART_ENOMEM);
  ev->u.run_started.goal = run->spec->goal_traced;
  ev->u.run_started.max_steps = run->spec->max_steps;
  run->started_us = now_us;
  int rc = art_run_event_commit(run, ev);
  if (rc < 0) return rc;
  run->phase = PH_DECIDE;
  return 0;
}

/* Time the run has been going, pauses for people not counted. */
static bool out_of_time(const art_run *run, int64_t now_us) {
  int64_t budget = run->spec->max_wall_time_us;
  return budget && now_us - run->started_us - run->paused_us >= budget;
}

/* Which budget is used up ("max_steps", "wall_time", "tokens", "cost"), or NULL. */
static const char *budget_used_up(const art_run *run, int64_t now_us) {
  const art_spec *s = run->spec;
  if (run->steps >= s->max_steps) return "max_steps";
  if (out_of_time(run, now_us)) return "wall_time";
  if (s->max_tokens_total &&
      run->totals.prompt_tokens + run->totals.completion_tokens >= s->max_tokens_total)
    return "tokens";
  if (s->max_cost_usd > 0 && run->totals.cost_usd >= s->max_cost_usd) return "cost";
  return NULL;
}

static int hand_out_decide(art_run *run, int64_t now_us) {
  const char *used_up = budget_used_up(run, now_us);
  if (used_up) return stop(run, ART_STOP_BUDGET_EXHAUSTED, NULL, NULL, now_us, used_up);
  int rc = art_run_build_context(run, now_us);
  if (rc < 0) return broken(run, rc);
  run->decide_at_us = now_us;
  run->action = (art_action){.kind = ART_ACT_DECIDE, .context = &run->ctx};
  run->phase = PH_AWAIT_DECISION;
  return 0;
}

/* The tool_call event is the intent to call: recorded when the call is handed
 * out, right before it runs, never for a call that is not. */
static int pause_for_approval(art_run *run, const char *tool, const char *reason, int64_t now_us);

/* The call was approved too long ago: the gate says so in the trace (after
 * its verdict that the approval allowed the call), and the run waits for
 * approval again. */
static int approval_expired(art_run *run, int64_t now_us) {
  art_policy_query q = {.action = ART_GATE_TOOL};
  art_verdict v = {ART_EFFECT_APPROVAL, run->call_rule, "approval expired", false};
  int rc = art_run_emit_policy(run, &q, &v, run->call_tool->name, run->action_id, now_us);
  return rc < 0 ? rc : pause_for_approval(run, run->call_tool->name, v.reason, now_us);
}

static int hand_out_call(art_run *run, int64_t now_us) {
  if (run->call_expires_us && now_us >= run->call_expires_us) return approval_expired(run, now_us);
  art_event *ev = art_run_event_new(run, ART_EV_TOOL_CALL, now_us);
  if (!ev) return broken(run, ART_ENOMEM);
  ev->u.tool_call.call_id = run->call.id;
  ev->u.tool_call.tool = run->call_tool->name;
  ev->u.tool_call.side_effect = run->call_tool->side_effect;
  ev->u.tool_call.input = run->call_input_redacted;
  ev->u.tool_call.action_id = run->call.action_id;
  ev->u.tool_call.idempotency_key = run->call.idempotency_key;
  int rc = art_run_event_commit(run, ev);
  if (rc < 0) return rc;
  run->call_at_us = now_us;
  run->action = (art_action){.kind = ART_ACT_CALL_TOOL, .tool = run->call_tool, .call = &run->call};
  run->phase = PH_AWAIT_RESULT;
  return 0;
}

int art_run_next(art_run *run, int64_t now_us, const art_action **out) {
  int rc = 0;
  switch (run->phase) {
  case PH_NEW:
    if ((rc = emit_run_started(run, now_us)) < 0) return rc;
    /* fall through */
  case PH_DECIDE: rc = hand_out_decide(run, now_us); break;
  case PH_CALL: rc = hand_out_call(run, now_us); break;
  case PH_AWAIT_DECISION:
  case PH_AWAIT_RESULT:
  case PH_STOPPED: break;
  case PH_BROKEN:
    return art_run_failf(run, ART_ESTATE, "the run cannot continue after an earlier error");
  }
  if (rc < 0) return rc;
  *out = &run->action;
  return 0;
}

/* ---- decisions --------------------------------------------------------------- */

static double usage_cost(const art_spec *s, const art_usage *u) {
  return (u->prompt_tokens * s->price_input_per_mtok +
          u->completion_tokens * s->price_output_per_mtok) /
         1e6;
}

/* Records the decision as the model gave it (redacted); *recorded is the event.
 * `known` is the registered tool it names, if any: its name needs no copy. */
static int emit_decision(art_run *run, const art_decision *d, const art_tool *known, int64_t now_us,
                         const art_event **recorded) {
  art_event *ev = art_run_event_new(run, ART_EV_DECISION, now_us);
  int rc = ev ? 0 : ART_ENOMEM;
  const char *text = keep_text(run, d->text, &rc);
  const char *tool = known ? known->name : keep_text(run, d->tool, &rc);
  json_t *input = keep_json(run, d->input, &rc);
  if (rc < 0) {
    json_decref(input);
    return broken(run, rc);
  }
  ev->latency_us = now_us - run->decide_at_us;
  /* A kind from outside the enum is recorded as what it is: malformed. */
  ev->u.decision.kind =
      (unsigned)d->kind <= ART_DECISION_MALFORMED ? d->kind : ART_DECISION_MALFORMED;
  ev->u.decision.text = text;
  ev->u.decision.tool = tool;
  ev->u.decision.input = input;
  ev->u.decision.usage = d->usage;
  ev->u.decision.cost_usd = usage_cost(run->spec, &d->usage);
  run->totals.prompt_tokens += d->usage.prompt_tokens;
  run->totals.completion_tokens += d->usage.completion_tokens;
  run->totals.cost_usd += ev->u.decision.cost_usd;
  *recorded = ev;
  return art_run_event_commit(run, ev);
}

int art_run_emit_policy(art_run *run, const art_policy_query *q, const art_verdict *v,
                        const char *subject, const char *action_id, int64_t now_us) {
  art_event *ev = art_run_event_new(run, ART_EV_POLICY_DECISION, now_us);
  if (!ev) return broken(run, ART_ENOMEM);
  ev->u.policy.action = q->action;
  ev->u.policy.effect = v->effect;
  ev->u.policy.rule = v->rule;
  ev->u.policy.reason = v->reason;
  ev->u.policy.subject = subject;
  ev->u.policy.action_id = action_id;
  ev->u.policy.approved = v->approved;
  return art_run_event_commit(run, ev);
}

static void base_query(const art_run *run, art_gate_action action, art_policy_query *q) {
  *q = (art_policy_query){.action = action,
                          .actor = run->spec->actor,
                          .tenant = run->spec->tenant,
                          .route = run->spec->route,
                          .sensitivity = run->refs ? run->refs->sensitivity : ART_SENS_PUBLIC,
                          .remaining_steps = (int64_t)run->spec->max_steps - run->steps};
}

/* "act_" + the first 96 bits of SHA-256(name, NUL, body): for a tool call the
 * tool name and its canonical input (compact, keys sorted), for an answer ""
 * and the answer text.  The id is kept in the arena: events point at it. */
/* `prefix` and the first `bytes` of the digest in hex, kept in the arena. */
static const char *digest_text(art_run *run, art_sha256 *h, const char *prefix, size_t bytes) {
  uint8_t digest[32];
  char text[16 + 2 * sizeof digest + 1];
  size_t n = strlen(prefix);
  art_sha256_final(h, digest);
  memcpy(text, prefix, n);
  art_hex(digest, bytes, text + n);
  return art_arena_strdup(&run->arena, text);
}

static const char *action_id_finish(art_run *run, art_sha256 *h) {
  return digest_text(run, h, "act_", 12);
}

static int hash_chunk(const char *buffer, size_t size, void *h) {
  art_sha256_update(h, buffer, size);
  return 0;
}

/* The canonical form of `v` (compact, keys sorted) into the hash. */
static bool hash_canonical(art_sha256 *h, const json_t *v) {
  return json_dump_callback(v, hash_chunk, h, JSON_COMPACT | JSON_SORT_KEYS) == 0;
}

static const char *tool_action_id(art_run *run, const char *tool, const json_t *input) {
  art_sha256 h;
  art_sha256_init(&h);
  art_sha256_update(&h, tool, strlen(tool) + 1);
  return hash_canonical(&h, input) ? action_id_finish(run, &h) : NULL;
}

/* "idem_" + 128 bits of SHA-256(run id, step, action id): the same call of the
 * same run always has the same key, another run or step another one.  The
 * action id stands for the tool and its canonical input. */
static const char *idempotency_key(art_run *run, uint32_t step, const char *action_id) {
  art_sha256 h;
  char step_text[16];
  art_sha256_init(&h);
  art_sha256_update(&h, run->run_id, strlen(run->run_id) + 1);
  art_sha256_update(&h, step_text, (size_t)snprintf(step_text, sizeof step_text, "%u", step) + 1);
  art_sha256_update(&h, action_id, strlen(action_id));
  return digest_text(run, &h, "idem_", 16);
}

static const char *answer_action_id(art_run *run, const char *answer) {
  art_sha256 h;
  art_sha256_init(&h);
  art_sha256_update(&h, "", 1);
  art_sha256_update(&h, answer, strlen(answer));
  return action_id_finish(run, &h);
}

/* The pending action's id: kept once computed; while a run is replayed from its
 * journal, the id the journal recorded (the input it recorded may be redacted,
 * so hashing it again could give another id). */
static const char *pending_action_id(art_run *run, const char *tool, const json_t *input,
                                     const char *answer) {
  if (run->action_id) return run->action_id;
  const char *recorded = run->replay ? art_replay_action_id(run->replay) : NULL;
  if (recorded) return art_arena_strdup(&run->arena, recorded);
  return tool ? tool_action_id(run, tool, input) : answer_action_id(run, answer);
}

/* The approval given during the run for `action_id` that has not expired, if any. */
static art_granted *granted(const art_run *run, const char *action_id, int64_t now_us) {
  art_granted *g = run->approved.items;
  for (uint32_t i = 0; i < run->approved.len; i++)
    if (g[i].action_id && strcmp(g[i].action_id, action_id) == 0 &&
        (!g[i].expires_at_us || now_us < g[i].expires_at_us))
      return &g[i];
  return NULL;
}

/* approval_required for an approved action becomes allow; the call remembers
 * when its approval expires. */
static void apply_approvals(art_run *run, const char *action_id, art_verdict *v, int64_t now_us) {
  if (v->effect != ART_EFFECT_APPROVAL || !action_id) return;
  const art_granted *g = granted(run, action_id, now_us);
  if (!g && !art_policy_preapproved(run->spec->policy, action_id)) return;
  v->effect = ART_EFFECT_ALLOW;
  v->approved = true;
  run->call_expires_us = g ? g->expires_at_us : 0;
  run->call_rule = v->rule;
}

/* An approval given during the run authorises one execution of a
 * non-idempotent action: using it uses it up. */
static void use_approval(art_run *run, const char *action_id, int64_t now_us) {
  art_granted *g = granted(run, action_id, now_us);
  if (g) g->action_id = NULL;
}

static int pause_for_approval(art_run *run, const char *tool, const char *reason, int64_t now_us) {
  run->pending = PENDING_APPROVAL;
  return stop(run, ART_STOP_APPROVAL_REQUIRED, tool, run->action_id, now_us, reason);
}

static int finish_with_answer(art_run *run, int64_t now_us) {
  run->answer = run->pending_answer;
  run->answer_redacted = run->pending_answer_redacted;
  return stop(run, ART_STOP_SUCCESS, NULL, NULL, now_us, "answered");
}

/* Gate run->pending_answer. */
static int gate_answer(art_run *run, int64_t now_us) {
  art_policy_query q;
  art_verdict v;
  base_query(run, ART_GATE_ANSWER, &q);
  q.has_evidence = run->evidence.len > 0;
  art_policy_eval(run->spec->policy, &q, &v);
  if (v.effect == ART_EFFECT_APPROVAL &&
      !(run->action_id = pending_action_id(run, NULL, NULL, run->pending_answer)))
    return broken(run, ART_ENOMEM);
  apply_approvals(run, run->action_id, &v, now_us);
  int rc = art_run_emit_policy(run, &q, &v, NULL, run->action_id, now_us);
  if (rc < 0) return rc;
  if (v.effect == ART_EFFECT_DENY)
    return stop(run, ART_STOP_POLICY_DENIED, NULL, NULL, now_us, v.reason);
  if (v.effect == ART_EFFECT_APPROVAL) return pause_for_approval(run, NULL, v.reason, now_us);
  return finish_with_answer(run, now_us);
}

static int schedule_call(art_run *run, int64_t now_us) {
  const char *key = NULL;
  if (run->call_tool->side_effect != ART_SIDE_READ &&
      !(key = idempotency_key(run, run->steps, run->action_id)))
    return broken(run, ART_ENOMEM);
  run->call = (art_tool_call){.id = ++run->calls,
                              .step = run->steps,
                              .run_id = run->run_id,
                              .tool = run->call_tool->name,
                              .input = run->call_input,
                              .action_id = run->action_id,
                              .idempotency_key = key};
  if (!run->call_tool->idempotent && run->action_id) use_approval(run, run->action_id, now_us);
  run->phase = PH_CALL;
  return 0;
}

/* Gate the pending call; an allowed call is scheduled, anything else stops the run. */
static int gate_call(art_run *run, int64_t now_us) {
  const art_tool *t = run->call_tool;
  art_policy_query q;
  art_verdict v;
  base_query(run, ART_GATE_TOOL, &q);
  q.tool = t->name;
  q.side_effect = t->side_effect;
  q.input = run->call_input;
  art_policy_eval(run->spec->policy, &q, &v);
  bool needs_id = v.effect == ART_EFFECT_APPROVAL || t->side_effect != ART_SIDE_READ;
  if (needs_id && !(run->action_id = pending_action_id(run, t->name, run->call_input, NULL)))
    return broken(run, ART_ENOMEM);
  run->call_expires_us = 0;
  apply_approvals(run, run->action_id, &v, now_us);
  int rc = art_run_emit_policy(run, &q, &v, t->name, run->action_id, now_us);
  if (rc < 0) return rc;
  if (v.effect == ART_EFFECT_DENY)
    return stop(run, ART_STOP_POLICY_DENIED, t->name, run->action_id, now_us, v.reason);
  if (v.effect == ART_EFFECT_APPROVAL) return pause_for_approval(run, t->name, v.reason, now_us);
  return schedule_call(run, now_us);
}

static void clear_call(art_run *run) {
  json_decref(run->call_input);
  run->call_input = run->call_input_redacted = NULL;
  run->action_id = NULL;
  run->call_tool = NULL;
}

/* `recorded` is the decision's event: its copies are redacted and stable; `t`
 * the registered tool it names (NULL: none). */
static int take_tool_decision(art_run *run, const art_decision *d, const art_tool *t,
                              const art_event *recorded, int64_t now_us) {
  const char *name = recorded->u.decision.tool;
  if (!t) return stopf(run, ART_STOP_REFUSED, name, NULL, now_us, "unknown_tool: %s", name);
  if (!t->enabled)
    return stopf(run, ART_STOP_REFUSED, t->name, NULL, now_us, "tool_disabled: %s", t->name);
  const json_t *input = d->input;
  if (!input) {
    if (!run->empty_input && !(run->empty_input = json_object())) return broken(run, ART_ENOMEM);
    input = run->empty_input;
  }
  char why[ART_ERRMSG_SIZE];
  if (art_tool_check_input(t, input, why, sizeof why) < 0)
    return stopf(run, ART_STOP_INVALID_DECISION, t->name, NULL, now_us, "input_schema: %s", why);
  clear_call(run);
  json_t *redacted = recorded->u.decision.input ? recorded->u.decision.input : run->empty_input;
  run->call_input_redacted = redacted;
  run->call_input = json_incref((json_t *)input);
  run->call_tool = t;
  return gate_call(run, now_us);
}

/* The answer is kept as given (art_run_answer) and as the trace shows it. */
static int take_answer(art_run *run, const art_decision *d, const art_event *recorded,
                       int64_t now_us) {
  run->pending_answer = art_arena_strdup(&run->arena, d->text);
  run->pending_answer_redacted = recorded->u.decision.text;
  if (!run->pending_answer) return broken(run, ART_ENOMEM);
  clear_call(run);
  return gate_answer(run, now_us);
}

int art_run_feed_decision(art_run *run, const art_decision *d, int64_t now_us) {
  if (run->phase != PH_AWAIT_DECISION)
    return art_run_failf(run, ART_ESTATE, "the run is not waiting for a decision");
  run->steps++;
  const art_event *recorded = NULL;
  const art_tool *known = d->tool ? art_registry_find(run->spec->registry, d->tool) : NULL;
  int rc = emit_decision(run, d, known, now_us, &recorded);
  if (rc < 0) return rc;
  char detail[ART_ERRMSG_SIZE];
  if (art_decision_check(d, detail, sizeof detail) < 0)
    return stop(run, ART_STOP_INVALID_DECISION, recorded->u.decision.tool, NULL, now_us, detail);
  switch (d->kind) {
  case ART_DECISION_ANSWER: return take_answer(run, d, recorded, now_us);
  case ART_DECISION_TOOL: return take_tool_decision(run, d, known, recorded, now_us);
  case ART_DECISION_ASK_HUMAN:
    run->pending = PENDING_HUMAN;
    return stop(run, ART_STOP_BLOCKED, NULL, NULL, now_us, "human_required");
  default: /* ART_DECISION_STOP: art_decision_check let nothing else through */
    run->pending = PENDING_HUMAN;
    return stopf(run, ART_STOP_BLOCKED, NULL, NULL, now_us, "model_stopped: %s",
                 recorded->u.decision.text ? recorded->u.decision.text : "");
  }
}

int art_run_feed_model_failure(art_run *run, const char *detail, int64_t now_us) {
  if (run->phase != PH_AWAIT_DECISION)
    return art_run_failf(run, ART_ESTATE, "the run is not waiting for a decision");
  return stop(run, ART_STOP_MODEL_FAILURE, NULL, NULL, now_us,
              detail && detail[0] ? detail : "model_failure");
}

/* The names of the tool calls a reply carried after the first, in the arena. */
static const char *const *keep_names(art_run *run, const char *const *names, size_t n, int *rc) {
  if (!n || *rc < 0) return NULL;
  const char **kept = art_arena_alloc(&run->arena, n * sizeof *kept);
  if (!kept) *rc = ART_ENOMEM;
  for (size_t i = 0; kept && i < n; i++) kept[i] = keep_text(run, names[i] ? names[i] : "", rc);
  return *rc < 0 ? NULL : kept;
}

int art_run_feed_model_call(art_run *run, const art_model_call *call, int64_t now_us) {
  if (run->phase != PH_AWAIT_DECISION)
    return art_run_failf(run, ART_ESTATE, "the run is not waiting for a decision");
  art_event *ev = art_run_event_new(run, ART_EV_MODEL_CALL, now_us);
  int rc = ev ? 0 : ART_ENOMEM;
  const char *outcome = keep_text(run, call->outcome, &rc);
  const char *error = keep_text(run, call->error, &rc);
  const char *malformed = keep_text(run, call->malformed, &rc);
  size_t n_ignored =
      call->n_ignored < ART_MODEL_CALL_MAX_IGNORED ? call->n_ignored : ART_MODEL_CALL_MAX_IGNORED;
  const char *const *ignored = keep_names(run, call->ignored, n_ignored, &rc);
  if (rc < 0) return broken(run, rc);
  ev->latency_us = call->latency_us;
  ev->u.model_call.attempt = call->attempt;
  ev->u.model_call.repair = call->repair;
  ev->u.model_call.status = call->status;
  ev->u.model_call.outcome = outcome;
  ev->u.model_call.error = error;
  ev->u.model_call.malformed = malformed;
  ev->u.model_call.retry_in_ms = call->retry_in_ms;
  ev->u.model_call.usage = call->usage;
  ev->u.model_call.ignored = ignored;
  ev->u.model_call.n_ignored = ignored ? (uint32_t)n_ignored : 0;
  return art_run_event_commit(run, ev);
}

int art_run_feed_tools_failure(art_run *run, const char *detail, int64_t now_us) {
  if (run->phase != PH_AWAIT_DECISION)
    return art_run_failf(run, ART_ESTATE, "the run is not waiting for a decision");
  return stop(run, ART_STOP_TOOL_FAILURE, NULL, NULL, now_us,
              detail && detail[0] ? detail : "tool_failure");
}

/* ---- tool results ------------------------------------------------------------ */

static art_observation *add_observation(art_run *run, art_observation_kind kind) {
  art_observation *o = art_vec_push(&run->arena, &run->observations, sizeof *o);
  if (o) {
    o->n = run->observations.len;
    o->kind = kind;
  }
  return o;
}

static int record_result(art_run *run, const art_tool_result *r, int64_t now_us) {
  art_event *ev = art_run_event_new(run, ART_EV_TOOL_RESULT, now_us);
  int rc = ev ? 0 : ART_ENOMEM;
  /* An ok result's message is what it says in words (an MCP tool's text). */
  const char *message =
      r->status != ART_RESULT_OK || r->message[0] ? keep_text(run, r->message, &rc) : NULL;
  json_t *data = keep_json(run, r->data, &rc);
  art_observation *o = rc == 0 ? add_observation(run, ART_OBS_TOOL) : NULL;
  if (!o) {
    json_decref(data);
    return broken(run, ART_ENOMEM);
  }
  o->status = r->status;
  o->tool = run->call_tool->name;
  o->text = message;
  o->data = json_incref(r->data);
  ev->latency_us = now_us - run->call_at_us;
  ev->u.tool_result.call_id = run->call.id;
  ev->u.tool_result.tool = o->tool;
  ev->u.tool_result.status = r->status;
  ev->u.tool_result.data = data;
  ev->u.tool_result.message = message;
  ev->u.tool_result.observation = o->n;
  return art_run_event_commit(run, ev);
}

int art_run_feed_tool_result(art_run *run, uint32_t call_id, const art_tool_result *result,
                             int64_t now_us) {
  if (run->phase != PH_AWAIT_RESULT)
    return art_run_failf(run, ART_ESTATE, "the run is not waiting for a tool result");
  if (call_id != run->call.id)
    return art_run_failf(run, ART_EINVAL,
                         "tool result for call %" PRIu32 ", expected call %" PRIu32, call_id,
                         run->call.id);
  int rc = record_result(run, result, now_us);
  if (rc < 0) return rc;
  const art_observation *o = art_run_observation(run, run->observations.len - 1);
  const char *tool = run->call_tool->name, *action_id = run->call.action_id;
  switch (result->status) {
  case ART_RESULT_OK: {
    uint32_t *ref = art_vec_push(&run->arena, &run->evidence, sizeof *ref);
    if (!ref) return broken(run, ART_ENOMEM);
    *ref = o->n;
    clear_call(run);
    run->phase = PH_DECIDE;
    return 0;
  }
  case ART_RESULT_REFUSED:
    return stop(run, ART_STOP_REFUSED, tool, action_id, now_us,
                o->text && o->text[0] ? o->text : "tool_refused");
  default:
    return stop(run, ART_STOP_TOOL_FAILURE, tool, action_id, now_us,
                o->text && o->text[0] ? o->text : "tool_error");
  }
}

/* ---- pauses: human input, approvals, cancellation ------------------------------ */

/* A paused run carries on: it is no longer stopped. */
static void unpause(art_run *run, int64_t now_us) {
  run->paused_us += now_us - run->paused_at_us;
  run->stop_reason = ART_STOP_NONE;
  run->stop_detail = NULL;
  run->pending = PENDING_NONE;
}

int art_run_feed_human_input(art_run *run, const char *text, int64_t now_us) {
  if (run->phase != PH_STOPPED || run->pending != PENDING_HUMAN)
    return art_run_failf(run, ART_ESTATE, "the run is not waiting for a human answer");
  if (!text || !text[0]) return art_run_failf(run, ART_EINVAL, "the answer is empty");
  art_event *ev = art_run_event_new(run, ART_EV_HUMAN_INPUT, now_us);
  int rc = ev ? 0 : ART_ENOMEM;
  const char *kept = keep_text(run, text, &rc);
  art_observation *o = rc == 0 ? add_observation(run, ART_OBS_HUMAN) : NULL;
  if (!o) return broken(run, ART_ENOMEM);
  o->text = kept;
  ev->u.human_input.text = kept;
  ev->u.human_input.observation = o->n;
  if ((rc = art_run_event_commit(run, ev)) < 0) return rc;
  unpause(run, now_us);
  run->phase = PH_DECIDE;
  return 0;
}

/* SHA-256 of the pending action's canonical input (or answer text), in hex. */
static const char *pending_input_sha256(art_run *run) {
  art_sha256 h;
  art_sha256_init(&h);
  if (!run->call_tool)
    art_sha256_update(&h, run->pending_answer, strlen(run->pending_answer));
  else if (!hash_canonical(&h, run->call_input))
    return NULL;
  return digest_text(run, &h, "", 32);
}

static int emit_approval(art_run *run, const art_approval *a, int64_t now_us) {
  art_event *ev = art_run_event_new(run, ART_EV_APPROVAL, now_us);
  int rc = ev ? 0 : ART_ENOMEM;
  const char *r = keep_text(run, a->reviewer, &rc);
  const char *why = keep_text(run, a->reason, &rc);
  const char *input_sha256 = rc == 0 ? pending_input_sha256(run) : NULL;
  if (rc == 0 && !input_sha256) rc = ART_ENOMEM;
  if (rc < 0) return broken(run, rc);
  ev->u.approval.tool = run->call_tool ? run->call_tool->name : NULL;
  ev->u.approval.input_sha256 = input_sha256;
  ev->u.approval.requested_at_us = run->paused_at_us;
  ev->u.approval.action_id = run->action_id;
  ev->u.approval.approved = a->approved;
  ev->u.approval.reviewer = r;
  ev->u.approval.reason = why;
  ev->u.approval.expires_at_us = a->expires_at_us;
  return art_run_event_commit(run, ev);
}

/* The approved action goes through the gate again, which now allows it. */
static int approve_pending(art_run *run, int64_t expires_at_us, int64_t now_us) {
  art_granted *g = art_vec_push(&run->arena, &run->approved, sizeof *g);
  if (!g) return broken(run, ART_ENOMEM);
  *g = (art_granted){run->action_id, expires_at_us};
  unpause(run, now_us);
  return run->call_tool ? gate_call(run, now_us) : gate_answer(run, now_us);
}

static int check_approval(art_run *run, const art_approval *a, int64_t now_us) {
  if (run->phase != PH_STOPPED || run->pending != PENDING_APPROVAL)
    return art_run_failf(run, ART_ESTATE, "the run is not waiting for an approval");
  if (!a->action_id || strcmp(a->action_id, run->action_id) != 0)
    return art_run_failf(run, ART_ENOTFOUND, "unknown action %s: the run waits for %s",
                         a->action_id ? a->action_id : "(none)", run->action_id);
  if (!a->reviewer || !a->reviewer[0])
    return art_run_failf(run, ART_EINVAL, "a reviewer is required");
  if (a->approved && run->spec->actor && strcmp(a->reviewer, run->spec->actor) == 0 &&
      !art_policy_allows_self_approval(run->spec->policy))
    return art_run_failf(run, ART_EINVAL,
                         "%s is the run's actor and cannot approve its own actions", a->reviewer);
  if (a->expires_at_us && a->expires_at_us <= now_us)
    return art_run_failf(run, ART_EINVAL, "the approval has expired already");
  return 0;
}

int art_run_feed_approval(art_run *run, const art_approval *a, int64_t now_us) {
  int rc = check_approval(run, a, now_us);
  if (rc == 0) rc = emit_approval(run, a, now_us);
  if (rc < 0) return rc;
  if (a->approved) return approve_pending(run, a->expires_at_us, now_us);
  run->pending = PENDING_NONE;
  const char *tool = run->call_tool ? run->call_tool->name : NULL;
  const art_event *ev = art_run_event(run, run->events.len - 1);
  return stopf(run, ART_STOP_POLICY_DENIED, tool, run->action_id, now_us, "denied by %s%s%s",
               ev->u.approval.reviewer, ev->u.approval.reason ? ": " : "",
               ev->u.approval.reason ? ev->u.approval.reason : "");
}

bool art_run_call_interrupted(const art_run *run) {
  if (run->phase != PH_AWAIT_RESULT) return false;
  const art_event *last = art_run_event(run, run->events.len - 1);
  return last && last->type == ART_EV_TOOL_CALL && last->seq <= run->journaled;
}

int art_run_feed_outcome_unknown(art_run *run, int64_t now_us) {
  if (run->phase != PH_AWAIT_RESULT)
    return art_run_failf(run, ART_ESTATE, "the run is not waiting for a tool result");
  run->pending = PENDING_OPERATOR;
  return stop(run, ART_STOP_BLOCKED, run->call_tool->name, run->call.action_id, now_us,
              "outcome_unknown");
}

static int check_resolution(art_run *run, const art_resolution *r) {
  if (run->phase != PH_STOPPED || run->pending != PENDING_OPERATOR)
    return art_run_failf(run, ART_ESTATE, "the run has no call whose outcome is unknown");
  if (!r->action_id || !run->call.action_id || strcmp(r->action_id, run->call.action_id) != 0)
    return art_run_failf(run, ART_ENOTFOUND, "unknown action %s: the call of unknown outcome is %s",
                         r->action_id ? r->action_id : "(none)", run->call.action_id);
  if (!r->operator_name || !r->operator_name[0])
    return art_run_failf(run, ART_EINVAL, "the operator's name is required");
  if ((unsigned)r->kind > ART_RESOLVE_FAILED)
    return art_run_failf(run, ART_EINVAL, "unknown resolution");
  return 0;
}

static int emit_resolution(art_run *run, const art_resolution *r, int64_t now_us) {
  art_event *ev = art_run_event_new(run, ART_EV_RESOLUTION, now_us);
  int rc = ev ? 0 : ART_ENOMEM;
  const char *op = keep_text(run, r->operator_name, &rc);
  const char *note = keep_text(run, r->note, &rc);
  if (rc < 0) return broken(run, rc);
  ev->u.resolution.action_id = run->call.action_id;
  ev->u.resolution.kind = r->kind;
  ev->u.resolution.operator_name = op;
  ev->u.resolution.note = note;
  return art_run_event_commit(run, ev);
}

/* The operator's finding becomes the call's result, or the call is made again. */
int art_run_resolve(art_run *run, const art_resolution *r, int64_t now_us) {
  int rc = check_resolution(run, r);
  if (rc == 0) rc = emit_resolution(run, r, now_us);
  if (rc < 0) return rc;
  unpause(run, now_us);
  if (r->kind == ART_RESOLVE_RETRY) {
    run->phase = PH_CALL;
    return 0;
  }
  const art_event *ev = art_run_event(run, run->events.len - 1);
  art_tool_result result = {0};
  if (r->kind == ART_RESOLVE_DONE)
    art_tool_result_set(&result, ART_RESULT_OK,
                        json_pack("{s:s, s:s?}", "resolved_by", ev->u.resolution.operator_name,
                                  "note", ev->u.resolution.note),
                        "%s", "");
  else
    art_tool_result_set(&result, ART_RESULT_ERROR, NULL, "failed (resolved by %s%s%s)",
                        ev->u.resolution.operator_name, ev->u.resolution.note ? ": " : "",
                        ev->u.resolution.note ? ev->u.resolution.note : "");
  run->phase = PH_AWAIT_RESULT;
  run->call_at_us = now_us; /* no tool time is known: the result is the operator's word */
  rc = art_run_feed_tool_result(run, run->call.id, &result, now_us);
  art_tool_result_dispose(&result);
  return rc;
}

int64_t art_run_next_deadline(const art_run *run) {
  int64_t budget = run->spec->max_wall_time_us;
  bool working = run->phase != PH_NEW && run->phase != PH_STOPPED && run->phase != PH_BROKEN;
  return budget && working ? run->started_us + run->paused_us + budget : 0;
}

int art_run_feed_time_out(art_run *run, int64_t now_us) {
  if (run->phase != PH_AWAIT_DECISION && run->phase != PH_AWAIT_RESULT)
    return art_run_failf(run, ART_ESTATE, "no decision or call is in flight");
  if (!out_of_time(run, now_us))
    return art_run_failf(run, ART_ESTATE, "the wall-time budget has not run out");
  const char *tool = run->phase == PH_AWAIT_RESULT ? run->call_tool->name : NULL;
  return stop(run, ART_STOP_BUDGET_EXHAUSTED, tool, NULL, now_us, "wall_time");
}

int art_run_cancel(art_run *run, const char *reason, int64_t now_us) {
  if (run->phase == PH_BROKEN || (run->phase == PH_STOPPED && !pausable(run->stop_reason)))
    return art_run_failf(run, ART_ESTATE, "the run has already stopped");
  if (run->phase == PH_NEW) {
    int rc = emit_run_started(run, now_us);
    if (rc < 0) return rc;
  }
  run->pending = PENDING_NONE;
  return stop(run, ART_STOP_CANCELLED, run->call_tool ? run->call_tool->name : NULL, NULL, now_us,
              reason && reason[0] ? reason : "cancelled");
}

/* ---- accessors ------------------------------------------------------------------ */

const char *art_run_id(const art_run *run) { return run->run_id; }
art_stop_reason art_run_stop_reason(const art_run *run) { return run->stop_reason; }
const char *art_run_stop_detail(const art_run *run) { return run->stop_detail; }
const char *art_run_answer(const art_run *run) { return run->answer; }
uint32_t art_run_steps(const art_run *run) { return run->steps; }
size_t art_run_event_count(const art_run *run) { return run->events.len; }
const art_event *art_run_event(const art_run *run, size_t i) {
  return i < run->events.len ? ((art_event *const *)run->events.items)[i] : NULL;
}
size_t art_run_observation_count(const art_run *run) { return run->observations.len; }
const art_observation *art_run_observation(const art_run *run, size_t i) {
  return i < run->observations.len ? (const art_observation *)run->observations.items + i : NULL;
}
const art_spec *art_run_spec(const art_run *run) { return run->spec; }
art_run_usage art_run_totals(const art_run *run) { return run->totals; }
