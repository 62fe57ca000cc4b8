/* Setting agentrt up: scripts/bootstrap (what `make demo` and `make test`
 * install), `make install PREFIX=...` and the installed pkg-config file, with
 * the README's C example built against the installed library, what git
 * ignores of what the README's commands make, and scripts/check-layers (run by
 * `make test`). */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "testutil.h"

#define SRC AGENTRT_SOURCE_DIR

/* Runs `sh -c COMMAND` with stdout and stderr in *out (malloc'd); returns its
 * exit status. */
static int shell_v(char **out, const char *fmt, va_list ap) {
  char command[4096], full[4400];
  vsnprintf(command, sizeof command, fmt, ap);
  snprintf(full, sizeof full, "(%s) >'%s' 2>&1", command, tu_path(".shell-out"));
  int status = system(full);
  *out = tu_read(tu_path(".shell-out"));
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static int shell_status(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int shell_status(char **out, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int status = shell_v(out, fmt, ap);
  va_end(ap);
  return status;
}

/* The command's output; the test fails, saying `what`, when it fails. */
static char *shell(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *shell(const char *what, const char *fmt, ...) {
  char *out;
  va_list ap;
  va_start(ap, fmt);
  int status = shell_v(&out, fmt, ap);
  va_end(ap);
  if (status != 0) fail_msg("%s: exit status %d:\n%s", what, status, out);
  return out;
}

/* The first C block of the README's section `heading`, compiled against the
 * library installed at `prefix` as `app`, run in the source tree: its
 * output. */
static char *readme_example(const char *heading, const char *prefix, const char *app) {
  free(shell("the README's C example",
             "awk '/^## %s/{f=1} f&&/^```c$/{c=1;next} c&&/^```$/{exit} c' "
             "'%s/README.md' >'%s.c' && test -s '%s.c'",
             heading, SRC, app, app));
  free(shell("compiling it against the installed library",
             "export PKG_CONFIG_PATH=$(dirname $(find '%s' -name agentrt.pc)) && "
             "cc -Wall -Werror '%s.c' -o '%s' $(pkg-config --cflags --libs agentrt)",
             prefix, app, app));
  return shell("the example", "cd '%s' && '%s'", SRC, app);
}

/* The README's examples, compiled with `pkg-config --cflags --libs agentrt`
 * from the prefix it was installed to, run the demo spec: once, and 10,000
 * times on the event loop. */
static void make_install_gives_a_library_the_readme_example_builds_against(void **state) {
  (void)state;
  char prefix[512], build[512], app[512];
  snprintf(prefix, sizeof prefix, "%s", tu_path("prefix"));
  snprintf(build, sizeof build, "%s", tu_path("release"));
  snprintf(app, sizeof app, "%s", tu_path("app"));
  free(shell("make install", "make -C '%s' install PREFIX='%s' RELEASE_DIR='%s' JOBS=2", SRC,
             prefix, build));
  free(shell("the prefix in agentrt.pc",
             "pc=$(find '%s' -name agentrt.pc) && "
             "got=$(PKG_CONFIG_PATH=${pc%%/*} pkg-config --variable=prefix agentrt) && "
             "echo \"prefix=$got\" && test \"$got\" = '%s'",
             prefix, prefix));
  char *out = readme_example("The C API in one example", prefix, app);
  if (!strstr(out, "\"type\":\"run_started\"") || !strstr(out, "\nsuccess: answered\n"))
    fail_msg("the example printed:\n%s", out);
  free(out);
  out = readme_example("Many runs at once: the event loop", prefix, app);
  if (strcmp(out, "10000 of 10000 runs answered\n") != 0)
    fail_msg("the loop example printed:\n%s", out);
  free(out);
}

/* ---- scripts/bootstrap, against stand-ins for dpkg-query, apt-get, npm ---- */

#define BUILD_PACKAGES                                                                             \
  "build-essential cmake pkg-config libjansson-dev libsqlite3-dev libcurl4-openssl-dev "           \
  "libuv1-dev libpq-dev libmicrohttpd-dev"
#define TEST_PACKAGES "libcmocka-dev json-schema-test-suite clang libclang-rt-14-dev chromium postgresql-15"

/* A copy of the script in a tree of its own (its lock file, its node_modules). */
static void fake_tree(void) {
  free(shell("a tree for the script",
             "mkdir -p '%s/scripts' '%s/tests' && cp '%s/scripts/bootstrap' '%s/scripts/' && "
             "echo '{\"lockfileVersion\": 3}' >'%s/tests/package-lock.json'",
             tu_path("tree"), tu_path("tree"), SRC, tu_path("tree"), tu_path("tree")));
}

/* What `scripts/bootstrap WHAT` asked the stand-ins (tests/unit/tools/fake_debian)
 * to do; what they installed stays installed. */
static char *bootstrap(const char *what) {
  free(shell("bootstrap",
             "FAKE_LOG='%s' FAKE_DPKG_DB='%s' PATH='%s/tests/unit/tools/fake_debian':$PATH "
             "'%s/scripts/bootstrap' %s",
             tu_path("log"), tu_path("dpkg-db"), SRC, tu_path("tree"), what));
  char *log = tu_read(tu_path("log"));
  remove(tu_path("log"));
  return log ? log : strdup("");
}

static void assert_has(const char *text, const char *part, bool present) {
  if (!strstr(text, part) != !present)
    fail_msg("\"%s\" %s in:\n%s", part, present ? "missing" : "unexpected", text);
}

static void the_demo_installs_what_building_needs_and_the_tests_the_rest(void **state) {
  (void)state;
  fake_tree();
  char *log = bootstrap("build");
  assert_has(log, "apt-get update", true);
  assert_has(log, "--no-install-recommends " BUILD_PACKAGES "\n", true);
  assert_has(log, "libcmocka-dev", false);
  assert_has(log, "npm", false);
  free(log);
  log = bootstrap("test"); /* the build packages are there now */
  assert_has(log, "--no-install-recommends " TEST_PACKAGES "\n", true);
  assert_has(log, "npm ci", true);
  assert_has(strstr(log, "apt-get update") + 1, "apt-get update", false);
  free(log);
  log = bootstrap("test"); /* everything is there: nothing to do */
  assert_string_equal(log, "");
  free(log);
  char *plan = shell("make -n demo", "make -n -C '%s' demo", SRC);
  assert_has(plan, "scripts/bootstrap build", true);
  assert_has(plan, "scripts/bootstrap test", false);
  free(plan);
  plan = shell("make -n test-normal", "make -n -C '%s' test-normal", SRC);
  assert_has(plan, "scripts/bootstrap test", true);
  free(plan);
  plan = shell("make -n bench", "make -n -C '%s' bench", SRC); /* it starts a PostgreSQL */
  assert_has(plan, "scripts/bootstrap bench", true);
  free(plan);
}

/* The README's tour makes a store in the working directory: git leaves it be. */
static void the_store_the_tour_makes_is_ignored(void **state) {
  (void)state;
  free(shell("git check-ignore",
             "cd '%s' && for f in agentrt.db agentrt.db-wal agentrt.db-shm examples/agentrt.db "
             "examples/agentrt.db-wal; do git check-ignore -q $f || { echo \"$f is not ignored\"; "
             "exit 1; }; done",
             SRC));
}

/* The tree keeps its layers, `make test` checks that it does, and an include
 * that crosses a layer the wrong way is named with the rule it breaks. */
static void check_layers_passes_and_names_a_wrong_arrow(void **state) {
  (void)state;
  free(shell("check-layers", "'%s/scripts/check-layers'", SRC));
  char *plan = shell("make -n test", "make -n -C '%s' test", SRC);
  assert_has(plan, "scripts/check-layers", true);
  free(plan);
  const char *root = tu_path("layers");
  char *out;
  int status = shell_status(&out,
                            "mkdir -p '%s/src/core' '%s/src/tool' && cd '%s' && "
                            "printf '#include \"core/alloc.h\"\\n#include \"tool/command.h\"\\n"
                            "#include <unistd.h>\\n' >src/core/tool.c && "
                            "printf '#include \"cli/cli.h\"\\n' >src/tool/mcp.c && "
                            "mkdir -p src/driver && "
                            "printf '#include <microhttpd.h>\\n' >src/driver/http.c && "
                            "'%s/scripts/check-layers' .",
                            root, root, root, SRC);
  assert_int_equal(status, 1);
  assert_has(out, "src/core/tool.c:2:#include \"tool/command.h\"\n"
                  "    the core includes only public headers and its own", true);
  assert_has(out, "src/core/tool.c:3:#include <unistd.h>\n    the core does no I/O", true);
  assert_has(out, "src/core/tool.c:1:", false);
  assert_has(out, "src/tool/mcp.c:1:#include \"cli/cli.h\"\n"
                  "    an adapter includes no driver or CLI header", true);
  assert_has(out, "src/driver/http.c:1:#include <microhttpd.h>\n"
                  "    the library stays free of HTTP", true);
  assert_has(out, "check-layers: FAILED", true);
  free(out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(the_demo_installs_what_building_needs_and_the_tests_the_rest),
      cmocka_unit_test(make_install_gives_a_library_the_readme_example_builds_against),
      cmocka_unit_test(the_store_the_tour_makes_is_ignored),
      cmocka_unit_test(check_layers_passes_and_names_a_wrong_arrow),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
