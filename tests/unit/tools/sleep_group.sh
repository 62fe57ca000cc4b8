#!/bin/sh
# sleep_group.sh PIDFILE: start a background sleeper (a grandchild of the
# runner, in the same process group), record its pid, then outlast any timeout.
sleep 30 &
echo $! > "$1"
sleep 10
