"""Batches (SPEC section 5) in RingCentral's A2P shape: the seed's examples
unchanged but for the host, rejected indexes, malformed bodies that store
nothing, tenancy, sendAt, live charging, a 100,000-recipient batch end to
end with bounded memory, and kill -9 during and after an upload."""
import datetime
import glob
import json
import os
import re
import socket
import threading

from gwtest import ADMIN_KEY, Gateway, expect_error, run, wait_for

ASAN = "asan" in os.environ.get("SMSGW_BIN", "")  # its RSS says nothing about streaming
BIG_N = 100000
gw = Gateway(config="""
retry = { base_ms = 50; max_ms = 200; };
pricing = { currency = "USD"; default_per_segment = 10; per_segment = [ "US=5" ]; };
""")
# small limits: the over-the-limit and kill -9 cases
gwb = Gateway(config="""
batches = { max_body_bytes = 2000000; chunk_records = 1000; release_window = 300; };
""")
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
TERMINAL = {"delivered", "failed", "rejected", "cancelled"}
ACCEPT_KEYS = {"id", "from", "batchSize", "processedCount", "status", "creationTime",
               "lastModifiedTime", "rejected"}

# seed 004, byte for byte (only the host differs: ours)
SEED_BROADCAST = """{
"from": "+16505550100",
"text": "Hello Team",
"messages": [
{ "to": ["+14155550100"] },
{ "to": ["+12125550100"] }
]
}"""
SEED_CUSTOM = """{
"from": "+16505550100",
"messages": [
{
"to": ["+14155550100"],
"text": "Hello Alice"
},
{
"to": ["+12125550100"],
"text": "Hello Bob"
}
]
}"""
# the seed's third example lacks the comma after "Hello Friend": not JSON
SEED_MIXED = """{
"from": "+16505550100",
"text": "Hello Friend"
"messages": [
{
"to": ["+14155550100"],
"text": "Hello Alice"
},
{
"to": ["+12125550100"],
"text": "Hello Bob"
},
{
"to": ["+16505550199"]
}
]
}"""


def num(i):
    """A distinct number whose last four digits (0001) are the simulator's
    plain story: sent, then delivered."""
    return "+1%06d0001" % i


def post_batch(g, key, body):
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return g.post("/v1/sms/batches", raw=raw, key=key)


def batch(g, key, bid):
    r = g.get("/v1/sms/batches/" + bid, key=key)
    assert r.status == 200, r
    return r.json


def completed(g, key, bid, timeout=120):
    return wait_for(lambda: (lambda b: b if b["status"] == "Completed" else None)(
        batch(g, key, bid)), timeout, bid + " Completed", interval=0.2)


def members(g, key, bid, limit=200):
    out, cursor = [], None
    while True:
        r = g.get("/v1/sms/batches/%s/messages?limit=%d%s"
                  % (bid, limit, "&cursor=" + cursor if cursor else ""), key=key)
        assert r.status == 200, r
        out += r.json["data"]
        cursor = r.json["nextCursor"]
        if not cursor:
            return out


