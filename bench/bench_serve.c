/* agentrt serve over loopback HTTP, on SQLite stores of its own.  One line
 * per figure: "name value unit".
 *   SERVE_submit_per_s: POST /v1/runs {"spec_ref"} from 8 keep-alive
 *   connections at once (a thread each), SUBMITS in all; every reply a 201.
 *   SERVE_rss_mib: the service's resident memory with STREAMS event streams
 *   open at once (each on a queued run, waiting); SERVE_rss_mib_idle before.
 *   SERVE_events_p99_ms: 100 event streams open on 100 queued runs, then an
 *   `agentrt worker --drain` beside the service drives them (eight write
 *   calls each); for each call's tool_call event, the intent committed
 *   before the call, from its timestamp (taken as it is made, just before
 *   its commit) to its arrival on its stream; the 99th percentile. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agentrt.h"
#include "bench.h"

#define SUBMITTERS 8
#define SUBMITS 4000
#define STREAMS 1000
#define FOLLOWED 100

static char dir[64], token[128];
static int port;

/* ---- the service --------------------------------------------------------------------- */

static void write_file(const char *name, const char *text) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (!f || fputs(text, f) < 0 || fclose(f) != 0) die("write", path);
}

/* A submitter token of tenant bench. */
static void make_token(void) {
  char cmd[512];
  snprintf(cmd, sizeof cmd,
           "'%s' tokens new bench --tenant bench --role submitter --tokens '%s/tokens.json'",
           AGENTRT_CLI, dir);
  FILE *p = popen(cmd, "r");
  if (!p || !fgets(token, sizeof token, p) || pclose(p) != 0) die("tokens new", "failed");
  token[strcspn(token, "\n")] = '\0';
}

/* agentrt serve on `store` (no worker), its port read from its log. */
static pid_t start_service(const char *store) {
  char log[128], db[128], tokens[128], specs[128];
  snprintf(log, sizeof log, "%s/serve.log", dir);
  snprintf(db, sizeof db, "%s/%s", dir, store);
  snprintf(tokens, sizeof tokens, "%s/tokens.json", dir);
  snprintf(specs, sizeof specs, "%s/specs", dir);
  unlink(log);
  pid_t pid = fork();
  if (pid < 0) die("fork", "failed");
  if (pid == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || dup2(fd, STDERR_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0) _exit(127);
    execl(AGENTRT_CLI, "agentrt", "serve", "--no-worker", "--listen", "127.0.0.1:0", "--store", db,
          "--tokens", tokens, "--specs", specs, (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 500 && !port; i++) {
    char text[4096] = "";
    FILE *f = fopen(log, "r");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f) fclose(f);
    text[n] = '\0';
    const char *at = strstr(text, "listening on http://127.0.0.1:");
    if (at) port = atoi(at + strlen("listening on http://127.0.0.1:"));
    if (!port) usleep(10000);
  }
  if (!port) die("agentrt serve", "never listened");
  return pid;
}

static void stop_service(pid_t pid) {
  int status;
  kill(pid, SIGTERM);
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    die("agentrt serve", "did not stop cleanly");
  port = 0;
}

static double rss_mib(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  long kib = -1;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
  if (f) fclose(f);
  if (kib < 0) die("VmRSS", path);
  return (double)kib / 1024;
}

/* ---- HTTP over a socket ---------------------------------------------------------------- */

static int connect_service(void) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) die("connect", "failed");
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

static void send_all(int fd, const char *text, size_t len) {
  while (len) {
    ssize_t n = write(fd, text, len);
    if (n <= 0) die("write", "the service closed the connection");
    text += n, len -= (size_t)n;
  }
}

/* One reply read whole (its head and Content-Length bytes of body): its
 * status; the body into buf. */
static int read_reply(int fd, char *buf, size_t size) {
  size_t len = 0;
  char *body;
  while (!(buf[len] = '\0', body = strstr(buf, "\r\n\r\n"))) {
    ssize_t n = read(fd, buf + len, size - 1 - len);
    if (n <= 0) die("read", "the service closed the connection");
    len += (size_t)n;
  }
  const char *cl = strstr(buf, "Content-Length: ");
  size_t want = (size_t)(body + 4 - buf) + (cl ? strtoul(cl + 16, NULL, 10) : 0);
  while (len < want) {
    ssize_t n = read(fd, buf + len, size - 1 - len);
    if (n <= 0) die("read", "the service closed the connection");
    len += (size_t)n;
  }
  buf[len] = '\0';
  return atoi(buf + 9);
}

