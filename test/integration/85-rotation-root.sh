#!/usr/bin/env bash
# Root rotation A -> A+B -> B under traffic.  Two sds-agents in ca mode share
# one Istio cacerts directory (the same secret mounted for both, so both see
# the change at once; 78-sds-root-rotation-staged.sh has a directory per
# node), signed by root "rootA"; sidecar A (outbound, ns foo) and sidecar B
# (inbound STRICT, ns bar) get their certificates from them.  Under a
# long-lived stream and a new connection every 200 ms through A -> B, the
# operator replaces the directory's files with CA "rootB" one by one.  Then:
#   - no new connection fails, the stream keeps flowing with no gap over 1 s;
#   - B's /certs?format=table shows two ROOTCA rows during the overlap and
#     one, root B, at the end; its leaf is then issued by rootB-int;
#   - sidecar_tls_peer_root_total on B counts handshakes whose peer chained
#     to root A before the switch and to root B after it (and the same on
#     A's side for B's server certificate), and the connection log says so
#     (A resumes its TLS sessions with B within one snapshot, and resumed
#     handshakes are not counted: each new snapshot of A costs one full
#     handshake);
#   - each agent logged the steps, and at the end a client certificate under
#     root A is refused by B, whose log names the issuer CN=rootA.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"

MAX_GAP_MS=1000
OVERLAP_S=4

step "two agents on one cacerts directory (root A), two sidecars"
make_cacerts "$T/cacerts" rootA
make_cacerts "$T/ca-new" rootB
ROOT_A=$(x509_field "$T/ca-rootA/rootA-ca.crt" -serial | sed 's/^serial=//')
ROOT_B=$(x509_field "$T/ca-rootB/rootB-ca.crt" -serial | sed 's/^serial=//')
ca_keys="lifetime: 1h, root_overlap: ${OVERLAP_S}s, trust_wait: 5s"
ca_agent_config "$T/agent-a.yaml" "$T/a.sock" "$T/cacerts" foo client "$ca_keys"
ca_agent_config "$T/agent-b.yaml" "$T/b.sock" "$T/cacerts" bar server "$ca_keys"
start_agent agent-a "$T/agent-a.yaml"
start_agent agent-b "$T/agent-b.yaml"
sds_pair "$T/a.sock" "$T/b.sock"

# root_count PORT DIRECTION SERIAL: sidecar_tls_peer_root_total for that root (0 if absent)
root_count() {
    local v
    v=$(curl -s -m 5 "http://127.0.0.1:$1/stats/prometheus" |
        awk -v d="direction=\"$2\"" -v s="root_serial=\"$3\"" \
            '$1 ~ /^sidecar_tls_peer_root_total\{/ && index($1, d) && index($1, s) { print $2 }')
    echo "${v:-0}"
}
# rootca_rows PORT: the ROOTCA rows of /certs?format=table
rootca_rows() { sds_table "$1" | awk '$1 == "ROOTCA"'; }
# issuer_of_b PROBE_DIR: the issuer of the certificate B presents to a client
# with that probe certificate
issuer_of_b() {
    timeout 10 openssl s_client -connect "127.0.0.1:$P_IN" -alpn istio -cert "$1/probe.crt" \
        -cert_chain "$1/probe.chain" -key "$1/probe.key" </dev/null 2>/dev/null |
        openssl x509 -noout -issuer 2>/dev/null | sed 's/^issuer=//; s/ //g'
}

