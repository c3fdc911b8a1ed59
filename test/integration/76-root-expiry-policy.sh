#!/usr/bin/env bash
# A root of the trust bundle expires while the sidecars run.
#   A trusts "soon" and "keep" (its own leaf chains to keep); B trusts only
#   "soon" (its leaf chains to it).  "soon" expires a few seconds in.
#   - readiness that does not amplify: A stays 200 (a valid root is left)
#     with an ERROR line for the expiry; B turns 503 and says no valid root
#     is left, naming the root and its notAfter.
. "$(dirname "$0")/lib.sh"

certs
C=$T/c
"$GEN_CERTS" ca "$C" keep >/dev/null
"$GEN_CERTS" leaf "$C" keep a spiffe://cluster.local/ns/bar/sa/a >/dev/null
"$GEN_CERTS" ca "$C" soon --seconds 10 >/dev/null
"$GEN_CERTS" leaf "$C" soon b spiffe://cluster.local/ns/bar/sa/b >/dev/null
cat "$C/soon-ca.crt" "$C/keep-ca.crt" >"$C/both.crt"
SOON_END=$(date -u -d "$(openssl x509 -in "$C/soon-ca.crt" -noout -enddate | cut -d= -f2)" +%s)
SOON_END_TXT=$(date -u -d "@$SOON_END" +%Y-%m-%dT%H:%M:%SZ)

# sidecar NAME LEAF BUNDLE: a sidecar with one STRICT inbound listener on
# $P_<NAME>; sets <NAME>_ADMIN.
P_ECHO=$(free_port)
start_backend echo --listen "127.0.0.1:$P_ECHO" --mode echo
sidecar() {
    local name=$1 leaf=$2 bundle=$3 port
    port=$(free_port)
    sidecar_config "$T/$name.yaml" "$name" bar "$leaf"
    sed -i "s|^secrets:.*|secrets: {cert_chain: \"$C/$leaf.crt\", private_key: \"$C/$leaf.key\", trusted_ca: \"$C/$bundle\"${4:-}}|" "$T/$name.yaml"
    cat >>"$T/$name.yaml" <<EOF
listeners:
  - {name: in, direction: inbound, address: "127.0.0.1:$port", upstream: "127.0.0.1:$P_ECHO", port: 8080}
EOF
    peer_auth "$T/$name.yaml" STRICT bar
    start_sidecar "$name" "$T/$name.yaml" "$port"
    eval "P_$name=$port ${name}_ADMIN=$ADMIN_PORT"
}
ready() { # ADMIN_PORT BODY_FILE: prints the status code
    curl -s -o "$2" -w '%{http_code}' "http://127.0.0.1:$1/healthz/ready"
}

sidecar A a both.crt
sidecar B b soon-ca.crt
[ $(($SOON_END - $(date +%s))) -ge 2 ] || skip "certificates took too long to make"

step "before the expiry both are ready"
assert_eq 200 "$(ready "$A_ADMIN" "$T/a0.body")" "A's readiness"
assert_eq 200 "$(ready "$B_ADMIN" "$T/b0.body")" "B's readiness"

step "the root expires: A (a valid root left) stays ready, with an ERROR line"
wait_for_log "$T/A.err" " error certificate expired: role=root resource=ROOTCA subject=\"CN=soon\" .* not_after=$SOON_END_TXT\$" 20
assert_eq 200 "$(ready "$A_ADMIN" "$T/a1.body")" "A's readiness with one root expired and one valid"
curl -s "http://127.0.0.1:$A_ADMIN/certs?format=table" >"$T/a-table.txt"
assert_contains "$T/a-table.txt" '^ROOTCA +CA +EXPIRED +false '
assert_contains "$T/a-table.txt" '^ROOTCA +CA +ACTIVE +true '

step "B (no valid root left) is 503 and says which root expired when"
wait_for_log "$T/B.err" " error certificate expired: role=root resource=ROOTCA subject=\"CN=soon\"" 10
assert_eq 503 "$(ready "$B_ADMIN" "$T/b1.body")" "B's readiness with its only root expired"
assert_contains "$T/b1.body" "^not ready: no valid root CA left: root CA CN=soon expired at $SOON_END_TXT\$"

alive A
alive B
log "ok"
