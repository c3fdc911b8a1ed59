#!/usr/bin/env bash
# The admin, health and stats servers under hostile clients.  Each answers a
# body over 64 KiB (or any body at all where the endpoint takes none) with
# 413, a head over the header limit (even one endless line) with 431, closes
# a request not complete within 5 s (slowloris), holds at most 64
# connections (more are closed at once, 300 silent ones hold no more fds than
# that), and does not grow when sent 200 MiB.  A data listener serves
# throughout.
# exclusive: measures memory and descriptors under slowloris and floods
. "$(dirname "$0")/lib.sh"

PY=
for p in /usr/bin/python3 python3; do
    if command -v "$p" >/dev/null 2>&1; then PY=$p; break; fi
done
[ -n "$PY" ] || skip "no python3"

certs
CAP=64
P_ECHO=$(free_port); P_DATA=$(free_port)
start_backend echo --listen "127.0.0.1:$P_ECHO" --mode echo --quiet

sidecar_config "$T/s.yaml" server bar server
cat >>"$T/s.yaml" <<EOF
listeners:
  - {name: data, direction: inbound, address: "127.0.0.1:$P_DATA", upstream: "127.0.0.1:$P_ECHO",
     port: 8080, protocol: tcp}
EOF
peer_auth "$T/s.yaml" PERMISSIVE bar
P_HEALTH=$(sed -n 's/^health: {address: "127.0.0.1:\([0-9]*\)"}$/\1/p' "$T/s.yaml")
P_STATS=$(sed -n 's/^stats: {address: "127.0.0.1:\([0-9]*\)"}$/\1/p' "$T/s.yaml")
[ -n "$P_HEALTH" ] && [ -n "$P_STATS" ] || fail "no health/stats port in $T/s.yaml"
start_sidecar s "$T/s.yaml" "$P_DATA" "$ADMIN_PORT" "$P_HEALTH" "$P_STATS"
PID=$(pid_of s)
trap '' PIPE

# Raw-socket clients (bash's /dev/tcp cannot tell a close from silence, nor
# hold hundreds of sockets).  Every wait is bounded.
cat >"$T/client.py" <<'EOF'
import select, socket, sys, time

def connect(port):
    return socket.create_connection(("127.0.0.1", port), timeout=5)

def closed_within(s, secs):
    """Seconds until the server closed s (EOF or reset), or None."""
    t0 = time.monotonic()
    s.setblocking(False)
    while time.monotonic() - t0 < secs:
        r, _, _ = select.select([s], [], [], min(0.2, max(0.0, secs - (time.monotonic() - t0))))
        if r:
            try:
                if s.recv(65536) == b"":
                    return time.monotonic() - t0
            except (ConnectionResetError, BrokenPipeError):
                return time.monotonic() - t0
            except BlockingIOError:
                pass
    return None

def is_closed(s):
    """The server closed s (EOF or reset); s is non-blocking."""
    try:
        return s.recv(65536) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except BlockingIOError:
        return False

def status_of(data):
    line = data.split(b"\r\n", 1)[0].decode("latin-1")
    return line.split(" ")[1] if line.startswith("HTTP/1.") and " " in line else "none"

def send_until_answer(s, first, filler, total, secs):
    """Sends first, then filler bytes up to total; returns (status, filler
    bytes sent) as soon as a response head arrives, or when total/secs is
    reached."""
    sent, got, t0 = -len(first), b"", time.monotonic()
    s.setblocking(False)
    pending = first
    while time.monotonic() - t0 < secs:
        w = [s] if (pending or sent < total) else []
        r, wr, _ = select.select([s], w, [], 0.2)
        if r:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                break
            if chunk == b"":
                break
            got += chunk
            if b"\r\n" in got:
                break
        if wr:
            if not pending:
                pending = filler[: min(len(filler), total - sent)]
            try:
                n = s.send(pending)
            except (ConnectionResetError, BrokenPipeError):
                break
            except BlockingIOError:
                n = 0
            pending = pending[n:]
            sent += n
    return status_of(got), sent

cmd, port = sys.argv[1], int(sys.argv[2])
if cmd == "endless-line":
    # a header line that never ends: 1 MiB without a line break
    s = connect(port)
    head = b"GET /healthz/ready HTTP/1.1\r\nHost: x\r\nX-Long: "
    st, sent = send_until_answer(s, head, b"a" * 16384, 1 << 20, 10)
    print(st, sent)