step "before the switch: one root (A) everywhere, handshakes chain to root A"
assert_eq 1 "$(rootca_rows "$B_ADMIN" | wc -l)" "ROOTCA rows on B before the switch"
rootca_rows "$B_ADMIN" | grep -q -i "$ROOT_A" || fail "B's ROOTCA row is not root A ($ROOT_A)"
traffic_start stream stream "127.0.0.1:$P_OUT" -i 100 -t 2500
traffic_start loop loop "127.0.0.1:$P_OUT" -i 200 -t 3000
sleep 1
a_before=$(root_count "$B_ADMIN" inbound "$ROOT_A")
[ "$a_before" -ge 1 ] || fail "B counted no handshake chained to root A"
oa_before=$(root_count "$A_ADMIN" outbound "$ROOT_A")
[ "$oa_before" -ge 1 ] || fail "A counted no handshake with B chained to root A"
assert_eq 0 "$(root_count "$B_ADMIN" inbound "$ROOT_B")" "B: handshakes chained to root B before the switch"
assert_eq 0 "$(root_count "$A_ADMIN" outbound "$ROOT_B")" "A: handshakes chained to root B before the switch"

step "the operator replaces the CA files with CA B, one by one"
switch_at=$(date +%s.%N)
for f in root-cert.pem cert-chain.pem ca-cert.pem ca-key.pem; do
    cp "$T/ca-new/$f" "$T/cacerts/$f.tmp"
    mv "$T/cacerts/$f.tmp" "$T/cacerts/$f"
done

step "overlap: B's /certs table shows both roots"
i=0
while [ "$(rootca_rows "$B_ADMIN" | wc -l)" -ne 2 ]; do
    [ $i -lt 100 ] || fail "B's /certs table never showed two ROOTCA rows: $(rootca_rows "$B_ADMIN")"
    sleep 0.1
    i=$((i + 1))
done
rootca_rows "$B_ADMIN" >"$T/overlap-rows.txt"
grep -q -i "$ROOT_A" "$T/overlap-rows.txt" || fail "overlap rows lack root A"
grep -q -i "$ROOT_B" "$T/overlap-rows.txt" || fail "overlap rows lack root B"
assert_contains "$T/overlap-rows.txt" '^ROOTCA +CA +ACTIVE +true '

step "the leaves move to CA B: handshakes now chain to root B"
wait_for_log "$T/agent-b.err" 'ca: switching to the new CA' 15
wait_for_log "$T/agent-a.err" 'ca: switching to the new CA' 15
i=0
while [ "$(root_count "$B_ADMIN" inbound "$ROOT_B")" -lt 1 ] || [ "$(root_count "$A_ADMIN" outbound "$ROOT_B")" -lt 1 ]; do
    [ $i -lt 100 ] || fail "handshakes do not chain to root B: B counts $(root_count "$B_ADMIN" inbound "$ROOT_B"), A counts $(root_count "$A_ADMIN" outbound "$ROOT_B")"
    sleep 0.1
    i=$((i + 1))
done
a_mid=$(root_count "$B_ADMIN" inbound "$ROOT_A")
oa_mid=$(root_count "$A_ADMIN" outbound "$ROOT_A")

step "end of the overlap: only root B is left"
wait_for_log "$T/agent-b.err" 'root overlap ended' $((OVERLAP_S + 15))
wait_for_log "$T/agent-a.err" 'root overlap ended' $((OVERLAP_S + 15))
i=0
while [ "$(rootca_rows "$B_ADMIN" | wc -l)" -ne 1 ]; do
    [ $i -lt 50 ] || fail "B's /certs still shows $(rootca_rows "$B_ADMIN" | wc -l) roots after the overlap"
    sleep 0.1
    i=$((i + 1))
done
rootca_rows "$B_ADMIN" | grep -q -i "$ROOT_B" || fail "B's last ROOTCA row is not root B: $(rootca_rows "$B_ADMIN")"
rootca_rows "$A_ADMIN" >"$T/a-rows.txt"
assert_eq 1 "$(wc -l <"$T/a-rows.txt")" "ROOTCA rows on A at the end"
grep -q -i "$ROOT_B" "$T/a-rows.txt" || fail "A's last ROOTCA row is not root B"
sleep 2   # more load with root B only
log "root rotation done $(awk -v a="$switch_at" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')s after the switch"

