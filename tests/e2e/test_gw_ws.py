"""The WebSocket (SPEC section 8, seed 003): POST /v1/ws/token, both auth
methods and every auth error (close 1008), token single use and expiry, the
auth deadline, events in order, scoping by app and tenant (sms_status by
app, sms_inbound by tenant, admin sees all), pings, a slow subscriber
dropped while a fast one keeps everything, 1,000 concurrent subscribers, and
close 1001 on SIGTERM.

Client: Debian's python3-websocket (websocket-client); when the running
Python is not Debian's, its dist-packages folder is tried."""
import json
import re
import resource
import selectors
import signal
import socket
import struct
import sys
import threading
import time

try:
    import websocket
except ImportError:
    sys.path.append("/usr/lib/python3/dist-packages")
    import websocket

from gwtest import ADMIN_KEY, Gateway, run, wait_for

# Each open WebSocket holds one civetweb worker thread: 1,000 subscribers
# need http.threads above 1,000.
CONFIG = """
http = { threads = 1100; };
ws = { ping_s = 1; token_ttl_s = 2; auth_timeout_ms = 1500; };
"""
gw = Gateway(config=CONFIG)
FROM = "+15551234567"

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft < 4096:
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))


def connect(g=None, timeout=15):
    g = g or gw
    return websocket.create_connection("ws://127.0.0.1:%d/ws" % g.port, timeout=timeout)


def recv(ws):
    """The next frame: ("text", obj) or ("close", code); pings and pongs skipped."""
    while True:
        f = ws.recv_frame()
        if f.opcode == websocket.ABNF.OPCODE_TEXT:
            return "text", json.loads(f.data.decode())
        if f.opcode == websocket.ABNF.OPCODE_CLOSE:
            return "close", struct.unpack("!H", f.data[:2])[0] if len(f.data) >= 2 else None


def recv_event(ws):
    """The next text message that is not a ping."""
    while True:
        kind, v = recv(ws)
        assert kind == "text", "closed %r" % v
        if v.get("type") != "ping":
            return v


def authed(cred, g=None):
    ws = connect(g)
    ws.send(json.dumps(dict({"type": "auth"}, **cred)))
    assert recv(ws) == ("text", {"type": "auth_ok"})
    return ws


def token(key, g=None):
    r = (g or gw).post("/v1/ws/token", key=key)
    assert r.status == 200, r
    return r.json["token"]


def auth_fails(frame, error, g=None):
    ws = connect(g)
    if frame is not None:
        ws.send(frame)
    assert recv(ws) == ("text", {"type": "auth_error", "error": error})
    assert recv(ws) == ("close", 1008)
    ws.close()


def send(key, last4="0001"):
    r = gw.send(key, to="+1555987" + last4, frm=FROM)
    assert r.status == 202, r
    return r.json["messageId"]


def statuses_until(ws, mids, final="delivered", app=None):
    """sms_status events for mids (a set) until each reached final; events of
    the app's earlier messages are skipped (app: their appId must be it)."""
    got, done = {m: [] for m in mids}, set()
    while done != set(mids):
        e = recv_event(ws)
        assert e["type"] == "sms_status", e
        if e["messageId"] not in got:
            assert app is None or e["appId"] == app, e
            continue
        got[e["messageId"]].append(e["status"])
        if e["status"] == final:
            done.add(e["messageId"])
    return got


def metric(g, name):
    r = g.get("/metrics")
    m = re.search(r"^%s (\d+)$" % re.escape(name), r.raw, re.M)
    return int(m.group(1)) if m else None


T = {}


def fixtures():
    if not T:
        ta, tb = gw.tenant("ta"), gw.tenant("tb")
        T["ta"], T["tb"] = ta, tb
        T["a1"], T["a2"], T["b1"] = gw.app(ta, name="a1"), gw.app(ta, name="a2"), gw.app(tb)
    return T


