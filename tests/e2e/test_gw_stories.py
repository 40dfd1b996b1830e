"""The simulator's stories (SPEC section 7), each with a test key: the exact
statuses in `events`, the provider attempts (provider, ok), failover from
"sim" to "sim_b" (transport.test_route), and the inbound STOP of 0008,
stored once even when its report is heard twice."""
import re

from gwtest import ADMIN_KEY, Gateway, run, wait_for

# Fast retries; story 0003's slow report shortened from 30 s (still far
# slower than every other story's 100 ms).
CONFIG = """
limits = { app_key_per_min = 1000000; admin_key_per_min = 1000000; };
retry = { base_ms = 50; max_ms = 200; };
transport = { default_route = [ "sim", "sim_b" ];
              sim = { latency_ms = 5; dlr_delay_ms = 100; slow_dlr_ms = 3000; }; };
"""
gw = Gateway(config=CONFIG, base=False)
FROM = "+15551234567"
TERMINAL = {"delivered", "failed", "rejected"}


def events(m):
    return [e["status"] for e in m["events"]]


def attempts(m):
    return [(a["provider"], a["ok"]) for a in m["providerAttempts"]]


def message(key, mid):
    r = gw.get("/v1/sms/" + mid, key=key)
    assert r.status == 200, r
    return r.json


def settled(key, mid, status):
    """Wait until mid is in status (a terminal one), and return the message."""
    def done():
        m = message(key, mid)
        if m["status"] in TERMINAL and m["status"] != status:
            raise AssertionError("%s ended %s, not %s: %r" % (mid, m["status"], status, m))
        return m if m["status"] == status else None
    return wait_for(done, 60, "%s %s" % (mid, status))


def send(key, last4):
    r = gw.send(key, to="+1555987" + last4, frm=FROM)
    assert r.status == 202 and r.json["test"] is True, r
    return r.json["messageId"]


KEY = None


def key():
    global KEY
    if KEY is None:
        KEY = gw.tenant_app()[1]
    return KEY


def test_0001_delivered():
    m = settled(key(), send(key(), "0001"), "delivered")
    assert events(m) == ["queued", "sending", "sent", "delivered"], events(m)
    assert attempts(m) == [("sim", True)], attempts(m)
    assert m["provider"] == "sim" and m["rcMessageId"].startswith("sim_"), m
    assert m["error"] is None


def test_0002_rejected_phone_invalid():
    m = settled(key(), send(key(), "0002"), "rejected")
    assert events(m) == ["queued", "sending", "rejected"], events(m)
    assert attempts(m) == [("sim", False)], attempts(m)
    assert m["errorCode"] == "phone_invalid" and m["error"], m


def test_0003_slow_report():
    slow = send(key(), "0003")
    fast = send(key(), "0001")
    settled(key(), fast, "delivered")
    # the fast one's report (100 ms) is in; the slow one's (3 s) is not yet
    m = message(key(), slow)
    assert m["status"] in ("queued", "sending", "sent"), m
    m = settled(key(), slow, "delivered")
    assert events(m) == ["queued", "sending", "sent", "delivered"], events(m)
    assert attempts(m) == [("sim", True)], attempts(m)


def test_0004_rejected_dnd():
    m = settled(key(), send(key(), "0004"), "rejected")
    assert events(m) == ["queued", "sending", "rejected"], events(m)
    assert attempts(m) == [("sim", False)], attempts(m)
    assert m["errorCode"] == "dnd_blocked" and m["error"], m


def test_0005_two_failures_then_sent():
    m = settled(key(), send(key(), "0005"), "delivered")
    assert events(m) == ["queued", "sending", "queued", "sending", "queued", "sending", "sent",
                         "delivered"], events(m)
    # attempt 1 at sim fails and fails over to sim_b; attempt 2 fails there,
    # the last of the route, so attempt 3 is sim_b's retry
    assert attempts(m) == [("sim", False), ("sim_b", False), ("sim_b", True)], attempts(m)
    assert [a["errorCode"] for a in m["providerAttempts"]] == \
        ["provider_unavailable", "provider_unavailable", None], m["providerAttempts"]
    assert m["provider"] == "sim_b" and m["error"] is None, m


def test_0006_failover():
    m = settled(key(), send(key(), "0006"), "delivered")
    assert events(m) == ["queued", "sending", "queued", "sending", "sent", "delivered"], \
        events(m)
    assert attempts(m) == [("sim", False), ("sim_b", True)], attempts(m)
    first, second = m["providerAttempts"]
    assert first["errorCode"] == "provider_unavailable", first
    assert first["errorMessage"] == "Simulated outage of sim", first
    assert second["providerMessageId"] == m["rcMessageId"], m
    assert m["provider"] == "sim_b" and m["rcMessageId"].startswith("sim_"), m
    assert m["error"] is None, m
    s = gw.get("/v1/sms/status/" + m["messageId"], key=key()).json
    assert s["status"] == "delivered" and s["rcMessageId"] == m["rcMessageId"], s