static int post_run(int fd, const char *spec, char *buf, size_t size) {
  char req[512], body[64];
  int n = snprintf(body, sizeof body, "{\"spec_ref\":\"%s\"}", spec);
  int len = snprintf(req, sizeof req,
                     "POST /v1/runs HTTP/1.1\r\nHost: b\r\nAuthorization: Bearer %s\r\n"
                     "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                     token, n, body);
  send_all(fd, req, (size_t)len);
  return read_reply(fd, buf, size);
}

/* The run_id of a 201's body (into id). */
static void run_id_of(const char *reply, char id[ART_RUN_ID_SIZE]) {
  const char *at = strstr(reply, "\"run_id\":\"");
  if (!at || sscanf(at + 10, "%23[^\"]", id) != 1) die("submit", reply);
}

/* ---- SERVE_submit_per_s ------------------------------------------------------------------ */

static void *submitter(void *ud) {
  (void)ud;
  char buf[8192];
  int fd = connect_service();
  for (int i = 0; i < SUBMITS / SUBMITTERS; i++)
    if (post_run(fd, "answer", buf, sizeof buf) != 201) die("POST /v1/runs", buf);
  close(fd);
  return NULL;
}

static void bench_submit(void) {
  pthread_t t[SUBMITTERS];
  double start = now_s();
  for (int i = 0; i < SUBMITTERS; i++)
    if (pthread_create(&t[i], NULL, submitter, NULL) != 0) die("pthread_create", "failed");
  for (int i = 0; i < SUBMITTERS; i++) pthread_join(t[i], NULL);
  printf("SERVE_submit_per_s %.0f runs/s\n", SUBMITS / (now_s() - start));
}

/* ---- event streams ------------------------------------------------------------------------- */

/* GET /v1/runs/ID/events as Server-Sent Events, on a new connection. */
static int open_stream(const char *run_id) {
  char req[512];
  int fd = connect_service();
  int len = snprintf(req, sizeof req,
                     "GET /v1/runs/%s/events HTTP/1.1\r\nHost: b\r\nAuthorization: Bearer %s\r\n"
                     "Accept: text/event-stream\r\n\r\n",
                     run_id, token);
  send_all(fd, req, (size_t)len);
  return fd;
}

/* The stream's head has come (200), for each of n. */
static void wait_for_heads(const int *fds, int n) {
  for (int i = 0; i < n; i++) {
    char head[1024];
    size_t len = 0;
    while (head[len] = '\0', !strstr(head, "\r\n\r\n")) {
      ssize_t got = read(fds[i], head + len, 1); /* byte by byte: nothing past the head */
      if (got <= 0) die("event stream", "closed before its head");
      len += (size_t)got;
      if (len == sizeof head - 1) die("event stream", "head too long");
    }
    if (strncmp(head, "HTTP/1.1 200", 12) != 0) die("event stream", head);
  }
}

static void submit_runs(const char *spec, int n, char (*ids)[ART_RUN_ID_SIZE]) {
  char buf[8192];
  int fd = connect_service();
  for (int i = 0; i < n; i++) {
    if (post_run(fd, spec, buf, sizeof buf) != 201) die("POST /v1/runs", buf);
    run_id_of(strstr(buf, "\r\n\r\n"), ids[i]);
  }
  close(fd);
}

static void bench_rss(pid_t service) {
  static char ids[STREAMS][ART_RUN_ID_SIZE];
  static int fds[STREAMS];
  submit_runs("answer", STREAMS, ids);
  printf("SERVE_rss_mib_idle %.1f MiB\n", rss_mib(service));
  for (int i = 0; i < STREAMS; i++) fds[i] = open_stream(ids[i]);
  wait_for_heads(fds, STREAMS);
  sleep(1); /* a few follow ticks over every stream's run */
  printf("SERVE_rss_mib %.1f MiB (%d streams open)\n", rss_mib(service), STREAMS);
  for (int i = 0; i < STREAMS; i++) close(fds[i]);
}

/* ---- SERVE_events_p99_ms ------------------------------------------------------------------- */

typedef struct stream_read {
  char text[65536]; /* what came, not yet looked at */
  size_t len;
  bool stopped;
} stream_read;

static int by_value(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

/* The latencies of the complete tool_call events in s (now_us: when they
 * came), each committed as it was made (a write's intent, before its call);
 * the rest is kept for the next read. */
static void take_events(stream_read *s, int64_t now_us, int64_t *lat, size_t *n, size_t cap) {
  char *end;
  s->text[s->len] = '\0';
  while ((end = strstr(s->text, "\n\n"))) {
    *end = '\0';
    const char *ts = strstr(s->text, "\"ts_us\":");
    if (ts && strstr(s->text, "event: tool_call") && *n < cap)
      lat[(*n)++] = now_us - strtoll(ts + 8, NULL, 10);
    if (strstr(s->text, "event: stop")) s->stopped = true;
    size_t used = (size_t)(end + 2 - s->text);
    memmove(s->text, end + 2, s->len - used + 1);
    s->len -= used;
  }
}

static pid_t start_worker(const char *store) {
  char db[128];
  snprintf(db, sizeof db, "%s/%s", dir, store);
  pid_t pid = fork();
  if (pid < 0) die("fork", "failed");
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) dup2(null, STDOUT_FILENO), dup2(null, STDERR_FILENO);
    execl(AGENTRT_CLI, "agentrt", "worker", "--drain", "--concurrency", "100", "--store", db,
          (char *)NULL);
    _exit(127);
  }
  return pid;
}

