/* One MCP server process: JSON-RPC lines out on its stdin, in from its
 * stdout, its stderr kept for failure messages.  Everything waits in poll()
 * under a deadline, and reading goes on while writing, so neither side can
 * block the other.  The event-loop side (mcp_loop.c) waits in its loop
 * instead and uses the pieces here that do not wait. */
#include "tool/mcp_server.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/text.h"

#define READ_CHUNK 65536
#define FIRST_OUT_CAP 4096

int mcp_server_new(mcp_server **out, const char *name, const art_allocator *alloc) {
  mcp_server *s = art_zalloc(alloc, sizeof *s);
  if (!s) return ART_ENOMEM;
  s->alloc = alloc;
  pthread_mutex_init(&s->lock, NULL);
  s->refs = 1;
  s->next_id = 1;
  s->proc = (art_process){.pid = -1, .in_fd = -1, .out_fd = -1, .err_fd = -1};
  art_line_buffer_init(&s->lines, alloc, ART_RPC_LINE_MAX);
  if (!(s->name = art_strdup(alloc, name))) {
    art_release(alloc, s);
    return ART_ENOMEM;
  }
  *out = s;
  return 0;
}

void mcp_server_ref(mcp_server *s) { s->refs++; }

void mcp_server_unref(mcp_server *s) {
  if (!s || --s->refs > 0) return;
  mcp_server_shutdown(s);
  art_line_buffer_dispose(&s->lines);
  art_release(s->alloc, s->out_buf);
  pthread_mutex_destroy(&s->lock);
  art_release(s->alloc, s->name);
  art_release(s->alloc, s);
}

static void unwatch(mcp_server *s) {
  if (s->unwatch) s->unwatch(s);
}

/* A server that is still up gets its stdin closed (the MCP way to ask it to
 * leave), then SIGTERM, then SIGKILL, with a grace period before each. */
void mcp_server_shutdown(mcp_server *s) {
  if (!s->down)
    snprintf(s->why_down, sizeof s->why_down, "mcp server \"%s\" is shut down", s->name);
  s->down = true;
  unwatch(s);
  art_close_fd(&s->proc.in_fd);
  art_close_fd(&s->proc.out_fd);
  art_close_fd(&s->proc.err_fd);
  if (s->proc.pid > 0 && art_process_wait(&s->proc, s->grace_ms, NULL) == 0) {
    art_process_signal(&s->proc, SIGTERM);
    art_process_wait(&s->proc, s->grace_ms, NULL);
  }
  art_process_kill(&s->proc);
}

int mcp_server_fail(mcp_server *s, const char *fmt, ...) {
  if (s->down) return ART_EIO;
  char msg[ART_ERRMSG_SIZE];
  va_list ap;
  va_start(ap, fmt);
  art_text_clip(msg, sizeof msg, vsnprintf(msg, sizeof msg, fmt, ap));
  va_end(ap);
  art_text_clip(s->why_down, sizeof s->why_down,
                snprintf(s->why_down, sizeof s->why_down, "mcp server \"%s\": %s", s->name, msg));
  s->down = true;
  unwatch(s);
  art_process_kill(&s->proc);
  return ART_EIO;
}

static int out_of_memory(mcp_server *s) {
  mcp_server_fail(s, "out of memory");
  return ART_ENOMEM;
}

int mcp_server_start(mcp_server *s, const char *const *argv, const char *const *env) {
  art_error err = {0};
  int rc = art_process_start(&s->proc, argv, env, s->alloc, &err);
  if (rc == ART_ENOMEM) return out_of_memory(s);
  return rc < 0 ? mcp_server_fail(s, "%s", err.message) : 0;
}

/* ---- stderr and how a server died ------------------------------------------- */

static void read_stderr(mcp_server *s) {
  art_read_tail(&s->proc.err_fd, s->err_tail, &s->err_len, MCP_ERR_KEEP);
}

/* What is left on stderr of a server that is gone. */
static void drain_stderr(mcp_server *s) {
  while (s->proc.err_fd >= 0) {
    size_t before = s->err_len;
    int fd = s->proc.err_fd;
    read_stderr(s);
    if (s->proc.err_fd == fd && s->err_len == before) break; /* EAGAIN: someone still holds it */
  }
}

static void stderr_suffix(const mcp_server *s, char *buf, size_t size) {
  int n;
  const char *line = art_last_line(s->err_tail, s->err_len, &n);
  if (n > 200) line += n - 200, n = 200;
  buf[0] = '\0';
  if (n) snprintf(buf, size, " (stderr: %.*s)", n, line);
}

bool mcp_server_read_stderr(mcp_server *s) {
  return s->proc.err_fd >= 0 &&
         art_tail_read(s->proc.err_fd, s->err_tail, &s->err_len, MCP_ERR_KEEP);
}

