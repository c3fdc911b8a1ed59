#!/usr/bin/env bash
# HBONE streams one by one, and the tunnel pool's limits.
# Sidecar B (ns bar, STRICT) serves an echo app and an app that ends first
# (half-app.js: "BYE", FIN at once, then reads to the client's FIN) over its
# HBONE listener.  Node's http2 client opens, on ONE tunnel at once:
#   - half-close, the client first: 1 MB then END_STREAM at once; the echo
#     keeps sending after it, and all 1 MB comes back;
#   - half-close, the app first: the app's FIN reaches the client as
#     END_STREAM, the client then still sends 200 KB, and the app gets all of
#     it (count and SHA-256);
#   - a reset: one stream is cancelled (RST_STREAM) after its first echo;
#     its app connection is closed, the two 2 MB streams beside it finish
#     unchanged, and a new stream on the same tunnel still gets 200 and its
#     echo; B counts the reset.
# An app that resets its connection at the client's first bytes: the
# client's stream (200 already) ends with RST_STREAM, not a clean
# END_STREAM, and the tunnel carries the next stream.
# Backpressure: a client that stops reading a 100 MiB stream holds the app
# back (it cannot finish while the client does not read) and B does not
# buffer it; once the client reads on, every byte arrives (SHA-256).
# The pool (outbound, sidecar A): hbone.max_streams_per_connection: 2 puts
# 10 concurrent app connections on at least 5 tunnels (ss, while all are
# open); hbone.idle_ms: 1000 closes them once idle, while sidecar A2 (the
# default idle_ms) keeps its idle tunnel to another HBONE peer (Node's
# http2 server) open: the close is the idle timer, not the last stream.
# Through the pair, a plain client of A gets the app's early end and still
# sends 300 KB after it, which the app gets in full.
. "$(dirname "$0")/lib.sh"

command -v node >/dev/null || fail "node is not installed (make deps installs it)"
certs
NODE_DIR=$ROOT/test/integration/node
CLIENT_ID=spiffe://cluster.local/ns/foo/sa/client
SERVER_ID=spiffe://cluster.local/ns/bar/sa/server

P_ECHO=$(free_port); P_HALF=$(free_port); P_SRC=$(free_port)
SRC_BYTES=$((100 * 1024 * 1024))
start_backend echo --listen "127.0.0.1:$P_ECHO" --mode echo
start_backend src --listen "127.0.0.1:$P_SRC" --mode source --bytes "$SRC_BYTES"
P_RST=$(free_port)
spawn rst node "$NODE_DIR/half-app.js" --listen "127.0.0.1:$P_RST" --reset
wait_for_log "$T/rst.out" '^listening$'
spawn half node "$NODE_DIR/half-app.js" --listen "127.0.0.1:$P_HALF"
wait_for_log "$T/half.out" '^listening$'

hbone_server "$P_ECHO:tcp" "$P_HALF:tcp" "$P_SRC:tcp" "$P_RST:tcp"

field() { conn_field "$(grep -E "^STREAM n=$2 " "$1" || true)" "$3"; }
# assert_echoed FILE N BYTES: stream N got 200 and its BYTES came back unchanged
assert_echoed() {
    assert_eq 200 "$(field "$1" "$2" status)" "stream $2: CONNECT status ($(grep -E "^STREAM n=$2 " "$1" || echo none))"
    assert_eq "$3" "$(field "$1" "$2" recv)" "stream $2: bytes that came back"
    assert_eq "$(field "$1" "$2" sha_sent)" "$(field "$1" "$2" sha_recv)" "stream $2: SHA-256 of what came back"
}
prom() { curl -sS -m 5 "http://127.0.0.1:$1/stats/prometheus" >"$2" || fail "scraping 127.0.0.1:$1"; }
metric() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }

# ---------------------------------------------------------------------------
step "one tunnel: half-close both ways, a reset stream, its neighbours unharmed"
timeout 120 node "$NODE_DIR/hbone-client.js" --connect "127.0.0.1:$P_HB" \
    --cert "$CERTS/client.crt" --key "$CERTS/client.key" --ca "$CERTS/ca.crt" --timeout 90000 \
    --stream "127.0.0.1:$P_ECHO,1000000" \
    --stream "127.0.0.1:$P_HALF,0,late=200000" \
    --stream "127.0.0.1:$P_ECHO,2000000" \
    --stream "127.0.0.1:$P_ECHO,300000,reset" \
    --stream "127.0.0.1:$P_ECHO,2000000" \
    --then "127.0.0.1:$P_ECHO,5000" >"$T/one.txt" 2>"$T/one.err" || fail "hbone-client.js: $(cat "$T/one.err")"
