/* Command tools: a child process (tool/process.h) whose pipes are pumped
 * under one deadline so that neither side can block the other: with poll()
 * in the calling thread (art_command_exec_until), or by an event loop's
 * watchers (art_command_tool_start).  Both read with the same functions and
 * map what happened to a result with the same code. */

#include "tool/command.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "core/alloc.h"
#include "core/text.h"
#include "core/tool_internal.h"
#include "tool/process.h"

#define OUT_MAX ((size_t)16 << 20) /* more stdout than this is an error */
#define OUT_FIRST_CAP 4096
#define ERR_KEEP 4096 /* stderr: only the tail is kept */
#define DEFAULT_TIMEOUT_MS 30000

/* A child and the parent's ends of its pipes (-1 once closed). */
typedef struct child {
  const art_allocator *alloc;
  const char *name; /* argv[0], for messages */
  art_process proc;
  const char *input;
  size_t input_len, input_off;
  char *out;
  size_t out_len, out_cap;
  char *err; /* ERR_KEEP + 1 bytes */
  size_t err_len;
  int64_t deadline_ms; /* CLOCK_MONOTONIC; -1: none */
  bool timed_out;
  const art_interrupt *interrupt; /* NULL: none */
  bool interrupted;
} child;

/* How often an interruptible call asks whether to give up. */
#define INTERRUPT_POLL_MS 100

/* Whether to give up on the child now: past its deadline, or interrupted. */
static bool must_stop(child *c) {
  if (!c->interrupted && c->interrupt && c->interrupt->requested(c->interrupt->ud))
    c->interrupted = true;
  return c->timed_out || c->interrupted;
}

/* Milliseconds left for poll(): -1 without a deadline, 0 once it has passed. */
static int remaining_ms(const child *c) {
  if (c->deadline_ms < 0) return -1;
  int64_t left = c->deadline_ms - art_monotonic_ms();
  return left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

static int no_memory(art_error *err) { return art_error_set(err, ART_ENOMEM, "out of memory"); }

static void feed_stdin(child *c) {
  ssize_t n = art_write_without_sigpipe(c->proc.in_fd, c->input + c->input_off,
                                        c->input_len - c->input_off);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n > 0) c->input_off += (size_t)n;
  /* An error (EPIPE: the child closed stdin or exited) means the child will
   * not read the rest; what that means is for its exit status to say. */
  if (n < 0 || c->input_off == c->input_len) art_close_fd(&c->proc.in_fd);
}

static int grow_stdout(child *c, art_error *err) {
  size_t cap = c->out_cap * 2;
  if (cap > OUT_MAX + 2) cap = OUT_MAX + 2; /* room to see one byte too many, and the NUL */
  char *p = art_resize(c->alloc, c->out, cap);
  if (!p) return no_memory(err);
  c->out = p;
  c->out_cap = cap;
  return 0;
}

static int drain_stdout(child *c, art_error *err) {
  if (c->out_cap - c->out_len < 2) {
    int rc = grow_stdout(c, err);
    if (rc < 0) return rc;
  }
  ssize_t n = read(c->proc.out_fd, c->out + c->out_len, c->out_cap - c->out_len - 1);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
  if (n < 0)
    return art_error_set(err, ART_EIO, "cannot read the output of \"%s\": %s", c->name,
                         strerror(errno));
  if (n == 0) art_close_fd(&c->proc.out_fd);
  c->out_len += (size_t)n;
  if (c->out_len > OUT_MAX)
    return art_error_set(err, ART_EIO, "output too large: \"%s\" wrote more than %zu MiB", c->name,
                         OUT_MAX >> 20);
  return 0;
}

static void drain_stderr(child *c) {
  art_read_tail(&c->proc.err_fd, c->err, &c->err_len, ERR_KEEP);
}

/* Moves input in and output out until the child closes its ends or the
 * deadline passes (c->timed_out). */
