/* Durable runs from the command line: the store, and what agentrt says when
 * a run cannot be held, created or rebuilt (the work is agentrt/durable.h's). */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"

/* Only `run` makes a SQLite file: a typo in --store is not a new store.  A
 * PostgreSQL database must exist; its schema is made on first use. */
static int open_store(const cli_opts *o, bool create, art_store **out) {
  art_error err = {0};
  art_sqlite_options must_exist = {.must_exist = true};
  int rc = create || art_store_url_is_postgres(o->store)
               ? art_store_open_url(out, o->store, &err)
               : art_store_open_sqlite(out, o->store, &must_exist, &err);
  return rc == 0 ? 0 : cli_error(EXIT_USAGE, CLI_ERR_STORE, "%s", err.message);
}

int cli_store_open(const cli_opts *o, art_store **out) { return open_store(o, false, out); }
int cli_store_create(const cli_opts *o, art_store **out) { return open_store(o, true, out); }

int64_t cli_lease_ttl(void) {
  const char *ms = getenv("AGENTRT_LEASE_MS");
  char *end = NULL;
  long long n = ms ? strtoll(ms, &end, 10) : 0;
  return n > 0 && end && !*end ? (int64_t)n * 1000 : 0;
}

/* Who holds the run, and for how long yet, in words. */
static void holder_of(art_store *store, const char *run_id, char *buf, size_t size) {
  art_run_record r;
  art_error err = {0};
  snprintf(buf, size, "another process");
  if (store->vt->get_run(store, run_id, &r, &err) < 0) return;
  if (r.lease_owner)
    snprintf(buf, size, "%s, whose lease runs out in %lld s unless it renews it", r.lease_owner,
             (long long)((r.lease_until_us - art_now_us()) / 1000000 + 1));
  art_run_record_dispose(&r);
}

int cli_held_elsewhere(art_store *store, const char *run_id) {
  char holder[ART_HOLDER_SIZE + 64];
  holder_of(store, run_id, holder, sizeof holder);
  return cli_error(EXIT_USAGE, CLI_ERR_STATE,
                   "run %s is being driven by another process (%s); try again when it stops",
                   run_id, holder);
}

int cli_claim(art_store *store, const char *run_id, art_lease *lease) {
  art_error err = {0};
  char owner[ART_HOLDER_SIZE];
  art_holder_name(owner, sizeof owner, NULL);
  if (art_lease_claim(lease, store, run_id, owner, art_now_us(), cli_lease_ttl(), &err) == 0)
    return 0;
  return err.code == ART_ESTATE ? cli_held_elsewhere(store, run_id) : cli_store_error(&err);
}

int cli_run_exists(const char *run_id) {
  return cli_error(EXIT_USAGE, CLI_ERR_STATE,
                   "run %s is in the store already (give the spec another run_id, or leave it "
                   "out)",
                   run_id);
}

int cli_persist_new(art_store *store, const art_spec *spec, art_run *run, bool batched,
                    art_lease *lease) {
  art_error err = {0};
  char owner[ART_HOLDER_SIZE];
  art_holder_name(owner, sizeof owner, NULL);
  int rc = art_durable_create(lease, store, spec, run, owner, cli_lease_ttl(), batched, &err);
  if (rc == ART_EEXIST) return cli_run_exists(art_run_id(run));
  if (rc == ART_ESPEC) return cli_error(EXIT_USAGE, cli_err_of(rc), "%s", err.message);
  return rc < 0 ? cli_store_error(&err) : 0;
}

int cli_record_status(art_lease *lease, const art_run *run) {
  art_error err = {0};
  return art_durable_settle(lease, run, &err) < 0 ? cli_store_error(&err) : 0;
}

int cli_rebuild(art_store *store, const char *store_path, const char *run_id,
                const art_lease *lease, art_durable *d) {
  art_error err = {0};
  int rc = art_durable_open(d, store, run_id, lease, store_path, false, &err);
  if (rc == ART_ESPEC) return cli_error(EXIT_USAGE, CLI_ERR_SPEC, "%s", err.message);
  return rc < 0 ? cli_store_error(&err) : 0;
}
