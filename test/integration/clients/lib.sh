# shellcheck shell=bash
# Shared helpers for the real-client integration tests of berth.
#
# Source it from a test script:   . "$(dirname "$0")/lib.sh"
#
# Environment (all optional):
#   BERTH_BIN              berth binary (default /work/main/build/berth)
#   BERTH_CREDS            "user:password" passed to every client; unused when empty
#   BERTH_HEALTH_PATH      readiness probe path (default /healthz)
#   BERTH_START_TIMEOUT    seconds to wait for the probe (default 20)
#   BERTH_STOP_TIMEOUT     seconds to wait for exit after SIGTERM (default 20)
#   CLIENT_TIMEOUT         seconds one client command may take (default 180)
#   KEEP_WORK=1            keep the temp dir (default: removed; logs are copied to
#                          $BERTH_IT_LOGS on failure)
#   BERTH_IT_LOGS          where logs of failed runs go (default /tmp/berth-clients-logs)
#   SKOPEO_SHARED_CACHE=1  let skopeo use the machine-wide blob-info cache (default:
#                          every script gets its own, empty one; see skopeo_cmd)
#
# Every script runs with `set -euo pipefail`, stops at the first failure, prints the
# failing command, the tail of that client's debug output and the tail of every berth
# log, then kills what it started and removes its temp dir.

set -Eeuo pipefail

BERTH_BIN=${BERTH_BIN:-/work/main/build/berth}
# Every berth these scripts start is provisioned with this administrator key (read by berth
# at first start); clients use it unless BERTH_CREDS says otherwise.
export BERTH_ADMIN_ACCESS_KEY_ID=${BERTH_ADMIN_ACCESS_KEY_ID:-AKIABERTHTESTADMIN01}
export BERTH_ADMIN_SECRET_ACCESS_KEY=${BERTH_ADMIN_SECRET_ACCESS_KEY:-berth-test-admin-secret-000000000000000}
BERTH_CREDS=${BERTH_CREDS-$BERTH_ADMIN_ACCESS_KEY_ID:$BERTH_ADMIN_SECRET_ACCESS_KEY}
BERTH_HEALTH_PATH=${BERTH_HEALTH_PATH:-/healthz}
BERTH_START_TIMEOUT=${BERTH_START_TIMEOUT:-20}
BERTH_STOP_TIMEOUT=${BERTH_STOP_TIMEOUT:-20}
CLIENT_TIMEOUT=${CLIENT_TIMEOUT:-180}
BERTH_IT_LOGS=${BERTH_IT_LOGS:-/tmp/berth-clients-logs}

TEST_NAME=$(basename "$0" .sh)
MAIN_PID=$BASHPID
WORK=$(mktemp -d "/tmp/berth-clients-$TEST_NAME.XXXXXX")
mkdir -p "$WORK/logs"
PASS_COUNT=0
LAST_LOG=""

BERTH_PIDS=()      # every berth started by this script
BERTH_LOGS=()      # log file of each, same index
STOPPED_PIDS=" "   # pids already stopped/reaped
EXTRA_PIDS=()      # other daemons (containerd) to kill on exit
CLEANUP_CMDS=()    # shell snippets run on exit, before the temp dir goes

# Credentials for each client; empty arrays when BERTH_CREDS is unset.
SK_CREDS=() SK_SRC_CREDS=() SK_DEST_CREDS=() PODMAN_CREDS=() CTR_USER=() CURL_AUTH=()
if [[ -n $BERTH_CREDS ]]; then
  SK_CREDS=(--creds "$BERTH_CREDS")
  SK_SRC_CREDS=(--src-creds "$BERTH_CREDS")
  SK_DEST_CREDS=(--dest-creds "$BERTH_CREDS")
  PODMAN_CREDS=(--creds "$BERTH_CREDS")
  CTR_USER=(--user "$BERTH_CREDS")
  CURL_AUTH=(-u "$BERTH_CREDS")
fi

# ---------------------------------------------------------------------------------------
# reporting

