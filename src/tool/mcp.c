/* MCP servers as registry tools: set-up (initialize, tools/list) and calls
 * (tools/call), blocking over tool/mcp_server.h or started on an event loop
 * over tool/mcp_loop.h, both mapped to results here.  See agentrt/mcp.h. */
#include "agentrt/mcp.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/spec_internal.h"
#include "core/text.h"
#include "core/version.h"
#include "tool/mcp_loop.h"
#include "tool/mcp_server.h"

#define DEFAULT_GRACE_MS 2000
#define MAX_PAGES 1000
#define CLIENT_VERSION "0.1.0"
#define WHAT_SIZE 160

const char *const art_mcp_protocol_versions[] = {"2025-11-25", "2025-06-18", "2025-03-26",
                                                 "2024-11-05", NULL};

struct art_mcp_session {
  const art_allocator *alloc;
  mcp_server **servers;
  size_t n;
};

/* A registered tool's user pointer: the server and the tool's MCP name. */
typedef struct mcp_tool {
  mcp_server *server;
  char *name;
} mcp_tool;

/* ---- initialize ------------------------------------------------------------------ */

static bool supported_version(const char *v) {
  for (const char *const *p = art_mcp_protocol_versions; *p; p++)
    if (strcmp(*p, v) == 0) return true;
  return false;
}

static int check_initialize(mcp_server *s, const art_rpc_message *m, bool *has_tools) {
  if (m->kind == ART_RPC_ERROR)
    return mcp_server_fail(s, "initialize failed: error %lld: %s", (long long)m->error_code,
                           m->error_message);
  const char *version = json_string_value(json_object_get(m->result, "protocolVersion"));
  if (!json_is_object(m->result) || !version)
    return mcp_server_fail(s, "initialize: the result has no \"protocolVersion\" string");
  if (!supported_version(version))
    return mcp_server_fail(s,
                           "initialize: the server speaks protocol version \"%.*s\"; agentrt "
                           "speaks 2025-11-25, 2025-06-18, 2025-03-26 and 2024-11-05",
                           art_utf8_prefix(version, 40), version);
  snprintf(s->protocol, sizeof s->protocol, "%s", version);
  *has_tools = json_is_object(json_object_get(json_object_get(m->result, "capabilities"), "tools"));
  return 0;
}

static int initialize(mcp_server *s, bool *has_tools) {
  json_t *params =
      json_pack("{s:s, s:{}, s:{s:s, s:s}}", "protocolVersion", art_mcp_protocol_versions[0],
                "capabilities", "clientInfo", "name", "agentrt", "version", CLIENT_VERSION);
  art_rpc_message m;
  json_int_t id;
  int rc = mcp_server_request(s, "initialize", params, art_monotonic_ms() + s->init_timeout_ms,
                              NULL, "initialize", &id, &m);
  if (rc == MCP_TIMED_OUT)
    return mcp_server_fail(s, "no answer to initialize within %d ms", s->init_timeout_ms);
  if (rc < 0) return rc;
  rc = check_initialize(s, &m, has_tools);
  art_rpc_message_dispose(&m);
  return rc < 0 ? rc : mcp_server_notify(s, "notifications/initialized", NULL, "initialize");
}

/* ---- tools/list --------------------------------------------------------------------- */

/* Appends the page's tools to `all`; *next is the next cursor (allocated) or NULL. */
static int take_page(mcp_server *s, const art_rpc_message *m, json_t *all, char **next) {
  if (m->kind == ART_RPC_ERROR)
    return mcp_server_fail(s, "tools/list failed: error %lld: %s", (long long)m->error_code,
                           m->error_message);
  json_t *tools = json_object_get(m->result, "tools");
  const json_t *cursor = json_object_get(m->result, "nextCursor");
  if (!json_is_array(tools))
    return mcp_server_fail(s, "tools/list: the result has no \"tools\" array");
  if (cursor && !json_is_null(cursor) && !json_is_string(cursor))
    return mcp_server_fail(s, "tools/list: \"nextCursor\" is not a string");
  if (json_array_extend(all, tools) < 0) return ART_ENOMEM;
  *next = NULL;
  if (json_is_string(cursor) && !(*next = art_strdup(s->alloc, json_string_value(cursor))))
    return ART_ENOMEM;
  return 0;
}

