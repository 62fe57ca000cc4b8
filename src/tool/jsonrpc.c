/* JSON-RPC 2.0 lines: framing and classification (see jsonrpc.h). */
#include "tool/jsonrpc.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

#define FIRST_CAP 4096

/* ---- lines ---------------------------------------------------------------- */

void art_line_buffer_init(art_line_buffer *b, const art_allocator *alloc, size_t max) {
  memset(b, 0, sizeof *b);
  b->alloc = art_allocator_or_default(alloc);
  b->max = max;
}

void art_line_buffer_dispose(art_line_buffer *b) {
  art_release(b->alloc, b->data);
  b->data = NULL;
  b->len = b->cap = b->start = 0;
}

/* Drops the lines already handed out, so the buffer holds one line at most
 * plus what arrived after it. */
static void compact(art_line_buffer *b) {
  if (b->start == 0) return;
  memmove(b->data, b->data + b->start, b->len - b->start);
  b->len -= b->start;
  b->start = 0;
}

static int reserve(art_line_buffer *b, size_t n) {
  if (b->cap - b->len > n) return 0; /* room for a NUL as well */
  size_t cap = b->cap ? b->cap : FIRST_CAP;
  while (cap - b->len <= n) cap *= 2;
  char *data = art_resize(b->alloc, b->data, cap);
  if (!data) return ART_ENOMEM;
  b->data = data;
  b->cap = cap;
  return 0;
}

/* Length of the unfinished line at the end of the buffer. */
static size_t partial_len(const art_line_buffer *b) {
  const char *nl = b->len > b->start ? memchr(b->data + b->start, '\n', b->len - b->start) : NULL;
  size_t from = b->start;
  while (nl) {
    from = (size_t)(nl - b->data) + 1;
    nl = memchr(b->data + from, '\n', b->len - from);
  }
  return b->len - from;
}

int art_line_buffer_append(art_line_buffer *b, const char *bytes, size_t n) {
  compact(b);
  int rc = reserve(b, n);
  if (rc < 0) return rc;
  memcpy(b->data + b->len, bytes, n);
  b->len += n;
  return partial_len(b) > b->max ? ART_EINVAL : 0;
}

int art_line_buffer_next(art_line_buffer *b, const char **line, size_t *len) {
  if (b->start >= b->len) return 0;
  char *at = b->data + b->start;
  char *nl = memchr(at, '\n', b->len - b->start);
  if (!nl) return 0;
  size_t n = (size_t)(nl - at);
  if (n > 0 && at[n - 1] == '\r') n--;
  at[n] = '\0';
  b->start = (size_t)(nl - b->data) + 1;
  *line = at;
  *len = n;
  return 1;
}

bool art_line_buffer_partial(const art_line_buffer *b) { return b->start < b->len; }

/* ---- messages --------------------------------------------------------------- */

static int not_rpc(char *why, size_t size, const char *what) {
  snprintf(why, size, "not JSON-RPC 2.0: %s", what);
  return ART_EINVAL;
}

static bool valid_id(const json_t *id) { return json_is_string(id) || json_is_integer(id); }

static bool valid_params(const json_t *params) {
  return !params || json_is_object(params) || json_is_array(params);
}

static int classify_call(art_rpc_message *m, char *why, size_t size) {
  const json_t *method = json_object_get(m->json, "method");
  m->id = json_object_get(m->json, "id");
  m->params = json_object_get(m->json, "params");
  if (!json_is_string(method)) return not_rpc(why, size, "\"method\" is not a string");
  if (json_object_get(m->json, "result") || json_object_get(m->json, "error"))
    return not_rpc(why, size, "a request cannot carry \"result\" or \"error\"");
  if (m->id && !valid_id(m->id))
    return not_rpc(why, size, "\"id\" is not a string or an integer");
  if (!valid_params(m->params)) return not_rpc(why, size, "\"params\" is not an object or array");
  m->method = json_string_value(method);
  m->kind = m->id ? ART_RPC_REQUEST : ART_RPC_NOTIFICATION;
  return 0;
}

