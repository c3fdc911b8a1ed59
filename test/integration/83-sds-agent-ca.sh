#!/usr/bin/env bash
# sds-agent, ca source: it mints the workload certificate (SPIFFE URI SAN,
# fresh ECDSA P-256 key, configured lifetime, random serial, chain up to the
# root), renews it at renew_at x lifetime (a 4 s lifetime rotates every
# ~2 s), and rotates roots without downtime: when the CA directory changes to
# a new root, ROOTCA = old + new roots is pushed first, the leaf is reissued
# from the new CA once the subscriber has ACKed, and the old root is dropped
# after root_overlap.
# cert-manager's layout of the CA directory (tls.crt, tls.key, ca.crt) is
# served like Istio's: two agents minting from it feed a pair of sidecars
# and a request goes through; the leaf chains to ca.crt.  The admin listener
# (admin.address) answers /healthz/ready and /stats/prometheus; without the
# key the agent listens on no TCP port.  --help lists the options.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"

ncerts() { grep -c 'BEGIN CERTIFICATE' "$1"; }
serial() { x509_field "$1" -serial | sed 's/^serial=//'; }
issuer() { x509_field "$1" -issuer | sed 's/^issuer=//; s/ //g'; }

step "leaf rotation with a 4 s lifetime"
make_cacerts "$T/ca-a" itA
cat >"$T/agent.yaml" <<YAML
socket: $T/sds.sock
trust_domain: example.org
source: ca
ca: {dir: $T/ca-a, namespace: bar, service_account: server, lifetime: 4s, renew_at: 0.5, jitter: 0.05}
YAML
start_agent agent "$T/agent.yaml"
start=$(date +%s.%N)
"$SDS_FETCH" -s "$T/sds.sock" -c 5 -t 30 -o "$T/got" >"$T/fetch.out" 2>&1 ||
    { cat "$T/fetch.out"; fail "fewer than 5 responses in 30 s"; }
secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
log "5 responses (4 rotations) in ${secs}s"
awk -v s="$secs" 'BEGIN { exit !(s >= 6.5 && s <= 12) }' || fail "4 rotations took ${secs}s, expected about 8 s"
prev=
for n in 1 2 3 4 5; do
    d=$T/got/r$n
    s=$(serial "$d/default.chain.pem")
    [ "$s" != "$prev" ] || fail "response $n repeats serial $s"
    prev=$s
    x509_field "$d/default.chain.pem" -ext subjectAltName >"$T/san.out"
    assert_contains "$T/san.out" '^ *URI:spiffe://example.org/ns/bar/sa/server$'
    openssl verify -no_check_time -CAfile "$d/ROOTCA.ca.pem" -untrusted "$d/default.chain.pem" "$d/default.chain.pem" \
        >/dev/null 2>&1 || fail "response $n: the chain does not verify against ROOTCA"
    x509_field "$d/default.chain.pem" -text | grep -q 'ASN1 OID: prime256v1' ||
        fail "response $n: not an ECDSA P-256 key"
    [ "$(openssl x509 -in "$d/default.chain.pem" -noout -pubkey)" = \
      "$(openssl pkey -in "$d/default.key.pem" -pubout)" ] || fail "response $n: key does not match"
done
nb=$(date -d "$(x509_field "$T/got/r5/default.chain.pem" -startdate | cut -d= -f2)" +%s)
na=$(date -d "$(x509_field "$T/got/r5/default.chain.pem" -enddate | cut -d= -f2)" +%s)
life=$((na - nb))
[ "$life" -ge 4 ] && [ "$life" -le 6 ] || fail "validity is ${life}s, expected 4 s plus at most 1 s backdating"
assert_eq 1 "$(ncerts "$T/got/r5/ROOTCA.ca.pem")" "roots"
for n in 1 5; do # the agent logs each issuance with its serial
    assert_contains "$T/agent.err" \
        "ca: issued spiffe://example.org/ns/bar/sa/server serial=$(serial "$T/got/r$n/default.chain.pem") not_after="
done
wait_for_log "$T/agent.err" 'sds push stream=1 .*resource=default version=[0-9]+-[0-9a-f]+ nonce=[0-9-]+ serial=[0-9A-F]+ not_after=20'
# no admin: key, no admin listener
assert_eq 0 "$(agent_tcp_listeners agent)" "TCP listeners of an agent without admin:"
assert_not_contains "$T/agent.err" 'admin listening'
stop agent

