/* Command tools: exec, pipes, timeouts, the result protocol, and cleanup
 * (descriptors, children, memory) on every path. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "tool/command.h"

#define TOOLS AGENTRT_SOURCE_DIR "/tests/unit/tools/"
#define MIB (1024 * 1024)

/* ---- helpers ----------------------------------------------------------- */

/* A sample call: run "run_1", tool "t", step 3, input {"q":"hello"}. */
static int call_tool(const char *const *argv, int timeout_ms, const char *action_id,
                     const art_allocator *alloc, art_tool_result *r) {
  json_t *input = json_pack("{s:s}", "q", "hello");
  art_tool_call call = {
      .id = 1, .step = 3, .run_id = "run_1", .tool = "t", .input = input, .action_id = action_id};
  memset(r, 0, sizeof *r);
  int rc = art_command_tool_call(argv, timeout_ms, &call, alloc, r);
  json_decref(input);
  return rc;
}

/* Runs print.sh TEXT STATUS STDERR as a tool and expects the call to be made. */
static void print_tool(const char *text, const char *status, const char *err_line,
                       art_tool_result *r) {
  const char *argv[] = {TOOLS "print.sh", text, status, err_line, NULL};
  assert_int_equal(call_tool(argv, 5000, "act_1", NULL, r), 0);
}

/* Gone, or a zombie left to an init that may not reap (not our child). */
static bool process_gone(pid_t pid) {
  char path[64];
  if (kill(pid, 0) < 0 && errno == ESRCH) return true;
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return true;
  char state = 0;
  int n = fscanf(f, "%*d (%*[^)]) %c", &state);
  fclose(f);
  return n == 1 && (state == 'Z' || state == 'X');
}

static bool wait_until_gone(pid_t pid) {
  for (int i = 0; i < 300; i++) {
    if (process_gone(pid)) return true;
    struct timespec ten_ms = {0, 10 * 1000 * 1000};
    nanosleep(&ten_ms, NULL);
  }
  return false;
}

static char *filled(size_t n, char c) {
  char *s = malloc(n + 1);
  assert_non_null(s);
  memset(s, c, n);
  s[n] = '\0';
  return s;
}

/* ---- the result protocol ----------------------------------------------- */

static void test_ok_envelope(void **state) {
  (void)state;
  art_tool_result r;
  print_tool("{\"status\":\"ok\",\"data\":{\"n\":1},\"message\":\"fine\"}", "0", "", &r);
  assert_int_equal(r.status, ART_RESULT_OK);
  assert_int_equal(json_integer_value(json_object_get(r.data, "n")), 1);
  assert_string_equal(r.message, "fine");
  art_tool_result_dispose(&r);
}

static void test_bare_values_are_ok_data(void **state) {
  (void)state;
  art_tool_result r;
  print_tool("[1,2]\n", "0", "", &r);
  assert_int_equal(r.status, ART_RESULT_OK);
  assert_int_equal(json_array_size(r.data), 2);
  assert_string_equal(r.message, "");
  art_tool_result_dispose(&r);

  /* "status" that is not a string does not make an envelope */
  print_tool("{\"status\":200,\"body\":\"x\"}", "0", "", &r);
  assert_int_equal(r.status, ART_RESULT_OK);
  assert_int_equal(json_integer_value(json_object_get(r.data, "status")), 200);
  art_tool_result_dispose(&r);

  print_tool("\"just text\"", "0", "", &r);
  assert_int_equal(r.status, ART_RESULT_OK);
  assert_string_equal(json_string_value(r.data), "just text");
  art_tool_result_dispose(&r);
}

static void test_refused_envelope(void **state) {
  (void)state;
  art_tool_result r;
  print_tool("{\"status\":\"refused\",\"message\":\"not allowed\"}", "0", "", &r);
  assert_int_equal(r.status, ART_RESULT_REFUSED);
  assert_null(r.data);
  assert_string_equal(r.message, "not allowed");
  art_tool_result_dispose(&r);
}

static void test_error_envelope(void **state) {
  (void)state;
  art_tool_result r;
  print_tool("{\"status\":\"error\",\"data\":{\"code\":7},\"message\":\"upstream_timeout\"}", "0",
             "", &r);
  assert_int_equal(r.status, ART_RESULT_ERROR);
  assert_int_equal(json_integer_value(json_object_get(r.data, "code")), 7);
  assert_string_equal(r.message, "upstream_timeout");
  art_tool_result_dispose(&r);
}

