/* The agentrt command: shared option parsing, running and printing.  One file
 * per subcommand (cmd_*.c). */
#ifndef ART_CLI_H
#define ART_CLI_H

#include <stdbool.h>
#include <stdio.h>
#include "agentrt.h"
#include "agentrt/durable.h"
#include "agentrt/store.h"

/* Exit codes. */
enum { EXIT_OK = 0, EXIT_STOPPED = 1, EXIT_USAGE = 2, EXIT_PAUSED = 3 };

enum {
  OPT_TRACE = 2,
  OPT_OUTBOX = 4,
  OPT_JUNIT = 8,
  OPT_STORE = 16,
  OPT_STATUS = 32,
  OPT_REVIEWER = 64,
  OPT_REASON = 128,
  OPT_JSONL = 256,
  OPT_OLDER_THAN = 512,
  OPT_ALL = 1024,
  OPT_EXPIRES = 2048,
  OPT_OUTCOME = 4096,
  OPT_SUITE = 8192, /* --suite FILE, repeatable (up to CLI_MAX_SUITES) */
  OPT_YAML = 16384,
  OPT_JOBS = 32768,      /* --jobs N, 1..CLI_MAX_JOBS */
  OPT_MAX_PROCS = 65536, /* --max-procs N, 1..CLI_MAX_PROCS */
  OPT_QUEUE = 1 << 17,   /* --queue NAME, repeatable (up to CLI_MAX_QUEUES) */
  OPT_DRAIN = 1 << 18,
  OPT_LEASE = 1 << 19, /* --lease AGE */
  OPT_RUN_ID = 1 << 20,
  OPT_POLL = 1 << 21,        /* --poll AGE */
  OPT_CONCURRENCY = 1 << 22, /* --concurrency N, 1..CLI_MAX_JOBS */
  OPT_LISTEN = 1 << 23,
  OPT_TOKENS = 1 << 24,
  OPT_SPECS = 1 << 25,
  OPT_NO_WORKER = 1 << 26,
  OPT_TENANT = 1 << 27,
  OPT_ROLE = 1 << 28,
  OPT_MAX_RUNNING = 1 << 29 /* --max-running N */
};

#define CLI_MAX_SUITES 16
#define CLI_MAX_QUEUES 16
#define CLI_MAX_JOBS 10000
#define CLI_MAX_PROCS 4096

#define CLI_DEFAULT_STORE "agentrt.db"
#define CLI_DEFAULT_TOKENS "agentrt-tokens.json"
/* cli_parse's `args` for one positional argument or more, up to CLI_MAX_ARGS. */
#define CLI_ARGS_MANY (-1)
#define CLI_MAX_ARGS 1024

typedef struct cli_opts {
  bool json, jsonl, all, yaml, drain, no_worker;
  bool help;
  const char *trace;
  const char *outbox;
  const char *junit;
  const char *store; /* --store, else AGENTRT_STORE, else CLI_DEFAULT_STORE */
  bool store_given;  /* --store was given, or AGENTRT_STORE */
  const char *status;
  const char *reviewer;
  const char *reason;
  const char *older_than;
  const char *expires;
  const char *outcome;
  const char *lease;                      /* --lease AGE */
  const char *poll;                       /* --poll AGE */
  const char *run_id;                     /* --run-id ID */
  const char *listen;                     /* --listen HOST:PORT */
  const char *tokens;                     /* --tokens FILE, else CLI_DEFAULT_TOKENS */
  const char *specs;                      /* --specs DIR */
  const char *tenant;                     /* --tenant T */
  const char *role;                       /* --role R */
  const char *max_running;                /* --max-running N, checked by its command */
  const char *queues[CLI_MAX_QUEUES + 1]; /* NULL-terminated */
  int n_queues;
  unsigned jobs;        /* --jobs, 0 when not given */
  unsigned max_procs;   /* --max-procs, 0 when not given (the loop's default) */
  unsigned concurrency; /* --concurrency, 0 when not given */
  const char *suites[CLI_MAX_SUITES];
  int n_suites;
  const char *args[CLI_MAX_ARGS]; /* positional arguments */
  int n_args;
} cli_opts;

/* Parse argv[1..] of a subcommand: --json, the flags in `allowed` and exactly
 * `args` positional arguments (CLI_ARGS_MANY: one or more).  Sets the error mode (cli_set_json).  Returns
 * 0, or EXIT_USAGE after saying what is wrong (cli_usage_error). */
int cli_parse(int argc, char **argv, unsigned allowed, int args, const char *usage, cli_opts *o);
/* "30d", "12h", "90m", "45s" -> µs; -1 when it is not such an age. */
int64_t cli_parse_age(const char *text);
/* A usage error for a `what` ("command") that is none of `names` (NULL-
 * terminated), suggesting the closest one when it is a likely typo. */
