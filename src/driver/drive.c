/* The blocking driver: asks the run for its next action, performs it (the
 * model decides, the registry's tool is called) and feeds the outcome back,
 * reading the clock once per outside action, until the run waits or is done. */
#include "agentrt/run.h"

#include "core/run_internal.h"
#include "core/version.h"

static int let_go(art_run *run) {
  return art_run_fail(run, ART_EINTR, "the driver let go of the run");
}

/* The requests the model made, each at the time it ended. */
static int feed_calls(art_run *run, const art_model *model, int64_t now) {
  size_t n;
  const art_model_call *calls = art_model_calls(model, &n);
  for (size_t i = 0; i < n; i++) {
    int rc = art_run_feed_model_call(run, &calls[i], calls[i].ended_us ? calls[i].ended_us : now);
    if (rc < 0) return rc;
  }
  return 0;
}

/* What a call in flight asks while it waits: whether to give up, and why.  The
 * hooks are asked at most every ASK_EVERY_US (a model's HTTP transfer asks
 * as often as data comes); the wall-time budget at every question. */
typedef struct interrupt_state {
  const art_drive_hooks *hooks; /* may be NULL */
  int64_t deadline_us;          /* the wall-time budget's end; 0: none */
  int64_t asked_us;             /* when the hooks were last asked */
  const char *reason;           /* a cancel asked for: the first reason given is kept */
  bool let_go, timed_out;
} interrupt_state;

#define ASK_EVERY_US 50000

static bool interrupt_requested(void *ud) {
  interrupt_state *st = ud;
  const art_drive_hooks *h = st->hooks;
  int64_t now = art_now_us();
  if (st->deadline_us && now >= st->deadline_us) st->timed_out = true;
  if (h && now - st->asked_us >= ASK_EVERY_US) {
    st->asked_us = now;
    if (!st->let_go && h->let_go) st->let_go = h->let_go(h->ud);
    if (!st->reason && h->cancel_reason) st->reason = h->cancel_reason(h->ud);
  }
  return st->let_go || st->reason || st->timed_out;
}

static void tell_child_group(void *ud, long pgid) {
  const art_drive_hooks *h = ((interrupt_state *)ud)->hooks;
  if (h && h->child_group) h->child_group(h->ud, pgid);
}

/* The interrupt a call gets: none when nothing could ask for one. */
static const art_interrupt *interrupt_for(art_run *run, const art_drive_hooks *hooks,
                                          interrupt_state *st, art_interrupt *it) {
  *st = (interrupt_state){hooks, art_run_next_deadline(run), 0, NULL, false, false};
  *it = (art_interrupt){interrupt_requested, st, tell_child_group};
  return hooks || st->deadline_us ? it : NULL;
}

/* A call gave up before it ended: the driver lets go of the run, or it
 * stops cancelled, or out of time.  Nothing is recorded for the call. */
static int gave_up(art_run *run, const interrupt_state *st, int64_t now) {
  if (st->let_go) return let_go(run);
  if (st->reason) return art_run_cancel(run, st->reason, now);
  return art_run_feed_time_out(run, now);
}

static bool stopping(const interrupt_state *st) {
  return st->let_go || st->reason || st->timed_out;
}

static int decide_with(art_run *run, const art_action *act, art_model *model,
                       const art_drive_hooks *hooks, int64_t *now) {
  art_decision d;
  art_error err = {0};
  interrupt_state st;
  art_interrupt it;
  const art_interrupt *interrupt = interrupt_for(run, hooks, &st, &it);
  int rc = art_model_decide_until(model, act->context, interrupt, &d, &err);
  *now = art_now_us();
  if (rc == ART_ENOMEM) return art_run_fail(run, rc, "out of memory in the model");
  int fed = feed_calls(run, model, *now);
  if (fed < 0) return fed;
  if (rc < 0 && stopping(&st)) return gave_up(run, &st, *now);
  if (rc < 0) return art_run_feed_model_failure(run, err.message, *now);
  return art_run_feed_decision(run, &d, *now);
}

/* A call that gave up because it was asked to (see gave_up) has no result to
 * record.  One that finished has its result recorded, whatever was asked
 * meanwhile (the next step boundary sees a cancel). */
static int call_with(art_run *run, const art_action *act, const art_drive_hooks *hooks,
                     int64_t *now) {
  art_tool_result result = {0};
  interrupt_state st;
  art_interrupt it;
  art_tool_call call = *act->call;
  call.interrupt = interrupt_for(run, hooks, &st, &it);
  art_tool_invoke(act->tool, &call, &result);
  *now = art_now_us();
  int rc = stopping(&st) && result.status == ART_RESULT_ERROR
               ? gave_up(run, &st, *now)
               : art_run_feed_tool_result(run, act->call->id, &result, *now);
  art_tool_result_dispose(&result);
  return rc;
}

/* Sinks that hold events back are synced before what follows them. */
static int sync_owed(art_run *run) { return art_run_owes_sync(run) ? art_run_sync(run) : 0; }

static int drive_steps(art_run *run, art_model *model, const art_drive_hooks *hooks) {
  /* One clock read per outside action: the time an outcome is fed is also the
   * time the next action is handed out. */
  int64_t now = art_now_us();
  bool boundary = true; /* a step begins: the start, or after a tool result */
  for (;;) {
    if (hooks && hooks->let_go && hooks->let_go(hooks->ud)) return let_go(run);
    bool ask =
        boundary && hooks && hooks->cancel_reason && art_run_stop_reason(run) == ART_STOP_NONE;
    const char *cancel = ask ? hooks->cancel_reason(hooks->ud) : NULL;
    if (cancel) return art_run_cancel(run, cancel, now);
    const art_action *act = NULL;
    int rc = art_run_next(run, now, &act);
    if (rc < 0) return rc;
    if (act->kind == ART_ACT_WAIT || act->kind == ART_ACT_DONE) return 0;
    if ((rc = sync_owed(run)) < 0) return rc;
    boundary = act->kind == ART_ACT_CALL_TOOL;
    rc = boundary ? call_with(run, act, hooks, &now) : decide_with(run, act, model, hooks, &now);
    if (rc < 0) return rc;
  }
}

int art_run_drive(art_run *run, art_model *model, const art_drive_hooks *hooks) {
  art_error why = {0};
  if (art_version_check("model", model->vt->version, ART_MODEL_VERSION, &why) < 0)
    return art_run_fail(run, ART_EINVAL, why.message);
  int rc = drive_steps(run, model, hooks);
  int synced = sync_owed(run);
  return rc < 0 ? rc : synced;
}

int art_run_until_stop(art_run *run, art_model *model) { return art_run_drive(run, model, NULL); }
