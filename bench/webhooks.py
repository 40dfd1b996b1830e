#!/usr/bin/env python3
"""bench/webhooks.py — what app webhooks cost the send path, and how fast
their events reach a local receiver.

    python3 bench/webhooks.py           # ~2 minutes; loopback only

One smsgw (temporary data folder, store.sync "always", the simulator with its
default latencies) and a local receiver (Python's threaded HTTP/1.1 server,
keep-alive, answers 204 at once). Two test apps of one tenant: "plain" (no
webhookUrl) and "hooked" (webhookUrl on the receiver). Each sends a batch of
N recipients (numbers of the simulator's plain story: queued, sending, sent,
delivered); measured per app: seconds from the POST to the batch's
Completed and messages/s. For the hooked app also: events received by then,
seconds until all 4×N arrived, their rate, events out of order, duplicates,
and the gateway's smsgw_webhook_events_lost_total. Deliveries are one in
flight per app (SPEC section 9: in order per app), so the event rate is one
receiver round trip per event. One machine-readable line:

    webhooks n=… queue=… plain_s=… plain_mps=… hooked_s=… hooked_mps=… events=… at_completed=… all_events_s=… events_per_s=… out_of_order=… duplicates=… lost=…

Knobs (environment): BUILD_DIR=build N=20000 QUEUE=8192 (the webhooks
actor's queue_depth) EVENTS_S=900 (bound on waiting for the events)
PROTO=HTTP/1.1 (the receiver's; HTTP/1.0 closes each connection) KEEP=0.
Every wait is bounded; the gateway and the receiver are stopped at the end.
"""
import http.server
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from batch import ADMIN, BIN, call, log, start_gateway, stop_gateway  # noqa: E402

N = int(os.environ.get("N", "20000"))
QUEUE = int(os.environ.get("QUEUE", "8192"))
EVENTS_S = float(os.environ.get("EVENTS_S", "900"))
KEEP = os.environ.get("KEEP") == "1"
ORDER = ["queued", "sending", "sent", "delivered"]


class Receiver:
    """Counts the sms_status events it is posted, per message, in arrival order."""

    def __init__(self):
        self.lock = threading.Lock()
        self.by_msg = {}
        self.total = 0
        rcv = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = os.environ.get("PROTO", "HTTP/1.1")

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                ev = json.loads(raw)
                with rcv.lock:
                    rcv.total += 1
                    if ev.get("type") == "sms_status":
                        rcv.by_msg.setdefault(ev["messageId"], []).append(ev["status"])
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def count(self):
        with self.lock:
            return self.total

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def metric(port, name):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return None


def batch_until_completed(port, key, n, bound=600.0):
    # last four digits 0100-9099: the simulator's plain story (SPEC section 7)
    to = ["+1555%03d%04d" % (200 + i // 9000, 100 + i % 9000) for i in range(n)]
    t0 = time.monotonic()
    bid = call(port, "POST", "/v1/sms/batches", key,
               {"from": "+16505550100", "text": "webhook bench", "messages": [{"to": to}]})["id"]
    while time.monotonic() - t0 < bound:
        if call(port, "GET", "/v1/sms/batches/" + bid, key)["status"] == "Completed":
            return time.monotonic() - t0, t0
        time.sleep(0.2)
    raise SystemExit("webhooks.py: the batch did not complete in %.0f s" % bound)


def main():
    if not os.path.exists(BIN):
        raise SystemExit("webhooks.py: build first (%s not found)" % BIN)
    work = tempfile.mkdtemp(prefix="smsgw-bench-webhooks.")
    cfg = os.path.join(work, "smsgw.cfg")
    with open(cfg, "w") as f:
        f.write('transport = { default_route = [ "sim" ]; };\n'
                'limits = { app_key_per_min = 1000000; admin_key_per_min = 1000000; };\n'
                'actors = { webhooks = { queue_depth = %d; }; };\n' % QUEUE)
    rcv = Receiver()
    proc, port, logf = start_gateway(cfg, os.path.join(work, "data"),
                                     os.path.join(work, "smsgw.log"))
    try:
        tid = call(port, "POST", "/v1/tenants", ADMIN, {"name": "bench"})["id"]
        plain = call(port, "POST", "/v1/apps/register", ADMIN,
                     {"name": "plain", "tenantId": tid, "mode": "test"})["apiKey"]
        hooked = call(port, "POST", "/v1/apps/register", ADMIN,
                      {"name": "hooked", "tenantId": tid, "mode": "test",
                       "webhookUrl": "http://127.0.0.1:%d/hook" % rcv.port})["apiKey"]
        plain_s, _ = batch_until_completed(port, plain, N)
        log("plain: %d messages Completed in %.1f s (%.0f/s)" % (N, plain_s, N / plain_s))
        hooked_s, t0 = batch_until_completed(port, hooked, N)
        at_completed = rcv.count()
        log("hooked: %d messages Completed in %.1f s (%.0f/s); %d events received by then"
            % (N, hooked_s, N / hooked_s, at_completed))
        want = len(ORDER) * N
        while rcv.count() < want and time.monotonic() - t0 < EVENTS_S:
            time.sleep(0.5)
        all_s = time.monotonic() - t0
        got = rcv.count()
        with rcv.lock:
            seqs = list(rcv.by_msg.values())
        dup = sum(max(0, len(s) - len(set(s))) for s in seqs)
        disorder = sum(1 for s in seqs if [x for x in ORDER if x in s] != list(dict.fromkeys(s)))
        lost = metric(port, "smsgw_webhook_events_lost_total")
        log("hooked: %d of %d events after %.1f s (%.0f/s)" % (got, want, all_s, got / all_s))
        print("webhooks n=%d queue=%d plain_s=%.1f plain_mps=%.0f hooked_s=%.1f hooked_mps=%.0f "
              "events=%d at_completed=%d all_events_s=%.1f events_per_s=%.0f out_of_order=%d "
              "duplicates=%d lost=%d"
              % (N, QUEUE, plain_s, N / plain_s, hooked_s, N / hooked_s, got, at_completed,
                 all_s, got / all_s, disorder, dup, int(lost or 0)), flush=True)
    finally:
        stop_gateway(proc, logf)
        rcv.close()
        if KEEP:
            log("kept %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
