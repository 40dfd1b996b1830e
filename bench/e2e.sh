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
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SECS=${SECS:-10} NFROM=${NFROM:-256} LATENCIES=${LATENCIES:-"0 50"} CONNS=${CONNS:-32}
ORDERED=${ORDERED:-true} MAXCONN=${MAXCONN:-128} FC_THREADS=${FC_THREADS:-256}
ADMIN=sgw_cccccccccccccccccccccccccccccccc
bench_init e2e
BENCH_NAME=e2e.sh
need wrk curl python3
SMSGW="$BUILD_DIR/smsgw" FC="$BUILD_DIR/fakecarrier"
[ -x "$SMSGW" ] && [ -x "$FC" ] || die "build first: cmake -B build && cmake --build build"

for lat in $LATENCIES; do
    # the fake carrier, with NFROM numbers of extension 200000001
    nums=()
    for ((i = 0; i < NFROM; i++)); do nums+=(--number "$(printf '+1555200%04d' $i):200000001:SmsSender"); done
    bg_start "$WORK/fc-$lat.out" "$FC" --listen 127.0.0.1:0 --threads "$FC_THREADS" --latency-ms "$lat" "${nums[@]}"
    fcpid=$BG_PID
    for _ in $(seq 100); do grep -q "listening on" "$WORK/fc-$lat.out" && break; sleep 0.05; done
    fcurl=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$WORK/fc-$lat.out")
    [ -n "$fcurl" ] || die "fakecarrier did not start (see $WORK/fc-$lat.out)"

    cat >"$WORK/e2e.cfg" <<EOF
store = { sync = "always"; };
limits = { app_key_per_min = 1000000000; admin_key_per_min = 1000000000; from_per_window = 1000000000; };
transport = { default_route = [ "ringcentral" ];
              ringcentral = { status_polls = 0; ordered_per_number = $ORDERED; max_connections = $MAXCONN; }; };
EOF
    gw_start "$WORK/e2e.cfg" "$WORK/data-$lat" "$WORK/smsgw-$lat.log"
    gw_test_app live
    curl -sf -o /dev/null -X PUT "$GW_API/v1/tenants/$GW_TENANT/connections/ringcentral" -H "Authorization: Bearer $ADMIN" \
        -d "{\"serverUrl\":\"$fcurl\",\"clientId\":\"fake-client-id\",\"clientSecret\":\"fake-client-secret\",\"jwt\":\"fake-jwt\"}" \
        || die "could not connect the tenant to the fake carrier"

    t0=$(now)
    line=$(timeout $((SECS + 30)) wrk -t2 -c"$CONNS" -d"${SECS}s" -T10s --latency -s "$BENCH_HERE/send.lua" "$GW_API" -- "$APP_KEY" 0 "$NFROM" 2>&1 | grep '^LAT ')
    t_acc=$(now)
    accepted=$(field ok "$line")
    # until the carrier has every accepted message, and smsgw has marked it sent
    carrier=0 t_car=""
    for _ in $(seq 2400); do
        carrier=$(curl -s "$fcurl/_fake/stats" | json_get sms_accepted)
        [ "${carrier:-0}" -ge "${accepted:-0}" ] && { t_car=$(now); break; }
        sleep 0.05
    done
    [ -n "$t_car" ] || log "WARNING: the carrier got $carrier of $accepted"
    sent=0 t_sent=""
    for _ in $(seq 2400); do
        sent=$(curl -s "$GW_API/metrics" | awk '/^smsgw_status_events_total\{status="sent"\}/ {print $2}')
        [ "${sent:-0}" -ge "${accepted:-0}" ] && { t_sent=$(now); break; }
        sleep 0.05
    done
    rss=$(hwm_mb "$GW_PID")
    stop_pid "$GW_PID"; forget_pid "$GW_PID"
    stop_pid "$fcpid"; forget_pid "$fcpid"
    rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN{ if (b == "" || b <= a) print "n/a"; else printf "%.1f", n / (b - a) }'; }
    log "latency ${lat} ms: wrk $line"
    echo "e2e latency_ms=$lat n=$accepted accept_rps=$(rate "$accepted" "$t0" "$t_acc") sent_mps=$(rate "$accepted" "$t0" "$t_sent") carrier_mps=$(rate "$accepted" "$t0" "$t_car") rss_mb=$rss nfrom=$NFROM ordered=$ORDERED maxconn=$MAXCONN"
done
