#!/usr/bin/env bash
# skopeo against berth: push/pull round trips of a single image and a multi-arch index
# (digests must survive unchanged), registry-to-registry copies (same berth: cross-repo
# mount path; second berth), list-tags, inspect, delete.
. "$(dirname "$0")/lib.sh"

step "start berth A"
start_berth
REG_A=$REG

step "build test images (OCI layouts)"
SRC=$WORK/src
IMG=$(make_image "$SRC" v1)
say "single image $IMG, layers: $(layout_layers "$SRC" "$IMG" | tr '\n' ' ')"
MULTI=$WORK/multi
IDX=$(make_multiarch "$MULTI" v1)
say "index $IDX, children:"
layout_children "$MULTI" "$IDX" | sed 's/^/    /'

# ---------------------------------------------------------------------------------------
step "single image: oci: -> docker:// (skopeo copy)"
skopeo_push_layout "$SRC" v1 it/single:v1 --digestfile "$WORK/digest-single"
expect_eq "digest reported by skopeo --digestfile" "$IMG" "$(cat "$WORK/digest-single")"
expect_eq "sha256 of 'skopeo inspect --raw' it/single:v1" "$IMG" "$(reg_digest it/single:v1)"
expect_eq "Docker-Content-Digest of HEAD /v2/it/single/manifests/v1" "$IMG" \
  "$(head_manifest_digest it/single v1)"
expect_eq "sha256 of 'skopeo inspect --raw' it/single@digest" "$IMG" "$(reg_digest "it/single@$IMG")"

step "single image: docker:// -> oci: (by tag and by digest), compare digests"
check_roundtrip it/single:v1 "$SRC" v1
check_roundtrip "it/single@$IMG" "$SRC" v1

# ---------------------------------------------------------------------------------------
step "multi-arch index: skopeo copy --all oci: -> docker://"
skopeo_push_layout "$MULTI" v1 it/multi:v1 --all --digestfile "$WORK/digest-multi"
expect_eq "index digest reported by skopeo --digestfile" "$IDX" "$(cat "$WORK/digest-multi")"
expect_eq "sha256 of 'skopeo inspect --raw' it/multi:v1 (index)" "$IDX" "$(reg_digest it/multi:v1)"
expect_eq "mediaType of the served index" "application/vnd.oci.image.index.v1+json" \
  "$(reg_raw it/multi:v1 | jq -r .mediaType)"
while read -r child plat; do
  expect_eq "sha256 of 'skopeo inspect --raw' it/multi@$child ($plat)" "$child" \
    "$(reg_digest "it/multi@$child")"
done < <(layout_children "$MULTI" "$IDX")

step "multi-arch: platform resolution (skopeo inspect --override-arch)"
expect_eq "inspect it/multi:v1 (amd64) Architecture" amd64 \
  "$(out skopeo_cmd --override-arch amd64 inspect --tls-verify=false "${SK_CREDS[@]}" \
    "docker://$REG/it/multi:v1" | jq -r .Architecture)"
expect_eq "inspect it/multi:v1 (arm64) Architecture" arm64 \
  "$(out skopeo_cmd --override-arch arm64 --override-variant v8 inspect --tls-verify=false \
    "${SK_CREDS[@]}" "docker://$REG/it/multi:v1" | jq -r .Architecture)"

step "multi-arch: skopeo copy --all docker:// -> oci:, compare index and both children"
BACK=$WORK/multi-back
skopeo_pull_layout it/multi:v1 "$BACK" v1 --all
expect_eq "pulled index digest" "$IDX" "$(layout_digest "$BACK" v1)"
expect_eq "pulled children" "$(layout_children "$MULTI" "$IDX" | tr '\n' ' ')" \
  "$(layout_children "$BACK" "$IDX" | tr '\n' ' ')"
while read -r child plat; do
  expect_eq "layers of $plat child" "$(layout_layers "$MULTI" "$child" | tr '\n' ' ')" \
    "$(layout_layers "$BACK" "$child" | tr '\n' ' ')"
done < <(layout_children "$MULTI" "$IDX")
verify_layout "$BACK"

# ---------------------------------------------------------------------------------------
step "registry-to-registry on the same berth (another repo; skopeo may use cross-repo mounts)"
run skopeo_cmd copy --preserve-digests --src-tls-verify=false --dest-tls-verify=false \
  "${SK_SRC_CREDS[@]}" "${SK_DEST_CREDS[@]}" "docker://$REG/it/single:v1" "docker://$REG/other/single:copied"