step "root rotation A -> A+B -> B"
make_cacerts "$T/ca" itA
make_cacerts "$T/ca-b" itB
cat >"$T/agent2.yaml" <<YAML
socket: $T/sds2.sock
source: ca
ca: {dir: $T/ca, namespace: foo, service_account: client, lifetime: 1h, root_overlap: 3s, trust_wait: 10s}
YAML
start_agent agent2 "$T/agent2.yaml"
"$SDS_FETCH" -s "$T/sds2.sock" -c 4 -t 40 -o "$T/rot" >"$T/rot.out" 2>&1 &
fetch=$!
wait_for_count "$T/rot.out" '^RESP ' 1
# the operator replaces the CA files one by one (the agent holds back the
# inconsistent states in between)
for f in root-cert.pem cert-chain.pem ca-cert.pem ca-key.pem; do
    cp "$T/ca-b/$f" "$T/ca/$f.tmp"
    mv "$T/ca/$f.tmp" "$T/ca/$f"
done
wait "$fetch" || { cat "$T/rot.out"; fail "fewer than 4 responses during the root rotation"; }
r=$T/rot
assert_eq "1 CN=itA-int" "$(ncerts "$r/r1/ROOTCA.ca.pem") $(issuer "$r/r1/default.chain.pem")" "r1: roots, issuer"
assert_eq "2 CN=itA-int" "$(ncerts "$r/r2/ROOTCA.ca.pem") $(issuer "$r/r2/default.chain.pem")" "r2 (old+new roots first, same leaf)"
assert_eq "$(serial "$r/r1/default.chain.pem")" "$(serial "$r/r2/default.chain.pem")" "r2 keeps the leaf"
assert_eq "2 CN=itB-int" "$(ncerts "$r/r3/ROOTCA.ca.pem") $(issuer "$r/r3/default.chain.pem")" "r3 (leaf from B, both roots)"
assert_eq "1 CN=itB-int" "$(ncerts "$r/r4/ROOTCA.ca.pem") $(issuer "$r/r4/default.chain.pem")" "r4 (old root dropped)"
cmp -s "$r/r4/ROOTCA.ca.pem" <(openssl x509 -in "$T/ca-b/root-cert.pem") || fail "r4: ROOTCA is not root B"
for n in 1 2 3 4; do
    openssl verify -CAfile "$r/r$n/ROOTCA.ca.pem" -untrusted "$r/r$n/default.chain.pem" \
        "$r/r$n/default.chain.pem" >/dev/null 2>&1 || fail "r$n: the leaf does not verify against its ROOTCA"
done
# both roots were served while leaves of either CA could be in use: r2 and
# r3 each verify a leaf of A and of B
openssl verify -CAfile "$r/r3/ROOTCA.ca.pem" -untrusted "$r/r1/default.chain.pem" \
    "$r/r1/default.chain.pem" >/dev/null 2>&1 || fail "r3 ROOTCA does not trust A's leaf"
assert_contains "$T/agent2.err" 'new CA .* with new roots: serving old\+new roots'
assert_contains "$T/agent2.err" 'switching to the new CA \(every subscriber answered'
assert_contains "$T/agent2.err" 'root overlap ended'
alive agent2

step "--help"
"$AGENT" --help >"$T/help.out" 2>"$T/help.err" || fail "sds-agent --help exited $?"
for want in '-c, --config FILE' '--check' '-l, --log-level LEVEL' '--version' '-h, --help' \
    'docs/sds-agent.md' 'admin\.address' '/healthz/ready' '/stats/prometheus' \
    'SIGHUP +re-read the certificate source' 'SIGTERM, SIGINT +close the sockets and exit 0'; do
    grep -qE -e "$want" "$T/help.out" || { cat "$T/help.out"; fail "--help does not mention '$want'"; }
done
[ ! -s "$T/help.err" ] || fail "--help wrote to stderr: $(cat "$T/help.err")"
rc=0
"$AGENT" --no-such-option >/dev/null 2>"$T/badopt.err" || rc=$?
assert_eq 2 "$rc" "exit status on an unknown option"
assert_contains "$T/badopt.err" '^usage: sds-agent'

