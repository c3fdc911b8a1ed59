#!/usr/bin/env bash
# scripts/sidecar-iptables.sh on its own: where each kind of connection goes
# under its rules, with stand-ins (socat) for the sidecar's capture ports:
#
#   pod x (10.77.1.2, fd77:1::2): the rules; "outbound" answers on :15001,
#       "inbound" on :15006, "health" on :15021, "direct-x" on 7000-7002
#   pod y (10.77.1.3 and 10.77.1.9, fd77:1::3): "direct-y" on 7000-7001
#
# Checked, for IPv4 and IPv6: the app's traffic is captured; a socket of
# uid 1337 with the mark (the sidecar's) is not; uid 1337 without the mark
# is, and so is root with the mark; --exclude-outbound-ports and
# --exclude-outbound-cidrs are honoured; loopback and the pod's own IP are
# left alone, except the sidecar calling its own pod IP, which goes to the
# inbound capture (Istio's rule); inbound: everything goes to 15006 except
# the proxy's ports and --exclude-inbound-ports.  With --mark 0, uid 1337
# alone is exempt (Istio's behaviour).  Plus: the
# messages and exit status for bad options, a missing tool, missing
# CAP_NET_ADMIN; --dry-run without privileges; clean refusing to delete a
# chain someone else still jumps to.
# exclusive: network namespaces, iptables and fixed addresses
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/pods.sh"

S=$IPTABLES_SCRIPT
UNPRIV=(setpriv --reuid=65534 --regid=65534 --clear-groups)

# ---------------------------------------------------------------- no privileges needed

step "--help, --dry-run without privileges or iptables, and bad options"
"$S" --help >"$T/help.out" || fail "--help failed"
assert_contains "$T/help.out" 'sidecar-iptables.sh clean'
# a PATH with bash and coreutils but no iptables: --dry-run must not need it
chmod 711 "$T"
mkdir -p "$T/nopath"
for t in bash sed awk grep cat id; do ln -sf "$(command -v "$t")" "$T/nopath/$t"; done
chmod 755 "$T/nopath"
"${UNPRIV[@]}" env PATH="$T/nopath" bash "$S" --dry-run --exclude-outbound-cidrs 10.0.0.0/8,fd00::/8 \
    --exclude-inbound-ports 22 --exclude-outbound-ports 5432 --ipv6 >"$T/dry.out" 2>"$T/dry.err" ||
    { cat "$T/dry.err" >&2; fail "--dry-run failed without privileges"; }
assert_eq 2 "$(grep -c '^\*nat$' "$T/dry.out")" "tables in the dry run (IPv4 + IPv6)"
assert_contains "$T/dry.out" '^-A SIDECAR_OUTPUT -d 10\.0\.0\.0/8 -j RETURN$'
assert_contains "$T/dry.out" '^-A SIDECAR_OUTPUT -d fd00::/8 -j RETURN$'
assert_contains "$T/dry.out" '^-A SIDECAR_OUTPUT -m owner --uid-owner 1337 -m mark --mark 1337 -j RETURN$'
assert_contains "$T/dry.out" '^-A SIDECAR_OUTPUT -o lo -m mark ! --mark 1337 -j RETURN$'
assert_contains "$T/dry.out" '^-A SIDECAR_OUTPUT -o lo -m owner ! --uid-owner 1337 -j RETURN$'
assert_contains "$T/dry.out" '^-A SIDECAR_INBOUND -p tcp --dport 22 -j RETURN$'
assert_contains "$T/dry.out" '^-A SIDECAR_OUTPUT -p tcp --dport 5432 -j RETURN$'
"$S" --dry-run --mark 0 --no-ipv6 >"$T/dry0.out" || fail "--dry-run --mark 0 failed"
assert_eq 1 "$(grep -c '^\*nat$' "$T/dry0.out")" "tables with --no-ipv6"
assert_contains "$T/dry0.out" '^-A SIDECAR_OUTPUT -m owner --uid-owner 1337 -j RETURN$'
assert_not_contains "$T/dry0.out" 'mark'
"$S" --dry-run clean >"$T/dryclean.out" || fail "--dry-run clean failed"
assert_contains "$T/dryclean.out" 'iptables -t nat -X SIDECAR_OUTPUT'

