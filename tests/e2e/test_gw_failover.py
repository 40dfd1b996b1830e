"""Failover between real provider adapters (issue 6): a tenant's route
["ringcentral", "twilio"], RingCentral from one bench/fakecarrier process
and Twilio from another (so RingCentral's faults leave Twilio alone; both
fakes own the number +15551234567).

  - RingCentral answers 503: the message goes to Twilio at once, one send
    in all, both attempts in providerAttempts;
  - RingCentral keeps failing: its circuit (this tenant's connection) opens
    (smsgw_provider_circuit_state 2), later messages go straight to Twilio;
    once RingCentral is well, the breaker half-opens, its probes succeed and
    it closes again, and messages go to RingCentral first;
  - a RingCentral call times out after RingCentral stored the message: the
    adapter finds it there, so the message is `sent` with RingCentral's id
    and Twilio never sees it (no double send);
  - a call times out and RingCentral never stored it: then it fails over,
    and the recipient gets exactly one copy, from Twilio.
Every wait polls with a timeout; nothing asserts a duration."""
import re

import gwtest
from fctest import FakeCarrier
from gwtest import ADMIN_KEY, Gateway, run, wait_for

NUM = "+15551234567"
TW_SID = "AC00000000000000000000000000000001"
TW_TOKEN = "fake-twilio-token"

rc = FakeCarrier().start()
tw = FakeCarrier("--tw-number", NUM).start()
gwtest.LIVE += [rc, tw]
gw = Gateway(base=False, config="""
limits = { app_key_per_min = 1000000; admin_key_per_min = 1000000; };
retry = { base_ms = 100; max_ms = 400; max_retries = 3; };
transport = { default_route = [ "sim" ];
              circuit = { min_calls = 4; failure_ratio = 0.5; open_ms = 4000; probes = 2;
                          window_s = 60; };
              ringcentral = { status_poll_ms = 200; timeout_ms = 1500;
                              oauth = { client_id = "fake-client-id";
                                        client_secret = "fake-client-secret";
                                        server_url = "%s"; }; };
              twilio = { base_url = "%s"; timeout_ms = 1500; }; };
""" % (rc.url, tw.url)).start()


def setup_tenant():
    tid = gw.tenant()
    r = gw.request("PUT", "/v1/tenants/%s/connections/ringcentral" % tid, rc.creds(),
                   key=ADMIN_KEY)
    assert r.status == 200, r
    r = gw.request("PUT", "/v1/tenants/%s/connections/twilio" % tid,
                   {"accountSid": TW_SID, "authToken": TW_TOKEN}, key=ADMIN_KEY)
    assert r.status == 200, r
    r = gw.request("PUT", "/v1/tenants/%s/route" % tid, {"providers": ["ringcentral", "twilio"]},
                   key=ADMIN_KEY)
    assert r.status == 200, r
    return tid, gw.app(tid, mode="live")["apiKey"]


def send(key, to):
    r = gw.send(key, to=to, frm=NUM)
    assert r.status == 202, r
    return r.json["messageId"]


def message(key, mid):
    r = gw.get("/v1/sms/" + mid, key=key)
    assert r.status == 200, r
    return r.json


def settled(key, mid, want=("sent", "delivered"), timeout=60):
    return wait_for(lambda: (lambda m: m if m["status"] in want else None)(message(key, mid)),
                    timeout, "%s to be %s" % (mid, "/".join(want)))


def attempts(m):
    return [(a["provider"], a["ok"]) for a in m["providerAttempts"]]


def copies(fake, to, provider):
    r = fake.get("/_fake/messages?direction=Outbound&provider=%s&limit=100000" % provider)
    assert r.status == 200, r
    return [x for x in r.json["messages"]
            if (x.get("to") == to or (isinstance(x.get("to"), list) and
                                      any((t.get("phoneNumber") if isinstance(t, dict) else t)
                                          == to for t in x["to"])))]


def circuit(tid, provider="ringcentral"):
    m = re.search(r'^smsgw_provider_circuit_state\{provider="%s",tenant="%s"\} (\d)$'
                  % (provider, tid), gw.get("/metrics").raw, re.M)
    return int(m.group(1)) if m else None


