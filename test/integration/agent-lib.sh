# shellcheck shell=bash disable=SC2034
# Helpers for the sds-agent integration tests (8x-*.sh), sourced after
# lib.sh:
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/agent-lib.sh"
#
# AGENT      the sds-agent binary ($SC_BUILD/bin/sds-agent)
# SDS_FETCH  our own SDS client on common/grpcconn ($SC_BUILD/tools/sds-fetch)
# NODE_DIR   where the npm packages live (build/node, shared by every build)

AGENT=${AGENT:-$SC_BUILD/bin/sds-agent}
SDS_FETCH=${SDS_FETCH:-$SC_BUILD/tools/sds-fetch}
NODE_DIR=${SC_NODE_DIR:-$ROOT/build/node}
NODE_JS_DIR=$ROOT/test/integration/node

[ -x "$AGENT" ] || fail "$AGENT is missing (make all)"
[ -x "$SDS_FETCH" ] || fail "$SDS_FETCH is missing (make tools)"

# start_agent NAME CONFIG: runs the agent in the background (log on
# $T/NAME.err) and waits for its "serving SDS on" line.
start_agent() {
    local name=$1 conf=$2 i=0
    spawn "$name" "$AGENT" -c "$conf"
    while ! grep -q 'serving SDS on' "$T/$name.err" 2>/dev/null; do
        alive "$name"
        [ $i -lt 200 ] || fail "$name did not start within 10 s"
        sleep 0.05
        i=$((i + 1))
    done
}

# make_cacerts DIR NAME: an Istio cacerts directory (root NAME, signing
# intermediate NAME-int) made with scripts/gen-certs.sh.
make_cacerts() {
    local dir=$1 name=$2 work
    work=$T/ca-$name
    mkdir -p "$dir" "$work"
    "$GEN_CERTS" ca "$work" "$name" >/dev/null 2>&1 || fail "gen-certs.sh ca $name failed"
    "$GEN_CERTS" intermediate "$work" "$name" "$name-int" >/dev/null 2>&1 ||
        fail "gen-certs.sh intermediate $name-int failed"
    cp "$work/$name-int-ca.crt" "$dir/ca-cert.pem"
    cp "$work/$name-int-ca.key" "$dir/ca-key.pem"
    cp "$work/$name-ca.crt" "$dir/root-cert.pem"
    cat "$work/$name-int-ca.chain" "$work/$name-ca.crt" >"$dir/cert-chain.pem"
}

# make_cm_cacerts DIR NAME [self-signed]: cert-manager's layout of a CA (a
# kubernetes.io/tls Secret mounted as files), made with scripts/gen-certs.sh:
# tls.crt = the signing intermediate NAME-int (with its chain above it,
# roots left out), tls.key = its key, ca.crt = root NAME.  With
# "self-signed": the root signs, tls.crt/tls.key are the root's and ca.crt
# the root again (a CA's crt/key renamed).
make_cm_cacerts() {
    local dir=$1 name=$2 work
    work=$T/cm-$name
    mkdir -p "$dir" "$work"
    "$GEN_CERTS" ca "$work" "$name" >/dev/null 2>&1 || fail "gen-certs.sh ca $name failed"
    if [ "${3:-}" = self-signed ]; then
        cp "$work/$name-ca.crt" "$dir/tls.crt"
        cp "$work/$name-ca.key" "$dir/tls.key"
    else
        "$GEN_CERTS" intermediate "$work" "$name" "$name-int" >/dev/null 2>&1 ||
            fail "gen-certs.sh intermediate $name-int failed"
        cp "$work/$name-int-ca.chain" "$dir/tls.crt"
        cp "$work/$name-int-ca.key" "$dir/tls.key"
    fi
    cp "$work/$name-ca.crt" "$dir/ca.crt"
}

# wait_ready_200 ADMIN_PORT: waits (up to 10 s) until /healthz/ready there
# answers 200.
wait_ready_200() {
    local i=0
    while [ "$(sds_ready_code "$1")" != 200 ]; do
        [ $i -lt 100 ] || fail "readiness on port $1 still not 200: $(cat "$T/ready.body")"
        sleep 0.1
        i=$((i + 1))
    done
}

