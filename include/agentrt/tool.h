/* Tool registry: what each tool is, what it may touch, and how it is called.
 *
 * A tool has a name, a description, an input JSON Schema, a side effect class
 * (read | draft | write), an idempotent flag, an enabled flag, an owner and a
 * version.  The registry holds each tool's call function with its user
 * pointer: a C tool's own, or the one art_registry_add_command gives an
 * external command (argv exec'd directly, never through a shell).  The
 * registry owns copies of everything it is given; tools are kept sorted by
 * name. */
#ifndef AGENTRT_TOOL_H
#define AGENTRT_TOOL_H

#include <stdbool.h>
#include "agentrt/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { ART_SIDE_READ, ART_SIDE_DRAFT, ART_SIDE_WRITE } art_side_effect;

/* Where a tool's side effect class came from: the spec or the code that
 * registered it, an MCP server's annotations (readOnlyHint), the MCP default
 * for a tool without that hint (write), or a per-tool override in the spec. */
typedef enum {
  ART_SOURCE_DECLARED,
  ART_SOURCE_ANNOTATION,
  ART_SOURCE_DEFAULT,
  ART_SOURCE_OVERRIDE
} art_side_effect_source;

typedef enum { ART_RESULT_OK, ART_RESULT_REFUSED, ART_RESULT_ERROR } art_result_status;

#define ART_RESULT_MESSAGE_SIZE 1024

/* What a tool returns.  `data` is a reference the result owns (may be NULL);
 * `message` says why for refused and error results, e.g. "upstream_timeout".
 * A result starts zeroed ({0}). */
typedef struct art_tool_result {
  art_result_status status;
  json_t *data;
  char message[ART_RESULT_MESSAGE_SIZE];
} art_tool_result;

/* Set a result; `data_take` (may be NULL) becomes the result's reference.  A
 * message too long for the buffer is cut back to its last space, so no word of
 * it (a key, a token) is left half there. */
