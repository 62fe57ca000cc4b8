/* The readiness record: every owner and gap is read off what this agent would
 * run with (the loaded spec, its registry and policy, the store, the suites),
 * never a fixed text.  A gap blocks real side effects when it lets a write
 * happen unchecked or unrecorded: a write allowed without approval, a self-
 * approving actor, no durable checkpoints, a secret-named input field left
 * unredacted, a write tool no eval case covers.  Every other gap is a warning. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/readiness.h"

const char *const readiness_primitives[] = {"state", "tools", "policy", "context",
                                            "trace", "eval",  NULL};

/* Names of input fields that carry secrets, matched inside a field's name
 * case-insensitively ("db_password", "AccessToken"). */
static const char *const secret_words[] = {"password",    "passwd", "secret",        "token",
                                           "api_key",     "apikey", "authorization", "credential",
                                           "private_key", NULL};

typedef struct builder {
  const readiness_input *in;
  json_t *prim; /* the primitive being filled */
  bool oom;
} builder;

/* ---- text ------------------------------------------------------------------------ */

/* A comma-separated list being built (open_memstream). */
typedef struct list {
  const char *sep; /* ", " unless set otherwise after list_open */
  FILE *f;
  char *s;
  size_t len;
  size_t n;
} list;

static void list_open(list *l) {
  l->sep = ", ";
  l->s = NULL;
  l->len = l->n = 0;
  l->f = open_memstream(&l->s, &l->len);
}

