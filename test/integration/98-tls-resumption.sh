#!/usr/bin/env bash
# Outbound mTLS resumes TLS 1.3 sessions on new upstream connections, at L4
# and at L7, against a peer nobody here wrote: `openssl s_server -www`,
# which requires a client certificate, closes after every response (so each
# request needs a new TLS connection) and says on its status page whether
# the session was "New" or "Reused".
#  - L4: four connections, one request each; the last three are resumed;
#  - L7: four requests; the pool cannot keep the connection (the server
#    closes it), so each one dials again, and the last three are resumed.
#    OpenSSL marks the session of a connection freed without a close_notify
#    as not resumable; the pool sends one before it frees a connection.
. "$(dirname "$0")/lib.sh"

certs
P_SRV4=$(free_port); P_SRV7=$(free_port); P_L4=$(free_port); P_L7=$(free_port)
# two servers: sessions are kept per upstream address, so L7 starts afresh
for p in "$P_SRV4" "$P_SRV7"; do
    start_s_server "srv-$p" "$p" "$CERTS/server.crt" "$CERTS/server.key" -tls1_3 -Verify 2 -CAfile "$CERTS/ca.crt"
done

sidecar_config "$T/a.yaml" client foo client
cat >>"$T/a.yaml" <<EOF
access_log: {path: "off"}
listeners:
  - {name: l4, direction: outbound, address: "127.0.0.1:$P_L4", upstream: "127.0.0.1:$P_SRV4",
     tls: ISTIO_MUTUAL, protocol: tcp}
  - {name: l7, direction: outbound, address: "127.0.0.1:$P_L7", upstream: "127.0.0.1:$P_SRV7",
     tls: ISTIO_MUTUAL, protocol: http}
EOF
start_sidecar a "$T/a.yaml" "$P_L4" "$P_L7"

# count_status FILE...: "NEW REUSED", counted over s_server status pages
count_status() {
    local new=0 reused=0 f
    for f in "$@"; do
        if grep -q 'New, TLSv1.3' "$f"; then new=$((new + 1)); fi
        if grep -q 'Reused, TLSv1.3' "$f"; then reused=$((reused + 1)); fi
    done
    echo "$new $reused"
}

step "L4: four connections, the last three resume"
for i in 1 2 3 4; do
    printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 socat -t5 - "TCP:127.0.0.1:$P_L4" >"$T/l4-$i.html" 2>/dev/null ||
        fail "L4 request $i failed"
done
assert_eq "1 3" "$(count_status "$T"/l4-[1-4].html)" "L4 new/reused sessions"

step "L7: four requests, four upstream connections, the last three resume"
for i in 1 2 3 4; do
    code=$(curl -s -o "$T/l7-$i.html" -w '%{http_code}' --max-time 10 "http://127.0.0.1:$P_L7/")
    assert_eq 200 "$code" "L7 request $i"
done
assert_eq "1 3" "$(count_status "$T"/l7-[1-4].html)" "L7 new/reused sessions"

alive a
log "ok"
