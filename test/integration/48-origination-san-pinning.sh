#!/usr/bin/env bash
# DestinationRule subjectAltNames pin SIMPLE / MUTUAL servers, as they pin
# ISTIO_MUTUAL ones.  The server (openssl s_server) has a certificate whose
# only SAN is DNS:api.example.com, from a CA the rule trusts, so the chain
# and the host name check pass either way:
#  - pinned to api.example.com (DNS SAN): accepted, at L4 and L7;
#  - pinned to a URI the certificate has not, or to billing.example.com:
#    refused, "identity_rejected: peer SAN DNS:api.example.com not in
#    [billing.example.com]" in the connection log (the refusal names DNS
#    SANs, not "SAN none"), counted as outcome="bad_identity";
#  - at L7 the refusal is 503 UF, after one handshake: a refused identity is
#    not retried (no URX), so the counter moves by exactly 1 per request;
#  - MUTUAL: the same pinning.
. "$(dirname "$0")/lib.sh"

certs
"$GEN_CERTS" ca "$T/ext" ext
"$GEN_CERTS" leaf "$T/ext" ext api - --dns api.example.com --cn api.example.com
"$GEN_CERTS" leaf "$T/ext" ext caller spiffe://ext.example/caller --cn caller.example.com

P_OK=$(free_port); P_BAD=$(free_port); P_URI=$(free_port); P_MBAD=$(free_port)
P_L4_OK=$(free_port); P_L4_BAD=$(free_port); P_L4_URI=$(free_port)
P_L7_OK=$(free_port); P_L7_BAD=$(free_port); P_L4_MBAD=$(free_port)
start_s_server ok "$P_OK" "$T/ext/api.crt" "$T/ext/api.key"
start_s_server bad "$P_BAD" "$T/ext/api.crt" "$T/ext/api.key"
start_s_server uri "$P_URI" "$T/ext/api.crt" "$T/ext/api.key"
start_s_server mbad "$P_MBAD" "$T/ext/api.crt" "$T/ext/api.key" -Verify 1 -CAfile "$T/ext/ext-ca.crt"

sidecar_config "$T/a.yaml" client foo client
cat >>"$T/a.yaml" <<EOF
access_log: {path: stdout, format: text}
listeners:
  - {name: l4-ok, direction: outbound, address: "127.0.0.1:$P_L4_OK", upstream: "127.0.0.1:$P_OK",
     host: api.example.com}
  - {name: l4-bad, direction: outbound, address: "127.0.0.1:$P_L4_BAD", upstream: "127.0.0.1:$P_BAD",
     host: api.example.com}
  - {name: l4-uri, direction: outbound, address: "127.0.0.1:$P_L4_URI", upstream: "127.0.0.1:$P_URI",
     host: api.example.com}
  - {name: l4-mutual-bad, direction: outbound, address: "127.0.0.1:$P_L4_MBAD", upstream: "127.0.0.1:$P_MBAD",
     host: api.example.com}
  - {name: l7-ok, direction: outbound, address: "127.0.0.1:$P_L7_OK", upstream: "127.0.0.1:$P_OK",
     host: api.example.com, protocol: http}
  - {name: l7-bad, direction: outbound, address: "127.0.0.1:$P_L7_BAD", upstream: "127.0.0.1:$P_BAD",
     host: api.example.com, protocol: http}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: api, namespace: foo}
spec:
  host: api.example.com
  trafficPolicy:
    portLevelSettings:
      - port: {number: $P_OK}
        tls: {mode: SIMPLE, caCertificates: "$T/ext/ext-ca.crt", subjectAltNames: [api.example.com]}
      - port: {number: $P_BAD}
        tls: {mode: SIMPLE, caCertificates: "$T/ext/ext-ca.crt", subjectAltNames: [billing.example.com]}
      - port: {number: $P_URI}
        tls: {mode: SIMPLE, caCertificates: "$T/ext/ext-ca.crt",
              subjectAltNames: ["spiffe://ext.example/api"]}
      - port: {number: $P_MBAD}
        tls: {mode: MUTUAL, caCertificates: "$T/ext/ext-ca.crt", subjectAltNames: [billing.example.com],
              clientCertificate: "$T/ext/caller.crt", privateKey: "$T/ext/caller.key"}
