#!/usr/bin/env bash
# Outbound HBONE, the client side's pool (sidecar A -> tunnel -> sidecar B):
#   - an HTTP route over HBONE: the HTTP session's upstream connection is a
#     CONNECT stream joined to it by an in-process pair of I/O ends: A makes
#     no socketpair(2) call for it (before, one per pooled stream), and the
#     stream is pooled like a TLS connection: requests on new app
#     connections reuse it (B's access log: one tunnel/stream for all);
#   - the tunnel count: 250 app connections at a time, each one request and
#     closed after the server's end (the "close" load shape), 8 rounds: a
#     new connection arrives while the stream of the one it replaces is
#     still closing; with hbone.max_streams_per_connection 100 they need 3
#     tunnels; A opens at most 4, the issue's bound for the mesh hop (here
#     2-3; before, 4-6 as a tunnel got a sibling while its finished streams
#     were still closing) (sidecar_hbone_tunnels_opened_total);
#   - drain: SIGTERM to A while a stream carries a long download: A's
#     tunnel sends GOAWAY and takes no new stream, the download finishes
#     (every byte), A's listener refuses new connections, and once the
#     stream has ended the tunnel closes: A logs end=drained, B end=goaway.
. "$(dirname "$0")/lib.sh"

command -v node >/dev/null || fail "node is not installed (make deps installs it)"
command -v strace >/dev/null || skip "strace is missing"
certs
SERVER_ID=spiffe://cluster.local/ns/bar/sa/server

P_HTTP=$(free_port)
start_backend http --listen "127.0.0.1:$P_HTTP" --mode http --quiet

hbone_server yaml="access_log: {path: stdout, format: text}" "$P_HTTP:http"

# A: one HTTP listener and one TCP listener to the same app, over HBONE
P_L7=$(free_port); P_L4=$(free_port)
DRAIN_MS=20000 sidecar_config "$T/a.yaml" client foo client
A_ADMIN=$ADMIN_PORT
hbone_client "$T/a.yaml" "$P_HB" "out-l7:$P_L7:$P_HTTP:http" "out-l4:$P_L4:$P_HTTP:tcp"
# A is traced by strace: no seccomp
sidecar_no_seccomp start_sidecar a "$T/a.yaml" "$P_L7" "$P_L4"

prom() { curl -sS -m 5 "http://127.0.0.1:$1/stats/prometheus" >"$2" || fail "scraping 127.0.0.1:$1"; }
metric() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }

# ---------------------------------------------------------------------------
step "HTTP over HBONE: A's upstream is an in-process pair, no socketpair; the stream is pooled"
strace_attach a "$T/a.strace" socketpair
for ((i = 1; i <= 10; i++)); do
    body=$(timeout 20 curl -sS -m 10 "http://127.0.0.1:$P_L7/say/n$i") || fail "request $i failed"
    assert_eq "n$i" "$body" "body of request $i"
done
head -c 3000000 /dev/urandom >"$T/up.bin"
got=$(timeout 60 curl -sS -m 50 --data-binary "@$T/up.bin" "http://127.0.0.1:$P_L7/sink") ||
    fail "the upload failed"
assert_eq "3000000 $(sha256sum <"$T/up.bin" | cut -d' ' -f1)" "$got" "count and sha256 the app received"
"$BACKEND" --gen 5m >"$T/src.bin" || fail "backend --gen"
timeout 60 curl -sS -m 50 -o "$T/down.bin" "http://127.0.0.1:$P_L7/bytes/5m" || fail "the download failed"
assert_eq "$(sha256sum <"$T/src.bin")" "$(sha256sum <"$T/down.bin")" "sha256 of the 5 MB download"
strace_detach
pairs=$(grep -c 'socketpair(' "$T/a.strace" || true)
log "A: socketpair calls: $pairs"
assert_eq 0 "$pairs" "A's socketpair calls for HTTP requests over HBONE"
wait_for_count "$T/b.out" '"GET /say/n[0-9]+ HTTP/1.1" 200 ' 10
streams=$(grep -E '"GET /say/n[0-9]+ HTTP/1.1" 200 ' "$T/b.out" | grep -oE 'hbone=[0-9]+/[0-9]+' | sort -u)
log "B: the requests came on $(echo "$streams" | tr '\n' ' ')"
assert_eq 1 "$(echo "$streams" | grep -c hbone=)" "CONNECT streams that carried 10 sequential requests (pooled)"

