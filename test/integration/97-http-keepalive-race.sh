#!/usr/bin/env bash
# HTTP/1.1 at L7: the keep-alive race behind "random 503 UC" reports, at the
# issue's scale: the backend closes keep-alive connections idle for 1 s,
# clients send a request every 1.1 s through sidecar A (outbound, pooled
# mTLS) and an inbound sidecar B that pools connections to the backend, 500
# requests per variant, zero 503s.
#
# To keep the wall time near a minute, each variant runs C=10 clients of
# N=50 requests at once, all through the same sidecar pair (so they share
# its pools), every request on a new downstream connection.  The clients of
# a variant fire together on one fixed 1.1 s schedule (absolute deadlines, so
# they do not drift apart): clients spread over the interval would reuse each
# other's connections well inside the 1 s and the race would never happen.
# Each burst thus finds up to C pooled connections idle for ~1.1 s.  The
# clients are bash loops talking HTTP over /dev/tcp (no process per request),
# so a burst is answered within a few ms; it must be within the 100 ms
# margin, or the backend's own timer could race the next burst.  The three
# variants run at once, their bursts a third of an interval apart.  A's pool
# keeps its connections to the Bs for the whole run (upstream_idle_ms, and
# the Bs' idle_ms, 600 s), so at most C handshakes per variant.
#
#  1. pool-first: the backend's close is "lazy" (--lazy-close: its FIN is
#     modelled as crossing the next request, the race made deterministic),
#     so only the inbound sidecar's pool idle timeout (upstream_idle_ms 500,
#     shorter than the backend's 1000) avoids it; retries are off.
#  2. retry: the same backend, upstream_idle_ms 4000 (longer than the
#     backend's keep-alive): a request that lands on a connection the backend
#     has given up on (idle 1.1 s) gets no answer, and the sidecar retries it
#     once on a fresh connection (retries 1, the default).
#  3. stale: the backend really closes (FIN) at 1000 ms, upstream_idle_ms
#     4000, retries off: the pool must notice the closed connection before
#     it hands it out.
# Each variant: zero 503s (every one of the 500 requests 200, counted per
# client), and the backend's log shows the race was there (variant 2:
# dropped requests, at least about one per burst) or not (variant 1).
. "$(dirname "$0")/lib.sh"

certs
SERVER_ID=spiffe://cluster.local/ns/bar/sa/server
C=10                    # clients per variant
N=50                    # requests per client
TOTAL=$((C * N))        # requests per variant
INTERVAL_US=1100000
KEEPALIVE_MS=1000

declare -A P_APP P_IN P_OUT STATS
for v in 1 2 3; do P_APP[$v]=$(free_port); P_IN[$v]=$(free_port); P_OUT[$v]=$(free_port); done
start_backend app1 --listen "127.0.0.1:${P_APP[1]}" --mode http --keepalive-ms $KEEPALIVE_MS --lazy-close
start_backend app2 --listen "127.0.0.1:${P_APP[2]}" --mode http --keepalive-ms $KEEPALIVE_MS --lazy-close
start_backend app3 --listen "127.0.0.1:${P_APP[3]}" --mode http --keepalive-ms $KEEPALIVE_MS

# inbound FILE NAME V UPSTREAM_IDLE_MS RETRIES
inbound() {
    IDLE_MS=600000 sidecar_config "$1" "$2" bar server
    sed -i "s/^timeouts: {/timeouts: {upstream_idle_ms: $4, /" "$1"
    cat >>"$1" <<EOT
http: {retries: $5}
listeners:
  - {name: in, direction: inbound, address: "127.0.0.1:${P_IN[$3]}", upstream: "127.0.0.1:${P_APP[$3]}",
     port: 8080, protocol: http}
EOT
    peer_auth "$1" STRICT bar
    STATS[$3]=$(sed -n 's/^stats: {address: "\(.*\)"}/\1/p' "$1")
}
inbound "$T/b1.yaml" pool-first 1 500 0
inbound "$T/b2.yaml" retry 2 4000 1
inbound "$T/b3.yaml" stale 3 4000 0
start_sidecar b1 "$T/b1.yaml" "${P_IN[1]}"
start_sidecar b2 "$T/b2.yaml" "${P_IN[2]}"
start_sidecar b3 "$T/b3.yaml" "${P_IN[3]}"

