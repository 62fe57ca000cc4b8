/* libFuzzer target: what an MCP server writes to agentrt.  The bytes arrive in
 * chunks (the first byte picks the chunk size) through the line buffer, and
 * every whole line goes through the JSON-RPC parser.  A parsed message must
 * be consistent with its kind (a request has a method and an id, a result an
 * id and a result, ...); anything else aborts. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tool/jsonrpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_message(const art_rpc_message *m) {
  switch (m->kind) {
  case ART_RPC_REQUEST:
    if (!m->method || !m->id) abort();
    break;
  case ART_RPC_NOTIFICATION:
    if (!m->method || m->id) abort();
    break;
  case ART_RPC_RESULT:
    if (!m->id || !m->result || m->method) abort();
    break;
  case ART_RPC_ERROR:
    if (!m->id || !m->error_message) abort();
    break;
  default: abort();
  }
  (void)art_rpc_id_is(m->id, 1);
}

static void parse_line(const char *line, size_t len) {
  art_rpc_message m;
  char why[64]; /* small, so long reasons are truncated */
  if (art_rpc_parse(line, len, &m, why, sizeof why) == 0) {
    check_message(&m);
    art_rpc_message_dispose(&m);
  } else if (m.json) {
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  size_t chunk = (size_t)data[0] % 64 + 1;
  art_line_buffer b;
  art_line_buffer_init(&b, NULL, 4096);
  for (size_t at = 1; at < size; at += chunk) {
    size_t n = size - at < chunk ? size - at : chunk;
    if (art_line_buffer_append(&b, (const char *)data + at, n) < 0) break;
    const char *line;
    size_t len;
    while (art_line_buffer_next(&b, &line, &len) == 1) {
      if (strlen(line) != len) continue; /* a NUL inside: jansson stops there as we do */
      parse_line(line, len);
    }
  }
  art_line_buffer_dispose(&b);
  return 0;
}
