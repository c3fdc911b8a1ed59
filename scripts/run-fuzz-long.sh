#!/usr/bin/env bash
# `make fuzz-long`: runs every libFuzzer target (built by `make fuzz` into
# build/libfuzzer/) for FUZZ_SECONDS each, from the repository root:
#
#   scripts/run-fuzz-long.sh SECONDS build/libfuzzer/fuzz_sniff build/libfuzzer/fuzz_x509 ...
#
# Each target starts from its seeds, test/fuzz/corpus/<module>/ (read only),
# and keeps what it finds in build/fuzz-corpus/<module>/ (kept between runs,
# so a second run goes on where the first stopped; the committed seeds stay
# small).  A crash, leak, timeout or out-of-memory stops the run at once: the
# script prints the input libFuzzer saved (build/fuzz-artifacts/<module>/)
# and how to replay it, and exits 1.  That input goes into
# test/fuzz/corpus/<module>/ in the commit that fixes it, so `make
# fuzz-replay` keeps checking it.  Exit 0 when every target ran its time.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

if [ $# -lt 2 ]; then
    echo "usage: $0 SECONDS FUZZ_BINARY..." >&2
    exit 2
fi
secs=$1
shift
case $secs in
'' | *[!0-9]*) echo "fuzz-long: FUZZ_SECONDS must be a number of seconds, not '$secs'" >&2; exit 2 ;;
esac

n=0
for bin in "$@"; do
    name=$(basename "$bin")
    module=${name#fuzz_}
    seeds=test/fuzz/corpus/$module
    work=build/fuzz-corpus/$module
    art=build/fuzz-artifacts/$module
    log=build/fuzz-logs/$name.long.log
    if [ ! -x "$bin" ]; then
        echo "fuzz-long: $bin is missing (run: make fuzz)" >&2
        exit 1
    fi
    [ -d "$seeds" ] || { echo "fuzz-long: no seed corpus $seeds/" >&2; exit 1; }
    mkdir -p "$work" "$art" "$(dirname "$log")"
    n=$((n + 1))
    echo "fuzz-long: $name for ${secs}s (seeds $seeds/, findings $work/)"
    "$bin" -max_total_time="$secs" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$art/" "$work" "$seeds" >"$log" 2>&1
    rc=$?
    if [ $rc -ne 0 ]; then
        input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        [ -n "$input" ] || input=$(ls -t "$art"/* 2>/dev/null | head -n 1)
        echo "fuzz-long: $name FAILED (exit $rc); the last lines of $log:" >&2
        tail -n 40 "$log" | sed 's/^/    /' >&2
        if [ -n "$input" ]; then
            echo "fuzz-long: the input is $input" >&2
            echo "fuzz-long: replay it with: $bin $input  (or build/fuzz/$name $input under gcc);" >&2
            echo "fuzz-long: copy it into $seeds/ with the fix" >&2
        fi
        exit 1
    fi
    grep -E '^stat::number_of_executed_units|^Done [0-9]+ runs' "$log" | tail -n 1 | sed "s/^/fuzz-long: $name: /"
done
echo "fuzz-long: $n targets ran ${secs}s each without a crash"