int cli_unknown(const char *usage, const char *what, const char *word, const char *const *names);

/* Run `spec` to its stop with the options' sinks, journaled in `store` when
 * not NULL; prints and returns the exit code (EXIT_OK / EXIT_STOPPED /
 * EXIT_PAUSED / EXIT_USAGE for I/O errors). */
int cli_run_spec(art_spec *spec, const cli_opts *o, json_t *eval_case, art_store *store);
/* A run of a spec set up to be driven: its MCP servers, model, run, trace
 * file, and its record in the store (journaled through a batched sink when
 * `batched`, for a driver that syncs). */
typedef struct cli_prepared {
  art_model *model;
  art_run *run;
  art_mcp_session *mcp;
  FILE *trace;
  art_lease lease; /* its record is in the store (lease.run_id set), held by this process */
} cli_prepared;
/* 0, or the exit code having said why (p->run may then be NULL).  A run
 * whose MCP servers could not be set up is stopped tool_failure already. */
int cli_run_prepare(art_spec *spec, const cli_opts *o, art_store *store, bool batched,
                    cli_prepared *p);
/* Once driven: records where the run stands and closes the trace file;
 * returns `rc`, or the exit code of what failed then. */
int cli_prepared_close(cli_prepared *p, const cli_opts *o, int rc);
void cli_prepared_dispose(cli_prepared *p);
/* agentrt run A.json B.json ...: the specs on one event loop (run_many.c). */
int cli_run_many(const cli_opts *o);
/* Start the spec's MCP servers and register their tools (mcp.c).  0, or the
 * failure's message in `why` (the run is then to stop tool_failure) and
 * *session NULL. */
int cli_mcp_attach(art_spec *spec, art_mcp_session **session, char *why, size_t why_size);
/* The same for a command that lists tools without running: 0, or the exit
 * code having said why (1 when a server could not be set up, 2 for a spec
 * error or out of memory). */
int cli_mcp_list_tools(art_spec *spec, art_mcp_session **session);
/* Stops a run that has not asked for a decision yet: its tools are missing. */
int cli_stop_tools_failed(art_run *run, const char *why);
/* Drive to the next stop (messages on failure).  With a lease on the run in
 * a store (at `store_path`), the lease is renewed, a cancel asked from
 * elsewhere is seen, and Ctrl-C and SIGTERM let go of the run: it is left
 * ready (the call in flight stopped, as a cancel stops it), and the exit code
 * is 128 + the signal. */
int cli_drive(art_run *run, art_model *model, art_lease *lease, const char *store_path);
/* The same for a failure of art_run_drive or art_durable_continue (rc). */
int cli_drive_failed(const art_run *run, int rc, const art_error *err, const char *store_path);

/* signals.c: Ctrl-C and SIGTERM while a run is driven.  The first is noted
 * (the driver lets go at once); a second ends agentrt at once, after killing
 * the process group of the tool or model command running. */
void cli_signals_catch(void);
int cli_signal_caught(void); /* 0, or the first signal's number */
void cli_signals_child_group(long pgid);
/* Print the run: a table, or with --json the result object plus "status" and
 * "pending".  `store` (may be NULL) is named in how to continue a paused run.
 * `approvals` (may be NULL): the run's approval records, as a JSON array.
 * `record` (may be NULL): the run's record, whose status is the run's (a run
 * another process drives is running); else the status is the run's own. */
int cli_report(const art_run *run, const cli_opts *o, json_t *eval, const char *store,
               json_t *approvals, const art_run_record *record);

/* ---- errors.c: JSON out and errors ----
 * Every failure of a command is said through cli_error: for people as
 * "agentrt: MESSAGE" on stderr, or, when the command was given --json, as one
 * JSON object on stdout, {"error": {"code": CODE, "message": MESSAGE}}.  The
 * exit code is the same either way.  The codes (README, "Errors"): */
typedef enum {
  CLI_ERR_USAGE,     /* usage: bad option, missing or extra argument, unknown command, bad value */
  CLI_ERR_SPEC,      /* spec: the agent spec or eval suite cannot be read or is wrong */
  CLI_ERR_STORE,     /* store: the store cannot be opened, read or written */
  CLI_ERR_NOT_FOUND, /* not_found: no such run, or not the action the run waits for */
  CLI_ERR_STATE,   /* state: not now: decided already, ended, nothing to resume, driven elsewhere */
  CLI_ERR_REFUSED, /* refused: the runtime refused it (self-approval, expired already) */
  CLI_ERR_TOOLS,   /* tools: the MCP servers could not be set up */
  CLI_ERR_IO,      /* io: a file (trace, JUnit) or stdout cannot be written */
  CLI_ERR_INTERRUPTED, /* interrupted: Ctrl-C or SIGTERM; the run is ready to resume */
  CLI_ERR_INTERNAL     /* internal: out of memory, or the run cannot go on */
} cli_err;

