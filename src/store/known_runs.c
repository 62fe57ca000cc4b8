/* An open-addressing table of runs by id (FNV-1a, linear probing, at most
 * half full).  Entries are never removed one by one: a store clears the
 * table when it grows past what a handle should remember. */
#include "store/known_runs.h"

#include "store/store_internal.h"

#include <stdlib.h>
#include <string.h>

static size_t hash(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return (size_t)h;
}

static art_known_run *probe(art_known_run *slots, size_t cap, const char *run_id) {
  size_t i = hash(run_id) & (cap - 1);
  while (slots[i].run_id && strcmp(slots[i].run_id, run_id) != 0) i = (i + 1) & (cap - 1);
  return &slots[i];
}

art_known_run *art_known_find(const art_known_runs *k, const char *run_id) {
  if (!k->cap) return NULL;
  art_known_run *e = probe(k->slots, k->cap, run_id);
  return e->run_id ? e : NULL;
}

static int grow(art_known_runs *k) {
  size_t cap = k->cap ? k->cap * 2 : 64;
  art_known_run *slots = calloc(cap, sizeof *slots);
  if (!slots) return -1;
  for (size_t i = 0; i < k->cap; i++)
    if (k->slots[i].run_id) *probe(slots, cap, k->slots[i].run_id) = k->slots[i];
  free(k->slots);
  k->slots = slots, k->cap = cap;
  return 0;
}

art_known_run *art_known_put(art_known_runs *k, const char *run_id) {
  art_known_run *e = art_known_find(k, run_id);
  if (e) return e;
  if ((k->n + 1) * 2 > k->cap && grow(k) < 0) return NULL;
  e = probe(k->slots, k->cap, run_id);
  if (!(e->run_id = strdup(run_id))) return NULL;
  k->n++;
  return e;
}

void art_known_forget(art_known_runs *k) {
  for (size_t i = 0; i < k->cap; i++) k->slots[i].known = k->slots[i].watched = false;
}

void art_known_clear(art_known_runs *k) {
  for (size_t i = 0; i < k->cap; i++) free(k->slots[i].run_id);
  free(k->slots);
  *k = (art_known_runs){0};
}

static int oldest_first(const void *a, const void *b) { return art_record_older(a, b); }

void art_known_leased(art_known_runs *k, struct art_run_record *list, size_t n) {
  if (n > 1) qsort(list, n, sizeof *list, oldest_first);
  for (size_t i = 0; i < n; i++) {
    art_known_run *run = art_known_find(k, list[i].run_id);
    if (run) run->known = false;
  }
}
