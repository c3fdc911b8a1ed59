#!/usr/bin/env bash
# No TLS session outlives its trust.  Every certificate here chains to a
# root that expires EXP seconds after it is made.  Before that, sidecar A
# (outbound) and sidecar B (inbound) resume TLS 1.3 sessions as usual; a
# resumption is attributed to the root of its original full handshake
# (peer_root=<serial>, session=resumed).  Once the root has expired, a
# ticket from before is worth nothing: the next connection makes a full
# handshake, which fails and says why, in each direction on its own:
#  - A (client) drops its ticket, even for `openssl s_server`, which would
#    resume it: A's connection log says the peer's chain expired;
#  - B (server) refuses a ticket that `openssl s_client` presents from
#    before the expiry: a full handshake, refused in B's connection log;
#  - A's idle pooled HTTP connection to B is closed, not reused.
# Without this, traffic between peers that already talked kept flowing
# through resumption after the root expired while new peers were refused.
. "$(dirname "$0")/lib.sh"

EXP=${EXP:-25}
CLIENT_ID=spiffe://cluster.local/ns/foo/sa/client
SERVER_ID=spiffe://cluster.local/ns/bar/sa/server
R=$T/r
"$GEN_CERTS" ca "$R" short --seconds "$EXP" >/dev/null
"$GEN_CERTS" leaf "$R" short server "$SERVER_ID" >/dev/null
"$GEN_CERTS" leaf "$R" short client "$CLIENT_ID" >/dev/null
cp "$R/short-ca.crt" "$R/ca.crt"
# shellcheck disable=SC2034 # read by mesh_client (lib.sh)
CERTS=$R
end_s=$(date -u -d "$(openssl x509 -in "$R/ca.crt" -noout -enddate | cut -d= -f2)" +%s)
root_end=$(date -u -d "@$end_s" +%Y-%m-%dT%H:%M:%SZ)
serial=$(openssl x509 -in "$R/ca.crt" -noout -serial | cut -d= -f2)

P_ECHO=$(free_port); P_HTTP=$(free_port); P_SRV=$(free_port)
P_IN=$(free_port); P_IN7=$(free_port); P_OUT=$(free_port); P_OUT7=$(free_port); P_OUTS=$(free_port)
start_backend echo --listen "127.0.0.1:$P_ECHO" --mode echo --quiet
start_backend http --listen "127.0.0.1:$P_HTTP" --mode http --quiet
start_s_server srv "$P_SRV" "$R/server.crt" "$R/server.key" -tls1_3 -Verify 2 -CAfile "$R/ca.crt"

# the pooled connection must still be idle after the expiry
mesh_pair tcp "127.0.0.1:$P_ECHO" port=9000 \
    a_sed='s/drain_ms: \([0-9]*\)}/drain_ms: \1, upstream_idle_ms: 120000}/' \
    in_more="  - {name: in7, direction: inbound, address: \"127.0.0.1:$P_IN7\", upstream: \"127.0.0.1:$P_HTTP\",
     port: 8080, protocol: http}" \
    out_more="  - {name: outs, direction: outbound, address: \"127.0.0.1:$P_OUTS\", upstream: \"127.0.0.1:$P_SRV\",
     tls: ISTIO_MUTUAL, protocol: tcp}
  - {name: out7, direction: outbound, address: \"127.0.0.1:$P_OUT7\", upstream: \"127.0.0.1:$P_IN7\",
     tls: ISTIO_MUTUAL, protocol: http, expected_identities: [\"$SERVER_ID\"]}"

echo_via() { # PORT: one line through an L4 echo path; prints the answer
    printf 'ping\n' | timeout 10 socat -t1 - "TCP:127.0.0.1:$1" 2>/dev/null || true
}
status_page() { # PORT FILE: one request through A to s_server
    printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 socat -t5 - "TCP:127.0.0.1:$1" >"$2" 2>/dev/null || true
}

step "before the expiry: A and B resume, and say which root"
for i in 1 2 3; do
    assert_eq ping "$(echo_via "$P_OUT")" "L4 echo $i through A and B"
done
wait_for_count "$T/b.out" "$(conn_re listener=in "peer=$CLIENT_ID" "peer_root=$serial" session=resumed)" 2
wait_for_count "$T/a.out" "$(conn_re listener=out "peer=$SERVER_ID" "peer_root=$serial" session=resumed)" 2
assert_eq 0 "$(count_lines "$T/b.out" 'peer_root=resumed')" "log lines with peer_root=resumed"
status_page "$P_OUTS" "$T/srv-1.html"
status_page "$P_OUTS" "$T/srv-2.html"
assert_contains "$T/srv-2.html" 'Reused, TLSv1.3'
# B's ticket, kept by a client that will present it after the expiry
printf 'hello\n' | mesh_client "127.0.0.1:$P_IN" client istio 1 -sess_out "$T/b-ticket.pem" \
    >"$T/sc-1.out" 2>"$T/sc-1.err" || true
assert_contains "$T/sc-1.out" '^hello$'
code=$(curl -s -o "$T/l7-1.body" -w '%{http_code}' --max-time 10 "http://127.0.0.1:$P_OUT7/one")
assert_eq 200 "$code" "L7 request before the expiry"
[ "$(date +%s)" -lt "$end_s" ] || fail "the steps before the expiry took longer than EXP=$EXP s"

step "wait for the root to expire at $root_end"
i=0
while [ "$(date +%s)" -le "$end_s" ]; do
    [ $i -lt $(((EXP + 5) * 10)) ] || fail "the clock did not pass $root_end"
    sleep 0.1
    i=$((i + 1))
done

step "A (client) drops its ticket: s_server would resume it, A makes a full handshake"
status_page "$P_OUTS" "$T/srv-3.html"
assert_not_contains "$T/srv-3.html" 'Reused'
wait_for_log "$T/a.out" "$(conn_re listener=outs "end=tls_verify_failed: root CN=short expired at $root_end")"

step "A to B: no resumption, a full handshake that fails in words"
assert_eq "" "$(echo_via "$P_OUT")" "L4 echo through A and B after the expiry"
wait_for_log "$T/a.out" "$(conn_re listener=out "end=tls_verify_failed: root CN=short expired at $root_end")"

step "B (server) refuses a ticket from before the expiry"
printf 'hello\n' | mesh_client "127.0.0.1:$P_IN" client istio 1 -sess_in "$T/b-ticket.pem" \
    >"$T/sc-2.out" 2>"$T/sc-2.err" || true
assert_not_contains "$T/sc-2.out" '^hello$'
wait_for_log "$T/b.out" "$(conn_re listener=in class=refused "end=tls_verify_failed: root CN=short expired at $root_end")"

step "A's idle pooled connection to B is closed, not reused"
code=$(curl -s -o "$T/l7-2.body" -w '%{http_code}' --max-time 10 "http://127.0.0.1:$P_OUT7/two")
assert_ne 200 "$code" "L7 request after the expiry"
wait_for_log "$T/a.err" "pooled upstream connection to $SERVER_ID closed: its peer chain \\(root $serial\\) expired at $root_end"

alive a
alive b
log "ok"
