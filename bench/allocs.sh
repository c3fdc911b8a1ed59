#!/usr/bin/env bash
# bench/allocs.sh — allocations per keep-alive request, per sidecar, at L4
# and L7: wrk → sidecar A (plain in, mTLS out) → sidecar B (STRICT) →
# backend, both sidecars run with an LD_PRELOAD shim (bench/tools/
# alloccount.c) that counts malloc, calloc, realloc and the aligned
# allocations by the object that called them: the sidecar itself ("ours"),
# libevent, OpenSSL (libssl + libcrypto), anything else.  Counted over a
# keep-alive run after a warm-up, divided by wrk's request count.
#
#   bench/allocs.sh [-d SECONDS] [-c CONNECTIONS] [-s keepalive|close]
#
# -s close: wrk sends `Connection: close`, a new client connection per
# request (the pooled mTLS hop between the pair stays pooled).
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=3; CONNS=8; SHAPE=keepalive
while getopts "d:c:s:" o; do
    case $o in d) DUR=$OPTARG;; c) CONNS=$OPTARG;; s) SHAPE=$OPTARG;; *) exit 2;; esac
done
command -v wrk >/dev/null || { echo "allocs: wrk is missing (apt-get install wrk)" >&2; exit 1; }
. bench/pair-lib.sh
wrk_shape "$SHAPE"
bench_init allocs
cc -O2 -shared -fPIC -o "$T/alloccount.so" bench/tools/alloccount.c -ldl
mkdir "$T/counts"
http_backend
ALLOCCOUNT_DIR="$T/counts" LD_PRELOAD="$T/alloccount.so" start_pair
pair_wait

# counts PID: "ours libevent openssl other" so far
counts() {
    python3 -c 'import struct,sys; print(*struct.unpack("4Q", open(sys.argv[1],"rb").read(32)))' "$T/counts/$1"
}

echo "| shape | sidecar | requests | allocations / request | ours | libevent | OpenSSL | other |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
for shape in L4:$P_A L7:$P_A7; do
    name=${shape%%:*}; p=${shape#*:}
    wrk -t1 -c"$CONNS" -d1s "${HDR[@]}" "http://127.0.0.1:$p/" >/dev/null 2>&1 || true    # warm pools
    a0=$(counts "$PID_A"); b0=$(counts "$PID_B")
    reqs=$(timeout $((DUR + 20)) wrk -t1 -c"$CONNS" -d"${DUR}s" "${HDR[@]}" "http://127.0.0.1:$p/" |
        awk '/requests in/ { print $1 }')
    a1=$(counts "$PID_A"); b1=$(counts "$PID_B")
    for s in a b; do
        if [ $s = a ]; then c0=$a0; c1=$a1; who=A-client; else c0=$b0; c1=$b1; who=B-server; fi
        awk -v n="$reqs" -v x="$c0" -v y="$c1" -v shape="$name" -v label="$LABEL" -v who="$who" 'BEGIN {
            split(x, u, " "); split(y, v, " "); t = 0
            for (i = 1; i <= 4; i++) { d[i] = (v[i] - u[i]) / n; t += d[i] }
            printf "| %s %s | %s | %d | %.2f | %.2f | %.2f | %.2f | %.2f |\n", shape, label, who, n, t, d[1], d[2], d[3], d[4]
        }'
    done
done
