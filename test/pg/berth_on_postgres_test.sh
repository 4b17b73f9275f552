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

step "restart both nodes: the data is in PostgreSQL"
stop_berth "$PID_A"
stop_berth "$PID_B"
BERTH_DATA_DIR=$DATA BERTH_AUDIT_DIR=$WORK/audit-a start_berth
expect_eq "index digest after restart" "$IDX" "$(reg_digest it/multi:v1)"
expect_eq "schema migrated once" 1 \
  "$(psql_q "$BERTH_POSTGRES_URL" -c "SELECT count(*) FROM schema_version")"