cut -c1-150 "$T/one.txt" | sed 's/^/  /'
assert_contains "$T/one.txt" "^SESSION alpn=h2 peer=$SERVER_ID "
assert_not_contains "$T/one.txt" '^(GOAWAY|SESSION_ERROR|TIMEOUT)'

step "half-close, client first: the echo goes on after END_STREAM and all of it comes back"
assert_echoed "$T/one.txt" 0 1000000
wait_for_log "$T/echo.out" 'close in=1000000 out=1000000'

step "half-close, app first: the client still sends after the app's end, the app gets every byte"
assert_eq 200 "$(field "$T/one.txt" 1 status)" "stream 1 status"
assert_eq 4 "$(field "$T/one.txt" 1 recv)" "stream 1: the app's 'BYE\\n' before its end"
wait_for_log "$T/half.out" '^GOT '
assert_eq "GOT bytes=200000 sha=$(field "$T/one.txt" 1 sha_late)" "$(grep '^GOT ' "$T/half.out")" \
    "what the app got after its own end"

step "a reset stream: its app connection closes, the others finish unchanged, the tunnel carries a new stream"
assert_contains "$T/one.txt" '^RESET n=3$'
assert_echoed "$T/one.txt" 2 2000000
assert_echoed "$T/one.txt" 4 2000000
assert_echoed "$T/one.txt" 5 5000
assert_eq 1 "$(count_lines "$T/one.txt" '^SESSION ')" "TLS connections"
# every app connection of the five echo streams ends: the reset one too
wait_for_count "$T/echo.out" 'close in=' 5 15
assert_eq 2 "$(count_lines "$T/echo.out" 'close in=2000000 out=2000000')" "2 MB streams the app echoed in full"
prom "$B_ADMIN" "$T/b.prom"
v=$(metric "$T/b.prom" 'sidecar_hbone_streams_reset_total{direction="inbound"}')
[ "${v:-0}" -ge 1 ] || fail "B: sidecar_hbone_streams_reset_total{direction=\"inbound\"} is '${v:-absent}', expected >= 1"
v=$(metric "$T/b.prom" 'sidecar_hbone_streams_opened_total{direction="inbound"}')
assert_eq 6 "${v:-absent}" "B: sidecar_hbone_streams_opened_total{direction=\"inbound\"}"
v=$(metric "$T/b.prom" 'sidecar_hbone_tunnels_opened_total{direction="inbound"}')
assert_eq 1 "${v:-absent}" "B: sidecar_hbone_tunnels_opened_total{direction=\"inbound\"}"

step "an app that resets its connection after 200: the stream is reset (RST_STREAM), the tunnel goes on"
timeout 60 node "$NODE_DIR/hbone-client.js" --connect "127.0.0.1:$P_HB" \
    --cert "$CERTS/client.crt" --key "$CERTS/client.key" --ca "$CERTS/ca.crt" \
    --stream "127.0.0.1:$P_RST,1000" --then "127.0.0.1:$P_ECHO,7000" >"$T/rst.txt" 2>"$T/rst.err" ||
    fail "hbone-client.js: $(cat "$T/rst.err")"
line=$(grep -E '^STREAM n=0 ' "$T/rst.txt" || true)
log "the reset app's stream: ${line%% sha_*}"
case $line in
*" status=200 "*" rst="* | *" status=200 error="* | *" status=200 rst="*) ;;
*) fail "a stream whose app reset its connection after 200 ended without RST_STREAM: $line" ;;
esac
assert_contains "$T/rst.out" '^RESET$'
assert_echoed "$T/rst.txt" 1 7000
assert_eq 1 "$(count_lines "$T/rst.txt" '^SESSION ')" "TLS connections"

