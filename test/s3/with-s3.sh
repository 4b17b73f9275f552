#!/usr/bin/env bash
# Runs a command against a throwaway S3 server (Ceph RADOS Gateway) on loopback:
#
#   test/s3/with-s3.sh COMMAND [ARGS...]
#
# starts the server (start-s3.sh) in a new temp directory, runs COMMAND with
#   BERTH_TEST_S3_ENDPOINT           http://127.0.0.1:PORT (path-style addressing)
#   BERTH_TEST_S3_BUCKET             an empty bucket
#   BERTH_TEST_S3_REGION             us-east-1
#   BERTH_TEST_S3_ACCESS_KEY_ID      BERTH_TEST_S3_SECRET_ACCESS_KEY: the bucket owner's keys
#   BERTH_TEST_S3_TLS_ENDPOINT       https://127.0.0.1:PORT2, the same gateway over TLS
#   BERTH_TEST_S3_CA_FILE            the PEM certificate that endpoint presents (self-signed)
# exported, stops the server and removes its files, and exits with COMMAND's status. Fails —
# never skips — if the server cannot start (Ceph missing: scripts/setup --test installs it).
# KEEP_S3=1 keeps the server's directory (its logs) for a look afterwards. Composes with
# test/pg/with-postgres.sh: `test/pg/with-postgres.sh test/s3/with-s3.sh CMD` sees both.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/berth-s3.XXXXXX)
cleanup() {
  if [[ ${KEEP_S3:-0} == 1 ]]; then
    "$here/stop-s3.sh" --keep "$dir"
    echo "with-s3: kept $dir" >&2
  else
    "$here/stop-s3.sh" "$dir"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

endpoint=$("$here/start-s3.sh" "$dir")
. "$dir/env"
echo "with-s3: server at $endpoint, bucket $BERTH_TEST_S3_BUCKET" >&2
status=0
"$@" || status=$?
if [[ $status -ne 0 && -f $dir/log/client.rgw.a.log ]]; then
  echo "with-s3: tail of the radosgw log ($dir/log/client.rgw.a.log):" >&2
  tail -n 30 "$dir/log/client.rgw.a.log" >&2
fi
exit $status
