# Shared by test/integration/run.sh and test/e2e/run.sh (sourced, not run):
# picks the tests, keeps ${SC_RESULTS:-build/test-results.txt}, runs each
# test in its own bash process with a time limit, prints PASS/FAIL/SKIP with
# the log tail of each failure, and sums up.
#
#   suite_init NAME DIR DEFAULT_LIMIT [PATTERN...]
#       NAME is "integration" or "e2e"; the suite is NAME, or NAME[san-...]
#       when SC_BUILD is a sanitizer build.  PATTERN selects tests by
#       substring of their name (e.g. "10-strict"); no pattern means all,
#       and a full run replaces the suite's earlier results.
#   suite_skip_all REASON   records every selected test as SKIP, loudly
#   suite_run               runs them; returns 1 if any failed
#
# Each test: exit 0 = PASS, 77 = SKIP (reason on a "SKIP:" line), else FAIL.
# Logs go to $SC_LOG_DIR, or $SC_BUILD/NAME-logs.  SC_TEST_TIMEOUT overrides
# the per-test limit (seconds).

suite_init() {
    local name=$1 dir=$2 limit=$3 t p want
    shift 3
    SUITE_NAME=$name
    SUITE=$name
    case $SC_BUILD in
    *san-*) SUITE="$name[${SC_BUILD##*/}]" ;;
    esac
    RESULTS=${SC_RESULTS:-build/test-results.txt}
    LIMIT=${SC_TEST_TIMEOUT:-$limit}
    SUITE_TESTS=()
    for t in "$dir"/[0-9][0-9]-*.sh; do
        [ -f "$t" ] || continue
        if [ $# -gt 0 ]; then
            want=0
            for p in "$@"; do case $t in *"$p"*) want=1 ;; esac; done
            [ $want = 1 ] || continue
        fi
        SUITE_TESTS+=("$t")
    done
    if [ ${#SUITE_TESTS[@]} -eq 0 ]; then
        echo "$name: no tests match" >&2
        exit 1
    fi
    mkdir -p "$(dirname "$RESULTS")"
    touch "$RESULTS"
    if [ $# -eq 0 ]; then
        _suite_drop "$SUITE/"
    fi
    SUITE_LOGDIR=${SC_LOG_DIR:-$SC_BUILD/$name-logs}
    mkdir -p "$SUITE_LOGDIR"
}

_suite_drop() { # PREFIX: removes earlier results starting with PREFIX
    awk -v p="$1" 'index($0, p) != 1' "$RESULTS" >"$RESULTS.tmp"
    mv -f "$RESULTS.tmp" "$RESULTS"
}

_suite_banner() {
    echo "################################################################"
    echo "## $*"
    echo "################################################################"
}

suite_skip_all() {
    local t name
    _suite_banner "$SUITE_NAME: SKIPPED (${#SUITE_TESTS[@]} tests): $1"
    for t in "${SUITE_TESTS[@]}"; do
        name=$(basename "$t" .sh)
        _suite_drop "$SUITE/$name "
        echo "$SUITE/$name SKIP" >>"$RESULTS"
    done
}

suite_run() {
    local t name log start rc secs why pass=0 failn=0 skipn=0 t0 failed=()
    echo "== $SUITE: ${#SUITE_TESTS[@]} tests, sidecar $SC_BUILD/bin/sidecar"
    t0=$(date +%s)
    for t in "${SUITE_TESTS[@]}"; do
        name=$(basename "$t" .sh)
        log=$SUITE_LOGDIR/$name.log
        start=$(date +%s.%N)
        # timeout puts the test in its own process group and signals all of it.
        timeout -k 10 "$LIMIT" bash "$t" >"$log" 2>&1 </dev/null
        rc=$?
        secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
        _suite_drop "$SUITE/$name "
        case $rc in
        0)
            printf 'PASS %-24s %6ss\n' "$name" "$secs"
            echo "$SUITE/$name PASS" >>"$RESULTS"
            pass=$((pass + 1)) ;;
        77)
            # a skipped test is said loudly: it should have run
            _suite_banner "SKIPPED $name: $(grep -m1 'SKIP:' "$log" | sed 's/.*SKIP: //')"
            echo "$SUITE/$name SKIP" >>"$RESULTS"
            skipn=$((skipn + 1)) ;;
        *)
            why="exit $rc"
            if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then why="timed out after ${LIMIT}s"; fi
            printf 'FAIL %-24s %6ss  (%s)\n' "$name" "$secs" "$why"
            echo "------- $log (last 200 lines) -------"
            tail -n 200 "$log" | sed 's/^/    /'
            echo "------- end of $name -------"
            echo "$SUITE/$name FAIL" >>"$RESULTS"
            failed+=("$name")
            failn=$((failn + 1)) ;;
        esac
    done
    echo "== $SUITE: $pass passed, $failn failed, $skipn skipped in $(($(date +%s) - t0))s (logs: $SUITE_LOGDIR)"
    if [ $failn -gt 0 ]; then
        echo "== $SUITE: failed: ${failed[*]}"
        return 1
    fi
    return 0
}
