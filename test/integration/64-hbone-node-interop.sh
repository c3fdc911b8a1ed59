#!/usr/bin/env bash
# HBONE (HTTP CONNECT over HTTP/2 over mutual TLS, ALPN h2) against peers
# nobody here wrote: Node's own http2 module, both ways.
#
# Inbound: sidecar B (ns bar, sa server, STRICT) listens for HBONE on
# inbound.hbone_address; its workload serves the ports of inbound.ports
# (app_host 127.0.0.1).  Node's http2 client (client certificate, ALPN h2)
# opens CONNECT streams on one connection, :authority 127.0.0.1:<app port>:
#   - B presents its SPIFFE ID and agrees on h2;
#   - a served port: 200, then random bytes both ways, SHA-256 checked, on
#     several streams of the one connection at once;
#   - a port the workload does not serve: 403, the app never sees it;
#   - a port whose PeerAuthentication mode is DISABLE: refused (HBONE is
#     mesh mTLS), the app behind it never sees a connection;
#   - a served port whose app is down: 503;
#   - a client identity outside allowed_principals: no stream of its tunnel
#     gets through (identity_rejected, as for plain mTLS);
#   - the connection log names the tunnel (hbone=...), the refusals are
#     counted;
#   - the same from an explicit listener (direction: inbound, transport:
#     hbone) of sidecar B2, whose workload ports are those of its other
#     inbound listeners: their allowed_principals refuse the rogue, and a
#     protocol: http one adds XFCC to what comes over HBONE.
# Outbound: sidecar A (ns foo, sa client) has an ISTIO_MUTUAL listener with
# transport: hbone, and hbone_port (top level) = the port of Node's http2 server playing
# the HBONE peer of the destination.  Plain clients -> A -> Node: Node sees
# A's client certificate, ALPN h2 and a CONNECT whose :authority is the
# original destination, relays it to the echo app, and every byte comes back.
# Sequential app connections share one tunnel (one TLS session at Node).
# A tunnel that Node cuts before answering is retried once on a fresh
# connection (the app connection then works); when the fresh one is cut
# too, the app connection is reset and A2's log says why.
. "$(dirname "$0")/lib.sh"

command -v node >/dev/null || fail "node is not installed (make deps installs it; this is the HBONE interop test against Node's http2)"
certs
NODE_DIR=$ROOT/test/integration/node
CLIENT_ID=spiffe://cluster.local/ns/foo/sa/client
SERVER_ID=spiffe://cluster.local/ns/bar/sa/server

P_ECHO=$(free_port); P_ECHO2=$(free_port); P_PLAINAPP=$(free_port); P_DOWN=$(free_port)
P_UNSERVED=$(free_port)
start_backend echo --listen "127.0.0.1:$P_ECHO" --mode echo
start_backend echo2 --listen "127.0.0.1:$P_ECHO2" --mode echo
start_backend plainapp --listen "127.0.0.1:$P_PLAINAPP" --mode echo
start_backend unserved --listen "127.0.0.1:$P_UNSERVED" --mode echo

FOO='["spiffe://cluster.local/ns/foo/*"]'
PA=$(cat <<EOF
---
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: {name: server, namespace: bar}
spec:
  selector: {matchLabels: {app: server}}
  mtls: {mode: STRICT}
  portLevelMtls:
    $P_PLAINAPP: {mode: DISABLE}
EOF
)
hbone_server sed='s/^node: {id: server, trust_domain: cluster.local, namespace: bar}$/node: {id: server, trust_domain: cluster.local, namespace: bar, labels: {app: server}}/' \
    port_extra=", allowed_principals: $FOO" auth="$PA" \
    "$P_ECHO:tcp" "$P_ECHO2:tcp" "$P_PLAINAPP:tcp" "$P_DOWN:tcp"

