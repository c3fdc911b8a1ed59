#!/usr/bin/env bash
# Outbound routes and listeners that accept any identity of our trust domain
# (ISTIO_MUTUAL with no expected_identities and no DestinationRule
# subjectAltNames) are allowed but never silent:
#   - one WARN line each at start-up, naming it (a listener by its name, a
#     route by its host, a host-less route as outbound.routes[N]) and saying
#     what is accepted; none for routes and listeners that name their server
#     (expected_identities, subjectAltNames), for DISABLE or for SIMPLE;
#   - the same lines again on every reload (SIGHUP, POST /reload), once per
#     load, following the new config; none for a reload that fails;
#   - /config_dump says "identity_check" for each route, listener and the
#     default;
#   - outbound.require_expected_identities: true makes each of them a config
#     error with FILE:LINE:COL, from `sidecar --check`, at start and on reload.
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
command -v "$PY" >/dev/null 2>&1 || skip "no python3 (make deps)"
certs

WARN_RE=' warn outbound (route|listener) '
ANY_RE='no expected_identities or subjectAltNames: any identity in trust domain cluster\.local is accepted as the server$'

# write_config FILE HEAD PINNED_LISTENER: the client's config, after HEAD
# (a sidecar_config file, so a rewrite keeps the admin port).  to-bar gets
# expected_identities when PINNED_LISTENER is 1.  The error checks find
# line numbers with grep -n.
write_config() {
    local f=$1 pin=""
    [ "$3" = 1 ] && pin=", expected_identities: [\"spiffe://cluster.local/ns/bar/sa/server\"]"
    cp "$2" "$f"
    cat >>"$f" <<EOF
outbound:
  address: "127.0.0.1:$P_CAPTURE"
  routes:
    - host: reviews.foo.svc.cluster.local
      cidr: 10.10.0.0/16
    - cidr: 10.20.0.0/16
      port: 9080
    - host: ratings
      cidr: 10.30.0.0/16
      expected_identities: ["spiffe://cluster.local/ns/foo/sa/ratings"]
    - host: details
      cidr: 10.40.0.0/16
    - cidr: 10.50.0.0/16
      tls: DISABLE
    - host: api.example.com
      cidr: 10.60.0.0/16
      tls: SIMPLE
      ca_certificates: "$CERTS/ca.crt"
  default: {tls: DISABLE}
listeners:
  - {name: to-bar, direction: outbound, address: "127.0.0.1:$P_BAR", upstream: "127.0.0.1:$P_UP",
     tls: ISTIO_MUTUAL$pin}
  - {name: to-bar-pinned, direction: outbound, address: "127.0.0.1:$P_PINNED", upstream: "127.0.0.1:$P_UP",
     expected_identities: ["spiffe://cluster.local/ns/bar/*"]}
  - {name: to-bar-plain, direction: outbound, address: "127.0.0.1:$P_PLAIN", upstream: "127.0.0.1:$P_UP",
     tls: DISABLE}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: details, namespace: foo}
spec:
  host: details
  trafficPolicy:
    tls: {mode: ISTIO_MUTUAL, subjectAltNames: ["spiffe://cluster.local/ns/foo/sa/details"]}
EOF
}

# require FILE: turns outbound.require_expected_identities on in FILE.
require() {
    sed -i 's/^outbound:$/outbound:\n  require_expected_identities: true/' "$1"
}

# line_of FILE TEXT: the line number of the first line holding TEXT.
line_of() {
    grep -n -F -- "$2" "$1" | head -n 1 | cut -d: -f1
}

# idcheck WHAT: the identity_check /config_dump gives WHAT ("listener NAME",
# "route N" or "default"), from $T/dump.json.
idcheck() {
    "$PY" - "$T/dump.json" "$1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
kind, _, key = sys.argv[2].partition(" ")
if kind == "listener":
    print([l for l in d["listeners"] if l["name"] == key][0].get("identity_check", "-"))
elif kind == "route":
    print(d["outbound"]["routes"][int(key)].get("identity_check", "-"))
else:
    print(d["outbound"]["default"].get("identity_check", "-"))
EOF
}

config_dump() {
    curl -s -f -o "$T/dump.json" "http://127.0.0.1:$ADMIN_PORT/config_dump" || fail "GET /config_dump failed"
}

