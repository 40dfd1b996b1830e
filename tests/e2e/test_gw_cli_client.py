"""The client commands (http/cli*.c) against the real gateway: the built
binary runs as a subprocess for `send`, `status`, `list`, `batch`, `tail`
and `admin …`. Each command's happy path is checked against the API, and
its bad arguments for a clear message, the documented exit code (1 refused,
2 usage, 3 unreachable, 4 partial batch) and nothing changed on the server.
No output may contain the key the command authenticated with."""
import http.server
import json
import os
import pty
import queue
import re
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import gwtest
from fctest import CLIENT_ID, CLIENT_SECRET, JWT, FakeCarrier
from gwtest import ADMIN_KEY, BIN, Gateway, free_port, run, wait_for

FROM = "+15551234567"
TO = "+15559870001"
WRONG_KEY = "sgw_test_" + "0" * 32
MSG_ID = re.compile(r"msg_[0-9a-f]{12}")

gw = Gateway().start()
URL = "http://127.0.0.1:%d" % gw.port
DEAD_URL = "http://127.0.0.1:%d" % free_port()  # nothing listens there
TMP = tempfile.mkdtemp(prefix="smsgw-cli-")


def cli_env(key=None, admin=False, url=URL, extra=None):
    """The environment of a CLI run: only the variables it is given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSGW_")}
    env["SMSGW_URL"] = url
    if key:
        env["SMSGW_ADMIN_KEY" if admin else "SMSGW_API_KEY"] = key
    env.update(extra or {})
    return env


def cli(*args, key=None, admin=False, url=URL, env=None, stdin=None, timeout=120):
    """Run smsgw ARGS; the key it authenticates with must appear nowhere."""
    r = subprocess.run([BIN, *args], env=cli_env(key, admin, url, env), input=stdin,
                       capture_output=True, text=True, timeout=timeout)
    for secret in (key, ADMIN_KEY if admin else None):
        if secret:
            assert secret not in r.stdout and secret not in r.stderr, ("key printed", args)
    return r


def admin(*args, key=ADMIN_KEY, **kw):
    return cli("admin", *args, key=key, admin=True, **kw)


def ok(r):
    assert r.returncode == 0, "exit %d\nstdout: %s\nstderr: %s" % (r.returncode, r.stdout,
                                                                     r.stderr)
    return r


def fails(r, code, text):
    """The documented exit code and a clear reason on stderr."""
    assert r.returncode == code, "expected exit %d, got %d\nstdout: %s\nstderr: %s" % (
        code, r.returncode, r.stdout, r.stderr)
    assert text in r.stderr, "expected %r on stderr: %r" % (text, r.stderr)
    if code == 2:
        assert "usage: smsgw" in r.stderr, r.stderr
    return r


def final_status(key, mid, timeout=30):
    final = ("delivered", "failed", "rejected", "cancelled")
    return wait_for(lambda: (lambda s: s if s in final else None)(gw.status_of(key, mid)),
                    timeout, mid + " final")


def tenant_app(mode="test"):
    tid = gw.tenant("cli")
    return tid, gw.app(tid, mode)


def count_of(path, field):
    r = gw.get(path, key=ADMIN_KEY)
    assert r.status == 200, r
    return len(r.json[field])


# ------------------------------------------------------------ send status list

def test_send():
    _, app = tenant_app()
    key = app["apiKey"]
    r = ok(cli("send", "--to", TO, "--from", FROM, "--body", "hello from the cli", key=key))
    mid = MSG_ID.search(r.stdout).group(0)
    assert "queued" in r.stdout, r.stdout
    m = gw.get("/v1/sms/" + mid, key=key).json
    assert m["body"] == "hello from the cli" and m["to"] == TO and m["from"] == FROM, m

    # --json: the server's answer as it came
    r = ok(cli("send", "--to", TO, "--from", FROM, "--body", "json please", "--json", key=key))
    j = json.loads(r.stdout)
    assert set(j) >= {"messageId", "status", "segments", "encoding", "test"}, j
    assert j["status"] == "queued" and j["test"] is True and j["segments"] == 1, j
    m = gw.get("/v1/sms/" + j["messageId"], key=key).json
    assert m["body"] == "json please" and m["segments"] == j["segments"], m

    # --wait follows the status until it is final
    r = ok(cli("send", "--to", TO, "--from", FROM, "--body", "wait", "--wait", key=key))
    lines = r.stdout.strip().splitlines()
    assert lines[-1].endswith("delivered"), r.stdout
    assert gw.status_of(key, MSG_ID.search(lines[0]).group(0)) == "delivered"
    r = ok(cli("send", "--to", TO, "--from", FROM, "--body", "wait", "--wait", "--json",
               key=key))
    first, last = (json.loads(x) for x in r.stdout.strip().splitlines())
    assert last["status"] == "delivered" and last["messageId"] == first["messageId"], r.stdout
    assert last == gw.get("/v1/sms/status/" + first["messageId"], key=key).json
    r = fails(cli("send", "--to", "+15559870007", "--from", FROM, "--body", "doomed", "--wait",
                  key=key), 1, "ended failed")
    assert gw.status_of(key, MSG_ID.search(r.stdout).group(0)) == "failed"

    # interrupted while waiting (…0003 is delivered after 30 s): exit 130
    w = Running("send", "--to", "+15559870003", "--from", FROM, "--body", "slow", "--wait",
                key=key)
    try:
        w.wait_line(w.out, lambda x: " sent" in x, "the slow message sent")
        assert w.stop(signal.SIGINT) == 130 and "interrupted" in "".join(w.err), w.err
    finally:
        w.kill()

    # a template with variables, a schedule, an idempotency key
    r = gw.post("/v1/templates", {"name": "otp", "slug": "otp", "body": "Code {{code}}"}, key=key)
    assert r.status == 201, r
    r = ok(cli("send", "--to", TO, "--from", FROM, "--template", "otp", "--var", "code=4321",
               "--json", key=key))
    assert gw.get("/v1/sms/" + json.loads(r.stdout)["messageId"],
                  key=key).json["body"] == "Code 4321"
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    r = ok(cli("send", "--to", TO, "--from", FROM, "--body", "later", "--send-at", at, key=key))
    assert "scheduled" in r.stdout, r.stdout
    before = gw.count(key)
    ids = {json.loads(ok(cli("send", "--to", TO, "--from", FROM, "--body", "once", "--json",
                             "--idempotency-key", "cli-once", key=key)).stdout)["messageId"]
           for _ in range(2)}
    assert len(ids) == 1 and gw.count(key) == before + 1, ids

    # the key from --key-file, or --key: never printed either
    path = os.path.join(TMP, "key")
    with open(path, "w") as f:
        f.write(key + "\n")
    ok(cli("send", "--to", TO, "--from", FROM, "--body", "k", "--key-file", path))
    r = ok(cli("send", "--to", TO, "--from", FROM, "--body", "k", "--key", key))
    assert key not in r.stdout + r.stderr


def test_send_bad_arguments():
    _, app = tenant_app()
    key = app["apiKey"]
    base = ("send", "--to", TO, "--from", FROM, "--body", "x")
    before = gw.count(key)
    fails(cli(*base, "--bogus", key=key), 2, "unknown option '--bogus'")
    fails(cli("send", "--to", TO, "--from", FROM, "--body", key=key), 2,
          "option --body needs a value")
    fails(cli("send", "--to", TO, "--body", "x", key=key), 2, "--to and --from are required")
    fails(cli("send", "--to", TO, "--from", FROM, key=key), 2, "--body TEXT or --template ID")
    fails(cli(*base, "extra", key=key), 2, "unexpected argument 'extra'")
    fails(cli(*base, "--var", "a=b", key=key), 2, "--var goes with --template")
    fails(cli(*base, "--template", "otp", "--var", "novalue", key=key), 2,
          "--var wants NAME=VALUE")
    fails(cli(*base, "--timeout", "0", key=key), 2, "--timeout must be a whole number")
    fails(cli(*base), 2, "no API key")
    fails(cli(*base, "--key-file", "/nonexistent/key"), 2, "cannot read --key-file")
    fails(cli(*base, "--url", "ftp://x", key=key), 2, "must start with http://")
    fails(cli("send", "--to", "12345", "--from", FROM, "--body", "x", key=key), 1,
          "to and from must be valid E.164 phone numbers")
    fails(cli(*base, "--send-at", "tomorrow", key=key), 1, "HTTP 400")
    fails(cli(*base, key=WRONG_KEY), 1, "Invalid API key")
    fails(cli(*base, key=ADMIN_KEY), 1, "HTTP 403")  # sending needs an app key
    fails(cli(*base, key=key, url=DEAD_URL), 3, "cannot reach the gateway")
    assert gw.count(key) == before, "a refused send stored something"


def test_status_and_list():
    tid, app = tenant_app()
    key = app["apiKey"]
    mids = [json.loads(ok(cli("send", "--to", TO, "--from", FROM, "--body", "n%d" % i, "--json",
                              key=key)).stdout)["messageId"] for i in range(3)]
    for mid in mids:
        final_status(key, mid)
    r = ok(cli("status", mids[0], key=key))
    assert "delivered" in r.stdout and mids[0] in r.stdout, r.stdout
    r = ok(cli("status", mids[0], "--json", key=key))
    assert json.loads(r.stdout) == gw.get("/v1/sms/status/" + mids[0], key=key).json
    r = ok(cli("status", mids[0], "--full", "--json", key=key))
    assert json.loads(r.stdout) == gw.get("/v1/sms/" + mids[0], key=key).json
    r = ok(cli("status", mids[0], "--full", key=key))
    assert "attempt 1: sim ok" in r.stdout, r.stdout

    r = ok(cli("list", "--limit", "2", "--json", key=key))
    page = json.loads(r.stdout)
    assert [m["messageId"] for m in page["data"]] == mids[::-1][:2], page
    assert page == gw.get("/v1/sms?limit=2", key=key).json
    r = ok(cli("list", key=key))
    assert r.stdout.startswith("messageId") and all(m in r.stdout for m in mids), r.stdout
    r = ok(cli("list", "--limit", "1", key=key))
    assert "--cursor" in r.stderr, r.stderr  # how to get the next page
    r = ok(cli("list", "--direction", "outbound", "--status", "delivered", "--json", key=key))
    assert {m["status"] for m in json.loads(r.stdout)["data"]} == {"delivered"}
    r = ok(cli("list", "--tenant", tid, "--json", key=ADMIN_KEY))  # an admin names the tenant
    assert len(json.loads(r.stdout)["data"]) == 3

    fails(cli("status", key=key), 2, "missing MSG_ID")
    fails(cli("status", "a", "b", key=key), 2, "unexpected argument 'b'")
    fails(cli("status", "nope", key=key), 1, "Invalid messageId format")
    fails(cli("status", "msg_000000000000", key=key), 1, "HTTP 404")
    fails(cli("status", mids[0], key=WRONG_KEY), 1, "Invalid API key")
    fails(cli("status", mids[0], key=key, url=DEAD_URL), 3, "cannot reach the gateway")
    fails(cli("list", "--limit", "0", key=key), 2, "--limit must be a whole number from 1")
    fails(cli("list", "--limit", key=key), 2, "option --limit needs a value")
    fails(cli("list", "--status", "lost", key=key), 1, "HTTP 400")
    fails(cli("list", key=ADMIN_KEY), 1, "tenantId is required")


# ---------------------------------------------------------------------- batch

CSV = ('to,text\n'
       '+15559870001,first row\n'                    # 2
       '12345,bad number\n'                          # 3 rejected by the server
       '"+15559870011","with, comma and ""quotes"""\n'  # 4
       '\n'                                          # 5 blank
       '+15559870012,\n'                             # 6 no text (unless --text)
       ',no recipient\n'                             # 7 rejected here
       '+15559870013,"two\n'                         # 8
       'lines"\n'                                    # 9
       '+1555987001x,bad characters\n')              # 10 rejected by the server


