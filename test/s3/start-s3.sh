#!/usr/bin/env bash
# Starts a throwaway S3 server for tests — a single-node Ceph cluster with the RADOS Gateway
# (Debian 12's Ceph 16.2) — and prints its endpoint URL on stdout.
#
#   test/s3/start-s3.sh DIR      # DIR: a new or empty directory, owned by this run
#   test/s3/stop-s3.sh DIR       # stops it and removes DIR
#
# One monitor, one OSD (memstore: objects live in the OSD's memory) and radosgw with the beast
# frontend on 127.0.0.1 at a free port; no mgr, no systemd, no cephx between the daemons
# (loopback only; S3 requests are still authenticated with SigV4). Everything — config, monitor
# store, logs (DIR/log/, radosgw's is DIR/log/client.rgw.a.log), admin sockets, pid files —
# lives in DIR. It creates an S3 user with fixed test keys and one bucket, and writes
#   DIR/env    sourceable: exports BERTH_TEST_S3_ENDPOINT, _BUCKET, _REGION, _ACCESS_KEY_ID,
#              _SECRET_ACCESS_KEY, and _TLS_ENDPOINT (the same gateway over HTTPS, with a
#              self-signed certificate for 127.0.0.1) and _CA_FILE (that certificate)
#   DIR/pids   "program pid" per daemon (stop-s3.sh reads it)
#
# Environment (all optional):
#   S3_BUCKET        bucket to create                 (default berth-test)
#   S3_ACCESS_KEY    S3_SECRET_KEY: the user's keys   (default: fixed test keys below)
#   S3_CAPACITY      OSD size in bytes                (default 4 GiB; writes stop near full)
#   S3_START_TIMEOUT seconds each daemon may take to come up (default 60)
# Exits non-zero, with the reason and the daemons' last log lines on stderr, if Ceph is not
# installed or does not come up; daemons it started are stopped again.
set -Eeuo pipefail

dir=${1:?usage: start-s3.sh DIR}
bucket=${S3_BUCKET:-berth-test}
access_key=${S3_ACCESS_KEY:-BERTHTESTS3ACCESS001}
secret_key=${S3_SECRET_KEY:-berth-test-s3-secret-key-00000000000000001}
capacity=${S3_CAPACITY:-4294967296}
timeout_s=${S3_START_TIMEOUT:-60}
region=us-east-1

missing=()
for b in ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool curl python3; do
  command -v "$b" >/dev/null 2>&1 || missing+=("$b")
