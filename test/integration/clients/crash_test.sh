#!/usr/bin/env bash
# Crash safety: SIGKILL berth in the middle of a large blob upload, restart it on the same
# data dir, and check that nothing was published under the interrupted digest, that every
# published blob file still hashes to its name, and that earlier images still pull intact.
# Two interrupted uploads: POST + streamed PATCH (chunked; skopeo/podman style) and
# POST + monolithic PUT ?digest= with Content-Length (containerd style). Then a complete
# upload of the same blob, a clean SIGTERM restart, and the checks again.
. "$(dirname "$0")/lib.sh"

CRASH_SIZE=${CRASH_SIZE:-536870912}    # 512 MiB
CRASH_RATE=${CRASH_RATE:-32M}          # curl --limit-rate: ~16 s for 512 MiB
UPLOADS_REL=${BERTH_UPLOADS_REL:-uploads}
BLOBS_REL=${BERTH_BLOBS_REL:-blobs}
GROW_TIMEOUT=${GROW_TIMEOUT:-60}

# upload_url REPO: POST /v2/REPO/blobs/uploads/, prints the absolute upload URL.
upload_url() {
  local hdrs=$WORK/post-headers code loc
  code=$(curl -sS -o /dev/null -D "$hdrs" -w '%{http_code}' -X POST -m 30 "${CURL_AUTH[@]}" \
    "http://$REG/v2/$1/blobs/uploads/")
  if [[ $code != 202 ]]; then
    cat "$hdrs" >&2
    fail "POST /v2/$1/blobs/uploads/: expected 202, got $code"
  fi
  loc=$(tr -d '\r' <"$hdrs" | awk 'tolower($1)=="location:" {print $2}')
  [[ -n $loc ]] || fail "POST /v2/$1/blobs/uploads/: 202 without a Location header"
  [[ $loc == http* ]] || loc="http://$REG$loc"
  echo "$loc"
}

# with_digest URL DIGEST: URL with ?digest= (or &digest=) appended.
with_digest() {
  if [[ $1 == *\?* ]]; then echo "$1&digest=$2"; else echo "$1?digest=$2"; fi
}

