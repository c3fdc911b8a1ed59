#!/usr/bin/env bash
# The command line and config validation, as a user meets them:
#   --version prints a version; --check accepts the shipped examples (with real
#   certificate paths) and a typical test config; bad configs exit non-zero
#   with FILE:LINE:COL and the key path; the sidecar does not start on them.
. "$(dirname "$0")/lib.sh"

certs

step "--version prints a version"
"$SIDECAR" --version >"$T/version.out" 2>&1 || fail "--version exited with status $?"
assert_contains "$T/version.out" '[0-9]+\.[0-9]+'

# render FILE OUT: points the certificate paths of an example at real files:
# "certs/NAME" (the examples' convention: scripts/gen-certs.sh mesh certs)
# becomes $CERTS/NAME, and Istio's /etc/certs/{cert-chain,key,root-cert}.pem
# become the server's chain, key and the mesh root.
render() {
    sed -E \
        -e "s#(^|[[:space:]\"'])certs/([A-Za-z0-9._-]+)#\\1$CERTS/\\2#g" \
        -e "s#/etc/certs/cert-chain\\.pem#$CERTS/server.crt#g" \
        -e "s#/etc/certs/key\\.pem#$CERTS/server.key#g" \
        -e "s#/etc/certs/root-cert\\.pem#$CERTS/ca.crt#g" \
        "$1" >"$2"
}

