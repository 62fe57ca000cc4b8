/* A tiny OpenAI-compatible chat-completions server for the benchmarks, on
 * libuv in a process of its own: each request is answered `delay_ms` after
 * it arrived, with a call of lookup_policy for steps 1 and 2 (it reads "Decide
 * step N" in the request) and the answer "done" after, over keep-alive
 * HTTP/1.1 connections.  oai_server_start returns its port; kill the pid to
 * stop it. */
#ifndef AGENTRT_OAI_SERVER_H
#define AGENTRT_OAI_SERVER_H

/* (the includer defines _GNU_SOURCE first: memmem, strcasestr) */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <uv.h>

#include "bench.h"

static const char oai_call[] =
    "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":"
    "\"c1\",\"type\":\"function\",\"function\":{\"name\":\"lookup_policy\",\"arguments\":"
    "\"{\\\"task\\\":\\\"refund\\\"}\"}}]}}],\"usage\":{\"prompt_tokens\":100,\"completion_"
    "tokens\":"
    "20}}";
static const char oai_answer[] =
    "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"done\"}}],"
    "\"usage\":{\"prompt_tokens\":200,\"completion_tokens\":10}}";

typedef struct oai_conn {
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_write_t write;
  char *buf, head[160];
  size_t len, cap;
  const char *body; /* the reply due */
  int open;         /* handles not closed yet */
  int delay_ms;
} oai_conn;

static void oai_closed(uv_handle_t *h) {
  oai_conn *c = h->data;
  if (--c->open == 0) free(c->buf), free(c);
}

static void oai_close(oai_conn *c) {
  if (uv_is_closing((uv_handle_t *)&c->tcp)) return;
  uv_close((uv_handle_t *)&c->tcp, oai_closed);
  uv_close((uv_handle_t *)&c->timer, oai_closed);
}

static void oai_alloc(uv_handle_t *h, size_t want, uv_buf_t *b) {
  oai_conn *c = h->data;
  if (c->cap - c->len < want) {
    c->cap = c->len + want;
    if (!(c->buf = realloc(c->buf, c->cap))) die("server", "out of memory");
  }
  *b = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void oai_written(uv_write_t *w, int status) {
  if (status < 0) oai_close(w->data);
}

static void oai_reply(uv_timer_t *t) {
  oai_conn *c = t->data;
  int n =
      snprintf(c->head, sizeof c->head,
               "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
               strlen(c->body));
  uv_buf_t parts[2] = {uv_buf_init(c->head, (unsigned)n),
                       uv_buf_init((char *)c->body, (unsigned)strlen(c->body))};
  c->write.data = c;
  if (uv_write(&c->write, (uv_stream_t *)&c->tcp, parts, 2, oai_written) < 0) oai_close(c);
}

/* A whole request in the buffer: its reply is due in delay_ms, and it goes. */
static void oai_request(oai_conn *c) {
  char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
  if (!end) return;
  *end = '\0';
  char *cl = strcasestr(c->buf, "content-length:");
  size_t head = (size_t)(end + 4 - c->buf), body = cl ? strtoul(cl + 15, NULL, 10) : 0;
  *end = '\r';
  if (c->len < head + body) return;
  char *step = memmem(c->buf + head, body, "Decide step ", 12);
  c->body = step && atoi(step + 12) <= 2 ? oai_call : oai_answer;
  memmove(c->buf, c->buf + head + body, c->len - head - body);
  c->len -= head + body;
  uv_timer_start(&c->timer, oai_reply, (uint64_t)c->delay_ms, 0);
}

static void oai_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  oai_conn *c = s->data;
  (void)b;
  if (n < 0) {
    oai_close(c);
    return;
  }
  c->len += (size_t)n;
  oai_request(c);
}

static void oai_accept(uv_stream_t *server, int status) {
  if (status < 0) return;
  oai_conn *c = calloc(1, sizeof *c);
  if (!c) die("server", "out of memory");
  c->delay_ms = *(int *)server->data;
  uv_tcp_init(server->loop, &c->tcp);
  uv_timer_init(server->loop, &c->timer);
  c->tcp.data = c->timer.data = c;
  c->open = 2;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0 ||
      uv_read_start((uv_stream_t *)&c->tcp, oai_alloc, oai_read) < 0)
    oai_close(c);
}

/* Serve on a loopback port of the kernel's choice, written to `fd`. */
static void oai_serve(int delay_ms, int fd) {
  uv_loop_t *uv = uv_default_loop();
  uv_tcp_t server;
  struct sockaddr_in addr;
  struct sockaddr_storage bound;
  int len = sizeof bound;
  uv_ip4_addr("127.0.0.1", 0, &addr);
  uv_tcp_init(uv, &server);
  server.data = &delay_ms;
  if (uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0) < 0 ||
      uv_listen((uv_stream_t *)&server, 4096, oai_accept) < 0 ||
      uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &len) < 0)
    die("server", "cannot listen");
  int port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
  if (write(fd, &port, sizeof port) != sizeof port) die("server", "cannot say its port");
  close(fd);
  uv_run(uv, UV_RUN_DEFAULT);
}

static int oai_server_start(int delay_ms, pid_t *pid) {
  int p[2], port = 0;
  if (pipe(p) < 0) die("server", "no pipe");
  fflush(stdout);
  if ((*pid = fork()) < 0) die("server", "cannot fork");
  if (*pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    close(p[0]);
    oai_serve(delay_ms, p[1]);
    _exit(0);
  }
  close(p[1]);
  if (read(p[0], &port, sizeof port) != sizeof port) die("server", "did not start");
  close(p[0]);
  return port;
}

#endif
