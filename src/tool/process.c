/* Child processes: fork + exec with pipes for stdin, stdout and stderr.
 *
 * Everything the child needs (argv, the environment, a buffer for the PATH
 * search) is prepared before fork: between fork and exec the child of a
 * threaded program may only make async-signal-safe calls, so it never
 * allocates.  The child reports a failed exec through a close-on-exec pipe. */
#define _GNU_SOURCE /* pipe2: descriptors are close-on-exec from birth, so the
                       children other threads start never inherit them */

#include "tool/process.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"

#define STATUS_FD 3 /* the child's exec-status pipe */
#define DEFAULT_PATH "/bin:/usr/bin"
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

int64_t art_monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void art_close_fd(int *fd) {
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

/* ---- the parent: starting, killing, reaping ------------------------------ */

static void close_pipes(pipes *p) {
  int *ends[] = {p->in, p->out, p->err, p->status};
  for (size_t i = 0; i < sizeof ends / sizeof *ends; i++) {
    art_close_fd(&ends[i][0]);
    art_close_fd(&ends[i][1]);
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

static int wait_for(pid_t pid, int *status) {
  pid_t r;
  do r = waitpid(pid, status, 0);
  while (r < 0 && errno == EINTR);
  return r == pid ? 0 : -1;
}

/* Blocks until the exec happened (EOF: the status pipe closed on exec) or the
 * child sent the errno of what failed. */
static int await_exec(const char *name, int status_fd, art_error *err) {
  int child_errno = 0;
  ssize_t n;
  do n = read(status_fd, &child_errno, sizeof child_errno);
  while (n < 0 && errno == EINTR);
  if (n == 0) return 0;
  if (n == (ssize_t)sizeof child_errno)
    return art_error_set(err, ART_EIO, "cannot run \"%s\": %s", name, strerror(child_errno));
  return art_error_set(err, ART_EIO, "cannot run \"%s\"", name);
}

static int start_child(art_process *c, const exec_plan *plan, art_error *err) {
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
    rc =
        art_error_set(err, ART_EIO, "cannot start \"%s\": %s", plan->argv[0], strerror(fork_errno));
  else
    rc = await_exec(plan->argv[0], status_fd, err);
  close(status_fd);
  return rc;
}

/* write() with SIGPIPE held off for this thread only: the process-wide
 * disposition belongs to the application.  The SIGPIPE this write raises is
 * consumed; one that was already pending is left for its owner. */
ssize_t art_write_without_sigpipe(int fd, const void *buf, size_t len) {
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

int art_process_start(art_process *p, const char *const *argv, const char *const *env_extra,
                      const art_allocator *alloc, art_error *err) {
  *p = (art_process){.pid = -1, .in_fd = -1, .out_fd = -1, .err_fd = -1};
  if (!argv || !argv[0] || !argv[0][0]) return art_error_set(err, ART_EINVAL, "empty command");
  alloc = art_allocator_or_default(alloc);
  exec_plan plan;
  int rc = plan_exec(alloc, argv, env_extra, &plan, err);
  if (rc == 0) rc = start_child(p, &plan, err);
  plan_dispose(alloc, &plan);
  if (rc < 0) art_process_kill(p);
  return rc;
}

void art_process_signal(const art_process *p, int sig) {
  /* The pid alone when the child died before it could make its group. */
  if (p->pid > 0 && kill(-p->pid, sig) < 0) kill(p->pid, sig);
}

void art_process_kill(art_process *p) {
  if (p->pid > 0) {
    art_process_signal(p, SIGKILL);
    wait_for(p->pid, NULL);
    p->pid = -1;
  }
  art_close_fd(&p->in_fd);
  art_close_fd(&p->out_fd);
  art_close_fd(&p->err_fd);
}

/* Polls waitpid with growing naps: there is no portable way to wait for a
 * child with a time limit. */
int art_process_wait(art_process *p, int timeout_ms, int *status) {
  int64_t deadline = timeout_ms < 0 ? -1 : art_monotonic_ms() + timeout_ms;
  int nap_ms = 1;
  while (p->pid > 0) {
    pid_t r = waitpid(p->pid, status, timeout_ms < 0 ? 0 : WNOHANG);
    if (r == p->pid) {
      p->pid = -1;
      return 1;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      p->pid = -1; /* reaped elsewhere (SIGCHLD ignored?): no longer ours to kill */
      return art_error_set(NULL, ART_EIO, "waitpid");
    }
    int64_t left = deadline - art_monotonic_ms();
    if (left <= 0) return 0;
    poll(NULL, 0, nap_ms < left ? nap_ms : (int)left);
    nap_ms = nap_ms * 2 > NAP_MAX_MS ? NAP_MAX_MS : nap_ms * 2;
  }
  return 1;
}

void art_keep_tail(char *buf, size_t *len, size_t keep, const char *data, size_t n) {
  if (n >= keep) {
    memcpy(buf, data + n - keep, keep);
    *len = keep;
    return;
  }
  size_t drop = *len + n > keep ? *len + n - keep : 0;
  memmove(buf, buf + drop, *len - drop);
  memcpy(buf + *len - drop, data, n);
  *len = *len - drop + n;
}

size_t art_trimmed_len(const char *text, size_t len) {
  while (len > 0 && isspace((unsigned char)text[len - 1])) len--;
  return len;
}

const char *art_last_line(const char *text, size_t len, int *line_len) {
  len = art_trimmed_len(text, len);
  size_t start = len;
  while (start > 0 && text[start - 1] != '\n') start--;
  *line_len = (int)(len - start);
  return text + start;
}

int art_tail_read(int fd, char *buf, size_t *len, size_t keep) {
  char chunk[4096];
  ssize_t n = read(fd, chunk, sizeof chunk);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 1;
  if (n <= 0) return 0;
  art_keep_tail(buf, len, keep, chunk, (size_t)n);
  return 1;
}

void art_read_tail(int *fd, char *buf, size_t *len, size_t keep) {
  if (art_tail_read(*fd, buf, len, keep) == 0) art_close_fd(fd);
}
