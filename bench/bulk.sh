#!/usr/bin/env bash
# bench/bulk.sh — one L4 connection's throughput through a sidecar pair
# (plain → A → mTLS → B → backend) against the same transfer straight from
# the backend, in one run: the backend's "source" mode sends SIZE bytes
# (default 2g) and closes; the client reads to the end.  Median of 3 each.
#
#   bench/bulk.sh [-s SIZE]
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=2g RUNS=3
while getopts "s:r:" o; do
    case $o in s) SIZE=$OPTARG;; r) RUNS=$OPTARG;; *) exit 2;; esac
done
. bench/pair-lib.sh
bench_init bulk
P_SRC=$(port)
pair_configs "$P_SRC" "$P_SRC"
"$BUILD/tools/backend" --listen "127.0.0.1:$P_SRC" --mode source --bytes "$SIZE" --quiet >/dev/null 2>&1 & pids+=($!)
start_pair
sleep 1

# mbps PORT: MB/s of one read-to-the-end transfer
mbps() {
    python3 - "$1" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.shutdown(socket.SHUT_WR)
t0 = time.monotonic(); n = 0
buf = bytearray(1 << 20)
while True:
    k = s.recv_into(buf)
    if k == 0:
        break
    n += k
print("%.0f %d" % (n / (time.monotonic() - t0) / 1e6, n))
PY
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# cpu PID: user + system clock ticks so far
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
direct=$(for _ in $(seq "$RUNS"); do mbps "$P_SRC"; done | median)
a0=$(cpu "$PID_A") b0=$(cpu "$PID_B")
pair_runs=$(for _ in $(seq "$RUNS"); do mbps "$P_A"; done)
a1=$(cpu "$PID_A") b1=$(cpu "$PID_B")
pair=$(echo "$pair_runs" | median)
moved=$(echo "$pair_runs" | awk '{ n += $2 } END { print n }')
echo "| transfer ($SIZE, one connection) | MB/s | ratio to direct |"
echo "|---|---:|---:|"
echo "| direct from the backend | $direct | 1.00 |"
awk -v d="$direct" -v p="$pair" 'BEGIN { printf "| through the sidecar pair (L4, mTLS) | %s | %.2f |\n", p, p / d }'
awk -v a=$((a1 - a0)) -v b=$((b1 - b0)) -v n="$moved" -v hz="$(getconf CLK_TCK)" 'BEGIN {
    printf "\nCPU per GB through the pair (user + system): A %.0f ms + B %.0f ms = %.0f ms\n",
        a * 1e3 / hz / (n / 1e9), b * 1e3 / hz / (n / 1e9), (a + b) * 1e3 / hz / (n / 1e9) }'
