/* The loaded spec, read directly by the run on the hot path. */
#ifndef ART_SPEC_INTERNAL_H
#define ART_SPEC_INTERNAL_H

#include "agentrt/decision.h"
#include "agentrt/spec.h"

/* The model section of an openai or command model, read and checked at load. */
typedef struct art_model_config {
  const char *base_url, *model, *api_key_env; /* openai; borrowed from the document */
  double temperature;                         /* < 0: not sent */
  int timeout_ms;                             /* per request (openai) or per run (command) */
  int max_retries;
  int backoff_ms, max_backoff_ms; /* first retry wait; cap on any wait */
  int max_connections;            /* openai on an event loop: per host, per loop */
  const char **argv;              /* command: argv (array ours, strings borrowed) */
  char *argv0;                    /* command: argv[0] resolved against base_dir, or NULL */
} art_model_config;

/* One entry of "mcp_servers": how to start the server and what the spec says
 * about its tools.  Strings are borrowed from the spec's document except
 * argv0 (argv[0] resolved against the spec's directory) and the env entries. */
typedef struct art_mcp_server_config {
  const char *name;
  const char **argv; /* NULL-terminated */
  char *argv0;       /* owned when argv[0] was resolved, else NULL */
  char **env;        /* "NAME=value", NULL-terminated, owned; NULL when none */
  int timeout_ms;      /* each tools/call */
  int init_timeout_ms; /* initialize, and each page of tools/list */
  const json_t *tools; /* {"TOOL": {"side_effect", "idempotent"}}, checked; may be NULL */
} art_mcp_server_config;

struct art_spec {
  const art_allocator *alloc;
  json_t *json;       /* the document: the strings below are borrowed from it */
  char *name;         /* file name used in messages */
  char *base_dir;     /* relative command paths resolve here */
  const char *run_id; /* NULL when not given */
  const char *goal;
  const char *goal_traced; /* the goal as traces show it (redacted) */
  char *goal_redacted;     /* owned when redaction changed the goal */
  uint32_t max_steps;
  int64_t max_wall_time_us; /* 0: no wall-time budget */
  uint64_t max_tokens_total; /* 0: no token budget */
  double max_cost_usd;       /* 0: no cost budget */
  double price_input_per_mtok, price_output_per_mtok; /* model.price, USD per million tokens */
  const char *actor, *tenant, *route;
  art_memory_item *memory;
  size_t n_memory;
  unsigned context_scopes; /* bit per art_scope included in the context */
  uint32_t recent_observations;
  art_registry *registry;
  art_policy *policy;
  art_redactor *redactor;
  const json_t *model;
  art_model_config model_cfg;
  art_decision *script; /* scripted model: decisions borrowed from `json` */
  uint32_t *script_repeat;
  size_t n_script;
  uint32_t script_delay_ms; /* on an event loop, each decision comes after this long */
  char *outbox;
  art_mcp_server_config *mcp_servers;
  size_t n_mcp_servers;
  art_context_refs *fixed_refs; /* the memory choice, when no run can change it */
  bool fixed_refs_ruled;        /* a retrieve rule decided part of it (traced per run) */
};

#endif
