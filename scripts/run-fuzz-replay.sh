#!/usr/bin/env bash
# Replays each fuzz target's seed corpus through its replay build (gcc +
# test/fuzz/replay_main.c), from the repository root:
#
#   scripts/run-fuzz-replay.sh build/fuzz/fuzz_sniff build/fuzz/fuzz_spiffe ...
#
# Target build/.../fuzz_<module> replays test/fuzz/corpus/<module>/.  A target
# without a corpus fails (every fuzz target has seeds).  Records one line per
# target, "<suite>/fuzz_<module> PASS|FAIL", in ${SC_RESULTS:-build/test-results.txt}
# (the file scripts/summarize-tests.sh totals); the suite is "fuzz-replay", or
# "fuzz-replay[san-address-undefined]" for binaries under build/san-*/.  Runs
# every target, prints a summary, and exits 1 if any failed.
# SC_FUZZ_TIMEOUT (seconds, default 300) bounds each target.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
RESULTS=${SC_RESULTS:-build/test-results.txt}
LIMIT=${SC_FUZZ_TIMEOUT:-300}

if [ $# -eq 0 ]; then
    echo "fuzz-replay: no fuzz binaries given"
    exit 0
fi

suite=fuzz-replay
case $1 in
*/san-*/*) tag=${1#*/san-}; suite="fuzz-replay[san-${tag%%/*}]" ;;
esac

# A rerun of this suite replaces its earlier results.
scripts/results.sh drop "$suite/"

logdir=$(dirname "$RESULTS")/fuzz-logs
mkdir -p "$logdir"
failed=0
for bin in "$@"; do
    name=$(basename "$bin")
    corpus=test/fuzz/corpus/${name#fuzz_}
    log=$logdir/$name${suite#fuzz-replay}.log
    why=
    if [ ! -x "$bin" ]; then
        why="$bin is not an executable"
    elif [ ! -d "$corpus" ] || [ -z "$(ls -A "$corpus" 2>/dev/null)" ]; then
        why="no seed corpus in $corpus/"
    else
        timeout -k 10 "$LIMIT" "$bin" "$corpus" >"$log" 2>&1
        rc=$?
        if [ $rc -ne 0 ]; then
            why="exit $rc"
            if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then why="$why (timed out after ${LIMIT}s)"; fi
        fi
    fi
    if [ -z "$why" ]; then
        printf 'PASS %-28s %s\n' "$name" "$(grep -E '^fuzz-replay ' "$log" | tail -n 1)"
        scripts/results.sh add "$suite/$name" PASS
    else
        printf 'FAIL %-28s %s\n' "$name" "$why"
        if [ -f "$log" ]; then sed 's/^/    /' "$log" | tail -n 100; fi
        scripts/results.sh add "$suite/$name" FAIL
        failed=$((failed + 1))
    fi
done
echo "$suite: $(($# - failed)) of $# fuzz targets passed"
[ $failed -eq 0 ]
