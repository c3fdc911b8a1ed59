#!/usr/bin/env bash
# bench/idle-memory.sh — memory per idle proxied connection, at L4 and L7:
# N clients (default 5000) each open a connection through a sidecar pair
# (plain → A → mTLS → B → backend), exchange once (a line echoed at L4, one
# keep-alive GET at L7) and stay open.  Prints each sidecar's RSS before and
# after, and the delta divided by N.  Also the RSS of an idle sidecar.
#
#   bench/idle-memory.sh [-n CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
N=5000
while getopts "n:" o; do
    case $o in n) N=$OPTARG;; *) exit 2;; esac
done
. bench/pair-lib.sh
bench_init idle
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
P_ECHO=$(port); P_HTTP=$(port)
PAIR_EXTRA="http: {max_connections: 100000}" pair_configs "$P_ECHO" "$P_HTTP"
"$BUILD/tools/backend" --listen "127.0.0.1:$P_ECHO" --mode echo --quiet >/dev/null 2>&1 & pids+=($!)
"$BUILD/tools/backend" --listen "127.0.0.1:$P_HTTP" --mode http --quiet >/dev/null 2>&1 & pids+=($!)

# hold PORT KIND: opens N connections, exchanges once on each, then waits
# (in the background; prints "held N" when all are open)
cat >"$T/hold.py" <<'PY'
import socket, ssl, sys, time
port, kind, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ctx = None
if kind == "l7tls":             # a mesh client straight to B's inbound port
    certs = sys.argv[4]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(certs + "/ca.crt")
    ctx.load_cert_chain(certs + "/client.crt", certs + "/client.key")
    ctx.set_alpn_protocols(["istio-http/1.1"])
socks = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    if ctx is not None:
        s = ctx.wrap_socket(s)
    if kind == "l4":
        s.sendall(b"x\n")
        got = b""
        while not got.endswith(b"\n"):
            got += s.recv(16)
    else:
        s.sendall(b"GET / HTTP/1.1\r\nHost: app\r\n\r\n")
        got = b""
        while b"hello from backend" not in got:
            got += s.recv(4096)
    socks.append(s)
print("held", len(socks), flush=True)
time.sleep(600)
PY

echo "| shape | sidecar | idle RSS KiB | RSS with $N idle connections KiB | per connection KiB |"
echo "|---|---|---:|---:|---:|"
for shape in L4 L7 L7-inbound; do
    start_pair; A=$PID_A; B=$PID_B
    sleep 1
    a0=$(rss $A); b0=$(rss $B)
    case $shape in
    L4) p=$P_A k=l4 ;;
    L7) p=$P_A7 k=l7 ;;         # plain clients at A, pooled mTLS A -> B
    *) p=$P_B7 k=l7tls ;;       # mTLS clients straight at B
    esac
    python3 "$T/hold.py" "$p" "$k" "$N" "$T/certs" >"$T/hold.out" 2>&1 & hp=$!
    for _ in $(seq 600); do grep -q '^held' "$T/hold.out" 2>/dev/null && break; sleep 0.2; done
    sleep 3   # > the idle sweep period (SC_IO_SWEEP_MS), so it has run
    a1=$(rss $A); b1=$(rss $B)
    awk -v s=$shape -v n=$N -v a0=$a0 -v a1=$a1 -v b0=$b0 -v b1=$b1 'BEGIN {
        printf "| %s idle | A-client | %d | %d | %.1f |\n", s, a0, a1, (a1 - a0) / n
        printf "| %s idle | B-server | %d | %d | %.1f |\n", s, b0, b1, (b1 - b0) / n }'
    kill "$hp" $A $B 2>/dev/null || true
    wait "$A" "$B" 2>/dev/null || true
done