# ---------------------------------------------------------------------------
step "backpressure: a client that stops reading holds the app back (flow control); nothing is lost"
# the app (source) writes 100 MiB; the client reads its first bytes, then
# nothing until $T/resume exists.  With HTTP/2 flow control as backpressure,
# B stops reading the app: the app cannot finish writing while the client
# does not read, and B does not buffer the 100 MiB.
rm -f "$T/resume"
b_pid=$(pid_of b)
rss0=$(rss_kb "$b_pid")
timeout 300 node "$NODE_DIR/hbone-client.js" --connect "127.0.0.1:$P_HB" \
    --cert "$CERTS/client.crt" --key "$CERTS/client.key" --ca "$CERTS/ca.crt" --timeout 240000 \
    --stream "127.0.0.1:$P_SRC,0,pause=$T/resume" >"$T/bp.txt" 2>"$T/bp.err" &
bp_pid=$!
_sc_track "$bp_pid" bp other
wait_for_log "$T/bp.txt" '^PAUSED n=0$' 20
sleep 2     # the app pushes what it can meanwhile
rss1=$(rss_kb "$b_pid")
log "while the client does not read: B's RSS $rss0 -> $rss1 KiB"
assert_not_contains "$T/src.out" 'close '
if ! sanitized; then
    assert_le $((rss1 - rss0)) 32768 "growth of B's RSS in KiB while a client does not read a 100 MiB stream"
fi
touch "$T/resume"
wait "$bp_pid" || fail "hbone-client.js: $(cat "$T/bp.err")"
line=$(grep -E '^STREAM n=0 ' "$T/bp.txt" || true)
assert_eq 200 "$(conn_field "$line" status)" "the paused stream's status ($line)"
assert_eq "$SRC_BYTES" "$(conn_field "$line" recv)" "bytes of the paused stream"
assert_eq "$("$BACKEND" --gen "$SRC_BYTES" | sha256sum | cut -d' ' -f1)" "$(conn_field "$line" sha_recv)" \
    "SHA-256 of the 100 MiB that came through after the pause"
wait_for_log "$T/src.out" "close in=0 out=$SRC_BYTES"

# ---------------------------------------------------------------------------
step "the pool: max_streams_per_connection 2 -> 10 app connections on >= 5 tunnels; idle_ms 1000"
P_OUT=$(free_port); P_OUT_HALF=$(free_port)
sidecar_config "$T/a.yaml" client foo client
A_ADMIN=$ADMIN_PORT
hbone_client "$T/a.yaml" "$P_HB" yaml="hbone: {max_streams_per_connection: 2, idle_ms: 1000}" \
    "out:$P_OUT:$P_ECHO:tcp" "out-half:$P_OUT_HALF:$P_HALF:tcp"
start_sidecar a "$T/a.yaml" "$P_OUT" "$P_OUT_HALF"
# A2: the default idle_ms, to Node's http2 server as the HBONE peer
P_NODE=$(free_port); P_OUT2=$(free_port)
spawn peer node "$NODE_DIR/hbone-peer.js" --listen "127.0.0.1:$P_NODE" --cert "$CERTS/server.crt" \
    --key "$CERTS/server.key" --ca "$CERTS/ca.crt"
wait_for_log "$T/peer.out" '^listening$'
sidecar_config "$T/a2.yaml" client2 foo client
hbone_client "$T/a2.yaml" "$P_NODE" "out:$P_OUT2:$P_ECHO:tcp"
start_sidecar a2 "$T/a2.yaml" "$P_OUT2"

mesh_conns() { ss -Htn state established "( dport = :$1 )" 2>/dev/null | wc -l; }
# held NAME PORT N: N connections through 127.0.0.1:PORT, all echoed and
# held open; HELD_PID is the client, released by touching $T/NAME.release
held() {
    rm -f "$T/$1.release"
    timeout 120 node "$NODE_DIR/tcp-conns.js" --connect "127.0.0.1:$2" --conns "$3" --bytes 50000 \
        --hold "$T/$1.release" >"$T/$1.txt" 2>"$T/$1.err" &
    HELD_PID=$!
    _sc_track "$HELD_PID" "$1" other
    local i=0
    while ! grep -q '^HOLDING' "$T/$1.txt" 2>/dev/null; do
        kill -0 "$HELD_PID" 2>/dev/null || fail "$1: connections ended before all were echoed: $(tail -n 3 "$T/$1.txt")"
        [ $i -lt 600 ] || fail "$1: connections not all echoed within 30 s"
        sleep 0.05
        i=$((i + 1))
    done
}
release() { # NAME PID
    touch "$T/$1.release"
    wait "$2" || fail "$1: $(grep '^BAD' "$T/$1.txt" | head -n 3)"
    assert_contains "$T/$1.txt" '^DONE conns=([0-9]+) ok=\1 bad=0'
}