say() { printf '%s\n' "$*"; }
step() { printf '\n==> %s\n' "$*"; }
pass() {
  PASS_COUNT=$((PASS_COUNT + 1))
  printf 'PASS: %s\n' "$*"
}
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}
# expect_eq WHAT EXPECTED ACTUAL
expect_eq() {
  if [[ "$2" != "$3" ]]; then
    fail "$1: expected '$2', got '$3'"
  fi
  pass "$1 ($3)"
}

# ---------------------------------------------------------------------------------------
# soft checks: a failed check is recorded and the script goes on; finish_checks lists them
# at the end and fails the script (for long suites where one failure should not hide others)

FAILED_CHECKS=()
# check_fail MESSAGE: records a failed check and goes on.
check_fail() {
  FAILED_CHECKS+=("$1")
  printf 'CHECK FAILED: %s\n' "$1" >&2
}
# ck_eq WHAT EXPECTED ACTUAL
ck_eq() {
  if [[ "$2" == "$3" ]]; then
    pass "$1 ($3)"
  else
    check_fail "$1: expected '$2', got '$3'"
  fi
}
# ck WHAT CMD...: the command must succeed (its output is discarded).
ck() {
  local what=$1
  shift
  if "$@" >/dev/null 2>&1; then pass "$what"; else check_fail "$what"; fi
}
# finish_checks: exit 1 listing the failed checks, if any.
finish_checks() {
  if ((${#FAILED_CHECKS[@]})); then
    printf '\n%d check(s) failed:\n' "${#FAILED_CHECKS[@]}" >&2
    printf '  - %s\n' "${FAILED_CHECKS[@]}" >&2
    exit 1
  fi
}

on_err() {
  local rc=$1 line=$2 cmd=$3
  [[ $BASHPID == "$MAIN_PID" ]] || return 0
  printf 'FAIL: command exited with status %s at %s line %s:\n    %s\n' \
    "$rc" "$TEST_NAME.sh" "$line" "$cmd" >&2
}
trap 'on_err $? $LINENO "$BASH_COMMAND"' ERR

is_alive() { # is_alive PID: running and not a zombie
  local st
  [[ -r /proc/$1/stat ]] || return 1
  st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $st && $st != Z && $st != X ]]
}

dump_server_logs() {
  local i pid log
  for i in "${!BERTH_PIDS[@]}"; do
    pid=${BERTH_PIDS[$i]}
    log=${BERTH_LOGS[$i]}
    if [[ $STOPPED_PIDS != *" $pid "* ]] && ! is_alive "$pid"; then
      printf '!!! berth pid %s is no longer running (it died during the test)\n' "$pid" >&2
    fi
    printf -- '----- berth server log %s (pid %s), last 150 lines -----\n' "$log" "$pid" >&2
    tail -n 150 "$log" >&2 2>/dev/null || true
    printf -- '----- end of %s -----\n' "$log" >&2
  done
}

on_exit() {
  local rc=$? pid i
  set +e
  trap - ERR
  if [[ $BASHPID != "$MAIN_PID" ]]; then return; fi
  if ((rc != 0)); then
    dump_server_logs
  fi
  # Kill what we started: berth servers, then other daemons.
  for pid in "${BERTH_PIDS[@]}" "${EXTRA_PIDS[@]}"; do
    is_alive "$pid" && kill -TERM "$pid" 2>/dev/null
  done
  for i in $(seq 50); do
    local any=0
    for pid in "${BERTH_PIDS[@]}" "${EXTRA_PIDS[@]}"; do
      is_alive "$pid" && any=1
    done
    ((any)) || break
    sleep 0.1
  done
  for pid in "${BERTH_PIDS[@]}" "${EXTRA_PIDS[@]}"; do
    is_alive "$pid" && kill -KILL "$pid" 2>/dev/null
  done
  wait 2>/dev/null
  for i in "${!CLEANUP_CMDS[@]}"; do
    eval "${CLEANUP_CMDS[$i]}" >/dev/null 2>&1
  done
  # Anything still mounted below the temp dir (containerd snapshots, buildah) goes first.
  awk -v w="$WORK" 'index($2, w) == 1 {print $2}' /proc/mounts | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null; done
  if ((rc != 0)); then
    local keep="$BERTH_IT_LOGS/$TEST_NAME-$(date +%Y%m%d-%H%M%S)"
    mkdir -p "$keep"
    cp -r "$WORK/logs" "$keep/" 2>/dev/null
    for i in "${BERTH_LOGS[@]}"; do cp "$i" "$keep/" 2>/dev/null; done
    [[ -n ${CONTAINERD_LOG:-} ]] && cp "$CONTAINERD_LOG" "$keep/" 2>/dev/null
    printf '\nFAILED: %s (%s checks passed before the failure); logs kept in %s\n' \
      "$TEST_NAME" "$PASS_COUNT" "$keep" >&2
  else
    printf '\nOK: %s (%s checks passed)\n' "$TEST_NAME" "$PASS_COUNT"
  fi
  if [[ ${KEEP_WORK:-0} == 1 ]]; then
    printf 'work dir kept: %s\n' "$WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------
# running client commands

# run CMD...: runs under `timeout`, stdout+stderr go to a log file; on failure prints the
# command, its status and the last 80 lines of its output, then fails.
# The log path is left in LAST_LOG.
run() {
  local log rc=0
  log=$(mktemp "$WORK/logs/XXXX-$(basename "$1").log")
  LAST_LOG=$log
  say "+ $*"
  timeout --kill-after=10 "$CLIENT_TIMEOUT" "$@" >"$log" 2>&1 || rc=$?
  if ((rc != 0)); then
    printf -- '----- output of the failed command (last 80 lines of %s) -----\n' "$log" >&2
    tail -n 80 "$log" >&2
    printf -- '-----\n' >&2
    ((rc == 124)) && fail "timed out after ${CLIENT_TIMEOUT}s: $*"
    fail "exit status $rc: $*"
  fi
}

# out CMD...: like run, but stdout is the function's stdout (for $(...)); stderr is logged.
out() {
  local log rc=0
  log=$(mktemp "$WORK/logs/XXXX-$(basename "$1").log")
  printf '+ %s\n' "$*" >&2
  timeout --kill-after=10 "$CLIENT_TIMEOUT" "$@" 2>"$log" || rc=$?
  if ((rc != 0)); then
    printf -- '----- stderr of the failed command (last 80 lines of %s) -----\n' "$log" >&2
    tail -n 80 "$log" >&2
    printf -- '-----\n' >&2
    fail "exit status $rc: $*"
  fi
}

# expect_fail CMD...: the command must fail (not time out). Output in LAST_LOG.
expect_fail() {
  local log rc=0
  log=$(mktemp "$WORK/logs/XXXX-$(basename "$1").log")
  LAST_LOG=$log
  say "+ (must fail) $*"
  timeout --kill-after=10 "$CLIENT_TIMEOUT" "$@" >"$log" 2>&1 || rc=$?
  if ((rc == 0)); then
    tail -n 40 "$log" >&2
    fail "command succeeded but must fail: $*"
  fi
  ((rc == 124)) && fail "timed out after ${CLIENT_TIMEOUT}s (expected a clean failure): $*"
  return 0
}

# last_error: the client's final error line from LAST_LOG.
last_error() {
  { grep -E 'level=(fatal|error)|^Error|^ctr: ' "$LAST_LOG" || tail -n1 "$LAST_LOG"; } | tail -n1
}

# skopeo_cmd ARGS...: skopeo with --debug and its own blob-info cache.
# skopeo (as root) keeps /var/lib/containers/cache/blob-info-cache-v1.boltdb, which
# remembers where blobs were seen and makes later pushes try cross-repo mounts. Each
# script gets a private, initially empty cache (bind-mounted in a private mount
# namespace), so runs are reproducible and do not touch the machine's cache.
SKOPEO_CACHE=$WORK/skopeo-cache
mkdir -p "$SKOPEO_CACHE" "$WORK/bin"
SKOPEO_ISOLATE=0
if [[ ${SKOPEO_SHARED_CACHE:-0} != 1 ]] && mkdir -p /var/lib/containers/cache 2>/dev/null &&
  unshare -m --propagation private true 2>/dev/null; then
  SKOPEO_ISOLATE=1
fi
# A real executable, not a function, so that `timeout` can run it.
if ((SKOPEO_ISOLATE)); then
  printf '%s\n' '#!/bin/sh' \
    'exec unshare -m --propagation private -- /bin/sh -c '"'"'mount --bind "$0" /var/lib/containers/cache && exec skopeo --debug "$@"'"'"' "'"$SKOPEO_CACHE"'" "$@"' \
    >"$WORK/bin/skopeo_cmd"
else
  printf '%s\n' '#!/bin/sh' 'exec skopeo --debug "$@"' >"$WORK/bin/skopeo_cmd"
fi
chmod +x "$WORK/bin/skopeo_cmd"
export PATH="$WORK/bin:$PATH"

# ---------------------------------------------------------------------------------------
# berth server

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start_berth [extra berth args]: starts `berth serve` on a free port with a new temp data
# dir (or $BERTH_DATA_DIR when set, to restart on existing data), waits for the health
# probe and exports REG=127.0.0.1:PORT, BERTH_PID, BERTH_PORT, BERTH_DATA, BERTH_LOG.
start_berth() {
  [[ -x $BERTH_BIN ]] || fail "berth binary not found or not executable: $BERTH_BIN (set BERTH_BIN)"
  local data=${BERTH_DATA_DIR:-} attempt port log pid rc deadline ready
  if [[ -z $data ]]; then
    data=$(mktemp -d "$WORK/data.XXXX")
  fi
  for attempt in 1 2 3; do
    port=$(free_port)
    log="$WORK/logs/berth-$((${#BERTH_PIDS[@]} + 1))-port$port.log"
    say "+ $BERTH_BIN serve --listen 127.0.0.1:$port --data-dir $data $*"
    "$BERTH_BIN" serve --listen "127.0.0.1:$port" --data-dir "$data" "$@" >"$log" 2>&1 &
    pid=$!
    BERTH_PIDS+=("$pid")
    BERTH_LOGS+=("$log")
    deadline=$((SECONDS + BERTH_START_TIMEOUT))
    ready=0
    while ((SECONDS < deadline)); do
      is_alive "$pid" || break
      if curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$port$BERTH_HEALTH_PATH" 2>/dev/null; then
        ready=1
        break
      fi
      sleep 0.1
    done
    if ((ready)); then
      export REG="127.0.0.1:$port" BERTH_PID=$pid BERTH_PORT=$port BERTH_DATA=$data BERTH_LOG=$log
      say "    berth pid $pid ready at http://$REG (data dir $data)"
      return 0
    fi
    if ! is_alive "$pid"; then
      rc=0
      wait "$pid" || rc=$?
      STOPPED_PIDS+="$pid "
      if grep -qi 'address already in use' "$log" && ((attempt < 3)); then
        say "    port $port was taken meanwhile; retrying"
        continue
      fi
      fail "berth exited with status $rc during startup (log: $log)"
    fi
    fail "berth did not answer GET $BERTH_HEALTH_PATH within ${BERTH_START_TIMEOUT}s"
  done
}

# stop_berth [PID]: SIGTERM, wait up to BERTH_STOP_TIMEOUT; fails if it hangs or crashes.
stop_berth() {
  local pid=${1:-$BERTH_PID} deadline rc=0
  say "+ kill -TERM $pid (berth)"
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + BERTH_STOP_TIMEOUT))
  while is_alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
  if is_alive "$pid"; then
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    STOPPED_PIDS+="$pid "
    fail "berth pid $pid did not exit within ${BERTH_STOP_TIMEOUT}s of SIGTERM"
  fi
  wait "$pid" 2>/dev/null || rc=$?
  STOPPED_PIDS+="$pid "
  case $rc in
    0 | 143) say "    berth pid $pid exited with status $rc" ;;
    *) fail "berth pid $pid exited with status $rc after SIGTERM (expected 0)" ;;
  esac
}

