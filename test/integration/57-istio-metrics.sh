#!/usr/bin/env bash
# Istio's standard metrics: one mTLS request each way at L7 and one mTLS
# connection each way at L4 through a sidecar pair.  Sidecar A (client, ns
# foo) originates ISTIO_MUTUAL to sidecar B (server, ns bar, STRICT); each
# reports what it saw on /stats/prometheus (A on its stats port, B on its
# admin port) with Istio's names and labels: reporter, principals,
# workloads and namespaces from the SPIFFE IDs and node config,
# destination_service, destination_port, request_protocol, response_code,
# response_flags and connection_security_policy="mutual_tls" both ways.
. "$(dirname "$0")/lib.sh"

certs
CLIENT_ID=spiffe://cluster.local/ns/foo/sa/client
SERVER_ID=spiffe://cluster.local/ns/bar/sa/server

P_APP=$(free_port); P_ECHO=$(free_port)
P_IN_HTTP=$(free_port); P_IN_TCP=$(free_port)
P_OUT_HTTP=$(free_port); P_OUT_TCP=$(free_port); P_OUT_PLAIN=$(free_port)
start_backend app --listen "127.0.0.1:$P_APP" --mode http --quiet
start_backend echo --listen "127.0.0.1:$P_ECHO" --mode echo --quiet

sidecar_config "$T/b.yaml" server bar server
cat >>"$T/b.yaml" <<EOF
listeners:
  - {name: in-http, direction: inbound, address: "127.0.0.1:$P_IN_HTTP", upstream: "127.0.0.1:$P_APP",
     port: 8080, protocol: http}
  - {name: in-tcp, direction: inbound, address: "127.0.0.1:$P_IN_TCP", upstream: "127.0.0.1:$P_ECHO",
     port: 9090, protocol: tcp}
EOF
peer_auth "$T/b.yaml" STRICT bar
B_ADMIN=127.0.0.1:$ADMIN_PORT
start_sidecar b "$T/b.yaml" "$P_IN_HTTP" "$P_IN_TCP"

sidecar_config "$T/a.yaml" client foo client
cat >>"$T/a.yaml" <<EOF
listeners:
  - {name: out-http, direction: outbound, address: "127.0.0.1:$P_OUT_HTTP", upstream: "127.0.0.1:$P_IN_HTTP",
     tls: ISTIO_MUTUAL, protocol: http, host: server.bar.svc.cluster.local,
     expected_identities: ["$SERVER_ID"]}
  - {name: out-tcp, direction: outbound, address: "127.0.0.1:$P_OUT_TCP", upstream: "127.0.0.1:$P_IN_TCP",
     tls: ISTIO_MUTUAL, protocol: tcp, expected_identities: ["$SERVER_ID"]}
  - {name: out-plain, direction: outbound, address: "127.0.0.1:$P_OUT_PLAIN", upstream: "127.0.0.1:$P_ECHO",
     tls: DISABLE, protocol: tcp}
EOF
A_STATS=$(sed -n 's/^stats: {address: "\(.*\)"}/\1/p' "$T/a.yaml")
start_sidecar a "$T/a.yaml" "$P_OUT_HTTP" "$P_OUT_TCP" "$P_OUT_PLAIN"

# sample FILE NAME LABEL=VALUE...: the value of the one sample of NAME whose
# labels include every LABEL="VALUE" given; fails unless exactly one matches.
sample() {
    local file=$1 name=$2 out n
    shift 2
    out=$(awk -v name="$name" -v want="$*" '
        index($0, name "{") == 1 {
            lab = substr($0, length(name) + 2); sub(/} [^ ]+$/, "", lab)
            val = $NF; delete have
            while (match(lab, /^[a-z_]+="[^"]*"/)) {
                kv = substr(lab, 1, RLENGTH); lab = substr(lab, RLENGTH + 2)
                eq = index(kv, "="); have[substr(kv, 1, eq - 1)] = substr(kv, eq + 2, length(kv) - eq - 2)
            }
            n = split(want, w, " "); ok = 1
            for (i = 1; i <= n; i++) {
                eq = index(w[i], "="); k = substr(w[i], 1, eq - 1)
                if (!(k in have) || have[k] != substr(w[i], eq + 1)) ok = 0
            }
            if (ok) print val
        }' "$file")
    n=$(printf '%s\n' "$out" | grep -c . || true)
    if [ "$n" != 1 ]; then
        grep "^$name{" "$file" >&2 || true
        fail "$name with $*: $n samples match, expected 1"
    fi
    echo "$out"
}

step "one HTTP request and one TCP exchange through the pair"
code=$(timeout 20 curl -sS -m 10 -o "$T/body" -w '%{http_code}' "http://127.0.0.1:$P_OUT_HTTP/some/path?q=1") ||
    fail "curl through the pair failed"
assert_eq 200 "$code" "status"
printf 'ping-12345\n' | tcp_client 127.0.0.1 "$P_OUT_TCP" 1 >"$T/echo" || fail "tcp exchange failed"
assert_eq "ping-12345" "$(cat "$T/echo")" "echoed bytes"
wait_for_log "$T/a.out" "$(conn_re dir=outbound listener=out-tcp class=mesh_mtls)"
wait_for_log "$T/b.out" "$(conn_re dir=inbound listener=in-tcp class=mesh_mtls)"

curl -sS -m 5 "http://$A_STATS/stats/prometheus" >"$T/a.prom" || fail "scrape A"
curl -sS -m 5 "http://$B_ADMIN/stats/prometheus" >"$T/b.prom" || fail "scrape B"

