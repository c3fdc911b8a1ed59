#!/usr/bin/env bash
# Envoy's admin conventions: GET / and /help list the endpoints,
# /server_info reports version, state, uptime, options, versions and node,
# /stats takes ?filter=REGEX and ?format=json, POST /reset_counters zeroes
# counters, POST /drain_listeners stops accepting without exiting (a held
# connection keeps working, new ones are refused, readiness and state say
# DRAINING), one INFO line per listener at start-up and after SIGHUP, a
# WARN when our certificate's trust domain is not node.trust_domain, and
# the same summary from --check; --help describes options and signals.
. "$(dirname "$0")/lib.sh"

certs
P_ECHO=$(free_port); P_OUT=$(free_port); P_IN=$(free_port)
start_backend echo --listen "127.0.0.1:$P_ECHO" --mode echo --quiet

sidecar_config "$T/s.yaml" node-a foo client
cat >>"$T/s.yaml" <<EOF
listeners:
  - {name: plain-out, direction: outbound, address: "127.0.0.1:$P_OUT", upstream: "127.0.0.1:$P_ECHO",
     tls: DISABLE, protocol: tcp}
  - {name: mesh-in, direction: inbound, address: "127.0.0.1:$P_IN", upstream: "127.0.0.1:$P_ECHO",
     port: 8080, protocol: http}
EOF
peer_auth "$T/s.yaml" STRICT foo
ADMIN=127.0.0.1:$ADMIN_PORT
HEALTH=$(sed -n 's/^health: {address: "\(.*\)"}/\1/p' "$T/s.yaml")
LINE_OUT="info listener plain-out: 127.0.0.1:$P_OUT outbound port=$P_ECHO protocol=tcp mode=DISABLE \\(tls: set on it\\)"
LINE_IN="info listener mesh-in: 127.0.0.1:$P_IN inbound port=8080 protocol=http mode=STRICT \\(PeerAuthentication foo/default, namespace\\)"

step "--check prints the effective policy, one line per listener"
"$SIDECAR" -c "$T/s.yaml" --check >"$T/check.out" 2>"$T/check.err" || fail "--check refused a valid config"
assert_contains "$T/check.out" "^${LINE_OUT#info }$"
assert_contains "$T/check.out" "^${LINE_IN#info }$"
assert_contains "$T/check.out" 'configuration is valid$'

step "--help describes the options, the signals and where the docs are"
"$SIDECAR" --help >"$T/help.out" 2>&1 || fail "--help exited non-zero"
for re in '--config FILE' '--check' '--log-level' '--version' 'SIGHUP +reload' 'SIGTERM +drain' \
    'docs/config.md' 'conf/sidecar.yaml' '/help'; do
    assert_contains "$T/help.out" "$re"
done

step "start-up logs one INFO line per listener"
start_sidecar s "$T/s.yaml" "$P_OUT" "$P_IN"
assert_contains "$T/s.err" "$LINE_OUT"
assert_contains "$T/s.err" "$LINE_IN"
assert_not_contains "$T/s.err" 'not node.trust_domain'

step "GET / and /help list every endpoint"
curl -sS -m 5 "http://$ADMIN/" >"$T/root.txt" || fail "GET /"
curl -sS -m 5 "http://$ADMIN/help" >"$T/help.txt" || fail "GET /help"
assert_eq "$(cat "$T/root.txt")" "$(cat "$T/help.txt")" "/ and /help"
assert_contains "$T/help.txt" '^admin commands are:$'
for ep in / /help /server_info /stats /stats/prometheus /reset_counters /ready /config_dump \
    /certs /logging /reload /drain_listeners /drain /quitquitquit; do
    assert_contains "$T/help.txt" "^  $ep: [a-zA-Z]"
done

step "/server_info: version, state LIVE, uptime, options, versions, node"
curl -sS -m 5 "http://$ADMIN/server_info" >"$T/info.json" || fail "GET /server_info"
for re in '"version":"[0-9]+\.[0-9]+\.[0-9]+"' '"state":"LIVE"' '"uptime_current_epoch":"[0-9]+s"' \
    '"command_line_options":\{"config_path":"[^"]*s\.yaml"' '"openssl_version":"OpenSSL 3' \
    '"libevent_version":"2\.' '"node":\{"id":"node-a"'; do
    assert_contains "$T/info.json" "$re"
done

step "/stats?filter=REGEX and ?format=json"
printf 'one\n' | tcp_client 127.0.0.1 "$P_OUT" 1 >"$T/e1" || fail "exchange through plain-out"
assert_eq one "$(cat "$T/e1")" "echo"
wait_for_log "$T/s.out" "$(conn_re listener=plain-out end=peer_closed)"
curl -sS -m 5 "http://$ADMIN/stats" >"$T/stats.txt"
assert_contains "$T/stats.txt" "^outbound\\.$P_ECHO\\.plaintext: 1$"
assert_contains "$T/stats.txt" '^inbound\.handshake\.ok: 0$'
assert_contains "$T/stats.txt" '^server\.state: 0$'
curl -sS -m 5 "http://$ADMIN/stats?filter=%5Eoutbound%5C.$P_ECHO%5C." >"$T/filtered.txt"
assert_contains "$T/filtered.txt" "^outbound\\.$P_ECHO\\.plaintext: 1$"
assert_eq 0 "$(grep -c -v "^outbound\\.$P_ECHO\\." "$T/filtered.txt" || true)" "lines the filter should have dropped"
curl -sS -m 5 "http://$ADMIN/stats?format=json&filter=plaintext" >"$T/stats.json"
assert_contains "$T/stats.json" '^\{"stats":\[\{"name":"[^"]+","value":[0-9]+\}'
assert_contains "$T/stats.json" "\\{\"name\":\"outbound\\.$P_ECHO\\.plaintext\",\"value\":1\\}"
assert_not_contains "$T/stats.json" 'handshake'
code=$(curl -sS -m 5 -o /dev/null -w '%{http_code}' "http://$ADMIN/stats?filter=%28") || true
assert_eq 400 "$code" "an invalid regex"

