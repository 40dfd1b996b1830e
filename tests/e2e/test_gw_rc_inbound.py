"""RingCentral webhooks, end to end (SPEC section 10): the real smsgw binary
and bench/fakecarrier (a fake RingCentral, transport/README.md section 7).

Connecting a tenant makes a WebHook subscription at the fake (whose
Validation-Token handshake the gateway answers); the fake's notifications
(Verification-Token) bring inbound SMS (stored once, listed, published to
WebSocket subscribers) and message-store changes (the gateway looks the
messages up and moves them to delivered or failed); bad tokens and bad
bodies change nothing; subscriptions are renewed before they expire, made
again when RingCentral lost them, kept across a restart and deleted on
disconnect (JWT connections and the OAuth connect flow).

The sender's own status polls are off here (status_polls = 0), so a
delivery can only come from a notification."""
import json
import re
import struct
import sys
import time
import urllib.parse

try:
    import websocket
except ImportError:
    sys.path.append("/usr/lib/python3/dist-packages")
    import websocket

import gwtest
from fctest import JWT, FakeCarrier
from gwtest import ADMIN_KEY, Gateway, expect_error, run, wait_for

NUM = "+15551234567"  # the fake's number of extension 200000001 (the JWT's user)
HOOK = "/v1/webhooks/ringcentral"

fc = FakeCarrier("--dlr-delay-ms", "200").start()
gwtest.LIVE.append(fc)
# subscriptions of 10 s, renewed when less than 5 s is left: a renewal every
# ~5 s, so the test sees several without waiting long
gw = Gateway(base=False, config="""
limits = { app_key_per_min = 1000000; admin_key_per_min = 1000000; };
retry = { base_ms = 100; max_ms = 400; };
transport = { default_route = [ "ringcentral" ];
              ringcentral = { status_polls = 0; timeout_ms = 3000;
                              oauth = { client_id = "fake-client-id";
                                        client_secret = "fake-client-secret";
                                        server_url = "%s"; }; }; };
rc_webhook = { expires_in_s = 10; renew_before_s = 5; retry_s = 1; retry_max_s = 2;
               rescan_s = 2; sync_interval_ms = 100; timeout_ms = 3000; };
""" % fc.url)


# ---------------------------------------------------------------- helpers

def conn_path(tid):
    return "/v1/tenants/%s/connections/ringcentral" % tid


def connect(tid):
    r = gw.request("PUT", conn_path(tid), fc.creds(), key=ADMIN_KEY)
    assert r.status == 200, r
    return r


def webhook_of(tid):
    r = gw.get(conn_path(tid), key=ADMIN_KEY)
    assert r.status == 200, r
    return r.json["webhook"]


def subscribed(tid, other_than=None):
    """Wait until the tenant's connection names a live subscription (not
    other_than) that the fake has too; returns the fake's record."""
    def ready():
        w = webhook_of(tid)
        if not w["subscribed"] or w["subscriptionId"] == other_than:
            return None
        return fake_sub(w["subscriptionId"])
    return wait_for(ready, 30, "a subscription of " + tid)


def fake_subs():
    r = fc.get("/_fake/subscriptions")
    assert r.status == 200, r
    return r.json["subscriptions"]


def fake_sub(sid):
    return next((s for s in fake_subs() if s["id"] == sid), None)


def live_tenant():
    tid = gw.tenant()
    connect(tid)
    sub = subscribed(tid)
    return tid, gw.app(tid, mode="live")["apiKey"], sub


def disconnect(tid):
    sid = webhook_of(tid)["subscriptionId"]
    r = gw.request("DELETE", conn_path(tid), key=ADMIN_KEY)
    assert r.status == 200, r
    wait_for(lambda: sid is None or fake_sub(sid) is None, 30, "subscription %s deleted" % sid)


def notify(token, payload=None, raw=None, headers=None):
    h = {} if token is None else {"Verification-Token": token}
    h.update(headers or {})
    if raw is None:
        raw = json.dumps(payload).encode()
    return gw.request("POST", HOOK, raw=raw, headers=h)


