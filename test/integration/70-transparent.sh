#!/usr/bin/env bash
# Transparent capture: the `inbound:` / `outbound:` listeners with iptables
# REDIRECT and SO_ORIGINAL_DST, IPv4 and IPv6, in a network namespace of
# its own (loopback only):
#
#   curl http://10.77.0.2:8080/      (the app, any uid but 1337)
#     └─ nat OUTPUT REDIRECT ─► sidecar A  outbound 127.0.0.1:15001  (uid 1337)
#          route 10.77.0.2/32:8080 ISTIO_MUTUAL, expects ns/bar/sa/server
#          └─ connects to 10.77.0.2:8080 as uid 1337
#               └─ nat OUTPUT REDIRECT ─► sidecar B  inbound 0.0.0.0:15006 (STRICT)
#                    └─ app_host 127.0.0.1:8080 ─► http backend
#
# and the same over IPv6 (fd77::2, A6 on [::1]:15001, B6 on [::]:15006,
# app_host ::1).  Also: a destination that only the `default: {tls: DISABLE}`
# route covers (port 9090) is relayed in plaintext, and a connection made
# straight to a capture port (nothing redirected it: the original
# destination is the listener itself) is refused as a loop.
#
# Needs root, `ip netns`, iptables/ip6tables with the nat table and the
# owner match, and setpriv; otherwise it is skipped (exit 77).
# exclusive: network namespaces, iptables and fixed ports
. "$(dirname "$0")/lib.sh"

CLIENT_ID=spiffe://cluster.local/ns/foo/sa/client
SERVER_ID=spiffe://cluster.local/ns/bar/sa/server
PROXY_UID=1337
V4=10.77.0.2
V6=fd77::2

# ---------------------------------------------------------------- prerequisites

[ "$(id -u)" = 0 ] || skip "needs root for a network namespace and iptables (uid $(id -u))"
for tool in ip iptables ip6tables setpriv curl ss; do
    command -v "$tool" >/dev/null 2>&1 || skip "'$tool' is not installed"
done
REAL_SIDECAR=$SIDECAR
REAL_BACKEND=$BACKEND
[ -x "$REAL_SIDECAR" ] || fail "no sidecar binary at $REAL_SIDECAR (run make)"
[ -x "$REAL_BACKEND" ] || fail "no backend binary at $REAL_BACKEND (run make tools)"

NS=sc-it70-$$-$RANDOM
if ! ip netns add "$NS" 2>"$T/netns.err"; then
    skip "cannot create a network namespace: $(tr '\n' ' ' <"$T/netns.err")"
fi
# Removing the name is enough: the namespace goes away with the last
# process in it, which lib.sh's cleanup stops right after.  (set +e: under
# set -e the `(exit $rc)` that hands the status on would end the trap
# before lib.sh's cleanup runs.)
_t70_cleanup() {
    local rc=$?
    set +e
    ip netns del "$NS" 2>/dev/null
    (exit $rc)
    _sc_cleanup
}
trap _t70_cleanup EXIT

in_ns() { ip netns exec "$NS" "$@"; }

in_ns ip link set lo up || fail "ip link set lo up"
in_ns ip addr add "$V4/32" dev lo || fail "ip addr add $V4"
in_ns ip addr add "$V6/128" dev lo nodad || fail "ip addr add $V6"

# A uid-1337 sidecar's upstream mTLS lands in B's inbound capture; every
# other connection to the service lands in A's outbound capture.
nat_rules() { # CMD DST
    local cmd=$1 dst=$2
    in_ns "$cmd" -t nat -A OUTPUT -p tcp -d "$dst" --dport 8080 \
        -m owner --uid-owner "$PROXY_UID" -j REDIRECT --to-ports 15006 &&
    in_ns "$cmd" -t nat -A OUTPUT -p tcp -d "$dst" --dport 8080 -j REDIRECT --to-ports 15001 &&
    in_ns "$cmd" -t nat -A OUTPUT -p tcp -d "$dst" --dport 9090 \
        -m owner ! --uid-owner "$PROXY_UID" -j REDIRECT --to-ports 15001
}
nat_rules iptables "$V4" 2>"$T/iptables.err" ||
    skip "iptables nat REDIRECT / owner match unavailable: $(tr '\n' ' ' <"$T/iptables.err")"