static int pump(child *c, art_error *err) {
  if (c->input_len == 0) art_close_fd(&c->proc.in_fd);
  while (c->proc.in_fd >= 0 || c->proc.out_fd >= 0 || c->proc.err_fd >= 0) {
    int wait_ms = remaining_ms(c);
    c->timed_out = wait_ms == 0;
    if (must_stop(c)) return 0;
    if (c->interrupt && (wait_ms < 0 || wait_ms > INTERRUPT_POLL_MS)) wait_ms = INTERRUPT_POLL_MS;
    struct pollfd fds[3] = {
        {c->proc.in_fd, POLLOUT, 0}, {c->proc.out_fd, POLLIN, 0}, {c->proc.err_fd, POLLIN, 0}};
    if (poll(fds, 3, wait_ms) < 0) {
      if (errno == EINTR) continue;
      return art_error_set(err, ART_EIO, "poll: %s", strerror(errno));
    }
    if (fds[0].revents) feed_stdin(c);
    int rc = fds[1].revents ? drain_stdout(c, err) : 0;
    if (rc < 0) return rc;
    if (fds[2].revents) drain_stderr(c);
  }
  return 0;
}

static int cannot_wait(const child *c, art_error *err) {
  return art_error_set(err, ART_EIO, "cannot wait for \"%s\": %s", c->name, strerror(errno));
}

/* Waits for the child to exit, killing its group once the deadline passes: a
 * child can close its pipes and still run on. */
static int reap(child *c, int *status, art_error *err) {
  int rc = 0;
  while (rc == 0 && !must_stop(c)) { /* in slices, so that an interrupt is seen */
    int left = remaining_ms(c);
    bool sliced = c->interrupt && (left < 0 || left > INTERRUPT_POLL_MS);
    rc = art_process_wait(&c->proc, sliced ? INTERRUPT_POLL_MS : left, status);
    c->timed_out = rc == 0 && remaining_ms(c) == 0;
  }
  if (rc == 0) {
    art_process_signal(&c->proc, SIGKILL);
    rc = art_process_wait(&c->proc, -1, status);
  }
  return rc < 0 ? cannot_wait(c, err) : 0;
}

/* The child reaped with `status`: its ending and its output, which `out` takes. */
static void take_output(child *c, int status, art_command_output *out) {
  out->timed_out = c->timed_out;
  out->interrupted = c->interrupted && !c->timed_out;
  out->exited = WIFEXITED(status);
  out->exit_status = out->exited ? WEXITSTATUS(status) : 0;
  out->term_signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  c->out[c->out_len] = '\0';
  c->err[c->err_len] = '\0';
  out->out = c->out;
  out->out_len = c->out_len;
  out->err = c->err;
  out->err_len = c->err_len;
  c->out = c->err = NULL;
}

static int finish(child *c, art_command_output *out, art_error *err) {
  int status = 0;
  int rc = reap(c, &status, err);
  if (rc == 0) take_output(c, status, out);
  return rc;
}

static void child_init(child *c, const art_allocator *a, const char *name, const char *input,
                       size_t input_len, int timeout_ms) {
  memset(c, 0, sizeof *c);
  c->alloc = a;
  c->name = name;
  c->proc = (art_process){.pid = -1, .in_fd = -1, .out_fd = -1, .err_fd = -1};
  c->input = input;
  c->input_len = input ? input_len : 0;
  c->deadline_ms = timeout_ms > 0 ? art_monotonic_ms() + timeout_ms : -1;
}

static int child_alloc_buffers(child *c, art_error *err) {
  c->out = art_alloc(c->alloc, OUT_FIRST_CAP);
  c->err = art_alloc(c->alloc, ERR_KEEP + 1);
  c->out_cap = OUT_FIRST_CAP;
  return c->out && c->err ? 0 : no_memory(err);
}

/* Kills and reaps a child still running (on error paths), closes our ends and
 * frees the buffers not handed over. */