def instant(sub, mid="7000000001", frm="+15559990001", to=NUM, text="forged"):
    return {"uuid": "3d1f0000-0000-4000-8000-000000000001",
            "event": "/restapi/v1.0/account/~/extension/%s/message-store/instant?type=SMS"
                     % sub["ownerId"],
            "timestamp": "2026-01-01T00:00:00.000Z", "subscriptionId": sub["id"],
            "ownerId": sub["ownerId"],
            "body": {"id": mid, "from": {"phoneNumber": frm}, "to": [{"phoneNumber": to}],
                     "type": "SMS", "direction": "Inbound", "messageStatus": "Received",
                     "subject": text, "creationTime": "2026-01-01T00:00:00.000Z",
                     "readStatus": "Unread", "conversationId": "1"}}


def store_event(sub):
    return {"uuid": "3d1f0000-0000-4000-8000-000000000002",
            "event": "/restapi/v1.0/account/~/extension/%s/message-store?type=SMS"
                     "&direction=Outbound" % sub["ownerId"],
            "timestamp": "2026-01-01T00:00:00.000Z", "subscriptionId": sub["id"],
            "ownerId": sub["ownerId"],
            "body": {"extensionId": sub["ownerId"], "lastUpdated": "2026-01-01T00:00:00.000Z",
                     "changes": [{"type": "SMS", "newCount": 0, "updatedCount": 1}]}}


def listed(key, direction):
    r = gw.get("/v1/sms?limit=200&direction=" + direction, key=key)
    assert r.status == 200, r
    return r.json["data"]


def metric(series):
    r = gw.get("/metrics")
    m = re.search(r"^%s (\d+)$" % re.escape(series), r.raw, re.M)
    assert m, "no %s in /metrics" % series
    return int(m.group(1))


def message(key, mid):
    r = gw.get("/v1/sms/" + mid, key=key)
    assert r.status == 200, r
    return r.json


def final(key, mid, statuses, timeout=30):
    return wait_for(lambda: (lambda m: m if m["status"] in statuses else None)(message(key, mid)),
                    timeout, mid + " in " + "/".join(statuses))


def send(key, to, body):
    r = gw.send(key, to=to, frm=NUM, body=body)
    assert r.status == 202, r
    return r.json["messageId"]


def fake_id_of(text):
    got = [m for m in fc.messages("all") if m["text"] == text]
    assert len(got) == 1, got
    return got[0]["id"]


def ws_connect(key):
    ws = websocket.create_connection("ws://127.0.0.1:%d/ws" % gw.port, timeout=20)
    ws.send(json.dumps({"type": "auth", "apiKey": key}))
    assert json.loads(ws.recv()) == {"type": "auth_ok"}
    return ws


def ws_events_until(ws, pred):
    """Events (pings skipped) up to and including the first that pred accepts."""
    out = []
    while True:
        f = ws.recv_frame()
        if f.opcode == websocket.ABNF.OPCODE_CLOSE:
            raise AssertionError("WebSocket closed: %r" % struct.unpack("!H", f.data[:2]))
        if f.opcode != websocket.ABNF.OPCODE_TEXT:
            continue
        e = json.loads(f.data.decode())
        if e.get("type") == "ping":
            continue
        out.append(e)
        if pred(e):
            return out


def inbound_from_fake(frm, text):
    r = fc.post("/_fake/inbound", {"from": frm, "to": NUM, "text": text})
    assert r.status == 200, r
    return str(r.json["id"])


# ---------------------------------------------------------------- cases

def test_handshake_and_subscription():
    # RingCentral's validation request: the token comes back, nothing else
    r = gw.request("POST", HOOK, raw=b"", headers={"Validation-Token": "abc-123_X"})
    assert r.status == 200 and r.headers.get("validation-token") == "abc-123_X", r
    assert r.json == {"validated": True} and \
        len(r.raw) + sum(len(k) + len(v) for k, v in r.headers.items()) < 1024, r
    expect_error(gw.request("POST", HOOK, raw=b"", headers={"Validation-Token": "x" * 300}),
                 400, "validation_error")
    before = fc.stats()["subscriptions_created"]
    tid = gw.tenant()
    connect(tid)
    sub = subscribed(tid)
    # the fake made it only after our answer to its handshake
    assert fc.stats()["subscriptions_created"] == before + 1
    assert fc.stats()["validations_failed"] == 0
    assert sub["deliveryMode"]["transportType"] == "WebHook", sub
    assert sub["deliveryMode"]["address"] == "http://127.0.0.1:%d%s" % (gw.port, HOOK), sub
    f = sub["eventFilters"]
    assert any(x.endswith("/message-store/instant?type=SMS") for x in f), f
    assert any("/message-store?" in x and "direction=Outbound" in x for x in f), f
    assert 0 < sub["expiresIn"] <= 10, sub
    assert re.fullmatch(r"[0-9a-f]{32}", sub["verificationToken"]), sub
    # the verification token is never shown
    r = gw.get(conn_path(tid), key=ADMIN_KEY)
    assert sub["verificationToken"] not in r.raw, r
    assert r.json["webhook"]["subscriptionId"] == sub["id"] and r.json["webhook"]["expiresAt"]
    disconnect(tid)


