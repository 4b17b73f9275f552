#!/usr/bin/env bash
# The unmodified `aws ecr` CLI (v1) against berth, with the administrator credentials berth
# writes to <data-dir>/admin-credentials at first start: every ECR action berth implements,
# error cases (non-zero exit status and the exception name on stderr), CLI pagination
# (--max-items/--starting-token, --page-size), then `aws ecr get-login-password` piped into
# `skopeo login` and `podman login`, followed by pushes and pulls with those logins.
#
# Run:  BERTH_BIN=/tmp/build-rel/berth bash test/integration/ecr_cli_test.sh
#
# Unlike the other client scripts, a failed check does not stop the script: failed checks
# are collected and listed at the end (exit status 1). A client command that must succeed
# and does not still stops it.
. "$(dirname "$0")/clients/lib.sh"
require_cmds aws jq skopeo podman base64 cmp stat

# The CLI must use nothing but what this script gives it.
unset AWS_CA_BUNDLE AWS_PROFILE AWS_DEFAULT_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY \
  AWS_SESSION_TOKEN AWS_SECURITY_TOKEN
export AWS_MAX_ATTEMPTS=1 AWS_EC2_METADATA_DISABLED=true AWS_DEFAULT_REGION=us-east-1 \
  AWS_CONFIG_FILE=/dev/null AWS_PAGER=""


# ecr ARGS...: `aws ecr ARGS --endpoint-url http://$REG --output json`, must succeed;
# prints its stdout.
ecr() { out aws ecr --endpoint-url "http://$REG" --output json "$@"; }

# ecr_err EXCEPTION ARGS...: the CLI must exit non-zero with "(EXCEPTION)" on stderr.
ecr_err() {
  local exc=$1 log rc=0
  shift
  log=$(mktemp "$WORK/logs/XXXX-aws-err.log")
  say "+ (must fail with $exc) aws ecr $*"
  timeout --kill-after=10 "$CLIENT_TIMEOUT" aws ecr --endpoint-url "http://$REG" --output json \
    "$@" >"$log.out" 2>"$log" || rc=$?
  if ((rc == 0)); then
    check_fail "aws ecr $1 should fail with $exc but succeeded: $(head -c 300 "$log.out")"
  elif ((rc == 124)); then
    check_fail "aws ecr $1 timed out (expected $exc)"
  elif grep -q "($exc)" "$log"; then
    pass "aws ecr $1 fails with $exc (exit status $rc)"
  else
    check_fail "aws ecr $1 should fail with $exc; exit status $rc, stderr: $(tr '\n' ' ' <"$log" | tail -c 400)"
  fi
}

# count_requests ACTION: how many ECR requests for ACTION berth has logged so far.
count_requests() { grep -c "\"route\":\"ecr_$1\"" "$BERTH_LOG" || true; }

sha256_of() { sha256_file "$1"; }

# ---------------------------------------------------------------------------------------
step "start berth; the administrator credentials file"
start_berth
CREDS=$BERTH_DATA/admin-credentials
if [[ -f $CREDS ]]; then pass "$CREDS exists"; else fail "berth did not write $CREDS"; fi
ck_eq "mode of admin-credentials" 600 "$(stat -c %a "$CREDS")"
ck "admin-credentials has a [default] profile with the provisioned key" \
  grep -q "aws_access_key_id *= *$BERTH_ADMIN_ACCESS_KEY_ID" "$CREDS"
ck "the log names the credentials file" grep -q "admin-credentials" "$BERTH_LOG"
export AWS_SHARED_CREDENTIALS_FILE=$CREDS

# ---------------------------------------------------------------------------------------
step "DescribeRegistry, GetAuthorizationToken, get-login-password"
REGISTRY_ID=$(ecr describe-registry | jq -r .registryId)
if [[ $REGISTRY_ID =~ ^[0-9]{12}$ ]]; then pass "registryId $REGISTRY_ID"; else check_fail "registryId '$REGISTRY_ID' is not 12 digits"; fi
AUTH=$(ecr get-authorization-token)
ck_eq "proxyEndpoint" "http://$REG" "$(jq -r '.authorizationData[0].proxyEndpoint' <<<"$AUTH")"
ck_eq "authorizationToken user" "AWS" \
  "$(jq -r '.authorizationData[0].authorizationToken' <<<"$AUTH" | base64 -d | cut -d: -f1)"
EXP=$(jq -r '.authorizationData[0].expiresAt' <<<"$AUTH")
EXP_S=$(python3 -c 'import sys,datetime;v=sys.argv[1]
try: print(int(float(v)))
except ValueError: print(int(datetime.datetime.fromisoformat(v).timestamp()))' "$EXP")
DELTA=$((EXP_S - $(date +%s)))
if ((DELTA > 12 * 3600 - 300 && DELTA <= 12 * 3600 + 60)); then
  pass "expiresAt is ~12 h ahead ($DELTA s)"
else
  check_fail "expiresAt $EXP is $DELTA s ahead, expected ~43200"
fi
PASSWORD=$(ecr get-login-password)
[[ -n $PASSWORD ]] && pass "get-login-password prints a token" || check_fail "get-login-password printed nothing"
ck_eq "GET /v2/ with Basic <authorizationToken>" 200 \
  "$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Basic $(jq -r '.authorizationData[0].authorizationToken' <<<"$AUTH")" "http://$REG/v2/")"
