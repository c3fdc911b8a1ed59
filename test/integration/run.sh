#!/usr/bin/env bash
# Runs the integration tests test/integration/[0-9][0-9]-*.sh, each in its own
# bash process with a time limit, against real peers on loopback.
#
#   SC_BUILD=build test/integration/run.sh [PATTERN...]
#
# PATTERN selects tests by substring of their name (e.g. "10-strict").
# Records "<suite>/<test> PASS|FAIL|SKIP" in ${SC_RESULTS:-build/test-results.txt};
# the suite is "integration", or "integration[san-...]" when SC_BUILD is a
# sanitizer build.  Full logs go to $SC_BUILD/integration-logs/.  Exits 1 if
# any test failed.
#
# SC_TEST_TIMEOUT   seconds per test (default 300)
# SC_KEEP_FAILED=1  keep the temporary directory of failed tests
# SC_LOG_DIR        where the per-test logs go
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
export SC_BUILD=${SC_BUILD:-build}
RESULTS=${SC_RESULTS:-build/test-results.txt}
LIMIT=${SC_TEST_TIMEOUT:-300}

suite=integration
case $SC_BUILD in
*san-*) tag=${SC_BUILD##*/}; suite="integration[$tag]" ;;
esac

for bin in "$SC_BUILD/bin/sidecar" "$SC_BUILD/tools/backend"; do
    if [ ! -x "$bin" ]; then
        echo "integration: $bin is missing (run: make all tools${SC_BUILD#build})" >&2
        exit 1
    fi
done
for tool in openssl socat curl timeout ss; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "integration: '$tool' is not installed (run: make deps)" >&2
        exit 1
    fi
done

tests=()
for t in test/integration/[0-9][0-9]-*.sh; do
    [ -f "$t" ] || continue
    if [ $# -gt 0 ]; then
        want=0
        for p in "$@"; do case $t in *"$p"*) want=1 ;; esac; done
        [ $want = 1 ] || continue
    fi
    tests+=("$t")
done
if [ ${#tests[@]} -eq 0 ]; then
    echo "integration: no tests match" >&2
    exit 1
fi

mkdir -p "$(dirname "$RESULTS")"
touch "$RESULTS"
if [ $# -eq 0 ]; then
    # a full rerun of this suite replaces its earlier results
    awk -v p="$suite/" 'index($0, p) != 1' "$RESULTS" >"$RESULTS.tmp"
    mv -f "$RESULTS.tmp" "$RESULTS"
fi

logdir=${SC_LOG_DIR:-$SC_BUILD/integration-logs}
mkdir -p "$logdir"

# One certificate set for the whole run (each test may still make its own).
work=$(mktemp -d "${TMPDIR:-/tmp}/sc-it-run.XXXXXX")
trap 'rm -rf "$work"' EXIT
export SC_CERTS_DIR=$work/certs
if ! scripts/gen-certs.sh mesh "$SC_CERTS_DIR"; then
    echo "integration: gen-certs.sh mesh failed" >&2
    exit 1
fi

echo "== $suite: ${#tests[@]} tests, sidecar $SC_BUILD/bin/sidecar"
pass=0 failn=0 skipn=0
failed=()
t0=$(date +%s)
for t in "${tests[@]}"; do
    name=$(basename "$t" .sh)
    log=$logdir/$name.log
    start=$(date +%s.%N)
    # timeout puts the test in its own process group and signals all of it.
    timeout -k 10 "$LIMIT" bash "$t" >"$log" 2>&1 </dev/null
    rc=$?
    secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    # drop the result of an earlier run of this one test, if any
    awk -v p="$suite/$name " 'index($0, p) != 1' "$RESULTS" >"$RESULTS.tmp"
    mv -f "$RESULTS.tmp" "$RESULTS"
    case $rc in
    0)
        printf 'PASS %-24s %6ss\n' "$name" "$secs"
        echo "$suite/$name PASS" >>"$RESULTS"
        pass=$((pass + 1)) ;;
    77)
        printf 'SKIP %-24s %6ss  %s\n' "$name" "$secs" "$(grep -m1 'SKIP:' "$log" | sed 's/.*SKIP: //')"
        echo "$suite/$name SKIP" >>"$RESULTS"
        skipn=$((skipn + 1)) ;;
    *)
        why="exit $rc"
        if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then why="timed out after ${LIMIT}s"; fi
        printf 'FAIL %-24s %6ss  (%s)\n' "$name" "$secs" "$why"
        echo "------- $log (last 150 lines) -------"
        tail -n 150 "$log" | sed 's/^/    /'
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
