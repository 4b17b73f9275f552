#!/usr/bin/env bash
# HTTPS end to end, with the real berth binary and real clients (openssl s_client, curl,
# skopeo, podman, the aws CLI v1, python's ssl module):
#
#   1. `berth admin tls self-signed`: CA + server certificate with IP and DNS SANs, keys 0600
#   2. TLS only (no plain listener configured): nothing but the HTTPS port is open; TLS 1.0/1.1
#      and non-AEAD / non-ECDHE TLS 1.2 suites are refused, TLS 1.2 ECDHE+AEAD and TLS 1.3 are
#      accepted; Strict-Transport-Security on responses
#   3. clients over HTTPS with the CA: skopeo push/pull (--dest-cert-dir/--src-cert-dir),
#      podman pull/push (--cert-dir), aws ecr describe-repositories (--ca-bundle); and without
#      the CA, skopeo refuses the unknown authority
#   4. SIGHUP: a renewed certificate (new serial) is served to new connections while an open
#      connection keeps working; a broken certificate file is refused and the old one kept
#   5. mTLS, client_auth optional: a client certificate for a user pulls and pushes with no
#      password and the audit log names that user; no certificate → 401; credentials in the
#      request win over the certificate; a certificate naming no user → 401
#   6. mTLS, client_auth require: no certificate → the handshake fails
#   7. both listeners: a Deny on aws:SecureTransport=false blocks plain HTTP, not HTTPS
#
# Run:  BERTH_BIN=/work/wt-tls/build/berth bash test/integration/tls_test.sh
#
# A failed check does not stop the script (failed checks are listed at the end, exit 1);
# setup steps that must succeed do.
# shellcheck source-path=SCRIPTDIR source=clients/lib.sh
. "$(dirname "$0")/clients/lib.sh"
require_cmds aws jq skopeo podman openssl curl ss

unset AWS_CA_BUNDLE AWS_PROFILE AWS_DEFAULT_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY \
  AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_SHARED_CREDENTIALS_FILE
export AWS_MAX_ATTEMPTS=1 AWS_EC2_METADATA_DISABLED=true AWS_DEFAULT_REGION=us-east-1 \
  AWS_CONFIG_FILE=/dev/null AWS_PAGER=""

PKI=$WORK/pki
CLIENTS=$WORK/clients
CERTDIR=$WORK/certdir # Go clients: a directory whose *.crt are trusted CAs
DATA=$WORK/data
mkdir -p "$DATA" "$CERTDIR" "$CLIENTS"
ADMIN_CREDS="$BERTH_ADMIN_ACCESS_KEY_ID:$BERTH_ADMIN_SECRET_ACCESS_KEY"

# ---------------------------------------------------------------------------------------
# helpers

admin_cli() { out "$BERTH_BIN" admin --data-dir "$DATA" "$@"; }
# access_key_create USER: prints the JSON of a new access key (the one place that names the
# key subcommand).
access_key_create() { admin_cli access-key create "$1"; }

declare -A KEY_ID SECRET
# new_user NAME [POLICY...]: user, access key, attached managed/customer policies.
new_user() {
  local name=$1 json p
  shift
  admin_cli user create "$name" >/dev/null
  json=$(access_key_create "$name")
  KEY_ID[$name]=$(jq -er .AccessKeyId <<<"$json") || fail "no AccessKeyId for $name"
  SECRET[$name]=$(jq -er .SecretAccessKey <<<"$json") || fail "no SecretAccessKey for $name"
  for p in "$@"; do admin_cli policy attach "$name" "$p" >/dev/null; done
}

