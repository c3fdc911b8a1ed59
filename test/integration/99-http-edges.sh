#!/usr/bin/env bash
# HTTP/1.1 at L7: edge cases a user sees, through a real sidecar pair
# (A: client, outbound `protocol: http`, ISTIO_MUTUAL to B: server, inbound
# STRICT `protocol: http`), each with the exact status, local-reply body
# (docs/http.md), access-log flag and metrics:
#  1. CONNECT: A forwards the CONNECT to its listener's upstream (B, then
#     B's app), never to the CONNECT target; the app's 2xx comes back and
#     the connection becomes an L4 relay: bytes right behind the CONNECT
#     head, bytes right behind the 2xx head and 256 KiB of binary go
#     through unchanged both ways, and half-close passes through.
#  2. An app that answers garbage (the echo backend sends the request back):
#     B answers 502 "... reset reason: protocol error", flag UPE.
#  3. 431 "Request Header Fields Too Large" (flag DPE, connection closed)
#     for 101 header fields and for a 62 KiB head; A answers it, B and
#     the app never see the request nor a request pipelined behind it;
#     exactly 100 fields still pass.
#  4. Circuit breaking on A (max_connections 1, max_pending 1): with one
#     request in flight and one queued, the pool gauges show active 1 and
#     pending 1, and a third request gets 503 "... reset reason:
#     overflow", flag UO; the first two are answered.
#  5. Two signers, retries off: a foo-signed F calling a bar-signed G gets
#     503 "... reset reason: connection failure, transport failure reason:
#     TLS error: peer chain does not lead to any of 1 trusted roots (...)",
#     flag UF
#     (no URX), after exactly one handshake.
. "$(dirname "$0")/lib.sh"

certs
SERVER_ID=spiffe://cluster.local/ns/bar/sa/server
RESET_PREFIX='upstream connect error or disconnect/reset before headers. '

P_APP=$(free_port); P_ECHO=$(free_port); P_TUN=$(free_port); P_TARGET=$(free_port)
P_IN_APP=$(free_port); P_IN_ECHO=$(free_port); P_IN_TUN=$(free_port)
P_OUT_APP=$(free_port); P_OUT_ECHO=$(free_port); P_OUT_TUN=$(free_port)
P_IN_G=$(free_port); P_OUT_F=$(free_port)

start_backend app --listen "127.0.0.1:$P_APP" --mode http
start_backend echo --listen "127.0.0.1:$P_ECHO" --mode echo
# The CONNECT target named in the request line: nothing may ever reach it.
start_backend target --listen "127.0.0.1:$P_TARGET" --mode banner --banner "wrong target
"

# The app behind B for CONNECT: answers a CONNECT head with a 2xx followed
# (in the same write) by a greeting, then echoes; logs the head it got and,
# at the client's FIN, the count and sha256 of the tunnelled bytes, then
# closes its side.
cat >"$T/connect-app.js" <<'EOF'
const net = require("net"), crypto = require("crypto"), fs = require("fs");
const port = Number(process.argv[2]), logf = process.argv[3];
const log = (s) => fs.appendFileSync(logf, s + "\n");
const srv = net.createServer({ allowHalfOpen: true }, (sock) => {
  let head = Buffer.alloc(0), tunnel = false, n = 0;
  const h = crypto.createHash("sha256");
  log("conn");
  sock.on("data", (d) => {
    if (!tunnel) {
      head = Buffer.concat([head, d]);
      const i = head.indexOf("\r\n\r\n");
      if (i < 0) { if (head.length > 65536) sock.destroy(); return; }
      log("head " + JSON.stringify(head.subarray(0, i + 4).toString("latin1")));
      d = head.subarray(i + 4);
      tunnel = true;
      sock.write("HTTP/1.1 200 Connection established\r\n\r\nhello-from-tunnel\n");
    }
    if (d.length > 0) { n += d.length; h.update(d); sock.write(d); }
  });
  sock.on("end", () => { log("tunnel " + n + " " + h.digest("hex")); sock.end(); });
  sock.on("error", (e) => log("error " + e.message));
});
srv.listen(port, "127.0.0.1", () => console.log("listening on 127.0.0.1:" + port));
process.on("SIGTERM", () => process.exit(0));
EOF
spawn tunapp node "$T/connect-app.js" "$P_TUN" "$T/tunapp.log"
wait_port 127.0.0.1 "$P_TUN" 10

