#!/usr/bin/env bash
# Two signers: the incident where two workloads signed by different CAs fail
# with CERTIFICATE_VERIFY_FAILED, made obvious.  Sidecar A gets its
# certificate from an sds-agent whose CA is "foo", sidecar B from one whose
# CA is "bar" (independent roots).  Traffic in either direction (A -> B and
# B -> A) fails, and each side's log names the issuer it did not trust: the
# client side (which verifies the server's chain first) names it in its
# outbound line, the server side says the peer refused its certificate; a
# client that does present a foo certificate to B is refused with "issuer
# CN=foo" in B's log.  The handshake metrics count unknown_ca.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"

step "agent A with CA foo, agent B with CA bar"
make_cacerts "$T/cacerts-foo" foo
make_cacerts "$T/cacerts-bar" bar
ca_agent_config "$T/agent-a.yaml" "$T/a.sock" "$T/cacerts-foo" foo client "lifetime: 1h"
ca_agent_config "$T/agent-b.yaml" "$T/b.sock" "$T/cacerts-bar" bar server "lifetime: 1h"
start_agent agent-a "$T/agent-a.yaml"
start_agent agent-b "$T/agent-b.yaml"
SDS_PAIR_BOTH_WAYS=1 sds_pair "$T/a.sock" "$T/b.sock"
# which root each sidecar trusts, as /certs shows it
sds_table "$A_ADMIN" >"$T/a-table.txt"
sds_table "$B_ADMIN" >"$T/b-table.txt"
FOO_ROOT=$(x509_field "$T/ca-foo/foo-ca.crt" -serial | norm_serial)
BAR_ROOT=$(x509_field "$T/ca-bar/bar-ca.crt" -serial | norm_serial)
assert_contains "$T/a-table.txt" "^ROOTCA +CA +ACTIVE +true +0*$FOO_ROOT "
assert_contains "$T/b-table.txt" "^ROOTCA +CA +ACTIVE +true +0*$BAR_ROOT "

# no_echo PORT WHAT: a line sent to 127.0.0.1:PORT does not come back
no_echo() {
    printf 'two-signers\n' | tcp_client 127.0.0.1 "$1" 2 >"$T/echo.out" 2>&1 || true
    assert_not_contains "$T/echo.out" '^two-signers$'
}

step "A -> B fails: A does not trust B's chain (issuer CN=bar), B says A refused its certificate"
no_echo "$P_OUT"
wait_for_log "$T/a.out" "$(conn_re dir=outbound listener=out class=refused)" 10
a_line=$(conn_lines "$T/a.out" 'listener=out ' | head -n 1)
log "A: ${a_line#* end=}"
case $a_line in
*" end=tls_verify_failed: peer chain does not lead to any of 1 trusted roots (issuer CN=bar; subject CN=bar-int, SAN none, serial "*) ;;
*) fail "A's outbound log line does not name the untrusted issuer CN=bar: $a_line" ;;
esac
wait_for_log "$T/b.out" "$(conn_re dir=inbound listener=in class=refused)" 10
b_line=$(conn_lines "$T/b.out" 'dir=inbound listener=in ' | head -n 1)
log "B: ${b_line#* end=}"
case $b_line in
*"end=tls_"*"the peer refused our certificate (SAN spiffe://cluster.local/ns/bar/sa/server, serial "[0-9A-F]*"): "*) ;;
*) fail "B's inbound log line does not say that the peer refused its certificate: $b_line" ;;
esac

step "B -> A fails the same way the other way round (issuer CN=foo in B's log)"
no_echo "$P_OUT_B"
wait_for_log "$T/b.out" "$(conn_re dir=outbound listener=out class=refused)" 10
b_out=$(conn_lines "$T/b.out" 'dir=outbound listener=out ' | head -n 1)
log "B: ${b_out#* end=}"
case $b_out in
*" end=tls_verify_failed: peer chain does not lead to any of 1 trusted roots (issuer CN=foo; subject CN=foo-int, SAN none, serial "*) ;;
*) fail "B's outbound log line does not name the untrusted issuer CN=foo: $b_out" ;;
esac
wait_for_log "$T/a.out" "$(conn_re dir=inbound listener=in class=refused)" 10
a_in=$(conn_lines "$T/a.out" 'dir=inbound listener=in ' | head -n 1)
log "A: ${a_in#* end=}"
case $a_in in
*"end=tls_"*"the peer refused our certificate"*) ;;
*) fail "A's inbound log line does not say that the peer refused its certificate: $a_in" ;;
esac

step "a client with a certificate from foo, straight to B: B names CN=foo"
probe_cert "$T/probe" foo spiffe://cluster.local/ns/foo/sa/client
printf 'from-foo\n' | timeout 10 openssl s_client -connect "127.0.0.1:$P_IN" -alpn istio -quiet \
    -cert "$T/probe/probe.crt" -cert_chain "$T/probe/probe.chain" -key "$T/probe/probe.key" \
    >"$T/probe.out" 2>/dev/null || true
assert_not_contains "$T/probe.out" '^from-foo$'
wait_for_log "$T/b.out" "$(conn_re dir=inbound listener=in class=refused \
    'end=tls_verify_failed: peer chain does not lead to any of 1 trusted roots \(issuer CN=foo;')" 10
log "B: $(conn_lines "$T/b.out" 'issuer CN=foo;' | tail -n 1 | sed 's/.* end=//')"

step "the handshake metrics count unknown_ca on both sides, no handshake succeeded"
hs() { # ADMIN_PORT DIRECTION OUTCOME
    sds_metric "$1" "sidecar_tls_handshakes_total{direction=\"$2\",outcome=\"$3\"}"
}
assert_eq "1 1" "$(hs "$A_ADMIN" outbound unknown_ca) $(hs "$A_ADMIN" inbound unknown_ca)" "A: unknown_ca outbound, inbound"
assert_eq "1 2" "$(hs "$B_ADMIN" outbound unknown_ca) $(hs "$B_ADMIN" inbound unknown_ca)" "B: unknown_ca outbound, inbound (A, the foo client)"
for port in "$A_ADMIN" "$B_ADMIN"; do
    assert_eq "0 0" "$(hs "$port" outbound ok) $(hs "$port" inbound ok)" "handshakes that succeeded"
    curl -s "http://127.0.0.1:$port/stats/prometheus" >"$T/prom.txt"
    assert_not_contains "$T/prom.txt" '^sidecar_tls_peer_root_total\{'
done
assert_not_contains "$T/a.out" ' class=mesh_mtls '
assert_not_contains "$T/b.out" ' class=mesh_mtls '

alive a
alive b
log "ok"
