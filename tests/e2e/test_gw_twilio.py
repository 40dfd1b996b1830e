"""Delivery through Twilio, end to end: the real smsgw binary sends through
transport/twilio.c to bench/fakecarrier's fake Twilio (bench/fc/twilio.h,
transport/README.md "Twilio") over loopback, and takes Twilio's signed
status callbacks and inbound SMS at POST /v1/webhooks/twilio/:tenantId."""
import base64
import hashlib
import hmac
import json
import sys
import urllib.parse

import gwtest
from fctest import FakeCarrier
from gwtest import ADMIN_KEY, Gateway, expect_error, run, wait_for

try:
    import websocket
except ImportError:
    sys.path.append("/usr/lib/python3/dist-packages")
    import websocket

SID = "AC00000000000000000000000000000001"
TOKEN = "fake-twilio-token"
NUM = "+15552000001"      # the fake's Twilio numbers
NUM2 = "+15552000002"
INVALID_TO = "+15559870099"  # the fake refuses it: 21211

fc = FakeCarrier().start()
gwtest.LIVE.append(fc)
gw = Gateway(base=False, config="""
limits = { app_key_per_min = 1000000; admin_key_per_min = 1000000; };
retry = { base_ms = 100; max_ms = 400; };
transport = { default_route = [ "twilio" ];
              twilio = { base_url = "%s"; timeout_ms = 1000; lookup_delay_ms = 200; }; };
""" % fc.url).start()
ANSWERS = []  # every smsgw answer body, searched for the auth token at the end


def req(method, path, body=None, key=ADMIN_KEY):
    r = gw.request(method, path, body, key=key)
    ANSWERS.append(r.raw)
    return r


def creds(**over):
    c = {"accountSid": SID, "authToken": TOKEN}
    c.update(over)
    return c


def connect(tenant, c=None):
    return req("PUT", "/v1/tenants/%s/connections/twilio" % tenant, c or creds())


def live_app():
    tid = gw.tenant()
    r = connect(tid)
    assert r.status == 200, r
    return tid, gw.app(tid, mode="live")["apiKey"]


def message(key, mid):
    r = req("GET", "/v1/sms/" + mid, key=key)
    assert r.status == 200, r
    return r.json


def send(key, to="+15559870001", body="hello twilio"):
    r = req("POST", "/v1/sms/send", {"to": to, "from": NUM, "body": body}, key=key)
    assert r.status == 202, r
    return r.json["messageId"]


def until_status(key, mid, want, timeout=30):
    return wait_for(lambda: message(key, mid)["status"] in want and message(key, mid),
                    timeout, "%s to be %s" % (mid, want))


def tw_messages(direction="Outbound"):
    r = fc.get("/_fake/messages?provider=twilio&direction=" + direction)
    assert r.status == 200, r
    return r.json["messages"]


def knobs(**k):
    r = fc.post("/_fake/config", k)
    assert r.status == 200, r


def hook_url(tid):
    return "http://127.0.0.1:%d/v1/webhooks/twilio/%s" % (gw.port, tid)


def sign(url, params, token=TOKEN):
    data = url + "".join(k + v for k, v in sorted(params.items()))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def post_hook(tid, params, sig=None, token=TOKEN, url=None, raw=None, ctype=None):
    """POST a form to the webhook; sig None: signed properly for url (the
    path's own URL by default)."""
    if sig is None:
        sig = sign(url or hook_url(tid), params, token)
    h = {"Content-Type": ctype or "application/x-www-form-urlencoded"}
    if sig is not False:
        h["X-Twilio-Signature"] = sig
    data = raw if raw is not None else urllib.parse.urlencode(params).encode()
    r = gw.request("POST", "/v1/webhooks/twilio/" + tid, raw=data, headers=h)
    ANSWERS.append(r.raw)
    return r