/* Its stdout ended or its stdin broke: say how it ended, if it did within
 * `reap_ms`. */
static int server_gone(mcp_server *s, const char *what, int reap_ms) {
  int status = 0;
  unwatch(s);
  art_close_fd(&s->proc.in_fd);
  int reaped = art_process_wait(&s->proc, reap_ms, &status);
  char tail[260];
  drain_stderr(s);
  stderr_suffix(s, tail, sizeof tail);
  if (reaped == 1 && WIFEXITED(status))
    return mcp_server_fail(s, "exited with status %d during %s%s", WEXITSTATUS(status), what, tail);
  if (reaped == 1 && WIFSIGNALED(status))
    return mcp_server_fail(s, "killed by signal %d during %s%s", WTERMSIG(status), what, tail);
  return mcp_server_fail(s, "closed its stdout during %s%s", what, tail);
}

/* ---- moving bytes ------------------------------------------------------------- */

int mcp_server_read(mcp_server *s, const char *what, int reap_ms) {
  char chunk[READ_CHUNK];
  ssize_t n = read(s->proc.out_fd, chunk, sizeof chunk);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
  if (n < 0) return mcp_server_fail(s, "cannot read its stdout: %s", strerror(errno));
  if (n == 0) return server_gone(s, what, reap_ms);
  int rc = art_line_buffer_append(&s->lines, chunk, (size_t)n);
  if (rc == ART_ENOMEM) return out_of_memory(s);
  if (rc < 0)
    return mcp_server_fail(s, "wrote a line longer than %zu MiB during %s", ART_RPC_LINE_MAX >> 20,
                           what);
  return 0;
}

/* Room for n more bytes in the queue, after what was written is dropped. */
static int reserve_out(mcp_server *s, size_t n) {
  if (s->out_off) {
    memmove(s->out_buf, s->out_buf + s->out_off, s->out_len - s->out_off);
    s->out_len -= s->out_off;
    s->out_off = 0;
  }
  if (s->out_cap - s->out_len >= n) return 0;
  size_t cap = s->out_cap ? s->out_cap : FIRST_OUT_CAP;
  while (cap - s->out_len < n) cap *= 2;
  char *buf = art_resize(s->alloc, s->out_buf, cap);
  if (!buf) return ART_ENOMEM;
  s->out_buf = buf;
  s->out_cap = cap;
  return 0;
}

int mcp_server_queue(mcp_server *s, json_t *msg_take) {
  char *line = NULL;
  size_t len = 0;
  int rc = s->down ? ART_EIO : !msg_take ? out_of_memory(s) : 0;
  if (rc == 0 && art_rpc_encode(msg_take, s->alloc, &line, &len) < 0) rc = out_of_memory(s);
  json_decref(msg_take);
  if (rc == 0 && reserve_out(s, len) < 0) rc = out_of_memory(s);
  if (rc == 0) {
    memcpy(s->out_buf + s->out_len, line, len);
    s->out_len += len;
  }
  art_release(s->alloc, line);
  return rc;
}

bool mcp_server_queued(const mcp_server *s) { return s->out_off < s->out_len; }

