#!/usr/bin/env bash
# Key-exchange groups: by default the sidecar offers and accepts X25519, P-256
# and P-384 only, so a ClientHello offering only finite-field DH (ffdhe8192
# costs the server ~400 times the CPU of X25519) gets no handshake.
# tls.groups changes the list for every context: on a reload the inbound
# server takes [P-384] only, and an outbound sidecar's mesh client offers
# only its own list.  An unknown group is a config error at file:line:col.
. "$(dirname "$0")/lib.sh"

certs
P_ECHO=$(free_port); P_IN=$(free_port); P_OUT=$(free_port)
SERVER_ID=spiffe://cluster.local/ns/bar/sa/server
start_backend echo --listen "127.0.0.1:$P_ECHO" --mode echo --quiet

sidecar_config "$T/b.yaml" server bar server
B_ADMIN=$ADMIN_PORT
cat >"$T/b-listeners.yaml" <<EOF
listeners:
  - {name: in, direction: inbound, address: "127.0.0.1:$P_IN", upstream: "127.0.0.1:$P_ECHO",
     port: 8080, protocol: tcp}
EOF
cp "$T/b.yaml" "$T/b-head.yaml"
cat "$T/b-listeners.yaml" >>"$T/b.yaml"
peer_auth "$T/b.yaml" STRICT bar
start_sidecar b "$T/b.yaml" "$P_IN"

# hello NAME GROUPS: a mesh client offering only GROUPS; its reply in $T/NAME.reply.
hello() {
    printf '%s\n' "$1" | mesh_client "127.0.0.1:$P_IN" client istio 1 -groups "$2" \
        >"$T/$1.reply" 2>"$T/$1.err" || true
}

step "default groups: a client offering only ffdhe8192 gets no handshake"
hello ffdhe8192 ffdhe8192
assert_not_contains "$T/ffdhe8192.reply" '^ffdhe8192$'
assert_contains "$T/ffdhe8192.err" 'alert handshake failure'
wait_for_log "$T/b.out" "$(conn_re listener=in class=refused 'end=tls_handshake_failed: no suitable key share')"

step "default groups: ffdhe2048..8192 together are refused as well"
hello ffdhe-all ffdhe2048:ffdhe3072:ffdhe4096:ffdhe6144:ffdhe8192
assert_not_contains "$T/ffdhe-all.reply" '^ffdhe-all$'

step "default groups: X25519, P-256 and P-384 each work"
hello x25519 X25519
assert_contains "$T/x25519.reply" '^x25519$'
hello p256 P-256
assert_contains "$T/p256.reply" '^p256$'
hello p384 P-384
assert_contains "$T/p384.reply" '^p384$'
hello p521 P-521
assert_not_contains "$T/p521.reply" '^p521$'

step "tls.groups: [P-384] on reload: X25519 is refused, P-384 works"
{
    cat "$T/b-head.yaml"
    printf 'tls:\n  groups: ["P-384"]\n'
    cat "$T/b-listeners.yaml"
} >"$T/b.yaml.new"
peer_auth "$T/b.yaml.new" STRICT bar
mv "$T/b.yaml.new" "$T/b.yaml"
code=$(curl -s -o "$T/reload.body" -w '%{http_code}' -X POST "http://127.0.0.1:$B_ADMIN/reload")
assert_eq 200 "$code" "POST /reload"
hello x25519-after X25519
assert_not_contains "$T/x25519-after.reply" '^x25519-after$'
hello p384-after X25519:P-384
assert_contains "$T/p384-after.reply" '^p384-after$'
printf 'x\n' | mesh_client "127.0.0.1:$P_IN" client istio 1 -groups X25519:P-384 -brief \
    >/dev/null 2>"$T/brief.err" || true
assert_contains "$T/brief.err" 'Server Temp Key: ECDH, (secp384r1|P-384)'

step "an outbound sidecar's mesh client offers only its tls.groups"
sidecar_config "$T/a-head.yaml" client foo client
A_ADMIN=$ADMIN_PORT
cat >"$T/a-listeners.yaml" <<EOF
listeners:
  - {name: out, direction: outbound, address: "127.0.0.1:$P_OUT", upstream: "127.0.0.1:$P_IN",
     tls: ISTIO_MUTUAL, protocol: tcp, expected_identities: ["$SERVER_ID"]}
EOF
a_config() { # GROUPS (YAML list)
    { cat "$T/a-head.yaml"; printf 'tls: {groups: %s}\n' "$1"; cat "$T/a-listeners.yaml"; } >"$T/a.yaml.new"
    mv "$T/a.yaml.new" "$T/a.yaml"
}
a_config '[X25519, P-256]'
start_sidecar a "$T/a.yaml" "$P_OUT"
printf 'via-a\n' | tcp_client 127.0.0.1 "$P_OUT" 2 >"$T/via-a.reply" || true
assert_not_contains "$T/via-a.reply" '^via-a$'
wait_for_log "$T/a.out" "$(conn_re listener=out class=refused 'end=tls_handshake_failed: sslv3 alert handshake failure')"
wait_for_log "$T/b.out" "$(conn_re listener=in class=refused 'end=tls_handshake_failed: no suitable key share')"
a_config '[P-384]'
code=$(curl -s -o "$T/reload-a.body" -w '%{http_code}' -X POST "http://127.0.0.1:$A_ADMIN/reload")
assert_eq 200 "$code" "POST /reload (a)"
printf 'via-a-p384\n' | tcp_client 127.0.0.1 "$P_OUT" 2 >"$T/via-a-p384.reply" || true
assert_contains "$T/via-a-p384.reply" '^via-a-p384$'

step "tls.groups: an unknown group is refused at load with its position"
cat >"$T/bad.yaml" <<EOF
secrets: {sds_socket: /run/sds.sock}
tls:
  groups: [X25519, ffdhe9999]
EOF
rc=0
"$SIDECAR" -c "$T/bad.yaml" --check >"$T/bad.out" 2>"$T/bad.err" || rc=$?
assert_eq 1 "$rc" "sidecar --check exit status"
assert_contains "$T/bad.err" "^$T/bad.yaml:3:20: tls.groups\[1\]: unknown key-exchange group \"ffdhe9999\""

log "ok"
