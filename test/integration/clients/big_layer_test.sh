#!/usr/bin/env bash
# A 1 GiB layer through berth with skopeo: push from an OCI layout, pull back, compare
# sha256; then a plain GET and a ranged GET with curl. berth must stream: its peak RSS
# (VmHWM) must stay under BIG_RSS_LIMIT_MIB (default 64).
. "$(dirname "$0")/lib.sh"

BIG_SIZE=${BIG_SIZE:-1073741824}
BIG_RSS_LIMIT_MIB=${BIG_RSS_LIMIT_MIB:-64}
CLIENT_TIMEOUT=${BIG_CLIENT_TIMEOUT:-600}

step "start berth"
start_berth
say "    RSS after start: $(awk '/^VmRSS:/ {print $2 " " $3}' "/proc/$BERTH_PID/status")"

step "make a $BIG_SIZE-byte random layer (raw, mediaType application/vnd.oci.image.layer.v1.tar)"
random_file "$WORK/big.bin" "$BIG_SIZE"
SRC=$WORK/src
MAN=$(make_image_from_file "$SRC" v1 "$WORK/big.bin")
LAYER=$(layout_layers "$SRC" "$MAN")
say "    manifest $MAN, layer $LAYER"

step "skopeo push (oci: -> docker://)"
t0=$SECONDS
skopeo_push_layout "$SRC" v1 big/layer:v1
pass "pushed in $((SECONDS - t0)) s"
assert_berth_alive
expect_eq "registry digest of big/layer:v1" "$MAN" "$(reg_digest big/layer:v1)"
HDRS=$(curl -sS -I -m 60 "${CURL_AUTH[@]}" "http://$REG/v2/big/layer/blobs/$LAYER" | tr -d '\r')
expect_eq "HEAD blob status" 200 "$(awk 'NR==1 {print $2}' <<<"$HDRS")"
expect_eq "HEAD blob Content-Length" "$BIG_SIZE" "$(awk 'tolower($1)=="content-length:" {print $2}' <<<"$HDRS")"

step "skopeo pull back (docker:// -> oci:) and compare sha256"
t0=$SECONDS
BACK=$WORK/back
skopeo_pull_layout big/layer:v1 "$BACK" v1
pass "pulled in $((SECONDS - t0)) s"
expect_eq "pulled manifest digest" "$MAN" "$(layout_digest "$BACK" v1)"
F=$(layout_blob "$BACK" "$LAYER")
[[ -f $F ]] || fail "pulled layout has no blob file for $LAYER"
expect_eq "size of the pulled layer" "$BIG_SIZE" "$(stat -c %s "$F")"
expect_eq "sha256 of the pulled layer" "$LAYER" "$(sha256_file "$F")"
rm -rf "$BACK"

step "curl GET of the blob (streamed into sha256) and a ranged GET"
t0=$SECONDS
expect_eq "sha256 of GET /v2/big/layer/blobs/$LAYER" "$LAYER" \
  "$(curl -fsS -L -m 600 "${CURL_AUTH[@]}" "http://$REG/v2/big/layer/blobs/$LAYER" | sha256_stdin)"
say "    GET took $((SECONDS - t0)) s"
OFF=$((BIG_SIZE / 2 + 12345))
want=$(dd if="$(layout_blob "$SRC" "$LAYER")" bs=4096 skip="$OFF" count=4096 \
  iflag=skip_bytes,count_bytes status=none | sha256_stdin)
got=$(curl -fsS -L -m 60 "${CURL_AUTH[@]}" -H "Range: bytes=$OFF-$((OFF + 4095))" \
  "http://$REG/v2/big/layer/blobs/$LAYER" | sha256_stdin)
expect_eq "sha256 of bytes $OFF-$((OFF + 4095)) via Range" "$want" "$got"

step "peak memory"
assert_berth_alive
PEAK=$(peak_rss_mib)
say "peak RSS: $PEAK MiB"
((PEAK <= BIG_RSS_LIMIT_MIB)) || fail "peak RSS $PEAK MiB exceeds $BIG_RSS_LIMIT_MIB MiB"
pass "peak RSS $PEAK MiB <= $BIG_RSS_LIMIT_MIB MiB"

step "shutdown"
stop_berth