static void child_dispose(child *c) {
  art_process_kill(&c->proc);
  art_release(c->alloc, c->out);
  art_release(c->alloc, c->err);
  c->out = c->err = NULL;
}

int art_command_exec(const char *const *argv, const char *const *env_extra, const char *input,
                     size_t input_len, int timeout_ms, const art_allocator *alloc,
                     art_command_output *out, art_error *err) {
  return art_command_exec_until(argv, env_extra, input, input_len, timeout_ms, NULL, alloc, out,
                                err);
}

int art_command_exec_until(const char *const *argv, const char *const *env_extra, const char *input,
                           size_t input_len, int timeout_ms, const art_interrupt *interrupt,
                           const art_allocator *alloc, art_command_output *out, art_error *err) {
  memset(out, 0, sizeof *out);
  if (!argv || !argv[0] || !argv[0][0]) return art_error_set(err, ART_EINVAL, "empty command");
  alloc = art_allocator_or_default(alloc);
  child c;
  child_init(&c, alloc, argv[0], input, input_len, timeout_ms);
  c.interrupt = interrupt;
  int rc = child_alloc_buffers(&c, err);
  if (rc == 0) rc = art_process_start(&c.proc, argv, env_extra, alloc, err);
  bool told = rc == 0 && interrupt && interrupt->child_group;
  if (told) interrupt->child_group(interrupt->ud, (long)c.proc.pid); /* it leads its group */
  if (rc == 0) rc = pump(&c, err);
  if (rc == 0) rc = finish(&c, out, err);
  child_dispose(&c);
  if (told) interrupt->child_group(interrupt->ud, -1);
  return rc;
}

void art_command_output_dispose(const art_allocator *alloc, art_command_output *out) {
  alloc = art_allocator_or_default(alloc);
  art_release(alloc, out->out);
  art_release(alloc, out->err);
  out->out = out->err = NULL;
  out->out_len = out->err_len = 0;
}

/* ---- command tools: the call on stdin, the result on stdout ----------- */

#define TOOL_ENV_MAX 5

static char *env_entry(const art_allocator *a, const char *name, const char *value) {
  size_t n = strlen(name), v = strlen(value);
  char *e = art_alloc(a, n + v + 2);
  if (!e) return NULL;
  memcpy(e, name, n);
  e[n] = '=';
  memcpy(e + n + 1, value, v + 1);
  return e;
}

/* The AGENTRT_* variables; one whose value is NULL is left out. */
static int tool_env(const art_allocator *a, const art_tool_call *call, char *env[TOOL_ENV_MAX + 1],
                    art_error *err) {
  char step[16];
  snprintf(step, sizeof step, "%" PRIu32, call->step);
  const char *names[TOOL_ENV_MAX] = {"AGENTRT_RUN_ID", "AGENTRT_TOOL", "AGENTRT_STEP",
                                     "AGENTRT_ACTION_ID", "AGENTRT_IDEMPOTENCY_KEY"};
  const char *values[TOOL_ENV_MAX] = {call->run_id, call->tool, step, call->action_id,
                                      call->idempotency_key};
  size_t n = 0;
  for (size_t i = 0; i < TOOL_ENV_MAX; i++) {
    if (!values[i]) continue;
    if (!(env[n++] = env_entry(a, names[i], values[i]))) return no_memory(err);
  }
  return 0;
}

/* What a command tool's child gets besides its argv: the AGENTRT_*
 * environment and the call's input line. */
typedef struct tool_input {
  char *env[TOOL_ENV_MAX + 1];
  char *text;
  size_t len;
} tool_input;

/* Compact JSON and a newline, so that line-reading tools see a whole line.  The
 * buffer is sized first so it can come from our allocator, not jansson's. */