# ---------------------------------------------------------------------------
step "tunnel count: 250 app connections at a time, each closed after the server's end, 8 rounds"
cat >"$T/churn.js" <<'EOF'
'use strict';
// churn.js PORT WORKERS ROUNDS: WORKERS loops of new connections, each one
// HTTP/1.1 request with "Connection: close"; the server ends first, then
// the client opens the next connection and closes this one.
const net = require('net');
const [port, workers, rounds] = process.argv.slice(2).map(Number);
let ok = 0, bad = 0, live = workers;
function one(left) {
  if (left === 0) {
    if (--live === 0) { console.log(`DONE ok=${ok} bad=${bad}`); process.exit(bad ? 1 : 0); }
    return;
  }
  const s = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  let got = '';
  s.on('connect', () => s.write('GET /say/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'));
  s.on('data', (d) => { got += d; });
  // the next connection opens before this one closes: for a moment A
  // holds both streams, the new one and the one still closing
  let next = false;
  const go = () => { if (!next) { next = true; one(left - 1); } };
  s.on('end', () => {
    if (/^HTTP\/1\.1 200 /.test(got) && got.endsWith('x\n')) ok++; else bad++;
    go();
    s.end();
  });
  s.on('error', () => { if (!next) bad++; go(); });
}
for (let w = 0; w < workers; w++) one(rounds);
EOF
prom "$A_ADMIN" "$T/a0.prom"
before=$(metric "$T/a0.prom" 'sidecar_hbone_tunnels_opened_total{direction="outbound"}')
timeout 300 node "$T/churn.js" "$P_L4" 250 8 >"$T/churn.txt" 2>&1 || fail "churn: $(tail -n 3 "$T/churn.txt")"
assert_contains "$T/churn.txt" '^DONE ok=2000 bad=0'
prom "$A_ADMIN" "$T/a1.prom"
after=$(metric "$T/a1.prom" 'sidecar_hbone_tunnels_opened_total{direction="outbound"}')
opened=$((after - ${before:-0}))
log "A: tunnels opened for 250 connections at a time (2000 in all): $opened"
assert_le "$opened" 4 "tunnels A opened for 250 concurrent app connections (100 streams each)"

# ---------------------------------------------------------------------------
step "drain: a long stream survives SIGTERM to A, new connections are refused, then GOAWAY and close"
# the download is read slowly (about 10 s), on an app connection of its own
timeout 60 curl -sS -m 50 --limit-rate 1M -o "$T/long.bin" "http://127.0.0.1:$P_L4/bytes/10m" \
    -H 'Connection: close' 2>"$T/long.err" &
long_pid=$!
_sc_track "$long_pid" long other
sleep 1
tunnels_before=$(conn_lines "$T/a.out" 'listener=hbone' | wc -l)
kill -TERM "$(pid_of a)"
wait_for_log "$T/a.err" 'draining: [0-9]+ connection'
wait_port_closed 127.0.0.1 "$P_L4"
code=$(timeout 10 curl -sS -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P_L4/say/late" 2>/dev/null) || true
assert_eq 000 "${code:-000}" "a new connection to A after the drain began (refused)"
wait "$long_pid" || fail "the download through A during the drain failed: $(cat "$T/long.err") $(grep "listener=out-l4" "$T/a.out" | tail -n 1)"
"$BACKEND" --gen 10m | sha256sum >"$T/long.want"
assert_eq "$(cat "$T/long.want")" "$(sha256sum <"$T/long.bin")" "sha256 of the 10 MB download that ran through the drain"
wait_exit a 30
assert_eq 0 "$STOP_RC" "A's exit status after the drain"
conn_lines "$T/a.out" 'dir=outbound listener=hbone ' >"$T/a-tunnels.txt"
cat "$T/a-tunnels.txt" | cut -c1-220 | sed 's/^/  A: /'
assert_contains "$T/a-tunnels.txt" ' end=drained$'
wait_for_log "$T/b.out" 'dir=inbound listener=hbone .* streams=[0-9]+ end=goaway$'
[ "$tunnels_before" -eq 0 ] || fail "a tunnel of A ended before the drain: $(conn_lines "$T/a.out" 'listener=hbone' | head -n 1)"

alive b
log "ok"
