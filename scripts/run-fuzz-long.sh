#!/usr/bin/env bash
# `make fuzz-long` and `make test`'s fuzzing: runs every libFuzzer target
# (built once by `make fuzz` into build/libfuzzer/) for SECONDS each, from
# the repository root:
#
#   scripts/run-fuzz-long.sh [-j JOBS] [--suite NAME] SECONDS build/libfuzzer/fuzz_sniff ...
#
# Each target starts from its seeds, test/fuzz/corpus/<module>/ (read only),
# and keeps what it finds in build/fuzz-corpus/<module>/ (kept between runs,
# so a second run goes on where the first stopped; the committed seeds stay
# small).  A crash, leak, timeout or out-of-memory fails the target: the
# script prints the input libFuzzer saved (build/fuzz-artifacts/<module>/)
# and how to replay it.  That input goes into test/fuzz/corpus/<module>/ in
# the commit that fixes it, so `make fuzz-replay` keeps checking it.
#
# -j JOBS       targets run side by side (default 1)
# --suite NAME  run every target even after a failure, and record
#               "NAME/<target> PASS|FAIL" in ${SC_RESULTS:-build/test-results.txt}
#               (`make test` uses the suite "fuzz"); without it the run
#               stops at the first failure.
# Exit 0 when every target ran its time without a failure.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

jobs=1
suite=
while [ $# -gt 0 ]; do
    case $1 in
    -j) jobs=${2:-}; shift 2 ;;
    --suite) suite=${2:-}; shift 2 ;;
    *) break ;;
    esac
done
if [ $# -lt 2 ]; then
    echo "usage: $0 [-j JOBS] [--suite NAME] SECONDS FUZZ_BINARY..." >&2
    exit 2
fi
secs=$1
shift
case $secs in
'' | *[!0-9]*) echo "fuzz-long: FUZZ_SECONDS must be a number of seconds, not '$secs'" >&2; exit 2 ;;
esac
case $jobs in
'' | *[!0-9]* | 0) echo "fuzz-long: -j wants a number of jobs, not '$jobs'" >&2; exit 2 ;;
esac
if [ -n "$suite" ]; then scripts/results.sh drop "$suite/"; fi

# fuzz_one BINARY: runs one target; its report goes to build/fuzz-logs/NAME.report
# (printed by the caller when it ends), its status to NAME.rc.
fuzz_one() {
    local bin=$1 name module seeds work art log rc input
    name=$(basename "$bin")
    module=${name#fuzz_}
    seeds=test/fuzz/corpus/$module
    work=build/fuzz-corpus/$module
    art=build/fuzz-artifacts/$module
    log=build/fuzz-logs/$name.long.log
    mkdir -p "$work" "$art" "$(dirname "$log")"
    exec >"build/fuzz-logs/$name.report" 2>&1
    if [ ! -x "$bin" ]; then
        echo "fuzz-long: $bin is missing (run: make fuzz)"
        echo 1 >"build/fuzz-logs/$name.rc"
        return
    fi
    if [ ! -d "$seeds" ]; then
        echo "fuzz-long: no seed corpus $seeds/"
        echo 1 >"build/fuzz-logs/$name.rc"
        return
    fi
    "$bin" -max_total_time="$secs" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$art/" "$work" "$seeds" >"$log" 2>&1
    rc=$?
    if [ $rc -ne 0 ]; then
        input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        [ -n "$input" ] || input=$(ls -t "$art"/* 2>/dev/null | head -n 1)
        echo "fuzz-long: $name FAILED (exit $rc); the last lines of $log:"
        tail -n 40 "$log" | sed 's/^/    /'
        if [ -n "$input" ]; then
            echo "fuzz-long: the input is $input"
            echo "fuzz-long: replay it with: $bin $input  (or build/fuzz/$name $input under gcc);"
            echo "fuzz-long: copy it into $seeds/ with the fix"
        fi
    else
        grep -E '^stat::number_of_executed_units|^Done [0-9]+ runs' "$log" | tail -n 1 |
            sed "s/^/fuzz-long: $name ran ${secs}s: /"
    fi
    echo "$rc" >"build/fuzz-logs/$name.rc"
}

mkdir -p build/fuzz-logs
declare -A names=()
running=0
failed=()
n=0
stop=0
reap() {
    local pid name rc
    wait -n -p pid
    name=${names[$pid]}
    unset "names[$pid]"
    running=$((running - 1))
    rc=$(cat "build/fuzz-logs/$name.rc" 2>/dev/null || echo 1)
    cat "build/fuzz-logs/$name.report"
    if [ "$rc" = 0 ]; then
        [ -z "$suite" ] || scripts/results.sh add "$suite/$name" PASS
    else
        failed+=("$name")
        [ -z "$suite" ] || scripts/results.sh add "$suite/$name" FAIL
        [ -n "$suite" ] || stop=1
    fi
}
echo "fuzz-long: $# targets for ${secs}s each, $jobs at a time (findings in build/fuzz-corpus/)"
for bin in "$@"; do
    while [ $running -ge "$jobs" ]; do reap; done
    [ $stop = 0 ] || break
    name=$(basename "$bin")
    rm -f "build/fuzz-logs/$name.rc"
    fuzz_one "$bin" &
    names[$!]=$name
    running=$((running + 1))
    n=$((n + 1))
done
while [ $running -gt 0 ]; do reap; done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz-long: failed: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz-long: $n targets ran ${secs}s each without a crash"
