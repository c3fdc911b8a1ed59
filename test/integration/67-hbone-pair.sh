#!/usr/bin/env bash
# HBONE between two sidecars: every app connection a CONNECT stream on a
# pooled HTTP/2 mutual-TLS connection.
#   B (ns bar, sa server, STRICT): inbound.hbone_address, its workload's
#     ports in inbound.ports (an echo app, tcp; an HTTP app, http); no other
#     mesh listener, so nothing reaches the apps unless it comes over HBONE;
#   A (ns foo, sa client): outbound listeners with tls: ISTIO_MUTUAL,
#     transport: hbone, hbone_port (top level) = B's HBONE port, upstream = the app's
#     address (the original destination, the CONNECT :authority);
#   C (ns foo, sa client): outbound.default_transport: hbone, its listener
#     names no transport.
# Checks:
#   - L4 through A and through C: bytes unchanged both ways (SHA-256);
#   - L7 (protocol http on both sides): 200, the app sees XFCC with A's
#     identity, B's access log has the request with the tunnel (hbone=);
#   - 1,000 concurrent app connections through A, all open at once, every
#     byte checked (each sends its own random bytes, SHA-256 of the echo),
#     carried by at most 10 mesh-hop TCP connections (ss, while all 1,000
#     are open) -- where a one-connection-per-connection proxy needs 1,000;
#   - the connection logs name the tunnel (hbone=...); /config_dump shows
#     the transport of each outbound listener (hbone, C's by default);
#   - the sidecar_hbone_* counters of A (outbound) and B (inbound) moved.
. "$(dirname "$0")/lib.sh"

command -v node >/dev/null || fail "node is not installed (make deps installs it)"
certs
NODE_DIR=$ROOT/test/integration/node
CLIENT_ID=spiffe://cluster.local/ns/foo/sa/client
SERVER_ID=spiffe://cluster.local/ns/bar/sa/server
CONNS=${CONNS:-1000}
MAX_TUNNELS=10

P_ECHO=$(free_port); P_HTTP=$(free_port)
start_backend echo --listen "127.0.0.1:$P_ECHO" --mode echo --quiet
start_backend http --listen "127.0.0.1:$P_HTTP" --mode http

hbone_server yaml="access_log: {path: stdout, format: text}" "$P_ECHO:tcp" "$P_HTTP:http"

P_OUT4=$(free_port); P_OUT7=$(free_port)
sidecar_config "$T/a.yaml" client foo client
A_ADMIN=$ADMIN_PORT
hbone_client "$T/a.yaml" "$P_HB" yaml="access_log: {path: stdout, format: text}" \
    "out-l4:$P_OUT4:$P_ECHO:tcp" "out-l7:$P_OUT7:$P_HTTP:http"
start_sidecar a "$T/a.yaml" "$P_OUT4" "$P_OUT7"

P_CAP_C=$(free_port); P_OUT_C=$(free_port)
sidecar_config "$T/c.yaml" client-c foo client
C_ADMIN=$ADMIN_PORT
cat >>"$T/c.yaml" <<EOF
outbound: {address: "127.0.0.1:$P_CAP_C", default_transport: hbone}
hbone_port: $P_HB
listeners:
  - {name: out-def, direction: outbound, address: "127.0.0.1:$P_OUT_C", upstream: "127.0.0.1:$P_ECHO",
     tls: ISTIO_MUTUAL, protocol: tcp, expected_identities: ["$SERVER_ID"]}
EOF
start_sidecar c "$T/c.yaml" "$P_OUT_C"

# conns NAME PORT N BYTES [ARGS...]: tcp-conns.js (N connections at once,
# each echoed and checked) to 127.0.0.1:PORT; output in $T/NAME.txt.
conns() {
    local name=$1 port=$2 n=$3 bytes=$4
    shift 4
    timeout 300 node "$NODE_DIR/tcp-conns.js" --connect "127.0.0.1:$port" --conns "$n" --bytes "$bytes" "$@" \
        >"$T/$name.txt" 2>"$T/$name.err"
}
prom() { curl -sS -m 5 "http://127.0.0.1:$1/stats/prometheus" >"$2" || fail "scraping 127.0.0.1:$1"; }
metric() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }
# mesh_conns: established TCP connections to B's HBONE port (client ends)
mesh_conns() { ss -Htn state established "( dport = :$P_HB )" 2>/dev/null | wc -l; }

