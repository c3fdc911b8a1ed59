#!/usr/bin/env bash
# Out of file descriptors: the sidecar runs with a soft RLIMIT_NOFILE of 32
# under a hard limit of 100, raises it to 100 and says so at start-up.  Then
# 160 clients connect to a STRICT port and say nothing (each holds one
# descriptor until the handshake timeout), more than the limit allows.
# accept() fails with EMFILE: the worker stops accepting for a moment at a
# time instead of spinning, logs one line when the episode starts and one with
# the count when it ends, counts sidecar_accept_errors_total{reason="emfile"},
# and once the clients are gone accepts and serves a mesh client again.  The
# admin server, asked for /healthz/ready meanwhile, pauses too (libevent
# alone would retry and log "Error from accept() call" a million times a
# second) and answers again afterwards.
# exclusive: exhausts file descriptors
. "$(dirname "$0")/lib.sh"

certs
P_ECHO=$(free_port); P_IN=$(free_port)
CLIENTS=160
start_backend echo --listen "127.0.0.1:$P_ECHO" --mode echo --quiet

HS_MS=30000 sidecar_config "$T/b.yaml" server bar server
cat >>"$T/b.yaml" <<EOF
listeners:
  - {name: in, direction: inbound, address: "127.0.0.1:$P_IN", upstream: "127.0.0.1:$P_ECHO",
     port: 8080, protocol: tcp}
EOF
peer_auth "$T/b.yaml" STRICT bar
B_ADMIN=$ADMIN_PORT

# The sidecar under a low descriptor limit (soft 32, hard 100).
REAL_SIDECAR=$SIDECAR
SIDECAR=$T/sidecar-lowfd
cat >"$SIDECAR" <<EOF
#!/bin/sh
ulimit -S -n 32 && ulimit -H -n 100 || exit 1
exec "$REAL_SIDECAR" "\$@"
EOF
chmod +x "$SIDECAR"

step "start-up: RLIMIT_NOFILE raised to the hard limit and logged"
start_sidecar b "$T/b.yaml" "$P_IN"
assert_contains "$T/b.err" 'RLIMIT_NOFILE 100 \(was 32, hard limit 100\)'
assert_eq 100 "$(awk '/^Max open files/ { print $4 }' "/proc/$(pid_of b)/limits")" "sidecar's soft limit"

step "a mesh client is served before the storm"
printf 'before\n' | mesh_client "127.0.0.1:$P_IN" client istio 1 >"$T/before.reply" 2>"$T/before.err" || true
assert_contains "$T/before.reply" '^before$'

step "$CLIENTS silent clients exhaust the sidecar's descriptors"
# Each connects and holds its socket until $T/release appears (60 s at most).
spawn storm python3 -c '
import os, socket, sys, time
port, n, release = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    socks.append(s)
print("open", len(socks), flush=True)
for _ in range(600):
    if os.path.exists(release):
        break
    time.sleep(0.1)
for s in socks:
    s.close()
print("closed", flush=True)
' "$P_IN" "$CLIENTS" "$T/release"
wait_for_log "$T/storm.out" "^open $CLIENTS\$" 20
wait_for_log "$T/b.err" 'worker 0 listener in: accept failed: Too many open files' 10
# A readiness probe while out of descriptors: no answer, but no spin.
code=$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$B_ADMIN/healthz/ready" || true)
assert_eq 000 "$code" "/healthz/ready while out of descriptors"
# Let both try again a few times while still out of descriptors.
sleep 1
alive b
assert_eq 1 "$(count_lines "$T/b.err" 'worker 0 listener in: accept failed')" \
    "the worker's 'accept failed' lines during one episode"
assert_not_contains "$T/b.err" 'Error from accept'
assert_le "$(wc -l <"$T/b.err")" 10 "lines in the sidecar's log while out of descriptors"

step "the clients leave: the sidecar accepts again and says how many accepts failed"
touch "$T/release"
wait_for_log "$T/storm.out" '^closed$' 10
wait_for_log "$T/b.err" 'worker 0: accepting again after [0-9]+ failed accept\(\) call\(s\) over [0-9]+ ms' 10
printf 'after\n' | mesh_client "127.0.0.1:$P_IN" client istio 1 >"$T/after.reply" 2>"$T/after.err" || true
assert_contains "$T/after.reply" '^after$'
# While the backlog of closed clients is accepted the worker may run out
# again: each episode has one line when it starts and one when it ends.
episodes=$(count_lines "$T/b.err" 'worker 0 listener in: accept failed')
assert_eq "$episodes" "$(count_lines "$T/b.err" 'worker 0: accepting again')" "episodes started and ended"
assert_le "$episodes" 5 "episodes"
refused=$(sed -n 's/.*worker 0: accepting again after \([0-9]*\) failed accept.*/\1/p' "$T/b.err" |
    awk '{ n += $1 } END { print n + 0 }')
# A worker that spins retries millions of times; one that pauses, a few per
# 100 ms of the episode.
[ "$refused" -ge 1 ] && [ "$refused" -lt 1000 ] || fail "failed accept() calls: $refused"
assert_le "$(wc -l <"$T/b.err")" 40 "lines in the sidecar's log"

code=$(curl -s -m 5 -o "$T/ready.body" -w '%{http_code}' "http://127.0.0.1:$B_ADMIN/healthz/ready" || true)
assert_eq 200 "$code" "/healthz/ready afterwards"
assert_not_contains "$T/b.err" 'Error from accept'

step "the refused accepts are counted"
curl -sS -m 5 "http://127.0.0.1:$B_ADMIN/stats/prometheus" >"$T/b.prom" || fail "scraping /stats/prometheus"
emfile=$(awk '$1 == "sidecar_accept_errors_total{reason=\"emfile\"}" { print $2 }' "$T/b.prom")
assert_eq "$refused" "$emfile" 'sidecar_accept_errors_total{reason="emfile"}'

log "ok: $refused refused accepts in $episodes episode(s), served again afterwards"