static int classify_error(art_rpc_message *m, const json_t *error, char *why, size_t size) {
  const json_t *code = json_object_get(error, "code");
  const json_t *message = json_object_get(error, "message");
  if (!json_is_object(error)) return not_rpc(why, size, "\"error\" is not an object");
  if (!json_is_integer(code)) return not_rpc(why, size, "\"error.code\" is not an integer");
  if (!json_is_string(message)) return not_rpc(why, size, "\"error.message\" is not a string");
  if (!valid_id(m->id) && !json_is_null(m->id))
    return not_rpc(why, size, "\"id\" is not a string, an integer or null");
  m->kind = ART_RPC_ERROR;
  m->error_code = json_integer_value(code);
  m->error_message = json_string_value(message);
  m->error_data = json_object_get(error, "data");
  return 0;
}

static int classify_response(art_rpc_message *m, char *why, size_t size) {
  const json_t *result = json_object_get(m->json, "result");
  const json_t *error = json_object_get(m->json, "error");
  m->id = json_object_get(m->json, "id");
  if (!m->id) return not_rpc(why, size, "no \"method\" and no \"id\"");
  if (result && error) return not_rpc(why, size, "both \"result\" and \"error\"");
  if (error) return classify_error(m, error, why, size);
  if (!result) return not_rpc(why, size, "a response needs \"result\" or \"error\"");
  if (!valid_id(m->id)) return not_rpc(why, size, "\"id\" is not a string or an integer");
  m->kind = ART_RPC_RESULT;
  m->result = result;
  return 0;
}

static int classify(art_rpc_message *m, char *why, size_t size) {
  if (json_is_array(m->json)) return not_rpc(why, size, "batches are not supported");
  if (!json_is_object(m->json)) return not_rpc(why, size, "not an object");
  const char *version = json_string_value(json_object_get(m->json, "jsonrpc"));
  if (!version || strcmp(version, "2.0") != 0)
    return not_rpc(why, size, "\"jsonrpc\" is not \"2.0\"");
  if (json_object_get(m->json, "method")) return classify_call(m, why, size);
  return classify_response(m, why, size);
}

int art_rpc_parse(const char *line, size_t len, art_rpc_message *out, char *why, size_t why_size) {
  json_error_t jerr;
  memset(out, 0, sizeof *out);
  out->json = json_loadb(line, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
  if (!out->json) {
    if (json_error_code(&jerr) == json_error_out_of_memory) return ART_ENOMEM;
    snprintf(why, why_size, "not JSON: %s", jerr.text);
    return ART_EINVAL;
  }
  int rc = classify(out, why, why_size);
  if (rc < 0) art_rpc_message_dispose(out);
  return rc;
}

void art_rpc_message_dispose(art_rpc_message *m) {
  json_decref(m->json);
  memset(m, 0, sizeof *m);
}

const char *art_rpc_kind_name(art_rpc_kind k) {
  static const char *const names[] = {"request", "notification", "result", "error"};
  return (unsigned)k < sizeof names / sizeof *names ? names[k] : "?";
}

bool art_rpc_id_is(const json_t *id, json_int_t want) {
  return json_is_integer(id) && json_integer_value(id) == want;
}

/* ---- encoding ------------------------------------------------------------------ */

int art_rpc_encode(const json_t *msg, const art_allocator *alloc, char **line, size_t *len) {
  const size_t flags = JSON_COMPACT;
  alloc = art_allocator_or_default(alloc);
  size_t n = json_dumpb(msg, NULL, 0, flags);
  if (n == 0) return ART_EINVAL;
  char *buf = art_alloc(alloc, n + 1);
  if (!buf) return ART_ENOMEM;
  json_dumpb(msg, buf, n, flags);
  buf[n] = '\n';
  *line = buf;
  *len = n + 1;
  return 0;
}

json_t *art_rpc_request(json_int_t id, const char *method, json_t *params_take) {
  json_t *msg = json_pack("{s:s, s:s}", "jsonrpc", "2.0", "method", method);
  if (msg && id >= 0 && json_object_set_new(msg, "id", json_integer(id)) < 0)
    json_decref(msg), msg = NULL;
  if (msg && params_take && json_object_set(msg, "params", params_take) < 0)
    json_decref(msg), msg = NULL;
  json_decref(params_take);
  return msg;
}

json_t *art_rpc_error_response(const json_t *id, int code, const char *message) {
  return json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", id, "error", "code", code,
                   "message", message);
}
