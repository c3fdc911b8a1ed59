#!/usr/bin/env bash
# Runs the end-to-end tests test/e2e/[0-9][0-9]-*.sh: "pods" as network
# namespaces with real iptables rules (scripts/sidecar-iptables.sh), each
# test in its own bash process with a time limit.
#
#   SC_BUILD=build test/e2e/run.sh [PATTERN...]
#
# They need root and `ip netns`.  When they cannot run, this says so loudly
# (a SKIPPED banner with the reason) and records every test as SKIP; it never
# skips quietly when they can run.
#
# Records "<suite>/<test> PASS|FAIL|SKIP" in ${SC_RESULTS:-build/test-results.txt};
# the suite is "e2e", or "e2e[san-...]" when SC_BUILD is a sanitizer build.
# Logs go to $SC_BUILD/e2e-logs/ (or SC_LOG_DIR).  Exits 1 if any test failed.
#
# SC_TEST_TIMEOUT   seconds per test (default 180)
# SC_KEEP_FAILED=1  keep the temporary directory of failed tests
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
export SC_BUILD=${SC_BUILD:-build}
RESULTS=${SC_RESULTS:-build/test-results.txt}
LIMIT=${SC_TEST_TIMEOUT:-180}

suite=e2e
case $SC_BUILD in
*san-*) tag=${SC_BUILD##*/}; suite="e2e[$tag]" ;;
esac

tests=()
for t in test/e2e/[0-9][0-9]-*.sh; do
    [ -f "$t" ] || continue
    if [ $# -gt 0 ]; then
        want=0
        for p in "$@"; do case $t in *"$p"*) want=1 ;; esac; done
        [ $want = 1 ] || continue
    fi
    tests+=("$t")
done
if [ ${#tests[@]} -eq 0 ]; then
    echo "e2e: no tests match" >&2
    exit 1
fi

mkdir -p "$(dirname "$RESULTS")"
touch "$RESULTS"
drop_result() { # PREFIX: removes earlier results starting with PREFIX
    awk -v p="$1" 'index($0, p) != 1' "$RESULTS" >"$RESULTS.tmp"
    mv -f "$RESULTS.tmp" "$RESULTS"
}
if [ $# -eq 0 ]; then
    drop_result "$suite/"
fi

# Can these tests run here at all?  (Each test checks its finer needs too.)
why=""
if [ "$(id -u)" != 0 ]; then
    why="needs root for network namespaces and iptables (running as uid $(id -u))"
elif ! command -v ip >/dev/null 2>&1; then
    why="'ip' (iproute2) is not installed (make deps)"
elif ! ip netns list >/dev/null 2>&1; then
    why="'ip netns' does not work here: $(ip netns list 2>&1 | head -n 1)"
fi
if [ -n "$why" ]; then
    echo "################################################################"
    echo "## e2e: SKIPPED (${#tests[@]} tests): $why"
    echo "################################################################"
    for t in "${tests[@]}"; do
        name=$(basename "$t" .sh)
        drop_result "$suite/$name "
        echo "$suite/$name SKIP" >>"$RESULTS"
    done
    exit 0
fi

for bin in "$SC_BUILD/bin/sidecar" "$SC_BUILD/bin/sds-agent" "$SC_BUILD/tools/backend"; do
    if [ ! -x "$bin" ]; then
        echo "e2e: $bin is missing (run: make all tools${SC_BUILD#build})" >&2
        exit 1
    fi
done

logdir=${SC_LOG_DIR:-$SC_BUILD/e2e-logs}
mkdir -p "$logdir"

echo "== $suite: ${#tests[@]} tests, sidecar $SC_BUILD/bin/sidecar"
pass=0 failn=0 skipn=0
failed=()
t0=$(date +%s)
for t in "${tests[@]}"; do
    name=$(basename "$t" .sh)
    log=$logdir/$name.log
    start=$(date +%s.%N)
    timeout -k 10 "$LIMIT" bash "$t" >"$log" 2>&1 </dev/null
    rc=$?
    secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    drop_result "$suite/$name "
    case $rc in
    0)
        printf 'PASS %-24s %6ss\n' "$name" "$secs"
        echo "$suite/$name PASS" >>"$RESULTS"
        pass=$((pass + 1)) ;;
    77)
        reason=$(grep -m1 'SKIP:' "$log" | sed 's/.*SKIP: //')
        echo "################################################################"
        printf '## SKIPPED %s: %s\n' "$name" "$reason"
        echo "################################################################"
        echo "$suite/$name SKIP" >>"$RESULTS"
        skipn=$((skipn + 1)) ;;
    *)
        why="exit $rc"
        if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then why="timed out after ${LIMIT}s"; fi
        printf 'FAIL %-24s %6ss  (%s)\n' "$name" "$secs" "$why"
        echo "------- $log (last 200 lines) -------"
        tail -n 200 "$log" | sed 's/^/    /'
        echo "------- end of $name -------"
        echo "$suite/$name FAIL" >>"$RESULTS"
        failed+=("$name")
        failn=$((failn + 1)) ;;
    esac
done

echo "== $suite: $pass passed, $failn failed, $skipn skipped in $(($(date +%s) - t0))s (logs: $logdir)"
if [ $failn -gt 0 ]; then
    echo "== $suite: failed: ${failed[*]}"
    exit 1
fi
exit 0
