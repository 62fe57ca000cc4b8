/* Loading an agent spec.  Strict: every problem is reported with the file, the
 * JSON path and what is wrong, and nothing half-built escapes. */
#include "core/spec_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/memory.h"
#include "core/reader.h"
#include "core/version.h"

#define DEFAULT_MAX_STEPS 10
#define DEFAULT_RECENT 5
#define DEFAULT_OUTBOX "outbox.jsonl"

typedef struct loader {
  art_spec *spec;
  art_reader rd;
  const art_spec_options *opts;
  const art_spec_tools *tools; /* may be NULL: no built-in and no command tools */
} loader;

static int oom(loader *l) { return art_error_set(l->rd.err, ART_ENOMEM, "out of memory"); }

/* ---- actor, context, redaction ---------------------------------------------- */

static int read_actor(loader *l, const json_t *root) {
  static const char *const keys[] = {"id", "tenant", "route", NULL};
  const json_t *actor = json_object_get(root, "actor");
  if (!actor) return 0;
  art_spec *s = l->spec;
  if (art_rd_expect_object(&l->rd, "$.actor", actor) < 0 ||
      art_rd_known_keys(&l->rd, "$.actor", actor, keys) < 0 ||
      art_rd_string(&l->rd, "$.actor", actor, "id", false, &s->actor) < 0 ||
      art_rd_string(&l->rd, "$.actor", actor, "tenant", false, &s->tenant) < 0 ||
      art_rd_string(&l->rd, "$.actor", actor, "route", false, &s->route) < 0)
    return ART_ESPEC;
  return 0;
}

static int read_context(loader *l, const json_t *root) {
  static const char *const keys[] = {"recent_observations", "scopes", NULL};
  const json_t *ctx = json_object_get(root, "context");
  int64_t recent = DEFAULT_RECENT;
  l->spec->context_scopes = 1u << ART_SCOPE_TASK | 1u << ART_SCOPE_PROJECT;
  if (ctx && (art_rd_expect_object(&l->rd, "$.context", ctx) < 0 ||
              art_rd_known_keys(&l->rd, "$.context", ctx, keys) < 0 ||
              art_rd_int(&l->rd, "$.context", ctx, "recent_observations", 0, 1000, &recent) < 0 ||
              art_rd_name_set(&l->rd, "$.context", ctx, "scopes", &art_scope_names,
                              &l->spec->context_scopes) < 0))
    return ART_ESPEC;
  l->spec->recent_observations = (uint32_t)recent;
  return 0;
}

/* A NULL-terminated array of the strings in `list` (borrowed), or NULL when absent. */
static int read_string_list(loader *l, const char *path, const json_t *obj, const char *key,
                            const char ***out) {
  const json_t *list = json_object_get(obj, key);
  char sub[ART_PATH_SIZE], item[ART_PATH_SIZE];
  *out = NULL;
  if (!list) return 0;
  art_rd_member_path(sub, path, key);
  if (art_rd_expect_array(&l->rd, sub, list) < 0) return ART_ESPEC;
  const char **strings = art_zalloc(l->spec->alloc, (json_array_size(list) + 1) * sizeof *strings);
  if (!strings) return oom(l);
  for (size_t i = 0; i < json_array_size(list); i++) {
    strings[i] = json_string_value(json_array_get(list, i));
    art_rd_index_path(item, sub, i);
    if (!strings[i]) {
      art_release(l->spec->alloc, strings);
      return art_rd_fail(&l->rd, item, "expected a string");
    }
  }
  *out = strings;
  return 0;
}

static int read_redact(loader *l, const json_t *root) {
  static const char *const keys[] = {"keys", "patterns", NULL};
  const json_t *redact = json_object_get(root, "redact");
  const char **names = NULL, **patterns = NULL;
  if (redact && (art_rd_expect_object(&l->rd, "$.redact", redact) < 0 ||
                 art_rd_known_keys(&l->rd, "$.redact", redact, keys) < 0))
    return ART_ESPEC;
  int rc = redact ? read_string_list(l, "$.redact", redact, "keys", &names) : 0;
  if (rc == 0 && redact) rc = read_string_list(l, "$.redact", redact, "patterns", &patterns);
  if (rc == 0) {
    art_error why = {0};
    rc = art_redactor_new(&l->spec->redactor, names, patterns, l->spec->alloc, &why);
    if (rc == ART_ENOMEM)
      oom(l);
    else if (rc < 0)
      rc = art_rd_fail(&l->rd, "$.redact.patterns", "%s", why.message);
  }
  art_release(l->spec->alloc, names);
  art_release(l->spec->alloc, patterns);
  return rc;
}

/* ---- memory ---------------------------------------------------------------- */