nat_rules ip6tables "$V6" 2>"$T/ip6tables.err" ||
    skip "ip6tables nat REDIRECT / owner match unavailable: $(tr '\n' ' ' <"$T/ip6tables.err")"

# lib.sh's start_sidecar / start_backend run $SIDECAR / $BACKEND: these
# wrappers run them inside the namespace (exec all the way, so the PID
# lib.sh tracks is the program's own).
cat >"$T/sidecar-root" <<EOF
#!/bin/sh
exec ip netns exec "$NS" "$REAL_SIDECAR" "\$@"
EOF
cat >"$T/sidecar-proxy-uid" <<EOF
#!/bin/sh
exec ip netns exec "$NS" setpriv --reuid=$PROXY_UID --regid=$PROXY_UID --clear-groups "$REAL_SIDECAR" "\$@"
EOF
cat >"$T/backend-ns" <<EOF
#!/bin/sh
exec ip netns exec "$NS" "$REAL_BACKEND" "\$@"
EOF
chmod 755 "$T/sidecar-root" "$T/sidecar-proxy-uid" "$T/backend-ns"
BACKEND=$T/backend-ns

# ns_wait_port HOST PORT: waits (5 s) for a listener inside the namespace
# (ss shows a dual-stack [::] socket as "*").
ns_wait_port() {
    local host=$1 port=$2 i=0 alt=$1
    if [ "$host" = '[::]' ]; then alt='*'; fi
    while [ $i -lt 100 ]; do
        if in_ns ss -Hltn "sport = :$port" 2>/dev/null |
            awk -v a="$host:$port" -v b="$alt:$port" '$4 == a || $4 == b { f = 1 } END { exit !f }'; then
            return 0
        fi
        sleep 0.05
        i=$((i + 1))
    done
    in_ns ss -Hltn >&2 || true
    fail "nothing listens on $host:$port in $NS after 5 s"
}

# ---------------------------------------------------------------- certificates

certs
# Sidecar A runs as uid 1337: it gets its own readable copy of its secrets.
chmod 711 "$T"
mkdir -p "$T/a-certs"
cp "$CERTS/client.crt" "$CERTS/client.key" "$CERTS/ca.crt" "$T/a-certs/"
chown -R "$PROXY_UID:$PROXY_UID" "$T/a-certs"
chmod 700 "$T/a-certs"
chmod 400 "$T/a-certs/client.key"

# ---------------------------------------------------------------- backends

start_backend http4 --listen "127.0.0.1:8080" --mode http
start_backend http6 --listen "[::1]:8080" --mode http
start_backend plain4 --listen "$V4:9090" --mode http
start_backend plain6 --listen "[$V6]:9090" --mode http

# ---------------------------------------------------------------- sidecars

# b_config FILE ADDRESS APP_HOST: the server side (bar), STRICT.
b_config() {
    sidecar_config "$1" server bar server
    cat >>"$1" <<EOF
inbound:
  address: "$2"
  app_host: "$3"
EOF
    peer_auth "$1" STRICT bar
}

# a_config FILE ADDRESS: the client side (foo) as uid 1337.
a_config() {
    local saved=$CERTS
    CERTS=$T/a-certs
    sidecar_config "$1" client foo client
    CERTS=$saved
    cat >>"$1" <<EOF
outbound:
  address: "$2"
  routes:
    - {cidr: $V4/32, port: 8080, tls: ISTIO_MUTUAL, expected_identities: ["$SERVER_ID"]}
    - {cidr: $V6/128, port: 8080, tls: ISTIO_MUTUAL, expected_identities: ["$SERVER_ID"]}
  default: {tls: DISABLE}
EOF
    chmod 644 "$1"
}

step "start B (inbound 0.0.0.0:15006) and B6 (inbound [::]:15006) as root"
b_config "$T/b.yaml" "0.0.0.0:15006" 127.0.0.1
b_config "$T/b6.yaml" "[::]:15006" ::1
SIDECAR=$T/sidecar-root start_sidecar b "$T/b.yaml"
SIDECAR=$T/sidecar-root start_sidecar b6 "$T/b6.yaml"
ns_wait_port 0.0.0.0 15006
ns_wait_port '[::]' 15006