# hbone NAME CERT ARGS...: Node's http2 client to B's HBONE listener with
# $CERTS/CERT.crt/.key; its lines in $T/NAME.txt.
hbone() {
    local name=$1 cert=$2
    shift 2
    timeout 60 node "$NODE_DIR/hbone-client.js" --connect "127.0.0.1:$P_HB" \
        --cert "$CERTS/$cert.crt" --key "$CERTS/$cert.key" --ca "$CERTS/ca.crt" "$@" \
        >"$T/$name.txt" 2>"$T/$name.err" || fail "hbone-client.js failed: $(cat "$T/$name.err")"
}
# stream_line FILE N: the STREAM line of stream N
stream_line() { grep -E "^STREAM n=$2 " "$1" || true; }
# assert_echoed FILE N BYTES: stream N got 200 and its BYTES came back unchanged
assert_echoed() {
    local line sent recv
    line=$(stream_line "$1" "$2")
    [ -n "$line" ] || fail "$(basename "$1"): no STREAM line for stream $2: $(cat "$1")"
    assert_eq 200 "$(conn_field "$line" status)" "stream $2: CONNECT status ($line)"
    assert_eq "$3" "$(conn_field "$line" recv)" "stream $2: bytes that came back"
    sent=$(conn_field "$line" sha_sent)
    recv=$(conn_field "$line" sha_recv)
    assert_eq "$sent" "$recv" "stream $2: SHA-256 of what came back"
}

# ---------------------------------------------------------------------------
step "Node's http2 client: B presents its SPIFFE ID over ALPN h2; CONNECT to served ports is 200 and echoes"
hbone good client \
    --stream "127.0.0.1:$P_ECHO,1000000" --stream "127.0.0.1:$P_ECHO,65536" \
    --stream "127.0.0.1:$P_ECHO2,300000" --stream "127.0.0.1:$P_ECHO,1"
assert_contains "$T/good.txt" "^SESSION alpn=h2 peer=$SERVER_ID "
assert_echoed "$T/good.txt" 0 1000000
assert_echoed "$T/good.txt" 1 65536
assert_echoed "$T/good.txt" 2 300000
assert_echoed "$T/good.txt" 3 1
assert_eq 1 "$(count_lines "$T/good.txt" '^SESSION ')" "TLS connections of the four streams"
wait_for_log "$T/echo.out" 'close in=1000000 out=1000000'
wait_for_log "$T/echo2.out" 'close in=300000 out=300000'
# the connection log names the tunnel and the peer of the tunnel
wait_for_log "$T/b.out" "$(conn_re dir=inbound "peer=$CLIENT_ID")"
assert_contains "$T/b.out" ' hbone=[^ ]+'

step "a port the workload does not serve: 403, and the app there never sees it"
hbone unserved client --stream "127.0.0.1:$P_UNSERVED,100" --then "127.0.0.1:$P_ECHO,2000"
assert_eq 403 "$(conn_field "$(stream_line "$T/unserved.txt" 0)" status)" "CONNECT to an unserved port"
# the tunnel still carries the next stream
assert_echoed "$T/unserved.txt" 1 2000
assert_not_contains "$T/unserved.out" 'conn '

step "a DISABLE port refuses HBONE (mesh mTLS); the app behind it never sees a connection"
hbone disable client --stream "127.0.0.1:$P_PLAINAPP,100"
line=$(stream_line "$T/disable.txt" 0)
[ -n "$line" ] || assert_contains "$T/disable.txt" '^(SESSION_CLOSED|GOAWAY|SESSION_ERROR)'
assert_ne 200 "$(conn_field "$line" status)" "CONNECT to a DISABLE port"
assert_not_contains "$T/plainapp.out" 'conn '

step "a served port whose app is down: 503"
hbone down client --stream "127.0.0.1:$P_DOWN,100" --then "127.0.0.1:$P_ECHO,3000"
assert_eq 503 "$(conn_field "$(stream_line "$T/down.txt" 0)" status)" "CONNECT to a port whose app is down"
assert_echoed "$T/down.txt" 1 3000