def test_token():
    key = fixtures()["a1"]["apiKey"]
    r = gw.post("/v1/ws/token", key=key)
    assert r.status == 200, r
    assert re.fullmatch(r"wst_[0-9a-f]{64}", r.json["token"]), r.json
    assert r.json["expiresIn"] == 2, r.json
    assert gw.post("/v1/ws/token").status == 401
    assert gw.post("/v1/ws/token", key="sgw_" + "0" * 32).status == 401
    assert gw.post("/v1/ws/token", key=ADMIN_KEY).status == 200


def test_auth_methods():
    key = fixtures()["a1"]["apiKey"]
    authed({"token": token(key)}).close()
    authed({"apiKey": key}).close()
    authed({"apiKey": ADMIN_KEY}).close()
    authed({"token": token(ADMIN_KEY)}).close()


def test_auth_errors():
    key = fixtures()["a1"]["apiKey"]
    auth_fails("not json", "Invalid JSON")
    auth_fails('{"type":"auth"', "Invalid JSON")
    auth_fails('{"type":"hello"}', "Send auth first")
    auth_fails('[1, 2]', "Send auth first")
    auth_fails('{"token": "x"}', "Send auth first")
    auth_fails('{"type":"auth","apiKey":"sgw_%s"}' % ("0" * 32), "Invalid API key")
    auth_fails('{"type":"auth","apiKey":"%s"}' % ("x" * 500), "Invalid API key")
    auth_fails('{"type":"auth"}', "Invalid API key")
    auth_fails('{"type":"auth","token":"wst_%s"}' % ("0" * 64), "Invalid or expired token")
    auth_fails('{"type":"auth","token":"%s"}' % key, "Invalid or expired token")
    # no auth frame within ws.auth_timeout_ms
    auth_fails(None, "Send auth first")
    assert metric(gw, "smsgw_ws_auth_failures_total") >= 11


def test_token_single_use():
    key = fixtures()["a1"]["apiKey"]
    t = token(key)
    authed({"token": t}).close()
    auth_fails(json.dumps({"type": "auth", "token": t}), "Invalid or expired token")


def test_token_expiry():
    key = fixtures()["a1"]["apiKey"]
    t = token(key)
    t0 = time.monotonic()
    wait_for(lambda: time.monotonic() - t0 > 2.2, 10, "token_ttl_s to pass")
    auth_fails(json.dumps({"type": "auth", "token": t}), "Invalid or expired token")


def test_suspended_tenant():
    tid = gw.tenant("sus")
    key = gw.app(tid)["apiKey"]
    t = token(key)
    r = gw.request("PATCH", "/v1/tenants/" + tid, {"status": "suspended"}, key=ADMIN_KEY)
    assert r.status == 200, r
    auth_fails(json.dumps({"type": "auth", "apiKey": key}), "Invalid API key")
    auth_fails(json.dumps({"type": "auth", "token": t}), "Invalid or expired token")


def test_events_in_order():
    key = fixtures()["a1"]["apiKey"]
    ws = authed({"token": token(key)})
    mids = [send(key) for _ in range(5)]
    got = statuses_until(ws, set(mids), app=fixtures()["a1"]["appId"])
    for mid in mids:
        r = gw.get("/v1/sms/" + mid, key=key)
        stored = [e["status"] for e in r.json["events"]]
        # every stored change, from queued at acceptance, in order
        assert got[mid] == stored == ["queued", "sending", "sent", "delivered"], (got, stored)
    ws.close()


def test_event_shape():
    key = fixtures()["a1"]["apiKey"]
    ws = authed({"apiKey": key})
    mid = send(key)
    while True:
        e = recv_event(ws)
        if e["status"] == "sent":
            break
    assert set(e) == {"type", "messageId", "appId", "tenantId", "status", "rcMessageId",
                      "timestamp"}, e
    assert e["messageId"] == mid and e["appId"] == fixtures()["a1"]["appId"], e
    assert e["tenantId"] == fixtures()["ta"] and e["rcMessageId"].startswith("sim_"), e
    mid = send(key, "0002")  # rejected: phone_invalid
    while True:
        e = recv_event(ws)
        if e["messageId"] == mid and e["status"] == "rejected":
            break
    assert e["error"] and "rcMessageId" not in e, e
    ws.close()


