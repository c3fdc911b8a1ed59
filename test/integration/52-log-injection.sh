#!/usr/bin/env bash
# Log injection: names from a peer's certificate and fields of its requests
# reach the connection log, sc_log lines, the access log (text and JSON),
# XFCC, /certs and /stats/prometheus, each escaped for its format.
#  - a client certificate signed by the mesh CA whose SPIFFE URI SAN, DNS
#    SAN and subject hold a newline and a forged
#    "class=mesh_mtls peer=spiffe://cluster.local/ns/istio-system/sa/admin":
#    refused, one connection-log line, no forged line, the bytes as \x0A;
#  - the same names in a self-signed certificate: refused at verify, same;
#  - a caller with a valid SPIFFE ID but a hostile subject and DNS SAN, and
#    requests with quotes, backslashes and invalid UTF-8 in their fields:
#    one access-log record per request (text; JSON lines that parse), XFCC
#    at the app still names the caller (the SAN no header can carry is left
#    out), a hostile root's subject is a well-formed Prometheus label;
#  - a sidecar whose own certificate holds a hostile DNS SAN: /certs parses.
# Certificates are made at test time by test/tools/rawcert.
. "$(dirname "$0")/lib.sh"

certs
RAWCERT=$SC_BUILD/tools/rawcert
[ -x "$RAWCERT" ] || fail "no $RAWCERT (run make tools)"
command -v python3 >/dev/null || skip "python3 is needed to parse JSON and the Prometheus format"

ADMIN_ID=spiffe://cluster.local/ns/istio-system/sa/admin
FORGED="class=mesh_mtls peer=$ADMIN_ID"
EVIL_URI="spiffe://cluster.local/ns/a"$'\n'"$FORGED"
EVIL_NAME="evil"$'\n'"$FORGED"
CALLER_ID=spiffe://cluster.local/ns/foo/sa/caller
ROOT_ID=spiffe://cluster.local/ns/foo/sa/rooted

step "make the hostile certificates"
"$RAWCERT" "$T/signed" --ca "$CERTS/mesh-ca.crt" "$CERTS/mesh-ca.key" \
    --cn "$EVIL_NAME" --uri "$EVIL_URI" --dns "$EVIL_NAME"
"$RAWCERT" "$T/self" --self --cn "$EVIL_NAME" --uri "$EVIL_URI" --dns "$EVIL_NAME"
"$RAWCERT" "$T/caller" --ca "$CERTS/mesh-ca.crt" "$CERTS/mesh-ca.key" \
    --cn "caller \"q\" \\ $EVIL_NAME" --uri "$CALLER_ID" --dns "$EVIL_NAME"
"$RAWCERT" "$T/root" --self --is-ca --cn "root \"q\" \\ $EVIL_NAME"
"$RAWCERT" "$T/rooted" --ca "$T/root.crt" "$T/root.key" --cn rooted --uri "$ROOT_ID"
"$RAWCERT" "$T/server" --ca "$CERTS/mesh-ca.crt" "$CERTS/mesh-ca.key" \
    --cn "server $EVIL_NAME" --uri spiffe://cluster.local/ns/bar/sa/server --dns "$EVIL_NAME"
cat "$CERTS/ca.crt" "$T/root.crt" >"$T/roots.pem"

P_APP=$(free_port); P_B=$(free_port); P_C=$(free_port)
start_backend app --listen "127.0.0.1:$P_APP" --mode http

# B: text access log on stdout with the connection log, trusts the mesh CA
# and the hostile root.
sidecar_config "$T/b.yaml" server bar server
sed -i "s|trusted_ca: \"[^\"]*\"|trusted_ca: \"$T/roots.pem\"|" "$T/b.yaml"
cat >>"$T/b.yaml" <<EOF
access_log: {path: stdout, format: text}
listeners:
  - {name: in, direction: inbound, address: "127.0.0.1:$P_B", upstream: "127.0.0.1:$P_APP",
     port: 8080, protocol: http}
EOF
peer_auth "$T/b.yaml" STRICT bar
B_ADMIN=$ADMIN_PORT
start_sidecar b "$T/b.yaml" "$P_B"

