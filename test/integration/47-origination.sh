#!/usr/bin/env bash
# DestinationRule SIMPLE / MUTUAL: TLS origination to a service outside the
# mesh.  The server's chain is checked against caCertificates and its name
# against sni (or host); MUTUAL also presents the client certificate.
. "$(dirname "$0")/lib.sh"

certs
"$GEN_CERTS" ca "$T/ext" ext
"$GEN_CERTS" leaf "$T/ext" ext api spiffe://ext.example/api --cn api.example.com
"$GEN_CERTS" leaf "$T/ext" ext caller spiffe://ext.example/caller --cn caller.example.com

P_SIMPLE=$(free_port); P_MUTUAL=$(free_port)
P_S=$(free_port); P_WRONG=$(free_port); P_M=$(free_port)
start_s_server ext "$P_SIMPLE" "$T/ext/api.crt" "$T/ext/api.key"
start_s_server extm "$P_MUTUAL" "$T/ext/api.crt" "$T/ext/api.key" -Verify 1 -CAfile "$T/ext/ext-ca.crt"

sidecar_config "$T/a.yaml" client foo client
cat >>"$T/a.yaml" <<EOF
listeners:
  - {name: simple, direction: outbound, address: "127.0.0.1:$P_S", upstream: "127.0.0.1:$P_SIMPLE",
     host: api.example.com}
  - {name: wrong-name, direction: outbound, address: "127.0.0.1:$P_WRONG", upstream: "127.0.0.1:$P_SIMPLE",
     host: other.example.com}
  - {name: mutual, direction: outbound, address: "127.0.0.1:$P_M", upstream: "127.0.0.1:$P_MUTUAL",
     host: api.example.com}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: api, namespace: foo}
spec:
  host: api.example.com
  trafficPolicy:
    portLevelSettings:
      - port: {number: $P_SIMPLE}
        tls: {mode: SIMPLE, caCertificates: "$T/ext/ext-ca.crt"}
      - port: {number: $P_MUTUAL}
        tls: {mode: MUTUAL, caCertificates: "$T/ext/ext-ca.crt",
              clientCertificate: "$T/ext/caller.crt", privateKey: "$T/ext/caller.key"}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: other, namespace: foo}
spec:
  host: other.example.com
  trafficPolicy: {tls: {mode: SIMPLE, caCertificates: "$T/ext/ext-ca.crt"}}
EOF
start_sidecar a "$T/a.yaml" "$P_S" "$P_WRONG" "$P_M"

step "SIMPLE: plain in, TLS out, the server's name and chain checked"
curl -sS --max-time 5 "http://127.0.0.1:$P_S/" >"$T/simple.reply" || true
assert_contains "$T/simple.reply" 'Cipher is|Protocol'
wait_for_log "$T/a.out" "$(conn_re listener=simple mode=SIMPLE class=app_tls_passthrough 'tls=TLSv1\.[23]' end=peer_closed)"

step "SIMPLE to a server whose certificate names another host is refused"
curl -sS --max-time 5 "http://127.0.0.1:$P_WRONG/" >"$T/wrong.reply" 2>/dev/null || true
assert_not_contains "$T/wrong.reply" 'Cipher is'
wait_for_log "$T/a.out" "$(conn_re listener=wrong-name mode=SIMPLE class=refused end=tls_verify_failed)"
assert_contains "$T/a.out" 'listener=wrong-name .*end=tls_verify_failed: peer certificate does not name other\.example\.com .*: hostname mismatch$'

step "MUTUAL: the client certificate is presented"
curl -sS --max-time 5 "http://127.0.0.1:$P_M/" >"$T/mutual.reply" || true
assert_contains "$T/mutual.reply" 'Cipher is|Protocol'
assert_contains "$T/mutual.reply" 'caller\.example\.com'
wait_for_log "$T/a.out" "$(conn_re listener=mutual mode=MUTUAL class=app_tls_passthrough end=peer_closed)"

alive a
log "ok"
