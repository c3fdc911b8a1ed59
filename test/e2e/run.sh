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
# See test/suite.sh.
#
# SC_TEST_TIMEOUT   seconds per test (default 180)
# SC_KEEP_FAILED=1  keep the temporary directory of failed tests
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
export SC_BUILD=${SC_BUILD:-build}
. test/suite.sh

suite_init e2e test/e2e 180 "$@"

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
    suite_skip_all "$why"
    exit 0
fi

for bin in "$SC_BUILD/bin/sidecar" "$SC_BUILD/bin/sds-agent" "$SC_BUILD/tools/backend"; do
    if [ ! -x "$bin" ]; then
        echo "e2e: $bin is missing (run: make all tools${SC_BUILD#build})" >&2
        exit 1
    fi
done

suite_run
