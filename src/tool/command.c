/* Command tools: fork + exec with pipes for stdin, stdout and stderr, pumped
 * with poll() under one deadline so that neither side can block the other.
 *
 * Everything the child needs (argv, the environment, a buffer for the PATH
 * search) is prepared before fork: between fork and exec the child of a
 * threaded program may only make async-signal-safe calls, so it never
 * allocates.  The child reports a failed exec through a close-on-exec pipe. */
#define _GNU_SOURCE /* pipe2: descriptors are close-on-exec from birth, so the
                       children other threads start never inherit them */

#include "tool/command.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"

#define OUT_MAX ((size_t)16 << 20) /* more stdout than this is an error */
#define OUT_FIRST_CAP 4096
#define ERR_KEEP 4096 /* stderr: only the tail is kept */
#define STATUS_FD 3   /* the child's exec-status pipe */
#define DEFAULT_PATH "/bin:/usr/bin"
#define DEFAULT_TIMEOUT_MS 30000
#define NAP_MAX_MS 50

/* What the child needs to exec, prepared before fork. */
typedef struct exec_plan {
  const char *const *argv;
  char **envp;      /* the array is ours; the strings are environ's and env_extra's */
  const char *path; /* PATH to search; NULL when argv[0] has a slash */
  char *search_buf; /* room for the longest PATH candidate */
} exec_plan;

typedef struct pipes {
  int in[2], out[2], err[2], status[2];
} pipes;

/* A child and the parent's ends of its pipes (-1 once closed). */
typedef struct child {
  const art_allocator *alloc;
  const char *name; /* argv[0], for messages */
  pid_t pid;        /* -1 when not started or already reaped */
  int in_fd, out_fd, err_fd;
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

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left for poll(): -1 without a deadline, 0 once it has passed. */
static int remaining_ms(const child *c) {
  if (c->deadline_ms < 0) return -1;
  int64_t left = c->deadline_ms - now_ms();
  return left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static int no_memory(art_error *err) { return art_error_set(err, ART_ENOMEM, "out of memory"); }

/* ---- the environment -------------------------------------------------- */

static bool same_env_name(const char *a, const char *b) {
  size_t n = strcspn(a, "=");
  return n == strcspn(b, "=") && memcmp(a, b, n) == 0;
}

static bool env_listed(const char *entry, const char *const *list) {
  for (; list && *list; list++)
    if (same_env_name(entry, *list)) return true;
  return false;
}

static size_t count_strings(const char *const *v) {
  size_t n = 0;
  while (v && v[n]) n++;
  return n;
}

static int check_env_extra(const char *const *extra, art_error *err) {
  for (; extra && *extra; extra++)
    if ((*extra)[0] == '=' || !strchr(*extra, '='))
      return art_error_set(err, ART_EINVAL, "bad environment entry \"%s\" (want NAME=value)",
                           *extra);
  return 0;
}

/* environ with `extra` laid over it; of duplicate names in `extra` the last wins.
 * The parent's own environment is never touched. */
static int build_envp(const art_allocator *a, const char *const *extra, char ***out,
                      art_error *err) {
  const char *const *env = (const char *const *)environ;
  size_t n_env = count_strings(env), n_extra = count_strings(extra), n = 0;
  char **envp = art_alloc(a, (n_env + n_extra + 1) * sizeof *envp);
  if (!envp) return no_memory(err);
  for (size_t i = 0; i < n_env; i++)
    if (!env_listed(env[i], extra)) envp[n++] = (char *)env[i];
  for (size_t i = 0; i < n_extra; i++)
    if (!env_listed(extra[i], extra + i + 1)) envp[n++] = (char *)extra[i];
  envp[n] = NULL;
  *out = envp;
  return 0;
}

static const char *envp_value(char *const *envp, const char *name) {
  size_t n = strlen(name);
  for (; *envp; envp++)
    if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=') return *envp + n + 1;
  return NULL;
}

static int plan_exec(const art_allocator *a, const char *const *argv, const char *const *extra,
                     exec_plan *p, art_error *err) {
  memset(p, 0, sizeof *p);
  p->argv = argv;
  int rc = check_env_extra(extra, err);
  if (rc == 0) rc = build_envp(a, extra, &p->envp, err);
  if (rc < 0 || strchr(argv[0], '/')) return rc;
  /* The PATH the child will see, so that env_extra can set it. */
  p->path = envp_value(p->envp, "PATH");
  if (!p->path) p->path = DEFAULT_PATH;
  p->search_buf = art_alloc(a, strlen(p->path) + strlen(argv[0]) + 2);
  return p->search_buf ? 0 : no_memory(err);
}

static void plan_dispose(const art_allocator *a, exec_plan *p) {
  art_release(a, p->envp);
  art_release(a, p->search_buf);
}

/* ---- the child, between fork and exec: async-signal-safe calls only ---- */

static void child_fail(int status_fd, int error) __attribute__((noreturn));
static void child_fail(int status_fd, int error) {
  ssize_t n = write(status_fd, &error, sizeof error);
  (void)n;
  _exit(127);
}

/* The caller's blocked signals and an ignored SIGPIPE would otherwise survive
 * the exec and change how the tool behaves. */
static void child_reset_signals(void) {
  sigset_t none;
  struct sigaction dfl;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGPIPE, &dfl, NULL);
}

/* Descriptors the application opened without O_CLOEXEC must not reach the
 * tool: a pipe end held there could keep someone else's pipe from closing. */
static void close_from(int lowest) {
#ifdef SYS_close_range
  if (syscall(SYS_close_range, (unsigned)lowest, ~0U, 0) == 0) return;
#endif
  struct rlimit rl;
  long limit = 1L << 20;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)limit) limit = (long)rl.rlim_cur;
  for (long fd = lowest; fd < limit; fd++) close((int)fd);
}

