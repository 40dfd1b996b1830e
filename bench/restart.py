#!/usr/bin/env python3
"""bench/restart.py — restart time and memory with 1,000,000 messages
pending (issue 7: "restart with 1M pending ready in < 5 s", "RSS < 100 MiB
with 1M messages pending").

    python3 bench/restart.py            # ~2 minutes for 1M; loopback only

A fresh smsgw (temporary data folder, store.sync "always", the simulator),
a tenant and a test key; one batch (POST /v1/sms/batches, RingCentral's
shape) of N recipients with sendAt an hour ahead, so that all N are
`scheduled`: pending, durable, not yet sent. Once the gateway is quiet
(its store write counter unchanged for 2 s), its RSS is read (now and peak);
then it is killed with SIGKILL (a crash: the N messages are in the WAL, not
yet in table files, so the start replays them) and started again on the
same data: the restart time runs from exec to the first /readyz 200 (polled
every 10 ms), and the RSS is read at ready and once it is quiet again. The
same again after SIGTERM (a clean stop, whose time to exit is measured). After each restart
the batch must still show N messages and a message must still be
`scheduled` (otherwise the run fails). One machine-readable line:

    restart n=… accept_s=… rss_pending_mib=… hwm_pending_mib=… stop_s=… ready_term_s=…
            rss_ready_term_mib=… rss_settled_term_mib=… ready_kill_s=… rss_ready_kill_mib=…
            rss_settled_kill_mib=…

Knobs (environment): BUILD_DIR=build N=1000000 KEEP=0 EXTRA_CFG='' (appended
to the gateway's config) STORE_CFG='' (settings inside its store group).
Every wait is bounded; the gateway is stopped by its PID at the end.
"""
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from batch import ADMIN, BIN, call, free_port, hwm_mib, log  # noqa: E402

N = int(os.environ.get("N", "1000000"))
KEEP = os.environ.get("KEEP") == "1"
EXTRA_CFG = os.environ.get("EXTRA_CFG", "")
STORE_CFG = os.environ.get("STORE_CFG", "")


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def metric(port, name):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
    except OSError:
        pass
    return None


