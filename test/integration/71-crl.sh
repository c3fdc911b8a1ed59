#!/usr/bin/env bash
# Revocation.  B (inbound STRICT, in front of an echo backend) trusts two
# roots (mesh and foo) and reads secrets.crl, a CRL of the mesh root only:
#   a) a client whose leaf the CRL lists is refused in words
#      ("peer certificate serial … revoked by CRL of CN=mesh (next update …)")
#      and counted as outcome="revoked"; a client the CRL does not list is
#      echoed, and so are peers whose issuer has no CRL (the foo root, the
#      mesh-int intermediate): a CRL for some CAs does not break the others;
#   b) the CRL file is rewritten to revoke a second leaf and the
#      intermediate: both are refused without a restart (the intermediate
#      as "certificate in the peer's chain serial … revoked");
#   c) a CRL signed by a key we do not trust (a CA also named "mesh") is
#      rejected whole with a WARN, and the previous CRL stays in force;
#   d) an expired CRL is installed with a WARN: traffic flows, and what it
#      lists is still refused.
#      Outbound, M (a CRL listing B's certificate) refuses B in the same
#      words (outbound outcome="revoked"), and B logs that its peer refused
#      its certificate as revoked (counted as revoked too);
#   e) DestinationRule caCrl (SIMPLE): a config whose caCrl no
#      caCertificates signed, or without caCertificates, is refused at
#      file:line:col; A refuses an openssl s_server presenting a revoked
#      certificate in the same words (outbound outcome="revoked") and serves
#      a good one; a rewritten caCrl takes effect on SIGHUP.
#   f) SDS (Node's gRPC SDS server, Envoy's own protos): C installs a ROOTCA
#      whose validation_context carries a crl and refuses what it lists; a
#      crl no trusted CA signed is NACKed with the reason in error_detail
#      and the previous CRL stays; a new crl is ACKed and in force.
. "$(dirname "$0")/lib.sh"

certs
C=$T/c
mkdir -p "$C" "$T/evil"
cp "$CERTS"/*.crt "$CERTS"/*.key "$C/"
CERTS=$C
"$GEN_CERTS" leaf "$C" mesh client2 spiffe://cluster.local/ns/foo/sa/client \
    --cn client.foo.svc.cluster.local >/dev/null 2>&1 || fail "gen-certs.sh leaf client2"
"$GEN_CERTS" ca "$T/evil" mesh >/dev/null 2>&1 || fail "gen-certs.sh ca (untrusted mesh)"
ser() { openssl x509 -in "$1" -noout -serial | sed 's/^serial=0*//'; }
S_CLIENT=$(ser "$C/client.crt")
S_CLIENT2=$(ser "$C/client2.crt")
S_INT=$(ser "$C/mesh-int-ca.crt")
cat "$C/mesh-ca.crt" "$C/foo-ca.crt" >"$C/bundle.crt"
mkdir -p "$T/crl"
# crl_write ARGS...: a new CRL of the mesh root, renamed over B's CRL file
crl_write() {
    "$GEN_CERTS" crl "$C" mesh --out "$T/crl/new.crl" "$@" >/dev/null 2>&1 || fail "gen-certs.sh crl $*"
    mv -f "$T/crl/new.crl" "$T/crl/mesh.crl"
}
crl_write --revoke client

step "config: secrets.crl must hold a CRL, and only goes with certificate files"
printf 'node: {id: server, trust_domain: cluster.local, namespace: bar}\nsecrets: {cert_chain: "%s", private_key: "%s", trusted_ca: "%s", crl: "%s"}\n' \
    "$C/server.crt" "$C/server.key" "$C/ca.crt" "$C/ca.crt" >"$T/notcrl.yaml"
if "$SIDECAR" -c "$T/notcrl.yaml" --check 2>"$T/notcrl.err"; then fail "--check accepted a CRL file without a CRL"; fi
assert_contains "$T/notcrl.err" "^$T/notcrl.yaml:2:[0-9]+: secrets.crl: $C/ca.crt: no PEM CRL found"
printf 'node: {id: server, trust_domain: cluster.local, namespace: bar}\nsecrets: {sds_socket: "%s", crl: "%s"}\n' \
    "$T/sds.sock" "$T/crl/mesh.crl" >"$T/sdscrl.yaml"
if "$SIDECAR" -c "$T/sdscrl.yaml" --check 2>"$T/sdscrl.err"; then fail "--check accepted secrets.crl with SDS"; fi
assert_contains "$T/sdscrl.err" "^$T/sdscrl.yaml:2:[0-9]+: secrets.crl: only with certificate files; with SDS the CRL comes in the validation context of ROOTCA"