def hwm_mib(g):
    with open("/proc/%d/status" % g.proc.pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def wal_bytes(g):
    return sum(os.path.getsize(p) for p in glob.glob(os.path.join(g.data, "*.log")))


def raw_request(g, key, head_extra, body=b""):
    """A POST written by hand; returns the socket (the caller reads)."""
    s = socket.create_connection(("127.0.0.1", g.port), timeout=30)
    s.sendall(("POST /v1/sms/batches HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               "Authorization: Bearer %s\r\nContent-Type: application/json\r\n%s\r\n"
               % (key, head_extra)).encode() + body)
    return s


def read_response(s):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    m = re.search(rb"Content-Length: (\d+)", head)
    n = int(m.group(1)) if m else 0
    while len(rest) < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, json.loads(rest[:n] or b"null")


# ---------------------------------------------------------------- cases

def test_seed_examples():
    _, key = gw.tenant_app()
    r = post_batch(gw, key, SEED_BROADCAST)
    assert r.status == 202, r
    a = r.json
    assert set(a) == ACCEPT_KEYS, set(a) ^ ACCEPT_KEYS
    assert re.match(r"^batch_[0-9a-f]{16}$", a["id"]), a
    assert (a["from"], a["batchSize"], a["processedCount"], a["status"], a["rejected"]) == \
        ("+16505550100", 2, 0, "Processing", []), a
    assert TS.match(a["creationTime"]) and a["lastModifiedTime"] == a["creationTime"]
    b = completed(gw, key, a["id"])
    assert (b["id"], b["batchSize"], b["processedCount"], b["rejected"]) == (a["id"], 2, 2, []), b
    assert b["cost"] == 0 and b["lastModifiedTime"] >= b["creationTime"], b
    ms = members(gw, key, a["id"])
    assert [(m["to"], m["body"], m["status"], m["batchId"]) for m in ms] == [
        ("+14155550100", "Hello Team", "delivered", a["id"]),
        ("+12125550100", "Hello Team", "delivered", a["id"])], ms

    r = post_batch(gw, key, SEED_CUSTOM)
    assert r.status == 202 and r.json["batchSize"] == 2, r
    completed(gw, key, r.json["id"])
    assert [(m["to"], m["body"]) for m in members(gw, key, r.json["id"])] == [
        ("+14155550100", "Hello Alice"), ("+12125550100", "Hello Bob")]

    # verbatim, the third example is not JSON; with its comma it works
    expect_error(post_batch(gw, key, SEED_MIXED), 400, "validation_error", "Invalid JSON")
    r = post_batch(gw, key, SEED_MIXED.replace('"Hello Friend"\n', '"Hello Friend",\n'))
    assert r.status == 202 and r.json["batchSize"] == 3, r
    completed(gw, key, r.json["id"])
    assert [m["body"] for m in members(gw, key, r.json["id"])] == [
        "Hello Alice", "Hello Bob", "Hello Friend"]


def test_rejected_indexes():
    _, key = gw.tenant_app()
    bad = ["12345", "+0155550103", "abc", "+1415555010612345678", "", "+1 415 555 0100"]
    messages, expect_ok, expect_rej, index = [], [], [], 0
    for i in range(40):
        tos = []
        for j in range(i % 5):  # 0..4 recipients per message
            index += 1
            if (i * 7 + j) % 6 == 0:
                number = bad[(i + j) % len(bad)]
                expect_rej.append((index, number, "SMS-RC-410"))
            else:
                number = "+14%03d%02d0001" % (i, j)
                expect_ok.append((number, "own %d" % i if i % 3 == 0 else "top"))
            tos.append(number)
        m = {"to": tos}
        if i % 3 == 0:
            m["text"] = "own %d" % i
        messages.append(m)
    # a message whose own text is too long: its recipients are rejected
    messages.append({"to": ["+14155559001", "+14155559002"], "text": "x" * 1601})
    expect_rej += [(index + 1, "+14155559001", "validation_error"),
                   (index + 2, "+14155559002", "validation_error")]
    index += 2
    messages.append({"to": ["+14155559003"]})
    expect_ok.append(("+14155559003", "top"))
    # fields in sorted-key order: "text" after "messages"
    body = json.dumps({"from": "+16505550100", "messages": messages, "text": "top"},
                      sort_keys=True)
    r = post_batch(gw, key, body)
    assert r.status == 202, r
    got = [(x["index"], x["to"][0], x["errorCode"]) for x in r.json["rejected"]]
    assert got == expect_rej, (got, expect_rej)
    for x in r.json["rejected"]:
        assert isinstance(x["to"], list) and len(x["to"]) == 1, x
        assert x["description"] == ("The recipient number is invalid"
                                    if x["errorCode"] == "SMS-RC-410"
                                    else "body must be 1-1600 characters"), x
    assert r.json["batchSize"] == len(expect_ok), (r.json["batchSize"], len(expect_ok))
    ms = members(gw, key, r.json["id"], limit=7)
    assert [(m["to"], m["body"]) for m in ms] == expect_ok
    # no text anywhere: that message's recipients are rejected, the rest go
    r = post_batch(gw, key, {"from": "+16505550100", "messages": [
        {"to": ["+14155550001"], "text": "hi"}, {"to": ["+14155550002", "+14155550003"]}]})
    assert r.status == 202 and r.json["batchSize"] == 1, r
    assert [(x["index"], x["errorCode"]) for x in r.json["rejected"]] == [
        (2, "validation_error"), (3, "validation_error")], r.json
    # nobody valid: 400, with the list, nothing stored (the scheduler lists
    # the accepted batches' messages shortly after their 202s: wait for
    # all of them first, so that the count below can only change by this)
    n = len(expect_ok) + 1
    wait_for(lambda: gw.count(key) == n, 60, "the %d accepted messages listed" % n)
    r = post_batch(gw, key, {"from": "+16505550100", "text": "t",
                             "messages": [{"to": ["1", "2"]}]})
    expect_error(r, 400, "validation_error", "No valid recipients")
    assert [x["index"] for x in r.json["rejected"]] == [1, 2], r.json
    assert gw.count(key) == n
    # a rejected list of several MB (spooled to a file by the gateway) comes whole
    tos = ["+%d" % i for i in range(40000)] + ["+14155550100"]
    r = post_batch(gw, key, {"from": "+16505550100", "text": "t", "messages": [{"to": tos}]})
    assert r.status == 202 and r.json["batchSize"] == 1, r.raw[:300]
    assert len(r.raw) > 2000000
    assert [x["index"] for x in r.json["rejected"]] == list(range(1, 40001))
    assert r.json["rejected"][-1]["to"] == ["+39999"]


def test_malformed_stores_nothing():
    _, key = gw.tenant_app()
    ok = {"from": "+16505550100", "text": "t", "messages": [{"to": ["+14155550100"]}]}
    cases = [
        ('{"from": "+16505550100", "text": "t", "messages": [{"to": ["+1415555',
         "Invalid JSON"),
        ('{"from": "+16505550100", "messages": [{"to": ["+14155550100"]}]} trailing',
         "Invalid JSON"),
        ('[1, 2]', "Request body must be a JSON object"),
        ('', "Invalid JSON"),
        (dict(ok, messages=[]), "messages must not be empty"),
        (dict(ok, messages=[{"to": []}]), "messages name no recipient"),
        (dict(ok, messages={"to": ["+14155550100"]}), "messages must be an array"),
        (dict(ok, messages=["+14155550100"]), "each message must be an object"),
        (dict(ok, messages=[{"to": "+14155550100"}]),
         "each message's to must be an array of phone numbers"),
        (dict(ok, messages=[{"to": [14155550100]}]),
         "each message's to must be an array of phone numbers"),
        (dict(ok, messages=[{"text": "x"}]), "each message needs a to array"),
        (dict(ok, messages=[{"to": ["+14155550100"], "text": 5}]),
         "each message's text must be a string"),
        (dict(ok, **{"from": 16505550100}), "from must be a string"),
        (dict(ok, text=["t"]), "text must be a string"),
        ({"text": "t", "messages": ok["messages"]}, "from and messages are required"),
        ({"from": "+16505550100", "text": "t"}, "from and messages are required"),
        (dict(ok, text=""), "body must be 1-1600 characters"),
        (dict(ok, sendAt="tomorrow"),
         "sendAt must be an RFC 3339 time in the future, at most 30 days ahead"),
        (dict(ok, userId="u" * 129), "userId must be at most 128 characters"),
        # an escaped lone surrogate: not UTF-8 (found by tests/fuzz/batch_fuzz.c)
        ('{"from": "+16505550100", "text": "t", "userId": "\\udc00", '
         '"messages": [{"to": ["+14155550100"]}]}', "userId must be valid UTF-8"),
        ('{"from": "+16505550100", "from": "+16505550101", "text": "t", '
         '"messages": [{"to": ["+14155550100"]}]}', "Duplicate key: from"),
    ]
    n = gw.count(key)
    for body, error in cases:
        expect_error(post_batch(gw, key, body), 400, "validation_error", error)
    expect_error(post_batch(gw, key, dict(ok, **{"from": "+0"})), 400, "phone_invalid")
    expect_error(post_batch(gw, key, dict(ok, **{"from": "NOSUCHID"})), 400, "sender_id_invalid")
    expect_error(post_batch(gw, ADMIN_KEY, ok), 403, "forbidden")
    assert gw.count(key) == n, "a refused batch stored messages"
    # a recipient that is an escaped lone surrogate is rejected alone (it
    # made the whole batch 503 before; found by tests/fuzz/batch_fuzz.c)
    r = post_batch(gw, key, '{"from": "+16505550100", "text": "t", '
                            '"messages": [{"to": ["\\ude00", "+14155550100"]}]}')
    assert r.status == 202 and r.json["batchSize"] == 1, r
    assert [(x["index"], x["errorCode"]) for x in r.json["rejected"]] == [(1, "SMS-RC-410")], r
    assert set(r.json["rejected"][0]["to"][0]) == {"?"}, r.json


def test_over_the_limit():
    _, key = gwb.tenant_app()
    # announced too large: 413 before a byte of the body is read
    s = raw_request(gwb, key, "Content-Length: 3000000\r\n")
    status, body = read_response(s)
    s.close()
    assert status == 413 and body["code"] == "payload_too_large", (status, body)
    # chunked, no length: 413 once past batches.max_body_bytes (2 MB here)
    s = raw_request(gwb, key, "Transfer-Encoding: chunked\r\n")
    piece = ('{"to": ["+14155550100"]},' * 2000).encode()
    first = b'{"from":"+16505550100","text":"t","messages":['

    def feed():
        try:
            s.sendall(b"%x\r\n%s\r\n" % (len(first), first))
            for _ in range(200):  # ~10 MB if nobody stops it
                s.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        except OSError:
            pass
    t = threading.Thread(target=feed)
    t.start()
    status, body = read_response(s)
    s.close()
    t.join(30)
    assert status == 413 and body["code"] == "payload_too_large", (status, body)
    assert gwb.count(key) == 0
    # just under the limit is fine (the 100 KB of single sends does not apply)
    msgs = [{"to": [num(i)], "text": "y" * 1500} for i in range(1200)]
    body = json.dumps({"from": "+16505550100", "messages": msgs})
    assert 1500000 < len(body) < 2000000
    r = post_batch(gwb, key, body)
    assert r.status == 202 and r.json["batchSize"] == 1200, r


def test_tenancy():
    tid, key = gw.tenant_app()
    other_app = gw.app(tid, name="other")["apiKey"]
    _, stranger = gw.tenant_app()
    r = post_batch(gw, key, SEED_BROADCAST)
    assert r.status == 202, r
    bid = r.json["id"]
    for k in (stranger, other_app):
        expect_error(gw.get("/v1/sms/batches/" + bid, key=k), 404, "not_found")
        expect_error(gw.get("/v1/sms/batches/%s/messages" % bid, key=k), 404, "not_found")
    assert gw.get("/v1/sms/batches/" + bid, key=ADMIN_KEY).status == 200
    assert len(gw.get("/v1/sms/batches/%s/messages" % bid, key=ADMIN_KEY).json["data"]) == 2
    expect_error(gw.get("/v1/sms/batches/batch_0123456789abcdef", key=key), 404, "not_found")
    expect_error(gw.get("/v1/sms/batches/nope", key=key), 400, "validation_error")
    expect_error(gw.get("/v1/sms/batches/%s/messages?limit=0" % bid, key=key), 400,
                 "validation_error")
    expect_error(gw.get("/v1/sms/batches/%s/messages?cursor=zz" % bid, key=key), 400,
                 "validation_error")


def test_list():
    tid, key = gw.tenant_app()
    other_app = gw.app(tid, name="other2")["apiKey"]
    _, stranger = gw.tenant_app()
    ids = []
    for i in range(5):
        r = post_batch(gw, key, {"from": "+16505550100", "text": "list %d" % i,
                                 "messages": [{"to": [num(i)]}]})
        assert r.status == 202, r
        ids.append(r.json["id"])
    theirs = post_batch(gw, other_app, SEED_BROADCAST).json["id"]
    # newest first, in pages, each as GET /:id shows it
    seen, cursor = [], None
    while True:
        r = gw.get("/v1/sms/batches?limit=2" + ("&cursor=" + cursor if cursor else ""), key=key)
        assert r.status == 200 and len(r.json["data"]) <= 2, r
        for b in r.json["data"]:
            one = gw.get("/v1/sms/batches/" + b["id"], key=key).json
            assert set(b) == set(one) and b["batchSize"] == one["batchSize"] == 1, (b, one)
        seen += [b["id"] for b in r.json["data"]]
        cursor = r.json["nextCursor"]
        if not cursor:
            break
    assert seen == ids[::-1], (seen, ids)
    # the other app sees only its own; a stranger none; admin all of the tenant's
    assert [b["id"] for b in gw.get("/v1/sms/batches", key=other_app).json["data"]] == [theirs]
    assert gw.get("/v1/sms/batches", key=stranger).json == {"data": [], "nextCursor": None}
    r = gw.get("/v1/sms/batches?tenantId=" + tid, key=ADMIN_KEY)
    assert [b["id"] for b in r.json["data"]] == [theirs] + ids[::-1], r
    expect_error(gw.get("/v1/sms/batches", key=ADMIN_KEY), 400, "validation_error")
    for q in ("limit=0", "limit=201", "limit=x", "cursor=zz", "cursor=" + "g" * 38):
        expect_error(gw.get("/v1/sms/batches?" + q, key=key), 400, "validation_error")


def replayed(r):
    return r.headers.get("idempotent-replay") == "true"


def post_keyed(g, key, body, ikey):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return g.post("/v1/sms/batches", raw=raw, key=key, headers={"Idempotency-Key": ikey})


def test_idempotency_key():
    _, key = gw.tenant_app()
    body = {"from": "+16505550100", "text": "once", "messages": [
        {"to": [num(1), "+1555", num(2)]}]}
    first = post_keyed(gw, key, body, "batch-1")
    assert first.status == 202 and first.json["batchSize"] == 2 and not replayed(first), first
    assert [x["index"] for x in first.json["rejected"]] == [2], first.json
    # the same key and body: the stored answer, byte for byte; nothing made
    again = post_keyed(gw, key, body, "batch-1")
    assert again.status == 202 and replayed(again) and again.raw == first.raw, again
    assert [b["id"] for b in gw.get("/v1/sms/batches", key=key).json["data"]] == [first.json["id"]]
    completed(gw, key, first.json["id"], 60)
    assert gw.count(key) == 2
    # the same key, another body: 409, nothing made
    other = dict(body, text="twice")
    expect_error(post_keyed(gw, key, other, "batch-1"), 409, "conflict",
                 "Idempotency-Key was already used with a different request")
    # a bad key: 400 before the body is read, nothing made
    for bad in ("x" * 256, "caf\u00e9".encode("utf-8").decode("latin-1")):
        expect_error(post_keyed(gw, key, other, bad), 400, "validation_error",
                     "Idempotency-Key must be 1-255 printable ASCII characters")
    # a 4xx is stored too: no valid recipient, then the same again
    nobody = {"from": "+16505550100", "text": "x", "messages": [{"to": ["+1555"]}]}
    r1 = post_keyed(gw, key, nobody, "batch-2")
    expect_error(r1, 400, "validation_error", "No valid recipients")
    r2 = post_keyed(gw, key, nobody, "batch-2")
    assert r2.status == 400 and replayed(r2) and r2.raw == r1.raw, r2
    # malformed JSON with a key: 400, stored, replayed
    m1 = post_keyed(gw, key, b'{"from": "+16505550100", "messages": [', "batch-3")
    assert m1.status == 400 and not replayed(m1), m1
    m2 = post_keyed(gw, key, b'{"from": "+16505550100", "messages": [', "batch-3")
    assert m2.status == 400 and replayed(m2) and m2.raw == m1.raw, m2
    # keys are per tenant: another tenant's same key and body makes its own
    _, key2 = gw.tenant_app()
    theirs = post_keyed(gw, key2, body, "batch-1")
    assert theirs.status == 202 and not replayed(theirs), theirs
    assert theirs.json["id"] != first.json["id"]
    assert [b["id"] for b in gw.get("/v1/sms/batches", key=key).json["data"]] == [first.json["id"]]
    completed(gw, key2, theirs.json["id"], 60)
    assert gw.count(key) == 2 and gw.count(key2) == 2


def test_send_at():
    _, key = gw.tenant_app()
    at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=2)
    stamp = at.isoformat().replace("+00:00", "Z")
    r = post_batch(gw, key, {"from": "+16505550100", "text": "later", "sendAt": stamp,
                             "userId": "u-7", "messages": [{"to": ["+14155550100"]}]})
    assert r.status == 202 and "sendAt" in r.json, r
    bid = r.json["id"]
    m = members(gw, key, bid)[0]
    assert m["status"] == "scheduled" and m["userId"] == "u-7", m
    # listed (GET /v1/sms) before its time, like a scheduled single send
    wait_for(lambda: [x["status"] for x in gw.get("/v1/sms", key=key).json["data"]] ==
             ["scheduled"], 10, "listed while scheduled")
    completed(gw, key, bid, 60)
    m = gw.get("/v1/sms/" + m["messageId"], key=key).json
    assert [e["status"] for e in m["events"]] == [
        "scheduled", "queued", "sending", "sent", "delivered"], m["events"]
    queued = [e["at"] for e in m["events"] if e["status"] == "queued"][0]
    assert queued >= stamp[:19], (queued, stamp)  # never before sendAt