/* Installs the pipes as 0, 1, 2 and the status pipe as STATUS_FD, and closes
 * every other descriptor.  Each pipe is first moved to 3 or above so that
 * installing one cannot overwrite another (the caller may have 0-2 closed). */
static void child_setup_fds(const pipes *p) {
  int status = fcntl(p->status[1], F_DUPFD_CLOEXEC, 3);
  if (status < 0) child_fail(p->status[1], errno);
  int in = fcntl(p->in[0], F_DUPFD_CLOEXEC, 3);
  int out = fcntl(p->out[1], F_DUPFD_CLOEXEC, 3);
  int err = fcntl(p->err[1], F_DUPFD_CLOEXEC, 3);
  if (in < 0 || out < 0 || err < 0) child_fail(status, errno);
  if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) child_fail(status, errno);
  if (status != STATUS_FD && dup2(status, STATUS_FD) < 0) child_fail(status, errno);
  if (fcntl(STATUS_FD, F_SETFD, FD_CLOEXEC) < 0) child_fail(STATUS_FD, errno);
  close_from(STATUS_FD + 1);
}

static bool search_goes_on(int error) {
  return error == ENOENT || error == ENOTDIR || error == ESTALE || error == ENODEV ||
         error == ETIMEDOUT || error == EACCES;
}

/* execvp's PATH search, done by hand because the child's environment is not
 * the parent's.  Unlike execvp it never falls back to running the file with
 * /bin/sh.  Returns the errno to report. */
static int exec_search(const exec_plan *p) {
  const char *name = p->argv[0];
  size_t name_len = strlen(name);
  bool denied = false;
  for (const char *dir = p->path;; dir++) {
    const char *end = dir;
    while (*end && *end != ':') end++;
    size_t dir_len = (size_t)(end - dir); /* empty: the current directory */
    char *at = p->search_buf;
    if (dir_len) {
      memcpy(at, dir, dir_len);
      at[dir_len] = '/';
      at += dir_len + 1;
    }
    memcpy(at, name, name_len + 1);
    execve(p->search_buf, (char *const *)p->argv, p->envp);
    if (!search_goes_on(errno)) return errno;
    denied |= errno == EACCES;
    if (!*end) return denied ? EACCES : ENOENT;
    dir = end;
  }
}

static void child_exec(const exec_plan *plan, const pipes *p) __attribute__((noreturn));
static void child_exec(const exec_plan *plan, const pipes *p) {
  /* Its own process group, so that a timeout kills whatever it starts too. */
  if (setpgid(0, 0) < 0) child_fail(p->status[1], errno);
  child_reset_signals();
  child_setup_fds(p);
  if (plan->path) child_fail(STATUS_FD, exec_search(plan));
  execve(plan->argv[0], (char *const *)plan->argv, plan->envp);
  child_fail(STATUS_FD, errno);
}

/* ---- the parent: starting, feeding, draining, reaping ------------------ */

static void close_pipes(pipes *p) {
  int *ends[] = {p->in, p->out, p->err, p->status};
  for (size_t i = 0; i < sizeof ends / sizeof *ends; i++) {
    close_fd(&ends[i][0]);
    close_fd(&ends[i][1]);
  }
}