/* Only an exact envelope is one: any other object is data, "status" or not. */
static void test_objects_that_are_not_envelopes_are_data(void **state) {
  (void)state;
  static const char *const outputs[] = {
      "{\"status\":\"shipped\",\"eta\":\"tomorrow\"}",
      "{\"status\":\"ok\",\"data\":1,\"eta\":\"tomorrow\"}",
      "{\"status\":\"error\",\"code\":7}",
  };
  for (size_t i = 0; i < sizeof outputs / sizeof *outputs; i++) {
    art_tool_result r;
    print_tool(outputs[i], "0", "", &r);
    assert_int_equal(r.status, ART_RESULT_OK);
    json_t *expected = json_loads(outputs[i], 0, NULL);
    assert_true(json_equal(r.data, expected));
    assert_string_equal(r.message, "");
    json_decref(expected);
    art_tool_result_dispose(&r);
  }
}

static void test_bad_envelope_message(void **state) {
  (void)state;
  art_tool_result r;
  print_tool("{\"status\":\"error\",\"message\":42}", "0", "", &r);
  assert_int_equal(r.status, ART_RESULT_ERROR);
  assert_string_equal(r.message, "bad result envelope: \"message\" is not a string");
  art_tool_result_dispose(&r);
}

static void test_nonzero_exit(void **state) {
  (void)state;
  art_tool_result r;
  print_tool("{\"status\":\"ok\"}", "3", "warming up\nsomething broke  ", &r);
  assert_int_equal(r.status, ART_RESULT_ERROR);
  assert_null(r.data);
  assert_string_equal(r.message, "exit status 3: something broke");
  art_tool_result_dispose(&r);

  print_tool("", "4", "", &r);
  assert_string_equal(r.message, "exit status 4");
  art_tool_result_dispose(&r);
}

static void test_killed_by_signal(void **state) {
  (void)state;
  const char *argv[] = {TOOLS "kill_self.sh", NULL};
  art_tool_result r;
  assert_int_equal(call_tool(argv, 5000, NULL, NULL, &r), 0);
  assert_int_equal(r.status, ART_RESULT_ERROR);
  assert_string_equal(r.message, "killed by signal 9");
  art_tool_result_dispose(&r);
}

static void assert_text_result(const char *stdout_text, const char *data) {
  art_tool_result r;
  print_tool(stdout_text, "0", "", &r);
  assert_int_equal(r.status, ART_RESULT_OK);
  assert_string_equal(json_string_value(r.data), data);
  assert_string_equal(r.message, "");
  art_tool_result_dispose(&r);
}

/* Output that is not one JSON value is text: a string result, trailing white
 * space dropped, bytes that are not UTF-8 replaced by '?'. */
static void test_plain_text_is_a_string_result(void **state) {
  (void)state;
  assert_text_result("shipped, arrives tomorrow\n", "shipped, arrives tomorrow");
  assert_text_result("line 1\nline 2\n\n", "line 1\nline 2");
  assert_text_result("{\"a\":", "{\"a\":");
  assert_text_result("{} {}", "{} {}");
  assert_text_result("caf\xc3\xa9 \xff!", "caf\xc3\xa9 ?!");
}

static void test_empty_stdout(void **state) {
  (void)state;
  art_tool_result r;
  print_tool("", "0", "", &r);
  assert_int_equal(r.status, ART_RESULT_ERROR);
  assert_string_equal(r.message, "no output on stdout");
  art_tool_result_dispose(&r);

  print_tool(" \n", "0", "", &r);
  assert_string_equal(r.message, "no output on stdout");
  art_tool_result_dispose(&r);
}

/* ---- processes, pipes and time ------------------------------------------ */