# start_tls_berth CONFIG_BODY: starts `berth serve --config` with CONFIG_BODY (YAML) on $DATA
# and waits until https://127.0.0.1:$TLS_PORT/healthz answers (any TLS outcome that is not
# "connection refused" counts when client certificates are required).
TLS_PORT="" PLAIN_PORT=""
start_tls_berth() {
  local cfg log pid deadline rc
  cfg=$(mktemp "$WORK/config.XXXX.yaml")
  printf '%s\n' "$1" >"$cfg"
  log="$WORK/logs/berth-$((${#BERTH_PIDS[@]} + 1))-tls.log"
  say "+ $BERTH_BIN serve --config $cfg --data-dir $DATA"
  sed 's/^/    | /' "$cfg"
  "$BERTH_BIN" serve --config "$cfg" --data-dir "$DATA" >"$log" 2>&1 &
  pid=$!
  BERTH_PIDS+=("$pid")
  BERTH_LOGS+=("$log")
  deadline=$((SECONDS + BERTH_START_TIMEOUT))
  while ((SECONDS < deadline)); do
    is_alive "$pid" || {
      rc=0
      wait "$pid" || rc=$?
      STOPPED_PIDS+="$pid "
      tail -n 20 "$log" >&2
      fail "berth exited with status $rc during startup"
    }
    if grep -q "berth listening on https://" "$log"; then
      export BERTH_PID=$pid BERTH_LOG=$log
      say "    berth pid $pid serving https://127.0.0.1:$TLS_PORT"
      return 0
    fi
    sleep 0.1
  done
  fail "berth did not start within ${BERTH_START_TIMEOUT}s"
}

tls_yaml() {
  printf 'tls:\n  listen: 127.0.0.1:%s\n  cert_file: %s\n  key_file: %s\n' \
    "$TLS_PORT" "$PKI/server.pem" "$PKI/server-key.pem"
}

# s_client ARGS...: a handshake (plus an HTTP request) with openssl s_client; status returned,
# output in LAST_LOG.
s_client() {
  LAST_LOG=$(mktemp "$WORK/logs/XXXX-s_client.log")
  printf 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' |
    timeout 20 openssl s_client -ign_eof -connect "127.0.0.1:$TLS_PORT" -servername localhost \
      -CAfile "$PKI/ca.pem" -verify_return_error "$@" >"$LAST_LOG" 2>&1
}
accepted() {
  if s_client "${@:2}" && grep -q '^HTTP/1.1 200' "$LAST_LOG"; then
    pass "$1: accepted ($(grep -m1 -E 'Protocol *:|New, ' "$LAST_LOG" | tr -s ' '))"
  else
    check_fail "$1: expected a handshake and 200: $(tail -n 3 "$LAST_LOG" | tr '\n' ' ')"
  fi
}
refused() {
  if s_client "${@:2}" && grep -q '^HTTP/1.1' "$LAST_LOG"; then
    check_fail "$1: the server accepted it ($(grep -m1 'Cipher is' "$LAST_LOG"))"
  else
    pass "$1: refused ($(grep -m1 -oE 'alert [a-z ]+|no (protocols|ciphers) available|no cipher match|handshake failure' "$LAST_LOG" || echo 'no handshake'))"
  fi
}

# serial_now: serial of the certificate a new connection is served.
serial_now() {
  timeout 10 openssl s_client -connect "127.0.0.1:$TLS_PORT" -servername localhost </dev/null 2>/dev/null |
    openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
}
serial_of() { openssl x509 -noout -serial -in "$1" | cut -d= -f2; }

# curl over HTTPS trusting the development CA.
scurl() { curl -sS -m 60 --cacert "$PKI/ca.pem" "$@"; }
# status_of CURL_ARGS...: HTTP status, or curl-error-N.
status_of() {
  local rc=0 code
  code=$(scurl -o /dev/null -w '%{http_code}' "$@" 2>/dev/null) || rc=$?
  if ((rc != 0)); then echo "curl-error-$rc"; else echo "$code"; fi
}

OCI_ACCEPT='application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json'

# =======================================================================================
step "1. berth admin tls self-signed"
run "$BERTH_BIN" admin tls self-signed --host 127.0.0.1 --host localhost --out-dir "$PKI" --days 30
for f in ca.pem ca-key.pem server.pem server-key.pem; do
  [[ -s $PKI/$f ]] || fail "self-signed did not write $f"
done
ck_eq "mode of ca-key.pem" 600 "$(stat -c %a "$PKI/ca-key.pem")"
ck_eq "mode of server-key.pem" 600 "$(stat -c %a "$PKI/server-key.pem")"
SANS=$(openssl x509 -noout -ext subjectAltName -in "$PKI/server.pem" | tail -n1 | tr -d ' ')
ck_eq "server certificate SANs" "IPAddress:127.0.0.1,DNS:localhost" "$SANS"
ck "server certificate verifies against the CA" openssl verify -CAfile "$PKI/ca.pem" -purpose sslserver "$PKI/server.pem"
ck_eq "server key type" "id-ecPublicKey" "$(openssl x509 -noout -text -in "$PKI/server.pem" | awk '/Public Key Algorithm/ {print $4; exit}')"
cp "$PKI/ca.pem" "$CERTDIR/ca.crt"

