#!/usr/bin/env bash
# berth on PostgreSQL, end to end: two berth nodes share one PostgreSQL database (and, until
# the S3 blob store lands, one data directory standing in for shared blob storage). skopeo
# pushes through one node and pulls through the other; tags, deletes and the administrator
# key provisioned by the first node are seen by the second; both restart onto the same data.
#
# Needs a server: run it as `test/pg/with-postgres.sh bash test/pg/berth_on_postgres_test.sh`
# (CTest does), which sets BERTH_TEST_PG.
. "$(dirname "$0")/../integration/clients/lib.sh"

[[ -n ${BERTH_TEST_PG:-} ]] || fail "BERTH_TEST_PG is not set: run through test/pg/with-postgres.sh"
PSQL=${PSQL:-/usr/lib/postgresql/15/bin/psql}
psql_q() { "$PSQL" -X -q -At -v ON_ERROR_STOP=1 "$@"; }

step "create the database, point berth at it"
DB=berth_it_$$
run "$PSQL" -X -q -v ON_ERROR_STOP=1 "$BERTH_TEST_PG" -c "CREATE DATABASE $DB TEMPLATE template0"
export BERTH_METADATA_DRIVER=postgres
export BERTH_POSTGRES_URL="$BERTH_TEST_PG dbname=$DB"
export BERTH_POSTGRES_POOL_SIZE=8
# Scheduled GC every second, a 3-second housekeeping lease: one node runs it, the other takes
# over when it dies.
export BERTH_GC_INTERVAL=1s BERTH_LEASE_TTL=3s
DATA=$(mktemp -d "$WORK/data.XXXX")

step "start two nodes on the same database"
BERTH_DATA_DIR=$DATA BERTH_AUDIT_DIR=$WORK/audit-a start_berth
REG_A=$REG PID_A=$BERTH_PID
BERTH_DATA_DIR=$DATA BERTH_AUDIT_DIR=$WORK/audit-b start_berth
REG_B=$REG PID_B=$BERTH_PID
expect_eq "no SQLite database in the data directory" "absent" \
  "$([[ -e $DATA/meta.db ]] && echo present || echo absent)"

step "build test images"
SRC=$WORK/src
IMG=$(make_image "$SRC" v1)
MULTI=$WORK/multi
IDX=$(make_multiarch "$MULTI" v1)

step "push through node A, pull through node B"
REG=$REG_A skopeo_push_layout "$SRC" v1 it/single:v1
REG=$REG_B check_roundtrip it/single:v1 "$SRC" v1
expect_eq "manifest rows in PostgreSQL" 1 \
  "$(psql_q "$BERTH_POSTGRES_URL" -c "SELECT count(*) FROM manifests WHERE repo='it/single'")"

step "multi-arch index through node B, read back through node A"
REG=$REG_B skopeo_push_layout "$MULTI" v1 it/multi:v1 --all
REG=$REG_A
expect_eq "index digest via node A" "$IDX" "$(reg_digest it/multi:v1)"

step "tags and deletes are shared"
REG=$REG_B skopeo_push_layout "$SRC" v1 it/single:v2
REG=$REG_A
expect_eq "tags via node A" "v1 v2" \
  "$(out skopeo_cmd list-tags --tls-verify=false "${SK_CREDS[@]}" "docker://$REG_A/it/single" |
    jq -r '.Tags | join(" ")')"
run skopeo_cmd delete --tls-verify=false "${SK_CREDS[@]}" "docker://$REG_A/it/single@$IMG"
REG=$REG_B
expect_fail skopeo_cmd inspect --raw --tls-verify=false "${SK_CREDS[@]}" \
  "docker://$REG_B/it/single:v1"
pass "deleted through A, gone through B"

