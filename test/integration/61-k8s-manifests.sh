#!/usr/bin/env bash
# The Kubernetes deployment files (conf/k8s/, Dockerfile) without a cluster:
#   - every file in conf/k8s/ parses as multi-document YAML, and every
#     document has apiVersion, kind and metadata.name (PyYAML);
#   - the wiring (test/integration/k8s_manifests.py): init container with
#     NET_ADMIN+NET_RAW only, native sidecars (restartPolicy: Always) for
#     sds-agent and sidecar as uid 1337, readiness on :15021/healthz/ready,
#     Prometheus annotations for 15090, one SDS socket on a shared emptyDir,
#     --mark = socket_mark, a PeerAuthentication that selects the pod, the
#     cert-manager Certificate's SPIFFE ID and Secret = what the agent reads;
#     least privilege: read-only root file systems, the shipped sidecar
#     with no capability and allowPrivilegeEscalation: false (socket_mark: 0,
#     --mark 0: uid 1337 exempt, as Istio does), NET_ADMIN and escalation
#     only when a config sets socket_mark, the files it may write
#     (admin.unix_socket, access_log.path) on an emptyDir;
#   - sidecar.yaml from the ConfigMap passes `sidecar --check` with no WARN
#     (require_expected_identities, every outbound route names its servers); the
#     sds-agent configs (files and CA mode) pass `sds-agent --check` once
#     their directories hold certificates in the expected layouts;
#   - the Dockerfile copies files that exist, runs as uid 1337 and gives the
#     sidecar no file capability unless asked (SIDECAR_FILE_CAPS);
#   - and the checks are not vacuous: broken YAML, a config typo, a route
#     without expected_identities and a miswired Deployment are each caught,
#     and the socket_mark variant wants NET_ADMIN and escalation, and passes
#     once it has them as docs/deploy.md says.
. "$(dirname "$0")/lib.sh"

K8S=$ROOT/conf/k8s
CHECKER=$ROOT/test/integration/k8s_manifests.py
AGENT=${AGENT:-$SC_BUILD/bin/sds-agent}

PY=""
for p in /usr/bin/python3 python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import yaml' 2>/dev/null; then
        PY=$p
        break
    fi
done
[ -n "$PY" ] || skip "no python3 with the yaml module (Debian package python3-yaml; make deps)"
[ -x "$AGENT" ] || fail "no sds-agent binary at $AGENT (run make)"