P_CAPTURE=$(free_port); P_BAR=$(free_port); P_PINNED=$(free_port); P_PLAIN=$(free_port); P_UP=$(free_port)

step "--check names each route and listener that accepts any identity, and passes"
sidecar_config "$T/head-a.yaml" client foo client
write_config "$T/a.yaml" "$T/head-a.yaml" 0
"$SIDECAR" -c "$T/a.yaml" --check >"$T/check.out" 2>"$T/check.err" || { cat "$T/check.err" >&2; fail "--check refused a.yaml"; }
assert_contains "$T/check.out" 'configuration is valid'
assert_eq 3 "$(count_lines "$T/check.err" "$WARN_RE")" "WARN lines from --check"

step "start-up: one WARN per such route or listener, naming it"
start_sidecar a "$T/a.yaml" "$P_BAR" "$P_PINNED" "$P_PLAIN"
assert_eq 3 "$(count_lines "$T/a.err" "$WARN_RE")" "WARN lines at start-up"
assert_contains "$T/a.err" " warn outbound route reviews\.foo\.svc\.cluster\.local: $ANY_RE"
assert_contains "$T/a.err" " warn outbound route outbound\.routes\[1\]: $ANY_RE"
assert_contains "$T/a.err" " warn outbound listener to-bar: $ANY_RE"
# routes and listeners that name their server, DISABLE and SIMPLE: no WARN
for quiet in ratings details api.example.com 'outbound\.routes\[4\]' to-bar-pinned to-bar-plain outbound.default; do
    assert_not_contains "$T/a.err" "warn outbound (route|listener) $quiet:"
done

step "/config_dump: identity_check for every route, outbound listener and the default"
config_dump
assert_eq trust_domain_only "$(idcheck 'route 0')" "reviews identity_check"
assert_eq trust_domain_only "$(idcheck 'route 1')" "outbound.routes[1] identity_check"
assert_eq expected_identities "$(idcheck 'route 2')" "ratings identity_check"
assert_eq expected_identities "$(idcheck 'route 3')" "details (DestinationRule subjectAltNames) identity_check"
assert_eq none "$(idcheck 'route 4')" "DISABLE route identity_check"
assert_eq server_name "$(idcheck 'route 5')" "SIMPLE route identity_check"
assert_eq none "$(idcheck default)" "outbound.default identity_check"
assert_eq trust_domain_only "$(idcheck 'listener to-bar')" "to-bar identity_check"
assert_eq expected_identities "$(idcheck 'listener to-bar-pinned')" "to-bar-pinned identity_check"
assert_eq none "$(idcheck 'listener to-bar-plain')" "to-bar-plain identity_check"

step "SIGHUP: the same WARN lines again, once"
kill -HUP "$(pid_of a)"
wait_for_count "$T/a.err" "$WARN_RE" 6
assert_contains "$T/a.err" "reloaded $T/a.yaml"

step "POST /reload of a config that pins to-bar: WARN for the two routes only"
write_config "$T/a.yaml" "$T/head-a.yaml" 1
code=$(curl -s -o "$T/reload.body" -w '%{http_code}' -X POST "http://127.0.0.1:$ADMIN_PORT/reload")
assert_eq 200 "$code" "POST /reload"
# the reply comes after the reload, WARN lines included
assert_eq 8 "$(count_lines "$T/a.err" "$WARN_RE")" "WARN lines after start, SIGHUP and POST /reload"
assert_eq 3 "$(count_lines "$T/a.err" " warn outbound route reviews\.foo\.svc\.cluster\.local: ")" "WARN lines for reviews"
assert_eq 3 "$(count_lines "$T/a.err" " warn outbound route outbound\.routes\[1\]: ")" "WARN lines for outbound.routes[1]"
assert_eq 2 "$(count_lines "$T/a.err" " warn outbound listener to-bar: ")" "WARN lines for to-bar"
config_dump
assert_eq expected_identities "$(idcheck 'listener to-bar')" "to-bar identity_check once pinned"

