#!/usr/bin/env bash
# bench/ingress.sh — accepted sends per second and p50/p99 latency of
# POST /v1/sms/send, with the simulator and store sync "always" (every 202
# is on disk), next to civetweb's bare ceiling (bench/cwbare: same server
# options, a trivial 202 handler) on the same machine in the same run.
#
#   bash bench/ingress.sh            # ~2 minutes; loopback only
#
# Each round: the ceiling (wrk on cwbare), then smsgw (fresh data folder,
# warm-up, then wrk). Rounds alternate so both see the same machine noise;
# medians over ROUNDS are printed, then one machine-readable line:
#   smsgw accept_rps=… p50_ms=… p99_ms=… ceiling_rps=… ratio=… rss_mb=… sync=… rounds=…
# Then (HALF=1) a fresh smsgw driven at half of the median accept rate
# (send.lua's rate limit, open loop per thread) for SECS, and its line:
#   smsgw_half target_rps=… accept_rps=… p50_ms=… p99_ms=… bad=…
# Knobs: BUILD_DIR=build ROUNDS=3 SECS=10 THREADS=2 CONNS=32 SYNC=always HALF=1 KEEP=0
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROUNDS=${ROUNDS:-3} SECS=${SECS:-10} THREADS=${THREADS:-2} CONNS=${CONNS:-32}
SYNC=${SYNC:-always} HALF=${HALF:-1}
ADMIN=sgw_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
bench_init ingress
need wrk curl python3 awk
SMSGW="$BUILD_DIR/smsgw" CWBARE="$BUILD_DIR/cwbare"
[ -x "$SMSGW" ] && [ -x "$CWBARE" ] || die "build first: cmake -B build && cmake --build build"

run_wrk() { # url key secs [rate]
    local extra=()
    [ -n "${4:-}" ] && extra=(0 0 "$4" "$THREADS")
    timeout $(($3 + 30)) wrk -t"$THREADS" -c"$CONNS" -d"$3s" -T5s --latency \
        -s "$BENCH_HERE/send.lua" "$1" -- "$2" "${extra[@]}" 2>&1 | grep '^LAT '
}
printf 'store = { sync = "%s"; };\nlimits = { app_key_per_min = 1000000000; admin_key_per_min = 1000000000; };\n' \
    "$SYNC" >"$WORK/bench.cfg"

declare -A RES
for ((r = 1; r <= ROUNDS; r++)); do
    port=$(free_port)
    bg_start "$WORK/cwbare.out" "$CWBARE" "$port" 32
    pid=$BG_PID
    wait_http "http://127.0.0.1:$port/v1/sms/send" || grep -q ready "$WORK/cwbare.out" || die "cwbare did not start"
    run_wrk "http://127.0.0.1:$port" none 2 >/dev/null
    line=$(run_wrk "http://127.0.0.1:$port" none "$SECS")
    stop_pid "$pid"; forget_pid "$pid"
    RES[ceil,$r]=$(field rps "$line")
    log "round $r ceiling: $line"

    gw_start "$WORK/bench.cfg" "$WORK/data-$r" "$WORK/smsgw-$r.log"
    gw_test_app test
    run_wrk "$GW_API" "$APP_KEY" 2 >/dev/null
    line=$(run_wrk "$GW_API" "$APP_KEY" "$SECS")
    RES[rps,$r]=$(field rps "$line") RES[p50,$r]=$(field p50_ms "$line") RES[p99,$r]=$(field p99_ms "$line")
    RES[bad,$r]=$(field bad "$line")
    RES[rss,$r]=$(hwm_mb "$GW_PID")
    # spot check: the last messages are stored and readable
    mid=$(curl -s "$GW_API/v1/sms?limit=1" -H "Authorization: Bearer $APP_KEY" | python3 -c \
        'import json,sys;d=json.load(sys.stdin)["data"];print(d[0]["messageId"] if d else "")')
    code=$(curl -s -o /dev/null -w '%{http_code}' "$GW_API/v1/sms/status/$mid" -H "Authorization: Bearer $APP_KEY")
    [ "$code" = 200 ] || log "WARNING: spot check of $mid answered $code"
    writes=$(curl -s "$GW_API/metrics" | awk '/^smsgw_store_writes_total/ {print $2}')
    stop_pid "$GW_PID"; forget_pid "$GW_PID"
    rm -rf "$WORK/data-$r"
    log "round $r smsgw: $line rss_mb=${RES[rss,$r]} store_writes=$writes"
done

med() { for ((r = 1; r <= ROUNDS; r++)); do echo "${RES[$1,$r]:-0}"; done | median; }
printf '%-6s %12s %12s %9s %9s %8s %6s\n' round ceiling_rps accept_rps p50_ms p99_ms rss_mb non202
for ((r = 1; r <= ROUNDS; r++)); do
    printf '%-6s %12s %12s %9s %9s %8s %6s\n' "$r" "${RES[ceil,$r]}" "${RES[rps,$r]}" \
        "${RES[p50,$r]}" "${RES[p99,$r]}" "${RES[rss,$r]}" "${RES[bad,$r]}"
done
c=$(med ceil) a=$(med rps)
printf '%-6s %12s %12s %9s %9s %8s\n' median "$c" "$a" "$(med p50)" "$(med p99)" "$(med rss)"
echo "smsgw accept_rps=$a p50_ms=$(med p50) p99_ms=$(med p99) ceiling_rps=$c ratio=$(awk -v a="$a" -v c="$c" 'BEGIN{printf "%.3f", (c > 0 ? a / c : 0)}') rss_mb=$(med rss) sync=$SYNC rounds=$ROUNDS secs=$SECS conns=$CONNS"

if [ "$HALF" = 1 ]; then
    target=$(awk -v a="$a" 'BEGIN{printf "%d", a / 2}')
    if [ "${target:-0}" -gt 0 ]; then
        gw_start "$WORK/bench.cfg" "$WORK/data-half" "$WORK/smsgw-half.log"
        gw_test_app test
        run_wrk "$GW_API" "$APP_KEY" 2 "$target" >/dev/null
        line=$(run_wrk "$GW_API" "$APP_KEY" "$SECS" "$target")
        stop_pid "$GW_PID"; forget_pid "$GW_PID"
        log "half of the peak ($target/s): $line"
        echo "smsgw_half target_rps=$target accept_rps=$(field rps "$line") p50_ms=$(field p50_ms "$line") p99_ms=$(field p99_ms "$line") bad=$(field bad "$line") sync=$SYNC secs=$SECS conns=$CONNS"
    fi
fi
