#!/usr/bin/env bash
# Access control end to end, with the real clients (skopeo, the aws CLI v1, curl):
#
#   1. setup: berth with --account-id 123456789012; admin creates app, team-a/svc and
#      public/base and pushes an image to each
#   2. a read-only user (AmazonEC2ContainerRegistryReadOnly) pulls byte-identical images,
#      lists repositories, and is refused pushes (403 DENIED), deletes over OCI (403 DENIED)
#      and batch-delete-image (AccessDeniedException)
#   3. denied pushes (skopeo, monolithic POST, manifest PUT, PATCH/PUT on another caller's
#      session) leave no blob, tag, image or upload session behind
#   4. a Deny in a repository policy beats the identity Allow of a power user, at once and only
#      on that repository and only for the denied actions
#   5. a customer-managed policy granting push/pull/create on repository/team-a/* only:
#      pushes there (including create on push), refusals elsewhere (no repository created),
#      a catalog filtered to team-a/*, and detach taking effect
#   6. anonymous access through a repository policy with Principal "*": pulls with
#      --src-no-creds and plain curl; 401 UNAUTHORIZED + WWW-Authenticate everywhere else;
#      wrong credentials do not fall back to anonymous; anonymous pushes refused and
#      leaving nothing
#   7. the audit log (<data-dir>/audit/audit.log, `berth admin audit`): the entries for the
#      events above, the required fields, the filters, and no secret in any log
#
# Run:  BERTH_BIN=/work/main/build/berth bash test/integration/access_control_test.sh
#
# As in ecr_cli_test.sh a failed check does not stop the script: failed checks are listed
# at the end (exit status 1). Setup steps that must succeed (starting berth, creating users
# and keys, the admin's own pushes) still stop it.
# shellcheck source-path=SCRIPTDIR source=clients/lib.sh
. "$(dirname "$0")/clients/lib.sh"
require_cmds aws jq skopeo cmp base64 find date

# The CLI must use nothing but what this script gives it.
unset AWS_CA_BUNDLE AWS_PROFILE AWS_DEFAULT_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY \
  AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_SHARED_CREDENTIALS_FILE
export AWS_MAX_ATTEMPTS=1 AWS_EC2_METADATA_DISABLED=true AWS_DEFAULT_REGION=us-east-1 \
  AWS_CONFIG_FILE=/dev/null AWS_PAGER=""

ACCOUNT=123456789012
REGION=us-east-1
REPO_ARN_PREFIX="arn:aws:ecr:$REGION:$ACCOUNT:repository/"
user_arn() { printf 'arn:aws:iam::%s:user/%s' "$ACCOUNT" "$1"; }
repo_arn() { printf '%s%s' "$REPO_ARN_PREFIX" "$1"; }
OCI_ACCEPT='application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json'

# ---------------------------------------------------------------------------------------
# checks

# ck_ge WHAT MIN ACTUAL: ACTUAL is an integer >= MIN.
ck_ge() {
  if [[ $3 =~ ^[0-9]+$ ]] && (($3 >= $2)); then
    pass "$1 ($3)"
  else
    check_fail "$1: expected at least $2, got '$3'"
  fi
}

# ---------------------------------------------------------------------------------------
# principals and their credentials

declare -A KEY_ID SECRET
KEY_ID[admin]=$BERTH_ADMIN_ACCESS_KEY_ID
SECRET[admin]=$BERTH_ADMIN_SECRET_ACCESS_KEY
creds_of() { printf '%s:%s' "${KEY_ID[$1]}" "${SECRET[$1]}"; }

# write_aws_creds USER: the user's shared-credentials file $WORK/aws-USER.
write_aws_creds() {
  printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
    "${KEY_ID[$1]}" "${SECRET[$1]}" >"$WORK/aws-$1"
  chmod 600 "$WORK/aws-$1"
}

# admin_cli ARGS...: `berth admin --data-dir D ARGS`; must succeed; prints its stdout.
admin_cli() { out "$BERTH_BIN" admin --data-dir "$BERTH_DATA" "$@"; }

# admin_try ARGS...: `berth admin --data-dir D ARGS`, output in LAST_LOG; returns its status.
admin_try() {
  local rc=0
  LAST_LOG=$(mktemp "$WORK/logs/XXXX-admin.log")
  say "+ berth admin $*"
  timeout 60 "$BERTH_BIN" admin --data-dir "$BERTH_DATA" "$@" >"$LAST_LOG" 2>&1 || rc=$?
  return "$rc"
}

# new_user NAME: creates the user and an access key for it (KEY_ID/SECRET, aws creds file).
new_user() {
  local name=$1 key_json
  admin_cli user create "$name" >/dev/null
  key_json=$(admin_cli access-key create "$name")
  KEY_ID[$name]=$(jq -er .AccessKeyId <<<"$key_json") ||
    fail "access-key create $name printed no AccessKeyId: $key_json"
  SECRET[$name]=$(jq -er .SecretAccessKey <<<"$key_json") ||
    fail "access-key create $name printed no SecretAccessKey"
  ck_eq "access-key create $name: UserName" "$name" "$(jq -r .UserName <<<"$key_json")"
  write_aws_creds "$name"
}

# ---------------------------------------------------------------------------------------
# aws ecr as some user