ck_eq "GET /v2/ with Basic AWS:<password>" 200 \
  "$(curl -sS -o /dev/null -w '%{http_code}' -u "AWS:$PASSWORD" "http://$REG/v2/")"
ck_eq "GET /v2/ without credentials" 401 \
  "$(curl -sS -o /dev/null -w '%{http_code}' "http://$REG/v2/")"

# ---------------------------------------------------------------------------------------
step "CreateRepository, DescribeRepositories, PutImageTagMutability"
R=$(ecr create-repository --repository-name cli/app \
  --tags Key=team,Value=cli Key=env,Value=test \
  --image-tag-mutability IMMUTABLE_WITH_EXCLUSION \
  --image-tag-mutability-exclusion-filters filterType=WILDCARD,filter='dev-*' \
  --image-scanning-configuration scanOnPush=true \
  --encryption-configuration encryptionType=AES256)
ck_eq "repositoryArn" "arn:aws:ecr:us-east-1:$REGISTRY_ID:repository/cli/app" \
  "$(jq -r .repository.repositoryArn <<<"$R")"
ck_eq "repositoryUri" "$REG/cli/app" "$(jq -r .repository.repositoryUri <<<"$R")"
ck_eq "imageTagMutability" IMMUTABLE_WITH_EXCLUSION "$(jq -r .repository.imageTagMutability <<<"$R")"
ck_eq "exclusion filters" '[{"filterType":"WILDCARD","filter":"dev-*"}]' \
  "$(jq -c .repository.imageTagMutabilityExclusionFilters <<<"$R")"
ck_eq "scanOnPush" true "$(jq -r .repository.imageScanningConfiguration.scanOnPush <<<"$R")"
ck_eq "encryptionType" AES256 "$(jq -r .repository.encryptionConfiguration.encryptionType <<<"$R")"
ecr_err RepositoryAlreadyExistsException create-repository --repository-name cli/app
ecr_err InvalidParameterException create-repository --repository-name CLI/Upper
ecr_err InvalidTagParameterException create-repository --repository-name cli/awstag \
  --tags Key=aws:x,Value=y
D=$(ecr describe-repositories --repository-names cli/app)
ck_eq "describe-repositories --repository-names" "cli/app IMMUTABLE_WITH_EXCLUSION" \
  "$(jq -r '.repositories[0] | "\(.repositoryName) \(.imageTagMutability)"' <<<"$D")"
ecr_err RepositoryNotFoundException describe-repositories --repository-names cli/nope
M=$(ecr put-image-tag-mutability --repository-name cli/app --image-tag-mutability MUTABLE)
ck_eq "put-image-tag-mutability answer" MUTABLE "$(jq -r .imageTagMutability <<<"$M")"
ck_eq "describe after put-image-tag-mutability" MUTABLE \
  "$(ecr describe-repositories --repository-names cli/app | jq -r '.repositories[0].imageTagMutability')"
ecr_err RepositoryNotFoundException put-image-tag-mutability --repository-name cli/nope \
  --image-tag-mutability MUTABLE

# ---------------------------------------------------------------------------------------
step "pagination of describe-repositories (--max-items/--starting-token, --page-size)"
for i in 1 2 3 4 5; do ecr create-repository --repository-name "cli/page-$i" >/dev/null; done
TOTAL=$(ecr describe-repositories | jq '.repositories | length')
ck_eq "repositories in one default page (cli/app + 5)" 6 "$TOTAL"
P1=$(ecr describe-repositories --max-items 4)
ck_eq "--max-items 4: items" 4 "$(jq '.repositories | length' <<<"$P1")"
TOK=$(jq -r '.NextToken // empty' <<<"$P1")
[[ -n $TOK ]] && pass "--max-items 4 gives a NextToken" || check_fail "--max-items 4 gave no NextToken"
P2=$(ecr describe-repositories --max-items 4 --starting-token "$TOK")
ck_eq "--starting-token: the remaining items" 2 "$(jq '.repositories | length' <<<"$P2")"
ck_eq "last page: no NextToken" "" "$(jq -r '.NextToken // empty' <<<"$P2")"
ck_eq "the two pages hold every repository once" 6 \
  "$(jq -s '[.[].repositories[].repositoryName] | unique | length' <<<"$P1$P2")"
BEFORE=$(count_requests DescribeRepositories)
ALL=$(ecr describe-repositories --page-size 2)
N=$(($(count_requests DescribeRepositories) - BEFORE))
ck_eq "--page-size 2 still returns all" 6 "$(jq '.repositories | length' <<<"$ALL")"
((N >= 3)) && pass "--page-size 2 took $N requests (maxResults=2 + nextToken)" ||
  check_fail "--page-size 2 took $N request(s), expected at least 3"
ck_eq "--page-size 2 --max-items 3" 3 \
  "$(ecr describe-repositories --page-size 2 --max-items 3 | jq '.repositories | length')"

# ---------------------------------------------------------------------------------------
step "push through the ECR layer API: InitiateLayerUpload / UploadLayerPart / CompleteLayerUpload / PutImage"
ecr create-repository --repository-name cli/ecrpush >/dev/null
IMGD=$WORK/ecrimg
mkdir -p "$IMGD"
random_file "$IMGD/layer.bin" 70000
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"nonce":"%s"}' \
  "$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')" >"$IMGD/config.json"
