#include "core/arena.h"

#include <string.h>

#include "core/alloc.h"

struct art_arena_chunk {
  art_arena_chunk *next;
  size_t size;
  _Alignas(16) char data[];
};

/* One chunk size: small enough that malloc serves it from its heap rather than
 * a fresh mmap, so chunks freed by one run are reused by the next and a long run
 * costs the same per step at its end as at its start. */
enum { CHUNK_SIZE = 64 * 1024, ALIGN = 16 };

static void *arena_alloc_fn(void *ud, size_t n) { return art_arena_alloc(ud, n); }
static void *arena_resize_fn(void *ud, void *p, size_t n) {
  (void)ud, (void)p, (void)n;
  return NULL; /* nothing resizes arena memory */
}
static void arena_release_fn(void *ud, void *p) { (void)ud, (void)p; }

static char *align_up(char *p) {
  return (char *)(((uintptr_t)p + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1));
}

void art_arena_init(art_arena *a, const art_allocator *alloc, void *first, size_t first_size) {
  a->alloc = alloc;
  a->chunks = NULL;
  a->ptr = first ? align_up(first) : NULL;
  a->end = first ? (char *)first + first_size : NULL;
  a->as_allocator = (art_allocator){arena_alloc_fn, arena_resize_fn, arena_release_fn, a};
}

void art_arena_dispose(art_arena *a) {
  art_arena_chunk *c = a->chunks;
  while (c) {
    art_arena_chunk *next = c->next;
    art_release(a->alloc, c);
    c = next;
  }
  a->chunks = NULL;
  a->ptr = a->end = NULL;
}

static int add_chunk(art_arena *a, size_t need) {
  size_t size = need + ALIGN > CHUNK_SIZE ? need + ALIGN : CHUNK_SIZE;
  art_arena_chunk *c = art_alloc(a->alloc, sizeof *c + size);
  if (!c) return ART_ENOMEM;
  c->next = a->chunks;
  c->size = size;
  a->chunks = c;
  a->ptr = c->data;
  a->end = c->data + size;
  return 0;
}

void *art_arena_alloc(art_arena *a, size_t size) {
  if (!a->ptr || (size_t)(a->end - a->ptr) < size) {
    if (add_chunk(a, size) < 0) return NULL;
  }
  void *p = a->ptr;
  a->ptr = align_up(a->ptr + size);
  if (a->ptr > a->end) a->ptr = a->end;
  return p;
}

char *art_arena_strdup(art_arena *a, const char *s) {
  size_t n = strlen(s) + 1;
  char *p = art_arena_alloc(a, n);
  if (p) memcpy(p, s, n);
  return p;
}

void *art_vec_grow_push(art_arena *a, art_vec *v, size_t item_size) {
  uint32_t cap = v->cap ? v->cap * 2 : 16;
  void *items = art_arena_alloc(a, (size_t)cap * item_size);
  if (!items) return NULL;
  if (v->len) memcpy(items, v->items, (size_t)v->len * item_size);
  v->items = items;
  v->cap = cap;
  return art_vec_push(a, v, item_size);
}