# ecr_try USER ARGS...: `aws ecr ARGS` with USER's credentials. Stdout in ECR_OUT, stderr
# in the file ECR_ERR; returns the CLI's exit status.
ECR_OUT="" ECR_ERR=""
ecr_try() {
  local u=$1 rc=0
  shift
  ECR_ERR=$(mktemp "$WORK/logs/XXXX-aws-$u.log")
  say "+ [$u] aws ecr $*"
  ECR_OUT=$(AWS_SHARED_CREDENTIALS_FILE=$WORK/aws-$u timeout --kill-after=10 "$CLIENT_TIMEOUT" \
    aws ecr --endpoint-url "http://$REG" --region "$REGION" --output json "$@" 2>"$ECR_ERR") || rc=$?
  return "$rc"
}
# ecr_ok WHAT USER ARGS...: the call must succeed (a check); ECR_OUT holds its output
# (empty when it failed).
ecr_ok() {
  local what=$1
  shift
  if ecr_try "$@"; then
    pass "$what"
  else
    check_fail "$what: aws ecr $2 failed: $(tr '\n' ' ' <"$ECR_ERR" | tail -c 400)"
    ECR_OUT=""
  fi
}
# ecr_must USER ARGS...: setup call that must succeed; prints its stdout.
ecr_must() {
  ecr_try "$@" >&2 || fail "aws ecr $2 as $1 failed: $(tr '\n' ' ' <"$ECR_ERR" | tail -c 400)"
  printf '%s' "$ECR_OUT"
}
# ecr_denied WHAT USER ARGS...: the call must fail with AccessDeniedException.
ecr_denied() {
  local what=$1
  shift
  if ecr_try "$@"; then
    check_fail "$what: aws ecr $2 succeeded, expected AccessDeniedException: $(head -c 300 <<<"$ECR_OUT")"
  elif grep -q '(AccessDeniedException)' "$ECR_ERR"; then
    pass "$what: AccessDeniedException ($(grep -o 'An error occurred.*' "$ECR_ERR" | head -c 300))"
  else
    check_fail "$what: expected AccessDeniedException, stderr: $(tr '\n' ' ' <"$ECR_ERR" | tail -c 400)"
  fi
}

# ---------------------------------------------------------------------------------------
# skopeo as some user (or anonymous): never fails the script; the status is returned and
# the output is in LAST_LOG.

sk_try() {
  local log rc=0
  log=$(mktemp "$WORK/logs/XXXX-skopeo.log")
  LAST_LOG=$log
  timeout --kill-after=10 "$CLIENT_TIMEOUT" skopeo_cmd "$@" >"$log" 2>&1 || rc=$?
  return "$rc"
}
# push_as USER|anonymous TAG REPO:TAG: pushes oci:$IMAGES:TAG.
push_as() {
  local u=$1 tag=$2 dest=$3 creds
  if [[ $u == anonymous ]]; then creds=(--dest-no-creds); else creds=(--dest-creds "$(creds_of "$u")"); fi
  say "+ [$u] skopeo copy oci:$IMAGES:$tag docker://$REG/$dest"
  sk_try copy --preserve-digests --dest-tls-verify=false "${creds[@]}" \
    "oci:$IMAGES:$tag" "docker://$REG/$dest"
}
# pull_as USER|anonymous REPO:TAG DIR: pulls into oci:DIR:t.
pull_as() {
  local u=$1 ref=$2 dir=$3 creds
  if [[ $u == anonymous ]]; then creds=(--src-no-creds); else creds=(--src-creds "$(creds_of "$u")"); fi
  say "+ [$u] skopeo copy docker://$REG/$ref oci:$dir:t"
  sk_try copy --preserve-digests --src-tls-verify=false "${creds[@]}" \
    "docker://$REG/$ref" "oci:$dir:t"
}
# admin_push TAG REPO:TAG: setup push that must succeed.
admin_push() {
  push_as admin "$1" "$2" || {
    tail -n 40 "$LAST_LOG" >&2
    fail "admin push of $1 to $2 failed: $(last_error)"
  }
}
# push_ok WHAT USER TAG REPO:TAG
push_ok() {
  if push_as "$2" "$3" "$4"; then
    pass "$1"
  else
    check_fail "$1: skopeo push failed: $(last_error)"
  fi
}
# push_refused WHAT USER TAG REPO:TAG PATTERN: the push must fail and skopeo's output must
# match the extended regexp PATTERN (case-insensitive).
push_refused() {
  local rc=0
  push_as "$2" "$3" "$4" || rc=$?
  if ((rc == 0)); then
    check_fail "$1: skopeo push succeeded, expected a refusal"
  elif ((rc == 124)); then
    check_fail "$1: skopeo push timed out (expected a clean refusal)"
  elif grep -qiE "$5" "$LAST_LOG"; then
    pass "$1: refused ($(last_error | tail -c 250))"
  else
    check_fail "$1: skopeo push failed but its output does not match /$5/: $(last_error)"
  fi
}

# same_image SRC_TAG DIR: the image pulled into oci:DIR:t is byte-identical to
# oci:$IMAGES:SRC_TAG (manifest, config and every layer, compared with cmp).
same_image() {
  local want got b blobs=()
  want=$(layout_digest "$IMAGES" "$1") || return 1
  got=$(layout_digest "$2" t) || return 1
  [[ $want == "$got" ]] || {
    say "    manifest digest $got, expected $want"
    return 1
  }
  mapfile -t blobs < <(image_blobs "$1")
  for b in "${blobs[@]}"; do
    cmp -s "$(layout_blob "$IMAGES" "$b")" "$(layout_blob "$2" "$b")" || {
      say "    blob $b differs or is missing"
      return 1
    }
  done
}
# pull_ok WHAT USER REPO:TAG SRC_TAG: pull works and is byte-identical to SRC_TAG.
pull_ok() {
  local dir
  dir=$(mktemp -d "$WORK/pull.XXXX")
  if ! pull_as "$2" "$3" "$dir"; then
    check_fail "$1: skopeo pull failed: $(last_error)"
  elif same_image "$4" "$dir"; then
    pass "$1: byte-identical"
  else
    check_fail "$1: pulled image differs from what was pushed"
  fi
}
# image_blobs TAG: manifest, config and layer digests of oci:$IMAGES:TAG.
image_blobs() {
  local m
  m=$(layout_digest "$IMAGES" "$1")
  printf '%s\n' "$m" "$(layout_config "$IMAGES" "$m")"
  layout_layers "$IMAGES" "$m"
}

# ---------------------------------------------------------------------------------------
# raw HTTP as some user (or anonymous)

# http_as USER|anonymous|empty-basic METHOD PATH-or-URL [curl args...]: sets H_STATUS,
# H_BODY (file), H_HDRS (file).
H_STATUS="" H_BODY="" H_HDRS=""
http_as() {
  local u=$1 m=$2 p=$3 auth=() opt=()
  shift 3
  case $u in
    anonymous) ;;
    empty-basic) auth=(-u ':') ;;
    *) auth=(-u "$(creds_of "$u")") ;;
  esac
  if [[ $m == HEAD ]]; then opt=(-I); else opt=(-X "$m"); fi
  [[ $p == http* ]] || p="http://$REG$p"
  H_BODY=$(mktemp "$WORK/logs/XXXX-body")
  H_HDRS=$(mktemp "$WORK/logs/XXXX-headers")
  H_STATUS=$(curl -sS -m 60 "${opt[@]}" "${auth[@]}" -o "$H_BODY" -D "$H_HDRS" \
    -w '%{http_code}' "$@" "$p" 2>"$H_BODY.stderr") || H_STATUS="curl-error $(head -c 200 "$H_BODY.stderr")"
}
h_code() { jq -r '.errors[0].code // empty' "$H_BODY" 2>/dev/null || true; }
h_header() { tr -d '\r' <"$H_HDRS" | awk -v h="${1,,}:" 'tolower($1) == h {sub(/^[^:]*: */, ""); print}' | tail -n1; }

