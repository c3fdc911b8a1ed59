#!/usr/bin/env bash
# bench/ab.sh — two builds of the sidecar compared on the same pair, in
# alternation: wrk → A (plain in, mTLS out) → B (STRICT) → backend, as
# bench/pair-lib.sh runs it.  For each run: req/s, and CPU (user + system,
# from /proc/PID/stat) per 1k requests of each sidecar and of the pair.
# The box is shared and noisy: alternating the builds in one run, several
# times, is what makes their figures comparable; peerbench.sh is still the
# comparison with the peers.
#
#   bench/ab.sh [-r RUNS] [-d SECONDS] [-c CONNECTIONS] [-l 4|7]
#               [-s keepalive|close] BUILD_A BUILD_B
#
# BUILD_x is a build directory (build, /path/to/other/clone/build).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=3; DUR=5; CONNS=32; LAYER=7; SHAPE=keepalive
while getopts "r:d:c:l:s:" o; do
    case $o in r) RUNS=$OPTARG;; d) DUR=$OPTARG;; c) CONNS=$OPTARG;; l) LAYER=$OPTARG;;
        s) SHAPE=$OPTARG;; *) exit 2;; esac
done
shift $((OPTIND - 1))
[ $# -eq 2 ] || { echo "usage: bench/ab.sh [options] BUILD_A BUILD_B" >&2; exit 2; }
for b in "$@"; do
    [ -x "$b/bin/sidecar" ] || { echo "ab: $b/bin/sidecar is missing" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "ab: wrk is missing (apt-get install wrk)" >&2; exit 1; }
. bench/pair-lib.sh
wrk_shape "$SHAPE"
bench_init ab
http_backend
if [ "$LAYER" = 4 ]; then url=http://127.0.0.1:$P_A/; else url=http://127.0.0.1:$P_A7/; fi
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

echo "| run | build | req/s | A ms/1k | B ms/1k | pair ms/1k |"
echo "|---:|---|---:|---:|---:|---:|"
for r in $(seq "$RUNS"); do
    for b in "$@"; do
        BUILD=$b
        start_pair
        pair_wait
        wrk -t1 -c"$CONNS" -d1s "${HDR[@]}" "$url" >/dev/null
        a0=$(ticks "$PID_A"); b0=$(ticks "$PID_B")
        n=$(wrk -t1 -c"$CONNS" -d"${DUR}s" "${HDR[@]}" "$url" | awk '/requests in/ { print $1 }')
        a1=$(ticks "$PID_A"); b1=$(ticks "$PID_B")
        awk -v r="$r" -v b="$b" -v n="$n" -v d="$DUR" -v a=$((a1 - a0)) -v s=$((b1 - b0)) -v hz="$hz" 'BEGIN {
            printf "| %d | %s | %d | %.1f | %.1f | %.1f |\n", r, b, n / d, a * 1e6 / hz / n,
                s * 1e6 / hz / n, (a + s) * 1e6 / hz / n }'
        kill "$PID_A" "$PID_B"
        wait "$PID_A" "$PID_B" 2>/dev/null || true
    done
done