done
if ((${#missing[@]})); then
  echo "start-s3: ${missing[*]} not found (install Ceph: scripts/setup --test)" >&2
  exit 1
fi

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
if [[ -n $(ls -A "$dir") ]]; then
  echo "start-s3: $dir is not empty" >&2
  exit 1
fi
mkdir -p "$dir"/{run,log,crash,mon/ceph-a,osd/ceph-0,rgw}
conf=$dir/ceph.conf
: >"$dir/pids"
t0=$(date +%s%N)
elapsed_ms() { echo $((($(date +%s%N) - t0) / 1000000)); }

# On failure: the last log lines, then stop whatever was started (DIR stays for the caller).
phase="setup"
failed() {
  local f pid name
  for f in "$dir"/log/*; do
    [[ -s $f && $f != */user.json ]] || continue
    echo "--- last lines of $f" >&2
    tail -n 15 "$f" >&2
  done
  while read -r name pid; do
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "${name:0:15}" ]] && kill -KILL "$pid" 2>/dev/null
  done <"$dir/pids"
  echo "start-s3: failed during the $phase, after $(elapsed_ms) ms (logs above)" >&2
  exit 1
}
trap failed ERR

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for WHAT CMD...: retries CMD every 0.1 s for up to S3_START_TIMEOUT seconds; gives up
# early when the daemon started last has died.
last_pid=""
wait_for() {
  local what=$1 i
  shift
  for ((i = 0; i < timeout_s * 10; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    if [[ -n $last_pid ]] && ! kill -0 "$last_pid" 2>/dev/null; then
      echo "start-s3: $what: the daemon (pid $last_pid) died" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "start-s3: $what: not within ${timeout_s}s" >&2
  return 1
}

# daemon NAME PIDFILE CMD...: starts a Ceph daemon (it forks and writes PIDFILE itself) and
# records its pid in DIR/pids.
daemon() {
  local name=$1 pidfile=$2
  shift 2
  last_pid=""
  "$@" </dev/null >>"$dir/log/$name.out" 2>&1 || return 1
  wait_for "$name pid file" test -s "$pidfile" || return 1
  last_pid=$(cat "$pidfile") || return 1
  echo "$name $last_pid" >>"$dir/pids"
}

mon_port=$(free_port)
fsid=$(cat /proc/sys/kernel/random/uuid)
cat >"$conf" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
public network = 127.0.0.0/8
ms bind msgr1 = false
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
ms client mode = crc
ms cluster mode = crc
ms service mode = crc
ms mon cluster mode = crc
ms mon service mode = crc
run dir = $dir/run
crash dir = $dir/crash
pid file = $dir/run/\$name.pid
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
log to stderr = false
err to stderr = true
keyring = $dir/keyring
# one OSD: no replication, few placement groups
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
mon data avail warn = 1
mon data avail crit = 0
# fast map updates: a bring-up of ~2 s instead of ~12 s
paxos propose interval = 0.01
paxos min wait = 0.001
[mon]
mon data = $dir/mon/\$cluster-\$id
mon cluster log file = $dir/log/cluster.log
[osd]
osd data = $dir/osd/\$cluster-\$id
osd objectstore = memstore
memstore device bytes = $capacity
osd memory target = 1073741824
osd op num shards = 2
osd op num threads per shard = 1
[client.rgw.a]
rgw data = $dir/rgw
rgw thread pool size = 64
EOF

# --- monitor
phase="monitor start"
monmaptool --create --addv a "[v2:127.0.0.1:$mon_port]" --fsid "$fsid" "$dir/monmap" \
  >>"$dir/log/mkfs.log" 2>&1
ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" >>"$dir/log/mkfs.log" 2>&1
daemon ceph-mon "$dir/run/mon.a.pid" ceph-mon -c "$conf" -i a
wait_for "monitor on port $mon_port" ceph -c "$conf" --connect-timeout 2 mon stat

# --- one OSD
phase="OSD start"
osd_uuid=$(cat /proc/sys/kernel/random/uuid)
osd_id=$(ceph -c "$conf" osd new "$osd_uuid" 2>>"$dir/log/mkfs.log")
ceph-osd -c "$conf" -i "$osd_id" --mkfs --osd-uuid "$osd_uuid" >>"$dir/log/mkfs.log" 2>&1
daemon ceph-osd "$dir/run/osd.$osd_id.pid" ceph-osd -c "$conf" -i "$osd_id"
osd_up() { ceph -c "$conf" osd dump 2>/dev/null | grep -q "^osd.$osd_id up"; }
wait_for "osd.$osd_id up" osd_up

# --- a self-signed certificate for the HTTPS endpoint (127.0.0.1), its own trust anchor
phase="TLS certificate"
mkdir -p "$dir/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
  -keyout "$dir/tls/key.pem" -out "$dir/tls/cert.pem" >"$dir/log/tls.log" 2>&1

# --- radosgw on free ports, plain HTTP and HTTPS (a port can be taken between probing and
# binding: try a few)
phase="radosgw start"
port=""
for attempt in 1 2 3 4 5; do
  p=$(free_port)
  tp=$(free_port)
  if daemon radosgw "$dir/run/client.rgw.a.pid" \
    radosgw -c "$conf" -n client.rgw.a --rgw-frontends "beast endpoint=127.0.0.1:$p ssl_endpoint=127.0.0.1:$tp ssl_certificate=$dir/tls/cert.pem ssl_private_key=$dir/tls/key.pem" &&
    wait_for "radosgw on port $p" curl -sf -m 2 -o /dev/null "http://127.0.0.1:$p/" &&
    wait_for "radosgw HTTPS on port $tp" curl -sf -m 2 --cacert "$dir/tls/cert.pem" -o /dev/null "https://127.0.0.1:$tp/"; then
    port=$p
    tls_port=$tp
    break
  fi
  [[ -n $last_pid ]] && kill -KILL "$last_pid" 2>/dev/null
  rm -f "$dir/run/client.rgw.a.pid"
  echo "start-s3: radosgw attempt $attempt on port $p failed" >&2
done
[[ -n $port ]] || false

# --- user and bucket
phase="user and bucket creation"
radosgw-admin -c "$conf" user create --uid=berth-test --display-name="berth tests" \
  --access-key="$access_key" --secret-key="$secret_key" >"$dir/log/user.json" 2>&1
endpoint=http://127.0.0.1:$port
code=$(curl -sS -o "$dir/log/create-bucket.xml" -w '%{http_code}' -X PUT -m 30 \
  --aws-sigv4 "aws:amz:$region:s3" --user "$access_key:$secret_key" \
  -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$endpoint/$bucket")
if [[ $code != 200 ]]; then
  echo "start-s3: creating bucket $bucket: HTTP $code" >&2
  false
fi
trap - ERR

cat >"$dir/env" <<EOF
export BERTH_TEST_S3_ENDPOINT=$endpoint
export BERTH_TEST_S3_BUCKET=$bucket
export BERTH_TEST_S3_REGION=$region
export BERTH_TEST_S3_ACCESS_KEY_ID=$access_key
export BERTH_TEST_S3_SECRET_ACCESS_KEY=$secret_key
export BERTH_TEST_S3_TLS_ENDPOINT=https://127.0.0.1:$tls_port
export BERTH_TEST_S3_CA_FILE=$dir/tls/cert.pem
EOF
echo "$port" >"$dir/port"
echo "start-s3: Ceph $(ceph-mon --version | awk '{print $3}') radosgw up at $endpoint in $(elapsed_ms) ms (bucket $bucket, dir $dir)" >&2
echo "$endpoint"