def test_live_charge_and_402():
    r = gw.post("/v1/tenants", {"name": "payer", "monthlyQuota": 2, "wallet": 100},
                key=ADMIN_KEY)
    tid = r.json["id"]
    key = gw.app(tid, mode="live")["apiKey"]

    def ledger():
        t = gw.get("/v1/tenants/" + tid, key=ADMIN_KEY).json
        return t["wallet"], t["usage"]["quotaUsed"]
    r = post_batch(gw, key, {"from": "+16505550100", "text": "hi", "messages": [
        {"to": ["+14155550101", "+14155550102"]}, {"to": ["+14155550103"]}]})
    assert r.status == 202, r
    assert ledger() == (95, 2)  # two from the quota, one at US=5 from the wallet
    b = completed(gw, key, r.json["id"])
    assert b["cost"] == 0.15 and b["currency"] == "USD", b  # 3 x 5 cents
    costs = [m["cost"] for m in members(gw, key, r.json["id"])]
    assert [(c["quotaSegments"], c["walletDebit"]) for c in costs] == [(1, 0), (1, 0), (0, 5)]
    # 20 x 5 = 100 > 95: refused whole, nothing stored, nothing spent
    n = gw.count(key)
    r = post_batch(gw, key, {"from": "+16505550100", "text": "hi", "messages": [
        {"to": [num(i) for i in range(20)]}]})
    expect_error(r, 402, "sms_quota_exceeded", "Monthly SMS quota and wallet are exhausted")
    assert ledger() == (95, 2) and gw.count(key) == n


