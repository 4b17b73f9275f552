#!/usr/bin/env bash
# podman against berth: pull an image that skopeo pushed, tag and push it to another repo
# (OCI and Docker v2s2 manifests), remove the local copies, pull back; local digests must
# equal the registry's.
. "$(dirname "$0")/lib.sh"
require_cmds podman

P=(podman --storage-driver vfs --root "$WORK/root" --runroot "$WORK/runroot"
  --cgroup-manager cgroupfs --events-backend file --tmpdir "$WORK/podman-tmp" --log-level debug)
mkdir -p "$WORK/podman-tmp"
CLEANUP_CMDS+=("${P[*]} image unmount --all --force")

# local_digest IMAGE: the manifest digest podman recorded for IMAGE.
local_digest() { out "${P[@]}" image inspect --format '{{.Digest}}' "$1"; }

step "start berth"
start_berth

step "push a test image with skopeo"
SRC=$WORK/src
IMG=$(make_image "$SRC" v1)
skopeo_push_layout "$SRC" v1 pod/src:v1
expect_eq "registry digest of pod/src:v1" "$IMG" "$(reg_digest pod/src:v1)"

step "podman pull"
run "${P[@]}" pull --tls-verify=false "${PODMAN_CREDS[@]}" "$REG/pod/src:v1"
expect_eq "podman image inspect .Digest of pod/src:v1" "$IMG" "$(local_digest "$REG/pod/src:v1")"
RD=$(out "${P[@]}" image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$REG/pod/src:v1")
grep -qx "$REG/pod/src@$IMG" <<<"$RD" || fail "RepoDigests lacks $REG/pod/src@$IMG: $RD"
pass "RepoDigests contains $REG/pod/src@$IMG"
expect_eq "layer count" 2 "$(out "${P[@]}" image inspect --format '{{len .RootFS.Layers}}' "$REG/pod/src:v1")"

step "image content (podman image mount)"
MNT=$(out "${P[@]}" image mount "$REG/pod/src:v1")
expect_eq "/hello.txt in the pulled image" "$(cat "$SRC/hello-v1.txt")" "$(cat "$MNT/hello.txt")"
run "${P[@]}" image unmount "$REG/pod/src:v1"

step "podman pull by digest"
run "${P[@]}" pull --tls-verify=false "${PODMAN_CREDS[@]}" "$REG/pod/src@$IMG"
pass "pulled $REG/pod/src@$IMG"

step "podman tag + push to another repo (OCI manifest, as stored)"
run "${P[@]}" tag "$REG/pod/src:v1" "$REG/pod/dst:v1"
run "${P[@]}" push --tls-verify=false "${PODMAN_CREDS[@]}" --digestfile "$WORK/d-oci" "$REG/pod/dst:v1"
DST=$(reg_digest pod/dst:v1)
expect_eq "podman --digestfile vs registry digest of pod/dst:v1" "$DST" "$(cat "$WORK/d-oci")"
expect_eq "HEAD Docker-Content-Digest of pod/dst:v1" "$DST" "$(head_manifest_digest pod/dst v1)"
say "    (podman recompresses layers, so pod/dst:v1 = $DST may differ from pod/src:v1 = $IMG)"

step "podman push --format v2s2 (Docker manifest)"
run "${P[@]}" push --tls-verify=false "${PODMAN_CREDS[@]}" --format v2s2 --digestfile "$WORK/d-v2s2" \
  "$REG/pod/dst:v1" "docker://$REG/pod/dst:v2s2"
DST2=$(reg_digest pod/dst:v2s2)
expect_eq "podman --digestfile vs registry digest of pod/dst:v2s2" "$DST2" "$(cat "$WORK/d-v2s2")"
expect_eq "mediaType served for pod/dst:v2s2" "application/vnd.docker.distribution.manifest.v2+json" \
  "$(reg_raw pod/dst:v2s2 | jq -r .mediaType)"
expect_eq "HEAD Docker-Content-Digest of pod/dst:v2s2" "$DST2" "$(head_manifest_digest pod/dst v2s2)"

step "remove local images, pull back"
run "${P[@]}" rmi --all --force
N=$(out "${P[@]}" images -q | wc -l)
expect_eq "local images after rmi" 0 "$N"
run "${P[@]}" pull --tls-verify=false "${PODMAN_CREDS[@]}" "$REG/pod/dst:v1"
expect_eq "podman image inspect .Digest of pod/dst:v1 (pulled back)" "$DST" "$(local_digest "$REG/pod/dst:v1")"
run "${P[@]}" pull --tls-verify=false "${PODMAN_CREDS[@]}" "$REG/pod/dst:v2s2"
# Same config => same local image as pod/dst:v1, whose .Digest stays the first manifest's;
# the v2s2 manifest digest shows up in RepoDigests.
RD=$(out "${P[@]}" image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$REG/pod/dst:v2s2")
grep -qx "$REG/pod/dst@$DST2" <<<"$RD" || fail "RepoDigests of pod/dst:v2s2 lack $REG/pod/dst@$DST2: $RD"
pass "RepoDigests of the pulled pod/dst:v2s2 contain $REG/pod/dst@$DST2"
MNT=$(out "${P[@]}" image mount "$REG/pod/dst:v2s2")
expect_eq "/hello.txt in pod/dst:v2s2" "$(cat "$SRC/hello-v1.txt")" "$(cat "$MNT/hello.txt")"
run "${P[@]}" image unmount "$REG/pod/dst:v2s2"

step "shutdown"
assert_berth_alive
stop_berth