sidecar_config "$T/a.yaml" client foo client
# A's pool keeps its connections to the Bs for the whole run (and the Bs keep
# them: IDLE_MS above), so a quieter burst does not let it shrink
sed -i "s/^timeouts: {/timeouts: {upstream_idle_ms: 600000, /" "$T/a.yaml"
echo "listeners:" >>"$T/a.yaml"
for v in 1 2 3; do
    cat >>"$T/a.yaml" <<EOT
  - {name: out$v, direction: outbound, address: "127.0.0.1:${P_OUT[$v]}", upstream: "127.0.0.1:${P_IN[$v]}",
     tls: ISTIO_MUTUAL, protocol: http, expected_identities: ["$SERVER_ID"]}
EOT
done
start_sidecar a "$T/a.yaml" "${P_OUT[1]}" "${P_OUT[2]}" "${P_OUT[3]}"

metric() {
    curl -sS -m 5 "http://$1/stats/prometheus" | awk -v k="$2" '$1 == k { v = $2 } END { print v + 0 }'
}

now_us() { NOW_US=${EPOCHREALTIME/./}; }

# _left: sets http_get's left to the time until its end, as read -t wants it
# (at least 1 us: read -t 0 would only poll, and succeed without reading)
_left() {
    left=$((end - ${EPOCHREALTIME/./}))
    if [ $left -le 0 ]; then left=1; fi
    printf -v left '%d.%06d' $((left / 1000000)) $((left % 1000000))
}

# http_get PORT PATH: one GET on a new connection to 127.0.0.1:PORT, in bash
# alone (no process per request, so a burst of C requests leaves within a
# few ms even on a loaded box); reads the whole response (Content-Length),
# then closes.  Sets CODE to the status, or to what went wrong.  At most 100
# header lines and 8 s in all.
# shellcheck disable=SC2034  # body: read to drain the response
http_get() {
    local line len=0 body i end left
    if ! exec 3<>"/dev/tcp/127.0.0.1/$1"; then
        CODE=connect-failed
        return 0
    fi
    end=$((${EPOCHREALTIME/./} + 8000000))
    CODE=no-response
    _left
    if printf 'GET %s HTTP/1.1\r\nHost: app\r\nUser-Agent: race-client\r\n\r\n' "$2" >&3 &&
        read -r -t "$left" -u 3 line; then
        line=${line%$'\r'}
        CODE=${line#HTTP/1.1 }
        CODE=${CODE%% *}
        for ((i = 0; i < 100; i++)); do
            _left
            if ! read -r -t "$left" -u 3 line; then
                CODE=$CODE-truncated
                break
            fi
            line=${line%$'\r'}
            [ -n "$line" ] || break
            case ${line,,} in content-length:*) len=${line#*:} len=${len//[!0-9]/} ;; esac
        done
        _left
        if [ "${len:-0}" -gt 0 ] && ! read -r -t "$left" -u 3 -N "$len" body; then CODE=$CODE-truncated; fi
    fi
    exec 3>&-
}

# client V J: N requests GET /cJ/rI, request I due at START_US[V] + I * 1.1 s
# (the variant's schedule), each on a new downstream connection (A pools
# towards B, B towards the backend).  One line per request: the status (or
# what went wrong), how long it took and how late it started (ms).
client() {
    local v=$1 j=$2 i due late t LC_ALL=C
    trap '' PIPE            # a write to a closed connection is a failed request
    for ((i = 0; i < N; i++)); do
        due=$((START_US[v] + i * INTERVAL_US))
        now_us
        if [ "$NOW_US" -lt "$due" ]; then
            printf -v t '%d.%06d' $(((due - NOW_US) / 1000000)) $(((due - NOW_US) % 1000000))
            sleep "$t"
            now_us
        fi
        late=$(((NOW_US - due) / 1000))
        t=$NOW_US
        http_get "${P_OUT[$v]}" "/c$j/r$i"
        now_us
        echo "$CODE $(((NOW_US - t) / 1000)) $late"
    done >"$T/codes$v.$j" 2>"$T/client$v.$j.err"
}

step "$C clients x $N requests every 1.1 s in each variant (backend keep-alive ${KEEPALIVE_MS} ms)"
START_US=()   # indexed: an arithmetic subscript is evaluated
now_us
t0=$NOW_US
# the variants' bursts a third of an interval apart; 0.5 s for the clients to start
for v in 1 2 3; do START_US[v]=$((t0 + 500000 + (v - 1) * INTERVAL_US / 3)); done
pids=()
for v in 1 2 3; do
    for ((j = 0; j < C; j++)); do
        client "$v" "$j" &
        pids+=($!)
    done
done
wait "${pids[@]}"
now_us
log "took $(((NOW_US - t0) / 1000000)) s"

for v in 1 2 3; do
    cat "$T"/codes$v.* >"$T/codes$v"
    name=$(sed -n 's/^node: {id: \([^,]*\),.*/\1/p' "$T/b$v.yaml")
    step "variant $v ($name): every request answered 200, no 503"
    log "variant $v: answers $(awk '{ n[$1]++ } END { for (k in n) printf "%s x%d ", k, n[k] }' "$T/codes$v")"
    log "variant $v: slowest request $(awk '$2 > m { m = $2 } END { print m + 0 }' "$T/codes$v") ms," \
        "latest start $(awk '$3 > m { m = $3 } END { print m + 0 }' "$T/codes$v") ms after its time"
    assert_eq "$TOTAL" "$(wc -l <"$T/codes$v")" "variant $v: requests made"
    assert_eq 0 "$(count_lines "$T/codes$v" '^503 ')" "variant $v: 503s"
    assert_eq 0 "$(count_lines "$T/codes$v" '^[^2]')" "variant $v: requests not answered 2xx"
    assert_eq "$TOTAL" "$(count_lines "$T/codes$v" '^200 ')" "variant $v: 200s"
    assert_eq 0 "$(count_lines "$T/b$v.out" '" 50[0-9] ')" "variant $v: 5xx in B's access log"
    assert_eq 0 "$(count_lines "$T/a.out" "\"GET /c[0-9]+/r[0-9]+ HTTP/1\\.1\" 50[0-9] .*\"127\\.0\\.0\\.1:${P_IN[$v]}\"")" \
        "variant $v: 5xx in A's access log"
    assert_eq "$TOTAL" "$(count_lines "$T/app$v.out" '^req [0-9]+ GET /c[0-9]+/r[0-9]+$')" \
        "variant $v: requests the backend answered"
