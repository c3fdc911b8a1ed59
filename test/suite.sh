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
    scripts/results.sh drop "$1"
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
        scripts/results.sh add "$SUITE/$name" SKIP
    done
}

# _suite_one TEST: runs one test under its time limit (and the suite lock:
# shared, or exclusive for a test that says "# exclusive: WHY"), then writes
# what suite_run prints and records to $SUITE_LOGDIR/NAME.result.
_suite_one() {
    local t=$1 name log start rc secs why mode=-s res lockfd turnfd
    name=$(basename "$t" .sh)
    log=$SUITE_LOGDIR/$name.log
    res=$SUITE_LOGDIR/$name.result
    if grep -q '^# exclusive:' "$t"; then mode=-x; fi
    # The lock is taken before the clock starts; the test does not inherit
    # it.  A turnstile in front of it keeps an exclusive test from waiting
    # for ever behind shared ones: it holds the turnstile while it waits,
    # so no new shared test starts until it has run.
    exec {turnfd}>>"$SUITE_LOCK.turnstile" {lockfd}>>"$SUITE_LOCK"
    flock -x "$turnfd"
    flock $mode "$lockfd"
    exec {turnfd}>&-
    start=$(date +%s.%N)
    # timeout puts the test in its own process group and signals all of it.
    timeout -k 10 "$LIMIT" bash "$t" >"$log" 2>&1 </dev/null {lockfd}>&-
    rc=$?
    secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    {
        case $rc in
        0)
            printf 'PASS %-24s %6ss\n' "$name" "$secs" ;;
        77)
            # a skipped test is said loudly: it should have run
            _suite_banner "SKIPPED $name: $(grep -m1 'SKIP:' "$log" | sed 's/.*SKIP: //')" ;;
        *)
            why="exit $rc"
            if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then why="timed out after ${LIMIT}s"; fi
            printf 'FAIL %-24s %6ss  (%s)\n' "$name" "$secs" "$why"
            echo "------- $log (last 200 lines) -------"
            tail -n 200 "$log" | sed 's/^/    /'
            echo "------- end of $name -------" ;;
        esac
    } >"$res.txt"
    echo "$rc" >"$res"
}

# suite_run: SC_JOBS tests at a time (default 2).  A test that needs the
# machine to itself (it measures memory, CPU or descriptors, exhausts fds,
# or changes network namespaces) says so with a line "# exclusive: WHY" and
# runs alone: not beside another test of this suite nor of any suite run
# concurrently with the same $SC_SUITE_LOCK (default: a lock file beside
# the results).  Each test's result is printed when it ends.
suite_run() {
    local t name rc pass=0 failn=0 skipn=0 t0 failed=() jobs running=0 pid
    local -A names=()
    jobs=${SC_JOBS:-2}
    case $jobs in '' | *[!0-9]* | 0) jobs=1 ;; esac
    SUITE_LOCK=${SC_SUITE_LOCK:-$(dirname "$RESULTS")/.suite.lock}
    : >>"$SUITE_LOCK"
    echo "== $SUITE: ${#SUITE_TESTS[@]} tests, $jobs at a time, sidecar $SC_BUILD/bin/sidecar"
    t0=$(date +%s)
    _suite_reap() {
        local done_pid
        wait -n -p done_pid
        name=${names[$done_pid]}
        unset "names[$done_pid]"
        running=$((running - 1))
        rc=$(cat "$SUITE_LOGDIR/$name.result" 2>/dev/null || echo 1)
        cat "$SUITE_LOGDIR/$name.result.txt" 2>/dev/null
        rm -f "$SUITE_LOGDIR/$name.result" "$SUITE_LOGDIR/$name.result.txt"
        case $rc in
        0) scripts/results.sh add "$SUITE/$name" PASS; pass=$((pass + 1)) ;;
        77) scripts/results.sh add "$SUITE/$name" SKIP; skipn=$((skipn + 1)) ;;
        *) scripts/results.sh add "$SUITE/$name" FAIL; failed+=("$name"); failn=$((failn + 1)) ;;
        esac
    }
    # the tests that run alone first, then the others side by side
    local order=() rest=()
    for t in "${SUITE_TESTS[@]}"; do
        if grep -q '^# exclusive:' "$t"; then order+=("$t"); else rest+=("$t"); fi
    done
    order+=("${rest[@]}")
    for t in "${order[@]}"; do
        while [ $running -ge "$jobs" ]; do _suite_reap; done
        name=$(basename "$t" .sh)
        rm -f "$SUITE_LOGDIR/$name.result"
        _suite_one "$t" &
        pid=$!
        names[$pid]=$name
        running=$((running + 1))
    done
    while [ $running -gt 0 ]; do _suite_reap; done
    echo "== $SUITE: $pass passed, $failn failed, $skipn skipped in $(($(date +%s) - t0))s (logs: $SUITE_LOGDIR)"
    if [ $failn -gt 0 ]; then
        echo "== $SUITE: failed: ${failed[*]}"
        return 1
    fi
    return 0
}
