/* agentrt serve: the HTTP service (src/serve) on a libuv loop of its own,
 * until SIGINT or SIGTERM. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

#include "cli/cli.h"
#include "serve/serve.h"

static const char usage[] =
    "usage: agentrt serve --no-worker [--listen HOST:PORT] [--tokens FILE] [--specs DIR]\n"
    "                     [--store PATH] [--json]\n"
    "\n"
    "Serve the store over HTTP/1.1 (JSON): submit runs, list and show them, follow\n"
    "their events (JSON lines, or Server-Sent Events), approve, deny, answer,\n"
    "resolve and cancel them, the approvals waiting, /healthz and /metrics.  Every\n"
    "request but /healthz carries a bearer token of the tokens file (agentrt\n"
    "tokens new); a token sees its tenant's runs only.  One line a request goes to\n"
    "stderr.  SIGINT or SIGTERM ends it; event streams are closed.\n"
    "\n"
    "  --listen HOST:PORT  where to listen (default 127.0.0.1:8080; port 0: any\n"
    "                      free one, printed)\n"
    "  --tokens FILE       the tokens file (default agentrt-tokens.json)\n"
    "  --specs DIR         specs submitted by name: {\"spec_ref\": NAME} is DIR/NAME.json\n"
    "  --no-worker         serve only; runs submitted are driven by `agentrt worker`\n"
    "                      processes on the same store (required for now: the\n"
    "                      embedded worker is to come)\n"
    "  --store PATH        the SQLite store (created when missing) or a postgresql:// URL\n"
    "\n"
    "See README.md, \"Running agentrt as a service\", for the endpoints and roles.\n";

typedef struct serving {
  uv_loop_t uv;
  uv_signal_t sigint, sigterm;
  serve *service;
  int signal;
} serving;

static void on_signal(uv_signal_t *h, int sig) {
  serving *s = h->data;
  if (s->signal) return;
  s->signal = sig;
  serve_close(s->service, NULL, NULL);
  uv_close((uv_handle_t *)&s->sigint, NULL);
  uv_close((uv_handle_t *)&s->sigterm, NULL);
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
  char host[256];
  const char *colon = strrchr(listen, ':');
  snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
  if (!o->json) {
    printf("agentrt serve: listening on http://%s:%u\n", host, port);
    return fflush(stdout) == 0 ? 0 : EXIT_USAGE;
  }
  char url[300];
  snprintf(url, sizeof url, "http://%s:%u", host, port);
  json_t *j = json_pack("{s:s, s:i}", "listening", url, "port", (int)port);
  int rc = cli_print_json(j);
  json_decref(j);
  return rc;
}

static int run_service(const cli_opts *o, art_store *store) {
  serving s = {0};
  art_error err = {0};
  char store_name[512];
  art_store_url_redact(store_name, sizeof store_name, o->store);
  serve_options opts = {.listen = o->listen ? o->listen : "127.0.0.1:8080",
                        .tokens_path = o->tokens,
                        .specs_dir = o->specs,
                        .store_name = store_name,
                        .log = stderr};
  uv_loop_init(&s.uv);
  if (serve_new(&s.service, &s.uv, store, &opts, &err) < 0) {
    uv_loop_close(&s.uv);
    return cli_error(EXIT_USAGE,
                     err.code == ART_EIO || err.code == ART_EINVAL ? CLI_ERR_USAGE : CLI_ERR_SPEC,
                     "%s", err.message);
  }
  uv_signal_init(&s.uv, &s.sigint);
  uv_signal_init(&s.uv, &s.sigterm);
  s.sigint.data = s.sigterm.data = &s;
  uv_signal_start(&s.sigint, on_signal, SIGINT);
  uv_signal_start(&s.sigterm, on_signal, SIGTERM);
  int rc = listening(o, opts.listen, serve_port(s.service));
  if (rc != 0) on_signal(&s.sigterm, SIGTERM);
  uv_run(&s.uv, UV_RUN_DEFAULT);
  uv_loop_close(&s.uv);
  return rc;
}

int cmd_serve(int argc, char **argv) {
  cli_opts o;
  int rc = cli_parse(argc, argv, OPT_STORE | OPT_LISTEN | OPT_TOKENS | OPT_SPECS | OPT_NO_WORKER, 0,
                     usage, &o);
  if (rc != 0 || o.help) return rc;
  if (!o.no_worker)
    return cli_usage_error(usage, "the embedded worker is not there yet: run agentrt serve "
                                  "--no-worker, and agentrt worker beside it");
  art_store *store;
  if ((rc = cli_store_create(&o, &store)) != 0) return rc;
  signal(SIGPIPE, SIG_IGN); /* a client gone is a failed write, not the end of the service */
  raise_fd_limit();
  rc = run_service(&o, store);
  art_store_close(store);
  return rc;
}
