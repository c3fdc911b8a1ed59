#!/usr/bin/env bash
# bench/syscalls.sh — syscalls per keep-alive request, per sidecar, at L4 and
# L7: wrk → sidecar A (plain in, mTLS out) → sidecar B (STRICT) → backend,
# with `strace -c -f` attached to each sidecar for a bounded keep-alive run.
# Prints, per shape and sidecar, the syscalls per request, the epoll_ctl
# calls per request, and the top calls.  strace slows the run down: the
# counts are what matter here, not the rate.
#
#   bench/syscalls.sh [-d SECONDS] [-c CONNECTIONS] [-s keepalive|close]
#
# -s close: wrk sends `Connection: close`, a new client connection per
# request (the pooled mTLS hop between the pair stays pooled).
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=3; CONNS=8; SHAPE=keepalive
while getopts "d:c:s:" o; do
    case $o in d) DUR=$OPTARG;; c) CONNS=$OPTARG;; s) SHAPE=$OPTARG;; *) exit 2;; esac
done
for t in wrk strace; do
    command -v $t >/dev/null || { echo "syscalls: $t is missing (apt-get install $t)" >&2; exit 1; }
done
. bench/pair-lib.sh
wrk_shape "$SHAPE"
bench_init syscalls
http_backend
start_pair
pair_wait

# calls FILE: "COUNT NAME" per syscall from a strace -c table
calls() { awk '$4 ~ /^[0-9]+$/ && $NF != "total" && $NF ~ /^[a-z_0-9]+$/ { print $4, $NF }' "$1"; }
# per_req FILE REQUESTS: total/req, epoll_ctl/req and the top four calls per request
per_req() {
    calls "$1" | sort -rn | awk -v n="$2" '
        { total += $1; if ($2 == "epoll_ctl") ctl = $1; if (NR <= 4) top = top sprintf("%s=%.2f ", $2, $1 / n) }
        END { printf "%.2f | %.2f | %s", total / n, ctl / n, top }'
}

echo "| shape | sidecar | requests | syscalls / request | epoll_ctl / request | top calls per request |"
echo "|---|---|---:|---:|---:|---|"
for shape in L4:$P_A L7:$P_A7; do
    name=${shape%%:*}; p=${shape#*:}
    wrk -t1 -c"$CONNS" -d1s "${HDR[@]}" "http://127.0.0.1:$p/" >/dev/null 2>&1 || true    # warm pools
    timeout $((DUR + 30)) strace -c -f -o "$T/a.$name" -p "$PID_A" & sa=$!
    timeout $((DUR + 30)) strace -c -f -o "$T/b.$name" -p "$PID_B" & sb=$!
    sleep 0.5
    reqs=$(timeout $((DUR + 20)) wrk -t1 -c"$CONNS" -d"${DUR}s" "${HDR[@]}" "http://127.0.0.1:$p/" |
        awk '/requests in/ { print $1 }')
    kill -INT $sa $sb 2>/dev/null || true
    wait $sa $sb 2>/dev/null || true
    for s in a b; do
        printf '| %s %s | %s | %s | %s|\n' "$name" "$LABEL" "$( [ $s = a ] && echo A-client || echo B-server)" \
            "$reqs" "$(per_req "$T/$s.$name" "$reqs")"
    done
done
