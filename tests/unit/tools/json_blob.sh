#!/bin/sh
# json_blob.sh: an ok envelope whose data is a 20000-character string, more
# than the runner's first output buffer holds.
printf '{"status":"ok","data":"'
dd if=/dev/zero bs=1000 count=20 2>/dev/null | tr '\0' x
printf '"}'
