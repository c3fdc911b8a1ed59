#!/usr/bin/env bash
# HTTP/1.1 at L7 on the raw I/O layer: 200 keep-alive requests on one
# connection through a pair (curl → A → pooled mTLS → B → backend) cost
# neither sidecar an epoll_ctl per request (each socket is registered once),
# a FIONREAD ioctl, or a MSG_PEEK recvfrom to check a pooled connection
# before reusing it.  Counted with strace on both sidecars: with the L7
# session on bufferevents the pair made about 6 epoll_ctl and one FIONREAD
# per request each.
. "$(dirname "$0")/lib.sh"

command -v strace >/dev/null || skip "strace is missing"
N=200
certs
P_APP=$(free_port)
start_backend app --listen "127.0.0.1:$P_APP" --mode http --quiet
# the pair is traced by strace: no seccomp
sidecar_no_seccomp mesh_pair http "127.0.0.1:$P_APP"

step "one request through the pair (the pools warm up)"
code=$(timeout 20 curl -sS -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P_OUT/warm") ||
    fail "curl through the pair failed"
assert_eq 200 "$code" "status"

step "$N keep-alive requests on one connection, both sidecars traced"
for s in a b; do strace_attach "$s" "$T/$s.strace" epoll_ctl,ioctl,recvfrom; done
timeout 60 curl -sS -m 50 -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$P_OUT/r[1-$N]" \
    >"$T/codes" || fail "curl through the pair failed"
assert_eq "$N" "$(grep -c '^200$' "$T/codes")" "responses with 200"
strace_detach

for s in a b; do
    ctl=$(grep -c 'epoll_ctl(' "$T/$s.strace" || true)
    fionread=$(grep -c 'FIONREAD' "$T/$s.strace" || true)
    peek=$(grep -c 'MSG_PEEK' "$T/$s.strace" || true)
    log "$s: epoll_ctl $ctl, FIONREAD $fionread, MSG_PEEK $peek for $N requests"
    # the new downstream connection and at most a few new pooled ones
    assert_le "$ctl" 10 "$s: epoll_ctl calls for $N requests"
    assert_eq 0 "$fionread" "$s: FIONREAD ioctls"
    assert_eq 0 "$peek" "$s: MSG_PEEK reads"
done

alive a
alive b
log "ok"
