/* A throwaway PostgreSQL 15 server for the tests of one process: initdb into
 * a directory of its own (as the postgres user when the tests run as root),
 * listening on a unix socket in that directory only, without fsync; stopped
 * (immediate) and removed at exit, whatever the tests did. */
#include <libpq-fe.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define PG_BIN "/usr/lib/postgresql/15/bin"

static char pg_dir[256];

/* Run a command line as the user the server runs as; its exit status. */
static int as_postgres(const char *cmd) {
  char line[2048];
  snprintf(line, sizeof line, "%s%s", geteuid() == 0 ? "runuser -u postgres -- " : "", cmd);
  return system(line);
}

void tu_pg_stop(void) {
  char cmd[1024];
  if (!pg_dir[0]) return;
  snprintf(cmd, sizeof cmd, PG_BIN "/pg_ctl -D '%s/data' -m immediate stop >/dev/null 2>&1",
           pg_dir);
  as_postgres(cmd);
  if (!getenv("ART_KEEP_TMP")) {
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", pg_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", pg_dir);
  }
  pg_dir[0] = '\0';
}

static void die(const char *what) {
  fprintf(stderr, "test PostgreSQL server: %s (logs in %s)\n", what, pg_dir);
  exit(1);
}

/* Trust on the socket, but for the role tu_pg_password_role: scram. */
static void write_hba(void) {
  char path[512];
  snprintf(path, sizeof path, "%s/data/pg_hba.conf", pg_dir);
  FILE *f = fopen(path, "w");
  if (!f) die("cannot write pg_hba.conf");
  fprintf(f, "local all %s scram-sha-256\nlocal all all trust\n", TU_PG_PASSWORD_ROLE);
  fclose(f);
}

static void make_dir(void) {
  snprintf(pg_dir, sizeof pg_dir, "/tmp/agentrt-pg-XXXXXX");
  if (!mkdtemp(pg_dir)) die("mkdtemp");
  struct passwd *pw = geteuid() == 0 ? getpwnam("postgres") : NULL;
  if (geteuid() == 0 && (!pw || chown(pg_dir, pw->pw_uid, pw->pw_gid) < 0))
    die("no postgres user to own the server's directory");
}

static void start_server(void) {
  char cmd[1024];
  make_dir();
  atexit(tu_pg_stop);
  snprintf(cmd, sizeof cmd,
           PG_BIN "/initdb -D '%s/data' -U postgres -A trust -E UTF8 --locale=C --no-sync"
                  " >'%s/initdb.log' 2>&1",
           pg_dir, pg_dir);
  if (as_postgres(cmd) != 0) die("initdb failed");
  write_hba();
  snprintf(cmd, sizeof cmd,
           PG_BIN "/pg_ctl -D '%s/data' -l '%s/server.log' -w -o \"-c listen_addresses=''"
                  " -k '%s' -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
                  " -c password_encryption=scram-sha-256\" start >/dev/null 2>&1",
           pg_dir, pg_dir, pg_dir);
  if (as_postgres(cmd) != 0) die("pg_ctl start failed");
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
