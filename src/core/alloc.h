/* Internal allocation helpers over an art_allocator (never NULL here: callers
 * resolve NULL to art_default_allocator() when a handle is created). */
#ifndef ART_ALLOC_H
#define ART_ALLOC_H

#include <string.h>
#include "agentrt/common.h"

static inline void *art_alloc(const art_allocator *a, size_t n) { return a->alloc(a->ud, n); }
static inline void *art_resize(const art_allocator *a, void *p, size_t n) {
  return a->resize(a->ud, p, n);
}
static inline void art_release(const art_allocator *a, void *p) {
  if (p) a->release(a->ud, p);
}

static inline void *art_zalloc(const art_allocator *a, size_t n) {
  void *p = art_alloc(a, n);
  if (p) memset(p, 0, n);
  return p;
}

static inline char *art_strdup(const art_allocator *a, const char *s) {
  size_t n = strlen(s) + 1;
  char *p = art_alloc(a, n);
  if (p) memcpy(p, s, n);
  return p;
}

static inline const art_allocator *art_allocator_or_default(const art_allocator *a) {
  return a ? a : art_default_allocator();
}

#endif
