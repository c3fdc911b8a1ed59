#!/bin/sh
# Captures real TLS ClientHellos from `openssl s_client` and `curl` into
# test/unit/data/clienthello/ (the fixtures of test/unit/test_sniff.c).
#
# Each capture: a one-shot listener on 127.0.0.1 (socat) writes whatever the
# client sends into a file; the client, which never gets a ServerHello, is
# stopped by `timeout` and the listener exits on EOF.  The files are public
# handshake bytes (random, key shares); regenerating them changes the bytes
# but not what the tests assert.
#
# Usage: scripts/capture-clienthello.sh [outdir]      (loopback only)
set -eu

OUT=${1:-test/unit/data/clienthello}
PORT=${SC_CAPTURE_PORT:-18443}
mkdir -p "$OUT"

for tool in socat openssl curl timeout; do
    command -v "$tool" >/dev/null 2>&1 || { echo "missing: $tool" >&2; exit 1; }
done

# capture NAME CLIENT-COMMAND...
capture() {
    name=$1; shift
    rm -f "$OUT/$name.bin"
    socat -u "TCP-LISTEN:$PORT,bind=127.0.0.1,reuseaddr" \
        "OPEN:$OUT/$name.bin,creat,trunc" &
    lpid=$!
    # wait (bounded) for the listener to be up
    i=0
    while [ $i -lt 50 ]; do
        if (ss -ltn 2>/dev/null || netstat -ltn 2>/dev/null) | grep -q "127.0.0.1:$PORT "; then
            break
        fi
        sleep 0.1; i=$((i + 1))
    done
    timeout 2 "$@" </dev/null >/dev/null 2>&1 || true
    wait "$lpid" || true
    if [ ! -s "$OUT/$name.bin" ]; then
        echo "capture of $name failed (is 127.0.0.1:$PORT free? set SC_CAPTURE_PORT)" >&2
        exit 1
    fi
    printf '%-28s %5d bytes\n' "$name.bin" "$(wc -c <"$OUT/$name.bin")"
}

A=127.0.0.1:$PORT
capture openssl-alpn-istio-http11   openssl s_client -connect "$A" -alpn istio-http/1.1,istio,http/1.1
capture openssl-alpn-istio          openssl s_client -connect "$A" -alpn istio
capture openssl-alpn-h2-http11      openssl s_client -connect "$A" -alpn h2,http/1.1
capture openssl-no-alpn             openssl s_client -connect "$A"
capture openssl-sni                 openssl s_client -connect "$A" -servername httpbin.foo.svc.cluster.local
capture openssl-tls12-only          openssl s_client -connect "$A" -tls1_2 -alpn http/1.1
capture openssl-sni-alpn-istio      openssl s_client -connect "$A" -servername a.b -alpn istio-peer-exchange,istio
capture curl-http11 curl -sk --http1.1 "https://127.0.0.1:$PORT/"
capture curl-http2  curl -sk --http2   "https://127.0.0.1:$PORT/"
capture curl-sni    curl -sk --http1.1 --resolve "httpbin.local:$PORT:127.0.0.1" \
                         "https://httpbin.local:$PORT/"