def knobs(fake, **k):
    r = fake.post("/_fake/config", k)
    assert r.status == 200, r


def test_503_fails_over_to_twilio():
    tid, key = setup_tenant()
    knobs(rc, fail_next=["503"])
    to = "+15559871001"
    mid = send(key, to)
    m = settled(key, mid)
    assert attempts(m) == [("ringcentral", False), ("twilio", True)], m["providerAttempts"]
    assert m["provider"] == "twilio" and m["rcMessageId"].startswith("SM"), m
    assert len(copies(tw, to, "twilio")) == 1 and copies(rc, to, "ringcentral") == []


def test_circuit_opens_skips_and_closes():
    tid, key = setup_tenant()
    knobs(rc, rate_5xx=1.0)
    first = [send(key, "+155598720%02d" % i) for i in range(6)]
    for mid in first:
        m = settled(key, mid)
        assert m["provider"] == "twilio", m
    wait_for(lambda: circuit(tid) == 2, 30, "RingCentral's circuit for the tenant to open")
    assert circuit(tid, "twilio") == 0, "twilio's breaker must stay closed"
    # open: RingCentral is skipped, no attempt there
    to = "+15559872100"
    mid = send(key, to)
    m = settled(key, mid)
    assert circuit(tid) == 2, "half-opened before the check: raise open_ms"
    assert attempts(m) == [("twilio", True)], m["providerAttempts"]
    # RingCentral recovers; after open_ms the breaker half-opens and probes
    knobs(rc, rate_5xx=0.0)
    wait_for(lambda: circuit(tid) == 1, 60, "RingCentral's circuit to half-open")
    probes = [send(key, "+155598722%02d" % i) for i in range(2)]
    for mid in probes:
        m = settled(key, mid)
        assert attempts(m) == [("ringcentral", True)], m["providerAttempts"]
    wait_for(lambda: circuit(tid) == 0, 30, "RingCentral's circuit to close")
    m = settled(key, send(key, "+15559872300"))
    assert attempts(m) == [("ringcentral", True)], m["providerAttempts"]


def test_timeout_after_create_is_not_sent_twice():
    tid, key = setup_tenant()
    knobs(rc, fail_next=["timeout"], timeout_after_create=1, timeout_hold_ms=4000)
    to = "+15559873001"
    mid = send(key, to)
    m = settled(key, mid)
    stored = copies(rc, to, "ringcentral")
    assert len(stored) == 1, stored
    assert copies(tw, to, "twilio") == [], "sent twice: RingCentral kept it, Twilio got it too"
    assert m["provider"] == "ringcentral" and m["rcMessageId"] == str(stored[0]["id"]), \
        (m, stored)
    knobs(rc, timeout_after_create=0)


def test_timeout_before_create_fails_over_once():
    tid, key = setup_tenant()
    knobs(rc, fail_next=["timeout"], timeout_after_create=0, timeout_hold_ms=4000)
    to = "+15559874001"
    mid = send(key, to)
    m = settled(key, mid)
    assert copies(rc, to, "ringcentral") == [], "RingCentral was not to keep it"
    assert len(copies(tw, to, "twilio")) == 1
    assert attempts(m) == [("ringcentral", False), ("twilio", True)], m["providerAttempts"]
    assert m["providerAttempts"][0]["errorCode"] == "timeout", m["providerAttempts"]


try:
    run([
        ("RingCentral 503: failover to Twilio, one send", test_503_fails_over_to_twilio),
        ("RingCentral failing: circuit opens, skips, half-opens, closes",
         test_circuit_opens_skips_and_closes),
        ("timeout after RingCentral stored it: found there, Twilio never sends",
         test_timeout_after_create_is_not_sent_twice),
        ("timeout before RingCentral stored it: one copy, from Twilio",
         test_timeout_before_create_fails_over_once),
    ])
finally:
    gw.cleanup()
    rc.cleanup()
    tw.cleanup()
