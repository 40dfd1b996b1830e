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
# Knobs: BUILD_DIR=build ROUNDS=3 SECS=10 THREADS=2 CONNS=32 SYNC=always KEEP=0
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BUILD_DIR=${BUILD_DIR:-build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac
ROUNDS=${ROUNDS:-3} SECS=${SECS:-10} THREADS=${THREADS:-2} CONNS=${CONNS:-32}
SYNC=${SYNC:-always} KEEP=${KEEP:-0}
SMSGW="$BUILD_DIR/smsgw" CWBARE="$BUILD_DIR/cwbare"
ADMIN=sgw_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb

die() { echo "ingress.sh: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
for t in wrk curl python3 awk; do command -v $t >/dev/null || die "$t not found"; done
[ -x "$SMSGW" ] && [ -x "$CWBARE" ] || die "build first: cmake -B build && cmake --build build"

WORK=$(mktemp -d /tmp/smsgw-bench.XXXXXX) || die "mktemp failed"
# like anchors/kannel/run.sh: put the data folder in a fresh ext4 block group
chattr +T "$WORK" 2>/dev/null || true
PIDS=()
stop_pid() { # pid
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
field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<" $2"; }
wait_http() { # url
    for _ in $(seq 200); do curl -sf -o /dev/null "$1" && return 0; sleep 0.05; done
    return 1
}
json_get() { python3 -c "import json,sys;print(json.load(sys.stdin)['$1'])"; }
run_wrk() { # port key secs
    timeout $(($3 + 30)) wrk -t"$THREADS" -c"$CONNS" -d"$3s" -T5s --latency \
        -s "$HERE/send.lua" "http://127.0.0.1:$1" -- "$2" 2>&1 | grep '^LAT '
}

declare -A RES
for ((r = 1; r <= ROUNDS; r++)); do
    port=$(free_port)
    "$CWBARE" "$port" 32 >"$WORK/cwbare.out" 2>&1 &
    pid=$!; PIDS+=("$pid")
    wait_http "http://127.0.0.1:$port/v1/sms/send" || grep -q ready "$WORK/cwbare.out" || die "cwbare did not start"
    run_wrk "$port" none 2 >/dev/null
    line=$(run_wrk "$port" none "$SECS")
    stop_pid "$pid"
    RES[ceil,$r]=$(field rps "$line")
    log "round $r ceiling: $line"

    port=$(free_port) dir="$WORK/data-$r"
    printf 'store = { sync = "%s"; };\nlimits = { app_key_per_min = 1000000000; admin_key_per_min = 1000000000; };\n' \
        "$SYNC" >"$WORK/bench.cfg"
    SMSGW_LISTEN="127.0.0.1:$port" SMSGW_DATA_DIR="$dir" SMSGW_ADMIN_KEY=$ADMIN \
        SMSGW_CONFIG="$WORK/bench.cfg" "$SMSGW" >"$WORK/smsgw-$r.log" 2>&1 &
    pid=$!; PIDS+=("$pid")
    wait_http "http://127.0.0.1:$port/readyz" || die "smsgw did not start (see $WORK/smsgw-$r.log)"
    api="http://127.0.0.1:$port"
    tid=$(curl -s -X POST "$api/v1/tenants" -H "Authorization: Bearer $ADMIN" -d '{"name":"bench"}' | json_get id)
    key=$(curl -s -X POST "$api/v1/apps/register" -H "Authorization: Bearer $ADMIN" \
        -d "{\"name\":\"bench\",\"tenantId\":\"$tid\",\"mode\":\"test\"}" | json_get apiKey)
    run_wrk "$port" "$key" 2 >/dev/null
    line=$(run_wrk "$port" "$key" "$SECS")
    RES[rps,$r]=$(field rps "$line") RES[p50,$r]=$(field p50_ms "$line") RES[p99,$r]=$(field p99_ms "$line")
    RES[bad,$r]=$(field bad "$line")
    RES[rss,$r]=$(awk '/^VmHWM:/ {printf "%.1f", $2/1024}' "/proc/$pid/status")
    # spot check: the last messages are stored and readable
    mid=$(curl -s "$api/v1/sms?limit=1" -H "Authorization: Bearer $key" | python3 -c \
        'import json,sys;d=json.load(sys.stdin)["data"];print(d[0]["messageId"] if d else "")')
    code=$(curl -s -o /dev/null -w '%{http_code}' "$api/v1/sms/status/$mid" -H "Authorization: Bearer $key")
    [ "$code" = 200 ] || log "WARNING: spot check of $mid answered $code"
    writes=$(curl -s "$api/metrics" | awk '/^smsgw_store_writes_total/ {print $2}')
    stop_pid "$pid"
    log "round $r smsgw: $line rss_mb=${RES[rss,$r]} store_writes=$writes"
done

median() { # key
    for ((r = 1; r <= ROUNDS; r++)); do echo "${RES[$1,$r]:-0}"; done | sort -g |
        awk '{v[NR]=$1} END {m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2; printf "%.2f\n", m}'
}
printf '%-6s %12s %12s %9s %9s %8s %6s\n' round ceiling_rps accept_rps p50_ms p99_ms rss_mb non202
for ((r = 1; r <= ROUNDS; r++)); do
    printf '%-6s %12s %12s %9s %9s %8s %6s\n' "$r" "${RES[ceil,$r]}" "${RES[rps,$r]}" \
        "${RES[p50,$r]}" "${RES[p99,$r]}" "${RES[rss,$r]}" "${RES[bad,$r]}"
done
c=$(median ceil) a=$(median rps)
printf '%-6s %12s %12s %9s %9s %8s\n' median "$c" "$a" "$(median p50)" "$(median p99)" "$(median rss)"
echo "smsgw accept_rps=$a p50_ms=$(median p50) p99_ms=$(median p99) ceiling_rps=$c ratio=$(awk -v a="$a" -v c="$c" 'BEGIN{printf "%.3f", (c > 0 ? a / c : 0)}') rss_mb=$(median rss) sync=$SYNC rounds=$ROUNDS secs=$SECS conns=$CONNS"
