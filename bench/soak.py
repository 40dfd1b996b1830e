#!/usr/bin/env python3
"""bench/soak.py — the crash soak (issue 7): load through RingCentral
(bench/fakecarrier), SIGKILL at random moments, restart, and prove at the
end that nothing acknowledged was lost and that every message the carrier
got twice was in `sending` at a crash.

    python3 bench/soak.py                      # 20 cycles, ~1.5 minutes
    python3 bench/soak.py --cycles 50 --seed 7 --per-cycle-seconds 1-6
    python3 bench/soak.py --rate 0 --timeout-ms 2000   # harder: unthrottled

What it runs (processes it starts itself, stopped by PID; nothing else):
  - build/fakecarrier with --nfrom sending numbers, some latency and
    jitter, and small rates of retryable faults (--fault-rate in all: 5xx,
    429, dropped connections, and timeouts held past smsgw's --timeout-ms)
    so that at any kill messages are queued, sending, waiting for a retry,
    sent (waiting for a delivery report) and delivered; one
    recipient is undeliverable (-> failed by the carrier's report), one is
    refused at send (-> failed at once);
  - build/smsgw (store sync "always", key and per-number limits lifted,
    short retry backoff, status polls and delivery checks, the RingCentral
    timeout --timeout-ms, 15 s as by default), a tenant
    connected to the fake with JWT credentials, and a live key, so every
    message goes through transport/ringcentral.c to the fake.
  The harness classes are reused: tests/e2e/gwtest.py (Gateway: start,
  /readyz, kill9 = SIGKILL of the process it started) and fctest.py
  (FakeCarrier).

Load: --threads threads (--rate sends/s in all, 0 = unthrottled: then
the backlog grows without bound and the drain is long) POST
/v1/sms/send, each with a keep-alive
connection of its own, each body a unique token "soak <run>-<n>" (the text
the fake records, so what it received is matched back). A 202 is an
acknowledged message (messageId and token kept). A request that was sent
but got no answer (the kill) is unacknowledged: it may or may not exist,
and is not counted as lost. A connection refused (the gateway is down) sent
nothing. Requests are never retried, so one token names at most one
message. Other answers are counted by status (the first few are printed).

Cycles (--cycles, default 20): after a random delay (--per-cycle-seconds
LO-HI, plus, with probability 0.2, a short 0.05-0.5 s one that lands in
the restart's recovery pass; seeded by --seed, each printed) the gateway is
killed with SIGKILL and restarted at once on the same data folder and port
while the load goes on. Restart time: from exec to /readyz 200.

The end: the load stops, the gateway is restarted one last time if it is
down, and the soak waits (polling, --drain-timeout) until no message is
queued, scheduled, sending or sent. Then it reads every stored message
(GET /v1/sms, all pages: status, events, providerAttempts) and every
message the fake received (GET /_fake/messages), and judges:

  lost          an acknowledged message that is missing, or not terminal
                (delivered, failed, rejected, cancelled) by the deadline.
  stuck         a stored but unacknowledged message not terminal by then.
  orphans       a token the carrier received that no stored message has
                (a message sent whose record vanished).
  phantoms      a message the gateway says `delivered` whose token the
                carrier never received, or whose rcMessageId is not one of
                the carrier's ids for it.
  duplicates    tokens the carrier received more than once.

The duplicate rule. The sender marks a batch `sending` in one durable
write before any provider call, and the status actor records every
provider answer as a providerAttempt, moving the message out of `sending`
(to sent, queued for a retry, failed...) in the same write. So in a
message's stored events each `sending` is followed either by the outcome
of its own attempt or - only if the process died before that outcome was
stored - directly by another `sending` (the recovery pass re-dispatching
it after the restart). Such a `sending` is "interrupted", and it counts
only if a kill of this soak falls between it and the next `sending` event
(event times are the gateway's wall clock, the kill times ours: same
machine). An interrupted send may have reached the carrier, so:

  a message may be received by the carrier at most 1 + (number of its
  interrupted `sending` events bracketing a kill) times; and each copy but
  the one whose carrier id is the providerMessageId of its successful
  attempt must have been created (the fake's creationTime) inside the
  window of a distinct interrupted send: between that `sending` and the
  next one.

A duplicate that meets this is "explained" (the message was in sending
at a crash); any other is "unexplained" and fails the soak. (Faults the
fake injects answer before it stores a message, and its injected timeouts
hold a send past smsgw's timeout and then drop it unstored, so no injected
fault can make a retry reach the carrier twice.) An unexplained duplicate
whose extra copy was created during an attempt smsgw recorded as
`provider_timeout` is also counted apart: the carrier got a request smsgw
gave up on (not a crash). The per-kill snapshot "state at kill" is read
back the same way: an acknowledged message's last event before the kill.

Exit status: 0 if lost, stuck, orphans, phantoms and unexplained duplicates
are all 0 and the gateway always came back; 1 otherwise (the scratch folder
with both logs and the data is then kept and named). The last line is
machine-readable:

  soak cycles=… seed=… acked=… unacked=… lost=… stuck=… dup=… dup_explained=… dup_unexplained=… restart_ms_min=… restart_ms_median=… restart_ms_max=… ok=…

Standard library only. Bounded: the load stops after the cycles, the
drain has a deadline, every HTTP call a timeout.
"""
import argparse
import bisect
import datetime
import http.client
import json
import os
import random
import shutil
import signal
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import gwtest  # noqa: E402
import fctest  # noqa: E402
from gwtest import ADMIN_KEY, Gateway  # noqa: E402
from fctest import FakeCarrier  # noqa: E402