static int list_page(mcp_server *s, const char *cursor, json_t *all, char **next) {
  json_t *params = cursor ? json_pack("{s:s}", "cursor", cursor) : NULL;
  art_rpc_message m;
  json_int_t id;
  if (cursor && !params) return ART_ENOMEM;
  int rc = mcp_server_request(s, "tools/list", params, art_monotonic_ms() + s->init_timeout_ms,
                              NULL, "tools/list", &id, &m);
  if (rc == MCP_TIMED_OUT)
    return mcp_server_fail(s, "no answer to tools/list within %d ms", s->init_timeout_ms);
  if (rc < 0) return rc;
  rc = take_page(s, &m, all, next);
  art_rpc_message_dispose(&m);
  return rc;
}

/* Every page, following nextCursor; a cursor handed out twice in a row, or
 * more than MAX_PAGES pages, would never end. */
static int list_tools(mcp_server *s, json_t *all) {
  char *cursor = NULL, *next = NULL;
  int rc = 0;
  for (int page = 0; rc == 0; page++) {
    if (page == MAX_PAGES) {
      rc = mcp_server_fail(s, "tools/list: more than %d pages", MAX_PAGES);
      break;
    }
    rc = list_page(s, cursor, all, &next);
    if (rc == 0 && next && cursor && strcmp(next, cursor) == 0)
      rc = mcp_server_fail(s, "tools/list: the server hands out cursor \"%.*s\" again",
                           art_utf8_prefix(next, 40), next);
    art_release(s->alloc, cursor);
    cursor = next;
    next = NULL;
    if (!cursor) break;
  }
  art_release(s->alloc, cursor);
  return rc;
}

/* ---- tools/call -------------------------------------------------------------------- */

/* The text blocks of `content`, one per line, cut to fit `size`. */
static void join_text(const json_t *content, char *buf, size_t size) {
  size_t used = 0, i;
  const json_t *block;
  buf[0] = '\0';
  json_array_foreach(content, i, block) {
    const char *text = json_string_value(json_object_get(block, "text"));
    const char *type = json_string_value(json_object_get(block, "type"));
    if (!text || !type || strcmp(type, "text") != 0 || used + 1 >= size) continue;
    int n = snprintf(buf + used, size - used, "%s%s", used ? "\n" : "", text);
    used = n < 0 ? used : used + (size_t)n >= size ? art_utf8_cut(buf, size - 1) : used + (size_t)n;
  }
  buf[art_trimmed_len(buf, used)] = '\0';
}

/* The whole result (content blocks of every kind, structuredContent) is the
 * data; the text blocks are the message, which the observation summarises. */
static void map_result(mcp_server *s, const art_rpc_message *m, const char *what,
                       art_tool_result *r) {
  char text[ART_RESULT_MESSAGE_SIZE];
  const json_t *content = json_object_get(m->result, "content");
  if (m->kind == ART_RPC_ERROR) {
    art_tool_result_set(r, ART_RESULT_ERROR, NULL, "mcp server \"%s\": %s failed: error %lld: %s",
                        s->name, what, (long long)m->error_code, m->error_message);
    return;
  }
  if (!json_is_object(m->result) || !json_is_array(content)) {
    art_tool_result_set(r, ART_RESULT_ERROR, NULL,
                        "mcp server \"%s\": %s: the result has no \"content\" array", s->name,
                        what);
    return;
  }
  join_text(content, text, sizeof text);
  bool failed = json_is_true(json_object_get(m->result, "isError"));
  if (failed && !text[0]) snprintf(text, sizeof text, "%s: the tool reported an error", what);
  art_tool_result_set(r, failed ? ART_RESULT_ERROR : ART_RESULT_OK,
                      json_incref((json_t *)m->result), "%s", text);
}

/* How a tools/call exchange ended (MCP_GOT with `m`, MCP_TIMED_OUT,
 * MCP_INTERRUPTED, or the server down) as the call's result.  A call given
 * up was cancelled on the server, and a late answer is ignored. */
