#!/usr/bin/env bash
# Outbound: plain client -> sidecar A (ISTIO_MUTUAL, checks the server's SPIFFE
# ID) -> sidecar B (STRICT) -> app.  Also: a wrong expected identity is
# refused, a DISABLE outbound listener relays plaintext, and a server-first
# protocol (a banner) works through a STRICT pair; A refuses servers whose
# chain or trust domain is wrong.
. "$(dirname "$0")/lib.sh"

certs
CLIENT_ID=spiffe://cluster.local/ns/foo/sa/client
SERVER_ID=spiffe://cluster.local/ns/bar/sa/server

P_HTTP=$(free_port); P_BANNER=$(free_port)
P_IN_HTTP=$(free_port); P_IN_BANNER=$(free_port)
P_OUT=$(free_port); P_OUT_WRONG=$(free_port); P_OUT_PLAIN=$(free_port); P_OUT_BANNER=$(free_port)
start_backend http --listen "127.0.0.1:$P_HTTP" --mode http
start_backend banner --listen "127.0.0.1:$P_BANNER" --mode banner --banner "220 banner-backend ready"$'\n'

sidecar_config "$T/b.yaml" server bar server
cat >>"$T/b.yaml" <<EOF
listeners:
  - {name: in-http, direction: inbound, address: "127.0.0.1:$P_IN_HTTP", upstream: "127.0.0.1:$P_HTTP",
     port: 8080, protocol: tcp, allowed_principals: ["spiffe://cluster.local/ns/foo/*"]}
  - {name: in-banner, direction: inbound, address: "127.0.0.1:$P_IN_BANNER", upstream: "127.0.0.1:$P_BANNER",
     port: 2525, protocol: tcp}
EOF
peer_auth "$T/b.yaml" STRICT bar
start_sidecar b "$T/b.yaml" "$P_IN_HTTP" "$P_IN_BANNER"

sidecar_config "$T/a.yaml" client foo client
cat >>"$T/a.yaml" <<EOF
listeners:
  - {name: out, direction: outbound, address: "127.0.0.1:$P_OUT", upstream: "127.0.0.1:$P_IN_HTTP",
     host: server.bar.svc.cluster.local, tls: ISTIO_MUTUAL, protocol: tcp,
     expected_identities: ["$SERVER_ID"]}
  - {name: out-wrong, direction: outbound, address: "127.0.0.1:$P_OUT_WRONG", upstream: "127.0.0.1:$P_IN_HTTP",
     tls: ISTIO_MUTUAL, protocol: tcp, expected_identities: ["spiffe://cluster.local/ns/bar/sa/other"]}
  - {name: out-plain, direction: outbound, address: "127.0.0.1:$P_OUT_PLAIN", upstream: "127.0.0.1:$P_HTTP",
     tls: DISABLE, protocol: tcp}
  - {name: out-banner, direction: outbound, address: "127.0.0.1:$P_OUT_BANNER", upstream: "127.0.0.1:$P_IN_BANNER",
     tls: ISTIO_MUTUAL, protocol: tcp, expected_identities: ["$SERVER_ID"]}
EOF
# C: a server whose certificate comes from an independent root ("bar");
# D: a server of a foreign trust domain (example.org) under the mesh root.
P_IN_C=$(free_port); P_IN_D=$(free_port); P_OUT_C=$(free_port); P_OUT_D=$(free_port)
sidecar_config "$T/c.yaml" server-c bar bar-server
sed -i "s#trusted_ca: \"$CERTS/ca.crt\"#trusted_ca: \"$CERTS/bar-ca.crt\"#" "$T/c.yaml"
cat >>"$T/c.yaml" <<EOF
listeners:
  - {name: in, direction: inbound, address: "127.0.0.1:$P_IN_C", upstream: "127.0.0.1:$P_HTTP", port: 8080, protocol: tcp}
EOF
peer_auth "$T/c.yaml" STRICT bar
start_sidecar c "$T/c.yaml" "$P_IN_C"
sidecar_config "$T/d.yaml" server-d foo other-td
sed -i 's/trust_domain: cluster.local/trust_domain: example.org/' "$T/d.yaml"
cat >>"$T/d.yaml" <<EOF
listeners:
  - {name: in, direction: inbound, address: "127.0.0.1:$P_IN_D", upstream: "127.0.0.1:$P_HTTP", port: 8080, protocol: tcp}
EOF
peer_auth "$T/d.yaml" PERMISSIVE foo
start_sidecar d "$T/d.yaml" "$P_IN_D"

cat >>"$T/a.yaml" <<EOF
  - {name: out-c, direction: outbound, address: "127.0.0.1:$P_OUT_C", upstream: "127.0.0.1:$P_IN_C",
     tls: ISTIO_MUTUAL, protocol: tcp, expected_identities: ["$SERVER_ID"]}
  - {name: out-any, direction: outbound, address: "127.0.0.1:$P_OUT_D", upstream: "127.0.0.1:$P_IN_D",
     tls: ISTIO_MUTUAL, protocol: tcp}
