#!/usr/bin/env bash
# HTTP/1.1 at L7: after a complete exchange that ends the connection
# (Connection: close) with nothing of the client's left unread, the sidecar
# closes at once, as nginx does: its connection line is written while the
# client still holds its end.  With unread request bytes (a pipelined
# request behind the one that closes), it keeps the lingering close: it
# shuts its side and reads until the client closes (2 s at most), so the
# reply in flight is not reset.  The reply's last bytes and the FIN leave
# in one TCP segment (seen with tcpdump on lo): one wake-up and one ACK
# fewer for the client.
. "$(dirname "$0")/lib.sh"

certs
P_APP=$(free_port); P_L=$(free_port)
start_backend app --listen "127.0.0.1:$P_APP" --mode http --quiet
sidecar_config "$T/a.yaml" client foo client
cat >>"$T/a.yaml" <<EOF2
listeners:
  - {name: out, direction: outbound, address: "127.0.0.1:$P_L", upstream: "127.0.0.1:$P_APP",
     tls: DISABLE, protocol: http}
EOF2
start_sidecar a "$T/a.yaml" "$P_L"

# ask REQUEST_BYTES: sends them, reads the answer, then holds the
# connection open for 3 s (a client slow to close)
ask() {
    { printf "$1"; sleep 3; } | timeout 10 socat -t 4 - "TCP:127.0.0.1:$P_L" >"$T/answer" 2>/dev/null &
}

step "a complete exchange with Connection: close: closed at once"
ask 'GET /say/one HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n'
cpid=$!
wait_for_log "$T/a.out" "$(conn_re listener=out end=http_connection_close)" 2
kill -0 "$cpid" 2>/dev/null || fail "the client was gone before the line was written"
wait "$cpid" 2>/dev/null || true
grep -q '^one' "$T/answer" || fail "no answer: $(cat "$T/answer")"
line=$(grep -a ' listener=out ' "$T/a.out" | tail -n 1)
ms=$(printf '%s\n' "$line" | sed -n 's/.* duration_ms=\([0-9]*\) .*/\1/p')
log "$line"
assert_le "$ms" 2000 "connection duration (ms) while the client held on for 3 s"

step "the reply's last bytes and the sidecar's FIN leave in one segment"
fin_watch "$P_L"
ask 'GET /say/four HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n'
cpid=$!
fin_assert_carries_data
wait "$cpid" 2>/dev/null || true
grep -q '^four' "$T/answer" || fail "no answer: $(cat "$T/answer")"

step "a pipelined request behind it: the lingering close waits for the client"
ask 'GET /say/two HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\nGET /say/three HTTP/1.1\r\nHost: app\r\n\r\n'
cpid=$!
wait "$cpid" 2>/dev/null || true
grep -q '^two' "$T/answer" || fail "no answer: $(cat "$T/answer")"
wait_for_count "$T/a.out" "$(conn_re listener=out end=http_connection_close)" 3 10
line=$(grep -a ' listener=out ' "$T/a.out" | tail -n 1)
ms=$(printf '%s\n' "$line" | sed -n 's/.* duration_ms=\([0-9]*\) .*/\1/p')
log "$line"
# it reads until the client closes, for 2 s at most (the linger's bound)
assert_le 1500 "$ms" "connection duration (ms): it lingered"