def callback(sid, status, **extra):
    p = {"AccountSid": SID, "ApiVersion": "2010-04-01", "From": NUM, "To": "+15559870001",
         "MessageSid": sid, "MessageStatus": status, "SmsSid": sid, "SmsStatus": status}
    p.update(extra)
    return p


def inbound_list(key):
    r = req("GET", "/v1/sms?direction=inbound&limit=200", key=key)
    assert r.status == 200, r
    return r.json["data"]


# ------------------------------------------------------------------ cases

def test_happy_path():
    tid, key = live_app()
    mid = send(key)
    m = until_status(key, mid, ("delivered",))
    assert m["provider"] == "twilio", m
    att = m["providerAttempts"]
    assert len(att) == 1 and att[0]["provider"] == "twilio" and att[0]["ok"], att
    sid = att[0]["providerMessageId"]
    assert sid.startswith("SM") and len(sid) == 34, sid
    st = req("GET", "/v1/sms/status/" + mid, key=key).json
    assert st["rcMessageId"] == sid and st["status"] == "delivered" and st["error"] is None, st
    assert [e["status"] for e in m["events"]][-2:] == ["sent", "delivered"], m["events"]
    mine = [x for x in tw_messages() if x["sid"] == sid]
    assert len(mine) == 1 and mine[0]["text"] == "hello twilio", mine
    # Twilio was asked to call back, and the delivery came that way (no
    # status polls with callbacks; the scheduler's check is 10 minutes off)
    assert mine[0]["statusCallback"] == hook_url(tid), mine
    wait_for(lambda: fc.stats()["twilio"]["callbacks_sent"] >= 2, 10, "callbacks answered 2xx")


def test_connection_refused_and_secret_kept():
    tid = gw.tenant()
    r = connect(tid, creds(authToken="wrong-token"))
    expect_error(r, 400, "validation_error")
    assert "Twilio rejected the credentials" in r.json["error"] and "20003" in r.json["error"], r
    expect_error(req("GET", "/v1/tenants/%s/connections/twilio" % tid), 404, "not_found",
                 "Twilio not connected for this tenant")
    expect_error(connect(tid, creds(accountSid="AC123")), 400, "validation_error")
    expect_error(connect(tid, {"accountSid": SID}), 400, "validation_error")
    expect_error(connect(tid, creds(messagingServiceSid="nope")), 400, "validation_error")
    r = connect(tid)
    assert r.status == 200 and r.json["connected"] and r.json["accountSid"] == SID, r
    assert "authToken" not in r.json and r.json.get("numbers") == [NUM, NUM2], r
    g = req("GET", "/v1/tenants/%s/connections/twilio" % tid)
    assert g.status == 200 and "authToken" not in g.json, g
    assert g.json["webhookUrl"] == hook_url(tid), g


def test_5xx_retried():
    tid, key = live_app()
    knobs(fail_next=["503"])
    mid = send(key, body="after a 503")
    m = until_status(key, mid, ("delivered",))
    att = m["providerAttempts"]
    assert len(att) == 2 and not att[0]["ok"] and att[1]["ok"], att
    assert att[0]["provider"] == "twilio" and "503" in att[0]["errorMessage"], att
    assert len([x for x in tw_messages() if x["text"] == "after a 503"]) == 1


def test_invalid_to_rejected():
    tid, key = live_app()
    knobs(invalid_to=[INVALID_TO])
    try:
        mid = send(key, to=INVALID_TO, body="to nobody")
        m = until_status(key, mid, ("rejected", "failed"))
        assert m["status"] == "rejected", m
        assert "Invalid 'To' Phone Number" in m["error"] and "21211" in m["error"], m
        assert len(m["providerAttempts"]) == 1, m
    finally:
        knobs(invalid_to=[])


