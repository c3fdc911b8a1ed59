#!/usr/bin/env bash
# File-mode certificates rotate under traffic the same validated, atomic way
# as SDS pushes.  B (inbound STRICT, ns bar, sa server, in front of an echo
# backend) reads its secrets from a Kubernetes-style secret volume
# (tls.crt, tls.key, ca.crt -> ..data/...); A (outbound, ns foo, sa client)
# reads plain files.  While one long-lived connection streams through
# A -> B and a new connection goes through every 200 ms:
#   a) the kubelet's way: a new directory with a new leaf (same CA, new
#      serial), a ..data_tmp symlink renamed over ..data.  B installs it:
#      a new handshake presents the new serial (read client-side from the
#      peer certificate), /certs shows it, and
#      sidecar_secrets_updates_total{result="accepted"} rises by one;
#   b) a half-written pair: a newer certificate renamed over tls.crt while
#      tls.key still holds the previous key.  B refuses it with the reason
#      in its log, counts it as rejected, keeps presenting the previous
#      serial, and readiness stays 200;
#   c) the key is renamed over tls.key: B installs the completed pair.
# Throughout, the long-lived connection keeps flowing (every line echoed, in
# order, no gap over 1 s, clean close) and no new connection fails.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"

MAX_GAP_MS=1000

certs
mkdir -p "$T/gen"
cp "$CERTS/mesh-ca.crt" "$CERTS/mesh-ca.key" "$T/gen/"
for n in server2 server3; do
    "$GEN_CERTS" leaf "$T/gen" mesh "$n" spiffe://cluster.local/ns/bar/sa/server \
        --cn server.bar.svc.cluster.local >/dev/null 2>&1 || fail "gen-certs.sh leaf $n"
done
ser() { x509_field "$1" -serial | norm_serial; }
S1=$(ser "$CERTS/server.crt")
S2=$(ser "$T/gen/server2.crt")
S3=$(ser "$T/gen/server3.crt")
if [ "$S1" = "$S2" ] || [ "$S2" = "$S3" ] || [ "$S1" = "$S3" ]; then fail "serials not distinct: $S1 $S2 $S3"; fi
log "serials: initial $S1, (a) $S2, (c) $S3"

# probe: one handshake straight to B's STRICT listener as a mesh client
# (client.crt, trusting the mesh root); prints the serial of the certificate
# B presented, or nothing when the handshake failed.
probe() {
    timeout 10 openssl s_client -connect "127.0.0.1:$P_IN" -alpn istio \
        -cert "$CERTS/client.crt" -key "$CERTS/client.key" -CAfile "$CERTS/ca.crt" \
        -verify_return_error </dev/null 2>/dev/null |
        openssl x509 -noout -serial 2>/dev/null | norm_serial
}
# probe_until SERIAL: new handshakes present SERIAL within 3 s (the install
# is logged by the main thread; workers pick the snapshot up at their next
# accept).
probe_until() {
    local i got=
    for ((i = 0; i < 15; i++)); do
        got=$(probe)
        [ "$got" = "$1" ] && return 0
        sleep 0.2
    done
    fail "new handshakes with B present serial '${got:-<handshake failed>}', expected $1"
}
metric() { sds_metric "$B_ADMIN" "$1"; }
accepted() { metric 'sidecar_secrets_updates_total{result="accepted"}'; }
rejected() { metric 'sidecar_secrets_updates_total{result="rejected"}'; }
echoed() { grep '^PROGRESS ' "$T/stream.out" | tail -n 1 | tr ' ' '\n' | sed -n 's/^echoed=//p'; }
# stream_moves: the long-lived connection echoes more lines within 3 s.
stream_moves() {
    local before now i
    before=$(echoed)
    for ((i = 0; i < 30; i++)); do
        sleep 0.1
        now=$(echoed)
        [ "${now:-0}" -gt "${before:-0}" ] && return 0
    done
    fail "the long-lived stream echoed nothing in 3 s after $1 (still at ${before:-0} lines)"
}

step "B's secret volume (..data symlink layout), A on plain files"
v=$T/bsec
mkdir -p "$v/..2024_01"
cp "$CERTS/server.crt" "$v/..2024_01/tls.crt"
cp "$CERTS/server.key" "$v/..2024_01/tls.key"
cp "$CERTS/ca.crt" "$v/..2024_01/ca.crt"
ln -s ..2024_01 "$v/..data"
for f in tls.crt tls.key ca.crt; do ln -s "..data/$f" "$v/$f"; done

P_ECHO=$(free_port); P_IN=$(free_port); P_OUT=$(free_port)
start_backend echo --listen "127.0.0.1:$P_ECHO" --mode echo --quiet
mesh_pair tcp "127.0.0.1:$P_ECHO" \
    b_sed="s|^secrets:.*|secrets: {cert_chain: \"$v/tls.crt\", private_key: \"$v/tls.key\", trusted_ca: \"$v/ca.crt\"}|"

step "initial state: B presents $S1"
assert_eq "$S1" "$(probe)" "serial B presents at start"
assert_eq "$S1" "$(sds_table_serial "$B_ADMIN")" "serial in B's /certs table at start"
acc0=$(accepted)
assert_eq 1 "$acc0" "certificate sets B installed at start"
assert_eq 0 "$(rejected)" "certificate sets B refused at start"
assert_eq 200 "$(sds_ready_code "$B_ADMIN")" "B's readiness at start"

step "traffic: a long-lived stream and a new connection every 200 ms, through A -> B"
traffic_start stream stream "127.0.0.1:$P_OUT" -i 100 -t 2500
traffic_start loop loop "127.0.0.1:$P_OUT" -i 200 -t 3000
stream_moves "the start"
t_start=$(date +%s)

