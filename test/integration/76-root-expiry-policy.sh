#!/usr/bin/env bash
# A root of the trust bundle expires while the sidecars run.
#   A trusts "soon" and "keep" (its own leaf chains to keep); B trusts only
#   "soon" (its leaf chains to it).  "soon" expires a few seconds in.
#   C is A with secrets.on_root_expiry: {grace_hours: 1}.
#   - readiness that does not amplify: A stays 200 (a valid root is left)
#     with an ERROR line for the expiry; B turns 503 and says no valid root
#     is left, naming the root and its notAfter.
#   - on_root_expiry: a peer whose chain ends at "soon" is accepted by A
#     before the expiry and refused after it (default policy refuse) with
#     "root CN=soon expired at ..." and outcome="expired"; C accepts it,
#     counts every such handshake in outcome="root_expired_grace" and logs
#     one WARN line per peer identity.
. "$(dirname "$0")/lib.sh"

certs
C=$T/c
"$GEN_CERTS" ca "$C" keep >/dev/null
"$GEN_CERTS" leaf "$C" keep a spiffe://cluster.local/ns/bar/sa/a >/dev/null
"$GEN_CERTS" ca "$C" soon --seconds 16 >/dev/null
"$GEN_CERTS" leaf "$C" soon b spiffe://cluster.local/ns/bar/sa/b >/dev/null &
"$GEN_CERTS" leaf "$C" soon peer spiffe://cluster.local/ns/foo/sa/client >/dev/null &
"$GEN_CERTS" leaf "$C" soon peer2 spiffe://cluster.local/ns/foo/sa/other >/dev/null &
wait
cat "$C/soon-ca.crt" "$C/keep-ca.crt" >"$C/both.crt"
cp "$C/keep-ca.crt" "$C/ca.crt"     # what the peers trust of A and C
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

# hello PORT CERT: one mesh handshake and an echo; prints what came back
hello() {
    printf 'hello\n' | CERTS=$C mesh_client "127.0.0.1:$1" "$2" istio 1 2>>"$T/clients.err" || true
}
metric() { # ADMIN_PORT REGEX: the value of the first matching series
    curl -s "http://127.0.0.1:$1/stats/prometheus" | grep -E -e "$2" | awk '{print $2}' | head -n 1
}

sidecar A a both.crt
sidecar B b soon-ca.crt
sidecar C a both.crt ", on_root_expiry: {grace_hours: 1}"
[ $(($SOON_END - $(date +%s))) -ge 4 ] || skip "certificates took too long to make"

step "before the expiry A accepts a peer chaining to soon"
assert_eq hello "$(hello "$P_A" peer)" "echo through A before the expiry"

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

step "on_root_expiry refuse (the default): A refuses the peer, naming the root and its expiry"
assert_ne hello "$(hello "$P_A" peer)" "echo through A after the expiry"
wait_for_log "$T/A.out" "$(conn_re listener=in class=refused "end=tls_verify_failed: root CN=soon expired at $SOON_END_TXT")"
assert_eq 1 "$(metric "$A_ADMIN" '^sidecar_tls_handshakes_total\{direction="inbound",outcome="expired"\}')" "A's expired handshakes"
assert_eq 0 "$(metric "$A_ADMIN" '^sidecar_tls_handshakes_total\{direction="inbound",outcome="root_expired_grace"\}')" "A's grace handshakes"

step "on_root_expiry {grace_hours: 1}: C accepts, counts each acceptance, logs once per identity"
assert_eq hello "$(hello "$P_C" peer)" "echo through C after the expiry (1)"
assert_eq hello "$(hello "$P_C" peer)" "echo through C after the expiry (2)"
assert_eq hello "$(hello "$P_C" peer2)" "echo through C after the expiry (other identity)"
assert_eq 3 "$(metric "$C_ADMIN" '^sidecar_tls_handshakes_total\{direction="inbound",outcome="root_expired_grace"\}')" "C's grace handshakes"
assert_eq 0 "$(metric "$C_ADMIN" '^sidecar_tls_handshakes_total\{direction="inbound",outcome="expired"\}')" "C's refused handshakes"
re_grace="warn root_expired_grace: inbound peer spiffe://cluster.local/ns/foo/sa/client accepted although its root CN=soon \\(serial [0-9A-F]+\\) expired at $SOON_END_TXT \\(secrets.on_root_expiry grace_hours 1"
assert_eq 1 "$(count_lines "$T/C.err" "$re_grace")" "grace lines for spiffe://cluster.local/ns/foo/sa/client"
assert_eq 1 "$(count_lines "$T/C.err" 'root_expired_grace: inbound peer spiffe://cluster.local/ns/foo/sa/other ')" "grace lines for the other identity"
assert_eq 200 "$(ready "$C_ADMIN" "$T/c1.body")" "C's readiness"

alive A
alive B
alive C
log "ok"
