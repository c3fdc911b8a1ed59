#!/usr/bin/env bash
# sds-agent, files source: a Kubernetes-style secret volume (..data symlink
# swap, cert-manager layout) and a plain Istio-layout directory.  Every
# change is pushed as a new version; a half-written pair (certificate
# updated, key not yet), an expired pair and broken PEM are held back with a
# WARN; no response ever carries a key that does not match its certificate.
# With admin.address, /healthz/ready follows the served set and
# /stats/prometheus shows its expiry; an address in use stops the agent.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"

certs
mkdir -p "$T/gen"
cp "$CERTS/mesh-ca.crt" "$CERTS/mesh-ca.key" "$T/gen/"
for n in b c; do
    "$GEN_CERTS" leaf "$T/gen" mesh "leaf-$n" "spiffe://cluster.local/ns/foo/sa/$n" >/dev/null 2>&1 ||
        fail "gen-certs.sh leaf leaf-$n"
done
"$GEN_CERTS" leaf "$T/gen" mesh leaf-old spiffe://cluster.local/ns/foo/sa/old --expired >/dev/null 2>&1 ||
    fail "gen-certs.sh leaf --expired"
serial() { x509_field "$1" -serial | sed 's/^serial=//'; }

# check_pairs DIR: every response in DIR/r*/ has a key matching its leaf.
check_pairs() {
    local d n=0
    for d in "$1"/r*/; do
        [ -f "$d/default.chain.pem" ] || continue
        [ "$(openssl x509 -in "$d/default.chain.pem" -noout -pubkey)" = \
          "$(openssl pkey -in "$d/default.key.pem" -pubout)" ] ||
            fail "response $d carries a key that does not match its certificate"
        n=$((n + 1))
    done
    log "$n responses checked: every key matches its certificate"
}

step "config errors name the file, line, column and key"
printf 'socket: %s/x.sock\nfiles: {dir: %s}\nsockets: /x\n' "$T" "$T" >"$T/bad.yaml"
if "$AGENT" -c "$T/bad.yaml" --check >"$T/bad.out" 2>&1; then fail "--check accepted an unknown key"; fi
assert_contains "$T/bad.out" "bad.yaml:3:1: sockets: unknown key"
printf 'socket: %s/x.sock\nsource: ca\nca: {dir: /d, namespace: n, service_account: s, lifetime: 1}\n' "$T" >"$T/bad2.yaml"
if "$AGENT" -c "$T/bad2.yaml" >"$T/bad2.out" 2>&1; then fail "the agent started on a bad config"; fi
assert_contains "$T/bad2.out" 'bad2.yaml:3:[0-9]+: ca.lifetime: "1" is not a duration'
[ ! -e "$T/x.sock" ] || fail "the agent created its socket despite the bad config"
"$AGENT" --version >"$T/version.out" 2>&1 || fail "--version"
assert_contains "$T/version.out" '^sds-agent \(mtls-sidecar\) [0-9]+\.[0-9]+'

step "a Kubernetes secret volume (cert-manager layout)"
k=$T/k8s
mkdir -p "$k/..2024_01"
cp "$CERTS/client.crt" "$k/..2024_01/tls.crt"
cp "$CERTS/client.key" "$k/..2024_01/tls.key"
cp "$CERTS/ca.crt" "$k/..2024_01/ca.crt"
ln -s ..2024_01 "$k/..data"
for f in tls.crt tls.key ca.crt; do ln -s "..data/$f" "$k/$f"; done
cat >"$T/agent.yaml" <<YAML
socket: $T/sds.sock
source: files
files: {dir: $k}
YAML
"$AGENT" -c "$T/agent.yaml" --check >"$T/check.out" 2>&1 || { cat "$T/check.out"; fail "--check"; }
assert_contains "$T/check.out" 'cert-manager'
start_agent agent "$T/agent.yaml"
"$SDS_FETCH" -s "$T/sds.sock" -c 2 -t 30 -o "$T/got" >"$T/fetch.out" 2>&1 &
fetch=$!
wait_for_count "$T/fetch.out" '^RESP ' 1
v1=$(grep -m1 '^RESP ' "$T/fetch.out" | sed 's/.*version=\([^ ]*\).*/\1/')
assert_eq "$(serial "$CERTS/client.crt")" "$(serial "$T/got/r1/default.chain.pem")" "first serial"

step "the kubelet swaps ..data: a new version is pushed"
mkdir -p "$k/..2024_02"
cp "$T/gen/leaf-b.crt" "$k/..2024_02/tls.crt"
cp "$T/gen/leaf-b.key" "$k/..2024_02/tls.key"
cp "$CERTS/ca.crt" "$k/..2024_02/ca.crt"
ln -s ..2024_02 "$k/..data_tmp"
mv -T "$k/..data_tmp" "$k/..data"
wait "$fetch" || { cat "$T/fetch.out"; fail "no second version after the ..data swap"; }
v2=$(grep '^RESP ' "$T/fetch.out" | tail -n 1 | sed 's/.*version=\([^ ]*\).*/\1/')
assert_ne "$v1" "$v2" "version after the swap"
assert_eq "$(serial "$T/gen/leaf-b.crt")" "$(serial "$T/got/default.chain.pem")" "serial after the swap"
check_pairs "$T/got"
wait_for_log "$T/agent.err" "sds push stream=1 .*resource=default version=$v2 .*serial=$(serial "$T/gen/leaf-b.crt")"
stop agent