step "every file in conf/k8s parses (multi-document YAML)"
files=("$K8S"/*.yaml)
[ -f "${files[0]}" ] || fail "no YAML files in $K8S"
"$PY" "$CHECKER" parse "${files[@]}" >"$T/parse.out" || { cat "$T/parse.out" >&2; fail "conf/k8s does not parse"; }
cat "$T/parse.out"
for kind in Deployment ConfigMap Certificate ServiceAccount Service; do
    assert_contains "$T/parse.out" ": $kind "
done

step "the files fit together"
mkdir -p "$T/cm"
"$PY" "$CHECKER" check "$K8S" "$T/cm" >"$T/check.out" || { cat "$T/check.out" >&2; fail "conf/k8s is miswired"; }

step "least privilege as shipped: no capability, no escalation, uid 1337 exempt by the rules"
assert_not_contains "$K8S/httpbin.yaml" '^ *allowPrivilegeEscalation: true'
assert_not_contains "$K8S/httpbin.yaml" '^ *add: \[NET_ADMIN\]$'
assert_eq 3 "$(grep -c "^ *readOnlyRootFilesystem: true" "$K8S/httpbin.yaml")" "mesh containers with a read-only root"
assert_eq 4 "$(grep -c "^ *allowPrivilegeEscalation: false" "$K8S/httpbin.yaml")" "containers without privilege escalation (all four)"
assert_contains "$K8S/sidecar-config.yaml" '^    socket_mark: 0 '

step "sidecar.yaml from the ConfigMap passes sidecar --check, every outbound server named"
n=0
for f in "$T"/cm/*sidecar.yaml; do
    [ -f "$f" ] || continue
    "$SIDECAR" -c "$f" --check >"$T/sc-check.out" 2>&1 || { cat "$T/sc-check.out" >&2; fail "sidecar --check refused $(basename "$f")"; }
    # no "any identity in trust domain …" WARN: routes carry expected_identities
    assert_not_contains "$T/sc-check.out" ' warn '
    assert_contains "$f" '^ *require_expected_identities: true'
    n=$((n + 1))
done
assert_eq 1 "$n" "sidecar configs found in ConfigMaps"

step "the sds-agent configs pass sds-agent --check with certificates in their layouts"
certs
# cert-manager's Secret (tls.crt, tls.key, ca.crt) and Istio's cacerts
mkdir -p "$T/etc-certs" "$T/etc-cacerts" "$T/run"
cp "$CERTS/server.crt" "$T/etc-certs/tls.crt"
cp "$CERTS/server.key" "$T/etc-certs/tls.key"
cp "$CERTS/ca.crt" "$T/etc-certs/ca.crt"
mkdir -p "$T/ca"
cp "$CERTS/mesh-ca.crt" "$CERTS/mesh-ca.key" "$T/ca/"
"$GEN_CERTS" intermediate "$T/ca" mesh k8s-int >/dev/null 2>&1 || fail "gen-certs.sh intermediate failed"
cp "$T/ca/k8s-int-ca.crt" "$T/etc-cacerts/ca-cert.pem"
cp "$T/ca/k8s-int-ca.key" "$T/etc-cacerts/ca-key.pem"
cp "$CERTS/ca.crt" "$T/etc-cacerts/root-cert.pem"
cat "$T/ca/k8s-int-ca.chain" "$CERTS/ca.crt" >"$T/etc-cacerts/cert-chain.pem"
n=0
for f in "$T"/cm/*sds-agent.yaml; do
    [ -f "$f" ] || continue
    sed -e "s#/etc/certs#$T/etc-certs#; s#/etc/cacerts#$T/etc-cacerts#; s#/var/run/sidecar/#$T/run/#" "$f" >"$f.local"
    "$AGENT" -c "$f.local" --check >"$T/ag-check.out" 2>&1 || { cat "$T/ag-check.out" >&2; fail "sds-agent --check refused $(basename "$f")"; }
    n=$((n + 1))
done
assert_eq 2 "$n" "sds-agent configs found in ConfigMaps (files and CA mode)"

step "the Dockerfile: sources exist, runtime user 1337, the three programs installed"
DF=$ROOT/Dockerfile
[ -f "$DF" ] || fail "no Dockerfile"
while read -r src; do
    [ -e "$ROOT/$src" ] || fail "Dockerfile copies $src, which does not exist"
done < <(awk '$1 == "COPY" && $2 !~ /^--from/ { for (i = 2; i < NF; i++) print $i }' "$DF")
assert_contains "$DF" '^USER 1337:1337$'
assert_contains "$DF" '^ARG SIDECAR_FILE_CAPS=$'
assert_contains "$DF" '^FROM debian:bookworm-slim AS build$'
for prog in sidecar sds-agent sidecar-iptables.sh; do
    assert_contains "$DF" "/usr/local/bin/$prog"
    grep -q "/usr/local/bin/$prog" "$K8S/httpbin.yaml" || [ "$prog" = sidecar ] ||
        fail "conf/k8s/httpbin.yaml does not run /usr/local/bin/$prog"
done
assert_contains "$DF" '/src/build/bin/sidecarctl /usr/local/bin/'

step "the checks catch mistakes"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x\n' >"$T/broken.yaml"
if "$PY" "$CHECKER" parse "$T/broken.yaml" >"$T/broken.out" 2>&1; then fail "broken YAML was accepted"; fi
assert_contains "$T/broken.out" 'YAML error'
printf 'apiVersion: v1\nkind: ConfigMap\n---\nkind: Secret\nmetadata: {name: y}\n' >"$T/unnamed.yaml"
if "$PY" "$CHECKER" parse "$T/unnamed.yaml" >"$T/unnamed.out" 2>&1; then fail "documents without names were accepted"; fi
assert_contains "$T/unnamed.out" 'document 1 \(ConfigMap\) has no metadata.name'
assert_contains "$T/unnamed.out" 'document 2 has no apiVersion'
sed 's/socket_mark: 0 /socket_mrk: 0 /' "$T/cm/httpbin-sidecar__sidecar.yaml" >"$T/typo.yaml"
if "$SIDECAR" -c "$T/typo.yaml" --check >"$T/typo.out" 2>&1; then fail "a sidecar.yaml typo passed --check"; fi
assert_contains "$T/typo.out" 'socket_mrk'
grep -v 'expected_identities: \["spiffe' "$T/cm/httpbin-sidecar__sidecar.yaml" >"$T/unpinned.yaml"
if "$SIDECAR" -c "$T/unpinned.yaml" --check >"$T/unpinned.out" 2>&1; then fail "a route without expected_identities passed --check"; fi
assert_contains "$T/unpinned.out" ':[0-9]+:[0-9]+: outbound\.routes\[0\]: no expected_identities or subjectAltNames, and outbound\.require_expected_identities is true'
mkdir -p "$T/bad-k8s" "$T/bad-cm"
cp "$K8S"/*.yaml "$T/bad-k8s/"
sed -i -e 's/add: \[NET_ADMIN, NET_RAW\]/add: [NET_ADMIN, NET_RAW, SYS_ADMIN]/' \
    -e 's/restartPolicy: Always              # a native sidecar$/restartPolicy: OnFailure/' \
    -e 's/prometheus.io\/port: "15090"/prometheus.io\/port: "9090"/' \
    -e '/^        - name: sidecar$/,/^        - name: httpbin/s/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/' \
    "$T/bad-k8s/httpbin.yaml"
sed -i -e 's/^    socket_mark: 0 /    socket_mark: 7 /' \
    -e 's/^    health: {address: "0.0.0.0:15021"}/    health: {}/' \
    -e 's|^    admin:  {address: "127.0.0.1:15000"}|    admin:  {address: "127.0.0.1:15000", unix_socket: /tmp/admin.sock}|' \
    "$T/bad-k8s/sidecar-config.yaml"
if "$PY" "$CHECKER" check "$T/bad-k8s" "$T/bad-cm" >"$T/bad.out" 2>&1; then fail "a miswired Deployment passed"; fi
cat "$T/bad.out"
assert_contains "$T/bad.out" 'sidecar-init capabilities'
assert_contains "$T/bad.out" 'must be a native sidecar'
assert_contains "$T/bad.out" 'Prometheus annotations'
assert_contains "$T/bad.out" "socket_mark 7 in sidecar.yaml differs from sidecar-iptables.sh --mark '0'"
assert_contains "$T/bad.out" "health.address '\(default\)': want 0.0.0.0:15021"
assert_contains "$T/bad.out" 'sidecar: readOnlyRootFilesystem must be true'
assert_contains "$T/bad.out" 'admin.unix_socket /tmp/admin.sock: not on a writable emptyDir'

step "the socket_mark variant (docs/deploy.md): NET_ADMIN and escalation, and only then"
mkdir -p "$T/mark-k8s" "$T/mark-cm"
cp "$K8S"/*.yaml "$T/mark-k8s/"
sed -i -e 's/^    socket_mark: 0 /    socket_mark: 1337 /' "$T/mark-k8s/sidecar-config.yaml"
sed -i -e 's/- "0"                            # = socket_mark in sidecar.yaml.*/- "1337"/' "$T/mark-k8s/httpbin.yaml"
if "$PY" "$CHECKER" check "$T/mark-k8s" "$T/mark-cm" >"$T/mark.out" 2>&1; then fail "socket_mark 1337 without NET_ADMIN passed"; fi
cat "$T/mark.out"
assert_contains "$T/mark.out" "sidecar capabilities: want drop \[ALL\], add \['NET_ADMIN'\] \(socket_mark 1337\)"
assert_contains "$T/mark.out" 'sidecar: allowPrivilegeEscalation must be true with socket_mark 1337'
sed -i -e '/^        - name: sidecar$/,/^        - name: httpbin/{s/allowPrivilegeEscalation: false/allowPrivilegeEscalation: true/;s/capabilities: {drop: \[ALL\]}/capabilities: {drop: [ALL], add: [NET_ADMIN]}/}' \
    "$T/mark-k8s/httpbin.yaml"
"$PY" "$CHECKER" check "$T/mark-k8s" "$T/mark-cm" >"$T/mark2.out" 2>&1 || { cat "$T/mark2.out" >&2; fail "the socket_mark variant is refused"; }
log "ok"
