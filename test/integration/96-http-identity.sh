#!/usr/bin/env bash
# HTTP/1.1 at L7: identity headers and request metrics.
#  - the app behind the inbound sidecar B sees x-forwarded-client-cert in
#    Envoy's format with the caller's SPIFFE ID and certificate hash, and
#    x-forwarded-proto https; a forged XFCC sent by the client is gone;
#  - x-request-id: generated (UUIDv4) when absent, the same on both hops
#    and in both access logs; passed on unchanged when present;
#  - a plaintext client of a PERMISSIVE http port (sidecar C) sending a
#    forged XFCC: the app never sees it (x-forwarded-proto http);
#  - a mesh peer talking to B directly cannot inject XFCC (SANITIZE_SET);
#    with APPEND_FORWARD (C) a well-formed incoming XFCC is kept and our
#    element appended, a malformed one is dropped;
#  - requests_total carries connection_security_policy mutual_tls on B and
#    none for the plaintext request on C, and the duration histogram counts.
. "$(dirname "$0")/lib.sh"

certs
CLIENT_ID=spiffe://cluster.local/ns/foo/sa/client
SERVER_ID=spiffe://cluster.local/ns/bar/sa/server
C_ID=spiffe://cluster.local/ns/bar/sa/server        # C runs with the server certificate too
UUID4='[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}'

