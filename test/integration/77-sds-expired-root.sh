#!/usr/bin/env bash
# The expired-root incident (87-expired-root.sh) through the SDS path: an
# sds-agent (files source, Istio layout) serves a workload certificate that
# is still valid but whose root CA has expired.  Neither side refuses the set
# -- refusing it would leave a sidecar with no secrets and no explanation --
# so the operator sees the expiry where they look:
#   - the agent serves it (pushes ROOTCA and default) with an ERROR line
#     naming the expired root, the sidecar ACKs it and installs it (no NACK
#     on either side);
#   - B's /certs?format=table shows EXPIRED on the ROOTCA row (and the
#     certificate chain ACTIVE), the expiry gauge carries the root's notAfter;
#   - readiness is 503 (no valid root is left) and says which root expired
#     when, and the log has an
#     ERROR line naming the root;
#   - a handshake from a peer whose chain leads to that root fails with the
#     expiry in the connection-log line and outcome="expired" in the metric.
# Then the operator replaces the files with a valid CA: the agent pushes the
# new set in one push, B installs it without rejecting anything on the way,
# readiness is 200 and a mesh handshake works.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"

certs
"$GEN_CERTS" ca "$T/old" old --expired >/dev/null 2>&1 || fail "gen-certs.sh ca --expired"
"$GEN_CERTS" leaf "$T/old" old server spiffe://cluster.local/ns/bar/sa/server >/dev/null 2>&1 ||
    fail "gen-certs.sh leaf server under the expired root"
"$GEN_CERTS" leaf "$T/old" old client spiffe://cluster.local/ns/foo/sa/client >/dev/null 2>&1 ||
    fail "gen-certs.sh leaf client under the expired root"
