#!/usr/bin/env bash
# make demo: two sidecars and a backend on loopback, one request through the
# mTLS hop, and what each side saw.
#
#   curl ──http──▶ sidecar A (client, ns foo) ══mTLS══▶ sidecar B (server, ns bar, STRICT) ──http──▶ backend
#        127.0.0.1:17001                        127.0.0.1:17006                            127.0.0.1:18080
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${SC_BUILD:-build}
SIDECAR=$BUILD/bin/sidecar
BACKEND=$BUILD/tools/backend
T=$(mktemp -d /tmp/sidecar-demo.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT

for port in 17001 17006 18080 17000 17100; do
    if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
        echo "demo: port $port is in use on 127.0.0.1; stop what listens there first" >&2
        exit 1
    fi
done

echo "== 1. a throw-away dev CA and two workload identities"
scripts/gen-certs.sh mesh "$T/certs" >/dev/null
for w in client server; do
    printf '   %-7s %s\n' "$w" "$(openssl x509 -in "$T/certs/$w.crt" -noout -ext subjectAltName | tail -1 | sed 's/^ *//')"
done

cat >"$T/b.yaml" <<YAML
node: {id: server.bar, trust_domain: cluster.local, namespace: bar, labels: {app: server}}
workers: 1
secrets: {cert_chain: $T/certs/server.crt, private_key: $T/certs/server.key, trusted_ca: $T/certs/ca.crt}
admin: {address: "127.0.0.1:17100"}
listeners:
  - {name: from-foo, direction: inbound, address: "127.0.0.1:17006", upstream: "127.0.0.1:18080",
     port: 8080, protocol: tcp, allowed_principals: ["spiffe://cluster.local/ns/foo/*"]}
---
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: {name: default, namespace: bar}
spec: {mtls: {mode: STRICT}}
YAML
cat >"$T/a.yaml" <<YAML
node: {id: client.foo, trust_domain: cluster.local, namespace: foo}
workers: 1
secrets: {cert_chain: $T/certs/client.crt, private_key: $T/certs/client.key, trusted_ca: $T/certs/ca.crt}
admin: {address: "127.0.0.1:17000"}
listeners:
  - {name: to-bar, direction: outbound, address: "127.0.0.1:17001", upstream: "127.0.0.1:17006",
     host: server.bar.svc.cluster.local, tls: ISTIO_MUTUAL, protocol: tcp,
     expected_identities: ["spiffe://cluster.local/ns/bar/sa/server"]}
YAML

echo "== 2. backend on 127.0.0.1:18080, sidecar B (STRICT) on :17006, sidecar A on :17001"
"$BACKEND" --listen 127.0.0.1:18080 --mode http >"$T/backend.log" 2>&1 & pids+=($!)
"$SIDECAR" -c "$T/b.yaml" >"$T/b.out" 2>"$T/b.err" & pids+=($!)
"$SIDECAR" -c "$T/a.yaml" >"$T/a.out" 2>"$T/a.err" & pids+=($!)
for i in $(seq 1 50); do
    grep -q ready "$T/a.err" 2>/dev/null && grep -q ready "$T/b.err" 2>/dev/null && break
    sleep 0.1
done

echo "== 3. curl http://127.0.0.1:17001/ (plain HTTP from the app's point of view)"
body=$(curl -sS --max-time 5 http://127.0.0.1:17001/)
echo "   response: $body"

echo "== 4. a plaintext client straight at sidecar B is refused"
curl -sS --max-time 3 http://127.0.0.1:17006/ >/dev/null 2>&1 && echo "   UNEXPECTED: it got through" || echo "   refused, as STRICT demands"

sleep 0.3
echo "== 5. what each side saw (connection log)"
echo "-- sidecar A (outbound):"; sed 's/^/   /' "$T/a.out"
echo "-- sidecar B (inbound):";  sed 's/^/   /' "$T/b.out"
echo "-- sidecar B counters:"; curl -s http://127.0.0.1:17100/stats | grep -v ': 0$' | sed 's/^/   /'
a_peer=$(grep -o 'peer=[^ ]*' "$T/a.out" | head -1); b_peer=$(grep -o 'peer=[^ ]*' "$T/b.out" | head -1)
echo
echo "A saw the server as ${a_peer#peer=}; B saw the client as ${b_peer#peer=}."
[ "$body" = "hello from backend" ] && [ "${b_peer#peer=}" = "spiffe://cluster.local/ns/foo/sa/client" ]
