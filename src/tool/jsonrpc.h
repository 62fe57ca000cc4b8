/* JSON-RPC 2.0 as MCP's stdio transport carries it: one JSON object per line,
 * UTF-8, no embedded newlines.  Two pieces, both pure (no I/O):
 *
 * - art_line_buffer collects bytes as they arrive and hands out whole lines;
 *   a line longer than its limit is an error, so a peer cannot make us hold
 *   unbounded memory.
 * - art_rpc_parse classifies one line as a request, a notification, a result
 *   or an error response, and says precisely why when it is none of them.
 *
 * Buffers come from the allocator given; parsed messages hold a jansson
 * reference that art_rpc_message_dispose drops. */
#ifndef ART_JSONRPC_H
#define ART_JSONRPC_H

#include <stdbool.h>
#include "agentrt/common.h"

#define ART_RPC_LINE_MAX ((size_t)16 << 20)

/* Error codes of JSON-RPC 2.0. */
enum { ART_RPC_METHOD_NOT_FOUND = -32601 };

typedef struct art_line_buffer {
  const art_allocator *alloc;
  char *data;
  size_t len, cap;
  size_t start; /* where the next line begins */
  size_t max;   /* longest line accepted, without its newline */
} art_line_buffer;

void art_line_buffer_init(art_line_buffer *b, const art_allocator *alloc, size_t max);
void art_line_buffer_dispose(art_line_buffer *b);
/* ART_ENOMEM, or ART_EINVAL when an unfinished line grows past `max`. */
int art_line_buffer_append(art_line_buffer *b, const char *bytes, size_t n);
/* The next whole line (without "\n" or "\r\n", NUL-terminated in place): 1, or
 * 0 when no whole line is there yet.  Valid until the next append. */
int art_line_buffer_next(art_line_buffer *b, const char **line, size_t *len);
/* Whether bytes of an unfinished line are held. */
bool art_line_buffer_partial(const art_line_buffer *b);

typedef enum {
  ART_RPC_REQUEST,      /* method and id */
  ART_RPC_NOTIFICATION, /* method, no id */
  ART_RPC_RESULT,       /* id and result */
  ART_RPC_ERROR         /* id (may be JSON null) and error {code, message, data} */
} art_rpc_kind;

typedef struct art_rpc_message {
  art_rpc_kind kind;
  json_t *json;         /* the whole message: the pointers below borrow from it */
  const json_t *id;     /* a string or an integer; JSON null in some errors */
  const char *method;   /* requests and notifications */
  const json_t *params; /* an object or array, or NULL */
  const json_t *result;
  json_int_t error_code;
  const char *error_message;
  const json_t *error_data; /* may be NULL */
} art_rpc_message;

/* 0, or ART_EINVAL with `why` ("not JSON: ...", "not JSON-RPC 2.0: ...").
 * ART_ENOMEM when jansson ran out of memory. */
int art_rpc_parse(const char *line, size_t len, art_rpc_message *out, char *why, size_t why_size);
void art_rpc_message_dispose(art_rpc_message *m);
const char *art_rpc_kind_name(art_rpc_kind k);

/* Whether a response id is the integer `id`. */
bool art_rpc_id_is(const json_t *id, json_int_t want);

/* A message as one compact line ending in "\n" in a buffer from `alloc`. */
int art_rpc_encode(const json_t *msg, const art_allocator *alloc, char **line, size_t *len);
/* {"jsonrpc":"2.0","id":id,"method":..,"params":..}; id < 0: a notification.
 * `params` may be NULL.  NULL when out of memory. */
json_t *art_rpc_request(json_int_t id, const char *method, json_t *params_take);
/* {"jsonrpc":"2.0","id":id,"error":{"code":code,"message":message}} */
json_t *art_rpc_error_response(const json_t *id, int code, const char *message);

#endif