step "a client identity outside allowed_principals: nothing on its tunnel gets through"
in_before=$(count_lines "$T/echo.out" 'close in=')
in2_before=$(count_lines "$T/echo2.out" 'close in=')
hbone rogue rogue --stream "127.0.0.1:$P_ECHO,100" --stream "127.0.0.1:$P_ECHO2,100" --timeout 10000
assert_not_contains "$T/rogue.txt" '^STREAM .* status=200 '
assert_eq "$in_before" "$(count_lines "$T/echo.out" 'close in=')" "echo app connections after the rogue tunnel"
assert_eq "$in2_before" "$(count_lines "$T/echo2.out" 'close in=')" "echo2 app connections after the rogue tunnel"
wait_for_log "$T/b.out" 'identity_rejected.*spiffe://cluster.local/ns/evil/sa/rogue'

step "B counts the refused streams"
curl -sS -m 5 "http://127.0.0.1:$B_ADMIN/stats/prometheus" >"$T/b.prom" || fail "scraping B"
# unserved port, DISABLE port, app down: three refused streams at least (the
# rogue's may be refused with its tunnel, before any stream)
refused=$(awk '$1 == "sidecar_hbone_streams_refused_total{direction=\"inbound\"}" { print $2 }' "$T/b.prom")
[ "${refused:-0}" -ge 3 ] || fail "sidecar_hbone_streams_refused_total{direction=\"inbound\"} is '${refused:-absent}', expected >= 3"
opened=$(awk '$1 == "sidecar_hbone_streams_opened_total{direction=\"inbound\"}" { print $2 }' "$T/b.prom")
[ "${opened:-0}" -ge 6 ] || fail "sidecar_hbone_streams_opened_total{direction=\"inbound\"} is '${opened:-absent}', expected >= 6"

# ---------------------------------------------------------------------------
step "explicit listeners: an inbound listener with transport: hbone serves the ports of the other inbound listeners"
# B2: no inbound: section; its workload's ports are the port: of its
# explicit inbound listeners, whose allowed_principals and protocol apply to
# the streams that reach them over HBONE
P_HTTP=$(free_port); P_HB2=$(free_port); P_IN2=$(free_port); P_IN3=$(free_port)
start_backend http --listen "127.0.0.1:$P_HTTP" --mode http
sidecar_config "$T/b2.yaml" server2 bar server
cat >>"$T/b2.yaml" <<EOF
listeners:
  - {name: hb, direction: inbound, address: "127.0.0.1:$P_HB2", transport: hbone}
  - {name: in, direction: inbound, address: "127.0.0.1:$P_IN2", upstream: "127.0.0.1:$P_ECHO",
     port: $P_ECHO, protocol: tcp, allowed_principals: $FOO}
  - {name: in-http, direction: inbound, address: "127.0.0.1:$P_IN3", upstream: "127.0.0.1:$P_HTTP",
     port: $P_HTTP, protocol: http, allowed_principals: $FOO}
EOF
peer_auth "$T/b2.yaml" STRICT bar
start_sidecar b2 "$T/b2.yaml" "$P_HB2" "$P_IN2" "$P_IN3"
mkdir -p "$T/b2-good"
P_HB_SAVED=$P_HB
P_HB=$P_HB2
hbone b2-good client --save "$T/b2-good" --stream "127.0.0.1:$P_ECHO,100000" \
    --stream "127.0.0.1:$P_UNSERVED,10" --stream "127.0.0.1:$P_HTTP,0,http=/headers"
assert_contains "$T/b2-good.txt" "^SESSION alpn=h2 peer=$SERVER_ID "
assert_echoed "$T/b2-good.txt" 0 100000
assert_eq 403 "$(conn_field "$(stream_line "$T/b2-good.txt" 1)" status)" "B2: CONNECT to a port no listener names"
assert_eq 200 "$(conn_field "$(stream_line "$T/b2-good.txt" 2)" status)" "B2: CONNECT to the protocol: http listener's port"
assert_contains "$T/b2-good/stream-2.bin" '^HTTP/1.1 200 '
grep -i -q -E "^x-forwarded-client-cert: .*URI=$CLIENT_ID" "$T/b2-good/stream-2.bin" ||
    fail "the HTTP app behind B2's protocol: http listener saw no XFCC naming $CLIENT_ID over HBONE: $(tr '\r\n' '  ' <"$T/b2-good/stream-2.bin" | cut -c1-400)"