def test_0007_permanent_no_failover():
    m = settled(key(), send(key(), "0007"), "failed")
    assert events(m) == ["queued", "sending", "failed"], events(m)
    assert attempts(m) == [("sim", False)], attempts(m)  # a permanent failure never fails over
    assert m["errorCode"] == "undeliverable" and m["error"], m


def test_0006_live_key_follows_the_default_route():
    tid = gw.tenant("live")
    live = gw.app(tid, mode="live")["apiKey"]
    r = gw.send(live, to="+15559870006", frm=FROM)
    assert r.status == 202 and r.json["test"] is False, r
    m = settled(live, r.json["messageId"], "delivered")
    # a live key without a tenant route takes default_route, [sim, sim_b],
    # with the same failover as a test key
    assert attempts(m) == [("sim", False), ("sim_b", True)], attempts(m)
    assert m["provider"] == "sim_b" and m["error"] is None, m


def inbound(g, k):
    r = g.get("/v1/sms?direction=inbound&limit=200", key=k)
    assert r.status == 200, r
    return r.json["data"]


def test_0008_delivered_then_stop():
    tid, k = gw.tenant_app()
    to = "+15559870008"
    mid = send(k, "0008")
    m = settled(k, mid, "delivered")
    assert events(m) == ["queued", "sending", "sent", "delivered"], events(m)
    assert attempts(m) == [("sim", True)], attempts(m)
    got = wait_for(lambda: inbound(gw, k), 30, "the inbound STOP")
    assert len(got) == 1, got
    i = got[0]
    assert re.match(r"^msg_[0-9a-f]{12}$", i["messageId"]) and i["messageId"] != mid, i
    assert i["direction"] == "inbound" and i["status"] == "received", i
    assert i["from"] == to and i["to"] == FROM and i["body"] == "STOP", i
    assert i["test"] is True and i["provider"] == "sim", i
    assert i["rcMessageId"].startswith("sim_") and i["rcMessageId"] != m["rcMessageId"], i
    assert events(i) == ["received"], i
    # the outbound list does not show it; the plain list shows both
    out = gw.get("/v1/sms?direction=outbound", key=k).json["data"]
    assert [x["messageId"] for x in out] == [mid], out
    assert {x["messageId"] for x in gw.get("/v1/sms", key=k).json["data"]} == \
        {mid, i["messageId"]}
    # readable by the app, by another app of the tenant, and by the admin
    other = gw.app(tid, name="other")["apiKey"]
    for kk in (k, other, ADMIN_KEY):
        r = gw.get("/v1/sms/" + i["messageId"], key=kk)
        assert r.status == 200 and r.json["body"] == "STOP", r
    assert [x["messageId"] for x in inbound(gw, other)] == [i["messageId"]]
    # another tenant sees nothing of it
    _, stranger = gw.tenant_app()
    assert gw.get("/v1/sms/" + i["messageId"], key=stranger).status == 404
    assert inbound(gw, stranger) == []


def test_0008_inbound_heard_twice_is_stored_once():
    # The scheduler asks for the report (dlr_check_ms) long before the
    # simulator's own report (dlr_delay_ms) comes: both carry the STOP.
    g = Gateway(config=CONFIG.replace("dlr_delay_ms = 100", "dlr_delay_ms = 1500") +
                "actors = { scheduler = { dlr_check_ms = 100; }; };", base=False)
    try:
        g.start()
        _, k = g.tenant_app()
        mid = g.send(k, to="+15559870008", frm=FROM).json["messageId"]
        wait_for(lambda: g.status_of(k, mid) == "delivered", 30, "0008 delivered")
        first = wait_for(lambda: inbound(g, k), 30, "the inbound STOP")
        wait_for(lambda: "heard again" in open(g.log, errors="replace").read(), 30,
                 "the second report's STOP handled")
        again = inbound(g, k)
        assert [x["messageId"] for x in again] == [first[0]["messageId"]], again
    finally:
        g.cleanup()


try:
    gw.start()
    run([
        ("0001 sent, delivered", test_0001_delivered),
        ("0002 rejected, phone_invalid", test_0002_rejected_phone_invalid),
        ("0003 sent, delivered after slow_dlr_ms", test_0003_slow_report),
        ("0004 rejected, dnd_blocked", test_0004_rejected_dnd),
        ("0005 two retryable failures (sim, then sim_b), then sent", test_0005_two_failures_then_sent),
        ("0006 sim down: fails over to sim_b at once", test_0006_failover),
        ("0006 with a live key: default_route [sim, sim_b], failover",
         test_0006_live_key_follows_the_default_route),
        ("0007 permanent failure: failed, no failover", test_0007_permanent_no_failover),
        ("0008 delivered, then an inbound STOP (received)", test_0008_delivered_then_stop),
        ("0008 the same inbound SMS heard twice is stored once", test_0008_inbound_heard_twice_is_stored_once),
    ])
finally:
    gw.cleanup()
