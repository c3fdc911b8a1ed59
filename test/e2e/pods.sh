# shellcheck shell=bash disable=SC2034
# "Pods" as network namespaces, for the end-to-end tests (test/e2e/NN-*.sh)
# and scripts/demo-netns.sh.  Sourced after test/integration/lib.sh (which
# gives $T, log/step/fail/skip, process tracking and the cleanup trap):
#
#   . "$ROOT/test/integration/lib.sh"
#   . "$ROOT/test/e2e/pods.sh"
#   pods_require                  # skips (77) when not root / no ip netns
#   pods_network a b c            # namespaces joined by a bridge
#   pods_ca                       # one mesh CA (Istio cacerts layout)
#   pod_mesh a b  pod_mesh b a    # app + sds-agent (CA mode) + iptables + sidecar
#
# Layout: a namespace "$PODS_PREFIX-br" holds the bridge br0; each pod P is a
# namespace "$PODS_PREFIX-P" whose eth0 is one end of a veth pair (the other,
# "v-P", is on br0), with 10.77.1.N/24 and fd77:1::N/64 (N = 2, 3, ...).
# These addresses exist only inside these namespaces: a pod has no default
# route, so nothing it sends can leave them.  Pod P's files live in $T/P/.
#
# Per mesh pod (pod_mesh P PEER...):
#   P-app      build/tools/backend --mode http on 0.0.0.0:8080 (root)
#   P-echo     build/tools/backend --mode echo on 0.0.0.0:9000 (root)
#   P-agent    sds-agent, source ca, uid 1337, socket $T/P/run/sds.sock
#   P-sidecar  sidecar as uid 1337 with CAP_NET_ADMIN (and no other
#              capability) for SO_MARK: ambient, or with PODS_FILECAPS_P=1 a
#              file capability on a copy of the binary, as in the image;
#              config $T/P/sidecar.yaml: inbound [::]:15006 (8080 http,
#              9000 tcp), outbound [::]:15001 with an ISTIO_MUTUAL route to
#              each PEER (8080 http, 9000 tcp), default DISABLE,
#              socket_mark 1337, a workload PeerAuthentication ($PA_MODE_P,
#              default PERMISSIVE)
#   rules      scripts/sidecar-iptables.sh (mark 1337), installed before the
#              sidecar starts, as an init container would
# Identity of P: spiffe://cluster.local/ns/ns-P/sa/sa-P.

PODS_PREFIX=${PODS_PREFIX:-sce2e-$$}
PODS_NET4=10.77.1
PODS_NET6=fd77:1:
PROXY_UID=1337
SOCKET_MARK=1337
IPTABLES_SCRIPT=$ROOT/scripts/sidecar-iptables.sh
AGENT=${AGENT:-$SC_BUILD/bin/sds-agent}
_PODS=()            # pod names, in order
_PODS_NS=()         # every namespace we created (the bridge's too)

# ---------------------------------------------------------------- helpers

pod_ns() { echo "$PODS_PREFIX-$1"; }

# in_pod POD CMD...: runs CMD inside the pod's network namespace.
in_pod() {
    local p=$1
    shift
    ip netns exec "$(pod_ns "$p")" "$@"
}

# pod_ip4 POD / pod_ip6 POD: the pod's addresses.
pod_ip4() { echo "$PODS_NET4.$(_pod_index "$1")"; }
pod_ip6() { echo "$PODS_NET6:$(_pod_index "$1")"; }
pod_id() { echo "spiffe://cluster.local/ns/ns-$1/sa/sa-$1"; }

_pod_index() {
    local i
    for i in "${!_PODS[@]}"; do
        if [ "${_PODS[$i]}" = "$1" ]; then
            echo $((i + 2))
            return 0
        fi
    done
    fail "no pod named '$1'"
}

# "${AS_PROXY_UID[@]}" CMD...: CMD as uid/gid 1337 with no capabilities
# (e.g. in_pod a "${AS_PROXY_UID[@]}" curl ...).
AS_PROXY_UID=(setpriv --reuid="$PROXY_UID" --regid="$PROXY_UID" --clear-groups)

