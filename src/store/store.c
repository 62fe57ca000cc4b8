/* What every store backend shares: names, records, and the journal sink. */
#include "agentrt/store.h"

#include <stdlib.h>
#include <string.h>

#include "agentrt/run.h"
#include "core/names.h"
#include "store/store_internal.h"

static const char *const status_names[] = {"running", "paused", "finished", "cancelled"};
static const art_names run_status_names = {status_names, 4, "running, paused, finished, cancelled"};

const char *art_run_status_name(art_run_status s) { return art_names_name(&run_status_names, (int)s); }

int art_run_status_parse(const char *name, art_run_status *out) {
  int v = art_names_find(&run_status_names, name);
  if (v < 0) return ART_EINVAL;
  *out = (art_run_status)v;
  return 0;
}

void art_run_record_dispose(art_run_record *r) {
  free(r->run_id);
  free(r->stop_reason);
  free(r->detail);
  free(r->spec_json);
  free(r->spec_dir);
  memset(r, 0, sizeof *r);
}

void art_store_close(art_store *s) {
  if (s) s->vt->close(s);
}

/* The journal sink: each event, as JSON text, appended in its own transaction
 * before the run goes on, so what the trace says happened is on disk first. */
static int journal_write(void *ud, const art_run *run, const art_event *ev) {
  art_store *store = ud;
  json_t *j = art_event_to_json(run, ev);
  size_t n = j ? json_dumpb(j, NULL, 0, JSON_COMPACT) : 0;
  char *text = n ? malloc(n + 1) : NULL;
  if (text) text[json_dumpb(j, text, n, JSON_COMPACT)] = '\0';
  json_decref(j);
  if (!text) return ART_ENOMEM;
  art_error err = {0};
  int rc = store->vt->append(store, art_run_id(run), ev->seq, ev->step, ev->ts_us,
                             art_event_type_name(ev->type), text, &err);
  free(text);
  return rc;
}

art_sink art_store_sink(art_store *store) {
  return (art_sink){ART_SINK_VERSION, journal_write, NULL, store};
}

static int copy_text(char **to, const char *from) {
  return from && !(*to = strdup(from)) ? ART_ENOMEM : 0;
}

int art_record_copy(art_run_record *to, const art_run_record *from) {
  *to = *from;
  to->run_id = to->stop_reason = to->detail = to->spec_json = to->spec_dir = NULL;
  if (copy_text(&to->run_id, from->run_id) < 0 || copy_text(&to->stop_reason, from->stop_reason) < 0 ||
      copy_text(&to->detail, from->detail) < 0 || copy_text(&to->spec_json, from->spec_json) < 0 ||
      copy_text(&to->spec_dir, from->spec_dir) < 0) {
    art_run_record_dispose(to);
    return ART_ENOMEM;
  }
  return 0;
}

void art_run_records_free(art_run_record *list, size_t n) {
  for (size_t i = 0; i < n; i++) art_run_record_dispose(&list[i]);
  free(list);
}

bool art_status_is_final(art_run_status s) {
  return s == ART_RUN_FINISHED || s == ART_RUN_CANCELLED;
}
