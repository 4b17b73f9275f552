#!/usr/bin/env bash
# containerd (ctr) against berth: pull images that skopeo pushed (single and multi-arch),
# tag, push to another repo, and check with skopeo that the digests are unchanged.
# containerd pushes blobs as POST + PUT-with-body (monolithic), unlike the other clients.
. "$(dirname "$0")/lib.sh"
require_cmds containerd ctr

CD=$WORK/containerd
mkdir -p "$CD/root" "$CD/state" "$CD/opt"
SOCK=$CD/containerd.sock
CONTAINERD_LOG=$WORK/logs/containerd.log
cat >"$CD/config.toml" <<EOF
version = 2
root = "$CD/root"
state = "$CD/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  level = "debug"
[plugins."io.containerd.internal.v1.opt"]
  path = "$CD/opt"
EOF

step "start containerd"
say "+ containerd --config $CD/config.toml"
containerd --config "$CD/config.toml" >"$CONTAINERD_LOG" 2>&1 &
CTRD_PID=$!
EXTRA_PIDS+=("$CTRD_PID")
deadline=$((SECONDS + 30))
until ctr -a "$SOCK" version >/dev/null 2>&1; do
  is_alive "$CTRD_PID" || { tail -n 50 "$CONTAINERD_LOG" >&2; fail "containerd exited during startup"; }
  ((SECONDS < deadline)) || { tail -n 50 "$CONTAINERD_LOG" >&2; fail "containerd not ready in 30s"; }
  sleep 0.2
done
pass "containerd pid $CTRD_PID ready on $SOCK"
C=(ctr -a "$SOCK" -n berth-it)
# The native snapshotter only copies files: no overlay mounts needed in a container.
SNAP=(--snapshotter native)

# ctr_digest REF: target digest of the image REF in containerd's image store.
ctr_digest() {
  out "${C[@]}" images ls | awk -v r="$1" '$1 == r {print $3}'
}

step "start berth; push a single image and a multi-arch index with skopeo"
start_berth
SRC=$WORK/src
IMG=$(make_image "$SRC" v1)
skopeo_push_layout "$SRC" v1 ctr/src:v1
MULTI=$WORK/multi
IDX=$(make_multiarch "$MULTI" v1)
skopeo_push_layout "$MULTI" v1 ctr/multi:v1 --all

step "ctr images pull --plain-http (single image)"
run "${C[@]}" images pull --plain-http "${CTR_USER[@]}" "${SNAP[@]}" --http-dump "$REG/ctr/src:v1"
expect_eq "containerd digest of ctr/src:v1" "$IMG" "$(ctr_digest "$REG/ctr/src:v1")"
expect_eq "content of ctr/src:v1 layers in containerd's store" \
  "$(layout_layers "$SRC" "$IMG" | sort | tr '\n' ' ')" \
  "$(out "${C[@]}" content ls -q | grep -xF -f <(layout_layers "$SRC" "$IMG") | sort | tr '\n' ' ')"

step "ctr images tag + push --plain-http to another repo"
run "${C[@]}" images tag "$REG/ctr/src:v1" "$REG/ctr/dst:v1"
run "${C[@]}" images push --plain-http "${CTR_USER[@]}" --http-dump "$REG/ctr/dst:v1"
expect_eq "skopeo: digest of ctr/dst:v1" "$IMG" "$(reg_digest ctr/dst:v1)"
INSPECT=$(out skopeo_cmd inspect --tls-verify=false "${SK_CREDS[@]}" "docker://$REG/ctr/dst:v1")
expect_eq "skopeo inspect .Digest of ctr/dst:v1" "$IMG" "$(jq -r .Digest <<<"$INSPECT")"
expect_eq "skopeo inspect .Layers of ctr/dst:v1" "$(layout_layers "$SRC" "$IMG" | tr '\n' ' ')" \
  "$(jq -r '.Layers[]' <<<"$INSPECT" | tr '\n' ' ')"
check_roundtrip ctr/dst:v1 "$SRC" v1

step "push to a repo on a second berth (every blob is new there: POST + PUT with body)"
REG_A=$REG
start_berth
REG_B=$REG
run "${C[@]}" images tag "$REG_A/ctr/src:v1" "$REG_B/fresh/img:v1"
run "${C[@]}" images push --plain-http "${CTR_USER[@]}" --http-dump "$REG_B/fresh/img:v1"
expect_eq "skopeo: digest of fresh/img:v1 on berth B" "$IMG" "$(reg_digest fresh/img:v1)"
check_roundtrip fresh/img:v1 "$SRC" v1
REG=$REG_A

step "ctr pull --all-platforms of the multi-arch index, tag, push"
run "${C[@]}" images pull --plain-http "${CTR_USER[@]}" "${SNAP[@]}" --all-platforms "$REG/ctr/multi:v1"
expect_eq "containerd digest of ctr/multi:v1" "$IDX" "$(ctr_digest "$REG/ctr/multi:v1")"
run "${C[@]}" images tag "$REG/ctr/multi:v1" "$REG/ctr/multi2:v1"
run "${C[@]}" images push --plain-http "${CTR_USER[@]}" "$REG/ctr/multi2:v1"
expect_eq "skopeo: index digest of ctr/multi2:v1" "$IDX" "$(reg_digest ctr/multi2:v1)"
while read -r child plat; do
  expect_eq "skopeo: ctr/multi2@$child ($plat)" "$child" "$(reg_digest "ctr/multi2@$child")"
done < <(layout_children "$MULTI" "$IDX")

step "ctr pull by digest"
run "${C[@]}" images pull --plain-http "${CTR_USER[@]}" "${SNAP[@]}" "$REG/ctr/dst@$IMG"
pass "pulled $REG/ctr/dst@$IMG"

step "shutdown"
assert_berth_alive "${BERTH_PIDS[0]}"
stop_berth "${BERTH_PIDS[0]}"
stop_berth "${BERTH_PIDS[1]}"
say "+ kill -TERM $CTRD_PID (containerd)"
kill -TERM "$CTRD_PID"
deadline=$((SECONDS + 20))
while is_alive "$CTRD_PID" && ((SECONDS < deadline)); do sleep 0.1; done
is_alive "$CTRD_PID" && kill -KILL "$CTRD_PID"
wait "$CTRD_PID" 2>/dev/null || true
pass "containerd stopped"