static int set_nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/* The parent's ends are non-blocking so that poll() decides all waiting; each
 * end is its own open file description, so the child's ends stay blocking. */
static int open_pipes(pipes *p, art_error *err) {
  int *ends[] = {p->in, p->out, p->err, p->status};
  for (size_t i = 0; i < sizeof ends / sizeof *ends; i++) ends[i][0] = ends[i][1] = -1;
  for (size_t i = 0; i < sizeof ends / sizeof *ends; i++) {
    if (pipe2(ends[i], O_CLOEXEC) == 0) continue;
    int e = errno;
    close_pipes(p);
    return art_error_set(err, ART_EIO, "cannot create a pipe: %s", strerror(e));
  }
  if (set_nonblocking(p->in[1]) < 0 || set_nonblocking(p->out[0]) < 0 ||
      set_nonblocking(p->err[0]) < 0) {
    int e = errno;
    close_pipes(p);
    return art_error_set(err, ART_EIO, "cannot set up a pipe: %s", strerror(e));
  }
  return 0;
}

static int take_fd(int *fd) {
  int taken = *fd;
  *fd = -1;
  return taken;
}

static void kill_group(pid_t pid) {
  /* The pid alone when the child died before it could make its group. */
  if (kill(-pid, SIGKILL) < 0) kill(pid, SIGKILL);
}

static int wait_for(pid_t pid, int *status) {
  pid_t r;
  do r = waitpid(pid, status, 0);
  while (r < 0 && errno == EINTR);
  return r == pid ? 0 : -1;
}

/* Blocks until the exec happened (EOF: the status pipe closed on exec) or the
 * child sent the errno of what failed. */
static int await_exec(child *c, int status_fd, art_error *err) {
  int child_errno = 0;
  ssize_t n;
  do n = read(status_fd, &child_errno, sizeof child_errno);
  while (n < 0 && errno == EINTR);
  if (n == 0) return 0;
  if (n == (ssize_t)sizeof child_errno)
    return art_error_set(err, ART_EIO, "cannot run \"%s\": %s", c->name, strerror(child_errno));
  return art_error_set(err, ART_EIO, "cannot run \"%s\"", c->name);
}

static int start_child(child *c, const exec_plan *plan, art_error *err) {
  pipes p;
  int rc = open_pipes(&p, err);
  if (rc < 0) return rc;
  c->pid = fork();
  if (c->pid == 0) child_exec(plan, &p);
  int fork_errno = errno;
  c->in_fd = take_fd(&p.in[1]);
  c->out_fd = take_fd(&p.out[0]);
  c->err_fd = take_fd(&p.err[0]);
  int status_fd = take_fd(&p.status[0]);
  close_pipes(&p); /* the child's ends: only the child may hold them */
  if (c->pid < 0)
    rc = art_error_set(err, ART_EIO, "cannot start \"%s\": %s", c->name, strerror(fork_errno));
  else
    rc = await_exec(c, status_fd, err);
  close(status_fd);
  return rc;
}

/* write() with SIGPIPE held off for this thread only: the process-wide
 * disposition belongs to the application.  The SIGPIPE this write raises is
 * consumed; one that was already pending is left for its owner. */
static ssize_t write_without_sigpipe(int fd, const void *buf, size_t len) {
  static const struct timespec no_wait = {0, 0};
  sigset_t sigpipe_only, old_mask, pending;
  sigemptyset(&sigpipe_only);
  sigaddset(&sigpipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &sigpipe_only, &old_mask);
  sigpending(&pending);
  bool was_pending = sigismember(&pending, SIGPIPE);
  ssize_t n = write(fd, buf, len);
  int write_errno = errno;
  if (n < 0 && write_errno == EPIPE && !was_pending)
    while (sigtimedwait(&sigpipe_only, NULL, &no_wait) < 0 && errno == EINTR) {}
  pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
  errno = write_errno;
  return n;
}

static void feed_stdin(child *c) {
  ssize_t n = write_without_sigpipe(c->in_fd, c->input + c->input_off, c->input_len - c->input_off);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n > 0) c->input_off += (size_t)n;
  /* An error (EPIPE: the child closed stdin or exited) means the child will
   * not read the rest; what that means is for its exit status to say. */
  if (n < 0 || c->input_off == c->input_len) close_fd(&c->in_fd);
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
  ssize_t n = read(c->out_fd, c->out + c->out_len, c->out_cap - c->out_len - 1);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
  if (n < 0)
    return art_error_set(err, ART_EIO, "cannot read the output of \"%s\": %s", c->name,
                         strerror(errno));
  if (n == 0) close_fd(&c->out_fd);
  c->out_len += (size_t)n;
  if (c->out_len > OUT_MAX)
    return art_error_set(err, ART_EIO, "output too large: \"%s\" wrote more than %zu MiB", c->name,
                         OUT_MAX >> 20);
  return 0;
}

