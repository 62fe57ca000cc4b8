/* Writing JSON text straight into a growable buffer: how events become JSON
 * lines and journal rows without building a tree of jansson values first. */
#ifndef ART_JSON_WRITER_H
#define ART_JSON_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "agentrt/trace.h"

typedef struct art_jw {
  char *s;
  size_t len, cap;
  bool failed; /* out of memory: the text is incomplete */
  bool first;  /* no member written yet in the current object or array */
  /* The ids derived from the last run written, so a sink writing one run's
   * events hashes its id once. */
  const void *ids_of;
  uint64_t ids[2];
} art_jw;

void art_jw_reset(art_jw *w); /* empty, keeping the buffer */
void art_jw_dispose(art_jw *w);
void art_jw_open(art_jw *w, char c);  /* '{' or '[' */
void art_jw_close(art_jw *w, char c); /* '}' or ']' */
void art_jw_key(art_jw *w, const char *key); /* a name of ours: written as it is, unescaped */
void art_jw_str(art_jw *w, const char *s); /* a JSON string, or null for NULL */
void art_jw_int(art_jw *w, int64_t n);
void art_jw_real(art_jw *w, double d);         /* finite: 10 significant digits */
void art_jw_raw(art_jw *w, const char *text);  /* true, false, null */
void art_jw_value(art_jw *w, const json_t *v); /* a jansson value, compact */

/* Member helpers: key and value; a NULL string or value writes nothing. */
void art_jw_member_str(art_jw *w, const char *key, const char *s);
void art_jw_member_int(art_jw *w, const char *key, int64_t n);
void art_jw_member_value(art_jw *w, const char *key, const json_t *v);
void art_jw_member_real(art_jw *w, const char *key, double d);

/* The event as one line of compact JSON (no newline) in `w`, the text behind
 * art_event_to_json, JSONL files and store journals.  ART_ENOMEM when `w`
 * could not grow. */
int art_event_write_json(const art_run *run, const art_event *ev, art_jw *w);

/* The event's journal body (art_journal_entry): {"latency_us", ...type fields}. */
int art_event_write_body(const art_event *ev, art_jw *w);

#endif