# B: server sidecar, one inbound STRICT http listener per app.
sidecar_config "$T/b.yaml" server bar server
cat >>"$T/b.yaml" <<EOF
access_log: {path: stdout, format: text}
listeners:
  - {name: in-app, direction: inbound, address: "127.0.0.1:$P_IN_APP", upstream: "127.0.0.1:$P_APP",
     port: 8080, protocol: http}
  - {name: in-echo, direction: inbound, address: "127.0.0.1:$P_IN_ECHO", upstream: "127.0.0.1:$P_ECHO",
     port: 8081, protocol: http}
  - {name: in-tun, direction: inbound, address: "127.0.0.1:$P_IN_TUN", upstream: "127.0.0.1:$P_TUN",
     port: 8082, protocol: http}
EOF
peer_auth "$T/b.yaml" STRICT bar
B_STATS=$(sed -n 's/^stats: {address: "\(.*\)"}/\1/p' "$T/b.yaml")
start_sidecar b "$T/b.yaml" "$P_IN_APP" "$P_IN_ECHO" "$P_IN_TUN"

# A: client sidecar, a pool of one connection and one waiting request per
# upstream, text access log on stdout.
sidecar_config "$T/a.yaml" client foo client
cat >>"$T/a.yaml" <<EOF
http: {max_connections: 1, max_pending: 1}
access_log: {path: stdout, format: text}
listeners:
  - {name: out-app, direction: outbound, address: "127.0.0.1:$P_OUT_APP", upstream: "127.0.0.1:$P_IN_APP",
     tls: ISTIO_MUTUAL, protocol: http, expected_identities: ["$SERVER_ID"]}
  - {name: out-echo, direction: outbound, address: "127.0.0.1:$P_OUT_ECHO", upstream: "127.0.0.1:$P_IN_ECHO",
     tls: ISTIO_MUTUAL, protocol: http, expected_identities: ["$SERVER_ID"]}
  - {name: out-tun, direction: outbound, address: "127.0.0.1:$P_OUT_TUN", upstream: "127.0.0.1:$P_IN_TUN",
     tls: ISTIO_MUTUAL, protocol: http, expected_identities: ["$SERVER_ID"]}
EOF
A_STATS=$(sed -n 's/^stats: {address: "\(.*\)"}/\1/p' "$T/a.yaml")
start_sidecar a "$T/a.yaml" "$P_OUT_APP" "$P_OUT_ECHO" "$P_OUT_TUN"

# G: "bar"-signed server (bar-server, trusts bar-ca only).
sidecar_config "$T/g.yaml" server bar bar-server
sed -i "s#trusted_ca: \"$CERTS/ca.crt\"#trusted_ca: \"$CERTS/bar-ca.crt\"#" "$T/g.yaml"
cat >>"$T/g.yaml" <<EOF
listeners:
  - {name: in, direction: inbound, address: "127.0.0.1:$P_IN_G", upstream: "127.0.0.1:$P_APP",
     port: 9090, protocol: http}
EOF
peer_auth "$T/g.yaml" STRICT bar
start_sidecar g "$T/g.yaml" "$P_IN_G"

# F: "foo"-signed client (foo-client, trusts foo-ca only), no retries.
sidecar_config "$T/f.yaml" client foo foo-client
sed -i "s#trusted_ca: \"$CERTS/ca.crt\"#trusted_ca: \"$CERTS/foo-ca.crt\"#" "$T/f.yaml"
cat >>"$T/f.yaml" <<EOF
http: {retries: 0}
access_log: {path: stdout, format: text}
listeners:
  - {name: out-bar, direction: outbound, address: "127.0.0.1:$P_OUT_F", upstream: "127.0.0.1:$P_IN_G",
     tls: ISTIO_MUTUAL, protocol: http, expected_identities: ["$SERVER_ID"]}
EOF
F_STATS=$(sed -n 's/^stats: {address: "\(.*\)"}/\1/p' "$T/f.yaml")
start_sidecar f "$T/f.yaml" "$P_OUT_F"

# access_lines FILE: the access-log lines of a sidecar's stdout (they start
# with "[<time>]"; connection-log lines start with the time itself).
access_lines() { grep -a -E '^\[' "$1" || true; }

