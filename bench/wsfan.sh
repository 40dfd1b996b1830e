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
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BUILD_DIR=${BUILD_DIR:-build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac
SUBS=${SUBS:-"1000 100"} MESSAGES=${MESSAGES:-400} SEND_CONC=${SEND_CONC:-8} RATE=${RATE:-0}
TIMEOUT=${TIMEOUT:-60} KEEP=${KEEP:-0}
SMSGW="$BUILD_DIR/smsgw" WSFAN="$BUILD_DIR/wsfan"
ADMIN=sgw_dddddddddddddddddddddddddddddddd

die() { echo "wsfan.sh: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
for t in curl python3 cmake; do command -v $t >/dev/null || die "$t not found"; done
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

WORK=$(mktemp -d /tmp/smsgw-wsfan.XXXXXX) || die "mktemp failed"
chattr +T "$WORK" 2>/dev/null || true
PIDS=()
stop_pid() {
    kill -TERM "$1" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    return 0
}
cleanup() {
    for p in "${PIDS[@]}"; do stop_pid "$p"; done
    if [ "$KEEP" = 1 ]; then log "scratch kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 200); do curl -sf -o /dev/null "$1" && return 0; sleep 0.05; done; return 1; }
json_get() { python3 -c "import json,sys;print(json.load(sys.stdin)['$1'])"; }

rc=0
for n in $SUBS; do
    port=$(free_port)
    cat >"$WORK/wsfan.cfg" <<EOF
http = { threads = 1100; };
limits = { app_key_per_min = 1000000000; admin_key_per_min = 1000000000; from_per_window = 1000000000; };
EOF
    SMSGW_LISTEN="127.0.0.1:$port" SMSGW_DATA_DIR="$WORK/data-$n" SMSGW_ADMIN_KEY=$ADMIN \
        SMSGW_CONFIG="$WORK/wsfan.cfg" "$SMSGW" >"$WORK/smsgw-$n.log" 2>&1 &
    pid=$!; PIDS+=("$pid")
    api="http://127.0.0.1:$port"
    wait_http "$api/readyz" || die "smsgw did not start (see $WORK/smsgw-$n.log)"
    tid=$(curl -s -X POST "$api/v1/tenants" -H "Authorization: Bearer $ADMIN" -d '{"name":"bench"}' | json_get id)
    key=$(curl -s -X POST "$api/v1/apps/register" -H "Authorization: Bearer $ADMIN" \
        -d "{\"name\":\"bench\",\"tenantId\":\"$tid\",\"mode\":\"test\"}" | json_get apiKey)
    [ -n "$key" ] || die "could not create the app"
    log "smsgw pid $pid on $api: $n subscribers, $MESSAGES messages"
    timeout $((2 * TIMEOUT + 60)) "$WSFAN" --port "$port" --key "$key" --subs "$n" \
        --messages "$MESSAGES" --send-conc "$SEND_CONC" --rate "$RATE" --pid "$pid" \
        --timeout "$TIMEOUT" >"$WORK/wsfan-$n.out"
    r=$?
    cat "$WORK/wsfan-$n.out"
    case $r in
        0) ;;
        3) log "WARNING: events were published that never reached the WebSocket hub (lost= above)" ;;
        *) log "wsfan exited $r"; rc=1 ;;
    esac
    stop_pid "$pid"; PIDS=()   # stopped: never signal that PID again
    d=$(grep -c "dropping slow subscriber" "$WORK/smsgw-$n.log")
    [ "$d" = 0 ] || log "gateway log: $d 'dropping slow subscriber' lines"
done
exit $rc
