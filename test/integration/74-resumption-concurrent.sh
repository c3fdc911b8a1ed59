#!/usr/bin/env bash
# New L4 connections through a sidecar pair, eight at a time: nearly every
# mTLS handshake between the sidecars is a resumption.
#  - the client side gives each new upstream connection its own copy of the
#    last ticket.  With one SSL_SESSION shared by every connection, OpenSSL's
#    TLS 1.3 client marked it not resumable as soon as one handshake with it
#    finished, and the connections opened before the next ticket arrived did
#    full handshakes (12-29 % of them in a benchmark);
#  - the server side issues stateful tickets from a bounded session cache:
#    a resumed connection still knows its peer (the identity check and the
#    connection log's peer= use the certificate from the cached session).
# B's connection log says which handshakes were full: session=full or
# session=resumed (peer_root= names the root either way: for a resumption,
# the root of the full handshake it came from).
# exclusive: counts connections made in a fixed time and measures memory
. "$(dirname "$0")/lib.sh"

certs
CLIENT_ID=spiffe://cluster.local/ns/foo/sa/client
PARALLEL=8
SECONDS_EACH=4

P_APP=$(free_port); P_OUT=$(free_port)
start_backend app --listen "127.0.0.1:$P_APP" --mode echo --quiet

# two workers at B: the session cache belongs to the snapshot's context,
# shared by the workers, so a ticket from one is resumed by the other
mesh_pair tcp "127.0.0.1:$P_APP" b_workers=2 port=9000

TRAFFIC=$SC_BUILD/tools/traffic
[ -x "$TRAFFIC" ] || fail "no traffic tool at $TRAFFIC (run make tools)"

step "one connection first, so A holds a ticket"
spawn first "$TRAFFIC" loop "127.0.0.1:$P_OUT" -i 100 -d 1
wait_exit first 15
assert_eq 0 "$STOP_RC" "the first connection"

rss_b0=$(rss_kb "$(pid_of b)")

step "$PARALLEL clients open connections back to back for ${SECONDS_EACH} s"
for ((i = 0; i < PARALLEL; i++)); do
    spawn "loop$i" "$TRAFFIC" loop "127.0.0.1:$P_OUT" -i 1 -d "$SECONDS_EACH" -t 5000
done
for ((i = 0; i < PARALLEL; i++)); do
    wait_exit "loop$i" $((SECONDS_EACH + 30))
    [ "$STOP_RC" = 0 ] || fail "loop$i failed: $(tail -n 3 "$T/loop$i.out")"
done

step "B: nearly every handshake was a resumption, and every one knew its peer"
total=$(grep -c ' conn id=.* listener=in ' "$T/b.out" || true)
resumed=$(grep -c ' conn id=.* listener=in .* session=resumed ' "$T/b.out" || true)
full=$((total - resumed))
log "B: $total connections, $resumed resumed, $full full handshakes;" \
    "RSS ${rss_b0} -> $(rss_kb "$(pid_of b)") KiB (the session cache holds at most 1024)"
assert_le 50 "$total" "connections through the pair"
# the first connection, plus at most one per client for the race between a
# finished handshake and the ticket it brings
assert_le "$full" $((1 + PARALLEL)) "full handshakes at B"
assert_eq 0 "$(grep ' conn id=.* listener=in ' "$T/b.out" | grep -c -v "peer=$CLIENT_ID " || true)" \
    "connections at B without the client's identity"