def write(name, text):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def bodies(key):
    r = gw.get("/v1/sms?limit=200", key=key)
    return [m["body"] for m in r.json["data"]]


def test_batch():
    _, app = tenant_app()
    key = app["apiKey"]
    path = write("batch.csv", CSV)
    r = cli("batch", path, "--from", FROM, key=key)
    fails(r, 4, "")
    assert "7 rows: 3 accepted, 4 rejected" in r.stdout, r.stdout
    listed = [int(x) for x in re.findall(r"^  line (\d+)\b", r.stdout, re.M)]
    assert listed == [3, 6, 7, 10], r.stdout
    assert "line 6 (+15559870012): rejected: no text" in r.stdout, r.stdout
    wait_for(lambda: gw.count(key) == 3, what="3 messages")  # a batch is stored as it runs
    assert sorted(bodies(key)) == sorted(["first row", 'with, comma and "quotes"',
                                          "two\nlines"])
    if "one by one" in r.stderr:  # the server has no POST /v1/sms/batches: said so
        assert "POST /v1/sms/send" in r.stderr, r.stderr
        assert "line 3 (12345): rejected: to and from must be valid E.164" in r.stdout, r.stdout
    else:
        assert "batch batch_" in r.stdout, r.stdout

    # --text fills the empty row; --json gives the summary with line numbers
    r = cli("batch", path, "--from", FROM, "--text", "default text", "--json", key=key)
    fails(r, 4, "")
    s = json.loads(r.stdout)
    assert s["rows"] == 7 and s["accepted"] == 4 and s["mode"] in ("batch", "single"), s
    assert sorted(x["line"] for x in s["rejected"]) == [3, 7, 10], s
    code = {x["line"]: x["code"] for x in s["rejected"]}[3]
    assert code == "phone_invalid" if s["mode"] == "single" else code, s  # batch: its errorCode
    wait_for(lambda: gw.count(key) == 7, what="7 messages")
    assert "default text" in bodies(key)
    for m in s["messages"]:  # one by one: each accepted row's message
        assert gw.get("/v1/sms/" + m["messageId"], key=key).status == 200

    # every row good: exit 0, no progress bar when stderr is not a terminal
    good = write("good.csv", "to\n+15559870021\n+15559870022\n")
    r = ok(cli("batch", good, "--from", FROM, "--text", "all good", key=key))
    assert "2 rows: 2 accepted, 0 rejected" in r.stdout and "[#" not in r.stderr, r
    wait_for(lambda: gw.count(key) == 9, what="9 messages")


