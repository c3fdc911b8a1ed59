#!/usr/bin/env bash
# The sds-agent's socket is private: mode 0600 by default, and every peer's
# SO_PEERCRED uid is checked against allowed_uids; a refused peer gets no
# secrets and the agent logs its uid.  As root, a client really runs as
# another uid (setpriv); without root, the test refuses our own uid.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"

certs
mkdir -p "$T/files"
cp "$CERTS/client.crt" "$T/files/tls.crt"
cp "$CERTS/client.key" "$T/files/tls.key"
cp "$CERTS/ca.crt" "$T/files/ca.crt"
me=$(id -u)

step "the socket is created with mode 0600 by default"
cat >"$T/agent.yaml" <<YAML
socket: $T/sds.sock
files: {dir: $T/files}
YAML
start_agent agent "$T/agent.yaml"
assert_eq 600 "$(stat -c %a "$T/sds.sock")" "socket mode"
"$SDS_FETCH" -s "$T/sds.sock" -c 1 -t 10 >"$T/fetch-ok.out" 2>&1 ||
    { cat "$T/fetch-ok.out"; fail "our own uid is allowed by default"; }
assert_contains "$T/fetch-ok.out" '^SECRET name=default'
stop agent

step "a uid that is not in allowed_uids is refused and logged"
other=$((me + 4242))
cat >"$T/agent2.yaml" <<YAML
socket: $T/sds2.sock
allowed_uids: [$other]
files: {dir: $T/files}
YAML
start_agent agent2 "$T/agent2.yaml"
if "$SDS_FETCH" -s "$T/sds2.sock" -c 1 -t 5 >"$T/fetch-refused.out" 2>&1; then
    fail "a refused peer got secrets"
fi
assert_not_contains "$T/fetch-refused.out" '^SECRET'
assert_contains "$T/fetch-refused.out" '^CLOSED status=14'
wait_for_log "$T/agent2.err" "sds: refused peer uid=$me pid=[0-9]+: uid not in allowed_uids \[$other\]"
alive agent2
stop agent2

if [ "$me" != 0 ] || ! command -v setpriv >/dev/null 2>&1; then
    log "not root (or no setpriv): the cross-uid part is skipped"
    log "ok"
    exit 0
fi

step "as root: a client running as uid 65534 is refused, then allowed"
chmod 0711 "$T"
mkdir -m 0755 "$T/pub"
cat >"$T/agent3.yaml" <<YAML
socket: $T/pub/sds.sock
socket_mode: 0666
allowed_uids: [0, 1337]
files: {dir: $T/files}
YAML
start_agent agent3 "$T/agent3.yaml"
if setpriv --reuid 65534 --regid 65534 --clear-groups \
    "$SDS_FETCH" -s "$T/pub/sds.sock" -c 1 -t 5 >"$T/fetch-nobody.out" 2>&1; then
    fail "uid 65534 got secrets"
fi
assert_not_contains "$T/fetch-nobody.out" '^SECRET'
wait_for_log "$T/agent3.err" 'sds: refused peer uid=65534 pid=[0-9]+: uid not in allowed_uids \[0, 1337\]'
"$SDS_FETCH" -s "$T/pub/sds.sock" -c 1 -t 5 >"$T/fetch-root.out" 2>&1 ||
    fail "root (allowed) was refused"
stop agent3

cat >"$T/agent4.yaml" <<YAML
socket: $T/pub/sds4.sock
socket_mode: 0666
allowed_uids: [0, 65534]
files: {dir: $T/files}
YAML
start_agent agent4 "$T/agent4.yaml"
setpriv --reuid 65534 --regid 65534 --clear-groups \
    "$SDS_FETCH" -s "$T/pub/sds4.sock" -c 1 -t 5 >"$T/fetch-nobody2.out" 2>&1 ||
    { cat "$T/fetch-nobody2.out"; fail "uid 65534 was refused although allowed"; }
assert_contains "$T/fetch-nobody2.out" '^SECRET name=default'
assert_contains "$T/agent4.err" 'sds connection from uid=65534'
log "ok"