step "cert-manager layout (tls.crt = intermediate, ca.crt = root): minted, used by a sidecar pair"
make_cm_cacerts "$T/cm" cm
ADMIN_B=$(free_port)
ca_agent_config "$T/cm-a.yaml" "$T/cm-a.sock" "$T/cm" foo client "lifetime: 1h"
ca_agent_config "$T/cm-b.yaml" "$T/cm-b.sock" "$T/cm" bar server "lifetime: 1h"
printf 'admin: {address: "127.0.0.1:%s"}\n' "$ADMIN_B" >>"$T/cm-b.yaml"
"$AGENT" -c "$T/cm-a.yaml" --check >"$T/check.out" 2>&1 ||
    { cat "$T/check.out"; fail "--check refused the cert-manager layout"; }
assert_contains "$T/check.out" 'ok \(ca, subject="CN=cm-int" .*layout=cert-manager'
start_agent agent-cma "$T/cm-a.yaml"
start_agent agent-cmb "$T/cm-b.yaml"
assert_contains "$T/agent-cma.err" 'loaded CA subject="CN=cm-int" .*layout=cert-manager'
"$SDS_FETCH" -s "$T/cm-a.sock" -c 1 -t 20 -o "$T/cm-got" >"$T/cm-fetch.out" 2>&1 ||
    { cat "$T/cm-fetch.out"; fail "no response from the agent on the cert-manager layout"; }
d=$T/cm-got/r1
assert_eq "2 CN=cm-int" "$(ncerts "$d/default.chain.pem") $(issuer "$d/default.chain.pem")" "chain (leaf + tls.crt), issuer"
cmp -s "$d/ROOTCA.ca.pem" <(openssl x509 -in "$T/cm/ca.crt") || fail "ROOTCA is not ca.crt"
openssl verify -CAfile "$T/cm/ca.crt" -untrusted "$d/default.chain.pem" "$d/default.chain.pem" \
    >"$T/cm-verify.out" 2>&1 || { cat "$T/cm-verify.out"; fail "the minted chain does not lead to ca.crt"; }
sds_pair "$T/cm-a.sock" "$T/cm-b.sock"
printf 'through-cert-manager\n' | tcp_client 127.0.0.1 "$P_OUT" 2 >"$T/cm-req.out" || true
assert_eq through-cert-manager "$(cat "$T/cm-req.out")" "a request through A -> B, both certified from cert-manager's layout"
assert_eq 1 "$(sds_metric "$B_ADMIN" 'sidecar_secrets_updates_total{result="accepted"}')" "B installed the minted set"

step "admin listener: /healthz/ready and /stats/prometheus"
assert_eq 1 "$(agent_tcp_listeners agent-cmb)" "TCP listeners of an agent with admin:"
assert_contains "$T/agent-cmb.err" "admin listening on 127.0.0.1:$ADMIN_B"
assert_eq 200 "$(sds_ready_code "$ADMIN_B")" "agent /healthz/ready"
assert_eq LIVE "$(cat "$T/ready.body")" "agent /healthz/ready body"
curl -s -m 5 -o "$T/prom.txt" -w '%{http_code} %{content_type}' \
    "http://127.0.0.1:$ADMIN_B/stats/prometheus" >"$T/prom.code" || true
assert_eq "200 text/plain; version=0.0.4" "$(cat "$T/prom.code")" "/stats/prometheus status, type"
# the text format: comments, or NAME{LABEL="VALUE",...} NUMBER
lv='[a-z_]+="([^"\\]|\\.)*"'
if grep -vE "^# (HELP|TYPE) sds_agent_[a-z_]+ |^sds_agent_[a-z_]+(\{$lv(,$lv)*\})? [0-9]+\$" \
    "$T/prom.txt" >"$T/prom.bad"; then
    cat "$T/prom.bad"
    fail "/stats/prometheus: lines not in the Prometheus text format"
fi
for nt in sds_agent_ready:gauge sds_agent_clients:gauge sds_agent_connections_total:counter \
    sds_agent_pushes_total:counter sds_agent_push_replies_total:counter \
    sds_agent_certificates_minted_total:counter \
    sds_agent_certificate_expiration_timestamp_seconds:gauge \
    sds_agent_ca_expiration_timestamp_seconds:gauge; do
    grep -q "^# TYPE ${nt%%:*} ${nt##*:}\$" "$T/prom.txt" || fail "/stats/prometheus: no ${nt##*:} ${nt%%:*}"