# ck_http WHAT USER METHOD PATH STATUS [CODE] [curl args...]: the request answers STATUS
# and (when CODE is not empty) the OCI error code CODE.
ck_http() {
  local what=$1 u=$2 m=$3 p=$4 want=$5 code=${6:-} got
  shift 5
  (($#)) && shift
  http_as "$u" "$m" "$p" "$@"
  got=$H_STATUS
  [[ -n $code ]] && got="$got $(h_code)" && want="$want $code"
  if [[ $got == "$want" ]]; then
    pass "$what ($got)"
  else
    check_fail "$what: expected '$want', got '$got'; body: $(head -c 300 "$H_BODY")"
  fi
}
# ck_no_mount WHAT USER REPO DIGEST [FROM]: a cross-repository mount of DIGEST into REPO
# (from FROM, or registry-wide without `from`) must not succeed: 403 DENIED, or 202 (a
# plain upload session instead, which is then cancelled); never 201. Afterwards REPO must
# not hold the blob (admin's HEAD answers 404).
ck_no_mount() {
  local what=$1 u=$2 repo=$3 dg=$4 from=${5:-} q loc
  q="mount=$dg"
  [[ -n $from ]] && q="$q&from=$from"
  http_as "$u" POST "/v2/$repo/blobs/uploads/?$q"
  case "$H_STATUS $(h_code)" in
    "403 DENIED") pass "$what: 403 DENIED" ;;
    "202 "*)
      pass "$what: not mounted (202, a new upload session)"
      loc=$(h_header Location)
      [[ -n $loc ]] && http_as admin DELETE "$loc"
      ;;
    *) check_fail "$what: expected 403 DENIED or 202, got $H_STATUS $(h_code); body: $(head -c 200 "$H_BODY")" ;;
  esac
  ck_http "$what: admin HEAD /v2/$repo/blobs/$dg afterwards" admin HEAD "/v2/$repo/blobs/$dg" 404
}
# tags_of REPO: sorted tags (admin's view), space-separated.
tags_of() {
  http_as admin GET "/v2/$1/tags/list"
  jq -r '(.tags // []) | sort | join(" ")' "$H_BODY" 2>/dev/null || echo "(status $H_STATUS)"
}
# catalog_of USER: sorted repository names of GET /v2/_catalog, or "(status N)".
catalog_of() {
  http_as "$1" GET "/v2/_catalog?n=1000"
  if [[ $H_STATUS == 200 ]]; then
    jq -r '(.repositories // []) | sort | join(" ")' "$H_BODY"
  else
    echo "(status $H_STATUS $(h_code))"
  fi
}
# uploads_on_disk: entries under <data-dir>/uploads.
uploads_on_disk() { find "$BERTH_DATA/uploads" -mindepth 1 -maxdepth 1 2>/dev/null | sort; }
# uploads_gauge: berth_uploads_in_progress from /metrics.
uploads_gauge() {
  curl -sS -m 10 -u "$(creds_of admin)" "http://$REG/metrics" |
    awk '$1 == "berth_uploads_in_progress" {print $2}'
}
# blob_on_disk DIGEST: is there a file for it under <data-dir>/blobs?
blob_on_disk() { [[ -n $(find "$BERTH_DATA/blobs" -name "${1#*:}*" 2>/dev/null | head -n1) ]]; }

IMAGES=$WORK/images
T_START=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# =======================================================================================
step "1. setup: berth with account 123456789012; admin creates app, team-a/svc, public/base and pushes to each"
start_berth --account-id "$ACCOUNT"
write_aws_creds admin
ck_eq "describe-registry registryId" "$ACCOUNT" \
  "$(ecr_must admin describe-registry | jq -r .registryId)"
for r in app team-a/svc public/base; do
  ck_eq "create-repository $r: repositoryArn" "$(repo_arn "$r")" \
    "$(ecr_must admin create-repository --repository-name "$r" | jq -r .repository.repositoryArn)"
done
IMG_APP=$(make_image "$IMAGES" app-v1)
IMG_SVC=$(make_image "$IMAGES" svc-v1)
IMG_BASE=$(make_image "$IMAGES" base-v1)
admin_push app-v1 app:v1
admin_push svc-v1 team-a/svc:v1
admin_push base-v1 public/base:v1
ck_eq "admin push: app:v1 digest (HEAD manifest)" "$IMG_APP" "$(head_manifest_digest app v1)"
ck_eq "admin push: team-a/svc:v1 digest" "$IMG_SVC" "$(head_manifest_digest team-a/svc v1)"
ck_eq "admin push: public/base:v1 digest" "$IMG_BASE" "$(head_manifest_digest public/base v1)"

step "users: reader (ReadOnly), pusher (PowerUser), teama (customer policy team-a-push)"
new_user reader
new_user pusher
new_user teama
admin_cli policy attach reader AmazonEC2ContainerRegistryReadOnly >/dev/null
admin_cli policy attach pusher AmazonEC2ContainerRegistryPowerUser >/dev/null
jq -n --arg r "$(repo_arn 'team-a/*')" '{
  Version: "2012-10-17",
  Statement: [
    {Sid: "TeamAPushPull", Effect: "Allow",
     Action: ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability",
              "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload",
              "ecr:PutImage", "ecr:ListImages", "ecr:DescribeRepositories", "ecr:CreateRepository"],
     Resource: $r},
    {Sid: "Login", Effect: "Allow", Action: "ecr:GetAuthorizationToken", Resource: "*"}
  ]}' >"$WORK/team-a-policy.json"