wait_for_log "$T/http.out" 'req [0-9]+ GET /headers'
in_before=$(count_lines "$T/echo.out" 'close in=')
http_before=$(count_lines "$T/http.out" 'req [0-9]+ ')
hbone b2-rogue rogue --stream "127.0.0.1:$P_ECHO,100" --stream "127.0.0.1:$P_HTTP,0,http=/headers" --timeout 10000
assert_not_contains "$T/b2-rogue.txt" '^STREAM .* status=200 '
assert_eq "$in_before" "$(count_lines "$T/echo.out" 'close in=')" "echo app connections after the rogue tunnel to B2"
assert_eq "$http_before" "$(count_lines "$T/http.out" 'req [0-9]+ ')" "HTTP requests after the rogue tunnel to B2"
P_HB=$P_HB_SAVED

# ---------------------------------------------------------------------------
step "outbound: A -> Node's http2 server as the HBONE peer of the destination"
P_NODE=$(free_port); P_OUT=$(free_port)
node "$NODE_DIR/hbone-peer.js" --listen "127.0.0.1:$P_NODE" --cert "$CERTS/server.crt" \
    --key "$CERTS/server.key" --ca "$CERTS/ca.crt" >"$T/peer.out" 2>"$T/peer.err" </dev/null &
_sc_track $! peer backend
wait_for_log "$T/peer.out" '^listening$'
sidecar_config "$T/a.yaml" client foo client
hbone_client "$T/a.yaml" "$P_NODE" "out:$P_OUT:$P_ECHO:tcp"
start_sidecar a "$T/a.yaml" "$P_OUT"

conns() { # NAME N BYTES: tcp-conns.js through A
    timeout 120 node "$NODE_DIR/tcp-conns.js" --connect "127.0.0.1:$P_OUT" --conns "$2" --bytes "$3" \
        >"$T/$1.txt" 2>"$T/$1.err" || fail "$1: app connections through A failed: $(tail -n 5 "$T/$1.txt") $(cat "$T/$1.err")"
    assert_contains "$T/$1.txt" "^DONE conns=$2 ok=$2 bad=0"
}
for i in 1 2 3; do conns "seq$i" 1 200000; done
assert_contains "$T/peer.out" "^SESSION id=1 alpn=h2 peer=$CLIENT_ID "
assert_eq 3 "$(count_lines "$T/peer.out" "^CONNECT session=1 stream=[0-9]+ method=CONNECT authority=127\.0\.0\.1:$P_ECHO\$")" \
    "CONNECT streams Node saw on the first tunnel, :authority the original destination"
assert_eq 1 "$(count_lines "$T/peer.out" '^SESSION ')" "TLS connections for three sequential app connections"
wait_for_count "$T/peer.out" '^END session=1 stream=[0-9]+ up=200000 down=200000$' 3

step "outbound: 20 concurrent app connections, every byte back, over at most as many tunnels"
conns par 20 100000
assert_eq 23 "$(count_lines "$T/peer.out" "^CONNECT .* authority=127\.0\.0\.1:$P_ECHO\$")" "CONNECT streams Node saw in all"
sessions=$(count_lines "$T/peer.out" '^SESSION ')
log "Node saw $sessions TLS connection(s) for 23 app connections"
assert_le "$sessions" 3 "TLS connections Node saw for 23 app connections"
wait_for_log "$T/a.out" "$(conn_re dir=outbound listener=out "peer=$SERVER_ID")"
assert_contains "$T/a.out" ' hbone=[^ ]+'

