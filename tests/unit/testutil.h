/* Helpers shared by the unit tests: temporary files, running the CLI, and an
 * allocator that counts allocations and can fail the n-th one. */
#ifndef ART_TESTUTIL_H
#define ART_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include "agentrt/model.h"
#include "agentrt/run.h"

/* A fresh directory under $TMPDIR for this test process; removed at exit. */
const char *tu_tmpdir(void);
/* tu_tmpdir()/name, in a static rotating buffer. */
const char *tu_path(const char *name);
/* Write `text` to tu_path(name) and return that path. */
const char *tu_write(const char *name, const char *text);
/* The whole file, malloc'd and NUL-terminated, or NULL when it does not exist. */
char *tu_read(const char *path);
/* Number of lines in a file (0 when it does not exist). */
int tu_count_lines(const char *path);

/* Run options naming the run "run_test" when `spec` names none, else NULL. */
/* The spec in `text` (JSON), loaded as "test.json" with relative commands
 * resolving in tu_tmpdir() and send_message appending to outbox.jsonl there;
 * a bad spec fails the test. */
art_spec *tu_spec(const char *text);
const art_run_options *tu_run_options(const art_spec *spec);

/* Run the agentrt CLI with argv (NULL-terminated, without the program name) in
 * tu_tmpdir(); returns the exit status and fills malloc'd stdout/stderr. */
int tu_cli(char **out, char **err, const char *arg0, ...);
/* The same with the arguments in a NULL-terminated array. */
int tu_cli_argv(char **out, char **err, const char *const *args);
/* Start the agentrt CLI with `args` (NULL-terminated, without the program
 * name) in tu_tmpdir() and return its pid at once.  Its stdout and stderr go to
 * tu_path(log) (NULL: /dev/null).  With `own_group` it leads a process group of
 * its own, as a shell's foreground job does, so a test can signal the group. */
int tu_cli_start(const char *const *args, const char *log, int own_group);

/* The descriptors this process has open now. */
int tu_count_fds(void);
/* Every child this process started has been reaped. */
void tu_assert_no_children(void);
/* The two runs' traces are the same but for what depends on the clock
 * (ts_us, latency_us): a run driven on the loop and the same run driven by
 * the blocking driver. */
void tu_assert_same_events(const art_run *on_loop, const art_run *blocking);
/* A run with its spec and model, driven on an event loop (loop.h) and told
 * once that it stopped (tu_told). */
typedef struct tu_job {
  art_spec *spec;
  art_model *model;
  art_run *run;
  int rc;
  bool told;
} tu_job;
/* The run of tu_spec(spec_text) named `run_id`, with its model. */
void tu_job_new(tu_job *j, const char *spec_text, const char *run_id);
void tu_job_free(tu_job *j);
/* An art_loop_stopped_fn for a tu_job (ud): fails the test when told twice. */
void tu_told(void *ud, art_run *run, int rc);

/* An allocator that counts live allocations and fails allocation number
 * `fail_at` (1-based; 0: never). */
typedef struct tu_alloc {
  art_allocator a;
  long count; /* allocations attempted */
  long live;  /* allocated and not yet released */
  long fail_at;
  long failed; /* allocations that were made to fail */
} tu_alloc;
void tu_alloc_init(tu_alloc *t, long fail_at);

/* A throwaway PostgreSQL 15 server for this test process (testutil_pg.c),
 * started by the first call (from a group setup, before the per-test
 * baseline), stopped and removed at exit; unix socket only, no fsync.  The
 * URL of its "postgres" database (superuser, no password). */
const char *tu_pg_start(void);
void tu_pg_stop(void);
/* Stop that server at once (`pg_ctl restart -m immediate`: every connection
 * to it is cut, as a crash cuts them) and start it again; returns once it
 * accepts connections. */
void tu_pg_restart(void);
/* cmocka group setups: tu_pg_start; and tu_pg_start with every commit
 * acknowledged only once it is in the WAL (the server's default acknowledges
 * first, and a tu_pg_restart would lose what it acknowledged), for the tests
 * that crash it. */
int tu_pg_setup(void **state);
int tu_pg_setup_crash_safe(void **state);
/* A new empty database `name` on that server (starting it); its URL. */
const char *tu_pg_database(const char *name);

/* Stores for tests that run on both backends: each call names a new one, a
 * SQLite file `prefix-N.db` in tu_tmpdir(), or the URL of a new database
 * `prefix_N` (a static buffer: copy it to keep it past the next call). */
const char *tu_new_sqlite_store(const char *prefix);
const char *tu_new_postgres_store(const char *prefix);
/* name##_sqlite and name##_postgres, cmocka tests calling name(store) with a
 * new store of each kind named `prefix`. */
#define TU_ON_BOTH(name, prefix)                                                                   \
  static void name##_sqlite(void **state) {                                                        \
    (void)state;                                                                                   \
    name(tu_new_sqlite_store(prefix));                                                             \
  }                                                                                                \
  static void name##_postgres(void **state) {                                                      \
    (void)state;                                                                                   \
    name(tu_new_postgres_store(prefix));                                                           \
  }
/* The URL of database `db` on that server as the superuser (a static
 * rotating buffer). */
const char *tu_pg_url(const char *db);
/* The same as another role: userinfo is "ROLE" or "ROLE:PASSWORD". */
const char *tu_pg_url_as(const char *db, const char *userinfo);
/* Run `sql` in the database `url` names; an error fails the test. */
void tu_pg_exec(const char *url, const char *sql);
/* The role pg_hba.conf asks a scram-sha-256 password of (scripts/pg-throwaway). */
#define TU_PG_PASSWORD_ROLE "agentrt_pw"

/* Every test leaves the process as it found it: the same descriptors open
 * and the same child processes (a killed tool's group reaped, a server shut
 * down).  The baseline is taken before each test and checked after it (a
 * child that is going away is given 10 s); a test that leaks fails, naming
 * what it left.  cmocka_unit_test gets both from here. */
int tu_baseline_take(void **state);
int tu_baseline_check(void **state);
#undef cmocka_unit_test
#define cmocka_unit_test(f) cmocka_unit_test_setup_teardown(f, tu_baseline_take, tu_baseline_check)

#endif
