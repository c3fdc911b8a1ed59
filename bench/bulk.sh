#!/usr/bin/env bash
# bench/bulk.sh — one L4 connection's throughput through a sidecar pair
# (plain → A → mTLS → B → backend) against the same transfer straight from
# the backend, in one run: the backend's "source" mode sends SIZE bytes
# (default 2g) and closes; the client reads to the end.  Median of 3 each.
#
#   bench/bulk.sh [-s SIZE]
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=2g
while getopts "s:" o; do
    case $o in s) SIZE=$OPTARG;; *) exit 2;; esac
done
BUILD=${SC_BUILD:-build}
T=$(mktemp -d /tmp/sidecar-bulk.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P_SRC=$(port); P_B=$(port); P_A=$(port)
scripts/gen-certs.sh mesh "$T/certs" >/dev/null
cat >"$T/b.yaml" <<YAML
node: {id: server.bar, namespace: bar}
workers: 1
secrets: {cert_chain: $T/certs/server.crt, private_key: $T/certs/server.key, trusted_ca: $T/certs/ca.crt}
access_log: {path: "off"}
listeners:
  - {name: in, direction: inbound, address: "127.0.0.1:$P_B", upstream: "127.0.0.1:$P_SRC", port: 8080}
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
YAML
"$BUILD/tools/backend" --listen "127.0.0.1:$P_SRC" --mode source --bytes "$SIZE" --quiet >/dev/null 2>&1 & pids+=($!)
"$BUILD/bin/sidecar" -c "$T/b.yaml" >/dev/null 2>&1 & pids+=($!)
"$BUILD/bin/sidecar" -c "$T/a.yaml" >/dev/null 2>&1 & pids+=($!)
sleep 1

# mbps PORT: MB/s of one read-to-the-end transfer
mbps() {
    python3 - "$1" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.shutdown(socket.SHUT_WR)
t0 = time.monotonic(); n = 0
buf = bytearray(1 << 20)
while True:
    k = s.recv_into(buf)
    if k == 0:
        break
    n += k
print("%.0f %d" % (n / (time.monotonic() - t0) / 1e6, n))
PY
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
direct=$(for _ in 1 2 3; do mbps "$P_SRC"; done | median)
pair=$(for _ in 1 2 3; do mbps "$P_A"; done | median)
echo "| transfer ($SIZE, one connection) | MB/s | ratio to direct |"
echo "|---|---:|---:|"
echo "| direct from the backend | $direct | 1.00 |"
awk -v d="$direct" -v p="$pair" 'BEGIN { printf "| through the sidecar pair (L4, mTLS) | %s | %.2f |\n", p, p / d }'
