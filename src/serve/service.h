/* Inside the service: the handle, what a request carries once its token is
 * known, the roles' rights, and the handlers of the routes (serve.c routes a
 * request to one; runs.c, actions.c, events.c, metrics.c answer). */
#ifndef ART_SERVE_SERVICE_H
#define ART_SERVE_SERVICE_H

#include "agentrt/durable.h"
#include "serve/http.h"
#include "serve/serve.h"
#include "serve/tokens.h"

typedef struct serve_follower serve_follower;

struct serve {
  art_store *store; /* borrowed */
  serve_options opts;
  serve_tokens tokens;
  http_server *http;
  uv_timer_t follow; /* looks at the store for the runs event streams wait on */
  serve_follower *followers;
  char holder[ART_HOLDER_SIZE]; /* who holds a run while a decision is recorded */
  int open_parts;               /* the http server and the follow timer, until both are closed */
  void (*closed)(void *ud);
  void *closed_ud;
};

#define SERVE_ID_SIZE 128

/* A request with its route and token (NULL on routes that need none). */
typedef struct serve_call {
  serve *srv;
  const serve_token *token;
  void (*handler)(struct serve_call *c, http_request *req); /* the route's */
  int arg;                                                  /* the route's (a decision's kind) */
  char run_id[SERVE_ID_SIZE];                               /* the {id} of the path */
} serve_call;

/* What a token may do, by its role (README: the table of roles). */
typedef enum {
  SERVE_READ,        /* runs, events, approvals of its tenant */
  SERVE_SUBMIT,      /* a registered spec, by spec_ref */
  SERVE_SUBMIT_SPEC, /* a spec of its own: it runs what it names on the workers' machines */
  SERVE_APPROVE,     /* approve or deny */
  SERVE_ANSWER,      /* answer a question */
  SERVE_RESOLVE,     /* say what became of a call whose outcome is unknown */
  SERVE_CANCEL_ANY,  /* cancel any run of its tenant (every token cancels its own) */
  SERVE_METRICS
} serve_act;

bool serve_may(const serve_token *t, serve_act act);

/* Replies: `j` is taken (NULL: out of memory, a 500). */
void serve_json(http_request *req, unsigned status, json_t *j);
void serve_error(http_request *req, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* serve_error for a step that returns -1 having replied. */
int serve_refuse(http_request *req, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A store's failure as a reply: 404 for a run that is not there, 503 when it
 * is locked, 500 otherwise. */
void serve_store_error(http_request *req, const art_error *err);
/* The body as a JSON object (an empty body: `empty_ok` gives {}), or NULL
 * having replied 400. */
json_t *serve_body_object(http_request *req, bool empty_ok);
/* The record of c->run_id when the token's tenant's: 0, or -1 having replied
 * (another tenant's run is a 404, as a missing one). */
int serve_visible_run(serve_call *c, http_request *req, art_run_record *out);
/* Whether run r is of the token's tenant (its record's); and whether the
 * token submitted it (its spec's actor is the token). */
bool serve_tenants(const serve_token *t, const art_run_record *r);
bool serve_submitted(const serve_token *t, const art_run_record *r);

/* options.runs_ready, when there is one. */
void serve_runs_ready(serve *s);

/* A run from a submit body ({"spec_ref", "goal", "input"}, or an admin's
 * spec) as the token's, queued as run_id: 0, or -1 having replied. */
int serve_create_run(serve_call *c, http_request *req, const json_t *body,
                     char run_id[ART_RUN_ID_SIZE]);
/* What GET /v1/runs/{id} shows of a run: its result object (trace
 * included), status, pending action and approvals; NULL with err set. */
json_t *serve_run_result(serve *s, const char *run_id, art_error *err);

/* Runs newest first (created_us down, then run_id up), for qsort. */
int serve_newest_first(const void *a, const void *b);

void serve_submit(serve_call *c, http_request *req);
void serve_list_runs(serve_call *c, http_request *req);
void serve_show_run(serve_call *c, http_request *req);
void serve_list_approvals(serve_call *c, http_request *req);
void serve_decide(serve_call *c, http_request *req);
void serve_events(serve_call *c, http_request *req);
void serve_metrics(serve_call *c, http_request *req);
void serve_console(serve_call *c, http_request *req);
/* agent_protocol.c: the Agent Protocol's runs; create's c->arg says which
 * POST it is: /runs, /runs/wait or /runs/stream. */
enum { SERVE_CREATE_ONLY, SERVE_CREATE_WAIT, SERVE_CREATE_STREAM };
void serve_protocol_create(serve_call *c, http_request *req);
void serve_protocol_show(serve_call *c, http_request *req);
void serve_protocol_wait(serve_call *c, http_request *req);
void serve_protocol_search(serve_call *c, http_request *req);

/* The console's files (console.c; made by CMake from src/serve/console/),
 * ended by one whose path is NULL. */
typedef struct serve_asset {
  const char *path, *content_type, *body;
  size_t len;
} serve_asset;
extern const serve_asset serve_console_assets[];

/* A waiter's body once its run has stopped (malloc'd, *len its length;
 * NULL: out of memory, and the reply ends). */
typedef char *(*serve_result_fn)(serve *s, const char *run_id, size_t *len);
/* Reply with a stream that follows c->run_id (visible to the token): its
 * events as Server-Sent Events from seq `from` on (result NULL) until it
 * finishes or is cancelled, or pauses too (until_stopped); or, with
 * `result`, the JSON it makes once the run stops (pauses, finishes or is
 * cancelled). */
void serve_follow(serve_call *c, http_request *req, uint32_t from, bool until_stopped,
                  serve_result_fn result);
/* The run's events as Server-Sent Events (from Last-Event-ID on) until it
 * stops: GET /runs/{id}/stream. */
void serve_event_stream_to_stop(serve_call *c, http_request *req);

/* events.c: the event streams' follow timer, and what they hold. */
void serve_follow_tick(uv_timer_t *t);
size_t serve_streams(const serve *s, size_t *buffered_bytes);

#endif
