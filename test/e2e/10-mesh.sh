#!/usr/bin/env bash
# Transparent interception between two pods, end to end, in network
# namespaces (test/e2e/pods.sh):
#
#   pod a (10.77.1.2)                 bridge                 pod b (10.77.1.3)
#   curl/socat ─► OUTPUT ─► sidecar a :15001 ══ mTLS ══► PREROUTING ─► sidecar b :15006 ─► app :8080 / echo :9000
#                 SIDECAR_OUTPUT   (uid 1337, mark 1337)         SIDECAR_INBOUND
#   pod c (10.77.1.4): an app with no sidecar
#
# Each mesh pod runs its app, an sds-agent minting its SPIFFE certificate
# from one shared CA, sidecar-iptables.sh and the sidecar (uid 1337 with
# socket_mark 1337).  Checked:
#   1. curl http://b:8080/headers and a raw TCP stream (b:9000) from pod a,
#      with no proxy settings, reach b's app through both sidecars; b's app
#      sees x-forwarded-client-cert with a's SPIFFE ID; IPv6 too;
#   2. a capture on a's veth holds TLS records and no plaintext;
#   3. a process of uid 1337 WITHOUT the mark is still captured, and so is
#      root WITH the mark; only uid 1337 with the mark (the sidecar) is not;
#   4. PERMISSIVE → STRICT: pod c reaches b while PERMISSIVE and b's
#      plaintext counter rises; after editing b's PeerAuthentication to
#      STRICT and SIGHUP, c is refused, a still works, and a TCP stream
#      opened before the reload goes on;
#   5. sidecar-iptables.sh clean leaves each pod's rules exactly as they
#      were before install (foreign rules included); twice is harmless.
# exclusive: network namespaces, iptables and fixed addresses
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/pods.sh"

pods_require
A_ID=$(pod_id a)
B_ID=$(pod_id b)

step "three pods on a bridge: a and b with sidecars, c without"
pods_network a b c
B4=$(pod_ip4 b)
B6=$(pod_ip6 b)

# Rules someone else put there first (they must survive install and clean).
in_pod a iptables -t nat -A OUTPUT -p tcp --dport 9999 -j RETURN
in_pod a ip6tables -t nat -A OUTPUT -p tcp --dport 9999 -j RETURN
in_pod a iptables -t nat -N OTHER_CHAIN
in_pod a iptables -t filter -A INPUT -p tcp --dport 9998 -j ACCEPT
for p in a b; do pod_rules "$p" >"$T/$p-rules.before"; done

pods_ca
# b's sidecar gets CAP_NET_ADMIN the way the container image gives it (a
# file capability); a's the way setpriv does (ambient)
if command -v setcap >/dev/null 2>&1; then
    # shellcheck disable=SC2034 # read by pod_mesh (pods.sh)
    PODS_FILECAPS_b=1
else
    log "NOTE: setcap (libcap2-bin) is not installed: b's sidecar uses ambient capabilities too"
fi
# shellcheck disable=SC2034 # read by pod_config (pods.sh) through ${!var}
PA_MODE_b=PERMISSIVE
pod_mesh b a
pod_mesh a b
pod_plain c

step "the rules are installed once (a second install changes nothing)"
pod_rules a >"$T/a-rules.once"
# shellcheck disable=SC2086
in_pod a "$IPTABLES_SCRIPT" --mark "$SOCKET_MARK" ${PODS_IPTABLES_ARGS:-} >>"$T/a-iptables.log" 2>&1 || fail "second install failed"
pod_rules a >"$T/a-rules.twice"
cmp -s "$T/a-rules.once" "$T/a-rules.twice" || { diff "$T/a-rules.once" "$T/a-rules.twice" >&2; fail "a second install changed the rules"; }
assert_eq 2 "$(grep -c -e '-A OUTPUT -p tcp -j SIDECAR_OUTPUT' "$T/a-rules.twice")" "OUTPUT jumps (one IPv4, one IPv6)"
assert_eq 2 "$(grep -c -e '-A PREROUTING -p tcp -j SIDECAR_INBOUND' "$T/a-rules.twice")" "PREROUTING jumps (one IPv4, one IPv6)"

# ---------------------------------------------------------------- capture

step "capture a's veth while a talks to b"
in_pod a tcpdump -i eth0 -U --immediate-mode -s 0 -Z root -c 5000 -w "$T/a-veth.pcap" tcp >"$T/tcpdump.out" 2>"$T/tcpdump.err" </dev/null &
_sc_track $! tcpdump other
_wait_line tcpdump "$T/tcpdump.err" 'listening on'

