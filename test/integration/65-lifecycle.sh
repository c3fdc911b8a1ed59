#!/usr/bin/env bash
# Lifecycle: reload (SIGHUP and POST /reload) adds and removes listeners and
# changes modes for new connections without cutting open ones; a broken
# config is refused with file:line:col and the running one stays; SIGTERM
# and POST /quitquitquit drain: listeners close, readiness turns 503,
# in-flight connections finish, and the process exits 0.
. "$(dirname "$0")/lib.sh"

certs
P_ECHO=$(free_port); P_IN=$(free_port); P_NEW=$(free_port)
start_backend echo --listen "127.0.0.1:$P_ECHO" --mode echo

write_config() { # MODE [EXTRA-LISTENER]
    DRAIN_MS=7000 sidecar_config "$T/b.yaml.new" server bar server
    sed -i "s|^admin:.*|admin: {address: \"127.0.0.1:$ADMIN\"}|" "$T/b.yaml.new"
    cat >>"$T/b.yaml.new" <<EOF
listeners:
  - {name: in, direction: inbound, address: "127.0.0.1:$P_IN", upstream: "127.0.0.1:$P_ECHO", port: 8080}
EOF
    if [ -n "${2:-}" ]; then
        echo "  - {name: extra, direction: inbound, address: \"127.0.0.1:$P_NEW\", upstream: \"127.0.0.1:$P_ECHO\", port: 8080}" >>"$T/b.yaml.new"
    fi
    peer_auth "$T/b.yaml.new" "$1" bar
    mv "$T/b.yaml.new" "$T/b.yaml"
}
ADMIN=$(free_port)
write_config PERMISSIVE
start_sidecar b "$T/b.yaml" "$P_IN"
ready() { curl -s -o "$T/ready.body" -w '%{http_code}' "http://127.0.0.1:$ADMIN/healthz/ready"; }

step "PERMISSIVE: plaintext works; a long mesh connection is opened"
printf 'plain-1\n' | tcp_client 127.0.0.1 "$P_IN" 2 >"$T/p1.out"
assert_contains "$T/p1.out" '^plain-1$'
mkfifo "$T/long.in"
{ exec 4>"$T/long.in"; printf 'before\n' >&4; sleep 3; printf 'after\n' >&4; sleep 1; } &
_sc_track $! feeder backend
mesh_client "127.0.0.1:$P_IN" client istio 1 <"$T/long.in" >"$T/long.out" 2>/dev/null &
_sc_track $! longclient backend
wait_for_log "$T/long.out" '^before$'

step "reload to STRICT (SIGHUP) with a new listener: new plaintext refused, the open stream goes on"
write_config STRICT extra
kill -HUP "$(pid_of b)"
wait_for_log "$T/b.err" "listener extra on 127.0.0.1:$P_NEW added"
wait_port 127.0.0.1 "$P_NEW" 5
printf 'plain-2\n' | tcp_client 127.0.0.1 "$P_IN" 2 >"$T/p2.out" || true
assert_not_contains "$T/p2.out" '^plain-2$'
wait_for_log "$T/b.out" "$(conn_re listener=in mode=STRICT class=refused end=plaintext_refused_strict)"
printf 'mesh-new\n' | mesh_client "127.0.0.1:$P_NEW" client istio 1 >"$T/new.out" 2>/dev/null || true
assert_contains "$T/new.out" '^mesh-new$'
wait_for_log "$T/long.out" '^after$' 10

step "a broken config is refused with its position; the running config stays"
cp "$T/b.yaml" "$T/good.yaml"
sed -i '1i bogus_key: 1' "$T/b.yaml"
code=$(curl -s -o "$T/reload.body" -w '%{http_code}' -X POST "http://127.0.0.1:$ADMIN/reload")
assert_eq 400 "$code" "POST /reload of a broken config"
assert_contains "$T/reload.body" 'b.yaml:1:1: .*bogus_key'
assert_contains "$T/b.err" 'reload failed, keeping the running config: .*b.yaml:1:1: .*bogus_key'
printf 'mesh-still\n' | mesh_client "127.0.0.1:$P_NEW" client istio 1 >"$T/still.out" 2>/dev/null || true
assert_contains "$T/still.out" '^mesh-still$'

step "POST /reload drops the extra listener"
write_config STRICT
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$ADMIN/reload")
assert_eq 200 "$code" "POST /reload"
wait_for_log "$T/b.err" "listener extra on 127.0.0.1:$P_NEW removed"
wait_port_closed 127.0.0.1 "$P_NEW" 5

long_pid=$(pid_of longclient)
for _ in $(seq 1 100); do kill -0 "$long_pid" 2>/dev/null || break; sleep 0.1; done

step "SIGTERM drains: readiness 503, no new connections, the open one finishes, exit 0"
mkfifo "$T/d.in"
{ exec 5>"$T/d.in"; printf 'one\n' >&5; sleep 2; printf 'two\n' >&5; sleep 0.5; } &
_sc_track $! feeder2 backend
mesh_client "127.0.0.1:$P_IN" client istio 1 <"$T/d.in" >"$T/d.out" 2>/dev/null &
_sc_track $! drainclient backend
wait_for_log "$T/d.out" '^one$'
kill -TERM "$(pid_of b)"
wait_for_log "$T/b.err" 'draining: 1 connection\(s\) open'
assert_eq 503 "$(ready)" "readiness while draining"
assert_contains "$T/ready.body" 'draining'
if (exec 3<>"/dev/tcp/127.0.0.1/$P_IN") 2>/dev/null; then fail "still accepting while draining"; fi
wait_for_log "$T/d.out" '^two$' 10
wait_for_log "$T/b.err" 'drain: no connections left, exiting' 10
wait_exit b 10
assert_eq 0 "$STOP_RC" "exit status after the drain"

step "the admin endpoints on a Unix socket (0600); POST /quitquitquit there drains and exits too"
write_config STRICT
sed -i "s|^admin:.*|admin: {address: \"127.0.0.1:$ADMIN\", unix_socket: \"$T/admin.sock\"}|" "$T/b.yaml"
start_sidecar q "$T/b.yaml" "$P_IN"
assert_eq 600 "$(stat -c %a "$T/admin.sock")" "admin socket mode"
assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$T/admin.sock" http://admin/healthz/ready)" \
    "readiness over the admin Unix socket"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --unix-socket "$T/admin.sock" http://admin/quitquitquit)
assert_eq 200 "$code" "POST /quitquitquit"
wait_for_log "$T/q.err" 'drain: no connections left, exiting' 10
wait_exit q 10
assert_eq 0 "$STOP_RC" "exit status after /quitquitquit"
log "ok"
