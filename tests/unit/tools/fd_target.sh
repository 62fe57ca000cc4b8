#!/bin/sh
# fd_target.sh FD: what descriptor FD of this process refers to (empty when closed).
readlink "/proc/$$/fd/$1" || true