step "an Istio-layout directory: a half-written pair is held back"
i=$T/istio
mkdir -p "$i"
cp "$CERTS/client.crt" "$i/cert-chain.pem"
cp "$CERTS/client.key" "$i/key.pem"
cp "$CERTS/ca.crt" "$i/root-cert.pem"
cat >"$T/agent2.yaml" <<YAML
socket: $T/sds2.sock
files: {dir: $i}
YAML
start_agent agent2 "$T/agent2.yaml"
"$SDS_FETCH" -s "$T/sds2.sock" -c 3 -t 40 -o "$T/got2" >"$T/fetch2.out" 2>&1 &
fetch=$!
wait_for_count "$T/fetch2.out" '^RESP ' 1
cp "$T/gen/leaf-c.crt" "$i/cert-chain.pem"     # the certificate first ...
wait_for_log "$T/agent2.err" 'files .*held back \(still serving the previous certificate\): .*key.pem: key does not match'
sleep 1
assert_eq 1 "$(count_lines "$T/fetch2.out" '^RESP ')" "responses while the pair is half-written"
cp "$T/gen/leaf-c.key" "$i/key.pem"            # ... then the key
wait_for_count "$T/fetch2.out" '^RESP ' 2
assert_eq "$(serial "$T/gen/leaf-c.crt")" "$(serial "$T/got2/default.chain.pem")" "serial once consistent"

step "an expired pair and broken PEM are held back too"
cp "$T/gen/leaf-old.crt" "$i/cert-chain.pem.tmp"
cp "$T/gen/leaf-old.key" "$i/key.pem.tmp"
mv "$i/cert-chain.pem.tmp" "$i/cert-chain.pem"
mv "$i/key.pem.tmp" "$i/key.pem"
wait_for_log "$T/agent2.err" 'files .*held back .*cert-chain.pem: certificate expired at'
printf 'garbage\n' >"$i/root-cert.pem"
wait_for_log "$T/agent2.err" 'files .*held back .*root-cert.pem'
sleep 0.5
assert_eq 2 "$(count_lines "$T/fetch2.out" '^RESP ')" "responses after invalid changes"
step "a valid set again is pushed"
cp "$CERTS/ca.crt" "$i/root-cert.pem"
cp "$T/gen/leaf-b.crt" "$i/cert-chain.pem"
cp "$T/gen/leaf-b.key" "$i/key.pem"
wait "$fetch" || { cat "$T/fetch2.out"; fail "no third version"; }
assert_eq "$(serial "$T/gen/leaf-b.crt")" "$(serial "$T/got2/default.chain.pem")" "serial at the end"
check_pairs "$T/got2"
step "SIGHUP re-reads the directory and keeps serving"
kill -HUP "$(pid_of agent2)"
wait_for_log "$T/agent2.err" 'SIGHUP: re-reading the certificate source'
sleep 0.2
alive agent2
"$SDS_FETCH" -s "$T/sds2.sock" -c 1 -t 5 -o "$T/got3" >"$T/fetch3.out" 2>&1 || fail "no answer after SIGHUP"
assert_eq "$(serial "$T/gen/leaf-b.crt")" "$(serial "$T/got3/default.chain.pem")" "serial after SIGHUP"

step "admin listener on the files source: readiness follows the served set"
ADMIN=$(free_port)
j=$T/admin-certs
mkdir -p "$j"
cp "$T/gen/leaf-old.crt" "$j/cert-chain.pem"   # expired: nothing can be served
cp "$T/gen/leaf-old.key" "$j/key.pem"
cp "$CERTS/ca.crt" "$j/root-cert.pem"
cat >"$T/agent3.yaml" <<YAML
socket: $T/sds3.sock
files: {dir: $j}
admin: {address: "127.0.0.1:$ADMIN"}
YAML
start_agent agent3 "$T/agent3.yaml"
assert_eq 503 "$(sds_ready_code "$ADMIN")" "readiness with only an expired set"
assert_contains "$T/ready.body" "^not ready: no valid certificate set in $j: .*cert-chain.pem: certificate expired at"
cp "$T/gen/leaf-b.key" "$j/key.pem.tmp"
cp "$T/gen/leaf-b.crt" "$j/cert-chain.pem.tmp"
mv "$j/key.pem.tmp" "$j/key.pem"
mv "$j/cert-chain.pem.tmp" "$j/cert-chain.pem"
wait_ready_200 "$ADMIN"
curl -s -m 5 "http://127.0.0.1:$ADMIN/stats/prometheus" >"$T/prom3.txt" || fail "no /stats/prometheus"
pm() { awk -v k="$1" '$1 == k { print $2 }' "$T/prom3.txt"; }
assert_eq 1 "$(pm sds_agent_ready)" "sds_agent_ready"
assert_eq 0 "$(pm sds_agent_certificates_minted_total)" "minted by the files source"
end_of() { date -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%s; }
assert_eq "$(end_of "$T/gen/leaf-b.crt")" \
    "$(pm "sds_agent_certificate_expiration_timestamp_seconds{serial=\"$(serial "$T/gen/leaf-b.crt")\"}")" \
    "the served leaf's expiry"
assert_eq "$(end_of "$CERTS/ca.crt")" \
    "$(pm "sds_agent_ca_expiration_timestamp_seconds{role=\"root\",subject=\"CN=mesh\",serial=\"$(serial "$CERTS/ca.crt")\"}")" \
    "the root's expiry"

step "an admin address in use: the agent says so and exits 1"
cat >"$T/agent4.yaml" <<YAML
socket: $T/sds4.sock
files: {dir: $j}
admin: {address: "127.0.0.1:$ADMIN"}
YAML
rc=0
timeout 20 "$AGENT" -c "$T/agent4.yaml" >"$T/agent4.out" 2>&1 || rc=$?
assert_eq 1 "$rc" "exit status with the admin address in use"
assert_contains "$T/agent4.out" "admin: cannot listen on 127.0.0.1:$ADMIN"
[ ! -e "$T/sds4.sock" ] || fail "the agent left its SDS socket behind"
alive agent3
log "ok"