def test_inbound_stored_once_listed_and_published():
    tid, key, sub = live_tenant()
    try:
        ws = ws_connect(key)
        dups = metric('smsgw_rc_webhook_inbound_total{result="duplicate"}')
        stored = metric('smsgw_rc_webhook_inbound_total{result="stored"}')
        fc.config(notify_copies=2)  # RingCentral posts the same notification twice
        try:
            rcid = inbound_from_fake("+15559990001", "Hello from a phone")
            got = wait_for(lambda: listed(key, "inbound"), 30, "the inbound SMS")
            wait_for(lambda: metric('smsgw_rc_webhook_inbound_total{result="duplicate"}')
                     == dups + 1, 30, "the second copy heard")
        finally:
            fc.config(notify_copies=1)
        assert metric('smsgw_rc_webhook_inbound_total{result="stored"}') == stored + 1
        got = listed(key, "inbound")
        assert len(got) == 1, got
        m = got[0]
        assert re.fullmatch(r"msg_[0-9a-f]{12}", m["messageId"]), m
        assert m["status"] == "received" and m["direction"] == "inbound", m
        assert m["from"] == "+15559990001" and m["to"] == NUM, m
        assert m["body"] == "Hello from a phone" and m["rcMessageId"] == rcid, m
        assert m["provider"] == "ringcentral", m
        assert [x["messageId"] for x in listed(key, "outbound")] == []
        # the WebSocket got exactly one sms_inbound for it: a second SMS is
        # the barrier (events come in order)
        inbound_from_fake("+15559990002", "second one")
        evs = ws_events_until(ws, lambda e: e.get("type") == "sms_inbound"
                              and e["body"] == "second one")
        firsts = [e for e in evs if e.get("type") == "sms_inbound"
                  and e["messageId"] == m["messageId"]]
        assert len(firsts) == 1, evs
        e = firsts[0]
        assert e == {"type": "sms_inbound", "messageId": m["messageId"], "from": "+15559990001",
                     "to": NUM, "body": "Hello from a phone", "rcMessageId": rcid,
                     "tenantId": tid, "timestamp": e["timestamp"]}, e
        ws.close()
        # forged again with the right token: still stored once (dedup by RingCentral's id)
        r = notify(sub["verificationToken"], instant(sub, mid=rcid, text="Hello from a phone"))
        assert r.status == 200 and r.json == {"messageId": m["messageId"], "duplicate": True}, r
        assert len(listed(key, "inbound")) == 2
        # an admin lists them with tenantId
        r = gw.get("/v1/sms?direction=inbound&tenantId=" + tid, key=ADMIN_KEY)
        assert r.status == 200 and len(r.json["data"]) == 2, r
    finally:
        disconnect(tid)


def test_delivery_notifications():
    tid, key, sub = live_tenant()
    try:
        reports = metric("smsgw_rc_webhook_reports_total")
        mid = send(key, "+15559870201", "will be delivered")
        m = final(key, mid, ("delivered",))
        assert [e["status"] for e in m["events"]] == ["queued", "sending", "sent", "delivered"], m
        assert m["rcMessageId"] == str(fake_id_of("will be delivered")), m
        fc.config(undeliverable=["+15559870202"])
        mid2 = send(key, "+15559870202", "will fail")
        m2 = final(key, mid2, ("failed",))
        assert [e["status"] for e in m2["events"]] == ["queued", "sending", "sent", "failed"], m2
        assert m2["error"] == "RingCentral reports DeliveryFailed: SMS-CAR-411", m2
        assert metric("smsgw_rc_webhook_reports_total") >= reports + 2
        # late and contradictory reports change no final message: the fake
        # says the delivered one failed and the failed one was delivered; a
        # sent one is reported Queued (backwards): it stays sent
        fc.config(dlr_delay_ms=3600000)  # new messages stay Sent at the fake
        try:
            mid3 = send(key, "+15559870203", "slow one")
            final(key, mid3, ("sent",))
            for text, st in (("will be delivered", "DeliveryFailed"), ("will fail", "Delivered"),
                             ("slow one", "Queued")):
                r = fc.post("/_fake/message-status", {"id": fake_id_of(text), "status": st})
                assert r.status == 200, r
            # a barrier: a later change the gateway does apply; the look-up
            # that applied it saw the changes above too (one page, newest first)
            mid4 = send(key, "+15559870204", "barrier")
            final(key, mid4, ("sent",))
            r = fc.post("/_fake/message-status", {"id": fake_id_of("barrier"),
                                                  "status": "Delivered"})
            assert r.status == 200, r
            final(key, mid4, ("delivered",))
            assert message(key, mid)["events"] == m["events"]
            assert message(key, mid2)["events"] == m2["events"]
            m3 = message(key, mid3)
            assert m3["status"] == "sent", m3
            # and when RingCentral says it is delivered, it is
            r = fc.post("/_fake/message-status", {"id": fake_id_of("slow one"),
                                                  "status": "Delivered"})
            assert r.status == 200, r
            m3 = final(key, mid3, ("delivered",))
            assert [e["status"] for e in m3["events"]] == ["queued", "sending", "sent",
                                                           "delivered"], m3
        finally:
            fc.config(dlr_delay_ms=200)
    finally:
        fc.config(undeliverable=[])
        disconnect(tid)


