#!/usr/bin/env bash
# Totals the results file that every test runner appends to
# (${SC_RESULTS:-build/test-results.txt}, lines "<suite>/<name> PASS|FAIL|SKIP").
#
#   scripts/summarize-tests.sh           per-suite counts, the failures, and as
#                                        the last line "N passed, N failed"
#                                        (", N skipped" when any); exits 1 when
#                                        anything failed or nothing ran
#   scripts/summarize-tests.sh --reset   empties the results file (start of `make test`)
set -euo pipefail

cd "$(dirname "$0")/.."
RESULTS=${SC_RESULTS:-build/test-results.txt}

case ${1:-} in
--reset)
    mkdir -p "$(dirname "$RESULTS")"
    : >"$RESULTS"
    exit 0 ;;
"") ;;
*) echo "usage: $0 [--reset]" >&2; exit 2 ;;
esac

if [ ! -s "$RESULTS" ]; then
    echo "summary: no test results in $RESULTS"
    echo "0 passed, 0 failed"
    exit 1
fi

# Per suite ("unit", "integration", "integration[san-address-undefined]", ...).
echo "== test summary ($RESULTS)"
awk '
    NF >= 2 {
        split($1, a, "/"); s = a[1]
        if (!(s in seen)) { seen[s] = 1; order[n++] = s }
        if ($2 == "PASS") p[s]++; else if ($2 == "FAIL") f[s]++; else if ($2 == "SKIP") k[s]++
    }
    END {
        for (i = 0; i < n; i++) {
            s = order[i]
            printf "  %-40s %4d passed, %d failed, %d skipped\n", s, p[s], f[s], k[s]
        }
    }' "$RESULTS"

if grep -q ' SKIP' "$RESULTS"; then
    echo "skipped:"
    grep ' SKIP' "$RESULTS" | sed 's/^/  /'
fi
if grep -q ' FAIL' "$RESULTS"; then
    echo "FAILED:"
    grep ' FAIL' "$RESULTS" | sed 's/^/  /'
fi

pass=$(grep -c ' PASS$' "$RESULTS" || true)
fail=$(grep -c ' FAIL$' "$RESULTS" || true)
skip=$(grep -c ' SKIP$' "$RESULTS" || true)
other=$(grep -c -v -E ' (PASS|FAIL|SKIP)$' "$RESULTS" || true)
if [ "$other" -gt 0 ]; then
    echo "summary: $other malformed line(s) in $RESULTS, counted as failures"
    fail=$((fail + other))
fi
line="$pass passed, $fail failed"
if [ "$skip" -gt 0 ]; then line="$line, $skip skipped"; fi
echo "$line"
# .ci/run says it again after make's own error line
echo "$line" >"$(dirname "$RESULTS")/test-summary.txt"
if [ "$fail" -gt 0 ] || [ "$pass" -eq 0 ]; then exit 1; fi
exit 0
