#!/usr/bin/env bash
# bench/kannel.sh — Kannel (Debian's `kannel` + `kannel-extras`) beside
# smsgw, with the same load generator: accepted sendsms per second and
# p50/p99 with its spool store, and messages delivered per second to its
# fake SMSC (fakesmsc). The reference for bench/ingress.sh's figure.
#
#   bash bench/kannel.sh          # ~1 minute; loopback only; exits 2 if Kannel is missing
#
# Per round: a fresh scratch folder (chattr +T: see RESULTS.md, Kannel's
# spool is one file per message), bearerbox with bench/kannel/kannel.conf.tmpl,
# fakesmsc connected, smsbox; 2 s of warm-up, then wrk -tTHREADS -cCONNS for
# SECS with bench/kannel/sendsms.lua (GET /cgi-bin/sendsms, a unique `to` per
# request). accept_rps = 202 answers / wrk's time; deliver_mps = those
# messages / (wrk's start -> fakesmsc has them all). RSS: peak of
# bearerbox + smsbox. Medians over ROUNDS, one machine-readable line:
#   kannel store=spool accept_rps=… p50_ms=… p99_ms=… deliver_mps=… rss_mb=… rounds=… secs=… conns=…
# Knobs: ROUNDS=3 SECS=10 THREADS=2 CONNS=32 DELIVER_TIMEOUT=120 KEEP=0
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROUNDS=${ROUNDS:-3} SECS=${SECS:-10} THREADS=${THREADS:-2} CONNS=${CONNS:-32}
DELIVER_TIMEOUT=${DELIVER_TIMEOUT:-120}
PASSWORD=benchpw
TMPL="$BENCH_HERE/kannel/kannel.conf.tmpl"
BENCH_NAME=kannel

kbin() { # name: on PATH or where Debian puts it
    local p
    for p in "$(command -v "$1" 2>/dev/null)" "/usr/sbin/$1" "/usr/bin/$1" "/usr/lib/kannel/test/$1"; do
        [ -n "$p" ] && [ -x "$p" ] && { echo "$p"; return 0; }
    done
    p=$(dpkg -L kannel kannel-extras 2>/dev/null | grep -E "/$1\$" | head -n1)
    [ -n "$p" ] && [ -x "$p" ] && { echo "$p"; return 0; }
    return 1
}
BEARERBOX=$(kbin bearerbox) && SMSBOX=$(kbin smsbox) && FAKESMSC=$(kbin fakesmsc) || {
    echo "kannel.sh: Kannel not installed (bearerbox, smsbox: package kannel; fakesmsc: kannel-extras)" >&2
    exit 2
}
bench_init kannel
need wrk curl python3 awk
log "kannel $(dpkg-query -W -f='${Version}' kannel 2>/dev/null || echo '?'), scratch $WORK"

status() { curl -s --max-time 2 "http://127.0.0.1:$ADMIN_PORT/status.txt?password=$PASSWORD"; }
wait_status() { # regex [tries of 100 ms]
    local i
    for ((i = 0; i < ${2:-100}; i++)); do status | grep -q -- "$1" && return 0; sleep 0.1; done
    return 1
}
got() { local c; c=$(grep -c 'Got message' "$1" 2>/dev/null); echo "${c:-0}"; }

