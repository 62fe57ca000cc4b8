/* MCP servers for the commands that run agents: started before a run, their
 * tools registered into the spec, shut down after it. */
#include <stdio.h>

#include "cli/cli.h"

int cli_mcp_attach(art_spec *spec, art_mcp_session **session, char *why, size_t why_size) {
  art_error err = {0};
  if (art_mcp_attach(session, spec, NULL, &err) == 0) return 0;
  snprintf(why, why_size, "%s", err.message);
  return err.code;
}

int cli_mcp_list_tools(art_spec *spec, art_mcp_session **session) {
  char why[ART_ERRMSG_SIZE];
  int rc = cli_mcp_attach(spec, session, why, sizeof why);
  if (rc == 0) return 0;
  return rc == ART_ESPEC || rc == ART_ENOMEM ? cli_error(EXIT_USAGE, cli_err_of(rc), "%s", why)
                                             : cli_error(EXIT_STOPPED, CLI_ERR_TOOLS, "%s", why);
}

int cli_stop_tools_failed(art_run *run, const char *why) {
  const art_action *act;
  int64_t now = art_now_us();
  if (art_run_next(run, now, &act) == 0 && act->kind == ART_ACT_DECIDE &&
      art_run_feed_tools_failure(run, why, now) == 0)
    return 0;
  return cli_error(EXIT_USAGE, CLI_ERR_TOOLS, "run %s: %s", art_run_id(run), why);
}
