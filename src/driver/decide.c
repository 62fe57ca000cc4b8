/* What people decide about a run kept in a store (durable.h): approve or deny
 * its pending action, answer its question, resolve a call whose outcome is
 * unknown, cancel it.  The CLI and the service both come here, so a decision
 * follows one set of rules whoever asks. */
#include "agentrt/durable.h"

#include <stdio.h>
#include <string.h>

static const art_event *last_event(const art_run *run) {
  size_t n = art_run_event_count(run);
  return n ? art_run_event(run, n - 1) : NULL;
}

/* The run stopped blocked on a call nobody knows the outcome of: the action
 * an operator must resolve, else NULL. */
static const char *unknown_outcome_action(const art_run *run) {
  const art_event *stop = last_event(run);
  bool unknown = art_run_stop_reason(run) == ART_STOP_BLOCKED && stop &&
                 stop->type == ART_EV_STOP &&
                 strcmp(art_run_stop_detail(run), "outcome_unknown") == 0;
  return unknown ? stop->u.stop.action_id : NULL;
}

/* The last decision of the run: what a run blocked on ask_human asked. */
static const art_event *last_decision(const art_run *run) {
  for (size_t i = art_run_event_count(run); i-- > 0;)
    if (art_run_event(run, i)->type == ART_EV_DECISION) return art_run_event(run, i);
  return NULL;
}

json_t *art_durable_pending_json(const art_run *run) {
  const art_event *stop = last_event(run);
  if (art_durable_status_of(run) != ART_RUN_PAUSED || !stop || stop->type != ART_EV_STOP)
    return json_null();
  const art_event *decision = last_decision(run);
  const json_t *input = decision ? decision->u.decision.input : NULL;
  bool asked = decision && decision->u.decision.kind == ART_DECISION_ASK_HUMAN;
  const char *kind = stop->u.stop.reason == ART_STOP_APPROVAL_REQUIRED ? "approval"
                     : unknown_outcome_action(run)                     ? "outcome_unknown"
                                                                       : "human";
  return json_pack("{s:s?, s:s, s:s?, s:O?, s:s?}", "action_id", stop->u.stop.action_id, "kind",
                   kind, "tool", stop->u.stop.tool, "input", stop->u.stop.tool ? input : NULL,
                   "question",
                   strcmp(kind, "human") == 0 && asked ? decision->u.decision.text : NULL);
}

static int resolve(art_run *run, const art_resolution *r, art_decide_result *out, int64_t now) {
  out->decision = "resolved";
  out->outcome = r->kind;
  snprintf(out->action_id, sizeof out->action_id, "%s", r->action_id ? r->action_id : "");
  return art_run_resolve(run, r, now);
}

/* The decision, fed to the rebuilt run, which checks it. */
static int feed(art_run *run, const art_decide_request *req, art_decide_result *out, int64_t now) {
  switch (req->kind) {
  case ART_DECIDE_APPROVE:
  case ART_DECIDE_DENY: {
    bool approved = req->kind == ART_DECIDE_APPROVE;
    art_approval a = {req->action_id, approved, req->by, req->text, req->expires_at_us};
    out->decision = approved ? "approved" : "denied";
    snprintf(out->action_id, sizeof out->action_id, "%s", req->action_id ? req->action_id : "");
    return art_run_feed_approval(run, &a, now);
  }
  case ART_DECIDE_ANSWER: {
    const char *unknown = unknown_outcome_action(run);
    if (unknown) {
      art_resolution r = {unknown, ART_RESOLVE_DONE, req->by ? req->by : "operator", req->text};
      return resolve(run, &r, out, now);
    }
    out->decision = "answered";
    return art_run_feed_human_input(run, req->text, now);
  }
  case ART_DECIDE_RESOLVE: {
    art_resolution r = {req->action_id, req->outcome, req->by, req->text};
    return resolve(run, &r, out, now);
  }
  case ART_DECIDE_CANCEL: out->decision = "cancelled"; return art_run_cancel(run, req->text, now);
  }
  return ART_EINVAL;
}

/* A run another holder drives is asked to stop: it does at its next step. */
static int ask_to_cancel(art_store *store, const art_decide_request *req, art_decide_result *out,
                         art_error *err) {
  out->decision = "cancel_requested";
  out->status = ART_RUN_RUNNING;
  return store->vt->request_cancel(store, req->run_id, req->text, err);
}

int art_durable_decide(art_store *store, const char *store_name, const char *owner, int64_t ttl_us,
                       const art_decide_request *req, art_decide_result *out, art_error *err) {
  art_lease lease;
  art_durable d;
  art_error ignored = {0}, recorded = {0};
  *out = (art_decide_result){.failed_at = ART_DECIDE_AT_HOLD};
  int rc = art_lease_claim(&lease, store, req->run_id, owner, art_now_us(), ttl_us, err);
  if (rc == ART_ESTATE && req->kind == ART_DECIDE_CANCEL)
    return ask_to_cancel(store, req, out, err);
  if (rc < 0) return rc;
  out->failed_at = ART_DECIDE_AT_OPEN;
  if ((rc = art_durable_open(&d, store, req->run_id, &lease, store_name, false, err)) < 0) {
    art_lease_release(&lease, &ignored);
    return rc;
  }
  out->failed_at = ART_DECIDE_AT_FEED;
  rc = feed(d.run, req, out, art_now_us());
  if (rc < 0) art_error_set(err, rc, "run %s: %s", req->run_id, art_run_errmsg(d.run));
  /* Whatever the run said, where it stands is recorded and it is let go. */
  int kept = art_durable_settle(&lease, d.run, &recorded);
  if (rc == 0 && kept < 0) {
    out->failed_at = ART_DECIDE_AT_RECORD;
    *err = recorded;
    rc = kept;
  }
  out->status = art_durable_status_of(d.run);
  out->stop_reason = art_run_stop_reason(d.run);
  art_durable_dispose(&d);
  return rc;
}