def test_scheduled_and_cancelled():
    """scheduled -> cancelled and scheduled -> queued are changes too."""
    key = fixtures()["a1"]["apiKey"]
    ws = authed({"apiKey": key})
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    r = gw.send(key, to="+15559870001", frm=FROM, sendAt=at)
    assert r.status == 202 and r.json["status"] == "scheduled", r
    mid = r.json["messageId"]
    r = gw.post("/v1/sms/%s/cancel" % mid, key=key)
    assert r.status == 200, r
    seen = []
    while not seen or seen[-1] != "cancelled":
        e = recv_event(ws)
        if e["messageId"] == mid:
            assert e["appId"] == fixtures()["a1"]["appId"], e
            seen.append(e["status"])
    assert seen == ["scheduled", "cancelled"], seen
    # cancelling again changes nothing and publishes nothing
    assert gw.post("/v1/sms/%s/cancel" % mid, key=key).status == 200
    m2 = send(key)
    while True:
        e = recv_event(ws)
        assert e["messageId"] != mid, e
        if e["messageId"] == m2 and e["status"] == "delivered":
            break
    ws.close()


def test_scoping():
    f = fixtures()
    ka, kb, kc = f["a1"]["apiKey"], f["a2"]["apiKey"], f["b1"]["apiKey"]
    wa, wb, wc = authed({"token": token(ka)}), authed({"apiKey": kb}), authed({"apiKey": kc})
    wadm = authed({"token": token(ADMIN_KEY)})
    ma, mb, mc = send(ka), send(kb), send(kc)
    assert set(statuses_until(wa, {ma}, app=f["a1"]["appId"])) == {ma}
    assert set(statuses_until(wb, {mb}, app=f["a2"]["appId"])) == {mb}
    assert set(statuses_until(wc, {mc}, app=f["b1"]["appId"])) == {mc}
    seen = set()
    while not {ma, mb, mc} <= seen:  # (earlier tests' events may come too)
        e = recv_event(wadm)
        if e["type"] == "sms_status" and e["status"] == "delivered":
            seen.add(e["messageId"])
    # story 0008: an inbound STOP for tenant ta
    send(ka, "0008")
    for w in (wa, wb):
        while True:
            e = recv_event(w)
            if e["type"] == "sms_inbound":
                break
            assert e["type"] == "sms_status" and e["appId"] == (
                f["a1"]["appId"] if w is wa else f["a2"]["appId"]), e
        assert e["tenantId"] == f["ta"] and e["body"].upper().startswith("STOP"), e
        assert set(e) == {"type", "messageId", "from", "to", "body", "rcMessageId", "tenantId",
                          "timestamp"}, e
    while recv_event(wadm)["type"] != "sms_inbound":
        pass
    # tenant tb: had the inbound reached it, it would come before this
    mc2 = send(kc)
    assert set(statuses_until(wc, {mc2}, app=f["b1"]["appId"])) == {mc2}
    for w in (wa, wb, wc, wadm):
        w.close()


def test_ping():
    ws = authed({"apiKey": fixtures()["a1"]["apiKey"]})
    while True:  # events of earlier messages may come first
        kind, v = recv(ws)
        assert kind == "text", (kind, v)
        if v["type"] == "ping":
            break
        assert v["type"] == "sms_status", v
    assert v == {"type": "ping"}
    ws.close()