# agent_tcp_listeners NAME: how many TCP sockets the agent NAME listens on.
agent_tcp_listeners() {
    ss -Hltnp 2>/dev/null | grep -c "pid=$(pid_of "$1")," || true
}

# node_setup: makes sure node and the npm packages (@grpc/grpc-js,
# @grpc/proto-loader, @grpc/grpc-js-xds) are there, installing them once into
# $NODE_DIR (the only network access: the npm registry), and exports
# NODE_PATH.
node_setup() {
    command -v node >/dev/null 2>&1 || fail "node is not installed (make deps)"
    command -v npm >/dev/null 2>&1 || fail "npm is not installed (make deps)"
    mkdir -p "$NODE_DIR"
    (
        flock 9
        if [ ! -f "$NODE_DIR/node_modules/@grpc/grpc-js-xds/package.json" ] ||
            [ ! -f "$NODE_DIR/node_modules/@grpc/grpc-js/package.json" ] ||
            [ ! -f "$NODE_DIR/node_modules/@grpc/proto-loader/package.json" ]; then
            [ -f "$NODE_DIR/package.json" ] ||
                echo '{"name":"sc-node-tests","private":true}' >"$NODE_DIR/package.json"
            log "installing @grpc/grpc-js @grpc/proto-loader @grpc/grpc-js-xds into $NODE_DIR"
            (cd "$NODE_DIR" && timeout 300 npm install --no-audit --no-fund --loglevel=error \
                @grpc/grpc-js @grpc/proto-loader @grpc/grpc-js-xds) >"$T/npm.log" 2>&1 ||
                { cat "$T/npm.log" >&2; exit 1; }
        fi
    ) 9>"$NODE_DIR/.lock" || fail "npm install failed (see above)"
    export NODE_PATH=$NODE_DIR/node_modules
}

# x509_field FILE ARGS...: openssl x509 -noout ARGS on the first certificate
# of FILE (e.g. x509_field f.pem -serial).
x509_field() {
    local f=$1
    shift
    openssl x509 -in "$f" -noout "$@" 2>/dev/null
}

# ------------------------------------------------ two sidecars fed by agents
# Used by the rotation tests (84-, 85-, 88-, 89-*.sh).
#
# TRAFFIC    the load tool (test/tools/traffic.c)
TRAFFIC=${TRAFFIC:-$SC_BUILD/tools/traffic}

# ca_agent_config FILE SOCKET CADIR NAMESPACE SERVICE_ACCOUNT [CA_KEYS]: an
# agent config in ca mode; CA_KEYS are more flow-mapping keys for `ca:`
# (e.g. "lifetime: 4s, renew_at: 0.5").
ca_agent_config() {
    cat >"$1" <<YAML
socket: $2
source: ca
ca: {dir: $3, namespace: $4, service_account: $5${6:+, $6}}
YAML
}

