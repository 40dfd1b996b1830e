#!/usr/bin/env bash
# bench/wsfan.sh — WebSocket fan-out (issue 5): events per second delivered
# to 1,000 subscribers, and the gateway's memory per idle connection.
#
#   bash bench/wsfan.sh            # ~1-2 minutes; loopback only
#
# Per subscriber count (SUBS, default "1000 100"): a fresh smsgw (fresh data
# folder, http.threads = 1100: each open WebSocket holds a civetweb worker),
# a tenant and a test-mode app (the simulator delivers: 4 sms_status events
# per message), then build/wsfan: SUBS subscribers authenticate with the app
# key, the gateway's RSS is read before and after (idle), then MESSAGES sends
# and every event counted at every subscriber. One machine-readable line per
# run, from wsfan (see bench/wsfan.c for each figure):
#   wsfan subs=… messages=… published=… hub=… lost=… secs=… conn_s=…
#         idle_kib_per_conn=… events_per_s=… deliveries_per_s=… complete=… drops=…
#         rss_idle_mb=… rss_peak_mb=…
# MESSAGES is 400 because 1,000 subscribers get ~40 events/s on a 2-vCPU VM
# (1,200 events: ~30 s); more would outgrow the bounded run.
# Knobs: BUILD_DIR=build SUBS="1000 100" MESSAGES=400 SEND_CONC=8 RATE=0
#        (messages/s; 0: as fast as the gateway answers) TIMEOUT=60 KEEP=0
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SUBS=${SUBS:-"1000 100"} MESSAGES=${MESSAGES:-400} SEND_CONC=${SEND_CONC:-8} RATE=${RATE:-0}
TIMEOUT=${TIMEOUT:-60}
ADMIN=sgw_dddddddddddddddddddddddddddddddd
bench_init wsfan
BENCH_NAME=wsfan.sh
need curl python3 cmake
SMSGW="$BUILD_DIR/smsgw" WSFAN="$BUILD_DIR/wsfan"
# build if needed (a no-op when up to date); a failed build with binaries
# already there goes on with them
[ -f "$BUILD_DIR/CMakeCache.txt" ] || cmake -B "$BUILD_DIR" -S "$ROOT" >/dev/null || die "cmake failed"
BLOG=$(mktemp /tmp/smsgw-wsfan-build.XXXXXX) || die "mktemp failed"
if cmake --build "$BUILD_DIR" -j2 --target smsgw wsfan >"$BLOG" 2>&1; then
    rm -f "$BLOG"
else
    [ -x "$SMSGW" ] && [ -x "$WSFAN" ] || die "build failed (see $BLOG)"
    log "WARNING: build failed (see $BLOG); using the binaries already built"
fi
# 1,000 subscribers: that many sockets here and in the gateway (and threads there)
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
[ "$(ulimit -n)" -ge 2200 ] || die "open-file limit $(ulimit -n) is too low for 1,000 subscribers"

rc=0
for n in $SUBS; do
    cat >"$WORK/wsfan.cfg" <<EOF
http = { threads = 1100; };
limits = { app_key_per_min = 1000000000; admin_key_per_min = 1000000000; from_per_window = 1000000000; };
EOF
    gw_start "$WORK/wsfan.cfg" "$WORK/data-$n" "$WORK/smsgw-$n.log"
    gw_test_app test
    log "smsgw pid $GW_PID on $GW_API: $n subscribers, $MESSAGES messages"
    timeout $((2 * TIMEOUT + 60)) "$WSFAN" --port "${GW_API##*:}" --key "$APP_KEY" --subs "$n" \
        --messages "$MESSAGES" --send-conc "$SEND_CONC" --rate "$RATE" --pid "$GW_PID" \
        --timeout "$TIMEOUT" >"$WORK/wsfan-$n.out"
    r=$?
    cat "$WORK/wsfan-$n.out"
    case $r in
        0) ;;
        3) log "WARNING: events were published that never reached the WebSocket hub (lost= above)" ;;
        *) log "wsfan exited $r"; rc=1 ;;
    esac
    stop_pid "$GW_PID"; forget_pid "$GW_PID"   # stopped: never signal that PID again
    d=$(grep -c "dropping slow subscriber" "$WORK/smsgw-$n.log")
    [ "$d" = 0 ] || log "gateway log: $d 'dropping slow subscriber' lines"
done
exit $rc