def test_unknown_messages_ignored():
    tid, key, sub = live_tenant()
    try:
        unknown = metric("smsgw_rc_webhook_unknown_total")
        # a message the account's user sent some other way (not through smsgw)
        tok = fc.login()["access_token"]
        r = fc.sms(tok, frm=NUM, to="+15559870301", text="sent from the RingCentral app")
        assert r.status == 200, r
        wait_for(lambda: metric("smsgw_rc_webhook_unknown_total") > unknown, 30,
                 "the foreign message counted")
        assert listed(key, "outbound") == [] and listed(key, "inbound") == []
        # a forged message-store event with the right token: answered 200
        r = notify(sub["verificationToken"], store_event(sub))
        assert r.status == 200 and r.json == {"accepted": True}, r
    finally:
        disconnect(tid)


def test_bad_tokens_change_nothing():
    tid, key, sub = live_tenant()
    try:
        body = instant(sub, mid="7000000002", text="should not be stored")
        rejected = metric('smsgw_rc_webhook_notifications_total{result="rejected"}')
        for token in (None, "", "0" * 32, sub["verificationToken"][:-1] + "x",
                      sub["verificationToken"] + "0", "x" * 300):
            r = notify(token, body)
            expect_error(r, 401, "unauthorized")
        assert metric('smsgw_rc_webhook_notifications_total{result="rejected"}') == rejected + 6
        assert listed(key, "inbound") == []
        # its own token works
        r = notify(sub["verificationToken"], body)
        assert r.status == 200 and r.json["duplicate"] is False, r
        assert [x["body"] for x in listed(key, "inbound")] == ["should not be stored"]
    finally:
        disconnect(tid)
    # after the disconnect, the old token is refused
    expect_error(notify(sub["verificationToken"], instant(sub, mid="7000000003")), 401,
                 "unauthorized")


