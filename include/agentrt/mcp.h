/* MCP servers as tools: the Model Context Protocol over stdio.
 *
 * A spec's "mcp_servers" say how to start each server.  art_mcp_attach starts
 * them (argv, no shell), negotiates the protocol version, lists their tools
 * (following pagination) and registers each one in the spec's registry as
 * SERVER.TOOL, e.g. "fs.read_file" (server names cannot hold a '.').  The tool
 * keeps the server's description and inputSchema, so input is validated
 * before any call; its side effect class comes from the spec's per-tool
 * override, else from the readOnlyHint annotation (read-only -> read), else
 * the MCP default (not read-only -> write).
 *
 * The session owns the server processes: art_mcp_session_free shuts them down
 * (close stdin, wait, SIGTERM, wait, SIGKILL), reaps them and closes every
 * descriptor.  Free the session after the runs that use its tools are done
 * (or let go by a freed loop) and before the spec.
 *
 * Two ways to call the tools.  The blocking drivers call them one exchange
 * at a time per server (from any number of threads, in turn).  On an event
 * loop (art_loop, loop.h) the tools start their calls on the loop's thread,
 * and one session serves all the loop's runs at once: each call is a
 * tools/call request with an id of its own on the one server process, and
 * the answers go back to their runs by id, in whatever order they come.
 * The server's timeout_ms is a loop timer per call.  A call that runs out of
 * time gets the blocking path's error result; a call whose run is cancelled
 * (art_loop_cancel, its wall-time budget, the loop freed) ends without one;
 * either way the server is sent notifications/cancelled for that request
 * alone, and a late answer to it is dropped.  A server that dies or breaks
 * fails every call in flight, and every later one, with the reason
 * ("mcp server \"fs\": killed by signal 9 during tools/call \"x\" and 3
 * other requests").
 *
 * A session is on one loop at a time, and only while calls are in flight:
 * the first call attaches it to the job's loop, and its handles on the
 * server's pipes are closed with the last call in flight.  So a loop may be
 * freed whenever art_loop_free allows (it gives up every call first), and
 * the session then serves another loop, or the blocking drivers.  Not both
 * at once: a session serves one loop's thread, or blocking callers, at a
 * time. */
#ifndef AGENTRT_MCP_H
#define AGENTRT_MCP_H

#include "agentrt/spec.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct art_mcp_session art_mcp_session;

typedef struct art_mcp_options {
  int version;           /* ART_MCP_OPTIONS_VERSION */
  int shutdown_grace_ms; /* each wait of the shutdown; 0: 2000 */
} art_mcp_options;

#define ART_MCP_OPTIONS_VERSION 1
/* art_mcp_options opts = ART_MCP_OPTIONS_INIT; then set what differs. */
#define ART_MCP_OPTIONS_INIT {ART_MCP_OPTIONS_VERSION, 0}

/* The protocol versions agentrt speaks, newest first, NULL-terminated. */
extern const char *const art_mcp_protocol_versions[];

/* Start and register every server of `spec` (none: an empty session).  `opts`
 * may be NULL; ART_EINVAL when its version is not ART_MCP_OPTIONS_VERSION.  On
 * error (ART_EIO, ART_ESPEC, ART_ENOMEM, message "mcp server \"fs\": ...")
 * every server started is shut down and *out is NULL; the spec must not be run
 * then, since tools of servers attached before the failure stay registered. */
int art_mcp_attach(art_mcp_session **out, art_spec *spec, const art_mcp_options *opts,
                   art_error *err);
void art_mcp_session_free(art_mcp_session *s);

size_t art_mcp_server_count(const art_mcp_session *s);
/* The protocol version server i agreed to. */
const char *art_mcp_server_protocol(const art_mcp_session *s, size_t i);
const char *art_mcp_server_name(const art_mcp_session *s, size_t i);
/* The most tools/call requests server i had in flight at once on an event
 * loop so far (calls of the blocking drivers go one at a time: 0). */
size_t art_mcp_server_peak_in_flight(const art_mcp_session *s, size_t i);

#ifdef __cplusplus
}
#endif
#endif