static void bench_events(const char *store) {
  static char ids[FOLLOWED][ART_RUN_ID_SIZE];
  static stream_read reads[FOLLOWED];
  static int64_t lat[FOLLOWED * 128];
  struct pollfd fds[FOLLOWED];
  size_t n = 0;
  int stopped = 0;
  submit_runs("steps", FOLLOWED, ids);
  for (int i = 0; i < FOLLOWED; i++) fds[i] = (struct pollfd){open_stream(ids[i]), POLLIN, 0};
  int raw[FOLLOWED];
  for (int i = 0; i < FOLLOWED; i++) raw[i] = fds[i].fd;
  wait_for_heads(raw, FOLLOWED);
  pid_t worker = start_worker(store);
  double deadline = now_s() + 60;
  while (stopped < FOLLOWED && now_s() < deadline) {
    if (poll(fds, FOLLOWED, 1000) < 0) die("poll", "failed");
    int64_t now = art_now_us();
    for (int i = 0; i < FOLLOWED; i++) {
      stream_read *s = &reads[i];
      if (!(fds[i].revents & POLLIN) || s->stopped) continue;
      ssize_t got = read(fds[i].fd, s->text + s->len, sizeof s->text - 1 - s->len);
      if (got <= 0) die("event stream", "closed before its run's stop");
      s->len += (size_t)got;
      take_events(s, now, lat, &n, sizeof lat / sizeof *lat);
      if (s->stopped) stopped++, fds[i].events = 0;
    }
  }
  int status;
  if (waitpid(worker, &status, 0) != worker || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    die("agentrt worker", "did not drain cleanly");
  if (stopped < FOLLOWED) die("event streams", "a run's stop never came");
  for (int i = 0; i < FOLLOWED; i++) close(fds[i].fd);
  qsort(lat, n, sizeof *lat, by_value);
  printf("SERVE_events_p99_ms %.1f ms (p50 %.1f, %zu tool_call events on %d streams)\n",
         (double)lat[n * 99 / 100] / 1000, (double)lat[n / 2] / 1000, n, FOLLOWED);
}

int main(void) {
  struct rlimit fd_limit = {STREAMS + 256, STREAMS + 256};
  if (setrlimit(RLIMIT_NOFILE, &fd_limit) < 0) die("RLIMIT_NOFILE", "cannot open 1,000 streams");
  signal(SIGPIPE, SIG_IGN);
  snprintf(dir, sizeof dir, "/tmp/agentrt-bench-serve-XXXXXX");
  if (!mkdtemp(dir)) die("mkdtemp", dir);
  char specs[128];
  snprintf(specs, sizeof specs, "%s/specs", dir);
  mkdir(specs, 0700);
  write_file("specs/answer.json", "{\"goal\":\"g\",\"model\":{\"type\":\"scripted\",\"decisions\":"
                                  "[{\"type\":\"answer\",\"text\":\"done\"}]}}");
  /* eight calls of a command that sleeps 20 ms, a write the policy allows: a
   * run's events come over 160 ms and more, and each call's intent is
   * committed before the call (read-only stretches are committed in groups) */
  write_file("specs/steps.json",
             "{\"goal\":\"g\",\"tools\":[{\"name\":\"nap\",\"side_effect\":\"write\","
             "\"command\":[\"/bin/sh\",\"-c\",\"sleep 0.02; echo {}\"]}],\"policy\":{\"rules\":"
             "[{\"when\":{\"tool\":\"nap\"},\"effect\":\"allow\"}]},\"model\":{\"type\":"
             "\"scripted\",\"decisions\":[{\"type\":\"tool\",\"name\":\"nap\",\"input\":{},"
             "\"repeat\":8},{\"type\":\"answer\",\"text\":\"done\"}]}}");
  make_token();
  pid_t service = start_service("submit.db");
  bench_submit();
  bench_rss(service);
  stop_service(service);
  service = start_service("events.db");
  bench_events("events.db");
  stop_service(service);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) die("rm", dir);
  return 0;
}
