#!/usr/bin/env bash
# Starts a throwaway PostgreSQL 15 server for tests and prints its conninfo on stdout.
#
#   test/pg/start-postgres.sh DIR      # DIR: a new or empty directory, owned by this run
#   test/pg/stop-postgres.sh DIR       # stops it and removes DIR
#
# The cluster lives in DIR/data (initdb, trust authentication, locale C, fsync off: test data
# only), listens on 127.0.0.1 at a free port and on a Unix socket in DIR; its log is
# DIR/server.log. PostgreSQL refuses to run as root, so under root the server runs as the
# `postgres` user (created by the Debian package) and DIR is handed to it.
#
# Environment: PG_BINDIR (default /usr/lib/postgresql/15/bin).
# Exits non-zero, with the reason on stderr, if PostgreSQL is not installed or will not start.
set -euo pipefail

dir=${1:?usage: start-postgres.sh DIR}
bindir=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
if [[ ! -x $bindir/initdb || ! -x $bindir/pg_ctl ]]; then
  echo "start-postgres: no PostgreSQL in $bindir (install it: scripts/setup --test)" >&2
  exit 1
fi

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
as_server=()
if [[ $(id -u) -eq 0 ]]; then
  if ! id postgres >/dev/null 2>&1; then
    echo "start-postgres: running as root and there is no 'postgres' user to run the server" >&2
    exit 1
  fi
  chown postgres: "$dir"
  as_server=(runuser -u postgres --)
fi
chmod 700 "$dir"

if ! "${as_server[@]}" "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 \
  --locale=C >"$dir/initdb.log" 2>&1; then
  echo "start-postgres: initdb failed:" >&2
  tail -n 20 "$dir/initdb.log" >&2
  exit 1
fi

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# A free port can be taken between probing and binding: try a few.
for attempt in 1 2 3 4 5; do
  port=$(free_port)
  if "${as_server[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-k $dir -p $port -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >"$dir/pg_ctl.log" 2>&1; then
    echo "$port" >"$dir/port"
    echo "host=127.0.0.1 port=$port user=postgres dbname=postgres"
    exit 0
  fi
  echo "start-postgres: attempt $attempt on port $port failed" >&2
done
echo "start-postgres: server did not start:" >&2
tail -n 20 "$dir/server.log" >&2 || true
exit 1
