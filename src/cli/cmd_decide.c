/* What people do to a paused run: approve or deny its pending action, answer
 * its question, cancel it.  Each rebuilds the run from its journal, records
 * the decision as an event, and leaves the run for `agentrt resume`. */
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
typedef int (*decide_fn)(const cli_opts *o, art_durable *d, art_lease *lease);

/* Open the store, hold the run, rebuild it, let `fn` decide, keep the result. */
static int with_run(const cli_opts *o, decide_fn fn) {
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

/* The run did not take it (rc from art_run_feed_*): exit 1, or 2 when it could
 * not be recorded. */
static int refused(const art_durable *d, int rc) {
  return cli_error(unrecorded(rc) ? EXIT_USAGE : EXIT_STOPPED, cli_err_of(rc), "run %s: %s",
                   art_run_id(d->run), art_run_errmsg(d->run));
}

/* What was decided: `line` for people; with --json {"run_id", "action_id",
 * "decision", "status", "stop_reason"}, where the run now stands. */
static int said(const cli_opts *o, const char *run_id, const char *action_id, const char *decision,
                art_run_status status, const char *stop_reason, const char *line) {
  if (!o->json) return printf("%s\n", line) < 0 ? EXIT_USAGE : 0;
  json_t *j =
      json_pack("{s:s, s:s?, s:s, s:s, s:s?}", "run_id", run_id, "action_id", action_id, "decision",
                decision, "status", art_run_status_name(status), "stop_reason", stop_reason);
  int rc = cli_print_json(j);
  json_decref(j);
  return rc;
}

static int decided(const cli_opts *o, const art_run *run, const char *action_id,
                   const char *decision, const char *line) {
  art_stop_reason r = art_run_stop_reason(run);
  return said(o, art_run_id(run), action_id, decision, art_durable_status_of(run),
              r == ART_STOP_NONE ? NULL : art_stop_reason_name(r), line);
}

/* "; continue with: agentrt resume RUN [--store PATH]" */
static void continue_with(char *buf, size_t size, const cli_opts *o, const art_run *run) {
  char flag[300];
  cli_store_flag(flag, sizeof flag, o->store);
  snprintf(buf, size, "; continue with: agentrt resume %s%s", art_run_id(run), flag);
}

static int decide(const cli_opts *o, art_durable *d, bool approved) {
  int64_t now = art_now_us(), expires = 0;
  if (o->expires && (expires = cli_parse_age(o->expires)) <= 0)
    return cli_error(EXIT_USAGE, CLI_ERR_USAGE,
                     "--expires needs a positive age such as 1h, 30m or 2d, not \"%s\" (leave it "
                     "out for an approval that does not expire)",
                     o->expires);
  art_approval a = {o->args[1], approved, o->reviewer, o->reason, expires ? now + expires : 0};
  int rc = art_run_feed_approval(d->run, &a, now);
  if (rc < 0) return refused(d, rc);
  char line[600], next[400] = "";
  if (approved) continue_with(next, sizeof next, o, d->run);
  snprintf(line, sizeof line, "%s %s for run %s%s", approved ? "approved" : "denied", o->args[1],
           art_run_id(d->run), next);
  return decided(o, d->run, o->args[1], approved ? "approved" : "denied", line);
}

static int approve(const cli_opts *o, art_durable *d, art_lease *lease) {
  (void)lease;
  return decide(o, d, true);
}
static int deny(const cli_opts *o, art_durable *d, art_lease *lease) {
  (void)lease;
  return decide(o, d, false);
}

static const char *outcome_unknown_action(const art_run *run) {
  const art_event *stop = art_run_event(run, art_run_event_count(run) - 1);
  bool unknown = art_run_stop_reason(run) == ART_STOP_BLOCKED && stop &&
                 stop->type == ART_EV_STOP &&
                 strcmp(art_run_stop_detail(run), "outcome_unknown") == 0;
  return unknown ? stop->u.stop.action_id : NULL;
}

static int resolved(const cli_opts *o, art_durable *d, const art_resolution *r) {
  int rc = art_run_resolve(d->run, r, art_now_us());
  if (rc < 0) return refused(d, rc);
  char line[600], next[400] = "";
  if (art_durable_status_of(d->run) == ART_RUN_READY) continue_with(next, sizeof next, o, d->run);
  snprintf(line, sizeof line, "resolved %s of run %s: %s%s", r->action_id, art_run_id(d->run),
           art_resolve_kind_name(r->kind), next);
  return decided(o, d->run, r->action_id, "resolved", line);
}

static int resolve(const cli_opts *o, art_durable *d, art_lease *lease) {
  (void)lease;
  art_resolution r = {o->args[1], ART_RESOLVE_DONE, o->reviewer, o->reason};
  if (!o->outcome) return cli_usage_error(resolve_usage, "--outcome is required");
  if (art_resolve_kind_parse(o->outcome, &r.kind) < 0)
    return cli_error(EXIT_USAGE, CLI_ERR_USAGE, "--outcome is done, retry or failed, not \"%s\"",
                     o->outcome);
  return resolved(o, d, &r);
}

static int answer(const cli_opts *o, art_durable *d, art_lease *lease) {
  (void)lease;
  const char *unknown = outcome_unknown_action(d->run);
  if (unknown) {
    art_resolution r = {unknown, ART_RESOLVE_DONE, "operator", o->args[1]};
    return resolved(o, d, &r);
  }
  int rc = art_run_feed_human_input(d->run, o->args[1], art_now_us());
  if (rc < 0) return refused(d, rc);
  char line[600], next[400];
  continue_with(next, sizeof next, o, d->run);
  snprintf(line, sizeof line, "answered run %s%s", art_run_id(d->run), next);
  return decided(o, d->run, NULL, "answered", line);
}

static int cancel(const cli_opts *o, art_durable *d, art_lease *lease) {
  (void)lease;
  int rc = art_run_cancel(d->run, o->reason, art_now_us());
  if (rc < 0) return refused(d, rc);
  char line[300];
  snprintf(line, sizeof line, "cancelled run %s", art_run_id(d->run));
  return decided(o, d->run, NULL, "cancelled", line);
}

static int command(int argc, char **argv, unsigned flags, int args, const char *usage,
                   bool needs_reviewer, bool needs_reason, decide_fn fn) {
  cli_opts o;
  int rc = cli_parse(argc, argv, flags | OPT_STORE, args, usage, &o);
  if (rc != 0 || o.help) return rc;
  if ((needs_reviewer && !o.reviewer) || (needs_reason && !o.reason))
    return cli_usage_error(usage, "%s is required",
                           needs_reviewer && !o.reviewer ? "--reviewer" : "--reason");
  return with_run(&o, fn);
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
/* A run held by a live process is asked to stop, through the store. */
static int cancel_or_ask(const cli_opts *o) {
  art_store *store;
  art_error err = {0};
  int rc = cli_store_open(o, &store);
  if (rc != 0) return rc;
  const char *run_id = o->args[0];
  char owner[ART_HOLDER_SIZE];
  art_lease lease;
  art_holder_name(owner, sizeof owner, NULL);
  int held = art_lease_claim(&lease, store, run_id, owner, art_now_us(), cli_lease_ttl(), &err);
  if (held == 0) art_lease_release(&lease, &err);
  char line[300];
  snprintf(line, sizeof line,
           "cancel requested: run %s is being driven by another process, which stops it "
           "cancelled at its next step boundary",
           run_id);
  if (held == ART_ESTATE && (rc = store->vt->request_cancel(store, run_id, o->reason, &err)) == 0)
    rc = said(o, run_id, NULL, "cancel_requested", ART_RUN_RUNNING, NULL, line);
  else if (held == ART_ESTATE)
    rc = cli_error(rc == ART_ESTATE ? EXIT_STOPPED : EXIT_USAGE,
                   rc == ART_ESTATE ? CLI_ERR_STATE : CLI_ERR_STORE, "%s", err.message);
  art_store_close(store);
  if (held != ART_ESTATE) return with_run(o, cancel); /* it says what is wrong, if anything */
  return rc;
}

int cmd_resolve(int argc, char **argv) {
  return command(argc, argv, OPT_OUTCOME | OPT_REVIEWER | OPT_REASON, 2, resolve_usage, true, false,
                 resolve);
}

int cmd_cancel(int argc, char **argv) {
  cli_opts o;
  int rc = cli_parse(argc, argv, OPT_REASON | OPT_STORE, 1, cancel_usage, &o);
  return rc != 0 || o.help ? rc : cancel_or_ask(&o);
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
  return command(argc, argv, 0, 1, resume_usage, false, false, resume);
}