static int encode_input(const art_allocator *a, const json_t *input, char **buf, size_t *len,
                        art_error *err) {
  const size_t flags = JSON_COMPACT | JSON_ENCODE_ANY;
  size_t n = input ? json_dumpb(input, NULL, 0, flags) : 2;
  if (n == 0) return art_error_set(err, ART_EINVAL, "cannot encode the tool input as JSON");
  *buf = art_alloc(a, n + 1);
  if (!*buf) return no_memory(err);
  if (input)
    json_dumpb(input, *buf, n, flags);
  else
    memcpy(*buf, "{}", 2);
  (*buf)[n] = '\n';
  *len = n + 1;
  return 0;
}

static int parse_result_status(const char *name, art_result_status *out) {
  static const char *const names[] = {"ok", "refused", "error"};
  static const art_result_status values[] = {ART_RESULT_OK, ART_RESULT_REFUSED, ART_RESULT_ERROR};
  for (size_t i = 0; name && i < sizeof names / sizeof *names; i++)
    if (strcmp(name, names[i]) == 0) {
      *out = values[i];
      return 0;
    }
  return ART_EINVAL;
}

/* Exactly an envelope: a "status" of ok, refused or error, and nothing but
 * "data" and "message" besides.  Natural output often has a "status" of its
 * own ({"status": "shipped", ...}): that is data. */
static bool envelope_status(json_t *value, art_result_status *status) {
  const char *key;
  json_t *member;
  if (!json_is_object(value) ||
      parse_result_status(json_string_value(json_object_get(value, "status")), status) < 0)
    return false;
  json_object_foreach(value, key, member) {
    if (strcmp(key, "status") != 0 && strcmp(key, "data") != 0 && strcmp(key, "message") != 0)
      return false;
  }
  return true;
}

static void map_value(json_t *value_take, art_tool_result *r) {
  art_result_status status;
  if (!envelope_status(value_take, &status)) {
    art_tool_result_set(r, ART_RESULT_OK, value_take, "%s", "");
    return;
  }
  json_t *message = json_object_get(value_take, "message");
  if (message && !json_is_string(message))
    art_tool_result_set(r, ART_RESULT_ERROR, NULL,
                        "bad result envelope: \"message\" is not a string");
  else
    art_tool_result_set(r, status, json_incref(json_object_get(value_take, "data")), "%s",
                        message ? json_string_value(message) : "");
  json_decref(value_take);
}

/* Output that is not one JSON value is text: the data is that text without
 * its trailing white space, each byte that is not UTF-8 made '?'. */
static void map_text(char *text, size_t len, art_tool_result *r) {
  len = art_trimmed_len(text, len);
  if (!art_utf8_valid(text, len)) art_utf8_repair(text, len, text);
  json_t *data = json_stringn(text, len);
  if (data)
    art_tool_result_set(r, ART_RESULT_OK, data, "%s", "");
  else
    art_tool_result_set(r, ART_RESULT_ERROR, NULL, "out of memory");
}

/* The output is ours to change: its text may be repaired in place. */
static void map_output(art_command_output *o, int timeout_ms, art_tool_result *r) {
  int line_len;
  const char *line = art_last_line(o->err, o->err_len, &line_len);
  json_t *value;
  if (o->timed_out)
    art_tool_result_set(r, ART_RESULT_ERROR, json_pack("{s:i}", "timeout_ms", timeout_ms),
                        "timeout");
  else if (o->interrupted)
    art_tool_result_set(r, ART_RESULT_ERROR, NULL, "interrupted: the run is being cancelled");
  else if (!o->exited)
    art_tool_result_set(r, ART_RESULT_ERROR, NULL, "killed by signal %d", o->term_signal);
  else if (o->exit_status != 0)
    art_tool_result_set(r, ART_RESULT_ERROR, NULL, "exit status %d%s%.*s", o->exit_status,
                        line_len ? ": " : "", line_len, line);
  else if (art_trimmed_len(o->out, o->out_len) == 0)
    art_tool_result_set(r, ART_RESULT_ERROR, NULL, "no output on stdout");
  else if ((value = json_loadb(o->out, o->out_len, JSON_DECODE_ANY, NULL)))
    map_value(value, r);
  else
    map_text(o->out, o->out_len, r);
}

