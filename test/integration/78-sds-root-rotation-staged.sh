#!/usr/bin/env bash
# Root rotation when every node has its own agent and its own copy of the
# CA directory, updated at different times (a Kubernetes secret reaches each
# node's volume on its own schedule).  An agent only waits for its own
# subscribers before it issues leaves from the new CA, so switching the
# directories straight from A to B a second apart breaks the handshakes in
# between (the node that switched first presents a leaf of B to peers that
# trust only A).  The staged procedure keeps every handshake working:
#   1. root-cert.pem = A + B everywhere (leaves still from A);
#   2. then the signing CA of B everywhere (leaves from B, both roots trusted);
#   3. then root-cert.pem = B everywhere (A dropped after the overlap).
# Each step reaches node B's directory first and node A's a second later,
# under a long-lived stream and a new connection every 100 ms through
# A -> B: none fails, the stream has no gap over 1 s, the roots shown by
# /certs follow 1 -> 2 -> 2 -> 1, and a root A that was already trusted is
# not dropped when the bundle grows to A + B.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"

MAX_GAP_MS=1000
SKEW_S=1

step "one CA directory per node, both with CA A"
make_cacerts "$T/node-a" rootA
mkdir -p "$T/node-b"
cp "$T/node-a"/* "$T/node-b/"
make_cacerts "$T/ca-new" rootB
cat "$T/ca-rootA/rootA-ca.crt" "$T/ca-rootB/rootB-ca.crt" >"$T/both-roots.pem"
ROOT_A=$(x509_field "$T/ca-rootA/rootA-ca.crt" -serial | norm_serial)
ROOT_B=$(x509_field "$T/ca-rootB/rootB-ca.crt" -serial | norm_serial)
ca_keys="lifetime: 1h, root_overlap: 2s, trust_wait: 5s"
ca_agent_config "$T/agent-a.yaml" "$T/a.sock" "$T/node-a" foo client "$ca_keys"
ca_agent_config "$T/agent-b.yaml" "$T/b.sock" "$T/node-b" bar server "$ca_keys"
start_agent agent-a "$T/agent-a.yaml"
start_agent agent-b "$T/agent-b.yaml"
sds_pair "$T/a.sock" "$T/b.sock"
traffic_start stream stream "127.0.0.1:$P_OUT" -i 100 -t 2500
traffic_start loop loop "127.0.0.1:$P_OUT" -i 100 -t 3000

# roots PORT: the ROOTCA serials /certs?format=table shows, sorted, on one line
roots() { sds_table "$1" | awk '$1 == "ROOTCA" { print $(NF - 3) }' | norm_serial | sort | tr '\n' ' ' | sed 's/ $//'; }
# wait_roots PORT EXPECTED WHAT
wait_roots() {
    local i=0
    while [ "$(roots "$1")" != "$2" ]; do
        [ $i -lt 150 ] || fail "$3: /certs shows roots '$(roots "$1")', expected '$2'"
        sleep 0.1
        i=$((i + 1))
    done
}
# put NODE FILE SOURCE: replace one file of a node's CA directory atomically
put() { cp "$3" "$T/$1/$2.tmp" && mv "$T/$1/$2.tmp" "$T/$1/$2"; }
# issued_by AGENT_NAME: the issuer of the agent's last issued leaf
issued_by() {
    grep 'ca: issued ' "$T/$1.err" | tail -n 1 | sed 's/.* by subject="\([^"]*\)".*/\1/'
}
both=$(printf '%s\n%s\n' "$ROOT_A" "$ROOT_B" | sort | tr '\n' ' ' | sed 's/ $//')
assert_eq "$ROOT_A" "$(roots "$B_ADMIN")" "B's roots at the start"

step "1. root-cert.pem = A + B: node B first, node A ${SKEW_S}s later"
put node-b root-cert.pem "$T/both-roots.pem"
wait_roots "$B_ADMIN" "$both" "B after its directory got both roots"
sleep "$SKEW_S"
put node-a root-cert.pem "$T/both-roots.pem"
wait_roots "$A_ADMIN" "$both" "A after its directory got both roots"
wait_for_log "$T/agent-a.err" 'root overlap ended' 15
wait_for_log "$T/agent-b.err" 'root overlap ended' 15
sleep 0.5
assert_eq "$both" "$(roots "$B_ADMIN")" "B's roots after the overlap (root A is still configured)"
assert_eq "$both" "$(roots "$A_ADMIN")" "A's roots after the overlap (root A is still configured)"

step "2. the signing CA of B: node B first, node A ${SKEW_S}s later"
for f in cert-chain.pem ca-cert.pem ca-key.pem; do put node-b "$f" "$T/ca-new/$f"; done
wait_for_log "$T/agent-b.err" 'issued spiffe://cluster.local/ns/bar/sa/server .* by subject="CN=rootB-int"' 15
sleep "$SKEW_S"
for f in cert-chain.pem ca-cert.pem ca-key.pem; do put node-a "$f" "$T/ca-new/$f"; done
wait_for_log "$T/agent-a.err" 'issued spiffe://cluster.local/ns/foo/sa/client .* by subject="CN=rootB-int"' 15
assert_eq "CN=rootB-int CN=rootB-int" "$(issued_by agent-a) $(issued_by agent-b)" "issuers of the leaves"
sleep 1

step "3. root-cert.pem = B: node B first, node A ${SKEW_S}s later"
put node-b root-cert.pem "$T/ca-new/root-cert.pem"
sleep "$SKEW_S"
put node-a root-cert.pem "$T/ca-new/root-cert.pem"
wait_roots "$B_ADMIN" "$ROOT_B" "B once root A is gone"
wait_roots "$A_ADMIN" "$ROOT_B" "A once root A is gone"
sleep 1

step "no connection failed, the stream kept flowing"
traffic_stop loop
traffic_stop stream
traffic_summary
traffic_check_loop loop 50
traffic_check_stream stream "$MAX_GAP_MS"
for s in a b; do
    assert_not_contains "$T/$s.out" ' end=(tls_|upstream_|downstream_reset|handshake_timeout|identity_rejected)'
    assert_not_contains "$T/agent-$s.err" ' NACK '
done

alive a
alive b
alive agent-a
alive agent-b
log "ok"
