"""gwtest.py — the end-to-end harness: runs the real smsgw binary on a free
loopback port with a temporary data folder, and talks HTTP to it.

Standard library only. Tests wait on conditions with timeouts (wait_for),
never on fixed sleeps, and assert no timings.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

BIN = os.environ.get("SMSGW_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "smsgw")
ADMIN_KEY = "sgw_" + "ad" * 16

# Settings for tests: generous key limits so suites are not throttled by
# them (the limit tests set their own), fast simulator, and live keys routed
# to the simulator unless a test names another route (the RingCentral tests).
BASE_CONFIG = """
limits = { app_key_per_min = 1000000; admin_key_per_min = 1000000; };
transport = { default_route = [ %(route)s ]; sim = { latency_ms = 5; dlr_delay_ms = 100; };
              %(transport)s };
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout=30.0, what="condition", interval=0.02):
    """Poll pred() until it returns a truthy value; fail after timeout."""
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %.0fs waiting for %s (last: %r)"
                         % (timeout, what, last))


class Response:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        try:
            self.json = json.loads(raw) if raw else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return "<%d %s>" % (self.status, self.raw[:300])


LIVE = []  # every Gateway made, so a failing case can show their logs


class Gateway:
    """One smsgw process. start() waits for /readyz; kill9() and restart()
    keep the data folder."""

    def __init__(self, config="", env=None, base=True, route='"sim"', transport=""):
        """config is appended to BASE_CONFIG (or replaces it: base=False);
        libconfig refuses a group given twice, so settings of the transport
        group go in transport (e.g. 'ringcentral = { timeout_ms = 500; };')."""
        self.dir = tempfile.mkdtemp(prefix="smsgw-e2e-")
        self.data = os.path.join(self.dir, "data")
        self.cfg = os.path.join(self.dir, "smsgw.cfg")
        with open(self.cfg, "w") as f:
            f.write((BASE_CONFIG % {"route": route, "transport": transport} if base else "")
                    + config)
        self.port = free_port()
        self.env = dict(os.environ, SMSGW_LISTEN="127.0.0.1:%d" % self.port,
                        SMSGW_DATA_DIR=self.data, SMSGW_ADMIN_KEY=ADMIN_KEY,
                        SMSGW_CONFIG=self.cfg, **(env or {}))
        self.proc = None
        self.log = os.path.join(self.dir, "smsgw.log")
        self.conn = None
        LIVE.append(self)

    def start(self, timeout=30):
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen([BIN], env=self.env, stdout=logf, stderr=logf)
        logf.close()

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("smsgw exited with %d:\n%s"
                                     % (self.proc.returncode, self.log_tail()))
            try:
                return self.get("/readyz").status == 200
            except OSError:
                return False
        wait_for(ready, timeout, "smsgw /readyz")
        return self

    def log_tail(self, n=40):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout)
        self.close_conn()
        return self.proc.returncode if self.proc else None

    def kill9(self):
        self.proc.kill()  # SIGKILL
        self.proc.wait(30)
        self.close_conn()

    def restart(self):
        return self.start()

    def cleanup(self):
        try:
            self.stop(signal.SIGKILL if self.proc and self.proc.poll() is None else 0)
        except Exception:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def close_conn(self):
        if self.conn:
            self.conn.close()
            self.conn = None

    # -- HTTP -------------------------------------------------------------
    def request(self, method, path, body=None, key=None, headers=None, raw=None):
        """body: a JSON-able value; raw: bytes sent as they are."""
        h = {"Content-Type": "application/json"}
        if key:
            h["Authorization"] = "Bearer " + key
        h.update(headers or {})
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self.conn.request(method, path, body=data, headers=h)
                r = self.conn.getresponse()
                out = r.read()
                return Response(r.status, {k.lower(): v for k, v in r.getheaders()},
                                out.decode("utf-8", "replace"))
            except (http.client.HTTPException, ConnectionError):
                self.close_conn()
                if attempt == 2:
                    raise

    def get(self, path, key=None):
        return self.request("GET", path, key=key)

    def post(self, path, body=None, key=None, **kw):
        return self.request("POST", path, body, key=key, **kw)

    # -- fixtures ---------------------------------------------------------
    def tenant(self, name="acme"):
        r = self.post("/v1/tenants", {"name": name}, key=ADMIN_KEY)
        assert r.status == 201, r
        return r.json["id"]

    def app(self, tenant_id, mode="test", name="app"):
        r = self.post("/v1/apps/register", {"name": name, "tenantId": tenant_id, "mode": mode},
                      key=ADMIN_KEY)
        assert r.status == 201, r
        return r.json

    def tenant_app(self, mode="test"):
        tid = self.tenant()
        return tid, self.app(tid, mode)["apiKey"]

    def send(self, key, to="+15559870001", frm="+15551234567", body="hello", **extra):
        payload = {"to": to, "from": frm, "body": body}
        payload.update(extra)
        return self.post("/v1/sms/send", payload, key=key)

    def status_of(self, key, mid):
        r = self.get("/v1/sms/status/" + mid, key=key)
        return r.json.get("status") if r.status == 200 else None

    def count(self, key):
        """Messages the key can list (every page)."""
        n, cursor = 0, None
        while True:
            path = "/v1/sms?limit=200" + ("&cursor=" + cursor if cursor else "")
            r = self.get(path, key=key)
            assert r.status == 200, r
            n += len(r.json["data"])
            cursor = r.json["nextCursor"]
            if not cursor:
                return n


def expect_error(r, status, code, error=None):
    assert r.status == status, "expected %d, got %r" % (status, r)
    assert r.json is not None, "error body is not JSON: %r" % r
    assert r.json.get("code") == code, "expected code %s, got %r" % (code, r.json)
    if error is not None:
        assert r.json.get("error") == error, "expected error %r, got %r" % (error, r.json)


def run(cases, live=None, after_each=None):
    """Run (name, fn) cases; print one line each and the closing count. A
    failing case shows the last log lines of the servers in live (default:
    LIVE, every Gateway and what a test added); after_each() runs after
    every case."""
    passed = failed = 0
    for name, fn in cases:
        try:
            fn()
            print("ok    " + name, flush=True)
            passed += 1
        except Exception:
            failed += 1
            print("FAIL  " + name, flush=True)
            traceback.print_exc()
            for g in (LIVE if live is None else live):  # the server's side of the story
                state = "running" if g.proc and g.proc.poll() is None else "exited"
                print("--- %s log (%s), last lines:\n%s---"
                      % (type(g).__name__, state, g.log_tail(60)), flush=True)
        finally:
            if after_each:
                after_each()
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed or not passed else 0)

