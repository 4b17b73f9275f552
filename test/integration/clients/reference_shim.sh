#!/usr/bin/env bash
# Runs the reference registry (CNCF Distribution 2.8, Debian `docker-registry`) behind
# berth's command line, to check the test scripts themselves:
#
#   BERTH_BIN=$PWD/reference_shim.sh BERTH_HEALTH_PATH=/v2/ ./skopeo_test.sh
#
# Only `serve --listen HOST:PORT --data-dir DIR` is understood; other flags are ignored.
# The data-dir layout differs from berth's, so crash_test.sh needs
# BERTH_UPLOADS_REL=docker/registry/v2/repositories BERTH_BLOBS_REL=docker/registry/v2/blobs.
# Distribution does not implement everything berth must (e.g. it answers some requests
# with non-spec codes): a failure here is not automatically a script bug.
set -euo pipefail
[[ ${1:-} == serve ]] || { echo "usage: $0 serve --listen HOST:PORT --data-dir DIR" >&2; exit 2; }
shift
listen="" data=""
while (($#)); do
  case $1 in
    --listen) listen=$2; shift 2 ;;
    --listen=*) listen=${1#*=}; shift ;;
    --data-dir) data=$2; shift 2 ;;
    --data-dir=*) data=${1#*=}; shift ;;
    *) shift ;;
  esac
done
[[ -n $listen && -n $data ]] || { echo "need --listen and --data-dir" >&2; exit 2; }
mkdir -p "$data"
cat >"$data/.reference-config.yml" <<EOF
version: 0.1
log:
  level: ${REFERENCE_LOG_LEVEL:-info}
storage:
  filesystem:
    rootdirectory: $data
  delete:
    enabled: true
http:
  addr: $listen
EOF
exec docker-registry serve "$data/.reference-config.yml"