LAYER_DG=$(sha256_of "$IMGD/layer.bin")
CONFIG_DG=$(sha256_of "$IMGD/config.json")
head -c 40000 "$IMGD/layer.bin" >"$IMGD/part1"
tail -c +40001 "$IMGD/layer.bin" >"$IMGD/part2"

B=$(ecr batch-check-layer-availability --repository-name cli/ecrpush --layer-digests "$LAYER_DG")
ck_eq "layer missing before upload: failureCode" MissingLayerDigest "$(jq -r '.failures[0].failureCode' <<<"$B")"

UP=$(ecr initiate-layer-upload --repository-name cli/ecrpush)
UPLOAD_ID=$(jq -r .uploadId <<<"$UP")
if [[ $UPLOAD_ID =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]]; then
  pass "uploadId is a UUID ($UPLOAD_ID)"
else
  check_fail "uploadId '$UPLOAD_ID' is not a UUID"
fi
U1=$(ecr upload-layer-part --repository-name cli/ecrpush --upload-id "$UPLOAD_ID" \
  --part-first-byte 0 --part-last-byte 39999 --layer-part-blob "fileb://$IMGD/part1")
ck_eq "lastByteReceived after part 1" 39999 "$(jq -r .lastByteReceived <<<"$U1")"
ecr_err InvalidLayerPartException upload-layer-part --repository-name cli/ecrpush \
  --upload-id "$UPLOAD_ID" --part-first-byte 50000 --part-last-byte 59999 \
  --layer-part-blob "fileb://$IMGD/part2"
U2=$(ecr upload-layer-part --repository-name cli/ecrpush --upload-id "$UPLOAD_ID" \
  --part-first-byte 40000 --part-last-byte 69999 --layer-part-blob "fileb://$IMGD/part2")
ck_eq "lastByteReceived after part 2" 69999 "$(jq -r .lastByteReceived <<<"$U2")"
C=$(ecr complete-layer-upload --repository-name cli/ecrpush --upload-id "$UPLOAD_ID" \
  --layer-digests "$LAYER_DG")
ck_eq "complete-layer-upload layerDigest" "$LAYER_DG" "$(jq -r .layerDigest <<<"$C")"
ecr_err UploadNotFoundException upload-layer-part --repository-name cli/ecrpush \
  --upload-id 00000000-0000-4000-8000-000000000000 --part-first-byte 0 --part-last-byte 39999 \
  --layer-part-blob "fileb://$IMGD/part1"

# The config, in one part; then a wrong digest and an empty upload.
UPLOAD_ID=$(ecr initiate-layer-upload --repository-name cli/ecrpush | jq -r .uploadId)
ecr upload-layer-part --repository-name cli/ecrpush --upload-id "$UPLOAD_ID" --part-first-byte 0 \
  --part-last-byte $(($(stat -c %s "$IMGD/config.json") - 1)) \
  --layer-part-blob "fileb://$IMGD/config.json" >/dev/null
ecr complete-layer-upload --repository-name cli/ecrpush --upload-id "$UPLOAD_ID" \
  --layer-digests "$CONFIG_DG" >/dev/null
UPLOAD_ID=$(ecr initiate-layer-upload --repository-name cli/ecrpush | jq -r .uploadId)
ecr upload-layer-part --repository-name cli/ecrpush --upload-id "$UPLOAD_ID" --part-first-byte 0 \
  --part-last-byte 39999 --layer-part-blob "fileb://$IMGD/part1" >/dev/null
ecr_err InvalidLayerException complete-layer-upload --repository-name cli/ecrpush \
  --upload-id "$UPLOAD_ID" --layer-digests "sha256:$(printf 'd%.0s' {1..64})"
UPLOAD_ID=$(ecr initiate-layer-upload --repository-name cli/ecrpush | jq -r .uploadId)
ecr_err EmptyUploadException complete-layer-upload --repository-name cli/ecrpush \
  --upload-id "$UPLOAD_ID" --layer-digests "$LAYER_DG"
UPLOAD_ID=$(ecr initiate-layer-upload --repository-name cli/ecrpush | jq -r .uploadId)
ecr upload-layer-part --repository-name cli/ecrpush --upload-id "$UPLOAD_ID" --part-first-byte 0 \
  --part-last-byte $(($(stat -c %s "$IMGD/config.json") - 1)) \
  --layer-part-blob "fileb://$IMGD/config.json" >/dev/null
ecr_err LayerAlreadyExistsException complete-layer-upload --repository-name cli/ecrpush \
  --upload-id "$UPLOAD_ID" --layer-digests "$CONFIG_DG"

B=$(ecr batch-check-layer-availability --repository-name cli/ecrpush \
  --layer-digests "$LAYER_DG" "$CONFIG_DG")
ck_eq "batch-check-layer-availability after upload" "AVAILABLE AVAILABLE" \
  "$(jq -r '[.layers[].layerAvailability] | join(" ")' <<<"$B")"
ck_eq "layerSize of the layer" 70000 \
  "$(jq -r --arg d "$LAYER_DG" '.layers[] | select(.layerDigest == $d) | .layerSize' <<<"$B")"

jq -n --arg cd "$CONFIG_DG" --argjson cs "$(stat -c %s "$IMGD/config.json")" \
  --arg ld "$LAYER_DG" --argjson ls 70000 '{
    schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $cd, size: $cs},
    layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $ld, size: $ls}]
  }' >"$IMGD/manifest.json"
MANIFEST_DG=$(sha256_of "$IMGD/manifest.json")
PI=$(ecr put-image --repository-name cli/ecrpush --image-tag v1 \
  --image-manifest "file://$IMGD/manifest.json")
