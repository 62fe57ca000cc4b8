/* The eval suites given with --suite (readiness, review): all loaded before
 * anything runs, so a broken one stops the command at once. */
#include "cli/cli.h"

int cli_load_suites(const cli_opts *o, art_eval_suite **suites) {
  for (int i = 0; i < o->n_suites; i++) {
    art_error err = {0};
    if (art_eval_suite_load(&suites[i], o->suites[i], NULL, &err) < 0)
      return cli_error(EXIT_USAGE, cli_err_of(err.code), "%s", err.message);
  }
  return 0;
}

void cli_free_suites(const cli_opts *o, art_eval_suite **suites) {
  for (int i = 0; i < o->n_suites; i++) art_eval_suite_free(suites[i]);
}
