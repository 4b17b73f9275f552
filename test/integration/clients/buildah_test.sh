#!/usr/bin/env bash
# buildah against berth: build from scratch with one file, commit, push (OCI and Docker
# v2s2 manifests), check with skopeo inspect, pull back with skopeo and podman and check
# the file content.
. "$(dirname "$0")/lib.sh"
require_cmds buildah podman tar

STORE=(--storage-driver vfs --root "$WORK/root" --runroot "$WORK/runroot")
B=(buildah "${STORE[@]}" --log-level debug)
P=(podman "${STORE[@]}" --cgroup-manager cgroupfs --events-backend file --log-level debug)
export TMPDIR=$WORK/tmp
mkdir -p "$TMPDIR"
CLEANUP_CMDS+=("buildah ${STORE[*]} rm --all" "podman ${STORE[*]} image unmount --all --force")

# layer_file LAYOUT MANIFEST_DIGEST PATH: content of PATH in the (only) layer.
layer_file() {
  local blob
  blob=$(layout_blob "$1" "$(layout_layers "$1" "$2" | tail -n1)")
  tar -xzOf "$blob" "$3" 2>/dev/null || tar -xzOf "$blob" "./$3"
}

step "start berth"
start_berth

step "buildah from scratch, copy a file, commit"
TEXT="built by buildah for berth $(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
printf '%s\n' "$TEXT" >"$WORK/hello.txt"
CTR=$(out "${B[@]}" from scratch)
say "    working container $CTR"
run "${B[@]}" copy "$CTR" "$WORK/hello.txt" /hello.txt
run "${B[@]}" config --cmd '["/hello"]' --label berth.test=buildah --os linux --arch amd64 "$CTR"
run "${B[@]}" commit "$CTR" localhost/berth-built:v1
run "${B[@]}" rm "$CTR"

step "buildah push (OCI manifest)"
run "${B[@]}" push --tls-verify=false "${PODMAN_CREDS[@]}" --digestfile "$WORK/d-oci" \
  localhost/berth-built:v1 "docker://$REG/built/app:v1"
D_OCI=$(reg_digest built/app:v1)
expect_eq "buildah --digestfile vs registry digest of built/app:v1" "$D_OCI" "$(cat "$WORK/d-oci")"
expect_eq "manifest mediaType" "application/vnd.oci.image.manifest.v1+json" \
  "$(reg_raw built/app:v1 | jq -r .mediaType)"

step "skopeo inspect shows it"
INSPECT=$(out skopeo_cmd inspect --tls-verify=false "${SK_CREDS[@]}" "docker://$REG/built/app:v1")
expect_eq "inspect .Digest" "$D_OCI" "$(jq -r .Digest <<<"$INSPECT")"
expect_eq "inspect .Labels.berth.test" buildah "$(jq -r '.Labels["berth.test"]' <<<"$INSPECT")"
expect_eq "inspect layer count" 1 "$(jq -r '.Layers | length' <<<"$INSPECT")"
expect_eq "inspect .RepoTags" v1 "$(jq -r '.RepoTags | join(" ")' <<<"$INSPECT")"

step "buildah push --format docker (Docker v2s2 manifest)"
run "${B[@]}" push --tls-verify=false "${PODMAN_CREDS[@]}" --format docker --digestfile "$WORK/d-v2s2" \
  localhost/berth-built:v1 "docker://$REG/built/app:docker"
D_V2=$(reg_digest built/app:docker)
expect_eq "buildah --digestfile vs registry digest of built/app:docker" "$D_V2" "$(cat "$WORK/d-v2s2")"
expect_eq "manifest mediaType" "application/vnd.docker.distribution.manifest.v2+json" \
  "$(reg_raw built/app:docker | jq -r .mediaType)"

step "buildah push to a second repo (blobs already in the registry: HEAD / mount path)"
run "${B[@]}" push --tls-verify=false "${PODMAN_CREDS[@]}" --digestfile "$WORK/d-2" \
  localhost/berth-built:v1 "docker://$REG/built/app2:v1"
expect_eq "digest of built/app2:v1" "$(cat "$WORK/d-2")" "$(reg_digest built/app2:v1)"

step "pull back with skopeo, check the file"
for ref in built/app:v1 built/app:docker built/app2:v1; do
  BACK=$(mktemp -d "$WORK/back.XXXX")
  skopeo_pull_layout "$ref" "$BACK" t
  verify_layout "$BACK"
  expect_eq "/hello.txt in $ref (skopeo)" "$TEXT" "$(layer_file "$BACK" "$(layout_digest "$BACK" t)" hello.txt)"
done

step "pull back with podman into fresh storage, check the file"
STORE=(--storage-driver vfs --root "$WORK/root2" --runroot "$WORK/runroot2")
P=(podman "${STORE[@]}" --cgroup-manager cgroupfs --events-backend file --log-level debug)
CLEANUP_CMDS+=("podman ${STORE[*]} image unmount --all --force")
run "${P[@]}" pull --tls-verify=false "${PODMAN_CREDS[@]}" "$REG/built/app:v1"
expect_eq "podman .Digest of built/app:v1" "$D_OCI" \
  "$(out "${P[@]}" image inspect --format '{{.Digest}}' "$REG/built/app:v1")"
MNT=$(out "${P[@]}" image mount "$REG/built/app:v1")
expect_eq "/hello.txt in built/app:v1 (podman)" "$TEXT" "$(cat "$MNT/hello.txt")"
run "${P[@]}" image unmount "$REG/built/app:v1"

step "shutdown"
assert_berth_alive
stop_berth