# ---------------------------------------------------------------------------
step "L4 through A (transport: hbone): 1 MB both ways unchanged"
head -c 1000000 /dev/urandom >"$T/in.bin"
timeout 60 socat -t 10 -T 30 - "TCP:127.0.0.1:$P_OUT4" <"$T/in.bin" >"$T/out.bin" 2>"$T/socat.err" ||
    fail "socat through A failed: $(cat "$T/socat.err")"
assert_eq "$(sha256sum <"$T/in.bin")" "$(sha256sum <"$T/out.bin")" "sha256 of the megabyte echoed through A and B"
wait_for_log "$T/b.out" "$(conn_re dir=inbound "peer=$CLIENT_ID" bytes_received=1000000 bytes_sent=1000000)"
line=$(conn_lines "$T/b.out" "peer=$CLIENT_ID .*bytes_received=1000000" | head -n 1)
printf '%s\n' "$line" | grep -q -E ' hbone=[^ ]+' || fail "B's connection-log line names no tunnel (hbone=): $line"
wait_for_log "$T/a.out" "$(conn_re dir=outbound listener=out-l4 "peer=$SERVER_ID" bytes_received=1000000 bytes_sent=1000000)"
line=$(conn_lines "$T/a.out" "listener=out-l4 .*bytes_received=1000000" | head -n 1)
printf '%s\n' "$line" | grep -q -E ' hbone=[^ ]+' || fail "A's connection-log line names no tunnel (hbone=): $line"

step "$CONNS concurrent app connections through A, all open at once, over at most $MAX_TUNNELS tunnels"
rm -f "$T/release"
conns many "$P_OUT4" "$CONNS" 16384 --hold "$T/release" &
many_pid=$!
_sc_track "$many_pid" many other
i=0
while ! grep -q '^HOLDING' "$T/many.txt" 2>/dev/null; do
    if ! kill -0 "$many_pid" 2>/dev/null; then
        fail "the $CONNS connections ended before all were echoed: $(grep -c '^BAD' "$T/many.txt") bad, $(tail -n 3 "$T/many.txt")"
    fi
    [ $i -lt 2400 ] || fail "the $CONNS connections were not all echoed within 120 s: $(tail -n 3 "$T/many.txt")"
    sleep 0.05
    i=$((i + 1))
done
tunnels=$(mesh_conns)
apps=$(ss -Htn state established "( dport = :$P_ECHO )" 2>/dev/null | wc -l)
prom "$A_ADMIN" "$T/a-held.prom"
log "$CONNS app connections open: $tunnels mesh-hop TCP connections to B's HBONE port, $apps from B to the app;" \
    "A opened $(metric "$T/a-held.prom" 'sidecar_hbone_tunnels_opened_total{direction="outbound"}') tunnel(s) so far"
assert_eq "$CONNS" "$apps" "B's connections to the echo app while all are open"
[ "$tunnels" -ge 1 ] || fail "no TCP connection to B's HBONE port while $CONNS streams are open"
assert_le "$tunnels" "$MAX_TUNNELS" "mesh-hop TCP connections for $CONNS app connections"
touch "$T/release"
wait "$many_pid" || fail "tcp-conns.js: $(grep -c '^BAD' "$T/many.txt") connections failed: $(grep '^BAD' "$T/many.txt" | head -n 3)"
assert_contains "$T/many.txt" "^DONE conns=$CONNS ok=$CONNS bad=0"


step "L4 through C (outbound.default_transport: hbone, no transport on the listener)"
conns viac "$P_OUT_C" 5 100000 || fail "app connections through C failed: $(tail -n 5 "$T/viac.txt")"
assert_contains "$T/viac.txt" '^DONE conns=5 ok=5 bad=0'
wait_for_log "$T/c.out" "$(conn_re dir=outbound listener=out-def "peer=$SERVER_ID" bytes_received=100000 bytes_sent=100000)"
assert_contains "$T/c.out" ' listener=out-def .* hbone=[^ ]+'
prom "$C_ADMIN" "$T/c.prom"
n=$(metric "$T/c.prom" 'sidecar_hbone_streams_opened_total{direction="outbound"}')
[ "${n:-0}" -ge 5 ] || fail "C: sidecar_hbone_streams_opened_total{direction=\"outbound\"} is '${n:-absent}', expected >= 5"