# metric ADDR NAME_AND_LABELS: the value of one sample (0 when absent).
metric() {
    curl -sS -m 5 "http://$1/stats/prometheus" | awk -v k="$2" '$1 == k { v = $2 } END { print v + 0 }'
}

# wait_metric ADDR NAME_AND_LABELS VALUE [TIMEOUT_S=5]
wait_metric() {
    local i=0 v=
    while [ $i -lt $((${4:-5} * 20)) ]; do
        v=$(metric "$1" "$2")
        if [ "$v" = "$3" ]; then return 0; fi
        sleep 0.05
        i=$((i + 1))
    done
    fail "$2 is '$v', expected $3 after ${4:-5}s"
}

# raw_exchange PORT FILE_IN FILE_OUT [LIMIT_S=5]: writes FILE_IN on a TCP
# connection and reads until the far side closes (our write side stays
# open: an EOF means the sidecar closed).  Fails if it has not closed
# within LIMIT_S.
raw_exchange() {
    local port=$1 in=$2 out=$3 limit=${4:-5} rc=0
    exec 7<>"/dev/tcp/127.0.0.1/$port" || fail "cannot connect to 127.0.0.1:$port"
    cat "$in" >&7 || true
    timeout "$limit" cat <&7 >"$out" || rc=$?
    exec 7>&- 7<&-
    [ $rc -eq 0 ] || fail "127.0.0.1:$port did not close the connection within ${limit}s (status $rc)"
}

# ============================================================ 1. CONNECT
step "CONNECT through the pair: the route's upstream answers 2xx, then an L4 relay"
"$BACKEND" --gen 256k >"$T/data"
{
    printf 'hello-from-tunnel\nearly-bytes\n'
    cat "$T/data"
} >"$T/tunnel.expected"
t0=$(date +%s%N)
{
    printf 'CONNECT 127.0.0.1:%s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nUser-Agent: sc-test\r\n\r\nearly-bytes\n' \
        "$P_TARGET" "$P_TARGET"
    sleep 0.5
    cat "$T/data"
} | timeout 20 socat -t 8 - "TCP:127.0.0.1:$P_OUT_TUN" >"$T/tunnel.out" || fail "socat through the CONNECT tunnel failed"
ms=$((($(date +%s%N) - t0) / 1000000))
log "tunnel closed after ${ms} ms, $(wc -c <"$T/tunnel.out") bytes back"
# the status line, then the head ends; every byte after it is the tunnel's
head -n 1 "$T/tunnel.out" >"$T/tunnel.status"
assert_eq "HTTP/1.1 200 Connection established" "$(tr -d '\r' <"$T/tunnel.status")" "CONNECT status line"
hlen=$(LC_ALL=C awk '{ n += length($0) + 1 } /^\r$/ { print n; exit }' "$T/tunnel.out")
[ -n "$hlen" ] || fail "the CONNECT response head does not end"
LC_ALL=C head -c "$hlen" "$T/tunnel.out" >"$T/tunnel.head"
log "CONNECT response head: $(tr '\r\n' '| ' <"$T/tunnel.head")"
# no framing fields on a 2xx to CONNECT
assert_not_contains "$T/tunnel.head" '^(content-length|transfer-encoding|connection):'
tail -c +$((hlen + 1)) "$T/tunnel.out" >"$T/tunnel.body"
assert_eq "$(wc -c <"$T/tunnel.expected")" "$(wc -c <"$T/tunnel.body")" "bytes relayed back to the client"
cmp -s "$T/tunnel.expected" "$T/tunnel.body" || fail "the bytes relayed back differ from greeting + early bytes + data"
# the client's FIN reached the app (half-close through both sidecars), so
# it logged what it got: early bytes + data, unchanged
wait_for_log "$T/tunapp.log" '^tunnel ' 5
want="$(($(wc -c <"$T/data") + 12)) $({ printf 'early-bytes\n'; cat "$T/data"; } | sha256sum | cut -d' ' -f1)"
assert_eq "tunnel $want" "$(grep '^tunnel ' "$T/tunapp.log")" "what the app got through the tunnel"
assert_le "$ms" 6000 "time until the tunnel closed (ms; socat's -t is 8 s)"

