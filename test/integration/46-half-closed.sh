#!/usr/bin/env bash
# timeouts.half_closed_ms: once one side of a relay has ended its sending
# half, no byte moving for half_closed_ms closes it (HAProxy's client-fin
# timeout): a client that sent everything and closed, towards an upstream
# that will not read what is left, no longer holds the connection and its
# buffers for the idle timeout of an hour.  A half-closed relay whose
# answer keeps coming is not cut.
. "$(dirname "$0")/lib.sh"

certs
P_STUCK=$(free_port); P_APP=$(free_port); P_L=$(free_port); P_OK=$(free_port)
P_FINUP=$(free_port); P_FIN=$(free_port)
# an upstream that accepts and never reads (a small receive buffer, so the
# kernel cannot absorb what the client sends)
spawn stuck socat "TCP-LISTEN:$P_STUCK,bind=127.0.0.1,fork,reuseaddr,rcvbuf=16384" "SYSTEM:sleep 60"
wait_port 127.0.0.1 "$P_STUCK" 10
start_backend app --listen "127.0.0.1:$P_APP" --mode http --quiet
# an upstream that answers each connection with bytes and its FIN in one
# segment (corked until the close), after the client's first bytes
cat >"$T/finup.py" <<'PY'
import socket, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", int(sys.argv[1])))
l.listen(8)
while True:
    c, _ = l.accept()
    c.recv(100)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
    c.sendall(b"last-bytes-then-the-end\n")
    c.close()
PY
spawn finup python3 "$T/finup.py" "$P_FINUP"
wait_port 127.0.0.1 "$P_FINUP" 10

sidecar_config "$T/a.yaml" client foo client
cat >>"$T/a.yaml" <<EOF2
listeners:
  - {name: stuck, direction: outbound, address: "127.0.0.1:$P_L", upstream: "127.0.0.1:$P_STUCK",
     tls: DISABLE, protocol: tcp, timeouts: {half_closed_ms: 1000}}
  - {name: slow-answer, direction: outbound, address: "127.0.0.1:$P_OK", upstream: "127.0.0.1:$P_APP",
     tls: DISABLE, protocol: tcp, timeouts: {half_closed_ms: 1000}}
  - {name: fin, direction: outbound, address: "127.0.0.1:$P_FIN", upstream: "127.0.0.1:$P_FINUP",
     tls: DISABLE, protocol: tcp}
EOF2
start_sidecar a "$T/a.yaml" "$P_L" "$P_OK" "$P_FIN"

step "1 MiB, then the client's FIN, towards an upstream that never reads"
head -c $((1024 * 1024)) /dev/zero >"$T/1m"
timeout 30 socat -u "OPEN:$T/1m" "TCP:127.0.0.1:$P_L" 2>/dev/null &
spid=$!
wait_for_log "$T/a.out" "$(conn_re listener=stuck end=half_closed_timeout)" 20
kill "$spid" 2>/dev/null || true
wait "$spid" 2>/dev/null || true
line=$(grep -a ' listener=stuck ' "$T/a.out" | tail -n 1)
log "$line"
ms=$(printf '%s\n' "$line" | sed -n 's/.* duration_ms=\([0-9]*\) .*/\1/p')
assert_le 1000 "$ms" "duration before the half-closed timeout (ms)"

step "half-closed but answering: a response 0.5 s after the client's FIN is not cut"
# the request, then the client's FIN; the backend answers after 0.5 s
out=$( { printf 'GET /delay/500 HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n'; } |
    timeout 20 socat -t 10 - "TCP:127.0.0.1:$P_OK" ) || fail "the client got no answer"
printf '%s\n' "$out" | grep -q 'hello from backend' || fail "no body: $out"
wait_for_log "$T/a.out" "$(conn_re listener=slow-answer end=peer_closed)"
step "the upstream's last bytes and its FIN together: the sidecar passes them on in one segment"
fin_watch "$P_FIN"
out=$( { printf 'hello\n'; sleep 2; } | timeout 10 socat -t 3 - "TCP:127.0.0.1:$P_FIN" ) || true
[ "$out" = last-bytes-then-the-end ] || fail "the client got: $out"
fin_assert_carries_data
wait_for_log "$T/a.out" "$(conn_re listener=fin end=peer_closed)"
alive a
