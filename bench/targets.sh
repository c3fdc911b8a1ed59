#!/usr/bin/env bash
# bench/targets.sh — every figure of the data-path targets (docs in
# bench/RESULTS.md), from one run: peerbench for the four shapes beside
# nginx and HAProxy (with the access-log variant and the HBONE pair), then
# the system-call and allocation counters, the idle-memory probe and the
# bulk transfer, one after the other on the same box.  Prints each figure
# with its target and whether it is met; every script's own report is kept
# in the output directory.
#
#   bench/targets.sh [-r REPS] [-d SECONDS] [-n IDLE_CONNECTIONS] [-s BULK_SIZE] [-o DIR]
#
# Defaults: -r3 -d8 (peerbench, 2 s warm-up), -n 5000, -s 2g: about 15 min.
# A quick look: bench/targets.sh -r1 -d3 -n 1000 -s 256m.
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=3; DUR=8; IDLE=5000; BULK=2g; OUT=build/targets-$(date +%Y%m%d-%H%M%S)
while getopts "r:d:n:s:o:" o; do
    case $o in r) REPS=$OPTARG;; d) DUR=$OPTARG;; n) IDLE=$OPTARG;; s) BULK=$OPTARG;;
        o) OUT=$OPTARG;; *) exit 2;; esac
done
mkdir -p "$OUT"
say() { printf '[targets %s] %s\n' "$(date +%T)" "$*" >&2; }

say "peerbench -r$REPS -d$DUR (about $((REPS * 18 * (DUR + 5) / 60 + 1)) min)"
PB_QUIET_WAIT=${PB_QUIET_WAIT:-15} PB_NOISY_RETRIES=${PB_NOISY_RETRIES:-1} \
    bench/peerbench.sh -r"$REPS" -d"$DUR" -w2 custom-tcp custom-http custom-http-log \
    custom-hbone-tcp custom-hbone-http nginx-stream nginx-http haproxy-tcp haproxy-http \
    >"$OUT/peerbench.out" 2>&1
md=$(sed -n 's/.*wrote \(.*\.md\) and .*/\1/p' "$OUT/peerbench.out" | tail -1)
[ -f "$md" ] || { echo "targets: peerbench wrote no report (see $OUT/peerbench.out)" >&2; exit 1; }
cp "$md" "$OUT/peerbench.md"
say "system calls"
bench/syscalls.sh >"$OUT/syscalls.md" 2>"$OUT/syscalls.err"
say "allocations"
bench/allocs.sh >"$OUT/allocs.md" 2>"$OUT/allocs.err"
say "idle memory, $IDLE connections"
bench/idle-memory.sh -n "$IDLE" >"$OUT/idle-memory.md" 2>"$OUT/idle-memory.err"
say "bulk, $BULK"
bench/bulk.sh -s "$BULK" >"$OUT/bulk.md" 2>"$OUT/bulk.err"

# cell FILE COLUMN FIRST [SECOND]: a markdown table's cell (columns from
# 1) in the first row whose first cell starts with FIRST and whose second
# cell is SECOND
cell() {
    awk -F'|' -v c="$2" -v k1="$3" -v k2="${4:-}" '
        function trim(x) { gsub(/^ +| +$/, "", x); return x }
        index(trim($2), k1) == 1 && (k2 == "" || trim($3) == k2) { print trim($(c + 1)); exit }' "$1"
}
pb() { cell "$OUT/peerbench.md" "$3" "$1" "$2"; } # VARIANT SHAPE COLUMN: 3 req/s, 7 CPU
rows=()
row() { rows+=("$(printf '| %s | %s | %s | %s |' "$1" "$2" "$3" "$4")"); }
verdict() { awk "BEGIN { exit !($1) }" && echo met || echo "**not met**"; }