int mcp_server_write_queued(mcp_server *s, const char *what, int reap_ms) {
  while (mcp_server_queued(s)) {
    ssize_t n =
        art_write_without_sigpipe(s->proc.in_fd, s->out_buf + s->out_off, s->out_len - s->out_off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return 0;
    if (n < 0) return server_gone(s, what, reap_ms);
    s->out_off += (size_t)n;
  }
  return 0;
}

/* One round of poll(): write some of the queue, read what arrived. */
static int pump(mcp_server *s, int wait_ms, const char *what) {
  struct pollfd fds[3] = {{mcp_server_queued(s) ? s->proc.in_fd : -1, POLLOUT, 0},
                          {s->proc.out_fd, POLLIN, 0},
                          {s->proc.err_fd, POLLIN, 0}};
  if (poll(fds, 3, wait_ms) < 0)
    return errno == EINTR ? 0 : mcp_server_fail(s, "poll: %s", strerror(errno));
  if (fds[2].revents) read_stderr(s);
  int rc = fds[0].revents ? mcp_server_write_queued(s, what, s->grace_ms) : 0;
  if (rc == 0 && fds[1].revents) rc = mcp_server_read(s, what, s->grace_ms);
  return rc;
}

static int wait_ms_until(int64_t deadline_ms) {
  int64_t left = deadline_ms - art_monotonic_ms();
  return left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

/* Queues the message and writes the queue out (with what the event-loop side
 * left in it first). */
static int send_message(mcp_server *s, json_t *msg_take, int64_t deadline_ms, const char *what) {
  int rc = mcp_server_queue(s, msg_take);
  while (rc == 0 && mcp_server_queued(s)) {
    int wait_ms = wait_ms_until(deadline_ms);
    rc = wait_ms ? pump(s, wait_ms, what)
                 : mcp_server_fail(s, "does not read its stdin (during %s)", what);
  }
  return rc;
}

int mcp_server_notify(mcp_server *s, const char *method, json_t *params_take, const char *what) {
  return send_message(s, art_rpc_request(-1, method, params_take),
                      art_monotonic_ms() + s->timeout_ms, what);
}

/* ---- messages in ----------------------------------------------------------------- */

json_t *mcp_server_answer(const art_rpc_message *request) {
  if (strcmp(request->method, "ping") == 0) /* the spec's liveness check: an empty result */
    return json_pack("{s:s, s:O, s:{}}", "jsonrpc", "2.0", "id", request->id, "result");
  char text[160];
  snprintf(text, sizeof text, "Method not found: %s", request->method);
  return art_rpc_error_response(request->id, ART_RPC_METHOD_NOT_FOUND, text);
}

json_t *mcp_server_cancel_params(const mcp_server *s, json_int_t id, bool interrupted) {
  char reason[64];
  if (interrupted)
    snprintf(reason, sizeof reason, "the run is being cancelled");
  else
    snprintf(reason, sizeof reason, "timeout after %d ms", s->timeout_ms);
  return json_pack("{s:I, s:s}", "requestId", (json_int_t)id, "reason", reason);
}

static int refuse_request(mcp_server *s, const art_rpc_message *m, const char *what) {
  return send_message(s, mcp_server_answer(m), art_monotonic_ms() + s->timeout_ms, what);
}

/* 1 when `m` answers request `id` (an error with a null id answers whatever
 * request the server could not read); requests are refused, notifications
 * (progress, log messages, list changes) and stale responses ignored. */
static int handle_message(mcp_server *s, json_int_t id, art_rpc_message *m, const char *what) {
  bool response = m->kind == ART_RPC_RESULT || m->kind == ART_RPC_ERROR;
  if (response && (art_rpc_id_is(m->id, id) || json_is_null(m->id))) return 1;
  int rc = m->kind == ART_RPC_REQUEST ? refuse_request(s, m, what) : 0;
  art_rpc_message_dispose(m);
  return rc;
}

int mcp_server_next_message(mcp_server *s, const char *what, art_rpc_message *out) {
  const char *line;
  size_t len;
  while (!s->down && art_line_buffer_next(&s->lines, &line, &len) == 1) {
    char why[200];
    if (art_trimmed_len(line, len) == 0) continue;
    int rc = art_rpc_parse(line, len, out, why, sizeof why);
    if (rc == ART_ENOMEM) return out_of_memory(s);
    if (rc < 0)
      return mcp_server_fail(s, "wrote a line that is not JSON-RPC during %s: %s: %.80s", what, why,
                             line);
    return 1;
  }
  return s->down ? ART_EIO : 0;
}

static int take_lines(mcp_server *s, json_int_t id, const char *what, art_rpc_message *out) {
  int rc;
  while ((rc = mcp_server_next_message(s, what, out)) == 1)
    if ((rc = handle_message(s, id, out, what)) != 0) return rc;
  return rc;
}

/* How often a call that can be interrupted asks whether to give up. */
#define INTERRUPT_POLL_MS 100

static int await_response(mcp_server *s, json_int_t id, int64_t deadline_ms,
                          const art_interrupt *interrupt, const char *what, art_rpc_message *out) {
  for (;;) {
    int rc = take_lines(s, id, what, out);
    if (rc != 0) return rc < 0 ? rc : MCP_GOT;
    int wait_ms = wait_ms_until(deadline_ms);
    if (wait_ms == 0) return MCP_TIMED_OUT;
    if (interrupt && interrupt->requested(interrupt->ud)) return MCP_INTERRUPTED;
    if (interrupt && wait_ms > INTERRUPT_POLL_MS) wait_ms = INTERRUPT_POLL_MS;
    if ((rc = pump(s, wait_ms, what)) < 0) return rc;
  }
}

int mcp_server_request(mcp_server *s, const char *method, json_t *params_take, int64_t deadline_ms,
                       const art_interrupt *interrupt, const char *what, json_int_t *id,
                       art_rpc_message *response) {
  if (s->down) {
    json_decref(params_take);
    return ART_EIO;
  }
  *id = s->next_id++;
  int rc = send_message(s, art_rpc_request(*id, method, params_take), deadline_ms, what);
  return rc < 0 ? rc : await_response(s, *id, deadline_ms, interrupt, what, response);
}
