/* Running a command tool: argv exec'd directly (never through a shell), the
 * tool input as one line of compact JSON on stdin, the result as JSON on stdout.
 *
 * The result protocol: an object whose "status" is "ok", "refused" or "error"
 * and that has no members besides "status", "data" (may be absent: the data)
 * and "message" (why) is an envelope.  Any other JSON value is the data of an
 * ok result; output that is not one JSON value is text, a string result
 * (trailing white space dropped, bytes that are not UTF-8 made '?').  A non-zero
 * exit, a signal, no output, or running past the timeout (the process is
 * killed) is an error result saying which. */
#ifndef ART_COMMAND_H
#define ART_COMMAND_H

#include "agentrt/tool.h"

typedef struct art_command_output {
  bool timed_out;
  bool interrupted;
  bool exited; /* exit_status valid */
  int exit_status;
  int term_signal; /* when killed by a signal */
  char *out;       /* stdout, NUL-terminated */
  size_t out_len;
  char *err; /* the last 4 KiB of stderr, NUL-terminated */
  size_t err_len;
} art_command_output;

/* Run argv[0] (looked up in PATH when it has no slash) with `env_extra`
 * ("NAME=value" strings, NULL-terminated, may be NULL) added to the environment,
 * `input` on stdin, stdout and stderr captured, killed (SIGKILL, process group)
 * after `timeout_ms`.  Returns 0 when the process ran (whatever its exit), a
 * negative code when it could not be started or its output could not be held.
 *
 * - PATH is the one the child will see (env_extra may set it); unlike execvp a
 *   file without a #! line is not handed to /bin/sh.  The parent's own
 *   environment is never changed.
 * - The child runs in its own process group with an empty signal mask, SIGPIPE
 *   at its default and no descriptors but 0, 1 and 2.
 * - `timeout_ms` <= 0: no limit.  The limit covers the whole call, including
 *   waiting for the exit of a child that closed its pipes; at the limit the
 *   group is killed and reaped and out->timed_out is set (the output so far is
 *   kept).  A background process still holding the pipes keeps the call
 *   waiting until the limit.
 * - Nothing the child does raises SIGPIPE in the caller: writes to its stdin
 *   hold SIGPIPE off for the calling thread only; a child that exits without
 *   reading its input is not an error.
 * - ART_EINVAL: empty argv, or an env_extra entry without "=".  ART_EIO: the
 *   program could not be run ("cannot run \"x\": No such file or directory"),
 *   more than 16 MiB on stdout ("output too large"), or a system call failed.
 *   ART_ENOMEM.  On any error the child, if started, is killed and reaped, and
 *   `out` is left empty.
 * - `out` is filled on success; its buffers come from `alloc` (NULL: the
 *   default) and are freed by art_command_output_dispose with the same one.
 * - The child must be reaped here: a caller that sets SIGCHLD to SIG_IGN gets
 *   ART_EIO ("cannot wait for ..."). */
int art_command_exec(const char *const *argv, const char *const *env_extra, const char *input,
                     size_t input_len, int timeout_ms, const art_allocator *alloc,
                     art_command_output *out, art_error *err);
/* The same, given up early when `interrupt` (may be NULL) asks: the group is
 * killed and reaped and out->interrupted is set. */
int art_command_exec_until(const char *const *argv, const char *const *env_extra, const char *input,
                           size_t input_len, int timeout_ms, const art_interrupt *interrupt,
                           const art_allocator *alloc, art_command_output *out, art_error *err);
void art_command_output_dispose(const art_allocator *alloc, art_command_output *out);

/* Call a command tool for `call` and map what happened to `result` (see above).
 * The environment gets AGENTRT_RUN_ID, AGENTRT_TOOL, AGENTRT_STEP and
 * AGENTRT_ACTION_ID (each left out when NULL).  `timeout_ms` <= 0: 30000.
 *
 * Error results say: "timeout" (data: {"timeout_ms": N}), "killed by signal N", "exit status N"
 * (+ ": " and the last line of stderr, if any), "no output on stdout",
 * "bad result envelope: ...".  Returns 0 whenever the command ran; a negative
 * code from art_command_exec when it could not be run or its output could not be
 * held, with `result` an error result carrying that message.  `result` must be
 * initialised (its old data is released). */
int art_command_tool_call(const char *const *argv, int timeout_ms, const art_tool_call *call,
                          const art_allocator *alloc, art_tool_result *result);

/* The same, saying in `ending` (ending_size bytes) what the process came to:
 * "command exit N", "command killed by signal N", "command timed out",
 * "command interrupted", or "command failed" (it could not be run, or its
 * output could not be held: the result says which). */
int art_command_tool_run(const char *const *argv, int timeout_ms, const art_tool_call *call,
                         const art_allocator *alloc, art_tool_result *result, char *ending,
                         size_t ending_size);

/* A command tool's call on an event loop (libuv), without a thread: the
 * same child, environment, limits and result as art_command_tool_run, its
 * pipes watched by the loop, its timeout a loop timer. */
typedef struct art_command_job art_command_job;

/* Told once, on the loop's thread: rc and `result` as art_command_tool_run
 * returns and fills them (`done` takes the result), `ending` as it says. */
typedef void (*art_command_done_fn)(void *ud, int rc, art_tool_result *result, const char *ending);

typedef struct art_command_start {
  struct uv_loop_s *uv;
  art_proc_gate *gate;        /* NULL: no limit on processes; else one is waited for */
  const char *const *argv;    /* borrowed until the child has started */
  int timeout_ms;             /* <= 0: 30000 */
  const art_tool_call *call;  /* read before this returns */
  const art_allocator *alloc; /* NULL: the default */
  art_command_done_fn done;
  void *ud;
} art_command_start;

/* Start the call: the job while it is in flight, or NULL when it has already
 * ended (it could not start: `done` was called before this returned). */
art_command_job *art_command_tool_start(const art_command_start *how);
/* Give up a job in flight: its process group is killed and reaped (or it
 * stops waiting for a process slot); `done` is not called. */
void art_command_job_cancel(art_command_job *job);

/* What the registry holds as the user pointer of a tool that
 * art_registry_add_command registered. */
typedef struct art_command_tool {
  const art_allocator *alloc;
  int timeout_ms; /* 0: 30000 */
  char *argv[];   /* NULL-terminated */
} art_command_tool;

/* The command `t` runs, or NULL when it is not a command tool. */
const art_command_tool *art_command_tool_of(const art_tool *t);

#endif
