#!/usr/bin/env bash
# Leaf rotation under traffic: two sds-agents in ca mode (one CA, a 6 s
# lifetime renewed at 35%, so each renews every ~2 s and a busy machine has
# ~4 s of margin before a leaf expires) feed two sidecars, A (outbound,
# ns foo, sa client) and B (inbound STRICT, ns bar, sa server, in front of an
# echo backend).  Over 20 rotations of B's certificate (and as many of A's):
#   - one long-lived connection through A -> B streams a line every 100 ms
#     and reads the echo: every line comes back, in order, with no gap over
#     1 s, and it closes cleanly at the end;
#   - a new connection through A -> B every 200 ms: none fails;
#   - new handshakes straight to B (openssl s_client, a client certificate
#     from the same CA) present the serial B's /certs table shows at that
#     moment, which is one the agent issued; many distinct serials are seen;
#   - no push is rejected, no handshake fails, and B accepted a push per
#     rotation.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"

ROTATIONS=${ROTATIONS:-20}
LIMIT_S=${LIMIT_S:-70}     # the rotations must be done by then (20 x ~2 s)
MAX_GAP_MS=1000
CA_KEYS="lifetime: 6s, renew_at: 0.35, jitter: 0.03"

step "one CA, an agent per sidecar (lifetime 6 s, renewed every ~2 s)"
make_cacerts "$T/cacerts" rot
ca_agent_config "$T/agent-a.yaml" "$T/a.sock" "$T/cacerts" foo client "$CA_KEYS"
ca_agent_config "$T/agent-b.yaml" "$T/b.sock" "$T/cacerts" bar server "$CA_KEYS"
start_agent agent-a "$T/agent-a.yaml"
start_agent agent-b "$T/agent-b.yaml"
sds_pair "$T/a.sock" "$T/b.sock"
probe_cert "$T/probe" rot spiffe://cluster.local/ns/foo/sa/probe
# the table is read before and after the handshake: a rotation (every
# ~2 s) may fall between, on a loaded machine
t0=$(sds_table_serial "$B_ADMIN")
first=$(probe_serial "127.0.0.1:$P_IN" "$T/probe")
t1=$(sds_table_serial "$B_ADMIN")
[ -n "$first" ] || fail "no handshake with B's inbound listener"
[ "$first" = "$t0" ] || [ "$first" = "$t1" ] ||
    fail "serial presented ($first) is neither B's /certs table before ($t0) nor after ($t1)"

step "traffic: a long-lived stream and a new connection every 200 ms, through A -> B"
traffic_start stream stream "127.0.0.1:$P_OUT" -i 100 -t 2500
traffic_start loop loop "127.0.0.1:$P_OUT" -i 200 -t 3000
issued0=$(count_lines "$T/agent-b.err" 'ca: issued ')

step "$ROTATIONS rotations of B's leaf: each new handshake presents the current serial"
: >"$T/probes.txt"
start=$(date +%s)
probes=0
while :; do
    n=$(( $(count_lines "$T/agent-b.err" 'ca: issued ') - issued0 ))
    [ "$n" -lt "$ROTATIONS" ] || break
    [ $(( $(date +%s) - start )) -lt "$LIMIT_S" ] ||
        fail "only $n rotations of B's leaf in ${LIMIT_S}s"
    before=$(sds_table_serial "$B_ADMIN")
    got=$(probe_serial "127.0.0.1:$P_IN" "$T/probe")
    after=$(sds_table_serial "$B_ADMIN")
    [ -n "$got" ] || fail "probe handshake $probes with B failed"
    # a handshake made between two reads of /certs presents one of them
    if [ "$got" != "$before" ] && [ "$got" != "$after" ]; then
        fail "probe $probes: B presented serial $got, its /certs table showed $before then $after"
    fi
    echo "$got" >>"$T/probes.txt"
    probes=$((probes + 1))
    alive stream
    alive loop
    sleep 0.3
done
secs=$(( $(date +%s) - start ))

step "stop the load and check it"
traffic_stop loop
traffic_stop stream
log "$n rotations of B's leaf in ${secs}s"
traffic_summary
traffic_check_loop loop $((secs * 3))
traffic_check_stream stream "$MAX_GAP_MS"
[ "$(traffic_field stream sent)" -ge $((secs * 8)) ] || fail "the stream sent only $(traffic_field stream sent) lines in ${secs}s"
attempts=$(traffic_field loop attempts)

step "the serials presented: the agent issued them, and they changed with the rotations"
distinct=$(sort -u "$T/probes.txt" | wc -l)
log "$probes probe handshakes saw $distinct distinct serials"
[ "$distinct" -ge $((ROTATIONS * 3 / 4)) ] ||
    fail "probes saw only $distinct distinct serials over $n rotations"
grep -o 'ca: issued spiffe://cluster.local/ns/bar/sa/server serial=[0-9A-Fa-f]*' "$T/agent-b.err" |
    sed 's/.*serial=//' | norm_serial | sort -u >"$T/issued-b.txt"
missing=$(sort -u "$T/probes.txt" | comm -23 - "$T/issued-b.txt" | head -n 3)
assert_eq "" "$missing" "serials presented that agent B did not issue"

step "every push was accepted, every handshake succeeded, every connection ended cleanly"
for s in a b; do
    port=$A_ADMIN
    [ $s = b ] && port=$B_ADMIN
    acc=$(sds_metric "$port" 'sidecar_sds_pushes_total{result="accepted"}')
    [ "${acc:-0}" -ge "$ROTATIONS" ] || fail "sidecar $s accepted ${acc:-0} pushes, expected >= $ROTATIONS"
    assert_eq 0 "$(sds_metric "$port" 'sidecar_sds_pushes_total{result="rejected"}')" "sidecar $s rejected pushes"
    assert_eq 1 "$(sds_metric "$port" 'sidecar_sds_connects_total')" "sidecar $s SDS connects"
    curl -s "http://127.0.0.1:$port/stats/prometheus" >"$T/$s.prom"
    assert_not_contains "$T/$s.prom" '^sidecar_tls_handshakes_total\{[^}]*outcome="(no_client_cert|unknown_ca|expired|bad_identity|protocol)"\} [1-9]'
    assert_not_contains "$T/$s.out" ' end=(tls_|upstream_|downstream_reset|handshake_timeout|identity_rejected)'
    assert_eq 200 "$(sds_ready_code "$port")" "sidecar $s readiness"
done
assert_contains "$T/b.prom" '^sidecar_tls_handshakes_total\{direction="inbound",outcome="ok"\} [1-9]'
assert_contains "$T/a.prom" '^sidecar_tls_handshakes_total\{direction="outbound",outcome="ok"\} [1-9]'
# B's inbound log: every connection from A and the probes was mesh mTLS
assert_not_contains "$T/b.out" ' class=refused '
[ "$(count_lines "$T/b.out" "$(conn_re listener=in class=mesh_mtls peer=spiffe://cluster.local/ns/foo/sa/client)")" -ge "$attempts" ] ||
    fail "B logged fewer mesh_mtls connections from A than the loop made"
assert_not_contains "$T/agent-b.err" ' NACK '
assert_not_contains "$T/agent-a.err" ' NACK '

alive a
alive b
alive agent-a
alive agent-b
log "ok"