elif cmd == "bigpost":
    # POST PATH with Content-Length BYTES, streamed from memory-light chunks
    path, total = sys.argv[3], int(sys.argv[4])
    s = connect(port)
    head = ("POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (path, total)).encode()
    st, sent = send_until_answer(s, head, b"\0" * 65536, total, 20)
    print(st, sent)
elif cmd == "slowloris":
    # an incomplete head, then one byte a second: seconds until closed
    s = connect(port)
    s.sendall(b"GET /healthz/ready HTTP/1.1\r\nHost: x\r\n")
    t0 = time.monotonic()
    for i in range(15):
        try:
            s.send(b"X")
        except OSError:
            break
        left = closed_within(s, 1)
        if left is not None:
            print("%.1f" % (time.monotonic() - t0))
            sys.exit(0)
    print("open")
elif cmd == "hold":
    # opens N silent connections; prints how many the server closed at once
    # (waiting up to 3 s for N - CAP of them, well before its 5 s timeout),
    # then, after the caller's go-ahead (a line on stdin), how many of the
    # rest it closed within 12 s of their opening, and when the last went.
    n, cap = int(sys.argv[3]), int(sys.argv[4])
    socks = [connect(port) for _ in range(n)]
    t0 = time.monotonic()
    for s in socks:
        s.setblocking(False)
    closed = set()
    while time.monotonic() - t0 < 3 and len(closed) < n - cap:
        r, _, _ = select.select([s for s in socks if s not in closed], [], [], 0.1)
        closed.update(s for s in r if is_closed(s))
    time.sleep(0.2)
    closed.update(s for s in socks if s not in closed and is_closed(s))
    rest = [s for s in socks if s not in closed]
    print("early", len(closed), flush=True)
    sys.stdin.readline()
    late, slowest = 0, 0.0
    deadline = t0 + 12
    for s in rest:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        d = closed_within(s, left)
        if d is not None:
            late += 1
            slowest = max(slowest, time.monotonic() - t0)
    print("closed", late, len(rest), "%.1f" % slowest, flush=True)
else:
    sys.exit("unknown command " + cmd)
EOF

data_serves() { # TAG: one echo through the data listener
    printf 'data-%s\n' "$1" | tcp_client 127.0.0.1 "$P_DATA" 1 >"$T/data.reply" || true
    assert_contains "$T/data.reply" "^data-$1\$"
}

code() { # curl ARGS...: prints the status code (000: no answer)
    curl -sS -m 10 -o /dev/null -w '%{http_code}' "$@" 2>/dev/null || true
}

step "warm-up: every server answers, the data listener serves"
assert_eq 200 "$(code "http://127.0.0.1:$P_HEALTH/healthz/ready")" "health"
assert_eq 200 "$(code "http://127.0.0.1:$P_STATS/stats/prometheus")" "stats"
assert_eq 200 "$(code "http://127.0.0.1:$ADMIN_PORT/stats")" "admin /stats"
data_serves warmup
sleep 0.5
fd0=$(fd_count "$PID")
rss0=$(rss_kb "$PID")
log "baseline: $fd0 fds, $rss0 kB RSS"

step "bodies: 413 over 64 KiB, and wherever the endpoint takes none"
head -c $((64 * 1024)) /dev/zero >"$T/64k"
head -c $((64 * 1024 + 1)) /dev/zero >"$T/64k1"
assert_eq 413 "$(code --data-binary x "http://127.0.0.1:$P_HEALTH/healthz/ready")" "health, 1-byte body"
assert_eq 413 "$(code --data-binary x "http://127.0.0.1:$P_STATS/stats/prometheus")" "stats, 1-byte body"
assert_eq 413 "$(code --data-binary x "http://127.0.0.1:$ADMIN_PORT/certs")" "admin GET-only endpoint, 1-byte body"
assert_eq 200 "$(code --data-binary @"$T/64k" "http://127.0.0.1:$ADMIN_PORT/logging?level=info")" "POST /logging, 64 KiB body"
assert_eq 413 "$(code --data-binary @"$T/64k1" "http://127.0.0.1:$ADMIN_PORT/logging?level=info")" "POST /logging, 64 KiB + 1 body"
assert_eq 413 "$(code -H 'Transfer-Encoding: chunked' --data-binary @"$T/64k1" \
    "http://127.0.0.1:$ADMIN_PORT/logging?level=info")" "POST /logging, chunked 64 KiB + 1"
assert_eq 200 "$(code -X POST "http://127.0.0.1:$ADMIN_PORT/logging?level=info")" "POST /logging, no body"

step "headers: 431 over the limit, and for a line that never ends"
big=$(head -c 20000 /dev/zero | tr '\0' a)
assert_eq 431 "$(code -H "X-Big: $big" "http://127.0.0.1:$P_HEALTH/healthz/ready")" "health, 20 kB header"
assert_eq 431 "$(code -H "X-Big: $big" "http://127.0.0.1:$ADMIN_PORT/stats")" "admin, 20 kB header"
read -r st sent < <(timeout 30 "$PY" "$T/client.py" endless-line "$P_HEALTH")
log "endless header line: status $st ($sent bytes sent by then)"
assert_eq 431 "$st" "endless header line"

step "200 MiB POST to health: 413 at once, no growth"
read -r st sent < <(timeout 40 "$PY" "$T/client.py" bigpost "$P_HEALTH" /healthz/ready $((200 << 20)))
log "200 MiB POST: status $st after $sent bytes"
assert_eq 413 "$st" "200 MiB POST"
alive s
sleep 0.5
rss1=$(rss_kb "$PID")
log "RSS after the POST: $rss1 kB (baseline $rss0 kB)"
if sanitized; then
    log "sanitizer build: RSS not judged"
else
    assert_le $((rss1 - rss0)) 8192 "RSS growth (kB) after a 200 MiB POST"
fi

step "slowloris: an incomplete request is closed after ~5 s"
"$PY" "$T/client.py" slowloris "$P_HEALTH" >"$T/loris.health" &
lp1=$!
"$PY" "$T/client.py" slowloris "$ADMIN_PORT" >"$T/loris.admin" &
lp2=$!
data_serves during-slowloris
wait "$lp1" || true
wait "$lp2" || true
for f in health admin; do
    s=$(cat "$T/loris.$f")
    log "slowloris on $f: closed after $s s"
    [ "$s" != open ] || fail "slowloris on $f: still open after 15 s"
    awk -v s="$s" 'BEGIN { exit !(s >= 4 && s <= 12) }' || fail "slowloris on $f: closed after $s s, not within 4..12 s"
done

step "300 silent connections to health: $CAP held, the rest closed at once"
coproc HOLD { timeout 40 "$PY" "$T/client.py" hold "$P_HEALTH" 300 "$CAP" 2>&1; }
read -r -t 20 what early <&"${HOLD[0]}" || fail "hold: no answer"
assert_eq early "$what" "hold output"
log "closed at once: $early of 300"
assert_eq $((300 - CAP)) "$early" "connections beyond the cap closed at once"
fds=$(fd_count "$PID")
log "sidecar fds while held: $fds (baseline $fd0)"
assert_le "$fds" $((fd0 + CAP + 4)) "fds while 300 connections are attempted"
assert_eq 000 "$(code -m 3 "http://127.0.0.1:$P_HEALTH/healthz/ready")" "health over its cap"
assert_eq 200 "$(code "http://127.0.0.1:$P_STATS/stats/prometheus")" "stats while health is at its cap"
assert_eq 200 "$(code "http://127.0.0.1:$ADMIN_PORT/stats")" "admin while health is at its cap"
data_serves during-cap
echo go >&"${HOLD[1]}"
read -r -t 20 what late held slowest <&"${HOLD[0]}" || fail "hold: no final answer"
log "held connections closed by the sidecar: $late of $held, the last after $slowest s"
assert_eq "$held" "$late" "held connections closed within 12 s"
wait "$HOLD_PID" 2>/dev/null || true
assert_contains "$T/s.err" 'warn health server: 64 connections open \(the cap\); closed [0-9]+ new one'
assert_le "$(count_lines "$T/s.err" 'connections open \(the cap\)')" 2 "WARN lines about the cap"

step "afterwards: every server answers, nothing leaked"
assert_eq 200 "$(code "http://127.0.0.1:$P_HEALTH/healthz/ready")" "health after"
assert_eq 200 "$(code "http://127.0.0.1:$P_STATS/stats/prometheus")" "stats after"
data_serves after
i=0
while [ "$(fd_count "$PID")" -gt "$fd0" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
assert_le "$(fd_count "$PID")" "$fd0" "fds after the attack"
alive s
