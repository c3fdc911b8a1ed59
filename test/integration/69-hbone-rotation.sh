#!/usr/bin/env bash
# Leaf and root rotation (file-mode certificates, Kubernetes secret volumes:
# a new ..data directory renamed over the old one) while HBONE tunnels carry
# traffic.  B (ns bar, STRICT) serves an echo app over its HBONE listener;
# A (ns foo) reaches it with transport: hbone (hbone.idle_ms 1000); A2, a
# second sidecar on A's secret volume (ns foo, the same identity), reaches
# Node's http2 server playing an HBONE peer, which logs the client
# certificate of every tunnel.  Throughout, a long-lived
# connection through A -> B streams a line every 100 ms and a new connection
# goes through every 200 ms (test/tools/traffic):
#   1. leaf rotation, same root: B's and A's volumes get new leaves.  New
#      HBONE handshakes with B (Node's http2 client) present B's new serial
#      and still get 200 and the echo; A2's next tunnel to Node, once its
#      idle one has closed, presents the volume's new serial;
#   2. root rotation mesh -> rootB: trust both roots, then leaves from rootB,
#      then trust rootB alone.  New handshakes with B present the rootB leaf;
#      at the end a client under the old root is refused by B and a new
#      tunnel from A (its old ones idle-closed) works: A uses its new leaf;
#   3. the long-lived connection, opened before everything on the first
#      tunnel, flowed all along (every line echoed, in order, clean close),
#      no new connection failed: nothing was dropped.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"

command -v node >/dev/null || fail "node is not installed (make deps installs it)"
certs
NODE_DIR=$ROOT/test/integration/node
CLIENT_ID=spiffe://cluster.local/ns/foo/sa/client
SERVER_ID=spiffe://cluster.local/ns/bar/sa/server
MAX_GAP_MS=1000

step "certificates: new leaves under the mesh root, a new root rootB with its own leaves"
G=$T/gen
mkdir -p "$G"
cp "$CERTS/mesh-ca.crt" "$CERTS/mesh-ca.key" "$G/"
"$GEN_CERTS" leaf "$G" mesh server2 "$SERVER_ID" >/dev/null 2>&1 || fail "gen-certs.sh leaf server2"
"$GEN_CERTS" leaf "$G" mesh client2 "$CLIENT_ID" >/dev/null 2>&1 || fail "gen-certs.sh leaf client2"
"$GEN_CERTS" ca "$G" rootB >/dev/null 2>&1 || fail "gen-certs.sh ca rootB"
"$GEN_CERTS" leaf "$G" rootB server3 "$SERVER_ID" >/dev/null 2>&1 || fail "gen-certs.sh leaf server3"
"$GEN_CERTS" leaf "$G" rootB client3 "$CLIENT_ID" >/dev/null 2>&1 || fail "gen-certs.sh leaf client3"
cat "$CERTS/ca.crt" "$G/rootB-ca.crt" >"$G/both.crt"
ser() { x509_field "$1" -serial | norm_serial; }
S1=$(ser "$CERTS/server.crt"); S2=$(ser "$G/server2.crt"); S3=$(ser "$G/server3.crt")
C1=$(ser "$CERTS/client.crt"); C2=$(ser "$G/client2.crt")

# vol DIR CRT KEY CA: the kubelet's update of a secret volume: a new data
# directory, ..data_tmp renamed over ..data (tls.crt, tls.key, ca.crt link
# through it)
VOL_N=0
vol() {
    local v=$1 d
    VOL_N=$((VOL_N + 1))
    d="..2026_$VOL_N"
    mkdir -p "$v/$d"
    cp "$2" "$v/$d/tls.crt"
    cp "$3" "$v/$d/tls.key"
    cp "$4" "$v/$d/ca.crt"
    ln -s "$d" "$v/..data_tmp"
    mv -T "$v/..data_tmp" "$v/..data"
    for f in tls.crt tls.key ca.crt; do [ -L "$v/$f" ] || ln -s "..data/$f" "$v/$f"; done
}
# swap NAMES DIR CRT KEY CA: vol, then each sidecar of NAMES (a
# comma-separated list) logs the install
swap() {
    local s names
    local -A n0
    IFS=, read -r -a names <<<"$1"
    for s in "${names[@]}"; do n0[$s]=$(count_lines "$T/$s.err" 'certificates installed from files: '); done
    vol "$2" "$3" "$4" "$5"
    for s in "${names[@]}"; do
        wait_for_count "$T/$s.err" 'certificates installed from files: ' $((${n0[$s]} + 1)) 10
    done
}
VA=$T/a-secret; VB=$T/b-secret
vol "$VA" "$CERTS/client.crt" "$CERTS/client.key" "$CERTS/ca.crt"
vol "$VB" "$CERTS/server.crt" "$CERTS/server.key" "$CERTS/ca.crt"
secrets_of() { echo "s|^secrets:.*|secrets: {cert_chain: \"$1/tls.crt\", private_key: \"$1/tls.key\", trusted_ca: \"$1/ca.crt\"}|"; }

