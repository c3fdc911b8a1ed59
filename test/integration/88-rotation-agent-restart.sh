#!/usr/bin/env bash
# The certificate server goes away and comes back, under traffic.  Two
# sds-agents (ca mode, one CA) feed sidecars A (outbound) and B (inbound
# STRICT).  B's agent is killed (SIGKILL: no goodbye, a stale socket left
# behind) while a long-lived stream and a new connection every 200 ms run
# through A -> B:
#   - traffic continues, new handshakes with B still work and present the
#     certificate B held, readiness stays 200, sidecar_sds_connected is 0;
#   - restarted (replacing the stale socket), the agent is found again: B
#     reconnects and resubscribes (sidecar_sds_connects_total 2, connected 1)
#     and installs the new agent's certificate;
#   - nothing failed, the stream had no gap over 1 s.
# Then the converse: with the agent gone for good, readiness stays 200 while
# the held certificate is valid and turns 503, saying why, once it expires.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"

MAX_GAP_MS=1000

step "two agents, two sidecars, traffic through A -> B"
make_cacerts "$T/cacerts" rs
ca_agent_config "$T/agent-a.yaml" "$T/a.sock" "$T/cacerts" foo client "lifetime: 1h"
ca_agent_config "$T/agent-b.yaml" "$T/b.sock" "$T/cacerts" bar server "lifetime: 1h"
start_agent agent-a "$T/agent-a.yaml"
start_agent agent-b "$T/agent-b.yaml"
sds_pair "$T/a.sock" "$T/b.sock"
probe_cert "$T/probe" rs spiffe://cluster.local/ns/foo/sa/probe
traffic_start stream stream "127.0.0.1:$P_OUT" -i 100 -t 2500
traffic_start loop loop "127.0.0.1:$P_OUT" -i 200 -t 3000
held=$(sds_table_serial "$B_ADMIN")
assert_eq "$held" "$(probe_serial "127.0.0.1:$P_IN" "$T/probe")" "serial presented before the restart"
assert_eq 1 "$(sds_metric "$B_ADMIN" sidecar_sds_connected)" "B: SDS connected"
assert_eq 1 "$(sds_metric "$B_ADMIN" sidecar_sds_connects_total)" "B: SDS connects"

step "B's agent is killed: B keeps serving what it holds"
down_at=$(date +%s)
kill -KILL "$(pid_of agent-b)"
stop agent-b                        # reaps it
[ -S "$T/b.sock" ] || fail "expected the killed agent's stale socket to be left behind"
wait_for_log "$T/b.err" 'SDS stream closed \(.*\); keeping the current certificates, reconnecting' 10
i=0
while [ "$(sds_metric "$B_ADMIN" sidecar_sds_connected)" != 0 ]; do
    [ $i -lt 50 ] || fail "sidecar_sds_connected still $(sds_metric "$B_ADMIN" sidecar_sds_connected) with the agent gone"
    sleep 0.1
    i=$((i + 1))
done
fails_before=$(grep -c '^FAIL' "$T/loop.out" || true)
ok_before=$(grep '^PROGRESS' "$T/loop.out" | tail -n 1 | sed 's/.* ok=\([0-9]*\).*/\1/')
for k in 1 2 3 4 5 6; do   # ~3 s without an agent
    assert_eq 200 "$(sds_ready_code "$B_ADMIN")" "B readiness with its agent gone ($k)"
    assert_eq "$held" "$(probe_serial "127.0.0.1:$P_IN" "$T/probe")" "serial presented with the agent gone ($k)"
    printf 'while-down-%s\n' "$k" | tcp_client 127.0.0.1 "$P_OUT" 2 >"$T/down.out" || true
    assert_eq "while-down-$k" "$(cat "$T/down.out")" "a new connection through A -> B with B's agent gone"
    sleep 0.3
done
ok_during=$(grep '^PROGRESS' "$T/loop.out" | tail -n 1 | sed 's/.* ok=\([0-9]*\).*/\1/')
[ "$ok_during" -gt "$ok_before" ] || fail "the connection loop made no progress while the agent was down"
assert_eq "$fails_before" "$(grep -c '^FAIL' "$T/loop.out" || true)" "loop failures while the agent was down"
assert_eq 1 "$(sds_metric "$B_ADMIN" sidecar_sds_connects_total)" "B: SDS connects while the agent is down"

