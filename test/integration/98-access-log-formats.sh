#!/usr/bin/env bash
# The access log in Envoy's and Istio's formats:
#  - an L4 (protocol tcp) connection gets one access-log line, as Envoy's TCP
#    proxy writes it: "- - -" for the request, code 0, the bytes each way,
#    the duration, the flags (UF when the upstream was never reached) and the
#    upstream host; in the text and JSON formats alike;
#  - access_log.format istio: Istio's default text format, field for field,
#    for HTTP requests (via_upstream, the cluster, the addresses, the route)
#    and L4 connections; the JSON format carries Istio's keys for them;
#  - a client that goes away while its request waits for the upstream is
#    logged 0 DC when it leaves (not 504 UT at the request timeout), and the
#    upstream connection is released then.
. "$(dirname "$0")/lib.sh"

certs
P_APP=$(free_port); P_DEAD=$(free_port)
start_backend app --listen "127.0.0.1:$P_APP" --mode echo

# tcp_sidecar NAME FORMAT: a single sidecar, access log in FORMAT to
# $T/NAME-access.log, an L4 listener to the echo backend (port P_<NAME>_OK)
# and one to a port nothing listens on (P_<NAME>_DEAD).
tcp_sidecar() {
    local name=$1 fmt=$2 ok dead
    ok=$(free_port); dead=$(free_port)
    sidecar_config "$T/$name.yaml" client foo client
    cat >>"$T/$name.yaml" <<EOF
access_log: {path: "$T/$name-access.log", format: $fmt}
listeners:
  - {name: ok, direction: outbound, address: "127.0.0.1:$ok", upstream: "127.0.0.1:$P_APP",
     tls: DISABLE, protocol: tcp}
  - {name: dead, direction: outbound, address: "127.0.0.1:$dead", upstream: "127.0.0.1:$P_DEAD",
     tls: DISABLE, protocol: tcp}
EOF
    start_sidecar "$name" "$T/$name.yaml" "$ok" "$dead"
    OK_PORT=$ok
    DEAD_PORT=$dead
}

step "text: a relayed TCP connection: - - -, code 0, bytes each way, upstream host"
tcp_sidecar t text
out=$(printf 'hello world\n' | tcp_client 127.0.0.1 "$OK_PORT" 1)
assert_eq "hello world" "$out" "echo through the L4 listener"
wait_for_log "$T/t-access.log" '^\[[0-9T:.-]+Z\] "- - -" 0 - 12 12 [0-9]+ - "-" "-" "-" "-" "127\.0\.0\.1:'"$P_APP"'" "-" -$'

step "text: the upstream refuses: UF, no bytes"
printf 'x\n' | tcp_client 127.0.0.1 "$DEAD_PORT" 1 >/dev/null || true
wait_for_log "$T/t-access.log" '^\[[0-9T:.-]+Z\] "- - -" 0 UF 0 0 [0-9]+ - "-" "-" "-" "-" "127\.0\.0\.1:'"$P_DEAD"'" "-" -$'
assert_eq 2 "$(count_lines "$T/t-access.log" '.')" "one line per connection"

step "json: the same, with Istio's keys"
tcp_sidecar j json
printf 'hello\n' | tcp_client 127.0.0.1 "$OK_PORT" 1 >/dev/null
printf 'x\n' | tcp_client 127.0.0.1 "$DEAD_PORT" 1 >/dev/null || true
wait_for_count "$T/j-access.log" '.' 2
python3 - "$T/j-access.log" "$P_APP" "$P_DEAD" <<'EOF' || fail "JSON TCP access-log lines"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
ok = [l for l in lines if l["upstream_host"] == "127.0.0.1:" + sys.argv[2]][0]
dead = [l for l in lines if l["upstream_host"] == "127.0.0.1:" + sys.argv[3]][0]
assert ok["method"] is None and ok["path"] is None and ok["protocol"] is None, ok
assert ok["response_code"] == 0 and ok["response_flags"] == "-", ok
assert ok["bytes_received"] == 6 and ok["bytes_sent"] == 6, ok
assert isinstance(ok["duration"], int), ok
assert dead["response_flags"] == "UF" and dead["bytes_sent"] == 0, dead
assert ok["route_name"] == "ok" and ok["upstream_cluster"].startswith("outbound|"), ok
assert ok["downstream_remote_address"].startswith("127.0.0.1:"), ok
assert ok["response_code_details"] is None and ok["requested_server_name"] is None, ok
EOF