if admin_try policy create team-a-push --document "$WORK/team-a-policy.json"; then
  pass "policy create team-a-push ($(tr '\n' ' ' <"$LAST_LOG" | head -c 200))"
  if admin_try policy attach teama team-a-push; then
    pass "policy attach teama team-a-push"
  else
    check_fail "berth admin policy attach teama team-a-push failed: $(tail -c 300 "$LAST_LOG")"
  fi
else
  check_fail "berth admin policy create team-a-push --document FILE failed: $(tail -c 300 "$LAST_LOG")"
fi
say "    (sleep 2: berth caches policies for up to 1 s)"
sleep 2

# =======================================================================================
step "2. reader (AmazonEC2ContainerRegistryReadOnly)"
ck_http "GET /v2/ with reader's key" reader GET /v2/ 200
pull_ok "reader pulls app:v1" reader app:v1 app-v1
ecr_ok "reader: describe-repositories" reader describe-repositories
ck_eq "reader sees every repository" "app public/base team-a/svc" \
  "$(jq -r '[.repositories[].repositoryName] | sort | join(" ")' <<<"${ECR_OUT:-null}" 2>/dev/null)"
ecr_ok "reader: list-images app" reader list-images --repository-name app
ck_eq "reader: list-images app shows v1" "$IMG_APP:v1" \
  "$(jq -r '[.imageIds[] | "\(.imageDigest):\(.imageTag)"] | join(" ")' <<<"${ECR_OUT:-null}" 2>/dev/null)"
make_image "$IMAGES" reader-denied >/dev/null
push_refused "reader: skopeo push to app:reader-denied" reader reader-denied app:reader-denied '403|denied'
ecr_denied "reader: batch-delete-image app:v1" reader batch-delete-image --repository-name app \
  --image-ids imageTag=v1
ck_http "reader: DELETE /v2/app/manifests/$IMG_APP" reader DELETE "/v2/app/manifests/$IMG_APP" 403 DENIED
ck_http "reader: DELETE /v2/app/manifests/v1 (tag)" reader DELETE /v2/app/manifests/v1 403 DENIED
ck_eq "app:v1 is still there after reader's deletes (admin HEAD)" "$IMG_APP" "$(head_manifest_digest app v1)"

# =======================================================================================
step "3. denied pushes leave nothing behind"
UPLOADS_BEFORE=$(uploads_on_disk)
ck_http "reader: POST /v2/app/blobs/uploads/" reader POST /v2/app/blobs/uploads/ 403 DENIED
random_file "$WORK/mono.bin" 4096
MONO_DG=$(sha256_file "$WORK/mono.bin")
ck_http "reader: monolithic POST ?digest= with the blob in the body" reader POST \
  "/v2/app/blobs/uploads/?digest=$MONO_DG" 403 DENIED \
  -H 'Content-Type: application/octet-stream' --data-binary "@$WORK/mono.bin"
ck_http "admin: HEAD /v2/app/blobs/<reader's monolithic blob>" admin HEAD "/v2/app/blobs/$MONO_DG" 404
if blob_on_disk "$MONO_DG"; then
  check_fail "reader's refused monolithic blob $MONO_DG was stored under $BERTH_DATA/blobs"
else
  pass "reader's refused monolithic blob is not under blobs/"
fi
# A manifest PUT whose blobs all exist in app (app:v1's manifest under a new tag).
ck_http "reader: PUT /v2/app/manifests/reader-raw" reader PUT /v2/app/manifests/reader-raw 403 DENIED \
  -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
  --data-binary "@$(layout_blob "$IMAGES" "$IMG_APP")"
# A session admin opened: reader may neither append to it nor complete it.
http_as admin POST /v2/app/blobs/uploads/
LOC=$(h_header Location)
if [[ $H_STATUS == 202 && -n $LOC ]]; then
  pass "admin: POST /v2/app/blobs/uploads/ (202, Location $LOC)"
  ck_http "reader: PATCH admin's session" reader PATCH "$LOC" 403 DENIED \
    -H 'Content-Type: application/octet-stream' --data-binary "@$WORK/mono.bin"
  [[ $LOC == *\?* ]] && SEP='&' || SEP='?'
  ck_http "reader: PUT ?digest= on admin's session" reader PUT "$LOC${SEP}digest=$MONO_DG" 403 DENIED \
    -H 'Content-Type: application/octet-stream' --data-binary "@$WORK/mono.bin"
  ck_http "admin: HEAD of the blob reader tried to complete" admin HEAD "/v2/app/blobs/$MONO_DG" 404
  ck_http "admin: DELETE (cancel) the session" admin DELETE "$LOC" 204
else
  check_fail "admin: POST /v2/app/blobs/uploads/: expected 202 with a Location, got $H_STATUS"
fi
# The skopeo push reader tried in step 2.
while read -r dg; do
  ck_http "admin: HEAD /v2/app/blobs/$dg (blob of reader's refused push)" admin HEAD "/v2/app/blobs/$dg" 404
  if blob_on_disk "$dg"; then
    check_fail "blob $dg of reader's refused push is stored under $BERTH_DATA/blobs"
  else
    pass "blob $dg of reader's refused push is not under blobs/"
  fi
done < <(image_blobs reader-denied | tail -n +2)
ck_http "admin: HEAD manifest of reader's refused push by digest" admin HEAD \
  "/v2/app/manifests/$(layout_digest "$IMAGES" reader-denied)" 404 "" -H "Accept: $OCI_ACCEPT"
SVC_LAYER=$(layout_layers "$IMAGES" "$IMG_SVC" | tail -n1)
ck_no_mount "reader: mount of a team-a/svc layer into app (from=team-a/svc)" reader app "$SVC_LAYER" team-a/svc
ck_eq "tags of app after reader's refused pushes" "v1" "$(tags_of app)"
LI=$(ecr_must admin list-images --repository-name app)
ck_eq "admin: list-images app after reader's refused pushes" "$IMG_APP:v1" \
  "$(jq -r '[.imageIds[] | "\(.imageDigest):\(.imageTag)"] | sort | join(" ")' <<<"$LI")"
UPLOADS_AFTER=$(uploads_on_disk)
ck_eq "new entries under $BERTH_DATA/uploads" "" "$(comm -13 <(echo "$UPLOADS_BEFORE") <(echo "$UPLOADS_AFTER") | tr '\n' ' ')"
ck_eq "berth_uploads_in_progress (/metrics)" 0 "$(uploads_gauge)"

