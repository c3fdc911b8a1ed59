#!/usr/bin/env bash
# HTTP ports over HBONE, server side: the HTTP session reads and writes the
# CONNECT stream directly (an in-process pair of I/O ends), with no
# socketpair between the tunnel and the session.  Through a pair
# (curl -> A, outbound protocol http over HBONE -> B, inbound HBONE, an
# http port -> backend), with B traced by strace:
#   - B makes no socketpair(2) call for any of the requests below (A pools
#     its upstream streams, so they share a few CONNECT streams; before,
#     each stream to an http port cost B one socketpair);
#   - 20 new connections, one request each: 200 and the body;
#   - XFCC with A's identity at the app, B's access log names the tunnel
#     (hbone=);
#   - an 8 MB download read slowly by the client and a 4 MB upload
#     (HTTP/2 flow control as backpressure), bytes checked (SHA-256);
#   - a port whose app is down: B's local reply 503;
#   - an Upgrade: 101, then raw bytes echoed both ways and the half-close
#     (the client's FIN, the app's FIN after its echo) carried through.
. "$(dirname "$0")/lib.sh"

command -v strace >/dev/null || skip "strace is missing"
certs
CLIENT_ID=spiffe://cluster.local/ns/foo/sa/client
N=20

P_HTTP=$(free_port); P_DEAD=$(free_port)
start_backend http --listen "127.0.0.1:$P_HTTP" --mode http --quiet

# B is traced by strace: no seccomp
sidecar_no_seccomp hbone_server yaml="access_log: {path: stdout, format: text}" "$P_HTTP:http" "$P_DEAD:http"

P_OUT=$(free_port); P_OUTD=$(free_port)
sidecar_config "$T/a.yaml" client foo client
cat >>"$T/a.yaml" <<EOF
outbound: {address: "127.0.0.1:$(free_port)"}
hbone_port: $P_HB
listeners:
  - {name: out-l7, direction: outbound, address: "127.0.0.1:$P_OUT", upstream: "127.0.0.1:$P_HTTP",
     tls: ISTIO_MUTUAL, transport: hbone, protocol: http}
  - {name: out-dead, direction: outbound, address: "127.0.0.1:$P_OUTD", upstream: "127.0.0.1:$P_DEAD",
     tls: ISTIO_MUTUAL, transport: hbone, protocol: http}
EOF
start_sidecar a "$T/a.yaml" "$P_OUT" "$P_OUTD"

step "one request (the tunnel comes up), then B traced"
code=$(timeout 20 curl -sS -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P_OUT/warm") ||
    fail "curl through the pair failed"
assert_eq 200 "$code" "status"
strace_attach b "$T/b.strace" socketpair

step "$N new connections, one request each"
for ((i = 1; i <= N; i++)); do
    body=$(timeout 20 curl -sS -m 10 "http://127.0.0.1:$P_OUT/say/n$i") || fail "request $i failed"
    assert_eq "n$i" "$body" "body of request $i"
done

step "XFCC with A's identity at the app; B's access log names the tunnel"
code=$(timeout 20 curl -sS -m 10 -o "$T/headers" -w '%{http_code}' "http://127.0.0.1:$P_OUT/headers") ||
    fail "curl /headers failed"
assert_eq 200 "$code" "status of /headers"
grep -i -q -E "^x-forwarded-client-cert: .*URI=$CLIENT_ID" "$T/headers" ||
    fail "the app saw no XFCC naming $CLIENT_ID: $(tr '\r' ' ' <"$T/headers")"
wait_for_log "$T/b.out" '"GET /headers HTTP/1.1" 200 '
grep -F '"GET /headers HTTP/1.1" 200 ' "$T/b.out" >"$T/b-access.txt"
assert_contains "$T/b-access.txt" "$CLIENT_ID"
assert_contains "$T/b-access.txt" 'hbone=[^ ]+'

step "8 MB down, read slowly; 4 MB up: every byte"
"$BACKEND" --gen 8m >"$T/src.bin" || fail "backend --gen"
timeout 60 curl -sS -m 50 --limit-rate 4M -o "$T/down.bin" "http://127.0.0.1:$P_OUT/bytes/8m" ||
    fail "the download failed"
assert_eq "$(sha256sum <"$T/src.bin")" "$(sha256sum <"$T/down.bin")" "sha256 of the 8 MB download"
head -c 4000000 /dev/urandom >"$T/up.bin"
got=$(timeout 60 curl -sS -m 50 --data-binary "@$T/up.bin" "http://127.0.0.1:$P_OUT/sink") ||
    fail "the upload failed"
assert_eq "4000000 $(sha256sum <"$T/up.bin" | cut -d' ' -f1)" "$got" "count and sha256 the app received"

step "an http port whose app is down: B's local reply"
code=$(timeout 20 curl -sS -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P_OUTD/x") ||
    fail "curl to the dead port failed"
assert_eq 503 "$code" "status from a port with no app"

step "Upgrade: 101, raw bytes echoed, half-close carried through"
{
    printf 'GET /ws HTTP/1.1\r\nHost: app\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n'
    sleep 1
    printf 'raw-bytes-after-upgrade'
} | timeout 20 socat -t 10 -T 15 - "TCP:127.0.0.1:$P_OUT" >"$T/upgrade.out" 2>"$T/socat.err" ||
    fail "the upgraded connection failed: $(cat "$T/socat.err")"
head -n 1 "$T/upgrade.out" | grep -q ' 101 ' || fail "no 101: $(head -c 300 "$T/upgrade.out")"
assert_contains "$T/upgrade.out" 'raw-bytes-after-upgrade'

strace_detach
pairs=$(grep -c 'socketpair(' "$T/b.strace" || true)
log "B: socketpair calls: $pairs"
assert_eq 0 "$pairs" "B's socketpair calls for HBONE streams to http ports"

alive a
alive b
log "ok"
