#!/usr/bin/env bash
# HTTP/1.1 at L7: the local replies Envoy users know, and the access log.
#  - two signers: a "foo"-signed sidecar F calling a "bar"-signed sidecar G
#    answers 503 "upstream connect error or disconnect/reset before
#    headers. reset reason: connection failure, transport failure reason:
#    TLS error: peer chain does not lead to any of 1 trusted roots (issuer
#    CN=bar; ...)", and its
#    access log shows UF and the reason;
#  - upstream down (nothing listens): 503 UF on a single sidecar;
#  - a backend that stalls past request_ms: 504 "upstream request timeout", UT;
#  - a backend that closes without answering: a GET on a reused connection
#    is retried once (503 "retried and the latest reset reason: connection
#    termination", UC,URX when the retry fails too), a POST is never sent
#    twice (503 UC);
#  - max_connections 1 and max_pending 1: the third concurrent request gets
#    503 "... reset reason: overflow", UO;
#  - the access-log line matches Envoy's default format (text), and the JSON
#    format is one valid object per line with Istio's keys.
. "$(dirname "$0")/lib.sh"

certs
SERVER_ID=spiffe://cluster.local/ns/bar/sa/server
RESET_PREFIX='upstream connect error or disconnect/reset before headers. '

P_APP=$(free_port); P_DEAD=$(free_port)
P_IN_G=$(free_port); P_OUT_BAR=$(free_port); P_OUT_APP_F=$(free_port)
P_OUT_DEAD=$(free_port); P_OUT_SLOW=$(free_port); P_OUT_APP_S=$(free_port)
start_backend app --listen "127.0.0.1:$P_APP" --mode http

# G: "bar"-signed server (bar-server, trusts bar-ca only).
sidecar_config "$T/g.yaml" server bar bar-server
sed -i "s#trusted_ca: \"$CERTS/ca.crt\"#trusted_ca: \"$CERTS/bar-ca.crt\"#" "$T/g.yaml"
cat >>"$T/g.yaml" <<EOF
listeners:
  - {name: in, direction: inbound, address: "127.0.0.1:$P_IN_G", upstream: "127.0.0.1:$P_APP",
     port: 8080, protocol: http}
EOF
peer_auth "$T/g.yaml" STRICT bar
start_sidecar g "$T/g.yaml" "$P_IN_G"

# F: "foo"-signed client (foo-client, trusts foo-ca only); text access log.
sidecar_config "$T/f.yaml" client foo foo-client
sed -i "s#trusted_ca: \"$CERTS/ca.crt\"#trusted_ca: \"$CERTS/foo-ca.crt\"#" "$T/f.yaml"
cat >>"$T/f.yaml" <<EOF
access_log: {path: stdout, format: text}
listeners:
  - {name: out-bar, direction: outbound, address: "127.0.0.1:$P_OUT_BAR", upstream: "127.0.0.1:$P_IN_G",
     tls: ISTIO_MUTUAL, protocol: http, expected_identities: ["$SERVER_ID"]}
  - {name: out-app, direction: outbound, address: "127.0.0.1:$P_OUT_APP_F", upstream: "127.0.0.1:$P_APP",
     tls: DISABLE, protocol: http}
EOF
start_sidecar f "$T/f.yaml" "$P_OUT_BAR" "$P_OUT_APP_F"

# S: a single sidecar, a short request timeout on one listener (per-listener
# timeouts override the top-level ones), a small pool, JSON access log
# in a file.
sidecar_config "$T/s.yaml" client foo client
cat >>"$T/s.yaml" <<EOF
http: {max_connections: 1, max_pending: 1}
access_log: {path: "$T/s-access.json", format: json}
listeners:
  - {name: out-dead, direction: outbound, address: "127.0.0.1:$P_OUT_DEAD", upstream: "127.0.0.1:$P_DEAD",
     tls: DISABLE, protocol: http}
  - {name: out-slow, direction: outbound, address: "127.0.0.1:$P_OUT_SLOW", upstream: "127.0.0.1:$P_APP",
     tls: DISABLE, protocol: http, timeouts: {request_ms: 700}}
  - {name: out-app, direction: outbound, address: "127.0.0.1:$P_OUT_APP_S", upstream: "127.0.0.1:$P_APP",
     tls: DISABLE, protocol: http}