TERMINAL = ("delivered", "failed", "rejected", "cancelled")
PENDING = ("queued", "scheduled", "sending", "sent")
UNDELIVERABLE = "+15559990002"  # the fake accepts it, then DeliveryFailed
INVALID_TO = "+15559990003"     # the fake refuses it at send (400): failed at once
EXT = fctest.EXT1


def options(argv=None, **overrides):
    p = argparse.ArgumentParser(description="smsgw crash soak (issue 7); see the header")
    p.add_argument("--cycles", type=int, default=20, help="SIGKILL + restart cycles (20)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: from the clock)")
    p.add_argument("--per-cycle-seconds", default="1.5-6",
                   help="LO-HI: load time before each kill, uniform (1.5-6)")
    p.add_argument("--short-kill-rate", type=float, default=0.2,
                   help="probability of a 0.05-0.5 s cycle instead (0.2)")
    p.add_argument("--threads", type=int, default=8, help="load threads (8)")
    p.add_argument("--rate", type=float, default=300,
                   help="total sends per second, 0 = as fast as the threads go (300)")
    p.add_argument("--nfrom", type=int, default=32, help="sending numbers at the fake (32)")
    p.add_argument("--latency-ms", type=int, default=30, help="fake carrier latency (30)")
    p.add_argument("--jitter-ms", type=int, default=25, help="fake carrier jitter (25)")
    p.add_argument("--fault-rate", type=float, default=0.04,
                   help="retryable faults per send at the fake, in all (0.04)")
    p.add_argument("--timeout-ms", type=int, default=15000,
                   help="smsgw's transport.ringcentral.timeout_ms (15000, the default)")
    p.add_argument("--no-timeout-faults", action="store_true",
                   help="no injected timeouts (each holds a send timeout-ms + 1 s)")
    p.add_argument("--drain-timeout", type=float, default=600,
                   help="seconds for every message to become terminal at the end (600)")
    p.add_argument("--smsgw", default=None, help="smsgw binary (build/smsgw, or $SMSGW_BIN)")
    p.add_argument("--fakecarrier", default=None,
                   help="fakecarrier binary (build/fakecarrier, or $FAKECARRIER_BIN)")
    p.add_argument("--keep", action="store_true", help="keep the scratch folders")
    p.add_argument("--quiet", action="store_true", help="only the summary")
    o = p.parse_args(argv if argv is not None else [])
    for k, v in overrides.items():
        setattr(o, k, v)
    if o.seed is None:
        o.seed = int(time.time() * 1000) % 1000000
    lo, _, hi = str(o.per_cycle_seconds).partition("-")
    o.cycle_lo, o.cycle_hi = float(lo), float(hi or lo)
    assert 0 < o.cycle_lo <= o.cycle_hi, "--per-cycle-seconds LO-HI"
    assert o.cycles >= 0 and o.threads >= 1 and o.nfrom >= 1
    return o


