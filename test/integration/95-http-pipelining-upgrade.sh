#!/usr/bin/env bash
# HTTP/1.1 at L7 through the sidecar pair (A: outbound http, mTLS to B:
# inbound STRICT http, then the backend):
#  - pipelining: 10 requests written at once on one connection (one of them
#    slow, one with a body) come back in order;
#  - WebSocket-style Upgrade: the backend answers 101 (with the right
#    Sec-WebSocket-Accept) and then echoes; bytes flow both ways through
#    both sidecars, including bytes the client sent right behind the
#    request head; afterwards the pool still serves plain requests;
#  - an upgrade request the backend answers without switching (200): the
#    connection stays HTTP, and the next request on it is answered.
. "$(dirname "$0")/lib.sh"

certs

P_APP=$(free_port); P_OUT=$(free_port)
start_backend app --listen "127.0.0.1:$P_APP" --mode http

mesh_pair http "127.0.0.1:$P_APP"

step "10 pipelined requests in one write come back in order"
{
    for i in 0 1 2; do printf 'GET /say/p%d HTTP/1.1\r\nHost: pipe\r\n\r\n' "$i"; done
    printf 'GET /delay/300 HTTP/1.1\r\nHost: pipe\r\n\r\n'                      # slow: the rest wait
    printf 'GET /say/p4 HTTP/1.1\r\nHost: pipe\r\n\r\n'
    printf 'POST /sink HTTP/1.1\r\nHost: pipe\r\nContent-Length: 5\r\n\r\nhello'  # with a body
    for i in 6 7 8; do printf 'GET /say/p%d HTTP/1.1\r\nHost: pipe\r\n\r\n' "$i"; done
    printf 'GET /say/p9 HTTP/1.1\r\nHost: pipe\r\nConnection: close\r\n\r\n'
} >"$T/pipe.req"
timeout 15 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"; cat "$2" >&3; cat <&3' _ "$P_OUT" "$T/pipe.req" >"$T/pipe.resp" ||
    fail "pipelined requests: no answer, or the connection was not closed after the last one"
tr -d '\r' <"$T/pipe.resp" >"$T/pipe.txt"
assert_eq 10 "$(grep -c '^HTTP/1\.1 200 OK$' "$T/pipe.txt")" "responses"
# the bodies, in the order they arrived
grep -E '^(p[0-9]|hello from backend|5 [0-9a-f]{64})$' "$T/pipe.txt" | sed 's/^5 [0-9a-f]*$/sink/; s/^hello from backend$/slow/' |
    tr '\n' ' ' | sed 's/ $//' >"$T/pipe.order"
assert_eq "p0 p1 p2 slow p4 sink p6 p7 p8 p9" "$(cat "$T/pipe.order")" "order of the responses"
wait_for_log "$T/a.out" '"GET /say/p9 HTTP/1\.1" 200 '
# the backend got them in order on B's pooled connection
grep -E '^req [0-9]+ [A-Z]+ /(say/p[0-9]|delay/300|sink)$' "$T/app.out" | awk '{ print $4 }' | tr '\n' ' ' | sed 's/ $//' >"$T/app.order"
assert_eq "/say/p0 /say/p1 /say/p2 /delay/300 /say/p4 /sink /say/p6 /say/p7 /say/p8 /say/p9" "$(cat "$T/app.order")" \
    "order the backend saw"

step "WebSocket-style Upgrade: 101 through both sidecars, then bytes both ways"
KEY=dGhlIHNhbXBsZSBub25jZQ==            # RFC 6455's example key
ACCEPT='s3pPLMBiTxaQ9kYGzzhZRbK\+xOo='        # as a regex
printf 'GET /ws HTTP/1.1\r\nHost: ws\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\nearly-bytes\n' \
    "$KEY" >"$T/ws.req"
timeout 20 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 2
    cat "$2" >&3                       # the head and bytes right behind it
    while IFS= read -r -t 5 line <&3; do
        line=${line%$'"'"'\r'"'"'}
        printf "%s\n" "$line"
        [ -n "$line" ] || break
    done
    IFS= read -r -t 5 line <&3 && printf "echo:%s\n" "$line"
    for i in 1 2 3; do
        printf "frame-%d-%s\n" "$i" "$(head -c 3000 /dev/zero | tr "\0" x)" >&3
        IFS= read -r -t 5 line <&3 && printf "echo:%s\n" "${line:0:8}:${#line}"
    done
    exec 3>&-
' _ "$P_OUT" "$T/ws.req" >"$T/ws.out" 2>"$T/ws.err" || fail "WebSocket exchange failed: $(cat "$T/ws.err")"
cat "$T/ws.out" | head -n 12
assert_eq "HTTP/1.1 101 Switching Protocols" "$(head -n 1 "$T/ws.out")" "status line"
assert_contains "$T/ws.out" '^[Uu]pgrade: websocket$'
assert_contains "$T/ws.out" '^[Cc]onnection: [Uu]pgrade$'
assert_contains "$T/ws.out" "^sec-websocket-accept: $ACCEPT\$"
assert_contains "$T/ws.out" '^echo:early-bytes$'
for i in 1 2 3; do assert_contains "$T/ws.out" "^echo:frame-$i-:3008\$"; done
wait_for_log "$T/a.out" '"GET /ws HTTP/1\.1" 101 '
wait_for_log "$T/b.out" '"GET /ws HTTP/1\.1" 101 '

step "an upgrade request answered 200 (no switch): the connection goes on as HTTP"
{
    printf 'GET /no-upgrade HTTP/1.1\r\nHost: ws\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: %s\r\n\r\n' "$KEY"
    printf 'GET /say/next HTTP/1.1\r\nHost: ws\r\nConnection: close\r\n\r\n'
} >"$T/noup.req"
timeout 15 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"; cat "$2" >&3; cat <&3' _ "$P_OUT" "$T/noup.req" >"$T/noup.resp" ||
    fail "refused upgrade: no answer to the second request, or the connection was not closed"
tr -d '\r' <"$T/noup.resp" >"$T/noup.txt"
assert_eq 2 "$(grep -c '^HTTP/1\.1 200 OK$' "$T/noup.txt")" "responses after a refused upgrade"
assert_contains "$T/noup.txt" '^hello from backend$'
assert_contains "$T/noup.txt" '^next$'

step "after the upgraded connection, the pool still serves plain requests"
for i in 1 2 3; do
    out=$(timeout 20 curl -sS -m 10 "http://127.0.0.1:$P_OUT/say/after$i") || fail "request after the upgrade failed"
    assert_eq "after$i" "$out" "body after the upgrade"
done

alive a
alive b
log "ok"