A_OWN="reporter=source source_workload=client source_workload_namespace=foo source_principal=$CLIENT_ID
 destination_workload=server destination_workload_namespace=bar destination_principal=$SERVER_ID
 connection_security_policy=mutual_tls"
B_OWN="reporter=destination source_workload=client source_workload_namespace=foo source_principal=$CLIENT_ID
 destination_workload=server destination_workload_namespace=bar destination_principal=$SERVER_ID
 destination_service=server.bar.svc.cluster.local connection_security_policy=mutual_tls"
# shellcheck disable=SC2086 # word splitting of the label lists is wanted
{
step "A (reporter source) counted the HTTP request with Istio's labels"
L="$A_OWN destination_service=server.bar.svc.cluster.local destination_port=$P_IN_HTTP request_protocol=http response_code=200 response_flags=-"
assert_eq 1 "$(sample "$T/a.prom" istio_requests_total $L)" "A istio_requests_total"
assert_eq 1 "$(sample "$T/a.prom" istio_request_duration_milliseconds_count $L)" "A duration count"
assert_eq 1 "$(sample "$T/a.prom" istio_request_duration_milliseconds_bucket $L le=+Inf)" "A duration +Inf"
assert_eq 1 "$(sample "$T/a.prom" istio_request_bytes_bucket $L le=1)" "A request bytes <= 1 (a GET)"
assert_eq 0 "$(sample "$T/a.prom" istio_response_bytes_bucket $L le=10)" "A response bytes <= 10"
assert_eq 1 "$(sample "$T/a.prom" istio_response_bytes_bucket $L le=100)" "A response bytes <= 100"
assert_eq 1 "$(sample "$T/a.prom" istio_response_bytes_count $L)" "A response bytes count"
# the default buckets, and no path anywhere in the labels
assert_eq 20 "$(grep -c '^istio_request_duration_milliseconds_bucket{' "$T/a.prom")" "A duration buckets (19 + Inf)"
assert_contains "$T/a.prom" '^istio_request_duration_milliseconds_bucket\{.*le="1800000"\}'
assert_not_contains "$T/a.prom" 'some/path'
# the sidecar's own family now says mutual_tls for outbound mTLS too
assert_contains "$T/a.prom" '^sidecar_requests_total\{direction="outbound",port="'"$P_IN_HTTP"'",response_code="200",connection_security_policy="mutual_tls",response_flags="-"\} 1$'

step "B (reporter destination) counted it too"
L="$B_OWN destination_port=8080 request_protocol=http response_code=200 response_flags=-"
assert_eq 1 "$(sample "$T/b.prom" istio_requests_total $L)" "B istio_requests_total"
assert_eq 1 "$(sample "$T/b.prom" istio_request_duration_milliseconds_count $L)" "B duration count"

step "A counted the TCP connection: opened, closed, bytes"
L="$A_OWN destination_service=127.0.0.1 destination_port=$P_IN_TCP request_protocol=tcp response_flags=-"
assert_eq 1 "$(sample "$T/a.prom" istio_tcp_connections_opened_total $L)" "A tcp opened"
assert_eq 1 "$(sample "$T/a.prom" istio_tcp_connections_closed_total $L)" "A tcp closed"
assert_eq 11 "$(sample "$T/a.prom" istio_tcp_received_bytes_total $L)" "A tcp received"
assert_eq 11 "$(sample "$T/a.prom" istio_tcp_sent_bytes_total $L)" "A tcp sent"
assert_not_contains "$T/a.prom" '^istio_tcp_connections_opened_total\{.*response_code='

step "B counted it too"
L="$B_OWN destination_port=9090 request_protocol=tcp response_flags=-"
assert_eq 1 "$(sample "$T/b.prom" istio_tcp_connections_opened_total $L)" "B tcp opened"
assert_eq 1 "$(sample "$T/b.prom" istio_tcp_connections_closed_total $L)" "B tcp closed"
assert_eq 11 "$(sample "$T/b.prom" istio_tcp_received_bytes_total $L)" "B tcp received"
}

step "a plaintext TCP connection: unknown peer, connection_security_policy none"
printf 'plain\n' | tcp_client 127.0.0.1 "$P_OUT_PLAIN" 1 >"$T/echo2" || fail "plain exchange failed"
assert_eq "plain" "$(cat "$T/echo2")" "echoed bytes"
wait_for_log "$T/a.out" "$(conn_re dir=outbound listener=out-plain class=plaintext)"
curl -sS -m 5 "http://$A_STATS/stats/prometheus" >"$T/a.prom" || fail "scrape A"
# shellcheck disable=SC2086
assert_eq 1 "$(sample "$T/a.prom" istio_tcp_connections_closed_total reporter=source \
    source_workload=client source_workload_namespace=foo source_principal=unknown \
    destination_workload=unknown destination_workload_namespace=unknown destination_principal=unknown \
    destination_service=127.0.0.1 destination_port=$P_ECHO request_protocol=tcp \
    connection_security_policy=none response_flags=-)" "A plaintext tcp closed"

step "envoy_server_days_until_first_cert_expiring"
days=$(awk '$1 == "envoy_server_days_until_first_cert_expiring" { print $2 }' "$T/a.prom")
[ -n "$days" ] || fail "no envoy_server_days_until_first_cert_expiring sample"
assert_le 1 "$days" "days until the first certificate expires"
assert_contains "$T/a.prom" '^# TYPE envoy_server_days_until_first_cert_expiring gauge$'

alive a
alive b
log "ok"