# kill9_berth [PID]: SIGKILL and reap.
kill9_berth() {
  local pid=${1:-$BERTH_PID}
  say "+ kill -KILL $pid (berth)"
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  STOPPED_PIDS+="$pid "
}

# assert_berth_alive [PID]
assert_berth_alive() {
  local pid=${1:-$BERTH_PID}
  is_alive "$pid" || fail "berth pid $pid died"
}

# peak_rss_mib [PID]: VmHWM of the process in MiB (rounded up).
peak_rss_mib() {
  local pid=${1:-$BERTH_PID} kb
  kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
  echo $(((kb + 1023) / 1024))
}

# ---------------------------------------------------------------------------------------
# digests and registry queries

sha256_file() { openssl dgst -sha256 -r "$1" | awk '{print "sha256:" $1}'; }
sha256_stdin() { openssl dgst -sha256 -r | awk '{print "sha256:" $1}'; }

# reg_raw REF: raw manifest bytes of docker://$REG/REF (REF = repo:tag or repo@digest),
# fetched by skopeo. REG may be overridden per call: REG=... reg_raw ...
reg_raw() { out skopeo_cmd inspect --raw --tls-verify=false "${SK_CREDS[@]}" "docker://$REG/$1"; }

# reg_digest REF: sha256 of the manifest bytes the registry serves.
reg_digest() {
  local f
  f=$(mktemp "$WORK/raw.XXXX")
  reg_raw "$1" >"$f"
  sha256_file "$f"
}

