#!/usr/bin/env bash
# RSA workload keys work as well as ECDSA ones: an RSA-2048 client and an
# RSA-2048 server (signed by the same mesh root) talk through the pair, and
# TLS 1.2 with ECDHE-RSA-AES-GCM is accepted while a CBC-only client is not.
. "$(dirname "$0")/lib.sh"

certs
"$GEN_CERTS" leaf "$CERTS" mesh rsa-server spiffe://cluster.local/ns/bar/sa/server --rsa >/dev/null
"$GEN_CERTS" leaf "$CERTS" mesh rsa-client spiffe://cluster.local/ns/foo/sa/client --rsa >/dev/null
assert_contains <(openssl x509 -in "$CERTS/rsa-server.crt" -noout -text) 'Public Key Algorithm: rsaEncryption'

P_ECHO=$(free_port); P_B=$(free_port); P_A=$(free_port)
start_backend echo --listen "127.0.0.1:$P_ECHO" --mode echo
sidecar_config "$T/b.yaml" server bar rsa-server
cat >>"$T/b.yaml" <<EOF
listeners:
  - {name: in, direction: inbound, address: "127.0.0.1:$P_B", upstream: "127.0.0.1:$P_ECHO", port: 8080}
EOF
peer_auth "$T/b.yaml" STRICT bar
sidecar_config "$T/a.yaml" client foo rsa-client
cat >>"$T/a.yaml" <<EOF
listeners:
  - {name: out, direction: outbound, address: "127.0.0.1:$P_A", upstream: "127.0.0.1:$P_B", tls: ISTIO_MUTUAL,
     expected_identities: ["spiffe://cluster.local/ns/bar/sa/server"]}
EOF
start_sidecar b "$T/b.yaml" "$P_B"
start_sidecar a "$T/a.yaml" "$P_A"

step "RSA client and server sidecars carry bytes both ways"
printf 'rsa-hello\n' | tcp_client 127.0.0.1 "$P_A" 2 >"$T/r.out"
assert_contains "$T/r.out" '^rsa-hello$'
wait_for_log "$T/a.out" "$(conn_re listener=out class=mesh_mtls tls=TLSv1.3 peer=spiffe://cluster.local/ns/bar/sa/server end=peer_closed)"

step "TLS 1.2 with ECDHE-RSA AES-GCM is accepted; CBC suites are not"
printf 'tls12\n' | CERTS=$CERTS mesh_client "127.0.0.1:$P_B" rsa-client istio 1 -tls1_2 \
    -cipher ECDHE-RSA-AES128-GCM-SHA256 >"$T/t12.out" 2>/dev/null || true
assert_contains "$T/t12.out" '^tls12$'
wait_for_log "$T/b.out" "$(conn_re listener=in class=mesh_mtls tls=TLSv1.2)"
printf 'cbc\n' | CERTS=$CERTS mesh_client "127.0.0.1:$P_B" rsa-client istio 1 -tls1_2 \
    -cipher ECDHE-RSA-AES128-SHA256 >"$T/cbc.out" 2>/dev/null || true
assert_not_contains "$T/cbc.out" '^cbc$'
wait_for_log "$T/b.out" "$(conn_re listener=in class=refused 'end=tls_handshake_failed: no shared cipher')"
alive a
alive b
log "ok"
