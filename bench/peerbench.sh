#!/usr/bin/env bash
# bench/peerbench.sh [peerbench run.sh options] [variants] — the sidecar in
# L4 (custom-tcp) and L7 (custom-http) mode, and both again over HBONE
# (custom-hbone-tcp, custom-hbone-http), beside HAProxy, nginx and stunnel,
# in one run of ../shared/peerbench (copied to build/peerbench, which it
# writes into).  Example, quick:  bench/peerbench.sh -r1 -d5 -w1
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
src=${PEERBENCH_DIR:-$root/../shared/peerbench}
dst=$root/build/peerbench
[ -d "$src" ] || { echo "peerbench not found at $src" >&2; exit 1; }
mkdir -p "$dst"
cp -r "$src"/. "$dst"/
chmod -R u+w "$dst"
(cd "$dst" && ./setup.sh >/dev/null)
export CUSTOM_TCP_NAME=sidecar-tcp CUSTOM_HTTP_NAME=sidecar-http
export CUSTOM_TCP_VERSION CUSTOM_HTTP_VERSION
CUSTOM_TCP_VERSION=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo dev)
CUSTOM_HTTP_VERSION=$CUSTOM_TCP_VERSION
export CUSTOM_TCP_SERVER_CMD="exec $root/bench/pb-sidecar.sh server tcp"
export CUSTOM_TCP_CLIENT_CMD="exec $root/bench/pb-sidecar.sh client tcp"
export CUSTOM_HTTP_SERVER_CMD="exec $root/bench/pb-sidecar.sh server http"
export CUSTOM_HTTP_CLIENT_CMD="exec $root/bench/pb-sidecar.sh client http"
# the L7 pair with its access log on, to a file (not in the default set)
export CUSTOM_HTTP_LOG_NAME=sidecar-http-log CUSTOM_HTTP_LOG_VERSION=$CUSTOM_TCP_VERSION
export CUSTOM_HTTP_LOG_SERVER_CMD="SC_ACCESS_LOG=on exec $root/bench/pb-sidecar.sh server http"
export CUSTOM_HTTP_LOG_CLIENT_CMD="SC_ACCESS_LOG=on exec $root/bench/pb-sidecar.sh client http"
# the same pair speaking HBONE between the sidecars (docs/hbone.md)
export CUSTOM_HBONE_TCP_NAME=sidecar-hbone-tcp CUSTOM_HBONE_HTTP_NAME=sidecar-hbone-http
export CUSTOM_HBONE_TCP_VERSION=$CUSTOM_TCP_VERSION CUSTOM_HBONE_HTTP_VERSION=$CUSTOM_TCP_VERSION
export CUSTOM_HBONE_TCP_SERVER_CMD="SC_TRANSPORT=hbone exec $root/bench/pb-sidecar.sh server tcp"
export CUSTOM_HBONE_TCP_CLIENT_CMD="SC_TRANSPORT=hbone exec $root/bench/pb-sidecar.sh client tcp"
export CUSTOM_HBONE_HTTP_SERVER_CMD="SC_TRANSPORT=hbone exec $root/bench/pb-sidecar.sh server http"
export CUSTOM_HBONE_HTTP_CLIENT_CMD="SC_TRANSPORT=hbone exec $root/bench/pb-sidecar.sh client http"
cd "$dst"
if [ $# -eq 0 ] || [ "${1#-}" != "$1" ] && ! printf '%s\n' "$@" | grep -qv '^-'; then
    exec ./run.sh "$@" custom-tcp custom-http custom-hbone-tcp custom-hbone-http nginx-stream nginx-http haproxy-tcp haproxy-http
fi
exec ./run.sh "$@"