# pods_require: root, ip netns, iptables/ip6tables with the nat table, and
# the tools the tests use; otherwise skip (exit 77) with the reason.
pods_require() {
    local tool
    [ "$(id -u)" = 0 ] || skip "needs root for network namespaces and iptables (running as uid $(id -u))"
    for tool in ip iptables ip6tables iptables-save ip6tables-save iptables-restore setpriv curl socat ss tcpdump; do
        command -v "$tool" >/dev/null 2>&1 || skip "'$tool' is not installed (make deps)"
    done
    [ -x "$SIDECAR" ] || fail "no sidecar binary at $SIDECAR (run make)"
    [ -x "$AGENT" ] || fail "no sds-agent binary at $AGENT (run make)"
    [ -x "$BACKEND" ] || fail "no backend binary at $BACKEND (run make tools)"
    if ! ip netns add "$PODS_PREFIX-probe" 2>"$T/netns.err"; then
        skip "cannot create a network namespace: $(tr '\n' ' ' <"$T/netns.err")"
    fi
    _PODS_NS+=("$PODS_PREFIX-probe")
    if ! ip netns exec "$PODS_PREFIX-probe" iptables -t nat -S >/dev/null 2>"$T/netns.err"; then
        skip "no iptables nat table in a network namespace: $(tr '\n' ' ' <"$T/netns.err")"
    fi
    ip netns del "$PODS_PREFIX-probe" 2>/dev/null || true
    # a process of uid 1337 must be able to reach its files under $T
    chmod 711 "$T"
}

# The cleanup: on failure, every pod's rules and sockets are saved next to
# the logs (lib.sh dumps $T/*.out); then the namespaces go, then lib.sh
# stops every process we started (by PID) and removes $T.
_pods_cleanup() {
    local rc=$? ns p
    set +e
    if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
        for p in "${_PODS[@]}"; do
            {
                in_pod "$p" iptables-save -c
                in_pod "$p" ip6tables-save -c
                in_pod "$p" ss -tanp
            } >"$T/$p-netstate.out" 2>&1
        done
    fi
    for ns in "${_PODS_NS[@]}"; do
        ip netns del "$ns" 2>/dev/null
    done
    (exit $rc)
    _sc_cleanup
}
trap _pods_cleanup EXIT

# ---------------------------------------------------------------- network

# pods_network POD...: the bridge namespace and one namespace per pod.
pods_network() {
    local br=$PODS_PREFIX-br p ns
    ip netns add "$br" || fail "ip netns add $br"
    _PODS_NS+=("$br")
    ip -n "$br" link set lo up
    ip -n "$br" link add br0 type bridge || fail "cannot create a bridge"
    ip -n "$br" link set br0 up
    for p in "$@"; do
        _PODS+=("$p")
        ns=$(pod_ns "$p")
        ip netns add "$ns" || fail "ip netns add $ns"
        _PODS_NS+=("$ns")
        ip -n "$br" link add "v-$p" type veth peer name eth0 netns "$ns" ||
            fail "cannot create the veth pair of pod $p"
        ip -n "$br" link set "v-$p" master br0
        ip -n "$br" link set "v-$p" up
        ip -n "$ns" link set lo up
        ip -n "$ns" addr add "$(pod_ip4 "$p")/24" dev eth0
        ip -n "$ns" addr add "$(pod_ip6 "$p")/64" dev eth0 nodad
        ip -n "$ns" link set eth0 up
        mkdir -p "$T/$p"
        chmod 755 "$T/$p"
    done
    # every pod reaches the first one (a RST from port 1 proves it) before
    # anything else runs
    for p in "${@:2}"; do
        in_pod "$p" timeout 5 bash -c "exec 3<>/dev/tcp/$(pod_ip4 "$1")/1" 2>&1 | grep -q 'refused' ||
            fail "pod $p cannot reach pod $1 at $(pod_ip4 "$1")"
    done
}

# ---------------------------------------------------------------- certificates

# pods_ca: one mesh root and its signing intermediate, in Istio's cacerts
# layout, in $T/cacerts (each mesh pod's agent gets its own copy).
pods_ca() {
    local work=$T/ca-work
    mkdir -p "$work" "$T/cacerts"
    "$GEN_CERTS" ca "$work" e2e >/dev/null 2>&1 || fail "gen-certs.sh ca failed"
    "$GEN_CERTS" intermediate "$work" e2e e2e-int >/dev/null 2>&1 || fail "gen-certs.sh intermediate failed"
    cp "$work/e2e-int-ca.crt" "$T/cacerts/ca-cert.pem"
    cp "$work/e2e-int-ca.key" "$T/cacerts/ca-key.pem"
    cp "$work/e2e-ca.crt" "$T/cacerts/root-cert.pem"
    cat "$work/e2e-int-ca.chain" "$work/e2e-ca.crt" >"$T/cacerts/cert-chain.pem"
}

# ---------------------------------------------------------------- processes

# pod_spawn POD NAME KIND CMD...: CMD in the pod (stdout/stderr in
# $T/POD-NAME.out/.err), tracked by lib.sh under the name POD-NAME.
# `ip netns exec` and setpriv exec, so the PID is the program's own.
pod_spawn() {
    local p=$1 name=$2 kind=$3
    shift 3
    ip netns exec "$(pod_ns "$p")" "$@" >"$T/$p-$name.out" 2>"$T/$p-$name.err" </dev/null &
    _sc_track $! "$p-$name" "$kind"
}