# ---------------------------------------------------------------------------
step "outbound retry: a tunnel that fails before 200 is retried once on a fresh connection"
# Node peers that cut their first connection (drop1) or every connection
# (dropall) at its first CONNECT, reached from A2 through listeners with
# hbone_port of their own
P_DROP1=$(free_port); P_DROPALL=$(free_port); P_OUT_RETRY=$(free_port); P_OUT_FAIL=$(free_port)
for p in "drop1:$P_DROP1:1" "dropall:$P_DROPALL:1000"; do
    IFS=: read -r name port n <<<"$p"
    node "$NODE_DIR/hbone-peer.js" --listen "127.0.0.1:$port" --cert "$CERTS/server.crt" \
        --key "$CERTS/server.key" --ca "$CERTS/ca.crt" --drop-first "$n" >"$T/$name.out" 2>"$T/$name.err" </dev/null &
    _sc_track $! "$name" backend
    wait_for_log "$T/$name.out" '^listening$'
done
sidecar_config "$T/a2.yaml" client2 foo client
cat >>"$T/a2.yaml" <<EOF
listeners:
  - {name: out-retry, direction: outbound, address: "127.0.0.1:$P_OUT_RETRY", upstream: "127.0.0.1:$P_ECHO",
     tls: ISTIO_MUTUAL, transport: hbone, hbone_port: $P_DROP1, protocol: tcp,
     expected_identities: ["$SERVER_ID"]}
  - {name: out-fail, direction: outbound, address: "127.0.0.1:$P_OUT_FAIL", upstream: "127.0.0.1:$P_ECHO",
     tls: ISTIO_MUTUAL, transport: hbone, hbone_port: $P_DROPALL, protocol: tcp,
     expected_identities: ["$SERVER_ID"]}
EOF
start_sidecar a2 "$T/a2.yaml" "$P_OUT_RETRY" "$P_OUT_FAIL"
timeout 60 node "$NODE_DIR/tcp-conns.js" --connect "127.0.0.1:$P_OUT_RETRY" --conns 1 --bytes 50000 \
    >"$T/retry.txt" 2>&1 || fail "the app connection whose first tunnel was cut failed: $(cat "$T/retry.txt")"
assert_contains "$T/retry.txt" '^DONE conns=1 ok=1 bad=0'
assert_eq 1 "$(count_lines "$T/drop1.out" '^DROP session=1 ')" "tunnels drop1 cut"
assert_contains "$T/drop1.out" "^CONNECT session=2 stream=[0-9]+ method=CONNECT authority=127\.0\.0\.1:$P_ECHO\$"
wait_for_log "$T/drop1.out" '^END session=2 stream=[0-9]+ up=50000 down=50000$'

step "outbound retry: when the fresh connection fails too, the app connection is reset and the reason logged"
timeout 60 node "$NODE_DIR/tcp-conns.js" --connect "127.0.0.1:$P_OUT_FAIL" --conns 1 --bytes 1000 \
    >"$T/fail.txt" 2>&1 || true
assert_contains "$T/fail.txt" '^DONE conns=1 ok=0 bad=1'
assert_eq 2 "$(count_lines "$T/dropall.out" "^CONNECT .* authority=127\.0\.0\.1:$P_ECHO\$")" \
    "CONNECTs for one app connection: the first and one retry"
assert_eq 2 "$(count_lines "$T/dropall.out" '^DROP ')" "tunnels dropall cut"
wait_for_log "$T/a2.out" "$(conn_re dir=outbound listener=out-fail)"
line=$(conn_lines "$T/a2.out" 'listener=out-fail ' | tail -n 1)
log "A2 logged: ${line#* conn }"
reason=$(conn_field "$line" end)
[ -n "$reason" ] && [ "$reason" != peer_closed ] && [ "$reason" != "done" ] ||
    fail "the reset app connection's log line gives no reason: $line"

alive a
alive a2
alive b
alive b2
log "ok"