static void test_timeout_kills_the_group(void **state) {
  (void)state;
  const char *pidfile = tu_path("sleeper.pid");
  const char *argv[] = {TOOLS "sleep_group.sh", pidfile, NULL};
  art_tool_result r;
  assert_int_equal(call_tool(argv, 200, NULL, NULL, &r), 0);
  assert_int_equal(r.status, ART_RESULT_ERROR);
  assert_string_equal(r.message, "timeout");
  assert_int_equal(json_integer_value(json_object_get(r.data, "timeout_ms")), 200);
  art_tool_result_dispose(&r);

  char *text = tu_read(pidfile);
  assert_non_null(text);
  pid_t grandchild = (pid_t)atoi(text);
  free(text);
  assert_true(grandchild > 0);
  assert_true(wait_until_gone(grandchild));
  tu_assert_no_children();
}

static void test_timeout_after_pipes_closed(void **state) {
  (void)state;
  const char *argv[] = {TOOLS "linger.sh", NULL};
  art_command_output out;
  art_error err = {0, ""};
  assert_int_equal(art_command_exec(argv, NULL, NULL, 0, 200, NULL, &out, &err), 0);
  assert_true(out.timed_out);
  assert_false(out.exited);
  assert_int_equal(out.term_signal, SIGKILL);
  art_command_output_dispose(NULL, &out);
  tu_assert_no_children();
}

static void test_large_output_before_reading_stdin(void **state) {
  (void)state;
  const char *argv[] = {TOOLS "write_then_read.sh", NULL};
  char *input = filled(MIB, 'i');
  art_command_output out;
  art_error err = {0, ""};
  assert_int_equal(art_command_exec(argv, NULL, input, MIB, 20000, NULL, &out, &err), 0);
  assert_false(out.timed_out);
  assert_true(out.exited);
  assert_int_equal(out.exit_status, 0);
  assert_int_equal(out.out_len, MIB);
  assert_string_equal(out.err, "1048576\n");
  art_command_output_dispose(NULL, &out);
  free(input);
}

static void test_child_ignores_large_stdin(void **state) {
  (void)state;
  /* with SIGPIPE at its default a stray one would kill this test */
  struct sigaction dfl = {.sa_handler = SIG_DFL}, old;
  sigemptyset(&dfl.sa_mask);
  sigaction(SIGPIPE, &dfl, &old);
  const char *argv[] = {TOOLS "print.sh", "{}", NULL};
  char *input = filled(MIB, 'i');
  art_command_output out;
  art_error err = {0, ""};
  assert_int_equal(art_command_exec(argv, NULL, input, MIB, 20000, NULL, &out, &err), 0);
  assert_true(out.exited);
  assert_int_equal(out.exit_status, 0);
  assert_string_equal(out.out, "{}");
  art_command_output_dispose(NULL, &out);
  free(input);

  sigset_t mask, pending;
  sigprocmask(SIG_BLOCK, NULL, &mask);
  sigpending(&pending);
  assert_false(sigismember(&mask, SIGPIPE));
  assert_false(sigismember(&pending, SIGPIPE));
  struct sigaction now;
  sigaction(SIGPIPE, &old, &now);
  assert_true(now.sa_handler == SIG_DFL);
}

static void test_output_too_large(void **state) {
  (void)state;
  const char *argv[] = {"dd", "if=/dev/zero", "bs=1048576", "count=17", NULL};
  art_command_output out;
  art_error err = {0, ""};
  assert_int_equal(art_command_exec(argv, NULL, NULL, 0, 20000, NULL, &out, &err), ART_EIO);
  assert_non_null(strstr(err.message, "output too large"));
  assert_null(out.out);
  assert_null(out.err);
  tu_assert_no_children();
}

static void test_stderr_keeps_the_tail(void **state) {
  (void)state;
  char *noise = filled(10000, 'n');
  memcpy(noise + 10000 - 5, "\nTAIL", 5);
  const char *argv[] = {TOOLS "print.sh", "", "0", noise, NULL};
  art_command_output out;
  art_error err = {0, ""};
  assert_int_equal(art_command_exec(argv, NULL, NULL, 0, 5000, NULL, &out, &err), 0);
  assert_int_equal(out.err_len, 4096);
  assert_int_equal(strlen(out.err), 4096);
  assert_string_equal(out.err + 4096 - 6, "\nTAIL\n");
  assert_int_equal(out.err[0], 'n');
  art_command_output_dispose(NULL, &out);
  free(noise);
}

