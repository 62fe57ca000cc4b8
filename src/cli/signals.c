/* Ctrl-C (SIGINT to the terminal's process group) and SIGTERM while agentrt
 * drives a run.  The first signal is noted: the driver lets go of the run at
 * once (the call in flight stopped as a cancel stops it: a command's process
 * group killed, an MCP call abandoned), the run is left ready with its lease
 * released, and agentrt exits 128 + the signal.  A second signal ends agentrt
 * at once, but first kills the process group of the command running: tools
 * run in groups of their own, which a terminal's Ctrl-C does not reach. */
#include <signal.h>

#include "cli/cli.h"

static volatile sig_atomic_t caught;
static volatile sig_atomic_t child_group; /* 0: no child running */

static void on_signal(int sig) {
  if (!caught) {
    caught = sig;
    return;
  }
  if (child_group > 0) kill(-(pid_t)child_group, SIGKILL);
  signal(sig, SIG_DFL);
  raise(sig);
}

void cli_signals_catch(void) {
  struct sigaction sa = {0};
  sa.sa_handler = on_signal; /* no SA_RESTART: a wait returns, and sees the signal */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

int cli_signal_caught(void) { return caught; }

void cli_signals_child_group(long pgid) { child_group = pgid > 0 ? (sig_atomic_t)pgid : 0; }

static bool let_go(void *ud) {
  (void)ud;
  return caught != 0;
}

static void tell_child_group(void *ud, long pgid) {
  (void)ud;
  cli_signals_child_group(pgid);
}

const art_drive_hooks *cli_signal_hooks(void) {
  static const art_drive_hooks hooks = {NULL, NULL, let_go, tell_child_group};
  return &hooks;
}
