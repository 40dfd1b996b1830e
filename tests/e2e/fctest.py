"""fctest.py — runs bench/fakecarrier (the fake RingCentral) for tests, and a
webhook receiver to subscribe with.

Standard library only. The fake binds a free loopback port and announces it
on its first stdout line; tests wait on conditions with timeouts, never on
fixed sleeps. Gateway tests can use FakeCarrier too:

    fc = FakeCarrier("--latency-ms", "5").start()
    ... point the gateway at fc.url ...
    fc.stop()   # SIGTERM, returns the exit code (0)
"""
import base64
import http.client
import http.server
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

BUILD_DIR = os.environ.get("SMSGW_BUILD_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
BIN = os.environ.get("FAKECARRIER_BIN") or os.path.join(BUILD_DIR, "fakecarrier")

CLIENT_ID, CLIENT_SECRET, JWT = "fake-client-id", "fake-client-secret", "fake-jwt"
ACCOUNT, EXT1, EXT2 = "100000001", "200000001", "200000002"
NUM1, NUM2, NUM_NOSMS = "+15551234567", "+15557654321", "+15550000000"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


import gwtest
from gwtest import Response, wait_for  # noqa: F401 (shared with the gateway's tests)


LIVE = []  # every FakeCarrier made, so a failing case can show their logs


class FakeCarrier:
    def __init__(self, *args):
        self.args = list(args)
        self.proc = None
        self.url = None
        self.port = None
        self.dir = tempfile.mkdtemp(prefix="fakecarrier-")
        self.log = os.path.join(self.dir, "fakecarrier.log")
        LIVE.append(self)

    def start(self, timeout=30):
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen([BIN, "--listen", "127.0.0.1:0", *self.args],
                                     stdout=subprocess.PIPE, stderr=logf)
        logf.close()
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        end, line = time.monotonic() + timeout, b""
        while not line.endswith(b"\n"):
            left = end - time.monotonic()
            if left <= 0 or not sel.select(left):
                raise AssertionError("fakecarrier did not announce its port:\n" + self.log_tail())
            chunk = os.read(self.proc.stdout.fileno(), 256)
            if not chunk:
                raise AssertionError("fakecarrier exited with %r:\n%s"
                                     % (self.proc.poll(), self.log_tail()))
            line += chunk
        sel.close()
        text = line.decode().strip()
        prefix = "fakecarrier listening on "
        assert text.startswith(prefix), text
        self.url = text[len(prefix):]
        self.port = int(self.url.rsplit(":", 1)[1])
        return self

    def log_tail(self, n=40):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self, timeout=30):
        """SIGTERM by PID; returns the exit code."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout)
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        return self.proc.returncode if self.proc else None

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()  # by PID: a case that failed before stop()
            self.proc.wait(30)
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- HTTP ---------------------------------------------------------------
    def request(self, method, path, body=None, token=None, headers=None, raw=None, form=None,
                basic=None):
        """body: JSON-able; raw: bytes as they are; form: dict sent
        url-encoded; basic: (user, password) for HTTP Basic auth."""
        h = {}
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            h["Content-Type"] = "application/x-www-form-urlencoded"
        elif raw is not None:
            data = raw
            h["Content-Type"] = "application/json"
        elif body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        if token:
            h["Authorization"] = "Bearer " + token
        if basic:
            h["Authorization"] = "Basic " + base64.b64encode(
                ("%s:%s" % basic).encode()).decode()
        h.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            out = r.read()
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()},
                            out.decode("utf-8", "replace"))
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    # -- RingCentral ----------------------------------------------------------
    def token_request(self, form, basic=(CLIENT_ID, CLIENT_SECRET)):
        return self.post("/restapi/oauth/token", form=form, basic=basic)

    def login(self, jwt=JWT):
        r = self.token_request({"grant_type": JWT_GRANT, "assertion": jwt})
        assert r.status == 200, r
        return r.json

    def sms(self, token, frm=NUM1, to="+15559870001", text="hello", ext="~"):
        to = to if isinstance(to, list) else [to]
        return self.post("/restapi/v1.0/account/~/extension/%s/sms" % ext,
                         {"from": {"phoneNumber": frm},
                          "to": [{"phoneNumber": t} for t in to], "text": text}, token=token)

    def message(self, token, mid, ext="~"):
        return self.get("/restapi/v1.0/account/~/extension/%s/message-store/%s" % (ext, mid),
                        token=token)

    # -- control API ----------------------------------------------------------
    def config(self, **knobs):
        r = self.post("/_fake/config", knobs)
        assert r.status == 200, r
        return r.json

    def messages(self, direction="Outbound"):
        r = self.get("/_fake/messages?direction=" + direction)
        assert r.status == 200, r
        return r.json["messages"]

    def stats(self):
        r = self.get("/_fake/stats")
        assert r.status == 200, r
        return r.json

    def creds(self):
        """What a tenant connects with (PUT /v1/tenants/:id/connections/ringcentral)."""
        return {"serverUrl": self.url, "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET,
                "jwt": JWT}


class Receiver:
    """A webhook endpoint on a free loopback port. echo: answer the
    Validation-Token; status: the HTTP status it answers with."""

    def __init__(self, echo=True, status=200):
        self.echo, self.status = echo, status
        self.requests = []  # (headers with lower-case names, body bytes)
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with outer.lock:
                    outer.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(outer.status)
                token = self.headers.get("Validation-Token")
                if token and outer.echo:
                    self.send_header("Validation-Token", token)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def notifications(self):
        """Bodies (parsed) of the posts that were not validation requests,
        with their headers."""
        with self.lock:
            return [(h, json.loads(b)) for h, b in self.requests if "validation-token" not in h]

    def validations(self):
        with self.lock:
            return [h for h, b in self.requests if "validation-token" in h]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def rc_error(r, status, code, nested=None):
    """Assert a RingCentral error answer: status, top-level errorCode, and
    the first nested errors[] code (defaults to the same)."""
    assert r.status == status, "expected %d, got %r" % (status, r)
    assert r.json is not None, "error body is not JSON: %r" % r
    assert r.json.get("errorCode") == code, "expected %s, got %r" % (code, r.json)
    errs = r.json.get("errors")
    assert isinstance(errs, list) and errs, r.json
    assert errs[0].get("errorCode") == (nested or code), r.json
    assert errs[0].get("message"), r.json


def oauth_error(r, status, error, code):
    assert r.status == status, "expected %d, got %r" % (status, r)
    assert r.json and r.json.get("error") == error, r
    assert r.json.get("error_description"), r
    assert r.json["errors"][0]["errorCode"] == code, r


def run(cases):
    """Run (name, fn) cases as gwtest.run does, with the fake carriers'
    logs on a failure; each case's fake carriers are cleaned up after it."""
    if not os.path.exists(BIN):
        print("fakecarrier binary not found at %s: build it first "
              "(cmake --build build)" % BIN)
        print("0 passed, 1 failed")
        sys.exit(1)

    def cleanup():
        for fc in LIVE:
            fc.cleanup()
        LIVE.clear()
    gwtest.run(cases, live=LIVE, after_each=cleanup)
