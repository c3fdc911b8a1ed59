#!/usr/bin/env bash
# sidecarctl against running sidecars, as an operator uses it:
#   certs        istioctl's table (leaf, intermediate, root), -o json
#   check-root   OK with a long-lived root; a root expiring within --days -> WARNING, exit 1
#   roots        GET /certs/roots as a table (and -o json), exit 0
#   describe     STRICT port decided by the mesh-wide PeerAuthentication; PERMISSIVE
#                port by a workload's portLevelMtls, with the plaintext client STRICT
#                would have refused; outbound TLS, identities and DestinationRule
#   diagnose     a good peer sidecar (accepted, 0); a peer from another CA (names the
#                CA and what to fix, 1); a wrong identity (1); a peer that refuses our
#                certificate (1); nothing listening (1)
#   exit 2       unknown command, bad option, admin connection refused; --admin unix:PATH
. "$(dirname "$0")/lib.sh"

CTL=${CTL:-$SC_BUILD/bin/sidecarctl}
[ -x "$CTL" ] || fail "no sidecarctl binary at $CTL (run make)"
certs
P_ECHO=$(free_port); P_B_IN=$(free_port); P_C=$(free_port)
P_A_STRICT=$(free_port); P_A_PERM=$(free_port); P_A_OUT=$(free_port); P_A_OUT2=$(free_port)
SERVER_ID=spiffe://cluster.local/ns/bar/sa/server