static void call_result(mcp_server *s, int outcome, const art_rpc_message *m, const char *what,
                        art_tool_result *r) {
  if (outcome == MCP_GOT)
    map_result(s, m, what, r);
  else if (outcome == MCP_INTERRUPTED)
    art_tool_result_set(r, ART_RESULT_ERROR, NULL, "interrupted: the run is being cancelled");
  else if (outcome == MCP_TIMED_OUT)
    art_tool_result_set(r, ART_RESULT_ERROR, NULL,
                        "mcp server \"%s\": no answer to %s within %d ms (request cancelled)",
                        s->name, what, s->timeout_ms);
  else if (outcome == ART_ENOMEM)
    art_tool_result_set(r, ART_RESULT_ERROR, NULL, "%s", art_strerror(outcome));
  else
    art_tool_result_set(r, ART_RESULT_ERROR, NULL, "%s", s->why_down);
}

static void call_what(const mcp_tool *t, char *what) {
  snprintf(what, WHAT_SIZE, "tools/call \"%.*s\"", art_utf8_prefix(t->name, 100), t->name);
}

static json_t *call_params(const mcp_tool *t, const art_tool_call *call) {
  return json_pack("{s:s, s:O}", "name", t->name, "arguments", (json_t *)call->input);
}

/* The blocking call: one exchange at a time on the server. */
static int mcp_tool_call(void *ud, const art_tool_call *call, art_tool_result *r) {
  mcp_tool *t = ud;
  mcp_server *s = t->server;
  char what[WHAT_SIZE];
  call_what(t, what);
  json_t *params = call_params(t, call);
  if (!params) return ART_ENOMEM;
  art_rpc_message m;
  json_int_t id;
  pthread_mutex_lock(&s->lock);
  int rc = mcp_server_request(s, "tools/call", params, art_monotonic_ms() + s->timeout_ms,
                              call->interrupt, what, &id, &m);
  if (rc == MCP_TIMED_OUT || rc == MCP_INTERRUPTED)
    mcp_server_notify(s, "notifications/cancelled",
                      mcp_server_cancel_params(s, id, rc == MCP_INTERRUPTED), what);
  if (rc != ART_ENOMEM) call_result(s, rc, &m, what, r);
  if (rc == MCP_GOT) art_rpc_message_dispose(&m);
  pthread_mutex_unlock(&s->lock);
  return rc == ART_ENOMEM ? rc : 0;
}

/* ---- tools/call on an event loop ------------------------------------------------------ */

static void call_answered(void *ud, int outcome, const art_rpc_message *m) {
  art_tool_job *job = ud;
  const mcp_tool *t = job->state;
  char what[WHAT_SIZE];
  art_tool_result r = {0};
  call_what(t, what);
  call_result(t->server, outcome, m, what, &r);
  job->done(job, &r);
}

static int mcp_tool_start(void *ud, const art_tool_call *call, art_tool_job *job) {
  mcp_tool *t = ud;
  char what[WHAT_SIZE];
  call_what(t, what);
  json_t *params = call_params(t, call);
  if (!params) return ART_ENOMEM;
  job->state = t;
  int rc = mcp_loop_request(t->server, job->uv, "tools/call", params, what, call_answered, job);
  if (rc != ART_EINVAL) return rc;
  art_tool_result r = {0};
  art_tool_result_set(&r, ART_RESULT_ERROR, NULL, "mcp server \"%s\": in use on another event loop",
                      t->server->name);
  job->done(job, &r);
  return 0;
}

static void mcp_tool_cancel(void *ud, art_tool_job *job) {
  mcp_tool *t = ud;
  mcp_loop_abandon(t->server, job);
}

static void mcp_tool_free(void *ud) {
  mcp_tool *t = ud;
  const art_allocator *a = t->server->alloc;
  mcp_server_unref(t->server);
  art_release(a, t->name);
  art_release(a, t);
}

/* ---- registering tools ---------------------------------------------------------------- */

/* The spec's override, else readOnlyHint (absent: false), so a tool that does
 * not say it only reads is a write. */
