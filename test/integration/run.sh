#!/usr/bin/env bash
# Runs the integration tests test/integration/[0-9][0-9]-*.sh, each in its own
# bash process with a time limit, against real peers on loopback.
#
#   SC_BUILD=build test/integration/run.sh [PATTERN...]
#
# PATTERN selects tests by substring of their name (e.g. "10-strict").
# Records "<suite>/<test> PASS|FAIL|SKIP" in ${SC_RESULTS:-build/test-results.txt};
# the suite is "integration", or "integration[san-...]" when SC_BUILD is a
# sanitizer build.  Full logs go to $SC_BUILD/integration-logs/ (or
# SC_LOG_DIR).  Exits 1 if any test failed.  See test/suite.sh.
#
# SC_TEST_TIMEOUT   seconds per test (default 300)
# SC_KEEP_FAILED=1  keep the temporary directory of failed tests
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
export SC_BUILD=${SC_BUILD:-build}
. test/suite.sh

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

suite_init integration test/integration 300 "$@"

# One certificate set for the whole run (each test may still make its own).
work=$(mktemp -d "${TMPDIR:-/tmp}/sc-it-run.XXXXXX")
trap 'rm -rf "$work"' EXIT
export SC_CERTS_DIR=$work/certs
if ! scripts/gen-certs.sh mesh "$SC_CERTS_DIR"; then
    echo "integration: gen-certs.sh mesh failed" >&2
    exit 1
fi

# The npm packages the SDS interoperability tests use, installed once
# before the tests start rather than by the first of them (a test that
# needs them and finds them missing still says why).
if command -v npm >/dev/null 2>&1; then
    scripts/node-deps.sh >/dev/null 2>"$work/node-deps.err" ||
        echo "integration: scripts/node-deps.sh failed: $(tail -n 1 "$work/node-deps.err")" >&2
fi

suite_run