ck_eq "put-image imageDigest" "$MANIFEST_DG" "$(jq -r .image.imageId.imageDigest <<<"$PI")"
ecr_err ImageAlreadyExistsException put-image --repository-name cli/ecrpush --image-tag v1 \
  --image-manifest "file://$IMGD/manifest.json"
ecr_err ImageDigestDoesNotMatchException put-image --repository-name cli/ecrpush --image-tag v2 \
  --image-digest "sha256:$(printf '0%.0s' {1..64})" --image-manifest "file://$IMGD/manifest.json"
jq --arg d "sha256:$(printf 'a%.0s' {1..64})" '.layers[0].digest = $d' "$IMGD/manifest.json" \
  >"$IMGD/missing-layer.json"
ecr_err LayersNotFoundException put-image --repository-name cli/ecrpush --image-tag broken \
  --image-manifest "file://$IMGD/missing-layer.json"
printf '{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:%s", "size": 500}]}' \
  "$(printf 'b%.0s' {1..64})" >"$IMGD/index.json"
ecr_err ReferencedImagesNotFoundException put-image --repository-name cli/ecrpush \
  --image-tag idx --image-manifest "file://$IMGD/index.json"
ecr_err InvalidParameterException put-image --repository-name cli/ecrpush --image-tag bad \
  --image-manifest '{"this is": not json'

step "the ECR push, seen over OCI (byte-identical manifest) and GetDownloadUrlForLayer"
curl -sS -f -u "$BERTH_ADMIN_ACCESS_KEY_ID:$BERTH_ADMIN_SECRET_ACCESS_KEY" \
  -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  -o "$WORK/served-manifest" "http://$REG/v2/cli/ecrpush/manifests/v1"
ck "GET /v2/cli/ecrpush/manifests/v1 is byte-identical to what put-image sent" \
  cmp "$IMGD/manifest.json" "$WORK/served-manifest"
URL=$(ecr get-download-url-for-layer --repository-name cli/ecrpush --layer-digest "$LAYER_DG" |
  jq -r .downloadUrl)
ck_eq "downloadUrl points at berth" "http://$REG/" "${URL:0:$((${#REG} + 8))}"
curl -sS -o "$WORK/downloaded-layer" -w '%{http_code}' "$URL" >"$WORK/dl-status" || true
ck_eq "GET downloadUrl without credentials" 200 "$(cat "$WORK/dl-status")"
ck "downloaded layer is the uploaded one" cmp "$IMGD/layer.bin" "$WORK/downloaded-layer"
ecr_err LayersNotFoundException get-download-url-for-layer --repository-name cli/ecrpush \
  --layer-digest "sha256:$(printf 'c%.0s' {1..64})"

# ---------------------------------------------------------------------------------------
step "get-login-password | skopeo login; skopeo copy push and pull"
SRC=$WORK/src
IMG=$(make_image "$SRC" v1)
IMG2=$(make_image "$SRC" v2)
SK_AUTH=$WORK/skopeo-auth.json
ecr get-login-password | skopeo_cmd login --tls-verify=false --authfile "$SK_AUTH" \
  --username AWS --password-stdin "$REG" >"$WORK/logs/skopeo-login.log" 2>&1 ||
  fail "skopeo login with get-login-password failed: $(tail -n 5 "$WORK/logs/skopeo-login.log")"
pass "skopeo login --username AWS --password-stdin $REG"
ck "the auth file holds an entry for $REG" jq -e --arg r "$REG" '.auths[$r].auth' "$SK_AUTH"
echo '{"auths":{}}' >"$WORK/empty-auth.json"
expect_fail skopeo_cmd copy --dest-tls-verify=false --dest-authfile "$WORK/empty-auth.json" \
  "oci:$SRC:v1" "docker://$REG/cli/anon:v1"
if grep -qi "401\|unauthorized\|authentication required" "$LAST_LOG"; then
  pass "skopeo push without credentials is refused (401)"
else
  check_fail "skopeo push without credentials failed, but not with 401: $(last_error)"
fi
run skopeo_cmd copy --preserve-digests --dest-tls-verify=false --dest-authfile "$SK_AUTH" \
  "oci:$SRC:v1" "docker://$REG/cli/app:v1"
run skopeo_cmd copy --preserve-digests --dest-tls-verify=false --dest-authfile "$SK_AUTH" \
  "oci:$SRC:v2" "docker://$REG/cli/app:dev-1"
BACK=$WORK/back
run skopeo_cmd copy --preserve-digests --src-tls-verify=false --src-authfile "$SK_AUTH" \
  "docker://$REG/cli/app:v1" "oci:$BACK:v1"
ck_eq "manifest digest pulled back with skopeo" "$IMG" "$(layout_digest "$BACK" v1)"
ck_eq "layers pulled back" "$(layout_layers "$SRC" "$IMG" | tr '\n' ' ')" \
  "$(layout_layers "$BACK" "$(layout_digest "$BACK" v1)" | tr '\n' ' ')"

step "ListImages, DescribeImages, BatchGetImage on the skopeo push"
L=$(ecr list-images --repository-name cli/app)
ck_eq "list-images" "$(printf '%s\n' "$IMG:v1" "$IMG2:dev-1" | sort | tr '\n' ' ')" \
  "$(jq -r '.imageIds[] | "\(.imageDigest):\(.imageTag)"' <<<"$L" | sort | tr '\n' ' ')"