# head_manifest_digest REPO REF: Docker-Content-Digest of a HEAD on the manifest.
head_manifest_digest() {
  curl -sS -I -m 30 "${CURL_AUTH[@]}" \
    -H 'Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json' \
    "http://$REG/v2/$1/manifests/$2" | tr -d '\r' |
    awk 'tolower($1) == "docker-content-digest:" {print $2}'
}

# http_status METHOD URL [curl args...]: prints the status code.
http_status() {
  local m=$1 u=$2
  shift 2
  if [[ $m == HEAD ]]; then
    curl -sS -o /dev/null -I -m 60 -w '%{http_code}' "${CURL_AUTH[@]}" "$@" "$u"
  else
    curl -sS -o /dev/null -X "$m" -m 60 -w '%{http_code}' "${CURL_AUTH[@]}" "$@" "$u"
  fi
}

# ---------------------------------------------------------------------------------------
# OCI layouts

# layout_digest DIR TAG: manifest/index digest that TAG names in DIR/index.json.
layout_digest() {
  jq -er --arg t "$2" \
    '[.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t)][0].digest' \
    "$1/index.json"
}
# layout_blob DIR DIGEST: path of the blob file.
layout_blob() { echo "$1/blobs/${2%%:*}/${2#*:}"; }
# layout_layers DIR MANIFEST_DIGEST: layer digests, one per line.
layout_layers() { jq -r '.layers[].digest' "$(layout_blob "$1" "$2")"; }
# layout_config DIR MANIFEST_DIGEST
layout_config() { jq -r '.config.digest' "$(layout_blob "$1" "$2")"; }
# layout_children DIR INDEX_DIGEST: "digest os/arch" per child manifest.
layout_children() {
  jq -r '.manifests[] | "\(.digest) \(.platform.os)/\(.platform.architecture)"' \
    "$(layout_blob "$1" "$2")"
}
# verify_layout DIR: every blob's content hashes to its file name.
verify_layout() {
  local f want got n=0
  while IFS= read -r f; do
    want="sha256:$(basename "$f")"
    got=$(sha256_file "$f")
    [[ $want == "$got" ]] || fail "corrupt blob in layout $1: $f hashes to $got"
    n=$((n + 1))
  done < <(find "$1/blobs/sha256" -type f)
  pass "all $n blobs in $1 match their digests"
}

