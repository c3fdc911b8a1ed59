#!/usr/bin/env bash
# The sidecar's SDS client against an SDS server nobody here wrote: Node's
# @grpc/grpc-js serving Envoy's own envoy/service/secret/v3/sds.proto (from
# @grpc/grpc-js-xds).  Covers: no listening before certificates, install and
# ACK, rotation seen by new handshakes while an open connection keeps
# flowing, invalid pushes NACKed while the old certificate keeps serving,
# and the server going away and coming back.
. "$(dirname "$0")/lib.sh"

command -v node >/dev/null || fail "node is not installed (make deps installs it; this is the only test of a Node SDS server feeding the sidecar)"
NODE_MODULES=$("$ROOT/scripts/node-deps.sh") || fail "scripts/node-deps.sh could not install the npm packages (@grpc/grpc-js, proto-loader, grpc-js-xds; make deps installs npm)"
certs
G="$T/g"; mkdir -p "$G"
cp "$CERTS/server.crt" "$G/chain.pem"; cp "$CERTS/server.key" "$G/key.pem"; cp "$CERTS/ca.crt" "$G/ca.pem"
SOCK="$T/sds.sock"

start_node_sds() {
    if [ -f "$T/node.out" ]; then mv "$T/node.out" "$T/node.$(date +%s%N).out"; fi
    NODE_PATH="$NODE_MODULES" node "$ROOT/test/integration/node/sds-server.js" --socket "$SOCK" \
        --chain "$G/chain.pem" --key "$G/key.pem" --ca "$G/ca.pem" >>"$T/node.out" 2>>"$T/node.err" &
    _sc_track $! node backend
    NODE_PID=$!
    wait_for_log "$T/node.out" '^listening'
}
push() { kill -HUP "$NODE_PID"; }
serial_served() { # the serial of the certificate the inbound listener presents
    timeout 10 openssl s_client -connect "127.0.0.1:$P_IN" -alpn istio -cert "$CERTS/client.crt" \
        -key "$CERTS/client.key" -CAfile "$CERTS/ca.crt" </dev/null 2>/dev/null |
        openssl x509 -noout -serial | sed 's/serial=//' | tr 'A-F' 'a-f'
}
file_serial() { openssl x509 -in "$1" -noout -serial | sed 's/serial=//' | tr 'A-F' 'a-f'; }
metric() { curl -s "http://127.0.0.1:$ADMIN_PORT/stats/prometheus" | awk -v k="$1" '$1 == k {print $2}'; }
ready_code() { curl -s -o "$T/ready.body" -w '%{http_code}' "http://127.0.0.1:$ADMIN_PORT/healthz/ready"; }

P_ECHO=$(free_port); P_IN=$(free_port)
start_backend echo --listen "127.0.0.1:$P_ECHO" --mode echo
sidecar_config "$T/b.yaml" server bar server
sed -i "s|^secrets:.*|secrets: {sds_socket: \"$SOCK\"}|" "$T/b.yaml"
cat >>"$T/b.yaml" <<EOF
listeners:
  - {name: in, direction: inbound, address: "127.0.0.1:$P_IN", upstream: "127.0.0.1:$P_ECHO", port: 8080}
EOF
peer_auth "$T/b.yaml" STRICT bar

step "before any certificate: health answers 503 with the reason, nothing listens"
"$SIDECAR" -c "$T/b.yaml" >"$T/b.out" 2>"$T/b.err" &
_sc_track $! b sidecar
wait_port 127.0.0.1 "$ADMIN_PORT" 10
assert_eq 503 "$(ready_code)" "readiness before certificates"
assert_contains "$T/ready.body" 'waiting for certificates \(SDS\)'
curl -s "http://127.0.0.1:$ADMIN_PORT/certs?format=table" >"$T/warming.txt"
assert_contains "$T/warming.txt" '^default +Cert Chain +WARMING'
assert_contains "$T/warming.txt" '^ROOTCA +CA +WARMING'
if (exec 3<>"/dev/tcp/127.0.0.1/$P_IN") 2>/dev/null; then fail "the data listener accepted before certificates"; fi