def run_with_tty_stderr(args, env):
    """Run with stderr on a pseudo-terminal; returns (exit code, stderr text)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([BIN, *args], env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        assert ready, "no output from " + " ".join(args)
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return p.wait(60), out.decode(errors="replace")


def test_batch_progress_bar():
    _, app = tenant_app()
    env = cli_env(app["apiKey"])
    path = write("bar.csv", "to\n" + "".join("+155598701%02d\n" % i for i in range(20)))
    rc, err = run_with_tty_stderr(["batch", path, "--from", FROM, "--text", "bar"], env)
    assert rc == 0 and "[" + "#" * 30 + "] 20/20 rows" in err, err
    rc, err = run_with_tty_stderr(["batch", path, "--from", FROM, "--text", "bar",
                                   "--no-progress"], env)
    assert rc == 0 and "[#" not in err, err


def test_batch_bad_arguments():
    _, app = tenant_app()
    key = app["apiKey"]
    path = write("batch2.csv", CSV)
    before = gw.count(key)
    fails(cli("batch", path, key=key), 2, "--from is required")
    fails(cli("batch", "--from", FROM, key=key), 2, "missing FILE.csv")
    fails(cli("batch", path, "--from", FROM, "--chunk", "x", key=key), 2, "--chunk must be")
    fails(cli("batch", path, "--from", FROM, "--bogus", key=key), 2, "unknown option '--bogus'")
    fails(cli("batch", os.path.join(TMP, "nope.csv"), "--from", FROM, key=key), 2,
          "cannot read")
    for text, why in (('to,text\n+15559870001,"open\n', "line 2: a quoted field is never"),
                      ("phone,text\n+15559870001,x\n", "unknown column 'phone'"),
                      ("text\nhello\n", "no 'to' column"),
                      ("to,text\n+15559870001,x\n+15559870002,x,y\n", "line 3: 3 fields"),
                      ('to\n"+15559870001"x\n', "line 2: text after a closing quote"),
                      ("", "the file is empty"), ("to,text\n\n", "no rows")):
        r = fails(cli("batch", write("bad.csv", text), "--from", FROM, key=key), 2, why)
        assert "nothing was sent" in r.stderr, r.stderr
    fails(cli("batch", path, "--from", FROM, key=WRONG_KEY), 1, "Invalid API key")
    fails(cli("batch", path, "--from", FROM, key=key, url=DEAD_URL), 3,
          "cannot reach the gateway")
    assert gw.count(key) == before, "a refused batch stored something"


class Fake(http.server.BaseHTTPRequestHandler):
    """A scripted gateway for the batch paths. POST /v1/sms/batches answers
    `batches`: a status (202: as SPEC section 5 describes it, recipients not
    starting with +1555 rejected by index from 1) or (status, body). POST /v1/sms/send answers, per
    recipient, the next status of plan[to] (then 202); 999 is phone_invalid."""
    batches = 202
    plan = {}
    requests = []  # (path, body, Idempotency-Key)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Fake.requests.append((self.path, body, self.headers.get("Idempotency-Key")))
        headers = {}
        if self.path == "/v1/sms/batches" and isinstance(Fake.batches, tuple):
            status, out = Fake.batches
        elif self.path == "/v1/sms/batches":
            status = Fake.batches
            out = {405: {"error": "Method not allowed", "code": "method_not_allowed"},
                   404: {"error": "Not found", "code": "not_found"},
                   503: {"error": "Server overloaded, try again", "code": "unavailable"}}.get(
                status, {"id": "batch_%02d" % len(Fake.requests), "from": body["from"],
                         "batchSize": len(body["messages"]), "processedCount": 0,
                         "status": "Processing",
                         "rejected": [{"index": i + 1, "to": m["to"],
                                       "errorCode": "phone_invalid",
                                       "description": "not a number"}
                                      for i, m in enumerate(body["messages"])
                                      if not m["to"][0].startswith("+1555")]})
        else:
            left = Fake.plan.get(body["to"], [])
            status = left.pop(0) if left else 202
            out = {"messageId": "msg_%012x" % len(Fake.requests), "status": "queued"}
            if body["to"] == "999":
                status, out = 400, {"error": "to and from must be valid E.164 phone numbers",
                                    "code": "phone_invalid"}
            elif status == 429:
                out, headers = {"error": "Too many requests"}, {"Retry-After": "1"}
            elif status == 401:
                out = {"error": "Invalid API key", "code": "unauthorized"}
            elif status != 202:
                out = {"error": "Server overloaded, try again", "code": "unavailable"}
        raw = json.dumps(out).encode()
        self.send_response(status)
        for k, v in dict(headers, **{"Content-Type": "application/json",
                                     "Content-Length": str(len(raw))}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):
        pass


def fake_gateway(batches, plan=None):
    Fake.batches, Fake.plan, Fake.requests[:] = batches, plan or {}, []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Fake)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, "http://127.0.0.1:%d" % srv.server_port


def stop_fake(srv):
    srv.shutdown()
    srv.server_close()


def test_batch_endpoint():
    """With a server that has POST /v1/sms/batches (a fake here, SPEC 5):
    chunks, the answers' rejected indexes mapped back to line numbers."""
    srv, url = fake_gateway(202)
    try:
        csv = "to,text\n+15550000001,a\n999,b\n+15550000003,\n\n888,d\n+15550000005,e\n,f\n"
        r = cli("batch", write("fake.csv", csv), "--from", FROM, "--text", "top",
                "--chunk", "2", "--json", key=WRONG_KEY, url=url)
        fails(r, 4, "")
        s = json.loads(r.stdout)
        assert s["mode"] == "batch" and s["accepted"] == 3, s
        assert sorted((x["line"], x["code"]) for x in s["rejected"]) == [
            (3, "phone_invalid"), (6, "phone_invalid"), (8, "validation_error")], s
        assert [b["id"] for b in s["batches"]] == ["batch_01", "batch_02", "batch_03"], s
        reqs = [body for _, body, _ in Fake.requests]
        assert [len(q["messages"]) for q in reqs] == [2, 2, 1], reqs
        assert reqs[0] == {"from": FROM, "text": "top",
                           "messages": [{"to": ["+15550000001"], "text": "a"},
                                        {"to": ["999"], "text": "b"}]}, reqs[0]
        assert reqs[1]["messages"][0] == {"to": ["+15550000003"]}, reqs[1]  # takes "top"
        Fake.batches, n = 503, len(Fake.requests)
        fails(cli("batch", write("fake.csv", csv), "--from", FROM, "--text", "top", key=WRONG_KEY,
                  url=url), 3, "the gateway failed: Server overloaded")
        assert len(Fake.requests) == n + 1  # stopped at the first failed chunk
    finally:
        stop_fake(srv)