EOF
S_STATS=$(sed -n 's/^stats: {address: "\(.*\)"}/\1/p' "$T/s.yaml")
start_sidecar s "$T/s.yaml" "$P_OUT_DEAD" "$P_OUT_SLOW" "$P_OUT_APP_S"

# access_lines FILE: the access-log lines of a sidecar's stdout (they start
# with "[<time>]"; connection-log lines start with the time itself).
access_lines() { grep -a -E '^\[' "$1" || true; }

step "two signers: F (foo) -> G (bar): 503 with Envoy's TLS failure body"
code=$(timeout 20 curl -sS -m 10 -o "$T/bar.body" -w '%{http_code}' "http://127.0.0.1:$P_OUT_BAR/tls") ||
    fail "curl through F failed"
assert_eq 503 "$code" "status"
body=$(cat "$T/bar.body")
log "body: $body"
# Envoy's words, then "TLS error: " and the sentence the connection log
# writes: whose chain, what it leads to, which certificate, OpenSSL's
# verify reason; and no retry for a chain that does not verify
case $body in
"${RESET_PREFIX}reset reason: connection failure, transport failure reason: TLS error: peer chain does not lead to any of 1 trusted roots (issuer CN=bar; subject CN=server.bar.svc.cluster.local, SAN $SERVER_ID, serial "*"): unable to get local issuer certificate") ;;
*) fail "503 body is not Envoy's TLS failure reply with the reason in words: '$body'" ;;
esac
assert_le "$(wc -l <"$T/bar.body")" 1 "newlines in the 503 body"

step "F's access log: UF and the transport failure reason"
wait_for_log "$T/f.out" '^\[.*\] "GET /tls HTTP/1\.1" 503 UF'
line=$(access_lines "$T/f.out" | grep '"GET /tls ' | tail -n 1)
log "access: $line"
printf '%s\n' "$line" | grep -q -E '" 503 UF ' || fail "access log: no 503 UF (and no URX): $line"
printf '%s\n' "$line" | grep -q -F "\"127.0.0.1:$P_IN_G\" \"${body#*transport failure reason: }\"" ||
    fail "access log: upstream host and transport failure reason missing: $line"
# the client's connection line names the upstream failure, in words (the
# client saw a 503 for it, whatever ended its connection)
wait_for_log "$T/f.out" "$(conn_re dir=outbound listener=out-bar)"
assert_contains "$T/f.out" "listener=out-bar .* end=[a-z_]+ \\(after upstream failure: tls_verify_failed: peer chain does not lead to any of 1 trusted roots \\(issuer CN=bar; "
# G was refused by F: its line names the certificate it presented and says
# F does not trust that certificate's issuer
wait_for_log "$T/g.out" "$(conn_re dir=inbound listener=in class=refused)"
assert_contains "$T/g.out" "end=tls_handshake_failed: the peer refused our certificate \\(SAN $SERVER_ID, serial [0-9A-F]+\\): the peer does not trust its issuer CN=bar: tlsv1 alert unknown ca"

step "access-log text line: Envoy's default format, then reason and peer"
code=$(timeout 20 curl -sS -m 10 -o /dev/null -w '%{http_code}' -A 'sc-test/1.0' \
    -H 'x-forwarded-for: 10.1.2.3' -H 'x-request-id: rid-text-1' "http://127.0.0.1:$P_OUT_APP_F/fmt?q=1") ||
    fail "curl through F (plain) failed"
assert_eq 200 "$code" "status"
wait_for_log "$T/f.out" '"GET /fmt\?q=1 HTTP/1\.1"'
line=$(access_lines "$T/f.out" | grep '"GET /fmt' | tail -n 1)
log "access: $line"
# [START_TIME] "METHOD PATH PROTOCOL" CODE FLAGS BYTES_RECEIVED BYTES_SENT DURATION
# UPSTREAM_SERVICE_TIME "X-FORWARDED-FOR" "USER-AGENT" "X-REQUEST-ID" "AUTHORITY"
# "UPSTREAM_HOST" "TRANSPORT_FAILURE_REASON" PEER_ID
re='^\[[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z\] "GET /fmt\?q=1 HTTP/1\.1" 200 - 0 19 [0-9]+ [0-9]+ "10\.1\.2\.3" "sc-test/1\.0" "rid-text-1" "127\.0\.0\.1:'"$P_OUT_APP_F"'" "127\.0\.0\.1:'"$P_APP"'" "-" -$'
printf '%s\n' "$line" | grep -q -E "$re" || fail "access-log line does not match Envoy's default format: $line"