step "the Node SDS server pushes; the sidecar installs, ACKs and listens"
start_node_sds
wait_for_log "$T/node.out" 'REQ stream=1 node=server names=default,ROOTCA version=v1 nonce=[^ ]+ ACK'
wait_port 127.0.0.1 "$P_IN" 10
assert_eq 200 "$(ready_code)" "readiness with certificates"
assert_eq "$(file_serial "$G/chain.pem")" "$(serial_served)" "serial served after the first push"
assert_eq 1 "$(metric sidecar_sds_connected)" "sds connected"

step "a long-lived connection is open while the certificate rotates"
mkfifo "$T/long.in"
{ exec 4>"$T/long.in"; printf 'before\n' >&4; sleep 6; printf 'after\n' >&4; sleep 1; } &
_sc_track $! feeder backend
mesh_client "127.0.0.1:$P_IN" client istio 8 <"$T/long.in" >"$T/long.out" 2>/dev/null &
_sc_track $! longclient backend
sleep 1
"$GEN_CERTS" leaf "$T/certs2" mesh server2 spiffe://cluster.local/ns/bar/sa/server >/dev/null 2>&1 ||
    { mkdir -p "$T/certs2"; cp "$CERTS"/mesh-ca.* "$T/certs2/"; "$GEN_CERTS" leaf "$T/certs2" mesh server2 spiffe://cluster.local/ns/bar/sa/server >/dev/null; }
cp "$T/certs2/server2.crt" "$G/chain.pem"; cp "$T/certs2/server2.key" "$G/key.pem"
push
wait_for_log "$T/node.out" 'version=v2 nonce=[^ ]+ ACK'
assert_eq "$(file_serial "$G/chain.pem")" "$(serial_served)" "new handshakes present the new serial"
wait_for_log "$T/long.out" '^after$' 15
assert_contains "$T/long.out" '^before$'

step "invalid pushes are NACKed and the running certificate keeps serving"
good=$(file_serial "$G/chain.pem")
cp "$G/key.pem" "$T/good.key"; cp "$G/chain.pem" "$T/good.crt"
n=2
nack() { # WHAT REGEX
    n=$((n + 1)); push
    wait_for_log "$T/node.out" "version=v2 nonce=[^ ]+ NACK error=.*$2" 10
    assert_eq "$good" "$(serial_served)" "serial served after a bad push ($1)"
}
cp "$CERTS/client.key" "$G/key.pem"; nack "mismatched key" 'key does not match'
cp "$T/good.key" "$G/key.pem"; cp "$CERTS/expired-client.crt" "$G/chain.pem"; cp "$CERTS/expired-client.key" "$G/key.pem"
nack "expired leaf" 'certificate expired at'
printf 'garbage\n' >"$G/chain.pem"; nack "garbage" 'no PEM certificate'
cp "$CERTS/foo-client.crt" "$G/chain.pem"; cp "$CERTS/foo-client.key" "$G/key.pem"
nack "unknown CA" 'does not lead to any of the 1 trusted root'
rejected=$(metric 'sidecar_sds_pushes_total{result="rejected"}')
assert_eq 4 "$rejected" "rejected pushes"
cp "$T/good.crt" "$G/chain.pem"; cp "$T/good.key" "$G/key.pem"

step "the SDS server goes away: traffic continues, readiness stays 200, it reconnects"
kill "$NODE_PID"; wait "$NODE_PID" 2>/dev/null || true
wait_for_log "$T/b.err" 'SDS stream closed'
printf 'still-here\n' | mesh_client "127.0.0.1:$P_IN" client istio 1 >"$T/still.out" 2>/dev/null || true
assert_contains "$T/still.out" '^still-here$'
assert_eq 200 "$(ready_code)" "readiness while the SDS server is gone"
assert_eq 0 "$(metric sidecar_sds_connected)" "sds connected while gone"
rm -f "$SOCK"
start_node_sds
wait_for_log "$T/node.out" 'REQ stream=1 node=server names=default,ROOTCA version=v2 nonce= INITIAL' 15
wait_for_log "$T/node.out" 'version=v1 nonce=[^ ]+ ACK' 15
assert_eq 2 "$(metric sidecar_sds_connects_total)" "SDS connects"
assert_eq 1 "$(metric sidecar_sds_connected)" "sds connected again"

alive b
log "ok"
