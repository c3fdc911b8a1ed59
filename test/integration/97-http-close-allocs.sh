#!/usr/bin/env bash
# HTTP at L7 with a new client connection per request (`Connection: close`,
# curl opens one per request): after the first few, a connection costs the
# client-side sidecar no allocation of its own and none in libevent.  The
# connection object, the L7 session (with its two events and its two
# parsers) and the socket's I/O object come back from the worker's caches,
# and a plaintext client connection goes straight onto the I/O layer (no
# bufferevent made and taken apart).  Before, each such request cost the
# client sidecar about 11 allocations of ours and 9 in libevent.  Counted
# with bench/tools/alloccount.c (an LD_PRELOAD shim) on both sidecars;
# the pooled mTLS hop keeps the server side at none as well.
. "$(dirname "$0")/lib.sh"

N=200
command -v cc >/dev/null || skip "no C compiler for the counting shim"
if ldd "$SIDECAR" 2>/dev/null | grep -q 'libasan'; then
    skip "AddressSanitizer's runtime must come first: no LD_PRELOAD shim beside it"
fi
cc -O2 -shared -fPIC -o "$T/alloccount.so" "$ROOT/bench/tools/alloccount.c" -ldl ||
    fail "cannot build the counting shim"
mkdir "$T/counts"
certs
P_APP=$(free_port)
start_backend app --listen "127.0.0.1:$P_APP" --mode http --quiet
REAL_SIDECAR=$SIDECAR
SIDECAR=$T/sidecar-counted
printf '#!/bin/sh\nALLOCCOUNT_DIR="%s" LD_PRELOAD="%s" exec "%s" "$@"\n' \
    "$T/counts" "$T/alloccount.so" "$REAL_SIDECAR" >"$SIDECAR"
chmod +x "$SIDECAR"
mesh_pair http "127.0.0.1:$P_APP"
SIDECAR=$REAL_SIDECAR

# counts NAME: "ours libevent openssl other" allocations so far
counts() {
    python3 -c 'import struct,sys; print(*struct.unpack("4Q", open(sys.argv[1],"rb").read(32)))' \
        "$T/counts/$(pid_of "$1")"
}
# close_requests N TAG: N requests, each on a new connection; "CODE CONNECTS" a line
close_requests() {
    timeout 120 curl -sS -m 100 -H 'Connection: close' -o /dev/null \
        -w '%{http_code} %{num_connects}\n' "http://127.0.0.1:$P_OUT/$2[1-$1]" ||
        fail "curl through the pair failed"
}

step "a few requests, each on its own connection (pools and caches warm up)"
close_requests 5 warm >"$T/warm"
assert_eq 5 "$(grep -c '^200 1$' "$T/warm")" "warm-up responses with 200 on a new connection"
# the per-request numbers are formatted without printf now: still numbers
timeout 20 curl -sS -m 10 -D "$T/head" -o /dev/null "http://127.0.0.1:$P_OUT/head" ||
    fail "curl through the pair failed"
grep -qiE '^x-envoy-upstream-service-time: [0-9]+'$'\r''?$' "$T/head" ||
    fail "no x-envoy-upstream-service-time with a number: $(cat "$T/head")"
a0=$(counts a)
b0=$(counts b)

step "$N requests, each on a new client connection"
close_requests "$N" r >"$T/codes"
assert_eq "$N" "$(grep -c '^200 1$' "$T/codes")" "responses with 200, one new connection each"
a1=$(counts a)
b1=$(counts b)

for s in a b; do
    if [ $s = a ]; then c0=$a0 c1=$a1; else c0=$b0 c1=$b1; fi
    read -r o0 e0 _ _ <<<"$c0"
    read -r o1 e1 _ _ <<<"$c1"
    log "$s: $((o1 - o0)) allocations of ours, $((e1 - e0)) in libevent for $N requests"
    # a few for a new pooled connection at most, none per request
    assert_le $((o1 - o0)) $((N / 20)) "$s: allocations of ours for $N requests"
    assert_le $((e1 - e0)) $((N / 20)) "$s: allocations in libevent for $N requests"
done

alive a
alive b
log "ok"
