/* Child processes for tools: argv exec'd directly (never through a shell) in a
 * process group of its own, with pipes for stdin, stdout and stderr.  Shared by
 * command tools (one process per call) and MCP servers (one process per run).
 *
 * - PATH is the one the child will see (env_extra may set it); unlike execvp a
 *   file without a #! line is not handed to /bin/sh.  The parent's own
 *   environment is never changed.
 * - The child runs in its own process group with an empty signal mask, SIGPIPE
 *   at its default and no descriptors but 0, 1 and 2.
 * - The parent's ends are close-on-exec and non-blocking: poll() decides all
 *   waiting. */
#ifndef ART_PROCESS_H
#define ART_PROCESS_H

#include <stdbool.h>
#include <sys/types.h>
#include "agentrt/common.h"

typedef struct art_process {
  pid_t pid;                 /* -1 when not started or already reaped */
  int in_fd, out_fd, err_fd; /* the parent's ends; -1 once closed */
} art_process;

/* Start argv[0] (looked up in PATH when it has no slash) with `env_extra`
 * ("NAME=value" strings, NULL-terminated, may be NULL) laid over the
 * environment.  ART_EINVAL: empty argv or a bad env entry; ART_EIO: the program
 * could not be run ("cannot run \"x\": No such file or directory"); ART_ENOMEM.
 * On error nothing is left running and no descriptor is left open. */
int art_process_start(art_process *p, const char *const *argv, const char *const *env_extra,
                      const art_allocator *alloc, art_error *err);

/* SIGKILL to the whole group, reap, close the parent's ends.  Safe to call on a
 * process that was never started or is gone. */
void art_process_kill(art_process *p);

/* Send `sig` to the group (to the pid alone when the group is gone). */
void art_process_signal(const art_process *p, int sig);

/* waitpid() without blocking (timeout_ms 0) or for at most timeout_ms (-1: no
 * limit).  1 and *status when the child was reaped (p->pid becomes -1), 0 when
 * it still runs, ART_EIO when it cannot be waited for (SIGCHLD ignored). */
int art_process_wait(art_process *p, int timeout_ms, int *status);

/* write() that never raises SIGPIPE in the caller: SIGPIPE is held off for the
 * calling thread only, and the one this write raises is consumed. */
ssize_t art_write_without_sigpipe(int fd, const void *buf, size_t len);

/* Appends data to the `keep`-byte window buf (holding *len bytes), dropping the
 * oldest bytes: what is kept of a child's stderr. */
void art_keep_tail(char *buf, size_t *len, size_t keep, const char *data, size_t n);
/* Reads what fd has now into that window: 1, or 0 at its end or on an error
 * (stderr is for diagnostics only: what went wrong does not matter). */
int art_tail_read(int fd, char *buf, size_t *len, size_t keep);
/* art_tail_read, and *fd closed at its end or on an error. */
void art_read_tail(int *fd, char *buf, size_t *len, size_t keep);
/* The length of text without trailing white space. */
size_t art_trimmed_len(const char *text, size_t len);
/* The last non-blank line of text, as a pointer and a length. */
const char *art_last_line(const char *text, size_t len, int *line_len);

void art_close_fd(int *fd);
int64_t art_monotonic_ms(void);

#endif