step "CONNECT goes to the listener's upstream, never to the CONNECT target"
assert_eq 1 "$(count_lines "$T/tunapp.log" '^conn$')" "connections to B's app"
assert_contains "$T/tunapp.log" "^head \"CONNECT 127\\.0\\.0\\.1:$P_TARGET HTTP/1\\.1\\\\r\\\\n"
assert_contains "$T/tunapp.log" "^head .*\\\\r\\\\n[Hh]ost: 127\\.0\\.0\\.1:$P_TARGET\\\\r\\\\n"
assert_eq 0 "$(count_lines "$T/target.out" '^conn ')" "connections to the CONNECT target"
wait_for_log "$T/a.out" '^\[.*\] "CONNECT 127\.0\.0\.1:'"$P_TARGET"' HTTP/1\.1" 200 - '
line=$(access_lines "$T/a.out" | grep '"CONNECT ' | tail -n 1)
log "A access: $line"
printf '%s\n' "$line" | grep -q -F "\"127.0.0.1:$P_IN_TUN\" \"-\" $SERVER_ID" ||
    fail "A's access log: the upstream host is not B's listener, or the peer is not B: $line"
# written when the tunnel ended (as Envoy does): its bytes each way and a
# duration that spans (most of) the 0.5 s pause before the data
want_bytes="$(($(wc -c <"$T/data") + 12)) $(wc -c <"$T/tunnel.expected")"
printf '%s\n' "$line" | grep -q -E "\" 200 - $want_bytes ([4-9][0-9]{2}|[0-9]{4,}) " ||
    fail "A's CONNECT line does not carry the tunnel's bytes ($want_bytes) and a duration of 400 ms or more: $line"
wait_for_log "$T/b.out" '^\[.*\] "CONNECT 127\.0\.0\.1:'"$P_TARGET"' HTTP/1\.1" 200 - .*"127\.0\.0\.1:'"$P_TUN"'" "-" spiffe://cluster\.local/ns/foo/sa/client$'
# the upgraded connection left A's pool
wait_metric "$A_STATS" 'sidecar_upstream_pool_connections{state="active"}' 0

# ============================================================ 2. 502 UPE
step "an app that answers garbage: 502 protocol error, UPE on B"
code=$(timeout 20 curl -sS -m 10 -o "$T/upe.body" -w '%{http_code}' "http://127.0.0.1:$P_OUT_ECHO/garbage") ||
    fail "curl to the echo app failed"
assert_eq 502 "$code" "status"
assert_eq "${RESET_PREFIX}reset reason: protocol error" "$(cat "$T/upe.body")" "502 body"
wait_for_log "$T/b.out" '^\[.*\] "GET /garbage HTTP/1\.1" 502 UPE '
line=$(access_lines "$T/b.out" | grep '"GET /garbage ' | tail -n 1)
log "B access: $line"
# bytes_sent is the body's length
blen=$(printf '%s' "${RESET_PREFIX}reset reason: protocol error" | wc -c)
printf '%s\n' "$line" | grep -q -E "\" 502 UPE 0 $blen [0-9]+ - " ||
    fail "B's access log: not '502 UPE 0 $blen <duration> -': $line"
# A passed B's 502 on as a response: no flag of its own
wait_for_log "$T/a.out" '^\[.*\] "GET /garbage HTTP/1\.1" 502 - '
# the echo app got the request head once (no retry of a garbled response)
assert_eq 1 "$(count_lines "$T/echo.out" '^conn [0-9]+ open')" "connections to the echo app"
assert_eq 1 "$(metric "$B_STATS" 'sidecar_requests_total{direction="inbound",port="8081",response_code="502",connection_security_policy="mutual_tls",response_flags="UPE"}')" \
    "B's requests_total 502 UPE"

# ============================================================ 3. 431
# reply_norm FILE: the reply with its date value replaced by DATE.
reply_norm() { sed -E 's/^date: [A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT\r$/date: DATE\r/' "$1"; }
R431=$(printf 'HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 31\r\ncontent-type: text/plain\r\ndate: DATE\r\nconnection: close\r\n\r\nRequest Header Fields Too Large')