# ---------------------------------------------------------------- 1. a -> b

step "pod a: curl http://$B4:8080/headers (no proxy settings) reaches b's app through both sidecars"
code=$(in_pod a env -u http_proxy -u HTTP_PROXY -u all_proxy -u ALL_PROXY \
    curl -sS -m 10 --noproxy '*' -o "$T/headers1" -w '%{http_code}' "http://$B4:8080/headers") ||
    fail "curl from a to b failed"
assert_eq 200 "$code" "HTTP status a -> b"
assert_contains "$T/headers1" "^x-forwarded-client-cert: .*URI=$A_ID"
assert_contains "$T/headers1" "^x-forwarded-client-cert: By=$B_ID;"
# (for HTTP the peer's identity is in the access log line, one per request)
wait_for_log "$T/a-sidecar.out" "\"GET /headers HTTP/1.1\" 200 .* \"$B4:8080\" \"$B4:8080\" .* $B_ID\$"
wait_for_log "$T/a-sidecar.out" "$(conn_re dir=outbound listener=outbound port=8080 mode=ISTIO_MUTUAL class=mesh_mtls \
    "orig_dst=$B4:8080")"
wait_for_log "$T/b-sidecar.out" "\"GET /headers HTTP/1.1\" 200 .* \"127\.0\.0\.1:8080\" .* $A_ID\$"

step "pod a: a raw TCP stream to $B4:9000 is relayed over mTLS to b's echo app"
reply=$(printf 'e2e-raw-tcp\n' | in_pod a timeout 15 socat -t 3 -T 5 - "TCP:$B4:9000") ||
    fail "socat from a to b:9000 failed"
assert_eq "e2e-raw-tcp" "$reply" "echo through both sidecars"
wait_for_log "$T/b-sidecar.out" "$(conn_re dir=inbound listener=inbound port=9000 mode=PERMISSIVE class=mesh_mtls \
    'up=127\.0\.0\.1:9000' "orig_dst=$B4:9000" "peer=$A_ID")"
wait_for_log "$T/a-sidecar.out" "$(conn_re dir=outbound port=9000 mode=ISTIO_MUTUAL class=mesh_mtls "peer=$B_ID")"

step "pod a: IPv6, curl http://[$B6]:8080/headers"
code=$(in_pod a curl -sS -g -m 10 -o "$T/headers6" -w '%{http_code}' "http://[$B6]:8080/headers") ||
    fail "curl from a to b over IPv6 failed"
assert_eq 200 "$code" "HTTP status a -> b (IPv6)"
assert_contains "$T/headers6" "^x-forwarded-client-cert: .*URI=$A_ID"

# ---------------------------------------------------------------- 3. uid 1337

step "a process of uid $PROXY_UID without the mark is still captured"
n_before=$(count_lines "$T/a-sidecar.out" "$(conn_re dir=outbound port=8080)")
# (uid 1337 cannot write under $T: the body comes back on stdout)
in_pod a "${AS_PROXY_UID[@]}" curl -sS -m 10 -w 'HTTP_CODE=%{http_code}\n' "http://$B4:8080/headers" \
    >"$T/headers-uid" || fail "curl as uid $PROXY_UID failed"
assert_contains "$T/headers-uid" '^HTTP_CODE=200$'
assert_contains "$T/headers-uid" "^x-forwarded-client-cert: .*URI=$A_ID"
wait_for_count "$T/a-sidecar.out" "$(conn_re dir=outbound port=8080)" $((n_before + 1))

step "a stream opened before the reload (a -> b:9000, held open)"
mkfifo "$T/long.in"
in_pod a socat -T 60 - "TCP:$B4:9000" <"$T/long.in" >"$T/long.out" 2>"$T/long.err" &
_sc_track $! long-stream other
exec 7>"$T/long.in"
printf 'before-reload\n' >&7
_wait_line long-stream "$T/long.out" '^before-reload$'

step "the capture on a's veth: TLS records, no plaintext"
sleep 0.3
stop tcpdump
in_pod a tcpdump -nn -r "$T/a-veth.pcap" >"$T/capture.txt" 2>/dev/null || fail "tcpdump -r failed"
in_pod a tcpdump -nn -A -r "$T/a-veth.pcap" >"$T/capture-ascii.txt" 2>/dev/null
log "captured $(wc -l <"$T/capture.txt") packets on a's veth"
assert_le 10 "$(wc -l <"$T/capture.txt")" "packets captured"
for s in 'GET /headers' 'HTTP/1.1 200' 'e2e-raw-tcp' 'before-reload' 'x-forwarded-client-cert' 'hello from backend'; do
    assert_not_contains "$T/capture-ascii.txt" "$s"