static void describe_ending(const art_command_output *o, char *ending, size_t size) {
  if (o->timed_out)
    snprintf(ending, size, "command timed out");
  else if (o->interrupted)
    snprintf(ending, size, "command interrupted");
  else if (!o->exited)
    snprintf(ending, size, "command killed by signal %d", o->term_signal);
  else
    snprintf(ending, size, "command exit %d", o->exit_status);
}

int art_command_tool_call(const char *const *argv, int timeout_ms, const art_tool_call *call,
                          const art_allocator *alloc, art_tool_result *result) {
  return art_command_tool_run(argv, timeout_ms, call, alloc, result, NULL, 0);
}

static int tool_input_prepare(const art_allocator *a, const art_tool_call *call, tool_input *in,
                              art_error *err) {
  memset(in, 0, sizeof *in);
  int rc = tool_env(a, call, in->env, err);
  return rc < 0 ? rc : encode_input(a, call->input, &in->text, &in->len, err);
}

static void tool_input_dispose(const art_allocator *a, tool_input *in) {
  for (size_t i = 0; i < TOOL_ENV_MAX; i++) art_release(a, in->env[i]);
  art_release(a, in->text);
  memset(in, 0, sizeof *in);
}

static int tool_timeout(int timeout_ms) { return timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS; }

/* What a command tool's call came to, however it was run: `rc` < 0 (err says
 * why) when it could not run or its output could not be held, else `out`
 * (disposed here). */
static int map_run(int rc, art_command_output *out, const art_error *err, int timeout_ms,
                   const art_allocator *alloc, art_tool_result *result, char *ending,
                   size_t ending_size) {
  if (rc < 0) {
    if (ending) snprintf(ending, ending_size, "command failed");
    art_tool_result_set(result, ART_RESULT_ERROR, NULL, "%s", err->message);
    return rc;
  }
  if (ending) describe_ending(out, ending, ending_size);
  map_output(out, timeout_ms, result);
  art_command_output_dispose(alloc, out);
  return 0;
}

int art_command_tool_run(const char *const *argv, int timeout_ms, const art_tool_call *call,
                         const art_allocator *alloc, art_tool_result *result, char *ending,
                         size_t ending_size) {
  alloc = art_allocator_or_default(alloc);
  timeout_ms = tool_timeout(timeout_ms);
  tool_input in;
  art_error err = {0, ""};
  art_command_output out = {0};
  int rc = tool_input_prepare(alloc, call, &in, &err);
  if (rc == 0)
    rc = art_command_exec_until(argv, (const char *const *)in.env, in.text, in.len, timeout_ms,
                                call->interrupt, alloc, &out, &err);
  tool_input_dispose(alloc, &in);
  return map_run(rc, &out, &err, timeout_ms, alloc, result, ending, ending_size);
}

/* ---- on an event loop ------------------------------------------------------------ */

/* A call on an event loop: the same child, its pipes watched by the loop
 * instead of poll(), its deadline a loop timer, its exit told by a pidfd
 * (readable once the child has exited: no SIGCHLD handler is taken from the
 * program, and no job asks after the others' children).
 * The child is reaped only at the end (a zombie until then, as in the
 * blocking path), so its group id stays its own for as long as the group may
 * still have to be killed.  Freed once its last handle has closed. */
enum { H_STDIN, H_STDOUT, H_STDERR, H_EXIT, H_DEADLINE, H_COUNT };