static void list_add(list *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void list_add(list *l, const char *fmt, ...) {
  if (!l->f) return;
  va_list ap;
  va_start(ap, fmt);
  if (l->n++) fputs(l->sep, l->f);
  vfprintf(l->f, fmt, ap);
  va_end(ap);
}

/* The text ("" when empty), to be freed; NULL when out of memory. */
static char *list_close(list *l) {
  if (!l->f || fclose(l->f) != 0) {
    free(l->s);
    return NULL;
  }
  return l->s;
}

static char *vtext(const char *fmt, va_list ap) {
  va_list again;
  va_copy(again, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (s) vsnprintf(s, (size_t)n + 1, fmt, again);
  va_end(again);
  return s;
}

static void owner(builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void owner(builder *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = vtext(fmt, ap);
  va_end(ap);
  if (!s || json_object_set_new(b->prim, "owner", json_string(s)) < 0) b->oom = true;
  free(s);
}

static void gap(builder *b, bool blocks, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void gap(builder *b, bool blocks, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = vtext(fmt, ap);
  va_end(ap);
  json_t *g = s ? json_pack("{s:s, s:b}", "gap", s, "blocks", blocks) : NULL;
  if (json_array_append_new(json_object_get(b->prim, "production_gap"), g) < 0) b->oom = true;
  free(s);
}

/* A list's text for a gap, or NULL (and b->oom) when out of memory. */
static char *closed(builder *b, list *l) {
  char *s = list_close(l);
  if (!s) b->oom = true;
  return s;
}

static const json_t *spec_member(const builder *b, const char *key) {
  return json_object_get(art_spec_json(b->in->spec), key);
}

static const art_registry *registry(const builder *b) { return art_spec_registry(b->in->spec); }

static bool is_write(const art_tool *t) {
  return art_tool_enabled(t) && art_tool_side_effect(t) == ART_SIDE_WRITE;
}

/* ---- state: where runs are kept ----------------------------------------------- */

static bool store_is_memory(const char *store) { return strncmp(store, "memory:", 7) == 0; }

static const char *store_path(const char *store) {
  return strncmp(store, "sqlite:", 7) == 0 ? store + 7 : store;
}

/* "SQLite store PATH" or "PostgreSQL store URL" (without its password). */
static void store_name(const char *store, char *buf, size_t size) {
  char shown[512];
  art_store_url_redact(shown, sizeof shown, store);
  if (art_store_url_is_postgres(store))
    snprintf(buf, size, "PostgreSQL store %s", shown);
  else
    snprintf(buf, size, "SQLite store %s", store_path(shown));
}

static void sqlite_state(builder *b, const char *path) {
  struct stat st;
  if (stat(path, &st) == 0) {
    if (S_ISREG(st.st_mode) && access(path, R_OK | W_OK) == 0) {
      owner(b, "SQLite store %s (exists): one journal row per event, a lease per run", path);
      return;
    }
    owner(b, "SQLite store %s (unusable)", path);
    gap(b, true, "no durable checkpoints: store %s is %s", path,
        S_ISREG(st.st_mode) ? "not writable by this user" : "not a file");
    return;
  }
  char dir[4096];
  const char *slash = strrchr(path, '/');
  snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) + (slash == path) : 1,
           slash ? path : ".");
  if (access(dir, W_OK | X_OK) == 0) {
    owner(b, "SQLite store %s (agentrt run creates it): one journal row per event, a lease per run",
          path);
    return;
  }
  int why = errno;
  owner(b, "SQLite store %s (cannot be created)", path);
  gap(b, true, "no durable checkpoints: store %s cannot be created: directory %s: %s", path, dir,
      strerror(why));
}

static void state_section(builder *b) {
  const char *store = b->in->store;
  if (store_is_memory(store)) {
    owner(b, "memory store: runs live only as long as the process");
    gap(b, true,
        "no durable checkpoints: the memory store loses every run, its journal and its "
        "approvals when the process ends; a paused run cannot be resumed");
  } else if (art_store_url_is_postgres(store)) {
    char name[600];
    store_name(store, name, sizeof name);
    owner(b, "%s (agentrt makes its schema on first use): one journal row per event, a lease per run",
          name);
  } else {
    sqlite_state(b, store_path(store));
  }
  if (!b->in->store_given)
    gap(b, false,
        "no store named (--store): agentrt run uses ./%s in whatever directory it starts in",
        CLI_DEFAULT_STORE);
  if (!spec_member(b, "max_wall_time_ms"))
    gap(b, false, "no wall-time budget (max_wall_time_ms): only max_steps (%u) bounds a run",
        art_spec_max_steps(b->in->spec));
}

/* ---- tools: who owns each, what bounds it ------------------------------------- */

static bool owner_listed(const art_registry *reg, size_t upto, const char *name) {
  for (size_t k = 0; k < upto; k++) {
    const char *o = art_tool_owner(art_registry_at(reg, k));
    if (o && strcmp(o, name) == 0) return true;
  }
  return false;
}

static void tool_lists(builder *b, char **tools, char **owners, char **no_owner,
                       char **no_version) {
  const art_registry *reg = registry(b);
  list all, own, unowned, unversioned;
  list_open(&all), list_open(&own), list_open(&unowned), list_open(&unversioned);
  for (size_t i = 0; i < art_registry_count(reg); i++) {
    const art_tool *t = art_registry_at(reg, i);
    const char *o = art_tool_owner(t);
    list_add(&all, "%s (%s%s)", art_tool_name(t), art_side_effect_name(art_tool_side_effect(t)),
             art_tool_enabled(t) ? "" : ", disabled");
    if (o && !owner_listed(reg, i, o)) list_add(&own, "%s", o);
    if (!o) list_add(&unowned, "%s", art_tool_name(t));
    if (!art_tool_version(t)) list_add(&unversioned, "%s", art_tool_name(t));
  }
  *tools = closed(b, &all), *owners = closed(b, &own);
  *no_owner = closed(b, &unowned), *no_version = closed(b, &unversioned);
}

/* Command tools and MCP servers as the spec declares them: whether it gives
 * them an input schema and a timeout of their own. */
static void declared_bounds(builder *b) {
  const json_t *tools = spec_member(b, "tools"), *t, *server;
  size_t i;
  json_array_foreach(tools, i, t) {
    if (!json_is_object(t)) continue; /* a built-in tool */
    const char *name = json_string_value(json_object_get(t, "name"));
    if (!json_object_get(t, "input_schema"))
      gap(b, false, "command tool %s has no input schema: any JSON object reaches it", name);
    if (!json_object_get(t, "timeout_ms"))
      gap(b, false,
          "command tool %s has no timeout of its own (timeout_ms): the 30 s default applies", name);
  }
  json_array_foreach(spec_member(b, "mcp_servers"), i, server) {
    if (!json_object_get(server, "timeout_ms"))
      gap(b, false,
          "MCP server %s has no timeout of its own (timeout_ms): the 30 s default applies",
          json_string_value(json_object_get(server, "name")));
  }
}

static void tools_section(builder *b) {
  char *tools, *owners, *no_owner, *no_version;
  tool_lists(b, &tools, &owners, &no_owner, &no_version);
  if (tools && owners)
    owner(b, "tool registry: %s; owners: %s", tools[0] ? tools : "no tools",
          owners[0] ? owners : "none named");
  if (no_owner && no_owner[0]) gap(b, false, "no owner: %s", no_owner);
  if (no_version && no_version[0]) gap(b, false, "no version: %s", no_version);
  declared_bounds(b);
  free(tools), free(owners), free(no_owner), free(no_version);
}

/* ---- policy: what a write needs --------------------------------------------------- */

/* Whether the policy gives `effect` to a call of `t` with an empty input or
 * with any input one of its rules names; *hit is that verdict, *input that
 * input (NULL: the empty one). */
static bool ever(const builder *b, const art_tool *t, art_effect effect, art_verdict *hit,
                 const json_t **input) {
  const json_t *rule;
  size_t i;
  *input = NULL;
  cli_tool_verdict(b->in->spec, t, NULL, hit);
  if (hit->effect == effect) return true;
  json_array_foreach(json_object_get(spec_member(b, "policy"), "rules"), i, rule) {
    *input = json_object_get(json_object_get(rule, "when"), "input");
    if (!json_is_object(*input)) continue;
    cli_tool_verdict(b->in->spec, t, *input, hit);
    if (hit->effect == effect) return true;
  }
  return false;
}

static void unapproved_write(builder *b, const art_tool *t) {
  art_verdict v;
  const json_t *input;
  if (!ever(b, t, ART_EFFECT_ALLOW, &v, &input)) return;
  char *in = input ? json_dumps(input, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
  gap(b, true, "%s (write) is allowed without approval%s%s by rule %d (%s)", art_tool_name(t),
      in ? " for input " : "", in ? in : "", v.rule, v.reason ? v.reason : "no reason given");
  free(in);
}

static void policy_section(builder *b) {
  const art_spec *spec = b->in->spec;
  const art_policy *p = art_spec_policy(spec);
  size_t rules = art_policy_rule_count(p), writes = 0;
  const char *actor = art_spec_actor(spec);
  if (rules)
    owner(b, "policy gate: %zu rule%s, first match wins, then the default; actor %s", rules,
          rules == 1 ? "" : "s", actor ? actor : "not named");
  else
    owner(b,
          "the default policy (no rules): reads and drafts allowed, writes need approval; "
          "actor %s",
          actor ? actor : "not named");
  for (size_t i = 0; i < art_registry_count(registry(b)); i++) {
    const art_tool *t = art_registry_at(registry(b), i);
    if (!is_write(t)) continue;
    writes++;
    unapproved_write(b, t);
  }
  if (writes && art_policy_allows_self_approval(p))
    gap(b, true, "allow_self_approval: the run's own actor (%s) may approve its writes",
        actor ? actor : "not named");
}

/* ---- context: what the model sees --------------------------------------------- */

static void context_section(builder *b) {
  const json_t *context = spec_member(b, "context"), *memory = spec_member(b, "memory"), *v;
  const json_t *scopes = json_object_get(context, "scopes");
  const json_t *recent = json_object_get(context, "recent_observations");
  list in_scope, stale_free;
  size_t i;
  list_open(&in_scope), list_open(&stale_free);
  if (scopes) {
    json_array_foreach(scopes, i, v) list_add(&in_scope, "%s", json_string_value(v));
  } else {
    list_add(&in_scope, "task");
    list_add(&in_scope, "project");
  }
  json_array_foreach(memory, i, v) {
    if (!json_object_get(v, "expires_at"))
      list_add(&stale_free, "%s", json_string_value(json_object_get(v, "id")));
  }
  size_t n_stale_free = stale_free.n;
  char *s = closed(b, &in_scope), *never = closed(b, &stale_free);
  if (s)
    owner(b,
          "context builder: memory scopes %s; %zu memory item%s; %lld recent observations a "
          "decision",
          s[0] ? s : "none", json_array_size(memory), json_array_size(memory) == 1 ? "" : "s",
          recent ? (long long)json_integer_value(recent) : 5LL);
  if (never && n_stale_free)
    gap(b, false, "no freshness rule: %s %s no expires_at, so %s stale", never,
        n_stale_free == 1 ? "has" : "have", n_stale_free == 1 ? "it never goes" : "they never go");
  free(s), free(never);
}

/* ---- trace: where it goes, what it hides ------------------------------------- */

static bool secret_named(const char *field) {
  char lower[256];
  size_t n = strlen(field);
  if (n >= sizeof lower) n = sizeof lower - 1;
  for (size_t i = 0; i < n; i++)
    lower[i] = (char)(field[i] >= 'A' && field[i] <= 'Z' ? field[i] - 'A' + 'a' : field[i]);
  lower[n] = '\0';
  for (const char *const *w = secret_words; *w; w++)
    if (strstr(lower, *w)) return true;
  return false;
}

/* Whether the spec's redactor hides a value under `field`, asked of the
 * redactor itself. */
static bool redacted(const art_redactor *r, const char *field, bool *oom) {
  json_t *probe = json_pack("{s:s}", field, "value");
  json_t *out = probe ? art_redact_json(r, probe) : NULL;
  if (!out) *oom = true;
  bool hidden = out && out != probe;
  json_decref(out);
  json_decref(probe);
  return hidden;
}

/* Every field under "properties" anywhere in `schema` (as `path`.FIELD,
 * nested ones FIELD.SUBFIELD) that is named like a secret and would reach the
 * trace unredacted. */
static void unredacted_fields(builder *b, const char *path, const json_t *schema, list *out) {
  const char *key;
  const json_t *v, *field;
  size_t i;
  if (json_is_array(schema)) {
    json_array_foreach(schema, i, v) unredacted_fields(b, path, v, out);
    return;
  }
  json_object_foreach((json_t *)schema, key, v) {
    if (strcmp(key, "properties") != 0 || !json_is_object(v)) {
      if (json_is_object(v) || json_is_array(v)) unredacted_fields(b, path, v, out);
      continue;
    }
    const char *name;
    json_object_foreach((json_t *)v, name, field) {
      char sub[1024];
      snprintf(sub, sizeof sub, "%s.%s", path, name);
      if (secret_named(name) && !redacted(art_spec_redactor(b->in->spec), name, &b->oom))
        list_add(out, "%s", sub);
      unredacted_fields(b, sub, field, out);
    }
  }
}

static char *sinks(builder *b) {
  list l;
  list_open(&l);
  list_add(&l, "the run's trace in memory");
  if (store_is_memory(b->in->store))
    list_add(&l, "the memory store's journal");
  else {
    char name[600];
    store_name(b->in->store, name, sizeof name);
    list_add(&l, "the journal in %s", name);
  }
  if (b->in->trace_file) list_add(&l, "JSONL file %s", b->in->trace_file);
  return closed(b, &l);
}

static void trace_section(builder *b) {
  const json_t *redact = spec_member(b, "redact");
  const json_t *keys = json_object_get(redact, "keys");
  const json_t *patterns = json_object_get(redact, "patterns"), *v;
  list named, fields;
  size_t i;
  list_open(&named), list_open(&fields);
  json_array_foreach(keys, i, v) list_add(&named, "%s", json_string_value(v));
  for (size_t k = 0; k < art_registry_count(registry(b)); k++) {
    const art_tool *t = art_registry_at(registry(b), k);
    if (art_tool_input_schema(t))
      unredacted_fields(b, art_tool_name(t), art_tool_input_schema(t), &fields);
  }
  char *sink_list = sinks(b), *key_list = closed(b, &named), *leaks = closed(b, &fields);
  if (sink_list && key_list) {
    owner(b, "sinks: %s; redaction: %s, %zu pattern%s", sink_list,
          keys ? key_list : "the default secret keys", json_array_size(patterns),
          json_array_size(patterns) == 1 ? "" : "s");
    gap(b, false,
        "no trace sink beyond the local file: %s, all on this host; this build "
        "exports no OTLP or other remote trace",
        sink_list);
  }
  if (leaks && leaks[0])
    gap(b, true,
        "not redacted: the input field%s %s named like secrets, and the redaction "
        "keys (%s) do not hide %s",
        fields.n == 1 ? "" : "s", leaks, keys ? key_list : "the defaults",
        fields.n == 1 ? "it" : "them");
  free(sink_list), free(key_list), free(leaks);
}

/* ---- eval: what checks the runs -------------------------------------------------- */

static bool names(const json_t *expect, const char *key, const char *tool) {
  const json_t *v;
  size_t i;
  json_array_foreach(json_object_get(expect, key), i, v) {
    if (strcmp(json_string_value(v), tool) == 0) return true;
  }
  return false;
}

/* Some case expects the tool called or not called, or runs an agent that has it. */
static bool covered(const builder *b, const char *tool) {
  for (size_t s = 0; s < b->in->n_suites; s++) {
    const art_eval_suite *suite = b->in->suites[s];
    for (size_t c = 0; c < art_eval_suite_case_count(suite); c++) {
      const json_t *expect = art_eval_suite_case_expect(suite, c);
      art_spec *agent = (art_spec *)art_eval_suite_case_spec(suite, c);
      if (names(expect, "tools_called", tool) || names(expect, "tools_not_called", tool) ||
          art_registry_find(art_spec_registry(agent), tool))
        return true;
    }
  }
  return false;
}

static void eval_section(builder *b) {
  list suites, uncovered;
  list_open(&suites), list_open(&uncovered);
  for (size_t s = 0; s < b->in->n_suites; s++) {
    size_t n = art_eval_suite_case_count(b->in->suites[s]);
    list_add(&suites, "%s (%s, %zu case%s)", art_eval_suite_name(b->in->suites[s]),
             b->in->suite_paths[s], n, n == 1 ? "" : "s");
  }
  for (size_t i = 0; i < art_registry_count(registry(b)); i++) {
    const art_tool *t = art_registry_at(registry(b), i);
    art_verdict v;
    const json_t *input;
    /* A write the policy always denies cannot act: there is nothing to cover. */
    bool can_act =
        ever(b, t, ART_EFFECT_ALLOW, &v, &input) || ever(b, t, ART_EFFECT_APPROVAL, &v, &input);
    if (is_write(t) && can_act && !covered(b, art_tool_name(t)))
      list_add(&uncovered, "%s", art_tool_name(t));
  }
  size_t n_uncovered = uncovered.n;
  char *s = closed(b, &suites), *u = closed(b, &uncovered);
  if (s) owner(b, "eval suites: %s", s[0] ? s : "none given (--suite)");
  if (u && n_uncovered && !b->in->n_suites)
    gap(b, true, "no eval suite (--suite) covers the write tool%s %s", n_uncovered == 1 ? "" : "s",
        u);
  else if (u && n_uncovered)
    gap(b, true, "no eval case covers the write tool%s %s", n_uncovered == 1 ? "" : "s", u);
  else if (!b->in->n_suites)
    gap(b, false, "no eval suite (--suite): nothing checks this agent's runs in CI");
  free(s), free(u);
}

/* ---- the record ---------------------------------------------------------------------- */

static char *decision(json_t *record, bool *ready) {
  list blocking;
  size_t warnings = 0;
  list_open(&blocking);
  blocking.sep = "; ";
  for (const char *const *p = readiness_primitives; *p; p++) {
    const json_t *gaps = json_object_get(json_object_get(record, *p), "production_gap"), *g;
    size_t i;
    json_array_foreach(gaps, i, g) {
      if (json_is_true(json_object_get(g, "blocks")))
        list_add(&blocking, "%s", json_string_value(json_object_get(g, "gap")));
      else
        warnings++;
    }
  }
  *ready = blocking.n == 0;
  char *because = list_close(&blocking);
  if (!because) return NULL;
  char text[256];
  if (!*ready) {
    size_t n = strlen(because) + 64;
    char *s = malloc(n);
    if (s) snprintf(s, n, "ready for real side effects: no, because %s", because);
    free(because);
    return s;
  }
  free(because);
  if (warnings)
    snprintf(text, sizeof text, "ready for real side effects: yes, with %zu warning%s", warnings,
             warnings == 1 ? "" : "s");
  else
    snprintf(text, sizeof text, "ready for real side effects: yes");
  char *s = malloc(strlen(text) + 1);
  if (s) strcpy(s, text);
  return s;
}

json_t *readiness_record(const readiness_input *in) {
  static void (*const sections[])(builder *) = {state_section,   tools_section, policy_section,
                                                context_section, trace_section, eval_section};
  builder b = {.in = in};
  json_t *record =
      json_pack("{s:s, s:s}", "agent", in->spec_path, "purpose", art_spec_goal(in->spec));
  for (size_t i = 0; record && readiness_primitives[i]; i++) {
    b.prim = json_pack("{s:s, s:[]}", "owner", "", "production_gap");
    if (json_object_set_new(record, readiness_primitives[i], b.prim) < 0) b.oom = true;
    if (!b.oom) sections[i](&b);
  }
  bool ready = false;
  char *d = record && !b.oom ? decision(record, &ready) : NULL;
  if (!d || json_object_set_new(record, "ready", json_boolean(ready)) < 0 ||
      json_object_set_new(record, "decision", json_string(d)) < 0) {
    json_decref(record);
    record = NULL;
  }
  free(d);
  return record;
}