done
# TLS records at the start of a segment's payload: handshake (0x16) and
# application data (0x17), version 0x0303
payload='tcp[((tcp[12:1] & 0xf0) >> 2):2]'
hs=$(in_pod a tcpdump -nn -r "$T/a-veth.pcap" "$payload = 0x1603" 2>/dev/null | wc -l)
appdata=$(in_pod a tcpdump -nn -r "$T/a-veth.pcap" "$payload = 0x1703" 2>/dev/null | wc -l)
log "TLS handshake records: $hs, application data records: $appdata"
assert_le 2 "$hs" "TLS handshake records on the wire"
assert_le 4 "$appdata" "TLS application data records on the wire"
# every TCP segment with a payload between a and b went to or from b's 8080/9000
others=$(in_pod a tcpdump -nn -r "$T/a-veth.pcap" \
    "tcp and not (port 8080 or port 9000)" 2>/dev/null | wc -l)
assert_eq 0 "$others" "segments on other ports"

step "root with the mark is captured too: only uid $PROXY_UID with the mark (the sidecar's credentials) is exempt"
GET='GET /headers HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n'
# The client keeps its sending half open until the answer is in: a client
# that half-closes before the response counts as gone (DC), as with Envoy.
# shellcheck disable=SC2059
{ printf "$GET"; sleep 2; } | in_pod a timeout 10 socat -t 3 -T 5 - "TCP:$B4:8080,setsockopt-listen=1:36:$SOCKET_MARK" \
    >"$T/headers-marked" 2>&1 || fail "socat with SO_MARK $SOCKET_MARK failed"
assert_contains "$T/headers-marked" '^HTTP/1.1 200'
assert_contains "$T/headers-marked" "^x-forwarded-client-cert: .*URI=$A_ID"
# shellcheck disable=SC2059
{ printf "$GET"; sleep 2; } | in_pod a "${AS_PROXY_UID[@]}" --inh-caps=+net_admin --ambient-caps=+net_admin \
    timeout 10 socat -t 3 -T 5 - "TCP:$B4:8080,setsockopt-listen=1:36:$SOCKET_MARK" \
    >"$T/headers-proxy" 2>&1 || fail "socat as uid $PROXY_UID with SO_MARK $SOCKET_MARK failed"
assert_contains "$T/headers-proxy" '^HTTP/1.1 200'
assert_not_contains "$T/headers-proxy" 'x-forwarded-client-cert'
wait_for_log "$T/b-sidecar.out" "$(conn_re dir=inbound port=8080 mode=PERMISSIVE class=plaintext 'down=10\.77\.1\.2:[0-9]+')"

# ---------------------------------------------------------------- 4. PERMISSIVE -> STRICT

PLAIN='sidecar_connections_total{direction="inbound",port="8080",classification="plaintext"}'
REFUSED='sidecar_connections_total{direction="inbound",port="8080",classification="refused"}'

step "PERMISSIVE: pod c (no sidecar) reaches b, and b counts the plaintext"
plain0=$(pod_metric b "$PLAIN")
code=$(pod_http_code c "http://$B4:8080/headers")
assert_eq 200 "$code" "HTTP status c -> b while PERMISSIVE"
in_pod c curl -s -m 5 "http://$B4:8080/headers" >"$T/headers-c" || fail "curl from c failed"
assert_not_contains "$T/headers-c" 'x-forwarded-client-cert'
i=0
while [ "$(pod_metric b "$PLAIN")" -lt $((plain0 + 2)) ]; do
    [ $i -lt 50 ] || fail "$PLAIN stayed at $(pod_metric b "$PLAIN") (was $plain0, 2 plaintext connections made)"
    sleep 0.1
    i=$((i + 1))
done
log "b: $PLAIN went from $plain0 to $(pod_metric b "$PLAIN")"

step "b's PeerAuthentication edited to STRICT, then SIGHUP"
sed -i 's/mtls: {mode: PERMISSIVE}/mtls: {mode: STRICT}/' "$T/b/sidecar.yaml"
assert_contains "$T/b/sidecar.yaml" 'mtls: \{mode: STRICT\}'
kill -HUP "$(pid_of b-sidecar)"
wait_for_log "$T/b-sidecar.err" 'reloaded'
alive b-sidecar

