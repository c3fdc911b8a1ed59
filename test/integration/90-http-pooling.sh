#!/usr/bin/env bash
# HTTP/1.1 at L7: pooled mTLS between the sidecars.  10,000 requests arrive
# over 100 short-lived downstream connections (curl, 100 URLs each, four at
# a time) at sidecar A (outbound, protocol http, ISTIO_MUTUAL), which sends
# them over pooled mTLS connections to sidecar B (inbound STRICT, http) and
# on to the backend.  B's handshake counter must stay at workers x a small
# N, A must have seen 100 downstream connections and 10,000 requests, and
# the pool metrics must show reuse.
. "$(dirname "$0")/lib.sh"

certs
WORKERS=2
CONNS=100
PER_CONN=100
PARALLEL=4
# At most this many upstream connections per worker: each worker of A needs
# one per request in flight at once (PARALLEL), plus slack for the race
# between a connection going idle and the next request arriving.
MAX_PER_WORKER=8

P_APP=$(free_port); P_IN=$(free_port); P_OUT=$(free_port)
start_backend app --listen "127.0.0.1:$P_APP" --mode http --quiet

mesh_pair http "127.0.0.1:$P_APP" workers="$WORKERS"

# metric URL NAME_AND_LABELS: the value of one sample (0 when absent).
metric() {
    curl -sS -m 5 "http://$1/stats/prometheus" | awk -v k="$2" '$1 == k { v = $2 } END { print v + 0 }'
}

step "one request through the pair"
code=$(timeout 20 curl -sS -m 10 -o "$T/one" -w '%{http_code}' "http://127.0.0.1:$P_OUT/one") ||
    fail "curl through the pair failed"
assert_eq 200 "$code" "status"
assert_eq "hello from backend" "$(cat "$T/one")" "body"
hs0=$(metric "$B_STATS" 'sidecar_tls_handshakes_total{direction="inbound",outcome="ok"}')
req0=$(metric "$A_STATS" 'sidecar_requests_total{direction="outbound",port="'"$P_IN"'",response_code="200",connection_security_policy="mutual_tls",response_flags="-"}')
assert_le 1 "$hs0" "B's handshakes after the first request"

step "$((CONNS * PER_CONN)) requests over $CONNS downstream connections, $PARALLEL at a time"
url="http://127.0.0.1:$P_OUT/pool"
urls=()
for ((i = 0; i < PER_CONN; i++)); do urls+=("$url?$i"); done
t0=$(date +%s%N)
for ((c = 0; c < CONNS; c += PARALLEL)); do
    pids=()
    for ((k = 0; k < PARALLEL && c + k < CONNS; k++)); do
        timeout 60 curl -sS -m 50 -o /dev/null -w '%{http_code} %{num_connects}\n' "${urls[@]}" \
            >"$T/curl.$((c + k))" 2>&1 &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || fail "a curl run failed: $(cat "$T"/curl.* | grep -v '^200 ' | head -3)"; done
done
t1=$(date +%s%N)
cat "$T"/curl.* >"$T/codes"
ms=$(((t1 - t0) / 1000000))
log "$((CONNS * PER_CONN)) requests in ${ms} ms"
assert_eq $((CONNS * PER_CONN)) "$(count_lines "$T/codes" '^200 ')" "requests answered 200"
# curl opened one connection per run: the first URL connects, the others reuse it
assert_eq "$CONNS" "$(count_lines "$T/codes" '^200 1$')" "downstream connections opened by curl"

step "A saw $CONNS downstream connections and $((CONNS * PER_CONN)) requests"
wait_for_count "$T/a.out" "$(conn_re dir=outbound listener=out mode=ISTIO_MUTUAL)" $((CONNS + 1)) 10
req1=$(metric "$A_STATS" 'sidecar_requests_total{direction="outbound",port="'"$P_IN"'",response_code="200",connection_security_policy="mutual_tls",response_flags="-"}')
assert_eq $((CONNS * PER_CONN)) $((req1 - req0)) "A's requests_total (200) during the run"

step "B's mTLS handshakes stay at workers x a small N"
hs1=$(metric "$B_STATS" 'sidecar_tls_handshakes_total{direction="inbound",outcome="ok"}')
log "B: $hs1 inbound handshakes for $((CONNS * PER_CONN + 1)) requests over $((CONNS + 1)) downstream connections"
assert_le "$hs1" $((WORKERS * MAX_PER_WORKER)) "B's inbound handshakes"
bconns=$(count_lines "$T/b.out" "$(conn_re dir=inbound listener=in)")
log "B: $bconns inbound connections closed so far"
reuses=$(metric "$A_STATS" 'sidecar_upstream_pool_reuses_total')
created=$(metric "$A_STATS" 'sidecar_upstream_pool_connections_created_total')
log "A's pool: $created connections created, $reuses reuses"
assert_le "$created" $((WORKERS * MAX_PER_WORKER)) "A's pooled connections created"
# every request got either a connection's first use or a reuse (a
# connection may also be opened for a request that then got another one)
assert_le $((CONNS * PER_CONN + 1 - created)) "$reuses" "A's pool reuses"
# B pools to the app as well
bcreated=$(metric "$B_STATS" 'sidecar_upstream_pool_connections_created_total')
assert_le "$bcreated" $((WORKERS * MAX_PER_WORKER)) "B's pooled connections to the app"

step "the pool's connections are idle between runs"
idle=$(metric "$A_STATS" 'sidecar_upstream_pool_connections{state="idle"}')
active=$(metric "$A_STATS" 'sidecar_upstream_pool_connections{state="active"}')
assert_eq 0 "$active" "A's active pooled connections"
assert_le 1 "$idle" "A's idle pooled connections"

alive a
alive b
log "ok"