void art_tool_result_set(art_tool_result *r, art_result_status status, json_t *data_take,
                         const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void art_tool_result_dispose(art_tool_result *r);

/* A tool (or a model) that takes a while asks this now and then (command
 * tools and MCP calls: every 100 ms): true means the run is being cancelled,
 * has run out of time or is being let go, so the call gives up at once (a
 * command tool's process group is killed). */
typedef struct art_interrupt {
  bool (*requested)(void *ud);
  void *ud;
  /* May be NULL: told the process group of each child a call starts, and -1
   * once it is gone, so that a driver that must exit at once can kill it. */
  void (*child_group)(void *ud, long pgid);
} art_interrupt;

/* A validated call the runtime hands to a tool.  Everything is borrowed from the
 * run and valid for the duration of the call. */
typedef struct art_tool_call {
  uint32_t id;   /* call number within the run, from 1 */
  uint32_t step; /* the step whose decision asked for it */
  const char *run_id;
  const char *tool;
  const json_t *input;   /* an object that passed the tool's input schema */
  const char *action_id; /* "act_" + hash of tool and canonical input */
  /* Draft and write tools: "idem_" + hash of run id, step and action id, the
   * same every time this call is made again (after a crash); NULL for reads. */
  const char *idempotency_key;
  const art_interrupt *interrupt; /* may be NULL: nobody will interrupt the call */
} art_tool_call;

/* A C tool: fill `result` and return 0.  A negative return (e.g. ART_ENOMEM) is
 * reported to the run as an error result carrying art_strerror(code). */
typedef int (*art_tool_fn)(void *ud, const art_tool_call *call, art_tool_result *result);

/* An event loop's limit on child processes running at once
 * (art_loop_options.max_procs), as a job that starts one sees it.  The loop
 * fills it in; a job holds one slot at most, from before it starts a child
 * until that child is reaped. */
typedef struct art_proc_gate art_proc_gate;
struct art_proc_gate {
  /* true: the job holds a slot now; false: it waits for one (first come,
   * first served), and `granted(ud)` is called on the loop's thread, in a
   * later turn, once it holds one.  NULL: no limit. */
  bool (*acquire)(art_proc_gate *gate, void (*granted)(void *ud), void *ud);
  /* Give back the slot held, or stop waiting for one (granted is then not
   * called); nothing when the job has neither. */
  void (*release)(art_proc_gate *gate);
  void *loop_ud; /* the loop's own */
};

/* A call made on an event loop (art_loop, loop.h) by a tool that can start
 * one without blocking (a child process on non-blocking pipes, a request on
 * a shared MCP session).  The loop fills every member but `state` and keeps
 * the job, and the call it was started with, until `done` is called or the
 * call is cancelled. */
typedef struct art_tool_job art_tool_job;
struct art_tool_job {
  struct uv_loop_s *uv; /* the loop, for a tool that waits on sockets or processes */
  /* The result, once, on the loop's thread: the loop takes `result` (its
   * data reference too).  May be called before start returns. */
  void (*done)(art_tool_job *job, art_tool_result *result);
  void *state;         /* the tool's own, between start and done */
  void *loop_ud;       /* the loop's own */
  art_proc_gate procs; /* wait here for a slot before starting a child process */
};

/* Start `call` without blocking: 0 (done will be called), or a negative code
 * when it cannot start (done is then not called; the run gets an error
 * result carrying art_strerror(code)). */
typedef int (*art_tool_start_fn)(void *ud, const art_tool_call *call, art_tool_job *job);
/* Give up the call started (kill what it started): done is not called after
 * this. */
typedef void (*art_tool_cancel_fn)(void *ud, art_tool_job *job);

/* What a caller registers.  Strings and the schema are copied. */
typedef struct art_tool_def {
  const char *name;
  const char *description;
  const json_t *input_schema; /* NULL: any JSON object */
  art_side_effect side_effect;
  art_side_effect_source side_effect_source; /* 0: declared */
  bool idempotent;                           /* read tools are idempotent whatever this says */
  bool disabled;
  const char *owner;   /* may be NULL */
  const char *version; /* may be NULL: none given */
  art_tool_fn fn;
  bool may_block; /* fn waits (I/O, a lock): an event loop runs it on a thread */
  /* May be NULL: how an event loop calls the tool without a thread (fn is
   * still what the blocking driver calls).  With start, cancel is required. */
  art_tool_start_fn start;
  art_tool_cancel_fn cancel;
  void *ud;
  void (*free_ud)(void *ud); /* may be NULL: called when the registry is freed */
} art_tool_def;

typedef struct art_tool art_tool;
typedef struct art_registry art_registry;

int art_registry_new(art_registry **out, const art_allocator *alloc);
void art_registry_free(art_registry *reg);

/* ART_EINVAL (duplicate or empty name, bad schema, no fn) with the reason in
 * err.  The registry takes `ud`: free_ud runs when the registry is freed, or at
 * once when adding fails. */
int art_registry_add(art_registry *reg, const art_tool_def *def, art_error *err);

/* Register `def` (fn, ud and free_ud unset) as an external command: argv
 * (NULL-terminated, copied) run with the call's input on stdin and killed after
 * `timeout_ms` (0: 30000).  On an event loop the call starts there (start and
 * cancel: no thread, pipes watched by the loop, one of its process slots).  ART_EINVAL as art_registry_add, or for an empty
 * argv.  Command tools run processes, so they come with src/tool, not the
 * core. */
int art_registry_add_command(art_registry *reg, const art_tool_def *def, const char *const *argv,
                             int timeout_ms, art_error *err);

const art_tool *art_registry_find(const art_registry *reg, const char *name);
size_t art_registry_count(const art_registry *reg);
const art_tool *art_registry_at(const art_registry *reg, size_t i); /* sorted by name */

const char *art_tool_name(const art_tool *t);
const char *art_tool_description(const art_tool *t);
const json_t *art_tool_input_schema(const art_tool *t); /* NULL: any object */
art_side_effect art_tool_side_effect(const art_tool *t);
art_side_effect_source art_tool_side_effect_source(const art_tool *t);
bool art_tool_idempotent(const art_tool *t);
bool art_tool_enabled(const art_tool *t);
/* Whether a call may wait (command tools, C tools marked may_block): an event
 * loop runs such a call on its thread pool, unless the tool can start it on
 * the loop (art_tool_can_start); the others on its own thread. */
bool art_tool_may_block(const art_tool *t);
/* Whether the tool can start a call on an event loop (art_tool_start). */
bool art_tool_can_start(const art_tool *t);
const char *art_tool_owner(const art_tool *t);   /* NULL when none was given */
const char *art_tool_version(const art_tool *t); /* NULL when none was given */

/* 0 when `input` passes the tool's input schema; ART_EINVAL and `why` when not. */
int art_tool_check_input(const art_tool *t, const json_t *input, char *why, size_t why_size);

/* Call the tool (blocking): runs its call function.  Always fills `result`
 * and returns 0: a call that could not be made at all is an error result
 * saying why. */
int art_tool_invoke(const art_tool *t, const art_tool_call *call, art_tool_result *result);

/* Start a call on an event loop (the tool can start one): 0, the result
 * comes through job->done; or it could not start, and `result` is filled
 * with an error result saying why (done is not called). */
int art_tool_start(const art_tool *t, const art_tool_call *call, art_tool_job *job,
                   art_tool_result *result);
/* Give up a call art_tool_start started. */
void art_tool_cancel(const art_tool *t, art_tool_job *job);

const char *art_side_effect_name(art_side_effect s);
int art_side_effect_parse(const char *name, art_side_effect *out); /* ART_EINVAL */
const char *art_result_status_name(art_result_status s);
/* "declared", "annotation", "default", "override" */
const char *art_side_effect_source_name(art_side_effect_source s);

#ifdef __cplusplus
}
#endif
#endif
