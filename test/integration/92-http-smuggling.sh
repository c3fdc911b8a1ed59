#!/usr/bin/env bash
# HTTP/1.1 at L7: request smuggling.  Each malformed request goes as raw
# bytes over one TCP connection to sidecar A (outbound, protocol http, mTLS
# to sidecar B, then the backend); each must get exactly one 400 and a
# closed connection, and the backend must see none of them (nor the request
# hidden behind them).  The cases: Content-Length with Transfer-Encoding,
# differing duplicate Content-Length, a Transfer-Encoding whose last coding
# is not chunked, an invalid chunk size, obs-fold, a bare CR.  One case also
# goes straight to B over mTLS (a misbehaving mesh peer).
. "$(dirname "$0")/lib.sh"

certs

P_APP=$(free_port); P_IN=$(free_port); P_OUT=$(free_port)
start_backend app --listen "127.0.0.1:$P_APP" --mode http

mesh_pair http "127.0.0.1:$P_APP"

# raw_http PORT BYTES OUT: sends BYTES (printf %b escapes) in one write(2)
# on a new connection (bash's printf would write line by line: cat writes
# the file at once) and reads until the server closes (5 s at most).  OUT
# gets the answer; RAW_RC is 0 when the server closed, 124 when it kept the
# connection open.
# One write matters for the body-level case (an invalid chunk size): a proxy
# that streams bodies has forwarded the head before a later segment turns
# out broken (Envoy too); what arrives together never leaves.
raw_http() {
    RAW_RC=0
    printf '%b' "$2" >"$3.req"
    timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 2; cat "$2" >&3; cat <&3' \
        _ "$1" "$3.req" >"$3" 2>"$3.err" || RAW_RC=$?
}

step "a well-formed request through the pair first (the pool is warm)"
code=$(timeout 20 curl -sS -m 10 -o "$T/ok.body" -w '%{http_code}' "http://127.0.0.1:$P_OUT/warm") ||
    fail "curl through the pair failed"
assert_eq 200 "$code" "status"
wait_for_log "$T/app.out" '^req [0-9]+ GET /warm$'

HIDDEN='GET /hidden HTTP/1.1\r\nHost: x\r\n\r\n'
names=(cl-te dup-cl te-not-chunked te-gzip bad-chunk-size chunk-size-overflow obs-fold bare-cr bare-cr-line)
reqs=(
    # Content-Length and Transfer-Encoding together (the classic CL.TE / TE.CL)
    "POST /s-cl-te HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n$HIDDEN"
    # two Content-Length values that differ
    "POST /s-dup-cl HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 39\r\n\r\nhello$HIDDEN"
    # Transfer-Encoding whose last coding is not chunked
    "POST /s-te-not-chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n$HIDDEN"
    "POST /s-te-gzip HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n$HIDDEN"
    # invalid chunk sizes
    "POST /s-bad-chunk-size HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n$HIDDEN"
    "POST /s-chunk-size-overflow HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\nhello\r\n0\r\n\r\n$HIDDEN"
    # obs-fold (a header line continued on the next line)
    "GET /s-obs-fold HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n$HIDDEN"
    # bare CR in a header value, and ending the request line
    "GET /s-bare-cr HTTP/1.1\r\nHost: x\r\nX-Bare: a\rb\r\n\r\n$HIDDEN"
    "GET /s-bare-cr-line HTTP/1.1\rHost: x\r\n\r\n$HIDDEN"
)

for i in "${!names[@]}"; do
    n=${names[$i]}
    step "smuggling case '$n': 400 and the connection closed"
    raw_http "$P_OUT" "${reqs[$i]}" "$T/$n.resp"
    [ "$RAW_RC" = 124 ] && fail "case $n: the sidecar kept the connection open"
    head -n 1 "$T/$n.resp" | tr -d '\r' >"$T/$n.status"
    assert_eq "HTTP/1.1 400 Bad Request" "$(cat "$T/$n.status")" "case $n: status line"
    assert_eq 1 "$(grep -a -c '^HTTP/1' "$T/$n.resp")" "case $n: responses"
    grep -a -q -i '^connection: close' "$T/$n.resp" || fail "case $n: the 400 does not say 'connection: close'"
    wait_for_log "$T/a.out" "\"[A-Z]+ /s-$n HTTP/1\\.1\" 400 DPE |\"- - -\" 400 DPE " 5
done

step "a valid request, then a smuggling one pipelined behind it: 200, then 400 and close"
raw_http "$P_OUT" "GET /say/first HTTP/1.1\r\nHost: x\r\n\r\nPOST /s-behind HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n$HIDDEN" \
    "$T/behind.resp"
[ "$RAW_RC" = 124 ] && fail "pipelined case: the sidecar kept the connection open"
tr -d '\r' <"$T/behind.resp" | grep -a -E '^(HTTP/1\.1 [0-9]+ .*|first)$' | tr '\n' '|' >"$T/behind.seq"
assert_eq "HTTP/1.1 200 OK|first|HTTP/1.1 400 Bad Request|" "$(cat "$T/behind.seq")" "pipelined case: responses"
wait_for_log "$T/app.out" '^req [0-9]+ GET /say/first$'

step "a smuggling case straight to B over mTLS (a misbehaving mesh peer)"
printf 'POST /s-mesh HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /hidden HTTP/1.1\r\nHost: x\r\n\r\n' |
    mesh_client "127.0.0.1:$P_IN" client istio-http/1.1 1 >"$T/mesh.resp" 2>"$T/mesh.err" || true
assert_eq "HTTP/1.1 400 Bad Request" "$(head -n 1 "$T/mesh.resp" | tr -d '\r')" "mTLS case: status line"
assert_eq 1 "$(grep -a -c '^HTTP/1' "$T/mesh.resp")" "mTLS case: responses"

step "after all that, a well-formed request still works"
code=$(timeout 20 curl -sS -m 10 -o "$T/ok2.body" -w '%{http_code}' "http://127.0.0.1:$P_OUT/after") ||
    fail "curl after the smuggling cases failed"
assert_eq 200 "$code" "status"
wait_for_log "$T/app.out" '^req [0-9]+ GET /after$'

step "the backend saw none of the malformed requests, nor the hidden one"
assert_not_contains "$T/app.out" '^req [0-9]+ [A-Z]+ /s-'
assert_not_contains "$T/app.out" '^req [0-9]+ GET /hidden'
assert_eq 3 "$(count_lines "$T/app.out" '^req ')" "requests the backend saw (warm, first, after)"

step "A counted every 400 as DPE"
curl -sS -m 5 "http://$A_STATS/stats/prometheus" >"$T/a.prom"
got=$(awk '/^sidecar_requests_total\{/ && /response_code="400"/ && /response_flags="DPE"/ { s += $2 } END { print s + 0 }' "$T/a.prom")
assert_eq $((${#names[@]} + 1)) "$got" "A's requests_total 400 DPE"

alive a
alive b
log "ok"
