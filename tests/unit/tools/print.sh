#!/bin/sh
# print.sh TEXT [STATUS [STDERR]]: TEXT on stdout (no newline added), STDERR as
# a line on stderr, exit STATUS.  Never reads stdin.
printf '%s' "$1"
if [ -n "$3" ]; then printf '%s\n' "$3" >&2; fi
exit "${2:-0}"