# bad_usage MESSAGE-REGEX ARGS...: exit status 2 and the message on stderr.
bad_usage() {
    local re=$1 rc=0
    shift
    "$S" --dry-run "$@" >/dev/null 2>"$T/usage.err" || rc=$?
    assert_eq 2 "$rc" "exit status of sidecar-iptables.sh $*"
    assert_contains "$T/usage.err" "$re"
}
bad_usage "unknown argument '--bogus'" --bogus
bad_usage "--mark: 'x' is not an integer" --mark x
bad_usage "--mark: '4294967296' is not an integer" --mark 4294967296
bad_usage "--exclude-inbound-ports: bad port '70000'" --exclude-inbound-ports 22,70000
bad_usage "--exclude-outbound-ports: bad port range '9:1'" --exclude-outbound-ports 9:1
bad_usage "--exclude-outbound-cidrs: bad IPv4 address in '10.0.0.300/8'" --exclude-outbound-cidrs 10.0.0.300/8
bad_usage "--exclude-outbound-cidrs: bad prefix length in '10.0.0.0/33'" --exclude-outbound-cidrs 10.0.0.0/33
bad_usage "--exclude-outbound-cidrs: 'example.com' is not an IPv4 or IPv6 CIDR" --exclude-outbound-cidrs example.com
bad_usage "--inbound-port: bad port '0'" --inbound-port 0
bad_usage "option --proxy-uid needs a value" --proxy-uid

# ---------------------------------------------------------------- namespaces

pods_require
pods_network x y
X4=$(pod_ip4 x) Y4=$(pod_ip4 y) X6=$(pod_ip6 x) Y6=$(pod_ip6 y)
Y4B=$PODS_NET4.9
ip -n "$(pod_ns y)" addr add "$Y4B/32" dev eth0 || fail "ip addr add $Y4B"

step "clear errors: missing CAP_NET_ADMIN, missing iptables, missing ip6tables"
rc=0
in_pod x "${UNPRIV[@]}" "$S" >"$T/nocap.out" 2>&1 || rc=$?
assert_eq 1 "$rc" "exit status without CAP_NET_ADMIN"
assert_contains "$T/nocap.out" 'CAP_NET_ADMIN is missing'
rc=0
in_pod x env IPTABLES=/nonexistent/iptables "$S" >"$T/notool.out" 2>&1 || rc=$?
assert_eq 1 "$rc" "exit status without iptables"
assert_contains "$T/notool.out" "'/nonexistent/iptables' not found"
rc=0
in_pod x env IP6TABLES=/nonexistent/ip6tables "$S" --ipv6 >"$T/notool6.out" 2>&1 || rc=$?
assert_eq 1 "$rc" "exit status without ip6tables"
assert_contains "$T/notool6.out" "'/nonexistent/ip6tables' not found: IPv6 rules need it .*--no-ipv6"
assert_eq "" "$(in_pod x iptables-save -t nat 2>/dev/null | grep SIDECAR || true)" "rules after the failed runs"

step "stand-ins for the sidecar's ports and the apps"
# listen POD PORT TEXT: a dual-stack listener that says TEXT and closes.
listen() {
    pod_spawn "$1" "l$2" other socat "TCP6-LISTEN:$2,ipv6only=0,reuseaddr,fork" "SYSTEM:echo $3"
}
listen x 15001 outbound
listen x 15006 inbound
listen x 15021 health
for port in 7000 7001 7002; do listen x $port direct-x; done
for port in 7000 7001; do listen y $port direct-y; done
for p in x y; do
    for port in 7000 7001; do
        i=0
        until in_pod "$p" ss -Hltn "sport = :$port" | grep -q LISTEN; do
            [ $i -lt 100 ] || fail "pod $p: no listener on $port"
            sleep 0.05
            i=$((i + 1))
        done
    done
done
in_pod x ss -Hltn "sport = :15001" | grep -q LISTEN || sleep 0.5

# probe POD HOST PORT [mark|uid|proxy]: what answers a connection from POD
# as root; as root with the mark; as uid 1337 without the mark; as uid 1337
# with the mark (the sidecar's credentials: CAP_NET_ADMIN to set it).
probe() {
    local p=$1 host=$2 port=$3 how=${4:-} opts=""
    local -a pre=()
    case $how in
    mark) opts=",setsockopt-listen=1:36:$SOCKET_MARK" ;;
    uid) pre=("${AS_PROXY_UID[@]}") ;;
    proxy)
        pre=("${AS_PROXY_UID[@]}" --inh-caps=+net_admin --ambient-caps=+net_admin)
        opts=",setsockopt-listen=1:36:$SOCKET_MARK" ;;
    esac
    case $host in *:*) host="[$host]" ;; esac
    in_pod "$p" "${pre[@]}" timeout 5 socat -T 3 - "TCP:$host:$port$opts" </dev/null 2>/dev/null || echo "(failed)"
}
# expect WHAT POD HOST PORT [how]
expect() {
    local want=$1 got
    shift
    got=$(probe "$@")
    assert_eq "$want" "$got" "connection from $1 to $2:$3${4:+ ($4)}"
}