P_ECHO=$(free_port); P_NODE=$(free_port)
P_OUT=$(free_port); P_OUT_N=$(free_port)
start_backend echo --listen "127.0.0.1:$P_ECHO" --mode echo --quiet
spawn peer node "$NODE_DIR/hbone-peer.js" --listen "127.0.0.1:$P_NODE" --cert "$CERTS/server.crt" \
    --key "$CERTS/server.key" --ca "$G/both.crt"
wait_for_log "$T/peer.out" '^listening$'

hbone_server sed="$(secrets_of "$VB")" "$P_ECHO:tcp"

sidecar_config "$T/a.yaml" client foo client
A_ADMIN=$ADMIN_PORT
sed -i "$(secrets_of "$VA")" "$T/a.yaml"
hbone_client "$T/a.yaml" "$P_HB" yaml="hbone: {idle_ms: 1000}" "out:$P_OUT:$P_ECHO:tcp"
start_sidecar a "$T/a.yaml" "$P_OUT"
sidecar_config "$T/a2.yaml" client2 foo client
A2_ADMIN=$ADMIN_PORT
sed -i "$(secrets_of "$VA")" "$T/a2.yaml"
hbone_client "$T/a2.yaml" "$P_NODE" yaml="hbone: {idle_ms: 1000}" "out-n:$P_OUT_N:$P_ECHO:tcp"
start_sidecar a2 "$T/a2.yaml" "$P_OUT_N"

# probe CERT CA: one HBONE connection straight to B (Node's http2 client,
# client certificate $CERT.crt/.key, trusting CA) with one CONNECT to the
# echo app; prints "SERIAL STATUS" (the serial B presented, the CONNECT's
# status), or nothing when the handshake failed.
probe() {
    timeout 30 node "$NODE_DIR/hbone-client.js" --connect "127.0.0.1:$P_HB" --cert "$1.crt" --key "$1.key" \
        --ca "$2" --timeout 10000 --stream "127.0.0.1:$P_ECHO,1000" >"$T/probe.txt" 2>&1 || true
    local s st
    s=$(sed -n 's/^SESSION .* serial=\([0-9a-f]*\)$/\1/p' "$T/probe.txt" | head -n 1)
    st=$(grep -E '^STREAM n=0 ' "$T/probe.txt" | tr ' ' '\n' | sed -n 's/^status=//p')
    if [ -n "$s" ]; then echo "$s ${st:-none}"; fi
}
# probe_until SERIAL CERT CA: new HBONE handshakes with B present SERIAL and
# the CONNECT is 200, within 5 s
probe_until() {
    local i got=
    for ((i = 0; i < 25; i++)); do
        got=$(probe "$2" "$3")
        [ "$got" = "$1 200" ] && return 0
        sleep 0.2
    done
    fail "new HBONE handshakes with B: '${got:-<handshake failed>}', expected serial $1 and 200 ($(tr '\n' ' ' <"$T/probe.txt"))"
}
mesh_conns() { ss -Htn state established "( dport = :$1 )" 2>/dev/null | wc -l; }
wait_idle_closed() { # PORT: idle tunnels to PORT are gone (hbone.idle_ms 1000)
    local i=0
    while [ "$(mesh_conns "$1")" -ne 0 ]; do
        [ $i -lt 300 ] || fail "tunnels to port $1 still open 15 s after their last stream"
        sleep 0.05
        i=$((i + 1))
    done
}
# via_node: one app connection through A2; prints the serial of the client
# certificate on the tunnel Node saw last
via_node() {
    timeout 60 node "$NODE_DIR/tcp-conns.js" --connect "127.0.0.1:$P_OUT_N" --conns 1 --bytes 5000 \
        >"$T/via-node.txt" 2>&1 || fail "a connection through A2 to Node failed: $(cat "$T/via-node.txt")"
    sed -n "s/^SESSION id=[0-9]* alpn=h2 peer=${CLIENT_ID//\//\\/} serial=\([0-9a-f]*\)$/\1/p" "$T/peer.out" | tail -n 1
}

