#!/usr/bin/env bash
# Handshakes per second per client address (limits.handshakes_per_second_per_source):
# a burst of 100 connections from 127.0.0.1 to a STRICT port at 2 a second
# gets 2 handshakes (a few more if the burst is slow) and the rest closed
# before any TLS work, each logged as end=handshake_rate_limited and counted
# in sidecar_handshakes_limited_total.  Another address is served at once;
# 127.0.0.1 is served again after a second.
# exclusive: counts handshakes per second from one address
. "$(dirname "$0")/lib.sh"

certs
P_ECHO=$(free_port); P_IN=$(free_port)
PEER=$ROOT/test/integration/tls_peer.py
BURST=100
start_backend echo --listen "127.0.0.1:$P_ECHO" --mode echo --quiet

sidecar_config "$T/b.yaml" server bar server
cat >>"$T/b.yaml" <<EOF
limits: {handshakes_per_second_per_source: 2}
listeners:
  - {name: in, direction: inbound, address: "0.0.0.0:$P_IN", upstream: "127.0.0.1:$P_ECHO",
     port: 8080, protocol: tcp}
EOF
peer_auth "$T/b.yaml" STRICT bar
B_ADMIN=$ADMIN_PORT
start_sidecar b "$T/b.yaml" "$P_IN"

# good_client NAME SOURCE_IP: a full mTLS exchange from SOURCE_IP.
good_client() {
    timeout 30 python3 "$PEER" client "127.0.0.1:$P_IN" "$CERTS/client.crt" "$CERTS/client.key" \
        "$CERTS/ca.crt" istio none "$2" >"$T/$1.out" 2>"$T/$1.err" || true
}

step "a burst of $BURST connections from 127.0.0.1"
timeout 60 python3 - "$P_IN" "$BURST" <<'PY' || fail "the burst client failed"
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.close()
PY
wait_for_count "$T/b.out" "$(conn_re listener=in)" "$BURST" 20
limited=$(count_lines "$T/b.out" "$(conn_re listener=in class=refused 'end=handshake_rate_limited: over 2 handshakes a second from this address \(limits.handshakes_per_second_per_source\)')")
log "$limited of $BURST connections limited"
# 2 a second, 2 at once: the burst would have to last 24 s to get half through.
[ "$limited" -ge $((BURST / 2)) ] || fail "only $limited of $BURST connections were limited"
[ "$limited" -lt "$BURST" ] || fail "every connection was limited, even the first two"

step "another address is not limited"
good_client other 127.0.0.2
assert_contains "$T/other.out" '^app ok$'
wait_for_log "$T/b.out" "$(conn_re listener=in class=mesh_mtls 'down=127\.0\.0\.2:[0-9]+' end=peer_closed)"

step "the limited ones are counted"
curl -sS -m 5 "http://127.0.0.1:$B_ADMIN/stats/prometheus" >"$T/b.prom" || fail "scraping /stats/prometheus"
assert_eq "$limited" "$(awk '$1 == "sidecar_handshakes_limited_total" { print $2 }' "$T/b.prom")" \
    sidecar_handshakes_limited_total

step "127.0.0.1 is served again once its bucket refills"
sleep 1.2
good_client again 127.0.0.1
assert_contains "$T/again.out" '^app ok$'
alive b

log "ok"