if grep -qi 'mount=' "$LAST_LOG"; then say "    (skopeo tried a cross-repo mount)"; fi
expect_eq "digest of other/single:copied" "$IMG" "$(reg_digest other/single:copied)"
run skopeo_cmd copy --all --preserve-digests --src-tls-verify=false --dest-tls-verify=false \
  "${SK_SRC_CREDS[@]}" "${SK_DEST_CREDS[@]}" "docker://$REG/it/multi:v1" "docker://$REG/other/multi:copied"
expect_eq "index digest of other/multi:copied" "$IDX" "$(reg_digest other/multi:copied)"
while read -r child plat; do
  expect_eq "other/multi@$child ($plat)" "$child" "$(reg_digest "other/multi@$child")"
done < <(layout_children "$MULTI" "$IDX")
check_roundtrip other/single:copied "$SRC" v1

step "cross-repo mount with curl (POST /v2/mnt/blobs/uploads/?mount=&from=)"
LAYER0=$(layout_layers "$SRC" "$IMG" | head -n1)
HDRS=$WORK/mount-headers
code=$(curl -sS -o /dev/null -D "$HDRS" -w '%{http_code}' -X POST "${CURL_AUTH[@]}" \
  "http://$REG/v2/mnt/blobs/uploads/?mount=$LAYER0&from=it/single")
if [[ $code != 201 ]]; then
  cat "$HDRS" >&2
  fail "POST /v2/mnt/blobs/uploads/?mount=$LAYER0&from=it/single: expected 201, got $code"
fi
pass "mount of $LAYER0 from it/single into mnt: 201"
expect_eq "Docker-Content-Digest of the mount" "$LAYER0" \
  "$(tr -d '\r' <"$HDRS" | awk 'tolower($1)=="docker-content-digest:"{print $2}')"
expect_eq "HEAD /v2/mnt/blobs/$LAYER0 after mount" 200 \
  "$(http_status HEAD "http://$REG/v2/mnt/blobs/$LAYER0")"
expect_eq "sha256 of GET /v2/mnt/blobs/$LAYER0" "$LAYER0" \
  "$(curl -fsS -L "${CURL_AUTH[@]}" "http://$REG/v2/mnt/blobs/$LAYER0" | sha256_stdin)"
# An unknown blob cannot be mounted: the spec says the registry falls back to a plain
# upload session (202 with a Location).
code=$(http_status POST "http://$REG/v2/mnt/blobs/uploads/?mount=sha256:$(printf '%064d' 0)&from=it/single")
expect_eq "POST ?mount= of an unknown blob falls back to an upload session" 202 "$code"

# ---------------------------------------------------------------------------------------
step "registry-to-registry between two berth instances"
start_berth
REG_B=$REG
REG=$REG_A
run skopeo_cmd copy --preserve-digests --src-tls-verify=false --dest-tls-verify=false \
  "${SK_SRC_CREDS[@]}" "${SK_DEST_CREDS[@]}" "docker://$REG_A/it/single:v1" "docker://$REG_B/mirror/single:v1"
run skopeo_cmd copy --all --preserve-digests --src-tls-verify=false --dest-tls-verify=false \
  "${SK_SRC_CREDS[@]}" "${SK_DEST_CREDS[@]}" "docker://$REG_A/it/multi:v1" "docker://$REG_B/mirror/multi:v1"
expect_eq "digest of B mirror/single:v1" "$IMG" "$(REG=$REG_B reg_digest mirror/single:v1)"
expect_eq "index digest of B mirror/multi:v1" "$IDX" "$(REG=$REG_B reg_digest mirror/multi:v1)"
while read -r child plat; do
  expect_eq "B mirror/multi@$child ($plat)" "$child" "$(REG=$REG_B reg_digest "mirror/multi@$child")"
done < <(layout_children "$MULTI" "$IDX")
REG=$REG_B check_roundtrip mirror/single:v1 "$SRC" v1

# ---------------------------------------------------------------------------------------
step "skopeo list-tags"
skopeo_push_layout "$SRC" v1 it/single:v2
skopeo_push_layout "$SRC" v1 it/single:latest
TAGS=$(out skopeo_cmd list-tags --tls-verify=false "${SK_CREDS[@]}" "docker://$REG/it/single" |
  jq -r '.Tags | sort | join(" ")')
