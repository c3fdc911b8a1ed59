#!/usr/bin/env bash
# HTTP/1.1 at L7: bodies stream through the sidecar pair (A: outbound http,
# mTLS to B: inbound STRICT http, then the backend) without being buffered:
#  - 1 GiB down (Content-Length) and 1 GiB up (chunked, curl -T -): the
#    sha256 sums match, and neither sidecar's peak RSS grows by 16 MiB or
#    more.  Under a sanitizer RSS is not judged (ASan's shadow and
#    quarantine are not the sidecar's memory), so the size is 256 MiB under
#    ASan and 128 MiB under ThreadSanitizer: streaming is proven as well,
#    and the test does not depend on how loaded the machine is.  The
#    listeners' request timeout is the time the test gives each transfer
#    (230 s), not the default 15 s, which a loaded 2-core machine running
#    ASan could not always meet for 1 GiB;
#  - a chunked response, a response delimited by the connection closing,
#    a Content-Length upload;
#  - Expect: 100-continue with a body: the 100 comes back, then the 200;
#  - HTTP/1.0: answered as HTTP/1.0 expects (Content-Length, then close);
#  - HEAD: the head only (Content-Length of the full body), keep-alive goes on.
# exclusive: moves a GiB and measures peak memory
. "$(dirname "$0")/lib.sh"

certs
case $SC_BUILD in
*san-thread*) SIZE=128m; SIZE_BYTES=$((128 * 1024 * 1024)) ;;
*san-*) SIZE=256m; SIZE_BYTES=$((256 * 1024 * 1024)) ;;
*) SIZE=1g; SIZE_BYTES=$((1024 * 1024 * 1024)) ;;
esac
# each transfer gets 230 s (curl -m), and so does its request at the sidecars
REQUEST_MS=230000
RSS_LIMIT_KB=$((16 * 1024))

P_APP=$(free_port); P_OUT=$(free_port)
start_backend app --listen "127.0.0.1:$P_APP" --mode http

mesh_pair http "127.0.0.1:$P_APP" in_extra=", timeouts: {request_ms: $REQUEST_MS}" \
    out_extra=",
     timeouts: {request_ms: $REQUEST_MS}"
URL=http://127.0.0.1:$P_OUT

hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
# wait_file FILE: waits (5 s at most) until FILE is not empty (the sha256sum
# behind a curl -o >(...) finishes after curl).
wait_file() {
    local i=0
    while [ ! -s "$1" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
}

step "warm up: small requests of every kind through the pair"
for ((i = 0; i < 5; i++)); do
    timeout 20 curl -sS -m 10 -o /dev/null "$URL/bytes/256k" || fail "warm-up download failed"
    timeout 20 curl -sS -m 10 -o /dev/null -H 'Expect:' --data-binary @/dev/null "$URL/sink" || fail "warm-up upload failed"
done
(backend_sum=$("$BACKEND" --gen "$SIZE" | sha256sum | cut -d' ' -f1); echo "$backend_sum" >"$T/expected.sum") &
sum_pid=$!
rss_a0=$(rss_kb "$(pid_of a)"); rss_b0=$(rss_kb "$(pid_of b)")
log "RSS before: A ${rss_a0} KiB, B ${rss_b0} KiB"

step "$SIZE down through the pair (Content-Length framed)"
t0=$(date +%s%N)
timeout 240 curl -sS -m 230 -o >(sha256sum | cut -d' ' -f1 >"$T/down.sum") \
    -w '%{http_code} %{size_download}\n' "$URL/bytes/$SIZE" >"$T/down.out" 2>"$T/down.err" ||
    fail "download failed: $(cat "$T/down.err")"
ms=$((($(date +%s%N) - t0) / 1000000))
log "down: $(cat "$T/down.out") in ${ms} ms"
assert_eq "200 $SIZE_BYTES" "$(cat "$T/down.out")" "download status and size"
wait "$sum_pid" || fail "computing the expected sha256 failed"
wait_file "$T/down.sum"
assert_eq "$(cat "$T/expected.sum")" "$(cat "$T/down.sum")" "sha256 of the download"

step "$SIZE up through the pair (chunked, curl -T -)"
t0=$(date +%s%N)
"$BACKEND" --gen "$SIZE" | timeout 240 curl -sS -m 230 -T - -o "$T/up.body" -w '%{http_code}' "$URL/sink" \
    >"$T/up.code" 2>"$T/up.err" || fail "upload failed: $(cat "$T/up.err")"
ms=$((($(date +%s%N) - t0) / 1000000))
log "up: $(cat "$T/up.code") $(cat "$T/up.body") in ${ms} ms"
assert_eq 200 "$(cat "$T/up.code")" "upload status"
assert_eq "$SIZE_BYTES $(cat "$T/expected.sum")" "$(cat "$T/up.body")" "bytes and sha256 the backend received"

step "RSS of both sidecars grew by less than $((RSS_LIMIT_KB / 1024)) MiB"
hwm_a=$(hwm_kb "$(pid_of a)"); hwm_b=$(hwm_kb "$(pid_of b)")
log "peak RSS: A ${hwm_a} KiB (+$((hwm_a - rss_a0))), B ${hwm_b} KiB (+$((hwm_b - rss_b0)))"
if sanitized; then
    log "sanitizer build: RSS not judged"
else
    assert_le $((hwm_a - rss_a0)) "$RSS_LIMIT_KB" "A's RSS growth (KiB)"
    assert_le $((hwm_b - rss_b0)) "$RSS_LIMIT_KB" "B's RSS growth (KiB)"
fi

step "a chunked response (1 MiB) comes through intact"
timeout 20 curl -sS -m 10 -D "$T/chunked.h" -o >(sha256sum | cut -d' ' -f1 >"$T/chunked.sum") "$URL/chunked/1m" ||
    fail "chunked download failed"
assert_contains "$T/chunked.h" '^HTTP/1\.1 200'
assert_contains "$T/chunked.h" '^transfer-encoding: chunked'
want=$("$BACKEND" --gen 1m | sha256sum | cut -d' ' -f1)
wait_file "$T/chunked.sum"
assert_eq "$want" "$(cat "$T/chunked.sum")" "sha256 of the chunked download"

step "a response delimited by the backend closing arrives whole, then the client's connection closes"
timeout 20 curl -sS -m 10 -v -o "$T/eof.body" "$URL/eof" 2>"$T/eof.v" || fail "EOF-delimited response failed"
assert_eq "hello from backend" "$(cat "$T/eof.body")" "EOF-delimited body"
assert_contains "$T/eof.v" '^< [Cc]onnection: close'

step "a Content-Length upload (3 MiB)"
"$BACKEND" --gen 3m >"$T/3m"
out=$(timeout 20 curl -sS -m 10 -H 'Expect:' --data-binary "@$T/3m" "$URL/sink") || fail "Content-Length upload failed"
assert_eq "$((3 * 1024 * 1024)) $(sha256sum <"$T/3m" | cut -d' ' -f1)" "$out" "Content-Length upload"

step "Expect: 100-continue: the 100 comes back first, then the answer"
timeout 20 curl -sS -m 10 -v -H 'Expect: 100-continue' --expect100-timeout 5 --data-binary "@$T/3m" \
    -o "$T/expect.body" "$URL/sink" 2>"$T/expect.v" || fail "Expect: 100-continue upload failed"
assert_contains "$T/expect.v" '^< HTTP/1\.1 100 Continue'
assert_contains "$T/expect.v" '^< HTTP/1\.1 200 OK'
assert_eq "$((3 * 1024 * 1024)) $(sha256sum <"$T/3m" | cut -d' ' -f1)" "$(cat "$T/expect.body")" "upload after 100-continue"
# the 100 came before the 200, and curl waited for it (it did not time out)
assert_not_contains "$T/expect.v" 'Done waiting for 100-continue'
[ "$(grep -n '^< HTTP/1\.1 100' "$T/expect.v" | cut -d: -f1)" -lt "$(grep -n '^< HTTP/1\.1 200' "$T/expect.v" | cut -d: -f1)" ] ||
    fail "the 100 Continue came after the final response"

step "HTTP/1.0: a complete answer, and the connection closes after it"
timeout 20 curl -sS -m 10 -0 -v -o "$T/h10.body" "$URL/say/ten" 2>"$T/h10.v" || fail "HTTP/1.0 request failed"
assert_eq "ten" "$(cat "$T/h10.body")" "HTTP/1.0 body"
assert_contains "$T/h10.v" '^< HTTP/1\.[01] 200'
assert_contains "$T/h10.v" '^< content-length: 4'
assert_not_contains "$T/h10.v" '^< transfer-encoding'
# raw: the server closes after the answer (no keep-alive asked)
printf 'GET /say/raw10 HTTP/1.0\r\n\r\n' >"$T/h10.req"
timeout 10 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"; cat "$2" >&3; cat <&3' _ "$P_OUT" "$T/h10.req" >"$T/h10.raw" ||
    fail "the sidecar did not close an HTTP/1.0 connection after the answer"
assert_contains "$T/h10.raw" '^raw10$'
# HTTP/1.0 with keep-alive: two requests on one connection
timeout 20 curl -sS -m 10 -0 -H 'Connection: keep-alive' -w '%{num_connects}\n' -o /dev/null -o /dev/null \
    "$URL/say/k1" "$URL/say/k2" >"$T/h10ka" || fail "HTTP/1.0 keep-alive requests failed"
assert_eq "1 0" "$(tr '\n' ' ' <"$T/h10ka" | sed 's/ $//')" "connections for two HTTP/1.0 keep-alive requests"
wait_for_log "$T/a.out" '"GET /say/k2 HTTP/1\.0" 200 '

step "HEAD: the head only, with the body's Content-Length; the connection carries on"
timeout 20 curl -sS -m 10 -I -w 'connects=%{num_connects}\n' "$URL/bytes/1m" "$URL/bytes/2m" >"$T/head.out" ||
    fail "HEAD requests failed"
tr -d '\r' <"$T/head.out" >"$T/head.txt"
assert_eq 2 "$(count_lines "$T/head.txt" '^HTTP/1\.1 200 OK$')" "HEAD responses"
assert_contains "$T/head.txt" '^content-length: 1048576$'
assert_contains "$T/head.txt" '^content-length: 2097152$'
assert_eq "connects=1 connects=0" "$(grep '^connects=' "$T/head.txt" | tr '\n' ' ' | sed 's/ $//')" "connections for two HEADs"
wait_for_log "$T/a.out" '"HEAD /bytes/2m HTTP/1\.1" 200 - 0 0 '

alive a
alive b
log "ok"
