/* A bump allocator whose memory is released all at once: a run's events, copied
 * strings and snapshots; a compiled schema's nodes.  Chunks double in size from
 * the first block's (a small arena stays small) up to the chunk size; a request
 * bigger than a quarter of that gets a chunk of its own, so the free space of
 * the chunk being filled is not abandoned.  Growable arrays (art_vec) also live in an
 * arena: growing copies into a block twice the size and leaves the old one
 * behind, so the waste is bounded by the live size. */
#ifndef ART_ARENA_H
#define ART_ARENA_H

#include <string.h>

#include "agentrt/common.h"

typedef struct art_arena_chunk art_arena_chunk;

typedef struct art_arena {
  const art_allocator *alloc;
  art_arena_chunk *chunks;
  char *ptr, *end; /* free space of the block being filled */
  size_t next_size;  /* the next chunk's */
  size_t chunk_size; /* the largest */
  art_allocator as_allocator; /* allocations from the arena; release is a no-op */
} art_arena;

/* `first`/`first_size`: an optional caller-owned first block; without one the
 * chunks are chunk_size from the start. */
void art_arena_init(art_arena *a, const art_allocator *alloc, void *first, size_t first_size,
                    size_t chunk_size);
void art_arena_dispose(art_arena *a);
void *art_arena_alloc(art_arena *a, size_t size);  /* 16-byte aligned, NULL on ENOMEM */
void *art_arena_zalloc(art_arena *a, size_t size); /* zeroed */
char *art_arena_strdup(art_arena *a, const char *s);
char *art_arena_strndup(art_arena *a, const char *s, size_t n);

typedef struct art_vec {
  void *items;
  uint32_t len, cap;
} art_vec;

/* A pointer to a new zeroed slot at the end of `v`, or NULL on ENOMEM (v unchanged). */
void *art_vec_grow_push(art_arena *a, art_vec *v, size_t item_size);

static inline void *art_vec_push(art_arena *a, art_vec *v, size_t item_size) {
  if (v->len == v->cap) return art_vec_grow_push(a, v, item_size);
  char *slot = (char *)v->items + (size_t)v->len++ * item_size;
  memset(slot, 0, item_size);
  return slot;
}

#endif
