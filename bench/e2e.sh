#!/usr/bin/env bash
# bench/e2e.sh — end-to-end throughput: smsgw -> RingCentral adapter ->
# bench/fakecarrier (a fake RingCentral on loopback), in messages reaching
# `sent` per second, at the carrier latencies given (default: 0 and 50 ms).
#
#   bash bench/e2e.sh            # ~1-2 minutes; loopback only
#
# Per latency: a fresh fakecarrier with NFROM SMS numbers, a fresh smsgw
# (store sync "always", per-number limit lifted, delivery follow-ups off so
# only the send path is measured), a tenant connected to the fake with JWT
# credentials and a live key. wrk sends for SECS seconds (from cycling over
# the NFROM numbers); the clock runs from wrk's start until the fake has
# accepted every message smsgw accepted, and until smsgw has recorded them
# all `sent`.
# One machine-readable line per latency:
#   e2e latency_ms=… n=… accept_rps=… sent_mps=… carrier_mps=… rss_mb=… nfrom=… ordered=… maxconn=…
# Knobs: BUILD_DIR=build SECS=10 NFROM=256 LATENCIES="0 50" CONNS=32 ORDERED=true
#        MAXCONN=128 (smsgw's connections to the carrier) FC_THREADS=256 KEEP=0
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BUILD_DIR=${BUILD_DIR:-build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac
SECS=${SECS:-10} NFROM=${NFROM:-256} LATENCIES=${LATENCIES:-"0 50"} CONNS=${CONNS:-32}
ORDERED=${ORDERED:-true} KEEP=${KEEP:-0} MAXCONN=${MAXCONN:-128} FC_THREADS=${FC_THREADS:-256}
SMSGW="$BUILD_DIR/smsgw" FC="$BUILD_DIR/fakecarrier"
ADMIN=sgw_cccccccccccccccccccccccccccccccc

die() { echo "e2e.sh: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
for t in wrk curl python3; do command -v $t >/dev/null || die "$t not found"; done
[ -x "$SMSGW" ] && [ -x "$FC" ] || die "build first: cmake -B build && cmake --build build"

WORK=$(mktemp -d /tmp/smsgw-e2e.XXXXXX) || die "mktemp failed"
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
json_get() { python3 -c "import json,sys;print(json.load(sys.stdin)$1)"; }
now() { date +%s.%N; }

for lat in $LATENCIES; do
    # the fake carrier, with NFROM numbers of extension 200000001
    nums=()
    for ((i = 0; i < NFROM; i++)); do nums+=(--number "$(printf '+1555200%04d' $i):200000001:SmsSender"); done
    "$FC" --listen 127.0.0.1:0 --threads "$FC_THREADS" --latency-ms "$lat" "${nums[@]}" >"$WORK/fc-$lat.out" 2>"$WORK/fc-$lat.log" &
    fcpid=$!; PIDS+=("$fcpid")
    for _ in $(seq 100); do grep -q "listening on" "$WORK/fc-$lat.out" && break; sleep 0.05; done
    fcurl=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$WORK/fc-$lat.out")
    [ -n "$fcurl" ] || die "fakecarrier did not start (see $WORK/fc-$lat.log)"

    port=$(free_port)
    cat >"$WORK/e2e.cfg" <<EOF
store = { sync = "always"; };
limits = { app_key_per_min = 1000000000; admin_key_per_min = 1000000000; from_per_window = 1000000000; };
transport = { default_route = [ "ringcentral" ];
              ringcentral = { status_polls = 0; ordered_per_number = $ORDERED; max_connections = $MAXCONN; }; };
EOF
    SMSGW_LISTEN="127.0.0.1:$port" SMSGW_DATA_DIR="$WORK/data-$lat" SMSGW_ADMIN_KEY=$ADMIN \
        SMSGW_CONFIG="$WORK/e2e.cfg" "$SMSGW" >"$WORK/smsgw-$lat.log" 2>&1 &
    pid=$!; PIDS+=("$pid")
    api="http://127.0.0.1:$port"
    wait_http "$api/readyz" || die "smsgw did not start (see $WORK/smsgw-$lat.log)"
    tid=$(curl -s -X POST "$api/v1/tenants" -H "Authorization: Bearer $ADMIN" -d '{"name":"bench"}' | json_get "['id']")
    curl -sf -o /dev/null -X PUT "$api/v1/tenants/$tid/connections/ringcentral" -H "Authorization: Bearer $ADMIN" \
        -d "{\"serverUrl\":\"$fcurl\",\"clientId\":\"fake-client-id\",\"clientSecret\":\"fake-client-secret\",\"jwt\":\"fake-jwt\"}" \
        || die "could not connect the tenant to the fake carrier"
    key=$(curl -s -X POST "$api/v1/apps/register" -H "Authorization: Bearer $ADMIN" \
        -d "{\"name\":\"bench\",\"tenantId\":\"$tid\",\"mode\":\"live\"}" | json_get "['apiKey']")

    t0=$(now)
    line=$(timeout $((SECS + 30)) wrk -t2 -c"$CONNS" -d"${SECS}s" -T10s --latency -s "$HERE/send.lua" "$api" -- "$key" 0 "$NFROM" 2>&1 | grep '^LAT ')
    t_acc=$(now)
    accepted=$(sed -n 's/.* ok=\([0-9]*\).*/\1/p' <<<"$line")
    # until the carrier has every accepted message, and smsgw has marked it sent
    carrier=0 t_car=""
    for _ in $(seq 2400); do
        carrier=$(curl -s "$fcurl/_fake/stats" | json_get "['sms_accepted']")
        [ "${carrier:-0}" -ge "${accepted:-0}" ] && { t_car=$(now); break; }
        sleep 0.05
    done
    [ -n "$t_car" ] || log "WARNING: the carrier got $carrier of $accepted"
    sent=0 t_sent=""
    for _ in $(seq 2400); do
        sent=$(curl -s "$api/metrics" | awk '/^smsgw_status_events_total\{status="sent"\}/ {print $2}')
        [ "${sent:-0}" -ge "${accepted:-0}" ] && { t_sent=$(now); break; }
        sleep 0.05
    done
    rss=$(awk '/^VmHWM:/ {printf "%.1f", $2/1024}' "/proc/$pid/status")
    stop_pid "$pid"; stop_pid "$fcpid"
    rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN{ if (b == "" || b <= a) print "n/a"; else printf "%.1f", n / (b - a) }'; }
    log "latency ${lat} ms: wrk $line"
    echo "e2e latency_ms=$lat n=$accepted accept_rps=$(rate "$accepted" "$t0" "$t_acc") sent_mps=$(rate "$accepted" "$t0" "$t_sent") carrier_mps=$(rate "$accepted" "$t0" "$t_car") rss_mb=$rss nfrom=$NFROM ordered=$ORDERED maxconn=$MAXCONN"
done