step "at start: B presents $S1 over HBONE; A2's tunnel to Node presents $C1"
probe_until "$S1" "$CERTS/client" "$CERTS/ca.crt"
assert_eq "$C1" "$(via_node)" "A2's serial on its first tunnel to Node"

step "traffic through A -> B over HBONE: a long-lived stream and a new connection every 200 ms"
traffic_start stream stream "127.0.0.1:$P_OUT" -i 100 -t 2500
traffic_start loop loop "127.0.0.1:$P_OUT" -i 200 -t 3000
sleep 1

step "1. leaf rotation: B -> $S2, A -> $C2"
swap b "$VB" "$G/server2.crt" "$G/server2.key" "$CERTS/ca.crt"
swap a,a2 "$VA" "$G/client2.crt" "$G/client2.key" "$CERTS/ca.crt"
assert_contains "$T/a.err" "certificates installed from files: $CLIENT_ID serial=0*$(tr 'a-f' 'A-F' <<<"$C2") "
probe_until "$S2" "$CERTS/client" "$CERTS/ca.crt"
wait_idle_closed "$P_NODE"
assert_eq "$C2" "$(via_node)" "A2's serial on a new tunnel to Node after the leaf rotation"
sleep 1
alive stream
alive loop

step "2. root rotation: trust mesh + rootB, then leaves from rootB ($S3), then rootB alone"
swap b "$VB" "$G/server2.crt" "$G/server2.key" "$G/both.crt"
swap a,a2 "$VA" "$G/client2.crt" "$G/client2.key" "$G/both.crt"
sleep 1
swap b "$VB" "$G/server3.crt" "$G/server3.key" "$G/both.crt"
swap a,a2 "$VA" "$G/client3.crt" "$G/client3.key" "$G/both.crt"
probe_until "$S3" "$CERTS/client" "$G/both.crt"
sleep 1
swap b "$VB" "$G/server3.crt" "$G/server3.key" "$G/rootB-ca.crt"
swap a,a2 "$VA" "$G/client3.crt" "$G/client3.key" "$G/rootB-ca.crt"
probe_until "$S3" "$G/client3" "$G/rootB-ca.crt"
# a client under the old root is refused now
i=0
while [ "$(probe "$CERTS/client" "$G/both.crt")" = "$S3 200" ]; do
    [ $i -lt 25 ] || fail "B still accepts a client certificate under the old root after trusting rootB alone"
    sleep 0.2
    i=$((i + 1))
done
sleep 1
alive stream
alive loop

step "3. stop the load: nothing was dropped"
traffic_stop loop
traffic_stop stream
traffic_summary
traffic_check_loop loop 10
traffic_check_stream stream "$MAX_GAP_MS"

step "after the rotations, A's new tunnels (the old ones idle-closed) use rootB: B accepts them"
wait_idle_closed "$P_HB"
timeout 60 node "$NODE_DIR/tcp-conns.js" --connect "127.0.0.1:$P_OUT" --conns 3 --bytes 20000 >"$T/after.txt" 2>&1 ||
    fail "connections through A -> B after the rotations failed: $(cat "$T/after.txt")"
assert_contains "$T/after.txt" '^DONE conns=3 ok=3 bad=0'
assert_not_contains "$T/a.out" ' end=(tls_|upstream_|downstream_reset|handshake_timeout|identity_rejected)'

step "new tunnels along the way (A to B twice, A2 to Node twice); the sidecars ready"
v=$(sds_metric "$A_ADMIN" 'sidecar_hbone_tunnels_opened_total{direction="outbound"}')
[ "${v:-0}" -ge 2 ] || fail "A: sidecar_hbone_tunnels_opened_total{direction=\"outbound\"} is '${v:-absent}', expected >= 2"
v=$(sds_metric "$A2_ADMIN" 'sidecar_hbone_tunnels_opened_total{direction="outbound"}')
[ "${v:-0}" -ge 2 ] || fail "A2: sidecar_hbone_tunnels_opened_total{direction=\"outbound\"} is '${v:-absent}', expected >= 2"
assert_eq 2 "$(count_lines "$T/peer.out" '^SESSION ')" "tunnels Node saw"
assert_eq 0 "$(sds_metric "$B_ADMIN" 'sidecar_hbone_streams_reset_total{direction="inbound"}')" "B: streams reset"
assert_eq 200 "$(sds_ready_code "$A_ADMIN")" "A's readiness"
assert_eq 200 "$(sds_ready_code "$B_ADMIN")" "B's readiness"

alive a
alive a2
alive b
log "ok"
