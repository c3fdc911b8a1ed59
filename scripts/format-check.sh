#!/usr/bin/env bash
# `make format-check`: the C sources must be as clang-format (.clang-format)
# writes them; prints clang-format's diagnostics and fails otherwise.
#
#   scripts/format-check.sh FILE...
#
# The Makefile passes every C source, as `make fmt` formats them.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

if ! command -v clang-format >/dev/null 2>&1; then
    echo "format-check: clang-format is not installed (make deps)" >&2
    exit 1
fi
files=("$@")
bad=0
for f in "${files[@]}"; do
    if [ ! -f "$f" ]; then
        echo "format-check: $f is listed but does not exist" >&2
        bad=$((bad + 1))
    elif ! clang-format --dry-run -Werror "$f" 2>/dev/null; then
        clang-format --dry-run "$f" 2>&1 | head -n 20 >&2
        echo "format-check: $f is not formatted (clang-format -i $f)" >&2
        bad=$((bad + 1))
    fi
done
echo "format-check: ${#files[@]} files, $bad not formatted"
[ $bad -eq 0 ]
