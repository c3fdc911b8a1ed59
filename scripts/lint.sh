#!/usr/bin/env bash
# `make lint`: house-style checks that a compiler does not make.
#  1. banned functions (curl's list): sprintf strcpy strcat strtok atoi gets
#     (and vsprintf, strncat) in common/ proxy/ agent/ ctl/ test/tools/;
#  2. every global symbol defined in build/libcommon.a, build/libproxy.a,
#     build/libagent.a and build/libctl.a starts with sc_ (or SC_);
#  3. shell scripts parse (bash -n), and shellcheck when it is installed;
#  4. warns (does not fail) about source files nearing 1,000 lines;
#  5. include cycles among proxy/ modules (scripts/include-cycles.py): an
#     error when one holds worker, listener, conn or route, else a warning.
# Exits 1 on any error.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

errors=0
err() { echo "lint: $*"; errors=$((errors + 1)); }

# 1. banned functions, outside comments and string literals (roughly: lines
#    whose code part, before // or /*, calls one).
mapfile -t csrc < <(ls common/*.[ch] proxy/*.[ch] proxy/*/*.[ch] agent/*.[ch] ctl/*.[ch] test/tools/*.c 2>/dev/null)
if [ ${#csrc[@]} -gt 0 ]; then
    while IFS= read -r hit; do
        err "banned function: $hit"
    done < <(grep -n -H -E '(^|[^A-Za-z0-9_])(sprintf|vsprintf|strcpy|strcat|strncat|strtok|atoi|gets)[[:space:]]*\(' \
                 "${csrc[@]}" |
             awk -F: '{ code = $0; sub(/^[^:]*:[^:]*:/, "", code);
                        sub(/\/\/.*/, "", code); sub(/\/\*.*/, "", code);
                        gsub(/"([^"\\]|\\.)*"/, "\"\"", code);
                        if (code ~ /(^|[^A-Za-z0-9_])(sprintf|vsprintf|strcpy|strcat|strncat|strtok|atoi|gets)[[:space:]]*\(/ &&
                            $0 !~ /^[^:]*:[^:]*:[[:space:]]*\*/) print }')
fi

# 2. symbol prefixes
libs=()
for lib in build/libcommon.a build/libproxy.a build/libagent.a build/libctl.a; do
    src=$(basename "$lib" .a); src=${src#lib}
    if ls "$src"/*.c >/dev/null 2>&1; then
        if [ ! -f "$lib" ] || [ -n "$(find "$src" -name '*.[ch]' -newer "$lib" 2>/dev/null | head -n 1)" ]; then
            make --no-print-directory "$lib" >/dev/null || { err "cannot build $lib"; continue; }
        fi
        libs+=("$lib")
    fi
done
for lib in "${libs[@]}"; do
    while read -r obj sym; do
        err "$lib($obj): exported symbol '$sym' lacks the sc_ prefix (make it static or rename it)"
    done < <(nm -A --defined-only -g "$lib" 2>/dev/null |
             awk '{ n = split($1, a, ":"); obj = a[n - 1]; sym = $NF; t = $(NF - 1)
                    if (t ~ /^[TDBRCVWGS]$/ && sym !~ /^(sc_|SC_)/) print obj, sym }')
done

# 3. shell scripts
while IFS= read -r f; do
    bash -n "$f" 2>/dev/null || err "$f: bash -n fails: $(bash -n "$f" 2>&1 | head -n 1)"
done < <(ls scripts/*.sh test/integration/*.sh test/e2e/*.sh bench/*.sh .ci/run 2>/dev/null)
if command -v shellcheck >/dev/null 2>&1; then
    # errors fail the lint; warnings are shown
    shellcheck -S error -s bash scripts/*.sh test/integration/*.sh test/e2e/*.sh .ci/run ||
        err "shellcheck reported errors"
    shellcheck -S warning -s bash -f gcc scripts/*.sh test/integration/*.sh test/e2e/*.sh .ci/run |
        sed 's/^/lint: warning: /' || true
fi

# 4. size
for f in common/*.c proxy/*.c proxy/*/*.c agent/*.c; do
    [ -f "$f" ] || continue
    n=$(wc -l <"$f")
    if [ "$n" -gt 1000 ]; then echo "lint: warning: $f has $n lines (split it)"; fi
done

# 5. include cycles
if command -v python3 >/dev/null 2>&1; then
    while IFS= read -r line; do
        case $line in
        error:*) err "${line#error: }" ;;
        *) echo "lint: $line" ;;
        esac
    done < <(python3 scripts/include-cycles.py)
fi

if [ $errors -gt 0 ]; then
    echo "lint: $errors error(s)"
    exit 1
fi
echo "lint: ok"