# sds_pair SOCK_A SOCK_B: an echo backend and two sidecars whose secrets come
# from the SDS sockets given (the agents must be running):
#   B  node server, ns bar; inbound listener "in" on 127.0.0.1:$P_IN, STRICT,
#      to the echo backend on $P_ECHO; admin on $B_ADMIN
#   A  node client, ns foo; outbound listener "out" on 127.0.0.1:$P_OUT,
#      ISTIO_MUTUAL, protocol tcp, to B's "in", expecting B's SPIFFE ID;
#      admin on $A_ADMIN
# With SDS_PAIR_BOTH_WAYS=1 also the reverse: A gets an inbound listener "in"
# on $P_IN_A (STRICT, to the echo backend) and B an outbound listener "out"
# on $P_OUT_B to it, expecting A's SPIFFE ID.
# Both are started and their listeners waited for.
sds_pair() {
    local CERTS=$T/unused   # sidecar_config's file secrets, replaced below
    P_ECHO=$(free_port)
    P_IN=$(free_port)
    P_OUT=$(free_port)
    start_backend echo --listen "127.0.0.1:$P_ECHO" --mode echo --quiet
    sidecar_config "$T/b.yaml" server bar server
    B_ADMIN=$ADMIN_PORT
    sed -i "s|^secrets:.*|secrets: {sds_socket: \"$2\"}|" "$T/b.yaml"
    cat >>"$T/b.yaml" <<YAML
listeners:
  - {name: in, direction: inbound, address: "127.0.0.1:$P_IN", upstream: "127.0.0.1:$P_ECHO",
     port: 8080, protocol: tcp}
YAML
    if [ "${SDS_PAIR_BOTH_WAYS:-0}" = 1 ]; then
        P_IN_A=$(free_port)
        P_OUT_B=$(free_port)
        cat >>"$T/b.yaml" <<YAML
  - {name: out, direction: outbound, address: "127.0.0.1:$P_OUT_B", upstream: "127.0.0.1:$P_IN_A",
     tls: ISTIO_MUTUAL, protocol: tcp, expected_identities: ["spiffe://cluster.local/ns/foo/sa/client"]}
YAML
    fi
    peer_auth "$T/b.yaml" STRICT bar
    start_sidecar b "$T/b.yaml" "$P_IN" ${P_OUT_B:+"$P_OUT_B"}
    sidecar_config "$T/a.yaml" client foo client
    A_ADMIN=$ADMIN_PORT
    sed -i "s|^secrets:.*|secrets: {sds_socket: \"$1\"}|" "$T/a.yaml"
    cat >>"$T/a.yaml" <<YAML
listeners:
  - {name: out, direction: outbound, address: "127.0.0.1:$P_OUT", upstream: "127.0.0.1:$P_IN",
     tls: ISTIO_MUTUAL, protocol: tcp, expected_identities: ["spiffe://cluster.local/ns/bar/sa/server"]}
YAML
    if [ "${SDS_PAIR_BOTH_WAYS:-0}" = 1 ]; then
        cat >>"$T/a.yaml" <<YAML
  - {name: in, direction: inbound, address: "127.0.0.1:$P_IN_A", upstream: "127.0.0.1:$P_ECHO",
     port: 8080, protocol: tcp}
YAML
        peer_auth "$T/a.yaml" STRICT foo
    fi
    start_sidecar a "$T/a.yaml" "$P_OUT" ${P_IN_A:+"$P_IN_A"}
}

# sds_metric ADMIN_PORT SERIES: the value of one Prometheus series (exact
# name and labels, e.g. 'sidecar_sds_pushes_total{result="accepted"}'), or
# empty.
sds_metric() {
    curl -s -m 5 "http://127.0.0.1:$1/stats/prometheus" | awk -v k="$2" '$1 == k { print $2 }'
}

# sds_ready_code ADMIN_PORT: the HTTP status of /healthz/ready (body in
# $T/ready.body).
sds_ready_code() {
    curl -s -m 5 -o "$T/ready.body" -w '%{http_code}' "http://127.0.0.1:$1/healthz/ready"
}

# sds_table ADMIN_PORT: /certs?format=table.
sds_table() {
    curl -s -m 5 "http://127.0.0.1:$1/certs?format=table"
}

# sds_table_serial ADMIN_PORT [RESOURCE=default]: the serial of the first
# row of RESOURCE in /certs?format=table (normalized with norm_serial).
sds_table_serial() {
    sds_table "$1" | awk -v r="${2:-default}" '$1 == r { print $(NF - 3); exit }' | norm_serial
}

# norm_serial: serials on stdin (any case, leading zeros) to lower case
# without leading zeros, one per line.
norm_serial() {
    tr 'A-F' 'a-f' | sed -e 's/^serial=//' -e 's/^0*//'
}

# probe_cert DIR CA_NAME ID: a client certificate DIR/probe.crt (leaf),
# DIR/probe.chain (its intermediates) and DIR/probe.key signed by the
# intermediate CA_NAME-int of make_cacerts (in $T/ca-CA_NAME), with SPIFFE
# ID ID; DIR/root.pem is CA_NAME's root.
probe_cert() {
    local dir=$1 work=$T/ca-$2
    mkdir -p "$dir"
    "$GEN_CERTS" leaf "$work" "$2-int" "probe-$2" "$3" >/dev/null 2>&1 ||
        fail "gen-certs.sh leaf under $2-int failed"
    openssl x509 -in "$work/probe-$2.crt" -out "$dir/probe.crt"
    awk 'n > 0 || /BEGIN CERTIFICATE/ && ++seen == 2 { n = 1 } n' "$work/probe-$2.crt" >"$dir/probe.chain"
    cp "$work/probe-$2.key" "$dir/probe.key"
    cp "$work/$2-ca.crt" "$dir/root.pem"
}