def test_batch_one_by_one():
    """A server without POST /v1/sms/batches (405, or 404 Not found): each
    row by POST /v1/sms/send with its own Idempotency-Key, kept on retries
    (503: up to 3 tries; 429: after Retry-After)."""
    csv = write("one.csv", "to,text\n+15550000001,a\n999,b\n+15550000003,c\n+15550000004,d\n")
    for missing in (405, 404):
        srv, url = fake_gateway(missing, {"+15550000003": [503], "+15550000004": [429]})
        try:
            r = cli("batch", csv, "--from", FROM, "--json", key=WRONG_KEY, url=url)
            fails(r, 4, "no batch endpoint; sending one by one")
            s = json.loads(r.stdout)
            assert s["mode"] == "single" and s["accepted"] == 3, s
            assert [(x["line"], x["code"]) for x in s["rejected"]] == [(3, "phone_invalid")], s
            assert sorted(m["line"] for m in s["messages"]) == [2, 4, 5], s
            sends = [(b["to"], k) for p, b, k in Fake.requests if p == "/v1/sms/send"]
            assert len(sends) == 6, sends  # 4 rows, one retry each for …03 and …04
            keys = {}
            for to, k in sends:
                keys.setdefault(to, set()).add(k)
            assert all(len(v) == 1 for v in keys.values()), keys  # a retry keeps its key
            assert len({k for v in keys.values() for k in v}) == 4, keys
        finally:
            stop_fake(srv)
    # a row the server keeps failing: 3 tries, then exit 3 with the row listed
    srv, url = fake_gateway(405, {"+15550000003": [503, 503, 503]})
    try:
        r = fails(cli("batch", csv, "--from", FROM, key=WRONG_KEY, url=url), 3, "")
        assert "line 4 (+15550000003): failed: Server overloaded" in r.stdout, r.stdout
        assert sum(1 for _, b, _ in Fake.requests if b.get("to") == "+15550000003") == 3
    finally:
        stop_fake(srv)
    # a refusal that is every row's (401) stops the batch
    srv, url = fake_gateway(405, {"+15550000001": [401]})
    try:
        r = fails(cli("batch", csv, "--from", FROM, "--concurrency", "1", key=WRONG_KEY,
                      url=url), 1, "Invalid API key")
        assert "0 accepted, 0 rejected, 4 not sent" in r.stdout, r.stdout
        assert [p for p, _, _ in Fake.requests] == ["/v1/sms/batches", "/v1/sms/send"]
    finally:
        stop_fake(srv)
    # 404 for another reason is an answer, not a missing endpoint
    srv, url = fake_gateway((404, {"error": "Tenant not found", "code": "not_found"}))
    try:
        fails(cli("batch", csv, "--from", FROM, key=WRONG_KEY, url=url), 1, "Tenant not found")
        assert all(p == "/v1/sms/batches" for p, _, _ in Fake.requests)
    finally:
        stop_fake(srv)