P_ECHO=$(free_port); P_IN=$(free_port)
start_backend echo --listen "127.0.0.1:$P_ECHO" --mode echo --quiet
sidecar_config "$T/b.yaml" server bar server
B_ADMIN=$ADMIN_PORT
sed -i "s|^secrets:.*|secrets: {cert_chain: \"$C/server.crt\", private_key: \"$C/server.key\", trusted_ca: \"$C/bundle.crt\", crl: \"$T/crl/mesh.crl\"}|" "$T/b.yaml"
cat >>"$T/b.yaml" <<YAML
listeners:
  - {name: in, direction: inbound, address: "127.0.0.1:$P_IN", upstream: "127.0.0.1:$P_ECHO",
     port: 8080, protocol: tcp}
YAML
peer_auth "$T/b.yaml" STRICT bar
start_sidecar b "$T/b.yaml" "$P_IN"

prom() { curl -sS -m 5 "http://127.0.0.1:$1/stats/prometheus" >"$2" || fail "scraping 127.0.0.1:$1/stats/prometheus"; }
metric() { prom "$B_ADMIN" "$T/b.prom"; awk -v k="$1" '$1 == k { print $2 }' "$T/b.prom"; }
revoked() { metric 'sidecar_tls_handshakes_total{direction="inbound",outcome="revoked"}'; }
installs() { count_lines "$T/b.err" 'certificates installed from files'; }
# echoed CERT TAG: a mesh client with CERT gets TAG echoed back
echoed() {
    printf '%s\n' "$2" | mesh_client "127.0.0.1:$P_IN" "$1" istio 1 >"$T/$2.reply" 2>"$T/$2.err" || true
    grep -q "^$2\$" "$T/$2.reply"
}
accepted() { echoed "$1" "$2" || fail "$1 was not echoed ($3)"; }
refused() {
    if echoed "$1" "$2"; then fail "$1 was echoed ($3)"; fi
}
# wait_installs N: B has installed N certificate sets (bounded: 10 s)
wait_installs() {
    local i
    for ((i = 0; i < 100; i++)); do
        [ "$(installs)" -ge "$1" ] && return 0
        sleep 0.1
    done
    fail "B installed $(installs) certificate sets, expected $1"
}

step "B starts with the CRL: one CRL in the installed set"
assert_contains "$T/b.err" 'certificates installed from files: .* roots=2 crls=1'