EOF
A_STATS=$(sed -n 's/^stats: {address: "\(.*\)"}/\1/p' "$T/a.yaml")
start_sidecar a "$T/a.yaml" "$P_L4_OK" "$P_L4_BAD" "$P_L4_URI" "$P_L4_MBAD" "$P_L7_OK" "$P_L7_BAD"

bad_identity() {
    curl -sS -m 5 "http://$A_STATS/stats/prometheus" |
        awk '$1 == "sidecar_tls_handshakes_total{direction=\"outbound\",outcome=\"bad_identity\"}" { v = $2 }
             END { print v + 0 }'
}

step "SIMPLE pinned to the DNS SAN the server has: accepted (L4)"
curl -sS --max-time 5 "http://127.0.0.1:$P_L4_OK/" >"$T/ok.reply" || true
assert_contains "$T/ok.reply" 'Cipher is|Protocol'
wait_for_log "$T/a.out" "$(conn_re listener=l4-ok mode=SIMPLE class=app_tls_passthrough end=peer_closed)"
assert_eq 0 "$(bad_identity)" "bad_identity handshakes after the accepted one"

step "SIMPLE pinned to another name: refused, in words, with the DNS SAN (L4)"
curl -sS --max-time 5 "http://127.0.0.1:$P_L4_BAD/" >"$T/bad.reply" 2>/dev/null || true
assert_not_contains "$T/bad.reply" 'Cipher is'
wait_for_log "$T/a.out" "$(conn_re listener=l4-bad mode=SIMPLE class=refused end=identity_rejected)"
assert_contains "$T/a.out" 'listener=l4-bad .*end=identity_rejected: peer SAN DNS:api\.example\.com not in \[billing\.example\.com\] \(subject CN=api\.example\.com, serial [0-9A-F]+\)$'
assert_eq 1 "$(bad_identity)" "bad_identity handshakes"

step "SIMPLE pinned to a URI the certificate lacks: refused (L4)"
curl -sS --max-time 5 "http://127.0.0.1:$P_L4_URI/" >"$T/uri.reply" 2>/dev/null || true
assert_not_contains "$T/uri.reply" 'Cipher is'
wait_for_log "$T/a.out" "$(conn_re listener=l4-uri mode=SIMPLE class=refused end=identity_rejected)"
assert_eq 2 "$(bad_identity)" "bad_identity handshakes"

step "MUTUAL pinned to another name: refused (L4)"
curl -sS --max-time 5 "http://127.0.0.1:$P_L4_MBAD/" >"$T/mbad.reply" 2>/dev/null || true
assert_not_contains "$T/mbad.reply" 'Cipher is'
wait_for_log "$T/a.out" "$(conn_re listener=l4-mutual-bad mode=MUTUAL class=refused end=identity_rejected)"
assert_eq 3 "$(bad_identity)" "bad_identity handshakes"

step "L7, pinned to the right name: the server answers"
code=$(timeout 20 curl -sS -m 10 -o "$T/l7ok.body" -w '%{http_code}' "http://127.0.0.1:$P_L7_OK/") ||
    fail "curl through l7-ok failed"
assert_eq 200 "$code" "status through l7-ok"

step "L7, pinned to another name: 503 UF after one handshake (no retry)"
code=$(timeout 20 curl -sS -m 10 -o "$T/l7bad.body" -w '%{http_code}' "http://127.0.0.1:$P_L7_BAD/pinned") ||
    fail "curl through l7-bad failed"
assert_eq 503 "$code" "status through l7-bad"
log "body: $(cat "$T/l7bad.body")"
assert_contains "$T/l7bad.body" '^upstream connect error or disconnect/reset before headers\. reset reason: connection failure'
wait_for_log "$T/a.out" '"GET /pinned HTTP/1\.1" 503 '
assert_contains "$T/a.out" '"GET /pinned HTTP/1\.1" 503 UF '
assert_not_contains "$T/a.out" '"GET /pinned HTTP/1\.1" 503 UF,URX'
assert_eq 4 "$(bad_identity)" "bad_identity handshakes (one for the L7 request)"

alive a
log "ok"