# C: JSON access log in a file, its own certificate has a hostile DNS SAN.
sidecar_config "$T/c.yaml" server-c bar server
sed -i "s|cert_chain: \"[^\"]*\", private_key: \"[^\"]*\"|cert_chain: \"$T/server.crt\", private_key: \"$T/server.key\"|" "$T/c.yaml"
cat >>"$T/c.yaml" <<EOF
access_log: {path: "$T/c-access.json", format: json}
listeners:
  - {name: in, direction: inbound, address: "127.0.0.1:$P_C", upstream: "127.0.0.1:$P_APP",
     port: 9090, protocol: http}
EOF
peer_auth "$T/c.yaml" STRICT bar
C_ADMIN=$ADMIN_PORT
start_sidecar c "$T/c.yaml" "$P_C"

# peer CERT HOST:PORT: a mesh peer with $T/CERT.crt/.key sends its stdin and
# prints the answer.
peer() {
    { cat; sleep 1; } | timeout 15 openssl s_client -connect "$2" -cert "$T/$1.crt" -key "$T/$1.key" \
        -CAfile "$CERTS/ca.crt" -alpn istio-http/1.1 -quiet -no_ign_eof 2>"$T/$1.s_client.err" || true
}

# one_line_per_record FILE: every line of a sidecar's stdout is a connection
# log line or a text access-log record, none a forged one.
one_line_per_record() {
    local bad
    bad=$(grep -v -E '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[^ ]+ conn id=|^\[[0-9]{4}-' "$1" || true)
    [ -z "$bad" ] || fail "$(basename "$1") holds lines that are no record: $bad"
    assert_not_contains "$1" "^$FORGED"
}
# stderr_lines FILE: every line of a sidecar's stderr starts with a time.
stderr_lines() {
    local bad
    bad=$(grep -v -E '^[0-9]{4}-[0-9]{2}-[0-9]{2}T' "$1" || true)
    [ -z "$bad" ] || fail "$(basename "$1") holds lines that are no log line: $bad"
}

step "a mesh-CA certificate with a newline in its SPIFFE ID: refused, one line, no forged peer"
printf 'GET /headers HTTP/1.1\r\nHost: app\r\n\r\n' | peer signed "127.0.0.1:$P_B" >"$T/r1"
assert_not_contains "$T/r1" 'HTTP/1.1 200'
wait_for_log "$T/b.out" "$(conn_re class=refused 'peer=spiffe://cluster.local/ns/a\\x0Aclass=mesh_mtls' 'end=identity_rejected')"
assert_eq 1 "$(conn_lines "$T/b.out" | wc -l | tr -d ' ')" "connection-log lines after one connection"
line=$(conn_lines "$T/b.out")
case $line in
*"peer SAN spiffe://cluster.local/ns/a\\x0Aclass=mesh_mtls"*"subject CN=evil\\0Aclass=mesh_mtls"*) ;;
*) fail "the refusal does not name the SAN and subject escaped: $line" ;;
esac
one_line_per_record "$T/b.out"

step "the same names self-signed: refused at verify, one line, no forged peer"
printf 'GET /headers HTTP/1.1\r\nHost: app\r\n\r\n' | peer self "127.0.0.1:$P_B" >"$T/r2"
assert_not_contains "$T/r2" 'HTTP/1.1 200'
wait_for_count "$T/b.out" "$(conn_re class=refused)" 2
wait_for_log "$T/b.out" "$(conn_re class=refused 'end=tls_verify_failed: peer chain does not lead')"
assert_contains "$T/b.out" 'SAN spiffe://cluster.local/ns/a\\x0Aclass=mesh_mtls peer=spiffe://cluster.local/ns/istio-system/sa/admin,DNS:evil\\x0Aclass'
one_line_per_record "$T/b.out"
stderr_lines "$T/b.err"

# Header values may carry '"', '\' and bytes above 0x7f (obs-text).
printf 'GET /headers HTTP/1.1\r\nHost: app\r\nUser-Agent: ua "q" \\ \377\376 x\r\nX-Request-Id: rid"\\\r\n\r\n' >"$T/req"