declare -A RES
for ((r = 1; r <= ROUNDS; r++)); do
    dir="$WORK/round-$r"
    mkdir -p "$dir/spool"
    ADMIN_PORT=$(free_port) BOX_PORT=$(free_port) SMSC_PORT=$(free_port) SENDSMS_PORT=$(free_port)
    sed -e "s|%ADMIN_PORT%|$ADMIN_PORT|g" -e "s|%BOX_PORT%|$BOX_PORT|g" -e "s|%SMSC_PORT%|$SMSC_PORT|g" \
        -e "s|%SENDSMS_PORT%|$SENDSMS_PORT|g" -e "s|%PASSWORD%|$PASSWORD|g" -e "s|%DIR%|$dir|g" \
        -e "s|%SPOOL%|$dir/spool|g" "$TMPL" >"$dir/kannel.conf"
    # -v 4: only panics on the console (the logs go to the files)
    bg_start "$dir/bearerbox.out" "$BEARERBOX" -v 4 "$dir/kannel.conf"; bb=$BG_PID
    wait_status '^Status: running' || die "bearerbox did not start (see $dir)"
    bg_start "$dir/fakesmsc.out" "$FAKESMSC" -H 127.0.0.1 -r "$SMSC_PORT" -i 0 -m 1 "100 200 text hello"; fs=$BG_PID
    wait_status "FAKE:$SMSC_PORT (online" || die "fakesmsc did not connect (see $dir)"
    bg_start "$dir/smsbox.out" "$SMSBOX" -v 4 "$dir/kannel.conf"; sb=$BG_PID
    wait_status 'smsbox:.*on-line' || die "smsbox did not connect (see $dir)"
    for _ in $(seq 100); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$SENDSMS_PORT/")" = 404 ] && break
        sleep 0.1
    done
    url="http://127.0.0.1:$SENDSMS_PORT"
    warm=$(timeout 40 wrk -t"$THREADS" -c"$CONNS" -d2s -T5s -s "$BENCH_HERE/kannel/sendsms.lua" "$url" -- bench "$PASSWORD" 2>&1 | grep '^LAT ')
    base=$(( $(field ok "$warm") ))
    for _ in $(seq 300); do [ "$(got "$dir/fakesmsc.out")" -ge "$base" ] && break; sleep 0.1; done
    base=$(got "$dir/fakesmsc.out")
    t0=$(now)
    line=$(timeout $((SECS + 30)) wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" -T5s --latency \
        -s "$BENCH_HERE/kannel/sendsms.lua" "$url" -- bench "$PASSWORD" 2>&1 | grep '^LAT ')
    ok=$(field ok "$line"); ok=${ok:-0}
    t_del="" d=0
    for ((i = 0; i < DELIVER_TIMEOUT * 20; i++)); do
        d=$(( $(got "$dir/fakesmsc.out") - base ))
        [ "$d" -ge "$ok" ] && { t_del=$(now); break; }
        sleep 0.05
    done
    [ -n "$t_del" ] || log "WARNING: round $r: fakesmsc got $d of $ok"
    rss=$(awk -v a="$(hwm_mb "$bb")" -v b="$(hwm_mb "$sb")" 'BEGIN{printf "%.1f", a + b}')
    stop_pid "$sb" TERM 10; stop_pid "$fs" INT 5; stop_pid "$bb" TERM 15
    forget_pid "$sb"; forget_pid "$fs"; forget_pid "$bb"
    RES[rps,$r]=$(field rps "$line") RES[p50,$r]=$(field p50_ms "$line") RES[p99,$r]=$(field p99_ms "$line")
    RES[del,$r]=$(awk -v n="$ok" -v a="$t0" -v b="$t_del" 'BEGIN{ if (b == "" || b <= a) print 0; else printf "%.1f", n / (b - a) }')
    RES[rss,$r]=$rss RES[bad,$r]=$(field bad "$line")
    log "round $r: $line deliver_mps=${RES[del,$r]} rss_mb=$rss"
    [ "${KEEP:-0}" = 1 ] || rm -rf "$dir"
done
med() { for ((r = 1; r <= ROUNDS; r++)); do echo "${RES[$1,$r]:-0}"; done | median; }
printf '%-6s %12s %9s %9s %12s %8s %6s\n' round accept_rps p50_ms p99_ms deliver_mps rss_mb non202
for ((r = 1; r <= ROUNDS; r++)); do
    printf '%-6s %12s %9s %9s %12s %8s %6s\n' "$r" "${RES[rps,$r]}" "${RES[p50,$r]}" "${RES[p99,$r]}" \
        "${RES[del,$r]}" "${RES[rss,$r]}" "${RES[bad,$r]}"
done
echo "kannel store=spool accept_rps=$(med rps) p50_ms=$(med p50) p99_ms=$(med p99) deliver_mps=$(med del) rss_mb=$(med rss) rounds=$ROUNDS secs=$SECS conns=$CONNS"
