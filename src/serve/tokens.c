/* The service's tokens file (tokens.h). */
#include "serve/tokens.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/sha256.h"

static const char *const role_names[] = {"submitter", "reviewer", "operator", "admin"};

const char *serve_role_name(serve_role r) { return role_names[r]; }

int serve_role_parse(const char *name, serve_role *out) {
  for (int i = 0; i < 4; i++)
    if (name && strcmp(name, role_names[i]) == 0) return *out = (serve_role)i, 0;
  return ART_EINVAL;
}

static void hash_token(const char *token, uint8_t digest[32]) {
  art_sha256 h;
  art_sha256_init(&h);
  art_sha256_update(&h, token, strlen(token));
  art_sha256_final(&h, digest);
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static bool parse_sha256(const char *hex, uint8_t out[32]) {
  if (!hex || strlen(hex) != 64) return false;
  for (int i = 0; i < 32; i++) {
    int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return true;
}

void serve_tokens_dispose(serve_tokens *t) {
  for (size_t i = 0; i < t->n; i++) free(t->list[i].name), free(t->list[i].tenant);
  free(t->list);
  *t = (serve_tokens){0};
}

/* Entry i of the file into t->list[i]. */
static int read_entry(serve_tokens *t, const char *path, size_t i, const json_t *e,
                      art_error *err) {
  serve_token *tok = &t->list[i];
  const char *name = json_string_value(json_object_get(e, "name"));
  const char *tenant = json_string_value(json_object_get(e, "tenant"));
  const char *role = json_string_value(json_object_get(e, "role"));
  if (!name || !name[0] || !tenant || !tenant[0])
    return art_error_set(err, ART_ESPEC, "%s: $.tokens[%zu]: a name and a tenant are required",
                         path, i);
  if (serve_role_parse(role, &tok->role) < 0)
    return art_error_set(err, ART_ESPEC,
                         "%s: $.tokens[%zu].role: submitter, reviewer, operator or admin", path, i);
  if (!parse_sha256(json_string_value(json_object_get(e, "sha256")), tok->sha256))
    return art_error_set(err, ART_ESPEC, "%s: $.tokens[%zu].sha256: 64 hex digits", path, i);
  for (size_t k = 0; k < i; k++)
    if (strcmp(t->list[k].name, name) == 0)
      return art_error_set(err, ART_ESPEC, "%s: $.tokens[%zu].name: \"%s\" comes twice", path, i,
                           name);
  tok->name = strdup(name);
  tok->tenant = strdup(tenant);
  return tok->name && tok->tenant ? 0 : art_error_set(err, ART_ENOMEM, "out of memory");
}

static int read_tokens(serve_tokens *t, const char *path, const json_t *root, art_error *err) {
  const json_t *list = json_object_get(root, "tokens");
  if (!json_is_array(list))
    return art_error_set(err, ART_ESPEC, "%s: $.tokens: an array of tokens is required", path);
  t->list = calloc(json_array_size(list) + 1, sizeof *t->list);
  if (!t->list) return art_error_set(err, ART_ENOMEM, "out of memory");
  t->n = json_array_size(list); /* entries not read yet are empty: disposing them is a no-op */
  for (size_t i = 0; i < t->n; i++) {
    int rc = read_entry(t, path, i, json_array_get(list, i), err);
    if (rc < 0) return rc;
  }
  return 0;
}

int serve_tokens_load(serve_tokens *t, const char *path, art_error *err) {
  json_error_t jerr;
  *t = (serve_tokens){0};
  if (access(path, F_OK) != 0)
    return art_error_set(err, ART_ENOTFOUND, "no tokens file %s (make one with agentrt tokens new)",
                         path);
  json_t *root = json_load_file(path, 0, &jerr);
  if (!root)
    return art_error_set(err, ART_ESPEC, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
  int rc = read_tokens(t, path, root, err);
  json_decref(root);
  if (rc < 0) serve_tokens_dispose(t);
  return rc;
}

const serve_token *serve_tokens_find(const serve_tokens *t, const char *bearer) {
  uint8_t digest[32];
  const serve_token *found = NULL;
  hash_token(bearer, digest);
  for (size_t i = 0; i < t->n; i++) {
    uint8_t diff = 0;
    for (int k = 0; k < 32; k++) diff |= (uint8_t)(digest[k] ^ t->list[i].sha256[k]);
    if (diff == 0) found = &t->list[i]; /* no early exit: every entry is compared */
  }
  return found;
}

int serve_token_generate(char out[SERVE_TOKEN_SIZE], art_error *err) {
  uint8_t bytes[32];
  if (getrandom(bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes)
    return art_error_set(err, ART_EIO, "no random bytes: %s", strerror(errno));
  memcpy(out, "art_", 4);
  art_hex(bytes, sizeof bytes, out + 4);
  return 0;
}

/* The file's document, or a new one when there is none. */
static int load_document(const char *path, json_t **root, art_error *err) {
  json_error_t jerr;
  if (access(path, F_OK) != 0) {
    *root = json_pack("{s:[]}", "tokens");
    return *root ? 0 : art_error_set(err, ART_ENOMEM, "out of memory");
  }
  serve_tokens check;
  int rc = serve_tokens_load(&check, path, err); /* a broken file is not added to */
  serve_tokens_dispose(&check);
  if (rc < 0) return rc;
  *root = json_load_file(path, 0, &jerr);
  return *root ? 0 : art_error_set(err, ART_EIO, "%s: %s", path, jerr.text);
}

/* `root` into `path` through a file beside it, renamed over it once written. */
static int replace_file(const char *path, const json_t *root, art_error *err) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return art_error_set(err, ART_EIO, "cannot write %s: %s", tmp, strerror(errno));
  char *text = json_dumps(root, JSON_INDENT(2));
  size_t len = text ? strlen(text) : 0;
  bool written =
      text && write(fd, text, len) == (ssize_t)len && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
  free(text);
  if (close(fd) != 0 || !written || rename(tmp, path) != 0) {
    int saved = errno;
    unlink(tmp);
    return art_error_set(err, ART_EIO, "cannot write %s: %s", path, strerror(saved));
  }
  return 0;
}

int serve_tokens_add(const char *path, const char *name, const char *tenant, serve_role role,
                     const char *token, art_error *err) {
  json_t *root, *e;
  size_t i;
  int rc = load_document(path, &root, err);
  if (rc < 0) return rc;
  json_t *list = json_object_get(root, "tokens");
  json_array_foreach(list, i, e) {
    if (strcmp(json_string_value(json_object_get(e, "name")), name) == 0) {
      json_decref(root);
      return art_error_set(err, ART_EEXIST, "%s has a token named %s already", path, name);
    }
  }
  uint8_t digest[32];
  char hex[65];
  hash_token(token, digest);
  art_hex(digest, sizeof digest, hex);
  rc = json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s}", "name", name, "tenant", tenant,
                                             "role", serve_role_name(role), "sha256", hex)) < 0
           ? art_error_set(err, ART_ENOMEM, "out of memory")
           : replace_file(path, root, err);
  json_decref(root);
  return rc;
}
