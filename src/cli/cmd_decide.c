/* What people do to a paused run: approve or deny its pending action, answer
 * its question, cancel it (the rules are the library's: art_durable_decide),
 * and `agentrt resume`, which drives a run on from where its journal stops. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char approve_usage[] =
    "usage: agentrt approve RUN ACTION --reviewer NAME [--reason R] [--expires AGE]\n"
    "                       [--store PATH] [--json]\n"
    "\n"
    "Approve the action a paused run waits for (the ACTION id it printed).  The\n"
    "approval binds to that exact action: another tool or another input is another\n"
    "action.  The run's own actor cannot approve (unless the policy says\n"
    "\"allow_self_approval\": true).  With --expires (e.g. 1h), an action that has\n"
    "not run by then waits for approval again.  Then: agentrt resume RUN.\n";
static const char deny_usage[] =
    "usage: agentrt deny RUN ACTION --reviewer NAME --reason R [--store PATH] [--json]\n"
    "\n"
    "Deny the action a paused run waits for: the run stops policy_denied.\n";
static const char answer_usage[] =
    "usage: agentrt answer RUN TEXT [--store PATH] [--json]\n"
    "\n"
    "Answer the question of a run blocked on ask_human.  For a run blocked with\n"
    "outcome_unknown, TEXT says what the call did: it is recorded as the call's\n"
    "result (agentrt resolve --outcome done --reason TEXT).  Then: agentrt resume RUN.\n";
static const char resolve_usage[] =
    "usage: agentrt resolve RUN ACTION --outcome done|retry|failed --reviewer NAME\n"
    "                       [--reason NOTE] [--store PATH] [--json]\n"
    "\n"
    "Say what became of the call a run stopped on with outcome_unknown (the process\n"
    "running it died before its result was recorded; agentrt never repeats such a\n"
    "call by itself).  Check the system the tool acts on, then:\n"
    "  done    it acted: recorded as its result (with NOTE), the run goes on\n"
    "  retry   it did not act: it runs again, with the same AGENTRT_IDEMPOTENCY_KEY\n"
    "  failed  it failed: the run stops tool_failure\n"
    "--reviewer names who resolved it.  Then: agentrt resume RUN.\n";
static const char cancel_usage[] =
    "usage: agentrt cancel RUN [--reason R] [--store PATH] [--json]\n"
    "\n"
    "Stop a run that has not finished: it ends cancelled.  A paused or interrupted\n"
    "run is cancelled at once.  A run another process is driving is asked to stop:\n"
    "that process cancels it at its next step boundary, or within 100 ms while a\n"
    "command tool runs (the tool's process group is killed).\n";

/* What a command does to the run it holds (*lease). */
typedef int (*drive_fn)(const cli_opts *o, art_durable *d, art_lease *lease);

/* Open the store, hold the run, rebuild it, let `fn` drive it, keep the result. */
static int with_run(const cli_opts *o, drive_fn fn) {
  art_store *store;
  art_lease lease;
  art_durable d;
  int rc = cli_store_open(o, &store);
  if (rc != 0) return rc;
  const char *run_id = o->args[0];
  if ((rc = cli_claim(store, run_id, &lease)) == 0) {
    if ((rc = cli_rebuild(store, o->store, run_id, &lease, &d)) == 0) {
      rc = fn(o, &d, &lease);
      int kept = cli_record_status(&lease, d.run);
      if (rc == 0) rc = kept;
      art_durable_dispose(&d);
    } else {
      art_error ignored = {0};
      art_lease_release(&lease, &ignored);
    }
  }
  art_store_close(store);
  return rc;
}

/* Whether a feed failed because the store did not take its event. */
static bool unrecorded(int rc) {
  return rc == ART_ENOMEM || rc == ART_EIO || rc == ART_EBUSY || rc == ART_EFENCED;
}

/* What went wrong, by where it did: the run refusing the decision is exit 1
 * (2 when the store did not take it), anything else exit 2. */
static int failed(art_store *store, const art_decide_request *req, const art_decide_result *r,
                  const art_error *err) {
  switch (r->failed_at) {
  case ART_DECIDE_AT_HOLD:
    if (err->code != ART_ESTATE) return cli_store_error(err);
    if (req->kind == ART_DECIDE_CANCEL) /* the run has ended */
      return cli_error(EXIT_STOPPED, CLI_ERR_STATE, "%s", err->message);
    return cli_held_elsewhere(store, req->run_id);
  case ART_DECIDE_AT_OPEN:
    if (err->code == ART_ESPEC) return cli_error(EXIT_USAGE, CLI_ERR_SPEC, "%s", err->message);
    return cli_store_error(err);
  case ART_DECIDE_AT_FEED:
    return cli_error(unrecorded(err->code) ? EXIT_USAGE : EXIT_STOPPED, cli_err_of(err->code), "%s",
                     err->message);
  case ART_DECIDE_AT_RECORD: return cli_store_error(err);
  }
  return cli_store_error(err);
}