# ----------------------------------------------------------------------- tail

class Running:
    """A CLI command left running; threads collect its output lines."""

    def __init__(self, *args, key=None, admin=False, url=URL):
        self.key = key
        self.p = subprocess.Popen([BIN, *args], env=cli_env(key, admin, url),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.out, self.err = [], []
        self.readers = [threading.Thread(target=self._read, args=(stream, lines), daemon=True)
                        for stream, lines in ((self.p.stdout, self.out),
                                              (self.p.stderr, self.err))]
        for t in self.readers:
            t.start()

    @staticmethod
    def _read(stream, lines):
        for line in stream:
            lines.append(line.rstrip("\n"))

    def wait_line(self, lines, pred, what, timeout=30):
        def found():
            if self.p.poll() is not None and not any(pred(x) for x in lines):
                raise AssertionError("exited %d before %s; stderr: %r"
                                     % (self.p.returncode, what, self.err))
            return any(pred(x) for x in lines)
        wait_for(found, timeout, what)

    def stop(self, sig=signal.SIGTERM):
        """Signal it (sig None: it ends by itself) and wait for its exit code."""
        if sig is not None:
            self.p.send_signal(sig)
        rc = self.p.wait(30)
        for t in self.readers:  # to the end of its output
            t.join(30)
        if self.key:
            assert not any(self.key in x for x in self.out + self.err), "key printed"
        return rc

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(30)


def test_tail():
    tid, app = tenant_app()
    key = app["apiKey"]
    _, other = tenant_app()
    t = Running("tail", key=key)
    try:
        t.wait_line(t.err, lambda x: "listening on" in x, "tail authenticated")
        hidden = gw.send(other["apiKey"]).json["messageId"]  # another tenant's: not shown
        mid = gw.send(key, to="+15559870008", body="tail me").json["messageId"]
        t.wait_line(t.out, lambda x: mid in x and " delivered" in x, mid + " delivered")
        t.wait_line(t.out, lambda x: " received " in x and "STOP" in x, "the inbound STOP")
        assert t.stop(signal.SIGTERM) == 0, t.err
    finally:
        t.kill()
    mine = [x.split()[2] for x in t.out if mid in x]
    assert mine == ["queued", "sending", "sent", "delivered"], t.out
    assert not any(hidden in x for x in t.out), t.out
    assert any(x.split()[2] == "sent" and "sim_" in x for x in t.out if mid in x), t.out

    # --json: each event as it came; SIGINT exits 0 too
    t = Running("tail", "--json", key=key)
    try:
        t.wait_line(t.err, lambda x: "listening on" in x, "tail authenticated")
        mid = gw.send(key, body="json tail").json["messageId"]
        t.wait_line(t.out, lambda x: mid in x and '"delivered"' in x, mid + " delivered")
        assert t.stop(signal.SIGINT) == 0, t.err
    finally:
        t.kill()
    events = [json.loads(x) for x in t.out]
    assert all(e["type"] in ("sms_status", "sms_inbound") for e in events), events
    assert [e["status"] for e in events if e.get("messageId") == mid] == [
        "queued", "sending", "sent", "delivered"], events
    assert all(e["tenantId"] == tid for e in events), events


def test_tail_failures():
    _, app = tenant_app()
    key = app["apiKey"]
    fails(cli("tail", key=WRONG_KEY), 1, "Invalid API key")
    r = fails(cli("tail", "--auth", "key", key=WRONG_KEY), 1, "Invalid API key")
    assert "1008" in r.stderr, r.stderr
    fails(cli("tail", "--auth", "cookie", key=key), 2, "--auth is token or key")
    fails(cli("tail", "--follow", key=key), 2, "unknown option '--follow'")
    fails(cli("tail", key=key, url=DEAD_URL), 3, "cannot reach the gateway")
    # the server going away: close 1001, exit 3
    g = Gateway().start()
    try:
        tid = g.tenant()
        k = g.app(tid)["apiKey"]
        t = Running("tail", key=k, url="http://127.0.0.1:%d" % g.port)
        try:
            t.wait_line(t.err, lambda x: "listening on" in x, "tail authenticated")
            assert g.stop() == 0
            assert t.stop(None) == 3, t.err
            t.wait_line(t.err, lambda x: "shutting down (close 1001)" in x, "the 1001 reason")
        finally:
            t.kill()
    finally:
        g.cleanup()


# ---------------------------------------------------------------------- admin

def test_admin_tenants():
    r = ok(admin("tenants", "create", "cli-tenant", "--quota", "100", "--json"))
    t = json.loads(r.stdout)
    tid = t["id"]
    assert t["name"] == "cli-tenant" and t["monthlyQuota"] == 100, t
    assert gw.get("/v1/tenants/" + tid, key=ADMIN_KEY).json["name"] == "cli-tenant"
    r = ok(admin("tenants", "create", "human"))
    assert re.search(r"^id +tenant_[0-9a-f]{16}$", r.stdout, re.M), r.stdout
    r = ok(admin("tenants", "list"))
    assert tid in r.stdout and "cli-tenant" in r.stdout, r.stdout
    r = ok(admin("tenants", "list", "--json"))
    assert json.loads(r.stdout) == gw.get("/v1/tenants", key=ADMIN_KEY).json
    r = ok(admin("tenants", "get", tid))
    assert re.search(r"^status +active$", r.stdout, re.M), r.stdout
    ok(admin("tenants", "suspend", tid))
    assert gw.get("/v1/tenants/" + tid, key=ADMIN_KEY).json["status"] == "suspended"
    r = ok(admin("tenants", "activate", tid, "--json"))
    assert json.loads(r.stdout)["status"] == "active"
    assert gw.get("/v1/tenants/" + tid, key=ADMIN_KEY).json["status"] == "active"

    _, app = tenant_app()
    n = count_of("/v1/tenants", "tenants")
    fails(admin("tenants", "create"), 2, "missing NAME")
    fails(admin("tenants", "create", "x", "--quota", "-1"), 2, "--quota must be")
    fails(admin("tenants", "create", "x", "--wallet"), 2, "option --wallet needs a value")
    fails(admin("tenants", "create", "x", "--currency", "dollars"), 1, "HTTP 400")
    fails(admin("tenants", "create", "x", "--bogus"), 2, "unknown option '--bogus'")
    fails(admin("tenants", "get", "tenant_nope"), 1, "Invalid tenantId format")
    fails(admin("tenants", "suspend", "tenant_0000000000000000"), 1, "HTTP 404")
    fails(admin("tenants", "frobnicate", tid), 2, "unknown command 'admin tenants frobnicate'")
    fails(cli("admin", "tenants", "create", "x", key=app["apiKey"]), 1, "HTTP 403")
    fails(cli("admin", "tenants", "create", "x", key=WRONG_KEY, admin=True), 1,
          "Invalid API key")
    fails(admin("tenants", "create", "x", url=DEAD_URL), 3, "cannot reach the gateway")
    fails(admin("tenants", "list", env={"SMSGW_ADMIN_KEY": ""}), 2, "no API key")
    assert count_of("/v1/tenants", "tenants") == n, "a refused command made a tenant"
    assert gw.get("/v1/tenants/" + tid, key=ADMIN_KEY).json["status"] == "active"


def test_admin_apps():
    tid = gw.tenant("apps")
    r = ok(admin("apps", "create", "--tenant", tid, "--name", "web", "--mode", "test", "--json"))
    app = json.loads(r.stdout)
    key, aid = app["apiKey"], app["appId"]
    assert key.startswith("sgw_test_") and app["tenantId"] == tid, app
    assert gw.send(key).status == 202  # the printed key works
    r = ok(admin("apps", "create", "--tenant", tid, "--name", "human"))
    assert re.search(r"^apiKey +sgw_[0-9a-f]{32}$", r.stdout, re.M), r.stdout
    assert "shown only this once" in r.stderr, r.stderr
    r = ok(admin("apps", "list", "--tenant", tid))
    assert aid in r.stdout and "web" in r.stdout and key not in r.stdout, r.stdout
    r = ok(admin("apps", "list", "--tenant", tid, "--json"))
    assert {a["appId"] for a in json.loads(r.stdout)["apps"]} == {
        a["appId"] for a in gw.get("/v1/apps?tenantId=" + tid, key=ADMIN_KEY).json["apps"]}
    r = ok(admin("apps", "get", aid, "--json"))
    assert json.loads(r.stdout)["name"] == "web"
    r = ok(admin("apps", "rotate-key", aid, "--json"))
    new = json.loads(r.stdout)["apiKey"]
    assert new != key and gw.send(new).status == 202 and gw.send(key).status == 401
    r = ok(admin("apps", "delete", aid))
    assert "deleted " + aid in r.stdout, r.stdout
    assert gw.get("/v1/apps/" + aid, key=ADMIN_KEY).status == 404

    n = count_of("/v1/apps", "apps")
    fails(admin("apps", "create", "--tenant", tid), 2, "--tenant and --name are required")
    fails(admin("apps", "create", "--tenant", tid, "--name"), 2, "option --name needs a value")
    fails(admin("apps", "create", "--tenant", "tenant_nope", "--name", "x"), 1,
          "Invalid tenantId format")
    fails(admin("apps", "create", "--tenant", tid, "--name", "x", "--webhook-url",
                "http://example.com/hook"), 1, "Invalid webhookUrl")
    fails(admin("apps", "create", "--tenant", tid, "--name", "x", "--mode", "sandbox"), 1,
          "HTTP 400")
    fails(admin("apps", "rotate-key"), 2, "missing APP_ID")
    fails(admin("apps", "rotate-key", "app_0000000000000000"), 1, "HTTP 404")
    fails(admin("apps", "delete", "nope"), 1, "Invalid appId format")
    fails(admin("apps", "delete", aid, "--bogus"), 2, "unknown option '--bogus'")
    fails(admin("apps", "list", key=WRONG_KEY), 1, "Invalid API key")
    fails(admin("apps", "list", url=DEAD_URL), 3, "cannot reach the gateway")
    assert count_of("/v1/apps", "apps") == n, "a refused command changed the apps"


def test_admin_sender_ids():
    tid, app = tenant_app()
    key = app["apiKey"]
    sids = []
    for name in ("ACME", "SHOP"):
        r = gw.post("/v1/sender-ids", {"senderId": name}, key=key)
        assert r.status == 201, r
        sids.append(r.json["id"])
    r = ok(admin("sender-ids", "list", "--tenant", tid))
    assert all(s in r.stdout for s in sids) and "pending" in r.stdout, r.stdout
    r = ok(admin("sender-ids", "approve", sids[0], "--json"))
    assert json.loads(r.stdout)["status"] == "approved"
    r = ok(admin("sender-ids", "reject", sids[1], "--reason", "looks like a brand"))
    assert re.search(r"^status +rejected$", r.stdout, re.M), r.stdout
    got = gw.get("/v1/sender-ids/" + sids[1], key=key).json
    assert got["status"] == "rejected" and got["rejectionReason"] == "looks like a brand", got
    r = ok(admin("sender-ids", "list", "--tenant", tid, "--json"))
    assert {s["id"]: s["status"] for s in json.loads(r.stdout)["senderIds"]} == {
        sids[0]: "approved", sids[1]: "rejected"}

    fails(admin("sender-ids", "reject", sids[0]), 2, "--reason is required")
    fails(admin("sender-ids", "reject", sids[0], "--reason"), 2, "option --reason needs a value")
    fails(admin("sender-ids", "approve"), 2, "missing SID")
    fails(admin("sender-ids", "approve", "sid_nope"), 1, "HTTP 400")
    fails(admin("sender-ids", "approve", "sid_0000000000000000"), 1, "HTTP 404")
    fails(cli("admin", "sender-ids", "approve", sids[1], key=key), 1, "HTTP 403")
    fails(admin("sender-ids", "approve", sids[1], key=WRONG_KEY), 1, "Invalid API key")
    fails(admin("sender-ids", "approve", sids[1], url=DEAD_URL), 3, "cannot reach")
    assert gw.get("/v1/sender-ids/" + sids[0], key=key).json["status"] == "approved"
    assert gw.get("/v1/sender-ids/" + sids[1], key=key).json["status"] == "rejected"


def test_admin_connections():
    fc = FakeCarrier().start()
    gwtest.LIVE.append(fc)
    try:
        tid = gw.tenant("rc")
        secret = write("client-secret", CLIENT_SECRET + "\n")
        jwt = write("jwt", JWT + "\n")
        fails(admin("connections", "get", tid), 1, "RingCentral not connected for this tenant")
        fails(admin("connections", "set", tid, "--client-id", CLIENT_ID, "--jwt-file", jwt), 2,
              "--client-secret-file FILE (or --client-secret VALUE) is required")
        fails(admin("connections", "set", tid, "--client-id", CLIENT_ID, "--client-secret-file",
                    secret), 2, "--jwt-file FILE (or --jwt VALUE) is required")
        fails(admin("connections", "set", tid, "--client-secret-file", secret, "--jwt-file", jwt),
              2, "--client-id is required")
        fails(admin("connections", "set", tid, "--client-id", CLIENT_ID, "--client-secret-file",
                    os.path.join(TMP, "none"), "--jwt-file", jwt), 2, "cannot read")
        bad_jwt = write("bad-jwt", "not-the-jwt\n")
        fails(admin("connections", "set", tid, "--server-url", fc.url, "--client-id", CLIENT_ID,
                    "--client-secret-file", secret, "--jwt-file", bad_jwt), 1,
              "RingCentral rejected the credentials")
        fails(admin("connections", "set", tid, "--server-url", "http://127.0.0.1:1",
                    "--client-id", CLIENT_ID, "--client-secret-file", secret, "--jwt-file", jwt),
              3, "the gateway failed: Cannot reach RingCentral")
        fails(admin("connections", "get", tid, "carrier-pigeon"), 1, "Unknown provider")
        fails(admin("connections", "get", tid, "ringcentral", "extra"), 2, "unexpected argument")
        assert gw.get("/v1/tenants/%s/connections/ringcentral" % tid,
                      key=ADMIN_KEY).status == 404, "a refused connect stored something"

        r = ok(admin("connections", "set", tid, "ringcentral", "--server-url", fc.url,
                     "--client-id", CLIENT_ID, "--client-secret-file", secret, "--jwt-file", jwt))
        assert re.search(r"^connected +true$", r.stdout, re.M), r.stdout
        assert CLIENT_SECRET not in r.stdout + r.stderr and JWT not in r.stdout + r.stderr
        # the webhook subscription is made after the connect answers, by the
        # rcwebhook actor; compare the CLI with the API once it has settled
        path = "/v1/tenants/%s/connections/ringcentral" % tid
        wait_for(lambda: gw.get(path, key=ADMIN_KEY).json["webhook"]["subscribed"],
                 what="the RingCentral webhook subscription")
        r = ok(admin("connections", "get", tid, "--json"))
        c = json.loads(r.stdout)
        assert c["connected"] is True and c["serverUrl"] == fc.url and FROM in c["numbers"], c
        assert c == gw.get(path, key=ADMIN_KEY).json
        r = ok(admin("connections", "delete", tid, "--json"))
        assert json.loads(r.stdout)["connected"] is False
        assert gw.get("/v1/tenants/%s/connections/ringcentral" % tid,
                      key=ADMIN_KEY).status == 404
    finally:
        fc.stop()
        fc.cleanup()


# ----------------------------------------------------------------------- help

def test_help_everywhere():
    top = ok(cli("--help"))
    commands = re.findall(r"^  ((?:send|status|list|batch|tail|admin [a-z-]+ [a-z-]+))\b",
                          top.stdout, re.M)
    assert len(commands) >= 20 and "admin create-key" in top.stdout, top.stdout
    for cmd in commands:
        r = ok(cli(*cmd.split(), "--help"))
        assert r.stdout.startswith("usage: smsgw " + cmd), r.stdout
        assert "exit codes: 0 ok; 1 the server refused" in r.stdout, r.stdout
    for group in ("admin", "admin tenants", "admin apps", "admin connections",
                  "admin sender-ids"):
        r = ok(cli(*group.split(), "--help"))
        assert r.stdout.startswith("usage: smsgw %s COMMAND" % group), r.stdout
        fails(cli(*group.split()), 2, "'%s' needs a command" % group)
    fails(cli("admin", "apps", "frobnicate"), 2, "unknown command 'admin apps frobnicate'")


try:
    run([
        ("send: human, --json, --wait, template, schedule, idempotency, key file", test_send),
        ("send: bad arguments exit 2, refusals 1, unreachable 3; nothing stored",
         test_send_bad_arguments),
        ("status and list match the API; their bad arguments", test_status_and_list),
        ("batch: accepted rows stored, rejected ones by line number, exit 4", test_batch),
        ("batch: a progress bar only on a terminal, --no-progress", test_batch_progress_bar),
        ("batch: malformed files exit 2 and send nothing; wrong key 1; unreachable 3",
         test_batch_bad_arguments),
        ("batch via POST /v1/sms/batches (a fake): chunks, indexes to lines, 5xx exits 3",
         test_batch_endpoint),
        ("batch one by one when the server has no batch endpoint (a fake): keys, retries",
         test_batch_one_by_one),
        ("tail: events of a message sent meanwhile, --json, exit 0 on SIGTERM/SIGINT", test_tail),
        ("tail: wrong key 1 (also close 1008), unreachable 3, server shutdown 1001 -> 3",
         test_tail_failures),
        ("admin tenants: create, list, get, suspend, activate; bad arguments", test_admin_tenants),
        ("admin apps: create, list, get, rotate-key, delete; bad arguments", test_admin_apps),
        ("admin sender-ids: list, approve, reject; bad arguments", test_admin_sender_ids),
        ("admin connections: set (fake RingCentral), get, delete; bad arguments",
         test_admin_connections),
        ("--help on every command and group; a group without a command exits 2",
         test_help_everywhere),
    ])
finally:
    gw.cleanup()
    shutil.rmtree(TMP, ignore_errors=True)