step "the agent restarts on the stale socket: B reconnects, resubscribes, installs its certificate"
start_agent agent-b2 "$T/agent-b.yaml"
restart_at=$(date +%s)
wait_for_log "$T/agent-b2.err" 'sds stream=1 uid=[0-9]+ pid=[0-9]+ node=server: subscribed \(default, ROOTCA\)' 40
wait_for_log "$T/agent-b2.err" 'sds ACK stream=1 uid=[0-9]+ node=server ' 10
log "B was without its agent for $((restart_at - down_at))s and back within $(( $(date +%s) - restart_at ))s of the restart"
assert_eq 1 "$(sds_metric "$B_ADMIN" sidecar_sds_connected)" "B: SDS connected again"
assert_eq 2 "$(sds_metric "$B_ADMIN" sidecar_sds_connects_total)" "B: SDS connects after the restart"
new=$(grep -o 'ca: issued spiffe://cluster.local/ns/bar/sa/server serial=[0-9A-F]*' "$T/agent-b2.err" | tail -n 1 |
    sed 's/.*serial=//' | norm_serial)
assert_ne "$held" "$new" "the restarted agent's certificate"
i=0
while [ "$(sds_table_serial "$B_ADMIN")" != "$new" ]; do
    [ $i -lt 50 ] || fail "B's /certs shows $(sds_table_serial "$B_ADMIN"), not the new agent's $new"
    sleep 0.1
    i=$((i + 1))
done
assert_eq "$new" "$(probe_serial "127.0.0.1:$P_IN" "$T/probe")" "serial presented after the restart"
assert_eq 200 "$(sds_ready_code "$B_ADMIN")" "B readiness after the restart"
sleep 1

step "the load never failed"
traffic_stop loop
traffic_stop stream
traffic_summary
traffic_check_loop loop 20
traffic_check_stream stream "$MAX_GAP_MS"
assert_eq 0 "$(sds_metric "$B_ADMIN" 'sidecar_sds_pushes_total{result="rejected"}')" "B: rejected pushes"

step "the agent goes for good: readiness stays 200 while the held certificate is valid, then 503"
stop agent-b2
ca_agent_config "$T/agent-b3.yaml" "$T/b.sock" "$T/cacerts" bar server "lifetime: 6s, renew_at: 0.9, jitter: 0"
start_agent agent-b3 "$T/agent-b3.yaml"
wait_for_log "$T/agent-b3.err" 'sds ACK stream=1 uid=[0-9]+ node=server ' 40
stop agent-b3
short=$(grep -o 'ca: issued spiffe://cluster.local/ns/bar/sa/server serial=[0-9A-F]* not_after=[^ ]*' "$T/agent-b3.err" | tail -n 1)
not_after=$(date -u -d "$(echo "$short" | sed 's/.*not_after=//')" +%s)
assert_eq "$(echo "$short" | sed 's/.*serial=\([0-9A-F]*\).*/\1/' | norm_serial)" "$(sds_table_serial "$B_ADMIN")" \
    "B holds the short-lived certificate"
wait_for_log "$T/b.err" 'SDS stream closed' 10
codes=""
while [ "$(date +%s)" -le $((not_after + 3)) ]; do
    code=$(sds_ready_code "$B_ADMIN")
    now=$(date +%s)
    if [ "$now" -lt "$not_after" ]; then
        assert_eq 200 "$code" "B readiness $((not_after - now))s before its certificate expires"
    fi
    codes="$codes $code"
    sleep 0.25
done
assert_eq 503 "$(sds_ready_code "$B_ADMIN")" "B readiness after its certificate expired"
assert_contains "$T/ready.body" 'expired'
log "readiness: $(echo "$codes" | tr ' ' '\n' | sed '/^$/d' | uniq -c | awk '{ printf "%s x%s, ", $2, $1 }')"
log "ready body: $(cat "$T/ready.body")"
sds_table "$B_ADMIN" >"$T/table.txt"
assert_contains "$T/table.txt" '^default +Cert Chain +EXPIRED +false '

alive a
alive b
log "ok"