/* "; continue with: agentrt resume RUN [--store PATH]" */
static void continue_with(char *buf, size_t size, const cli_opts *o, const char *run_id) {
  char flag[300];
  cli_store_flag(flag, sizeof flag, o->store);
  snprintf(buf, size, "; continue with: agentrt resume %s%s", run_id, flag);
}

/* The line that says what was decided, for people. */
static void decided_line(char *line, size_t size, const cli_opts *o, const char *run_id,
                         const art_decide_result *r) {
  char next[400] = "";
  const char *d = r->decision;
  bool goes_on = strcmp(d, "approved") == 0 || strcmp(d, "answered") == 0 ||
                 (strcmp(d, "resolved") == 0 && r->status == ART_RUN_READY);
  if (goes_on) continue_with(next, sizeof next, o, run_id);
  if (strcmp(d, "approved") == 0 || strcmp(d, "denied") == 0)
    snprintf(line, size, "%s %s for run %s%s", d, r->action_id, run_id, next);
  else if (strcmp(d, "resolved") == 0)
    snprintf(line, size, "resolved %s of run %s: %s%s", r->action_id, run_id,
             art_resolve_kind_name(r->outcome), next);
  else if (strcmp(d, "answered") == 0)
    snprintf(line, size, "answered run %s%s", run_id, next);
  else if (strcmp(d, "cancelled") == 0)
    snprintf(line, size, "cancelled run %s", run_id);
  else
    snprintf(line, size,
             "cancel requested: run %s is being driven by another process, which stops it "
             "cancelled at its next step boundary",
             run_id);
}

/* What was decided: a line for people; with --json {"run_id", "action_id",
 * "decision", "status", "stop_reason"}, where the run now stands. */
static int said(const cli_opts *o, const char *run_id, const art_decide_result *r) {
  char line[700];
  if (!o->json) {
    decided_line(line, sizeof line, o, run_id, r);
    return printf("%s\n", line) < 0 ? EXIT_USAGE : 0;
  }
  const char *stop = r->stop_reason == ART_STOP_NONE ? NULL : art_stop_reason_name(r->stop_reason);
  json_t *j = json_pack("{s:s, s:s?, s:s, s:s, s:s?}", "run_id", run_id, "action_id",
                        r->action_id[0] ? r->action_id : NULL, "decision", r->decision, "status",
                        art_run_status_name(r->status), "stop_reason", stop);
  int rc = cli_print_json(j);
  json_decref(j);
  return rc;
}

/* Decide as `req` says (its run id the command's first argument). */
static int decide(const cli_opts *o, art_decide_request *req) {
  art_store *store;
  art_decide_result result;
  art_error err = {0};
  char owner[ART_HOLDER_SIZE];
  int rc = cli_store_open(o, &store);
  if (rc != 0) return rc;
  req->run_id = o->args[0];
  art_holder_name(owner, sizeof owner, NULL);
  if (art_durable_decide(store, o->store, owner, cli_lease_ttl(), req, &result, &err) < 0)
    rc = failed(store, req, &result, &err);
  else
    rc = said(o, req->run_id, &result);
  art_store_close(store);
  return rc;
}

static int approve_or_deny(const cli_opts *o, bool approved) {
  int64_t expires = 0;
  if (o->expires && (expires = cli_parse_age(o->expires)) <= 0)
    return cli_error(EXIT_USAGE, CLI_ERR_USAGE,
                     "--expires needs a positive age such as 1h, 30m or 2d, not \"%s\" (leave it "
                     "out for an approval that does not expire)",
                     o->expires);
  art_decide_request req = {.kind = approved ? ART_DECIDE_APPROVE : ART_DECIDE_DENY,
                            .action_id = o->args[1],
                            .by = o->reviewer,
                            .text = o->reason,
                            .expires_at_us = expires ? art_now_us() + expires : 0};
  return decide(o, &req);
}

static int approve(const cli_opts *o) { return approve_or_deny(o, true); }
static int deny(const cli_opts *o) { return approve_or_deny(o, false); }

static int resolve(const cli_opts *o) {
  art_decide_request req = {
      .kind = ART_DECIDE_RESOLVE, .action_id = o->args[1], .by = o->reviewer, .text = o->reason};
  if (!o->outcome) return cli_usage_error(resolve_usage, "--outcome is required");
  if (art_resolve_kind_parse(o->outcome, &req.outcome) < 0)
    return cli_error(EXIT_USAGE, CLI_ERR_USAGE, "--outcome is done, retry or failed, not \"%s\"",
                     o->outcome);
  return decide(o, &req);
}

static int answer(const cli_opts *o) {
  art_decide_request req = {.kind = ART_DECIDE_ANSWER, .text = o->args[1]};
  return decide(o, &req);
}

static int cancel(const cli_opts *o) {
  art_decide_request req = {.kind = ART_DECIDE_CANCEL, .text = o->reason};
  return decide(o, &req);
}