step "start A (outbound 127.0.0.1:15001) and A6 (outbound [::1]:15001) as uid $PROXY_UID"
a_config "$T/a.yaml" "127.0.0.1:15001"
a_config "$T/a6.yaml" "[::1]:15001"
SIDECAR=$T/sidecar-proxy-uid start_sidecar a "$T/a.yaml"
SIDECAR=$T/sidecar-proxy-uid start_sidecar a6 "$T/a6.yaml"
ns_wait_port 127.0.0.1 15001
ns_wait_port '[::1]' 15001
for name in a a6; do
    assert_eq "$PROXY_UID" "$(awk '/^Uid:/ { print $2 }' "/proc/$(pid_of $name)/status")" "uid of sidecar $name"
done

# ---------------------------------------------------------------- IPv4

step "IPv4: curl http://$V4:8080/ -> A (mTLS) -> B -> backend"
code=$(in_ns timeout 20 curl -sS -m 10 -o "$T/body4" -w '%{http_code}' "http://$V4:8080/") ||
    fail "curl http://$V4:8080/ failed"
assert_eq 200 "$code" "HTTP status (IPv4)"
assert_eq "hello from backend" "$(cat "$T/body4")" "body (IPv4)"
wait_for_log "$T/a.out" "$(conn_re dir=outbound listener=outbound port=8080 mode=ISTIO_MUTUAL class=mesh_mtls \
    "orig_dst=$V4:8080" 'tls=TLSv1\.3' "peer=$SERVER_ID" end=peer_closed)"
wait_for_log "$T/b.out" "$(conn_re dir=inbound listener=inbound port=8080 mode=STRICT class=mesh_mtls \
    up=127.0.0.1:8080 "orig_dst=$V4:8080" 'tls=TLSv1\.3' "peer=$CLIENT_ID" end=peer_closed)"
wait_for_log "$T/http4.out" 'close in=[1-9]'
assert_not_contains "$T/http6.out" 'close in='

# ---------------------------------------------------------------- IPv6

step "IPv6: curl http://[$V6]:8080/ -> A6 (mTLS) -> B6 -> backend on [::1]"
code=$(in_ns timeout 20 curl -sS -m 10 -g -o "$T/body6" -w '%{http_code}' "http://[$V6]:8080/") ||
    fail "curl http://[$V6]:8080/ failed"
assert_eq 200 "$code" "HTTP status (IPv6)"
assert_eq "hello from backend" "$(cat "$T/body6")" "body (IPv6)"
wait_for_log "$T/a6.out" "$(conn_re dir=outbound listener=outbound port=8080 mode=ISTIO_MUTUAL class=mesh_mtls \
    "orig_dst=\\[$V6\\]:8080" 'tls=TLSv1\.3' "peer=$SERVER_ID" end=peer_closed)"
wait_for_log "$T/b6.out" "$(conn_re dir=inbound listener=inbound port=8080 mode=STRICT class=mesh_mtls \
    'up=\[::1\]:8080' "orig_dst=\\[$V6\\]:8080" 'tls=TLSv1\.3' "peer=$CLIENT_ID" end=peer_closed)"
wait_for_log "$T/http6.out" 'close in=[1-9]'
# each family stayed on its own pair
assert_eq 1 "$(count_lines "$T/a.out" ' conn id=')" "connections through A"
assert_eq 1 "$(count_lines "$T/b.out" ' conn id=')" "connections through B"

# ---------------------------------------------------------------- default route

step "a destination only the default route covers (9090) is relayed in plaintext"
code=$(in_ns timeout 20 curl -sS -m 10 -o "$T/body9090" -w '%{http_code}' "http://$V4:9090/") ||
    fail "curl http://$V4:9090/ failed"
assert_eq 200 "$code" "HTTP status (default route)"
assert_eq "hello from backend" "$(cat "$T/body9090")" "body (default route)"
wait_for_log "$T/a.out" "$(conn_re dir=outbound listener=outbound port=9090 mode=DISABLE class=plaintext \
    "up=$V4:9090" "orig_dst=$V4:9090" tls=- peer=- end=peer_closed)"
wait_for_log "$T/plain4.out" 'close in=[1-9]'
code=$(in_ns timeout 20 curl -sS -m 10 -g -o "$T/body9090v6" -w '%{http_code}' "http://[$V6]:9090/") ||
    fail "curl http://[$V6]:9090/ failed"
assert_eq 200 "$code" "HTTP status (default route, IPv6)"
wait_for_log "$T/a6.out" "$(conn_re dir=outbound listener=outbound port=9090 mode=DISABLE class=plaintext \
    "orig_dst=\\[$V6\\]:9090" tls=- peer=-)"