step "upstream down: 503 UF from a single sidecar"
code=$(timeout 20 curl -sS -m 10 -o "$T/dead.body" -w '%{http_code}' "http://127.0.0.1:$P_OUT_DEAD/dead") ||
    fail "curl to the dead upstream failed"
assert_eq 503 "$code" "status"
body=$(cat "$T/dead.body")
log "body: $body"
case $body in
"${RESET_PREFIX}reset reason: connection failure, transport failure reason: delayed connect error: 111" | \
"${RESET_PREFIX}retried and the latest reset reason: connection failure, transport failure reason: delayed connect error: 111") ;;
*) fail "503 body is not Envoy's connect-failure reply: '$body'" ;;
esac

step "a backend that stalls past request_ms (700): 504 upstream request timeout"
t0=$(date +%s%N)
code=$(timeout 20 curl -sS -m 10 -o "$T/slow.body" -w '%{http_code}' "http://127.0.0.1:$P_OUT_SLOW/delay/5000") ||
    fail "curl to the stalling backend failed"
ms=$((($(date +%s%N) - t0) / 1000000))
assert_eq 504 "$code" "status"
assert_eq "upstream request timeout" "$(cat "$T/slow.body")" "504 body"
log "504 after ${ms} ms"
assert_le 600 "$ms" "time to the 504 (ms)"
assert_le "$ms" 3000 "time to the 504 (ms)"

