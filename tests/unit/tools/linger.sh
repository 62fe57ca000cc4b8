#!/bin/sh
# linger.sh: close stdout and stderr, then keep running: the runner must still
# honour its timeout while waiting for the exit.
exec >&- 2>&-
sleep 10