# ctl NAME ARGS...: runs sidecarctl, stdout > $T/NAME.txt, stderr > $T/NAME.stderr,
# and sets RC to its exit status.
ctl() {
    local name=$1
    shift
    RC=0
    "$CTL" "$@" >"$T/$name.txt" 2>"$T/$name.stderr" || RC=$?
}
# expect_rc EXPECTED NAME: the exit status of `ctl NAME`, stderr one line when not 0
expect_rc() {
    assert_eq "$1" "$RC" "sidecarctl exit status ($2: $(head -c 300 "$T/$2.stderr"))"
    if [ "$1" = 2 ]; then
        assert_eq 1 "$(wc -l <"$T/$2.stderr")" "$2: one line on stderr"
    fi
}
json_ok() { python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$1" || fail "$1 is not JSON"; }
# json_get FILE PYEXPR: evaluates PYEXPR on the document d
json_get() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

start_backend echo --listen "127.0.0.1:$P_ECHO" --mode echo

# B: a good peer (server identity, mesh root) whose trust bundle also holds a
# root that expires in 10 days
"$GEN_CERTS" ca "$T/c" soon --days 10 >/dev/null
cat "$CERTS/ca.crt" "$T/c/soon-ca.crt" >"$T/b-bundle.crt"
sidecar_config "$T/b.yaml" server bar server
sed -i "s|trusted_ca: \"$CERTS/ca.crt\"|trusted_ca: \"$T/b-bundle.crt\"|" "$T/b.yaml"
cat >>"$T/b.yaml" <<EOF
listeners:
  - {name: in, direction: inbound, address: "127.0.0.1:$P_B_IN", upstream: "127.0.0.1:$P_ECHO",
     port: 8080, protocol: tcp}
EOF
peer_auth "$T/b.yaml" STRICT bar
B_ADMIN=$ADMIN_PORT
start_sidecar b "$T/b.yaml" "$P_B_IN"

# C: a TLS server whose certificate comes from another root (CN=bar)
start_s_server c "$P_C" "$CERTS/bar-server.crt" "$CERTS/bar-server.key"

# D: a TLS server with a mesh certificate that requires a client certificate
# from root foo, so it refuses ours
P_D_IN=$(free_port)
start_s_server d "$P_D_IN" "$CERTS/server.crt" "$CERTS/server.key" \
    -Verify 1 -verify_return_error -CAfile "$CERTS/foo-ca.crt"

# A: the sidecar we ask; its chain has an intermediate; admin on TCP and a Unix socket
sidecar_config "$T/a.yaml" client foo int-client
A_ADMIN=$ADMIN_PORT
sed -i "s|^node: {id: client, trust_domain: cluster.local, namespace: foo}$|node: {id: client, trust_domain: cluster.local, namespace: foo, labels: {app: a}}|" "$T/a.yaml"
sed -i "s|^admin: {address: \"127.0.0.1:$A_ADMIN\"}$|admin: {address: \"127.0.0.1:$A_ADMIN\", unix_socket: \"$T/admin.sock\"}|" "$T/a.yaml"
cat >>"$T/a.yaml" <<EOF
listeners:
  - {name: strict, direction: inbound, address: "127.0.0.1:$P_A_STRICT", upstream: "127.0.0.1:$P_ECHO",
     port: 8080, protocol: tcp}
  - {name: perm, direction: inbound, address: "127.0.0.1:$P_A_PERM", upstream: "127.0.0.1:$P_ECHO",
     port: 9090, protocol: tcp}
  - {name: out, direction: outbound, address: "127.0.0.1:$P_A_OUT", upstream: "127.0.0.1:$P_B_IN",
     host: b, protocol: tcp}
  - {name: out2, direction: outbound, address: "127.0.0.1:$P_A_OUT2", upstream: "127.0.0.1:$P_B_IN",
     tls: ISTIO_MUTUAL, protocol: tcp}
---
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: {name: mtls-global, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: {name: a-ports, namespace: foo}
spec:
  selector: {matchLabels: {app: a}}
  portLevelMtls:
    9090: {mode: PERMISSIVE}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: b-mtls, namespace: foo}
spec:
  host: b
  trafficPolicy:
    tls: {mode: ISTIO_MUTUAL, subjectAltNames: ["$SERVER_ID"]}
EOF
start_sidecar a "$T/a.yaml" "$P_A_STRICT" "$P_A_PERM" "$P_A_OUT"
A=(--admin "127.0.0.1:$A_ADMIN")

# ---------------------------------------------------------------------------
step "certs: istioctl's columns, one row per certificate (leaf, intermediate, root)"
ctl certs "${A[@]}" certs
expect_rc 0 certs
assert_contains "$T/certs.txt" '^RESOURCE NAME +TYPE +STATUS +VALID CERT +SERIAL NUMBER +NOT AFTER +NOT BEFORE$'
assert_contains "$T/certs.txt" '^default +Cert Chain +ACTIVE +true +[0-9a-f]+ +20[0-9-]+T'
assert_contains "$T/certs.txt" '^default +Intermediate +ACTIVE +true '
assert_contains "$T/certs.txt" '^ROOTCA +CA +ACTIVE +true '
assert_eq 4 "$(wc -l <"$T/certs.txt")" "certs: header and three rows"

step "certs -o json: the sidecar's rows, for scripts"
ctl certs-json "${A[@]}" -o json certs
expect_rc 0 certs-json
json_ok "$T/certs-json.txt"
assert_eq "leaf intermediate root" "$(json_get "$T/certs-json.txt" '" ".join(c["role"] for c in d["certificates"])')" "roles"
assert_eq "CN=mesh" "$(json_get "$T/certs-json.txt" 'd["certificates"][2]["subject"]')" "root subject"

step "--admin unix:PATH reaches the admin API on its Unix socket"
ctl certs-unix --admin "unix:$T/admin.sock" certs
expect_rc 0 certs-unix
assert_eq "$(cat "$T/certs.txt")" "$(cat "$T/certs-unix.txt")" "same table over the Unix socket"

# ---------------------------------------------------------------------------
step "check-root: a long-lived root and intermediate -> OK, exit 0"
ctl cr-a "${A[@]}" check-root
expect_rc 0 cr-a
assert_contains "$T/cr-a.txt" '^ROLE +SUBJECT +SERIAL NUMBER +NOT AFTER +DAYS LEFT$'
assert_contains "$T/cr-a.txt" '^root +CN=mesh '
assert_contains "$T/cr-a.txt" '^intermediate +CN=mesh-int '
assert_contains "$(tail -n 1 "$T/cr-a.txt" >"$T/cr-a.last"; echo "$T/cr-a.last")" '^OK: the first (root|intermediate) expires in [0-9]+ days \('

step "check-root: a root expiring in 10 days -> WARNING, exit 1; under --days 5 -> OK"
ctl cr-b --admin "127.0.0.1:$B_ADMIN" check-root
expect_rc 1 cr-b
tail -n 1 "$T/cr-b.txt" >"$T/cr-b.last"
assert_contains "$T/cr-b.last" '^WARNING: root CN=soon expires in (9|10) days '
ctl cr-b5 --admin "127.0.0.1:$B_ADMIN" check-root --days 5
expect_rc 0 cr-b5
tail -n 1 "$T/cr-b5.txt" >"$T/cr-b5.last"
assert_contains "$T/cr-b5.last" '^OK: the first root expires in (9|10) days \(CN=soon'
ctl cr-b-json --admin "127.0.0.1:$B_ADMIN" -o json check-root
expect_rc 1 cr-b-json
json_ok "$T/cr-b-json.txt"
assert_eq WARNING "$(json_get "$T/cr-b-json.txt" 'd["status"]')" "check-root -o json status"
assert_eq 2 "$(json_get "$T/cr-b-json.txt" 'len(d["certificates"])')" "check-root -o json: both roots"

# ---------------------------------------------------------------------------
step "roots: each trusted root, its peers, and whether it is safe to remove"
ctl roots "${A[@]}" roots
expect_rc 0 roots
cat "$T/roots.txt"
assert_contains "$T/roots.txt" '^ROOT +SERIAL NUMBER +NOT AFTER +PEERS +LAST SEEN +FULL/RESUMED +SAFE TO REMOVE$'
assert_contains "$T/roots.txt" 'no: our own chain ends at it$'
assert_contains "$T/roots.txt" '^[0-9]+ of [0-9]+ trusted root\(s\) safe to remove$'
ctl roots-json "${A[@]}" -o json roots
expect_rc 0 roots-json
json_ok "$T/roots-json.txt"
assert_eq True "$(json_get "$T/roots-json.txt" '"window_seconds" in d and len(d["roots"]) >= 1')" "roots -o json"

# ---------------------------------------------------------------------------
step "describe: each port's mode in words, and who STRICT would have refused"
printf 'PLAIN\n' | tcp_client 127.0.0.1 "$P_A_PERM" 2 >/dev/null || true
wait_for_log "$T/a.out" "$(conn_re listener=perm mode=PERMISSIVE class=plaintext)"
ctl describe "${A[@]}" describe
expect_rc 0 describe
assert_contains "$T/describe.txt" '^8080 +STRICT +decided by PeerAuthentication istio-system/mtls-global \(mesh-wide\); port-level override: none$'
assert_contains "$T/describe.txt" '^9090 +PERMISSIVE +decided by PeerAuthentication foo/a-ports \(workload selector\); port-level override: yes'
assert_contains "$T/describe.txt" 'connections: mesh_mtls 0, plaintext 1, app_tls_passthrough 0, refused 0'
assert_contains "$T/describe.txt" 'STRICT would have refused 1 connections in the last hour \(1 plaintext, 0 non-mesh TLS\); last: 127\.0\.0\.1:[0-9]+ at 20'
assert_contains "$T/describe.txt" '^ports: 2 \(1 STRICT, 1 PERMISSIVE, 0 DISABLE\)$'
assert_contains "$T/describe.txt" "^out \\(b:[0-9]+\\) +ISTIO_MUTUAL +expects $SERVER_ID; set by DestinationRule foo/b-mtls$"
assert_contains "$T/describe.txt" '^out2 +ISTIO_MUTUAL +any identity in trust domain cluster.local; set by the sidecar.s config$'

step "describe PORT: one port; an unknown port -> exit 2"
ctl describe-8080 "${A[@]}" describe 8080
expect_rc 0 describe-8080
assert_contains "$T/describe-8080.txt" '^8080 +STRICT'
assert_not_contains "$T/describe-8080.txt" '^9090'
ctl describe-1 "${A[@]}" describe 1
expect_rc 2 describe-1
assert_contains "$T/describe-1.stderr" 'no inbound port 1'

step "describe -o json"
ctl describe-json "${A[@]}" -o json describe
expect_rc 0 describe-json
json_ok "$T/describe-json.txt"
assert_eq "mtls-global" "$(json_get "$T/describe-json.txt" '[p for p in d["inbound"] if p["port"]==8080][0]["decided_by"]["name"]')" "decided_by"
assert_eq 1 "$(json_get "$T/describe-json.txt" '[p for p in d["inbound"] if p["port"]==9090][0]["last_hour"]["plaintext"]')" "last_hour.plaintext"

# ---------------------------------------------------------------------------
step "diagnose a good peer sidecar: accepted, exit 0"
ctl diag-good "${A[@]}" diagnose "127.0.0.1:$P_B_IN"
expect_rc 0 diag-good
assert_contains "$T/diag-good.txt" '^handshake: ok, TLSv1\.3, TLS_[A-Z0-9_]+, group [A-Za-z0-9]+, alpn istio$'
assert_contains "$T/diag-good.txt" "SANs $SERVER_ID"
assert_contains "$T/diag-good.txt" '^root: +CN=mesh \(serial '
assert_contains "$T/diag-good.txt" "^identity: +$SERVER_ID, expected any identity in trust domain cluster.local: accepted$"
assert_contains "$T/diag-good.txt" '^verdict: +OK: mTLS to 127\.0\.0\.1:[0-9]+ works'
ctl diag-good-id "${A[@]}" diagnose "127.0.0.1:$P_B_IN" --identity "$SERVER_ID" -o json
expect_rc 0 diag-good-id
json_ok "$T/diag-good-id.txt"
assert_eq accepted "$(json_get "$T/diag-good-id.txt" 'd["verdict"]')" "verdict"
assert_eq True "$(json_get "$T/diag-good-id.txt" 'd["identity_accepted"]')" "identity_accepted"

step "diagnose a wrong identity: refused, exit 1"
ctl diag-id "${A[@]}" diagnose "127.0.0.1:$P_B_IN" --identity spiffe://cluster.local/ns/bar/sa/other
expect_rc 1 diag-id
assert_contains "$T/diag-id.txt" "^verdict: +REFUSED: peer SAN $SERVER_ID not in \[spiffe://cluster.local/ns/bar/sa/other\]"
assert_contains "$T/diag-id.txt" "^fix: +the peer is $SERVER_ID, not spiffe://cluster.local/ns/bar/sa/other"

step "diagnose a peer from another CA: the verdict names the CA and what to fix, exit 1"
ctl diag-ca "${A[@]}" diagnose "127.0.0.1:$P_C" --sni bar
expect_rc 1 diag-ca
assert_contains "$T/diag-ca.txt" '^verdict: +REFUSED: the peer.s chain leads to CN=bar, which this sidecar does not trust$'
assert_contains "$T/diag-ca.txt" '^fix: +add bar.s root to the trust bundle or re-issue the peer from cluster root CN=mesh$'
assert_contains "$T/diag-ca.txt" '^      issuer CN=bar$'
assert_contains "$T/diag-ca.txt" '^root: +none: peer chain does not lead to any of 1 trusted roots'

step "diagnose a peer that does not trust our root: says the peer refused our certificate, exit 1"
ctl diag-them "${A[@]}" diagnose "127.0.0.1:$P_D_IN"
expect_rc 1 diag-them
assert_contains "$T/diag-them.txt" '^verdict: +REFUSED: the handshake failed: .*(unknown ca|certificate)'
assert_contains "$T/diag-them.txt" '^root: +CN=mesh \(serial '
assert_contains "$T/diag-them.txt" "^fix: +the peer refused this sidecar's certificate: add this sidecar's root CN=mesh to the peer's trust bundle"

step "diagnose a port where nothing listens: unreachable, exit 1"
ctl diag-none "${A[@]}" diagnose "127.0.0.1:$(free_port)"
expect_rc 1 diag-none
assert_contains "$T/diag-none.txt" '^verdict: +UNREACHABLE: cannot reach 127\.0\.0\.1:[0-9]+ \(connect: Connection refused\)'

# ---------------------------------------------------------------------------
step "usage and connection errors: exit 2 with one line on stderr"
ctl refused --admin "127.0.0.1:$(free_port)" certs
expect_rc 2 refused
assert_contains "$T/refused.stderr" '^sidecarctl: cannot connect to the admin API at 127\.0\.0\.1:[0-9]+: Connection refused$'
ctl bogus "${A[@]}" frobnicate
expect_rc 2 bogus
assert_contains "$T/bogus.stderr" 'unknown command "frobnicate"'
ctl baddays "${A[@]}" check-root --days soon
expect_rc 2 baddays
ctl nocmd "${A[@]}"
expect_rc 2 nocmd
ctl diag-noarg "${A[@]}" diagnose
expect_rc 2 diag-noarg
ctl diag-badaddr "${A[@]}" diagnose not-an-address
expect_rc 2 diag-badaddr
assert_contains "$T/diag-badaddr.stderr" 'address'
ctl help --help
expect_rc 0 help
assert_contains "$T/help.txt" '^usage: sidecarctl'

log "PASS"
