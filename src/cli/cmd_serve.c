/* agentrt serve: the HTTP service (src/serve) and, unless --no-worker, a
 * worker (agentrt/worker.h) on one libuv loop, until SIGINT or SIGTERM. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

#include "agentrt/worker.h"
#include "cli/cli.h"
#include "serve/serve.h"

static const char usage[] =
    "usage: agentrt serve [--listen HOST:PORT] [--tokens FILE] [--specs DIR] [--no-worker]\n"
    "                     [--concurrency N] [--max-procs N] [--poll AGE] [--store PATH] [--json]\n"
    "\n"
    "Serve the store over HTTP/1.1 (JSON): submit runs, list and show them, follow\n"
    "their events (JSON lines, or Server-Sent Events), approve, deny, answer,\n"
    "resolve and cancel them, the approvals waiting, /healthz and /metrics.  Every\n"
    "request but /healthz carries a bearer token of the tokens file (agentrt\n"
    "tokens new); a token sees its tenant's runs only.  A worker in the same\n"
    "process drives the runs that are ready, as agentrt worker does.  One line a\n"
    "request, and one a run the worker is done with, go to stderr.  SIGINT or\n"
    "SIGTERM ends it: event streams are closed, and each run in flight finishes\n"
    "its step and is left ready.\n"
    "\n"
    "  --listen HOST:PORT  where to listen (default 127.0.0.1:8080; port 0: any\n"
    "                      free one, printed)\n"
    "  --tokens FILE       the tokens file (default agentrt-tokens.json)\n"
    "  --specs DIR         specs submitted by name: {\"spec_ref\": NAME} is DIR/NAME.json\n"
    "  --no-worker         serve only: runs are driven by agentrt worker processes on\n"
    "                      the same store\n"
    "  --concurrency N     runs the worker drives at once (default 16)\n"
    "  --max-procs N       child processes its runs' tools run at once\n"
    "  --poll AGE          how often the idle worker looks for ready runs (default 5s\n"
    "                      with PostgreSQL, which tells it at once; 1s with SQLite)\n"
    "  --store PATH        the SQLite store (created when missing) or a postgresql:// URL\n"
    "\n"
    "See README.md, \"Running agentrt as a service\", for the endpoints and roles.\n";

typedef struct serving {
  const cli_opts *o;
  uv_loop_t uv;
  uv_signal_t sigint, sigterm;
  serve *service;
  art_loop *loop;     /* NULL with --no-worker */
  art_worker *worker; /* NULL with --no-worker */
  bool stopping;
} serving;

/* The first SIGINT or SIGTERM: no more requests, no more runs taken, each
 * run in flight let go once its step has ended.  The loop ends when all is
 * closed; a second signal ends agentrt at once. */
static void on_signal(uv_signal_t *h, int sig) {
  serving *s = h->data;
  (void)sig;
  if (s->stopping) return;
  s->stopping = true;
  serve_close(s->service, NULL, NULL);
  if (s->worker) art_worker_stop(s->worker);
  uv_close((uv_handle_t *)&s->sigint, NULL);
  uv_close((uv_handle_t *)&s->sigterm, NULL);
}

/* What the worker did with a run: one line on stderr, beside the requests'. */
static void worked(void *ud, const char *run_id, const art_run *run, int rc, const art_error *err) {
  (void)ud;
  if (rc < 0) {
    fprintf(stderr, "agentrt serve: worker: %s%s\n", err->message,
            rc == ART_EFENCED ? "; another worker drives it now" : "");
    return;
  }
  art_stop_reason r = art_run_stop_reason(run);
  fprintf(stderr, "run %s %s %s\n", run_id, art_run_status_name(art_durable_status_of(run)),
          r == ART_STOP_NONE ? "-" : art_stop_reason_name(r));
}