def test_big_batch_end_to_end():
    _, key = gw.tenant_app()
    msgs = [{"to": [num(i)], "text": "Hello number %d, this is batch test" % i}
            for i in range(BIG_N)]
    body = json.dumps({"from": "+16505550100", "messages": msgs}).encode()
    r = gw.post("/v1/sms/batches", raw=body, key=key)
    assert r.status == 202 and r.json["batchSize"] == BIG_N and r.json["rejected"] == [], \
        r.raw[:300]
    at_202 = hwm_mib(gw)
    bid = r.json["id"]
    b = completed(gw, key, bid, timeout=540)
    assert b["processedCount"] == b["batchSize"] == BIG_N and b["cost"] == 0, b
    ms = members(gw, key, bid)
    assert len(ms) == BIG_N and len({m["messageId"] for m in ms}) == BIG_N
    assert all(m["status"] in TERMINAL for m in ms)
    assert sum(1 for m in ms if m["status"] == "delivered") == BIG_N
    peak = hwm_mib(gw)
    print("      %d recipients, body %.1f MB: peak RSS %.0f MiB at the 202, %.0f MiB after "
          "delivery" % (BIG_N, len(body) / 1e6, at_202, peak), flush=True)
    if not ASAN:  # ASan's shadow memory and quarantine say nothing about streaming
        assert peak < 400, "peak RSS %.0f MiB: is the body held in memory?" % peak