step "the load never failed"
traffic_stop loop
traffic_stop stream
traffic_summary
traffic_check_loop loop 20
traffic_check_stream stream "$MAX_GAP_MS"

step "the metric and the log show the peers moving from root A to root B"
b_last=$(root_count "$B_ADMIN" inbound "$ROOT_B")
a_last=$(root_count "$B_ADMIN" inbound "$ROOT_A")
ob_last=$(root_count "$A_ADMIN" outbound "$ROOT_B")
oa_last=$(root_count "$A_ADMIN" outbound "$ROOT_A")
log "full handshakes by the peer's root (before switch / leaves moved / end):" \
    "B inbound: root A $a_before/$a_mid/$a_last, root B 0/-/$b_last;" \
    "A outbound: root A $oa_before/$oa_mid/$oa_last, root B 0/-/$ob_last"
assert_eq "$a_mid" "$a_last" "B: handshakes chained to root A after the leaves moved to CA B"
assert_eq "$oa_mid" "$oa_last" "A: handshakes chained to root A after the leaves moved to CA B"
[ "$b_last" -ge 2 ] || fail "B counted $b_last handshakes chained to root B (one per snapshot of A after the switch expected)"
[ "$ob_last" -ge 2 ] || fail "A counted $ob_last handshakes chained to root B"
assert_eq "CN=rootB-int" "$(probe_cert "$T/probe-b" rootB spiffe://cluster.local/ns/foo/sa/probe; issuer_of_b "$T/probe-b")" \
    "issuer of the certificate B presents"
# the connection log (a line is written at the close, and starts with the
# connection's start time): A's first and last full handshakes as B saw them
full_a=$(conn_lines "$T/b.out" 'listener=in .* peer=spiffe://cluster.local/ns/foo/sa/client peer_root=[0-9A-F]' | sort)
assert_eq "$ROOT_A" "$(conn_field "$(printf '%s\n' "$full_a" | head -n 1)" peer_root)" "peer_root of A's first full handshake with B"
assert_eq "$ROOT_B" "$(conn_field "$(printf '%s\n' "$full_a" | tail -n 1)" peer_root)" "peer_root of A's last full handshake with B"
for s in a b; do
    port=$A_ADMIN
    [ $s = b ] && port=$B_ADMIN
    assert_eq 0 "$(sds_metric "$port" 'sidecar_sds_pushes_total{result="rejected"}')" "sidecar $s rejected pushes"
    curl -s "http://127.0.0.1:$port/stats/prometheus" >"$T/$s.prom"
    assert_not_contains "$T/$s.prom" '^sidecar_tls_handshakes_total\{[^}]*outcome="(no_client_cert|unknown_ca|expired|bad_identity|protocol)"\} [1-9]'
    assert_not_contains "$T/$s.out" ' end=(tls_|upstream_|downstream_reset|handshake_timeout|identity_rejected)'
    assert_eq 200 "$(sds_ready_code "$port")" "sidecar $s readiness"
    assert_contains "$T/agent-$s.err" 'new CA .* with new roots: serving old\+new roots'
    assert_not_contains "$T/agent-$s.err" ' NACK '
done

step "root A is no longer trusted: a client signed under it is refused, and B says by whom"
probe_cert "$T/probe-a" rootA spiffe://cluster.local/ns/foo/sa/probe
{ printf 'old-root\n'; sleep 1; } | timeout 10 openssl s_client -connect "127.0.0.1:$P_IN" -alpn istio -quiet \
    -cert "$T/probe-a/probe.crt" -cert_chain "$T/probe-a/probe.chain" -key "$T/probe-a/probe.key" \
    >"$T/old-root.out" 2>/dev/null || true
assert_not_contains "$T/old-root.out" '^old-root$'
wait_for_log "$T/b.out" "$(conn_re listener=in class=refused "end=tls_verify_failed: peer chain does not lead to any of 1 trusted roots \\(issuer CN=rootA;")"

alive a
alive b
alive agent-a
alive agent-b
log "ok"
