#!/usr/bin/env bash
# The access log in Envoy's and Istio's formats:
#  - an L4 (protocol tcp) connection gets one access-log line, as Envoy's TCP
#    proxy writes it: "- - -" for the request, code 0, the bytes each way,
#    the duration, the flags (UF when the upstream was never reached) and the
#    upstream host; in the text and JSON formats alike.
. "$(dirname "$0")/lib.sh"

certs
P_APP=$(free_port); P_DEAD=$(free_port)
start_backend app --listen "127.0.0.1:$P_APP" --mode echo

# tcp_sidecar NAME FORMAT: a single sidecar, access log in FORMAT to
# $T/NAME-access.log, an L4 listener to the echo backend (port P_<NAME>_OK)
# and one to a port nothing listens on (P_<NAME>_DEAD).
tcp_sidecar() {
    local name=$1 fmt=$2 ok dead
    ok=$(free_port); dead=$(free_port)
    sidecar_config "$T/$name.yaml" client foo client
    cat >>"$T/$name.yaml" <<EOF
access_log: {path: "$T/$name-access.log", format: $fmt}
listeners:
  - {name: ok, direction: outbound, address: "127.0.0.1:$ok", upstream: "127.0.0.1:$P_APP",
     tls: DISABLE, protocol: tcp}
  - {name: dead, direction: outbound, address: "127.0.0.1:$dead", upstream: "127.0.0.1:$P_DEAD",
     tls: DISABLE, protocol: tcp}
EOF
    start_sidecar "$name" "$T/$name.yaml" "$ok" "$dead"
    OK_PORT=$ok
    DEAD_PORT=$dead
}

step "text: a relayed TCP connection: - - -, code 0, bytes each way, upstream host"
tcp_sidecar t text
out=$(printf 'hello world\n' | tcp_client 127.0.0.1 "$OK_PORT" 1)
assert_eq "hello world" "$out" "echo through the L4 listener"
wait_for_log "$T/t-access.log" '^\[[0-9T:.-]+Z\] "- - -" 0 - 12 12 [0-9]+ - "-" "-" "-" "-" "127\.0\.0\.1:'"$P_APP"'" "-" -$'

step "text: the upstream refuses: UF, no bytes"
printf 'x\n' | tcp_client 127.0.0.1 "$DEAD_PORT" 1 >/dev/null || true
wait_for_log "$T/t-access.log" '^\[[0-9T:.-]+Z\] "- - -" 0 UF 0 0 [0-9]+ - "-" "-" "-" "-" "127\.0\.0\.1:'"$P_DEAD"'" "-" -$'
assert_eq 2 "$(count_lines "$T/t-access.log" '.')" "one line per connection"

step "json: the same, with Istio's keys"
tcp_sidecar j json
printf 'hello\n' | tcp_client 127.0.0.1 "$OK_PORT" 1 >/dev/null
printf 'x\n' | tcp_client 127.0.0.1 "$DEAD_PORT" 1 >/dev/null || true
wait_for_count "$T/j-access.log" '.' 2
python3 - "$T/j-access.log" "$P_APP" "$P_DEAD" <<'EOF' || fail "JSON TCP access-log lines"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
ok = [l for l in lines if l["upstream_host"] == "127.0.0.1:" + sys.argv[2]][0]
dead = [l for l in lines if l["upstream_host"] == "127.0.0.1:" + sys.argv[3]][0]
assert ok["method"] is None and ok["path"] is None and ok["protocol"] is None, ok
assert ok["response_code"] == 0 and ok["response_flags"] == "-", ok
assert ok["bytes_received"] == 6 and ok["bytes_sent"] == 6, ok
assert isinstance(ok["duration"], int), ok
assert dead["response_flags"] == "UF" and dead["bytes_sent"] == 0, dead
EOF

log "ok"