step "istio: an HTTP request and an L4 connection in Istio's default format"
P_HTTP=$(free_port); P_IST_HTTP=$(free_port); P_IST_TCP=$(free_port)
start_backend web --listen "127.0.0.1:$P_HTTP" --mode http
sidecar_config "$T/i.yaml" client foo client
cat >>"$T/i.yaml" <<EOF
access_log: {path: "$T/i-access.log", format: istio}
listeners:
  - {name: web, direction: outbound, address: "127.0.0.1:$P_IST_HTTP", upstream: "127.0.0.1:$P_HTTP",
     tls: DISABLE, protocol: http, timeouts: {request_ms: 30000}}
  - {name: raw, direction: outbound, address: "127.0.0.1:$P_IST_TCP", upstream: "127.0.0.1:$P_APP",
     tls: DISABLE, protocol: tcp}
EOF
start_sidecar i "$T/i.yaml" "$P_IST_HTTP" "$P_IST_TCP"
code=$(timeout 20 curl -sS -m 10 -o /dev/null -w '%{http_code}' -A probe/1 -H 'x-request-id: rid-1' \
    "http://127.0.0.1:$P_IST_HTTP/status/200") || fail "curl through the istio-format sidecar"
assert_eq 200 "$code" "status"
printf 'hello\n' | tcp_client 127.0.0.1 "$P_IST_TCP" 1 >/dev/null
wait_for_count "$T/i-access.log" '.' 2
# [START_TIME] "METHOD PATH PROTOCOL" CODE FLAGS DETAILS TERMINATION "TRANSPORT_FAILURE"
# RECEIVED SENT DURATION SERVICE_TIME "XFF" "UA" "REQUEST_ID" "AUTHORITY" "UPSTREAM_HOST"
# CLUSTER UPSTREAM_LOCAL DOWNSTREAM_LOCAL DOWNSTREAM_REMOTE SNI ROUTE
assert_contains "$T/i-access.log" '^\[[0-9T:.-]+Z\] "GET /status/200 HTTP/1\.1" 200 - via_upstream - "-" 0 [0-9]+ [0-9]+ [0-9]+ "-" "probe/1" "rid-1" "127\.0\.0\.1:'"$P_IST_HTTP"'" "127\.0\.0\.1:'"$P_HTTP"'" outbound\|[0-9]+\|\|127\.0\.0\.1:'"$P_HTTP"' - 127\.0\.0\.1:'"$P_IST_HTTP"' 127\.0\.0\.1:[0-9]+ - web$'
assert_contains "$T/i-access.log" '^\[[0-9T:.-]+Z\] "- - -" 0 - - - "-" 6 6 [0-9]+ - "-" "-" "-" "-" "127\.0\.0\.1:'"$P_APP"'" outbound\|[0-9]+\|\|127\.0\.0\.1:'"$P_APP"' - 127\.0\.0\.1:'"$P_IST_TCP"' 127\.0\.0\.1:[0-9]+ - raw$'

step "the client leaves while its request waits: 0 DC at once, the upstream released"
# curl gives up after 1 s; the backend would answer after 20 s and the
# request timeout is longer still, so a UT line (or a line only at the
# timeout) means the departure went unseen.
timeout 20 curl -sS -m 1 -o /dev/null "http://127.0.0.1:$P_IST_HTTP/delay/20000" 2>/dev/null || true
wait_for_log "$T/i-access.log" '^\[[0-9T:.-]+Z\] "GET /delay/20000 HTTP/1\.1" 0 DC - - "-" 0 0 [0-9]+ - "-" "curl/[^"]*" "[^"]+" "127\.0\.0\.1:'"$P_IST_HTTP"'" "127\.0\.0\.1:'"$P_HTTP"'" outbound\|[0-9]+\|\|127\.0\.0\.1:'"$P_HTTP"' - 127\.0\.0\.1:'"$P_IST_HTTP"' 127\.0\.0\.1:[0-9]+ - web$' 8
assert_not_contains "$T/i-access.log" '/delay/20000 HTTP/1\.1" 504'
i=0
while [ -n "$(ss -Htn state established "( dport = :$P_HTTP )" 2>/dev/null)" ]; do
    [ $i -lt 100 ] || fail "the sidecar still holds its connection to the backend"
    sleep 0.05
    i=$((i + 1))
done

log "ok"