ck_eq "list-images --filter tagStatus=UNTAGGED" 0 \
  "$(ecr list-images --repository-name cli/app --filter tagStatus=UNTAGGED | jq '.imageIds | length')"
DI=$(ecr describe-images --repository-name cli/app --image-ids imageTag=v1)
ck_eq "describe-images digest" "$IMG" "$(jq -r '.imageDetails[0].imageDigest' <<<"$DI")"
ck_eq "describe-images manifest media type" application/vnd.oci.image.manifest.v1+json \
  "$(jq -r '.imageDetails[0].imageManifestMediaType' <<<"$DI")"
SIZE=$(jq -r '.imageDetails[0].imageSizeInBytes' <<<"$DI")
((SIZE > 0)) && pass "imageSizeInBytes $SIZE" || check_fail "imageSizeInBytes '$SIZE'"
ecr_err ImageNotFoundException describe-images --repository-name cli/app --image-ids imageTag=nope
BG=$(ecr batch-get-image --repository-name cli/app --image-ids imageTag=v1 imageTag=nope \
  --accepted-media-types application/vnd.oci.image.manifest.v1+json)
ck_eq "batch-get-image manifest sha256" "$IMG" \
  "$(jq -j '.images[0].imageManifest' <<<"$BG" | sha256_stdin)"
ck_eq "batch-get-image failure for a missing tag" "nope ImageNotFound" \
  "$(jq -r '.failures[0] | "\(.imageId.imageTag) \(.failureCode)"' <<<"$BG")"

step "ListImageReferrers (an SBOM artifact pushed with put-image)"
printf '{}' >"$IMGD/empty.json"
UPLOAD_ID=$(ecr initiate-layer-upload --repository-name cli/app | jq -r .uploadId)
ecr upload-layer-part --repository-name cli/app --upload-id "$UPLOAD_ID" --part-first-byte 0 \
  --part-last-byte 1 --layer-part-blob "fileb://$IMGD/empty.json" >/dev/null
ecr complete-layer-upload --repository-name cli/app --upload-id "$UPLOAD_ID" \
  --layer-digests "$(sha256_of "$IMGD/empty.json")" >/dev/null
SUBJ_SIZE=$(jq -j '.images[0].imageManifest' <<<"$BG" | wc -c)
jq -n --arg e "$(sha256_of "$IMGD/empty.json")" --arg s "$IMG" --argjson ss "$SUBJ_SIZE" '{
    schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
    artifactType: "application/vnd.example.sbom.v1",
    config: {mediaType: "application/vnd.oci.empty.v1+json", digest: $e, size: 2},
    layers: [{mediaType: "application/vnd.oci.empty.v1+json", digest: $e, size: 2}],
    subject: {mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $s, size: $ss}
  }' >"$IMGD/sbom.json"
SBOM_DG=$(ecr put-image --repository-name cli/app --image-manifest "file://$IMGD/sbom.json" |
  jq -r .image.imageId.imageDigest)
ck_eq "sbom digest" "$(sha256_of "$IMGD/sbom.json")" "$SBOM_DG"
LR=$(ecr list-image-referrers --repository-name cli/app --subject-id imageDigest="$IMG")
ck_eq "list-image-referrers" "$SBOM_DG application/vnd.example.sbom.v1" \
  "$(jq -r '[.referrers[] | "\(.digest) \(.artifactType)"] | join(",")' <<<"$LR")"

step "list-images pagination (--max-items, --page-size)"
P1=$(ecr list-images --repository-name cli/app --max-items 2)
ck_eq "list-images --max-items 2" 2 "$(jq '.imageIds | length' <<<"$P1")"
TOK=$(jq -r '.NextToken // empty' <<<"$P1")
[[ -n $TOK ]] && pass "list-images NextToken" || check_fail "list-images --max-items 2 gave no NextToken"
P2=$(ecr list-images --repository-name cli/app --max-items 2 --starting-token "$TOK")
ck_eq "list-images second page" 1 "$(jq '.imageIds | length' <<<"$P2")"
BEFORE=$(count_requests ListImages)
ck_eq "list-images --page-size 1 returns all" 3 \
  "$(ecr list-images --repository-name cli/app --page-size 1 | jq '.imageIds | length')"
N=$(($(count_requests ListImages) - BEFORE))
((N >= 3)) && pass "list-images --page-size 1 took $N requests" ||
  check_fail "list-images --page-size 1 took $N request(s), expected at least 3"
BEFORE=$(count_requests DescribeImages)
ck_eq "describe-images --page-size 2 returns all" 3 \
  "$(ecr describe-images --repository-name cli/app --page-size 2 | jq '.imageDetails | length')"
N=$(($(count_requests DescribeImages) - BEFORE))
((N >= 2)) && pass "describe-images --page-size 2 took $N requests" ||
  check_fail "describe-images --page-size 2 took $N request(s), expected at least 2"

step "BatchDeleteImage"
run skopeo_cmd copy --preserve-digests --dest-tls-verify=false --dest-authfile "$SK_AUTH" \
  "oci:$SRC:v1" "docker://$REG/cli/app:v1-alias"
BD=$(ecr batch-delete-image --repository-name cli/app --image-ids imageTag=v1-alias imageTag=gone)
ck_eq "batch-delete-image deleted" "$IMG:v1-alias" \
  "$(jq -r '[.imageIds[] | "\(.imageDigest):\(.imageTag)"] | join(" ")' <<<"$BD")"