# B never saw the plaintext connections
assert_not_contains "$T/b.out" 'port=9090'

# ---------------------------------------------------------------- loops

step "a connection straight to 127.0.0.1:15006 (not redirected) is refused as a loop"
printf 'LOOP-SECRET\n' | in_ns timeout 10 socat -t 2 -T 2 - TCP:127.0.0.1:15006 >"$T/loop.reply" 2>&1 || true
assert_not_contains "$T/loop.reply" 'LOOP-SECRET'
wait_for_log "$T/b.out" "$(conn_re dir=inbound listener=inbound port=15006 'orig_dst=127\.0\.0\.1:15006' end=loop_refused)"

step "a connection straight to [::]:15006 over IPv6 is refused as a loop"
printf 'LOOP6\n' | in_ns timeout 10 socat -t 2 -T 2 - 'TCP6:[::1]:15006' >"$T/loop6.reply" 2>&1 || true
wait_for_log "$T/b6.out" "$(conn_re dir=inbound listener=inbound 'orig_dst=\[::1\]:15006' end=loop_refused)"

step "a connection straight to 127.0.0.1:15001 (not redirected) is refused as a loop"
printf 'LOOP-OUT\n' | in_ns timeout 10 socat -t 2 -T 2 - TCP:127.0.0.1:15001 >"$T/loopout.reply" 2>&1 || true
wait_for_log "$T/a.out" "$(conn_re dir=outbound listener=outbound 'orig_dst=127\.0\.0\.1:15001' end=loop_refused)"
# no connection was relayed to anything for the loops
assert_eq 1 "$(count_lines "$T/http4.out" 'close in=')" "connections the IPv4 backend saw"

alive a
alive a6
alive b
alive b6

# ---------------------------------------------------------------- regressions
#  1. A dual-stack inbound capture on "[::]:PORT" sees a redirected IPv4
#     connection as v4-mapped; the original destination must still be read
#     with SOL_IP (it was refused as a loop).
#  2. An outbound capture on a wildcard address ("0.0.0.0:PORT", as Istio
#     binds 15001) must refuse a direct connection to 127.0.0.1:PORT (it was
#     relayed to the sidecar itself until no file descriptor was left).
if true; then
    step "dual-stack capture: a dual-stack [::]:15016 inbound capture serves a redirected IPv4 connection"
    in_ns ip addr add 10.77.0.3/32 dev lo || fail "ip addr add 10.77.0.3"
    in_ns iptables -t nat -A OUTPUT -p tcp -d 10.77.0.3 --dport 8080 -j REDIRECT --to-ports 15016 ||
        fail "iptables rule for 10.77.0.3"
    sidecar_config "$T/d.yaml" server bar server
    printf 'inbound: {address: "[::]:15016", app_host: 127.0.0.1}\n' >>"$T/d.yaml"
    peer_auth "$T/d.yaml" PERMISSIVE bar
    SIDECAR=$T/sidecar-root start_sidecar d "$T/d.yaml"
    ns_wait_port '[::]' 15016
    code=$(in_ns timeout 20 curl -sS -m 5 -o "$T/bodyd" -w '%{http_code}' "http://10.77.0.3:8080/") || true
    assert_eq 200 "$code" "HTTP status through a dual-stack inbound capture"
    wait_for_log "$T/d.out" "$(conn_re dir=inbound port=8080 class=plaintext 'orig_dst=10\.77\.0\.3:8080')"

    step "wildcard capture loop: a direct connection to a 0.0.0.0:15011 outbound capture is refused once"
    sidecar_config "$T/o.yaml" client foo client
    printf 'outbound: {address: "0.0.0.0:15011", default: {tls: DISABLE}}\n' >>"$T/o.yaml"
    SIDECAR=$T/sidecar-root start_sidecar o "$T/o.yaml"
    ns_wait_port 0.0.0.0 15011
    printf 'x\n' | in_ns timeout 5 socat -t 1 -T 1 - TCP:127.0.0.1:15011 >/dev/null 2>&1 || true
    sleep 1
    assert_le "$(count_lines "$T/o.out" ' conn id=')" 1 "connections logged for one direct connection"
    wait_for_log "$T/o.out" "$(conn_re dir=outbound 'orig_dst=127\.0\.0\.1:15011' end=loop_refused)"
fi
log "ok"
