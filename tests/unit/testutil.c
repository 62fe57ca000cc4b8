#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

static char tmpdir[256];

static void remove_tmpdir(void) {
  char cmd[512];
  if (!tmpdir[0] || getenv("ART_KEEP_TMP")) return;
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
}

const char *tu_tmpdir(void) {
  if (!tmpdir[0]) {
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/agentrt-test-XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
      perror("mkdtemp");
      exit(1);
    }
    atexit(remove_tmpdir);
  }
  return tmpdir;
}

const char *tu_path(const char *name) {
  static char bufs[8][512];
  static int next;
  char *b = bufs[next++ % 8];
  snprintf(b, sizeof bufs[0], "%s/%s", tu_tmpdir(), name);
  return b;
}

const char *tu_write(const char *name, const char *text) {
  const char *p = tu_path(name);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  return p;
}

char *tu_read(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  size_t n;
  while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
    len += n;
    if (cap - len < 2) buf = realloc(buf, cap *= 2);
  }
  buf[len] = '\0';
  fclose(f);
  return buf;
}

int tu_count_lines(const char *path) {
  char *text = tu_read(path);
  int n = 0;
  if (!text) return 0;
  for (char *c = text; *c; c++) n += *c == '\n';
  free(text);
  return n;
}

static char *slurp_fd(int fd) {
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  ssize_t n;
  while ((n = read(fd, buf + len, cap - len - 1)) > 0) {
    len += (size_t)n;
    if (cap - len < 2) buf = realloc(buf, cap *= 2);
  }
  buf[len] = '\0';
  close(fd);
  return buf;
}

art_spec *tu_spec(const char *text) {
  json_error_t jerr;
  json_t *json = json_loads(text, 0, &jerr);
  if (!json) fail_msg("bad test JSON: %s at %d:%d\n%s", jerr.text, jerr.line, jerr.column, text);
  art_spec *spec;
  art_error err = {0};
  art_spec_options opts = {.outbox = tu_path("outbox.jsonl")};
  int rc = art_spec_parse(&spec, json, "test.json", tu_tmpdir(), &opts, &err);
  json_decref(json);
  if (rc < 0) fail_msg("spec: %s", err.message);
  return spec;
}

void tu_job_new(tu_job *j, const char *spec_text, const char *run_id) {
  art_error err = {0};
  memset(j, 0, sizeof *j);
  j->spec = tu_spec(spec_text);
  art_run_options opts = {.run_id = run_id};
  assert_int_equal(art_model_new(&j->model, j->spec, &err), 0);
  assert_int_equal(art_run_new(&j->run, j->spec, &opts), 0);
}

void tu_job_free(tu_job *j) {
  art_run_free(j->run);
  art_model_free(j->model);
  art_spec_free(j->spec);
}

void tu_told(void *ud, art_run *run, int rc) {
  tu_job *j = ud;
  assert_ptr_equal(run, j->run);
  assert_false(j->told);
  j->told = true;
  j->rc = rc;
}

const art_run_options *tu_run_options(const art_spec *spec) {
  static const art_run_options opts = {.run_id = "run_test"};
  return art_spec_run_id(spec) ? NULL : &opts;
}

int tu_cli(char **out, char **err, const char *arg0, ...) {
  const char *args[64];
  int n = 0;
  va_list ap;
  va_start(ap, arg0);
  for (const char *a = arg0; a && n < 63; a = va_arg(ap, const char *)) args[n++] = a;
  va_end(ap);
  args[n] = NULL;
  return tu_cli_argv(out, err, args);
}

int tu_cli_argv(char **out, char **err, const char *const *args) {
  const char *argv[64] = {AGENTRT_CLI};
  int argc = 1;
  while (*args && argc < 63) argv[argc++] = *args++;
  argv[argc] = NULL;

  char out_path[600], err_path[600];
  snprintf(out_path, sizeof out_path, "%s/.cli-out", tu_tmpdir());
  snprintf(err_path, sizeof err_path, "%s/.cli-err", tu_tmpdir());
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(o, 1);
    dup2(e, 2);
    if (chdir(tu_tmpdir()) != 0) _exit(127);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  int status;
  waitpid(pid, &status, 0);
  char *o = slurp_fd(open(out_path, O_RDONLY));
  char *e = slurp_fd(open(err_path, O_RDONLY));
  if (out)
    *out = o;
  else
    free(o);
  if (err)
    *err = e;
  else
    free(e);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int tu_cli_start(const char *const *args, const char *log, int own_group) {
  const char *argv[64] = {AGENTRT_CLI};
  int argc = 1;
  while (*args && argc < 63) argv[argc++] = *args++;
  argv[argc] = NULL;
  const char *out = log ? tu_path(log) : "/dev/null";
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    if (own_group) setpgid(0, 0);
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1), dup2(fd, 2);
    if (chdir(tu_tmpdir()) != 0) _exit(127);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  if (own_group) setpgid(pid, pid); /* both sides, so it holds before either goes on */
  return pid;
}

static void *tu_alloc_fn(void *ud, size_t n) {
  tu_alloc *t = ud;
  t->count++;
  if (t->fail_at && t->count == t->fail_at) {
    t->failed++;
    return NULL;
  }
  void *p = malloc(n);
  if (p) t->live++;
  return p;
}

static void *tu_resize_fn(void *ud, void *p, size_t n) {
  tu_alloc *t = ud;
  t->count++;
  if (t->fail_at && t->count == t->fail_at) {
    t->failed++;
    return NULL;
  }
  void *q = realloc(p, n);
  if (q && !p) t->live++;
  return q;
}