# The image writer. Usage (internal): _oci_py COMMAND ARGS...
_oci_py() {
  python3 - "$@" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZ = "application/vnd.oci.image.layer.v1.tar+gzip"
REF = "org.opencontainers.image.ref.name"


def ensure_layout(d):
    os.makedirs(os.path.join(d, "blobs", "sha256"), exist_ok=True)
    p = os.path.join(d, "oci-layout")
    if not os.path.exists(p):
        with open(p, "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
    p = os.path.join(d, "index.json")
    if not os.path.exists(p):
        with open(p, "w") as f:
            json.dump({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}, f)


def put_blob(d, data):
    h = hashlib.sha256(data).hexdigest()
    p = os.path.join(d, "blobs", "sha256", h)
    if not os.path.exists(p):
        with open(p + ".tmp", "wb") as f:
            f.write(data)
        os.rename(p + ".tmp", p)
    return "sha256:" + h, len(data)


def add_ref(d, desc, tag):
    p = os.path.join(d, "index.json")
    with open(p) as f:
        idx = json.load(f)
    idx["manifests"] = [m for m in idx["manifests"]
                        if m.get("annotations", {}).get(REF) != tag]
    desc = dict(desc)
    desc["annotations"] = {REF: tag}
    idx["manifests"].append(desc)
    with open(p + ".tmp", "w") as f:
        json.dump(idx, f)
    os.rename(p + ".tmp", p)


def make_layer(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in files:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o755 if name.endswith("hello") else 0o644
            ti.mtime = 1700000000
            t.addfile(ti, io.BytesIO(data))
    raw = buf.getvalue()
    gz = gzip.compress(raw, compresslevel=6, mtime=0)
    return gz, "sha256:" + hashlib.sha256(raw).hexdigest()


def make_manifest(d, arch, text, nlayers=2, layer_size=48 * 1024):
    layers, diff_ids = [], []
    files_per_layer = [[("hello.txt", text.encode())]]
    for i in range(1, nlayers):
        files_per_layer.append([("data/random-%d.bin" % i, os.urandom(layer_size))])
    for files in files_per_layer:
        gz, diff = make_layer(files)
        dg, sz = put_blob(d, gz)
        layers.append({"mediaType": OCI_LAYER_GZ, "digest": dg, "size": sz})
        diff_ids.append(diff)
    config = {
        "created": "2024-01-01T00:00:00Z",
        "architecture": arch,
        "os": "linux",
        "config": {"Cmd": ["/hello"], "Env": ["PATH=/usr/bin:/bin"],
                   "Labels": {"berth.test.text": text}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "berth test"}
                    for _ in diff_ids],
    }
    cdg, csz = put_blob(d, json.dumps(config, sort_keys=True).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": cdg, "size": csz},
        "layers": layers,
    }
    mdg, msz = put_blob(d, json.dumps(manifest, indent=2).encode())
    return {"mediaType": OCI_MANIFEST, "digest": mdg, "size": msz,
            "platform": {"architecture": arch, "os": "linux"}}


cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "image":  # image DIR TAG ARCH TEXT
    d, tag, arch, text = args
    ensure_layout(d)
    desc = make_manifest(d, arch, text)
    desc.pop("platform")
    add_ref(d, desc, tag)
    print(desc["digest"])
elif cmd == "multiarch":  # multiarch DIR TAG TEXT
    d, tag, text = args
    ensure_layout(d)
    children = []
    for arch in ("amd64", "arm64"):
        c = make_manifest(d, arch, "%s (%s)" % (text, arch))
        if arch == "arm64":
            c["platform"]["variant"] = "v8"
        children.append(c)
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}
    idg, isz = put_blob(d, json.dumps(index, indent=2).encode())
    add_ref(d, {"mediaType": OCI_INDEX, "digest": idg, "size": isz}, tag)
    print(idg)
elif cmd == "fromblob":  # fromblob DIR TAG DIGEST SIZE MEDIATYPE (blob already in place)
    d, tag, dg, size, mt = args
    ensure_layout(d)
    config = {
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [dg]},
    }
    cdg, csz = put_blob(d, json.dumps(config).encode())
    manifest = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": cdg, "size": csz},
        "layers": [{"mediaType": mt, "digest": dg, "size": int(size)}],
    }
    mdg, msz = put_blob(d, json.dumps(manifest).encode())
    add_ref(d, {"mediaType": OCI_MANIFEST, "digest": mdg, "size": msz}, tag)
    print(mdg)