HASH=$(openssl x509 -in "$CERTS/client.crt" -outform DER | sha256sum | cut -d' ' -f1)
SUBJECT=$(openssl x509 -in "$CERTS/client.crt" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')
ELEMENT="By=$SERVER_ID;Hash=$HASH;Subject=\"$SUBJECT\";URI=$CLIENT_ID"

P_APP=$(free_port); P_IN_B=$(free_port); P_IN_C=$(free_port); P_OUT_B=$(free_port); P_OUT_C=$(free_port)
start_backend app --listen "127.0.0.1:$P_APP" --mode http

sidecar_config "$T/c.yaml" server-c bar server
cat >>"$T/c.yaml" <<EOF
http: {xfcc: APPEND_FORWARD}
listeners:
  - {name: in, direction: inbound, address: "127.0.0.1:$P_IN_C", upstream: "127.0.0.1:$P_APP",
     port: 9090, protocol: http}
EOF
peer_auth "$T/c.yaml" PERMISSIVE bar
C_STATS=$(sed -n 's/^stats: {address: "\(.*\)"}/\1/p' "$T/c.yaml")
start_sidecar c "$T/c.yaml" "$P_IN_C"

# B (STRICT, XFCC SANITIZE_SET) and A, whose "out" goes to B and "out-c" to C
P_IN=$P_IN_B P_OUT=$P_OUT_B mesh_pair http "127.0.0.1:$P_APP" \
    out_more="  - {name: out-c, direction: outbound, address: \"127.0.0.1:$P_OUT_C\", upstream: \"127.0.0.1:$P_IN_C\",
     tls: ISTIO_MUTUAL, protocol: http, expected_identities: [\"$C_ID\"]}"

# hdr FILE NAME: the values of header NAME in a /headers answer, one a line.
hdr() { tr -d '\r' <"$1" | awk -v n="$(echo "$2" | tr 'A-Z' 'a-z')" '
    { i = index($0, ":"); if (i > 0 && tolower(substr($0, 1, i - 1)) == n) { v = substr($0, i + 1); sub(/^[ \t]+/, "", v); print v } }'; }

step "curl -> A -> mTLS -> B -> app: XFCC with the caller's identity, forged one gone"
timeout 20 curl -sS -m 10 -o "$T/h1" -H 'x-forwarded-client-cert: By=spiffe://evil;URI=spiffe://cluster.local/ns/foo/sa/admin' \
    "http://127.0.0.1:$P_OUT_B/headers" || fail "curl through A and B failed"
log "XFCC at the app: $(hdr "$T/h1" x-forwarded-client-cert)"
assert_eq 1 "$(hdr "$T/h1" x-forwarded-client-cert | wc -l | tr -d ' ')" "XFCC fields at the app"
assert_eq "$ELEMENT" "$(hdr "$T/h1" x-forwarded-client-cert)" "XFCC at the app"
assert_not_contains "$T/h1" 'evil|sa/admin'
assert_eq https "$(hdr "$T/h1" x-forwarded-proto)" "x-forwarded-proto behind an mTLS hop"

step "x-request-id generated (UUIDv4), the same on both hops and in both access logs"
rid=$(hdr "$T/h1" x-request-id)
printf '%s\n' "$rid" | grep -q -x -E "$UUID4" || fail "generated x-request-id is not a UUIDv4: '$rid'"
wait_for_log "$T/a.out" "\"GET /headers HTTP/1\\.1\" 200 .*\"$rid\""
wait_for_log "$T/b.out" "\"GET /headers HTTP/1\\.1\" 200 .*\"$rid\""

step "x-request-id sent by the client passes unchanged (once)"
long_id="client-chosen-id-$(head -c 60 /dev/zero | tr '\0' 'x')"
timeout 20 curl -sS -m 10 -o "$T/h2" -H "x-request-id: $long_id" "http://127.0.0.1:$P_OUT_B/headers" ||
    fail "curl with x-request-id failed"
assert_eq "$long_id" "$(hdr "$T/h2" x-request-id)" "x-request-id at the app"
wait_for_log "$T/b.out" "\"$long_id\""

step "two generated ids differ"
timeout 20 curl -sS -m 10 -o "$T/h3" "http://127.0.0.1:$P_OUT_B/headers" || fail "curl failed"
assert_ne "$rid" "$(hdr "$T/h3" x-request-id)" "a second generated x-request-id"

step "plaintext client of a PERMISSIVE http port with a forged XFCC: the app never sees it"
timeout 20 curl -sS -m 10 -o "$T/h4" -H 'x-forwarded-client-cert: By=spiffe://evil;Hash=00;URI=spiffe://cluster.local/ns/foo/sa/client' \
    -H 'X-Forwarded-Client-Cert: URI=spiffe://second' "http://127.0.0.1:$P_IN_C/headers" || fail "plaintext curl to C failed"
assert_eq 0 "$(hdr "$T/h4" x-forwarded-client-cert | wc -l | tr -d ' ')" "XFCC fields at the app (plaintext)"
assert_not_contains "$T/h4" 'evil|spiffe://second'
assert_eq http "$(hdr "$T/h4" x-forwarded-proto)" "x-forwarded-proto (plaintext)"
wait_for_log "$T/c.out" "$(conn_re dir=inbound mode=PERMISSIVE class=plaintext)"

step "the same port over mesh mTLS (A -> C): C's element only (A dropped the client's)"
timeout 20 curl -sS -m 10 -o "$T/h5" -H 'x-forwarded-client-cert: By=spiffe://evil' "http://127.0.0.1:$P_OUT_C/headers" ||
    fail "curl through A to C failed"
assert_eq "$ELEMENT" "$(hdr "$T/h5" x-forwarded-client-cert)" "XFCC at the app via C"
assert_eq https "$(hdr "$T/h5" x-forwarded-proto)" "x-forwarded-proto via C"

step "a mesh peer cannot inject XFCC into B (SANITIZE_SET)"
printf 'GET /headers HTTP/1.1\r\nHost: b\r\nx-forwarded-client-cert: By=spiffe://evil;URI=spiffe://cluster.local/ns/x/sa/y\r\nConnection: close\r\n\r\n' |
    mesh_client "127.0.0.1:$P_IN_B" client istio-http/1.1 1 >"$T/h6" 2>"$T/h6.err" || true
assert_contains "$T/h6" '^HTTP/1\.1 200'
assert_eq "$ELEMENT" "$(hdr "$T/h6" x-forwarded-client-cert)" "XFCC at the app (mesh peer to B)"

step "APPEND_FORWARD on C: a well-formed incoming XFCC is kept and C's element appended"
printf 'GET /headers HTTP/1.1\r\nHost: c\r\nx-forwarded-client-cert: By=spiffe://cluster.local/ns/a/sa/a;URI=spiffe://cluster.local/ns/z/sa/z\r\nConnection: close\r\n\r\n' |
    mesh_client "127.0.0.1:$P_IN_C" client istio-http/1.1 1 >"$T/h7" 2>"$T/h7.err" || true
assert_eq "By=spiffe://cluster.local/ns/a/sa/a;URI=spiffe://cluster.local/ns/z/sa/z,$ELEMENT" \
    "$(hdr "$T/h7" x-forwarded-client-cert)" "XFCC at the app (APPEND_FORWARD)"

step "APPEND_FORWARD on C: a malformed incoming XFCC (open quote) cannot swallow C's element"
printf 'GET /headers HTTP/1.1\r\nHost: c\r\nx-forwarded-client-cert: By="spiffe://evil;URI=x\r\nConnection: close\r\n\r\n' |
    mesh_client "127.0.0.1:$P_IN_C" client istio-http/1.1 1 >"$T/h8" 2>"$T/h8.err" || true
assert_eq "$ELEMENT" "$(hdr "$T/h8" x-forwarded-client-cert)" "XFCC at the app (malformed incoming)"

step "requests_total: mutual_tls on B, none for the plaintext request on C; the histogram counts"
curl -sS -m 5 "http://$B_STATS/stats/prometheus" >"$T/b.prom"
curl -sS -m 5 "http://$C_STATS/stats/prometheus" >"$T/c.prom"
assert_contains "$T/b.prom" '^sidecar_requests_total\{direction="inbound",port="8080",response_code="200",connection_security_policy="mutual_tls",response_flags="-"\} 4$'
assert_not_contains "$T/b.prom" 'connection_security_policy="none"'
assert_contains "$T/c.prom" '^sidecar_requests_total\{direction="inbound",port="9090",response_code="200",connection_security_policy="none",response_flags="-"\} 1$'
assert_contains "$T/c.prom" '^sidecar_requests_total\{direction="inbound",port="9090",response_code="200",connection_security_policy="mutual_tls",response_flags="-"\} 3$'
assert_contains "$T/b.prom" '^sidecar_request_duration_milliseconds_count\{direction="inbound"\} 4$'
assert_contains "$T/b.prom" '^sidecar_request_duration_milliseconds_bucket\{direction="inbound",le="\+Inf"\} 4$'

alive a
alive b
alive c
log "ok"