def ts(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def numbers(nfrom):
    return ["+1555200%04d" % i for i in range(nfrom)]


def gateway_config(fc_url, timeout_ms=15000):
    # the whole config (base=False): libconfig refuses a group given twice
    return """
store = { sync = "always"; };
limits = { app_key_per_min = 1000000000; admin_key_per_min = 1000000000;
           from_per_window = 1000000000; };
retry = { max_retries = 3; base_ms = 200; max_ms = 1000; };
actors = { scheduler = { dlr_check_ms = 5000; }; };
transport = { default_route = [ "ringcentral" ];
              ringcentral = { timeout_ms = %d; status_poll_ms = 300; status_polls = 5;
                              oauth = { client_id = "fake-client-id";
                                        client_secret = "fake-client-secret";
                                        server_url = "%s"; }; }; };
""" % (timeout_ms, fc_url)


class Soak:
    def __init__(self, o, out=print):
        self.o = o
        self.out = out
        self.rng = random.Random(o.seed)
        self.run_id = "s%d" % o.seed
        self.lock = threading.Lock()
        self.counter = 0
        self.acked = {}      # token -> (messageId, t_sent, t_answered)
        self.unacked = {}    # token -> t_sent
        self.refused = 0     # connection refused: nothing sent
        self.answers = {}    # non-202 status -> count
        self.samples = []    # the first few non-202 answers, for the record
        self.kills = []      # {cycle, delay, t_before, t_after, restart_s}
        self.start_times = []
        self.stop = threading.Event()
        self.fc = self.gw = self.key = None
        self.gw_died = None  # text when the gateway did not come back

    def say(self, *a):
        if not self.o.quiet:
            self.out(*a)

    # -- processes ----------------------------------------------------------
    def setup(self):
        o = self.o
        if o.smsgw:
            gwtest.BIN = o.smsgw
        if o.fakecarrier:
            fctest.BIN = o.fakecarrier
        # a held send blocks its number's lane (ordered_per_number) for the
        # whole timeout: timeouts are a tenth of the faults, the rest even
        t_rate = 0 if o.no_timeout_faults else o.fault_rate / 10
        share = (o.fault_rate - t_rate) / 3
        args = ["--threads", "128", "--max-messages", "5000000",
                "--latency-ms", str(o.latency_ms), "--latency-jitter-ms", str(o.jitter_ms),
                "--rate-5xx", str(share), "--rate-429", str(share), "--rate-drop", str(share),
                "--rate-timeout", str(t_rate),
                # a held send is dropped after smsgw gave up: never stored
                "--timeout-hold-ms", str(o.timeout_ms + 1000),
                "--retry-after-s", "1", "--dlr-delay-ms", "200",
                "--undeliverable", UNDELIVERABLE, "--invalid-to", INVALID_TO]
        for n in numbers(o.nfrom):
            args += ["--number", "%s:%s:SmsSender" % (n, EXT)]
        self.fc = FakeCarrier(*args).start()
        self.gw = Gateway(base=False, config=gateway_config(self.fc.url, o.timeout_ms))
        self.timed_start()
        tid = self.gw.tenant("soak")
        r = self.gw.request("PUT", "/v1/tenants/%s/connections/ringcentral" % tid,
                            self.fc.creds(), key=ADMIN_KEY)
        assert r.status == 200, "connecting the tenant to the fake: %r" % r
        self.key = self.gw.app(tid, mode="live", name="soak")["apiKey"]
        self.say("soak: seed %d, run %s, fakecarrier %s, smsgw 127.0.0.1:%d, scratch %s %s"
                 % (o.seed, self.run_id, self.fc.url, self.gw.port, self.gw.dir, self.fc.dir))

    def timed_start(self):
        t0 = time.monotonic()
        self.gw.start(timeout=120)
        dt = time.monotonic() - t0
        self.start_times.append(dt)
        return dt

    def teardown(self, keep):
        for stop in (lambda: self.gw and self.gw.stop(signal.SIGTERM, timeout=60),
                     lambda: self.fc and self.fc.stop()):
            try:
                stop()
            except Exception as e:  # noqa: BLE001 - then by SIGKILL, still by PID
                self.out("soak: stop failed (%s): killing" % e)
        for p in (self.gw, self.fc):
            if p and p.proc and p.proc.poll() is None:
                p.proc.kill()
                p.proc.wait(30)
        if keep:
            self.out("soak: kept %s and %s (logs: smsgw.log, fakecarrier.log)"
                     % (self.gw and self.gw.dir, self.fc and self.fc.dir))
        else:
            for p in (self.gw, self.fc):
                if p:
                    shutil.rmtree(p.dir, ignore_errors=True)

    # -- load ----------------------------------------------------------------
    def worker(self, w):
        o = self.o
        rng = random.Random(o.seed * 1000 + w + 1)
        froms = numbers(o.nfrom)
        hdr = {"Content-Type": "application/json", "Authorization": "Bearer " + self.key}
        period = o.threads / o.rate if o.rate > 0 else 0
        next_at = time.monotonic()
        conn = None
        while not self.stop.is_set():
            if period:
                next_at += period
                d = next_at - time.monotonic()
                if d > 0:
                    time.sleep(d)
                else:
                    next_at = time.monotonic()
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.gw.port, timeout=15)
                try:
                    conn.connect()
                except OSError:
                    conn = None
                    with self.lock:
                        self.refused += 1
                    time.sleep(0.01)  # the gateway is down: nothing was sent
                    continue
            with self.lock:
                self.counter += 1
                token = "soak %s-%d" % (self.run_id, self.counter)
            u = rng.random()
            to = (UNDELIVERABLE if u < 0.01 else INVALID_TO if u < 0.02
                  else "+1555987%04d" % rng.randrange(10000))
            body = json.dumps({"to": to, "from": rng.choice(froms), "body": token}).encode()
            t0 = time.time()
            try:
                conn.request("POST", "/v1/sms/send", body=body, headers=hdr)
                r = conn.getresponse()
                raw = r.read()
            except (OSError, http.client.HTTPException):
                # sent, no answer: the kill (it may exist; never counted lost)
                with self.lock:
                    self.unacked[token] = t0
                conn.close()
                conn = None
                continue
            t1 = time.time()
            with self.lock:
                if r.status == 202:
                    self.acked[token] = (json.loads(raw)["messageId"], t0, t1)
                else:
                    self.answers[r.status] = self.answers.get(r.status, 0) + 1
                    if len(self.samples) < 10:
                        self.samples.append("at %.3f: %d %r, Content-Type %s" % (
                            t1, r.status, raw[:120].decode("utf-8", "replace"),
                            r.getheader("Content-Type")))
            if r.will_close:
                conn.close()
                conn = None
        if conn:
            conn.close()

    # -- the run ---------------------------------------------------------------
    def cycles(self):
        o = self.o
        threads = [threading.Thread(target=self.worker, args=(w,), daemon=True)
                   for w in range(o.threads)]
        for t in threads:
            t.start()
        try:
            for c in range(1, o.cycles + 1):
                short = self.rng.random() < o.short_kill_rate
                delay = (self.rng.uniform(0.05, 0.5) if short
                         else self.rng.uniform(o.cycle_lo, o.cycle_hi))
                time.sleep(delay)
                with self.lock:
                    acked_before = len(self.acked)
                t_before = time.time()
                self.gw.kill9()  # SIGKILL by PID, then reaped
                t_after = time.time()
                try:
                    dt = self.timed_start()
                except AssertionError as e:
                    self.gw_died = "cycle %d: the gateway did not come back: %s" % (c, e)
                    self.out("soak: " + self.gw_died)
                    break
                self.kills.append({"cycle": c, "delay": delay, "t_before": t_before,
                                   "t_after": t_after, "restart_s": dt})
                self.say("cycle %2d: killed after %.2f s%s (acked so far %d), ready again in "
                         "%.0f ms" % (c, delay, " (short)" if short else "", acked_before,
                                      dt * 1000))
            time.sleep(min(1.0, o.cycle_lo))  # load over the last restart too
        finally:
            self.stop.set()
            for t in threads:
                t.join(30)

    def pending(self, status):
        """Messages in status: 0, or the first page's count (1..200). A
        filtered page may be empty with a cursor (a page reads at most
        20,000 index entries): follow it."""
        cursor = None
        while True:
            r = self.gw.get("/v1/sms?limit=200&status=" + status +
                            ("&cursor=" + cursor if cursor else ""), key=self.key)
            assert r.status == 200, r
            cursor = r.json["nextCursor"]
            if r.json["data"] or not cursor:
                return len(r.json["data"])

    def drain(self):
        """Wait until no stored message is pending; the pending count left."""
        t0 = time.monotonic()
        end, shown = t0 + self.o.drain_timeout, t0
        left = None
        while time.monotonic() < end:
            by = {st: self.pending(st) for st in PENDING}
            left = sum(by.values())
            if left == 0:
                return 0
            if time.monotonic() - shown >= 10:
                shown = time.monotonic()
                self.say("soak: draining, %.0f s: pending %s (200 means 200 or more)"
                         % (shown - t0, {k: v for k, v in by.items() if v}))
            time.sleep(1.0)
        return left

    def stored(self):
        """Every message of the soak's app: messageId -> record."""
        out, cursor = {}, None
        while True:
            r = self.gw.get("/v1/sms?limit=200" + ("&cursor=" + cursor if cursor else ""),
                            key=self.key)
            assert r.status == 200, r
            for m in r.json["data"]:
                out[m["messageId"]] = m
            cursor = r.json["nextCursor"]
            if not cursor:
                return out

    def carrier(self):
        """What the fake received: text -> [fake message]."""
        out, after = {}, 0
        while True:
            r = self.fc.get("/_fake/messages?direction=Outbound&limit=5000&after=%d" % after)
            assert r.status == 200, r
            msgs = r.json["messages"]
            if not msgs:
                return out
            for m in msgs:
                out.setdefault(m["text"], []).append(m)
            after = msgs[-1]["id"]

    # -- the verdict -------------------------------------------------------------
    def kill_between(self, a, b, eps=0.005):
        return any(k["t_after"] + eps >= a and k["t_before"] - eps <= b for k in self.kills)

    def windows(self, m):
        """The message's interrupted sends: (at, next_at) of each `sending`
        event directly followed by another `sending` with a kill of ours in
        between (see the header)."""
        ev = m.get("events") or []
        out = []
        for a, b in zip(ev, ev[1:]):
            if a["status"] == "sending" and b["status"] == "sending":
                ta, tb = ts(a["at"]), ts(b["at"])
                if self.kill_between(ta, tb):
                    out.append((ta, tb))
        return out

    def explained(self, m, copies, eps=0.005):
        """A carrier duplicate is explained when every copy but the one of
        its successful attempt was created inside a distinct interrupted
        send's window (from that `sending` to the next)."""
        ok_ids = {a["providerMessageId"] for a in m["providerAttempts"] if a["ok"]}
        extra = sorted(ts(c["creationTime"]) for c in copies if str(c["id"]) not in ok_ids)
        free = sorted(self.windows(m))
        if len(copies) - len(extra) > 1 or len(extra) > len(free):
            return False
        for t in extra:  # greedy: windows are disjoint and ordered
            w = next((w for w in free if w[0] - eps <= t <= w[1] + eps), None)
            if w is None:
                return False
            free.remove(w)
        return True

    def after_timeout(self, m, copies, eps=0.005):
        """1 if a carrier copy was created during an attempt that smsgw
        recorded as provider_timeout: not a crash duplicate (the request
        reached the carrier, smsgw gave up on it and sent it again)."""
        spans = [(ts(a["startedAt"]), ts(a["finishedAt"])) for a in m["providerAttempts"]
                 if not a["ok"] and a["errorCode"] == "provider_timeout"]
        return int(any(a - eps <= ts(c["creationTime"]) <= b + eps
                       for c in copies for a, b in spans))

    def analyse(self, pending_left):
        o = self.o
        rep = {"cycles": len(self.kills), "seed": o.seed, "threads": o.threads,
               "gw_died": self.gw_died}
        msgs = self.stored()
        fake = self.carrier()
        by_token = {}
        for mid, m in msgs.items():
            by_token.setdefault(m["body"], []).append(mid)
        rep["acked"], rep["unacked"], rep["refused"] = (len(self.acked), len(self.unacked),
                                                        self.refused)
        rep["other_answers"] = dict(sorted(self.answers.items()))
        rep["unacked_stored"] = sum(1 for t in self.unacked if t in by_token)
        rep["stored"] = len(msgs)
        rep["carrier_received"] = sum(len(v) for v in fake.values())
        rep["pending_left"] = pending_left
        problems = []

        lost, by_status = [], {}
        for token, (mid, _, _) in self.acked.items():
            m = msgs.get(mid)
            if m is None:
                r = self.gw.get("/v1/sms/" + mid, key=self.key)
                m = r.json if r.status == 200 else None
            if m is None or m["status"] not in TERMINAL or m["body"] != token:
                lost.append((mid, token, m and m["status"]))
                continue
            by_status[m["status"]] = by_status.get(m["status"], 0) + 1
        rep["lost"] = len(lost)
        rep["terminal"] = dict(sorted(by_status.items()))
        for mid, token, st in lost[:20]:
            problems.append("LOST %s (%s): %s" % (mid, token, st or "missing"))
        acked_ids = {v[0] for v in self.acked.values()}
        stuck = [mid for mid, m in msgs.items()
                 if mid not in acked_ids and m["status"] not in TERMINAL]
        rep["stuck"] = len(stuck)
        for mid in stuck[:20]:
            problems.append("STUCK (unacknowledged, stored) %s: %s" % (mid, msgs[mid]["status"]))
        doubly = [t for t, ids in by_token.items() if len(ids) > 1]
        rep["tokens_stored_twice"] = len(doubly)
        for t in doubly[:20]:
            problems.append("TOKEN STORED TWICE %r: %s" % (t, by_token[t]))

        orphans = [t for t in fake if t not in by_token]
        rep["orphans"] = len(orphans)
        for t in orphans[:20]:
            problems.append("ORPHAN: the carrier got %r (%d times), no stored message has it"
                            % (t, len(fake[t])))
        phantoms = []
        for mid, m in msgs.items():
            if m["status"] != "delivered":
                continue
            got = fake.get(m["body"], [])
            if not got or m.get("rcMessageId") not in {str(x["id"]) for x in got}:
                phantoms.append(mid)
        rep["phantoms"] = len(phantoms)
        for mid in phantoms[:20]:
            problems.append("PHANTOM %s: delivered as %s, the carrier has %s" % (
                mid, msgs[mid].get("rcMessageId"),
                [x["id"] for x in fake.get(msgs[mid]["body"], [])]))

        dup = explained = unexplained = extra = after_timeout = 0
        for t, got in fake.items():
            if len(got) < 2 or t not in by_token:
                continue
            dup += 1
            extra += len(got) - 1
            m = msgs[by_token[t][0]]
            if self.explained(m, got):
                explained += 1
            else:
                unexplained += 1
                timed_out = self.after_timeout(m, got)
                after_timeout += timed_out
                problems.append("UNEXPLAINED DUPLICATE%s %s (%s): the carrier got it %d times "
                                "(ids %s); events %s; attempts %s" % (
                                    " (a copy from an attempt that timed out)" if timed_out
                                    else "", m["messageId"], t, len(got),
                                    [(x["id"], x["creationTime"]) for x in got],
                                    [(e["status"], e["at"]) for e in m["events"]],
                                    [(a["startedAt"], a["finishedAt"], a["ok"],
                                      a["providerMessageId"] or a["errorCode"])
                                     for a in m["providerAttempts"]]))
        rep["dup"], rep["dup_copies"] = dup, extra
        rep["dup_explained"], rep["dup_unexplained"] = explained, unexplained
        rep["dup_unexplained_timeout"] = after_timeout
        rep["samples"] = list(self.samples)

        # what was in flight at each kill, from the stored histories
        rep["messages_interrupted_in_sending"] = sum(1 for m in msgs.values()
                                                     if self.windows(m))
        # history checks the rule rests on (reported; they fail nothing by
        # themselves): every `sending` has its attempt or is directly
        # followed by another `sending`, and that only across a kill
        odd_history = resend_no_kill = 0
        for m in msgs.values():
            ev = [e["status"] for e in m["events"]]
            pairs = sum(1 for a, b in zip(ev, ev[1:]) if a == b == "sending")
            if ev.count("sending") != len(m["providerAttempts"]) + pairs:
                odd_history += 1
            if pairs != len(self.windows(m)):
                resend_no_kill += 1
        rep["odd_history"], rep["resend_without_kill"] = odd_history, resend_no_kill
        hist = []
        for m in msgs.values():
            if m["messageId"] in acked_ids:
                ev = m["events"]
                hist.append(([ts(e["at"]) for e in ev], [e["status"] for e in ev],
                             self.acked[m["body"]][2]))
        states = {}
        per_kill = []
        for k in self.kills:
            n_in_flight = 0
            for times, sts, t_ack in hist:
                if t_ack > k["t_before"]:
                    continue
                i = bisect.bisect_right(times, k["t_before"]) - 1
                st = sts[i] if i >= 0 else "?"
                if st not in TERMINAL:
                    n_in_flight += 1
                    states[st] = states.get(st, 0) + 1
            per_kill.append(n_in_flight)
        rep["in_flight_per_kill"] = per_kill
        rep["state_at_kills"] = dict(sorted(states.items()))
        attempts = [len(m["providerAttempts"]) for m in msgs.values()]
        rep["retried_messages"] = sum(1 for n in attempts if n > 1)
        rt = sorted(k["restart_s"] * 1000 for k in self.kills)
        rep["restart_ms"] = ({"min": rt[0], "median": statistics.median(rt), "max": rt[-1]}
                             if rt else None)
        rep["first_start_ms"] = self.start_times[0] * 1000 if self.start_times else None
        if self.gw_died:
            problems.append(self.gw_died)
        rep["problems"] = problems
        rep["ok"] = not (problems or rep["lost"] or rep["stuck"] or rep["orphans"]
                         or rep["phantoms"] or rep["dup_unexplained"] or self.gw_died
                         or rep["tokens_stored_twice"])
        return rep

    def run(self):
        self.setup()
        t0 = time.monotonic()
        self.cycles()
        if self.gw.proc.poll() is not None:
            self.timed_start()  # it died on a last restart attempt: one more try
        load_s = time.monotonic() - t0
        self.say("soak: load stopped after %.0f s; %d acknowledged, waiting for every message "
                 "to be terminal" % (load_s, len(self.acked)))
        t1 = time.monotonic()
        left = self.drain()
        drain_s = time.monotonic() - t1
        rep = self.analyse(left)
        rep["load_s"], rep["drain_s"] = load_s, drain_s
        return rep


