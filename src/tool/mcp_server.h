/* One MCP server process and the JSON-RPC exchange with it (blocking, under
 * deadlines).  Used by the session (mcp.c); kept apart so that the wire side
 * and the tool side each stay small.  The pieces that do not wait (reading
 * what arrived, taking messages out of it, queueing what to write) are shared
 * with the event-loop side, tool/mcp_loop.h.
 *
 * A server that breaks (cannot start, exits, writes a line that is not
 * JSON-RPC, an over-long line, never answers during set-up) is killed and
 * reaped at once, its descriptors closed, and it stays down: every later use
 * fails with the reason it went down. */
#ifndef ART_MCP_SERVER_H
#define ART_MCP_SERVER_H

#include "agentrt/common.h"
#include "agentrt/tool.h"
#include "tool/jsonrpc.h"
#include <pthread.h>

#include "tool/process.h"

#define MCP_ERR_KEEP 2048

struct mcp_watch;
struct mcp_request;

typedef struct mcp_server {
  const art_allocator *alloc;
  /* One blocking exchange at a time: blocking drivers on several threads may
   * share a session. */
  pthread_mutex_t lock;
  unsigned refs; /* the session's and one per registered tool */
  char *name;
  int timeout_ms;      /* tools/call, and sending anything */
  int init_timeout_ms; /* initialize and each tools/list page */
  int grace_ms;
  art_process proc;
  art_line_buffer lines;
  char err_tail[MCP_ERR_KEEP + 1]; /* the last bytes of its stderr */
  size_t err_len;
  json_int_t next_id;
  /* What is still to be written to its stdin, whole lines in order: both
   * paths write through it, so a line the loop could not finish goes out
   * before the next one of either path. */
  char *out_buf;
  size_t out_len, out_off, out_cap;
  /* The event-loop side (tool/mcp_loop.c): its handles on the pipes while
   * requests are in flight, and those requests. */
  struct mcp_watch *watch;
  struct mcp_request *in_flight;
  size_t n_in_flight, peak_in_flight;
  /* Set by the event-loop side: told before the server's descriptors close
   * (it stops watching them) and once the server is down (it fails the
   * requests in flight). */
  void (*unwatch)(struct mcp_server *s);
  bool down;
  char why_down[ART_ERRMSG_SIZE]; /* "mcp server \"fs\": ..." */
  char protocol[16];
} mcp_server;

/* The outcome of waiting for a response. */
enum { MCP_GOT = 0, MCP_TIMED_OUT = 1, MCP_INTERRUPTED = 2 };

int mcp_server_new(mcp_server **out, const char *name, const art_allocator *alloc);
void mcp_server_ref(mcp_server *s);
/* Drops a reference; the last one shuts the server down and frees it. */
void mcp_server_unref(mcp_server *s);
/* Close stdin (and our other ends), wait, SIGTERM, wait, SIGKILL; reap. */
void mcp_server_shutdown(mcp_server *s);

int mcp_server_start(mcp_server *s, const char *const *argv, const char *const *env);
/* Marks the server down with "mcp server \"NAME\": " + the message, kills and
 * reaps it; returns ART_EIO. */
int mcp_server_fail(mcp_server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sends a request (params_take may be NULL) and waits until `deadline_ms`
 * (monotonic) for its response, asking `interrupt` (may be NULL) every 100 ms:
 * MCP_GOT with *response, MCP_TIMED_OUT or MCP_INTERRUPTED (*id is the
 * request's id, to cancel it), or ART_EIO (the server is down) / ART_ENOMEM.
 * `what` names the exchange in messages ("initialize", "tools/call \"echo\""). */
int mcp_server_request(mcp_server *s, const char *method, json_t *params_take, int64_t deadline_ms,
                       const art_interrupt *interrupt, const char *what, json_int_t *id,
                       art_rpc_message *response);
/* Sends a notification; failures take the server down (ART_EIO). */
int mcp_server_notify(mcp_server *s, const char *method, json_t *params_take, const char *what);

/* ---- the pieces that do not wait, shared with the event-loop side ---- */

/* Reads what its stdout has now into the line buffer.  At its end the server
 * is down, after waiting up to `reap_ms` to say how it ended.  0 or ART_EIO /
 * ART_ENOMEM (down). */
int mcp_server_read(mcp_server *s, const char *what, int reap_ms);
/* Reads what its stderr has now into the kept tail: false at its end. */
bool mcp_server_read_stderr(mcp_server *s);
/* The next message of what was read: 1 and *out (the caller disposes of it),
 * 0 when no whole line is there, or ART_EIO / ART_ENOMEM (a line that is not
 * JSON-RPC took the server down). */
int mcp_server_next_message(mcp_server *s, const char *what, art_rpc_message *out);
/* Appends a message to the queue for its stdin: 0, or ART_EIO / ART_ENOMEM. */
int mcp_server_queue(mcp_server *s, json_t *msg_take);
/* Writes what the queue holds, as far as the pipe takes it now: 0, or
 * ART_EIO (its stdin broke: down, waiting up to `reap_ms` to say how). */
int mcp_server_write_queued(mcp_server *s, const char *what, int reap_ms);
bool mcp_server_queued(const mcp_server *s);
/* What agentrt answers a request from the server: an empty result to a
 * ping; it offers no client features (sampling, roots, elicitation), so
 * "method not found" to the others. */
json_t *mcp_server_answer(const art_rpc_message *request);
/* The params of notifications/cancelled for request `id`: the run is being
 * cancelled (`interrupted`), or the call ran past timeout_ms. */
json_t *mcp_server_cancel_params(const mcp_server *s, json_int_t id, bool interrupted);

#endif