# =======================================================================================
step "4. a Deny in the repository policy beats pusher's identity Allow"
make_image "$IMAGES" pusher-ok >/dev/null
make_image "$IMAGES" pusher-denied >/dev/null
make_image "$IMAGES" pusher-svc >/dev/null
make_image "$IMAGES" admin-after-deny >/dev/null
push_ok "pusher (PowerUser) pushes app:pusher-v1" pusher pusher-ok app:pusher-v1
ck_eq "app:pusher-v1 digest" "$(layout_digest "$IMAGES" pusher-ok)" "$(head_manifest_digest app pusher-v1)"
jq -n --arg p "$(user_arn pusher)" '{
  Version: "2012-10-17",
  Statement: [{Sid: "DenyPusherWrites", Effect: "Deny", Principal: {AWS: $p},
    Action: ["ecr:PutImage", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
             "ecr:CompleteLayerUpload", "ecr:BatchDeleteImage"]}]}' >"$WORK/deny-pusher.json"
ecr_ok "admin: set-repository-policy app (Deny pusher writes)" admin set-repository-policy \
  --repository-name app --policy-text "file://$WORK/deny-pusher.json"
# no sleep: changes through the ECR API apply at once
push_refused "pusher: skopeo push to app:pusher-v2 under the Deny" pusher pusher-denied app:pusher-v2 '403|denied'
ck_eq "tags of app after pusher's refused push" "pusher-v1 v1" "$(tags_of app)"
ecr_denied "pusher: put-image to app under the Deny" pusher put-image --repository-name app \
  --image-tag pusher-ecr --image-manifest "file://$(layout_blob "$IMAGES" "$IMG_APP")"
ecr_denied "pusher: initiate-layer-upload in app under the Deny" pusher initiate-layer-upload \
  --repository-name app
push_ok "pusher still pushes team-a/svc:pusher-v1" pusher pusher-svc team-a/svc:pusher-v1
pull_ok "pusher still pulls app:v1" pusher app:v1 app-v1
ecr_ok "pusher: batch-get-image app:v1" pusher batch-get-image --repository-name app \
  --image-ids imageTag=v1 --accepted-media-types application/vnd.oci.image.manifest.v1+json
ck_eq "pusher: batch-get-image manifest sha256" "$IMG_APP" \
  "$(jq -j '.images[0].imageManifest // empty' <<<"${ECR_OUT:-null}" 2>/dev/null | sha256_stdin)"
push_ok "admin (not named in the Deny) still pushes app:admin-v2" admin admin-after-deny app:admin-v2
ck_http "pusher (PowerUser has no ecr:BatchDeleteImage): DELETE /v2/team-a/svc/manifests/pusher-v1" pusher \
  DELETE /v2/team-a/svc/manifests/pusher-v1 403 DENIED

# =======================================================================================
step "5. customer policy team-a-push (repository/team-a/*) for teama"
make_image "$IMAGES" teama-svc >/dev/null
make_image "$IMAGES" teama-new >/dev/null
make_image "$IMAGES" teama-app >/dev/null
make_image "$IMAGES" teama-b >/dev/null
push_ok "teama pushes team-a/svc:teama-v1" teama teama-svc team-a/svc:teama-v1
push_ok "teama pushes team-a/new:v1 (create on push)" teama teama-new team-a/new:v1
ecr_ok "admin: describe-repositories team-a/new" admin describe-repositories --repository-names team-a/new
ck_eq "team-a/new:v1 digest" "$(layout_digest "$IMAGES" teama-new)" "$(head_manifest_digest team-a/new v1)"
pull_ok "teama pulls team-a/svc:v1" teama team-a/svc:v1 svc-v1
push_refused "teama: push to app:teama-v1" teama teama-app app:teama-v1 '403|denied'
ck_eq "tags of app after teama's refused push" "admin-v2 pusher-v1 v1" "$(tags_of app)"
push_refused "teama: push to team-b/x:v1 (outside team-a/*)" teama teama-b team-b/x:v1 '403|denied'
if ecr_try admin describe-repositories --repository-names team-b/x; then
  check_fail "teama's refused push created the repository team-b/x"
elif grep -q '(RepositoryNotFoundException)' "$ECR_ERR"; then
  pass "teama's refused push did not create team-b/x"
else
  check_fail "describe-repositories team-b/x: $(tr '\n' ' ' <"$ECR_ERR" | tail -c 300)"
fi
ck_http "teama: GET /v2/app/manifests/v1" teama GET /v2/app/manifests/v1 403 DENIED -H "Accept: $OCI_ACCEPT"
APP_LAYER=$(layout_layers "$IMAGES" "$IMG_APP" | tail -n1)
ck_http "teama: GET /v2/app/blobs/<layer>" teama GET "/v2/app/blobs/$APP_LAYER" 403 DENIED
ck_http "teama: GET /v2/app/tags/list" teama GET /v2/app/tags/list 403 DENIED
ck_http "teama: GET /v2/app/referrers/<app:v1>" teama GET "/v2/app/referrers/$IMG_APP" 403 DENIED
ck_http "reader: GET /v2/app/referrers/<app:v1>" reader GET "/v2/app/referrers/$IMG_APP" 200
ck_no_mount "teama: mount of an app layer into team-a/svc (from=app)" teama team-a/svc "$APP_LAYER" app
ck_no_mount "teama: registry-wide mount (no from) of an app layer into team-a/svc" teama team-a/svc "$APP_LAYER"
ecr_ok "teama: list-images team-a/svc" teama list-images --repository-name team-a/svc
ecr_denied "teama: list-images app" teama list-images --repository-name app
ck_eq "GET /v2/_catalog as teama" "team-a/new team-a/svc" "$(catalog_of teama)"
ck_eq "GET /v2/_catalog as reader" "app public/base team-a/new team-a/svc" "$(catalog_of reader)"
ck_eq "GET /v2/_catalog as admin" "app public/base team-a/new team-a/svc" "$(catalog_of admin)"
if admin_try policy detach teama team-a-push; then
  pass "policy detach teama team-a-push"
  sleep 2
  ck_http "teama after detach: GET /v2/team-a/svc/manifests/v1" teama GET \
    /v2/team-a/svc/manifests/v1 403 DENIED -H "Accept: $OCI_ACCEPT"