step "install with exclusions (mark $SOCKET_MARK)"
in_pod x "$S" --exclude-outbound-ports 7001 --exclude-outbound-cidrs "$Y4B/32" \
    --exclude-inbound-ports 7002 >"$T/install.out" 2>&1 || { cat "$T/install.out" >&2; fail "install failed"; }
assert_contains "$T/install.out" 'IPv4: installed .*exempt: uid 1337 with mark 1337'
assert_contains "$T/install.out" 'IPv6: installed'

step "outbound, IPv4"
expect outbound x "$Y4" 7000
expect direct-y x "$Y4" 7000 proxy
expect outbound x "$Y4" 7000 uid
expect outbound x "$Y4" 7000 mark
expect direct-y x "$Y4" 7001
expect direct-y x "$Y4B" 7000
expect direct-x x 127.0.0.1 7000
expect direct-x x 127.0.0.1 7000 uid
expect direct-x x "$X4" 7000
expect direct-x x "$X4" 7000 mark
expect direct-x x "$X4" 7000 uid
expect inbound x "$X4" 7000 proxy

step "outbound, IPv6"
expect outbound x "$Y6" 7000
expect direct-y x "$Y6" 7000 proxy
expect outbound x "$Y6" 7000 uid
expect outbound x "$Y6" 7000 mark
expect direct-y x "$Y6" 7001
expect direct-x x ::1 7000
expect direct-x x "$X6" 7000
expect inbound x "$X6" 7000 proxy

step "inbound (from pod y)"
expect inbound y "$X4" 7000
expect inbound y "$X4" 12345
expect health y "$X4" 15021
expect direct-x y "$X4" 7002
expect inbound y "$X6" 7000
expect health y "$X6" 15021

step "--mark 0: exempt by uid $PROXY_UID (Istio's rules); a reinstall replaces the rules"
in_pod x "$S" --mark 0 >"$T/install0.out" 2>&1 || { cat "$T/install0.out" >&2; fail "install --mark 0 failed"; }
assert_contains "$T/install0.out" 'exempt: uid 1337'
expect outbound x "$Y4" 7000
expect outbound x "$Y4" 7000 mark
expect direct-y x "$Y4" 7000 uid
expect direct-y x "$Y4" 7000 proxy
expect inbound x "$X4" 7000 uid
expect outbound x "$Y4" 7001
expect outbound x "$Y4B" 7000
expect direct-y x "$Y6" 7000 uid
assert_eq 1 "$(in_pod x iptables-save -t nat | grep -c -e '-A OUTPUT -p tcp -j SIDECAR_OUTPUT')" "OUTPUT jumps after reinstall"

step "clean refuses to delete a chain another rule still jumps to, and says so"
in_pod x iptables -t nat -A OUTPUT -p udp -j SIDECAR_OUTPUT
pod_rules x >"$T/rules-busy.before"
rc=0
in_pod x "$S" clean >"$T/clean-busy.out" 2>&1 || rc=$?
assert_eq 1 "$rc" "exit status of clean with a foreign jump"
assert_contains "$T/clean-busy.out" 'IPv4: nothing removed: rules this script did not add jump to its chains; delete them first: -A OUTPUT -p udp -j SIDECAR_OUTPUT'
pod_rules x >"$T/rules-busy.after"
cmp -s "$T/rules-busy.before" "$T/rules-busy.after" || fail "a refused clean changed the rules"
in_pod x iptables -t nat -D OUTPUT -p udp -j SIDECAR_OUTPUT
in_pod x "$S" clean >"$T/clean.out" 2>&1 || { cat "$T/clean.out" >&2; fail "clean failed"; }
in_pod x "$S" clean >"$T/clean2.out" 2>&1 || { cat "$T/clean2.out" >&2; fail "second clean failed"; }
assert_contains "$T/clean2.out" 'IPv4: nothing to clean'
assert_eq "" "$(pod_rules x | grep SIDECAR || true)" "SIDECAR rules left after clean"
expect direct-y x "$Y4" 7000
expect direct-x y "$X4" 7000
log "ok"
