#!/usr/bin/env bash
# bench/run.sh — wrk against the backend directly and through a sidecar pair
# (plain → sidecar A ══mTLS══▶ sidecar B → backend), in one run, with the ratio
# to direct.  Loopback only; every wrk run is bounded in time.
#
#   bench/run.sh [-d SECONDS] [-c CONNECTIONS] [-w WORKERS]
#
# For side-by-side numbers against HAProxy, nginx and stunnel use
# ../shared/peerbench with bench/peerbench.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=5; CONNS=32; WORKERS=1
while getopts "d:c:w:" o; do
    case $o in d) DUR=$OPTARG;; c) CONNS=$OPTARG;; w) WORKERS=$OPTARG;; *) exit 2;; esac
done
. bench/pair-lib.sh
BACKEND=$BUILD/tools/backend
command -v wrk >/dev/null || { echo "bench: wrk is missing (make deps)" >&2; exit 1; }
bench_init bench
P_BACK=$(port); ADM_B=$(port)
PAIR_WORKERS=$WORKERS PAIR_EXTRA_B="admin: {address: \"127.0.0.1:$ADM_B\"}" pair_configs "$P_BACK" "$P_BACK"
"$BACKEND" --listen 127.0.0.1:$P_BACK --mode http >/dev/null 2>&1 & pids+=($!)
start_pair
for i in $(seq 1 50); do grep -q ready "$T/a.err" && grep -q ready "$T/b.err" && break; sleep 0.1; done
curl -sf --max-time 5 "http://127.0.0.1:$P_A/" >/dev/null || { echo "bench: the chain does not answer" >&2; cat "$T"/*.err >&2; exit 1; }

# run NAME URL [extra wrk args] → "rps p50_ms p99_ms"
run() {
    local out
    out=$(timeout $((DUR + 30)) wrk -t1 -c"$CONNS" -d"${DUR}s" --latency "$@" 2>&1)
    local rps p50 p99
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1=="50%" {print $2}' <<<"$out")
    p99=$(awk '$1=="99%" {print $2}' <<<"$out")
    echo "$rps $(ms "$p50") $(ms "$p99")"
}
ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) printf "%.3f", v/1000; else if (v ~ /ms$/) printf "%.3f", v+0; else if (v ~ /s$/) printf "%.3f", v*1000; else print "?" }'; }

handshakes() { curl -s "http://127.0.0.1:$ADM_B/stats/prometheus" |
    awk '/^sidecar_tls_handshakes_total\{direction="inbound",outcome="ok"\}/ {print $2}'; }

printf '# sidecar bench: %s, %s cores, wrk -t1 -c%s -d%ss, sidecar workers=%s\n' \
    "$(uname -r)" "$(nproc)" "$CONNS" "$DUR" "$WORKERS"
printf '%-10s %-20s %10s %9s %9s %7s %14s\n' shape path 'req/s' 'p50 ms' 'p99 ms' 'ratio' 'hs/1k req'
for shape in keepalive close; do
    hdr=(); [ $shape = close ] && hdr=(-H 'Connection: close')
    read -r d_rps d_p50 d_p99 < <(run "${hdr[@]}" "http://127.0.0.1:$P_BACK/")
    printf '%-10s %-20s %10s %9s %9s %7s %14s\n' $shape direct "$d_rps" "$d_p50" "$d_p99" 1.00 -
    for path in "L4:$P_A" "L7:$P_A7"; do
        name=${path%%:*}; port=${path#*:}
        h0=$(handshakes)
        out=$(timeout $((DUR + 30)) wrk -t1 -c"$CONNS" -d"${DUR}s" --latency "${hdr[@]}" "http://127.0.0.1:$port/" 2>&1)
        h1=$(handshakes)
        rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
        total=$(awk '/requests in/ {print $1}' <<<"$out")
        p50=$(ms "$(awk '$1=="50%" {print $2}' <<<"$out")"); p99=$(ms "$(awk '$1=="99%" {print $2}' <<<"$out")")
        ratio=$(awk -v a="$rps" -v b="$d_rps" 'BEGIN { if (b > 0) printf "%.2f", a/b; else print "?" }')
        hs=$(awk -v h=$((h1 - h0)) -v n="$total" 'BEGIN { if (n > 0) printf "%.1f", h * 1000 / n; else print "?" }')
        printf '%-10s %-20s %10s %9s %9s %7s %14s\n' $shape "sidecar pair ($name)" "$rps" "$p50" "$p99" "$ratio" "$hs"
    done
done