else
  check_fail "berth admin policy detach teama team-a-push failed: $(tail -c 300 "$LAST_LOG")"
fi

# =======================================================================================
step "6. anonymous access through a repository policy with Principal \"*\""
jq -n '{Version: "2012-10-17",
  Statement: [{Sid: "AnonymousPull", Effect: "Allow", Principal: "*",
    Action: ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]}]}' \
  >"$WORK/public-pull.json"
sleep 1.1 # T_MID below: everything before it is at least a second older
T_MID=$(date -u +%Y-%m-%dT%H:%M:%SZ)
ecr_ok "admin: set-repository-policy public/base (Principal *)" admin set-repository-policy \
  --repository-name public/base --policy-text "file://$WORK/public-pull.json"
ck_http "anonymous GET /v2/" anonymous GET /v2/ 401
if [[ -n $(h_header WWW-Authenticate) ]]; then
  pass "anonymous GET /v2/: WWW-Authenticate: $(h_header WWW-Authenticate)"
else
  check_fail "anonymous GET /v2/: no WWW-Authenticate header"
fi
pull_ok "skopeo copy --src-no-creds public/base:v1" anonymous public/base:v1 base-v1
ck_http "anonymous GET /v2/public/base/manifests/v1" anonymous GET /v2/public/base/manifests/v1 200 "" \
  -H "Accept: $OCI_ACCEPT"
ck_eq "sha256 of the anonymously fetched manifest" "$IMG_BASE" "$(sha256_file "$H_BODY")"
BASE_LAYER=$(layout_layers "$IMAGES" "$IMG_BASE" | head -n1)
ck_http "anonymous GET /v2/public/base/blobs/<layer>" anonymous GET "/v2/public/base/blobs/$BASE_LAYER" 200 "" -L
ck_eq "sha256 of the anonymously fetched layer" "$BASE_LAYER" "$(sha256_file "$H_BODY")"
ck_http "anonymous HEAD /v2/public/base/blobs/<layer>" anonymous HEAD "/v2/public/base/blobs/$BASE_LAYER" 200
ck_http "empty Basic credentials GET /v2/public/base/manifests/v1" empty-basic GET \
  /v2/public/base/manifests/v1 200 "" -H "Accept: $OCI_ACCEPT"
# Wrong credentials are not anonymous: they must not fall back to the public policy.
KEY_ID[wrong]=${KEY_ID[reader]}
SECRET[wrong]="not-the-secret-of-reader-0000000000000000"
ck_http "GET /v2/public/base/manifests/v1 with reader's key id and a wrong secret" wrong GET \
  /v2/public/base/manifests/v1 401 UNAUTHORIZED -H "Accept: $OCI_ACCEPT"
KEY_ID[unknown]=AKIANOSUCHKEY0000000
SECRET[unknown]="whatever-0000000000000000000000000000000"
ck_http "GET /v2/public/base/manifests/v1 with an unknown key id" unknown GET \
  /v2/public/base/manifests/v1 401 UNAUTHORIZED -H "Accept: $OCI_ACCEPT"
write_aws_creds wrong
if ecr_try wrong describe-repositories --repository-names public/base; then
  check_fail "aws ecr describe-repositories with a wrong secret succeeded"
elif grep -q '(InvalidSignatureException)' "$ECR_ERR"; then
  pass "aws ecr describe-repositories with a wrong secret: InvalidSignatureException"
else
  check_fail "aws ecr with a wrong secret: expected InvalidSignatureException: $(tr '\n' ' ' <"$ECR_ERR" | tail -c 300)"
fi
ck_http "anonymous GET /v2/app/manifests/v1" anonymous GET /v2/app/manifests/v1 401 UNAUTHORIZED \
  -H "Accept: $OCI_ACCEPT"
if [[ -n $(h_header WWW-Authenticate) ]]; then
  pass "anonymous GET /v2/app/manifests/v1: WWW-Authenticate: $(h_header WWW-Authenticate)"
else
  check_fail "anonymous GET /v2/app/manifests/v1: no WWW-Authenticate header"
fi
ck_http "anonymous GET /v2/public/base/tags/list (ListImages not granted)" anonymous GET \
  /v2/public/base/tags/list 401 UNAUTHORIZED
ck_http "anonymous POST /v2/public/base/blobs/uploads/" anonymous POST /v2/public/base/blobs/uploads/ \
  401 UNAUTHORIZED
ck_http "anonymous DELETE /v2/public/base/manifests/v1" anonymous DELETE /v2/public/base/manifests/v1 \
  401 UNAUTHORIZED
if pull_as anonymous app:v1 "$(mktemp -d "$WORK/pull.XXXX")"; then
  check_fail "skopeo copy --src-no-creds app:v1 succeeded (app has no anonymous policy)"
else
  pass "skopeo copy --src-no-creds app:v1 is refused ($(last_error | tail -c 200))"
fi
make_image "$IMAGES" anon-push >/dev/null
push_refused "skopeo copy --dest-no-creds to public/base:anon-v1" anonymous anon-push public/base:anon-v1 \
  '401|403|unauthorized|authentication required|denied'
ck_eq "tags of public/base after the anonymous push" "v1" "$(tags_of public/base)"
ck_http "admin: HEAD /v2/public/base/blobs/<layer of the anonymous push>" admin HEAD \
  "/v2/public/base/blobs/$(layout_layers "$IMAGES" "$(layout_digest "$IMAGES" anon-push)" | tail -n1)" 404

# =======================================================================================
step "7. audit log"
sleep 1 # entries are flushed within a fraction of a second
AUDIT_FILE=$BERTH_DATA/audit/audit.log
if [[ -s $AUDIT_FILE ]]; then
  pass "$AUDIT_FILE exists ($(wc -l <"$AUDIT_FILE") lines)"
else
  check_fail "$AUDIT_FILE is missing or empty"
fi
if [[ -s $AUDIT_FILE ]] && jq -e . "$AUDIT_FILE" >/dev/null 2>&1; then
  pass "every line of audit.log is JSON"
else
  check_fail "audit.log is not JSON lines"
fi