done
pm() { awk -v k="$1" '$1 == k { print $2 }' "$T/prom.txt"; }
assert_eq 1 "$(pm sds_agent_ready)" "sds_agent_ready"
assert_eq 1 "$(pm sds_agent_clients)" "sds_agent_clients (B's stream)"
assert_eq 1 "$(pm sds_agent_certificates_minted_total)" "sds_agent_certificates_minted_total"
[ "$(pm sds_agent_pushes_total)" -ge 1 ] || fail "sds_agent_pushes_total is '$(pm sds_agent_pushes_total)'"
[ "$(pm 'sds_agent_push_replies_total{result="ack"}')" -ge 1 ] || fail "no ACK counted"
assert_eq 0 "$(pm 'sds_agent_push_replies_total{result="nack"}')" "NACKs"
cm_serial() { openssl x509 -in "$1" -noout -serial | sed 's/^serial=//'; }
cm_end() { date -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%s; }
assert_eq "$(cm_end "$T/cm/ca.crt")" \
    "$(pm "sds_agent_ca_expiration_timestamp_seconds{role=\"root\",subject=\"CN=cm\",serial=\"$(cm_serial "$T/cm/ca.crt")\"}")" \
    "root expiry"
assert_eq "$(cm_end "$T/cm/tls.crt")" \
    "$(pm "sds_agent_ca_expiration_timestamp_seconds{role=\"signing\",subject=\"CN=cm-int\",serial=\"$(cm_serial "$T/cm/tls.crt")\"}")" \
    "signing CA expiry"
held=$(sds_table_serial "$B_ADMIN")
got=$(grep '^sds_agent_certificate_expiration_timestamp_seconds{' "$T/prom.txt" |
    sed 's/.*serial="\([0-9A-F]*\)".*/\1/' | norm_serial)
assert_eq "$held" "$got" "the served leaf's serial (as B holds it)"

step "readiness: 503 with the reason until the CA directory loads"
ADMIN_C=$(free_port)
mkdir -p "$T/cm-late"
ca_agent_config "$T/cm-c.yaml" "$T/cm-c.sock" "$T/cm-late" foo client "lifetime: 1h"
printf 'admin: {address: "127.0.0.1:%s"}\n' "$ADMIN_C" >>"$T/cm-c.yaml"
start_agent agent-cmc "$T/cm-c.yaml"
assert_eq 503 "$(sds_ready_code "$ADMIN_C")" "readiness without a CA"
assert_contains "$T/ready.body" "^not ready: no CA loaded from $T/cm-late: .*neither ca-cert.pem nor tls.crt found"
assert_eq 0 "$(curl -s -m 5 "http://127.0.0.1:$ADMIN_C/stats/prometheus" |
    awk '$1 == "sds_agent_ready" { print $2 }')" "sds_agent_ready without a CA"
# a CA's crt/key renamed (self-signed: tls.crt = ca.crt) appears
make_cm_cacerts "$T/cm-ss" cmss self-signed
cp "$T/cm-ss/tls.key" "$T/cm-ss/tls.crt" "$T/cm-ss/ca.crt" "$T/cm-late/"
wait_ready_200 "$ADMIN_C"
"$SDS_FETCH" -s "$T/cm-c.sock" -c 1 -t 20 -o "$T/ss-got" >"$T/ss-fetch.out" 2>&1 ||
    { cat "$T/ss-fetch.out"; fail "no response from the agent on a self-signed cert-manager CA"; }
assert_eq "1 CN=cmss" "$(ncerts "$T/ss-got/r1/default.chain.pem") $(issuer "$T/ss-got/r1/default.chain.pem")" \
    "self-signed CA: chain, issuer"
openssl verify -CAfile "$T/cm-ss/ca.crt" "$T/ss-got/r1/default.chain.pem" >/dev/null 2>&1 ||
    fail "the leaf of the self-signed cert-manager CA does not verify against ca.crt"
# both layouts at once are refused, naming the files; the last good CA stays
cp "$T/ca-a/ca-cert.pem" "$T/cm-late/ca-cert.pem"
wait_for_log "$T/agent-cmc.err" "held back \(still signing with the previous CA\): $T/cm-late: holds both ca-cert.pem \(Istio's layout\) and tls.crt \(cert-manager's\)"
assert_eq 200 "$(sds_ready_code "$ADMIN_C")" "readiness while an ambiguous directory is held back"
alive agent-cma
alive agent-cmb
alive agent-cmc
log "ok"
