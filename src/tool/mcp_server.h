/* One MCP server process and the JSON-RPC exchange with it (blocking, under
 * deadlines).  Used by the session (mcp.c); kept apart so that the wire side
 * and the tool side each stay small.
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

typedef struct mcp_server {
  const art_allocator *alloc;
  /* One exchange at a time: runs on an event loop call the server's tools
   * from the loop's thread pool. */
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

#endif
