#!/usr/bin/env bash
# STRICT inbound: only mesh mTLS from a peer of our trust domain gets through.
#   plaintext -> refused (plaintext_refused_strict), the app never sees it
#   TLS without a client certificate -> tls_no_peer_cert
#   a certificate from another root ("foo") -> tls_verify_failed: <reason>
#   an expired certificate -> tls_verify_failed: certificate has expired
#   a foreign trust domain, or a principal not allowed -> identity_rejected
#   a good client (leaf or leaf+intermediate chain) -> bytes unchanged both ways
#   50 MB through outbound sidecar A -> inbound sidecar B -> sink: sha256 matches
#   50 MB through A -> B -> echo: what comes back has the sha256 of what was sent
#   B's and A's Prometheus counters: each connection by classification and each
#   refusal by its handshake outcome, exactly as many as this test made
. "$(dirname "$0")/lib.sh"

certs
P_ECHO=$(free_port); P_SINK=$(free_port)
P_IN=$(free_port); P_IN_SINK=$(free_port); P_OUT=$(free_port); P_OUT_ECHO=$(free_port)
CLIENT_ID=spiffe://cluster.local/ns/foo/sa/client
SERVER_ID=spiffe://cluster.local/ns/bar/sa/server

start_backend echo --listen "127.0.0.1:$P_ECHO" --mode echo
start_backend sink --listen "127.0.0.1:$P_SINK" --mode sink

sidecar_config "$T/b.yaml" server bar server
cat >>"$T/b.yaml" <<EOF
listeners:
  - {name: in, direction: inbound, address: "127.0.0.1:$P_IN", upstream: "127.0.0.1:$P_ECHO",
     port: 8080, protocol: tcp, allowed_principals: ["spiffe://cluster.local/ns/foo/*"]}
  - {name: in-sink, direction: inbound, address: "127.0.0.1:$P_IN_SINK", upstream: "127.0.0.1:$P_SINK",
     port: 9080, protocol: tcp}
EOF
peer_auth "$T/b.yaml" STRICT bar
B_ADMIN=$ADMIN_PORT
start_sidecar b "$T/b.yaml" "$P_IN" "$P_IN_SINK"

sidecar_config "$T/a.yaml" client foo client
cat >>"$T/a.yaml" <<EOF
listeners:
  - {name: out, direction: outbound, address: "127.0.0.1:$P_OUT", upstream: "127.0.0.1:$P_IN_SINK",
     tls: ISTIO_MUTUAL, protocol: tcp, expected_identities: ["$SERVER_ID"]}
  - {name: out-echo, direction: outbound, address: "127.0.0.1:$P_OUT_ECHO", upstream: "127.0.0.1:$P_IN",
     tls: ISTIO_MUTUAL, protocol: tcp, expected_identities: ["$SERVER_ID"]}
EOF
A_ADMIN=$ADMIN_PORT
start_sidecar a "$T/a.yaml" "$P_OUT" "$P_OUT_ECHO"

# prom ADMIN_PORT FILE: one scrape of a sidecar's Prometheus endpoint.
prom() { curl -sS -m 5 "http://127.0.0.1:$1/stats/prometheus" >"$2" || fail "scraping 127.0.0.1:$1/stats/prometheus"; }
# assert_metric FILE SERIES VALUE: the exact series has exactly this value.
assert_metric() {
    assert_eq "$3" "$(awk -v k="$2" '$1 == k { print $2 }' "$1")" "$(basename "$1"): $2"
}

# ---------------------------------------------------------------------------
step "plaintext to a STRICT port is refused and never reaches the app"
printf 'PLAINTEXT-SECRET\n' | tcp_client 127.0.0.1 "$P_IN" 2 >"$T/plain.reply" || true
assert_not_contains "$T/plain.reply" 'PLAINTEXT-SECRET'
wait_for_log "$T/b.out" "$(conn_re dir=inbound listener=in mode=STRICT class=refused end=plaintext_refused_strict)"
assert_not_contains "$T/echo.out" 'close in=[1-9]'

step "TLS without a client certificate is refused"
printf 'NOCERT-SECRET\n' | mesh_client "127.0.0.1:$P_IN" - istio 1 >"$T/nocert.reply" 2>"$T/nocert.err" || true
assert_not_contains "$T/nocert.reply" 'NOCERT-SECRET'
wait_for_log "$T/b.out" "$(conn_re listener=in mode=STRICT class=refused 'end=tls_no_peer_cert')"

step "a client certificate from another root (foo) is refused with the verify reason"
printf 'FOO-SECRET\n' | mesh_client "127.0.0.1:$P_IN" foo-client istio 1 >"$T/foo.reply" 2>"$T/foo.err" || true
assert_not_contains "$T/foo.reply" 'FOO-SECRET'
wait_for_log "$T/b.out" "$(conn_re listener=in class=refused 'end=tls_verify_failed: peer chain does not lead to any of 1 trusted roots \(issuer CN ?= ?foo;')"