static void side_effect_of(const json_t *tool, const json_t *override, art_tool_def *def) {
  const json_t *read_only = json_object_get(json_object_get(tool, "annotations"), "readOnlyHint");
  const char *side = json_string_value(json_object_get(override, "side_effect"));
  art_side_effect parsed;
  def->idempotent = json_is_true(json_object_get(override, "idempotent"));
  if (side && art_side_effect_parse(side, &parsed) == 0) {
    def->side_effect = parsed;
    def->side_effect_source = ART_SOURCE_OVERRIDE;
  } else {
    def->side_effect = json_is_true(read_only) ? ART_SIDE_READ : ART_SIDE_WRITE;
    def->side_effect_source =
        json_is_boolean(read_only) ? ART_SOURCE_ANNOTATION : ART_SOURCE_DEFAULT;
  }
}

static int check_tool_json(mcp_server *s, const json_t *tool) {
  const char *name = json_string_value(json_object_get(tool, "name"));
  const json_t *description = json_object_get(tool, "description");
  const json_t *schema = json_object_get(tool, "inputSchema");
  const json_t *annotations = json_object_get(tool, "annotations");
  if (!json_is_object(tool) || !name || !name[0])
    return mcp_server_fail(s, "tools/list: a tool without a name");
  const char *wrong =
      description && !json_is_string(description)   ? "\"description\" is not a string"
      : schema && !json_is_object(schema)           ? "\"inputSchema\" is not an object"
      : annotations && !json_is_object(annotations) ? "\"annotations\" is not an object"
                                                    : NULL;
  if (wrong)
    return mcp_server_fail(s, "tools/list: tool \"%.*s\": %s", art_utf8_prefix(name, 80), name,
                           wrong);
  return 0;
}

static mcp_tool *tool_ud_new(mcp_server *s, const char *name) {
  mcp_tool *t = art_zalloc(s->alloc, sizeof *t);
  if (t && !(t->name = art_strdup(s->alloc, name))) art_release(s->alloc, t), t = NULL;
  if (t) mcp_server_ref(s), t->server = s;
  return t;
}

static int register_tool(art_spec *spec, mcp_server *s, const art_mcp_server_config *c,
                         const json_t *tool, art_error *err) {
  const char *name = json_string_value(json_object_get(tool, "name"));
  char full[512];
  snprintf(full, sizeof full, "%s.%s", s->name, name);
  art_tool_def def = {.name = full,
                      .description = json_string_value(json_object_get(tool, "description")),
                      .input_schema = json_object_get(tool, "inputSchema"),
                      .owner = s->name,
                      .fn = mcp_tool_call,
                      .may_block = true,
                      .start = mcp_tool_start,
                      .cancel = mcp_tool_cancel,
                      .free_ud = mcp_tool_free};
  side_effect_of(tool, json_object_get(c->tools, name), &def);
  if (!(def.ud = tool_ud_new(s, name))) return art_error_set(err, ART_ENOMEM, "out of memory");
  art_error why = {0};
  int rc = art_registry_add(spec->registry, &def, &why);
  if (rc == ART_ENOMEM) return art_error_set(err, rc, "out of memory");
  return rc < 0 ? art_error_set(err, ART_EIO, "mcp server \"%s\": %s", s->name, why.message) : 0;
}

/* A per-tool override for a tool the server does not have is a spec mistake. */
static int check_overrides(const art_spec *spec, size_t i, const art_mcp_server_config *c,
                           const json_t *tools, art_error *err) {
  const char *key;
  const json_t *v, *tool;
  size_t k;
  json_object_foreach((json_t *)c->tools, key, v) {
    bool found = false;
    json_array_foreach(tools, k, tool) {
      found |= strcmp(json_string_value(json_object_get(tool, "name")), key) == 0;
    }
    if (!found)
      return art_error_set(err, ART_ESPEC,
                           "%s: $.mcp_servers[%zu].tools.%s: server \"%s\" has no "
                           "tool \"%s\"",
                           spec->name, i, key, c->name, key);
  }
  return 0;
}

