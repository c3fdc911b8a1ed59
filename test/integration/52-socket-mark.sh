#!/usr/bin/env bash
# socket_mark without CAP_NET_ADMIN fails loudly: the sidecar, started with
# CAP_NET_ADMIN (and CAP_NET_RAW, which also allows SO_MARK since Linux 5.17)
# dropped from its capability sets, logs an ERROR at start-up
# and answers readiness with 503 and the reason (instead of LIVE while every
# outbound connection fails).  A reload to socket_mark: 0 makes it LIVE and
# serving; with the capability, the same config is LIVE from the start.
. "$(dirname "$0")/lib.sh"

command -v setpriv >/dev/null 2>&1 || skip "setpriv (util-linux) is not installed"
[ "$(id -u)" = 0 ] || skip "needs root (to have CAP_NET_ADMIN to drop)"

certs
P_ECHO=$(free_port); P_OUT=$(free_port)
start_backend echo --listen "127.0.0.1:$P_ECHO" --mode echo --quiet

# config FILE MARK
config() {
    sidecar_config "$1.new" client foo client
    cat >>"$1.new" <<EOF
socket_mark: $2
listeners:
  - {name: out, direction: outbound, address: "127.0.0.1:$P_OUT", upstream: "127.0.0.1:$P_ECHO",
     tls: DISABLE, protocol: tcp}
EOF
    mv "$1.new" "$1"
}

# ready ADMIN_PORT NAME: /healthz/ready's status (body in $T/NAME.ready)
ready() {
    curl -s -m 5 -o "$T/$2.ready" -w '%{http_code}' "http://127.0.0.1:$1/healthz/ready"
}

step "without CAP_NET_ADMIN: an ERROR at start-up and readiness 503 with the reason"
config "$T/a.yaml" 1337
A_ADMIN=$ADMIN_PORT
REAL_SIDECAR=$SIDECAR
SIDECAR=$T/sidecar-nocap
cat >"$SIDECAR" <<EOF
#!/bin/sh
exec setpriv --inh-caps=-net_admin,-net_raw --bounding-set=-net_admin,-net_raw -- "$REAL_SIDECAR" "\$@"
EOF
chmod +x "$SIDECAR"
start_sidecar a "$T/a.yaml" "$P_OUT"
SIDECAR=$REAL_SIDECAR
capeff=0x$(awk '/^CapEff:/ { print $2 }' "/proc/$(pid_of a)/status")
assert_eq 0 "$(( capeff >> 12 & 1 ))" "CAP_NET_ADMIN in the sidecar's effective set"
assert_eq 0 "$(( capeff >> 13 & 1 ))" "CAP_NET_RAW in the sidecar's effective set"
assert_contains "$T/a.err" ' error socket_mark: cannot set SO_MARK 1337: Operation not permitted \(needs CAP_NET_ADMIN\); every outbound connection will fail'
assert_eq 503 "$(ready "$A_ADMIN" a)" "/healthz/ready without CAP_NET_ADMIN"
assert_contains "$T/a.ready" '^not ready: socket_mark: cannot set SO_MARK 1337: Operation not permitted \(needs CAP_NET_ADMIN\)$'
printf 'marked\n' | tcp_client 127.0.0.1 "$P_OUT" 2 >"$T/marked.reply" || true
assert_not_contains "$T/marked.reply" '^marked$'
wait_for_log "$T/a.out" "$(conn_re listener=out 'end=upstream_connect_failed: cannot set SO_MARK 1337')"

step "a reload to socket_mark: 0 makes it LIVE and serving"
config "$T/a.yaml" 0
code=$(curl -s -o "$T/reload.body" -w '%{http_code}' -X POST "http://127.0.0.1:$A_ADMIN/reload")
assert_eq 200 "$code" "POST /reload"
assert_eq 200 "$(ready "$A_ADMIN" a2)" "/healthz/ready after the reload"
assert_contains "$T/a2.ready" '^LIVE$'
assert_contains "$T/a.err" ' info socket_mark 0: outbound connections can open again'
printf 'unmarked\n' | tcp_client 127.0.0.1 "$P_OUT" 2 >"$T/unmarked.reply" || true
assert_contains "$T/unmarked.reply" '^unmarked$'
stop a

step "with CAP_NET_ADMIN the same socket_mark is LIVE from the start"
config "$T/b.yaml" 1337
B_ADMIN=$ADMIN_PORT
start_sidecar b "$T/b.yaml" "$P_OUT"
assert_eq 200 "$(ready "$B_ADMIN" b)" "/healthz/ready with CAP_NET_ADMIN"
assert_not_contains "$T/b.err" 'socket_mark'
printf 'with-cap\n' | tcp_client 127.0.0.1 "$P_OUT" 2 >"$T/with-cap.reply" || true
assert_contains "$T/with-cap.reply" '^with-cap$'

log "ok"
