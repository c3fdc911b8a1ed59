#!/usr/bin/env bash
# bench/soak.sh — a long run under load: wrk keeps a sidecar pair busy at L4
# and L7 (keep-alive and a new connection per request, in turn) for
# DURATION seconds (default 600), while the RSS and open descriptors of both
# sidecars are sampled every 10 s.  At the end it prints the samples and
# fails (exit 1) when either sidecar's RSS grew by more than 16 MiB from the
# first loaded sample to the last, when its descriptors did not come back
# to their idle count, when any request failed, or when a sidecar died.
#
#   bench/soak.sh [-d SECONDS] [-c CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=600; CONNS=16
while getopts "d:c:" o; do
    case $o in d) DUR=$OPTARG;; c) CONNS=$OPTARG;; *) exit 2;; esac
done
BUILD=${SC_BUILD:-build}
command -v wrk >/dev/null || { echo "soak: wrk is missing (make deps)" >&2; exit 1; }
T=$(mktemp -d /tmp/sidecar-soak.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P_BACK=$(port); P_B=$(port); P_A=$(port); P_B7=$(port); P_A7=$(port)
scripts/gen-certs.sh mesh "$T/certs" >/dev/null
cat >"$T/b.yaml" <<YAML
node: {id: server.bar, namespace: bar}
workers: 2
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
workers: 2
secrets: {cert_chain: $T/certs/client.crt, private_key: $T/certs/client.key, trusted_ca: $T/certs/ca.crt}
access_log: {path: "off"}
listeners:
  - {name: out, direction: outbound, address: "127.0.0.1:$P_A", upstream: "127.0.0.1:$P_B",
     tls: ISTIO_MUTUAL, expected_identities: [spiffe://cluster.local/ns/bar/sa/server]}
  - {name: out7, direction: outbound, address: "127.0.0.1:$P_A7", upstream: "127.0.0.1:$P_B7",
     tls: ISTIO_MUTUAL, protocol: http, expected_identities: [spiffe://cluster.local/ns/bar/sa/server]}
YAML
"$BUILD/tools/backend" --listen "127.0.0.1:$P_BACK" --mode http --quiet >/dev/null 2>&1 & pids+=($!)
"$BUILD/bin/sidecar" -c "$T/b.yaml" >/dev/null 2>"$T/b.err" & B=$!; pids+=($B)
"$BUILD/bin/sidecar" -c "$T/a.yaml" >/dev/null 2>"$T/a.err" & A=$!; pids+=($A)
sleep 1
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
fds() { ls "/proc/$1/fd" | wc -l; }
fd_a0=$(fds $A); fd_b0=$(fds $B)

end=$((SECONDS + DUR)); round=0; errors=0
echo "| t s | shape | A RSS KiB | B RSS KiB | A fds | B fds | requests | errors |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|"
while [ $SECONDS -lt $end ]; do
    case $((round % 4)) in
    0) shape="L4 keep-alive"; url="http://127.0.0.1:$P_A/"; hdr=() ;;
    1) shape="L7 keep-alive"; url="http://127.0.0.1:$P_A7/"; hdr=() ;;
    2) shape="L4 new connection"; url="http://127.0.0.1:$P_A/"; hdr=(-H 'Connection: close') ;;
    *) shape="L7 new connection"; url="http://127.0.0.1:$P_A7/"; hdr=(-H 'Connection: close') ;;
    esac
    out=$(timeout 40 wrk -t1 -c"$CONNS" -d10s "${hdr[@]}" "$url" 2>&1 || true)
    reqs=$(printf '%s\n' "$out" | awk '/requests in/ { print $1 }')
    errs=$(printf '%s\n' "$out" | awk '/Non-2xx/ { n += $NF } /Socket errors/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }')
    kill -0 $A && kill -0 $B || { echo "soak: a sidecar died" >&2; exit 1; }
    [ $round -eq 0 ] && { rss_a0=$(rss $A); rss_b0=$(rss $B); }
    echo "| $SECONDS | $shape | $(rss $A) | $(rss $B) | $(fds $A) | $(fds $B) | ${reqs:-0} | $errs |"
    errors=$((errors + errs)); round=$((round + 1))
done
sleep 5     # idle: pools close, descriptors come back
rss_a1=$(rss $A); rss_b1=$(rss $B); fd_a1=$(fds $A); fd_b1=$(fds $B)
echo
echo "RSS A ${rss_a0} -> ${rss_a1} KiB, B ${rss_b0} -> ${rss_b1} KiB; fds A ${fd_a0} -> ${fd_a1}, B ${fd_b0} -> ${fd_b1}; errors ${errors}"
ok=1
[ $((rss_a1 - rss_a0)) -le 16384 ] && [ $((rss_b1 - rss_b0)) -le 16384 ] || { echo "soak: RSS grew by more than 16 MiB"; ok=0; }
[ "$fd_a1" -le "$fd_a0" ] && [ "$fd_b1" -le "$fd_b0" ] || { echo "soak: descriptors did not come back"; ok=0; }
[ "$errors" -eq 0 ] || { echo "soak: $errors failed requests"; ok=0; }
[ $ok = 1 ] && echo "soak: ok" || exit 1
