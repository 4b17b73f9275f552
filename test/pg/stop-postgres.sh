#!/usr/bin/env bash
# Stops a server started by start-postgres.sh DIR and removes DIR (with --keep: leaves DIR,
# the server log included, for a look afterwards).
set -uo pipefail

keep=0
if [[ ${1:-} == --keep ]]; then
  keep=1
  shift
fi
dir=${1:?usage: stop-postgres.sh [--keep] DIR}
bindir=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
as_server=()
if [[ $(id -u) -eq 0 ]]; then
  as_server=(runuser -u postgres --)
fi
if [[ -f $dir/data/postmaster.pid ]]; then
  # immediate: the data is thrown away, no need for a shutdown checkpoint.
  "${as_server[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 ||
    echo "stop-postgres: pg_ctl stop failed" >&2
fi
if [[ $keep == 0 ]]; then
  rm -rf "$dir"
fi