shape() { # NAME TCP|HTTP SHAPE PEERS... (req/s ≥ RMIN x the best, CPU ≤ CMAX x the lowest)
    local name=$1 v=$2 s=$3 rmin=$4 cmax=$5 best=0 low=0 p r c ours oc
    shift 5
    for p in "$@"; do
        r=$(pb "$p" "$s" 3); c=$(pb "$p" "$s" 7)
        best=$(awk -v a="$best" -v b="$r" 'BEGIN { print (b > a) ? b : a }')
        low=$(awk -v a="$low" -v b="$c" 'BEGIN { print (a == 0 || b < a) ? b : a }')
    done
    ours=$(pb "$v" "$s" 3); oc=$(pb "$v" "$s" 7)
    r=$(awk -v a="$ours" -v b="$best" 'BEGIN { printf "%.2f", a / b }')
    c=$(awk -v a="$oc" -v b="$low" 'BEGIN { printf "%.2f", a / b }')
    row "$name ($v)" "${r}× req/s, ${c}× CPU per request" "≥ $rmin× / ≤ $cmax×" \
        "$(verdict "$r >= $rmin && $c <= $cmax")"
}
shape "L4 keep-alive" sidecar-tcp keepalive 1.0 1.0 nginx-stream haproxy-tcp
shape "L7 keep-alive" sidecar-http keepalive 1.0 1.0 nginx-http haproxy-http
shape "L4 new connection" sidecar-tcp close 1.2 0.8 nginx-stream
shape "L7 new connection" sidecar-http close 1.2 0.8 nginx-http
shape "L4 keep-alive, HBONE" sidecar-hbone-tcp keepalive 1.0 1.0 nginx-stream haproxy-tcp
shape "L7 keep-alive, HBONE" sidecar-hbone-http keepalive 1.0 1.0 nginx-http haproxy-http
shape "L4 new connection, HBONE" sidecar-hbone-tcp close 1.2 0.8 nginx-stream
shape "L7 new connection, HBONE" sidecar-hbone-http close 1.2 0.8 nginx-http
best=$(awk -v a="$(pb nginx-http keepalive 3)" -v b="$(pb haproxy-http keepalive 3)" 'BEGIN { print (a > b) ? a : b }')
r=$(awk -v a="$(pb sidecar-http-log keepalive 3)" -v b="$best" 'BEGIN { printf "%.2f", a / b }')
row "L7 keep-alive, access log on (sidecar-http-log)" "${r}× the best peer's req/s" "≥ 0.9×" "$(verdict "$r >= 0.9")"

for l in 4 7; do
    max=$([ $l = 4 ] && echo 5 || echo 6)
    for who in A-client B-server; do
        n=$(cell "$OUT/syscalls.md" 4 "L$l keep-alive" "$who")
        e=$(cell "$OUT/syscalls.md" 5 "L$l keep-alive" "$who")
        row "system calls per L$l keep-alive request, $who" "$n (epoll_ctl $e)" "≤ $max (epoll_ctl ≈ 0)" \
            "$(verdict "$n <= $max && $e <= 0.05")"
    done
done
for who in A-client B-server; do
    ours=$(cell "$OUT/allocs.md" 5 "L7 keep-alive" "$who")
    ossl=$(cell "$OUT/allocs.md" 7 "L7 keep-alive" "$who")
    row "allocations per L7 keep-alive request, $who" "ours $ours, OpenSSL's $ossl" "none of ours" \
        "$(verdict "$ours < 0.01")"
done
for who in A-client B-server; do
    kib=$(cell "$OUT/idle-memory.md" 3 "L4 idle" "$who")
    mib=$(awk -v k="$kib" 'BEGIN { printf "%.2f", k / 1024 }')
    row "idle RSS, $who" "$mib MiB" "≤ 8 MiB" "$(verdict "$mib <= 8")"
done
for sh in L4 L7; do
    for who in A-client B-server; do
        k=$(cell "$OUT/idle-memory.md" 5 "$sh idle" "$who")
        row "RSS per idle $sh connection through the pair, $who" "$k KiB" "≤ 32 KiB" "$(verdict "$k <= 32")"
    done
done
b=$(cell "$OUT/bulk.md" 3 "through the sidecar pair")
row "bulk, one L4 connection through the pair" "${b}× a direct transfer" "≥ 0.5×" "$(verdict "$b >= 0.5")"

{
    echo "# Data-path targets, $(date -u +%Y-%m-%dT%H:%MZ), $(git rev-parse --short HEAD 2>/dev/null || echo dev)"
    echo
    echo "Host: $(nproc) CPUs, $(uname -r). Reports: $OUT/ (peerbench.md, syscalls.md, allocs.md, idle-memory.md, bulk.md)."
    echo "The HBONE rows hold the HBONE pair to the same bars, for comparison."
    echo
    echo "| figure | measured | target | |"
    echo "|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
} | tee "$OUT/targets.md"