def test_malformed_notifications_change_nothing():
    tid, key, sub = live_tenant()
    tok = sub["verificationToken"]
    try:
        invalid = metric('smsgw_rc_webhook_notifications_total{result="invalid"}')
        good = instant(sub, mid="7000000010", text="never")

        def variant(path, value, base=good):
            v = json.loads(json.dumps(base))
            o = v
            for k in path[:-1]:
                o = o[k]
            if value is KeyError:
                del o[path[-1]]
            else:
                o[path[-1]] = value
            return v

        raws = [b"", b"{", b"not json", b"[]", b"\"x\"", b"{\"event\": 1, \"event\": 2}"]
        bodies = [
            variant(["event"], KeyError), variant(["event"], 7), variant(["event"], ""),
            variant(["event"], "message-store/instant"),
            variant(["body"], KeyError), variant(["body"], "x"), variant(["body"], []),
            variant(["uuid"], 5), variant(["subscriptionId"], {}), variant(["ownerId"], []),
            variant(["timestamp"], 1.5),
            variant(["body", "id"], KeyError), variant(["body", "id"], {"x": 1}),
            variant(["body", "id"], ""), variant(["body", "id"], -4), variant(["body", "id"], "a b"),
            variant(["body", "id"], "9" * 80),
            variant(["body", "from"], KeyError), variant(["body", "from"], "+15559990001"),
            variant(["body", "from", "phoneNumber"], 15559990001),
            variant(["body", "from", "phoneNumber"], "+1" + "5" * 40),
            variant(["body", "to"], KeyError), variant(["body", "to"], []),
            variant(["body", "to"], ["+15551234567"]), variant(["body", "to"], {"phoneNumber": NUM}),
            variant(["body", "subject"], 12), variant(["body", "subject"], None),
            variant(["body", "direction"], True), variant(["body", "type"], ["SMS"]),
            variant(["body", "changes"], "all", base=store_event(sub)),
            variant(["body", "changes"], [1], base=store_event(sub)),
            variant(["body", "changes"], [{"type": "SMS", "updatedCount": "1"}],
                    base=store_event(sub)),
            variant(["body", "changes"], [{"type": "SMS", "newCount": -1}],
                    base=store_event(sub)),
            variant(["body", "extensionId"], 200000001, base=store_event(sub)),
        ]
        n = 0
        for raw in raws + [json.dumps(b).encode() for b in bodies]:
            r = notify(tok, raw=raw)
            assert r.status == 400, (raw[:200], r)
            assert r.json["code"] == "validation_error" and r.json["error"], r
            n += 1
        # over http.max_body_bytes (100 KB): 413 before any parsing
        big = variant(["body", "subject"], "x" * 200000)
        expect_error(notify(tok, big), 413, "payload_too_large")
        assert metric('smsgw_rc_webhook_notifications_total{result="invalid"}') == invalid + n
        assert listed(key, "inbound") == []
        # events of no interest: 200, ignored
        for payload in (variant(["event"], "/restapi/v1.0/account/~/extension/~/presence"),
                        variant(["body", "direction"], "Outbound"),
                        variant(["body", "type"], "Pager"),
                        variant(["body", "changes"], [{"type": "Fax", "updatedCount": 1}],
                                base=store_event(sub))):
            r = notify(tok, payload)
            assert r.status == 200 and r.json["ignored"] is True, r
        assert listed(key, "inbound") == []
        # and the real thing still works (a numeric id, as REST records have)
        r = notify(tok, variant(["body", "id"], 7000000011))
        assert r.status == 200 and r.json["duplicate"] is False, r
        assert [x["rcMessageId"] for x in listed(key, "inbound")] == ["7000000011"]
    finally:
        disconnect(tid)


def test_renewed_before_expiry_and_made_again_when_lost():
    tid, key, sub = live_tenant()
    try:
        renewed = metric('smsgw_rc_subscriptions_total{op="renewed"}')
        first_exp = sub["expirationTime"]
        # renewed (10 s lifetime, renewed with 5 s left): same id, later expiry,
        # never expired at the fake meanwhile
        later = wait_for(lambda: (lambda s: s if s and s["expirationTime"] > first_exp else None)(
            fake_sub(sub["id"])), 30, "a renewal")
        assert later["id"] == sub["id"]
        wait_for(lambda: metric('smsgw_rc_subscriptions_total{op="renewed"}') >= renewed + 2, 30,
                 "two renewals")
        assert fake_sub(sub["id"]) is not None
        assert webhook_of(tid)["subscriptionId"] == sub["id"]
        # RingCentral loses it: the next renewal gets 404 and makes another
        tok = fc.login()["access_token"]
        r = fc.request("DELETE", "/restapi/v1.0/subscription/" + sub["id"], token=tok)
        assert r.status in (200, 204), r
        new = subscribed(tid, other_than=sub["id"])
        assert new["id"] != sub["id"]
        # the new one brings inbound SMS
        inbound_from_fake("+15559990003", "after the new subscription")
        wait_for(lambda: [x for x in listed(key, "inbound")
                          if x["body"] == "after the new subscription"], 30, "the inbound SMS")
    finally:
        disconnect(tid)


def test_restart_keeps_the_subscription():
    tid, key, sub = live_tenant()
    try:
        # just after a renewal, so the restart has most of the lifetime
        sub = wait_for(lambda: (lambda s: s if s and s["expirationTime"] > sub["expirationTime"]
                                else None)(fake_sub(sub["id"])), 30, "a renewal")
        created = fc.stats()["subscriptions_created"]
        gw.kill9()
        gw.start()
        # still the same subscription, renewed by the new process
        later = wait_for(lambda: (lambda s: s if s and s["expirationTime"] > sub["expirationTime"]
                                  else None)(fake_sub(sub["id"])), 30, "a renewal after restart")
        assert later["id"] == sub["id"]
        assert webhook_of(tid)["subscriptionId"] == sub["id"]
        assert fc.stats()["subscriptions_created"] == created
        inbound_from_fake("+15559990004", "after the restart")
        wait_for(lambda: listed(key, "inbound"), 30, "the inbound SMS")
    finally:
        disconnect(tid)