held pool "$P_OUT" 10
pool_pid=$HELD_PID
n=$(mesh_conns "$P_HB")
log "10 app connections with max_streams_per_connection 2: $n tunnels"
[ "$n" -ge 5 ] || fail "10 open app connections with max_streams_per_connection 2 use $n tunnel(s), expected >= 5"
assert_le "$n" 10 "tunnels for 10 app connections"
held pool2 "$P_OUT2" 4
pool2_pid=$HELD_PID
release pool "$pool_pid"
release pool2 "$pool2_pid"
assert_eq 1 "$(count_lines "$T/peer.out" '^SESSION ')" "A2's tunnels to Node (default pool)"
assert_contains "$T/peer.out" "^SESSION id=1 alpn=h2 peer=$CLIENT_ID "

step "idle_ms 1000: A's idle tunnels close; A2's idle tunnel (default idle_ms) stays"
i=0
while [ "$(mesh_conns "$P_HB")" -ne 0 ]; do
    [ $i -lt 300 ] || fail "A's tunnels still open 15 s after their last stream (idle_ms 1000): $(mesh_conns "$P_HB")"
    sleep 0.05
    i=$((i + 1))
done
assert_eq 1 "$(mesh_conns "$P_NODE")" "A2's tunnel (default idle_ms) after A's idle ones closed"
prom "$A_ADMIN" "$T/a.prom"
v=$(metric "$T/a.prom" 'sidecar_hbone_tunnels_opened_total{direction="outbound"}')
[ "${v:-0}" -ge 5 ] || fail "A: sidecar_hbone_tunnels_opened_total{direction=\"outbound\"} is '${v:-absent}', expected >= 5"
assert_eq "$v" "$(metric "$T/a.prom" 'sidecar_hbone_tunnels_closed_total{direction="outbound"}')" \
    "A: tunnels closed (all idle) against opened"
# streams per tunnel: every closed tunnel counted once, the 10 streams in all
assert_eq "$v" "$(metric "$T/a.prom" 'sidecar_hbone_streams_per_tunnel_count{direction="outbound"}')" \
    "A: sidecar_hbone_streams_per_tunnel_count (closed tunnels)"
assert_eq 10 "$(metric "$T/a.prom" 'sidecar_hbone_streams_per_tunnel_sum{direction="outbound"}')" \
    "A: sidecar_hbone_streams_per_tunnel_sum (streams the closed tunnels carried)"

step "after the idle close, a new app connection through A opens a new tunnel and works"
timeout 120 node "$NODE_DIR/tcp-conns.js" --connect "127.0.0.1:$P_OUT" --conns 1 --bytes 10000 >"$T/after.txt" 2>&1 ||
    fail "a connection after the idle close failed: $(cat "$T/after.txt")"
assert_contains "$T/after.txt" '^DONE conns=1 ok=1 bad=0'

step "half-close through the pair: the app ends first, the plain client reads the end and still sends"
# a plain TCP client of A: reads to the app's end (it arrives through B's
# END_STREAM and A's FIN), then sends 300 KB and half-closes
timeout 60 node -e '
const net = require("net"), crypto = require("crypto");
const s = net.connect({ host: "127.0.0.1", port: +process.argv[1], allowHalfOpen: true });
let got = "";
s.on("data", (d) => { got += d; });
s.on("end", () => {
  const b = crypto.randomBytes(300000);
  console.log(`RECV ${JSON.stringify(got)} SENT bytes=${b.length} sha=${crypto.createHash("sha256").update(b).digest("hex")}`);
  s.end(b);
});
s.on("error", (e) => { console.log(`ERROR ${e.code}`); process.exit(1); });
s.on("close", () => process.exit(0));' "$P_OUT_HALF" >"$T/half-pair.txt" 2>&1 || fail "the client of the app that ends first: $(cat "$T/half-pair.txt")"
assert_contains "$T/half-pair.txt" '^RECV "BYE\\n" SENT '
want=$(sed -n 's/^RECV .* SENT \(bytes=[0-9]* sha=[0-9a-f]*\)$/GOT \1/p' "$T/half-pair.txt")
wait_for_count "$T/half.out" '^GOT ' 2
assert_eq "$want" "$(grep '^GOT ' "$T/half.out" | tail -n 1)" "what the app got through A and B after its own end"

alive a
alive a2
alive b
log "ok"