struct art_command_job {
  child c;
  tool_input in;
  const char *const *argv;
  int timeout_ms;
  uv_loop_t *uv;
  art_proc_gate *gate;
  art_command_done_fn done;
  void *ud;
  uv_poll_t pipes[4]; /* H_STDIN, H_STDOUT, H_STDERR, H_EXIT (the pidfd) */
  uv_timer_t deadline;
  int pidfd;     /* -1: none; closed once its watcher is */
  unsigned live; /* handles started and not closing, a bit each */
  unsigned open; /* handles not closed yet */
  bool exited;   /* the child has exited (not reaped yet) */
  bool ending;   /* torn down: freed when the last handle closes */
};

static uv_handle_t *job_handle(art_command_job *j, int h) {
  return h == H_DEADLINE ? (uv_handle_t *)&j->deadline : (uv_handle_t *)&j->pipes[h];
}

static void job_free(art_command_job *j) {
  art_close_fd(&j->pidfd);
  art_release(j->c.alloc, j);
}

static void job_handle_closed(uv_handle_t *h) {
  art_command_job *j = h->data;
  if (--j->open == 0 && j->ending) job_free(j);
}

static void close_job_handle(art_command_job *j, int h) {
  if (!(j->live & (1u << h))) return;
  j->live &= ~(1u << h);
  uv_close(job_handle(j, h), job_handle_closed);
}

/* Closes the handles (before the descriptors they watch), kills and reaps a
 * child still there, gives back the process slot and frees what is not
 * handed on; the job itself goes once its handles have closed. */
static void job_teardown(art_command_job *j) {
  for (int h = 0; h < H_COUNT; h++) close_job_handle(j, h);
  child_dispose(&j->c);
  tool_input_dispose(j->c.alloc, &j->in);
  if (j->gate) j->gate->release(j->gate);
  j->ending = true;
  if (j->open == 0) job_free(j);
}

/* The end of the call: `rc` < 0 when it failed (err), else the child has
 * exited or been killed and is reaped here; the result goes to `done`. */
static void job_end(art_command_job *j, int rc, art_error *err) {
  art_command_output out = {0};
  art_error none = {0, ""};
  int status = 0;
  if (!err) err = &none;
  if (rc == 0 && art_process_wait(&j->c.proc, -1, &status) < 0) rc = cannot_wait(&j->c, err);
  if (rc == 0) take_output(&j->c, status, &out);
  art_command_done_fn done = j->done;
  void *ud = j->ud;
  const art_allocator *alloc = j->c.alloc;
  int timeout_ms = j->timeout_ms;
  job_teardown(j);
  art_tool_result result = {0};
  char ending[48];
  rc = map_run(rc, &out, err, timeout_ms, alloc, &result, ending, sizeof ending);
  done(ud, rc, &result, ending);
}

/* Done once the child has exited and closed its ends of the pipes (a
 * grandchild holding them keeps the call going until the deadline). */
static void end_if_done(art_command_job *j) {
  const art_process *p = &j->c.proc;
  if (j->exited && p->in_fd < 0 && p->out_fd < 0 && p->err_fd < 0) job_end(j, 0, NULL);
}

/* A pipe watched: its watcher goes once the pipe has closed. */
static void pipe_tended(art_command_job *j, int h, int fd) {
  if (fd < 0) close_job_handle(j, h);
  end_if_done(j);
}

static void stdin_ready(uv_poll_t *h, int status, int events) {
  art_command_job *j = h->data;
  (void)events;
  if (status < 0) /* the reader is gone: as EPIPE */
    art_close_fd(&j->c.proc.in_fd);
  else
    feed_stdin(&j->c);
  pipe_tended(j, H_STDIN, j->c.proc.in_fd);
}

static void stdout_ready(uv_poll_t *h, int status, int events) {
  art_command_job *j = h->data;
  art_error err = {0, ""};
  (void)status, (void)events;
  int rc = drain_stdout(&j->c, &err);
  if (rc < 0)
    job_end(j, rc, &err);
  else
    pipe_tended(j, H_STDOUT, j->c.proc.out_fd);
}