step "101 header fields: 431, connection closed, nothing reaches B or the app"
{
    printf 'GET /h431-fields HTTP/1.1\r\nHost: edge\r\n'
    for ((i = 1; i <= 100; i++)); do printf 'X-F-%d: v\r\n' "$i"; done
    printf '\r\n'
    printf 'GET /h431-after HTTP/1.1\r\nHost: edge\r\n\r\n'   # pipelined behind it
} >"$T/fields.req"
raw_exchange "$P_OUT_APP" "$T/fields.req" "$T/fields.resp" 5
assert_eq "$R431" "$(reply_norm "$T/fields.resp")" "reply to 101 fields"

step "a 62 KiB head: 431, connection closed"
{
    printf 'GET /h431-big HTTP/1.1\r\nHost: edge\r\nX-Big: '
    head -c $((62 * 1024)) /dev/zero | tr '\0' 'a'
    printf '\r\n\r\n'
} >"$T/big.req"
raw_exchange "$P_OUT_APP" "$T/big.req" "$T/big.resp" 5
assert_eq "$R431" "$(reply_norm "$T/big.resp")" "reply to a 62 KiB head"

step "exactly 100 fields (x-request-id among them) still pass the pair"
{
    printf 'GET /say/f100 HTTP/1.1\r\nHost: edge\r\nX-Request-Id: rid-f100\r\nConnection: close\r\n'
    for ((i = 1; i <= 97; i++)); do printf 'X-F-%d: v\r\n' "$i"; done
    printf '\r\n'
} >"$T/f100.req"
raw_exchange "$P_OUT_APP" "$T/f100.req" "$T/f100.resp" 5
assert_eq "HTTP/1.1 200 OK" "$(head -n 1 "$T/f100.resp" | tr -d '\r')" "status for exactly 100 fields"
assert_eq "f100" "$(tail -n 1 "$T/f100.resp")" "body for exactly 100 fields"

