/* agentrt serve: an HTTP/1.1 JSON API over a store, for programs that start
 * runs and people who watch and decide them.  It runs on a libuv loop the
 * caller owns (beside an embedded worker, when there is one); the store is
 * borrowed, used on the loop's thread only, and must outlive the service.
 *
 * Every request but GET /healthz and the console's page (GET /, /console.js,
 * /console.css: it asks its user for a token) carries a bearer token from the
 * tokens file (tokens.h); a token sees and acts on its tenant's runs only, and
 * its role says what it may do (README: "Running agentrt as a service").  The
 * Agent Protocol's run paths are served beside /v1 (agent_protocol.c). */
#ifndef ART_SERVE_H
#define ART_SERVE_H

#include <stdio.h>
#include <uv.h>

#include "agentrt/store.h"

typedef struct serve_options {
  const char *listen;      /* "HOST:PORT"; port 0: any free one (serve_port says which) */
  const char *tokens_path; /* the tokens file, read once at start */
  const char *specs_dir;   /* specs submitted by name ("spec_ref"); NULL: none */
  const char *store_name;  /* the store's URL, for messages (a password is left out) */
  size_t max_body;         /* request bodies, bytes (0: 1 MiB) */
  unsigned timeout_s;      /* an idle connection is closed after (0: 30 s) */
  unsigned max_connections;
  unsigned follow_ms;   /* how often event streams waiting for a run look at the store (0: 200) */
  unsigned keepalive_s; /* a comment on an idle event stream, to find clients gone (0: 15) */
  FILE *log;            /* one line a request (never a token); NULL: none */
  /* Told (on the loop's thread) when a request made a run ready: queued it,
   * or decided what it waited for; an embedded worker looks at once. */
  void (*runs_ready)(void *ud);
  void *runs_ready_ud;
} serve_options;

typedef struct serve serve;

/* Listening once this returns 0; ART_ENOTFOUND / ART_ESPEC for the tokens
 * file, ART_EINVAL / ART_EIO for --listen (err says why). */
int serve_new(serve **out, uv_loop_t *uv, art_store *store, const serve_options *opts,
              art_error *err);
uint16_t serve_port(const serve *s);
/* No more requests: event streams end, connections close, and the service
 * frees itself once its libuv handles are closed (the loop must run on for
 * that); then `closed` (may be NULL). */
void serve_close(serve *s, void (*closed)(void *ud), void *ud);

#endif