# _wait_line NAME FILE REGEX [TIMEOUT_S=10]: waits for a line, failing if
# the process NAME exits first.
_wait_line() {
    local name=$1 file=$2 re=$3 limit=${4:-10} i=0
    while ! grep -q -E -e "$re" "$file" 2>/dev/null; do
        alive "$name"
        [ $i -lt $((limit * 20)) ] || fail "$name: no line matching /$re/ in $(basename "$file") after ${limit}s"
        sleep 0.05
        i=$((i + 1))
    done
}

# pod_http_code POD URL: the HTTP status of a GET from inside the pod ("000"
# when it failed).
pod_http_code() {
    in_pod "$1" curl -s -m 5 -o /dev/null -w '%{http_code}' "$2" 2>/dev/null || true
}

# pod_wait_ready POD [TIMEOUT_S=15]: the sidecar's /healthz/ready says 200.
pod_wait_ready() {
    local p=$1 limit=${2:-15} i=0 code
    while :; do
        code=$(pod_http_code "$p" "http://127.0.0.1:15021/healthz/ready")
        [ "$code" = 200 ] && return 0
        alive "$p-sidecar"
        [ $i -lt $((limit * 10)) ] || fail "pod $p: /healthz/ready is $code after ${limit}s"
        sleep 0.1
        i=$((i + 1))
    done
}

# pod_config POD PEER...: writes $T/POD/sidecar.yaml.
pod_config() {
    local p=$1 peer mode_var mode
    shift
    mode_var=PA_MODE_$p
    mode=${!mode_var:-PERMISSIVE}
    {
        cat <<EOF
node: {id: pod-$p, trust_domain: cluster.local, namespace: ns-$p, labels: {app: pod-$p}}
workers: 1
socket_mark: $SOCKET_MARK
secrets: {sds_socket: "$T/$p/run/sds.sock"}
admin: {address: "127.0.0.1:15000"}
health: {address: "0.0.0.0:15021"}
stats: {address: "0.0.0.0:15090"}
timeouts: {connect_ms: 3000, handshake_ms: 3000, sniff_ms: 1000, idle_ms: 60000}
inbound:
  address: "[::]:15006"
  ports:
    - {port: 8080, protocol: http}
    - {port: 9000, protocol: tcp}
outbound:
  address: "[::]:15001"
  routes:
EOF
        for peer in "$@"; do
            cat <<EOF
    - {cidr: $(pod_ip4 "$peer")/32, port: 8080, protocol: http, tls: ISTIO_MUTUAL, expected_identities: ["$(pod_id "$peer")"]}
    - {cidr: $(pod_ip4 "$peer")/32, port: 9000, protocol: tcp, tls: ISTIO_MUTUAL, expected_identities: ["$(pod_id "$peer")"]}
    - {cidr: "$(pod_ip6 "$peer")/128", port: 8080, protocol: http, tls: ISTIO_MUTUAL, expected_identities: ["$(pod_id "$peer")"]}
EOF
        done
        cat <<EOF
  default: {tls: DISABLE}
---
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: {name: pod-$p, namespace: ns-$p}
spec:
  selector: {matchLabels: {app: pod-$p}}
  mtls: {mode: $mode}
EOF
    } >"$T/$p/sidecar.yaml"
    chmod 644 "$T/$p/sidecar.yaml"
}