def test_slow_subscriber():
    slow_gw = Gateway(config="ws = { queue_max = 64; ping_s = 30; };").start()
    try:
        tid = slow_gw.tenant()
        key = slow_gw.app(tid)["apiKey"]
        fast = authed({"apiKey": key}, slow_gw)
        # a raw client that authenticates, then never reads (small buffer)
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect(("127.0.0.1", slow_gw.port))
        raw.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += raw.recv(4096)
        assert buf.startswith(b"HTTP/1.1 101"), buf
        payload = json.dumps({"type": "auth", "apiKey": key}).encode()
        mask = b"\x01\x02\x03\x04"
        raw.sendall(bytes([0x81, 0x80 | len(payload)]) + mask +
                    bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        mids = set()
        # keep sending until the slow one is dropped
        while metric(slow_gw, "smsgw_ws_drops_total") == 0:
            for _ in range(50):
                r = slow_gw.send(key, to="+15559870001", frm=FROM)
                assert r.status == 202, r
                mids.add(r.json["messageId"])
            assert len(mids) < 20000, "never dropped"
        # its TCP connection is closed: read what was buffered, then EOF
        raw.settimeout(30)
        while True:
            try:
                d = raw.recv(65536)
            except ConnectionResetError:
                break
            if not d:
                break
        raw.close()
        # the fast one got every status of every message
        got = {}
        while len([m for m in got if got[m][-1:] == ["delivered"]]) < len(mids):
            kind, e = recv(fast)
            assert kind == "text", (kind, e)
            if e["type"] == "sms_status":
                got.setdefault(e["messageId"], []).append(e["status"])
        assert set(got) == mids
        bad = {m: s for m, s in got.items() if s != ["queued", "sending", "sent", "delivered"]}
        assert not bad, bad
        assert metric(slow_gw, "smsgw_ws_drops_total") == 1
        fast.close()
        assert slow_gw.stop() == 0
    finally:
        slow_gw.cleanup()


def test_1000_subscribers():
    key = fixtures()["a2"]["apiKey"]
    n = 1000
    conns = []
    for i in range(n):
        ws = connect()
        ws.send(json.dumps({"type": "auth", "apiKey": key} if i % 2 else
                           {"type": "auth", "token": token(key)}))
        conns.append(ws)
    for ws in conns:
        assert recv(ws) == ("text", {"type": "auth_ok"})
    wait_for(lambda: metric(gw, "smsgw_ws_authenticated") >= n, 30, "1000 sessions")
    # 34 x (queued, sending, sent, delivered): 136 events each
    mids = set(send(key) for _ in range(34))
    want = None
    sel = selectors.DefaultSelector()
    counts = {}
    for ws in conns:
        ws.sock.setblocking(True)
        sel.register(ws.sock, selectors.EVENT_READ, ws)
        counts[ws] = 0
    per = {}
    end = time.monotonic() + 120
    done = 0
    while done < n:
        assert time.monotonic() < end, "only %d of %d complete" % (done, n)
        for k, _ in sel.select(timeout=1):
            ws = k.data
            kind, e = recv(ws)
            assert kind == "text", (kind, e)
            if e["type"] != "sms_status":
                continue
            assert e["messageId"] in mids, e
            counts[ws] += 1
            if e["status"] == "delivered":
                per[ws] = per.get(ws, 0) + 1
                if per[ws] == len(mids):
                    done += 1
                    sel.unregister(ws.sock)
    counts = set(counts.values())
    assert len(counts) == 1, counts  # each subscriber got the same events
    want = counts.pop()
    assert want == 4 * len(mids), want
    print("  %d subscribers x %d events each" % (n, want))
    for ws in conns:
        ws.close()
    wait_for(lambda: metric(gw, "smsgw_ws_connections") == 0, 60, "sessions to close")


def test_sigterm_close_1001():
    ws = authed({"apiKey": fixtures()["a1"]["apiKey"]})
    result = {}

    def reader():
        try:
            while True:
                kind, v = recv(ws)
                if kind == "close":
                    result["code"] = v
                    return
        except Exception as e:
            result["error"] = repr(e)
    t = threading.Thread(target=reader)
    t.start()
    assert gw.stop(signal.SIGTERM) == 0
    t.join(30)
    assert result.get("code") == 1001, result


if __name__ == "__main__":
    gw.start()
    try:
        run([(name, fn) for name, fn in list(globals().items())
             if name.startswith("test_") and callable(fn)])
    finally:
        gw.cleanup()