/* Appends data to the ERR_KEEP-byte window buf, dropping the oldest bytes. */
static void keep_tail(char *buf, size_t *len, const char *data, size_t n) {
  if (n >= ERR_KEEP) {
    memcpy(buf, data + n - ERR_KEEP, ERR_KEEP);
    *len = ERR_KEEP;
    return;
  }
  size_t drop = *len + n > ERR_KEEP ? *len + n - ERR_KEEP : 0;
  memmove(buf, buf + drop, *len - drop);
  memcpy(buf + *len - drop, data, n);
  *len = *len - drop + n;
}

/* stderr is diagnostics only: a read error just ends it. */
static void drain_stderr(child *c) {
  char chunk[ERR_KEEP];
  ssize_t n = read(c->err_fd, chunk, sizeof chunk);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0)
    close_fd(&c->err_fd);
  else
    keep_tail(c->err, &c->err_len, chunk, (size_t)n);
}

/* Moves input in and output out until the child closes its ends or the
 * deadline passes (c->timed_out). */
static int pump(child *c, art_error *err) {
  if (c->input_len == 0) close_fd(&c->in_fd);
  while (c->in_fd >= 0 || c->out_fd >= 0 || c->err_fd >= 0) {
    int wait_ms = remaining_ms(c);
    c->timed_out = wait_ms == 0;
    if (must_stop(c)) return 0;
    if (c->interrupt && (wait_ms < 0 || wait_ms > INTERRUPT_POLL_MS)) wait_ms = INTERRUPT_POLL_MS;
    struct pollfd fds[3] = {{c->in_fd, POLLOUT, 0}, {c->out_fd, POLLIN, 0}, {c->err_fd, POLLIN, 0}};
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

/* Waits for the child to exit, killing its group once the deadline passes: a
 * child can close its pipes and still run on. */
static int reap(child *c, int *status, art_error *err) {
  int nap_ms = 1;
  for (;;) {
    bool stopping = must_stop(c);
    if (stopping) kill_group(c->pid);
    bool block = stopping || (c->deadline_ms < 0 && !c->interrupt);
    pid_t r = waitpid(c->pid, status, block ? 0 : WNOHANG);
    if (r == c->pid) break;
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      c->pid = -1; /* reaped elsewhere (SIGCHLD ignored?): no longer ours to kill */
      return art_error_set(err, ART_EIO, "cannot wait for \"%s\": %s", c->name, strerror(errno));
    }
    int left = remaining_ms(c);
    c->timed_out = left == 0;
    if (left < 0 || left > INTERRUPT_POLL_MS) left = INTERRUPT_POLL_MS;
    poll(NULL, 0, nap_ms < left ? nap_ms : left);
    nap_ms = nap_ms * 2 > NAP_MAX_MS ? NAP_MAX_MS : nap_ms * 2;
  }
  c->pid = -1;
  return 0;
}

static int finish(child *c, art_command_output *out, art_error *err) {
  int status = 0;
  int rc = reap(c, &status, err);
  if (rc < 0) return rc;
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
  return 0;
}

static void child_init(child *c, const art_allocator *a, const char *name, const char *input,
                       size_t input_len, int timeout_ms) {
  memset(c, 0, sizeof *c);
  c->alloc = a;
  c->name = name;
  c->pid = -1;
  c->in_fd = c->out_fd = c->err_fd = -1;
  c->input = input;
  c->input_len = input ? input_len : 0;
  c->deadline_ms = timeout_ms > 0 ? now_ms() + timeout_ms : -1;
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
  if (c->pid > 0) {
    kill_group(c->pid);
    wait_for(c->pid, NULL);
    c->pid = -1;
  }
  close_fd(&c->in_fd);
  close_fd(&c->out_fd);
  close_fd(&c->err_fd);
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
  exec_plan plan;
  child_init(&c, alloc, argv[0], input, input_len, timeout_ms);
  c.interrupt = interrupt;
  int rc = plan_exec(alloc, argv, env_extra, &plan, err);
  if (rc == 0) rc = child_alloc_buffers(&c, err);
  if (rc == 0) rc = start_child(&c, &plan, err);
  plan_dispose(alloc, &plan);
  if (rc == 0) rc = pump(&c, err);
  if (rc == 0) rc = finish(&c, out, err);
  child_dispose(&c);
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

static void free_tool_env(const art_allocator *a, char *env[TOOL_ENV_MAX + 1]) {
  for (size_t i = 0; i < TOOL_ENV_MAX; i++) art_release(a, env[i]);
}

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
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    if (strcmp(name, names[i]) == 0) {
      *out = values[i];
      return 0;
    }
  return ART_EINVAL;
}

static void map_envelope(const json_t *envelope, art_tool_result *r) {
  const char *status_name = json_string_value(json_object_get(envelope, "status"));
  json_t *message = json_object_get(envelope, "message");
  art_result_status status;
  if (parse_result_status(status_name, &status) < 0)
    art_tool_result_set(r, ART_RESULT_ERROR, NULL,
                        "bad result envelope: status \"%s\" is not ok, refused or error",
                        status_name);
  else if (message && !json_is_string(message))
    art_tool_result_set(r, ART_RESULT_ERROR, NULL,
                        "bad result envelope: \"message\" is not a string");
  else
    art_tool_result_set(r, status, json_incref(json_object_get(envelope, "data")), "%s",
                        message ? json_string_value(message) : "");
}

/* An object with a string "status" is an envelope; anything else is ok data. */
static void map_value(json_t *value_take, art_tool_result *r) {
  if (json_is_object(value_take) && json_is_string(json_object_get(value_take, "status"))) {
    map_envelope(value_take, r);
    json_decref(value_take);
  } else {
    art_tool_result_set(r, ART_RESULT_OK, value_take, "%s", "");
  }
}

/* The length of text without trailing white space. */
static size_t trimmed_len(const char *text, size_t len) {
  while (len > 0 && isspace((unsigned char)text[len - 1])) len--;
  return len;
}

/* The last non-blank line of text, as a pointer and a length. */
static const char *last_line(const char *text, size_t len, int *line_len) {
  len = trimmed_len(text, len);
  size_t start = len;
  while (start > 0 && text[start - 1] != '\n') start--;
  *line_len = (int)(len - start);
  return text + start;
}

static void map_output(const art_command_output *o, int timeout_ms, art_tool_result *r) {
  int line_len;
  const char *line = last_line(o->err, o->err_len, &line_len);
  json_error_t jerr;
  json_t *value;
  if (o->timed_out)
    art_tool_result_set(r, ART_RESULT_ERROR, json_pack("{s:i}", "timeout_ms", timeout_ms), "timeout");
  else if (o->interrupted)
    art_tool_result_set(r, ART_RESULT_ERROR, NULL, "interrupted: the run is being cancelled");
  else if (!o->exited)
    art_tool_result_set(r, ART_RESULT_ERROR, NULL, "killed by signal %d", o->term_signal);
  else if (o->exit_status != 0)
    art_tool_result_set(r, ART_RESULT_ERROR, NULL, "exit status %d%s%.*s", o->exit_status,
                        line_len ? ": " : "", line_len, line);
  else if (trimmed_len(o->out, o->out_len) == 0)
    art_tool_result_set(r, ART_RESULT_ERROR, NULL, "bad JSON on stdout: no output");
  else if (!(value = json_loadb(o->out, o->out_len, JSON_DECODE_ANY, &jerr)))
    art_tool_result_set(r, ART_RESULT_ERROR, NULL, "bad JSON on stdout: %s", jerr.text);
  else
    map_value(value, r);
}

int art_command_tool_call(const char *const *argv, int timeout_ms, const art_tool_call *call,
                          const art_allocator *alloc, art_tool_result *result) {
  alloc = art_allocator_or_default(alloc);
  if (timeout_ms <= 0) timeout_ms = DEFAULT_TIMEOUT_MS;
  char *env[TOOL_ENV_MAX + 1] = {NULL};
  char *input = NULL;
  size_t input_len = 0;
  art_error err = {0, ""};
  art_command_output out = {0};
  int rc = tool_env(alloc, call, env, &err);
  if (rc == 0) rc = encode_input(alloc, call->input, &input, &input_len, &err);
  if (rc == 0)
    rc = art_command_exec_until(argv, (const char *const *)env, input, input_len, timeout_ms,
                                call->interrupt, alloc, &out, &err);
  free_tool_env(alloc, env);
  art_release(alloc, input);
  if (rc < 0) {
    art_tool_result_set(result, ART_RESULT_ERROR, NULL, "%s", err.message);
    return rc;
  }
  map_output(&out, timeout_ms, result);
  art_command_output_dispose(alloc, &out);
  return 0;
}
