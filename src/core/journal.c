/* A run's journal as a store loads it: entries in one array, bodies in an
 * arena, so loading a long run costs two allocations per chunk, not per event. */
#include <stdlib.h>

#include "agentrt/trace.h"
#include "core/arena.h"

enum { BODY_CHUNK = 64 * 1024 };

int art_journal_add(art_journal *j, const art_journal_entry *e) {
  if (!j->text) {
    art_arena *a = malloc(sizeof *a);
    if (!a) return ART_ENOMEM;
    art_arena_init(a, art_default_allocator(), NULL, 0, BODY_CHUNK);
    j->text = a;
  }
  if (j->n == j->cap) {
    size_t cap = j->cap ? j->cap * 2 : 64;
    art_journal_entry *grown = realloc(j->entries, cap * sizeof *grown);
    if (!grown) return ART_ENOMEM;
    j->entries = grown, j->cap = cap;
  }
  char *body = art_arena_strndup(j->text, e->body, e->body_len);
  if (!body) return ART_ENOMEM;
  art_journal_entry *slot = &j->entries[j->n++];
  *slot = *e;
  slot->body = body;
  return 0;
}

void art_journal_dispose(art_journal *j) {
  if (j->text) art_arena_dispose(j->text);
  free(j->text);
  free(j->entries);
  *j = (art_journal){0};
}