static void test_nonexistent_program(void **state) {
  (void)state;
  art_command_output out;
  art_error err = {0, ""};
  const char *in_path[] = {"agentrt-no-such-program", NULL};
  assert_int_equal(art_command_exec(in_path, NULL, NULL, 0, 5000, NULL, &out, &err), ART_EIO);
  assert_string_equal(err.message,
                      "cannot run \"agentrt-no-such-program\": No such file or directory");
  assert_null(out.out);

  const char *absolute[] = {"/nonexistent/prog", NULL};
  assert_int_equal(art_command_exec(absolute, NULL, NULL, 0, 5000, NULL, &out, &err), ART_EIO);
  assert_string_equal(err.message, "cannot run \"/nonexistent/prog\": No such file or directory");

  const char *not_executable[] = {tu_write("plain.txt", "hello\n"), NULL};
  assert_int_equal(art_command_exec(not_executable, NULL, NULL, 0, 5000, NULL, &out, &err),
                   ART_EIO);
  assert_non_null(strstr(err.message, ": Permission denied"));

  art_tool_result r;
  assert_int_equal(call_tool(in_path, 5000, NULL, NULL, &r), ART_EIO);
  assert_int_equal(r.status, ART_RESULT_ERROR);
  assert_string_equal(r.message,
                      "cannot run \"agentrt-no-such-program\": No such file or directory");
  art_tool_result_dispose(&r);
  tu_assert_no_children();
}

static void test_bad_arguments(void **state) {
  (void)state;
  art_command_output out;
  art_error err = {0, ""};
  const char *empty[] = {"", NULL};
  const char *none[] = {NULL};
  assert_int_equal(art_command_exec(empty, NULL, NULL, 0, 0, NULL, &out, &err), ART_EINVAL);
  assert_int_equal(art_command_exec(none, NULL, NULL, 0, 0, NULL, &out, &err), ART_EINVAL);
  assert_int_equal(art_command_exec(NULL, NULL, NULL, 0, 0, NULL, &out, &err), ART_EINVAL);

  const char *argv[] = {"true", NULL};
  const char *bad_env[] = {"NO_EQUALS_SIGN", NULL};
  assert_int_equal(art_command_exec(argv, bad_env, NULL, 0, 0, NULL, &out, &err), ART_EINVAL);
  assert_non_null(strstr(err.message, "NO_EQUALS_SIGN"));
}

static void test_tool_environment(void **state) {
  (void)state;
  const char *argv[] = {TOOLS "env.sh", NULL};
  art_tool_result r;
  assert_int_equal(call_tool(argv, 0, "act_abc", NULL, &r), 0);
  assert_int_equal(r.status, ART_RESULT_OK);
  assert_string_equal(json_string_value(json_object_get(r.data, "run")), "run_1");
  assert_string_equal(json_string_value(json_object_get(r.data, "tool")), "t");
  assert_string_equal(json_string_value(json_object_get(r.data, "step")), "3");
  assert_string_equal(json_string_value(json_object_get(r.data, "action")), "act_abc");
  art_tool_result_dispose(&r);

  assert_int_equal(call_tool(argv, 0, NULL, NULL, &r), 0);
  assert_string_equal(json_string_value(json_object_get(r.data, "action")), "unset");
  art_tool_result_dispose(&r);
}

static void test_env_extra_overrides(void **state) {
  (void)state;
  setenv("ART_TEST_VAR", "parent", 1);
  setenv("AGENTRT_TOOL", "from-parent", 1);
  const char *argv[] = {TOOLS "env.sh", NULL};
  const char *extra[] = {"ART_TEST_VAR=first", "AGENTRT_TOOL=x", "ART_TEST_VAR=child", NULL};
  art_command_output out;
  art_error err = {0, ""};
  assert_int_equal(art_command_exec(argv, extra, NULL, 0, 5000, NULL, &out, &err), 0);
  json_t *v = json_loads(out.out, 0, NULL);
  assert_non_null(v);
  assert_string_equal(json_string_value(json_object_get(v, "extra")), "child");
  assert_string_equal(json_string_value(json_object_get(v, "tool")), "x");
  assert_string_equal(json_string_value(json_object_get(v, "run")), "unset");
  json_decref(v);
  art_command_output_dispose(NULL, &out);
  assert_string_equal(getenv("ART_TEST_VAR"), "parent");
  unsetenv("ART_TEST_VAR");
  unsetenv("AGENTRT_TOOL");
}