step "a reload refused by require_expected_identities: the error with FILE:LINE:COL, no WARN, the old config stays"
require "$T/a.yaml"
L=$(line_of "$T/a.yaml" "- host: reviews.foo.svc.cluster.local")
code=$(curl -s -o "$T/reload.body" -w '%{http_code}' -X POST "http://127.0.0.1:$ADMIN_PORT/reload")
assert_eq 400 "$code" "POST /reload with require_expected_identities"
ERR_RE="$T/a\\.yaml:$L:7: outbound\\.routes\\[0\\]: no expected_identities or subjectAltNames, and outbound\\.require_expected_identities is true"
assert_contains "$T/reload.body" "$ERR_RE"
assert_contains "$T/a.err" "reload failed, keeping the running config: $ERR_RE"
assert_eq 8 "$(count_lines "$T/a.err" "$WARN_RE")" "WARN lines after a failed reload"
config_dump
assert_eq trust_domain_only "$(idcheck 'route 0')" "reviews identity_check after a failed reload"
alive a

step "--check and start-up refuse each such entry with require_expected_identities: true"
P_CAPTURE=$(free_port); P_BAR=$(free_port); P_PINNED=$(free_port); P_PLAIN=$(free_port)
sidecar_config "$T/head-req.yaml" client foo client
write_config "$T/req.yaml" "$T/head-req.yaml" 0
require "$T/req.yaml"
# check_refused FILE KEYPATH LINE COL: --check and a start both fail with the error
check_refused() {
    local f=$1 re rc=0
    re="^$f:$3:$4: $2: no expected_identities or subjectAltNames, and outbound\\.require_expected_identities is true\$"
    "$SIDECAR" -c "$f" --check >"$T/req-check.out" 2>"$T/req-check.err" || rc=$?
    assert_eq 1 "$rc" "--check exit status on $(basename "$f")"
    assert_contains "$T/req-check.err" "$re"
    rc=0
    timeout 20 "$SIDECAR" -c "$f" >"$T/req-start.out" 2>"$T/req-start.err" </dev/null || rc=$?
    assert_eq 1 "$rc" "start-up exit status on $(basename "$f")"
    assert_contains "$T/req-start.err" "$re"
    assert_not_contains "$T/req-start.err" '(^|[[:space:]])ready([:[:space:]]|$)'
}
check_refused "$T/req.yaml" 'outbound\.routes\[0\]' "$(line_of "$T/req.yaml" "- host: reviews.foo.svc.cluster.local")" 7
# pin the routes one by one: the next offender is named
sed -i 's#^      cidr: 10.10.0.0/16$#&\n      expected_identities: ["spiffe://cluster.local/ns/foo/sa/reviews"]#' "$T/req.yaml"
check_refused "$T/req.yaml" 'outbound\.routes\[1\]' "$(line_of "$T/req.yaml" "- cidr: 10.20.0.0/16")" 7
sed -i 's#^      port: 9080$#&\n      expected_identities: ["spiffe://cluster.local/ns/baz/*"]#' "$T/req.yaml"
check_refused "$T/req.yaml" 'listeners\[0\]' "$(line_of "$T/req.yaml" "- {name: to-bar,")" 5

step "require_expected_identities with every server named: starts, no WARN"
write_config "$T/req.yaml" "$T/head-req.yaml" 1
require "$T/req.yaml"
sed -i -e 's#^      cidr: 10.10.0.0/16$#&\n      expected_identities: ["spiffe://cluster.local/ns/foo/sa/reviews"]#' \
    -e 's#^      port: 9080$#&\n      expected_identities: ["spiffe://cluster.local/ns/baz/*"]#' "$T/req.yaml"
"$SIDECAR" -c "$T/req.yaml" --check >"$T/req-ok.out" 2>"$T/req-ok.err" || { cat "$T/req-ok.err" >&2; fail "--check refused a config whose servers are all named"; }
assert_not_contains "$T/req-ok.err" "$WARN_RE"
stop a
start_sidecar strict "$T/req.yaml" "$P_BAR" "$P_PINNED" "$P_PLAIN"
assert_not_contains "$T/strict.err" "$WARN_RE"
config_dump
assert_eq expected_identities "$(idcheck 'route 0')" "reviews identity_check, pinned"
assert_eq expected_identities "$(idcheck 'route 1')" "outbound.routes[1] identity_check, pinned"
log "ok"
