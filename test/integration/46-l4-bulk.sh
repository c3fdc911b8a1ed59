#!/usr/bin/env bash
# A bulk L4 transfer through the pair (client → A → mTLS → B → backend):
# 64 MiB from the backend arrive whole and unchanged, and the relay moves a
# bulk direction 64 KiB at a time: A writes the plaintext to the client in
# sends of more than one 16 KiB record (with 16 KiB buffers it took one
# send per record: about 4,100 sends for 64 MiB), and B reads the
# backend's bytes the same way.  Counted with strace on both sidecars.
. "$(dirname "$0")/lib.sh"

command -v strace >/dev/null || skip "strace is missing"
SIZE=64m
SIZE_BYTES=$((64 * 1024 * 1024))
certs
P_SRC=$(free_port)
start_backend src --listen "127.0.0.1:$P_SRC" --mode source --bytes "$SIZE" --quiet
# the pair is traced by strace: no seccomp
sidecar_no_seccomp mesh_pair tcp "127.0.0.1:$P_SRC"

step "$SIZE from the backend through the pair, both sidecars traced"
for s in a b; do strace_attach "$s" "$T/$s.bulk.strace" sendto,recvfrom; done
timeout 100 python3 - "$P_OUT" >"$T/got" <<'PY' || fail "the transfer through the pair failed"
import hashlib, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=90)
s.shutdown(socket.SHUT_WR)
h = hashlib.sha256(); n = 0
while True:
    b = s.recv(1 << 20)
    if not b:
        break
    h.update(b); n += len(b)
print(n, h.hexdigest())
PY
strace_detach
assert_eq "$SIZE_BYTES $("$BACKEND" --gen "$SIZE" | sha256sum | cut -d' ' -f1)" "$(cat "$T/got")" \
    "bytes and sha256 the client received"

step "the bulk direction moved more than one 16 KiB record per call"
# sendto on A: nearly all towards the client (it sent nothing); recvfrom on
# B: nearly all from the backend.
a_sends=$(grep -c 'sendto(' "$T/a.bulk.strace" || true)
a_big=$(grep 'sendto(' "$T/a.bulk.strace" | awk '$NF + 0 > 16384' | wc -l)
b_recvs=$(grep -c 'recvfrom(' "$T/b.bulk.strace" || true)
b_big=$(grep 'recvfrom(' "$T/b.bulk.strace" | awk '$NF + 0 > 16384' | wc -l)
log "A: $a_sends sendto ($a_big of more than 16 KiB); B: $b_recvs recvfrom ($b_big of more than 16 KiB)"
assert_le "$a_sends" 3500 "A's sendto calls for $SIZE (4,096 at one per record)"
assert_le 500 "$a_big" "A's sendto calls of more than 16 KiB"
assert_le 500 "$b_big" "B's recvfrom calls of more than 16 KiB"
