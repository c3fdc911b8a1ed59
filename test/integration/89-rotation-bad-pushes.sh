#!/usr/bin/env bash
# Hostile bytes on the SDS stream.  Sidecar B gets its certificate from an
# sds-agent (files source, so every restart serves the same serial); between
# good runs of the agent, a raw HTTP/2 server (Node's http2 module,
# test/integration/node/h2-raw-server.js) takes its socket and answers B's
# subscription with bytes no real SDS server sends:
#   truncated    a gRPC prefix announcing 100 bytes, 10 bytes, END_STREAM
#   cut          the same without END_STREAM, then the connection drops
#   compressed   flag 1 (no grpc-encoding was offered)
#   oversize     a prefix announcing 2 GiB
#   garbage      an HTTP/1.1 answer as the gRPC stream's body
#   not-proto    a well-framed message that is not a DiscoveryResponse
#   v2-secret    a DiscoveryResponse whose resource is a v2 Secret
#   not-http2    an HTTP/1.1 answer instead of an HTTP/2 server preface
#                (from a plain Unix-socket server)
# Each time B names the problem in its log, keeps serving the same serial
# (checked with a handshake), stays ready and alive, and comes back to the
# agent afterwards.  A push B cannot read (truncated, compressed, oversize,
# a bad flag byte) is NACKed on its stream (the raw server prints the NACK's
# error_detail) and counted as a rejected push, then B drops the stream and
# reconnects (the connect counter rises); a dropped connection or a server
# that is not HTTP/2 sent no push: B reconnects and counts nothing.
# Undecodable messages are NACKed and counted as rejected pushes too.  (Mismatched key, expired leaf, garbage PEM and an
# unknown CA are 86-sds-node-server.sh.)  Last, Node's gRPC SDS server
# pushes a Secret whose DataSource is a filename, which B refuses after it
# parsed: B must NACK it once, naming that push's nonce (a NACK without the
# nonce looks like a new subscription, and the server pushes again, without
# end).  Meanwhile A -> B keeps working.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"

command -v node >/dev/null 2>&1 || fail "node is not installed (make deps installs it; the raw HTTP/2 and gRPC SDS servers here are Node)"
RAW=$NODE_JS_DIR/h2-raw-server.js

step "A: ca agent; B: files agent with a certificate of the same CA"
make_cacerts "$T/cacerts" bad
"$GEN_CERTS" leaf "$T/ca-bad" bad-int server spiffe://cluster.local/ns/bar/sa/server >/dev/null 2>&1 ||
    fail "gen-certs.sh leaf server failed"
mkdir -p "$T/b-certs"
cp "$T/ca-bad/server.crt" "$T/b-certs/cert-chain.pem"
cp "$T/ca-bad/server.key" "$T/b-certs/key.pem"
cp "$T/ca-bad/bad-ca.crt" "$T/b-certs/root-cert.pem"
HELD=$(x509_field "$T/b-certs/cert-chain.pem" -serial | norm_serial)
ca_agent_config "$T/agent-a.yaml" "$T/a.sock" "$T/cacerts" foo client "lifetime: 1h"
cat >"$T/agent-b.yaml" <<YAML
socket: $T/b.sock
source: files
files: {dir: $T/b-certs}
YAML
start_agent agent-a "$T/agent-a.yaml"
start_agent agent-b0 "$T/agent-b.yaml"
sds_pair "$T/a.sock" "$T/b.sock"
probe_cert "$T/probe" bad spiffe://cluster.local/ns/foo/sa/probe
assert_eq "$HELD" "$(probe_serial "127.0.0.1:$P_IN" "$T/probe")" "serial B presents"
traffic_start loop loop "127.0.0.1:$P_OUT" -i 200 -t 3000

