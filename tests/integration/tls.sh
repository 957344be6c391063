#!/usr/bin/env bash
# TLS: with tls.cert/tls.key drydock serves HTTPS only; curl and skopeo
# verify it against the test's own CA, and the token realm is https.
. "$(dirname "$0")/lib.sh"

command -v openssl >/dev/null || fail "openssl is not installed (scripts/install-deps.sh)"
CERTS="$WORK/certs"
mkdir -p "$CERTS"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=drydock test CA" \
  -keyout "$CERTS/ca.key" -out "$CERTS/ca.crt" >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$CERTS/server.key" -out "$CERTS/server.csr" \
  >/dev/null 2>&1
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$CERTS/san.ext"
openssl x509 -req -in "$CERTS/server.csr" -CA "$CERTS/ca.crt" -CAkey "$CERTS/ca.key" -CAcreateserial -days 1 \
  -extfile "$CERTS/san.ext" -out "$CERTS/server.crt" >/dev/null 2>&1
printf 'tls:\n  cert: %s\n  key: %s\n' "$CERTS/server.crt" "$CERTS/server.key" >"$WORK/tls.yaml"

start_server --config "$WORK/tls.yaml"
HTTPS="https://$REG"

assert_eq 200 "$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$CERTS/ca.crt" -u "admin:$ADMIN_PASS" "$HTTPS/v2/")" \
  "GET /v2/ over verified TLS"
CHALLENGE=$(curl -sS -D - -o /dev/null --cacert "$CERTS/ca.crt" "$HTTPS/v2/" | tr -d '\r' | grep -i '^WWW-Authenticate:')
assert_contains "$CHALLENGE" "realm=\"https://$REG/auth/token\"" "token realm uses https"
# Refused quickly and for the right reason: a timeout (28, a hung server) or
# nothing listening (7) would fail these too, so each exit code is checked.
rc=0
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 "http://$REG/v2/" 2>/dev/null) || rc=$?
[[ $rc != 0 && $rc != 7 && $rc != 28 && $code == 000 ]] ||
  fail "plain HTTP on the TLS port: curl exit $rc, HTTP $code (expected a closed connection)"
ok "plain HTTP is not served on the TLS port (curl exit $rc)"
rc=0
curl -sS -o /dev/null --max-time 5 "$HTTPS/v2/" 2>/dev/null || rc=$?
assert_eq 60 "$rc" "curl refuses the certificate without the CA (exit 60)"

mkdir -p "$WORK/certs.d"
cp "$CERTS/ca.crt" "$WORK/certs.d/ca.crt"
make_busybox_layout "$WORK/img" v1 tls >/dev/null
SRC_DIGEST=$(layout_digest "$WORK/img" v1)
skopeo copy -q --dest-creds "admin:$ADMIN_PASS" --dest-cert-dir "$WORK/certs.d" "oci:$WORK/img:v1" \
  "docker://$REG/tls/app:v1" >/dev/null
GOT=$(skopeo inspect --creds "admin:$ADMIN_PASS" --cert-dir "$WORK/certs.d" "docker://$REG/tls/app:v1" | jq -r .Digest)
assert_eq "$SRC_DIGEST" "$GOT" "skopeo push and inspect over TLS (token flow on https)"

stop_server
echo "tls: $CHECKS checks passed"
