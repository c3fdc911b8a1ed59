#!/usr/bin/env bash
# HTTP/1.1 at L7 over mTLS: a response whose head and body are in hand
# together leaves as one TLS record, not two (the head and the body were
# two buffer chains, and each chain became its own SSL_write).  A mesh
# client (openssl s_client -msg, a peer nobody here wrote) talks to an
# inbound STRICT `protocol: http` port and counts the application-data
# records that carry each answer.
. "$(dirname "$0")/lib.sh"

certs
P_APP=$(free_port); P_IN=$(free_port)
start_backend app --listen "127.0.0.1:$P_APP" --mode http --quiet

sidecar_config "$T/b.yaml" server bar server
cat >>"$T/b.yaml" <<EOF2
listeners:
  - {name: in, direction: inbound, address: "127.0.0.1:$P_IN", upstream: "127.0.0.1:$P_APP",
     port: 8080, protocol: http}
EOF2
peer_auth "$T/b.yaml" STRICT bar
start_sidecar b "$T/b.yaml" "$P_IN"

# app_records FILE: application-data records the server sent, from s_client
# -msg output (a received record whose inner content is not a handshake
# message or an alert; only the -msg lines are read)
app_records() {
    grep -a -E '^(<<<|>>>) ' "$1" | awk '
        /^<<< .*InnerContent/ { if (pending) apps++; pending = 1; next }
        /^<<< .*(Handshake|Alert|ChangeCipherSpec)/ { pending = 0; next }
        /^>>> / { if (pending) apps++; pending = 0; next }
        END { if (pending) apps++; print apps + 0 }'
}

for path in /say/hello /headers; do
    step "GET $path: the response is one TLS record"
    printf 'GET %s HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n' "$path" |
        mesh_client "127.0.0.1:$P_IN" client istio-http/1.1 1 -msg >"$T/msg.out" 2>&1 || true
    grep -q '^HTTP/1.1 200 OK' "$T/msg.out" || fail "no 200 for $path: $(grep -v '^[<>]' "$T/msg.out" | head -n 5)"
    assert_eq 1 "$(app_records "$T/msg.out")" "application-data records carrying the response to $path"
done
alive b
log "ok"
