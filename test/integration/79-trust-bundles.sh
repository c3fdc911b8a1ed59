#!/usr/bin/env bash
# Federated trust domains.  B (inbound STRICT in front of an echo backend,
# trust domain cluster.local) has secrets.trust_bundles {example.org: FILE}
# and allowed_principals naming example.org, cluster.local and a third
# domain, third.example, that has no bundle:
#   a) an example.org client (leaf of the example.org CA) is echoed, and so
#      is our own cluster.local client;
#   b) a third.example client is refused in words: "no trust bundle for
#      trust domain third.example";
#   c) a client whose SPIFFE ID says example.org but whose chain leads to
#      our own CA is refused: example.org peers are verified against the
#      example.org bundle only;
#   d) the bundle file rewritten as a SPIFFE bundle JSON document of another
#      CA refuses the example.org client, the JSON of its CA admits it
#      again, without a restart;
#   e) /certs?format=table has a TRUST DOMAIN column and a row for the
#      example.org root; /certs/roots gives each root its trust_domain;
#   f) a bundle without an x509-svid key is refused at file:line:col;
#   g) outbound, both ways federated: B's ISTIO_MUTUAL listener with
#      expected_identities in example.org reaches F, a sidecar of
#      example.org whose bundle for cluster.local is our CA.
. "$(dirname "$0")/lib.sh"

certs
C=$T/c
mkdir -p "$C" "$T/tb"
cp "$CERTS"/*.crt "$CERTS"/*.key "$C/"
CERTS=$C
gen() { "$GEN_CERTS" "$@" >/dev/null 2>&1 || fail "gen-certs.sh $*"; }
gen ca "$C" fed
gen ca "$C" third
gen leaf "$C" fed fed-client spiffe://example.org/ns/x/sa/y
gen leaf "$C" third third-client spiffe://third.example/ns/x/sa/y
cp "$C/fed-ca.crt" "$T/tb/example.org.pem"
# spiffe_json CA: a SPIFFE bundle document holding CA's certificate (and a
# jwt-svid key, which is skipped)
spiffe_json() {
    local der
    der=$(openssl x509 -in "$1" -outform DER | base64 -w0)
    printf '{"spiffe_sequence": 1, "keys": [{"use": "jwt-svid", "kty": "EC", "kid": "k1"},
  {"use": "x509-svid", "kty": "EC", "crv": "P-256", "x5c": ["%s"]}]}\n' "$der"
}

P_ECHO=$(free_port); P_IN=$(free_port); P_OUT=$(free_port); P_F=$(free_port)
start_backend echo --listen "127.0.0.1:$P_ECHO" --mode echo --quiet
sidecar_config "$T/b.yaml" server bar server
B_ADMIN=$ADMIN_PORT
sed -i "s|^secrets:.*|secrets: {cert_chain: \"$C/server.crt\", private_key: \"$C/server.key\", trusted_ca: \"$C/ca.crt\", trust_bundles: {example.org: \"$T/tb/example.org.pem\"}}|" "$T/b.yaml"
cat >>"$T/b.yaml" <<YAML
listeners:
  - {name: in, direction: inbound, address: "127.0.0.1:$P_IN", upstream: "127.0.0.1:$P_ECHO",
     port: 8080, protocol: tcp,
     allowed_principals: ["spiffe://example.org/*", "spiffe://cluster.local/ns/foo/*", "spiffe://third.example/*"]}
  - {name: out, direction: outbound, address: "127.0.0.1:$P_OUT", upstream: "127.0.0.1:$P_F",
     tls: ISTIO_MUTUAL, protocol: tcp, expected_identities: ["spiffe://example.org/ns/x/sa/y"]}
YAML
peer_auth "$T/b.yaml" STRICT bar
start_sidecar b "$T/b.yaml" "$P_IN"

installs() { count_lines "$T/b.err" 'certificates installed from files'; }
wait_installs() {
    local i
    for ((i = 0; i < 100; i++)); do
        [ "$(installs)" -ge "$1" ] && return 0
        sleep 0.1
    done
    fail "B installed $(installs) certificate sets, expected $1"
}
echoed() {
    printf '%s\n' "$2" | mesh_client "127.0.0.1:$P_IN" "$1" istio 1 >"$T/$2.reply" 2>"$T/$2.err" || true
    grep -q "^$2\$" "$T/$2.reply"
}
accepted() { echoed "$1" "$2" || fail "$1 was not echoed ($3)"; }
refused() {
    if echoed "$1" "$2"; then fail "$1 was echoed ($3)"; fi
}
ser() { openssl x509 -in "$1" -noout -serial | sed 's/^serial=0*//'; }

step "B installs the example.org bundle with its certificate set"
assert_contains "$T/b.err" 'certificates installed from files: .* roots=1 crls=0 trust_bundles=example.org:1'

step "a) an example.org client is echoed; so is our own cluster.local client"
accepted fed-client a-fed "example.org has a bundle and the principals name it"
accepted client a-own "our own trust domain"

