#!/usr/bin/env bash
# A TLS failure after the handshake is logged with OpenSSL's reason, not
# only "connection error": a mesh peer completes mTLS, exchanges data, then
# writes bytes that are no TLS record, or a handshake record in the clear,
# or (TLS 1.2) tries to renegotiate, which the sidecar refuses.
#   inbound L4 (relay)   end=downstream_reset: tls: wrong version number
#   inbound HTTP (l7)    end=downstream_reset: tls: ...
#   outbound, a server that does it    end=upstream_reset: tls: ...
. "$(dirname "$0")/lib.sh"

certs
P_ECHO=$(free_port); P_IN=$(free_port); P_HTTP=$(free_port); P_HTTPB=$(free_port)
P_OUT=$(free_port); P_BAD=$(free_port)
PEER=$ROOT/test/integration/tls_peer.py
SERVER_ID=spiffe://cluster.local/ns/bar/sa/server
start_backend echo --listen "127.0.0.1:$P_ECHO" --mode echo --quiet
start_backend http --listen "127.0.0.1:$P_HTTPB" --mode http --quiet

sidecar_config "$T/b.yaml" server bar server
cat >>"$T/b.yaml" <<EOF
listeners:
  - {name: in, direction: inbound, address: "127.0.0.1:$P_IN", upstream: "127.0.0.1:$P_ECHO",
     port: 8080, protocol: tcp}
  - {name: in-http, direction: inbound, address: "127.0.0.1:$P_HTTP", upstream: "127.0.0.1:$P_HTTPB",
     port: 9080, protocol: http}
EOF
peer_auth "$T/b.yaml" STRICT bar
start_sidecar b "$T/b.yaml" "$P_IN" "$P_HTTP"

# bad_client NAME PORT ALPN PAYLOAD: a mesh client that misbehaves after the handshake.
bad_client() {
    timeout 30 python3 "$PEER" client "127.0.0.1:$2" "$CERTS/client.crt" "$CERTS/client.key" \
        "$CERTS/ca.crt" "$3" "$4" >"$T/$1.out" 2>"$T/$1.err" || true
    assert_contains "$T/$1.out" '^sent$'
}

step "inbound L4: bytes that are no TLS record after the handshake"
bad_client garbage "$P_IN" istio garbage
wait_for_log "$T/b.out" "$(conn_re listener=in class=mesh_mtls 'end=downstream_reset: tls: wrong version number')"

step "inbound L4: a handshake record in the clear after the handshake"
bad_client cleartext "$P_IN" istio plaintext-handshake
wait_for_log "$T/b.out" "$(conn_re listener=in class=mesh_mtls 'end=downstream_reset: tls: bad record type')"
assert_not_contains "$T/b.out" 'connection error'

step "inbound L4: a renegotiation attempt (TLS 1.2)"
# s_client's "R" command renegotiates; the sidecar refuses and the client
# gives up with a handshake_failure alert.
{ printf 'hello\n'; sleep 1; printf 'R\n'; sleep 2; } |
    timeout 15 openssl s_client -connect "127.0.0.1:$P_IN" -cert "$CERTS/client.crt" \
        -key "$CERTS/client.key" -CAfile "$CERTS/ca.crt" -tls1_2 -alpn istio \
        >"$T/reneg.out" 2>"$T/reneg.err" || true
assert_contains "$T/reneg.err" '^RENEGOTIATING'
wait_for_log "$T/b.out" "$(conn_re listener=in class=mesh_mtls tls=TLSv1.2 'end=downstream_reset: tls: sslv3 alert handshake failure')"

step "inbound HTTP: garbage after a request"
bad_client http-peer "$P_HTTP" istio-http/1.1 garbage
assert_contains "$T/http-peer.out" '^HTTP/1.1 200'
wait_for_log "$T/b.out" "$(conn_re listener=in-http class=mesh_mtls 'end=downstream_reset: tls: wrong version number')"

step "outbound: a server that writes garbage after the handshake"
spawn badserver timeout 40 python3 "$PEER" server "$P_BAD" "$CERTS/server.crt" "$CERTS/server.key" \
    "$CERTS/ca.crt" garbage
wait_for_log "$T/badserver.out" '^listening$' 10
sidecar_config "$T/a.yaml" client foo client
cat >>"$T/a.yaml" <<EOF
listeners:
  - {name: out, direction: outbound, address: "127.0.0.1:$P_OUT", upstream: "127.0.0.1:$P_BAD",
     tls: ISTIO_MUTUAL, protocol: tcp, expected_identities: ["$SERVER_ID"]}
EOF
start_sidecar a "$T/a.yaml" "$P_OUT"
printf 'hello\n' | tcp_client 127.0.0.1 "$P_OUT" 5 >"$T/out.reply" || true
wait_for_log "$T/badserver.out" '^sent$' 10
wait_for_log "$T/a.out" "$(conn_re listener=out class=mesh_mtls 'end=upstream_reset: tls: wrong version number')"

log "ok"