static void stderr_ready(uv_poll_t *h, int status, int events) {
  art_command_job *j = h->data;
  (void)status, (void)events;
  drain_stderr(&j->c);
  pipe_tended(j, H_STDERR, j->c.proc.err_fd);
}

/* The pidfd is readable: the child has exited (the reap at the end says
 * how, or why it cannot). */
static void child_exited(uv_poll_t *h, int status, int events) {
  art_command_job *j = h->data;
  (void)status, (void)events;
  j->exited = true;
  close_job_handle(j, H_EXIT);
  end_if_done(j);
}

/* The whole group is killed (a grandchild too) and the call ends timed out,
 * with the output so far. */
static void deadline_passed(uv_timer_t *t) {
  art_command_job *j = t->data;
  j->c.timed_out = true;
  art_process_signal(&j->c.proc, SIGKILL);
  job_end(j, 0, NULL);
}

static int init_job_handle(art_command_job *j, int h, int rc) {
  if (rc < 0) return rc;
  job_handle(j, h)->data = j;
  j->live |= 1u << h;
  j->open++;
  return 0;
}

static int watch_pipe(art_command_job *j, int h, int fd, int events, uv_poll_cb cb) {
  if (fd < 0) return 0;
  int rc = init_job_handle(j, h, uv_poll_init(j->uv, &j->pipes[h], fd));
  return rc < 0 ? rc : uv_poll_start(&j->pipes[h], events, cb);
}

/* The loop's watchers for a child just started (a pidfd is readable for a
 * child that exited before it was watched, too). */
static int watch_child(art_command_job *j, art_error *err) {
  art_process *p = &j->c.proc;
  if (j->c.input_len == 0) art_close_fd(&p->in_fd);
  int rc = init_job_handle(j, H_DEADLINE, uv_timer_init(j->uv, &j->deadline));
  if (rc == 0) rc = uv_timer_start(&j->deadline, deadline_passed, (uint64_t)j->timeout_ms, 0);
  if (rc == 0 && (j->pidfd = pidfd_open(p->pid, 0)) < 0) rc = uv_translate_sys_error(errno);
  if (rc == 0) rc = watch_pipe(j, H_EXIT, j->pidfd, UV_READABLE, child_exited);
  if (rc == 0) rc = watch_pipe(j, H_STDIN, p->in_fd, UV_WRITABLE, stdin_ready);
  if (rc == 0) rc = watch_pipe(j, H_STDOUT, p->out_fd, UV_READABLE, stdout_ready);
  if (rc == 0) rc = watch_pipe(j, H_STDERR, p->err_fd, UV_READABLE, stderr_ready);
  if (rc < 0)
    return art_error_set(err, ART_EIO, "the event loop cannot watch \"%s\": %s", j->c.name,
                         uv_strerror(rc));
  return 0;
}

/* With a process slot held: 0 (the call runs), or it ended at once. */
static int spawn(art_command_job *j) {
  art_error err = {0, ""};
  int rc = art_process_start(&j->c.proc, j->argv, (const char *const *)j->in.env, j->c.alloc, &err);
  if (rc == 0) rc = watch_child(j, &err);
  if (rc < 0) {
    job_end(j, rc, &err);
    return rc;
  }
  end_if_done(j);
  return 0;
}

static void slot_granted(void *ud) { spawn(ud); }

/* Could not even be made: the result says why, at once. */
static void start_failed(const art_command_start *how, int rc, const art_error *err) {
  art_tool_result result = {0};
  char ending[48];
  rc = map_run(rc, NULL, err, tool_timeout(how->timeout_ms), NULL, &result, ending, sizeof ending);
  how->done(how->ud, rc, &result, ending);
}