step "a valid caller with a hostile subject and DNS SAN: XFCC names the caller, one access record"
peer caller "127.0.0.1:$P_B" <"$T/req" >"$T/r3"
assert_contains "$T/r3" 'HTTP/1.1 200'
xfcc=$(tr -d '\r' <"$T/r3" | sed -n 's/^x-forwarded-client-cert: //Ip')
log "XFCC at the app: $xfcc"
case $xfcc in
*"Subject=\"CN=caller \\\"q\\\" \\\\ evil\\0Aclass=mesh_mtls peer=$ADMIN_ID\";URI=$CALLER_ID") ;;
*) fail "XFCC at the app does not name the caller with its subject escaped: '$xfcc'" ;;
esac
wait_for_log "$T/b.out" "$(conn_re class=mesh_mtls "peer=$CALLER_ID")"
wait_for_log "$T/b.out" '^\[.*"GET /headers HTTP/1\.1" 200 '
assert_contains "$T/b.out" '"ua "q" \\x5C \\xFF\\xFE x" "rid"\\x5C" '
one_line_per_record "$T/b.out"

step "the JSON access log: one record per line, each parses, the fields round-trip"
peer caller "127.0.0.1:$P_C" <"$T/req" >"$T/r4"
assert_contains "$T/r4" 'HTTP/1.1 200'
wait_for_log "$T/c-access.json" '"response_code":200'
python3 - "$T/c-access.json" <<'PY' || fail "the JSON access log does not parse as one record per line"
import json, sys
lines = open(sys.argv[1], 'rb').read().split(b'\n')
assert lines[-1] == b'', 'no newline at the end'
recs = [json.loads(l.decode('utf-8')) for l in lines[:-1]]
assert len(recs) == 1, recs
r = recs[0]
assert r['user_agent'] == 'ua "q" \\ \u00ff\u00fe x', r['user_agent']
assert r['request_id'] == 'rid"\\', r['request_id']
assert r['peer_spiffe_id'] == 'spiffe://cluster.local/ns/foo/sa/caller', r
PY

step "a peer that chained to a root with a hostile subject: /stats/prometheus parses"
printf 'GET /headers HTTP/1.1\r\nHost: app\r\n\r\n' | peer rooted "127.0.0.1:$P_B" >"$T/r5"
assert_contains "$T/r5" 'HTTP/1.1 200'
wait_for_log "$T/b.out" "$(conn_re class=mesh_mtls "peer=$ROOT_ID")"
curl -sS -m 5 "http://127.0.0.1:$B_ADMIN/stats/prometheus" >"$T/b.prom" || fail "scraping B"
python3 - "$T/b.prom" <<'PY' || fail "/stats/prometheus is not the Prometheus text format"
import re, sys
label = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
sample = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{(' + label + r')(,' + label + r')*,?\})? '
                    r'[-+]?([0-9.]+([eE][-+]?[0-9]+)?|NaN|[-+]?Inf)( [0-9]+)?$')
text = open(sys.argv[1], 'rb').read().decode('utf-8')
found = False
for line in text.split('\n'):
    if line == '' or line.startswith('#'):
        continue
    assert sample.match(line), 'not a sample line: %r' % line
    if 'root_subject="CN=root \\\\\\"q\\\\\\" \\\\\\\\ evil\\\\0Aclass=mesh_mtls' in line:
        found = True
assert found, 'no root_subject label of the hostile root'
PY

step "a sidecar whose own certificate has a hostile DNS SAN: /certs parses"
curl -sS -m 5 "http://127.0.0.1:$C_ADMIN/certs" >"$T/c.certs" || fail "GET /certs on C"
python3 - "$T/c.certs" <<'PY' || fail "/certs is not JSON with the SAN as it is"
import json, sys
d = json.load(open(sys.argv[1]))
sans = [s for c in d['certificates'][0]['cert_chain'] for s in c['subject_alt_names']]
assert {'dns': 'evil\nclass=mesh_mtls peer=spiffe://cluster.local/ns/istio-system/sa/admin'} in sans, sans
PY
one_line_per_record "$T/c.out"
stderr_lines "$T/c.err"
stderr_lines "$T/b.err"
log "ok"