# probe_serial HOST:PORT DIR: one TLS handshake straight to a STRICT inbound
# listener with DIR's probe certificate (see probe_cert), offering ALPN
# istio; prints the serial of the certificate the listener presented
# (norm_serial), or nothing when the handshake failed.
probe_serial() {
    timeout 10 openssl s_client -connect "$1" -alpn istio -cert "$2/probe.crt" \
        -cert_chain "$2/probe.chain" -key "$2/probe.key" -CAfile "$2/root.pem" \
        -verify_return_error </dev/null 2>/dev/null |
        openssl x509 -noout -serial 2>/dev/null | norm_serial
}

# traffic_start NAME MODE HOST:PORT [ARGS...]: the load tool in the
# background (output in $T/NAME.out); waits for its first PROGRESS line.
traffic_start() {
    local name=$1
    shift
    [ -x "$TRAFFIC" ] || fail "$TRAFFIC is missing (make tools)"
    spawn "$name" "$TRAFFIC" "$@"
    wait_for_log "$T/$name.out" '^PROGRESS ' 10
}

# traffic_stop NAME: SIGTERM, then the DONE line is in $T/NAME.out and
# TRAFFIC_RC (and $T/NAME.rc) is its exit status.
traffic_stop() {
    alive "$1"
    stop "$1"
    TRAFFIC_RC=$STOP_RC
    echo "$STOP_RC" >"$T/$1.rc"
    assert_contains "$T/$1.out" '^DONE '
}

# traffic_field NAME KEY: the value of KEY=... in the DONE line.
traffic_field() {
    grep '^DONE ' "$T/$1.out" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

# traffic_check_loop NAME [MIN_ATTEMPTS=1]: after traffic_stop, a loop run
# without a single failed connection.
traffic_check_loop() {
    local attempts failed
    attempts=$(traffic_field "$1" attempts)
    failed=$(traffic_field "$1" failed)
    if [ "$failed" != 0 ]; then grep '^FAIL' "$T/$1.out" | head -n 10 >&2; fi
    assert_eq 0 "$failed" "$1: new connections that failed (of $attempts)"
    assert_eq 0 "$(cat "$T/$1.rc")" "$1: exit status"
    [ "$attempts" -ge "${2:-1}" ] || fail "$1: only $attempts connections, expected at least ${2:-1}"
}

# traffic_check_stream NAME MAX_GAP_MS: after traffic_stop, a stream run
# where every line came back in order, the connection closed cleanly, and
# no gap between two echoes was longer than MAX_GAP_MS -- plus the time the
# tool itself was not scheduled (max_stall_ms: a busy machine, not the
# proxies).
traffic_check_stream() {
    local gap stall
    gap=$(traffic_field "$1" max_gap_ms)
    stall=$(traffic_field "$1" max_stall_ms)
    if [ "$(cat "$T/$1.rc")" != 0 ]; then grep '^ERROR' "$T/$1.out" | head -n 5 >&2; fi
    assert_eq 0 "$(cat "$T/$1.rc")" "$1: exit status"
    assert_eq "$(traffic_field "$1" sent)" "$(traffic_field "$1" echoed)" "$1: lines echoed"
    assert_eq yes "$(traffic_field "$1" eof)" "$1: the stream closed cleanly"
    assert_le "$gap" $(($2 + stall)) "$1: longest gap between echoes in ms (limit $2 + the tool's own stall $stall)"
}

# traffic_summary: one line about the stream and loop runs named stream and loop.
traffic_summary() {
    log "stream: sent=$(traffic_field stream sent) echoed=$(traffic_field stream echoed)" \
        "max_gap_ms=$(traffic_field stream max_gap_ms) max_rtt_ms=$(traffic_field stream max_rtt_ms)" \
        "(own stall $(traffic_field stream max_stall_ms) ms);" \
        "loop: $(traffic_field loop attempts) connections, $(traffic_field loop failed) failed"
}
