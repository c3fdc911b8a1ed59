#!/usr/bin/env bash
# protocol: auto decides by the whole HTTP/1.x request line, as Envoy's HTTP
# inspector does, and relays everything else at L4 unchanged:
#  - curl's request is served at L7 (x-request-id added, an access-log line);
#  - TCP protocols whose first line looks like "WORD SP ..." are relayed
#    byte for byte: NATS' CONNECT {...}, a Redis inline SET, an HTTP/2
#    preface (an earlier check of "a method and a space" answered these
#    with 400 DPE and closed the connection);
#  - a client that sends nothing gets the server's banner after sniff_ms;
#  - the same on a STRICT inbound port, where the bytes are read after the
#    mTLS handshake: HTTP gets x-forwarded-client-cert, NATS is relayed.
. "$(dirname "$0")/lib.sh"

certs
CLIENT_ID=spiffe://cluster.local/ns/foo/sa/client
P_HTTP=$(free_port); P_ECHO=$(free_port); P_BANNER=$(free_port)
P_A_HTTP=$(free_port); P_A_ECHO=$(free_port); P_A_BANNER=$(free_port)
P_B_HTTP=$(free_port); P_B_ECHO=$(free_port); P_A_MESH_HTTP=$(free_port); P_A_MESH_ECHO=$(free_port)
start_backend http --listen "127.0.0.1:$P_HTTP" --mode http
start_backend echo --listen "127.0.0.1:$P_ECHO" --mode echo
start_backend banner --listen "127.0.0.1:$P_BANNER" --mode banner --banner "220 ready"

SNIFF_MS=500 sidecar_config "$T/b.yaml" server bar server
cat >>"$T/b.yaml" <<EOF
access_log: {path: stdout, format: text}
listeners:
  - {name: in-http, direction: inbound, address: "127.0.0.1:$P_B_HTTP", upstream: "127.0.0.1:$P_HTTP",
     port: 8080, protocol: auto}
  - {name: in-echo, direction: inbound, address: "127.0.0.1:$P_B_ECHO", upstream: "127.0.0.1:$P_ECHO",
     port: 4222, protocol: auto}
EOF
peer_auth "$T/b.yaml" STRICT bar
start_sidecar b "$T/b.yaml" "$P_B_HTTP" "$P_B_ECHO"

SNIFF_MS=500 sidecar_config "$T/a.yaml" client foo client
cat >>"$T/a.yaml" <<EOF
access_log: {path: stdout, format: text}
listeners:
  - {name: auto-http, direction: outbound, address: "127.0.0.1:$P_A_HTTP", upstream: "127.0.0.1:$P_HTTP",
     tls: DISABLE, protocol: auto}
  - {name: auto-echo, direction: outbound, address: "127.0.0.1:$P_A_ECHO", upstream: "127.0.0.1:$P_ECHO",
     tls: DISABLE, protocol: auto}
  - {name: auto-banner, direction: outbound, address: "127.0.0.1:$P_A_BANNER", upstream: "127.0.0.1:$P_BANNER",
     tls: DISABLE, protocol: auto}
  - {name: mesh-http, direction: outbound, address: "127.0.0.1:$P_A_MESH_HTTP", upstream: "127.0.0.1:$P_B_HTTP",
     tls: ISTIO_MUTUAL, protocol: tcp}
  - {name: mesh-echo, direction: outbound, address: "127.0.0.1:$P_A_MESH_ECHO", upstream: "127.0.0.1:$P_B_ECHO",
     tls: ISTIO_MUTUAL, protocol: tcp}
EOF
start_sidecar a "$T/a.yaml" "$P_A_HTTP" "$P_A_ECHO" "$P_A_BANNER" "$P_A_MESH_HTTP" "$P_A_MESH_ECHO"

# relay_check PORT NAME BYTES: BYTES go through PORT to the echo backend and
# come back unchanged
relay_check() {
    printf '%b' "$3" >"$T/$2.sent"
    timeout 10 socat -t2 - "TCP:127.0.0.1:$1" <"$T/$2.sent" >"$T/$2.got" 2>/dev/null ||
        fail "$2: the connection failed"
    cmp -s "$T/$2.sent" "$T/$2.got" ||
        fail "$2: the bytes came back changed: $(od -c "$T/$2.got" | head -n 3)"
}

step "curl through an auto listener is served at L7"
code=$(curl -s -o "$T/h1.body" -w '%{http_code}' --max-time 10 "http://127.0.0.1:$P_A_HTTP/headers")
assert_eq 200 "$code" "curl via auto"
assert_contains "$T/h1.body" '^x-request-id: [0-9a-f-]{36}'
wait_for_log "$T/a.out" '"GET /headers HTTP/1.1" 200 '

step "TCP protocols that start like a request line are relayed unchanged"
relay_check "$P_A_ECHO" nats 'CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n'
relay_check "$P_A_ECHO" redis 'SET key value\r\nGET key\r\n'
relay_check "$P_A_ECHO" h2 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\4\0\0\0\0\0'
relay_check "$P_A_ECHO" rtsp 'OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n'
wait_for_count "$T/a.out" "$(conn_re listener=auto-echo end=peer_closed)" 4 5
assert_not_contains "$T/a.out" '" (400|431) '
assert_not_contains "$T/a.out" 'listener=auto-echo .*end=.*(http|DPE|bad_request)'

step "a client that sends nothing gets the server's banner after sniff_ms"
# the client holds its side open and silent; the banner must come within 2 s
exec 3<>"/dev/tcp/127.0.0.1/$P_A_BANNER" || fail "cannot connect to the auto-banner listener"
start=$(date +%s%N)
got=""
IFS= read -r -t 2 -n 9 got <&3 || true
ms=$((($(date +%s%N) - start) / 1000000))
exec 3<&- 3>&-
assert_eq "220 ready" "$got" "banner through the auto listener, the client silent"
log "banner after ${ms} ms (sniff_ms 500)"
[ "$ms" -ge 400 ] || fail "the banner came after ${ms} ms, before sniff_ms (500) ran out"

step "STRICT inbound auto, after the mTLS handshake: HTTP at L7 with XFCC, NATS relayed"
code=$(curl -s -o "$T/h2.body" -w '%{http_code}' --max-time 10 "http://127.0.0.1:$P_A_MESH_HTTP/headers")
assert_eq 200 "$code" "curl via A (tcp) to B (auto)"
assert_contains "$T/h2.body" "^x-forwarded-client-cert: By=spiffe://cluster.local/ns/bar/sa/server;Hash=[0-9a-f]{64};Subject=\"[^\"]*\";URI=$CLIENT_ID"
wait_for_log "$T/b.out" '"GET /headers HTTP/1.1" 200 '
relay_check "$P_A_MESH_ECHO" mesh-nats 'CONNECT {"verbose":false}\r\nPING\r\n'
wait_for_log "$T/b.out" "$(conn_re dir=inbound listener=in-echo mode=STRICT class=mesh_mtls end=peer_closed)"

alive a
alive b
log "ok"