step "a) the kubelet swaps ..data to a new leaf ($S2): B installs it"
mkdir -p "$v/..2024_02"
cp "$T/gen/server2.crt" "$v/..2024_02/tls.crt"
cp "$T/gen/server2.key" "$v/..2024_02/tls.key"
cp "$CERTS/ca.crt" "$v/..2024_02/ca.crt"
ln -s ..2024_02 "$v/..data_tmp"
mv -T "$v/..data_tmp" "$v/..data"
wait_for_log "$T/b.err" "certificates installed from files: spiffe://cluster.local/ns/bar/sa/server serial=0*$(tr 'a-f' 'A-F' <<<"$S2") " 10
probe_until "$S2"
assert_eq "$S2" "$(sds_table_serial "$B_ADMIN")" "serial in B's /certs table after the swap"
assert_eq $((acc0 + 1)) "$(accepted)" "certificate sets B installed after the swap"
assert_eq 0 "$(rejected)" "certificate sets B refused after the swap"
assert_eq 200 "$(sds_ready_code "$B_ADMIN")" "B's readiness after the swap"
alive stream
stream_moves "the swap"

step "b) half-written pair: a new certificate ($S3) over tls.crt, tls.key still the old key"
cp "$T/gen/server3.crt" "$v/tls.crt.tmp"
mv -f "$v/tls.crt.tmp" "$v/tls.crt"
wait_for_log "$T/b.err" "certificate files rejected, keeping the running ones: $v/tls.key: key does not match the certificate in $v/tls.crt" 10
assert_eq 1 "$(rejected)" "certificate sets B refused after the half-written pair"
assert_eq $((acc0 + 1)) "$(accepted)" "certificate sets B installed after the half-written pair"
# B keeps serving the previous serial: several handshakes over ~1 s, well
# past the 200 ms debounce, all present it
for i in 1 2 3; do
    assert_eq "$S2" "$(probe)" "serial B presents while the pair is half-written (probe $i)"
    sleep 0.3
done
assert_eq "$S2" "$(sds_table_serial "$B_ADMIN")" "serial in B's /certs table while the pair is half-written"
assert_eq 200 "$(sds_ready_code "$B_ADMIN")" "B's readiness while the pair is half-written"
assert_not_contains "$T/b.err" "certificates installed from files: .* serial=0*$(tr 'a-f' 'A-F' <<<"$S3") "
alive stream
stream_moves "the half-written pair"

step "c) the key follows: B installs the completed pair ($S3)"
cp "$T/gen/server3.key" "$v/tls.key.tmp"
mv -f "$v/tls.key.tmp" "$v/tls.key"
wait_for_log "$T/b.err" "certificates installed from files: spiffe://cluster.local/ns/bar/sa/server serial=0*$(tr 'a-f' 'A-F' <<<"$S3") " 10
probe_until "$S3"
assert_eq "$S3" "$(sds_table_serial "$B_ADMIN")" "serial in B's /certs table after the pair was completed"
assert_eq $((acc0 + 2)) "$(accepted)" "certificate sets B installed after the pair was completed"
assert_eq 1 "$(rejected)" "certificate sets B refused after the pair was completed"
assert_eq 200 "$(sds_ready_code "$B_ADMIN")" "B's readiness after the pair was completed"
stream_moves "the completed pair"
# the load kept going for a while over the new certificate
sleep 1

step "stop the load: the long-lived connection flowed throughout, no new connection failed"
secs=$(( $(date +%s) - t_start ))
traffic_stop loop
traffic_stop stream
traffic_summary
traffic_check_loop loop $((secs * 2))
traffic_check_stream stream "$MAX_GAP_MS"
[ "$(traffic_field stream sent)" -ge $((secs * 8)) ] ||
    fail "the stream sent only $(traffic_field stream sent) lines in ${secs}s"
# one connection from the stream, opened before the first swap, spanned all
# three changes: B logged it (on close) as mesh mTLS from A, ended cleanly
wait_for_log "$T/b.out" "$(conn_re listener=in class=mesh_mtls peer=spiffe://cluster.local/ns/foo/sa/client end=peer_closed)"
long=$(conn_lines "$T/b.out" 'listener=in ' | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^duration_ms=/) { split($i, a, "="); if (a[2] > m) m = a[2] } } END { print m + 0 }')
[ "$long" -ge $((secs * 1000 - 1500)) ] ||
    fail "B's longest inbound connection lasted ${long} ms, expected about the ${secs} s of the rotations"

step "no handshake failed, nothing was refused"
for s in a b; do
    port=$A_ADMIN
    [ $s = b ] && port=$B_ADMIN
    curl -s "http://127.0.0.1:$port/stats/prometheus" >"$T/$s.prom"
    assert_not_contains "$T/$s.prom" '^sidecar_tls_handshakes_total\{[^}]*outcome="(no_client_cert|unknown_ca|expired|bad_identity|protocol)"\} [1-9]'
    assert_not_contains "$T/$s.out" ' end=(tls_|upstream_|downstream_reset|handshake_timeout|identity_rejected)'
done
assert_not_contains "$T/b.out" ' class=refused '
assert_contains "$T/b.prom" '^sidecar_tls_handshakes_total\{direction="inbound",outcome="ok"\} [1-9]'
assert_contains "$T/a.prom" '^sidecar_tls_handshakes_total\{direction="outbound",outcome="ok"\} [1-9]'

alive a
alive b
log "ok"
