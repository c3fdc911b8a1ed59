#!/usr/bin/env bash
# DISABLE inbound: never terminate; bytes pass through, even a TLS ClientHello
# that offers the mesh ALPN and a mesh certificate.
. "$(dirname "$0")/lib.sh"

certs
"$GEN_CERTS" ca "$T/app" app
"$GEN_CERTS" leaf "$T/app" app app-server spiffe://app.example/server --cn app-server.example

P_ECHO=$(free_port); P_APP=$(free_port); P_IN=$(free_port); P_IN_APP=$(free_port)
start_backend echo --listen "127.0.0.1:$P_ECHO" --mode echo
start_s_server app "$P_APP" "$T/app/app-server.crt" "$T/app/app-server.key"

sidecar_config "$T/b.yaml" server bar server
cat >>"$T/b.yaml" <<EOF
listeners:
  - {name: in, direction: inbound, address: "127.0.0.1:$P_IN", upstream: "127.0.0.1:$P_ECHO",
     port: 8080, protocol: tcp}
  - {name: in-app, direction: inbound, address: "127.0.0.1:$P_IN_APP", upstream: "127.0.0.1:$P_APP",
     port: 8443, protocol: tcp}
EOF
peer_auth "$T/b.yaml" DISABLE bar
start_sidecar b "$T/b.yaml" "$P_IN" "$P_IN_APP"

step "plaintext passes"
printf 'hello-plain\n' | tcp_client 127.0.0.1 "$P_IN" 2 >"$T/plain.reply"
assert_contains "$T/plain.reply" '^hello-plain$'
wait_for_log "$T/b.out" "$(conn_re listener=in mode=DISABLE class=plaintext tls=- peer=- bytes_received=12 bytes_sent=12)"

step "a mesh ClientHello (ALPN istio, mesh client cert) reaches the app's TLS server"
{ printf 'GET / HTTP/1.0\r\n\r\n'; sleep 1; } |
    timeout 10 openssl s_client -connect "127.0.0.1:$P_IN_APP" -alpn istio \
        -cert "$CERTS/client.crt" -key "$CERTS/client.key" \
        -CAfile "$T/app/app-ca.crt" -verify_return_error -ign_eof >"$T/tls.out" 2>&1 || true
assert_contains "$T/tls.out" 'Verify return code: 0 \(ok\)'
assert_contains "$T/tls.out" 's:CN ?= ?app-server\.example'
assert_not_contains "$T/tls.out" 'CN ?= ?(server\.bar|mesh)'
assert_contains "$T/tls.out" 'HTTP/1\.0 200 ok'
wait_for_log "$T/b.out" "$(conn_re listener=in-app mode=DISABLE 'class=(plaintext|app_tls_passthrough)' tls=- peer=-)"

step "a mesh client on a DISABLE port gets the app, not the sidecar (echo sees TLS bytes)"
printf 'x\n' | mesh_client "127.0.0.1:$P_IN" client istio 1 >"$T/mesh.reply" 2>"$T/mesh.err" || true
# the echo app returns the ClientHello, which is no ServerHello: no TLS session
assert_not_contains "$T/mesh.reply" '^x$'
wait_for_log "$T/echo.out" 'close in=[1-9][0-9]{2,}'
wait_for_log "$T/b.out" "$(conn_re listener=in mode=DISABLE 'class=(plaintext|app_tls_passthrough)' peer=-)"
assert_eq 0 "$(count_lines "$T/b.out" 'class=mesh_mtls')" "mesh_mtls connections on a DISABLE port"

alive b
log "ok"
