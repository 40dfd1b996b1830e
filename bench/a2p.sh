#!/usr/bin/env bash
# bench/a2p.sh — end-to-end rate through RingCentral's A2P path: smsgw ->
# transport/ringcentral.c (provider batches, POST a2p-sms/batches) ->
# bench/fakecarrier on loopback, counted until every message is delivered;
# then the same for the one-call-per-message /sms path, for comparison.
#
#   bash bench/a2p.sh            # ~1-2 minutes; loopback only, bounded
#
# A fresh fakecarrier (latency 0, dlr_delay 100 ms) and a fresh smsgw (store
# sync "always", per-number limit lifted, a2p_batch_max A2P_MAX, linger
# 200 ms). N messages are posted to POST /v1/sms/batches in chunks of CHUNK
# recipients from the A2P number; the clock runs from the first POST until
# every smsgw batch is Completed (all its messages delivered or failed).
# Then N_SMS messages from a plain SMS number (ordered_per_number off, so the
# /sms path runs max_connections calls at once) the same way.
# One machine-readable line per path:
#   a2p path=a2p n=… secs=… mps=… provider_batches=… fake_requests=…
# Knobs: BUILD_DIR=build N=50000 N_SMS=5000 CHUNK=5000 A2P_MAX=1000 LIMIT_S=600
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BUILD_DIR=${BUILD_DIR:-build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac
export SMSGW_BIN="$BUILD_DIR/smsgw" SMSGW_BUILD_DIR="$BUILD_DIR" SMSGW_SOURCE_DIR="$ROOT"
export N=${N:-50000} N_SMS=${N_SMS:-5000} CHUNK=${CHUNK:-5000} A2P_MAX=${A2P_MAX:-1000}
export LIMIT_S=${LIMIT_S:-600}
[ -x "$SMSGW_BIN" ] && [ -x "$BUILD_DIR/fakecarrier" ] || {
    echo "a2p.sh: build first: cmake -B build && cmake --build build" >&2; exit 1; }
exec python3 - <<'PY'
import json, os, sys, time
sys.path.insert(0, os.path.join(os.environ["SMSGW_SOURCE_DIR"], "tests", "e2e"))
import gwtest
from fctest import FakeCarrier
from gwtest import ADMIN_KEY, Gateway, wait_for

N, N_SMS, CHUNK = int(os.environ["N"]), int(os.environ["N_SMS"]), int(os.environ["CHUNK"])
A2P_MAX, LIMIT_S = int(os.environ["A2P_MAX"]), float(os.environ["LIMIT_S"])
A2P_FROM, SMS_FROM = "+15557654321", "+15551234567"
fc = FakeCarrier("--number", A2P_FROM + ":200000001:SmsSender,A2PSmsSender",
                 "--number", SMS_FROM + ":200000001:SmsSender", "--threads", "128",
                 "--max-messages", str(N + N_SMS + 1000)).start()
gw = Gateway(base=False, config="""
store = { sync = "always"; };
limits = { app_key_per_min = 1000000000; admin_key_per_min = 1000000000;
           from_per_window = 1000000000; from_window_s = 1; };
transport = { default_route = [ "ringcentral" ];
              ringcentral = { a2p_batch_max = %d; a2p_linger_ms = 200; status_poll_ms = 500;
                              status_polls = 10; ordered_per_number = false;
                              max_connections = 32; }; };
""" % A2P_MAX)
try:
    gw.start()
    tid = gw.tenant()
    r = gw.request("PUT", "/v1/tenants/%s/connections/ringcentral" % tid, fc.creds(),
                   key=ADMIN_KEY)
    assert r.status == 200, r
    key = gw.app(tid, mode="live")["apiKey"]

    def run(path, frm, n, base):
        s0 = fc.stats()
        t0 = time.monotonic()
        bids = []
        for off in range(0, n, CHUNK):
            k = min(CHUNK, n - off)
            body = {"from": frm, "text": "bench %s" % path,
                    "messages": [{"to": ["+1%s%07d" % (base, off + i)]} for i in range(k)]}
            r = gw.post("/v1/sms/batches", raw=json.dumps(body).encode(), key=key)
            assert r.status == 202, r
            bids.append(r.json["id"])
        left = set(bids)

        def done():
            for b in list(left):
                if gw.get("/v1/sms/batches/" + b, key=key).json["status"] == "Completed":
                    left.discard(b)
            return not left
        wait_for(done, LIMIT_S, "%s: every batch Completed" % path, interval=0.5)
        secs = time.monotonic() - t0
        s1 = fc.stats()
        print("a2p path=%s n=%d secs=%.2f mps=%.0f provider_batches=%d fake_requests=%d"
              % (path, n, secs, n / secs, s1["a2p"]["batches"] - s0["a2p"]["batches"],
                 (s1["a2p"]["batch_requests"] - s0["a2p"]["batch_requests"])
                 + (s1["sms_requests"] - s0["sms_requests"])), flush=True)
    run("a2p", A2P_FROM, N, "555300")
    run("sms", SMS_FROM, N_SMS, "555400")
finally:
    gw.cleanup()
    fc.cleanup()
PY