step "STRICT: pod c is refused"
refused0=$(pod_metric b "$REFUSED")
app_reqs=$(count_lines "$T/b-app.out" '^req ')
code=$(pod_http_code c "http://$B4:8080/headers")
assert_ne 200 "$code" "HTTP status c -> b while STRICT"
wait_for_log "$T/b-sidecar.out" "$(conn_re dir=inbound port=8080 mode=STRICT class=refused)"
i=0
while [ "$(pod_metric b "$REFUSED")" -le "$refused0" ]; do
    [ $i -lt 50 ] || fail "$REFUSED did not rise after a refused connection"
    sleep 0.1
    i=$((i + 1))
done
assert_eq "$app_reqs" "$(count_lines "$T/b-app.out" '^req ')" "requests b's app saw from the refused connection"

step "STRICT: pod a still works (new connection, and as uid $PROXY_UID without the mark)"
code=$(in_pod a curl -sS -m 10 -o "$T/headers2" -w '%{http_code}' "http://$B4:8080/headers") ||
    fail "curl from a to b after STRICT failed"
assert_eq 200 "$code" "HTTP status a -> b while STRICT"
assert_contains "$T/headers2" "^x-forwarded-client-cert: .*URI=$A_ID"
in_pod a "${AS_PROXY_UID[@]}" curl -sS -m 10 -w 'HTTP_CODE=%{http_code}\n' "http://$B4:8080/headers" \
    >"$T/headers-uid2" || fail "curl as uid $PROXY_UID after STRICT failed"
assert_contains "$T/headers-uid2" '^HTTP_CODE=200$'
assert_contains "$T/headers-uid2" "^x-forwarded-client-cert: .*URI=$A_ID"
reply=$(printf 'after-strict\n' | in_pod a timeout 15 socat -t 3 -T 5 - "TCP:$B4:9000") || fail "new stream after STRICT failed"
assert_eq after-strict "$reply" "a new stream to b:9000 under STRICT"
wait_for_log "$T/b-sidecar.out" "$(conn_re dir=inbound port=9000 mode=STRICT class=mesh_mtls "peer=$A_ID")"

step "the stream opened before the reload is not cut"
alive long-stream
printf 'after-reload\n' >&7
_wait_line long-stream "$T/long.out" '^after-reload$'
exec 7>&-
# b logs it when it ends: accepted under PERMISSIVE, both lines carried
# ("before-reload\n" + "after-reload\n" = 27 bytes), closed by the peer
wait_for_log "$T/b-sidecar.out" "$(conn_re dir=inbound port=9000 mode=PERMISSIVE class=mesh_mtls "peer=$A_ID" \
    bytes_received=27 bytes_sent=27 end=peer_closed)"
assert_eq 2 "$(grep -c -E '^(before|after)-reload$' "$T/long.out")" "lines echoed on the long stream"

# ---------------------------------------------------------------- 5. clean

# clean_pod POD: clean twice, then the rules must be those from before install.
clean_pod() {
    local p=$1
    in_pod "$p" "$IPTABLES_SCRIPT" clean >>"$T/$p-iptables.log" 2>&1 || fail "pod $p: clean failed"
    in_pod "$p" "$IPTABLES_SCRIPT" clean >>"$T/$p-iptables.log" 2>&1 || fail "pod $p: second clean failed"
    pod_rules "$p" >"$T/$p-rules.after"
    if ! cmp -s "$T/$p-rules.before" "$T/$p-rules.after"; then
        diff "$T/$p-rules.before" "$T/$p-rules.after" >&2
        fail "pod $p: rules after clean differ from before install"
    fi
}

step "sidecar-iptables.sh clean in pod a restores its rules exactly, foreign ones included (twice is harmless)"
clean_pod a
assert_contains "$T/a-rules.after" '^-A OUTPUT -p tcp -m tcp --dport 9999 -j RETURN$'
assert_contains "$T/a-rules.after" '^:OTHER_CHAIN'
assert_contains "$T/a-rules.after" '^-A INPUT -p tcp -m tcp --dport 9998 -j ACCEPT$'
assert_not_contains "$T/a-rules.after" 'SIDECAR_'

step "without a's rules its traffic bypasses a's sidecar, so b (STRICT) refuses it"
n_before=$(count_lines "$T/a-sidecar.out" ' conn id=')
code=$(pod_http_code a "http://$B4:8080/headers")
assert_ne 200 "$code" "HTTP status a -> b without capture in a"
wait_for_log "$T/b-sidecar.out" "$(conn_re dir=inbound port=8080 mode=STRICT class=refused 'down=10\.77\.1\.2:[0-9]+')"
assert_eq "$n_before" "$(count_lines "$T/a-sidecar.out" ' conn id=')" "connections through a's sidecar"

step "sidecar-iptables.sh clean in pod b (which had no nat rules before)"
clean_pod b

alive a-sidecar
alive b-sidecar
log "ok"
