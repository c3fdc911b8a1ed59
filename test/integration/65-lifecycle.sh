#!/usr/bin/env bash
# Lifecycle: reload (SIGHUP and POST /reload) adds and removes listeners and
# changes modes for new connections without cutting open ones; a broken
# config is refused with file:line:col and the running one stays; SIGTERM
# and POST /quitquitquit drain: listeners close, readiness turns 503,
# in-flight connections finish, and the process exits 0.  A reload that
# changes a route (upstream and TLS mode) applies to new connections while
# an open one stays on the old route.  POST /drain on an HTTP listener
# closes an idle keep-alive connection at once and ends the in-flight
# response with Connection: close; a connection still busy at
# timeouts.drain_ms does not hold the exit (status 0 at the deadline).
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
CLIENT_ID=spiffe://cluster.local/ns/foo/sa/client
SERVER_ID=spiffe://cluster.local/ns/bar/sa/server

# read_line FD WHAT: one line from FD (5 s at most), CR removed, in $LINE.
read_line() {
    IFS= read -r -t 5 -u "$1" LINE || fail "no line from $2 within 5 s"
    LINE=${LINE%$'\r'}
}

# read_response FD: prints one Content-Length framed HTTP/1.1 response read
# from FD (head lines without CR, an empty line, the body).
read_response() {
    local fd=$1 len=0 body i
    for ((i = 0; i < 100; i++)); do
        read_line "$fd" "the response head"
        [ -n "$LINE" ] || break
        printf '%s\n' "$LINE"
        case ${LINE,,} in content-length:*) len=${LINE#*:} && len=${len// /} ;; esac
    done
    printf '\n'
    if [ "$len" -gt 0 ]; then
        IFS= read -r -t 5 -N "$len" -u "$fd" body || fail "short response body (want $len bytes)"
        printf '%s' "$body"
    fi
}

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

step "a reload that changes a route: new connections take the new one, an open one keeps the old"
# r: outbound "out", first plaintext to a banner backend, then (reloaded)
# ISTIO_MUTUAL to b's STRICT listener "in" (-> echo)
P_OLD=$(free_port); P_R=$(free_port)
start_backend old --listen "127.0.0.1:$P_OLD" --mode banner --banner "old-route"$'\n'
sidecar_config "$T/r.head" client foo client
write_route() { # FIELDS of the listener "out"
    { cat "$T/r.head"; echo "listeners:"
      echo "  - {name: out, direction: outbound, address: \"127.0.0.1:$P_R\", protocol: tcp, $1}"; } >"$T/r.yaml.new"
    mv "$T/r.yaml.new" "$T/r.yaml"
}
write_route "upstream: \"127.0.0.1:$P_OLD\", tls: DISABLE"
start_sidecar r "$T/r.yaml" "$P_R"
exec 8<>"/dev/tcp/127.0.0.1/$P_R"
read_line 8 "the old route"
assert_eq old-route "$LINE" "banner on the connection opened before the reload"
printf 'o1\n' >&8
read_line 8 "the old route"
assert_eq o1 "$LINE" "echo before the reload"
mesh_re=$(conn_re listener=in mode=STRICT class=mesh_mtls "peer=$CLIENT_ID")
n_mesh=$(count_lines "$T/b.out" "$mesh_re")
write_route "upstream: \"127.0.0.1:$P_IN\", tls: ISTIO_MUTUAL, expected_identities: [\"$SERVER_ID\"]"
kill -HUP "$(pid_of r)"
wait_for_log "$T/r.err" "reloaded $T/r.yaml"
assert_not_contains "$T/r.err" 'reload failed'
printf 'new-route\n' | tcp_client 127.0.0.1 "$P_R" 2 >"$T/r-new.out"
assert_contains "$T/r-new.out" '^new-route$'
assert_not_contains "$T/r-new.out" 'old-route'
wait_for_log "$T/r.out" "$(conn_re dir=outbound listener=out mode=ISTIO_MUTUAL "up=127.0.0.1:$P_IN" 'tls=TLSv1\.[23]' "peer=$SERVER_ID")"
wait_for_count "$T/b.out" "$mesh_re" $((n_mesh + 1))
# the connection from before the reload still works, on the old route
printf 'o2\n' >&8
read_line 8 "the old route after the reload"
assert_eq o2 "$LINE" "echo on the old route after the reload"
exec 8>&-
wait_for_log "$T/r.out" "$(conn_re dir=outbound listener=out mode=DISABLE class=plaintext "up=127.0.0.1:$P_OLD" tls=- peer=- end=peer_closed)"
assert_eq 1 "$(count_lines "$T/r.out" "$(conn_re listener=out "up=127.0.0.1:$P_OLD")")" "connections on the old route"
stop r
assert_eq 0 "$STOP_RC" "exit status of r"

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
wait_port_closed 127.0.0.1 "$P_IN" 2
if (exec 3<>"/dev/tcp/127.0.0.1/$P_IN") 2>/dev/null; then fail "still accepting while draining"; fi
wait_for_log "$T/d.out" '^two$' 10
wait_for_log "$T/b.err" 'drain: no connections left, exiting' 10
wait_exit b 10
assert_eq 0 "$STOP_RC" "exit status after the drain"

