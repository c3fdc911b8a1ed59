#!/usr/bin/env bash
# SDS interoperability with an implementation nobody here wrote: Node.js
# with @grpc/grpc-js + @grpc/proto-loader, loading Envoy's own
# envoy/service/secret/v3/sds.proto from the npm package @grpc/grpc-js-xds.
#   1. a Node client subscribes to our sds-agent (ca source), decodes the
#      Secrets and gets the leaf (our SPIFFE ID, chaining to the root) and
#      the root; it ACKs, and a NACK is logged and not answered with a resend;
#   2. our own client (common/grpcconn, test/tools/sds-fetch) subscribes to
#      a Node SDS server, gets a new version on SIGHUP, and refuses a push
#      that carries DataSource.filename;
#   3. raw HTTP/2 (Node's http2 module, test/integration/node/h2-raw-server.js)
#      sends a truncated gRPC frame and a compressed one: our client refuses
#      both with a reason.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"

step "node and the npm packages"
node_setup

step "an sds-agent in ca mode"
make_cacerts "$T/cacerts" itroot
cat >"$T/agent.yaml" <<YAML
socket: $T/sds.sock
source: ca
ca: {dir: $T/cacerts, namespace: foo, service_account: client, lifetime: 1h}
YAML
"$AGENT" -c "$T/agent.yaml" --check >"$T/check.out" 2>&1 || { cat "$T/check.out"; fail "--check"; }
start_agent agent "$T/agent.yaml"

step "the Node client subscribes to default and ROOTCA"
node "$NODE_JS_DIR/sds-client.js" --socket "$T/sds.sock" --names default,ROOTCA --count 1 \
    --timeout 20 --out "$T/node-out" >"$T/node-client.json" 2>"$T/node-client.err" ||
    fail "sds-client.js failed: $(cat "$T/node-client.err")"
assert_contains "$T/node-client.json" '"name":"default"'
assert_contains "$T/node-client.json" '"name":"ROOTCA"'
[ -s "$T/node-out/default.chain.pem" ] || fail "no default chain decoded"
[ -s "$T/node-out/default.key.pem" ] || fail "no default key decoded"
[ -s "$T/node-out/ROOTCA.ca.pem" ] || fail "no ROOTCA decoded"

step "what Node decoded is our leaf and our root"
x509_field "$T/node-out/default.chain.pem" -ext subjectAltName >"$T/san.out"
assert_contains "$T/san.out" 'URI:spiffe://cluster.local/ns/foo/sa/client'
cmp -s "$T/node-out/ROOTCA.ca.pem" <(openssl x509 -in "$T/cacerts/root-cert.pem") ||
    fail "ROOTCA is not root-cert.pem"
openssl verify -CAfile "$T/node-out/ROOTCA.ca.pem" -untrusted "$T/node-out/default.chain.pem" \
    "$T/node-out/default.chain.pem" >"$T/verify.out" 2>&1 || { cat "$T/verify.out"; fail "the chain does not verify"; }
leafpub=$(openssl x509 -in "$T/node-out/default.chain.pem" -noout -pubkey)
keypub=$(openssl pkey -in "$T/node-out/default.key.pem" -pubout)
assert_eq "$leafpub" "$keypub" "public key of the decoded key vs the leaf"
wait_for_log "$T/agent.err" 'sds ACK .*node=node-sds-client'

step "a ROOTCA-only subscription gets only ROOTCA"
node "$NODE_JS_DIR/sds-client.js" --socket "$T/sds.sock" --names ROOTCA --count 1 \
    >"$T/node-roots.out" 2>"$T/node-client.err" || fail "sds-client.js (ROOTCA) failed"
assert_contains "$T/node-roots.out" '"name":"ROOTCA"'
assert_not_contains "$T/node-roots.out" '"name":"default"'

step "a NACK is logged and the same version is not sent again"
if node "$NODE_JS_DIR/sds-client.js" --socket "$T/sds.sock" --count 2 --timeout 2 --nack-first \
    >"$T/node-nack.json" 2>"$T/node-nack.err"; then
    fail "the agent answered a NACK with another response"
fi
assert_contains "$T/node-nack.err" 'timed out after 2s with 1 of 2'
wait_for_log "$T/agent.err" 'sds NACK .*node=node-sds-client.*sds-client: NACK on request'

step "a Node SDS server feeds our grpcconn client"
certs
spawn node-server node "$NODE_JS_DIR/sds-server.js" --socket "$T/node.sock" \
    --chain "$CERTS/client.crt" --key "$CERTS/client.key" --ca "$CERTS/ca.crt"
