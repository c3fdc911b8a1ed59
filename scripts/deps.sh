#!/usr/bin/env bash
# Installs the Debian packages mtls-sidecar needs to build and test, and only
# those that are missing.  Prints one line and does nothing when all are there.
#
#   scripts/deps.sh            install what is missing
#   scripts/deps.sh --check    list what is missing; exit 1 if anything is
#
# Runs as root (CI) or through sudo.  `make test` needs clang (the libFuzzer
# targets it runs for 30 s each) and clang-format (`make format-check`).
set -euo pipefail

# Each entry: PACKAGE[|ALTERNATIVE...][:COMMAND].  An entry is satisfied when
# any of its packages is installed, or, when COMMAND is given, when COMMAND is
# on PATH (Node.js from nodesource ships npm inside its nodejs package, and
# would conflict with Debian's npm).
REQUIRED=(
    build-essential pkg-config
    libevent-dev libssl-dev libyaml-dev check node-llhttp
    libnghttp2-dev libprotobuf-c-dev protobuf-c-compiler
    openssl curl wrk "nginx-light|nginx|nginx-full|nginx-core:nginx" socat
    iproute2 iptables tcpdump netcat-openbsd procps python3-yaml libcap2-bin
    "nodejs:node" "npm:npm" clang clang-format
)

check_only=0
case ${1:-} in
--check) check_only=1 ;;
"") ;;
*) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "deps: not a Debian system (no dpkg-query); install the packages listed in $0 by hand" >&2
    exit 1
fi

installed() { # PACKAGE
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

entries=("${REQUIRED[@]}")

missing=()
for e in "${entries[@]}"; do
    pkgs=${e%%:*}
    cmd=
    if [ "$pkgs" != "$e" ]; then cmd=${e#*:}; fi
    ok=0
    IFS='|' read -r -a alts <<<"$pkgs"
    for p in "${alts[@]}"; do
        if installed "$p"; then ok=1; break; fi
    done
    if [ $ok = 0 ] && [ -n "$cmd" ] && command -v "$cmd" >/dev/null 2>&1; then ok=1; fi
    if [ $ok = 0 ]; then missing+=("${alts[0]}"); fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "deps: all ${#entries[@]} packages are installed, nothing to do"
    exit 0
fi

if [ $check_only = 1 ]; then
    echo "deps: missing: ${missing[*]}"
    exit 1
fi

SUDO=()
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        echo "deps: missing ${missing[*]}, and not root and no sudo" >&2
        exit 1
    fi
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "deps: done"