void cli_set_json(bool on);
/* JSON on stdout one compact value a line (errors too), for a command that
 * prints one a result. */
void cli_set_json_lines(bool on);
/* Whether --json is among argv[1..]: for what fails before cli_parse runs. */
bool cli_args_ask_json(int argc, char **argv);
/* Say what went wrong; returns exit_code. */
int cli_error(int exit_code, cli_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A usage error: the message, then (for people) `usage`; returns EXIT_USAGE. */
int cli_usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The code for an ART_E* code. */
cli_err cli_err_of(int art_code);
/* A store's failure (exit 2): not_found and state as such, else store. */
int cli_store_error(const art_error *err);
/* One JSON value on stdout, or into `array` while cli_capture_json(array):
 * 0, or EXIT_USAGE having said why (`j` NULL: out of memory). */
int cli_print_json(const json_t *j);
void cli_capture_json(json_t *array);

void cli_print_eval_table(const json_t *report);
int cli_exit_code(art_stop_reason r);
/* " --store PATH" for a store other than the default, else "": how to name
 * `store` in a command agentrt suggests. */
void cli_store_flag(char *buf, size_t size, const char *store);

int cmd_demo(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_runs(int argc, char **argv);
int cmd_approve(int argc, char **argv);
int cmd_deny(int argc, char **argv);
int cmd_answer(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_cancel(int argc, char **argv);
int cmd_resolve(int argc, char **argv);
int cmd_tools(int argc, char **argv);
/* What the policy would say to a call of `t` with `input` (NULL: an empty
 * one), as the spec's actor (cmd_tools.c). */
void cli_tool_verdict(const art_spec *spec, const art_tool *t, const json_t *input, art_verdict *v);
int cmd_readiness(int argc, char **argv);
/* suites.c: load the --suite files into `suites` (CLI_MAX_SUITES, zeroed):
 * 0, or EXIT_USAGE having said why; free them (also after a failure). */
int cli_load_suites(const cli_opts *o, art_eval_suite **suites);
void cli_free_suites(const cli_opts *o, art_eval_suite **suites);
int cmd_review(int argc, char **argv);
int cmd_submit(int argc, char **argv);
int cmd_worker(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_tokens(int argc, char **argv);
int cmd_queue(int argc, char **argv);
int cmd_tenant(int argc, char **argv);

/* durable.c: the CLI's side of durable runs (agentrt/durable.h): messages
 * and exit codes. */

/* The store --store names, which must exist; cli_store_create makes it when
 * it does not (only `run` does: a typo in --store is not a new store). */
int cli_store_open(const cli_opts *o, art_store **out);
int cli_store_create(const cli_opts *o, art_store **out);
/* How long this process's leases last: AGENTRT_LEASE_MS (a positive number
 * of milliseconds) or 0, the default (ART_LEASE_TTL_US). */
int64_t cli_lease_ttl(void);
/* Hold the run for this process (*lease): 0, or the exit code having said
 * why (a holder whose lease has not run out has it, the store failed). */
int cli_claim(art_store *store, const char *run_id, art_lease *lease);
/* "run ID is being driven by another process (who, for how long)": exit 2. */
int cli_held_elsewhere(art_store *store, const char *run_id);
/* A new run's record, held by this process from the start (*lease), and its
 * journal sink: 0, or the exit code having said why. */
int cli_persist_new(art_store *store, const art_spec *spec, art_run *run, bool batched,
                    art_lease *lease);
/* "run ID is in the store already": exit 2. */
int cli_run_exists(const char *run_id);
/* Where the run stands, into its record; the lease is let go. */
int cli_record_status(art_lease *lease, const art_run *run);
/* art_durable_open (as `lease`'s holder; NULL: to read): 0, or the exit code
 * having said why. */
int cli_rebuild(art_store *store, const char *store_path, const char *run_id,
                const art_lease *lease, art_durable *d);
/* The hooks that let Ctrl-C and SIGTERM make a driver let go of its run
 * (signals.c). */
const art_drive_hooks *cli_signal_hooks(void);

const char *cli_demo_spec(void);
const char *cli_demo_suite(void);
/* The review gate's scenarios (examples/review/scenarios.json). */
const char *cli_review_scenarios(void);

#endif
