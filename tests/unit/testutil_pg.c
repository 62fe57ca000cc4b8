/* A throwaway PostgreSQL 15 server for the tests of one process
 * (scripts/pg-throwaway): a directory of its own, a unix socket in it only, no
 * fsync; stopped (immediate) and removed at exit, whatever the tests did. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static char pg_dir[256];

static int throwaway(const char *what, const char *settings) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "'%s/scripts/pg-throwaway' %s '%s' %s", AGENTRT_SOURCE_DIR, what,
           pg_dir, settings);
  return system(cmd);
}

void tu_pg_stop(void) {
  if (!pg_dir[0]) return;
  throwaway("stop", "");
  pg_dir[0] = '\0';
}

static void start_server(void) {
  snprintf(pg_dir, sizeof pg_dir, "/tmp/agentrt-pg-XXXXXX");
  if (!mkdtemp(pg_dir)) {
    perror("mkdtemp");
    exit(1);
  }
  atexit(tu_pg_stop);
  if (throwaway("start", "fsync=off synchronous_commit=off full_page_writes=off") != 0) {
    fprintf(stderr, "could not start a PostgreSQL server in %s\n", pg_dir);
    exit(1);
  }
}

void tu_pg_restart(void) {
  if (throwaway("restart", "") != 0)
    fail_msg("could not restart the PostgreSQL server in %s", pg_dir);
}

const char *tu_pg_url_as(const char *db, const char *userinfo) {
  static char bufs[4][512];
  static int next;
  char *b = bufs[next++ % 4];
  snprintf(b, sizeof bufs[0], "postgresql://%s@/%s?host=%s", userinfo, db, pg_dir);
  return b;
}

const char *tu_pg_url(const char *db) { return tu_pg_url_as(db, "postgres"); }

void tu_pg_exec(const char *url, const char *sql) {
  PGconn *c = PQconnectdb(url);
  if (PQstatus(c) != CONNECTION_OK) fail_msg("%s: %s", url, PQerrorMessage(c));
  PGresult *res = PQexec(c, sql);
  int status = PQresultStatus(res);
  char msg[512];
  snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(res));
  PQclear(res);
  PQfinish(c);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) fail_msg("%s: %s", sql, msg);
}

const char *tu_pg_start(void) {
  if (!pg_dir[0]) start_server();
  return tu_pg_url("postgres");
}

const char *tu_pg_database(const char *name) {
  char sql[160];
  snprintf(sql, sizeof sql, "CREATE DATABASE \"%s\"", name);
  tu_pg_exec(tu_pg_start(), sql);
  return tu_pg_url(name);
}

int tu_pg_setup(void **state) {
  (void)state;
  tu_pg_start();
  return 0;
}

/* A restart is a crash (immediate): what a commit acknowledged must be in
 * the WAL the server wrote, not only in its memory, to survive it.  The
 * throwaway server does not sync (fsync=off: the files outlive a process)
 * and acknowledges commits before it writes them (synchronous_commit=off on
 * its command line, which the role's setting overrides). */
int tu_pg_setup_crash_safe(void **state) {
  (void)state;
  tu_pg_exec(tu_pg_start(), "ALTER ROLE postgres SET synchronous_commit = on");
  return 0;
}

static int stores_made;

const char *tu_new_sqlite_store(const char *prefix) {
  static char path[96];
  snprintf(path, sizeof path, "%s-%d.db", prefix, stores_made++);
  return path;
}

const char *tu_new_postgres_store(const char *prefix) {
  static char url[512];
  char db[64];
  snprintf(db, sizeof db, "%s_%d", prefix, stores_made++);
  snprintf(url, sizeof url, "%s", tu_pg_database(db));
  return url;
}