step "an expired client certificate is refused"
printf 'EXPIRED-SECRET\n' | mesh_client "127.0.0.1:$P_IN" expired-client istio 1 >"$T/exp.reply" 2>"$T/exp.err" || true
assert_not_contains "$T/exp.reply" 'EXPIRED-SECRET'
wait_for_log "$T/b.out" "$(conn_re listener=in class=refused 'end=tls_verify_failed: peer certificate expired at 20[0-9-]+T[0-9:]+Z')"

step "a certificate of a foreign trust domain is refused"
printf 'TD-SECRET\n' | mesh_client "127.0.0.1:$P_IN" other-td istio 1 >"$T/td.reply" 2>"$T/td.err" || true
assert_not_contains "$T/td.reply" 'TD-SECRET'
wait_for_log "$T/b.out" "$(conn_re listener=in class=refused 'end=identity_rejected: peer SAN spiffe://example.org/ns/foo/sa/client')"

step "a mesh identity outside allowed_principals is refused"
printf 'ROGUE-SECRET\n' | mesh_client "127.0.0.1:$P_IN" rogue istio 1 >"$T/rogue.reply" 2>"$T/rogue.err" || true
assert_not_contains "$T/rogue.reply" 'ROGUE-SECRET'
wait_for_log "$T/b.out" "$(conn_re listener=in class=refused 'end=identity_rejected: peer SAN spiffe://cluster.local/ns/evil/sa/rogue')"

assert_not_contains "$T/echo.out" 'close in=[1-9]'
assert_eq 0 "$(count_lines "$T/b.out" "$(conn_re listener=in class=mesh_mtls)")" "accepted connections so far"

# ---------------------------------------------------------------------------
step "a good mesh client (s_client, ALPN istio) is echoed"
printf 'hello-mesh\n' | mesh_client "127.0.0.1:$P_IN" client istio 1 >"$T/good.reply" 2>"$T/good.err" || true
assert_contains "$T/good.reply" '^hello-mesh$'
wait_for_log "$T/b.out" "$(conn_re listener=in mode=STRICT class=mesh_mtls 'up=127.0.0.1:[0-9]+' 'tls=TLSv1\.[23]' "peer=$CLIENT_ID" bytes_received=11 bytes_sent=11)"

step "the TLS 1.3 suite is AES-128-GCM, in B's order, for a client that puts AES-256-GCM first"
printf 'hello-suite\n' | mesh_client "127.0.0.1:$P_IN" client istio 1 -brief \
    -ciphersuites TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256 >"$T/suite.reply" 2>"$T/suite.err" || true
assert_contains "$T/suite.reply" '^hello-suite$'
assert_contains "$T/suite.err" 'Ciphersuite: TLS_AES_128_GCM_SHA256'

step "a client whose chain carries an intermediate is accepted"
printf 'hello-chain\n' | mesh_client "127.0.0.1:$P_IN" int-client istio 1 >"$T/chain.reply" 2>"$T/chain.err" || true
assert_contains "$T/chain.reply" '^hello-chain$'
wait_for_log "$T/b.out" "$(conn_re listener=in class=mesh_mtls "peer=$CLIENT_ID" bytes_received=12)"

step "1 MB of random bytes come back unchanged (socat, no ALPN, half-close)"
head -c 1000000 /dev/urandom >"$T/in.bin"
timeout 30 socat -t 10 -T 15 - \
    "OPENSSL:127.0.0.1:$P_IN,cert=$CERTS/client.crt,key=$CERTS/client.key,cafile=$CERTS/ca.crt,verify=1,commonname=server.bar.svc.cluster.local" \
    <"$T/in.bin" >"$T/out.bin" 2>"$T/socat.err" || { cat "$T/socat.err" >&2; fail "socat through the STRICT port failed"; }
assert_eq "$(sha256sum <"$T/in.bin")" "$(sha256sum <"$T/out.bin")" "sha256 of the echoed megabyte"
wait_for_log "$T/echo.out" 'close in=1000000 out=1000000'
wait_for_log "$T/b.out" "$(conn_re listener=in class=mesh_mtls "peer=$CLIENT_ID" bytes_received=1000000 bytes_sent=1000000)"

# ---------------------------------------------------------------------------
step "50 MB: plain client -> A (outbound mTLS) -> B (STRICT) -> sink"
size=$((50 * 1024 * 1024))
want="$size $("$BACKEND" --gen "$size" | sha256sum | cut -d' ' -f1)"
"$BACKEND" --gen "$size" | tcp_client 127.0.0.1 "$P_OUT" 20 >"$T/big.reply" 2>"$T/big.err" || true
assert_eq "$want" "$(cat "$T/big.reply")" "sink's count and sha256"
reply_len=$(wc -c <"$T/big.reply")
wait_for_log "$T/a.out" "$(conn_re dir=outbound listener=out mode=ISTIO_MUTUAL "up=127.0.0.1:$P_IN_SINK" "peer=$SERVER_ID" "bytes_received=$size" "bytes_sent=$reply_len")"
wait_for_log "$T/b.out" "$(conn_re dir=inbound listener=in-sink mode=STRICT class=mesh_mtls "peer=$CLIENT_ID" "bytes_received=$size" "bytes_sent=$reply_len")"

