/* The JSONL sink: one JSON object per event and line, written to a file. */
#include <stdio.h>

#include "agentrt/trace.h"
#include "core/json_writer.h"

static int jsonl_write(void *ud, const art_run *run, const art_event *ev) {
  FILE *f = ud;
  art_jw w = {0};
  int rc = art_event_write_json(run, ev, &w);
  if (rc == 0 && (fwrite(w.s, 1, w.len, f) != w.len || fputc('\n', f) == EOF || fflush(f) != 0))
    rc = ART_EIO;
  art_jw_dispose(&w);
  return rc;
}

art_sink art_jsonl_sink(FILE *f) { return (art_sink){ART_SINK_VERSION, jsonl_write, NULL, f, NULL, NULL}; }
