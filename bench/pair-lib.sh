# bench/pair-lib.sh — sourced by the bench scripts that run a sidecar pair
# on loopback: wrk/clients → A (plain in, mTLS out) → B (STRICT) → backend.
#
#   bench_init NAME            $T (removed at exit), $pids (killed at exit), port()
#   pair_configs UP4 UP7       writes $T/a.yaml and $T/b.yaml: an L4 and an L7
#                              listener each (A on $P_A / $P_A7, B on $P_B /
#                              $P_B7), B's upstreams 127.0.0.1:UP4 / :UP7;
#                              PAIR_WORKERS (default 1) and PAIR_EXTRA (a YAML
#                              line for both configs; PAIR_EXTRA_B: for B
#                              only) change them
#   start_pair                 starts B then A; sets PID_A, PID_B
#   http_backend               an HTTP backend on $P_BACK, the pair's configs
#                              pointing at it (both listeners)
#   pair_wait                  waits (up to about 10 s) until both A
#                              listeners answer an HTTP GET
#   wrk_shape SHAPE            keepalive or close: sets HDR (wrk's extra
#                              arguments) and LABEL (keep-alive or close)
BUILD=${SC_BUILD:-build}

http_backend() {
    P_BACK=$(port)
    pair_configs "$P_BACK" "$P_BACK"
    "$BUILD/tools/backend" --listen "127.0.0.1:$P_BACK" --mode http --quiet >/dev/null 2>&1 &
    pids+=($!)
}

pair_wait() {
    for _ in $(seq 100); do
        curl -s -m 1 -o /dev/null "http://127.0.0.1:$P_A7/" &&
            curl -s -m 1 -o /dev/null "http://127.0.0.1:$P_A/" && return 0
        sleep 0.1
    done
}

wrk_shape() {
    case $1 in
        keepalive) HDR=(); LABEL=keep-alive;;
        close) HDR=(-H "Connection: close"); LABEL=close;;
        *) echo "-s: keepalive or close" >&2; exit 2;;
    esac
}

bench_init() {
    T=$(mktemp -d "/tmp/sidecar-$1.XXXXXX")
    pids=()
    trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$T"' EXIT
    P_B=$(port); P_A=$(port); P_B7=$(port); P_A7=$(port)
    scripts/gen-certs.sh mesh "$T/certs" >/dev/null
}

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

pair_configs() {
    local up4=$1 up7=$2 workers=${PAIR_WORKERS:-1} extra=${PAIR_EXTRA:-} extra_b=${PAIR_EXTRA_B:-}
    cat >"$T/b.yaml" <<YAML
node: {id: server.bar, namespace: bar}
workers: $workers
secrets: {cert_chain: $T/certs/server.crt, private_key: $T/certs/server.key, trusted_ca: $T/certs/ca.crt}
access_log: {path: "off"}
$extra
$extra_b
listeners:
  - {name: in, direction: inbound, address: "127.0.0.1:$P_B", upstream: "127.0.0.1:$up4", port: 8080}
  - {name: in7, direction: inbound, address: "127.0.0.1:$P_B7", upstream: "127.0.0.1:$up7", port: 8080,
     protocol: http}
---
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: {name: default, namespace: bar}
spec: {mtls: {mode: STRICT}}
YAML
    cat >"$T/a.yaml" <<YAML
node: {id: client.foo, namespace: foo}
workers: $workers
secrets: {cert_chain: $T/certs/client.crt, private_key: $T/certs/client.key, trusted_ca: $T/certs/ca.crt}
access_log: {path: "off"}
$extra
listeners:
  - {name: out, direction: outbound, address: "127.0.0.1:$P_A", upstream: "127.0.0.1:$P_B",
     tls: ISTIO_MUTUAL, expected_identities: [spiffe://cluster.local/ns/bar/sa/server]}
  - {name: out7, direction: outbound, address: "127.0.0.1:$P_A7", upstream: "127.0.0.1:$P_B7",
     tls: ISTIO_MUTUAL, protocol: http, expected_identities: [spiffe://cluster.local/ns/bar/sa/server]}
YAML
}

start_pair() {
    "$BUILD/bin/sidecar" -c "$T/b.yaml" >/dev/null 2>"$T/b.err" & PID_B=$!; pids+=($PID_B)
    "$BUILD/bin/sidecar" -c "$T/a.yaml" >/dev/null 2>"$T/a.err" & PID_A=$!; pids+=($PID_A)
}