static int register_tools(art_spec *spec, mcp_server *s, size_t i, const json_t *tools,
                          art_error *err) {
  const art_mcp_server_config *c = &spec->mcp_servers[i];
  size_t k;
  const json_t *tool;
  json_array_foreach(tools, k, tool) {
    if (check_tool_json(s, tool) < 0) return art_error_set(err, ART_EIO, "%s", s->why_down);
  }
  int rc = check_overrides(spec, i, c, tools, err);
  json_array_foreach(tools, k, tool) {
    if (rc == 0) rc = register_tool(spec, s, c, tool, err);
  }
  return rc;
}

/* ---- the session ------------------------------------------------------------------------- */

static int set_up(mcp_server *s, const art_mcp_server_config *c, json_t *tools) {
  bool has_tools = false;
  int rc = mcp_server_start(s, c->argv, (const char *const *)c->env);
  if (rc == 0) rc = initialize(s, &has_tools);
  if (rc == 0 && has_tools) rc = list_tools(s, tools);
  return rc;
}

static int attach_server(art_mcp_session *session, art_spec *spec, size_t i, int grace_ms,
                         art_error *err) {
  const art_mcp_server_config *c = &spec->mcp_servers[i];
  mcp_server *s;
  if (mcp_server_new(&s, c->name, session->alloc) < 0)
    return art_error_set(err, ART_ENOMEM, "out of memory");
  s->timeout_ms = c->timeout_ms;
  s->init_timeout_ms = c->init_timeout_ms;
  s->grace_ms = grace_ms;
  session->servers[session->n++] = s;
  json_t *tools = json_array();
  int rc = tools ? set_up(s, c, tools) : ART_ENOMEM;
  if (rc == ART_ENOMEM)
    art_error_set(err, rc, "out of memory");
  else if (rc < 0)
    art_error_set(err, rc, "%s", s->why_down);
  if (rc == 0) rc = register_tools(spec, s, i, tools, err);
  json_decref(tools);
  return rc;
}

int art_mcp_attach(art_mcp_session **out, art_spec *spec, const art_mcp_options *opts,
                   art_error *err) {
  *out = NULL;
  if (opts && art_version_check("mcp options", opts->version, ART_MCP_OPTIONS_VERSION, err) < 0)
    return ART_EINVAL;
  art_mcp_session *session = art_zalloc(spec->alloc, sizeof *session);
  if (!session) return art_error_set(err, ART_ENOMEM, "out of memory");
  session->alloc = spec->alloc;
  int grace_ms = opts && opts->shutdown_grace_ms > 0 ? opts->shutdown_grace_ms : DEFAULT_GRACE_MS;
  size_t n = spec->n_mcp_servers;
  session->servers = art_zalloc(spec->alloc, (n ? n : 1) * sizeof *session->servers);
  int rc = session->servers ? 0 : art_error_set(err, ART_ENOMEM, "out of memory");
  for (size_t i = 0; rc == 0 && i < n; i++) rc = attach_server(session, spec, i, grace_ms, err);
  if (rc < 0) {
    art_mcp_session_free(session);
    return rc;
  }
  *out = session;
  return 0;
}

void art_mcp_session_free(art_mcp_session *session) {
  if (!session) return;
  /* Every server is asked to leave first, so their grace periods overlap. */
  for (size_t i = 0; i < session->n; i++) art_close_fd(&session->servers[i]->proc.in_fd);
  for (size_t i = 0; i < session->n; i++) {
    mcp_server_shutdown(session->servers[i]);
    mcp_server_unref(session->servers[i]);
  }
  art_release(session->alloc, session->servers);
  art_release(session->alloc, session);
}

size_t art_mcp_server_count(const art_mcp_session *s) { return s->n; }
const char *art_mcp_server_protocol(const art_mcp_session *s, size_t i) {
  return s->servers[i]->protocol;
}
const char *art_mcp_server_name(const art_mcp_session *s, size_t i) { return s->servers[i]->name; }
size_t art_mcp_server_peak_in_flight(const art_mcp_session *s, size_t i) {
  return s->servers[i]->peak_in_flight;
}
