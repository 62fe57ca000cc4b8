/* The service's bearer tokens: a file of {"tokens": [{"name", "tenant", "role",
 * "sha256"}]}, where sha256 is the hex SHA-256 of the token.  The tokens
 * themselves are kept nowhere: `agentrt tokens new` prints one once and
 * writes its hash.  A token is found by hashing what a client presents and
 * comparing that with every entry, in time that does not depend on where, or
 * whether, it matches. */
#ifndef ART_SERVE_TOKENS_H
#define ART_SERVE_TOKENS_H

#include <stdbool.h>
#include <stdint.h>

#include "agentrt/common.h"

/* Who a token is: what it may do (service.h, serve_may) grows with the role. */
typedef enum { SERVE_SUBMITTER, SERVE_REVIEWER, SERVE_OPERATOR, SERVE_ADMIN } serve_role;

const char *serve_role_name(serve_role r);
int serve_role_parse(const char *name, serve_role *out); /* ART_EINVAL */

typedef struct serve_token {
  char *name;   /* recorded as the reviewer or operator of what it decides */
  char *tenant; /* the runs it sees and acts on */
  serve_role role;
  uint8_t sha256[32];
} serve_token;

typedef struct serve_tokens {
  serve_token *list;
  size_t n;
} serve_tokens;

/* The tokens file at `path`: ART_ENOTFOUND when it does not exist, ART_ESPEC
 * (naming the entry) when it is not such a file. */
int serve_tokens_load(serve_tokens *t, const char *path, art_error *err);
void serve_tokens_dispose(serve_tokens *t);
/* The entry of `bearer`, or NULL. */
const serve_token *serve_tokens_find(const serve_tokens *t, const char *bearer);

/* "art_" and 64 hex digits of 32 random bytes. */
#define SERVE_TOKEN_SIZE 69
int serve_token_generate(char out[SERVE_TOKEN_SIZE], art_error *err);
/* Adds `token`'s entry to the file at `path` (made, readable by its owner
 * only, when missing; replaced whole, never half written).  ART_EEXIST when
 * the name is taken. */
int serve_tokens_add(const char *path, const char *name, const char *tenant, serve_role role,
                     const char *token, art_error *err);

#endif
