#!/usr/bin/env bash
# What a user sees when the other side fails: an unreachable app or upstream
# (upstream_connect_failed), an upstream that resets, and an idle connection
# (idle_timeout).  The sidecar keeps serving afterwards.
. "$(dirname "$0")/lib.sh"

certs
CLIENT_ID=spiffe://cluster.local/ns/foo/sa/client
P_ECHO=$(free_port); P_RESET=$(free_port); P_DEAD=$(free_port)
P_IN_DEAD=$(free_port); P_IN_RESET=$(free_port); P_IN_ECHO=$(free_port)
P_OUT_DEAD=$(free_port); P_OUT_IDLE=$(free_port)
start_backend echo --listen "127.0.0.1:$P_ECHO" --mode echo
start_backend reset --listen "127.0.0.1:$P_RESET" --mode reset

IDLE_MS=1000 CONNECT_MS=1000 sidecar_config "$T/b.yaml" server bar server
cat >>"$T/b.yaml" <<EOF
listeners:
  - {name: in-dead, direction: inbound, address: "127.0.0.1:$P_IN_DEAD", upstream: "127.0.0.1:$P_DEAD",
     port: 8080, protocol: tcp}
  - {name: in-reset, direction: inbound, address: "127.0.0.1:$P_IN_RESET", upstream: "127.0.0.1:$P_RESET",
     port: 8080, protocol: tcp}
  - {name: in-echo, direction: inbound, address: "127.0.0.1:$P_IN_ECHO", upstream: "127.0.0.1:$P_ECHO",
     port: 8080, protocol: tcp}
  - {name: out-dead, direction: outbound, address: "127.0.0.1:$P_OUT_DEAD", upstream: "127.0.0.1:$P_DEAD",
     tls: ISTIO_MUTUAL, protocol: tcp}
  - {name: out-idle, direction: outbound, address: "127.0.0.1:$P_OUT_IDLE", upstream: "127.0.0.1:$P_ECHO",
     tls: DISABLE, protocol: tcp}
EOF
peer_auth "$T/b.yaml" STRICT bar
start_sidecar b "$T/b.yaml" "$P_IN_DEAD" "$P_IN_RESET" "$P_IN_ECHO" "$P_OUT_DEAD" "$P_OUT_IDLE"

step "inbound to an app that is not listening: upstream_connect_failed"
printf 'to-nowhere\n' | mesh_client "127.0.0.1:$P_IN_DEAD" client istio 1 >"$T/dead.reply" 2>"$T/dead.err" || true
assert_not_contains "$T/dead.reply" 'to-nowhere'
wait_for_log "$T/b.out" "$(conn_re dir=inbound listener=in-dead "peer=$CLIENT_ID" 'end=upstream_connect_failed:')"

step "outbound to an upstream that is not listening: upstream_connect_failed"
printf 'to-nowhere\n' | tcp_client 127.0.0.1 "$P_OUT_DEAD" 2 >"$T/odead.reply" || true
assert_not_contains "$T/odead.reply" 'to-nowhere'
wait_for_log "$T/b.out" "$(conn_re dir=outbound listener=out-dead 'end=upstream_connect_failed:')"

step "an app that resets: upstream_reset (or a failed connect)"
printf 'to-reset\n' | mesh_client "127.0.0.1:$P_IN_RESET" client istio 1 >"$T/reset.reply" 2>"$T/reset.err" || true
assert_not_contains "$T/reset.reply" 'to-reset'
wait_for_log "$T/b.out" "$(conn_re listener=in-reset 'end=upstream_(reset|connect_failed):')"

step "an idle connection is closed after idle_ms (1 s)"
start=$(date +%s%N)
timeout 15 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1"
    printf "still-here\n" >&3
    IFS= read -r -t 5 line <&3 || exit 2
    [ "$line" = still-here ] || exit 3
    # now silent: the sidecar must close within a few seconds
    IFS= read -r -t 8 more <&3
    rc=$?
    [ $rc -le 128 ] || exit 5     # still open after 8 s
    [ $rc -ne 0 ] || exit 4       # more data instead of a close
    exit 0
' _ "$P_OUT_IDLE" || fail "idle connection: client check failed (status $?)"
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
log "idle connection closed after ${elapsed_ms} ms"
[ "$elapsed_ms" -ge 800 ] || fail "idle connection closed too early (${elapsed_ms} ms < idle_ms 1000)"
[ "$elapsed_ms" -le 6000 ] || fail "idle connection closed too late (${elapsed_ms} ms)"
wait_for_log "$T/b.out" "$(conn_re listener=out-idle end=idle_timeout)"

step "the sidecar still serves"
printf 'still-serving\n' | mesh_client "127.0.0.1:$P_IN_ECHO" client istio 1 >"$T/ok.reply" 2>"$T/ok.err" || true
assert_contains "$T/ok.reply" '^still-serving$'
alive b
log "ok"