ck_eq "batch-delete-image failure" "gone ImageNotFound" \
  "$(jq -r '.failures[0] | "\(.imageId.imageTag) \(.failureCode)"' <<<"$BD")"
ck_eq "the image keeps its other tag" "v1" \
  "$(ecr describe-images --repository-name cli/app --image-ids imageDigest="$IMG" |
    jq -r '.imageDetails[0].imageTags | join(",")')"

# ---------------------------------------------------------------------------------------
step "TagResource, UntagResource, ListTagsForResource"
ARN="arn:aws:ecr:us-east-1:$REGISTRY_ID:repository/cli/app"
ck_eq "tags from create-repository" "env=test,team=cli" \
  "$(ecr list-tags-for-resource --resource-arn "$ARN" | jq -r '[.tags[] | "\(.Key)=\(.Value)"] | sort | join(",")')"
ecr tag-resource --resource-arn "$ARN" --tags Key=owner,Value=me >/dev/null
ecr untag-resource --resource-arn "$ARN" --tag-keys env >/dev/null
ck_eq "tags after tag/untag" "owner=me,team=cli" \
  "$(ecr list-tags-for-resource --resource-arn "$ARN" | jq -r '[.tags[] | "\(.Key)=\(.Value)"] | sort | join(",")')"
ecr_err InvalidTagParameterException tag-resource --resource-arn "$ARN" --tags Key=aws:x,Value=y
MANY=()
for i in $(seq 1 49); do MANY+=("Key=k$i,Value=v"); done
ecr_err TooManyTagsException tag-resource --resource-arn "$ARN" --tags "${MANY[@]}"
ecr_err RepositoryNotFoundException list-tags-for-resource \
  --resource-arn "arn:aws:ecr:us-east-1:$REGISTRY_ID:repository/cli/nope"

step "Set/Get/DeleteRepositoryPolicy, Put/Get/DeleteRegistryPolicy"
POLICY='{"Version":"2012-10-17","Statement":[{"Sid":"pull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}'
ecr_err RepositoryPolicyNotFoundException get-repository-policy --repository-name cli/app
ecr set-repository-policy --repository-name cli/app --policy-text "$POLICY" >/dev/null
ck_eq "get-repository-policy" "$(jq -cS . <<<"$POLICY")" \
  "$(ecr get-repository-policy --repository-name cli/app | jq -r .policyText | jq -cS .)"
ecr delete-repository-policy --repository-name cli/app >/dev/null
ecr_err RepositoryPolicyNotFoundException get-repository-policy --repository-name cli/app
ecr_err InvalidParameterException set-repository-policy --repository-name cli/app \
  --policy-text '{"Version": "2012-10-17", "Statement": ['
RPOLICY='{"Version":"2012-10-17","Statement":[{"Sid":"repl","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::210987654321:root"},"Action":["ecr:CreateRepository","ecr:ReplicateImage"],"Resource":"arn:aws:ecr:us-east-1:'$REGISTRY_ID':repository/*"}]}'
ecr_err RegistryPolicyNotFoundException get-registry-policy
ecr put-registry-policy --policy-text "$RPOLICY" >/dev/null
ck_eq "get-registry-policy" "$(jq -cS . <<<"$RPOLICY")" \
  "$(ecr get-registry-policy | jq -r .policyText | jq -cS .)"
ecr delete-registry-policy >/dev/null
ecr_err RegistryPolicyNotFoundException get-registry-policy

# ---------------------------------------------------------------------------------------
step "repository creation templates; create on push with skopeo; TAG_INVALID"
DT=$(ecr describe-repository-creation-templates)
ck_eq "a fresh server has a ROOT template for CREATE_ON_PUSH" "ROOT CREATE_ON_PUSH" \
  "$(jq -r '.repositoryCreationTemplates[] | select(.prefix == "ROOT") | "\(.prefix) \(.appliedFor | join(","))"' <<<"$DT")"
CT=$(ecr create-repository-creation-template --prefix cliteam --applied-for CREATE_ON_PUSH \
  --description "cli team" --image-tag-mutability IMMUTABLE \
  --resource-tags Key=owner,Value=cliteam)
ck_eq "create-repository-creation-template" "cliteam IMMUTABLE" \
  "$(jq -r '.repositoryCreationTemplate | "\(.prefix) \(.imageTagMutability)"' <<<"$CT")"
ecr_err TemplateAlreadyExistsException create-repository-creation-template --prefix cliteam \
  --applied-for CREATE_ON_PUSH
ck_eq "describe-repository-creation-templates --prefixes cliteam" "cli team" \
  "$(ecr describe-repository-creation-templates --prefixes cliteam |
    jq -r '.repositoryCreationTemplates[0].description')"
UT=$(ecr update-repository-creation-template --prefix cliteam --description "cli team v2")
ck_eq "update-repository-creation-template" "cli team v2" \
  "$(jq -r .repositoryCreationTemplate.description <<<"$UT")"
run skopeo_cmd copy --preserve-digests --dest-tls-verify=false --dest-authfile "$SK_AUTH" \
  "oci:$SRC:v1" "docker://$REG/cliteam/app:v1"
ck_eq "the pushed repository took the template's mutability" IMMUTABLE \
  "$(ecr describe-repositories --repository-names cliteam/app | jq -r '.repositories[0].imageTagMutability')"