step "POST /reset_counters zeroes counters, not gauges"
code=$(curl -sS -m 5 -o /dev/null -w '%{http_code}' "http://$ADMIN/reset_counters") || true
assert_eq 405 "$code" "GET /reset_counters"
curl -sS -m 5 -X POST "http://$ADMIN/reset_counters" >/dev/null || fail "POST /reset_counters"
curl -sS -m 5 "http://$ADMIN/stats" >"$T/stats2.txt"
assert_contains "$T/stats2.txt" "^outbound\\.$P_ECHO\\.plaintext: 0$"
curl -sS -m 5 "http://$ADMIN/stats/prometheus" >"$T/prom.txt"
assert_contains "$T/prom.txt" '^sidecar_connections_active 0$'
assert_contains "$T/prom.txt" '^envoy_server_days_until_first_cert_expiring [0-9]+$'

step "SIGHUP logs the summary again"
kill -HUP "$(pid_of s)"
wait_for_count "$T/s.err" "$LINE_OUT" 2
wait_for_count "$T/s.err" "$LINE_IN" 2

step "POST /drain_listeners: new connections refused, a held one finishes, no exit"
exec 3<>"/dev/tcp/127.0.0.1/$P_OUT"
printf 'before\n' >&3
read -r -t 5 got <&3 || fail "no echo on the held connection"
assert_eq before "$got" "echo before the drain"
code=$(curl -sS -m 5 -o /dev/null -w '%{http_code}' "http://$ADMIN/drain_listeners") || true
assert_eq 405 "$code" "GET /drain_listeners"
curl -sS -m 5 -X POST "http://$ADMIN/drain_listeners" >/dev/null || fail "POST /drain_listeners"
wait_port_closed 127.0.0.1 "$P_OUT" 5
wait_port_closed 127.0.0.1 "$P_IN" 5
if (exec 4<>"/dev/tcp/127.0.0.1/$P_OUT") 2>/dev/null; then fail "a new connection was accepted after /drain_listeners"; fi
printf 'after\n' >&3
read -r -t 5 got <&3 || fail "the held connection stopped working"
assert_eq after "$got" "echo after the drain"
exec 3>&-
wait_for_count "$T/s.out" "$(conn_re listener=plain-out end=peer_closed)" 2
alive s
curl -sS -m 5 "http://$ADMIN/server_info" >"$T/info2.json"
assert_contains "$T/info2.json" '"state":"DRAINING"'
code=$(curl -sS -m 5 -o "$T/ready" -w '%{http_code}' "http://$HEALTH/healthz/ready") || true
assert_eq 503 "$code" "readiness while drained"
assert_contains "$T/ready" 'draining'
assert_contains "$T/s.err" 'draining listeners: 1 connection\(s\) open, not exiting'
step "a reload keeps the listeners closed"
kill -HUP "$(pid_of s)"
wait_for_count "$T/s.err" "$LINE_OUT" 3
sleep 0.3
if (exec 4<>"/dev/tcp/127.0.0.1/$P_OUT") 2>/dev/null; then fail "a reload reopened a drained listener"; fi
alive s
stop s
assert_eq 0 "$STOP_RC" "exit status after SIGTERM"

step "a WARN when our certificate's trust domain is not node.trust_domain"
P_APP=$(free_port); P_HTTP=$(free_port)
start_backend app --listen "127.0.0.1:$P_APP" --mode http --quiet
sidecar_config "$T/td.yaml" node-b foo client
sed -i 's/trust_domain: cluster.local/trust_domain: example.org/' "$T/td.yaml"
cat >>"$T/td.yaml" <<EOF
listeners:
  - {name: http-out, direction: outbound, address: "127.0.0.1:$P_HTTP", upstream: "127.0.0.1:$P_APP",
     tls: DISABLE, protocol: http}
EOF
TD_ADMIN=127.0.0.1:$ADMIN_PORT
start_sidecar td "$T/td.yaml" "$P_HTTP"
assert_contains "$T/td.err" 'warn our certificate spiffe://cluster\.local/ns/foo/sa/client is in trust domain cluster\.local, not node\.trust_domain example\.org'

step "POST /drain_listeners?graceful also closes idle HTTP connections"
exec 3<>"/dev/tcp/127.0.0.1/$P_HTTP"
code=$(curl -sS -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P_HTTP/x") || true
assert_eq 200 "$code" "a request before the drain"
curl -sS -m 5 -X POST "http://$TD_ADMIN/drain_listeners?graceful" >/dev/null || fail "POST /drain_listeners?graceful"
rc=0
read -r -t 5 got <&3 || rc=$?
assert_eq 1 "$rc" "read status on the idle connection (1: closed by the sidecar, >128: still open)"
exec 3<&-
wait_port_closed 127.0.0.1 "$P_HTTP" 5
assert_contains "$T/td.err" 'draining listeners gracefully'
alive td
log "ok"