step "POST /drain on an HTTP listener: idle keep-alive closed at once, the in-flight response ends with Connection: close, exit 0"
P_APP=$(free_port); P_H=$(free_port)
start_backend app --listen "127.0.0.1:$P_APP" --mode http
DRAIN_MS=7000 sidecar_config "$T/h.yaml" client foo client
H_ADMIN=$ADMIN_PORT
cat >>"$T/h.yaml" <<EOF
listeners:
  - {name: web, direction: outbound, address: "127.0.0.1:$P_H", upstream: "127.0.0.1:$P_APP", tls: DISABLE, protocol: http}
EOF
start_sidecar h "$T/h.yaml" "$P_H"
exec 7<>"/dev/tcp/127.0.0.1/$P_H"
printf 'GET /say/idle HTTP/1.1\r\nHost: app\r\n\r\n' >&7
read_response 7 >"$T/idle.resp"
assert_contains "$T/idle.resp" '^HTTP/1\.1 200 '
assert_contains "$T/idle.resp" '^idle$'
assert_not_contains "$T/idle.resp" '^[Cc]onnection: *close'
timeout 15 curl -sS -m 10 -D "$T/slow.hdr" -o "$T/slow.body" "http://127.0.0.1:$P_H/delay/2000" 2>"$T/slow.err" &
slow_pid=$!
_sc_track "$slow_pid" slowclient backend
wait_for_log "$T/app.out" '^req [0-9]+ GET /delay/2000$' 5
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$H_ADMIN/drain")
assert_eq 200 "$code" "POST /drain"
wait_for_log "$T/h.err" 'draining: 2 connection\(s\) open, deadline 7000 ms'
assert_eq 503 "$(curl -s -o "$T/ready.body" -w '%{http_code}' "http://127.0.0.1:$H_ADMIN/healthz/ready")" "readiness while draining"
assert_contains "$T/ready.body" 'draining'
wait_port_closed 127.0.0.1 "$P_H" 2
if (exec 3<>"/dev/tcp/127.0.0.1/$P_H") 2>/dev/null; then fail "still accepting while draining"; fi
rc=0
IFS= read -r -t 1.5 -u 7 LINE || rc=$?
assert_eq 1 "$rc" "read on the idle keep-alive connection (1: EOF; >128: still open)"
exec 7<&-
kill -0 "$slow_pid" 2>/dev/null || fail "the slow request ended before the idle connection was closed"
wait "$slow_pid" || fail "the in-flight request failed: $(cat "$T/slow.err")"
assert_contains "$T/slow.hdr" '^HTTP/1\.1 200 '
assert_contains "$T/slow.hdr" '^[Cc]onnection: close'$'\r''?$'
assert_eq "hello from backend" "$(cat "$T/slow.body")" "body of the in-flight response"
wait_for_log "$T/h.err" 'drain: no connections left, exiting' 5
assert_not_contains "$T/h.err" 'deadline reached'
wait_exit h 5
assert_eq 0 "$STOP_RC" "exit status after POST /drain"