EOF
start_sidecar a "$T/a.yaml" "$P_OUT" "$P_OUT_WRONG" "$P_OUT_PLAIN" "$P_OUT_BANNER" "$P_OUT_C" "$P_OUT_D"

step "curl -> A -> mTLS -> B -> http backend: 200 and the body"
code=$(timeout 20 curl -sS -m 10 -o "$T/body" -w '%{http_code}' "http://127.0.0.1:$P_OUT/") || fail "curl through A failed"
assert_eq 200 "$code" "HTTP status"
assert_eq "hello from backend" "$(cat "$T/body")" "body"
wait_for_log "$T/b.out" "$(conn_re dir=inbound listener=in-http mode=STRICT class=mesh_mtls "peer=$CLIENT_ID")"
wait_for_log "$T/a.out" "$(conn_re dir=outbound listener=out mode=ISTIO_MUTUAL "up=127.0.0.1:$P_IN_HTTP" 'tls=TLSv1\.[23]' "peer=$SERVER_ID")"

step "keep-alive: three requests on one connection through the pair"
timeout 20 curl -sS -m 10 "http://127.0.0.1:$P_OUT/a" "http://127.0.0.1:$P_OUT/b" "http://127.0.0.1:$P_OUT/c" >"$T/three" ||
    fail "curl with three requests failed"
assert_eq 3 "$(count_lines "$T/three" '^hello from backend$')" "bodies"

step "a wrong expected identity on A is refused: curl gets no response"
if timeout 20 curl -sS -m 10 -o "$T/wrong.body" "http://127.0.0.1:$P_OUT_WRONG/" 2>"$T/wrong.err"; then
    fail "curl through a listener expecting another identity succeeded"
fi
assert_not_contains "$T/wrong.body" 'hello from backend'
wait_for_log "$T/a.out" "$(conn_re dir=outbound listener=out-wrong mode=ISTIO_MUTUAL "end=identity_rejected: peer SAN $SERVER_ID not in")"
# ...and names the certificate it refused
assert_contains "$T/a.out" "end=identity_rejected: peer SAN $SERVER_ID not in \\[[^]]*\\] \\(subject CN=[^,]+, serial [0-9A-F]+\\)\$"

step "a DISABLE outbound listener relays plaintext to the backend"
code=$(timeout 20 curl -sS -m 10 -o "$T/plain.body" -w '%{http_code}' "http://127.0.0.1:$P_OUT_PLAIN/") || fail "curl through out-plain failed"
assert_eq 200 "$code" "HTTP status (DISABLE)"
assert_eq "hello from backend" "$(cat "$T/plain.body")" "body (DISABLE)"
wait_for_log "$T/a.out" "$(conn_re dir=outbound listener=out-plain mode=DISABLE class=plaintext "up=127.0.0.1:$P_HTTP" tls=- peer=-)"

step "server-first protocol: the banner arrives before the client sends anything"
# The client sends nothing until it has read the banner line.
timeout 15 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1"
    IFS= read -r -t 8 banner <&3 || { echo "no banner within 8 s"; exit 1; }
    printf "%s\n" "$banner"
    printf "ping-after-banner\n" >&3
    IFS= read -r -t 8 echoed <&3 || { echo "no echo within 8 s"; exit 1; }
    printf "%s\n" "$echoed"
' _ "$P_OUT_BANNER" >"$T/banner.reply" 2>&1 || { cat "$T/banner.reply" >&2; fail "banner exchange failed"; }
assert_eq "220 banner-backend ready" "$(sed -n 1p "$T/banner.reply")" "banner line"
assert_eq "ping-after-banner" "$(sed -n 2p "$T/banner.reply")" "echo after the banner"
wait_for_log "$T/b.out" "$(conn_re listener=in-banner mode=STRICT class=mesh_mtls "peer=$CLIENT_ID")"
wait_for_log "$T/a.out" "$(conn_re listener=out-banner "peer=$SERVER_ID")"

step "A refuses a server whose chain does not lead to the mesh root (right SPIFFE ID, other CA)"
if timeout 20 curl -sS -m 10 -o "$T/c.body" "http://127.0.0.1:$P_OUT_C/" 2>"$T/c.err"; then
    fail "curl through A to a server signed by another root succeeded"
fi
assert_not_contains "$T/c.body" 'hello from backend'
wait_for_log "$T/a.out" "$(conn_re dir=outbound listener=out-c mode=ISTIO_MUTUAL 'end=tls_verify_failed: peer chain does not lead to any of 1 trusted roots')"

step "without expected_identities, A still refuses a server outside its trust domain"
if timeout 20 curl -sS -m 10 -o "$T/d.body" "http://127.0.0.1:$P_OUT_D/" 2>"$T/d.err"; then
    fail "curl through A to a server of trust domain example.org succeeded"
fi
assert_not_contains "$T/d.body" 'hello from backend'
wait_for_log "$T/a.out" "$(conn_re dir=outbound listener=out-any 'end=identity_rejected: peer SAN spiffe://example.org/ns/foo/sa/client')"

alive a
alive b
alive c
alive d
log "ok"
