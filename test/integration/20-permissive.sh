#!/usr/bin/env bash
# PERMISSIVE inbound: on one port, mesh mTLS (recognised by its ALPN) is
# terminated, plaintext passes, and the app's own TLS (no mesh ALPN) passes
# through untouched: the client sees the app's certificate, not the sidecar's.
# Last, the sidecar's Prometheus counters show exactly the connections made
# here, by port and classification, and the handshakes by outcome.
. "$(dirname "$0")/lib.sh"

certs
CLIENT_ID=spiffe://cluster.local/ns/foo/sa/client
# the app's own TLS identity, from a root the mesh knows nothing about
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
peer_auth "$T/b.yaml" PERMISSIVE bar
B_ADMIN=$ADMIN_PORT
start_sidecar b "$T/b.yaml" "$P_IN" "$P_IN_APP"

step "mesh mTLS (ALPN istio) is terminated"
printf 'hello-mesh\n' | mesh_client "127.0.0.1:$P_IN" client istio 1 >"$T/mesh.reply" 2>"$T/mesh.err" || true
assert_contains "$T/mesh.reply" '^hello-mesh$'
wait_for_log "$T/b.out" "$(conn_re listener=in mode=PERMISSIVE class=mesh_mtls 'tls=TLSv1\.[23]' "peer=$CLIENT_ID" bytes_received=11 bytes_sent=11)"
assert_contains "$T/echo.out" 'close in=11 out=11'

step "mesh mTLS with ALPN istio-http/1.1 is terminated too"
printf 'hello-mesh-http\n' | mesh_client "127.0.0.1:$P_IN" client istio-http/1.1,http/1.1 1 >"$T/mesh2.reply" 2>"$T/mesh2.err" || true
assert_contains "$T/mesh2.reply" '^hello-mesh-http$'
wait_for_log "$T/b.out" "$(conn_re listener=in mode=PERMISSIVE class=mesh_mtls "peer=$CLIENT_ID" bytes_received=16)"

step "plaintext passes on the same port"
printf 'hello-plain\n' | tcp_client 127.0.0.1 "$P_IN" 2 >"$T/plain.reply"
assert_contains "$T/plain.reply" '^hello-plain$'
wait_for_log "$T/b.out" "$(conn_re listener=in mode=PERMISSIVE class=plaintext tls=- peer=- bytes_received=12 bytes_sent=12)"

step "plaintext that looks like HTTP passes"
printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' | tcp_client 127.0.0.1 "$P_IN" 2 >"$T/http.reply"
assert_contains "$T/http.reply" '^GET / HTTP/1.1'

step "mesh ALPN with a certificate from another root is refused"
printf 'FOO-SECRET\n' | mesh_client "127.0.0.1:$P_IN" foo-client istio 1 >"$T/foo.reply" 2>"$T/foo.err" || true
assert_not_contains "$T/foo.reply" 'FOO-SECRET'
wait_for_log "$T/b.out" "$(conn_re listener=in mode=PERMISSIVE class=refused 'end=tls_verify_failed: peer chain does not lead to any of 1 trusted roots \(issuer CN ?= ?foo;')"

# The app's own TLS: the client must see the app's certificate and talk to s_server.
app_tls() { # ALPN-ARGS... ; output in $T/apptls.out
    { printf 'GET / HTTP/1.0\r\n\r\n'; sleep 1; } |
        timeout 10 openssl s_client -connect "127.0.0.1:$P_IN_APP" -CAfile "$T/app/app-ca.crt" \
            -verify_return_error -ign_eof "$@" >"$T/apptls.out" 2>&1 || true
}

step "the app's own TLS with ALPN h2 passes through untouched"
app_tls -alpn h2,http/1.1
assert_contains "$T/apptls.out" 'Verify return code: 0 \(ok\)'
assert_contains "$T/apptls.out" 's:CN ?= ?app-server\.example'
assert_not_contains "$T/apptls.out" 'CN ?= ?(server\.bar|mesh)'
assert_contains "$T/apptls.out" 'HTTP/1\.0 200 ok'
wait_for_log "$T/b.out" "$(conn_re listener=in-app mode=PERMISSIVE class=app_tls_passthrough peer=-)"

step "the app's own TLS without ALPN passes through untouched"
before=$(count_lines "$T/b.out" "$(conn_re listener=in-app class=app_tls_passthrough)")
app_tls
assert_contains "$T/apptls.out" 'Verify return code: 0 \(ok\)'
assert_contains "$T/apptls.out" 'HTTP/1\.0 200 ok'
wait_for_count "$T/b.out" "$(conn_re listener=in-app mode=PERMISSIVE class=app_tls_passthrough peer=-)" $((before + 1))

step "the connection log shows each class"
assert_le 2 "$(count_lines "$T/b.out" "$(conn_re listener=in class=mesh_mtls)")" "mesh_mtls connections"
assert_le 2 "$(count_lines "$T/b.out" "$(conn_re listener=in class=plaintext)")" "plaintext connections"

step "B's counters: each connection above by port and classification, each handshake by outcome"
# port 8080 (in): mesh_mtls = ALPN istio, ALPN istio-http/1.1; plaintext =
# the line, the HTTP request; refused = the foo root.  Port 8443 (in-app):
# app_tls_passthrough = ALPN h2, no ALPN.  Handshakes (only mesh ALPN ones
# are terminated): 2 ok, 1 unknown_ca.  Every line is logged first, so the
# counters are final.
wait_for_count "$T/b.out" "$(conn_re listener=in class=plaintext)" 2
wait_for_count "$T/b.out" "$(conn_re listener=in class=refused)" 1
curl -sS -m 5 "http://127.0.0.1:$B_ADMIN/stats/prometheus" >"$T/b.prom" || fail "scraping B's /stats/prometheus"
assert_metric() { # SERIES VALUE
    assert_eq "$2" "$(awk -v k="$1" '$1 == k { print $2 }' "$T/b.prom")" "b.prom: $1"
}
assert_metric 'sidecar_connections_total{direction="inbound",port="8080",classification="mesh_mtls"}' 2
assert_metric 'sidecar_connections_total{direction="inbound",port="8080",classification="plaintext"}' 2
assert_metric 'sidecar_connections_total{direction="inbound",port="8080",classification="refused"}' 1
assert_metric 'sidecar_connections_total{direction="inbound",port="8080",classification="app_tls_passthrough"}' 0
assert_metric 'sidecar_connections_total{direction="inbound",port="8443",classification="app_tls_passthrough"}' 2
assert_metric 'sidecar_connections_total{direction="inbound",port="8443",classification="mesh_mtls"}' 0
assert_metric 'sidecar_connections_total{direction="inbound",port="8443",classification="plaintext"}' 0
assert_metric 'sidecar_connections_total{direction="inbound",port="8443",classification="refused"}' 0
assert_metric 'sidecar_tls_handshakes_total{direction="inbound",outcome="ok"}' 2
assert_metric 'sidecar_tls_handshakes_total{direction="inbound",outcome="unknown_ca"}' 1
for o in no_client_cert expired bad_identity protocol; do
    assert_metric "sidecar_tls_handshakes_total{direction=\"inbound\",outcome=\"$o\"}" 0
done
assert_eq 0 "$(awk '$1 ~ /^sidecar_connections_total\{direction="outbound"/ { n += $2 } END { print n + 0 }' "$T/b.prom")" \
    "outbound connections"

alive b
log "ok"