step "the payloads"
P=$T/payloads
mkdir -p "$P"
# pb TAG TEXT: one length-delimited protobuf field (TEXT shorter than 128 bytes)
pb() { printf "\\x$1\\x$(printf %02x "${#2}")%s" "$2"; }
# frame FILE: a gRPC frame around FILE (shorter than 256 bytes), on stdout
frame() { printf '\x00\x00\x00\x00'"\\x$(printf %02x "$(wc -c <"$1")")"; cat "$1"; }
printf '\x00\x00\x00\x00\x64%s' 0123456789 >"$P/truncated"
cp "$P/truncated" "$P/cut"
printf '\x01\x00\x00\x00\x05hello' >"$P/compressed"
printf '\x00\x7f\xff\xff\xff' >"$P/oversize"
printf '\xff\xff\xff\xff\xff\xff\xff\xff' >"$P/garbage.pb"
frame "$P/garbage.pb" >"$P/not-proto"
{
    pb 0a 'type.googleapis.com/envoy.api.v2.auth.Secret'
    pb 12 "$(pb 0a default)"
} >"$P/any.pb"
{
    pb 0a v2-push
    printf '\x12'"\\x$(printf %02x "$(wc -c <"$P/any.pb")")"
    cat "$P/any.pb"
    pb 22 'type.googleapis.com/envoy.api.v2.auth.Secret'
    pb 2a n-1
} >"$P/v2.pb"
frame "$P/v2.pb" >"$P/v2-secret"
printf 'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n' >"$P/garbage"
cp "$P/garbage" "$P/not-http2"

# A plain Unix-socket server: writes FILE to every connection, reads and
# drops what comes, keeps the connection open.
# shellcheck disable=SC2016
PLAIN_SERVER_JS='
const net = require("net"), fs = require("fs");
const [sock, file] = process.argv.slice(1);
try { fs.unlinkSync(sock); } catch (e) { /* not there */ }
const srv = net.createServer((c) => {
  console.log("CONN");
  c.on("error", () => {});
  c.on("data", () => {});
  c.write(fs.readFileSync(file));
});
srv.listen(sock, () => console.log("listening"));
process.on("SIGTERM", () => process.exit(0));
'

# good_agent: (re)starts B's agent and waits until B is back on it
# (connected, ACKed, the same serial served, readiness 200).
good_agent() {
    stop "$RAW_NAME"
    start_agent "agent-b$n" "$T/agent-b.yaml"
    wait_for_log "$T/agent-b$n.err" 'sds ACK stream=1 uid=[0-9]+ node=server ' 40
    assert_eq 1 "$(sds_metric "$B_ADMIN" sidecar_sds_connected)" "B connected to its agent again"
    assert_eq "$HELD" "$(probe_serial "127.0.0.1:$P_IN" "$T/probe")" "serial B presents, back on the agent"
}

# bad CASE SERVER_ARGS LOG_REGEX: replaces the agent with the raw server
# sending payload CASE, waits for B to take it and log LOG_REGEX; then checks
# that nothing changed.  Sets CONNECTS and REJECTED (the counters after).
# wait_new_log REGEX: waits (10 s) for a line of B's log from line $ERR_FROM on
wait_new_log() {
    local i=0
    while ! tail -n +"$ERR_FROM" "$T/b.err" | grep -q -E -e "$1"; do
        [ $i -lt 200 ] || { tail -n 5 "$T/b.err" >&2; fail "$RAW_NAME: B logged no line matching /$1/"; }
        sleep 0.05
        i=$((i + 1))
    done
}
n=0
bad() {
    local case=$1 args=$2 re=$3 err_lines c0
    n=$((n + 1))
    stop "agent-b$((n - 1))"
    c0=$(sds_metric "$B_ADMIN" sidecar_sds_connects_total)
    REJ0=$(sds_metric "$B_ADMIN" 'sidecar_sds_pushes_total{result="rejected"}')
    err_lines=$(wc -l <"$T/b.err")
    RAW_NAME=raw-$case
    ERR_FROM=$((err_lines + 1))
    if [ "$args" = plain ]; then
        # not HTTP/2 at all: B gets these bytes where the server preface belongs
        spawn "raw-$case" node -e "$PLAIN_SERVER_JS" "$T/b.sock" "$P/$case"
        wait_for_log "$T/raw-$case.out" '^listening$' 10
        wait_for_log "$T/raw-$case.out" '^CONN$' 20
    else
        # shellcheck disable=SC2086
        spawn "raw-$case" node "$RAW" --socket "$T/b.sock" --body "$P/$case" $args
        wait_for_log "$T/raw-$case.out" '^listening$' 10
        wait_for_log "$T/raw-$case.out" '^STREAM path=/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets$' 20
    fi
    i=0
    wait_new_log "$re"
    tail -n +"$ERR_FROM" "$T/b.err" | grep -E -e "$re" | head -n 1 | cut -c 26- | sed "s/^/[$TEST_NAME] $case: /"
    alive b
    assert_eq "$HELD" "$(probe_serial "127.0.0.1:$P_IN" "$T/probe")" "$case: serial B presents"
    assert_eq 200 "$(sds_ready_code "$B_ADMIN")" "$case: B readiness"
    sds_table "$B_ADMIN" >"$T/table.txt"
    assert_contains "$T/table.txt" "^default +Cert Chain +ACTIVE +true +0*$HELD "
    CONNECTS=$(sds_metric "$B_ADMIN" sidecar_sds_connects_total)
    REJECTED=$(sds_metric "$B_ADMIN" 'sidecar_sds_pushes_total{result="rejected"}')
    [ "$CONNECTS" -gt "$c0" ] || fail "$case: B did not connect to the raw server ($c0 -> $CONNECTS)"
}

step "unreadable pushes: B NACKs each on its stream, counts it rejected, reconnects, changes nothing"
# nacked CASE REASON_REGEX: B logged the NACK, the raw server received it,
# and B's rejected pushes rose (by one per stream: B may have come back to
# the raw server again by now)
nacked() {
    assert_contains "$T/b.err" "SDS push unreadable \(NACK\): $2"
    wait_for_log "$T/raw-$1.out" "^MSG len=[0-9]+ text=.*$2" 5
    grep -m 1 "^MSG len=[0-9]+ text=.*$2" -E "$T/raw-$1.out" | cut -c 1-160 | sed "s/^/[$TEST_NAME] $1: the server got: /"
    [ "$REJECTED" -gt "$REJ0" ] || fail "$1: rejected pushes did not rise ($REJ0 -> $REJECTED)"
}
bad truncated --end 'SDS stream closed \(grpc-status 13: stream ended inside a gRPC message \(truncated frame\)\); keeping the current certificates, reconnecting'
nacked truncated 'stream ended inside a gRPC message \(truncated frame\)'
# the raw server answers every stream the same way: B comes back for more
wait_for_count "$T/raw-truncated.out" '^STREAM ' 2 15
good_agent
bad compressed "" 'SDS stream closed \(grpc-status 13: gRPC message is compressed \(flag 1\), but no grpc-encoding was offered\); keeping the current certificates'
nacked compressed 'gRPC message is compressed'
good_agent
bad oversize "" 'SDS stream closed \(grpc-status 8: gRPC message of 2147483647 bytes exceeds the limit of [0-9]+ bytes\); keeping the current certificates'
nacked oversize 'gRPC message of 2147483647 bytes exceeds the limit'
good_agent
bad garbage "" 'SDS stream closed \(grpc-status 13: gRPC message has an invalid compressed flag 0x48\); keeping the current certificates'
nacked garbage 'gRPC message has an invalid compressed flag 0x48'
good_agent

step "no push at all: a connection cut inside a message, a server that is not HTTP/2; B reconnects, counts nothing"
bad cut "" 'SDS: subscribed to default and ROOTCA'   # B waits for the rest of the message...
sleep 0.5
assert_eq 1 "$(sds_metric "$B_ADMIN" sidecar_sds_connected)" "cut: B waits on the stream"
kill -TERM "$(pid_of raw-cut)"  # ...and the connection drops in the middle of it
wait_new_log 'SDS stream closed \(grpc-status 14: .*\); keeping the current certificates, reconnecting'
tail -n +"$ERR_FROM" "$T/b.err" | grep 'SDS stream closed' | head -n 1 | cut -c 26- | sed "s/^/[$TEST_NAME] cut: /"
assert_eq "$REJ0" "$(sds_metric "$B_ADMIN" 'sidecar_sds_pushes_total{result="rejected"}')" "rejected pushes after a cut connection"
good_agent
bad not-http2 plain 'SDS stream closed \(grpc-status [0-9]+: .*HTTP/2.*\); keeping the current certificates'
assert_eq "$REJ0" "$REJECTED" "rejected pushes after a server that is not HTTP/2"
good_agent
r0=$REJECTED

step "undecodable messages: NACKed, counted as rejected pushes, nothing changes"
bad not-proto "" 'SDS push undecodable \(NACK\): '
assert_eq $((r0 + 1)) "$REJECTED" "rejected pushes after a message that is not protobuf"
good_agent
bad v2-secret "" 'SDS push undecodable \(NACK\): .*envoy\.api\.v2\.auth\.Secret'
assert_eq $((r0 + 2)) "$REJECTED" "rejected pushes after a v2 Secret"
good_agent

step "a push refused after it parsed (DataSource.filename, from Node's gRPC SDS server): one NACK with its nonce"
if NODE_MODULES=$("$ROOT/scripts/node-deps.sh" 2>"$T/npm.err"); then
    n=$((n + 1))
    stop "agent-b$((n - 1))"
    r1=$(sds_metric "$B_ADMIN" 'sidecar_sds_pushes_total{result="rejected"}')
    RAW_NAME=node-sds
    NODE_PATH=$NODE_MODULES spawn node-sds node "$NODE_JS_DIR/sds-server.js" --socket "$T/b.sock" \
        --chain "$T/b-certs/cert-chain.pem" --key "$T/b-certs/key.pem" --ca "$T/b-certs/root-cert.pem" \
        --datasource filename
    wait_for_log "$T/node-sds.out" '^PUSH stream=1 version=v1 nonce=1-1 ' 20
    sleep 2   # a NACK that does not name the push looks like a new subscription: the server pushes again
    pushes=$(count_lines "$T/node-sds.out" '^PUSH ')
    grep -m 1 '^REQ stream=1 .*error=' "$T/node-sds.out" | cut -c 1-160 | sed "s/^/[$TEST_NAME] node-sds: /"
    log "node-sds: $pushes pushes in 2 s; B's rejected pushes $r1 -> $(sds_metric "$B_ADMIN" 'sidecar_sds_pushes_total{result="rejected"}')"
    assert_contains "$T/node-sds.out" '^REQ stream=1 node=server names=default,ROOTCA version=[0-9]+-[0-9a-f]+ nonce=1-1 NACK error=.*DataSource\.filename is refused'
    assert_le "$pushes" 2 "pushes of the one refused version (a NACK storm?)"
    assert_eq $((r1 + 1)) "$(sds_metric "$B_ADMIN" 'sidecar_sds_pushes_total{result="rejected"}')" "rejected pushes"
    assert_eq "$HELD" "$(probe_serial "127.0.0.1:$P_IN" "$T/probe")" "node-sds: serial B presents"
    good_agent
else
    fail "scripts/node-deps.sh could not install the npm packages for Node's gRPC SDS server (make deps): $(tail -n 1 "$T/npm.err")"
fi
acc=$(sds_metric "$B_ADMIN" 'sidecar_sds_pushes_total{result="accepted"}')
[ "$acc" -ge $((n + 1)) ] || fail "B accepted $acc pushes, expected one per return to the agent ($((n + 1)))"

step "A -> B kept working throughout"
traffic_stop loop
log "loop: $(traffic_field loop attempts) connections, $(traffic_field loop failed) failed"
traffic_check_loop loop 20

alive a
alive b
log "ok"
