#!/bin/sh
# write_then_read.sh: 1 MiB on stdout before reading stdin at all, then the
# number of bytes stdin held on stderr.
dd if=/dev/zero bs=1024 count=1024 2>/dev/null
wc -c | tr -d ' ' >&2
