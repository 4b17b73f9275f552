#!/usr/bin/env bash
# berth on S3 and PostgreSQL, end to end: three berth nodes, each with its own data directory
# (nothing shared on disk but the master key file), share one PostgreSQL database and one S3
# bucket. Nodes 1 and 2 read the storage settings from a YAML config file, node 3 from BERTH_*
# environment variables; the S3 credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.
#
#   a. skopeo pushes a multi-layer image (layers above and below the multipart part size)
#      through node 1; nodes 2 and 3 serve it byte-identical; an index pushed through node 2
#      reads back through nodes 1 and 3.
#   b. one chunked upload whose PATCHes (several MiB, not multiples of 5 MiB, one small chunk
#      in the middle) go to nodes 1, 2, 3, 2, 3, closed with PUT ?digest= on node 1; every node
#      serves the same bytes.
#   c. node 3 is SIGKILLed while a rate-limited 64 MiB PATCH streams into it; the push is
#      retried through node 1 (resuming the session from the offset the nodes report, or a
#      fresh upload when the session is gone); nodes 1 and 2 serve the blob; node 3 restarts
#      and serves it too.
#   d. exactly one node holds the housekeeping lease; its scheduled lifecycle run expires an
#      image and its scheduled GC deletes that image's blobs from the bucket (checked with
#      `aws s3api list-objects-v2`), and no other node runs either job.
#   e. every image pulls byte-identical from every node; no node has blob files on disk;
#      every object in the bucket is under the configured prefix.
#   f. a fourth node with BERTH_S3_REDIRECT=true and BERTH_ENCRYPTION_AT_REST=false creates a
#      plaintext repository on push; it answers blob GETs of that repository with 307 to a
#      presigned (path-style, 20-minute) S3 URL, which curl -L and skopeo follow, and hands
#      out that URL from GetDownloadUrlForLayer; HEAD is not redirected, nor are GETs of an
#      encrypted repository (whose download URL is berth's own); the nodes without the
#      redirect serve the plaintext repository's bytes themselves.
#
# Needs both servers: run it as
#   BERTH_BIN=build/berth test/pg/with-postgres.sh test/s3/with-s3.sh bash test/s3/berth_on_s3_test.sh
# which sets BERTH_TEST_PG and BERTH_TEST_S3_*.
# Knobs: S3_IT_CRASH_SIZE (default 64 MiB), S3_IT_CRASH_RATE (curl --limit-rate, default 8M),
# S3_IT_GC_GRACE (BERTH_GC_GRACE_PERIOD of the nodes, default 20s), S3_IT_GC_TIMEOUT (seconds
# to wait for the lifecycle + GC, default 120).
. "$(dirname "$0")/../integration/clients/lib.sh"

[[ -n ${BERTH_TEST_PG:-} ]] || fail "BERTH_TEST_PG is not set: run through test/pg/with-postgres.sh"
for v in ENDPOINT BUCKET REGION ACCESS_KEY_ID SECRET_ACCESS_KEY; do
  v=BERTH_TEST_S3_$v
  [[ -n ${!v:-} ]] || fail "$v is not set: run through test/s3/with-s3.sh"
done
require_cmds aws dd
PSQL=${PSQL:-/usr/lib/postgresql/15/bin/psql}
CRASH_SIZE=${S3_IT_CRASH_SIZE:-67108864}
CRASH_RATE=${S3_IT_CRASH_RATE:-8M}
GC_TIMEOUT=${S3_IT_GC_TIMEOUT:-120}
# Starting a node includes connecting to the bucket; the machine is shared with Ceph and
# PostgreSQL.
BERTH_START_TIMEOUT=${BERTH_START_TIMEOUT:-60}

# --------------------------------------------------------------------------------------
# helpers

