/* POST /v1/runs/{id}/approve|deny|answer|resolve|cancel: what people decide,
 * by the rules `agentrt approve` and the others follow (art_durable_decide),
 * as the token: its name is the reviewer or operator recorded, whatever the
 * body says. */
#include "serve/service.h"

#include <string.h>

static const char *const verbs[] = {"approve", "deny", "answer", "resolve", "cancel"};

/* Whether the token may decide so about run r.  An answer to a run blocked on
 * a call whose outcome is unknown says what the call did: an operator's. */
static bool allowed(const serve_token *t, art_decide_kind kind, const art_run_record *r) {
  switch (kind) {
  case ART_DECIDE_APPROVE:
  case ART_DECIDE_DENY: return serve_may(t, SERVE_APPROVE);
  case ART_DECIDE_ANSWER:
    return r->detail && strcmp(r->detail, "outcome_unknown") == 0 ? serve_may(t, SERVE_RESOLVE)
                                                                  : serve_may(t, SERVE_ANSWER);
  case ART_DECIDE_RESOLVE: return serve_may(t, SERVE_RESOLVE);
  case ART_DECIDE_CANCEL: return serve_submitted(t, r) || serve_may(t, SERVE_CANCEL_ANY);
  }
  return false;
}

/* A string member of the body: 0, or -1 having replied 400. */
static int text_member(http_request *req, const json_t *body, const char *key, bool required,
                       const char **out) {
  const json_t *v = json_object_get(body, key);
  *out = json_string_value(v);
  if ((v && !json_is_string(v)) || (required && !*out))
    return serve_refuse(req, 400, "bad_request", "$.%s: a string%s", key,
                        required ? " is required" : "");
  return 0;
}

/* The request from the body: {"action_id", "reason", "expires_in_s"}
 * (approve, deny), {"text"} (answer), {"action_id", "outcome", "note"}
 * (resolve), {"reason"} (cancel).  Other members, a "reviewer" among them,
 * are not read.  0, or -1 having replied 400. */
static int read_request(http_request *req, const json_t *body, art_decide_request *d) {
  const char *outcome;
  const json_t *expires = json_object_get(body, "expires_in_s");
  switch (d->kind) {
  case ART_DECIDE_APPROVE:
  case ART_DECIDE_DENY:
    if (text_member(req, body, "action_id", true, &d->action_id) < 0 ||
        text_member(req, body, "reason", d->kind == ART_DECIDE_DENY, &d->text) < 0)
      return -1;
    if (expires && (!json_is_integer(expires) || json_integer_value(expires) < 1))
      return serve_refuse(req, 400, "bad_request",
                          "$.expires_in_s: a number of seconds, 1 or more");
    if (expires) d->expires_at_us = art_now_us() + json_integer_value(expires) * 1000000;
    return 0;
  case ART_DECIDE_ANSWER: return text_member(req, body, "text", true, &d->text);
  case ART_DECIDE_RESOLVE:
    if (text_member(req, body, "action_id", true, &d->action_id) < 0 ||
        text_member(req, body, "outcome", true, &outcome) < 0 ||
        text_member(req, body, "note", false, &d->text) < 0)
      return -1;
    if (art_resolve_kind_parse(outcome, &d->outcome) < 0)
      return serve_refuse(req, 400, "bad_request", "$.outcome: done, retry or failed");
    return 0;
  case ART_DECIDE_CANCEL: return text_member(req, body, "reason", false, &d->text);
  }
  return -1;
}

/* Why a decision failed, as a status: the run refused it (409 not now, 404
 * not the action it waits for, 403 the runtime's rules: self-approval), or
 * the store failed. */
static void failed(http_request *req, const art_decide_result *r, const art_error *err) {
  if (r->failed_at == ART_DECIDE_AT_HOLD && err->code == ART_ESTATE)
    return serve_error(req, 409, "state", "%s", err->message);
  if (r->failed_at != ART_DECIDE_AT_FEED) return serve_store_error(req, err);
  switch (err->code) {
  case ART_ESTATE: return serve_error(req, 409, "state", "%s", err->message);
  case ART_ENOTFOUND: return serve_error(req, 404, "not_found", "%s", err->message);
  case ART_EINVAL: return serve_error(req, 403, "refused", "%s", err->message);
  default: return serve_store_error(req, err);
  }
}

void serve_decide(serve_call *c, http_request *req) {
  art_run_record r;
  art_decide_request d = {.kind = (art_decide_kind)c->arg, .run_id = c->run_id};
  art_decide_result result;
  art_error err = {0};
  if (serve_visible_run(c, req, &r) < 0) return;
  bool may = allowed(c->token, d.kind, &r);
  art_run_record_dispose(&r);
  if (!may)
    return serve_error(req, 403, "forbidden", "a %s token cannot %s this run",
                       serve_role_name(c->token->role), verbs[d.kind]);
  json_t *body = serve_body_object(req, true);
  if (!body) return;
  d.by = c->token->name;
  if (read_request(req, body, &d) == 0) {
    if (art_durable_decide(c->srv->store, c->srv->opts.store_name, c->srv->holder, 0, &d, &result,
                           &err) < 0) {
      failed(req, &result, &err);
    } else {
      serve_runs_ready(c->srv); /* a decided run goes on */
      serve_json(req, 200,
                 json_pack("{s:s, s:s?, s:s, s:s, s:s?}", "run_id", c->run_id, "action_id",
                           result.action_id[0] ? result.action_id : NULL, "decision",
                           result.decision, "status", art_run_status_name(result.status),
                           "stop_reason",
                           result.stop_reason == ART_STOP_NONE
                               ? NULL
                               : art_stop_reason_name(result.stop_reason)));
    }
  }
  json_decref(body);
}