ck_eq "... and its resourceTags" "owner=cliteam" \
  "$(ecr list-tags-for-resource --resource-arn "arn:aws:ecr:us-east-1:$REGISTRY_ID:repository/cliteam/app" |
    jq -r '[.tags[] | "\(.Key)=\(.Value)"] | join(",")')"
expect_fail skopeo_cmd copy --preserve-digests --dest-tls-verify=false --dest-authfile "$SK_AUTH" \
  "oci:$SRC:v2" "docker://$REG/cliteam/app:v1"
if grep -qi "TAG_INVALID\|tag invalid" "$LAST_LOG"; then
  pass "skopeo overwriting an immutable tag fails with TAG_INVALID"
else
  check_fail "skopeo overwriting an immutable tag: no TAG_INVALID in its output ($(last_error))"
fi
DEL=$(ecr delete-repository-creation-template --prefix cliteam)
ck_eq "delete-repository-creation-template" cliteam "$(jq -r .repositoryCreationTemplate.prefix <<<"$DEL")"
ecr_err TemplateNotFoundException delete-repository-creation-template --prefix cliteam
ecr_err TemplateNotFoundException update-repository-creation-template --prefix cliteam \
  --description x
ecr delete-repository-creation-template --prefix ROOT >/dev/null
expect_fail skopeo_cmd copy --preserve-digests --dest-tls-verify=false --dest-authfile "$SK_AUTH" \
  "oci:$SRC:v1" "docker://$REG/cli/strict:v1"
if grep -qi "NAME_UNKNOWN\|name unknown" "$LAST_LOG"; then
  pass "push to a new repository without a ROOT template: NAME_UNKNOWN"
else
  check_fail "push without a ROOT template failed, but not with NAME_UNKNOWN: $(last_error)"
fi
ecr_err RepositoryNotFoundException describe-repositories --repository-names cli/strict
ecr create-repository-creation-template --prefix ROOT --applied-for CREATE_ON_PUSH >/dev/null
pass "without ROOT a push to a new repository fails; ROOT restored"

# ---------------------------------------------------------------------------------------
step "get-login-password | podman login; podman pull, push, pull back"
P=(podman --storage-driver vfs --root "$WORK/proot" --runroot "$WORK/prunroot"
  --cgroup-manager cgroupfs --events-backend file --tmpdir "$WORK/podman-tmp")
mkdir -p "$WORK/podman-tmp"
CLEANUP_CMDS+=("${P[*]} image unmount --all --force")
PD_AUTH=$WORK/podman-auth.json
ecr get-login-password | "${P[@]}" login --tls-verify=false --authfile "$PD_AUTH" \
  -u AWS --password-stdin "$REG" >"$WORK/logs/podman-login.log" 2>&1 ||
  fail "podman login with get-login-password failed: $(tail -n 5 "$WORK/logs/podman-login.log")"
pass "podman login -u AWS --password-stdin $REG"
run "${P[@]}" pull --tls-verify=false --authfile "$PD_AUTH" "$REG/cli/app:v1"
ck_eq "podman pulled digest" "$IMG" \
  "$(out "${P[@]}" image inspect --format '{{.Digest}}' "$REG/cli/app:v1")"
run "${P[@]}" tag "$REG/cli/app:v1" "$REG/cli/podman:v1"
run "${P[@]}" push --tls-verify=false --authfile "$PD_AUTH" --digestfile "$WORK/podman-digest" \
  "$REG/cli/podman:v1"
PODMAN_DG=$(cat "$WORK/podman-digest")
ck_eq "the podman push, seen by list-images" "$PODMAN_DG:v1" \
  "$(ecr list-images --repository-name cli/podman | jq -r '.imageIds[] | "\(.imageDigest):\(.imageTag)"')"
run "${P[@]}" rmi --all --force
run "${P[@]}" pull --tls-verify=false --authfile "$PD_AUTH" "$REG/cli/podman:v1"
ck_eq "podman pulled back its push" "$PODMAN_DG" \
  "$(out "${P[@]}" image inspect --format '{{.Digest}}' "$REG/cli/podman:v1")"

# ---------------------------------------------------------------------------------------
step "refused signatures: wrong secret, unknown key, deleted key"
printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
  "$BERTH_ADMIN_ACCESS_KEY_ID" "definitely-not-the-secret-000000000000000" >"$WORK/bad-secret"
AWS_SHARED_CREDENTIALS_FILE=$WORK/bad-secret ecr_err InvalidSignatureException describe-repositories
printf '[default]\naws_access_key_id = AKIANOSUCHKEY0000000\naws_secret_access_key = x\n' \
  >"$WORK/bad-key"
AWS_SHARED_CREDENTIALS_FILE=$WORK/bad-key ecr_err UnrecognizedClientException describe-repositories
run "$BERTH_BIN" admin --data-dir "$BERTH_DATA" user create carol
KEY_JSON=$(out "$BERTH_BIN" admin --data-dir "$BERTH_DATA" access-key create carol)
printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
  "$(jq -r .AccessKeyId <<<"$KEY_JSON")" "$(jq -r .SecretAccessKey <<<"$KEY_JSON")" >"$WORK/carol"