# audit ARGS...: `berth admin audit ARGS`; its stdout in AUDIT_OUT (empty, and a failed
# check, when it fails). Not for $(...): the failed check must reach this shell.
AUDIT_OUT=""
audit() {
  local rc=0
  say "+ berth admin audit $*"
  AUDIT_OUT=$("$BERTH_BIN" admin --data-dir "$BERTH_DATA" audit "$@" 2>"$WORK/logs/audit-stderr.log") || rc=$?
  if ((rc != 0)); then
    check_fail "berth admin audit $* exited with $rc: $(tail -c 300 "$WORK/logs/audit-stderr.log")"
    AUDIT_OUT=""
  fi
}
# ck_none WHAT JQ-FILTER: no entry of $ALL satisfies JQ-FILTER (else the first two are shown).
ck_none() {
  local n
  n=$(count "$2")
  if [[ $n == 0 ]]; then
    pass "$1 (none)"
  else
    check_fail "$1: $n entries, e.g. $(jq -cs "[.[] | select($2)][:2][]" <<<"$ALL" 2>/dev/null | head -c 700)"
  fi
}
# count JQ-FILTER: number of entries of $ALL for which JQ-FILTER is true.
count() { jq -s "[.[] | select($1)] | length" <<<"$ALL" 2>/dev/null || echo "invalid"; }

audit --json
# Request entries (the key service's own entries, "api":"kms", are checked by
# test_encryption.py; here only that they are there: every push wrapped a data key).
FULL=$AUDIT_OUT
ALL=$(jq -c 'select(.api == "oci" or .api == "ecr")' <<<"$AUDIT_OUT" 2>/dev/null)
NALL=$(jq -s length <<<"$ALL" 2>/dev/null || echo invalid)
ck_ge "key-service entries (kms:GenerateDataKey) in the audit log" 1 \
  "$(jq -s '[.[] | select(.api == "kms" and .action == "kms:GenerateDataKey")] | length' <<<"$AUDIT_OUT" 2>/dev/null)"
ck_eq "audit --json prints every line of audit.log" "$(grep -c . "$AUDIT_FILE" 2>/dev/null || true)" \
  "$(jq -s length <<<"$AUDIT_OUT" 2>/dev/null || echo invalid)"
READER=$(user_arn reader)
PUSHER=$(user_arn pusher)
ADMIN=$(user_arn admin)
APP_ARN=$(repo_arn app)
PUSH_ACTIONS='(.action == "ecr:InitiateLayerUpload" or .action == "ecr:PutImage" or .action == "ecr:UploadLayerPart" or .action == "ecr:CompleteLayerUpload")'

ck_ge "entry: reader's denied push to app (denied, $READER, InitiateLayerUpload/PutImage)" 1 \
  "$(count ".principal == \"$READER\" and .result == \"denied\" and .repository == \"app\" and (.action == \"ecr:InitiateLayerUpload\" or .action == \"ecr:PutImage\")")"
ck_none "reader's denied OCI pushes that are not status 403, error DENIED, resource $APP_ARN" \
  ".principal == \"$READER\" and .result == \"denied\" and .api == \"oci\" and $PUSH_ACTIONS and (.status != 403 or .error != \"DENIED\" or .resource != \"$APP_ARN\")"
ck_eq "entry: reader's denied batch-delete-image (exactly one, AccessDeniedException, api ecr)" 1 \
  "$(count ".principal == \"$READER\" and .action == \"ecr:BatchDeleteImage\" and .result == \"denied\" and .error == \"AccessDeniedException\" and .api == \"ecr\" and .resource == \"$APP_ARN\"")"
ck_ge "the batch-delete-image entry names the aws CLI as user_agent" 1 \
  "$(count ".action == \"ecr:BatchDeleteImage\" and .api == \"ecr\" and (.user_agent | test(\"aws-cli\"))")"
ck_ge "entry: reader's denied OCI DELETE (ecr:BatchDeleteImage, api oci, 403)" 1 \
  "$(count ".principal == \"$READER\" and .action == \"ecr:BatchDeleteImage\" and .api == \"oci\" and .status == 403 and .result == \"denied\"")"
ck_ge "entry: pusher's denied push under the repository Deny" 1 \
  "$(count ".principal == \"$PUSHER\" and .result == \"denied\" and .repository == \"app\" and $PUSH_ACTIONS")"
ck_ge "entry: pusher's successful push to app before the Deny" 1 \
  "$(count ".principal == \"$PUSHER\" and .result == \"success\" and .repository == \"app\" and .action == \"ecr:PutImage\"")"
ck_ge "entry: anonymous denied push to public/base (principal anonymous, 401 UNAUTHORIZED)" 1 \
  "$(count ".principal == \"anonymous\" and .result == \"denied\" and .repository == \"public/base\" and $PUSH_ACTIONS and .status == 401 and .error == \"UNAUTHORIZED\"")"
ck_ge "entries: the GETs of public/base with a wrong secret / unknown key (401, ecr:BatchGetImage)" 2 \
  "$(count '.api == "oci" and .status == 401 and .result == "denied" and .error == "UNAUTHORIZED" and .repository == "public/base" and .action == "ecr:BatchGetImage"')"
ck_ge "entry: aws ecr with a wrong secret (api ecr, denied, InvalidSignatureException)" 1 \
  "$(count '.api == "ecr" and .result == "denied" and .error == "InvalidSignatureException"')"
ck_ge "entry: successful PutImage by admin (status 201, no error)" 3 \
  "$(count ".principal == \"$ADMIN\" and .action == \"ecr:PutImage\" and .result == \"success\" and .status == 201 and (has(\"error\") | not)")"
ck_eq "entries: set-repository-policy on app and public/base by admin" "app public/base" \
  "$(jq -rs '[.[] | select(.action == "ecr:SetRepositoryPolicy" and .result == "success" and .api == "ecr" and .principal == "'"$ADMIN"'") | .repository] | sort | join(" ")' <<<"$ALL" 2>/dev/null)"
ck_ge "entry: teama's create on push of team-a/new" 1 \
  "$(count ".principal == \"$(user_arn teama)\" and .result == \"success\" and .repository == \"team-a/new\" and .action == \"ecr:PutImage\"")"