# =======================================================================================
step "2. TLS only: protocol versions, cipher suites, HSTS, no plain listener"
TLS_PORT=$(free_port)
start_tls_berth "$(tls_yaml)"
# After the first start, which provisions the administrator with the preset key.
# Users: admin (preset key), carol (mTLS, power user), erin (denied plain HTTP).
new_user carol AmazonEC2ContainerRegistryPowerUser
new_user erin AmazonEC2ContainerRegistryPowerUser
cat >"$WORK/deny-insecure.json" <<'EOF'
{"Version": "2012-10-17", "Statement": [
  {"Effect": "Deny", "Action": "ecr:*", "Resource": "*",
   "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}
EOF
admin_cli policy create DenyInsecureTransport --document "$WORK/deny-insecure.json" >/dev/null
admin_cli policy attach erin DenyInsecureTransport >/dev/null

LISTENING=$(ss -ltnpH | grep -c "pid=$BERTH_PID," || true)
ck_eq "berth listens on exactly one port" 1 "$LISTENING"
ck_eq "... and it is the HTTPS port" 1 "$(ss -ltnpH | grep "pid=$BERTH_PID," | grep -c ":$TLS_PORT " || true)"
ck_eq "plain HTTP to the TLS port gets no HTTP answer" "000" \
  "$(curl -s -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$TLS_PORT/healthz" || true)"

refused "TLS 1.0" -tls1 -cipher 'DEFAULT:@SECLEVEL=0'
refused "TLS 1.1" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0'
accepted "TLS 1.2 (default suites)" -tls1_2
accepted "TLS 1.3" -tls1_3
accepted "TLS 1.2 ECDHE-ECDSA-AES128-GCM-SHA256" -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256
accepted "TLS 1.2 ECDHE-ECDSA-AES256-GCM-SHA384" -tls1_2 -cipher ECDHE-ECDSA-AES256-GCM-SHA384
accepted "TLS 1.2 ECDHE-ECDSA-CHACHA20-POLY1305" -tls1_2 -cipher ECDHE-ECDSA-CHACHA20-POLY1305
refused "TLS 1.2 AES128-SHA (RSA key exchange, CBC)" -tls1_2 -cipher 'AES128-SHA:@SECLEVEL=0'
refused "TLS 1.2 DES-CBC3-SHA" -tls1_2 -cipher 'DES-CBC3-SHA:@SECLEVEL=0'
refused "TLS 1.2 AES256-GCM-SHA384 (RSA key exchange)" -tls1_2 -cipher 'AES256-GCM-SHA384:@SECLEVEL=0'
refused "TLS 1.2 ECDHE-ECDSA-AES128-SHA (CBC)" -tls1_2 -cipher 'ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0'
refused "TLS 1.2 ECDHE-ECDSA-AES128-SHA256 (CBC)" -tls1_2 -cipher 'ECDHE-ECDSA-AES128-SHA256:@SECLEVEL=0'

HDRS=$(scurl -D - -o /dev/null "https://127.0.0.1:$TLS_PORT/v2/" | tr -d '\r')
ck_eq "Strict-Transport-Security on a 401" "max-age=31536000" \
  "$(awk -F': ' 'tolower($1) == "strict-transport-security" {print $2}' <<<"$HDRS")"
HDRS=$(scurl -D - -o /dev/null "https://localhost:$TLS_PORT/healthz" | tr -d '\r')
ck_eq "Strict-Transport-Security on /healthz (via the DNS SAN)" "max-age=31536000" \
  "$(awk -F': ' 'tolower($1) == "strict-transport-security" {print $2}' <<<"$HDRS")"

# =======================================================================================
step "3. skopeo, podman and the aws CLI over HTTPS"
REG="127.0.0.1:$TLS_PORT"
SRC=$WORK/src
IMG=$(make_image "$SRC" v1)
run skopeo_cmd copy --preserve-digests --dest-cert-dir "$CERTDIR" --dest-creds "$ADMIN_CREDS" \
  "oci:$SRC:v1" "docker://$REG/tls/app:v1"
pass "skopeo push over HTTPS with --dest-cert-dir"
BACK=$(mktemp -d "$WORK/back.XXXX")
run skopeo_cmd copy --preserve-digests --src-cert-dir "$CERTDIR" --src-creds "$ADMIN_CREDS" \
  "docker://$REG/tls/app:v1" "oci:$BACK:t"
ck_eq "skopeo pull over HTTPS: manifest digest" "$IMG" "$(layout_digest "$BACK" t)"
if sk_out=$(timeout 60 skopeo_cmd inspect --raw --creds "$ADMIN_CREDS" "docker://$REG/tls/app:v1" 2>&1); then
  check_fail "skopeo without the CA trusted the development certificate"
else
  ck_eq "skopeo without the CA: unknown authority" 1 "$(grep -c -m1 'unknown authority' <<<"$sk_out")"
fi

P=(podman --storage-driver vfs --root "$WORK/root" --runroot "$WORK/runroot"
  --cgroup-manager cgroupfs --events-backend file --tmpdir "$WORK/podman-tmp")
mkdir -p "$WORK/podman-tmp"
CLEANUP_CMDS+=("${P[*]} rmi --all --force")
run "${P[@]}" pull --cert-dir "$CERTDIR" --creds "$ADMIN_CREDS" "$REG/tls/app:v1"
pass "podman pull over HTTPS with --cert-dir"
run "${P[@]}" tag "$REG/tls/app:v1" "$REG/tls/podman:v1"
run "${P[@]}" push --cert-dir "$CERTDIR" --creds "$ADMIN_CREDS" "$REG/tls/podman:v1"
pass "podman push over HTTPS with --cert-dir"

AWS_HTTPS=(aws ecr --endpoint-url "https://127.0.0.1:$TLS_PORT" --ca-bundle "$PKI/ca.pem" --output json)
REPOS=$(AWS_ACCESS_KEY_ID=$BERTH_ADMIN_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$BERTH_ADMIN_SECRET_ACCESS_KEY \
  out "${AWS_HTTPS[@]}" describe-repositories | jq -r '[.repositories[].repositoryName] | sort | join(",")')
ck_eq "aws ecr describe-repositories over HTTPS" "tls/app,tls/podman" "$REPOS"
URI=$(AWS_ACCESS_KEY_ID=$BERTH_ADMIN_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$BERTH_ADMIN_SECRET_ACCESS_KEY \
  out "${AWS_HTTPS[@]}" describe-repositories --repository-names tls/app | jq -r '.repositories[0].repositoryUri')
ck_eq "repositoryUri names the HTTPS listener" "127.0.0.1:$TLS_PORT/tls/app" "$URI"

# =======================================================================================
step "4. SIGHUP: certificate reload"
OLD_SERIAL=$(serial_of "$PKI/server.pem")
ck_eq "serial served before the reload" "$OLD_SERIAL" "$(serial_now)"
# A keep-alive connection opened before the reload: one request now, one after.
python3 - "$TLS_PORT" "$PKI/ca.pem" "$WORK/go-on" >"$WORK/keepalive.out" 2>&1 <<'PY' &
import http.client, os, ssl, sys, time
port, ca, flag = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=60)
def get():
    c.request("GET", "/healthz")
    r = c.getresponse()
    r.read()
    return r.status
print("first", get(), flush=True)
deadline = time.time() + 60
while not os.path.exists(flag) and time.time() < deadline:
    time.sleep(0.05)
serial = "%X" % int(c.sock.getpeercert()["serialNumber"], 16)
print("second", get(), serial, flush=True)
PY
KEEPALIVE_PID=$!
for _ in $(seq 100); do grep -q first "$WORK/keepalive.out" && break; sleep 0.1; done
run "$BERTH_BIN" admin tls self-signed --host 127.0.0.1 --host localhost --out-dir "$PKI" --days 30
NEW_SERIAL=$(serial_of "$PKI/server.pem")
[[ $NEW_SERIAL != "$OLD_SERIAL" ]] || fail "the renewed certificate has the old serial"
ck_eq "before SIGHUP new connections still get the old certificate" "$OLD_SERIAL" "$(serial_now)"
kill -HUP "$BERTH_PID"
got=""
for _ in $(seq 100); do
  got=$(serial_now)
  [[ $got == "$NEW_SERIAL" ]] && break
  sleep 0.1
done
ck_eq "after SIGHUP a new connection gets the new certificate" "$NEW_SERIAL" "$got"
ck "berth logged the reload" grep -q "reloaded the TLS certificate" "$BERTH_LOG"
touch "$WORK/go-on"
wait "$KEEPALIVE_PID" || true
ck_eq "the connection opened before the reload: first request" "first 200" "$(grep first "$WORK/keepalive.out")"
ck_eq "... and a request on it after the reload, still on the old certificate" \
  "second 200 $(sed 's/^0*//' <<<"$OLD_SERIAL")" "$(grep second "$WORK/keepalive.out")"
ck_eq "a new client with the CA still verifies" 200 "$(status_of "https://localhost:$TLS_PORT/healthz")"

cp "$PKI/server.pem" "$WORK/server.pem.good"
printf -- '-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n' >"$PKI/server.pem"
kill -HUP "$BERTH_PID"
for _ in $(seq 100); do grep -q "TLS reload failed" "$BERTH_LOG" && break; sleep 0.1; done
ck "a broken certificate file: berth logs the error" grep -q "TLS reload failed" "$BERTH_LOG"
ck_eq "... and keeps serving the previous certificate" "$NEW_SERIAL" "$(serial_now)"
assert_berth_alive
cp "$WORK/server.pem.good" "$PKI/server.pem"
stop_berth

# =======================================================================================
step "5. mTLS, client_auth: optional"
run "$BERTH_BIN" admin tls client-cert --ca-dir "$PKI" --user carol --out-dir "$CLIENTS"
run "$BERTH_BIN" admin tls client-cert --ca-dir "$PKI" --user nobody --out-dir "$CLIENTS"
ck_eq "mode of carol-key.pem" 600 "$(stat -c %a "$CLIENTS/carol-key.pem")"
ck_eq "client certificate subject" "CN = carol" \
  "$(openssl x509 -noout -subject -nameopt sep_multiline -in "$CLIENTS/carol.pem" | sed -n 's/^ *\(CN=.*\)/\1/p' | sed 's/=/ = /')"
start_tls_berth "$(tls_yaml)
  client_ca_file: $PKI/ca.pem
  client_auth: optional"
CAROL=(--cert "$CLIENTS/carol.pem" --key "$CLIENTS/carol-key.pem")
NOBODY=(--cert "$CLIENTS/nobody.pem" --key "$CLIENTS/nobody-key.pem")
MANIFEST_URL="https://127.0.0.1:$TLS_PORT/v2/tls/app/manifests/v1"
ck_eq "carol's certificate pulls the manifest, no password" 200 \
  "$(status_of "${CAROL[@]}" -H "Accept: $OCI_ACCEPT" "$MANIFEST_URL")"
ck_eq "no certificate, no credentials: 401" 401 "$(status_of -H "Accept: $OCI_ACCEPT" "$MANIFEST_URL")"
ck_eq "a certificate naming no berth user: 401" 401 \
  "$(status_of "${NOBODY[@]}" -H "Accept: $OCI_ACCEPT" "$MANIFEST_URL")"
ck_eq "carol's certificate with wrong Basic credentials: 401 (the header wins)" 401 \
  "$(status_of "${CAROL[@]}" -u "$BERTH_ADMIN_ACCESS_KEY_ID:wrong" -H "Accept: $OCI_ACCEPT" "$MANIFEST_URL")"
ck_eq "/v2/token with only a certificate: 401 (no access key to tie a token to)" 401 \
  "$(status_of "${CAROL[@]}" "https://127.0.0.1:$TLS_PORT/v2/token?scope=repository:tls/app:pull")"
# A monolithic blob upload as carol (certificate only), then the audit entry names her.
printf 'uploaded by carol over mTLS %s' "$(date +%s%N)" >"$WORK/carol-blob"
BLOB_DIGEST=$(sha256_file "$WORK/carol-blob")
ck_eq "carol's certificate pushes a blob (monolithic POST)" 201 \
  "$(status_of "${CAROL[@]}" -X POST -H 'Content-Type: application/octet-stream' \
    --data-binary "@$WORK/carol-blob" "https://127.0.0.1:$TLS_PORT/v2/tls/app/blobs/uploads/?digest=$BLOB_DIGEST")"
sleep 1 # audit entries are flushed within a fraction of a second
AUDIT=$(out "$BERTH_BIN" admin --data-dir "$DATA" audit --json --repository tls/app)
POST_PRINCIPAL=$(jq -r 'select(.method == "POST") | .principal' <<<"$AUDIT" | tail -n1)
if [[ $POST_PRINCIPAL == arn:aws:iam::*:user/carol ]]; then
  pass "audit: the upload's principal is carol ($POST_PRINCIPAL)"
else
  check_fail "audit: the upload's principal is '$POST_PRINCIPAL', expected user/carol"
fi
ck_eq "carol's certificate on the plain-HTTP-less server, admin creds win: 200" 200 \
  "$(status_of "${CAROL[@]}" -u "$ADMIN_CREDS" -H "Accept: $OCI_ACCEPT" "$MANIFEST_URL")"
stop_berth

# =======================================================================================
step "6. mTLS, client_auth: require"
start_tls_berth "$(tls_yaml)
  client_ca_file: $PKI/ca.pem
  client_auth: require"
ck_eq "carol's certificate: 200" 200 "$(status_of "${CAROL[@]}" -H "Accept: $OCI_ACCEPT" "$MANIFEST_URL")"
NOCERT=$(status_of -u "$ADMIN_CREDS" -H "Accept: $OCI_ACCEPT" "$MANIFEST_URL")
if [[ $NOCERT == curl-error-* ]]; then
  pass "no certificate: the TLS handshake fails ($NOCERT)"
else
  check_fail "no certificate with client_auth require: got HTTP $NOCERT"
fi
refused "s_client without a certificate" -tls1_3
stop_berth

# =======================================================================================
step "7. both listeners: aws:SecureTransport"
PLAIN_PORT=$(free_port)
start_tls_berth "listen: 127.0.0.1:$PLAIN_PORT
$(tls_yaml)"
ck_eq "berth listens on two ports" 2 "$(ss -ltnpH | grep -c "pid=$BERTH_PID," || true)"
ck_eq "no HSTS on plain HTTP" "" \
  "$(curl -sS -m 10 -D - -o /dev/null "http://127.0.0.1:$PLAIN_PORT/healthz" | tr -d '\r' | grep -i '^strict-transport' || true)"
ERIN=(env AWS_ACCESS_KEY_ID="${KEY_ID[erin]}" AWS_SECRET_ACCESS_KEY="${SECRET[erin]}")
if "${ERIN[@]}" aws ecr --endpoint-url "http://127.0.0.1:$PLAIN_PORT" describe-repositories \
  --repository-names tls/app >"$WORK/logs/erin-http.log" 2>&1; then
  check_fail "erin over plain HTTP: describe-repositories tls/app succeeded despite the Deny"
else
  ck_eq "erin over plain HTTP: describe-repositories tls/app → AccessDeniedException" 1 \
    "$(grep -c -m1 AccessDeniedException "$WORK/logs/erin-http.log")"
fi
ck_eq "erin over plain HTTP: the repository list is filtered to nothing" "" \
  "$("${ERIN[@]}" aws ecr --endpoint-url "http://127.0.0.1:$PLAIN_PORT" --output json \
    describe-repositories 2>/dev/null | jq -r '.repositories[].repositoryName' | tr '\n' ' ')"
