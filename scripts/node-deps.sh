#!/usr/bin/env bash
# Installs the npm packages the interoperability tests use (@grpc/grpc-js,
# @grpc/proto-loader and @grpc/grpc-js-xds, which ships Envoy's own .proto
# files) into build/node, once.  Prints the node_modules path for NODE_PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${SC_NODE_DIR:-build/node}
if [ ! -d "$dir/node_modules/@grpc/grpc-js-xds" ] || [ ! -d "$dir/node_modules/@grpc/proto-loader" ] ||
   [ ! -d "$dir/node_modules/@grpc/grpc-js" ]; then
    command -v npm >/dev/null || { echo "node-deps: npm is missing (make deps)" >&2; exit 1; }
    mkdir -p "$dir"
    cp test/integration/node/package.json test/integration/node/package-lock.json "$dir/"
    if ! (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2); then
        (cd "$dir" && npm install --no-audit --no-fund --loglevel=error >&2)
    fi
fi
echo "$(cd "$dir" && pwd)/node_modules"
