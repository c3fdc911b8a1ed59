#!/usr/bin/env bash
# Least privilege (proxy/control/sandbox.c) on the real sidecar: after start-up every
# thread has no_new_privs, no capability but CAP_NET_ADMIN (kept only when
# socket_mark is set) in its effective, permitted and bounding sets, and the
# seccomp filter (Seccomp: 2; 0 in sanitizer builds, which start without it).
# Under it the sidecar serves L4 and L7 (mTLS between two sidecars), answers
# the admin endpoints, reloads (SIGHUP, POST /reload), installs a rotated
# certificate (inotify), and drains and exits 0 with no "seccomp:" line.
# --no-seccomp gives Seccomp: 0 with the rest still applied.  That a
# forbidden syscall is refused is proved by test/unit/test_sandbox.c.
. "$(dirname "$0")/lib.sh"

certs
ROOT_RUN=0
[ "$(id -u)" = 0 ] && ROOT_RUN=1
WANT_SECCOMP=2
if sanitized; then WANT_SECCOMP=0; fi

mkdir -p "$T/bcerts"
cp "$CERTS/mesh-ca.crt" "$CERTS/mesh-ca.key" "$CERTS/server.crt" "$CERTS/server.key" "$CERTS/ca.crt" "$T/bcerts/"
"$GEN_CERTS" leaf "$T/bcerts" mesh server2 spiffe://cluster.local/ns/bar/sa/server \
    --cn server.bar.svc.cluster.local >/dev/null 2>&1 || fail "gen-certs.sh leaf server2"

P_APP=$(free_port); P_ECHO=$(free_port); P_IN=$(free_port); P_OUT=$(free_port); P_L4=$(free_port)
start_backend app --listen "127.0.0.1:$P_APP" --mode http --quiet
start_backend echo --listen "127.0.0.1:$P_ECHO" --mode echo --quiet

MARK=0
[ $ROOT_RUN = 1 ] && MARK=1337
# two workers each; B's certificates in $T/bcerts (rotated below); A also
# relays plain L4 and sets socket_mark when it can
mesh_pair http "127.0.0.1:$P_APP" workers=2 \
    b_sed="s|$CERTS/server|$T/bcerts/server|g; s|$CERTS/ca.crt|$T/bcerts/ca.crt|" \
    a_yaml="socket_mark: $MARK" \
    out_more="  - {name: l4, direction: outbound, address: \"127.0.0.1:$P_L4\", upstream: \"127.0.0.1:$P_ECHO\",
     tls: DISABLE, protocol: tcp}"

# status_field PID FIELD: the field from every thread's status, one per line, deduplicated
status_field() {
    local f
    for f in /proc/"$1"/task/*/status; do awk -v k="$2:" '$1 == k { print $2 }' "$f"; done | sort -u
}
# check_sandbox NAME SECCOMP CAPS(hex mask)
check_sandbox() {
    local pid n
    pid=$(pid_of "$1")
    n=$(ls /proc/"$pid"/task | wc -l)
    [ "$n" -ge 3 ] || fail "$1 has $n thread(s), expected the main thread and 2 workers at least"
    assert_eq "$2" "$(status_field "$pid" Seccomp)" "$1: Seccomp of every thread"
    assert_eq 1 "$(status_field "$pid" NoNewPrivs)" "$1: NoNewPrivs of every thread"
    # a blocked SIGSYS would kill without the handler's line
    for f in /proc/"$pid"/task/*/status; do
        assert_eq 0 "$(( 0x$(awk '$1 == "SigBlk:" { print $2 }' "$f") >> 30 & 1 ))" "$1: SIGSYS blocked in $f"
    done
    assert_eq "$3" "$(( 0x$(status_field "$pid" CapEff) ))" "$1: CapEff of every thread"
    assert_eq "$3" "$(( 0x$(status_field "$pid" CapPrm) ))" "$1: CapPrm of every thread"
    assert_eq 0 "$(( 0x$(status_field "$pid" CapInh) ))" "$1: CapInh of every thread"
    if [ $ROOT_RUN = 1 ]; then
        assert_eq "$3" "$(( 0x$(status_field "$pid" CapBnd) ))" "$1: CapBnd of every thread"
    fi
}

