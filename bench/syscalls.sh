#!/usr/bin/env bash
# bench/syscalls.sh — syscalls per keep-alive request, per sidecar, at L4 and
# L7: wrk → sidecar A (plain in, mTLS out) → sidecar B (STRICT) → backend,
# with `strace -c -f` attached to each sidecar for a bounded keep-alive run.
# Prints, per shape and sidecar, the syscalls per request, the epoll_ctl
# calls per request, and the top calls.  strace slows the run down: the
# counts are what matter here, not the rate.
#
#   bench/syscalls.sh [-d SECONDS] [-c CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=3; CONNS=8
while getopts "d:c:" o; do
    case $o in d) DUR=$OPTARG;; c) CONNS=$OPTARG;; *) exit 2;; esac
done
BUILD=${SC_BUILD:-build}
for t in wrk strace; do
    command -v $t >/dev/null || { echo "syscalls: $t is missing (apt-get install $t)" >&2; exit 1; }
done
T=$(mktemp -d /tmp/sidecar-syscalls.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P_BACK=$(port); P_B=$(port); P_A=$(port); P_B7=$(port); P_A7=$(port)
scripts/gen-certs.sh mesh "$T/certs" >/dev/null
cat >"$T/b.yaml" <<YAML
node: {id: server.bar, namespace: bar}
workers: 1
secrets: {cert_chain: $T/certs/server.crt, private_key: $T/certs/server.key, trusted_ca: $T/certs/ca.crt}
access_log: {path: "off"}
listeners:
  - {name: in, direction: inbound, address: "127.0.0.1:$P_B", upstream: "127.0.0.1:$P_BACK", port: 8080}
  - {name: in7, direction: inbound, address: "127.0.0.1:$P_B7", upstream: "127.0.0.1:$P_BACK", port: 8080,
     protocol: http}
---
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: {name: default, namespace: bar}
spec: {mtls: {mode: STRICT}}
YAML
cat >"$T/a.yaml" <<YAML
node: {id: client.foo, namespace: foo}
workers: 1
secrets: {cert_chain: $T/certs/client.crt, private_key: $T/certs/client.key, trusted_ca: $T/certs/ca.crt}
access_log: {path: "off"}
listeners:
  - {name: out, direction: outbound, address: "127.0.0.1:$P_A", upstream: "127.0.0.1:$P_B",
     tls: ISTIO_MUTUAL, expected_identities: [spiffe://cluster.local/ns/bar/sa/server]}
  - {name: out7, direction: outbound, address: "127.0.0.1:$P_A7", upstream: "127.0.0.1:$P_B7",
     tls: ISTIO_MUTUAL, protocol: http, expected_identities: [spiffe://cluster.local/ns/bar/sa/server]}
YAML
"$BUILD/tools/backend" --listen "127.0.0.1:$P_BACK" --mode http --quiet >/dev/null 2>&1 & pids+=($!)
"$BUILD/bin/sidecar" -c "$T/b.yaml" >/dev/null 2>"$T/b.err" & pids+=($!); PID_B=$!
"$BUILD/bin/sidecar" -c "$T/a.yaml" >/dev/null 2>"$T/a.err" & pids+=($!); PID_A=$!
for _ in $(seq 100); do
    curl -s -m 1 -o /dev/null "http://127.0.0.1:$P_A7/" && curl -s -m 1 -o /dev/null "http://127.0.0.1:$P_A/" && break
    sleep 0.1
done

# calls FILE: "COUNT NAME" per syscall from a strace -c table
calls() { awk '$4 ~ /^[0-9]+$/ && $NF != "total" && $NF ~ /^[a-z_0-9]+$/ { print $4, $NF }' "$1"; }
# per_req FILE REQUESTS: total/req, epoll_ctl/req and the top four calls per request
per_req() {
    calls "$1" | sort -rn | awk -v n="$2" '
        { total += $1; if ($2 == "epoll_ctl") ctl = $1; if (NR <= 4) top = top sprintf("%s=%.2f ", $2, $1 / n) }
        END { printf "%.2f | %.2f | %s", total / n, ctl / n, top }'
}

echo "| shape | sidecar | requests | syscalls / request | epoll_ctl / request | top calls per request |"
echo "|---|---|---:|---:|---:|---|"
for shape in L4:$P_A L7:$P_A7; do
    name=${shape%%:*}; p=${shape#*:}
    wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:$p/" >/dev/null 2>&1 || true    # warm pools
    timeout $((DUR + 30)) strace -c -f -o "$T/a.$name" -p "$PID_A" & sa=$!
    timeout $((DUR + 30)) strace -c -f -o "$T/b.$name" -p "$PID_B" & sb=$!
    sleep 0.5
    reqs=$(timeout $((DUR + 20)) wrk -t1 -c"$CONNS" -d"${DUR}s" "http://127.0.0.1:$p/" |
        awk '/requests in/ { print $1 }')
    kill -INT $sa $sb 2>/dev/null || true
    wait $sa $sb 2>/dev/null || true
    for s in a b; do
        printf '| %s keep-alive | %s | %s | %s|\n' "$name" "$( [ $s = a ] && echo A-client || echo B-server)" \
            "$reqs" "$(per_req "$T/$s.$name" "$reqs")"
    done
done
