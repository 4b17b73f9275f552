#!/usr/bin/env bash
# Stops a server started by start-s3.sh DIR and removes DIR (with --keep: leaves DIR, the
# logs included, for a look afterwards). Signals only the pids listed in DIR/pids that still
# run the program named there, one at a time in reverse start order (radosgw, the OSD, the
# monitor: radosgw hangs in its shutdown once the cluster under it is gone): SIGTERM, then
# SIGKILL after 5 s. A clean stop takes well under a second; the data goes either way.
set -uo pipefail

keep=0
if [[ ${1:-} == --keep ]]; then
  keep=1
  shift
fi
dir=${1:?usage: stop-s3.sh [--keep] DIR}

# alive PID: running and not a zombie (the daemons' parent is init, which may reap late).
alive() {
  local st
  st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $st && $st != Z && $st != X ]]
}

if [[ -f $dir/pids ]]; then
  while read -r name pid; do
    [[ -n ${pid:-} ]] || continue
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "${name:0:15}" ]] || continue
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do
      alive "$pid" || break
      sleep 0.1
    done
    if alive "$pid"; then
      echo "stop-s3: $name (pid $pid) still running 5 s after SIGTERM; killed" >&2
      kill -KILL "$pid" 2>/dev/null
    fi
  done < <(tac "$dir/pids")
fi
if [[ $keep == 0 ]]; then
  rm -rf "$dir"
fi
exit 0