root_end=$(date -u -d "$(x509_field "$T/old/old-ca.crt" -enddate | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ)
root_serial=$(x509_field "$T/old/old-ca.crt" -serial | norm_serial)
leaf_serial=$(x509_field "$T/old/server.crt" -serial | norm_serial)
[ "$(date -u -d "$root_end" +%s)" -lt "$(date +%s)" ] || fail "the test root is not expired ($root_end)"

step "an sds-agent on an Istio-layout directory whose root has expired"
d=$T/cacerts
mkdir -p "$d"
cp "$T/old/server.crt" "$d/cert-chain.pem"
cp "$T/old/server.key" "$d/key.pem"
cp "$T/old/old-ca.crt" "$d/root-cert.pem"
cat >"$T/agent.yaml" <<YAML
socket: $T/sds.sock
source: files
files: {dir: $d}
YAML
start_agent agent "$T/agent.yaml"
# the agent serves the set: an expired root is not a reason to hold it back
wait_for_log "$T/agent.err" "files $d: serving istio .*: serial=0*$(tr 'a-f' 'A-F' <<<"$leaf_serial") not_after=[^ ]+ roots=1"
assert_not_contains "$T/agent.err" 'held back'
# ...but the agent says it out loud
assert_contains "$T/agent.err" "error files $d: root CA CN=old \\(serial [0-9A-F]+\\) in the served bundle expired at [0-9T:-]+Z; peers whose chain ends there are refused"

step "sidecar B gets its secrets over SDS and opens its listener"
P_ECHO=$(free_port); P_IN=$(free_port)
start_backend echo --listen "127.0.0.1:$P_ECHO" --mode echo --quiet
sidecar_config "$T/b.yaml" server bar server
B_ADMIN=$ADMIN_PORT
sed -i "s|^secrets:.*|secrets: {sds_socket: \"$T/sds.sock\"}|" "$T/b.yaml"
cat >>"$T/b.yaml" <<YAML
listeners:
  - {name: in, direction: inbound, address: "127.0.0.1:$P_IN", upstream: "127.0.0.1:$P_ECHO",
     port: 8080, protocol: tcp}
YAML
peer_auth "$T/b.yaml" STRICT bar
start_sidecar b "$T/b.yaml" "$P_IN"
assert_contains "$T/b.err" "certificates installed from SDS version [^ ]+: spiffe://cluster.local/ns/bar/sa/server serial=0*$(tr 'a-f' 'A-F' <<<"$leaf_serial") .* roots=1"
wait_for_log "$T/agent.err" 'sds ACK stream=1 .*node=server '
wait_for_log "$T/agent.err" "sds push stream=1 .*resource=ROOTCA .*roots=1"
assert_eq 1 "$(sds_metric "$B_ADMIN" 'sidecar_sds_pushes_total{result="accepted"}')" "SDS pushes B accepted"
assert_eq 0 "$(sds_metric "$B_ADMIN" 'sidecar_sds_pushes_total{result="rejected"}')" "SDS pushes B rejected"
assert_eq 1 "$(sds_metric "$B_ADMIN" 'sidecar_sds_connected')" "B's SDS stream is up"
assert_not_contains "$T/agent.err" ' NACK '
assert_not_contains "$T/b.err" 'rejected \(NACK\)'

step "/certs?format=table shows the ROOTCA row EXPIRED"
sds_table "$B_ADMIN" >"$T/table.txt"
assert_contains "$T/table.txt" '^RESOURCE NAME +TYPE +STATUS +VALID CERT +SERIAL NUMBER +NOT AFTER +NOT BEFORE +TRUST DOMAIN$'
assert_contains "$T/table.txt" "^ROOTCA +CA +EXPIRED +false +0*$root_serial +$root_end "
assert_contains "$T/table.txt" "^default +Cert Chain +ACTIVE +true +0*$leaf_serial "
assert_eq 3 "$(wc -l <"$T/table.txt")" "lines in the table (header, default, one root)"

step "readiness is 503 and says which root expired when; the log says it too"
assert_eq 503 "$(sds_ready_code "$B_ADMIN")" "B's readiness with an expired root"
assert_contains "$T/ready.body" "no valid root CA left: root CA CN=old expired at $root_end"
assert_contains "$T/b.err" "error root CA CN=old \\(serial [0-9A-F]+\\) expired at $root_end"

step "a handshake from a peer of that root fails, naming the expiry in the log and the metric"
printf 'hello\n' | CERTS="$T/old" mesh_client "127.0.0.1:$P_IN" client istio 1 -CAfile "$T/old/old-ca.crt" \
    >"$T/c.out" 2>"$T/c.err" || true
assert_not_contains "$T/c.out" '^hello$'
wait_for_log "$T/b.out" "$(conn_re listener=in class=refused "end=tls_verify_failed: root CN=old expired at $root_end")"
assert_contains "$T/b.out" 'subject CN=old, SAN none, serial [0-9A-F]+\): certificate has expired$'
curl -s "http://127.0.0.1:$B_ADMIN/stats/prometheus" >"$T/metrics.txt"
assert_contains "$T/metrics.txt" '^sidecar_tls_handshakes_total\{direction="inbound",outcome="expired"\} 1$'
assert_not_contains "$T/metrics.txt" '^sidecar_tls_handshakes_total\{direction="inbound",outcome="ok"\} [1-9]'
assert_contains "$T/metrics.txt" "^sidecar_certificate_expiration_timestamp_seconds\\{resource=\"ROOTCA\",role=\"root\",serial=\"0*$root_serial\"\\} $(date -u -d "$root_end" +%s)$"

step "the operator replaces the CA: B installs the new set, readiness is 200 again"
# file by file, as a person would (the agent holds back the mixed states)
cp "$CERTS/ca.crt" "$d/root-cert.pem.tmp" && mv "$d/root-cert.pem.tmp" "$d/root-cert.pem"
cp "$CERTS/server.crt" "$d/cert-chain.pem.tmp" && mv "$d/cert-chain.pem.tmp" "$d/cert-chain.pem"
cp "$CERTS/server.key" "$d/key.pem.tmp" && mv "$d/key.pem.tmp" "$d/key.pem"
new_serial=$(x509_field "$CERTS/server.crt" -serial | norm_serial)
wait_for_log "$T/b.err" "certificates installed from SDS version [^ ]+: spiffe://cluster.local/ns/bar/sa/server serial=0*$(tr 'a-f' 'A-F' <<<"$new_serial") " 10
sds_table "$B_ADMIN" >"$T/table2.txt"
assert_not_contains "$T/table2.txt" 'EXPIRED'
assert_contains "$T/table2.txt" "^ROOTCA +CA +ACTIVE +true "
assert_eq 200 "$(sds_ready_code "$B_ADMIN")" "B's readiness once the root is valid"
printf 'hello\n' | mesh_client "127.0.0.1:$P_IN" client istio 1 >"$T/c2.out" 2>"$T/c2.err" || true
assert_contains "$T/c2.out" '^hello$'
wait_for_log "$T/b.out" "$(conn_re listener=in class=mesh_mtls peer=spiffe://cluster.local/ns/foo/sa/client)"
# The new root and the new leaf come in one push (a root pushed alone would
# not sign the leaf B holds, and B would NACK it): nothing was rejected.
assert_eq 0 "$(sds_metric "$B_ADMIN" 'sidecar_sds_pushes_total{result="rejected"}')" "SDS pushes B rejected during the CA replacement"
assert_not_contains "$T/b.err" 'rejected \(NACK\)'

alive agent
alive b
log "ok"