expect_eq "tags of it/single" "latest v1 v2" "$TAGS"
expect_eq "tags of it/multi" "v1" \
  "$(out skopeo_cmd list-tags --tls-verify=false "${SK_CREDS[@]}" "docker://$REG/it/multi" |
    jq -r '.Tags | sort | join(" ")')"
expect_fail skopeo_cmd list-tags --tls-verify=false "${SK_CREDS[@]}" "docker://$REG/no/such/repo"
pass "list-tags of a repository that does not exist fails: $(last_error)"

# ---------------------------------------------------------------------------------------
step "skopeo inspect"
INSPECT=$(out skopeo_cmd inspect --tls-verify=false "${SK_CREDS[@]}" "docker://$REG/it/single:v1")
expect_eq "inspect .Digest" "$IMG" "$(jq -r .Digest <<<"$INSPECT")"
expect_eq "inspect .Architecture/.Os" "amd64/linux" "$(jq -r '"\(.Architecture)/\(.Os)"' <<<"$INSPECT")"
expect_eq "inspect .Layers" "$(layout_layers "$SRC" "$IMG" | tr '\n' ' ')" \
  "$(jq -r '.Layers[]' <<<"$INSPECT" | tr '\n' ' ')"
expect_eq "inspect .RepoTags" "latest v1 v2" "$(jq -r '.RepoTags | sort | join(" ")' <<<"$INSPECT")"
expect_eq "inspect .Labels (from the config blob)" "$(cat "$SRC/hello-v1.txt")" \
  "$(jq -r '.Labels["berth.test.text"]' <<<"$INSPECT")"
expect_eq "inspect --config digest" "$(layout_config "$SRC" "$IMG")" \
  "$(out skopeo_cmd inspect --config --raw --tls-verify=false "${SK_CREDS[@]}" \
    "docker://$REG/it/single:v1" | sha256_stdin)"

# ---------------------------------------------------------------------------------------
step "skopeo delete"
run skopeo_cmd delete --tls-verify=false "${SK_CREDS[@]}" "docker://$REG/it/single:v1"
expect_fail skopeo_cmd inspect --tls-verify=false "${SK_CREDS[@]}" "docker://$REG/it/single:v1"
pass "inspect it/single:v1 after delete fails: $(last_error)"
expect_fail skopeo_cmd inspect --raw --tls-verify=false "${SK_CREDS[@]}" "docker://$REG/it/single@$IMG"
pass "inspect it/single@digest after delete fails"
expect_eq "HEAD /v2/it/single/manifests/$IMG after delete" 404 \
  "$(http_status HEAD "http://$REG/v2/it/single/manifests/$IMG")"
# Deleting by digest removes every tag that pointed at it (v1, v2, latest).
# An empty tag list and NAME_UNKNOWN are both acceptable for a repository without tags.
if TAGS=$(out skopeo_cmd list-tags --tls-verify=false "${SK_CREDS[@]}" "docker://$REG/it/single" 2>/dev/null |
  jq -r '(.Tags // []) | sort | join(" ")'); then
  expect_eq "tags of it/single after deleting the manifest" "" "$TAGS"
else
  expect_fail skopeo_cmd list-tags --tls-verify=false "${SK_CREDS[@]}" "docker://$REG/it/single"
  pass "list-tags of it/single after deleting its only manifest fails: $(last_error)"
fi
step "delete is per repository: the same image in other/single is intact"
expect_eq "other/single:copied still served" "$IMG" "$(reg_digest other/single:copied)"
check_roundtrip other/single:copied "$SRC" v1
step "push again after delete"
skopeo_push_layout "$SRC" v1 it/single:v1
expect_eq "it/single:v1 is back" "$IMG" "$(reg_digest it/single:v1)"
check_roundtrip it/single:v1 "$SRC" v1

step "delete the multi-arch index"
run skopeo_cmd delete --tls-verify=false "${SK_CREDS[@]}" "docker://$REG/it/multi:v1"
expect_fail skopeo_cmd inspect --raw --tls-verify=false "${SK_CREDS[@]}" "docker://$REG/it/multi:v1"
pass "inspect it/multi:v1 after delete fails"

step "shutdown"
assert_berth_alive "$BERTH_PID"
stop_berth "$BERTH_PID"
stop_berth "${BERTH_PIDS[0]}"
