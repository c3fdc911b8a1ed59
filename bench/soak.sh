#!/usr/bin/env bash
# bench/soak.sh — a long run under load: wrk keeps a sidecar pair busy at L4
# and L7 (keep-alive and a new connection per request, in turn) for
# DURATION seconds (default 600), while the RSS and open descriptors of both
# sidecars are sampled every 10 s.  At the end it prints the samples and
# fails (exit 1) when either sidecar's RSS grew by more than 16 MiB from the
# first loaded sample to the last, when its descriptors did not come back
# to their idle count, when any request failed, or when a sidecar died.
#
#   bench/soak.sh [-d SECONDS] [-c CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=600; CONNS=16
while getopts "d:c:" o; do
    case $o in d) DUR=$OPTARG;; c) CONNS=$OPTARG;; *) exit 2;; esac
done
command -v wrk >/dev/null || { echo "soak: wrk is missing (make deps)" >&2; exit 1; }
. bench/pair-lib.sh
bench_init soak
P_BACK=$(port)
PAIR_WORKERS=2 pair_configs "$P_BACK" "$P_BACK"
"$BUILD/tools/backend" --listen "127.0.0.1:$P_BACK" --mode http --quiet >/dev/null 2>&1 & pids+=($!)
start_pair; A=$PID_A; B=$PID_B
sleep 1
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
fds() { ls "/proc/$1/fd" | wc -l; }
fd_a0=$(fds $A); fd_b0=$(fds $B)

end=$((SECONDS + DUR)); round=0; errors=0
echo "| t s | shape | A RSS KiB | B RSS KiB | A fds | B fds | requests | errors |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|"
while [ $SECONDS -lt $end ]; do
    case $((round % 4)) in
    0) shape="L4 keep-alive"; url="http://127.0.0.1:$P_A/"; hdr=() ;;
    1) shape="L7 keep-alive"; url="http://127.0.0.1:$P_A7/"; hdr=() ;;
    2) shape="L4 new connection"; url="http://127.0.0.1:$P_A/"; hdr=(-H 'Connection: close') ;;
    *) shape="L7 new connection"; url="http://127.0.0.1:$P_A7/"; hdr=(-H 'Connection: close') ;;
    esac
    out=$(timeout 40 wrk -t1 -c"$CONNS" -d10s "${hdr[@]}" "$url" 2>&1 || true)
    reqs=$(printf '%s\n' "$out" | awk '/requests in/ { print $1 }')
    errs=$(printf '%s\n' "$out" | awk '/Non-2xx/ { n += $NF } /Socket errors/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }')
    kill -0 $A && kill -0 $B || { echo "soak: a sidecar died" >&2; exit 1; }
    [ $round -eq 0 ] && { rss_a0=$(rss $A); rss_b0=$(rss $B); }
    echo "| $SECONDS | $shape | $(rss $A) | $(rss $B) | $(fds $A) | $(fds $B) | ${reqs:-0} | $errs |"
    errors=$((errors + errs)); round=$((round + 1))
done
sleep 5     # idle: pools close, descriptors come back
rss_a1=$(rss $A); rss_b1=$(rss $B); fd_a1=$(fds $A); fd_b1=$(fds $B)
echo
echo "RSS A ${rss_a0} -> ${rss_a1} KiB, B ${rss_b0} -> ${rss_b1} KiB; fds A ${fd_a0} -> ${fd_a1}, B ${fd_b0} -> ${fd_b1}; errors ${errors}"
ok=1
[ $((rss_a1 - rss_a0)) -le 16384 ] && [ $((rss_b1 - rss_b0)) -le 16384 ] || { echo "soak: RSS grew by more than 16 MiB"; ok=0; }
[ "$fd_a1" -le "$fd_a0" ] && [ "$fd_b1" -le "$fd_b0" ] || { echo "soak: descriptors did not come back"; ok=0; }
[ "$errors" -eq 0 ] || { echo "soak: $errors failed requests"; ok=0; }
[ $ok = 1 ] && echo "soak: ok" || exit 1