step "the 431s: DPE in A's access log and metrics; B and the app saw neither"
wait_for_count "$T/a.out" '^\[.*\] "[^"]*" 431 DPE ' 2 5
access_lines "$T/a.out" | grep '" 431 ' | while read -r l; do log "A access: $l"; done
# the head never completed: no method, path or upstream; 31 body bytes sent
assert_eq 2 "$(count_lines "$T/a.out" '^\[[^]]*\] "[^"]*" 431 DPE 0 31 [0-9]+ - "-" "-" "-" "-" "-" "-" -$')" \
    "A's access-log lines for the 431s"
assert_eq 2 "$(metric "$A_STATS" 'sidecar_requests_total{direction="outbound",port="'"$P_IN_APP"'",response_code="431",connection_security_policy="mutual_tls",response_flags="DPE"}')" \
    "A's requests_total 431 DPE"
assert_not_contains "$T/app.out" 'h431'
assert_not_contains "$T/b.out" 'h431'
assert_eq 0 "$(metric "$B_STATS" 'sidecar_requests_total{direction="inbound",port="8080",response_code="431",connection_security_policy="mutual_tls",response_flags="DPE"}')" \
    "B's 431s"

# ============================================================ 4. circuit breaking
step "circuit breaking: one request in flight, one pending, the third overflows"
# warm the pool: one idle mTLS connection from A to B's in-app listener
code=$(timeout 20 curl -sS -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P_OUT_APP/warm") || fail "curl (warm-up) failed"
assert_eq 200 "$code" "status (warm-up)"
wait_metric "$A_STATS" 'sidecar_upstream_pool_connections{state="active"}' 0
timeout 20 curl -sS -m 15 -o "$T/cb1.body" -w '%{http_code}' "http://127.0.0.1:$P_OUT_APP/delay/2500" >"$T/cb1.code" 2>&1 &
cb1=$!
wait_metric "$A_STATS" 'sidecar_upstream_pool_connections{state="active"}' 1
timeout 20 curl -sS -m 15 -o "$T/cb2.body" -w '%{http_code}' "http://127.0.0.1:$P_OUT_APP/delay/100" >"$T/cb2.code" 2>&1 &
cb2=$!
wait_metric "$A_STATS" 'sidecar_upstream_pool_pending' 1
t0=$(date +%s%N)
code=$(timeout 20 curl -sS -m 10 -o "$T/cb3.body" -w '%{http_code}' "http://127.0.0.1:$P_OUT_APP/cb3") || fail "curl (third) failed"
ms=$((($(date +%s%N) - t0) / 1000000))
assert_eq 503 "$code" "status of the third request"
assert_eq "${RESET_PREFIX}reset reason: overflow" "$(cat "$T/cb3.body")" "503 body (overflow)"
assert_le "$ms" 1500 "time to the overflow 503 (ms)"
curl -sS -m 5 "http://$A_STATS/stats/prometheus" >"$T/a-cb.prom"
grep '^sidecar_upstream_pool' "$T/a-cb.prom" | while read -r l; do log "A: $l"; done
assert_contains "$T/a-cb.prom" '^sidecar_upstream_pool_connections\{state="active"\} 1$'
assert_contains "$T/a-cb.prom" '^sidecar_upstream_pool_connections\{state="connecting"\} 0$'
assert_contains "$T/a-cb.prom" '^sidecar_upstream_pool_pending 1$'
assert_contains "$T/a-cb.prom" '^sidecar_upstream_pool_overflows_total 1$'
kill -0 "$cb1" 2>/dev/null || fail "the first request ended before the overflow was checked"
wait "$cb1" || fail "the first request's curl failed: $(cat "$T/cb1.code")"
wait "$cb2" || fail "the second request's curl failed: $(cat "$T/cb2.code")"
assert_eq 200 "$(cat "$T/cb1.code")" "status of the first request"
assert_eq 200 "$(cat "$T/cb2.code")" "status of the queued request"
assert_eq "hello from backend" "$(cat "$T/cb2.body")" "body of the queued request"
wait_for_log "$T/a.out" '^\[.*\] "GET /cb3 HTTP/1\.1" 503 UO '
line=$(access_lines "$T/a.out" | grep '"GET /cb3 ' | tail -n 1)
log "A access: $line"
blen=$(printf '%s' "${RESET_PREFIX}reset reason: overflow" | wc -c)
printf '%s\n' "$line" | grep -q -E "\" 503 UO 0 $blen [0-9]+ - \"-\" \"curl/[^\"]*\" \"[0-9a-f-]{36}\" \"127\\.0\\.0\\.1:$P_OUT_APP\" \"127\\.0\\.0\\.1:$P_IN_APP\" \"-\" -$" ||
    fail "A's access log line for the overflow: $line"
assert_eq 1 "$(metric "$A_STATS" 'sidecar_requests_total{direction="outbound",port="'"$P_IN_APP"'",response_code="503",connection_security_policy="mutual_tls",response_flags="UO"}')" \
    "A's requests_total 503 UO"
wait_metric "$A_STATS" 'sidecar_upstream_pool_pending' 0
wait_metric "$A_STATS" 'sidecar_upstream_pool_connections{state="active"}' 0
# the app saw the two requests and never the third
assert_contains "$T/app.out" ' GET /delay/2500$'
assert_contains "$T/app.out" ' GET /delay/100$'
assert_not_contains "$T/app.out" '/cb3'

# ============================================================ 5. two signers
step "two signers, retries 0: F (foo) -> G (bar) gets 503 with Envoy's TLS failure body"
code=$(timeout 20 curl -sS -m 10 -o "$T/tls.body" -w '%{http_code}' "http://127.0.0.1:$P_OUT_F/tls") ||
    fail "curl through F failed"
assert_eq 503 "$code" "status"
body=$(cat "$T/tls.body")
log "body: $body"
case $body in *retried*) fail "the 503 body says 'retried' with retries 0: $body" ;; esac
# the code and the function (empty on OpenSSL 3) by regex, the rest
# literally: bar-server's leaf (depth 0) has an issuer F does not trust
lit() { printf '%s' "$1" | sed -e 's/[][\.*^$+?(){}|]/\\&/g'; }
re="^$(lit "${RESET_PREFIX}reset reason: connection failure, transport failure reason: TLS error: peer chain does not lead to any of 1 trusted roots (issuer CN=bar; subject CN=server.bar.svc.cluster.local, SAN spiffe://cluster.local/ns/bar/sa/server, serial ")[0-9A-F]+$(lit '): unable to get local issuer certificate')\$"
printf '%s\n' "$body" | grep -q -E "$re" || fail "503 body is not Envoy's TLS failure reply: '$body'"
assert_eq "$(printf '%s' "$body" | wc -c)" "$(wc -c <"$T/tls.body")" "no trailing newline in the body"

step "F's access log: UF alone (no URX), the reason; one handshake, nothing reached G's app"
wait_for_log "$T/f.out" '^\[.*\] "GET /tls HTTP/1\.1" 503 UF '
line=$(access_lines "$T/f.out" | grep '"GET /tls ' | tail -n 1)
log "F access: $line"
printf '%s\n' "$line" | grep -q -F "\"127.0.0.1:$P_IN_G\" \"TLS error: peer chain does not lead" ||
    fail "F's access log: upstream host and transport failure reason missing: $line"
printf '%s\n' "$line" | grep -q -F "\"${body#*transport failure reason: }\"" ||
    fail "F's access log: the reason differs from the body's: $line"
assert_eq 1 "$(metric "$F_STATS" 'sidecar_requests_total{direction="outbound",port="'"$P_IN_G"'",response_code="503",connection_security_policy="mutual_tls",response_flags="UF"}')" \
    "F's requests_total 503 UF"
wait_for_count "$T/g.out" "$(conn_re dir=inbound listener=in)" 1 5
sleep 0.3   # a retry would show up as a second connection by now
assert_eq 1 "$(count_lines "$T/g.out" "$(conn_re dir=inbound listener=in)")" "connections G saw (retries 0)"
assert_not_contains "$T/app.out" '/tls'

step "a request queued behind a CONNECT gets the slot the tunnel leaves (max_connections 1)"
# The tunnel leaves the pool when it switches to the relay; the request
# waiting for the pool's only slot must be connected then, not left waiting.
P_SLOW=$(free_port); P_OUT_Q=$(free_port)
cat >"$T/slow-connect.js" <<'JS'
const net = require("net");
net.createServer((sock) => {
  let buf = "";
  sock.on("error", () => {});
  sock.on("data", (d) => {
    buf += d.toString("latin1");
    if (!sock.done && buf.includes("\r\n\r\n")) {
      sock.done = 1;
      const connect = buf.startsWith("CONNECT");
      console.log("got " + buf.split("\r\n")[0]);
      setTimeout(() => sock.write(connect ? "HTTP/1.1 200 OK\r\n\r\n"
                                          : "HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nok\n"),
                 connect ? 800 : 0);
    }
  });
}).listen(Number(process.argv[2]), "127.0.0.1", () => console.log("listening"));
JS
spawn slowconnect node "$T/slow-connect.js" "$P_SLOW"
wait_for_log "$T/slowconnect.out" '^listening$' 10
sidecar_config "$T/q.yaml" client foo client
cat >>"$T/q.yaml" <<YAML
http: {max_connections: 1, max_pending: 1}
listeners:
  - {name: out, direction: outbound, address: "127.0.0.1:$P_OUT_Q", upstream: "127.0.0.1:$P_SLOW",
     tls: DISABLE, protocol: http}
YAML
start_sidecar q "$T/q.yaml" "$P_OUT_Q"
{ printf 'CONNECT x:1 HTTP/1.1\r\nHost: x:1\r\n\r\n'; sleep 4; } |
    timeout 10 socat -t 1 - "TCP:127.0.0.1:$P_OUT_Q" >"$T/q-tunnel.out" 2>/dev/null &
_sc_track $! q-tunnel backend
wait_for_log "$T/slowconnect.out" '^got CONNECT x:1 HTTP/1.1$' 5
code=$(curl -s -o "$T/q-queued.body" -w '%{http_code}' --max-time 5 "http://127.0.0.1:$P_OUT_Q/queued" || true)
assert_eq 200 "$code" "the request queued behind the CONNECT"
assert_contains "$T/q-tunnel.out" '^HTTP/1.1 200 '
assert_contains "$T/slowconnect.out" '^got GET /queued HTTP/1.1$'

step "a tunnel still open at shutdown is cut at the drain deadline and still gets its access-log line"
alive q
assert_not_contains "$T/q.out" '"CONNECT x:1 HTTP/1.1"'
kill -TERM "$(pid_of q)"
wait_exit q 10
assert_eq 0 "$STOP_RC" "q's exit status after the drain deadline"
assert_contains "$T/q.err" 'drain: deadline reached, exiting'
assert_contains "$T/q.out" '^\[.*\] "CONNECT x:1 HTTP/1\.1" 200 - [0-9]+ 0 [0-9]+ '

alive a
alive b
alive f
alive g
log "ok"
