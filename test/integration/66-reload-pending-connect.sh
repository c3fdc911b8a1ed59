#!/usr/bin/env bash
# A pooled upstream connect that outlives its request and its snapshot.
# The L7 pool lets a connect finish after the request that started it went
# away; a reload (SIGHUP) meanwhile leaves the connection that request came
# on as the old snapshot's last holder, so the snapshot is freed when the
# client leaves.  The connect must hold its own reference: before it did,
# the handshake's completion read the freed snapshot (ASan:
# heap-use-after-free in on_handshake, freed by conn_finish).
#
#   curl -> F (outbound, protocol http, ISTIO_MUTUAL) -> hop (delays 3 s)
#        -> G (inbound STRICT, http) -> backend
#
# The client gives up after 1.5 s, F is reloaded at ~0.7 s, and the
# handshake completes at ~3 s.  F must stay up, the connection must go
# idle in the pool (or be dropped) without a sanitizer report, and the next
# request must be served.  (The client sends part of a body, so F sees
# it leave while the request is still coming.)  The same with a certificate rotation (the files
# rewritten) instead of SIGHUP.
. "$(dirname "$0")/lib.sh"

certs
SERVER_ID=spiffe://cluster.local/ns/bar/sa/server

P_APP=$(free_port); P_IN=$(free_port); P_HOP=$(free_port); P_OUT=$(free_port)
start_backend app --listen "127.0.0.1:$P_APP" --mode http

sidecar_config "$T/g.yaml" server bar server
cat >>"$T/g.yaml" <<EOF
listeners:
  - {name: in, direction: inbound, address: "127.0.0.1:$P_IN", upstream: "127.0.0.1:$P_APP",
     port: 8080, protocol: http}
EOF
peer_auth "$T/g.yaml" STRICT bar
start_sidecar g "$T/g.yaml" "$P_IN"

# The hop accepts at once and starts relaying to G only 3 s later, so F's
# TCP connect succeeds and its TLS handshake waits.
spawn hop socat "TCP-LISTEN:$P_HOP,bind=127.0.0.1,fork,reuseaddr" \
    "SYSTEM:sleep 3; exec socat - TCP\:127.0.0.1\:$P_IN"
wait_port 127.0.0.1 "$P_HOP" 10

# F reads its certificate from copies, so the second round can rotate them.
cp "$CERTS/client.crt" "$T/f.crt"
cp "$CERTS/client.key" "$T/f.key"
HS_MS=10000 sidecar_config "$T/f.yaml" client foo client
sed -i "s#$CERTS/client.crt#$T/f.crt#; s#$CERTS/client.key#$T/f.key#" "$T/f.yaml"
cat >>"$T/f.yaml" <<EOF
access_log: {path: stdout, format: text}
listeners:
  - {name: out, direction: outbound, address: "127.0.0.1:$P_OUT", upstream: "127.0.0.1:$P_HOP",
     tls: ISTIO_MUTUAL, protocol: http, expected_identities: ["$SERVER_ID"],
     timeouts: {request_ms: 20000}}
EOF
start_sidecar f "$T/f.yaml" "$P_OUT"

# abandoned_request ROUND CHANGE: a request whose client leaves after 1.5 s,
# with CHANGE (a command) run 0.7 s in, while F's connect waits on the hop.
abandoned_request() {
    local round=$1 change=$2
    # the head and 2 of 10 body bytes: the request is still coming when the
    # client leaves (at 1.5 s), so F sees it go (Envoy's DC)
    { printf 'POST /abandoned-%s HTTP/1.1\r\nHost: app\r\nContent-Length: 10\r\n\r\nab' "$round"
      sleep 1.5; } | timeout 10 socat -t 0.1 - "TCP:127.0.0.1:$P_OUT" >/dev/null 2>&1 &
    local cpid=$!
    sleep 0.7
    $change
    wait "$cpid" || true
    wait_for_log "$T/f.out" "\"POST /abandoned-$round HTTP/1\\.1\" 0 DC"
    # the connect completes ~3 s after it started: wait past that
    sleep 2.5
    alive f
}

sighup() { kill -HUP "$(pid_of f)"; }
rotate() {
    # a new copy of the same pair: the file watch builds a new snapshot
    cp "$CERTS/client.key" "$T/f.key.new" && cp "$CERTS/client.crt" "$T/f.crt.new"
    mv "$T/f.key.new" "$T/f.key" && mv "$T/f.crt.new" "$T/f.crt"
}

step "round 1: the client leaves at 1.5 s, SIGHUP at 0.7 s, the handshake ends at 3 s"
abandoned_request 1 sighup
wait_for_log "$T/f.err" 'reloaded '

step "F still serves (through the same slow hop)"
code=$(timeout 20 curl -sS -m 15 -o "$T/r1.body" -w '%{http_code}' "http://127.0.0.1:$P_OUT/after-reload") ||
    fail "curl after the reload failed"
assert_eq 200 "$code" "status after the reload"
assert_eq "hello from backend" "$(cat "$T/r1.body")" "body after the reload"

step "round 2: the same with a certificate rotation instead of SIGHUP"
# a fresh pool entry: the pooled connection from above belongs to the old
# snapshot, so this request connects again through the hop
abandoned_request 2 rotate
code=$(timeout 20 curl -sS -m 15 -o "$T/r2.body" -w '%{http_code}' "http://127.0.0.1:$P_OUT/after-rotation") ||
    fail "curl after the rotation failed"
assert_eq 200 "$code" "status after the rotation"

step "F stops cleanly"
stop f
assert_eq 0 "$STOP_RC" "F's exit status"