static void test_path_comes_from_the_child_environment(void **state) {
  (void)state;
  const char *argv[] = {"print.sh", "[]", NULL};
  const char *extra[] = {"PATH=/nonexistent::" AGENTRT_SOURCE_DIR "/tests/unit/tools", NULL};
  art_command_output out;
  art_error err = {0, ""};
  assert_int_equal(art_command_exec(argv, extra, NULL, 0, 5000, NULL, &out, &err), 0);
  assert_string_equal(out.out, "[]");
  art_command_output_dispose(NULL, &out);
}

static void test_stdin_arrives_exactly(void **state) {
  (void)state;
  size_t n = 300 * 1000;
  char *input = malloc(n);
  assert_non_null(input);
  for (size_t i = 0; i < n; i++) input[i] = (char)(i * 7 + i / 251); /* NULs included */
  const char *argv[] = {"cat", NULL};
  art_command_output out;
  art_error err = {0, ""};
  assert_int_equal(art_command_exec(argv, NULL, input, n, 20000, NULL, &out, &err), 0);
  assert_int_equal(out.out_len, n);
  assert_memory_equal(out.out, input, n);
  assert_int_equal(out.out[n], '\0');
  art_command_output_dispose(NULL, &out);
  free(input);

  /* a tool's input is one line of compact JSON */
  assert_int_equal(art_command_exec(argv, NULL, "", 0, 5000, NULL, &out, &err), 0);
  assert_int_equal(out.out_len, 0);
  art_command_output_dispose(NULL, &out);
  art_tool_result r;
  assert_int_equal(call_tool(argv, 0, NULL, NULL, &r), 0);
  assert_int_equal(r.status, ART_RESULT_OK);
  assert_string_equal(json_string_value(json_object_get(r.data, "q")), "hello");
  art_tool_result_dispose(&r);
}

static void test_child_signal_state_is_clean(void **state) {
  (void)state;
  sigset_t usr1, old_mask;
  struct sigaction ign = {.sa_handler = SIG_IGN}, old_pipe;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  sigemptyset(&ign.sa_mask);
  sigprocmask(SIG_BLOCK, &usr1, &old_mask);
  sigaction(SIGPIPE, &ign, &old_pipe);
  /* grep reads its own masks: the state the runner left for what it execs */
  const char *argv[] = {"grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status", NULL};
  art_command_output out;
  art_error err = {0, ""};
  int rc = art_command_exec(argv, NULL, NULL, 0, 5000, NULL, &out, &err);
  sigaction(SIGPIPE, &old_pipe, NULL);
  sigprocmask(SIG_SETMASK, &old_mask, NULL);
  assert_int_equal(rc, 0);
  unsigned long long blocked = 1, ignored = 1;
  const char *blk = strstr(out.out, "SigBlk:"), *ignl = strstr(out.out, "SigIgn:");
  assert_non_null(blk);
  assert_non_null(ignl);
  blocked = strtoull(blk + 7, NULL, 16);
  ignored = strtoull(ignl + 7, NULL, 16);
  assert_int_equal(blocked & (1ULL << (SIGUSR1 - 1)), 0);
  assert_int_equal(ignored & (1ULL << (SIGPIPE - 1)), 0);
  art_command_output_dispose(NULL, &out);
}

static void test_closed_standard_fds_in_the_parent(void **state) {
  (void)state;
  /* with 0 closed a pipe can land on 0; the child must still get its stdin */
  int saved = dup(0);
  assert_true(saved > 2);
  close(0);
  const char *argv[] = {"cat", NULL};
  art_command_output out;
  art_error err = {0, ""};
  int rc = art_command_exec(argv, NULL, "abc", 3, 5000, NULL, &out, &err);
  dup2(saved, 0);
  close(saved);
  assert_int_equal(rc, 0);
  assert_string_equal(out.out, "abc");
  art_command_output_dispose(NULL, &out);
}

static void test_child_inherits_no_stray_descriptors(void **state) {
  (void)state;
  /* opened without O_CLOEXEC, as code elsewhere in the application might */
  int opened = open(tu_write("stray.txt", "x"), O_RDONLY);
  int stray = fcntl(opened, F_DUPFD, 20); /* clear of the numbers the child reuses */
  close(opened);
  assert_true(stray >= 20);
  char number[16];
  snprintf(number, sizeof number, "%d", stray);
  const char *argv[] = {TOOLS "fd_target.sh", number, NULL};
  art_command_output out;
  art_error err = {0, ""};
  assert_int_equal(art_command_exec(argv, NULL, NULL, 0, 5000, NULL, &out, &err), 0);
  close(stray);
  assert_null(strstr(out.out, "stray.txt"));
  art_command_output_dispose(NULL, &out);
}

