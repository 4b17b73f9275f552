#!/usr/bin/env bash
# Runs a command against a throwaway PostgreSQL on loopback:
#
#   test/pg/with-postgres.sh COMMAND [ARGS...]
#
# starts the server (start-postgres.sh), runs COMMAND with BERTH_TEST_PG set to its conninfo,
# stops the server and removes its files, and exits with COMMAND's status. Fails — never
# skips — if the server cannot start (PostgreSQL missing: scripts/setup --test installs it).
# KEEP_PG=1 keeps the server's directory (its log) for a look afterwards.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/berth-pg.XXXXXX)
cleanup() {
  if [[ ${KEEP_PG:-0} == 1 ]]; then
    "$here/stop-postgres.sh" --keep "$dir"
    echo "with-postgres: kept $dir" >&2
  else
    "$here/stop-postgres.sh" "$dir"
  fi
}
trap cleanup EXIT

conninfo=$("$here/start-postgres.sh" "$dir")
echo "with-postgres: server at $conninfo" >&2
status=0
BERTH_TEST_PG=$conninfo "$@" || status=$?
if [[ $status -ne 0 && -f $dir/server.log ]]; then
  echo "with-postgres: tail of the server log:" >&2
  tail -n 30 "$dir/server.log" >&2
fi
exit $status
