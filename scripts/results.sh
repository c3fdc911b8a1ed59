#!/usr/bin/env bash
# The one writer of the results file every test runner records to
# (${SC_RESULTS:-build/test-results.txt}, lines "<suite>/<name> PASS|FAIL|SKIP",
# totalled by scripts/summarize-tests.sh).  `make test` runs suites side by
# side, so each change holds a lock ($SC_RESULTS.lock):
#
#   scripts/results.sh add SUITE/NAME PASS|FAIL|SKIP   appends a line (and
#                                     drops that test's earlier line)
#   scripts/results.sh drop PREFIX    drops the lines that start with PREFIX
#                                     (a full rerun of a suite: "SUITE/")
set -uo pipefail
RESULTS=${SC_RESULTS:-build/test-results.txt}
mkdir -p "$(dirname "$RESULTS")"
touch "$RESULTS"

_drop() { # PREFIX (under the lock)
    awk -v p="$1" 'index($0, p) != 1' "$RESULTS" >"$RESULTS.tmp.$$" &&
        mv -f "$RESULTS.tmp.$$" "$RESULTS"
}

exec {lock}>>"$RESULTS.lock"
flock "$lock"
case ${1:-} in
add)
    [ $# -eq 3 ] || { echo "usage: $0 add SUITE/NAME PASS|FAIL|SKIP" >&2; exit 2; }
    _drop "$2 "
    echo "$2 $3" >>"$RESULTS" ;;
drop)
    [ $# -eq 2 ] || { echo "usage: $0 drop PREFIX" >&2; exit 2; }
    _drop "$2" ;;
*)
    echo "usage: $0 add SUITE/NAME STATUS | drop PREFIX" >&2
    exit 2 ;;
esac