static int command(int argc, char **argv, unsigned flags, int args, const char *usage,
                   bool needs_reviewer, bool needs_reason, int (*fn)(const cli_opts *)) {
  cli_opts o;
  int rc = cli_parse(argc, argv, flags | OPT_STORE, args, usage, &o);
  if (rc != 0 || o.help) return rc;
  if ((needs_reviewer && !o.reviewer) || (needs_reason && !o.reason))
    return cli_usage_error(usage, "%s is required",
                           needs_reviewer && !o.reviewer ? "--reviewer" : "--reason");
  return fn(&o);
}

int cmd_approve(int argc, char **argv) {
  return command(argc, argv, OPT_REVIEWER | OPT_REASON | OPT_EXPIRES, 2, approve_usage, true, false,
                 approve);
}
int cmd_deny(int argc, char **argv) {
  return command(argc, argv, OPT_REVIEWER | OPT_REASON, 2, deny_usage, true, true, deny);
}
int cmd_answer(int argc, char **argv) {
  return command(argc, argv, 0, 2, answer_usage, false, false, answer);
}
int cmd_resolve(int argc, char **argv) {
  return command(argc, argv, OPT_OUTCOME | OPT_REVIEWER | OPT_REASON, 2, resolve_usage, true, false,
                 resolve);
}
int cmd_cancel(int argc, char **argv) {
  return command(argc, argv, OPT_REASON, 1, cancel_usage, false, false, cancel);
}

/* ---- resume ----------------------------------------------------------------- */

static const char resume_usage[] =
    "usage: agentrt resume RUN [--store PATH] [--json]\n"
    "       agentrt resume --all [--store PATH] [--json]\n"
    "\n"
    "Continue a run from where its journal stops: after an approval, a denial or\n"
    "an answer, or after the process driving it died (once its lease has run out:\n"
    "60 s, or AGENTRT_LEASE_MS of that process).  A call that was handed out but\n"
    "has no recorded result runs again only if its tool is idempotent (with the\n"
    "same action id); otherwise the run stops blocked with detail outcome_unknown,\n"
    "for an operator, and nothing is repeated.  --all resumes every run that is\n"
    "ready: approved or answered since it paused, or interrupted.\n";

static int resume(const cli_opts *o, art_durable *d, art_lease *lease) {
  if (art_durable_status_of(d->run) != ART_RUN_READY)
    return cli_error(art_durable_status_of(d->run) == ART_RUN_PAUSED ? EXIT_PAUSED : EXIT_STOPPED,
                     CLI_ERR_STATE, "run %s is %s (%s): nothing to resume", art_run_id(d->run),
                     art_run_status_name(art_durable_status_of(d->run)),
                     art_run_stop_detail(d->run));
  art_error err = {0};
  cli_signals_catch();
  int rc = art_durable_continue(d, lease, cli_signal_hooks(), &err);
  if (rc < 0 && d->mcp_failure[0] && rc != ART_EINTR)
    return cli_error(EXIT_USAGE, CLI_ERR_TOOLS, "%s", err.message);
  if (rc < 0) return cli_drive_failed(d->run, rc, &err, o->store);
  rc = cli_report(d->run, o, NULL, o->store, NULL, NULL);
  return rc ? rc : cli_exit_code(art_run_stop_reason(d->run));
}

static int resume_one(const cli_opts *o) { return with_run(o, resume); }

/* Every run that is ready: decided since it paused, or interrupted (its
 * driver let go, or died).  With --json, one array: what resume prints for
 * each run (its result, or its error). */
static int resume_all(cli_opts *o) {
  art_store *store = NULL;
  art_run_record *runs = NULL;
  size_t n = 0, resumed = 0;
  art_error err = {0};
  int rc = cli_store_open(o, &store), worst = 0;
  if (rc == 0 && store->vt->list_runs(store, -1, &runs, &n, &err) < 0) rc = cli_store_error(&err);
  art_store_close(store);
  json_t *each = rc == 0 && o->json ? json_array() : NULL;
  if (rc == 0 && o->json && !each) rc = cli_error(EXIT_USAGE, CLI_ERR_INTERNAL, "out of memory");
  cli_capture_json(each);
  int64_t now = art_now_us();
  for (size_t i = 0; rc == 0 && i < n && !cli_signal_caught(); i++) {
    if (art_durable_status_now(&runs[i], now) != ART_RUN_READY) continue;
    o->args[0] = runs[i].run_id;
    int one = with_run(o, resume);
    if (one == EXIT_USAGE || (one > worst && worst != EXIT_USAGE)) worst = one;
    resumed++;
  }
  cli_capture_json(NULL);
  if (each && rc == 0) rc = cli_print_json(each);
  if (rc == 0 && resumed == 0 && !o->json) printf("no run to resume\n");
  json_decref(each);
  art_run_records_free(runs, n);
  return rc ? rc : worst;
}

int cmd_resume(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--all") != 0) continue;
    cli_opts o;
    int rc = cli_parse(argc, argv, OPT_ALL | OPT_STORE, 0, resume_usage, &o);
    return rc != 0 || o.help ? rc : resume_all(&o);
  }
  return command(argc, argv, 0, 1, resume_usage, false, false, resume_one);
}