step "a GET the backend drops on a reused connection is retried once, on a fresh connection"
code=$(timeout 20 curl -sS -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P_OUT_APP_S/warm1") || fail "curl failed"
assert_eq 200 "$code" "status (warm-up)"
drops0=$(count_lines "$T/app.out" 'dropped: /drop')
code=$(timeout 20 curl -sS -m 10 -o "$T/drop-get.body" -w '%{http_code}' "http://127.0.0.1:$P_OUT_APP_S/drop") ||
    fail "curl GET /drop failed"
assert_eq 503 "$code" "status (GET /drop)"
assert_eq "${RESET_PREFIX}retried and the latest reset reason: connection termination" "$(cat "$T/drop-get.body")" \
    "503 body (GET /drop)"
assert_eq $((drops0 + 2)) "$(count_lines "$T/app.out" 'dropped: /drop')" "GETs the backend dropped (first try and one retry)"

step "a POST the backend drops on a reused connection is not sent twice"
code=$(timeout 20 curl -sS -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P_OUT_APP_S/warm2") || fail "curl failed"
assert_eq 200 "$code" "status (warm-up)"
code=$(timeout 20 curl -sS -m 10 -o "$T/drop-post.body" -w '%{http_code}' -d 'pay=once' "http://127.0.0.1:$P_OUT_APP_S/drop") ||
    fail "curl POST /drop failed"
assert_eq 503 "$code" "status (POST /drop)"
assert_eq "${RESET_PREFIX}reset reason: connection termination" "$(cat "$T/drop-post.body")" "503 body (POST /drop)"
assert_eq $((drops0 + 3)) "$(count_lines "$T/app.out" 'dropped: /drop')" "requests the backend dropped (the POST once)"

step "max_connections 1, max_pending 1: the third concurrent request gets 503 UO"
uo_pids=()
for i in 1 2 3; do
    timeout 20 curl -sS -m 10 -o "$T/uo.$i.body" -w '%{http_code}\n' "http://127.0.0.1:$P_OUT_APP_S/delay/400" >"$T/uo.$i.code" &
    uo_pids+=($!)
    sleep 0.05
done
for p in "${uo_pids[@]}"; do wait "$p" || true; done
sort "$T"/uo.*.code | tr '\n' ' ' >"$T/uo.codes"
assert_eq "200 200 503 " "$(cat "$T/uo.codes")" "statuses of three concurrent requests"
assert_eq "${RESET_PREFIX}reset reason: overflow" "$(cat "$(grep -l 503 "$T"/uo.*.code | sed 's/code$/body/')")" "503 body (overflow)"

step "the sidecar still answers after the failures"
code=$(timeout 20 curl -sS -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P_OUT_APP_S/after") ||
    fail "curl after the failures failed"
assert_eq 200 "$code" "status"

step "JSON access log: one object per line with Istio's keys; UF and UT"
wait_for_count "$T/s-access.json" '"path":"/after"' 1 10
log "json: $(grep -F '/dead' "$T/s-access.json" | tail -n 1)"
node -e '
const fs = require("fs");
const lines = fs.readFileSync(process.argv[1], "utf8").split("\n").filter(l => l.length);
const keys = ["start_time", "method", "path", "protocol", "response_code", "response_flags",
  "bytes_received", "bytes_sent", "duration", "upstream_service_time", "x_forwarded_for",
  "user_agent", "request_id", "authority", "upstream_host", "upstream_transport_failure_reason"];
const by = {};
for (const l of lines) {
  let o;
  try { o = JSON.parse(l); } catch (e) { console.error("not JSON: " + l); process.exit(1); }
  for (const k of keys) if (!(k in o)) { console.error("key " + k + " missing: " + l); process.exit(1); }
  if (typeof o.response_code !== "number" || typeof o.duration !== "number") {
    console.error("numbers are not numbers: " + l); process.exit(1);
  }
  by[o.path] = o;
}
const want = [["/dead", 503, /^UF(,URX)?$/], ["/delay/5000", 504, /^UT$/], ["/after", 200, /^-$/],
  ["/drop", 503, /^UC$/]];
for (const [p, code, flags] of want) {
  const o = by[p];
  if (!o) { console.error("no line for " + p); process.exit(1); }
  if (o.response_code !== code || !flags.test(o.response_flags)) {
    console.error(p + ": got " + o.response_code + " " + o.response_flags); process.exit(1);
  }
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(o.start_time)) {
    console.error(p + ": start_time " + o.start_time); process.exit(1);
  }
}
if (!/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(by["/after"].request_id)) {
  console.error("generated request_id is not a UUIDv4: " + by["/after"].request_id); process.exit(1);
}
if (by["/after"].upstream_transport_failure_reason !== null) {
  console.error("unset values must be null"); process.exit(1);
}
' "$T/s-access.json" || fail "JSON access log check failed"
# the JSON sink does not write to stdout
assert_not_contains "$T/s.out" '"response_code"'

step "requests_total counts the local replies with their flags"
curl -sS -m 5 "http://$S_STATS/stats/prometheus" >"$T/s.prom"
assert_contains "$T/s.prom" "^sidecar_requests_total\\{direction=\"outbound\",port=\"$P_DEAD\",response_code=\"503\",connection_security_policy=\"none\",response_flags=\"UF(,URX)?\"\\} 1$"
assert_contains "$T/s.prom" "^sidecar_requests_total\\{direction=\"outbound\",port=\"$P_APP\",response_code=\"504\",connection_security_policy=\"none\",response_flags=\"UT\"\\} 1$"
assert_contains "$T/s.prom" "^sidecar_requests_total\\{direction=\"outbound\",port=\"$P_APP\",response_code=\"503\",connection_security_policy=\"none\",response_flags=\"UC,URX\"\\} 1$"
assert_contains "$T/s.prom" "^sidecar_requests_total\\{direction=\"outbound\",port=\"$P_APP\",response_code=\"503\",connection_security_policy=\"none\",response_flags=\"UC\"\\} 1$"
assert_contains "$T/s.prom" "^sidecar_requests_total\\{direction=\"outbound\",port=\"$P_APP\",response_code=\"503\",connection_security_policy=\"none\",response_flags=\"UO\"\\} 1$"
assert_contains "$T/s.prom" "^sidecar_upstream_pool_overflows_total 1$"

alive f
alive g
alive s
log "ok"