static void tu_release_fn(void *ud, void *p) {
  tu_alloc *t = ud;
  if (p) t->live--;
  free(p);
}

void tu_alloc_init(tu_alloc *t, long fail_at) {
  memset(t, 0, sizeof *t);
  t->a = (art_allocator){tu_alloc_fn, tu_resize_fn, tu_release_fn, t};
  t->fail_at = fail_at;
}

/* ---- what a test leaves behind --------------------------------------------------- */

#define BASELINE_MAX 256

typedef struct baseline {
  int fds[BASELINE_MAX], n_fds;
  long children[BASELINE_MAX];
  int n_children;
} baseline;

static baseline before_test;

static void open_fds(baseline *b) {
  DIR *d = opendir("/proc/self/fd");
  b->n_fds = 0;
  for (struct dirent *e; d && (e = readdir(d));) {
    int fd = atoi(e->d_name);
    if (e->d_name[0] != '.' && fd != dirfd(d) && b->n_fds < BASELINE_MAX) b->fds[b->n_fds++] = fd;
  }
  if (d) closedir(d);
}

/* Our children, zombies too, from /proc/PID/stat ("pid (comm) state ppid"). */
static void child_pids(baseline *b) {
  DIR *d = opendir("/proc");
  long self = (long)getpid();
  b->n_children = 0;
  for (struct dirent *e; d && (e = readdir(d));) {
    char path[300], line[512];
    long pid = atol(e->d_name), ppid = 0;
    if (pid <= 0) continue;
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    char *close_paren = fgets(line, sizeof line, f) ? strrchr(line, ')') : NULL;
    fclose(f);
    if (close_paren && sscanf(close_paren + 1, " %*c %ld", &ppid) == 1 && ppid == self &&
        b->n_children < BASELINE_MAX)
      b->children[b->n_children++] = pid;
  }
  if (d) closedir(d);
}

static void take(baseline *b) {
  open_fds(b);
  child_pids(b);
}

static bool same(const baseline *a, const baseline *b) {
  if (a->n_fds != b->n_fds || a->n_children != b->n_children) return false;
  for (int i = 0; i < a->n_fds; i++)
    if (a->fds[i] != b->fds[i]) return false;
  for (int i = 0; i < a->n_children; i++)
    if (a->children[i] != b->children[i]) return false;
  return true;
}

static void report(const baseline *now) {
  for (int i = 0; i < now->n_fds; i++) {
    char path[64], target[256] = "?";
    snprintf(path, sizeof path, "/proc/self/fd/%d", now->fds[i]);
    ssize_t n = readlink(path, target, sizeof target - 1);
    target[n > 0 ? n : 1] = '\0';
    fprintf(stderr, "  fd %d -> %s\n", now->fds[i], target);
  }
  for (int i = 0; i < now->n_children; i++) fprintf(stderr, "  child %ld\n", now->children[i]);
}

static void no_work(uv_work_t *w) { (void)w; }
static void no_after(uv_work_t *w, int status) { (void)w, (void)status; }

/* libuv keeps a few descriptors for the process's life once a loop has run
 * (its signal pipe, a spare fd): made before the first baseline, they are
 * part of it. */
static void warm_up_libuv(void) {
  uv_loop_t loop;
  uv_work_t work;
  if (uv_loop_init(&loop) < 0) return;
  uv_queue_work(&loop, &work, no_work, no_after);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
}

int tu_baseline_take(void **state) {
  static bool warm;
  (void)state;
  if (!warm) warm_up_libuv(), warm = true;
  take(&before_test);
  return 0;
}

int tu_baseline_check(void **state) {
  (void)state;
  baseline now;
  take(&now);
  for (int waited = 0; !same(&before_test, &now) && waited < 10000; waited += 20) {
    usleep(20000);
    take(&now);
  }
  if (same(&before_test, &now)) return 0;
  fprintf(stderr, "the test left the process otherwise than it found it: %d fds and %d children "
                  "before, now:\n",
          before_test.n_fds, before_test.n_children);
  report(&now);
  return -1;
}

int tu_count_fds(void) {
  baseline b;
  open_fds(&b);
  return b.n_fds;
}

void tu_assert_no_children(void) {
  errno = 0;
  if (waitpid(-1, NULL, WNOHANG) != -1 || errno != ECHILD) fail_msg("a child process is left");
}

static json_t *timeless_trace(const art_run *run) {
  json_t *result = art_run_result_json(run);
  json_t *trace = json_incref(json_object_get(result, "trace"));
  json_decref(result);
  size_t i;
  json_t *ev;
  json_array_foreach(trace, i, ev) {
    json_object_del(ev, "ts_us");
    json_object_del(ev, "latency_us");
  }
  return trace;
}

/* The first event where the traces differ is shown (a whole trace would not
 * fit cmocka's message). */
void tu_assert_same_events(const art_run *on_loop, const art_run *blocking) {
  json_t *a = timeless_trace(on_loop), *b = timeless_trace(blocking);
  for (size_t i = 0; !json_equal(a, b); i++) {
    json_t *ea = json_array_get(a, i), *eb = json_array_get(b, i);
    if (ea && eb && json_equal(ea, eb)) continue;
    char *ta = ea ? json_dumps(ea, JSON_COMPACT) : NULL,
         *tb = eb ? json_dumps(eb, JSON_COMPACT) : NULL;
    fail_msg("run %s differs at event %zu:\nloop:     %s\nblocking: %s", art_run_id(on_loop), i,
             ta ? ta : "(none)", tb ? tb : "(none)");
  }
  json_decref(a);
  json_decref(b);
}
