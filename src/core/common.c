#include "agentrt/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/text.h"
#include "core/version.h"

int art_error_set(art_error *err, int code, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    err->code = code;
    art_vformat(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
  }
  return code;
}

int art_version_check(const char *what, int given, int expected, art_error *err) {
  if (given == expected) return 0;
  return art_error_set(err, ART_EINVAL, "%s version %d is not supported (expected %d)", what, given,
                       expected);
}

const char *art_strerror(int code) {
  switch (code) {
  case ART_OK: return "ART_OK";
  case ART_ENOMEM: return "ART_ENOMEM";
  case ART_EINVAL: return "ART_EINVAL";
  case ART_ESPEC: return "ART_ESPEC";
  case ART_ESTATE: return "ART_ESTATE";
  case ART_EIO: return "ART_EIO";
  case ART_ENOTFOUND: return "ART_ENOTFOUND";
  case ART_EINTR: return "ART_EINTR";
  case ART_EFENCED: return "ART_EFENCED";
  case ART_EEXIST: return "ART_EEXIST";
  case ART_EBUSY: return "ART_EBUSY";
  default: return "ART_E?";
  }
}

static void *std_alloc(void *ud, size_t n) {
  (void)ud;
  return malloc(n);
}
static void *std_resize(void *ud, void *p, size_t n) {
  (void)ud;
  return realloc(p, n);
}
static void std_release(void *ud, void *p) {
  (void)ud;
  free(p);
}

static const art_allocator default_allocator = {std_alloc, std_resize, std_release, NULL};

const art_allocator *art_default_allocator(void) { return &default_allocator; }
