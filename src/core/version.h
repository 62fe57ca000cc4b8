/* Versioned vtables (libgit2's GIT_ERROR_CHECK_VERSION): where an adapter is
 * registered, one built against another version of its header is refused
 * rather than called through a table of another shape. */
#ifndef ART_VERSION_H
#define ART_VERSION_H

#include "agentrt/common.h"

/* 0 when `given` is `expected`; else ART_EINVAL, err saying "WHAT version
 * GIVEN is not supported (expected EXPECTED)". */
int art_version_check(const char *what, int given, int expected, art_error *err);

#endif
