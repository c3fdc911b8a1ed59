#!/usr/bin/env bash
# HBONE between two sidecars, at L4:
#   app -> A (outbound listener, transport: hbone) -> CONNECT stream on one
#   HTTP/2 mTLS tunnel -> B's HBONE listener -> app port (inbound.ports)
#   - bytes unchanged both ways (echo), several app connections on one tunnel
#   - the connection logs name the tunnel (hbone=<id>) and the stream
#   - a stream to a port B does not serve is refused (403) and counted
#   - B resets a stream, and closes a tunnel, idle for timeouts.idle_ms
#   - A's config summary and B's metrics say HBONE, B's access log names
#     the tunnel, /config_dump and sidecarctl show the transport
. "$(dirname "$0")/lib.sh"

certs
P_ECHO=$(free_port)
P_OUT=$(free_port); P_OUT_BAD=$(free_port); P_BAD=$(free_port)
SERVER_ID=spiffe://cluster.local/ns/bar/sa/server

start_backend echo --listen "127.0.0.1:$P_ECHO" --mode echo

# B: no app_host line (the default, 127.0.0.1)
IDLE_MS=4000 hbone_server yaml="access_log: {path: stdout, format: text}" app_host= "$P_ECHO:tcp"

sidecar_config "$T/a.yaml" client foo client
A_ADMIN=$ADMIN_PORT
hbone_client "$T/a.yaml" "$P_HB" "out:$P_OUT:$P_ECHO:tcp" "out-bad:$P_OUT_BAD:$P_BAD:tcp"
start_sidecar a "$T/a.yaml" "$P_OUT"
assert_contains "$T/a.err" "listener out: .* transport=hbone"

metric() { # STATS SERIES
    curl -sS -m 5 "http://$1/stats/prometheus" | awk -v k="$2" '$1 == k {print $2}'
}

step "bytes go through a CONNECT stream unchanged, both ways"
printf 'HELLO-HBONE-1\n' | tcp_client 127.0.0.1 "$P_OUT" 3 >"$T/r1" || true
assert_contains "$T/r1" 'HELLO-HBONE-1'
wait_for_log "$T/b.out" "$(conn_re dir=inbound listener=hbone class=mesh_mtls peer=spiffe://cluster.local/ns/foo/sa/client hbone=[0-9]+ stream=1 status=200 end=peer_closed)"
wait_for_log "$T/a.out" "$(conn_re dir=outbound listener=out class=mesh_mtls peer=$SERVER_ID hbone=[0-9]+ stream=1 end=peer_closed)"

# the access log has the TCP stream too, naming the tunnel and the stream
wait_for_log "$T/b.out" '"- - -" 0 - 14 14 .*spiffe://cluster.local/ns/foo/sa/client hbone=[0-9]+/1$'

step "a second app connection rides the same tunnel (stream 3, no new handshake)"
printf 'HELLO-HBONE-2\n' | tcp_client 127.0.0.1 "$P_OUT" 3 >"$T/r2" || true
assert_contains "$T/r2" 'HELLO-HBONE-2'
wait_for_log "$T/b.out" "$(conn_re dir=inbound listener=hbone hbone=[0-9]+ stream=3 status=200)"
assert_eq 1 "$(metric "$B_STATS" 'sidecar_hbone_tunnels_opened_total{direction="inbound"}')" "B's tunnels"
assert_eq 2 "$(metric "$B_STATS" 'sidecar_hbone_streams_opened_total{direction="inbound"}')" "B's streams"

step "a stream to a port B does not serve is refused with 403 and counted"
printf 'NOPE\n' | tcp_client 127.0.0.1 "$P_OUT_BAD" 3 >"$T/r3" || true
assert_not_contains "$T/r3" 'NOPE'
wait_for_log "$T/b.out" "$(conn_re dir=inbound listener=hbone class=refused status=403 "end=hbone_refused: 403 port $P_BAD is not an inbound port of this workload")"
wait_for_log "$T/a.out" "$(conn_re dir=outbound listener=out-bad 'end=hbone_refused: the peer answered 403 to CONNECT')"
assert_eq 1 "$(metric "$B_STATS" 'sidecar_hbone_streams_refused_total{direction="inbound"}')" "B's refused streams"

step "/config_dump and sidecarctl describe show each route's transport"
curl -sS -m 5 "http://127.0.0.1:$A_ADMIN/config_dump" >"$T/dump.json"
assert_contains "$T/dump.json" '"name":"out",.*"transport":"hbone","hbone_port":'"$P_HB"
"$SC_BUILD/bin/sidecarctl" --admin "127.0.0.1:$A_ADMIN" describe >"$T/describe.txt" 2>&1 || true
assert_contains "$T/describe.txt" '^out .*ISTIO_MUTUAL .*over HBONE'

step "a stream with no byte either way for timeouts.idle_ms is reset (B's idle_ms: 4 s)"
(printf 'HOLD\n'; sleep 7) | tcp_client 127.0.0.1 "$P_OUT" 9 >"$T/hold" 2>&1 || true
assert_contains "$T/hold" 'HOLD'
wait_for_log "$T/b.out" "$(conn_re dir=inbound listener=hbone 'hbone=[0-9]+ stream=[0-9]+' status=200 end=idle_timeout)"

step "B closes a tunnel that has carried no stream for timeouts.idle_ms"
wait_for_log "$T/b.out" "$(conn_re dir=inbound listener=hbone 'hbone=[0-9]+ streams=[0-9]+' end=idle_timeout)" 15
