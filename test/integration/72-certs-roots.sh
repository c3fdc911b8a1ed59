#!/usr/bin/env bash
# "Is it safe to drop the old root?"  GET /certs/roots lists every root of
# the trust bundle with the peers that chained to it in a window, when one
# last did, the full and resumed handshakes, and safe_to_remove: no peer
# chained to it in the window, another root is valid, and our own chain
# does not end at it.
#  - S trusts A ("mesh") and B ("bnew"), its own leaf is under A, and its
#    only peer (C) is under A too: A is in use and ours, B is safe to drop;
#  - S2 trusts both but its own leaf is under B: A is in use by C (not
#    safe), and once the window no longer covers C's handshakes, it is;
#  - resumed sessions count under the root of their original handshake, in
#    the JSON, in sidecar_tls_peer_root_total and in the log's peer_root=;
#  - ?window= takes s, m and h; anything else is a 400 with the reason.
. "$(dirname "$0")/lib.sh"

certs
CLIENT_ID=spiffe://cluster.local/ns/foo/sa/client
SERVER_ID=spiffe://cluster.local/ns/bar/sa/server
"$GEN_CERTS" ca "$T/b" bnew >/dev/null
"$GEN_CERTS" leaf "$T/b" bnew server2 "$SERVER_ID" >/dev/null
cat "$CERTS/ca.crt" "$T/b/bnew-ca.crt" >"$T/bundle.crt"
serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
enddate() { date -u -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ; }
A=$(serial "$CERTS/ca.crt"); B=$(serial "$T/b/bnew-ca.crt")
a=$(printf '%s' "$A" | tr 'A-F' 'a-f'); b=$(printf '%s' "$B" | tr 'A-F' 'a-f')

P_ECHO=$(free_port); P_S=$(free_port); P_S2=$(free_port); P_OUT=$(free_port); P_OUT2=$(free_port)
start_backend echo --listen "127.0.0.1:$P_ECHO" --mode echo --quiet

# server NAME PORT CERT KEY: an inbound STRICT sidecar trusting A and B
server() {
    sidecar_config "$T/$1.yaml" "$1" bar server
    sed -i "s|^secrets:.*|secrets: {cert_chain: \"$3\", private_key: \"$4\", trusted_ca: \"$T/bundle.crt\"}|" "$T/$1.yaml"
    cat >>"$T/$1.yaml" <<EOF2
listeners:
  - {name: in, direction: inbound, address: "127.0.0.1:$2", upstream: "127.0.0.1:$P_ECHO",
     port: 9000, protocol: tcp}
EOF2
    peer_auth "$T/$1.yaml" STRICT bar
    start_sidecar "$1" "$T/$1.yaml" "$2"
}
server s "$P_S" "$CERTS/server.crt" "$CERTS/server.key"
S_ADMIN=$ADMIN_PORT
server s2 "$P_S2" "$T/b/server2.crt" "$T/b/server2.key"
S2_ADMIN=$ADMIN_PORT

sidecar_config "$T/c.yaml" client foo client
sed -i "s|trusted_ca: \"[^\"]*\"|trusted_ca: \"$T/bundle.crt\"|" "$T/c.yaml"
cat >>"$T/c.yaml" <<EOF2
listeners:
  - {name: out, direction: outbound, address: "127.0.0.1:$P_OUT", upstream: "127.0.0.1:$P_S",
     tls: ISTIO_MUTUAL, protocol: tcp, expected_identities: ["$SERVER_ID"]}
  - {name: out2, direction: outbound, address: "127.0.0.1:$P_OUT2", upstream: "127.0.0.1:$P_S2",
     tls: ISTIO_MUTUAL, protocol: tcp, expected_identities: ["$SERVER_ID"]}
EOF2
start_sidecar c "$T/c.yaml" "$P_OUT" "$P_OUT2"
C_ADMIN=$ADMIN_PORT

echo_via() { # PORT
    printf 'ping\n' | timeout 10 socat -t1 - "TCP:127.0.0.1:$1" 2>/dev/null || true
}
roots() { # ADMIN_PORT [QUERY] -> $T/roots.json
    local code
    code=$(curl -s -o "$T/roots.json" -w '%{http_code}' --max-time 5 "http://127.0.0.1:$1/certs/roots${2:-}")
    assert_eq 200 "$code" "GET /certs/roots${2:-}"
}
field() { # SERIAL JQ_EXPR: of the root with that (lower-case) serial in $T/roots.json
    jq -c --arg s "$1" ".roots[] | select(.serial_number == \$s) | $2" "$T/roots.json"
}

step "C talks to S three times and to S2 twice (the later ones resumed)"
for i in 1 2 3; do assert_eq ping "$(echo_via "$P_OUT")" "echo $i through C and S"; done
for i in 1 2; do assert_eq ping "$(echo_via "$P_OUT2")" "echo $i through C and S2"; done
wait_for_count "$T/s.out" "$(conn_re listener=in "peer=$CLIENT_ID")" 3
wait_for_count "$T/s2.out" "$(conn_re listener=in "peer=$CLIENT_ID")" 2