step "SIGTERM with a connection busy past timeouts.drain_ms: the process exits 0 at the deadline"
P_D=$(free_port)
DRAIN_MS=1500 sidecar_config "$T/d.yaml" client foo client
cat >>"$T/d.yaml" <<EOF
listeners:
  - {name: busy, direction: outbound, address: "127.0.0.1:$P_D", upstream: "127.0.0.1:$P_ECHO", tls: DISABLE, protocol: tcp}
EOF
start_sidecar d "$T/d.yaml" "$P_D"
mkfifo "$T/busy.in"
{ exec 6>"$T/busy.in"; for i in $(seq 1 40); do printf 'tick %d\n' "$i" >&6 || break; sleep 0.2; done; } &
_sc_track $! feeder3 backend
timeout 20 socat -T 10 - "TCP:127.0.0.1:$P_D" <"$T/busy.in" >"$T/busy.out" 2>/dev/null &
_sc_track $! busyclient backend
wait_for_log "$T/busy.out" '^tick 2$' 5
t0=$(date +%s%N)
kill -TERM "$(pid_of d)"
wait_for_log "$T/d.err" 'draining: 1 connection\(s\) open, deadline 1500 ms' 2
ticks0=$(count_lines "$T/busy.out" '^tick ')
wait_exit d 6
ms=$((($(date +%s%N) - t0) / 1000000))
log "d exited ${ms} ms after SIGTERM (drain_ms 1500)"
assert_eq 0 "$STOP_RC" "exit status at the drain deadline"
assert_contains "$T/d.err" 'drain: deadline reached, exiting'
assert_le 1400 "$ms" "ms from SIGTERM to the exit (not before the deadline)"
assert_le "$ms" 3500 "ms from SIGTERM to the exit (soon after the deadline)"
assert_le $((ticks0 + 3)) "$(count_lines "$T/busy.out" '^tick ')" "ticks echoed while draining"
assert_contains "$T/d.out" "$(conn_re listener=busy class=plaintext end=shutdown)"

step "the admin endpoints on a Unix socket (0600); POST /quitquitquit there drains and exits too"
write_config STRICT
sed -i "s|^admin:.*|admin: {address: \"127.0.0.1:$ADMIN\", unix_socket: \"$T/admin.sock\"}|" "$T/b.yaml"
start_sidecar q "$T/b.yaml" "$P_IN"
assert_eq 600 "$(stat -c %a "$T/admin.sock")" "admin socket mode"
assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$T/admin.sock" http://admin/healthz/ready)" \
    "readiness over the admin Unix socket"

step "/logging shows and changes the log level, as Envoy's does"
lg() { curl -s -o "$T/logging.body" -w '%{http_code}' --unix-socket "$T/admin.sock" "$@"; }
assert_eq 200 "$(lg http://admin/logging)" "GET /logging"
assert_contains "$T/logging.body" '^  sidecar: info$'
assert_eq 405 "$(lg "http://admin/logging?level=debug")" "GET /logging?level=debug"
assert_eq 400 "$(lg -X POST "http://admin/logging?level=verbose")" "POST /logging?level=verbose"
assert_contains "$T/logging.body" 'unknown level "verbose"'
assert_eq 200 "$(lg -X POST "http://admin/logging?level=debug")" "POST /logging?level=debug"
assert_contains "$T/logging.body" '^  sidecar: debug$'
wait_for_log "$T/q.err" 'info admin: log level set to debug'
assert_eq 200 "$(lg -X POST "http://admin/logging?level=warn")" "POST /logging?level=warn"
assert_contains "$T/logging.body" '^  sidecar: warn$'

code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --unix-socket "$T/admin.sock" http://admin/quitquitquit)
assert_eq 200 "$code" "POST /quitquitquit"
wait_exit q 10
assert_eq 0 "$STOP_RC" "exit status after /quitquitquit"
log "ok"