step "50 MB both ways: plain client -> A (outbound mTLS) -> B (STRICT) -> echo, back unchanged"
# streamed through sha256sum on both ends: nothing of the 50 MB is kept
t0=$(date +%s%N)
got=$("$BACKEND" --gen "$size" |
    timeout 120 socat -t 30 -T 30 - "TCP:127.0.0.1:$P_OUT_ECHO" 2>"$T/big-echo.err" |
    sha256sum | cut -d' ' -f1)
log "50 MB echoed through A and B in $((($(date +%s%N) - t0) / 1000000)) ms"
assert_eq "${want#* }" "$got" "sha256 of the 50 MB that came back through A and B"
wait_for_log "$T/echo.out" "close in=$size out=$size"
wait_for_log "$T/a.out" "$(conn_re dir=outbound listener=out-echo mode=ISTIO_MUTUAL "up=127.0.0.1:$P_IN" "peer=$SERVER_ID" "bytes_received=$size" "bytes_sent=$size")"
wait_for_log "$T/b.out" "$(conn_re dir=inbound listener=in mode=STRICT class=mesh_mtls "peer=$CLIENT_ID" "bytes_received=$size" "bytes_sent=$size")"

# ---------------------------------------------------------------------------
step "B's counters: every connection above by classification, every refusal by its outcome"
# B, port 8080 (in): refused = plaintext, no cert, foo root, expired, foreign
# trust domain, rogue principal; mesh_mtls = good, suite, chain, 1 MB, 50 MB echo.
# Port 9080 (in-sink): the 50 MB to the sink.  Every connection has logged
# its line (waited for above), so the counters are final.
prom "$B_ADMIN" "$T/b.prom"
assert_metric "$T/b.prom" 'sidecar_connections_total{direction="inbound",port="8080",classification="refused"}' 6
assert_metric "$T/b.prom" 'sidecar_connections_total{direction="inbound",port="8080",classification="mesh_mtls"}' 5
assert_metric "$T/b.prom" 'sidecar_connections_total{direction="inbound",port="8080",classification="plaintext"}' 0
assert_metric "$T/b.prom" 'sidecar_connections_total{direction="inbound",port="8080",classification="app_tls_passthrough"}' 0
assert_metric "$T/b.prom" 'sidecar_connections_total{direction="inbound",port="9080",classification="mesh_mtls"}' 1
assert_metric "$T/b.prom" 'sidecar_connections_total{direction="inbound",port="9080",classification="refused"}' 0
# plaintext on a STRICT port fails the handshake: outcome protocol
assert_metric "$T/b.prom" 'sidecar_tls_handshakes_total{direction="inbound",outcome="protocol"}' 1
assert_metric "$T/b.prom" 'sidecar_tls_handshakes_total{direction="inbound",outcome="no_client_cert"}' 1
assert_metric "$T/b.prom" 'sidecar_tls_handshakes_total{direction="inbound",outcome="unknown_ca"}' 1
assert_metric "$T/b.prom" 'sidecar_tls_handshakes_total{direction="inbound",outcome="expired"}' 1
assert_metric "$T/b.prom" 'sidecar_tls_handshakes_total{direction="inbound",outcome="bad_identity"}' 2
assert_metric "$T/b.prom" 'sidecar_tls_handshakes_total{direction="inbound",outcome="ok"}' 6
assert_metric "$T/b.prom" 'sidecar_tls_handshakes_total{direction="outbound",outcome="ok"}' 0

step "A's counters: two outbound mTLS connections, two good handshakes, nothing inbound"
prom "$A_ADMIN" "$T/a.prom"
assert_metric "$T/a.prom" 'sidecar_tls_handshakes_total{direction="outbound",outcome="ok"}' 2
for o in no_client_cert unknown_ca expired bad_identity protocol; do
    assert_metric "$T/a.prom" "sidecar_tls_handshakes_total{direction=\"outbound\",outcome=\"$o\"}" 0
done
assert_metric "$T/a.prom" 'sidecar_tls_handshakes_total{direction="inbound",outcome="ok"}' 0
# an outbound connection counts under its upstream's port
assert_metric "$T/a.prom" "sidecar_connections_total{direction=\"outbound\",port=\"$P_IN_SINK\",classification=\"mesh_mtls\"}" 1
assert_metric "$T/a.prom" "sidecar_connections_total{direction=\"outbound\",port=\"$P_IN\",classification=\"mesh_mtls\"}" 1
assert_eq 0 "$(awk '$1 ~ /^sidecar_connections_total\{/ && $1 !~ /classification="mesh_mtls"/ { n += $2 } END { print n + 0 }' "$T/a.prom")" \
    "A: connections of any other classification"

alive a
alive b
log "ok"