step "a) the revoked client is refused in words, counted as revoked"
refused client a-revoked "serial $S_CLIENT is in the CRL"
wait_for_log "$T/b.out" "$(conn_re listener=in class=refused "end=tls_verify_failed: peer certificate serial 0*$S_CLIENT revoked by CRL of CN ?= ?mesh \(next update 20[0-9-]+T[0-9:]+Z;")"
assert_eq 1 "$(revoked)" 'outcome="revoked" after the revoked client'
step "a) a client the CRL does not list is echoed"
accepted client2 a-client2 "not in the CRL"
step "a) peers whose issuer has no CRL are echoed (another root; an intermediate)"
accepted foo-client a-foo "the foo root has no CRL"
accepted int-client a-int "the mesh-int intermediate has no CRL and is not revoked"
assert_eq 1 "$(revoked)" 'outcome="revoked" after the accepted clients'

step "b) the CRL file is rewritten (client2 and the intermediate revoked too): in force without a restart"
n=$(installs)
crl_write --revoke client --revoke client2 --revoke mesh-int
wait_installs $((n + 1))
refused client2 b-client2 "revoked by the new CRL"
wait_for_log "$T/b.out" "$(conn_re listener=in class=refused "end=tls_verify_failed: peer certificate serial 0*$S_CLIENT2 revoked by CRL of CN ?= ?mesh")"
refused int-client b-int "its intermediate is revoked by the new CRL"
wait_for_log "$T/b.out" "$(conn_re listener=in class=refused "end=tls_verify_failed: certificate in the peer's chain serial 0*$S_INT revoked by CRL of CN ?= ?mesh")"
accepted foo-client b-foo "the foo root still has no CRL"
assert_eq 3 "$(revoked)" 'outcome="revoked" after the new CRL'

step "c) a CRL signed by an untrusted key is rejected whole with a WARN; the previous CRL stays"
n=$(installs)
"$GEN_CERTS" crl "$T/evil" mesh --out "$T/crl/new.crl" >/dev/null 2>&1 || fail "gen-certs.sh crl (untrusted)"
mv -f "$T/crl/new.crl" "$T/crl/mesh.crl"
wait_for_log "$T/b.err" " warn certificate files rejected, keeping the running ones: $T/crl/mesh.crl: CRL 1 \(issuer CN ?= ?mesh\) is not signed by any trusted CA"
assert_eq "$n" "$(installs)" "certificate sets installed after the untrusted CRL"
refused client2 c-client2 "the previous CRL is still in force"
accepted foo-client c-foo "traffic of the other root"
assert_eq 4 "$(revoked)" 'outcome="revoked" after the untrusted CRL'

step "d) an expired CRL (client only) gives a WARN, traffic flows, its serials stay refused"
n=$(installs)
crl_write --revoke client --expired
wait_installs $((n + 1))
wait_for_log "$T/b.err" " warn CRL of CN ?= ?mesh is past its next update 20[0-9-]+T[0-9:]+Z; revocation is still checked against it"
accepted client2 d-client2 "no longer listed; the expired CRL does not stop traffic"
accepted int-client d-int "no longer listed"
refused client d-client "still listed in the expired CRL"
assert_eq 5 "$(revoked)" 'outcome="revoked" after the expired CRL'
assert_eq 200 "$(curl -s -o /dev/null -w "%{http_code}" -m 5 "http://127.0.0.1:$B_ADMIN/healthz/ready" || true)" "readiness of B with an expired CRL"

step "d) outbound: M (client2, a CRL listing B's server certificate) refuses B; B hears why"
S_SERVER=$(ser "$C/server.crt")
"$GEN_CERTS" crl "$C" mesh --revoke server --out "$T/crl/m.crl" >/dev/null 2>&1 || fail "gen-certs.sh crl (server)"
P_MOUT=$(free_port)
sidecar_config "$T/m.yaml" client foo client2
M_ADMIN=$ADMIN_PORT
sed -i "s|^secrets:.*|secrets: {cert_chain: \"$C/client2.crt\", private_key: \"$C/client2.key\", trusted_ca: \"$C/ca.crt\", crl: \"$T/crl/m.crl\"}|" "$T/m.yaml"
cat >>"$T/m.yaml" <<YAML
listeners:
  - {name: out, direction: outbound, address: "127.0.0.1:$P_MOUT", upstream: "127.0.0.1:$P_IN",
     tls: ISTIO_MUTUAL, protocol: tcp, expected_identities: ["spiffe://cluster.local/ns/bar/sa/server"]}
YAML
start_sidecar m "$T/m.yaml" "$P_MOUT"
printf 'm-out\n' | tcp_client 127.0.0.1 "$P_MOUT" 2 >"$T/m-out.reply" 2>/dev/null || true
assert_not_contains "$T/m-out.reply" '^m-out$'
wait_for_log "$T/m.out" "$(conn_re dir=outbound listener=out mode=ISTIO_MUTUAL class=refused "end=tls_verify_failed: peer certificate serial 0*$S_SERVER revoked by CRL of CN ?= ?mesh \(next update 20[0-9-]+T[0-9:]+Z;")"
assert_eq 1 "$(prom "$M_ADMIN" "$T/m.prom"; awk -v k='sidecar_tls_handshakes_total{direction="outbound",outcome="revoked"}' '$1 == k { print $2 }' "$T/m.prom")" 'M: outbound outcome="revoked"'
wait_for_log "$T/b.out" "$(conn_re listener=in class=refused "end=tls_handshake_failed: the peer refused our certificate \(SAN spiffe://cluster.local/ns/bar/sa/server, serial 0*$S_SERVER\): sslv3 alert certificate revoked")"
assert_eq 6 "$(revoked)" 'B: outcome="revoked" after the peer refused its certificate'

# ---------------------------------------------------------------------------
# DestinationRule caCrl: A originates TLS (SIMPLE) to two openssl s_servers
# outside the mesh, one presenting a revoked certificate.
step "e) DestinationRule caCrl: config errors name the rule, the key and why"
E=$T/ext
"$GEN_CERTS" ca "$E" ext >/dev/null 2>&1 || fail "gen-certs.sh ca ext"
for n in api api-revoked; do
    "$GEN_CERTS" leaf "$E" ext "$n" - --dns api.example.com --cn api.example.com >/dev/null 2>&1 || fail "gen-certs.sh leaf $n"
done
S_API_REVOKED=$(ser "$E/api-revoked.crt")
"$GEN_CERTS" crl "$E" ext --revoke api-revoked --out "$E/ext.crl" >/dev/null 2>&1 || fail "gen-certs.sh crl ext"
"$GEN_CERTS" ca "$T/evil" ext >/dev/null 2>&1 || fail "gen-certs.sh ca (untrusted ext)"
"$GEN_CERTS" crl "$T/evil" ext --out "$T/evil/ext.crl" >/dev/null 2>&1 || fail "gen-certs.sh crl (untrusted ext)"
P_GOOD=$(free_port); P_REV=$(free_port); P_OG=$(free_port); P_OR=$(free_port)
# a_config CRL [CA]: A's config with a SIMPLE DestinationRule for api.example.com
a_config() {
    sidecar_config "$T/a.yaml" client foo client
    A_ADMIN=$ADMIN_PORT
    cat >>"$T/a.yaml" <<YAML
listeners:
  - {name: good, direction: outbound, address: "127.0.0.1:$P_OG", upstream: "127.0.0.1:$P_GOOD",
     host: api.example.com}
  - {name: revoked, direction: outbound, address: "127.0.0.1:$P_OR", upstream: "127.0.0.1:$P_REV",
     host: api.example.com}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: api, namespace: foo}
spec:
  host: api.example.com
  trafficPolicy:
    tls: {mode: SIMPLE, ${2:+caCertificates: "$2", }caCrl: "$1"}
YAML
}
a_config "$T/evil/ext.crl" "$E/ext-ca.crt"
if "$SIDECAR" -c "$T/a.yaml" --check 2>"$T/evilcrl.err"; then fail "--check accepted a caCrl no caCertificates signed"; fi
assert_contains "$T/evilcrl.err" "^$T/a.yaml:[0-9]+:[0-9]+: DestinationRule foo/api: spec.trafficPolicy.tls.caCrl: $T/evil/ext.crl: CRL 1 \(issuer CN ?= ?ext\) is not signed by any trusted CA"
a_config "$E/ext.crl"
if "$SIDECAR" -c "$T/a.yaml" --check 2>"$T/noca.err"; then fail "--check accepted caCrl without caCertificates"; fi
assert_contains "$T/noca.err" "^$T/a.yaml:[0-9]+:[0-9]+: DestinationRule foo/api: spec.trafficPolicy.tls.caCrl: needs caCertificates"

step "e) DestinationRule caCrl: a revoked server is refused in words, a good one serves"
start_s_server api-good "$P_GOOD" "$E/api.crt" "$E/api.key"
start_s_server api-revoked "$P_REV" "$E/api-revoked.crt" "$E/api-revoked.key"
a_config "$E/ext.crl" "$E/ext-ca.crt"
start_sidecar a "$T/a.yaml" "$P_OG" "$P_OR"
curl -sS --max-time 5 "http://127.0.0.1:$P_OR/" >"$T/e-revoked.reply" 2>/dev/null || true
assert_not_contains "$T/e-revoked.reply" 'Cipher is'
wait_for_log "$T/a.out" "$(conn_re listener=revoked mode=SIMPLE class=refused "end=tls_verify_failed: peer certificate serial 0*$S_API_REVOKED revoked by CRL of CN ?= ?ext \(next update 20[0-9-]+T[0-9:]+Z;")"
curl -sS --max-time 5 "http://127.0.0.1:$P_OG/" >"$T/e-good.reply" || true
assert_contains "$T/e-good.reply" 'Cipher is|Protocol'
assert_eq 1 "$(prom "$A_ADMIN" "$T/a.prom"; awk -v k='sidecar_tls_handshakes_total{direction="outbound",outcome="revoked"}' '$1 == k { print $2 }' "$T/a.prom")" 'A: outbound outcome="revoked"'

step "e) the caCrl file is reread on SIGHUP: the good server revoked too"
"$GEN_CERTS" crl "$E" ext --revoke api-revoked --revoke api --out "$E/ext.crl" >/dev/null 2>&1 || fail "gen-certs.sh crl ext (both)"
kill -HUP "$(pid_of a)"
wait_for_log "$T/a.err" "reloaded $T/a.yaml"
curl -sS --max-time 5 "http://127.0.0.1:$P_OG/" >"$T/e-good2.reply" 2>/dev/null || true
assert_not_contains "$T/e-good2.reply" 'Cipher is'
wait_for_log "$T/a.out" "$(conn_re listener=good mode=SIMPLE class=refused "end=tls_verify_failed: peer certificate serial [0-9A-F]+ revoked by CRL of CN ?= ?ext")"
alive a

# ---------------------------------------------------------------------------
# SDS: Node's gRPC SDS server (Envoy's own protos, so Envoy's field number
# for CertificateValidationContext.crl) pushes ROOTCA with a crl to C.
step "f) SDS: a ROOTCA whose validation_context carries a crl; C refuses what it lists"
command -v node >/dev/null || fail "node is not installed (make deps installs it; the SDS part of this test uses Node's SDS server)"
NODE_MODULES=$("$ROOT/scripts/node-deps.sh") || fail "scripts/node-deps.sh could not install the npm packages"
G=$T/sds
mkdir -p "$G"
cp "$C/server.crt" "$G/chain.pem"; cp "$C/server.key" "$G/key.pem"; cp "$C/ca.crt" "$G/ca.pem"
"$GEN_CERTS" crl "$C" mesh --revoke client --out "$G/crl.pem" >/dev/null 2>&1 || fail "gen-certs.sh crl (SDS)"
SOCK=$T/sds.sock
NODE_MODULES=$NODE_MODULES NODE_PATH="$NODE_MODULES" node "$ROOT/test/integration/node/sds-server.js" --socket "$SOCK" \
    --chain "$G/chain.pem" --key "$G/key.pem" --ca "$G/ca.pem" --crl "$G/crl.pem" >"$T/node.out" 2>"$T/node.err" &
_sc_track $! node backend
NODE_PID=$!
wait_for_log "$T/node.out" '^listening'
P_IN=$(free_port)
sidecar_config "$T/c.yaml" server bar server
C_ADMIN=$ADMIN_PORT
sed -i "s|^secrets:.*|secrets: {sds_socket: \"$SOCK\"}|" "$T/c.yaml"
cat >>"$T/c.yaml" <<YAML
listeners:
  - {name: in, direction: inbound, address: "127.0.0.1:$P_IN", upstream: "127.0.0.1:$P_ECHO",
     port: 8080, protocol: tcp}
YAML
peer_auth "$T/c.yaml" STRICT bar
start_sidecar c "$T/c.yaml" "$P_IN"
wait_for_log "$T/node.out" 'REQ stream=1 node=server names=default,ROOTCA version=v1 nonce=[^ ]+ ACK'
assert_contains "$T/c.err" 'certificates installed from SDS version v1: .* roots=1 crls=1'
refused client f-client "listed in the pushed CRL"
wait_for_log "$T/c.out" "$(conn_re listener=in class=refused "end=tls_verify_failed: peer certificate serial 0*$S_CLIENT revoked by CRL of CN ?= ?mesh \(next update 20[0-9-]+T[0-9:]+Z;")"
accepted client2 f-client2 "not listed in the pushed CRL"
c_revoked() { prom "$C_ADMIN" "$T/c.prom"; awk -v k='sidecar_tls_handshakes_total{direction="inbound",outcome="revoked"}' '$1 == k { print $2 }' "$T/c.prom"; }
assert_eq 1 "$(c_revoked)" 'C: outcome="revoked"'

step "f) SDS: a crl no trusted CA signed is NACKed with the reason; the previous CRL stays"
"$GEN_CERTS" crl "$T/evil" mesh --out "$G/crl.pem" >/dev/null 2>&1 || fail "gen-certs.sh crl (SDS, untrusted)"
kill -HUP "$NODE_PID"
wait_for_log "$T/node.out" 'version=v1 nonce=[^ ]+ NACK error=.*secret \\"ROOTCA\\": validation_context.crl: CRL 1 \(issuer CN ?= ?mesh\) is not signed by any trusted CA'
wait_for_log "$T/c.err" ' warn SDS push version v2 rejected \(NACK\), keeping version v1: secret "ROOTCA": validation_context.crl: CRL 1 \(issuer CN ?= ?mesh\) is not signed by any trusted CA'
refused client f-client-after-nack "the previous CRL stays in force"
accepted client2 f-client2-after-nack "the previous CRL lists only client"

step "f) SDS: a new ROOTCA crl (client2 too) is installed and in force"
"$GEN_CERTS" crl "$C" mesh --revoke client --revoke client2 --out "$G/crl.pem" >/dev/null 2>&1 || fail "gen-certs.sh crl (SDS, 2)"
kill -HUP "$NODE_PID"
wait_for_log "$T/node.out" 'version=v3 nonce=[^ ]+ ACK'
refused client2 f-client2-revoked "listed in the new pushed CRL"
wait_for_log "$T/c.out" "$(conn_re listener=in class=refused "end=tls_verify_failed: peer certificate serial 0*$S_CLIENT2 revoked by CRL of CN ?= ?mesh")"
alive c