else:
    sys.exit("unknown command " + cmd)
PY
}

# make_image DIR TAG [ARCH]: adds a small random linux/ARCH (default amd64) image to the
# OCI layout DIR under TAG: 2 gzip layers, the first holds /hello.txt whose text is also
# written to DIR/hello-TAG.txt. Prints the manifest digest.
make_image() {
  local dir=$1 tag=$2 arch=${3:-amd64} text
  text="berth test image $tag $(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
  _oci_py image "$dir" "$tag" "$arch" "$text"
  printf '%s' "$text" >"$dir/hello-$tag.txt"
}

# make_multiarch DIR TAG: adds an image index with linux/amd64 and linux/arm64/v8
# manifests to the OCI layout DIR under TAG. Prints the index digest.
make_multiarch() {
  local dir=$1 tag=$2 text
  text="berth test index $tag $(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
  _oci_py multiarch "$dir" "$tag" "$text"
}

# make_image_from_file DIR TAG FILE [MEDIATYPE]: moves FILE into DIR as the single layer
# (default mediaType application/vnd.oci.image.layer.v1.tar) and prints the manifest digest.
make_image_from_file() {
  local dir=$1 tag=$2 file=$3 mt=${4:-application/vnd.oci.image.layer.v1.tar} dg size
  mkdir -p "$dir/blobs/sha256"
  dg=$(sha256_file "$file")
  size=$(stat -c %s "$file")
  mv "$file" "$(layout_blob "$dir" "$dg")"
  _oci_py fromblob "$dir" "$tag" "$dg" "$size" "$mt"
}

