#!/usr/bin/env bash
# bench/where.sh — where the requests of a closed load wait, through the L7
# pair: wrk → A (plain in, mTLS out) → B (STRICT) → backend.  While wrk
# keeps -c requests in flight, `ss` is sampled every 0.1 s and each request
# is placed by the socket queue that holds it (bytes in a Recv-Q that its
# reader has not read yet).  Prints the mean count per place, what is in no
# queue (being worked on, or wrk between a response and its next request),
# and how often every waiting request sat in one place (then one process
# has all the work, and on a 2-core box the other core has none of it).
#
#   bench/where.sh [-d SECONDS] [-c CONNECTIONS] [-s close|keepalive] [-n SAMPLES]
#
# ss itself takes CPU while it samples: the places are what matter here,
# not the rate.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=8; CONNS=32; SHAPE=close; SAMPLES=40
while getopts "d:c:s:n:" o; do
    case $o in d) DUR=$OPTARG;; c) CONNS=$OPTARG;; s) SHAPE=$OPTARG;; n) SAMPLES=$OPTARG;;
        *) exit 2;; esac
done
for t in wrk ss; do
    command -v $t >/dev/null || { echo "where: $t is missing" >&2; exit 1; }
done
. bench/pair-lib.sh
wrk_shape "$SHAPE"
bench_init where
http_backend
start_pair
pair_wait
wrk -t1 -c"$CONNS" -d"${DUR}s" "${HDR[@]}" "http://127.0.0.1:$P_A7/" >"$T/wrk.txt" & pids+=($!)
sleep 1
idle0=$(awk '/^cpu / { print $5 + $6 }' /proc/stat)
all0=$(awk '/^cpu / { s = 0; for (i = 2; i <= 9; i++) s += $i; print s }' /proc/stat)
for _ in $(seq "$SAMPLES"); do
    ss -tnH 2>/dev/null | awk -v a="$P_A7" -v b="$P_B7" -v k="$P_BACK" '
        { st = $1; rq = $2; n = split($4, l, ":"); lp = l[n]; n = split($5, r, ":"); rp = r[n]
          if (st == "LISTEN" && lp == a) q["A accept queue"] += rq
          else if ((st != "ESTAB" && st != "CLOSE-WAIT") || rq == 0) next
          else if (lp == a) q["A: request unread"]++
          else if (lp == b) q["B: request unread"]++
          else if (lp == k) q["backend: request unread"]++
          else if (rp == k) q["B: response unread"]++
          else if (rp == b) q["A: response unread"]++
          else if (rp == a) q["wrk: response unread"]++ }
        END { for (p in q) printf "%s=%d;", p, q[p]; print "" }'
    sleep 0.1
done >"$T/samples"
idle1=$(awk '/^cpu / { print $5 + $6 }' /proc/stat)
all1=$(awk '/^cpu / { s = 0; for (i = 2; i <= 9; i++) s += $i; print s }' /proc/stat)
wait "${pids[-1]}" 2>/dev/null || true
echo "wrk -c$CONNS $SHAPE, $SAMPLES samples: $(awk '/Requests\/sec/ { print $2 }' "$T/wrk.txt") req/s (under sampling)," \
    "box busy $(( 100 - 100 * (idle1 - idle0) / (all1 - all0) )) %"
echo
echo "| place | mean requests waiting | samples with any |"
echo "|---|---:|---:|"
awk -F';' -v n="$SAMPLES" -v c="$CONNS" '
    { places = 0; waiting = 0
      for (i = 1; i < NF; i++) { split($i, kv, "="); s[kv[1]] += kv[2]; if (kv[2] > 0) { h[kv[1]]++; places++; waiting += kv[2] } }
      if (waiting > 0 && places == 1) one++
      total += waiting }
    END { for (p in s) printf "| %s | %.1f | %d %% |\n", p, s[p] / n, 100 * h[p] / n | "sort"
          close("sort")
          printf "| in no queue (in a process, or wrk between requests) | %.1f | |\n", c - total / n
          printf "\nsamples where every waiting request sat in one place: %d %%\n", 100 * one / n }' "$T/samples"