def summary(rep):
    rt = rep["restart_ms"] or {"min": 0, "median": 0, "max": 0}
    lines = [
        "acknowledged %d, unacknowledged %d (%d of them stored), refused while down %d, "
        "other answers %s" % (rep["acked"], rep["unacked"], rep["unacked_stored"],
                              rep["refused"], rep["other_answers"] or "none"),
        "lost %d, stuck %d, orphans %d, phantoms %d, tokens stored twice %d"
        % (rep["lost"], rep["stuck"], rep["orphans"], rep["phantoms"],
           rep["tokens_stored_twice"]),
        "terminal (acknowledged): %s; messages retried %d" % (rep["terminal"],
                                                              rep["retried_messages"]),
        "carrier received %d; duplicates %d tokens (%d extra copies): %d explained, %d "
        "unexplained (%d of them a copy from an attempt recorded as timed out); messages "
        "interrupted in sending by a kill %d"
        % (rep["carrier_received"], rep["dup"], rep["dup_copies"], rep["dup_explained"],
           rep["dup_unexplained"], rep["dup_unexplained_timeout"],
           rep["messages_interrupted_in_sending"]),
        "acknowledged, not terminal at the kills: %s per kill; their states %s"
        % (rep["in_flight_per_kill"], rep["state_at_kills"]),
        "histories: sending without its attempt or a re-send %d, re-sent without a kill "
        "between %d" % (rep["odd_history"], rep["resend_without_kill"]),
        "restart (exec -> /readyz 200) ms: min %.0f median %.0f max %.0f; load %.0f s, drain "
        "%.0f s%s" % (rt["min"], rt["median"], rt["max"], rep["load_s"], rep["drain_s"],
                      " (deadline reached, %s still pending then)" % rep["pending_left"]
                      if rep["pending_left"] else ""),
    ]
    lines += ["non-202 answer: " + x for x in rep["samples"]]
    lines += rep["problems"]
    lines.append(
        "soak cycles=%d seed=%d acked=%d unacked=%d lost=%d stuck=%d dup=%d dup_explained=%d "
        "dup_unexplained=%d restart_ms_min=%.0f restart_ms_median=%.0f restart_ms_max=%.0f ok=%s"
        % (rep["cycles"], rep["seed"], rep["acked"], rep["unacked"], rep["lost"], rep["stuck"],
           rep["dup"], rep["dup_explained"], rep["dup_unexplained"], rt["min"], rt["median"],
           rt["max"], "true" if rep["ok"] else "false"))
    return "\n".join(lines)


def run(o, out=print, inspect=None):
    """Run a soak with options o (options()); returns the report dict. The
    scratch folders are removed unless o.keep or the soak failed.
    inspect(soak, report), if given, is called while both processes still
    run (the CI test re-judges with altered records through it)."""
    s = Soak(o, out)
    rep, keep = None, o.keep
    try:
        rep = s.run()
        keep = keep or not rep["ok"]
        if inspect:
            inspect(s, rep)
        return rep
    except BaseException:
        keep = True
        raise
    finally:
        if not keep and s.gw and s.gw.proc and s.gw.proc.poll() is None:
            # a clean stop (SIGTERM drains) should be 0
            code = s.gw.stop(signal.SIGTERM, timeout=60)
            if rep is not None:
                rep["final_exit"] = code
        s.teardown(keep)


def main(argv):
    o = options(argv)

    def on_signal(signum, _):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_signal)
    rep = run(o)
    print(summary(rep), flush=True)
    return 0 if rep["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
