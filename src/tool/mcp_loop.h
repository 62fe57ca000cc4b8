/* An MCP server's requests on an event loop (libuv): many in flight at once
 * on one server process, each with its own JSON-RPC id, its response handed
 * to it by id whatever order they come in.  Used by the session's tools
 * (mcp.c) when an art_loop starts their calls; the blocking exchange of
 * tool/mcp_server.h stays for the blocking drivers.
 *
 * The server is watched on one loop at a time: the first request attaches
 * it (poll handles on its stdout, stderr and, while something waits to be
 * written, its stdin), and it is let go again, handles closed, once no
 * request is in flight.  So nothing of the server stays on a loop between
 * calls, and freeing the loop (which gives up every call first) or the
 * session (after its runs) never leaves a handle behind.  A line the pipe
 * would not take yet stays queued and goes out before the next one.
 *
 * Server messages are handled as the blocking exchange handles them:
 * notifications (progress, log messages) are ignored, requests answered
 * "method not found".  A server that breaks while requests are in flight
 * fails every one of them with the reason it went down. */
#ifndef ART_MCP_LOOP_H
#define ART_MCP_LOOP_H

#include "tool/mcp_server.h"

struct uv_loop_s;

/* How a request ended, told once on the loop's thread: MCP_GOT and the
 * response (borrowed for the call), MCP_TIMED_OUT (no answer within the
 * server's timeout_ms: notifications/cancelled was sent, a late answer is
 * dropped), or ART_EIO (the server is down: s->why_down) / ART_ENOMEM. */
typedef void (*mcp_answered_fn)(void *ud, int outcome, const art_rpc_message *response);

/* Sends request `method` (params_take may be NULL) on `uv`; `what` names it
 * in messages.  0: `answered` will be told with `ud`, maybe before this
 * returns (the server is down: at once).  ART_EINVAL: the server is watched
 * on another loop; ART_ENOMEM. */
int mcp_loop_request(mcp_server *s, struct uv_loop_s *uv, const char *method, json_t *params_take,
                     const char *what, mcp_answered_fn answered, void *ud);

/* Gives up the request started with `ud`: the server is sent
 * notifications/cancelled for its id ("the run is being cancelled"), its
 * answer will be dropped, and `answered` is not told. */
void mcp_loop_abandon(mcp_server *s, void *ud);

#endif