MIB=1048576
# s3api ARGS...: `aws s3api` against the test bucket's server with its owner's keys; prints
# stdout.
s3api() {
  AWS_ACCESS_KEY_ID=$BERTH_TEST_S3_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$BERTH_TEST_S3_SECRET_ACCESS_KEY \
    AWS_SESSION_TOKEN='' AWS_DEFAULT_REGION=$BERTH_TEST_S3_REGION AWS_CONFIG_FILE=/dev/null \
    AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true AWS_PAGER='' \
    out aws s3api --endpoint-url "$BERTH_TEST_S3_ENDPOINT" --output json "$@"
}
# bucket_keys [PREFIX]: every object key in the bucket (under PREFIX), one per line, sorted.
bucket_keys() {
  s3api list-objects-v2 --bucket "$BERTH_TEST_S3_BUCKET" --prefix "${1:-}" |
    jq -r '(.Contents // [])[].Key' | sort
}
# ecr NODE ARGS...: `aws ecr` against berth node NODE (1-4) as the administrator.
ecr() {
  local n=$1
  shift
  AWS_ACCESS_KEY_ID=$BERTH_ADMIN_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$BERTH_ADMIN_SECRET_ACCESS_KEY \
    AWS_SESSION_TOKEN='' AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null \
    AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true AWS_PAGER='' \
    AWS_MAX_ATTEMPTS=1 out aws ecr --endpoint-url "http://${NODE_REG[$n]}" --output json "$@"
}
# metric NODE NAME: a sample of /metrics of node NODE (empty when absent).
metric() { curl -s -m 10 "http://${NODE_REG[$1]}/metrics" | awk -v m="$2" '$1 == m {print $2}'; }
# metric0 NODE NAME: the same, 0 when absent (counters not yet incremented).
metric0() {
  local v
  v=$(metric "$1" "$2")
  echo "${v:-0}"
}
# http_requests NODE ROUTE METHOD STATUS: berth_http_requests_total of that route, method and
# status on NODE (0 when absent).
http_requests() {
  curl -s -m 10 "http://${NODE_REG[$1]}/metrics" |
    awk -v r="route=\"$2\"" -v m="method=\"$3\"" -v s="status=\"$4\"" '
      index($1, "berth_http_requests_total{") == 1 && index($1, r) && index(tolower($1), tolower(m)) &&
        index($1, s) {n += $2}
      END {print n + 0}'
}
# hdr FILE NAME: the value of header NAME in a curl -D dump.
hdr() { tr -d '\r' <"$1" | awk -v h="$(tr '[:upper:]' '[:lower:]' <<<"$2"):" 'tolower($1) == h {print $2}' | tail -n1; }
# upload_path NODE REPO: POST /v2/REPO/blobs/uploads/ on NODE; prints the upload's path (with
# query), which any node accepts.
upload_path() {
  local h=$WORK/post.hdr code loc
  code=$(curl -sS -o /dev/null -D "$h" -w '%{http_code}' -X POST -m 30 "${CURL_AUTH[@]}" \
    "http://${NODE_REG[$1]}/v2/$2/blobs/uploads/")
  [[ $code == 202 ]] || { cat "$h" >&2; fail "POST /v2/$2/blobs/uploads/ on node $1: expected 202, got $code"; }
  loc=$(hdr "$h" location)
  [[ -n $loc ]] || fail "POST /v2/$2/blobs/uploads/ on node $1: 202 without a Location header"
  url_path "$loc"
}
# url_path URL_OR_PATH: the path (and query) of a Location header value.
url_path() {
  if [[ $1 == http*://* ]]; then echo "/${1#http*://*/}"; else echo "$1"; fi
}
# with_digest PATH DIGEST
with_digest() { if [[ $1 == *\?* ]]; then echo "$1&digest=$2"; else echo "$1?digest=$2"; fi; }
# put_blob NODE REPO FILE: POST + monolithic PUT ?digest= of FILE through NODE; must be 201.
put_blob() {
  local path dg code
  path=$(upload_path "$1" "$2")
  dg=$(sha256_file "$3")
  code=$(curl -sS -o "$WORK/put.body" -w '%{http_code}' -X PUT -m 300 "${CURL_AUTH[@]}" \
    -H 'Content-Type: application/octet-stream' --data-binary @"$3" \
    "http://${NODE_REG[$1]}$(with_digest "$path" "$dg")")
  [[ $code == 201 ]] || { cat "$WORK/put.body" >&2; fail "monolithic upload of $dg to $2 through node $1: expected 201, got $code"; }
}
# put_manifest NODE REPO TAG LAYOUT: PUTs the manifest LAYOUT names TAG (its blobs must be in
# the registry already); must be 201.
put_manifest() {
  local dg f code
  dg=$(layout_digest "$4" "$3")
  f=$(layout_blob "$4" "$dg")
  code=$(curl -sS -o "$WORK/manifest.body" -w '%{http_code}' -X PUT -m 60 "${CURL_AUTH[@]}" \
    -H "Content-Type: $(jq -r .mediaType "$f")" --data-binary @"$f" \
    "http://${NODE_REG[$1]}/v2/$2/manifests/$3")
  [[ $code == 201 ]] || {
    cat "$WORK/manifest.body" >&2
    grep -q MANIFEST_BLOB_UNKNOWN "$WORK/manifest.body" &&
      say "(its blobs were uploaded with 201 just before: did a scheduled GC collect them? BERTH_GC_GRACE_PERIOD=$BERTH_GC_GRACE_PERIOD; see 'garbage collection' in the node logs)" >&2
    fail "PUT manifest $2:$3 through node $1: expected 201, got $code"
  }
}
# get_blob_digest NODE REPO DIGEST: sha256 of the bytes GET /v2/REPO/blobs/DIGEST returns from
# NODE (following a redirect to S3, should one come).
get_blob_digest() {
  local f=$WORK/get.blob code
  code=$(curl -sS -L -o "$f" -w '%{http_code}' -m 300 "${CURL_AUTH[@]}" \
    "http://${NODE_REG[$1]}/v2/$2/blobs/$3") || code="curl failed ($?)"
  if [[ $code != 200 ]]; then
    echo "HTTP $code: $(head -c 300 "$f" 2>/dev/null)"
  else
    sha256_file "$f"
  fi
  rm -f "$f"
}
# stored_key DIGEST: the object key of DIGEST's bytes in an AES256-encrypted repository:
# blobs are stored under a digest derived from (the service key id, digest).
stored_key() {
  local h
  h=$({ printf 'berth-key-domain/v1\0%s\0%s' "$SERVICE_KEY_ID" "$1"; } | openssl dgst -sha256 -r |
    awk '{print $1}')
  echo "${S3_PREFIX}blobs/sha256/${h:0:2}/$h"
}
# make_layers_image DIR TAG SIZE...: an image with one raw tar layer per SIZE (a random file
# of SIZE bytes each) in the OCI layout DIR under TAG; prints the manifest digest.
make_layers_image() {
  python3 - "$@" <<'PY'
import hashlib, io, json, os, sys, tarfile

d, tag, sizes = sys.argv[1], sys.argv[2], [int(s) for s in sys.argv[3:]]
os.makedirs(os.path.join(d, "blobs", "sha256"), exist_ok=True)
if not os.path.exists(os.path.join(d, "oci-layout")):
    with open(os.path.join(d, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
index_path = os.path.join(d, "index.json")
index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
         "manifests": []}
if os.path.exists(index_path):
    with open(index_path) as f:
        index = json.load(f)


def put(data):
    h = hashlib.sha256(data).hexdigest()
    with open(os.path.join(d, "blobs", "sha256", h), "wb") as f:
        f.write(data)
    return "sha256:" + h, len(data)


layers = []
for i, n in enumerate(sizes):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        ti = tarfile.TarInfo("layer-%d/random.bin" % i)
        ti.size, ti.mtime, ti.mode = n, 1700000000, 0o644
        t.addfile(ti, io.BytesIO(os.urandom(n)))
    dg, sz = put(buf.getvalue())
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": dg, "size": sz})
config = {"architecture": "amd64", "os": "linux",
          "config": {"Labels": {"berth.test": os.urandom(8).hex()}},
          "rootfs": {"type": "layers", "diff_ids": [l["digest"] for l in layers]}}
cdg, csz = put(json.dumps(config).encode())
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": cdg, "size": csz},
            "layers": layers}
mdg, msz = put(json.dumps(manifest, indent=2).encode())
ref = "org.opencontainers.image.ref.name"
index["manifests"] = [m for m in index["manifests"] if m.get("annotations", {}).get(ref) != tag]
index["manifests"].append({"mediaType": manifest["mediaType"], "digest": mdg, "size": msz,
                           "annotations": {ref: tag}})
with open(index_path, "w") as f:
    json.dump(index, f)
print(mdg)
PY
}

# --------------------------------------------------------------------------------------
# nodes

NODE_REG=() NODE_PID=() NODE_DATA=()
# start_node N: node N (1-4) on its own data directory, $WORK/node-N. Node 4 redirects blob
# GETs of plaintext repositories to S3 and creates repositories unencrypted.
start_node() {
  local n=$1
  NODE_DATA[n]=$WORK/node-$n
  mkdir -p "${NODE_DATA[$n]}"
  if ((n == 4)); then
    BERTH_DATA_DIR=${NODE_DATA[$n]} BERTH_STORAGE_DRIVER=s3 \
      BERTH_S3_ENDPOINT=$BERTH_TEST_S3_ENDPOINT BERTH_S3_REGION=$BERTH_TEST_S3_REGION \
      BERTH_S3_BUCKET=$BERTH_TEST_S3_BUCKET BERTH_S3_PREFIX=$S3_PREFIX BERTH_S3_PATH_STYLE=true \
      BERTH_S3_REDIRECT=true BERTH_ENCRYPTION_AT_REST=false start_berth
  elif ((n == 3)); then
    BERTH_DATA_DIR=${NODE_DATA[$n]} BERTH_STORAGE_DRIVER=s3 \
      BERTH_S3_ENDPOINT=$BERTH_TEST_S3_ENDPOINT BERTH_S3_REGION=$BERTH_TEST_S3_REGION \
      BERTH_S3_BUCKET=$BERTH_TEST_S3_BUCKET BERTH_S3_PREFIX=$S3_PREFIX BERTH_S3_PATH_STYLE=true \
      BERTH_S3_REDIRECT=false start_berth
  else
    BERTH_DATA_DIR=${NODE_DATA[$n]} start_berth --config "$CONFIG"
  fi
  NODE_REG[n]=$REG
  NODE_PID[n]=$BERTH_PID
  say "    node $n: http://$REG, pid $BERTH_PID"
}
# alive_nodes: the numbers of the nodes running now.
alive_nodes() {
  local n
  for n in 1 2 3; do
    [[ -n ${NODE_PID[$n]:-} && $STOPPED_PIDS != *" ${NODE_PID[$n]} "* ]] && is_alive "${NODE_PID[$n]}" &&
      printf '%s ' "$n"
  done
  return 0
}
# leader: the node holding the housekeeping lease, once exactly one running node says it
# does (within 30 s); fails otherwise.
leader() {
  local deadline=$((SECONDS + 30)) n holders
  while :; do
    holders=()
    for n in $(alive_nodes); do
      [[ $(metric "$n" berth_housekeeping_leader) == 1 ]] && holders+=("$n")
    done
    if ((${#holders[@]} == 1)); then
      echo "${holders[0]}"
      return 0
    fi
    ((SECONDS < deadline)) ||
      fail "nodes holding the housekeeping lease: expected exactly 1 of nodes $(alive_nodes), got ${#holders[@]} (${holders[*]:-none})"
    sleep 0.5
  done
}

# --------------------------------------------------------------------------------------
step "set up: a database, a bucket prefix, a shared master key, the storage config"
DB=berth_s3_it_$$
run "$PSQL" -X -q -v ON_ERROR_STOP=1 "$BERTH_TEST_PG" -c "CREATE DATABASE $DB TEMPLATE template0"
export BERTH_METADATA_DRIVER=postgres
export BERTH_POSTGRES_URL="$BERTH_TEST_PG dbname=$DB"
export BERTH_POSTGRES_POOL_SIZE=8
# Scheduled lifecycle and GC every 2 s on the lease holder; a 6-second lease; blobs younger than
# the grace period (20 s) are never collected: every blob this script uploads is referenced by
# a manifest within seconds of its upload's completion, except the ones step d wants collected.
export BERTH_LIFECYCLE_INTERVAL=2s BERTH_GC_INTERVAL=2s BERTH_LEASE_TTL=6s
export BERTH_GC_GRACE_PERIOD=${S3_IT_GC_GRACE:-20s}
# Every node opens the KMS keys and access-key secrets in the database with this key.
MASTER_KEY=$WORK/master.key
head -c 32 /dev/urandom >"$MASTER_KEY"
chmod 600 "$MASTER_KEY"
export BERTH_MASTER_KEY_FILE=$MASTER_KEY
# berth's S3 credentials.
export AWS_ACCESS_KEY_ID=$BERTH_TEST_S3_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$BERTH_TEST_S3_SECRET_ACCESS_KEY
unset AWS_SESSION_TOKEN AWS_PROFILE
S3_PREFIX=it-$$/berth/
CONFIG=$WORK/berth.yml
cat >"$CONFIG" <<EOF
storage:
  driver: s3
  s3:
    endpoint: $BERTH_TEST_S3_ENDPOINT
    region: $BERTH_TEST_S3_REGION
    bucket: $BERTH_TEST_S3_BUCKET
    prefix: $S3_PREFIX
    path_style: true
    redirect: false
EOF
say "    bucket $BERTH_TEST_S3_BUCKET at $BERTH_TEST_S3_ENDPOINT, prefix $S3_PREFIX"

step "start three nodes: 1 and 2 configured by $CONFIG, 3 by BERTH_S3_* variables"
start_node 1
start_node 2
start_node 3
for n in 1 2 3; do
  expect_eq "node $n: no SQLite database in its data directory" absent \
    "$([[ -e ${NODE_DATA[$n]}/meta.db ]] && echo present || echo absent)"
done
SERVICE_KEY_ID=""

# ======================================================================================
step "a. skopeo: a multi-layer image through node 1, pulled through nodes 2 and 3"
SRC=$WORK/src
# Layers below, at about and above the 8 MiB default part size, and one of 2.5 parts.
IMG_A=$(make_layers_image "$SRC" layers 3000 $((5 * MIB)) $((8 * MIB + 4097)) $((21 * MIB + 7)))
say "    image $IMG_A: $(layout_layers "$SRC" "$IMG_A" | wc -l) layers"
REG=${NODE_REG[1]} skopeo_push_layout "$SRC" layers it/layers:v1
REG=${NODE_REG[2]} check_roundtrip it/layers:v1 "$SRC" layers
REG=${NODE_REG[3]} check_roundtrip it/layers:v1 "$SRC" layers
for dg in $(layout_layers "$SRC" "$IMG_A") $(layout_config "$SRC" "$IMG_A"); do
  for n in 1 2 3; do
    [[ $(get_blob_digest "$n" it/layers "$dg") == "$dg" ]] ||
      fail "a. GET of blob $dg of it/layers through node $n: $(get_blob_digest "$n" it/layers "$dg")"
  done
done
pass "a. every blob of it/layers:v1 hashes to its digest through nodes 1, 2 and 3 (curl GET)"
MULTI=$WORK/multi
IDX=$(make_multiarch "$MULTI" v1)
REG=${NODE_REG[2]} skopeo_push_layout "$MULTI" v1 it/multi:v1 --all
expect_eq "a. index digest of it/multi:v1 (pushed through node 2) via node 1" "$IDX" \
  "$(REG=${NODE_REG[1]} reg_digest it/multi:v1)"
expect_eq "a. index digest of it/multi:v1 via node 3" "$IDX" "$(REG=${NODE_REG[3]} reg_digest it/multi:v1)"
NOBJ=$(bucket_keys "${S3_PREFIX}blobs/" | wc -l)
((NOBJ >= 5)) || fail "a. the bucket holds $NOBJ objects under ${S3_PREFIX}blobs/ after the pushes (expected the blobs there)"
pass "a. the bucket holds $NOBJ objects under ${S3_PREFIX}blobs/"

# ======================================================================================
step "b. one chunked upload, PATCHes through nodes 1, 2, 3, 2, 3, PUT ?digest= through node 1"
# Sizes: not multiples of 5 MiB, one small chunk (< 5 MiB) in the middle, one exactly 5 MiB.
CHUNKS=($((7 * MIB + 12345)) $((2 * MIB + 17)) $((5 * MIB)) $((6 * MIB + 999)) $((3 * MIB + 1)))
CHUNK_NODES=(1 2 3 2 3)
TOTAL=0
for s in "${CHUNKS[@]}"; do TOTAL=$((TOTAL + s)); done
random_file "$WORK/chunked.bin" "$TOTAL"
CHUNKED_DIGEST=$(sha256_file "$WORK/chunked.bin")
say "    $TOTAL bytes, $CHUNKED_DIGEST"
UPATH=$(upload_path 1 it/chunked)
off=0
for i in "${!CHUNKS[@]}"; do
  n=${CHUNK_NODES[$i]} len=${CHUNKS[$i]}
  dd if="$WORK/chunked.bin" of="$WORK/chunk.part" bs=1M skip="$off" count="$len" \
    iflag=skip_bytes,count_bytes status=none
  code=$(curl -sS -o "$WORK/patch.body" -D "$WORK/patch.hdr" -w '%{http_code}' -X PATCH -m 120 \
    "${CURL_AUTH[@]}" -H 'Content-Type: application/octet-stream' \
    -H "Content-Range: $off-$((off + len - 1))" --data-binary @"$WORK/chunk.part" \
    "http://${NODE_REG[$n]}$UPATH")
  [[ $code == 202 ]] || { cat "$WORK/patch.hdr" "$WORK/patch.body" >&2; fail "b. PATCH of bytes $off-$((off + len - 1)) ($len) through node $n: expected 202, got $code"; }
  range=$(hdr "$WORK/patch.hdr" range)
  expect_eq "b. Range after the PATCH of $len bytes through node $n" "0-$((off + len - 1))" "${range#bytes=}"
  loc=$(hdr "$WORK/patch.hdr" location)
  [[ -n $loc ]] && UPATH=$(url_path "$loc")
  off=$((off + len))
done
code=$(curl -sS -o "$WORK/put.body" -w '%{http_code}' -X PUT -m 120 "${CURL_AUTH[@]}" \
  "http://${NODE_REG[1]}$(with_digest "$UPATH" "$CHUNKED_DIGEST")")
[[ $code == 201 ]] || { cat "$WORK/put.body" >&2; fail "b. PUT ?digest= through node 1 closing the spread upload: expected 201, got $code"; }
pass "b. PUT ?digest=$CHUNKED_DIGEST through node 1: 201"
# An image around the blob right away (the GC grace period is 20 s).
CHUNKED_SRC=$WORK/chunked-src
cp "$WORK/chunked.bin" "$WORK/chunked.copy"
CHUNKED_IMG=$(make_image_from_file "$CHUNKED_SRC" v1 "$WORK/chunked.copy")
put_blob 1 it/chunked "$(layout_blob "$CHUNKED_SRC" "$(layout_config "$CHUNKED_SRC" "$CHUNKED_IMG")")"
put_manifest 1 it/chunked v1 "$CHUNKED_SRC"
for n in 1 2 3; do
  expect_eq "b. sha256 of the spread upload's blob through node $n" "$CHUNKED_DIGEST" \
    "$(get_blob_digest "$n" it/chunked "$CHUNKED_DIGEST")"
done
OFF=$((7 * MIB + 12345 - 100))
want=$(dd if="$WORK/chunked.bin" bs=1M skip="$OFF" count=200000 iflag=skip_bytes,count_bytes status=none | sha256_stdin)
got=$(curl -fsS -L -m 60 "${CURL_AUTH[@]}" -H "Range: bytes=$OFF-$((OFF + 199999))" \
  "http://${NODE_REG[2]}/v2/it/chunked/blobs/$CHUNKED_DIGEST" | sha256_stdin)
expect_eq "b. ranged GET across the first chunk boundary through node 2" "$want" "$got"

# ======================================================================================
step "c. SIGKILL node 3 while a $CRASH_SIZE-byte PATCH streams into it; retry through node 1"
random_file "$WORK/big.bin" "$CRASH_SIZE"
BIG_DIGEST=$(sha256_file "$WORK/big.bin")
say "    $BIG_DIGEST"
CPATH=$(upload_path 3 it/crash)
say "+ curl -X PATCH --limit-rate $CRASH_RATE -T big.bin http://${NODE_REG[3]}$CPATH &"
curl -sS -o "$WORK/crash.body" -w 'HTTP %{http_code}\n' --limit-rate "$CRASH_RATE" -m 300 \
  "${CURL_AUTH[@]}" -X PATCH -H 'Content-Type: application/octet-stream' \
  -H 'Transfer-Encoding: chunked' -T "$WORK/big.bin" "http://${NODE_REG[3]}$CPATH" \
  >"$WORK/crash.out" 2>&1 &
CURL_PID=$!
EXTRA_PIDS+=("$CURL_PID")
# Kill it once some parts' worth has streamed (at the default 8 MiB/s, 3.5 s is ~28 MiB: past
# the first parts, well before the end).
sleep 3.5
is_alive "$CURL_PID" ||
  fail "c. the streaming PATCH ended before node 3 was killed ($(cat "$WORK/crash.out")); lower S3_IT_CRASH_RATE"
say "    under ${S3_PREFIX}uploads/ in the bucket now: $(bucket_keys "${S3_PREFIX}uploads/" | wc -l) objects; multipart uploads in progress: $(s3api list-multipart-uploads --bucket "$BERTH_TEST_S3_BUCKET" | jq '(.Uploads // []) | length')"
kill9_berth "${NODE_PID[3]}"
deadline=$((SECONDS + 30))
while is_alive "$CURL_PID" && ((SECONDS < deadline)); do sleep 0.1; done
is_alive "$CURL_PID" && kill "$CURL_PID"
rc=0
wait "$CURL_PID" || rc=$?
[[ $rc != 0 || $(tail -n1 "$WORK/crash.out") != "HTTP 202" ]] ||
  fail "c. the streaming PATCH completed (202) although node 3 was killed during it"
pass "c. node 3 killed mid-PATCH (curl exit $rc: $(tail -n1 "$WORK/crash.out"))"
for n in 1 2; do
  expect_eq "c. node $n answers /v2/ after node 3 died" 200 \
    "$(curl -s -o /dev/null -w '%{http_code}' -m 10 "${CURL_AUTH[@]}" "http://${NODE_REG[$n]}/v2/")"
done
# Resume the session from what the other nodes report, or start over when it is gone.
t0=$SECONDS
code=$(curl -sS -o "$WORK/status.body" -D "$WORK/status.hdr" -w '%{http_code}' -m 120 \
  "${CURL_AUTH[@]}" "http://${NODE_REG[1]}$CPATH") || code="no answer (curl exit $?)"
say "    GET of the interrupted session through node 1: $code after $((SECONDS - t0)) s"
case $code in
  204)
    range=$(hdr "$WORK/status.hdr" range)
    range=${range#bytes=}
    [[ $range =~ ^0-([0-9]+)$ || $range == "" ]] ||
      fail "c. GET of the interrupted upload through node 1: 204 with Range '$range' (want 0-<last byte>)"
    next=0
    [[ $range =~ ^0-([0-9]+)$ ]] && next=$((BASH_REMATCH[1] + 1))
    ((next < CRASH_SIZE)) || fail "c. the interrupted upload claims $next of $CRASH_SIZE bytes"
    say "    the session survives on node 1 at byte $next (Range: ${range:-none}); resuming there"
    pass "c. upload status of the interrupted session through node 1: 204, $next bytes"
    dd if="$WORK/big.bin" of="$WORK/rest.bin" bs=1M skip="$next" iflag=skip_bytes status=none
    code=$(curl -sS -o "$WORK/resume.body" -D "$WORK/resume.hdr" -w '%{http_code}' -X PATCH -m 300 \
      "${CURL_AUTH[@]}" -H 'Content-Type: application/octet-stream' \
      -H "Content-Range: $next-$((CRASH_SIZE - 1))" --data-binary @"$WORK/rest.bin" \
      "http://${NODE_REG[1]}$CPATH")
    [[ $code == 202 ]] || { cat "$WORK/resume.hdr" "$WORK/resume.body" >&2; fail "c. resuming PATCH $next-$((CRASH_SIZE - 1)) through node 1: expected 202, got $code"; }
    loc=$(hdr "$WORK/resume.hdr" location)
    [[ -n $loc ]] && CPATH=$(url_path "$loc")
    code=$(curl -sS -o "$WORK/resume.body" -w '%{http_code}' -X PUT -m 300 "${CURL_AUTH[@]}" \
      "http://${NODE_REG[1]}$(with_digest "$CPATH" "$BIG_DIGEST")")
    [[ $code == 201 ]] || { cat "$WORK/resume.body" >&2; fail "c. PUT ?digest= closing the resumed session through node 1: expected 201, got $code (the bytes the nodes kept do not add up to the blob?)"; }
    pass "c. the resumed session completed through node 1: 201"
    rm -f "$WORK/rest.bin"
    ;;
  404)
    say "    the interrupted session is gone (404 through node 1); a fresh upload through node 1"
    pass "c. upload status of the interrupted session through node 1: 404 (no server error)"
    put_blob 1 it/crash "$WORK/big.bin"
    pass "c. a fresh upload of the blob through node 1: 201"
    ;;
  *)
    say "objects of the interrupted session in the bucket (key, size):" >&2
    s3api list-objects-v2 --bucket "$BERTH_TEST_S3_BUCKET" --prefix "${S3_PREFIX}uploads/$(basename "${CPATH%%\?*}")" |
      jq -r '(.Contents // [])[] | "    \(.Key) \(.Size)"' >&2
    fail "c. GET of the interrupted upload session through node 1: expected 204 (resumable) or 404 (gone), got $code after $((SECONDS - t0)) s: $(head -c 300 "$WORK/status.body" 2>/dev/null)" ;;
esac
CRASH_SRC=$WORK/crash-src
cp "$WORK/big.bin" "$WORK/big.copy"
CRASH_IMG=$(make_image_from_file "$CRASH_SRC" v1 "$WORK/big.copy")
put_blob 1 it/crash "$(layout_blob "$CRASH_SRC" "$(layout_config "$CRASH_SRC" "$CRASH_IMG")")"
put_manifest 1 it/crash v1 "$CRASH_SRC"
for n in 1 2; do
  expect_eq "c. sha256 of the retried blob through node $n" "$BIG_DIGEST" \
    "$(get_blob_digest "$n" it/crash "$BIG_DIGEST")"
done
step "c. restart node 3 on its data directory"
start_node 3
expect_eq "c. sha256 of the retried blob through the restarted node 3" "$BIG_DIGEST" \
  "$(get_blob_digest 3 it/crash "$BIG_DIGEST")"
REG=${NODE_REG[3]} check_roundtrip it/layers:v1 "$SRC" layers

# ======================================================================================
step "d. one housekeeping node: scheduled lifecycle expires an image, scheduled GC removes its blobs"
LEADER=$(leader)
pass "d. exactly one node holds the housekeeping lease: node $LEADER"
for n in 1 2 3; do
  [[ $n == "$LEADER" ]] && continue
  expect_eq "d. scheduled GC runs on node $n (not the lease holder)" 0 "$(metric0 "$n" berth_gc_runs_total)"
done
GCSRC=$WORK/gc-src
GC_OLD=$(make_image "$GCSRC" gc-1)
GC_NEW=$(make_image "$GCSRC" gc-2)
REG=${NODE_REG[2]} skopeo_push_layout "$GCSRC" gc-1 it/gc:gc-1
sleep 1.1   # the lifecycle rule orders images by push time
REG=${NODE_REG[3]} skopeo_push_layout "$GCSRC" gc-2 it/gc:gc-2
SERVICE_KEY_ID=$(out "$BERTH_BIN" admin --data-dir "${NODE_DATA[1]}" key describe alias/berth/aes256 |
  jq -r .KeyId)
[[ -n $SERVICE_KEY_ID && $SERVICE_KEY_ID != null ]] || fail "d. no id for the AES256 service key"
VICTIMS=() KEEPERS=()
for dg in $(layout_layers "$GCSRC" "$GC_OLD") $(layout_config "$GCSRC" "$GC_OLD"); do
  VICTIMS+=("$(stored_key "$dg")")
done
for dg in $(layout_layers "$GCSRC" "$GC_NEW") $(layout_config "$GCSRC" "$GC_NEW"); do
  KEEPERS+=("$(stored_key "$dg")")
done
KEYS=$(bucket_keys "${S3_PREFIX}blobs/")
for k in "${VICTIMS[@]}" "${KEEPERS[@]}"; do
  grep -qxF "$k" <<<"$KEYS" || {
    say "objects under ${S3_PREFIX}blobs/ (first 20):" >&2
    head -n 20 <<<"$KEYS" >&2
    fail "d. object $k (a blob of it/gc, service key $SERVICE_KEY_ID) is not in the bucket"
  }
done
pass "d. the ${#VICTIMS[@]} blobs of gc-1 and ${#KEEPERS[@]} of gc-2 are in the bucket under their derived keys"
declare -A RUNS0 EXPIRED0 DELETED0
for n in 1 2 3; do
  RUNS0[$n]=$(metric0 "$n" berth_gc_runs_total)
  EXPIRED0[$n]=$(metric0 "$n" berth_lifecycle_images_expired_total)
  DELETED0[$n]=$(metric0 "$n" berth_gc_blobs_deleted_total)
done
ecr 1 put-lifecycle-policy --repository-name it/gc --lifecycle-policy-text \
  '{"rules":[{"rulePriority":1,"description":"keep the newest gc- image","selection":{"tagStatus":"tagged","tagPrefixList":["gc-"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}' \
  >/dev/null
pass "d. lifecycle policy on it/gc put through node 1"
t0=$SECONDS
deadline=$((SECONDS + GC_TIMEOUT))
while :; do
  KEYS=$(bucket_keys "${S3_PREFIX}blobs/")
  left=0
  for k in "${VICTIMS[@]}"; do grep -qxF "$k" <<<"$KEYS" && left=$((left + 1)); done
  ((left == 0)) && break
  ((SECONDS < deadline)) || {
    for n in 1 2 3; do
      say "node $n: leader=$(metric "$n" berth_housekeeping_leader) gc_runs=$(metric0 "$n" berth_gc_runs_total) expired=$(metric0 "$n" berth_lifecycle_images_expired_total) blobs_deleted=$(metric0 "$n" berth_gc_blobs_deleted_total)" >&2
    done
    say "images in it/gc: $(ecr 1 list-images --repository-name it/gc | jq -c '[.imageIds[].imageTag]')" >&2
    fail "d. $left of the ${#VICTIMS[@]} blobs of the expired image gc-1 are still in the bucket after ${GC_TIMEOUT}s"
  }
  sleep 1
done
pass "d. the blobs of gc-1 are gone from the bucket $((SECONDS - t0)) s after the policy was put"
KEYS=$(bucket_keys "${S3_PREFIX}blobs/")
for k in "${KEEPERS[@]}"; do
  grep -qxF "$k" <<<"$KEYS" || fail "d. object $k of the kept image gc-2 was deleted from the bucket"
done
pass "d. the blobs of gc-2 are still in the bucket"
for n in 1 2 3; do
  expect_eq "d. HEAD manifest it/gc:gc-1 through node $n" 404 \
    "$(http_status HEAD "http://${NODE_REG[$n]}/v2/it/gc/manifests/gc-1" \
      -H 'Accept: application/vnd.oci.image.manifest.v1+json')"
done
LEADER_NOW=$(leader)
expect_eq "d. the lease holder after the collection" "$LEADER" "$LEADER_NOW"
expect_eq "d. images expired by the lease holder (node $LEADER)" 1 \
  "$(($(metric0 "$LEADER" berth_lifecycle_images_expired_total) - EXPIRED0[$LEADER]))"
DEL=$(($(metric0 "$LEADER" berth_gc_blobs_deleted_total) - DELETED0[$LEADER]))
((DEL >= ${#VICTIMS[@]})) ||
  fail "d. the lease holder (node $LEADER) counted $DEL deleted blobs, expected at least ${#VICTIMS[@]}"
pass "d. the lease holder (node $LEADER) deleted $DEL blobs"
RUNS=$(($(metric0 "$LEADER" berth_gc_runs_total) - RUNS0[$LEADER]))
((RUNS >= 1)) || fail "d. the lease holder (node $LEADER) ran no scheduled GC meanwhile"
pass "d. the lease holder (node $LEADER) ran $RUNS scheduled collections meanwhile"
for n in 1 2 3; do
  [[ $n == "$LEADER" ]] && continue
  expect_eq "d. scheduled collections on node $n meanwhile" 0 \
    "$(($(metric0 "$n" berth_gc_runs_total) - RUNS0[$n]))"
  expect_eq "d. images expired by node $n" 0 \
    "$(($(metric0 "$n" berth_lifecycle_images_expired_total) - EXPIRED0[$n]))"
  expect_eq "d. blobs deleted by node $n" 0 "$(($(metric0 "$n" berth_gc_blobs_deleted_total) - DELETED0[$n]))"
done

# ======================================================================================
step "e. every image pulls byte-identical from every node"
for n in 1 2 3; do
  REG=${NODE_REG[$n]} check_roundtrip it/layers:v1 "$SRC" layers
  REG=${NODE_REG[$n]} check_roundtrip it/chunked:v1 "$CHUNKED_SRC" v1
  REG=${NODE_REG[$n]} check_roundtrip it/crash:v1 "$CRASH_SRC" v1
  REG=${NODE_REG[$n]} check_roundtrip it/gc:gc-2 "$GCSRC" gc-2
  back=$(mktemp -d "$WORK/back.XXXX")
  REG=${NODE_REG[$n]} skopeo_pull_layout it/multi:v1 "$back" t --all
  expect_eq "e. index it/multi:v1 pulled (--all) through node $n" "$IDX" "$(layout_digest "$back" t)"
  verify_layout "$back"
  rm -rf "$back"
done
for n in 1 2 3; do
  expect_eq "e. blob files in node $n's data directory" 0 \
    "$(find "${NODE_DATA[$n]}" -path '*blobs/*' -type f 2>/dev/null | wc -l)"
done
ALL=$(bucket_keys "")
OUTSIDE=$(awk -v p="$S3_PREFIX" 'index($0, p) != 1' <<<"$ALL" | wc -l)
expect_eq "e. objects in the bucket outside the prefix $S3_PREFIX" 0 "$OUTSIDE"
say "    the bucket holds $(wc -l <<<"$ALL") objects under $S3_PREFIX"

# ======================================================================================
step "f. node 4 (BERTH_S3_REDIRECT=true, BERTH_ENCRYPTION_AT_REST=false): pulls of plaintext blobs go to S3"
start_node 4
# plain_url_prefix DIGEST: how a presigned path-style URL of DIGEST's plaintext object starts.
plain_url_prefix() {
  local h=${1#sha256:}
  echo "$BERTH_TEST_S3_ENDPOINT/$BERTH_TEST_S3_BUCKET/${S3_PREFIX}blobs/sha256/${h:0:2}/$h?"
}
# get_noredirect NODE REPO DIGEST: "STATUS SHA256-OF-BODY" of GET /v2/REPO/blobs/DIGEST on
# NODE, not following redirects.
get_noredirect() {
  local f=$WORK/get.blob code
  code=$(curl -sS -o "$f" -w '%{http_code}' -m 300 "${CURL_AUTH[@]}" \
    "http://${NODE_REG[$1]}/v2/$2/blobs/$3") || code="curl failed ($?)"
  echo "$code $(sha256_file "$f")"
  rm -f "$f"
}
# url_digest URL: sha256 of what GET URL (no credentials, no redirects) returns, or
# "HTTP STATUS: BODY".
url_digest() {
  local f=$WORK/url.body code
  code=$(curl -sS -o "$f" -w '%{http_code}' -m 300 "$1") || code="curl failed ($?)"
  if [[ $code != 200 ]]; then
    echo "HTTP $code: $(head -c 300 "$f" 2>/dev/null)"
  else
    sha256_file "$f"
  fi
  rm -f "$f"
}
# check_presigned WHAT URL DIGEST: URL is an S3 presigned GET of DIGEST's plaintext object,
# signed with the bucket's keys, valid for the default redirect_ttl (20m).
check_presigned() {
  [[ $2 == "$(plain_url_prefix "$3")"* ]] ||
    fail "$1: expected a path-style S3 URL starting with $(plain_url_prefix "$3"), got '$2'"
  [[ $2 == *[?\&]X-Amz-Signature=* ]] || fail "$1: no X-Amz-Signature in '$2'"
  [[ $2 == *[?\&]"X-Amz-Credential=$BERTH_TEST_S3_ACCESS_KEY_ID"[%/]* ]] ||
    fail "$1: not signed with the bucket's access key $BERTH_TEST_S3_ACCESS_KEY_ID: '$2'"
  pass "$1: presigned S3 URL of the blob's object (${2%%\?*})"
  [[ $2 == *[?\&]X-Amz-Expires=1200 || $2 == *[?\&]X-Amz-Expires=1200\&* ]] ||
    fail "f6. ${1#f[0-9]. }: expected X-Amz-Expires=1200 (the default redirect_ttl, 20m) in '$2'"
  pass "f6. ${1#f[0-9]. }: valid for 1200 s (X-Amz-Expires=1200)"
}

step "f1. skopeo pushes a new repository it/plain through node 4: created plaintext"
PLAIN_SRC=$WORK/plain-src
PLAIN_IMG=$(make_image "$PLAIN_SRC" v1)
PLAIN_BLOBS=$(layout_layers "$PLAIN_SRC" "$PLAIN_IMG"; layout_config "$PLAIN_SRC" "$PLAIN_IMG")
REG=${NODE_REG[4]} skopeo_push_layout "$PLAIN_SRC" v1 it/plain:v1
say "    encryptionConfiguration of it/plain: $(ecr 4 describe-repositories --repository-names it/plain |
  jq -c '.repositories[0].encryptionConfiguration')"
KEYS=$(bucket_keys "${S3_PREFIX}blobs/")
NPLAIN=0
for dg in $PLAIN_BLOBS; do
  h=${dg#sha256:}
  grep -qxF "${S3_PREFIX}blobs/sha256/${h:0:2}/$h" <<<"$KEYS" ||
    fail "f1. blob $dg of it/plain is not in the bucket under its own digest (${S3_PREFIX}blobs/sha256/${h:0:2}/$h): did node 4 create the repository encrypted?"
  ! grep -qxF "$(stored_key "$dg")" <<<"$KEYS" ||
    fail "f1. blob $dg of it/plain is in the bucket under its AES256-derived key $(stored_key "$dg")"
  NPLAIN=$((NPLAIN + 1))
done
pass "f1. the $NPLAIN blobs of it/plain are in the bucket under their own digests, none under an AES256-derived key (stored as plaintext)"

step "f2. GET of a blob of it/plain through node 4: 307 to a presigned S3 URL; HEAD: 200"
PL=$(layout_layers "$PLAIN_SRC" "$PLAIN_IMG" | tail -n1)
code=$(curl -sS -o /dev/null -D "$WORK/f2.hdr" -w '%{http_code}' -m 60 "${CURL_AUTH[@]}" \
  "http://${NODE_REG[4]}/v2/it/plain/blobs/$PL") || code="curl failed ($?)"
[[ $code == 307 ]] || {
  tr -d '\r' <"$WORK/f2.hdr" >&2
  fail "f2. GET (no -L) of blob $PL of it/plain through node 4: expected 307, got $code"
}
pass "f2. GET (no -L) of blob $PL of it/plain through node 4: 307"
LOC=$(hdr "$WORK/f2.hdr" location)
check_presigned "f2. Location of the 307" "$LOC" "$PL"
expect_eq "f2. Docker-Content-Digest of the 307" "$PL" "$(hdr "$WORK/f2.hdr" docker-content-digest)"
expect_eq "f2. sha256 of GET Location (no credentials)" "$PL" "$(url_digest "$LOC")"
code=$(curl -sS -L -o "$WORK/f2.blob" -w '%{http_code} %{num_redirects}' -m 60 "${CURL_AUTH[@]}" \
  "http://${NODE_REG[4]}/v2/it/plain/blobs/$PL") || code="curl failed ($?)"
expect_eq "f2. curl -L of the blob through node 4: final status, redirects followed" "200 1" "$code"
expect_eq "f2. sha256 of the blob via curl -L through node 4" "$PL" "$(sha256_file "$WORK/f2.blob")"
rm -f "$WORK/f2.blob"
expect_eq "f2. HEAD of blob $PL of it/plain through node 4 (not redirected)" 200 \
  "$(http_status HEAD "http://${NODE_REG[4]}/v2/it/plain/blobs/$PL")"
for n in 1 2 3; do
  expect_eq "f2. GET (no -L) of blob $PL of it/plain through node $n (redirect off): status, sha256" \
    "200 $PL" "$(get_noredirect "$n" it/plain "$PL")"
done

step "f3. skopeo pulls it/plain through node 4, following the redirects"
R0=$(http_requests 4 blob_get GET 307)
REG=${NODE_REG[4]} check_roundtrip it/plain:v1 "$PLAIN_SRC" v1
R=$(($(http_requests 4 blob_get GET 307) - R0))
((R >= NPLAIN)) ||
  fail "f3. node 4 answered $R blob GETs with 307 during the skopeo pull, expected at least $NPLAIN (one per blob)"
pass "f3. node 4 redirected $R blob GETs of the skopeo pull to S3"

step "f4. GET of blobs of the encrypted it/layers through node 4: 200, no redirect"
for dg in $(layout_layers "$SRC" "$IMG_A" | head -n2) $(layout_config "$SRC" "$IMG_A"); do
  expect_eq "f4. GET (no -L) of blob $dg of it/layers through node 4: status, sha256" "200 $dg" \
    "$(get_noredirect 4 it/layers "$dg")"
done

step "f5. GetDownloadUrlForLayer through node 4: S3 for it/plain, berth's own URL for it/layers"
DL=$(ecr 4 get-download-url-for-layer --repository-name it/plain --layer-digest "$PL")
expect_eq "f5. layerDigest of it/plain's download URL through node 4" "$PL" "$(jq -r .layerDigest <<<"$DL")"
URL=$(jq -r .downloadUrl <<<"$DL")
check_presigned "f5. downloadUrl of it/plain through node 4" "$URL" "$PL"
expect_eq "f5. sha256 of GET downloadUrl of it/plain (no credentials)" "$PL" "$(url_digest "$URL")"
ENC_DG=$(layout_layers "$SRC" "$IMG_A" | head -n1)
DL=$(ecr 4 get-download-url-for-layer --repository-name it/layers --layer-digest "$ENC_DG")
URL=$(jq -r .downloadUrl <<<"$DL")
[[ $URL == "http://${NODE_REG[4]}/v2/it/layers/blobs/$ENC_DG?"* ]] ||
  fail "f5. downloadUrl of the encrypted it/layers through node 4: expected berth's own URL http://${NODE_REG[4]}/v2/it/layers/blobs/$ENC_DG?..., got '$URL'"
pass "f5. downloadUrl of the encrypted it/layers through node 4 points at node 4"
expect_eq "f5. sha256 of GET downloadUrl of it/layers (no credentials)" "$ENC_DG" "$(url_digest "$URL")"
DL=$(ecr 1 get-download-url-for-layer --repository-name it/plain --layer-digest "$PL")
URL=$(jq -r .downloadUrl <<<"$DL")
[[ $URL == "http://${NODE_REG[1]}/v2/it/plain/blobs/$PL?"* ]] ||
  fail "f5. downloadUrl of it/plain through node 1 (redirect off): expected berth's own URL http://${NODE_REG[1]}/v2/it/plain/blobs/$PL?..., got '$URL'"
pass "f5. downloadUrl of it/plain through node 1 (redirect off) points at node 1"
expect_eq "f5. sha256 of GET node 1's downloadUrl of it/plain (no credentials)" "$PL" "$(url_digest "$URL")"

step "f. node 4 stops"
expect_eq "f. blob files in node 4's data directory" 0 \
  "$(find "${NODE_DATA[4]}" -path '*blobs/*' -type f 2>/dev/null | wc -l)"
stop_berth "${NODE_PID[4]}"
pass "f. node 4 stopped cleanly"

for n in 1 2 3; do
  assert_berth_alive "${NODE_PID[$n]}"
done
pass "nodes 1, 2 and 3 still running"
