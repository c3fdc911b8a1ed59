#!/usr/bin/env bash
# The incident from the field, reproduced: the root CA everyone trusts has
# expired.  The sidecar says so everywhere an operator looks: /certs shows
# EXPIRED on the CA row, readiness is 503 with the reason (it was the only
# root: no valid root is left), the log warns,
# and a handshake fails with the expiry in the connection log and in the
# handshake metric.
. "$(dirname "$0")/lib.sh"

certs
"$GEN_CERTS" ca "$T/old" old --expired >/dev/null
"$GEN_CERTS" leaf "$T/old" old server spiffe://cluster.local/ns/bar/sa/server >/dev/null
"$GEN_CERTS" leaf "$T/old" old client spiffe://cluster.local/ns/foo/sa/client >/dev/null
root_end=$(date -u -d "$(openssl x509 -in "$T/old/old-ca.crt" -noout -enddate | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ)

P_ECHO=$(free_port); P_IN=$(free_port)
start_backend echo --listen "127.0.0.1:$P_ECHO" --mode echo
sidecar_config "$T/b.yaml" server bar server
sed -i "s|^secrets:.*|secrets: {cert_chain: \"$T/old/server.crt\", private_key: \"$T/old/server.key\", trusted_ca: \"$T/old/old-ca.crt\"}|" "$T/b.yaml"
cat >>"$T/b.yaml" <<EOF
listeners:
  - {name: in, direction: inbound, address: "127.0.0.1:$P_IN", upstream: "127.0.0.1:$P_ECHO", port: 8080}
EOF
peer_auth "$T/b.yaml" STRICT bar
start_sidecar b "$T/b.yaml" "$P_IN"

step "/certs?format=table shows the CA row EXPIRED"
curl -s "http://127.0.0.1:$ADMIN_PORT/certs?format=table" >"$T/table.txt"
assert_contains "$T/table.txt" '^RESOURCE NAME +TYPE +STATUS +VALID CERT +SERIAL NUMBER +NOT AFTER +NOT BEFORE +TRUST DOMAIN$'
assert_contains "$T/table.txt" "^ROOTCA +CA +EXPIRED +false +[0-9a-f]+ +$root_end "
assert_contains "$T/table.txt" '^default +Cert Chain +ACTIVE +true '

step "readiness is 503: no valid root is left, and it says which root expired when"
code=$(curl -s -o "$T/ready.body" -w '%{http_code}' "http://127.0.0.1:$ADMIN_PORT/healthz/ready")
assert_eq 503 "$code" "readiness with an expired root"
assert_contains "$T/ready.body" "no valid root CA left: root CA CN=old expired at $root_end"
assert_contains "$T/b.err" "error root CA CN=old \\(serial [0-9A-F]+\\) expired at $root_end"

step "a handshake fails, naming the expiry in the log and in the metric"
printf 'hello\n' | CERTS="$T/old" mesh_client "127.0.0.1:$P_IN" client istio 1 -CAfile "$T/old/old-ca.crt" \
    >"$T/c.out" 2>"$T/c.err" || true
assert_not_contains "$T/c.out" '^hello$'
wait_for_log "$T/b.out" "$(conn_re listener=in class=refused "end=tls_verify_failed: root CN=old expired at $root_end")"
assert_contains "$T/b.out" 'subject CN=old, SAN none, serial [0-9A-F]+\): certificate has expired$'
curl -s "http://127.0.0.1:$ADMIN_PORT/stats/prometheus" >"$T/metrics.txt"
assert_contains "$T/metrics.txt" '^sidecar_tls_handshakes_total\{direction="inbound",outcome="expired"\} 1$'
assert_contains "$T/metrics.txt" "^sidecar_certificate_expiration_timestamp_seconds\\{resource=\"ROOTCA\",role=\"root\",serial=\"[0-9a-f]+\"\\} $(date -u -d "$root_end" +%s)$"

alive b
log "ok"
