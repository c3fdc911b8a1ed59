#!/usr/bin/env bash
# limits.max_connections: a listener holds at most that many open
# connections per worker; beyond, new ones are closed at once, counted in
# sidecar_connections_overflow_total and said in one WARN line (at most
# every 10 s), and once some close, new ones are served again.  Silent
# connections to a STRICT port wait for their handshake (handshake_ms), so
# they fill the listener.
# exclusive: opens thousands of connections and measures memory
. "$(dirname "$0")/lib.sh"

certs
MAX=40
EXTRA=25
P_APP=$(free_port); P_IN=$(free_port)
start_backend app --listen "127.0.0.1:$P_APP" --mode echo --quiet
HS_MS=30000 sidecar_config "$T/b.yaml" server bar server
cat >>"$T/b.yaml" <<EOF2
limits: {max_connections: $MAX}
listeners:
  - {name: in, direction: inbound, address: "127.0.0.1:$P_IN", upstream: "127.0.0.1:$P_APP",
     port: 8080, protocol: tcp}
EOF2
peer_auth "$T/b.yaml" STRICT bar
B_STATS=$(sed -n 's/^stats: {address: "\(.*\)"}/\1/p' "$T/b.yaml")
start_sidecar b "$T/b.yaml" "$P_IN"
metric() {
    curl -sS -m 5 "http://$B_STATS/stats/prometheus" | awk -v k="$1" '$1 == k { v = $2 } END { print v + 0 }'
}

step "$((MAX + EXTRA)) silent connections: $MAX held, $EXTRA closed at once"
cat >"$T/hold.py" <<'PY'
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(n)]
time.sleep(1.5)
closed = 0
for s in socks:
    s.setblocking(False)
    try:
        if s.recv(1) == b"":
            closed += 1
    except BlockingIOError:
        pass
    except OSError:
        closed += 1
print("closed", closed, flush=True)
sys.stdin.read()          # hold the rest until told
PY
coproc HOLD { python3 "$T/hold.py" "$P_IN" $((MAX + EXTRA)); }
read -r -t 20 word closed <&"${HOLD[0]}" || fail "the client did not report"
log "closed at once by the sidecar: $closed"
assert_eq "$EXTRA" "$closed" "connections closed beyond max_connections"
assert_eq "$EXTRA" "$(metric sidecar_connections_overflow_total)" "sidecar_connections_overflow_total"
assert_eq 1 "$(count_lines "$T/b.err" 'listener in: 40 connections open \(limits\.max_connections\)')" "WARN lines"

step "a mesh client is refused while the listener is full, served once it drains"
out=$(printf 'full?\n' | mesh_client "127.0.0.1:$P_IN" client istio 1 2>/dev/null || true)
assert_ne "full?" "$out" "answer while full"
exec {HOLD[1]}>&-                        # the silent clients go
wait "$HOLD_PID" 2>/dev/null || true
for _ in $(seq 50); do
    out=$(printf 'again\n' | mesh_client "127.0.0.1:$P_IN" client istio 1 2>/dev/null || true)
    [ "$out" = again ] && break
    sleep 0.2
done
assert_eq again "$out" "echo through the listener once it drained"
