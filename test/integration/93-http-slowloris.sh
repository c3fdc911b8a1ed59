#!/usr/bin/env bash
# HTTP/1.1 at L7: slowloris.  Ten clients each send a request head one byte
# per second to a sidecar with one worker and request_headers_ms 2000: each
# is answered 408 and cut off about 2 s after its first byte, while other
# clients of the same worker keep getting prompt answers meanwhile.
. "$(dirname "$0")/lib.sh"

certs
SLOW=10
HEADERS_MS=2000

P_APP=$(free_port); P_OUT=$(free_port)
start_backend app --listen "127.0.0.1:$P_APP" --mode http --quiet

sidecar_config "$T/s.yaml" client foo client
sed -i "s/^timeouts: {/timeouts: {request_headers_ms: $HEADERS_MS, /" "$T/s.yaml"
cat >>"$T/s.yaml" <<EOF
listeners:
  - {name: out, direction: outbound, address: "127.0.0.1:$P_OUT", upstream: "127.0.0.1:$P_APP",
     tls: DISABLE, protocol: http}
EOF
start_sidecar s "$T/s.yaml" "$P_OUT"

# slow_client N: sends a request head one byte per second, and records what
# came back and when the connection ended (ms after the first byte).
slow_client() {
    local n=$1
    timeout 30 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 2
        req=$(printf "GET /slow-%s HTTP/1.1\r\nHost: slowloris\r\nUser-Agent: slow\r\nX-Padding: aaaaaaaaaaaaaaaa\r\n\r\n" "$2")
        t0=$(date +%s%N)
        ( trap "" PIPE
          for ((i = 0; i < ${#req}; i++)); do
              printf "%s" "${req:i:1}" >&3 2>/dev/null || exit 0
              sleep 1
          done ) &
        cat <&3 >"$3"
        echo $((($(date +%s%N) - t0) / 1000000)) >"$3.ms"
        kill $! 2>/dev/null
        exit 0
    ' _ "$P_OUT" "$n" "$T/slow.$n" 2>"$T/slow.$n.err"
}

step "$SLOW clients send their heads one byte per second"
pids=()
for ((n = 0; n < SLOW; n++)); do
    slow_client "$n" &
    pids+=($!)
done

step "meanwhile other clients are answered promptly"
sleep 0.3
max=0
for ((i = 0; i < 15; i++)); do
    out=$(timeout 10 curl -sS -m 5 -o /dev/null -w '%{http_code} %{time_total}' "http://127.0.0.1:$P_OUT/fast-$i") ||
        fail "a fast client failed while the slow ones were connected"
    code=${out% *}
    ms=$(awk -v t="${out#* }" 'BEGIN { printf "%d", t * 1000 }')
    assert_eq 200 "$code" "fast request $i"
    if [ "$ms" -gt "$max" ]; then max=$ms; fi
    sleep 0.1
done
log "slowest of 15 concurrent fast requests: ${max} ms"
assert_le "$max" 1000 "slowest fast request (ms)"

step "each slow client got 408 and was cut off at about ${HEADERS_MS} ms"
for p in "${pids[@]}"; do wait "$p" || true; done
for ((n = 0; n < SLOW; n++)); do
    [ -s "$T/slow.$n.ms" ] || fail "slow client $n: still connected after 30 s"
    ms=$(cat "$T/slow.$n.ms")
    status=$(head -n 1 "$T/slow.$n" | tr -d '\r')
    assert_eq "HTTP/1.1 408 Request Timeout" "$status" "slow client $n: status line"
    grep -a -q -i '^connection: close' "$T/slow.$n" || fail "slow client $n: the 408 does not say 'connection: close'"
    assert_le $((HEADERS_MS - 100)) "$ms" "slow client $n: cut off after (ms)"
    assert_le "$ms" $((HEADERS_MS + 1500)) "slow client $n: cut off after (ms)"
done
log "slow clients cut off after $(cat "$T"/slow.*.ms | sort -n | head -n 1)..$(cat "$T"/slow.*.ms | sort -n | tail -n 1) ms"

step "the access log shows the 408s and the fast requests"
wait_for_count "$T/s.out" '" 408 ' "$SLOW" 5
assert_eq 15 "$(count_lines "$T/s.out" '"GET /fast-[0-9]+ HTTP/1\.1" 200 ')" "fast requests logged"

alive s
log "ok"