art_command_job *art_command_tool_start(const art_command_start *how) {
  const art_allocator *alloc = art_allocator_or_default(how->alloc);
  art_error err = {0, ""};
  art_command_job *j = art_zalloc(alloc, sizeof *j);
  if (!j) {
    art_error_set(&err, ART_ENOMEM, "out of memory");
    start_failed(how, ART_ENOMEM, &err);
    return NULL;
  }
  *j = (art_command_job){.pidfd = -1,
                         .argv = how->argv,
                         .timeout_ms = tool_timeout(how->timeout_ms),
                         .uv = how->uv,
                         .gate = how->gate,
                         .done = how->done,
                         .ud = how->ud};
  int rc = tool_input_prepare(alloc, how->call, &j->in, &err);
  child_init(&j->c, alloc, how->argv[0], j->in.text, j->in.len, -1);
  if (rc == 0) rc = child_alloc_buffers(&j->c, &err);
  if (rc < 0) {
    job_end(j, rc, &err);
    return NULL;
  }
  if (j->gate && !j->gate->acquire(j->gate, slot_granted, j)) return j;
  return spawn(j) < 0 ? NULL : j;
}

void art_command_job_cancel(art_command_job *j) { job_teardown(j); }

/* ---- command tools in a registry ------------------------------------------------ */

static void command_tool_free(void *ud) {
  art_command_tool *c = ud;
  for (char **p = c->argv; *p; p++) art_release(c->alloc, *p);
  art_release(c->alloc, c);
}

static int command_tool_fn(void *ud, const art_tool_call *call, art_tool_result *result) {
  const art_command_tool *c = ud;
  art_command_tool_call((const char *const *)c->argv, c->timeout_ms, call, c->alloc, result);
  return 0; /* the result says why when the command could not be run */
}

static void command_tool_done(void *ud, int rc, art_tool_result *result, const char *ending) {
  art_tool_job *job = ud;
  (void)rc, (void)ending; /* the result says why */
  job->done(job, result);
}

static int command_tool_start(void *ud, const art_tool_call *call, art_tool_job *job) {
  const art_command_tool *c = ud;
  art_command_start how = {.uv = job->uv,
                           .gate = &job->procs,
                           .argv = (const char *const *)c->argv,
                           .timeout_ms = c->timeout_ms,
                           .call = call,
                           .alloc = c->alloc,
                           .done = command_tool_done,
                           .ud = job};
  job->state = art_command_tool_start(&how);
  return 0; /* the result says why when the command could not be run */
}

static void command_tool_cancel(void *ud, art_tool_job *job) {
  (void)ud;
  art_command_job_cancel(job->state);
}

static art_command_tool *command_tool_new(const art_allocator *alloc, const char *const *argv,
                                          int timeout_ms) {
  size_t n = 0;
  while (argv[n]) n++;
  art_command_tool *c = art_zalloc(alloc, sizeof *c + (n + 1) * sizeof *c->argv);
  if (!c) return NULL;
  c->alloc = alloc;
  c->timeout_ms = timeout_ms;
  for (size_t i = 0; i < n; i++) {
    if (!(c->argv[i] = art_strdup(alloc, argv[i]))) {
      command_tool_free(c);
      return NULL;
    }
  }
  return c;
}

int art_registry_add_command(art_registry *reg, const art_tool_def *def, const char *const *argv,
                             int timeout_ms, art_error *err) {
  const char *name = def->name ? def->name : "";
  if (!argv || !argv[0])
    return art_error_set(err, ART_EINVAL, "tool \"%s\" has an empty command", name);
  art_command_tool *c = command_tool_new(art_registry_allocator(reg), argv, timeout_ms);
  if (!c) return art_error_set(err, ART_ENOMEM, "out of memory");
  art_tool_def with_fn = *def;
  with_fn.fn = command_tool_fn;
  with_fn.may_block = true;
  with_fn.start = command_tool_start;
  with_fn.cancel = command_tool_cancel;
  with_fn.ud = c;
  with_fn.free_ud = command_tool_free;
  return art_registry_add(reg, &with_fn, err);
}

const art_command_tool *art_command_tool_of(const art_tool *t) {
  return t->fn == command_tool_fn ? t->ud : NULL;
}