wait_for_log "$T/node-server.out" '^listening' 20
"$SDS_FETCH" -s "$T/node.sock" -c 1 -t 10 -o "$T/fetch1" >"$T/fetch1.out" 2>&1 ||
    { cat "$T/fetch1.out"; fail "sds-fetch against the Node server"; }
assert_contains "$T/fetch1.out" '^RESP version=v1 '
assert_contains "$T/fetch1.out" '^SECRET name=default chain_bytes=[1-9]'
assert_contains "$T/fetch1.out" '^SECRET name=ROOTCA .*ca_bytes=[1-9]'
cmp -s "$T/fetch1/default.chain.pem" "$CERTS/client.crt" || fail "chain differs from the served file"
cmp -s "$T/fetch1/default.key.pem" "$CERTS/client.key" || fail "key differs from the served file"
cmp -s "$T/fetch1/ROOTCA.ca.pem" "$CERTS/ca.crt" || fail "roots differ from the served file"
wait_for_log "$T/node-server.out" 'REQ stream=1 node=sds-fetch .* ACK'

step "a new version pushed by the Node server reaches our client"
"$SDS_FETCH" -s "$T/node.sock" -c 2 -t 10 >"$T/fetch2.out" 2>&1 &
fetch=$!
wait_for_log "$T/node-server.out" 'PUSH stream=2 version=v1'
kill -HUP "$(pid_of node-server)"
wait "$fetch" || { cat "$T/fetch2.out"; fail "sds-fetch did not get the second version"; }
assert_contains "$T/fetch2.out" '^RESP version=v2 '
wait_for_log "$T/node-server.out" 'REQ stream=2 node=sds-fetch .*version=v2 .* ACK'
stop node-server

step "inline_string is accepted, DataSource.filename refused"
spawn node-string node "$NODE_JS_DIR/sds-server.js" --socket "$T/node2.sock" --datasource string \
    --chain "$CERTS/client.crt" --key "$CERTS/client.key" --ca "$CERTS/ca.crt"
wait_for_log "$T/node-string.out" '^listening' 20
"$SDS_FETCH" -s "$T/node2.sock" -c 1 -t 10 -o "$T/fetch3" >"$T/fetch3.out" 2>&1 ||
    { cat "$T/fetch3.out"; fail "sds-fetch (inline_string)"; }
cmp -s "$T/fetch3/default.chain.pem" "$CERTS/client.crt" || fail "inline_string chain differs"
stop node-string
spawn node-file node "$NODE_JS_DIR/sds-server.js" --socket "$T/node3.sock" --datasource filename \
    --chain "$CERTS/client.crt" --key "$CERTS/client.key" --ca "$CERTS/ca.crt"
wait_for_log "$T/node-file.out" '^listening' 20
"$SDS_FETCH" -s "$T/node3.sock" -c 1 -t 3 >"$T/fetch4.out" 2>&1 || true
assert_contains "$T/fetch4.out" '^BADRESP .*DataSource.filename is refused'
assert_not_contains "$T/fetch4.out" '^RESP '
wait_for_log "$T/node-file.out" 'NACK error=.*DataSource.filename is refused'

step "raw HTTP/2 from Node's http2 module: truncated and compressed frames are refused"
printf '\000\000\000\000\020abc' >"$T/trunc.bin"
printf '\001\000\000\000\003abc' >"$T/comp.bin"
spawn raw1 node "$NODE_JS_DIR/h2-raw-server.js" --socket "$T/raw1.sock" --body "$T/trunc.bin" --end
wait_for_log "$T/raw1.out" '^listening' 20
if "$SDS_FETCH" -s "$T/raw1.sock" -t 5 >"$T/raw1.fetch" 2>&1; then fail "a truncated frame was accepted"; fi
assert_contains "$T/raw1.fetch" '^CLOSED status=13 why=stream ended inside a gRPC message \(truncated frame\)'
spawn raw2 node "$NODE_JS_DIR/h2-raw-server.js" --socket "$T/raw2.sock" --body "$T/comp.bin"
wait_for_log "$T/raw2.out" '^listening' 20
if "$SDS_FETCH" -s "$T/raw2.sock" -t 5 >"$T/raw2.fetch" 2>&1; then fail "a compressed frame was accepted"; fi
assert_contains "$T/raw2.fetch" '^CLOSED status=13 why=gRPC message is compressed'
log "ok"