def test_timeout_kept_no_double_send():
    """The fake makes the message, then never answers: smsgw looks it up
    and finds it, so nothing is sent twice."""
    tid, key = live_app()
    knobs(timeout_after_create=True, timeout_hold_ms=3000, fail_next=["timeout"])
    try:
        mid = send(key, body="sent once despite the timeout")
        m = until_status(key, mid, ("sent", "delivered", "failed"))
        assert m["status"] in ("sent", "delivered"), m
        at_fake = [x for x in tw_messages() if x["text"] == "sent once despite the timeout"]
        assert len(at_fake) == 1, at_fake
        att = m["providerAttempts"]
        assert len(att) == 1 and att[0]["ok"], att
        assert att[0]["providerMessageId"] == at_fake[0]["sid"], (att, at_fake)
        until_status(key, mid, ("delivered",))
        assert len([x for x in tw_messages() if x["text"] == m["body"]]) == 1
    finally:
        knobs(timeout_after_create=False, timeout_hold_ms=30000)


def test_timeout_lost_retried():
    """A timeout where Twilio did not take the message: looked up, not
    found, sent again: one message at the fake all the same."""
    tid, key = live_app()
    knobs(timeout_hold_ms=3000, fail_next=["timeout"])
    try:
        mid = send(key, body="lost then resent")
        m = until_status(key, mid, ("delivered", "failed"))
        assert m["status"] == "delivered", m
        att = m["providerAttempts"]
        assert len(att) == 2 and not att[0]["ok"] and att[1]["ok"], att
        assert att[0]["errorCode"] == "provider_timeout", att
        assert len([x for x in tw_messages() if x["text"] == "lost then resent"]) == 1
    finally:
        knobs(timeout_hold_ms=30000)


def sent_message():
    """A live message left `sent` (the fake's delivery is 10 minutes off)."""
    tid, key = live_app()
    knobs(dlr_delay_ms=600000)
    try:
        mid = send(key, body="waiting for a report")
        m = until_status(key, mid, ("sent",))
    finally:
        knobs(dlr_delay_ms=100)
    return tid, key, mid, m["providerAttempts"][-1]["providerMessageId"]