/* ---- cleanup on every path --------------------------------------------- */

static void test_no_descriptor_leak(void **state) {
  (void)state;
  int before = tu_count_fds();
  const char *ok[] = {TOOLS "print.sh", "{}", NULL};
  const char *fails[] = {TOOLS "print.sh", "", "1", "oops", NULL};
  const char *missing[] = {"agentrt-no-such-program", NULL};
  for (int i = 0; i < 50; i++) {
    art_tool_result r;
    assert_int_equal(call_tool(ok, 0, NULL, NULL, &r), 0);
    art_tool_result_dispose(&r);
    assert_int_equal(call_tool(fails, 0, NULL, NULL, &r), 0);
    art_tool_result_dispose(&r);
    assert_int_equal(call_tool(missing, 0, NULL, NULL, &r), ART_EIO);
    art_tool_result_dispose(&r);
  }
  assert_int_equal(tu_count_fds(), before);
  tu_assert_no_children();
}

static void check_allocation_failures(const char *const *argv) {
  tu_alloc t;
  art_tool_result r;
  tu_alloc_init(&t, 0);
  assert_int_equal(call_tool(argv, 0, "act_1", &t.a, &r), 0);
  assert_int_equal(r.status, ART_RESULT_OK);
  art_tool_result_dispose(&r);
  assert_int_equal(t.live, 0);
  long total = t.count;
  assert_true(total > 5);
  int fds = tu_count_fds();
  for (long i = 1; i <= total; i++) {
    tu_alloc_init(&t, i);
    int rc = call_tool(argv, 0, "act_1", &t.a, &r);
    assert_int_equal(t.failed, 1);
    assert_int_equal(rc, ART_ENOMEM);
    assert_int_equal(r.status, ART_RESULT_ERROR);
    assert_string_equal(r.message, "out of memory");
    art_tool_result_dispose(&r);
    assert_int_equal(t.live, 0);
    tu_assert_no_children();
  }
  assert_int_equal(tu_count_fds(), fds);
}

static void test_allocation_failures(void **state) {
  (void)state;
  const char *blob[] = {TOOLS "json_blob.sh", NULL}; /* stdout outgrows the first buffer */
  const char *cat[] = {"cat", NULL};                 /* a PATH search */
  check_allocation_failures(blob);
  check_allocation_failures(cat);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ok_envelope),
      cmocka_unit_test(test_bare_values_are_ok_data),
      cmocka_unit_test(test_refused_envelope),
      cmocka_unit_test(test_error_envelope),
      cmocka_unit_test(test_objects_that_are_not_envelopes_are_data),
      cmocka_unit_test(test_bad_envelope_message),
      cmocka_unit_test(test_nonzero_exit),
      cmocka_unit_test(test_killed_by_signal),
      cmocka_unit_test(test_plain_text_is_a_string_result),
      cmocka_unit_test(test_empty_stdout),
      cmocka_unit_test(test_timeout_kills_the_group),
      cmocka_unit_test(test_timeout_after_pipes_closed),
      cmocka_unit_test(test_large_output_before_reading_stdin),
      cmocka_unit_test(test_child_ignores_large_stdin),
      cmocka_unit_test(test_output_too_large),
      cmocka_unit_test(test_stderr_keeps_the_tail),
      cmocka_unit_test(test_nonexistent_program),
      cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test(test_tool_environment),
      cmocka_unit_test(test_env_extra_overrides),
      cmocka_unit_test(test_path_comes_from_the_child_environment),
      cmocka_unit_test(test_stdin_arrives_exactly),
      cmocka_unit_test(test_child_signal_state_is_clean),
      cmocka_unit_test(test_closed_standard_fds_in_the_parent),
      cmocka_unit_test(test_child_inherits_no_stray_descriptors),
      cmocka_unit_test(test_no_descriptor_leak),
      cmocka_unit_test(test_allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