def test_reconnect_and_disconnect_delete_subscriptions():
    tid, key, sub = live_tenant()
    # connecting again (new credentials) replaces the subscription
    connect(tid)
    new = subscribed(tid, other_than=sub["id"])
    wait_for(lambda: fake_sub(sub["id"]) is None, 30, "the old subscription deleted")
    expect_error(notify(sub["verificationToken"], instant(sub, mid="7000000020")), 401,
                 "unauthorized")
    deleted = metric('smsgw_rc_subscriptions_total{op="deleted"}')
    disconnect(tid)
    assert fake_sub(new["id"]) is None
    wait_for(lambda: metric('smsgw_rc_subscriptions_total{op="deleted"}') >= deleted + 1, 30,
             "the deletion counted")
    r = gw.get(conn_path(tid), key=ADMIN_KEY)
    assert r.status == 404, r
    # an SMS to the number now reaches nobody of this tenant
    inbound_from_fake("+15559990005", "after disconnect")
    expect_error(notify(new["verificationToken"], instant(new, mid="7000000021")), 401,
                 "unauthorized")
    assert listed(key, "inbound") == []


def test_oauth_connect_subscribes_and_disconnect_deletes():
    tid = gw.tenant()
    key = gw.app(tid, mode="live")["apiKey"]
    r = gw.post("/v1/rc/connect-token", key=key)
    assert r.status == 200, r
    token = r.json["connectUrl"].split("token=", 1)[1]
    r = gw.request("POST", "/v1/rc/connect", raw=("token=" + token).encode(),
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 303, r
    loc = r.headers["location"]
    r = fc.get(loc[len(fc.url):])
    assert r.status in (302, 303), r
    back = r.headers["location"]
    r = gw.get(back.split("127.0.0.1:%d" % gw.port, 1)[1])
    assert r.status == 200 and "RingCentral connected" in r.raw, r
    sub = subscribed(tid)
    # the subscription's token calls rotated the refresh token; sends still work
    mid = send(key, "+15559870401", "oauth send")
    final(key, mid, ("delivered",))
    inbound_from_fake("+15559990006", "oauth inbound")
    wait_for(lambda: listed(key, "inbound"), 30, "the inbound SMS")
    r = gw.post("/v1/rc/disconnect", key=key)
    assert r.status == 200 and r.json["connected"] is False, r
    wait_for(lambda: fake_sub(sub["id"]) is None, 30, "the subscription deleted")


def test_no_subscription_left_behind():
    # every tenant of this file was disconnected: the fake holds no subscription
    wait_for(lambda: fake_subs() == [], 30, "no subscriptions left")
    assert "unauthorized" in json.dumps(notify("0" * 32, {}).json)


if __name__ == "__main__":
    try:
        gw.start()
        run([
            ("connect: the handshake is answered, the subscription exists at RingCentral",
             test_handshake_and_subscription),
            ("an inbound SMS notified twice: stored once, listed, one sms_inbound",
             test_inbound_stored_once_listed_and_published),
            ("delivery notifications: delivered, failed; late reports change no final message",
             test_delivery_notifications),
            ("message-store records that are not ours are ignored and counted",
             test_unknown_messages_ignored),
            ("a missing or wrong Verification-Token: 401, nothing stored",
             test_bad_tokens_change_nothing),
            ("malformed, mistyped or huge notifications: 4xx, nothing stored",
             test_malformed_notifications_change_nothing),
            ("renewed before expiry; made again when RingCentral lost it",
             test_renewed_before_expiry_and_made_again_when_lost),
            ("kill -9 and restart: the same subscription, still renewed",
             test_restart_keeps_the_subscription),
            ("reconnect replaces the subscription, disconnect deletes it",
             test_reconnect_and_disconnect_delete_subscriptions),
            ("the OAuth connect flow subscribes; its disconnect unsubscribes",
             test_oauth_connect_subscribes_and_disconnect_deletes),
            ("no subscription is left behind", test_no_subscription_left_behind),
        ])
    finally:
        gw.cleanup()
        fc.cleanup()