step "start-up: the log says what is on; /proc agrees for every thread"
if [ "$WANT_SECCOMP" = 2 ]; then
    assert_contains "$T/b.err" ' info sandbox: no_new_privs on, capabilities kept: none \(bounding set reduced to them\), seccomp on \([0-9]+ syscalls allowed\)$'
else
    assert_contains "$T/b.err" ' info sandbox: no_new_privs on, capabilities kept: none .*seccomp off \(sanitizer build\)$'
fi
check_sandbox b "$WANT_SECCOMP" 0
if [ $ROOT_RUN = 1 ]; then
    assert_contains "$T/a.err" ' info sandbox: no_new_privs on, capabilities kept: CAP_NET_ADMIN '
    check_sandbox a "$WANT_SECCOMP" $(( 1 << 12 ))
else
    check_sandbox a "$WANT_SECCOMP" 0
fi

step "L7 (mTLS between the sidecars) and L4 traffic"
for i in 1 2 3; do
    code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P_OUT/get?$i")
    assert_eq 200 "$code" "HTTP through a and b ($i)"
done
printf 'sandboxed\n' | tcp_client 127.0.0.1 "$P_L4" 2 >"$T/l4.reply" || true
assert_contains "$T/l4.reply" '^sandboxed$'

step "admin endpoints"
for path in /stats/prometheus /certs /server_info /healthz/ready; do
    curl -s -m 5 -o /dev/null "http://127.0.0.1:$A_ADMIN$path" || true
done
assert_eq 200 "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$A_ADMIN/stats/prometheus")" "/stats/prometheus"
assert_eq 200 "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$A_ADMIN/certs")" "/certs"

step "reloads: SIGHUP with a new listener, POST /reload"
P_L4B=$(free_port)
cat >>"$T/a.yaml" <<EOF
  - {name: l4b, direction: outbound, address: "127.0.0.1:$P_L4B", upstream: "127.0.0.1:$P_ECHO",
     tls: DISABLE, protocol: tcp}
EOF
kill -HUP "$(pid_of a)"
wait_for_log "$T/a.err" ' info reloaded ' 10
wait_port 127.0.0.1 "$P_L4B" 5
printf 'new-listener\n' | tcp_client 127.0.0.1 "$P_L4B" 2 >"$T/l4b.reply" || true
assert_contains "$T/l4b.reply" '^new-listener$'
assert_eq 200 "$(curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$B_ADMIN/reload")" "POST /reload"

step "certificate rotation (inotify) on b"
cp "$T/bcerts/server2.key" "$T/bcerts/server.key.new"
cp "$T/bcerts/server2.crt" "$T/bcerts/server.crt.new"
mv "$T/bcerts/server.key.new" "$T/bcerts/server.key"
mv "$T/bcerts/server.crt.new" "$T/bcerts/server.crt"
wait_for_log "$T/b.err" ' info certificates installed from files: .*snapshot [2-9]' 10
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P_OUT/get?after-rotation")
assert_eq 200 "$code" "HTTP after b's rotation"
alive a
alive b

step "drain and exit: status 0, no seccomp line"
stop a
assert_eq 0 "$STOP_RC" "a's exit status"
stop b
assert_eq 0 "$STOP_RC" "b's exit status"
assert_not_contains "$T/a.err" 'seccomp: forbidden'
assert_not_contains "$T/b.err" 'seccomp: forbidden'

step "--no-seccomp: Seccomp 0, capabilities and no_new_privs still applied"
sed -i "s/^socket_mark: .*/socket_mark: 0/" "$T/a.yaml"
sidecar_no_seccomp start_sidecar c "$T/a.yaml" "$P_OUT"
if sanitized; then
    assert_contains "$T/c.err" ' info sandbox: no_new_privs on, capabilities kept: none .*seccomp off \(sanitizer build\)$'
else
    assert_contains "$T/c.err" ' info sandbox: no_new_privs on, capabilities kept: none .*seccomp off \(--no-seccomp\)$'
fi
check_sandbox c 0 0
stop c
assert_eq 0 "$STOP_RC" "c's exit status"

log "ok"
