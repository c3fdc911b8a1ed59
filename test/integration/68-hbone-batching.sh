#!/usr/bin/env bash
# HBONE batching: streams that have bytes ready in one loop turn leave in one
# send on the tunnel (docs/hbone.md, "Batching").  wrk keeps 32 keep-alive
# connections busy through A (outbound, transport: hbone, protocol tcp) to
# B (inbound HBONE) and an HTTP app, with both sidecars traced by strace.
# One request costs each sidecar one send to its app-side socket; without
# batching, each also costs one send on the tunnel (two per request); with
# it, the tunnel's sends are shared by every stream of a loop turn.
# Asserted: sends per request on each sidecar < 1.6 (counts, not times:
# strace slows the sidecars, which only makes the batches larger).
. "$(dirname "$0")/lib.sh"

command -v strace >/dev/null || skip "strace is missing"
command -v wrk >/dev/null || fail "wrk is not installed (make deps installs it)"
certs

P_HTTP=$(free_port); P_OUT=$(free_port)
start_backend http --listen "127.0.0.1:$P_HTTP" --mode http --quiet

# both sidecars are traced by strace: no seccomp
sidecar_no_seccomp hbone_server "$P_HTTP:tcp"

sidecar_config "$T/a.yaml" client foo client
cat >>"$T/a.yaml" <<EOF
hbone_port: $P_HB
listeners:
  - {name: out, direction: outbound, address: "127.0.0.1:$P_OUT", upstream: "127.0.0.1:$P_HTTP",
     tls: ISTIO_MUTUAL, transport: hbone, protocol: tcp}
EOF
sidecar_no_seccomp start_sidecar a "$T/a.yaml" "$P_OUT"

step "the tunnel comes up"
code=$(timeout 20 curl -sS -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P_OUT/warm") ||
    fail "curl through the pair failed"
assert_eq 200 "$code" "status"

step "32 busy keep-alive connections, both sidecars traced"
for s in a b; do strace_attach "$s" "$T/$s.strace" sendto,sendmsg,write,writev; done
timeout 30 wrk -t1 -c32 -d3s "http://127.0.0.1:$P_OUT/" >"$T/wrk.out" 2>&1 || fail "wrk failed: $(cat "$T/wrk.out")"
strace_detach
reqs=$(awk '/requests in/ {print $1}' "$T/wrk.out")
errs=$(awk '/Non-2xx|Socket errors/' "$T/wrk.out")
[ -z "$errs" ] || fail "wrk saw errors: $errs"
[ "${reqs:-0}" -ge 100 ] || fail "too few requests to judge: ${reqs:-0}"
for s in a b; do
    sends=$(grep -c -E '(sendto|sendmsg|write|writev)\(' "$T/$s.strace" || true)
    per=$(awk -v s="$sends" -v r="$reqs" 'BEGIN { printf "%.2f", s / r }')
    log "$s: $sends sends for $reqs requests ($per per request)"
    awk -v s="$sends" -v r="$reqs" 'BEGIN { exit !(s / r < 1.6) }' ||
        fail "$s: $per sends per request: the tunnel's sends are not shared by the streams"
done

alive a
alive b
log "ok"
