#!/usr/bin/env bash
# Runs Check unit-test binaries from the repository root, one after another,
# and records "<suite>/<binary> PASS|FAIL" in ${SC_RESULTS:-build/test-results.txt}.
# The suite is "unit", or "unit[san-address-undefined]" for binaries under
# build/san-*/.  Runs all binaries, then exits 1 if any failed.
#
#   scripts/run-unit.sh build/test/test_addr build/test/test_config ...
#
# CK_FORK=yes unless set; SC_UNIT_TIMEOUT (seconds, default 300) per binary.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
RESULTS=${SC_RESULTS:-build/test-results.txt}
LIMIT=${SC_UNIT_TIMEOUT:-300}
export CK_FORK=${CK_FORK:-yes}

if [ $# -eq 0 ]; then
    echo "unit: no test binaries given"
    exit 0
fi

suite=unit
case $1 in
*/san-*/*) tag=${1#*/san-}; suite="unit[san-${tag%%/*}]" ;;
esac

# A rerun of this suite replaces its earlier results.
scripts/results.sh drop "$suite/"

logdir=$(dirname "$RESULTS")/unit-logs
mkdir -p "$logdir"
failed=0
for bin in "$@"; do
    name=$(basename "$bin")
    log=$logdir/$name${suite#unit}.log
    if [ ! -x "$bin" ]; then
        echo "FAIL $name: $bin is not an executable"
        scripts/results.sh add "$suite/$name" FAIL
        failed=$((failed + 1))
        continue
    fi
    timeout -k 10 "$LIMIT" "$bin" >"$log" 2>&1
    rc=$?
    # Check's summary: "100%: Checks: 12, Failures: 0, Errors: 0"
    summary=$(grep -E '^[0-9]+%: Checks: ' "$log" | tail -n 1)
    if [ $rc -eq 0 ]; then
        printf 'PASS %-28s %s\n' "$name" "$summary"
        scripts/results.sh add "$suite/$name" PASS
    else
        if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then summary="$summary (timed out after ${LIMIT}s)"; fi
        printf 'FAIL %-28s %s (exit %d)\n' "$name" "$summary" "$rc"
        sed 's/^/    /' "$log" | tail -n 200
        scripts/results.sh add "$suite/$name" FAIL
        failed=$((failed + 1))
    fi
done
echo "$suite: $(($# - failed)) of $# test binaries passed"
[ $failed -eq 0 ]