def ready(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/readyz" % port, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def quiet(port, secs=2.0, bound=300.0):
    """Until smsgw_store_writes_total stays the same for secs (at most bound)."""
    t0 = time.monotonic()
    last, since = None, time.monotonic()
    while time.monotonic() - t0 < bound:
        v = metric(port, "smsgw_store_writes_total")
        if v != last:
            last, since = v, time.monotonic()
        elif time.monotonic() - since >= secs:
            return time.monotonic() - t0
        time.sleep(0.2)
    log("WARNING: still writing after %.0f s" % bound)
    return bound


class Gw:
    def __init__(self, work, port, cfg, data):
        self.work, self.port, self.cfg, self.data = work, port, cfg, data
        self.proc, self.n = None, 0

    def start(self):
        """Start; returns seconds from exec to /readyz 200."""
        self.n += 1
        env = dict(os.environ, SMSGW_LISTEN="127.0.0.1:%d" % self.port, SMSGW_DATA_DIR=self.data,
                   SMSGW_ADMIN_KEY=ADMIN, SMSGW_CONFIG=self.cfg)
        logf = open(os.path.join(self.work, "smsgw-%d.log" % self.n), "wb")
        t0 = time.monotonic()
        self.proc = subprocess.Popen([BIN], env=env, stdout=logf, stderr=logf)
        logf.close()
        while time.monotonic() - t0 < 120:
            if self.proc.poll() is not None:
                raise SystemExit("restart.py: smsgw exited %d (see %s)"
                                 % (self.proc.returncode, self.work))
            if ready(self.port):
                return time.monotonic() - t0
            time.sleep(0.01)
        raise SystemExit("restart.py: smsgw not ready after 120 s")

    def stop(self, sig):
        """Signal the process started; returns seconds until it exited."""
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            log("WARNING: no exit 60 s after signal %d: SIGKILL" % sig)
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        return time.monotonic() - t0


def write_body(path, n, send_at):
    with open(path, "w") as f:
        f.write('{"from": "+16505550100", "text": "Restart benchmark, pending", "sendAt": "%s", '
                '"messages": [' % send_at)
        for i in range(n):
            f.write('%s{"to": ["+1%06d0001"]}' % ("," if i else "", i))
        f.write("]}")
    return os.path.getsize(path)


def check_pending(port, key, bid):
    b = call(port, "GET", "/v1/sms/batches/" + bid, key)
    if b.get("batchSize") != N:
        raise SystemExit("restart.py: the batch lost messages: %r" % b)
    page = call(port, "GET", "/v1/sms?status=scheduled&limit=1", key)
    if not page["data"]:
        raise SystemExit("restart.py: no message is scheduled after the restart")


def main():
    if not os.access(BIN, os.X_OK) or not shutil.which("curl"):
        raise SystemExit("restart.py: build first (cmake -B build && cmake --build build)")
    work = tempfile.mkdtemp(prefix="smsgw-restart-bench.")
    subprocess.run(["chattr", "+T", work], capture_output=True)
    gw = None
    try:
        cfg = os.path.join(work, "smsgw.cfg")
        with open(cfg, "w") as f:
            f.write('store = { sync = "always"; %s };\n' % STORE_CFG +
                    'transport = { default_route = [ "sim" ]; };\n'
                    'limits = { app_key_per_min = 1000000; admin_key_per_min = 1000000; };\n'
                    + EXTRA_CFG + "\n")
        gw = Gw(work, free_port(), cfg, os.path.join(work, "data"))
        gw.start()
        port = gw.port
        tid = call(port, "POST", "/v1/tenants", ADMIN, {"name": "bench"})["id"]
        key = call(port, "POST", "/v1/apps/register", ADMIN,
                   {"name": "bench", "tenantId": tid, "mode": "test"})["apiKey"]
        send_at = (datetime.datetime.now(datetime.timezone.utc)
                   + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = os.path.join(work, "body.json")
        size = write_body(body, N, send_at)
        log("N=%d: body %.1f MB, sendAt %s; POST…" % (N, size / 1e6, send_at))
        out = subprocess.run(
            ["curl", "-s", "-o", "-", "-w", "\n%{http_code} %{time_total}", "-X", "POST",
             "http://127.0.0.1:%d/v1/sms/batches" % port, "-H", "Authorization: Bearer " + key,
             "-H", "Content-Type: application/json", "--data-binary", "@" + body],
            capture_output=True, text=True, timeout=900)
        os.unlink(body)
        text, _, tail = out.stdout.rpartition("\n")
        code, secs = tail.split()
        if code != "202":
            raise SystemExit("restart.py: the batch answered %s: %s" % (code, text[:300]))
        accept_s = float(secs)
        bid = json.loads(text)["id"]
        settle = quiet(port)
        rss_p, hwm_p = rss_mib(gw.proc.pid), hwm_mib(gw.proc.pid)
        check_pending(port, key, bid)
        log("N=%d: 202 after %.2f s, quiet %.1f s later; RSS %.0f MiB (peak %.0f)"
            % (N, accept_s, settle, rss_p, hwm_p))
        res = {}
        for name, sig in (("kill", signal.SIGKILL), ("term", signal.SIGTERM)):
            stop_s = gw.stop(sig)
            if name == "term":
                res["stop_s"] = stop_s
            ready_s = gw.start()
            res["ready_" + name] = ready_s
            res["rss_ready_" + name] = rss_mib(gw.proc.pid)
            quiet(port)
            res["rss_settled_" + name] = rss_mib(gw.proc.pid)
            check_pending(port, key, bid)
            log("after SIG%s: ready in %.2f s, RSS %.0f MiB at ready, %.0f MiB when quiet"
                % (name.upper(), ready_s, res["rss_ready_" + name], res["rss_settled_" + name]))
        print("restart n=%d accept_s=%.2f rss_pending_mib=%.1f hwm_pending_mib=%.1f stop_s=%.2f "
              "ready_term_s=%.2f rss_ready_term_mib=%.1f rss_settled_term_mib=%.1f "
              "ready_kill_s=%.2f rss_ready_kill_mib=%.1f rss_settled_kill_mib=%.1f"
              % (N, accept_s, rss_p, hwm_p, res["stop_s"], res["ready_term"],
                 res["rss_ready_term"], res["rss_settled_term"], res["ready_kill"],
                 res["rss_ready_kill"], res["rss_settled_kill"]), flush=True)
    finally:
        if gw and gw.proc:
            gw.stop(signal.SIGTERM)
        if KEEP:
            log("scratch kept in " + work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
