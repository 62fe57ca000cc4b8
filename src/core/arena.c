#include "core/arena.h"

#include "core/alloc.h"

struct art_arena_chunk {
  art_arena_chunk *next;
  _Alignas(16) char data[];
};

enum { ALIGN = 16 };

static void *arena_alloc_fn(void *ud, size_t n) { return art_arena_alloc(ud, n); }
static void *arena_resize_fn(void *ud, void *p, size_t n) {
  (void)ud, (void)p, (void)n;
  return NULL; /* nothing resizes arena memory */
}
static void arena_release_fn(void *ud, void *p) { (void)ud, (void)p; }

static char *align_up(char *p) {
  return (char *)(((uintptr_t)p + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1));
}

void art_arena_init(art_arena *a, const art_allocator *alloc, void *first, size_t first_size,
                    size_t chunk_size) {
  a->alloc = alloc;
  a->chunks = NULL;
  a->ptr = first ? align_up(first) : NULL;
  a->end = first ? (char *)first + first_size : NULL;
  a->chunk_size = chunk_size;
  a->next_size = first && 2 * first_size < chunk_size ? 2 * first_size : chunk_size;
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

static art_arena_chunk *new_chunk(art_arena *a, size_t size) {
  if (size > SIZE_MAX - sizeof(art_arena_chunk)) return NULL;
  return art_alloc(a->alloc, sizeof(art_arena_chunk) + size);
}

/* A chunk for one big request, linked behind the current one. */
static void *own_chunk(art_arena *a, size_t size) {
  art_arena_chunk *c = new_chunk(a, size);
  if (!c) return NULL;
  if (a->chunks) {
    c->next = a->chunks->next;
    a->chunks->next = c;
  } else {
    c->next = NULL;
    a->chunks = c;
  }
  return c->data;
}

static int next_chunk(art_arena *a, size_t need) {
  size_t size = a->next_size > need ? a->next_size : need;
  art_arena_chunk *c = new_chunk(a, size);
  if (!c) return ART_ENOMEM;
  c->next = a->chunks;
  a->chunks = c;
  a->ptr = c->data;
  a->end = c->data + size;
  a->next_size = a->next_size < a->chunk_size / 2 ? 2 * a->next_size : a->chunk_size;
  return 0;
}

void *art_arena_alloc(art_arena *a, size_t size) {
  if (size > a->chunk_size / 4) return own_chunk(a, size);
  if (!a->ptr || (size_t)(a->end - a->ptr) < size) {
    if (next_chunk(a, size) < 0) return NULL;
  }
  void *p = a->ptr;
  a->ptr = align_up(a->ptr + size);
  if (a->ptr > a->end) a->ptr = a->end;
  return p;
}

void *art_arena_zalloc(art_arena *a, size_t size) {
  void *p = art_arena_alloc(a, size);
  if (p) memset(p, 0, size);
  return p;
}

char *art_arena_strndup(art_arena *a, const char *s, size_t n) {
  char *p = art_arena_alloc(a, n + 1);
  if (p) {
    memcpy(p, s, n);
    p[n] = '\0';
  }
  return p;
}

char *art_arena_strdup(art_arena *a, const char *s) { return art_arena_strndup(a, s, strlen(s)); }

void *art_vec_grow_push(art_arena *a, art_vec *v, size_t item_size) {
  uint32_t cap = v->cap ? v->cap * 2 : 16;
  void *items = art_arena_alloc(a, (size_t)cap * item_size);
  if (!items) return NULL;
  if (v->len) memcpy(items, v->items, (size_t)v->len * item_size);
  v->items = items;
  v->cap = cap;
  return art_vec_push(a, v, item_size);
}