done

step "variant 1: the pool closed first, the backend never dropped a request"
assert_eq 0 "$(count_lines "$T/app1.out" 'dropped: keep-alive expired')" "requests the backend dropped"
created=$(metric "${STATS[1]}" sidecar_upstream_pool_connections_created_total)
log "variant 1: B opened $created connections to the backend for $TOTAL requests"
# every burst finds the pool empty (closed after 500 ms idle): at least one
# new connection per burst
assert_le $((N - 5)) "$created" "B's connections to the backend (each burst after an idle close)"

step "variant 2: the race happened and each lost request was retried on a fresh connection"
dropped=$(count_lines "$T/app2.out" 'dropped: keep-alive expired')
log "variant 2: the backend dropped $dropped requests, all retried"
# at least the first request of each burst takes a connection idle for 1.1 s
assert_le $((N - 5)) "$dropped" "requests the backend dropped (the race)"
# a retry that got its answer is no failure: no URX on the 200s
assert_eq "$TOTAL" "$(metric "${STATS[2]}" 'sidecar_requests_total{direction="inbound",port="8080",response_code="200",connection_security_policy="mutual_tls",response_flags="-"}')" \
    "B's requests_total 200 without flags"

step "variant 3: closed connections were noticed before use"
closed=$(count_lines "$T/app3.out" 'keep-alive timeout')
log "variant 3: the backend closed $closed idle connections"
assert_le $((N - 5)) "$closed" "keep-alive closes by the backend"

step "A's pooled mTLS connections to the B sidecars were reused"
hs=0
for v in 1 2 3; do
    h=$(metric "${STATS[$v]}" 'sidecar_tls_handshakes_total{direction="inbound",outcome="ok"}')
    hs=$((hs + h))
done
log "inbound handshakes on the three B sidecars: $hs for $((3 * TOTAL)) requests"
# A opens at most C per variant (C requests at once) and never closes them
assert_le "$hs" $((3 * C + 6)) "handshakes between A and the B sidecars"

alive a
alive b1
alive b2
alive b3
log "ok"
