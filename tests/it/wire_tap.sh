#!/bin/sh
# Runs the MCP server given as arguments with a copy of everything the client
# writes to it appended to $MCP_WIRE_LOG, so a test can see what was sent
# (e.g. notifications/cancelled).
tee -a "$MCP_WIRE_LOG" | "$@"