step "b) a client of a trust domain without a bundle is refused in words"
refused third-client b-third "third.example has no bundle"
wait_for_log "$T/b.out" "$(conn_re listener=in class=refused "end=tls_verify_failed: no trust bundle for trust domain third.example \(subject CN ?= ?third-client, SAN (URI:)?spiffe://third.example/ns/x/sa/y, serial 0*$(ser "$C/third-client.crt")\)")"

step "c) an example.org SPIFFE ID on a leaf of our own CA is refused"
refused other-td c-impostor "example.org peers need the example.org bundle"
wait_for_log "$T/b.out" "$(conn_re listener=in class=refused "end=tls_verify_failed: peer chain does not lead to any of 1 roots of trust domain example.org \(issuer CN ?= ?mesh;")"

step "d) the bundle as SPIFFE JSON of another CA refuses the example.org client"
spiffe_json "$C/third-ca.crt" >"$T/tb/new.json"
mv -f "$T/tb/new.json" "$T/tb/example.org.pem"
wait_installs 2
refused fed-client d-fed-wrong "the bundle no longer holds its CA"
step "d) the SPIFFE JSON of its own CA admits it again"
spiffe_json "$C/fed-ca.crt" >"$T/tb/new.json"
mv -f "$T/tb/new.json" "$T/tb/example.org.pem"
wait_installs 3
accepted fed-client d-fed-json "the JSON bundle holds its CA"
step "d) a broken bundle is rejected whole and the running one stays"
echo '{"keys": []}' >"$T/tb/new.json"
mv -f "$T/tb/new.json" "$T/tb/example.org.pem"
wait_for_log "$T/b.err" "certificate files rejected, keeping the running ones: $T/tb/example.org.pem: SPIFFE bundle has no x509-svid key"
accepted fed-client d-fed-kept "the previous bundle stays"

step "e) /certs?format=table has a TRUST DOMAIN column"
curl -s "http://127.0.0.1:$B_ADMIN/certs?format=table" >"$T/table.txt"
assert_contains "$T/table.txt" '^RESOURCE NAME +TYPE +STATUS +VALID CERT +SERIAL NUMBER +NOT AFTER +NOT BEFORE +TRUST DOMAIN$'
assert_contains "$T/table.txt" '^default +Cert Chain +ACTIVE +true .* cluster.local$'
assert_contains "$T/table.txt" '^ROOTCA +CA +ACTIVE +true .* cluster.local$'
assert_contains "$T/table.txt" '^example.org +CA +ACTIVE +true .* example.org$'
step "e) /certs/roots gives each root its trust_domain"
curl -s "http://127.0.0.1:$B_ADMIN/certs/roots" >"$T/roots.json"
assert_contains "$T/roots.json" '"subject":"CN ?= ?mesh"[^}]*"trust_domain":"cluster.local"'
assert_contains "$T/roots.json" '"subject":"CN ?= ?fed"[^}]*"trust_domain":"example.org"'

step "f) a bundle without an x509-svid key is refused at file:line:col"
echo '{"keys": [{"use": "jwt-svid", "kty": "EC"}]}' >"$T/tb/bad.json"
sed "s|$T/tb/example.org.pem|$T/tb/bad.json|" "$T/b.yaml" >"$T/bad.yaml"
if "$SIDECAR" -c "$T/bad.yaml" --check 2>"$T/bad.err"; then fail "--check accepted a bundle without roots"; fi
assert_contains "$T/bad.err" "^$T/bad.yaml:3:[0-9]+: secrets.trust_bundles.example.org: $T/tb/bad.json: SPIFFE bundle has no x509-svid key"

step "g) outbound to a sidecar of example.org, which federates back"
sidecar_config "$T/f.yaml" fed x fed-client
sed -i -e 's/trust_domain: cluster.local/trust_domain: example.org/' \
    -e "s|trusted_ca: \"$C/ca.crt\"|trusted_ca: \"$C/fed-ca.crt\", trust_bundles: {cluster.local: \"$C/ca.crt\"}|" "$T/f.yaml"
cat >>"$T/f.yaml" <<YAML
listeners:
  - {name: in, direction: inbound, address: "127.0.0.1:$P_F", upstream: "127.0.0.1:$P_ECHO",
     port: 8080, protocol: tcp, allowed_principals: ["spiffe://cluster.local/ns/bar/*"]}
YAML
peer_auth "$T/f.yaml" STRICT x
start_sidecar f "$T/f.yaml" "$P_F"
printf 'g-out\n' | tcp_client 127.0.0.1 "$P_OUT" 2 >"$T/g-out.reply" 2>"$T/g-out.err" || true
assert_contains "$T/g-out.reply" '^g-out$'
wait_for_log "$T/b.out" "$(conn_re listener=out class=mesh_mtls "peer=spiffe://example.org/ns/x/sa/y")"
wait_for_log "$T/f.out" "$(conn_re listener=in class=mesh_mtls "peer=spiffe://cluster.local/ns/bar/sa/server")"

alive b
alive f
