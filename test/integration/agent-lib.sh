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