# pod_mesh POD PEER...: the app, the agent, the iptables rules and the
# sidecar of a mesh pod; returns once the sidecar is ready.
pod_mesh() {
    local p=$1
    shift
    [ -d "$T/cacerts" ] || pods_ca

    pod_spawn "$p" app backend "$BACKEND" --listen 0.0.0.0:8080 --mode http
    pod_spawn "$p" echo backend "$BACKEND" --listen 0.0.0.0:9000 --mode echo
    _wait_line "$p-app" "$T/$p-app.out" '^listening on'
    _wait_line "$p-echo" "$T/$p-echo.out" '^listening on'

    # sds-agent (CA mode) as uid 1337; its socket is only for uid 1337
    mkdir -p "$T/$p/cacerts" "$T/$p/run"
    cp "$T/cacerts/"*.pem "$T/$p/cacerts/"
    cat >"$T/$p/agent.yaml" <<EOF
socket: $T/$p/run/sds.sock
socket_mode: 0600
allowed_uids: [$PROXY_UID]
trust_domain: cluster.local
source: ca
ca: {dir: $T/$p/cacerts, namespace: ns-$p, service_account: sa-$p, lifetime: 1h}
EOF
    chown -R "$PROXY_UID:$PROXY_UID" "$T/$p/cacerts" "$T/$p/run" "$T/$p/agent.yaml"
    chmod 700 "$T/$p/cacerts" "$T/$p/run"
    pod_spawn "$p" agent other setpriv --reuid="$PROXY_UID" --regid="$PROXY_UID" --clear-groups \
        "$AGENT" -c "$T/$p/agent.yaml"
    _wait_line "$p-agent" "$T/$p-agent.err" 'serving SDS on'

    # the init container's job
    # shellcheck disable=SC2086 # PODS_IPTABLES_ARGS: extra options, for experiments
    in_pod "$p" "$IPTABLES_SCRIPT" --mark "$SOCKET_MARK" ${PODS_IPTABLES_ARGS:-} >"$T/$p-iptables.log" 2>&1 ||
        { cat "$T/$p-iptables.log" >&2; fail "pod $p: sidecar-iptables.sh failed"; }

    # the sidecar: uid 1337 with CAP_NET_ADMIN for SO_MARK and nothing else
    pod_config "$p" "$@"
    "$SIDECAR" -c "$T/$p/sidecar.yaml" --check >"$T/$p-check.log" 2>&1 ||
        { cat "$T/$p-check.log" >&2; fail "pod $p: sidecar --check refused $T/$p/sidecar.yaml"; }
    local caps_var=PODS_FILECAPS_$p
    if [ "${!caps_var:-0}" = 1 ]; then
        # As in the container image (Dockerfile): a file capability on the
        # binary, started as uid 1337 with no capabilities at all and only
        # NET_ADMIN in the bounding set (Kubernetes: drop ALL, add
        # NET_ADMIN, allowPrivilegeEscalation true).
        cp "$SIDECAR" "$T/$p/sidecar"
        chmod 755 "$T/$p/sidecar"
        setcap cap_net_admin+ep "$T/$p/sidecar" || fail "setcap on $T/$p/sidecar failed"
        log "pod $p: sidecar with the file capability cap_net_admin+ep, no ambient capabilities"
        pod_spawn "$p" sidecar sidecar setpriv --reuid="$PROXY_UID" --regid="$PROXY_UID" --clear-groups \
            --inh-caps=-all --bounding-set=-all,+net_admin \
            "$T/$p/sidecar" -c "$T/$p/sidecar.yaml"
    else
        log "pod $p: sidecar with CAP_NET_ADMIN as an ambient capability (setpriv)"
        pod_spawn "$p" sidecar sidecar setpriv --reuid="$PROXY_UID" --regid="$PROXY_UID" --clear-groups \
            --inh-caps=-all,+net_admin --ambient-caps=+net_admin --bounding-set=-all,+net_admin \
            "$SIDECAR" -c "$T/$p/sidecar.yaml"
    fi
    pod_wait_ready "$p"
    _pod_caps_check "$p"
}

# _pod_caps_check POD: the sidecar runs as uid 1337 with CAP_NET_ADMIN
# effective and no other capability.
_pod_caps_check() {
    local pid status
    pid=$(pid_of "$1-sidecar")
    status=$(cat "/proc/$pid/status")
    assert_eq "$PROXY_UID" "$(awk '/^Uid:/ { print $2 }' <<<"$status")" "uid of pod $1's sidecar"
    assert_eq 0000000000001000 "$(awk '/^CapEff:/ { print $2 }' <<<"$status")" "effective capabilities of pod $1's sidecar (CAP_NET_ADMIN only)"
}

# pod_plain POD: an app-only pod (no sidecar, no rules).
pod_plain() {
    local p=$1
    pod_spawn "$p" app backend "$BACKEND" --listen 0.0.0.0:8080 --mode http
    _wait_line "$p-app" "$T/$p-app.out" '^listening on'
}

# pod_metric POD SERIES: the value of one Prometheus series (exact name and
# labels) from the pod's admin /stats/prometheus, 0 when absent.
pod_metric() {
    local v
    v=$(in_pod "$1" curl -s -m 5 http://127.0.0.1:15000/stats/prometheus 2>/dev/null |
        awk -v s="$2" 'index($0, s " ") == 1 { print $2; exit }')
    echo "${v:-0}"
}

# pod_rules POD: the pod's iptables and ip6tables rules, without counters
# and comment lines (iptables-save prints dates in them).  A table with no
# rule, no chain of its own and every built-in chain at ACCEPT is left out:
# it filters nothing, and iptables cannot delete a table once something
# (here, sidecar-iptables.sh install) made the kernel create it.
pod_rules() {
    {
        in_pod "$1" iptables-save
        in_pod "$1" ip6tables-save
    } | grep -v '^#' | sed -E 's/ \[[0-9]+:[0-9]+\]$//' | awk '
        /^\*/ { n = 0; empty = 1 }
        { block[n++] = $0 }
        !/^\*/ && !/^COMMIT$/ && !/^:(PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) ACCEPT$/ { empty = 0 }
        /^COMMIT$/ { if (!empty) for (i = 0; i < n; i++) print block[i]; n = 0 }'
}