/* A service holds a descriptor a connection: as many as the hard limit lets. */
static void raise_fd_limit(void) {
  struct rlimit r;
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

static int listening(const cli_opts *o, const char *listen, uint16_t port) {
  char host[256], url[300];
  const char *colon = strrchr(listen, ':');
  snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
  snprintf(url, sizeof url, "http://%s:%u", host, port);
  if (!o->json) {
    printf("agentrt serve: listening on %s\n", url);
    return fflush(stdout) == 0 ? 0 : EXIT_USAGE;
  }
  json_t *j = json_pack("{s:s, s:i}", "listening", url, "port", (int)port);
  int rc = cli_print_json(j);
  json_decref(j);
  return rc;
}

/* The worker on the service's loop: 0, or the exit code having said why. */
static int start_worker(serving *s, art_store *store, int64_t poll_ms) {
  art_error err = {0};
  art_loop_options lo = {.uv = &s->uv, .max_procs = s->o->max_procs};
  art_worker_options wo = {.name = "serve",
                           .concurrency = s->o->concurrency,
                           .lease_ttl_us = cli_lease_ttl(),
                           .poll_ms = poll_ms,
                           .store_url = s->o->store,
                           .on_run = worked,
                           .ud = s};
  if (art_loop_new(&s->loop, &lo, &err) < 0)
    return cli_error(EXIT_USAGE, cli_err_of(err.code), "%s", err.message);
  if (art_worker_new(&s->worker, s->loop, store, &wo, &err) == 0) return 0;
  art_loop_free(s->loop);
  s->loop = NULL;
  return cli_store_error(&err);
}

/* A run the service made ready is looked for at once, not at the next poll. */
static void poke_worker(void *ud) {
  serving *s = ud;
  if (s->worker) art_worker_poke(s->worker);
}

static int serve_on_loop(serving *s, art_store *store, int64_t poll_ms) {
  art_error err = {0};
  char store_name[512];
  art_store_url_redact(store_name, sizeof store_name, s->o->store);
  serve_options opts = {.listen = s->o->listen ? s->o->listen : "127.0.0.1:8080",
                        .tokens_path = s->o->tokens,
                        .specs_dir = s->o->specs,
                        .store_name = store_name,
                        .log = stderr,
                        .runs_ready = poke_worker,
                        .runs_ready_ud = s};
  if (serve_new(&s->service, &s->uv, store, &opts, &err) < 0)
    return cli_error(EXIT_USAGE,
                     err.code == ART_EIO || err.code == ART_EINVAL ? CLI_ERR_USAGE : CLI_ERR_SPEC,
                     "%s", err.message);
  int rc = s->o->no_worker ? 0 : start_worker(s, store, poll_ms);
  uv_signal_init(&s->uv, &s->sigint);
  uv_signal_init(&s->uv, &s->sigterm);
  s->sigint.data = s->sigterm.data = s;
  uv_signal_start(&s->sigint, on_signal, SIGINT);
  uv_signal_start(&s->sigterm, on_signal, SIGTERM);
  if (rc == 0) rc = listening(s->o, opts.listen, serve_port(s->service));
  if (rc != 0) on_signal(&s->sigterm, SIGTERM);
  if (uv_run(&s->uv, UV_RUN_DEFAULT) < 0 && rc == 0)
    rc = cli_error(EXIT_USAGE, CLI_ERR_INTERNAL, "the loop failed");
  if (s->worker) art_worker_free(s->worker);
  if (s->loop) art_loop_free(s->loop);
  uv_run(&s->uv, UV_RUN_DEFAULT); /* what freeing them closed */
  return rc;
}

int cmd_serve(int argc, char **argv) {
  cli_opts o;
  int rc = cli_parse(argc, argv,
                     OPT_STORE | OPT_LISTEN | OPT_TOKENS | OPT_SPECS | OPT_NO_WORKER |
                         OPT_CONCURRENCY | OPT_MAX_PROCS | OPT_POLL,
                     0, usage, &o);
  if (rc != 0 || o.help) return rc;
  int64_t poll_us = o.poll ? cli_parse_age(o.poll) : 0;
  if (poll_us <= 0 && o.poll)
    return cli_error(EXIT_USAGE, CLI_ERR_USAGE,
                     "--poll needs a positive age such as 500ms, 5s or 1m, not \"%s\"", o.poll);
  art_store *store;
  if ((rc = cli_store_create(&o, &store)) != 0) return rc;
  signal(SIGPIPE, SIG_IGN); /* a client gone is a failed write, not the end of the service */
  raise_fd_limit();
  serving s = {.o = &o};
  uv_loop_init(&s.uv);
  rc = serve_on_loop(&s, store, poll_us / 1000);
  uv_loop_close(&s.uv);
  art_store_close(store);
  return rc;
}