step "one chunked upload, its chunks spread over both nodes (A, B, A, then PUT on B)"
head -c 300000 /dev/urandom >"$WORK/chunked.bin"
CHUNK_DIGEST=sha256:$(sha256sum "$WORK/chunked.bin" | cut -d' ' -f1)
hcurl() { curl -s -u "$BERTH_CREDS" "$@"; }
LOC=$(hcurl -X POST -D - -o /dev/null "http://$REG_A/v2/it/chunked/blobs/uploads/" |
  awk 'tolower($1) == "location:" {print $2}' | tr -d '\r')
[[ -n $LOC ]] || fail "no upload location from node A"
off=0
for node in "$REG_A" "$REG_B" "$REG_A"; do
  dd if="$WORK/chunked.bin" of="$WORK/chunk.part" bs=100000 skip=$((off / 100000)) count=1 \
    status=none
  code=$(hcurl -o /dev/null -w '%{http_code}' -X PATCH -H "Content-Type: application/octet-stream" \
    -H "Content-Range: $off-$((off + 99999))" --data-binary @"$WORK/chunk.part" "http://$node$LOC")
  expect_eq "chunk at $off through $node" 202 "$code"
  off=$((off + 100000))
done
SEP='?'
[[ $LOC == *\?* ]] && SEP='&'
expect_eq "PUT ?digest= through node B" 201 "$(hcurl -o /dev/null -w '%{http_code}' -X PUT \
  "http://$REG_B$LOC${SEP}digest=$CHUNK_DIGEST")"
hcurl -o "$WORK/chunked.back" "http://$REG_A/v2/it/chunked/blobs/$CHUNK_DIGEST"
expect_eq "blob pulled through node A" "$CHUNK_DIGEST" \
  "sha256:$(sha256sum "$WORK/chunked.back" | cut -d' ' -f1)"

step "one node runs the scheduled jobs; the other takes over when it dies"
metric() { curl -s "http://$1/metrics" | awk -v m="$2" '$1 == m {print $2}'; }
sleep 4
LA=$(metric "$REG_A" berth_housekeeping_leader)
LB=$(metric "$REG_B" berth_housekeeping_leader)
expect_eq "nodes holding the housekeeping lease" 1 "$((${LA:-0} + ${LB:-0}))"
if [[ $LA == 1 ]]; then
  LEADER_PID=$PID_A FOLLOWER_REG=$REG_B FOLLOWER_PID=$PID_B LEADER_REG=$REG_A
else
  LEADER_PID=$PID_B FOLLOWER_REG=$REG_A FOLLOWER_PID=$PID_A LEADER_REG=$REG_B
fi
RUNS=$(metric "$LEADER_REG" berth_gc_runs_total)
((${RUNS:-0} >= 1)) || fail "the lease holder ran no scheduled GC (runs: ${RUNS:-none})"
pass "the lease holder ran $RUNS scheduled collections"
expect_eq "scheduled collections on the other node" 0 "$(metric "$FOLLOWER_REG" berth_gc_runs_total)"
say "+ kill -KILL $LEADER_PID (the lease holder)"
kill -KILL "$LEADER_PID"
wait "$LEADER_PID" 2>/dev/null || true
STOPPED_PIDS+="$LEADER_PID "
deadline=$((SECONDS + 15))
until [[ $(metric "$FOLLOWER_REG" berth_housekeeping_leader) == 1 &&
         $(metric "$FOLLOWER_REG" berth_gc_runs_total) -ge 1 ]]; do
  ((SECONDS < deadline)) || fail "the surviving node never took over the housekeeping lease"
  sleep 0.5
done
pass "the surviving node took over the lease and collects"

step "restart: the data is in PostgreSQL"
stop_berth "$FOLLOWER_PID"
BERTH_DATA_DIR=$DATA BERTH_AUDIT_DIR=$WORK/audit-a start_berth
expect_eq "index digest after restart" "$IDX" "$(reg_digest it/multi:v1)"
expect_eq "schema migrated once" 1 \
  "$(psql_q "$BERTH_POSTGRES_URL" -c "SELECT count(*) FROM schema_version")"

