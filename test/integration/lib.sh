# shellcheck shell=bash disable=SC2034
# Shared helper of the integration tests; every test/integration/NN-*.sh
# starts with:
#
#   . "$(dirname "$0")/lib.sh"
#
# It gives the test a temporary directory $T, a cleanup trap that stops every
# process the test started (by PID) and removes $T, and dumps the sidecar and
# backend logs when the test fails.  Loopback only.
#
# Environment (set by run.sh; defaults let a test run on its own):
#   SC_BUILD      build directory, default "build" (binaries: $SC_BUILD/bin/sidecar,
#                 $SC_BUILD/tools/backend)
#   SC_CERTS_DIR  a `gen-certs.sh mesh` directory shared by the whole run
#   SC_KEEP=1     keep $T after the test (for debugging)
#
# Exit status 77 means "skipped" (run.sh records SKIP).

set -eu

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SC_BUILD=${SC_BUILD:-build}
case $SC_BUILD in
/*) ;;
*) SC_BUILD=$ROOT/$SC_BUILD ;;
esac
SIDECAR=${SIDECAR:-$SC_BUILD/bin/sidecar}
BACKEND=${BACKEND:-$SC_BUILD/tools/backend}
GEN_CERTS=$ROOT/scripts/gen-certs.sh
HELLO_DIR=$ROOT/test/unit/data/clienthello
TEST_NAME=$(basename "$0" .sh)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

T=$(mktemp -d "${TMPDIR:-/tmp}/sc-it-$TEST_NAME.XXXXXX")
: >"$T/.ports"
_SC_PIDS=()         # every background process we started
_SC_NAMES=()        # its log name (NAME.out / NAME.err), same index
_SC_KINDS=()        # sidecar | backend | other
_SC_STEP=""         # what the test is doing, for the failure message

# ---------------------------------------------------------------- messages

log() { printf '[%s] %s\n' "$TEST_NAME" "$*"; }

# step TEXT: says what comes next (and is repeated if the test fails there).
step() {
    _SC_STEP=$*
    printf '[%s] -- %s\n' "$TEST_NAME" "$*"
}

fail() {
    printf '[%s] FAIL: %s\n' "$TEST_NAME" "$*" >&2
    if [ -n "$_SC_STEP" ]; then printf '[%s]   during: %s\n' "$TEST_NAME" "$_SC_STEP" >&2; fi
    exit 1
}

skip() {
    printf '[%s] SKIP: %s\n' "$TEST_NAME" "$*"
    exit 77
}

# ---------------------------------------------------------------- cleanup

_sc_stop() { # PID: TERM, wait up to 10 s (a sidecar drains first), then KILL; sets _SC_RC
    local pid=$1 i=0 rc=0
    if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid" 2>/dev/null || rc=$?
        _SC_RC=$rc
        return
    fi
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
        # a zombie child counts as gone
        if [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ]; then break; fi
        sleep 0.1
        i=$((i + 1))
    done
    # gone, or a zombie (bash may reap it between the two checks)
    local state
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
    if kill -0 "$pid" 2>/dev/null && [ -n "$state" ] && [ "$state" != Z ]; then
        echo "[$TEST_NAME] pid $pid did not stop within 10 s of SIGTERM; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || rc=$?
    _SC_RC=$rc
}

_sc_dump_logs() {
    local f
    for f in "$T"/*.out "$T"/*.err; do
        [ -s "$f" ] || continue
        echo "------- $(basename "$f") (last 60 lines) -------"
        tail -n 60 "$f"
    done
}

_sc_cleanup() {
    local rc=$? i pid rc2 bad=0
    trap - EXIT INT TERM
    set +e
    # Stop in reverse order: clients' sidecars before the backends behind them.
    for ((i = ${#_SC_PIDS[@]} - 1; i >= 0; i--)); do
        pid=${_SC_PIDS[$i]}
        [ -n "$pid" ] || continue
        if [ "${_SC_KINDS[$i]}" = sidecar ] && ! kill -0 "$pid" 2>/dev/null; then
            echo "[$TEST_NAME] sidecar '${_SC_NAMES[$i]}' (pid $pid) was no longer running" >&2
            bad=1
        fi
        _sc_stop "$pid"
        rc2=$_SC_RC
        if [ "${_SC_KINDS[$i]}" = sidecar ] && [ "$rc2" -gt 128 ] && [ "$rc2" != 143 ]; then
            echo "[$TEST_NAME] sidecar '${_SC_NAMES[$i]}' exited with status $rc2 (signal $((rc2 - 128)))" >&2
            bad=1
        fi
    done
    # Sanitizer reports anywhere in our logs fail the test.
    # (-q: a glob that matched nothing names a missing file, which without -q
    # turns grep's status into 2 even when another file matched)
    if grep -q -s -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|WARNING: ThreadSanitizer' \
        "$T"/*.err "$T"/*.out >/dev/null 2>&1; then
        echo "[$TEST_NAME] sanitizer report in:" \
            "$(grep -l -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|WARNING: ThreadSanitizer' "$T"/*.err "$T"/*.out 2>/dev/null | xargs -n1 basename | tr '\n' ' ')" >&2
        bad=1
    fi
    # A syscall outside the sidecar's seccomp allow-list (proxy/control/sandbox.c)
    # fails the test even when the sidecar was stopped by the test itself.
    if grep -q -s -F 'seccomp: forbidden syscall' "$T"/*.err; then
        echo "[$TEST_NAME] seccomp refused a syscall:" \
            "$(grep -h -F 'seccomp: forbidden syscall' "$T"/*.err 2>/dev/null | sort -u | tr '\n' ' ')" >&2
        bad=1
    fi
    # Private keys are never logged: no process output the test kept (the
    # sidecar's, an agent's, a client's) may hold one.  A test that decodes
    # key material on purpose writes it elsewhere than $T/*.out / $T/*.err.
    if grep -q -s -F 'PRIVATE KEY' "$T"/*.err "$T"/*.out; then
        echo "[$TEST_NAME] private key material in:" \
            "$(grep -l -F 'PRIVATE KEY' "$T"/*.err "$T"/*.out 2>/dev/null | xargs -n1 basename | tr '\n' ' ')" >&2
        bad=1
    fi
    if [ $rc -eq 0 ] && [ $bad -ne 0 ]; then rc=1; fi
    if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
        echo "[$TEST_NAME] failed (status $rc); logs in $T:" >&2
        _sc_dump_logs >&2
    fi
    _sc_release_ports
    if [ "${SC_KEEP:-0}" = 1 ] || { [ $rc -ne 0 ] && [ $rc -ne 77 ] && [ "${SC_KEEP_FAILED:-0}" = 1 ]; }; then
        echo "[$TEST_NAME] kept $T" >&2
    else
        rm -rf "$T"
    fi
    exit $rc
}
trap _sc_cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# ---------------------------------------------------------------- ports

# _sc_listening HOST PORT: is something listening there (ss, without connecting)?
_sc_listening() {
    local host=$1 port=$2
    if command -v ss >/dev/null 2>&1; then
        ss -Hltn "sport = :$port" 2>/dev/null | awk -v h="$host" -v p="$port" '
            { if ($4 == h ":" p || $4 == "*:" p || $4 == "0.0.0.0:" p || $4 == "[::]:" p) f = 1 }
            END { exit !f }'
    else
        (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
    fi
}

# free_port: prints a loopback TCP port no socket uses and no test running
# beside this one has been handed (below the ephemeral range).  Tests run
# side by side (test/suite.sh), so each port handed out is reserved in
# $SC_PORTS_DIR (default ${TMPDIR:-/tmp}/sc-ports, shared by every test on
# the machine) until this test ends.
SC_PORTS_DIR=${SC_PORTS_DIR:-${TMPDIR:-/tmp}/sc-ports}
free_port() {
    local i port used
    mkdir -p "$SC_PORTS_DIR" 2>/dev/null || true
    used=$(ss -Htan 2>/dev/null | awk '{ n = split($4, a, ":"); print a[n] }' | sort -u)
    for ((i = 0; i < 200; i++)); do
        port=$((20000 + RANDOM % 12000))
        if grep -qx "$port" "$T/.ports"; then continue; fi
        if printf '%s\n' "$used" | grep -qx "$port"; then continue; fi
        # mkdir is atomic: the test that creates the entry owns the port
        mkdir "$SC_PORTS_DIR/$port" 2>/dev/null || continue
        echo "$port" >>"$T/.ports"
        echo "$port"
        return 0
    done
    fail "free_port: found no free port"
}

_sc_release_ports() {
    local port
    [ -f "$T/.ports" ] || return 0
    while read -r port; do
        [ -n "$port" ] && rmdir "$SC_PORTS_DIR/$port" 2>/dev/null
    done <"$T/.ports"
    return 0
}

# wait_port HOST PORT [TIMEOUT_S=10]: waits until something listens there.
wait_port() {
    local host=$1 port=$2 limit=${3:-10} i=0
    while [ $i -lt $((limit * 20)) ]; do
        if _sc_listening "$host" "$port"; then return 0; fi
        sleep 0.05
        i=$((i + 1))
    done
    fail "nothing listens on $host:$port after ${limit}s"
}

# wait_port_closed HOST PORT [TIMEOUT_S=10]
wait_port_closed() {
    local host=$1 port=$2 limit=${3:-10} i=0
    while [ $i -lt $((limit * 20)) ]; do
        if ! _sc_listening "$host" "$port"; then return 0; fi
        sleep 0.05
        i=$((i + 1))
    done
    fail "$host:$port still listening after ${limit}s"
}

# ---------------------------------------------------------------- processes

_sc_track() { # PID NAME KIND
    _SC_PIDS+=("$1")
    _SC_NAMES+=("$2")
    _SC_KINDS+=("$3")
}

# pid_of NAME: the PID of a process started with start_sidecar/start_backend/spawn.
wait_exit() { # NAME [SECS]: the process ends by itself; sets STOP_RC to its exit status
    local pid limit=${2:-10} i=0 state
    pid=$(pid_of "$1")
    while [ $i -lt $((limit * 20)) ]; do
        state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
        if [ -z "$state" ] || [ "$state" = Z ]; then
            stop "$1"
            return 0
        fi
        sleep 0.05
        i=$((i + 1))
    done
    fail "'$1' (pid $pid) still running ${limit}s after it should have exited"
}

pid_of() {
    local i
    for ((i = ${#_SC_NAMES[@]} - 1; i >= 0; i--)); do
        if [ "${_SC_NAMES[$i]}" = "$1" ] && [ -n "${_SC_PIDS[$i]}" ]; then
            echo "${_SC_PIDS[$i]}"
            return 0
        fi
    done
    fail "pid_of: no process named '$1'"
}

# stop NAME: SIGTERM (then SIGKILL after 5 s); sets STOP_RC to its exit status.
stop() {
    local i
    STOP_RC=
    for ((i = ${#_SC_NAMES[@]} - 1; i >= 0; i--)); do
        if [ "${_SC_NAMES[$i]}" = "$1" ] && [ -n "${_SC_PIDS[$i]}" ]; then
            _sc_stop "${_SC_PIDS[$i]}"
            STOP_RC=$_SC_RC
            _SC_PIDS[$i]=""
            return 0
        fi
    done
    fail "stop: no process named '$1'"
}

# alive NAME: fails the test if the process has exited.
alive() {
    local pid
    pid=$(pid_of "$1")
    if ! kill -0 "$pid" 2>/dev/null || [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ]; then
        fail "'$1' (pid $pid) is not running any more"
    fi
}

# spawn NAME CMD...: any other background process (stdout/stderr to $T/NAME.out/.err).
spawn() {
    local name=$1
    shift
    "$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null &
    _sc_track $! "$name" other
}

# _sc_ready_line FILE: the sidecar has logged that it is ready ("... ready: ...",
# not "not ready").
_sc_ready_line() {
    grep -E '(^|[[:space:]])ready([:[:space:]]|$)' "$1" 2>/dev/null | grep -q -v -E 'not ready'
}

# start_sidecar NAME CONFIG [PORT...]: runs "$SIDECAR -c CONFIG" in the
# background (stdout > $T/NAME.out: the connection log; stderr > $T/NAME.err)
# and waits (10 s at most) for its "ready" line and for every PORT given to be
# listening on 127.0.0.1.  Fails if the process exits first.
start_sidecar() {
    local name=$1 cfg=$2 pid i=0 port
    shift 2
    [ -x "$SIDECAR" ] || fail "no sidecar binary at $SIDECAR (run make)"
    "$SIDECAR" -c "$cfg" >"$T/$name.out" 2>"$T/$name.err" </dev/null &
    pid=$!
    _sc_track "$pid" "$name" sidecar
    while ! _sc_ready_line "$T/$name.err"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid" 2>/dev/null || true
            echo "------- $name.err -------" >&2
            cat "$T/$name.err" >&2
            fail "sidecar '$name' exited before it was ready (config $cfg)"
        fi
        if [ $i -ge 200 ]; then
            fail "sidecar '$name' logged no 'ready' line within 10 s"
        fi
        sleep 0.05
        i=$((i + 1))
    done
    for port in "$@"; do wait_port 127.0.0.1 "$port" 5; done
}

# start_backend NAME ARGS...: runs "$BACKEND ARGS..." (e.g. --listen
# 127.0.0.1:$P --mode echo) and waits for its "listening on" line.
start_backend() {
    local name=$1 pid i=0
    shift
    [ -x "$BACKEND" ] || fail "no backend binary at $BACKEND (run make tools)"
    "$BACKEND" "$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null &
    pid=$!
    _sc_track "$pid" "$name" backend
    while ! grep -q '^listening on' "$T/$name.out" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            cat "$T/$name.err" >&2
            fail "backend '$name' exited at start ($*)"
        fi
        [ $i -lt 200 ] || fail "backend '$name' not listening after 10 s"
        sleep 0.05
        i=$((i + 1))
    done
}

# start_s_server NAME PORT CERT KEY [ARGS...]: an `openssl s_server -www`
# (the app's own TLS server) on 127.0.0.1:PORT.
start_s_server() {
    local name=$1 port=$2 cert=$3 key=$4
    shift 4
    openssl s_server -accept "127.0.0.1:$port" -cert "$cert" -key "$key" -www -quiet \
        "$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null &
    _sc_track $! "$name" backend
    wait_port 127.0.0.1 "$port" 10
}

# ---------------------------------------------------------------- tracing

# sidecar_no_seccomp CMD...: runs CMD (start_sidecar, mesh_pair,
# hbone_server, ...) with $SIDECAR a wrapper that execs the sidecar with
# --no-seccomp, then puts $SIDECAR back.  For sidecars strace attaches to:
# the attach restarts the syscall it interrupts (restart_syscall), which the
# seccomp allow-list does not hold.  The wrapper execs, so pid_of NAME is the
# sidecar itself.
sidecar_no_seccomp() {
    local real=$SIDECAR wrapper=$T/sidecar-noseccomp
    if [ ! -x "$wrapper" ]; then
        printf '#!/bin/sh\nexec "%s" "$@" --no-seccomp\n' "$real" >"$wrapper"
        chmod +x "$wrapper"
    fi
    SIDECAR=$wrapper
    "$@"
    SIDECAR=$real
}

# strace_attach NAME FILE SYSCALLS: attaches `strace -f` to the process NAME
# (start_sidecar, spawn...), tracing SYSCALLS (strace's trace= list, e.g.
# "epoll_ctl,ioctl") into FILE, its diagnostics in FILE.err, and waits for
# its "attached" line.  The tracer ends with strace_detach, at 120 s, or when
# the test ends.  A test that uses it skips first when strace is missing.
_SC_TRACERS=()
strace_attach() {
    local name=$1 file=$2 calls=$3 pid
    pid=$(pid_of "$name")
    timeout 120 strace -f -e "trace=$calls" -o "$file" -p "$pid" 2>"$file.err" </dev/null &
    _sc_track $! "strace-$name" other
    _SC_TRACERS+=("$!")
    wait_for_log "$file.err" "attached"
}

# strace_detach: detaches every tracer strace_attach started (SIGINT) and
# waits until each has written its file and ended.
strace_detach() {
    local pid i
    for pid in "${_SC_TRACERS[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
    for pid in "${_SC_TRACERS[@]}"; do
        wait "$pid" 2>/dev/null || true
        for i in "${!_SC_PIDS[@]}"; do
            if [ "${_SC_PIDS[$i]}" = "$pid" ]; then _SC_PIDS[$i]=""; fi
        done
    done
    _SC_TRACERS=()
}

# fin_watch PORT: tcpdump on lo for the first segment with a FIN sent from
# PORT (returns once it listens); fin_assert_carries_data then waits for it
# (5 s at most) and asserts it carried bytes too ("Flags [F.] ... length N",
# N > 0: the last bytes and the end in one segment, not a bare FIN after).
fin_watch() {
    tcpdump -i lo -nn -l -c 1 "tcp src port $1 and tcp[tcpflags] & tcp-fin != 0" \
        >"$T/fin.txt" 2>"$T/fin.err" &
    _SC_FINDUMP=$!
    wait_for_log "$T/fin.err" 'listening on' 5
}

fin_assert_carries_data() {
    local i
    for i in $(seq 50); do kill -0 "$_SC_FINDUMP" 2>/dev/null || break; sleep 0.1; done
    kill "$_SC_FINDUMP" 2>/dev/null || true
    wait "$_SC_FINDUMP" 2>/dev/null || true
    log "$(cat "$T/fin.txt")"
    assert_contains "$T/fin.txt" 'Flags \[FP?\.\].* length [1-9]'
}

# ---------------------------------------------------------------- certificates

# certs: sets CERTS to a `gen-certs.sh mesh` directory (the run's shared one
# when run.sh made it, else a new one in $T).
certs() {
    if [ -n "${SC_CERTS_DIR:-}" ]; then
        "$GEN_CERTS" mesh "$SC_CERTS_DIR" || fail "gen-certs.sh mesh $SC_CERTS_DIR failed"
        CERTS=$SC_CERTS_DIR
    else
        "$GEN_CERTS" mesh "$T/certs" || fail "gen-certs.sh mesh $T/certs failed"
        CERTS=$T/certs
    fi
}

# ---------------------------------------------------------------- measurements

fd_count() { # PID
    ls "/proc/$1/fd" 2>/dev/null | wc -l
}

rss_kb() { # PID
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# ---------------------------------------------------------------- assertions

assert_eq() { # EXPECTED ACTUAL [WHAT]
    if [ "$1" != "$2" ]; then
        fail "${3:-value}: expected '$1', got '$2'"
    fi
}

assert_ne() { # UNEXPECTED ACTUAL [WHAT]
    if [ "$1" = "$2" ]; then
        fail "${3:-value}: did not expect '$1'"
    fi
}

assert_le() { # A B [WHAT]: A <= B (integers)
    if [ "$1" -gt "$2" ]; then
        fail "${3:-value}: $1 is greater than $2"
    fi
}

# assert_contains FILE REGEX (grep -E)
assert_contains() {
    if ! grep -q -E -e "$2" "$1" 2>/dev/null; then
        echo "------- $1 (last 30 lines) -------" >&2
        tail -n 30 "$1" >&2 2>/dev/null || echo "(missing)" >&2
        fail "$(basename "$1") has no line matching /$2/"
    fi
}

# assert_not_contains FILE REGEX
assert_not_contains() {
    if grep -q -E -e "$2" "$1" 2>/dev/null; then
        echo "------- $1: matching lines -------" >&2
        grep -E -e "$2" "$1" | head -n 10 >&2
        fail "$(basename "$1") has a line matching /$2/"
    fi
}

# count_lines FILE REGEX: prints how many lines match.
count_lines() {
    local n
    n=$(grep -c -E -e "$2" "$1" 2>/dev/null) || true
    echo "${n:-0}"
}

# wait_for_log FILE REGEX [TIMEOUT_S=10]: waits until a line matches (the
# connection log is written when a connection closes).  Fails on timeout.
wait_for_log() {
    local file=$1 re=$2 limit=${3:-10} i=0
    while [ $i -lt $((limit * 20)) ]; do
        if grep -q -E -e "$re" "$file" 2>/dev/null; then return 0; fi
        sleep 0.05
        i=$((i + 1))
    done
    assert_contains "$file" "$re"
}

# wait_for_count FILE REGEX N [TIMEOUT_S=10]: waits until at least N lines match.
wait_for_count() {
    local file=$1 re=$2 want=$3 limit=${4:-10} i=0 n=0
    while [ $i -lt $((limit * 20)) ]; do
        n=$(count_lines "$file" "$re")
        if [ "$n" -ge "$want" ]; then return 0; fi
        sleep 0.05
        i=$((i + 1))
    done
    fail "$(basename "$file"): $n lines match /$re/, expected at least $want after ${limit}s"
}

# conn_lines FILE [REGEX]: the connection-log lines (" conn id=") matching REGEX.
conn_lines() {
    grep -E -e ' conn id=' "$1" 2>/dev/null | grep -E -e "${2:-.}" || true
}

# conn_field LINE KEY: the value of KEY=... in one connection-log line
# (for "end" the rest of the line).
conn_field() {
    local line=$1 key=$2
    if [ "$key" = end ]; then
        printf '%s\n' "$line" | sed -n 's/.* end=\(.*\)$/\1/p'
    else
        printf '%s\n' "$line" | tr ' ' '\n' | sed -n "s/^$key=//p" | head -n 1
    fi
}

# ---------------------------------------------------------------- clients

# mesh_client HOST:PORT CERTNAME [ALPN=istio] [WAIT_S=1] [EXTRA s_client ARGS...]
# A mesh peer: openssl s_client with $CERTS/CERTNAME.crt/.key, trusting
# $CERTS/ca.crt, offering ALPN.  Sends its stdin, then waits WAIT_S seconds
# for the answer before closing; prints what the server sent on stdout and the
# s_client diagnostics on stderr.  CERTNAME "-" sends no certificate.
mesh_client() {
    local addr=$1 cert=$2 alpn=${3:-istio} wait_s=${4:-1}
    local args=(-connect "$addr" -CAfile "$CERTS/ca.crt" -quiet -no_ign_eof -nocommands)
    shift 4 2>/dev/null || shift $#
    if [ "$cert" != - ]; then
        args+=(-cert "$CERTS/$cert.crt" -key "$CERTS/$cert.key")
        # s_client's -cert sends one certificate: the intermediates of a
        # chain file go in -cert_chain
        if [ "$(grep -c 'BEGIN CERTIFICATE' "$CERTS/$cert.crt")" -gt 1 ]; then
            awk 'n > 0 || /BEGIN CERTIFICATE/ && ++seen == 2 { n = 1 } n' "$CERTS/$cert.crt" >"$T/$cert.intermediates"
            args+=(-cert_chain "$T/$cert.intermediates")
        fi
    fi
    if [ -n "$alpn" ] && [ "$alpn" != - ]; then args+=(-alpn "$alpn"); fi
    { cat; sleep "$wait_s"; } | timeout $((wait_s + 10)) openssl s_client "${args[@]}" "$@"
}

# tcp_client HOST PORT [IDLE_S=3]: plain TCP: sends stdin, half-closes, prints
# everything received until the server closes (or IDLE_S of silence).
tcp_client() {
    timeout $((${3:-3} + 30)) socat -t "${3:-3}" -T "${3:-3}" - "TCP:$1:$2"
}

# yaml_list A B ...: prints ["A", "B"]
yaml_list() {
    local out="" s
    for s in "$@"; do out="$out${out:+, }\"$s\""; done
    echo "[$out]"
}

# ---------------------------------------------------------------- configs

# sidecar_config FILE ID NAMESPACE CERTNAME: writes the common head of a
# sidecar config: node, one worker, file secrets from $CERTS/CERTNAME.crt/.key
# and $CERTS/ca.crt, short timeouts, and admin/health/stats on free loopback
# ports (ADMIN_PORT is set to the admin port).  Timeouts come from HS_MS,
# SNIFF_MS, CONNECT_MS, IDLE_MS when set.  Append `listeners:` etc. after it.
sidecar_config() {
    local file=$1 id=$2 ns=$3 cert=$4 hp sp
    ADMIN_PORT=$(free_port)
    hp=$(free_port)
    sp=$(free_port)
    cat >"$file" <<EOT
node: {id: $id, trust_domain: cluster.local, namespace: $ns}
workers: 1
secrets: {cert_chain: "$CERTS/$cert.crt", private_key: "$CERTS/$cert.key", trusted_ca: "$CERTS/ca.crt"}
timeouts: {handshake_ms: ${HS_MS:-2000}, sniff_ms: ${SNIFF_MS:-1000}, connect_ms: ${CONNECT_MS:-2000}, idle_ms: ${IDLE_MS:-60000}, drain_ms: ${DRAIN_MS:-1000}}
admin: {address: "127.0.0.1:$ADMIN_PORT"}
health: {address: "127.0.0.1:$hp"}
stats: {address: "127.0.0.1:$sp"}
EOT
}

# peer_auth FILE MODE NAMESPACE [NAME=default]: appends a namespace-wide
# Istio PeerAuthentication document.
peer_auth() {
    cat >>"$1" <<EOT
---
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: {name: ${4:-default}, namespace: $3}
spec: {mtls: {mode: $2}}
EOT
}

# _sc_pair_head FILE ROLE NAMESPACE WORKERS SED YAML: sidecar_config for node
# and certificate ROLE, then mesh_pair's overrides.
_sc_pair_head() {
    sidecar_config "$1" "$2" "$3" "$2"
    sed -i "s/^workers: 1\$/workers: $4/" "$1"
    if [ -n "$5" ]; then sed -i "$5" "$1"; fi
    if [ -n "$6" ]; then printf '%s\n' "$6" >>"$1"; fi
}

# mesh_pair PROTOCOL APP_ADDR [KEY=VALUE...]: the usual pair of sidecars on
# loopback, both started and ready:
#   B: server (node server, namespace bar, the server certificate), STRICT,
#      one inbound listener "in" on 127.0.0.1:$P_IN -> APP_ADDR, port 8080,
#      protocol PROTOCOL (tcp, http or auto);
#   A: client (node client, namespace foo, the client certificate), one
#      outbound listener "out" on 127.0.0.1:$P_OUT -> B, ISTIO_MUTUAL,
#      expected_identities [spiffe://cluster.local/ns/bar/sa/server].
# Sets P_IN, P_OUT, A_ADMIN, B_ADMIN, A_STATS, B_STATS (host:port); configs
# in $T/a.yaml and $T/b.yaml, logs in $T/{a,b}.{out,err}.  P_IN and P_OUT
# are taken from the environment when already set.  KEY=VALUE overrides:
#   workers=N             both sidecars (default 1); a_workers=N, b_workers=N one
#   port=N                the port B's listener serves as (default 8080)
#   a_yaml=TEXT b_yaml=TEXT   top-level YAML lines for that sidecar (e.g.
#                         "access_log: {path: stdout, format: text}")
#   in_extra=TEXT out_extra=TEXT   more fields in the listener's flow
#                         mapping (e.g. ", timeouts: {request_ms: 500}")
#   a_sed=EXPR b_sed=EXPR a sed expression run over that sidecar's config
#                         head (e.g. to replace its secrets: line)
#   in_more=TEXT out_more=TEXT   more listeners for B (after "in") or A
#                         (after "out"), as "  - {name: ..., address: ...}"
#                         lines; the sidecar is ready once they listen too
mesh_pair() {
    local proto=$1 app=$2 kv workers=1 a_workers="" b_workers="" port=8080
    local a_yaml="" b_yaml="" in_extra="" out_extra="" a_sed="" b_sed=""
    local in_more="" out_more=""
    shift 2
    for kv in "$@"; do
        case $kv in
        workers=*) workers=${kv#*=} ;;
        a_workers=*) a_workers=${kv#*=} ;;
        b_workers=*) b_workers=${kv#*=} ;;
        port=*) port=${kv#*=} ;;
        a_yaml=*) a_yaml=${kv#*=} ;;
        b_yaml=*) b_yaml=${kv#*=} ;;
        in_extra=*) in_extra=${kv#*=} ;;
        out_extra=*) out_extra=${kv#*=} ;;
        a_sed=*) a_sed=${kv#*=} ;;
        b_sed=*) b_sed=${kv#*=} ;;
        in_more=*) in_more=${kv#*=} ;;
        out_more=*) out_more=${kv#*=} ;;
        *) fail "mesh_pair: unknown option '$kv'" ;;
        esac
    done
    P_IN=${P_IN:-$(free_port)}
    P_OUT=${P_OUT:-$(free_port)}

    _sc_pair_head "$T/b.yaml" server bar "${b_workers:-$workers}" "$b_sed" "$b_yaml"
    B_ADMIN=$ADMIN_PORT
    cat >>"$T/b.yaml" <<EOT
listeners:
  - {name: in, direction: inbound, address: "127.0.0.1:$P_IN", upstream: "$app",
     port: $port, protocol: $proto$in_extra}
EOT
    if [ -n "$in_more" ]; then printf '%s\n' "$in_more" >>"$T/b.yaml"; fi
    peer_auth "$T/b.yaml" STRICT bar
    B_STATS=$(sed -n 's/^stats: {address: "\(.*\)"}/\1/p' "$T/b.yaml")
    # shellcheck disable=SC2046 # one port a word
    start_sidecar b "$T/b.yaml" "$P_IN" $(_sc_listener_ports "$in_more")

    _sc_pair_head "$T/a.yaml" client foo "${a_workers:-$workers}" "$a_sed" "$a_yaml"
    A_ADMIN=$ADMIN_PORT
    cat >>"$T/a.yaml" <<EOT
listeners:
  - {name: out, direction: outbound, address: "127.0.0.1:$P_OUT", upstream: "127.0.0.1:$P_IN",
     tls: ISTIO_MUTUAL, protocol: $proto, expected_identities: ["spiffe://cluster.local/ns/bar/sa/server"]$out_extra}
EOT
    if [ -n "$out_more" ]; then printf '%s\n' "$out_more" >>"$T/a.yaml"; fi
    A_STATS=$(sed -n 's/^stats: {address: "\(.*\)"}/\1/p' "$T/a.yaml")
    # shellcheck disable=SC2046 # one port a word
    start_sidecar a "$T/a.yaml" "$P_OUT" $(_sc_listener_ports "$out_more")
}

# _sc_listener_ports TEXT: the port of every `address: "HOST:PORT"` in TEXT
_sc_listener_ports() {
    printf '%s\n' "$1" | grep -o 'address: "[^"]*"' | sed 's/.*:\([0-9]*\)"$/\1/'
}

# hbone_server [KEY=VALUE...] APP_PORT:PROTOCOL...: the HBONE tests' server
# sidecar B, started and ready: node server, namespace bar, the server
# certificate (sidecar_config: timeouts from HS_MS, IDLE_MS, ... when set),
# an inbound: section
#   address: 127.0.0.1:$P_CAP, hbone_address: 127.0.0.1:$P_HB,
#   app_host: 127.0.0.1, and a ports: entry {port: APP_PORT, protocol:
#   PROTOCOL} for each APP_PORT:PROTOCOL argument,
# then PeerAuthentication STRICT for namespace bar.  Sets P_CAP, P_HB (taken
# from the environment when already set, else free ports), B_ADMIN (port) and
# B_STATS (host:port); config in $T/b.yaml, logs in $T/b.{out,err}.
# KEY=VALUE options:
#   yaml=TEXT        top-level YAML lines before inbound: (e.g.
#                    "access_log: {path: stdout, format: text}")
#   sed=EXPR         a sed expression run over the config head (e.g. to
#                    replace its secrets: or node: line)
#   port_extra=TEXT  more fields in every ports: entry (e.g.
#                    ", allowed_principals: [...]")
#   app_host=ADDR    inbound.app_host (default 127.0.0.1; empty: no
#                    app_host line, the sidecar's default)
#   auth=TEXT        the YAML documents after the config ("---" first)
#                    instead of peer_auth's STRICT for namespace bar
hbone_server() {
    local kv hb_yaml="" hb_sed="" hb_port_extra="" hb_app_host=127.0.0.1 hb_auth="" app_ports=() app
    for kv in "$@"; do
        case $kv in
        yaml=* | sed=* | port_extra=* | app_host=* | auth=*) printf -v "hb_${kv%%=*}" '%s' "${kv#*=}" ;;
        *=*) fail "hbone_server: unknown option '$kv'" ;;
        *:*) app_ports+=("$kv") ;;
        *) fail "hbone_server: '$kv' is not APP_PORT:PROTOCOL" ;;
        esac
    done
    [ ${#app_ports[@]} -gt 0 ] || fail "hbone_server: no APP_PORT:PROTOCOL"
    P_CAP=${P_CAP:-$(free_port)}
    P_HB=${P_HB:-$(free_port)}
    sidecar_config "$T/b.yaml" server bar server
    B_ADMIN=$ADMIN_PORT
    B_STATS=$(sed -n 's/^stats: {address: "\(.*\)"}/\1/p' "$T/b.yaml")
    if [ -n "$hb_sed" ]; then sed -i "$hb_sed" "$T/b.yaml"; fi
    if [ -n "$hb_yaml" ]; then printf '%s\n' "$hb_yaml" >>"$T/b.yaml"; fi
    {
        printf 'inbound:\n  address: "127.0.0.1:%s"\n  hbone_address: "127.0.0.1:%s"\n' "$P_CAP" "$P_HB"
        if [ -n "$hb_app_host" ]; then printf '  app_host: %s\n' "$hb_app_host"; fi
        printf '  ports:\n'
        for app in "${app_ports[@]}"; do
            printf '    - {port: %s, protocol: %s%s}\n' "${app%%:*}" "${app#*:}" "$hb_port_extra"
        done
    } >>"$T/b.yaml"
    if [ -n "$hb_auth" ]; then
        printf '%s\n' "$hb_auth" >>"$T/b.yaml"
    else
        peer_auth "$T/b.yaml" STRICT bar
    fi
    start_sidecar b "$T/b.yaml" "$P_HB"
}

# hbone_client FILE HBONE_PORT [yaml=LINE] NAME:PORT:UPSTREAM_PORT:PROTOCOL...
# appends to a client's config (sidecar_config) the hbone_port its peers
# listen on, LINE when given (an hbone: block, say), and one outbound
# listener per spec: 127.0.0.1:PORT to 127.0.0.1:UPSTREAM_PORT over HBONE,
# ISTIO_MUTUAL, expecting $SERVER_ID.
hbone_client() {
    local f=$1 port=$2 spec name lport up proto
    shift 2
    if [ "${1#yaml=}" != "${1:-}" ]; then
        printf '%s\n' "${1#yaml=}" >>"$f"
        shift
    fi
    printf 'hbone_port: %s\nlisteners:\n' "$port" >>"$f"
    for spec in "$@"; do
        IFS=: read -r name lport up proto <<<"$spec"
        printf '  - {name: %s, direction: outbound, address: "127.0.0.1:%s", upstream: "127.0.0.1:%s",\n' \
            "$name" "$lport" "$up" >>"$f"
        printf '     tls: ISTIO_MUTUAL, transport: hbone, protocol: %s, expected_identities: ["%s"]}\n' \
            "$proto" "$SERVER_ID" >>"$f"
    done
}

# The connection-log line format (DESIGN / README): fields in this order.
#   <time> conn id=N dir=D listener=L port=P mode=M class=C down=A up=A|-
#   orig_dst=A|- tls=V|- peer=ID|- peer_root=SERIAL|- session=full|resumed|-
#   bytes_received=N bytes_sent=N duration_ms=N end=REASON
# conn_re KEY=VALUE...: a regex matching a connection-log line with these
# fields (in any subset, in the log's order; VALUE is a regex).
# Each VALUE must match a whole field (for end= a prefix of the reason that
# ends at a colon, a space or the end of the line).
conn_re() {
    local re=' conn id=[0-9]+ ' kv
    for kv in "$@"; do
        case $kv in
        end=*) re="$re(.* )?$kv(:| |\$)" ;;   # the reason may carry a detail
        *) re="$re(.* )?$kv( |\$)" ;;
        esac
    done
    echo "$re"
}

# printf_fmt FILE [N]: a printf format that writes the first N bytes (default
# all) of FILE, so a loop can send binary data without forking.
printf_fmt() {
    if [ -n "${2:-}" ]; then
        head -c "$2" "$1"
    else
        cat "$1"
    fi | od -An -v -tx1 | tr -s ' \n' ' ' | sed 's/^ //; s/ $//; s/ /\\x/g; s/^/\\x/'
}

# sanitized: true when the sidecar is built with a sanitizer (memory figures
# then measure the sanitizer's quarantine and shadow, not the sidecar).
sanitized() {
    ldd "$SIDECAR" 2>/dev/null | grep -q -E 'lib(asan|tsan|ubsan)'
}