ck_eq "entries: create-repository by admin over the ECR API" "app public/base team-a/svc" \
  "$(jq -rs '[.[] | select(.action == "ecr:CreateRepository" and .result == "success" and .api == "ecr" and .principal == "'"$ADMIN"'") | .repository] | sort | join(" ")' <<<"$ALL" 2>/dev/null)"
if [[ $NALL =~ ^[0-9]+$ ]] && ((NALL > 0)); then
  ck_none "entries for successful reads (the log holds state changes and denials only)" \
    '.result == "success" and (.action == "ecr:BatchGetImage" or .action == "ecr:GetDownloadUrlForLayer" or .action == "ecr:DescribeRepositories" or .action == "ecr:ListImages" or .action == "ecr:BatchCheckLayerAvailability")'
  ck_none "entries without time/principal/action/resource/source_ip/user_agent/request_id/result" \
    '[.time, .principal, .action, .resource, .source_ip, .user_agent, .request_id, .result] | any(type != "string" or . == "")'
  ck_none "entries whose status is not a number or api is not oci/ecr" \
    '(.status | type) != "number" or (.api != "oci" and .api != "ecr")'
  ck_none "entries with a result other than success/denied/failure" \
    '.result != "success" and .result != "denied" and .result != "failure"'
  ck_none "denied entries without an error code, or success entries with one" \
    '(.result == "denied" and ((.error // "") == "")) or (.result == "success" and has("error"))'
  ck_none "entries whose time is not RFC 3339 UTC" \
    '.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$") | not'
  ck_ge "reader's denied skopeo push is logged with skopeo's user_agent" 1 \
    "$(count ".principal == \"$READER\" and .result == \"denied\" and (.user_agent | test(\"skopeo\"))")"
  ck_none "entries whose source_ip is not 127.0.0.1" '.source_ip != "127.0.0.1"'
  ck_eq "request_ids are unique" "$NALL" "$(jq -rs '[.[].request_id] | unique | length' <<<"$ALL" 2>/dev/null)"
else
  check_fail "no audit entries: the checks of every entry's fields were skipped"
fi

step "7b. audit filters"
# ck_filter WHAT JQ-FILTER ARGS...: `audit --json ARGS` returns exactly the entries of the
# full log that satisfy JQ-FILTER, and at least one.
ck_filter() {
  local what=$1 f=$2 got n want
  shift 2
  audit --json "$@"
  got=$AUDIT_OUT
  n=$(jq -s length <<<"$got" 2>/dev/null || echo invalid)
  want=$(count "$f")
  if [[ $n != "$want" ]]; then
    check_fail "audit $*: $n entries, expected $want ($what)"
  elif ((n == 0)); then
    check_fail "audit $*: no entries ($what)"
  elif [[ $(jq -s "[.[] | select(($f) | not)] | length" <<<"$got") != 0 ]]; then
    check_fail "audit $*: entries that do not match ($what)"
  else
    pass "audit $*: $n entries, all $what"
  fi
}
ck_filter "principal reader" ".principal == \"$READER\"" --principal reader
ck_filter "principal reader (by ARN)" ".principal == \"$READER\"" --principal "$READER"
ck_filter "principal anonymous" '.principal == "anonymous"' --principal anonymous
ck_filter "action ecr:SetRepositoryPolicy" '.action == "ecr:SetRepositoryPolicy"' --action ecr:SetRepositoryPolicy
ck_filter "repository public/base" '.repository == "public/base"' --repository public/base
ck_filter "result denied" '.result == "denied"' --result denied
ck_filter "principal pusher and result denied" ".principal == \"$PUSHER\" and .result == \"denied\"" \
  --principal pusher --result denied
audit --json --since "$T_START"
ck_eq "audit --since the start of the script returns every entry" \
  "$(jq -s length <<<"$FULL" 2>/dev/null)" "$(jq -s length <<<"$AUDIT_OUT" 2>/dev/null)"
FUTURE=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
audit --json --since "$FUTURE"
ck_eq "audit --since $FUTURE (an hour ahead)" "" "$AUDIT_OUT"
audit --json --until "$T_START"
ck_eq "audit --until $T_START (before anything happened)" "" "$AUDIT_OUT"
audit --json --since "$T_MID"
SINCE_MID=$AUDIT_OUT
ck_eq "audit --since T_MID: reader's denied batch-delete-image (before T_MID) is absent" 0 \
  "$(jq -s --arg p "$READER" '[.[] | select(.action == "ecr:BatchDeleteImage" and .principal == $p)] | length' <<<"$SINCE_MID" 2>/dev/null)"
ck_eq "audit --since T_MID: the set-repository-policy on public/base (after T_MID) is present" 1 \
  "$(jq -s '[.[] | select(.action == "ecr:SetRepositoryPolicy" and .repository == "public/base")] | length' <<<"$SINCE_MID" 2>/dev/null)"
audit --json --until "$T_MID"
UNTIL_MID=$AUDIT_OUT
ck_eq "audit --until T_MID: the set-repository-policy on app only" "app" \
  "$(jq -rs '[.[] | select(.action == "ecr:SetRepositoryPolicy") | .repository] | join(" ")' <<<"$UNTIL_MID" 2>/dev/null)"
audit --principal reader --action ecr:BatchDeleteImage
TEXT=$AUDIT_OUT
if [[ -n $TEXT ]] && grep -q 'BatchDeleteImage' <<<"$TEXT"; then
  pass "audit without --json prints the entries ($(head -n1 <<<"$TEXT" | head -c 200))"
else
  check_fail "audit --principal reader --action ecr:BatchDeleteImage (text) printed: '$(head -c 200 <<<"$TEXT")'"
fi

# =======================================================================================
step "shutdown; no secret in the audit log or the server log"
assert_berth_alive "$BERTH_PID"
stop_berth "$BERTH_PID"
for u in admin reader pusher teama; do
  b64=$(printf '%s' "$(creds_of "$u")" | base64 -w0)
  for f in "$AUDIT_FILE" "$BERTH_LOG"; do
    if [[ ! -s $f ]]; then
      check_fail "$f is missing or empty: cannot look for $u's secret in it"
    elif grep -qF -e "${SECRET[$u]}" -e "$b64" "$f" 2>/dev/null; then
      check_fail "$u's secret access key (or its Basic credentials) appears in $f"
    else
      pass "$u's secret is not in $(basename "$f")"
    fi
  done
done

finish_checks