# ---------------------------------------------------------------------------
step "L7 through A: 200, XFCC with A's identity at the app, B's access log names the tunnel"
code=$(timeout 20 curl -sS -m 10 -o "$T/headers" -w '%{http_code}' "http://127.0.0.1:$P_OUT7/headers") ||
    fail "curl through A (protocol http, hbone) failed"
assert_eq 200 "$code" "HTTP status through the HBONE pair"
grep -i -q -E "^x-forwarded-client-cert: .*URI=$CLIENT_ID" "$T/headers" ||
    fail "the app saw no XFCC naming $CLIENT_ID: $(tr '\r' ' ' <"$T/headers")"
wait_for_log "$T/b.out" '"GET /headers HTTP/1.1" 200 '
grep -F '"GET /headers HTTP/1.1" 200 ' "$T/b.out" >"$T/b-access.txt"
assert_contains "$T/b-access.txt" "$CLIENT_ID"
assert_contains "$T/b-access.txt" 'hbone=[^ ]+'
wait_for_log "$T/a.out" '"GET /headers HTTP/1.1" 200 '
code=$(timeout 20 curl -sS -m 10 -o "$T/say" -w '%{http_code}' "http://127.0.0.1:$P_OUT7/say/over-hbone") || fail "second curl"
assert_eq 200 "$code" "second request"
assert_eq over-hbone "$(cat "$T/say")" "body"

# ---------------------------------------------------------------------------
step "/config_dump shows the transport per listener: hbone on A's two and on C's (default_transport)"
# transport_of ADMIN_PORT NAME: the "transport" of the object named NAME in /config_dump
transport_of() {
    curl -sS -m 5 "http://127.0.0.1:$1/config_dump" | python3 -c '
import json, sys
def walk(o):
    if isinstance(o, dict):
        if o.get("name") == sys.argv[1] and "transport" in o:
            print(o["transport"])
            sys.exit(0)
        for v in o.values():
            walk(v)
    elif isinstance(o, list):
        for v in o:
            walk(v)
walk(json.load(sys.stdin))
print("none")' "$2"
}
assert_eq hbone "$(transport_of "$A_ADMIN" out-l4)" "A's /config_dump: transport of out-l4"
assert_eq hbone "$(transport_of "$A_ADMIN" out-l7)" "A's /config_dump: transport of out-l7"
assert_eq hbone "$(transport_of "$C_ADMIN" out-def)" "C's /config_dump: transport of out-def (outbound.default_transport)"

# ---------------------------------------------------------------------------
step "the counters moved: tunnels and streams on A (outbound) and B (inbound)"
wait_for_count "$T/b.out" "$(conn_re dir=inbound "peer=$CLIENT_ID" bytes_received=16384 bytes_sent=16384)" "$CONNS" 30
prom "$A_ADMIN" "$T/a.prom"
prom "$B_ADMIN" "$T/b.prom"
grep -E '^sidecar_hbone' "$T/a.prom" "$T/b.prom" | grep -v ' 0$' | sed 's/^/  /' || true
for d in a:outbound b:inbound; do
    f=$T/${d%%:*}.prom
    dir=${d#*:}
    v=$(metric "$f" "sidecar_hbone_tunnels_opened_total{direction=\"$dir\"}")
    [ "${v:-0}" -ge 1 ] || fail "${d%%:*}: sidecar_hbone_tunnels_opened_total{direction=\"$dir\"} is '${v:-absent}'"
    v=$(metric "$f" "sidecar_hbone_streams_opened_total{direction=\"$dir\"}")
    [ "${v:-0}" -ge $((CONNS + 1)) ] || fail "${d%%:*}: sidecar_hbone_streams_opened_total{direction=\"$dir\"} is '${v:-absent}', expected > $CONNS"
    v=$(metric "$f" "sidecar_hbone_streams_refused_total{direction=\"$dir\"}")
    assert_eq 0 "${v:-absent}" "${d%%:*}: sidecar_hbone_streams_refused_total{direction=\"$dir\"}"
done
assert_not_contains "$T/b.out" ' class=refused '

alive a
alive b
alive c
log "ok"