ck "erin over HTTPS: describe-repositories tls/app works" \
  "${ERIN[@]}" aws ecr --endpoint-url "https://127.0.0.1:$TLS_PORT" --ca-bundle "$PKI/ca.pem" \
  describe-repositories --repository-names tls/app
ck_eq "erin pulls a manifest over plain HTTP: 403" 403 \
  "$(curl -sS -m 30 -o /dev/null -w '%{http_code}' -u "${KEY_ID[erin]}:${SECRET[erin]}" \
    -H "Accept: $OCI_ACCEPT" "http://127.0.0.1:$PLAIN_PORT/v2/tls/app/manifests/v1")"
ck_eq "erin pulls a manifest over HTTPS: 200" 200 \
  "$(status_of -u "${KEY_ID[erin]}:${SECRET[erin]}" -H "Accept: $OCI_ACCEPT" "$MANIFEST_URL")"
ck_eq "carol (no Deny) over plain HTTP: 200" 200 \
  "$(curl -sS -m 30 -o /dev/null -w '%{http_code}' -u "${KEY_ID[carol]}:${SECRET[carol]}" \
    -H "Accept: $OCI_ACCEPT" "http://127.0.0.1:$PLAIN_PORT/v2/tls/app/manifests/v1")"
stop_berth

finish_checks