def test_signature_checks():
    tid, key, mid, sid = sent_message()
    other, okey = live_app()
    inb = inbound_list(key)
    good = callback(sid, "delivered")
    expect_error(post_hook(tid, good, sig=False), 401, "unauthorized",
                 "Missing X-Twilio-Signature")
    bad = [post_hook(tid, good, sig="AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
           post_hook(tid, good, token="another-token"),
           post_hook(tid, good, url=hook_url(other)),  # signed for another path
           post_hook(tid, good, sig=sign(hook_url(tid), callback(sid, "sent"))),  # tampered
           post_hook(other, good, url=hook_url(tid)),  # another tenant's path
           post_hook("tenant_0000000000000000", good, url=hook_url("tenant_0000000000000000")),
           post_hook(tid, {"AccountSid": SID, "MessageSid": "SM" + "1" * 32, "From": "+15550001111",
                           "To": NUM, "Body": "forged"}, token="another-token")]
    for r in bad:
        expect_error(r, 401, "unauthorized", "Invalid X-Twilio-Signature")
    assert message(key, mid)["status"] == "sent"
    assert inbound_list(key) == inb and inbound_list(okey) == []
    # the right signature does move it: the checks above could have failed
    r = post_hook(tid, good)
    assert r.status == 200 and r.json["accepted"] and r.json["messageId"] == mid, r
    until_status(key, mid, ("delivered",))
    # a late contradictory report changes nothing
    r = post_hook(tid, callback(sid, "undelivered", ErrorCode="30003"))
    assert r.status == 200 and not r.json["accepted"], r
    assert message(key, mid)["status"] == "delivered"


def test_undelivered_and_unknown():
    tid, key, mid, sid = sent_message()
    r = post_hook(tid, callback("SM" + "0" * 32, "delivered"))
    assert r.status == 200 and not r.json["accepted"], r
    r = post_hook(tid, callback(sid, "sent"))
    assert r.status == 200 and not r.json["accepted"], r
    assert message(key, mid)["status"] == "sent"
    r = post_hook(tid, callback(sid, "undelivered", ErrorCode="30003"))
    assert r.status == 200 and r.json["accepted"], r
    m = until_status(key, mid, ("failed",))
    assert "undelivered" in m["error"] and "30003" in m["error"], m


def test_malformed_bodies():
    tid, key, mid, sid = sent_message()
    inb = inbound_list(key)
    cases = [
        (callback(sid, "bogus"), 400),
        (callback(sid, "delivered", ErrorCode="abc"), 400),
        (callback(sid, "delivered", AccountSid="AC" + "9" * 32), 400),
        (callback("XX" + "1" * 32, "delivered"), 400),
        ({"AccountSid": SID, "MessageSid": sid}, 400),
        ({"AccountSid": SID, "MessageSid": "SM" + "2" * 32, "From": "not a phone!", "To": NUM,
          "Body": "x"}, 400),
    ]
    for params, status in cases:
        r = post_hook(tid, params)
        assert r.status == status and r.json["code"] == "validation_error", (params, r)
    # signed, but not a form
    p = callback(sid, "delivered")
    r = post_hook(tid, p, raw=json.dumps(p).encode(), ctype="application/json")
    assert r.status in (400, 401), r
    # a bad %-escape cannot be signed: refused
    r = post_hook(tid, p, raw=b"MessageSid=%zz&MessageStatus=delivered")
    assert r.status in (400, 401), r
    # huge: over the webhook's 64 KB, and over the server's limit
    big = dict(p, Pad="x" * 70000)
    expect_error(post_hook(tid, big), 413, "payload_too_large")
    r = post_hook(tid, dict(p, Pad="x" * 200000))
    assert r.status == 413, r
    assert message(key, mid)["status"] == "sent" and inbound_list(key) == inb


def test_inbound_once_and_published():
    tid, key = live_app()
    r = fc.post("/_fake/twilio/config", {"sms_url": hook_url(tid), "number": NUM2})
    assert r.status == 200, r
    ws = websocket.create_connection("ws://127.0.0.1:%d/ws" % gw.port, timeout=15)
    try:
        ws.send(json.dumps({"type": "auth", "apiKey": key}))
        assert json.loads(ws.recv()) == {"type": "auth_ok"}
        r = fc.post("/_fake/twilio/inbound", {"from": "+15550001234", "to": NUM2,
                                             "text": "hi from a phone", "copies": 2})
        assert r.status == 200 and r.json["responses"] == [200, 200], r
        sid = r.json["sid"]
        while True:
            e = json.loads(ws.recv())
            if e.get("type") == "sms_inbound":
                break
        assert e["body"] == "hi from a phone" and e["rcMessageId"] == sid, e
        assert e["from"] == "+15550001234" and e["to"] == NUM2 and e["tenantId"] == tid, e
    finally:
        ws.close()
    got = [m for m in inbound_list(key) if m.get("body") == "hi from a phone"]
    assert len(got) == 1 and got[0]["status"] == "received", got
    # posted directly, once more: TwiML, the same message
    p = {"AccountSid": SID, "MessageSid": sid, "SmsSid": sid, "From": "+15550001234",
         "To": NUM2, "Body": "hi from a phone", "NumMedia": "0", "SmsStatus": "received"}
    r = post_hook(tid, p)
    assert r.status == 200 and r.headers["content-type"].startswith("text/xml"), r
    assert r.raw.endswith("<Response/>"), r
    assert len([m for m in inbound_list(key) if m.get("body") == "hi from a phone"]) == 1


def test_secrets_never_returned():
    for a in ANSWERS:
        assert TOKEN not in a and "another-token" not in a, a


def cleanup():
    gw.cleanup()
    fc.stop()
    fc.cleanup()


if __name__ == "__main__":
    try:
        run([(n, f) for n, f in sorted(globals().items(), key=lambda kv: 0)
             if n.startswith("test_") and callable(f)])
    finally:
        cleanup()
