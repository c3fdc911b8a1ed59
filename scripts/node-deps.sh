#!/usr/bin/env bash
# Installs the npm packages the interoperability tests use (@grpc/grpc-js,
# @grpc/proto-loader and @grpc/grpc-js-xds, which ships Envoy's own .proto
# files) into build/node, once.  Prints the node_modules path for NODE_PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${SC_NODE_DIR:-build/node}
mkdir -p "$dir"
# Tests run side by side: one installs while the others wait (the same lock
# as node_setup in test/integration/agent-lib.sh), and a package counts as
# there once its package.json is (npm writes it last).
exec 9>"$dir/.lock"
flock 9
if [ ! -f "$dir/node_modules/@grpc/grpc-js-xds/package.json" ] ||
   [ ! -f "$dir/node_modules/@grpc/proto-loader/package.json" ] ||
   [ ! -f "$dir/node_modules/@grpc/grpc-js/package.json" ]; then
    command -v npm >/dev/null || { echo "node-deps: npm is missing (make deps)" >&2; exit 1; }
    cp test/integration/node/package.json test/integration/node/package-lock.json "$dir/"
    if ! (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2); then
        (cd "$dir" && npm install --no-audit --no-fund --loglevel=error >&2)
    fi
fi
echo "$(cd "$dir" && pwd)/node_modules"
