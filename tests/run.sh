#!/bin/sh
# tests/run.sh — every test, as CI runs it (after etc/bootstrap.sh):
#   1. the gcc build (-Wall -Wextra -Werror): unit and end-to-end tests
#   2. an AddressSanitizer + UndefinedBehaviorSanitizer build: all tests again
#   3. a ThreadSanitizer build: the bus, actor and store unit tests
#   4. fuzz: each libFuzzer target briefly (clang, tests/fuzz/run.sh)
# Each stage prints ctest's summary; the script exits non-zero on the first
# failing stage. STAGES="1 2 3 4" selects stages.
set -eu
cd "$(dirname "$0")/.."
STAGES=${STAGES:-"1 2 3 4"}
JOBS=$(nproc)
export SMSGW_TEST_SLOW_OK=1

# the JS SDK check's packages (e2e.test_fakecarrier_sdk), exactly as locked,
# from the npm registry, when missing or stale (etc/bootstrap.sh installed
# Debian's npm); without them that test fails and names the fix
if command -v npm >/dev/null 2>&1 &&
    { [ ! -d tests/sdk/node_modules ] || [ tests/sdk/package-lock.json -nt tests/sdk/node_modules ]; }; then
    npm ci --prefix tests/sdk --no-audit --no-fund && touch tests/sdk/node_modules
fi

run_stage() { # name build_dir sanitizer ctest-args...
    name=$1 dir=$2 san=$3
    shift 3
    echo "=== $name"
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSGW_SANITIZER="$san" >/dev/null
    cmake --build "$dir" -j"$JOBS"
    (cd "$dir" && ctest --output-on-failure "$@")
}

for s in $STAGES; do
    case $s in
    1) run_stage "gcc -Werror: all tests" build none -j2 ;;
    2) ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        run_stage "ASan+UBSan: all tests" build-asan address -j2 ;;
    3) TSAN_OPTIONS="halt_on_error=1 suppressions=$(pwd)/tests/tsan.supp" \
        run_stage "TSan: bus, actor and store tests" build-tsan thread -L unit -R 'unit\.(msg|actor|store|cfg)' ;;
    4) echo "=== fuzz: each target briefly" && sh tests/fuzz/run.sh ;;
    *) echo "unknown stage $s" >&2; exit 2 ;;
    esac
done
echo "=== all stages passed"
