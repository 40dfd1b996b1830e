# bench/lib.sh — shell pieces the benchmark scripts share (sourced, not run):
# the build directory, a scratch folder, processes started in the background
# and stopped by their PID, free ports, waiting for HTTP, reading fields.
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   bench_init NAME          # ROOT, BUILD_DIR (absolute), WORK (removed at exit
#                            # unless KEEP=1), the EXIT/INT/TERM traps
#   bg_start LOG cmd args…   # starts cmd in the background -> BG_PID (stopped at exit)
#   stop_pid PID [SIG] [SECS]   # SIG (TERM), then KILL after SECS (10)
#
# Every process is remembered by PID and only those are ever signalled.
BENCH_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_HERE/.." && pwd)
BENCH_NAME=bench
PIDS=()

die() { echo "$BENCH_NAME: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
need() { local t; for t in "$@"; do command -v "$t" >/dev/null || die "$t not found"; done; }
now() { date +%s.%N; }

# BUILD_DIR relative to the repository unless absolute (default build)
bench_build_dir() {
    BUILD_DIR=${BUILD_DIR:-build}
    case $BUILD_DIR in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac
}

alive() { # true while the pid exists and is not a zombie
    [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

stop_pid() { # pid [signal] [timeout_s]
    local pid=$1 sig=${2:-TERM} t=${3:-10} i
    [ -n "$pid" ] || return 0
    if alive "$pid"; then
        kill -"$sig" "$pid" 2>/dev/null
        for ((i = 0; i < t * 10; i++)); do alive "$pid" || break; sleep 0.1; done
        alive "$pid" && { log "pid $pid outlived SIG$sig for ${t}s, sending KILL"; kill -KILL "$pid" 2>/dev/null; }
    fi
    wait "$pid" 2>/dev/null
    return 0
}

bench_cleanup() {
    local p
    for p in "${PIDS[@]}"; do stop_pid "$p" TERM 10; done
    PIDS=()
    if [ -n "${WORK:-}" ] && [ -d "$WORK" ]; then
        if [ "${KEEP:-0}" = 1 ]; then log "scratch kept in $WORK"; else rm -rf "$WORK"; fi
    fi
}

bench_init() { # name
    BENCH_NAME=$1
    KEEP=${KEEP:-0}
    bench_build_dir
    WORK=$(mktemp -d "/tmp/smsgw-$1.XXXXXX") || die "mktemp failed"
    # put the data folders in a fresh ext4 block group (see RESULTS.md, Kannel)
    chattr +T "$WORK" 2>/dev/null || true
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

bg_start() { # logfile cmd args... -> BG_PID
    local out=$1
    shift
    "$@" >"$out" 2>&1 &
    BG_PID=$!
    PIDS+=("$BG_PID")
}

forget_pid() { # pid: stopped already, never signal it again
    local p keep=()
    for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

wait_http() { # url [tries of 50 ms, default 200]
    local i
    for ((i = 0; i < ${2:-200}; i++)); do curl -sf -o /dev/null --max-time 2 "$1" && return 0; sleep 0.05; done
    return 1
}

field() { sed -n "s/.* $1=\([0-9.-]*\).*/\1/p" <<<" $2" | head -n1; }
json_get() { python3 -c "import json,sys;print(json.load(sys.stdin)['$1'])"; }
rss_mb() { awk '/^VmRSS:/ {printf "%.1f", $2/1024}' "/proc/$1/status" 2>/dev/null; }
hwm_mb() { awk '/^VmHWM:/ {printf "%.1f", $2/1024}' "/proc/$1/status" 2>/dev/null; }

# smsgw on a free port with config file cfg and data folder dir -> GW_PID, GW_API
gw_start() { # cfg datadir logfile [admin key]
    local port
    port=$(free_port)
    GW_API="http://127.0.0.1:$port"
    SMSGW_LISTEN="127.0.0.1:$port" SMSGW_DATA_DIR="$2" SMSGW_ADMIN_KEY=${4:-$ADMIN} \
        SMSGW_CONFIG="$1" "$BUILD_DIR/smsgw" >"$3" 2>&1 &
    GW_PID=$!
    PIDS+=("$GW_PID")
    wait_http "$GW_API/readyz" 400 || die "smsgw did not start (see $3)"
}

# a tenant and an app of mode (test|live) on GW_API -> APP_KEY
# (and the tenant's id -> GW_TENANT)
gw_test_app() { # [mode]
    local tid
    tid=$(curl -s -X POST "$GW_API/v1/tenants" -H "Authorization: Bearer $ADMIN" -d '{"name":"bench"}' | json_get id)
    GW_TENANT=$tid
    APP_KEY=$(curl -s -X POST "$GW_API/v1/apps/register" -H "Authorization: Bearer $ADMIN" \
        -d "{\"name\":\"bench\",\"tenantId\":\"$tid\",\"mode\":\"${1:-test}\"}" | json_get apiKey)
    [ -n "$APP_KEY" ] || die "could not create the app"
}

# the median of the numbers on stdin, printf format (default %.2f)
median() {
    sort -g | awk -v f="${1:-%.2f}" '{v[NR]=$1} END {if (!NR) {print "n/a"; exit}
        m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2; printf f "\n", m}'
}