chmod 600 "$WORK/carol"
run "$BERTH_BIN" admin --data-dir "$BERTH_DATA" policy attach carol AmazonEC2ContainerRegistryReadOnly
AWS_SHARED_CREDENTIALS_FILE=$WORK/carol ecr describe-repositories >/dev/null
pass "a key made with 'berth admin access-key create' works with the CLI"
# The read-only managed policy does not include ecr:DescribeRegistry (as on AWS).
AWS_SHARED_CREDENTIALS_FILE=$WORK/carol ecr_err AccessDeniedException describe-registry
run "$BERTH_BIN" admin --data-dir "$BERTH_DATA" access-key delete "$(jq -r .AccessKeyId <<<"$KEY_JSON")"
AWS_SHARED_CREDENTIALS_FILE=$WORK/carol ecr_err UnrecognizedClientException describe-registry
if grep -qF "$(jq -r .SecretAccessKey <<<"$KEY_JSON")" "$BERTH_LOG"; then
  check_fail "a secret access key appears in the server log"
else
  pass "no secret access key in the server log"
fi

# ---------------------------------------------------------------------------------------
step "lifecycle policies, previews and the archive storage class"
ecr_err LifecyclePolicyNotFoundException get-lifecycle-policy --repository-name cli/app
ecr_err InvalidParameterException put-lifecycle-policy --repository-name cli/app \
  --lifecycle-policy-text '{"rules":[{"rulePriority":1,"description":"tagged without a list","selection":{"tagStatus":"tagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}'
N_IMAGES=$(ecr describe-images --repository-name cli/app | jq '.imageDetails | length')
LP='{"rules": [{"rulePriority": 1, "description": "keep the newest image", "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}}]}'
PUT_LP=$(ecr put-lifecycle-policy --repository-name cli/app --lifecycle-policy-text "$LP")
ck_eq "put-lifecycle-policy stores the text minified" "$(jq -c . <<<"$LP")" \
  "$(jq -r .lifecyclePolicyText <<<"$PUT_LP")"
ck_eq "start-lifecycle-policy-preview" IN_PROGRESS \
  "$(ecr start-lifecycle-policy-preview --repository-name cli/app | jq -r .status)"
ecr wait lifecycle-policy-preview-complete --repository-name cli/app >/dev/null
PV=$(ecr get-lifecycle-policy-preview --repository-name cli/app)
ck_eq "get-lifecycle-policy-preview status" COMPLETE "$(jq -r .status <<<"$PV")"
# Images pushed in the same second tie on push time, and a referrer goes with its subject:
# at least one image expires, by rule 1, and the count matches the results.
ck_eq "the preview expires older images by rule 1" "true EXPIRE 1" \
  "$(jq -r '"\(.summary.expiringImageTotalCount >= 1 and .summary.expiringImageTotalCount == (.previewResults | length)) \(.previewResults[0].action.type) \(.previewResults[0].appliedRulePriority)"' <<<"$PV")"
ck_eq "a preview changes nothing" "$N_IMAGES" \
  "$(ecr describe-images --repository-name cli/app | jq '.imageDetails | length')"
if ! aws ecr help 2>/dev/null | grep -q update-image-storage-class; then
  say "this aws CLI predates ECR's archive storage class: archive checks skipped"
else
ck_eq "update-image-storage-class ARCHIVE" ARCHIVED \
  "$(ecr update-image-storage-class --repository-name cli/app --image-id imageTag=dev-1 \
    --target-storage-class ARCHIVE | jq -r .imageStatus)"
ck_eq "archived images are listed only on request" "$((N_IMAGES - 1)) 1" \
  "$(ecr describe-images --repository-name cli/app | jq '.imageDetails | length') $(
    ecr describe-images --repository-name cli/app --filter imageStatus=ARCHIVED |
      jq '.imageDetails | length')"
ecr_err ImageStorageClassUpdateNotSupportedException update-image-storage-class \
  --repository-name cli/app --image-id imageTag=dev-1 --target-storage-class ARCHIVE
ck_eq "update-image-storage-class STANDARD" ACTIVATING \
  "$(ecr update-image-storage-class --repository-name cli/app --image-id imageTag=dev-1 \
    --target-storage-class STANDARD | jq -r .imageStatus)"
for _ in $(seq 1 20); do
  S=$(ecr describe-images --repository-name cli/app --image-ids imageTag=dev-1 \
    --filter imageStatus=ANY 2>/dev/null | jq -r '.imageDetails[0].imageStatus')
  [[ $S == ACTIVE ]] && break
  sleep 0.5
done
ck_eq "the restored image is ACTIVE again" ACTIVE "$S"
fi
ck_eq "delete-lifecycle-policy returns the text" "$(jq -c . <<<"$LP")" \
  "$(ecr delete-lifecycle-policy --repository-name cli/app | jq -r .lifecyclePolicyText)"
ecr_err LifecyclePolicyNotFoundException delete-lifecycle-policy --repository-name cli/app

# ---------------------------------------------------------------------------------------
step "DeleteRepository"
ecr_err RepositoryNotEmptyException delete-repository --repository-name cli/app
D=$(ecr delete-repository --repository-name cli/app --force)
ck_eq "delete-repository --force" cli/app "$(jq -r .repository.repositoryName <<<"$D")"
ecr_err RepositoryNotFoundException describe-repositories --repository-names cli/app
ck_eq "delete-repository (empty)" cli/page-1 \
  "$(ecr delete-repository --repository-name cli/page-1 | jq -r .repository.repositoryName)"
ecr_err RepositoryNotFoundException delete-repository --repository-name cli/page-1

step "shutdown"
assert_berth_alive
stop_berth

finish_checks
