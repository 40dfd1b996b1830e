#!/bin/sh
# tests/fuzz/run.sh — stage 4 of tests/run.sh: build the libFuzzer targets
# (tests/fuzz/*_fuzz.c) with clang into build-fuzz/ and run each for
# FUZZ_SECONDS (20) on a scratch copy of its seed corpus
# (tests/fuzz/corpus/<target>/, never grown here) with its dictionary, one
# target at a time. A crash, leak, timeout (-timeout, 10 s an input) or
# memory blow-up (-rss_limit_mb) fails the stage and prints the reproducer;
# rerun it with build-fuzz/<target>_fuzz <file>. FUZZ_TARGETS="msg rc"
# selects targets.
set -eu
cd "$(dirname "$0")/../.."
SECONDS_EACH=${FUZZ_SECONDS:-20}
OUT=build-fuzz/fuzz-out

CC=${FUZZ_CC:-clang} cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSGW_SANITIZER=none -DSGW_FUZZ=ON >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz

targets=${FUZZ_TARGETS:-$(for f in tests/fuzz/*_fuzz.c; do basename "$f" _fuzz.c; done)}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
for t in $targets; do
    rm -rf "$OUT/$t"
    mkdir -p "$OUT/$t/corpus" "$OUT/$t/crashes"
    if [ -d "tests/fuzz/corpus/$t" ]; then
        cp tests/fuzz/corpus/"$t"/* "$OUT/$t/corpus/"
    fi
    set -- -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$OUT/$t/crashes/"
    if [ -f "tests/fuzz/$t.dict" ]; then
        set -- "$@" -dict="tests/fuzz/$t.dict"
    fi
    if ! "build-fuzz/${t}_fuzz" "$@" "$OUT/$t/corpus" >"$OUT/$t/log" 2>&1; then
        if grep -q -E 'ERROR|FUZZ_CHECK|runtime error' "$OUT/$t/log"; then
            grep -E -A25 'ERROR|FUZZ_CHECK|runtime error' "$OUT/$t/log" | head -60 >&2
        else
            tail -40 "$OUT/$t/log" >&2
        fi
        for f in "$OUT/$t"/crashes/*; do
            [ -f "$f" ] && echo "fuzz: $t FAILED; reproducer: $f (build-fuzz/${t}_fuzz $f)" >&2
        done
        echo "fuzz: $t FAILED; log: $OUT/$t/log" >&2
        exit 1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$OUT/$t/log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$OUT/$t/log")
    cov=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$OUT/$t/log" | tail -1 |
        grep -o -E 'cov: [0-9]+ ft: [0-9]+ corp: [^ ]+' || true)
    echo "fuzz: $t ok: $runs runs, $rate/s, $cov"
done
echo "fuzz: all targets passed"