def test_kill9_mid_upload():
    _, key = gwb.tenant_app()
    msgs = [{"to": [num(i)]} for i in range(60000)]
    body = json.dumps({"from": "+16505550100", "text": "t", "messages": msgs}).encode()
    before = wal_bytes(gwb)
    s = raw_request(gwb, key, "Content-Length: %d\r\n" % len(body), body[:len(body) // 2])
    # staged writes reach the log as the half body is parsed
    wait_for(lambda: wal_bytes(gwb) > before + 500000, 30, "staging writes")
    gwb.kill9()
    s.close()
    gwb.restart()
    assert "its upload never completed" in gwb.log_tail(20), gwb.log_tail(20)
    assert gwb.count(key) == 0
    r = gwb.get("/v1/sms?limit=5", key=key)
    assert r.json["data"] == [], r


def test_kill9_after_keyed_202():
    _, key = gwb.tenant_app()
    body = {"from": "+16505550100", "text": "keyed", "messages": [
        {"to": [num(i) for i in range(500)]}]}
    r = post_keyed(gwb, key, body, "crash-1")
    assert r.status == 202 and r.json["batchSize"] == 500, r
    gwb.kill9()  # the answer was on disk before the 202 was sent
    gwb.restart()
    again = post_keyed(gwb, key, body, "crash-1")
    assert again.status == 202 and replayed(again) and again.raw == r.raw, again
    completed(gwb, key, r.json["id"], timeout=120)
    assert gwb.count(key) == 500
    assert [b["id"] for b in gwb.get("/v1/sms/batches", key=key).json["data"]] == [r.json["id"]]


def test_kill9_after_202():
    _, key = gwb.tenant_app()
    n = 3000
    r = post_batch(gwb, key, {"from": "+16505550100", "text": "survive", "messages": [
        {"to": [num(i) for i in range(n)]}]})
    assert r.status == 202 and r.json["batchSize"] == n, r
    gwb.kill9()  # at once: most of it is not even released yet (window 300)
    gwb.restart()
    bid = r.json["id"]
    b = completed(gwb, key, bid, timeout=180)
    assert b["processedCount"] == n, b
    ms = members(gwb, key, bid)
    assert len(ms) == n and all(m["status"] in TERMINAL for m in ms)
    assert gwb.count(key) == n  # each listed once


try:
    gw.start()
    gwb.start()
    run([
        ("seed 004's examples unchanged; GET shows Completed", test_seed_examples),
        ("rejected: 1-based index per recipient across messages and to[]",
         test_rejected_indexes),
        ("malformed JSON, wrong types, empty messages: 400, nothing stored",
         test_malformed_stores_nothing),
        ("over batches.max_body_bytes: 413 (announced or streamed)", test_over_the_limit),
        ("another tenant's or app's batch is 404; admin sees it", test_tenancy),
        ("GET /v1/sms/batches: newest first, paged, per app",
         test_list),
        ("Idempotency-Key: replay, 409 on another body, bad key 400, 4xx stored, per tenant",
         test_idempotency_key),
        ("sendAt: scheduled, released on time", test_send_at),
        ("live keys: charged at the commit; 402 stores and spends nothing",
         test_live_charge_and_402),
        ("%d recipients end to end: all terminal, Completed, RSS bounded" % BIG_N,
         test_big_batch_end_to_end),
        ("kill -9 mid-upload: nothing of the batch exists after restart", test_kill9_mid_upload),
        ("kill -9 after the 202: every message still reaches a terminal state",
         test_kill9_after_202),
        ("kill -9 after a keyed 202: the same key and body replay it, one batch",
         test_kill9_after_keyed_202),
    ])
finally:
    gw.cleanup()
    gwb.cleanup()