# wait_upload_growing PID_OF_CLIENT: polls <data-dir>/uploads until a file there grew past
# 8 MiB between two looks, while the client is still sending.
wait_upload_growing() {
  local client=$1 deadline=$((SECONDS + GROW_TIMEOUT)) prev=-1 prev_path="" cur path line
  while ((SECONDS < deadline)); do
    is_alive "$client" || fail "the upload client exited before berth wrote a growing file under $BERTH_DATA/$UPLOADS_REL (client output: $(cat "$WORK/client.out" 2>/dev/null))"
    line=$(find "$BERTH_DATA/$UPLOADS_REL" -type f -printf '%s %p\n' 2>/dev/null | sort -n | tail -n1)
    cur=${line%% *}
    cur=${cur:-0}
    path=${line#* }
    if [[ $path == "$prev_path" ]] && ((cur > prev && cur >= 8 * 1024 * 1024)); then
      say "    upload file is growing: $path ($prev -> $cur bytes)"
      return 0
    fi
    prev=$cur
    prev_path=$path
    sleep 0.3
  done
  say "contents of $BERTH_DATA:" >&2
  find "$BERTH_DATA" -printf '%s %p\n' >&2 || true
  fail "no file under $BERTH_DATA/$UPLOADS_REL grew within ${GROW_TIMEOUT}s (is the upload buffered in memory?)"
}

# expected_name FILE: the digest hex a blob file should hash to ("data" files: parent dir).
expected_name() {
  local n
  n=$(basename "$1")
  [[ $n == data ]] && n=$(basename "$(dirname "$1")")
  echo "$n"
}

# check_blobs_dir: nothing named after the interrupted digest; every published blob
# hashes to its name.
check_blobs_dir() {
  local f n got hits others=0 count=0
  hits=$(find "$BERTH_DATA/$BLOBS_REL" -name "$BIG_HEX" 2>/dev/null || true)
  [[ -z $hits ]] || fail "found a file named after the interrupted blob: $hits"
  pass "no file named $BIG_HEX under $BERTH_DATA/$BLOBS_REL"
  hits=$(find "$BERTH_DATA/$BLOBS_REL" -name "*$BIG_HEX*" 2>/dev/null || true)
  [[ -z $hits ]] || say "    note: files whose names contain the digest: $hits"
  while IFS= read -r f; do
    n=$(expected_name "$f")
    if [[ ! $n =~ ^[0-9a-f]{64}$ ]]; then
      others=$((others + 1))
      say "    note: non-blob file under blobs/: $f ($(stat -c %s "$f") bytes)"
      continue
    fi
    got=$(sha256_file "$f")
    [[ $got == "sha256:$n" ]] || fail "corrupt published blob: $f hashes to $got"
    count=$((count + 1))
  done < <(find "$BERTH_DATA/$BLOBS_REL" -type f 2>/dev/null)
  pass "all $count published blob files hash to their names ($others other files)"
}

# check_after_restart OLD_UPLOAD_URL
check_after_restart() {
  local code old=$1
  old="http://$REG/${old#http://*/}"   # same path, new port
  for repo in crash/big crash/one; do
    expect_eq "HEAD /v2/$repo/blobs/<interrupted digest>" 404 \
      "$(http_status HEAD "http://$REG/v2/$repo/blobs/$BIG_DIGEST")"
  done
  code=$(http_status GET "$old")
  [[ $code != 5* ]] || fail "GET of the interrupted upload session ${old#http://*/} after restart: $code"
  pass "GET of the interrupted upload session after restart: $code (no server error)"
  check_blobs_dir
  check_roundtrip crash/one:v1 "$SRC" one
  check_roundtrip "crash/two@$IMG_TWO" "$SRC" two
  local left
  left=$(find "$BERTH_DATA/$UPLOADS_REL" -type f 2>/dev/null | wc -l)
  say "    files left under $UPLOADS_REL/ after restart: $left (garbage is allowed)"
}

# crash_during CURL_ARGS...: runs curl in the background, SIGKILLs berth once the upload
# file grows, reaps curl.
crash_during() {
  say "+ curl $* &"
  curl -sS -o "$WORK/client.body" -w 'HTTP %{http_code}\n' --limit-rate "$CRASH_RATE" -m 300 \
    "${CURL_AUTH[@]}" "$@" >"$WORK/client.out" 2>&1 &
  local cpid=$! rc=0 deadline
  wait_upload_growing "$cpid"
  assert_berth_alive
  kill9_berth
  deadline=$((SECONDS + 30))
  while is_alive "$cpid" && ((SECONDS < deadline)); do sleep 0.1; done
  is_alive "$cpid" && kill "$cpid"
  wait "$cpid" || rc=$?
  ((rc != 0)) || fail "the upload finished successfully before the kill: $(cat "$WORK/client.out")"
  pass "berth killed mid-upload (curl exit $rc: $(tail -n1 "$WORK/client.out"))"
}

# resume_session OLD_UPLOAD_URL: if berth still knows the interrupted session (GET -> 204
# with Range: 0-N), send the rest of the blob from N+1 with a Content-Range PATCH and
# close it with PUT ?digest=. Whatever offset berth reports must be the truth: resuming
# from it has to yield the original digest.
resume_session() {
  local url="http://$REG/${1#http://*/}" hdrs=$WORK/resume-headers code range next loc
  code=$(curl -sS -o /dev/null -D "$hdrs" -w '%{http_code}' -m 30 "${CURL_AUTH[@]}" "$url")
  if [[ $code != 204 ]]; then
    say "    session ${url#http://*/} not resumable after restart (GET: $code); skipped"
    return 0
  fi
  range=$(tr -d '\r' <"$hdrs" | awk 'tolower($1)=="range:" {print $2}')
  [[ $range =~ ^(bytes=)?0-([0-9]+)$ ]] || fail "GET of the upload session: 204 with Range '$range' (want 0-<last byte>)"
  next=$((BASH_REMATCH[2] + 1))
  ((next < CRASH_SIZE)) || fail "upload session after the crash claims $next of $CRASH_SIZE bytes"
  say "    session ${url#http://*/} resumes at byte $next (Range: $range)"
  dd if="$WORK/big.bin" of="$WORK/rest.bin" bs=1M skip="$next" iflag=skip_bytes status=none
  code=$(curl -sS -o "$WORK/resume.body" -D "$hdrs" -w '%{http_code}' -X PATCH -m 300 "${CURL_AUTH[@]}" \
    -H 'Content-Type: application/octet-stream' -H "Content-Range: $next-$((CRASH_SIZE - 1))" \
    -T "$WORK/rest.bin" "$url")
  [[ $code == 202 ]] || { cat "$hdrs" "$WORK/resume.body" >&2; fail "PATCH Content-Range: $next-$((CRASH_SIZE - 1)) on the resumed session: expected 202, got $code"; }
  expect_eq "Range after the resuming PATCH" "0-$((CRASH_SIZE - 1))" \
    "$(tr -d '\r' <"$hdrs" | awk 'tolower($1)=="range:" {sub(/^bytes=/, "", $2); print $2}')"
  loc=$(tr -d '\r' <"$hdrs" | awk 'tolower($1)=="location:" {print $2}')
  [[ -n $loc ]] || loc=$url
  [[ $loc == http* ]] || loc="http://$REG$loc"
  code=$(curl -sS -o "$WORK/resume.body" -w '%{http_code}' -X PUT -m 300 "${CURL_AUTH[@]}" \
    "$(with_digest "$loc" "$BIG_DIGEST")")
  [[ $code == 201 ]] || { cat "$WORK/resume.body" >&2; fail "PUT ?digest= closing the resumed session: expected 201, got $code (the bytes berth kept do not add up to the blob?)"; }
  pass "resumed session completed: 201"
  rm -f "$WORK/rest.bin"
}

# The checks below read blob files directly (names are digests, contents hash to them), which
# holds for plaintext storage; encrypted blobs go through the same publish-by-rename path and
# their torn-write handling is covered by encrypted_blob_store_test and test_encryption.py.
export BERTH_ENCRYPTION_AT_REST=false

restart_berth() {
  BERTH_DATA_DIR=$BERTH_DATA start_berth
  pass "berth restarted on the same data dir"
}

step "start berth; push two images with skopeo"
start_berth
SRC=$WORK/src
IMG_ONE=$(make_image "$SRC" one)
IMG_TWO=$(make_image "$SRC" two)
skopeo_push_layout "$SRC" one crash/one:v1
skopeo_push_layout "$SRC" two crash/two:v1
expect_eq "crash/one:v1" "$IMG_ONE" "$(reg_digest crash/one:v1)"
expect_eq "crash/two:v1" "$IMG_TWO" "$(reg_digest crash/two:v1)"

step "make a $CRASH_SIZE-byte blob"
random_file "$WORK/big.bin" "$CRASH_SIZE"
BIG_DIGEST=$(sha256_file "$WORK/big.bin")
BIG_HEX=${BIG_DIGEST#sha256:}
say "    $BIG_DIGEST"

step "crash 1: POST + streamed PATCH (chunked), SIGKILL mid-stream"
URL1=$(upload_url crash/big)
URL=$URL1
crash_during -X PATCH -H 'Content-Type: application/octet-stream' -H 'Transfer-Encoding: chunked' \
  -T "$WORK/big.bin" "$URL"
check_blobs_dir
step "restart after crash 1"
restart_berth
check_after_restart "$URL"

step "crash 2: POST + monolithic PUT ?digest= with Content-Length, SIGKILL mid-stream"
URL=$(upload_url crash/big)
crash_during -X PUT -H 'Content-Type: application/octet-stream' -T "$WORK/big.bin" \
  "$(with_digest "$URL" "$BIG_DIGEST")"
check_blobs_dir
step "restart after crash 2"
restart_berth
check_after_restart "$URL"

step "resume the interrupted sessions if berth kept them (both must then give the right digest)"
resume_session "$URL1"
resume_session "$URL"
BIG_HEX=none-expected-after-complete-upload check_blobs_dir

step "the same blob uploads completely afterwards"
URL=$(upload_url crash/big)
code=$(curl -sS -o "$WORK/put.body" -w '%{http_code}' -X PUT -m 300 "${CURL_AUTH[@]}" \
  -H 'Content-Type: application/octet-stream' -T "$WORK/big.bin" "$(with_digest "$URL" "$BIG_DIGEST")")
[[ $code == 201 ]] || { cat "$WORK/put.body" >&2; fail "PUT ?digest= of the whole blob: expected 201, got $code"; }
pass "PUT ?digest= of the whole blob: 201"
expect_eq "HEAD /v2/crash/big/blobs/<digest>" 200 "$(http_status HEAD "http://$REG/v2/crash/big/blobs/$BIG_DIGEST")"
expect_eq "sha256 of GET /v2/crash/big/blobs/<digest>" "$BIG_DIGEST" \
  "$(curl -fsS -L -m 300 "${CURL_AUTH[@]}" "http://$REG/v2/crash/big/blobs/$BIG_DIGEST" | sha256_stdin)"

step "clean restart (SIGTERM) keeps everything"
stop_berth
restart_berth
expect_eq "HEAD /v2/crash/big/blobs/<digest> after clean restart" 200 \
  "$(http_status HEAD "http://$REG/v2/crash/big/blobs/$BIG_DIGEST")"
BIG_HEX=none-expected-after-complete-upload check_blobs_dir
check_roundtrip crash/one:v1 "$SRC" one
check_roundtrip crash/two:v1 "$SRC" two

step "shutdown"
assert_berth_alive
stop_berth