# random_file PATH BYTES: fast pseudo-random content (AES-CTR keystream).
random_file() {
  head -c "$2" /dev/zero |
    openssl enc -aes-128-ctr -K "$(openssl rand -hex 16)" -iv "$(openssl rand -hex 16)" -out "$1"
}

# skopeo_push_layout DIR TAG REPO:TAG [extra copy args]: oci:DIR:TAG -> docker://$REG/REPO:TAG
# with --preserve-digests (fails rather than silently re-encoding).
skopeo_push_layout() {
  local dir=$1 tag=$2 dest=$3
  shift 3
  run skopeo_cmd copy --preserve-digests --dest-tls-verify=false "${SK_DEST_CREDS[@]}" "$@" \
    "oci:$dir:$tag" "docker://$REG/$dest"
}

# skopeo_pull_layout REF DIR TAG [extra copy args]: docker://$REG/REF -> oci:DIR:TAG
skopeo_pull_layout() {
  local ref=$1 dir=$2 tag=$3
  shift 3
  run skopeo_cmd copy --preserve-digests --src-tls-verify=false "${SK_SRC_CREDS[@]}" "$@" \
    "docker://$REG/$ref" "oci:$dir:$tag"
}

# check_roundtrip REF SRC_DIR SRC_TAG: pulls REF into a fresh layout and checks that the
# manifest, config and every layer digest equal those of SRC_DIR:SRC_TAG.
check_roundtrip() {
  local ref=$1 sdir=$2 stag=$3 back want got
  back=$(mktemp -d "$WORK/back.XXXX")
  skopeo_pull_layout "$ref" "$back" t
  want=$(layout_digest "$sdir" "$stag")
  got=$(layout_digest "$back" t)
  expect_eq "pulled manifest digest of $ref" "$want" "$got"
  expect_eq "config digest of $ref" "$(layout_config "$sdir" "$want")" "$(layout_config "$back" "$got")"
  expect_eq "layer digests of $ref" "$(layout_layers "$sdir" "$want" | tr '\n' ' ')" \
    "$(layout_layers "$back" "$got" | tr '\n' ' ')"
  verify_layout "$back"
}

require_cmds() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null || fail "required command not found: $c"
  done
}

require_cmds curl jq python3 openssl skopeo timeout unshare
say "test $TEST_NAME: work dir $WORK, berth $BERTH_BIN"