step "--check accepts the shipped example configs"
n=0
for f in conf/sidecar.yaml conf/examples/*.yaml; do
    [ -f "$ROOT/$f" ] || continue
    out=$T/example-$(basename "$f")
    render "$ROOT/$f" "$out"
    if ! "$SIDECAR" -c "$out" --check >"$T/check.out" 2>"$T/check.err"; then
        cat "$T/check.err" >&2
        fail "--check rejects $f (rendered as $out)"
    fi
    n=$((n + 1))
done
log "$n example configs accepted"

step "--check accepts a typical config (listeners + PeerAuthentication)"
P1=$(free_port); P2=$(free_port); P3=$(free_port)
cat >"$T/good.yaml" <<EOF
node: {id: server, trust_domain: cluster.local, namespace: bar}
workers: 1
secrets: {cert_chain: "$CERTS/server.crt", private_key: "$CERTS/server.key", trusted_ca: "$CERTS/ca.crt"}
timeouts: {handshake_ms: 2000, sniff_ms: 1000, connect_ms: 2000, idle_ms: 60000}
listeners:
  - {name: in, direction: inbound, address: "127.0.0.1:$P1", upstream: "127.0.0.1:$P2", port: 8080, protocol: tcp,
     allowed_principals: ["spiffe://cluster.local/ns/foo/*"]}
  - {name: out, direction: outbound, address: "127.0.0.1:$P3", upstream: "127.0.0.1:$P1", tls: ISTIO_MUTUAL,
     expected_identities: ["spiffe://cluster.local/ns/bar/sa/server"]}
---
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: {name: default, namespace: bar}
spec: {mtls: {mode: STRICT}}
EOF
"$SIDECAR" -c "$T/good.yaml" --check >"$T/good.out" 2>"$T/good.err" || { cat "$T/good.err" >&2; fail "--check rejects a good config"; }
# --check validates only: nothing listens afterwards
if _sc_listening 127.0.0.1 "$P1"; then fail "--check left a listener on $P1"; fi

# bad NAME LINE REGEX: writes $T/NAME.yaml (stdin), expects --check to fail
# with "FILE:LINE:COL: " and REGEX on stderr (LINE "*" = any line).
bad() {
    local name=$1 line=$2 re=$3 f=$T/$1.yaml rc=0 lre
    cat >"$f"
    "$SIDECAR" -c "$f" --check >"$T/$name.out" 2>"$T/$name.err" || rc=$?
    if [ $rc -eq 0 ]; then fail "--check accepted $name.yaml"; fi
    if [ $rc -gt 128 ]; then fail "--check crashed on $name.yaml (status $rc)"; fi
    if [ "$line" = "*" ]; then lre='[0-9]+'; else lre=$line; fi
    assert_contains "$T/$name.err" "^$f:$lre:[0-9]+: "
    assert_contains "$T/$name.err" "$re"
    log "$name: $(grep -m1 -E "^$f:" "$T/$name.err")"
}

HEAD="node: {id: server, trust_domain: cluster.local, namespace: bar}
workers: 1
secrets: {cert_chain: \"$CERTS/server.crt\", private_key: \"$CERTS/server.key\", trusted_ca: \"$CERTS/ca.crt\"}"

step "an unknown key names its line"
bad unknown 4 'bogus_key' <<EOF
$HEAD
bogus_key: 1
EOF

step "an unknown key inside a listener names the key path"
bad unknown2 8 'listeners\[0\].*upstrem' <<EOF
$HEAD
listeners:
  - name: in
    direction: inbound
    address: "127.0.0.1:$P1"
    upstrem: "127.0.0.1:$P2"
EOF

step "a port out of range names listeners[0].port"
bad badport 10 'listeners\[0\]\.port.*70000' <<EOF
$HEAD
listeners:
  - name: in
    direction: inbound
    address: "127.0.0.1:$P1"
    upstream: "127.0.0.1:$P2"
    protocol: tcp
    port: 70000
EOF

step "an address with a bad port is refused"
bad badaddr 7 'listeners\[0\]\.address' <<EOF
$HEAD
listeners:
  - name: in
    direction: inbound
    address: "127.0.0.1:99999"
    upstream: "127.0.0.1:$P2"
EOF

step "a missing certificate file names secrets.cert_chain"
bad nocert '*' 'secrets\.cert_chain' <<EOF
node: {id: server, trust_domain: cluster.local, namespace: bar}
secrets: {cert_chain: "$T/does-not-exist.crt", private_key: "$CERTS/server.key", trusted_ca: "$CERTS/ca.crt"}
EOF

step "a key that does not match the certificate is refused"
bad keymismatch '*' 'private_key|key' <<EOF
node: {id: server, trust_domain: cluster.local, namespace: bar}
secrets: {cert_chain: "$CERTS/server.crt", private_key: "$CERTS/client.key", trusted_ca: "$CERTS/ca.crt"}
EOF

step "a YAML syntax error names its position"
bad syntax '*' '.' <<EOF
$HEAD
listeners: [ {name: in, direction: inbound
EOF

step "a bad PeerAuthentication mode in the second document names its line"
bad pamode 10 'STRCT' <<EOF
$HEAD
---
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: {name: default, namespace: bar}
spec:
  mtls:
    mode: STRCT
EOF

step "a bad direction and a bad tls mode are refused"
bad baddir 5 'listeners\[0\]\.direction' <<EOF
$HEAD
listeners:
  - {name: in, direction: sideways, address: "127.0.0.1:$P1", upstream: "127.0.0.1:$P2"}
EOF
bad badtls 5 'listeners\[0\]\.tls' <<EOF
$HEAD
listeners:
  - {name: out, direction: outbound, address: "127.0.0.1:$P1", upstream: "127.0.0.1:$P2", tls: MUTUAL_PLEASE}
EOF

step "the sidecar refuses to start on a bad config (exits, opens nothing)"
rc=0
timeout 10 "$SIDECAR" -c "$T/badport.yaml" >"$T/run-bad.out" 2>"$T/run-bad.err" || rc=$?
[ $rc -ne 0 ] || fail "sidecar started on a bad config"
[ $rc -ne 124 ] || fail "sidecar kept running on a bad config"
assert_contains "$T/run-bad.err" "^$T/badport.yaml:10:[0-9]+: listeners\\[0\\]\\.port"
assert_not_contains "$T/run-bad.err" 'ready'

step "a missing config file is an error, not a crash"
rc=0
"$SIDECAR" -c "$T/nope.yaml" --check >"$T/nofile.out" 2>"$T/nofile.err" || rc=$?
[ $rc -ne 0 ] && [ $rc -lt 128 ] || fail "--check on a missing file: status $rc"
assert_contains "$T/nofile.err" 'nope\.yaml'

log "ok"
