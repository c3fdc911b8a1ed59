#!/usr/bin/env bash
# make demo-netns: transparent interception between two "pods" (network
# namespaces on a bridge), as test/e2e/10-mesh.sh builds them, one request,
# and what happened on the way.  Needs root (namespaces, iptables).
#
#   pod a 10.77.1.2                                              pod b 10.77.1.3
#   curl http://10.77.1.3:8080/headers
#     └─ OUTPUT ─► SIDECAR_OUTPUT ─► :15001 sidecar a ══ mTLS ══► PREROUTING ─► SIDECAR_INBOUND ─► :15006 sidecar b ─► app :8080
#   pod c 10.77.1.4 (no sidecar): plaintext, let in while b is PERMISSIVE
#
# Everything stays inside the namespaces it makes (they have no default
# route), and is torn down at the end: processes by PID, then the
# namespaces.  SC_KEEP=1 keeps the files (logs, capture) for a look.
set -eu
cd "$(dirname "$0")/.."
export SC_BUILD=${SC_BUILD:-build}
if [ "$(id -u)" != 0 ]; then
    echo "demo-netns: needs root (network namespaces and iptables); try: sudo make demo-netns" >&2
    exit 1
fi
. test/integration/lib.sh
. test/e2e/pods.sh
pods_require

say() { printf '\n== %s\n' "$*"; }
show() { sed 's/^/   /'; }

say "1. three pods on a bridge: a and b with a sidecar each, c without"
pods_network a b c
pods_ca
for p in b a; do
    other=a
    [ "$p" = a ] && other=b
    pod_mesh "$p" "$other"
done
pod_plain c
for p in a b c; do
    printf '   pod %s  %-10s %s\n' "$p" "$(pod_ip4 "$p")" "$( [ "$p" = c ] && echo "(app only)" || pod_id "$p")"
done

say "2. the rules sidecar-iptables.sh installed in pod a (nat table, IPv4)"
in_pod a iptables -t nat -S | grep SIDECAR | show

say "3. pod a: curl http://$(pod_ip4 b):8080/headers   (no proxy settings)"
in_pod a tcpdump -i eth0 -U --immediate-mode -s 0 -Z root -c 200 -w "$T/a.pcap" tcp >/dev/null 2>"$T/tcpdump.err" </dev/null &
_sc_track $! tcpdump other
i=0
until grep -q 'listening on' "$T/tcpdump.err" 2>/dev/null || [ $i -ge 50 ]; do sleep 0.1; i=$((i + 1)); done
in_pod a curl -sS -m 10 -i "http://$(pod_ip4 b):8080/headers" | tr -d '\r' | show
sleep 0.3
stop tcpdump

say "4. what the sidecars logged"
echo "   sidecar a (outbound):"
grep -E '"GET /headers|conn id=' "$T/a-sidecar.out" | show
echo "   sidecar b (inbound):"
grep -E '"GET /headers|conn id=' "$T/b-sidecar.out" | show

say "5. on the wire (a's veth): TLS only"
hs=$(tcpdump -nn -r "$T/a.pcap" 'tcp[((tcp[12:1] & 0xf0) >> 2):2] = 0x1603' 2>/dev/null | wc -l)
ad=$(tcpdump -nn -r "$T/a.pcap" 'tcp[((tcp[12:1] & 0xf0) >> 2):2] = 0x1703' 2>/dev/null | wc -l)
plain=$(tcpdump -nn -A -r "$T/a.pcap" 2>/dev/null | grep -c -E 'GET /headers|HTTP/1\.1 200' || true)
echo "   $(tcpdump -nn -r "$T/a.pcap" 2>/dev/null | wc -l) packets: $hs TLS handshake records, $ad TLS application-data records, $plain with plaintext HTTP"

say "6. pod c (no sidecar) -> b while b is PERMISSIVE: let in as plaintext, and counted"
echo "   HTTP $(pod_http_code c "http://$(pod_ip4 b):8080/")"
sleep 0.2
in_pod b curl -s http://127.0.0.1:15000/stats/prometheus | grep '^sidecar_connections_total{direction="inbound"' | show

say "7. b switches to STRICT (PeerAuthentication edited, SIGHUP): c refused, a still in"
sed -i 's/mtls: {mode: PERMISSIVE}/mtls: {mode: STRICT}/' "$T/b/sidecar.yaml"
kill -HUP "$(pid_of b-sidecar)"
i=0
until grep -q 'reloaded' "$T/b-sidecar.err" || [ $i -ge 50 ]; do sleep 0.1; i=$((i + 1)); done
echo "   c -> b: HTTP $(pod_http_code c "http://$(pod_ip4 b):8080/")   (000 = refused)"
echo "   a -> b: HTTP $(pod_http_code a "http://$(pod_ip4 b):8080/")"

say "8. teardown: sidecar-iptables.sh clean, then processes and namespaces"
for p in a b; do in_pod "$p" scripts/sidecar-iptables.sh clean 2>&1 | show; done