/* Digits only, exactly n of them. */
static bool digits(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

static int number(const char *s, size_t n) {
  int v = 0;
  for (size_t i = 0; i < n; i++) v = v * 10 + (s[i] - '0');
  return v;
}

/* Exactly "YYYY-MM-DDTHH:MM:SS[.fraction]Z", a real date and time after the
 * epoch (0 means "never expires") -> µs since the epoch. */
static int parse_timestamp(const char *t, int64_t *out) {
  if (strlen(t) < 20 || !digits(t, 4) || t[4] != '-' || !digits(t + 5, 2) || t[7] != '-' ||
      !digits(t + 8, 2) || t[10] != 'T' || !digits(t + 11, 2) || t[13] != ':' ||
      !digits(t + 14, 2) || t[16] != ':' || !digits(t + 17, 2))
    return ART_EINVAL;
  struct tm tm = {.tm_year = number(t, 4) - 1900,
                  .tm_mon = number(t + 5, 2) - 1,
                  .tm_mday = number(t + 8, 2),
                  .tm_hour = number(t + 11, 2),
                  .tm_min = number(t + 14, 2),
                  .tm_sec = number(t + 17, 2)};
  struct tm check = tm;
  int64_t seconds = (int64_t)timegm(&check);
  if (check.tm_mday != tm.tm_mday || check.tm_mon != tm.tm_mon || check.tm_hour != tm.tm_hour ||
      check.tm_min != tm.tm_min || check.tm_sec != tm.tm_sec || seconds <= 0)
    return ART_EINVAL; /* normalised: the date or time does not exist */
  const char *rest = t + 19;
  int64_t micros = 0, scale = 100000;
  if (*rest == '.') {
    if (!digits(++rest, 1)) return ART_EINVAL;
    for (; *rest >= '0' && *rest <= '9'; rest++, scale /= 10) micros += (*rest - '0') * scale;
  }
  if (strcmp(rest, "Z") != 0) return ART_EINVAL;
  *out = seconds * 1000000 + micros;
  return 0;
}

static int read_memory_item(loader *l, const char *path, const json_t *j, art_memory_item *m) {
  static const char *const keys[] = {"id", "scope", "sensitivity", "text", "expires_at", NULL};
  int scope = ART_SCOPE_TASK, sensitivity = ART_SENS_INTERNAL;
  const char *expires = NULL;
  if (art_rd_expect_object(&l->rd, path, j) < 0 || art_rd_known_keys(&l->rd, path, j, keys) < 0 ||
      art_rd_string(&l->rd, path, j, "id", true, &m->id) < 0 ||
      art_rd_string(&l->rd, path, j, "text", true, &m->text) < 0 ||
      art_rd_enum(&l->rd, path, j, "scope", &art_scope_names, &scope) < 0 ||
      art_rd_enum(&l->rd, path, j, "sensitivity", &art_sensitivity_names, &sensitivity) < 0 ||
      art_rd_string(&l->rd, path, j, "expires_at", false, &expires) < 0)
    return ART_ESPEC;
  m->scope = (art_scope)scope;
  m->sensitivity = (art_sensitivity)sensitivity;
  if (expires && parse_timestamp(expires, &m->expires_at_us) < 0) {
    char sub[ART_PATH_SIZE];
    art_rd_member_path(sub, path, "expires_at");
    return art_rd_fail(&l->rd, sub, "expected a UTC time after 1970 like 2026-01-31T12:00:00Z");
  }
  return 0;
}

static int read_memory(loader *l, const json_t *root) {
  const json_t *memory = json_object_get(root, "memory");
  char item[ART_PATH_SIZE];
  if (!memory) return 0;
  if (art_rd_expect_array(&l->rd, "$.memory", memory) < 0) return ART_ESPEC;
  size_t n = json_array_size(memory);
  l->spec->memory = art_zalloc(l->spec->alloc, (n ? n : 1) * sizeof *l->spec->memory);
  if (!l->spec->memory) return oom(l);
  for (size_t i = 0; i < n; i++, l->spec->n_memory++) {
    art_rd_index_path(item, "$.memory", i);
    if (read_memory_item(l, item, json_array_get(memory, i), &l->spec->memory[i]) < 0)
      return ART_ESPEC;
    for (size_t k = 0; k < i; k++)
      if (strcmp(l->spec->memory[k].id, l->spec->memory[i].id) == 0)
        return art_rd_fail(&l->rd, item, "duplicate memory id \"%s\"", l->spec->memory[i].id);
  }
  return 0;
}

/* ---- tools ------------------------------------------------------------------- */

/* dir/path, allocated, without a "./" or a "//" where they meet: "." and
 * "./bin/x" give "./bin/x", "/" and "bin/x" give "/bin/x". */
static char *join_path(const art_allocator *alloc, const char *dir, const char *path) {
  while (path[0] == '.' && path[1] == '/') path += 2;
  size_t d = strlen(dir), n = d + strlen(path) + 2;
  const char *slash = d && dir[d - 1] == '/' ? "" : "/";
  char *joined = art_alloc(alloc, n);
  if (joined) snprintf(joined, n, "%s%s%s", dir, slash, path);
  return joined;
}

/* argv with argv[0] resolved against the spec's directory when it is a relative
 * path (has a slash); bare names are looked up in PATH when the tool runs.
 * *argv is allocated (strings borrowed), *argv0 is the resolved copy or NULL. */
static int read_command(loader *l, const char *path, const json_t *tool, const char ***argv,
                        char **argv0) {
  char sub[ART_PATH_SIZE];
  art_rd_member_path(sub, path, "command");
  const json_t *cmd = json_object_get(tool, "command");
  if (!json_is_array(cmd) || json_array_size(cmd) == 0)
    return art_rd_fail(&l->rd, sub, "expected a non-empty array of strings (argv, no shell)");
  int rc = read_string_list(l, path, tool, "command", argv);
  if (rc < 0) return rc;
  const char *first = (*argv)[0], *base = l->spec->base_dir;
  if (!first[0]) return art_rd_fail(&l->rd, sub, "argv[0] is empty");
  if (first[0] == '/' || !strchr(first, '/') || !base) return 0;
  if (!(*argv0 = join_path(l->spec->alloc, base, first))) return oom(l);
  (*argv)[0] = *argv0;
  return 0;
}

static int read_side_effect(loader *l, const char *path, const json_t *j, art_side_effect *out) {
  int v = -1;
  if (art_rd_enum(&l->rd, path, j, "side_effect", &art_side_effect_names, &v) < 0) return ART_ESPEC;
  if (v < 0) return art_rd_fail(&l->rd, path, "missing required key \"side_effect\"");
  *out = (art_side_effect)v;
  return 0;
}

static int read_tool_fields(loader *l, const char *path, const json_t *j, art_tool_def *def,
                            int *timeout_ms) {
  static const char *const keys[] = {"name",    "description", "side_effect", "idempotent",
                                     "enabled", "version",     "owner",       "input_schema",
                                     "command", "timeout_ms",  NULL};
  bool enabled = true;
  int64_t timeout = 30000;
  if (art_rd_known_keys(&l->rd, path, j, keys) < 0 ||
      art_rd_string(&l->rd, path, j, "name", true, &def->name) < 0 ||
      art_rd_string(&l->rd, path, j, "description", false, &def->description) < 0 ||
      read_side_effect(l, path, j, &def->side_effect) < 0 ||
      art_rd_bool(&l->rd, path, j, "idempotent", &def->idempotent) < 0 ||
      art_rd_bool(&l->rd, path, j, "enabled", &enabled) < 0 ||
      art_rd_string(&l->rd, path, j, "version", false, &def->version) < 0 ||
      art_rd_string(&l->rd, path, j, "owner", false, &def->owner) < 0 ||
      art_rd_int(&l->rd, path, j, "timeout_ms", 1, 3600 * 1000, &timeout) < 0)
    return ART_ESPEC;
  def->disabled = !enabled;
  *timeout_ms = (int)timeout;
  def->input_schema = json_object_get(j, "input_schema");
  if (def->input_schema && !json_is_object(def->input_schema)) {
    char sub[ART_PATH_SIZE];
    art_rd_member_path(sub, path, "input_schema");
    return art_rd_fail(&l->rd, sub, "expected an object (a JSON Schema)");
  }
  return 0;
}

static int add_command_tool(loader *l, const char *path, const art_tool_def *def,
                            const char *const *argv, int timeout_ms) {
  art_error why = {0};
  if (!l->tools || !l->tools->add_command)
    return art_rd_fail(&l->rd, path, "command tools are not available here");
  int rc = l->tools->add_command(l->spec->registry, def, argv, timeout_ms, &why);
  if (rc == ART_ENOMEM) return oom(l);
  return rc < 0 ? art_rd_fail(&l->rd, path, "%s", why.message) : 0;
}

static int read_command_tool(loader *l, const char *path, const json_t *j) {
  art_tool_def def = {0};
  const char **argv = NULL;
  char *argv0 = NULL;
  int timeout_ms;
  int rc = read_tool_fields(l, path, j, &def, &timeout_ms);
  if (rc == 0) rc = read_command(l, path, j, &argv, &argv0);
  if (rc == 0) rc = add_command_tool(l, path, &def, argv, timeout_ms);
  art_release(l->spec->alloc, argv);
  art_release(l->spec->alloc, argv0);
  return rc;
}

static int read_builtin_tool(loader *l, const char *path, const char *name) {
  art_error why = {0};
  if (art_registry_find(l->spec->registry, name))
    return art_rd_fail(&l->rd, path, "tool \"%s\" is listed twice", name);
  const art_spec_tools *tools = l->tools;
  int rc = tools && tools->add_builtin
               ? tools->add_builtin(l->spec->registry, name, l->spec->outbox, &why)
               : ART_ENOTFOUND;
  if (rc == ART_ENOTFOUND)
    return art_rd_fail(&l->rd, path, "unknown built-in tool \"%s\" (built-in tools: %s)", name,
                       tools && tools->builtin_names ? tools->builtin_names() : "none");
  if (rc == ART_ENOMEM) return oom(l);
  return rc < 0 ? art_rd_fail(&l->rd, path, "%s", why.message) : 0;
}

static int read_tools(loader *l, const json_t *root) {
  const json_t *tools = json_object_get(root, "tools");
  char item[ART_PATH_SIZE];
  if (!tools) return 0;
  if (art_rd_expect_array(&l->rd, "$.tools", tools) < 0) return ART_ESPEC;
  for (size_t i = 0; i < json_array_size(tools); i++) {
    const json_t *t = json_array_get(tools, i);
    art_rd_index_path(item, "$.tools", i);
    int rc;
    if (json_is_string(t))
      rc = read_builtin_tool(l, item, json_string_value(t));
    else if (json_is_object(t))
      rc = read_command_tool(l, item, t);
    else
      rc = art_rd_fail(&l->rd, item, "expected a built-in tool name or a tool object");
    if (rc < 0) return rc;
  }
  return 0;
}

/* ---- MCP servers --------------------------------------------------------------- */

#define MCP_DEFAULT_TIMEOUT_MS 30000
#define MCP_DEFAULT_INIT_TIMEOUT_MS 10000

/* Server names become tool name prefixes ("fs.read_file"), so they are kept to
 * letters, digits, '_' and '-'. */
static bool valid_server_name(const char *name) {
  if (!name[0]) return false;
  for (const char *c = name; *c; c++)
    if (!(*c >= 'a' && *c <= 'z') && !(*c >= 'A' && *c <= 'Z') && !(*c >= '0' && *c <= '9') &&
        *c != '_' && *c != '-')
      return false;
  return true;
}

static char *env_entry_new(const art_allocator *a, const char *name, const char *value) {
  size_t n = strlen(name), v = strlen(value);
  char *e = art_alloc(a, n + v + 2);
  if (e) snprintf(e, n + v + 2, "%s=%s", name, value);
  return e;
}

static int read_mcp_env(loader *l, const char *path, const json_t *j, art_mcp_server_config *c) {
  const json_t *env = json_object_get(j, "env"), *value;
  const char *key;
  char sub[ART_PATH_SIZE], item[ART_PATH_SIZE];
  if (!env) return 0;
  art_rd_member_path(sub, path, "env");
  if (art_rd_expect_object(&l->rd, sub, env) < 0) return ART_ESPEC;
  c->env = art_zalloc(l->spec->alloc, (json_object_size(env) + 1) * sizeof *c->env);
  if (!c->env) return oom(l);
  size_t n = 0;
  json_object_foreach((json_t *)env, key, value) {
    art_rd_member_path(item, sub, key);
    if (!key[0] || strchr(key, '='))
      return art_rd_fail(&l->rd, item, "not a variable name (empty, or holds '=')");
    if (!json_is_string(value)) return art_rd_fail(&l->rd, item, "expected a string");
    if (!(c->env[n++] = env_entry_new(l->spec->alloc, key, json_string_value(value))))
      return oom(l);
  }
  return 0;
}

static int read_mcp_tool_override(loader *l, const char *path, const json_t *j) {
  static const char *const keys[] = {"side_effect", "idempotent", NULL};
  int side = -1;
  bool idempotent = false;
  if (art_rd_expect_object(&l->rd, path, j) < 0 || art_rd_known_keys(&l->rd, path, j, keys) < 0 ||
      art_rd_enum(&l->rd, path, j, "side_effect", &art_side_effect_names, &side) < 0 ||
      art_rd_bool(&l->rd, path, j, "idempotent", &idempotent) < 0)
    return ART_ESPEC;
  return 0;
}

static int read_mcp_tools(loader *l, const char *path, const json_t *j,
                          art_mcp_server_config *c) {
  const json_t *tools = json_object_get(j, "tools"), *tool;
  const char *key;
  char sub[ART_PATH_SIZE], item[ART_PATH_SIZE];
  if (!tools) return 0;
  art_rd_member_path(sub, path, "tools");
  if (art_rd_expect_object(&l->rd, sub, tools) < 0) return ART_ESPEC;
  json_object_foreach((json_t *)tools, key, tool) {
    art_rd_member_path(item, sub, key);
    if (read_mcp_tool_override(l, item, tool) < 0) return ART_ESPEC;
  }
  c->tools = tools;
  return 0;
}

static int read_mcp_server(loader *l, const char *path, const json_t *j, art_mcp_server_config *c) {
  static const char *const keys[] = {"name",  "command", "env", "timeout_ms", "init_timeout_ms",
                                     "tools", NULL};
  int64_t timeout = MCP_DEFAULT_TIMEOUT_MS, init_timeout = MCP_DEFAULT_INIT_TIMEOUT_MS;
  char sub[ART_PATH_SIZE];
  if (art_rd_expect_object(&l->rd, path, j) < 0 || art_rd_known_keys(&l->rd, path, j, keys) < 0 ||
      art_rd_string(&l->rd, path, j, "name", true, &c->name) < 0 ||
      art_rd_int(&l->rd, path, j, "timeout_ms", 1, 3600 * 1000, &timeout) < 0 ||
      art_rd_int(&l->rd, path, j, "init_timeout_ms", 1, 3600 * 1000, &init_timeout) < 0)
    return ART_ESPEC;
  art_rd_member_path(sub, path, "name");
  if (!valid_server_name(c->name))
    return art_rd_fail(&l->rd, sub, "\"%s\" is not a server name (letters, digits, '_', '-')",
                       c->name);
  c->timeout_ms = (int)timeout;
  c->init_timeout_ms = (int)init_timeout;
  int rc = read_command(l, path, j, &c->argv, &c->argv0);
  if (rc == 0) rc = read_mcp_env(l, path, j, c);
  if (rc == 0) rc = read_mcp_tools(l, path, j, c);
  return rc;
}

static int read_mcp_servers(loader *l, const json_t *root) {
  const json_t *servers = json_object_get(root, "mcp_servers");
  char item[ART_PATH_SIZE];
  if (!servers) return 0;
  if (art_rd_expect_array(&l->rd, "$.mcp_servers", servers) < 0) return ART_ESPEC;
  size_t n = json_array_size(servers);
  l->spec->mcp_servers = art_zalloc(l->spec->alloc, (n ? n : 1) * sizeof *l->spec->mcp_servers);
  if (!l->spec->mcp_servers) return oom(l);
  for (size_t i = 0; i < n; i++) {
    art_mcp_server_config *c = &l->spec->mcp_servers[i];
    l->spec->n_mcp_servers = i + 1;
    art_rd_index_path(item, "$.mcp_servers", i);
    int rc = read_mcp_server(l, item, json_array_get(servers, i), c);
    if (rc < 0) return rc;
    for (size_t k = 0; k < i; k++)
      if (strcmp(l->spec->mcp_servers[k].name, c->name) == 0)
        return art_rd_fail(&l->rd, item, "duplicate MCP server name \"%s\"", c->name);
  }
  return 0;
}

static void free_mcp_servers(art_spec *s) {
  for (size_t i = 0; i < s->n_mcp_servers; i++) {
    art_mcp_server_config *c = &s->mcp_servers[i];
    art_release(s->alloc, c->argv);
    art_release(s->alloc, c->argv0);
    for (char **e = c->env; e && *e; e++) art_release(s->alloc, *e);
    art_release(s->alloc, c->env);
  }
  art_release(s->alloc, s->mcp_servers);
}

/* ---- model ------------------------------------------------------------------- */

static int read_usage(loader *l, const char *path, const json_t *j, art_usage *out) {
  static const char *const keys[] = {"prompt_tokens", "completion_tokens", NULL};
  const json_t *usage = json_object_get(j, "usage");
  int64_t prompt = 0, completion = 0;
  char sub[ART_PATH_SIZE];
  if (!usage) return 0;
  art_rd_member_path(sub, path, "usage");
  if (art_rd_expect_object(&l->rd, sub, usage) < 0 ||
      art_rd_known_keys(&l->rd, sub, usage, keys) < 0 ||
      art_rd_int(&l->rd, sub, usage, "prompt_tokens", 0, UINT32_MAX, &prompt) < 0 ||
      art_rd_int(&l->rd, sub, usage, "completion_tokens", 0, UINT32_MAX, &completion) < 0)
    return ART_ESPEC;
  *out = (art_usage){(uint32_t)prompt, (uint32_t)completion};
  return 0;
}

/* The decision's type: one of the four (a misspelled one is a spec mistake,
 * not a decision for the run to reject). */
static int read_decision_type(loader *l, const char *path, const json_t *j, art_decision_kind *out) {
  const char *type = NULL;
  int kind = ART_DECISION_MALFORMED;
  char sub[ART_PATH_SIZE];
  if (art_rd_string(&l->rd, path, j, "type", true, &type) < 0 ||
      art_rd_enum(&l->rd, path, j, "type", &art_decision_kind_names, &kind) < 0)
    return ART_ESPEC;
  *out = (art_decision_kind)kind;
  if (kind != ART_DECISION_MALFORMED) return 0;
  art_rd_member_path(sub, path, "type");
  return art_rd_fail(&l->rd, sub, "expected one of %s", art_decision_kind_names.expected);
}

/* The keys a decision of `kind` may carry besides type, repeat and usage. */
static const char *const *decision_keys(art_decision_kind kind) {
  static const char *const answer[] = {"type", "repeat", "usage", "text", NULL};
  static const char *const tool[] = {"type", "repeat", "usage", "name", "input", NULL};
  static const char *const ask[] = {"type", "repeat", "usage", "question", NULL};
  static const char *const stop[] = {"type", "repeat", "usage", "reason", NULL};
  return kind == ART_DECISION_ANSWER ? answer
         : kind == ART_DECISION_TOOL ? tool
         : kind == ART_DECISION_ASK_HUMAN ? ask
                                         : stop;
}

/* Type, keys and `repeat` are checked here; whether the decision itself is
 * valid (a text, a tool input the schema takes) is the run's business (an
 * invalid one ends the run invalid_decision). */
static int read_script_entry(loader *l, const char *path, const json_t *j, size_t i) {
  int64_t repeat = 1;
  art_usage usage = {0};
  art_decision_kind kind;
  if (art_rd_expect_object(&l->rd, path, j) < 0 || read_decision_type(l, path, j, &kind) < 0 ||
      art_rd_known_keys(&l->rd, path, j, decision_keys(kind)) < 0 ||
      art_rd_int(&l->rd, path, j, "repeat", 1, UINT32_MAX, &repeat) < 0 ||
      read_usage(l, path, j, &usage) < 0)
    return ART_ESPEC;
  art_decision_from_json(j, &l->spec->script[i]);
  l->spec->script[i].usage = usage;
  l->spec->script_repeat[i] = (uint32_t)repeat;
  return 0;
}

static int read_script(loader *l, const json_t *model) {
  static const char *const keys[] = {"type", "decisions", "price", "delay_ms", NULL};
  const json_t *decisions = json_object_get(model, "decisions");
  char item[ART_PATH_SIZE];
  int64_t delay_ms = 0;
  if (art_rd_known_keys(&l->rd, "$.model", model, keys) < 0 ||
      art_rd_int(&l->rd, "$.model", model, "delay_ms", 0, 600000, &delay_ms) < 0)
    return ART_ESPEC;
  l->spec->script_delay_ms = (uint32_t)delay_ms;
  if (!decisions) return art_rd_fail(&l->rd, "$.model", "missing required key \"decisions\"");
  if (art_rd_expect_array(&l->rd, "$.model.decisions", decisions) < 0) return ART_ESPEC;
  size_t n = json_array_size(decisions);
  l->spec->script = art_zalloc(l->spec->alloc, (n ? n : 1) * sizeof *l->spec->script);
  l->spec->script_repeat = art_zalloc(l->spec->alloc, (n ? n : 1) * sizeof *l->spec->script_repeat);
  if (!l->spec->script || !l->spec->script_repeat) return oom(l);
  l->spec->n_script = n;
  for (size_t i = 0; i < n; i++) {
    art_rd_index_path(item, "$.model.decisions", i);
    if (read_script_entry(l, item, json_array_get(decisions, i), i) < 0) return ART_ESPEC;
  }
  return 0;
}

/* "price": {"input_per_mtok", "output_per_mtok"}, USD per million tokens. */
static int read_price(loader *l, const json_t *model) {
  static const char *const keys[] = {"input_per_mtok", "output_per_mtok", NULL};
  const json_t *price = json_object_get(model, "price");
  if (!price) return 0;
  if (art_rd_expect_object(&l->rd, "$.model.price", price) < 0 ||
      art_rd_known_keys(&l->rd, "$.model.price", price, keys) < 0 ||
      art_rd_number(&l->rd, "$.model.price", price, "input_per_mtok", 0, 1e6,
                    &l->spec->price_input_per_mtok) < 0 ||
      art_rd_number(&l->rd, "$.model.price", price, "output_per_mtok", 0, 1e6,
                    &l->spec->price_output_per_mtok) < 0)
    return ART_ESPEC;
  return 0;
}

static int read_base_url(loader *l, const json_t *model, art_model_config *c) {
  if (art_rd_string(&l->rd, "$.model", model, "base_url", true, &c->base_url) < 0) return ART_ESPEC;
  if (strncmp(c->base_url, "http://", 7) != 0 && strncmp(c->base_url, "https://", 8) != 0)
    return art_rd_fail(&l->rd, "$.model.base_url",
                       "expected an http:// or https:// URL such as http://127.0.0.1:8000/v1");
  return 0;
}

/* An environment variable name: letters, digits and _, not starting with a digit. */
static int read_env_name(loader *l, const json_t *model, const char **out) {
  if (art_rd_string(&l->rd, "$.model", model, "api_key_env", false, out) < 0) return ART_ESPEC;
  const char *n = *out;
  bool ok = n && n[0] && !(n[0] >= '0' && n[0] <= '9');
  for (const char *p = n; ok && *p; p++)
    ok = *p == '_' || (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9');
  if (n && !ok)
    return art_rd_fail(&l->rd, "$.model.api_key_env",
                       "expected the name of an environment variable, such as OPENAI_API_KEY");
  return 0;
}

/* The built-in functions an openai model offers must not be shadowed by tools. */
static int check_builtin_names(loader *l) {
  static const char *const builtins[] = {"ask_human", "stop"};
  for (size_t i = 0; i < 2; i++)
    if (art_registry_find(l->spec->registry, builtins[i]))
      return art_rd_fail(&l->rd, "$.tools",
                         "a tool named \"%s\" clashes with the openai model's built-in "
                         "function of that name",
                         builtins[i]);
  return 0;
}

static int read_openai(loader *l, const json_t *model) {
  static const char *const keys[] = {"type",        "base_url",   "model",    "api_key_env",
                                     "temperature", "timeout_ms", "max_retries", "retry_backoff_ms",
                                     "max_backoff_ms", "max_connections", "price", NULL};
  art_model_config *c = &l->spec->model_cfg;
  int64_t timeout = 60000, retries = 2, backoff = 500, max_backoff = 30000, connections = 16;
  c->temperature = -1;
  if (art_rd_known_keys(&l->rd, "$.model", model, keys) < 0 || read_base_url(l, model, c) < 0 ||
      art_rd_string(&l->rd, "$.model", model, "model", true, &c->model) < 0 ||
      read_env_name(l, model, &c->api_key_env) < 0 ||
      art_rd_number(&l->rd, "$.model", model, "temperature", 0, 2, &c->temperature) < 0 ||
      art_rd_int(&l->rd, "$.model", model, "timeout_ms", 1, 3600 * 1000, &timeout) < 0 ||
      art_rd_int(&l->rd, "$.model", model, "max_retries", 0, 20, &retries) < 0 ||
      art_rd_int(&l->rd, "$.model", model, "retry_backoff_ms", 1, 600 * 1000, &backoff) < 0 ||
      art_rd_int(&l->rd, "$.model", model, "max_backoff_ms", 1, 3600 * 1000, &max_backoff) < 0 ||
      art_rd_int(&l->rd, "$.model", model, "max_connections", 1, 10000, &connections) < 0 ||
      read_price(l, model) < 0)
    return ART_ESPEC;
  if (max_backoff < backoff)
    return art_rd_fail(&l->rd, "$.model.max_backoff_ms", "must not be below retry_backoff_ms (%lld)",
                       (long long)backoff);
  *c = (art_model_config){c->base_url, c->model, c->api_key_env, c->temperature, (int)timeout,
                          (int)retries, (int)backoff, (int)max_backoff, (int)connections, NULL,
                          NULL};
  return check_builtin_names(l);
}

static int read_command_model(loader *l, const json_t *model) {
  static const char *const keys[] = {"type", "command", "timeout_ms", "price", NULL};
  art_model_config *c = &l->spec->model_cfg;
  int64_t timeout = 60000;
  if (art_rd_known_keys(&l->rd, "$.model", model, keys) < 0 ||
      art_rd_int(&l->rd, "$.model", model, "timeout_ms", 1, 3600 * 1000, &timeout) < 0 ||
      read_price(l, model) < 0)
    return ART_ESPEC;
  c->timeout_ms = (int)timeout;
  return read_command(l, "$.model", model, &c->argv, &c->argv0);
}

static int read_model(loader *l, const json_t *root) {
  const json_t *model = json_object_get(root, "model");
  const char *type = NULL;
  if (!model) return art_rd_fail(&l->rd, "$", "missing required key \"model\"");
  if (art_rd_expect_object(&l->rd, "$.model", model) < 0 ||
      art_rd_string(&l->rd, "$.model", model, "type", true, &type) < 0)
    return ART_ESPEC;
  l->spec->model = model;
  if (strcmp(type, "scripted") == 0) {
    int rc = read_script(l, model);
    return rc < 0 ? rc : read_price(l, model);
  }
  if (strcmp(type, "openai") == 0) return read_openai(l, model);
  if (strcmp(type, "command") == 0) return read_command_model(l, model);
  return art_rd_fail(&l->rd, "$.model.type",
                     "unknown model type \"%s\" (supported: scripted, openai, command)", type);
}

/* ---- the whole spec ------------------------------------------------------------ */

static int read_top(loader *l, const json_t *root) {
  static const char *const keys[] = {
      "run_id",  "goal",    "description", "max_steps",        "max_wall_time_ms",
      "actor",   "memory",  "tools",       "policy",           "model",
      "context", "redact",  "outbox",      "max_tokens_total", "max_cost_usd",
      "mcp_servers",
      NULL};
  art_spec *s = l->spec;
  const char *description = NULL, *outbox = DEFAULT_OUTBOX;
  int64_t max_steps = DEFAULT_MAX_STEPS, wall_ms = 0, max_tokens = 0;
  if (art_rd_expect_object(&l->rd, "$", root) < 0 ||
      art_rd_known_keys(&l->rd, "$", root, keys) < 0 ||
      art_rd_string(&l->rd, "$", root, "goal", true, &s->goal) < 0 ||
      art_rd_string(&l->rd, "$", root, "run_id", false, &s->run_id) < 0 ||
      art_rd_string(&l->rd, "$", root, "description", false, &description) < 0 ||
      art_rd_int(&l->rd, "$", root, "max_steps", 1, UINT32_MAX - 1, &max_steps) < 0 ||
      art_rd_int(&l->rd, "$", root, "max_wall_time_ms", 1, INT64_MAX / 1000, &wall_ms) < 0 ||
      art_rd_int(&l->rd, "$", root, "max_tokens_total", 1, INT64_MAX, &max_tokens) < 0 ||
      art_rd_number(&l->rd, "$", root, "max_cost_usd", 1e-9, 1e9, &s->max_cost_usd) < 0 ||
      art_rd_string(&l->rd, "$", root, "outbox", false, &outbox) < 0)
    return ART_ESPEC;
  if (s->run_id && !s->run_id[0]) return art_rd_fail(&l->rd, "$.run_id", "must not be empty");
  s->max_steps = (uint32_t)max_steps;
  s->max_wall_time_us = wall_ms * 1000;
  s->max_tokens_total = (uint64_t)max_tokens;
  if (l->opts && l->opts->outbox) outbox = l->opts->outbox;
  if (!(s->outbox = art_strdup(s->alloc, outbox))) return oom(l);
  return 0;
}

static int read_policy(loader *l, const json_t *root) {
  return art_policy_parse(&l->spec->policy, json_object_get(root, "policy"), l->rd.file, "$.policy",
                          l->spec->alloc, l->rd.err);
}

/* The memory choice is made once here when nothing during a run can change it. */
static int choose_fixed_memory(loader *l) {
  art_spec *s = l->spec;
  if (art_memory_choice_varies(s)) return 0;
  if (!(s->fixed_refs = art_memory_choose(s, 0, 0, s->alloc))) return oom(l);
  s->fixed_refs_ruled = art_memory_rule_decides(s, 0, 0);
  return 0;
}

/* Traces show the goal redacted; it is the same for every run. */
static int redact_goal(loader *l) {
  art_spec *s = l->spec;
  bool copied = false;
  s->goal_traced = art_redact_text(s->redactor, s->goal, s->alloc, &copied);
  if (!s->goal_traced) return oom(l);
  if (copied) s->goal_redacted = (char *)s->goal_traced;
  return 0;
}

static int read_spec(loader *l, const json_t *root) {
  int rc = read_top(l, root);
  if (rc == 0) rc = read_actor(l, root);
  if (rc == 0) rc = read_context(l, root);
  if (rc == 0) rc = read_redact(l, root);
  if (rc == 0) rc = redact_goal(l);
  if (rc == 0) rc = read_memory(l, root);
  if (rc == 0 && (rc = art_registry_new(&l->spec->registry, l->spec->alloc)) < 0) oom(l);
  if (rc == 0) rc = read_tools(l, root);
  if (rc == 0) rc = read_mcp_servers(l, root);
  if (rc == 0) rc = read_policy(l, root);
  if (rc == 0) rc = read_model(l, root);
  if (rc == 0) rc = choose_fixed_memory(l);
  return rc;
}

static int spec_new(art_spec **out, const char *name, const char *base_dir,
                    const art_spec_options *opts, art_error *err) {
  const art_allocator *alloc = art_allocator_or_default(opts ? opts->alloc : NULL);
  art_spec *s = art_zalloc(alloc, sizeof *s);
  if (!s) return art_error_set(err, ART_ENOMEM, "out of memory");
  s->alloc = alloc;
  s->name = art_strdup(alloc, name);
  s->base_dir = base_dir ? art_strdup(alloc, base_dir) : NULL;
  if (!s->name || (base_dir && !s->base_dir)) {
    art_spec_free(s);
    return art_error_set(err, ART_ENOMEM, "out of memory");
  }
  *out = s;
  return 0;
}

int art_spec_parse_with(art_spec **out, const json_t *json, const char *name,
                        const char *base_dir, const art_spec_options *opts,
                        const art_spec_tools *tools, art_error *err) {
  art_spec *s = NULL;
  int rc = tools ? art_version_check("spec tools", tools->version, ART_SPEC_TOOLS_VERSION, err) : 0;
  if (rc == 0) rc = spec_new(&s, name, base_dir, opts, err);
  if (rc < 0) return rc;
  s->json = json_incref((json_t *)json);
  loader l = {s, {s->name, err}, opts, tools};
  if ((rc = read_spec(&l, json)) < 0) {
    art_spec_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

void art_spec_free(art_spec *s) {
  if (!s) return;
  art_registry_free(s->registry);
  free_mcp_servers(s);
  art_policy_free(s->policy);
  art_redactor_free(s->redactor);
  art_release(s->alloc, s->memory);
  art_release(s->alloc, s->fixed_refs);
  art_release(s->alloc, s->goal_redacted);
  art_release(s->alloc, s->script);
  art_release(s->alloc, s->script_repeat);
  art_release(s->alloc, s->model_cfg.argv);
  art_release(s->alloc, s->model_cfg.argv0);
  art_release(s->alloc, s->outbox);
  art_release(s->alloc, s->name);
  art_release(s->alloc, s->base_dir);
  json_decref(s->json);
  art_release(s->alloc, s);
}

const char *art_spec_run_id(const art_spec *s) { return s->run_id; }
const char *art_spec_goal(const art_spec *s) { return s->goal; }
uint32_t art_spec_max_steps(const art_spec *s) { return s->max_steps; }
art_registry *art_spec_registry(art_spec *s) { return s->registry; }
const art_policy *art_spec_policy(const art_spec *s) { return s->policy; }
const art_redactor *art_spec_redactor(const art_spec *s) { return s->redactor; }
const json_t *art_spec_model(const art_spec *s) { return s->model; }
const char *art_spec_outbox(const art_spec *s) { return s->outbox; }
const json_t *art_spec_json(const art_spec *s) { return s->json; }
const char *art_spec_base_dir(const art_spec *s) { return s->base_dir; }
const char *art_spec_actor(const art_spec *s) { return s->actor; }
const char *art_spec_tenant(const art_spec *s) { return s->tenant; }
const char *art_spec_route(const art_spec *s) { return s->route; }