step "resumed sessions are attributed to A in the log, not \"resumed\""
assert_le 1 "$(count_lines "$T/s.out" "$(conn_re listener=in "peer_root=$A" session=resumed)")" "S: resumed lines naming A"
assert_le 1 "$(count_lines "$T/c.out" "$(conn_re listener=out "peer_root=$A" session=resumed)")" "C: resumed lines naming A"
assert_le 1 "$(count_lines "$T/c.out" "$(conn_re listener=out2 "peer_root=$B" session=resumed)")" "C: resumed lines naming B"
assert_eq 0 "$(count_lines "$T/s.out" 'peer_root=resumed')" "S: lines with peer_root=resumed"
assert_eq 0 "$(count_lines "$T/c.out" 'peer_root=resumed')" "C: lines with peer_root=resumed"
curl -s "http://127.0.0.1:$S_ADMIN/stats/prometheus" >"$T/s.prom"
assert_contains "$T/s.prom" "^sidecar_tls_peer_root_total\\{direction=\"inbound\",root_serial=\"$A\",root_subject=\"CN=mesh\"\\} 3$"

step "S: A is in use and ours, B has no peers and is safe to remove"
roots "$S_ADMIN"
assert_eq 86400 "$(jq '.window_seconds' "$T/roots.json")" "default window"
assert_eq 2 "$(jq '.roots | length' "$T/roots.json")" "roots listed"
assert_eq '"CN=mesh"' "$(field "$a" .subject)" "A's subject"
assert_eq "\"$(enddate "$CERTS/ca.crt")\"" "$(field "$a" .not_after)" "A's not_after"
assert_eq "[\"$CLIENT_ID\"]" "$(field "$a" .peers)" "A's peers"
assert_eq 3 "$(field "$a" '.handshakes.full + .handshakes.resumed')" "A's handshakes"
assert_le 1 "$(field "$a" .handshakes.resumed)" "A's resumed handshakes"
field "$a" .last_seen | grep -q -E '^"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"$' ||
    fail "A's last_seen is not an RFC 3339 time: $(field "$a" .last_seen)"
assert_eq true "$(field "$a" .our_chain)" "A is our chain's root"
assert_eq false "$(field "$a" .safe_to_remove)" "A safe_to_remove"
assert_eq '"CN=bnew"' "$(field "$b" .subject)" "B's subject"
assert_eq '[]' "$(field "$b" .peers)" "B's peers"
assert_eq null "$(field "$b" .last_seen)" "B's last_seen"
assert_eq '{"full":0,"resumed":0}' "$(field "$b" .handshakes)" "B's handshakes"
assert_eq true "$(field "$b" .safe_to_remove)" "B safe_to_remove"

step "C (outbound): S chained to A, S2 to B; C's own chain ends at A"
roots "$C_ADMIN"
assert_eq "[\"$SERVER_ID\"]" "$(field "$a" .peers)" "C: A's peers"
assert_eq "[\"$SERVER_ID\"]" "$(field "$b" .peers)" "C: B's peers"
assert_eq 2 "$(field "$b" '.handshakes.full + .handshakes.resumed')" "C: B's handshakes"
assert_eq false "$(field "$b" .safe_to_remove)" "C: B (in use) safe_to_remove"

step "S2 (own leaf under B): A is in use by C, then safe once the window passes"
roots "$S2_ADMIN"
assert_eq false "$(field "$a" .our_chain)" "S2: A is not our chain's root"
assert_eq "[\"$CLIENT_ID\"]" "$(field "$a" .peers)" "S2: A's peers"
assert_eq false "$(field "$a" .safe_to_remove)" "S2: A (in use) safe_to_remove"
assert_eq true "$(field "$b" .our_chain)" "S2: B is our chain's root"
assert_eq false "$(field "$b" .safe_to_remove)" "S2: B (ours) safe_to_remove"
sleep 2
roots "$S2_ADMIN" '?window=1s'
assert_eq 1 "$(jq '.window_seconds' "$T/roots.json")" "window=1s"
assert_eq '[]' "$(field "$a" .peers)" "S2: A's peers in the last second"
assert_ne null "$(field "$a" .last_seen)" "S2: A's last_seen outside the window"
assert_eq true "$(field "$a" .safe_to_remove)" "S2: A safe_to_remove with no peer in the window"
assert_eq false "$(field "$b" .safe_to_remove)" "S2: B (ours) safe_to_remove"

step "?window= takes s, m and h; anything else is refused with the reason"
for w in 90s:90 15m:900 24h:86400 168h:604800; do
    roots "$S_ADMIN" "?window=${w%%:*}"
    assert_eq "${w##*:}" "$(jq '.window_seconds' "$T/roots.json")" "window=${w%%:*}"
done
for w in abc 10 0s 5d 169h -1h 1h2; do
    code=$(curl -s -o "$T/bad.json" -w '%{http_code}' --max-time 5 "http://127.0.0.1:$S_ADMIN/certs/roots?window=$w")
    assert_eq 400 "$code" "window=$w"
    jq -e '.error | length > 0' "$T/bad.json" >/dev/null || fail "window=$w: no reason in $(cat "$T/bad.json")"
done
assert_contains "$T/bad.json" 'window 1h2 is not a number with a unit s, m or h'
curl -s --max-time 5 "http://127.0.0.1:$S_ADMIN/certs/roots?window=169h" >"$T/bad.json"
assert_contains "$T/bad.json" 'longer than the 7 days kept'

alive s
alive s2
alive c
log "ok"
