"""RingCentral High Volume (A2P) SMS, end to end: the real smsgw binary sends
messages from an A2P number (the fake's +15557654321, owned by extension
200000002) through provider batches (POST a2p-sms/batches), follows them,
maps each recipient's result back to its message; other numbers keep using
POST .../sms. And a send whose answer is lost (the carrier made the message,
then the answer timed out) is looked up, never sent twice."""
import json

import gwtest
from fctest import JWT, FakeCarrier
from gwtest import ADMIN_KEY, Gateway, run, wait_for

A2P_FROM = "+15557654321"   # A2PSmsSender, extension 200000002
SMS_FROM = "+15551234567"   # SmsSender only, extension 200000001
JWT2 = "fake-jwt-ext2"      # logs in as extension 200000002
BATCH_MAX = 50

fc = FakeCarrier("--jwt", JWT, "--jwt", JWT2 + ":200000002").start()
gwtest.LIVE.append(fc)
CONFIG = """
limits = { app_key_per_min = 1000000; admin_key_per_min = 1000000;
           from_per_window = 1000000; from_window_s = 1; };
retry = { base_ms = 100; max_ms = 400; };
transport = { default_route = [ "ringcentral" ];
              ringcentral = { status_poll_ms = 200; status_polls = 8; numbers_miss_refresh_s = 0;
                              timeout_ms = 1000;
                              a2p_batch_max = %d; a2p_linger_ms = 3000;
                              a2p_status_poll_ms = 50;
                              lookup_lost_answers = %s; }; };
"""
gw = Gateway(base=False, config=CONFIG % (BATCH_MAX, "true"))
# the same, without the lookup of lost answers: shows the timeout case fails
# (a second copy is sent) when nothing resolves the timeout
gw_nolookup = Gateway(base=False, config=CONFIG % (BATCH_MAX, "false"))


def live_key(g, jwt=JWT2):
    tid = g.tenant()
    creds = dict(fc.creds(), jwt=jwt)
    r = g.request("PUT", "/v1/tenants/%s/connections/ringcentral" % tid, creds, key=ADMIN_KEY)
    assert r.status == 200, r
    return g.app(tid, mode="live")["apiKey"]


def message(g, key, mid):
    r = g.get("/v1/sms/" + mid, key=key)
    assert r.status == 200, r
    return r.json


def final(g, key, mids, statuses=("delivered", "failed", "rejected"), timeout=60):
    """Every message of mids in one of statuses: {mid: message}."""
    def all_final():
        got = {}
        for mid in mids:
            m = message(g, key, mid)
            if m["status"] not in statuses:
                return None
            got[mid] = m
        return got
    return wait_for(all_final, timeout, "%d messages in %s" % (len(mids), "/".join(statuses)),
                    interval=0.2)


def post_batch(g, key, body):
    r = g.post("/v1/sms/batches", raw=json.dumps(body).encode(), key=key)
    assert r.status == 202, r
    return r.json


def members(g, key, bid):
    out, cursor = [], None
    while True:
        r = g.get("/v1/sms/batches/%s/messages?limit=200%s"
                  % (bid, "&cursor=" + cursor if cursor else ""), key=key)
        assert r.status == 200, r
        out += r.json["data"]
        cursor = r.json["nextCursor"]
        if not cursor:
            return out


def fake_batches(since_count):
    """The fake's A2P batches made after the first since_count ones."""
    tok = fc.login(JWT2)["access_token"]
    r = fc.get("/restapi/v1.0/account/~/a2p-sms/batches?perPage=1000", token=tok)
    assert r.status == 200, r
    return r.json["records"][since_count:]


def fake_by_text(prefix):
    return [m for m in fc.messages() if m["text"].startswith(prefix)]


def test_a2p_batches_and_per_recipient_results():
    key = live_key(gw)
    n = 120
    tos = ["+1555600%04d" % i for i in range(n)]
    invalid = {tos[7], tos[64], tos[118]}        # the fake rejects them (SMS-RC-410)
    undeliverable = {tos[3], tos[55], tos[99]}   # accepted, then DeliveryFailed
    fc.config(invalid_to=sorted(invalid), undeliverable=sorted(undeliverable))
    before = fc.stats()
    nb = len(fake_batches(0))
    b = post_batch(gw, key, {"from": A2P_FROM, "text": "a2p hello",
                             "messages": [{"to": [t]} for t in tos]})
    assert b["batchSize"] == n and b["rejected"] == [], b
    mids = {m["to"]: m["messageId"] for m in members(gw, key, b["id"])}
    assert sorted(mids) == sorted(tos), len(mids)
    got = final(gw, key, list(mids.values()))
    after = fc.stats()
    # the A2P path, not /sms: batches of at most a2p_batch_max
    assert after["sms_requests"] == before["sms_requests"], (before, after)
    batches = fake_batches(nb)
    assert sorted(x["batchSize"] for x in batches) == [20, BATCH_MAX, BATCH_MAX], batches
    assert all(x["from"] == A2P_FROM for x in batches), batches
    fake = {m["to"][0]: m for m in fake_by_text("a2p hello")}
    assert all(m["api"] == "a2p" for m in fake.values()), list(fake.values())[:2]
    assert len(fake_by_text("a2p hello")) == n - len(invalid), "a recipient got two copies"
    for to, mid in mids.items():
        m = got[mid]
        if to in invalid:
            assert m["status"] == "rejected", m
            assert m["providerAttempts"][-1]["errorCode"] == "SMS-RC-410", m
            assert "invalid" in m["error"], m
            assert to not in fake
            continue
        assert m["rcMessageId"] == str(fake[to]["id"]), (m, fake[to])
        assert [e["status"] for e in m["events"]][:3] == ["queued", "sending", "sent"], m
        if to in undeliverable:
            assert m["status"] == "failed" and "DeliveryFailed" in m["error"], m
        else:
            assert m["status"] == "delivered", m
        assert len(m["providerAttempts"]) == 1 and m["providerAttempts"][0]["ok"], m
    fc.config(invalid_to=[], undeliverable=[])


def test_single_sends_from_a2p_number():
    key = live_key(gw)
    before = fc.stats()["a2p"]["batch_requests"]
    mids = []
    for i in range(3):
        r = gw.send(key, to="+1555601%04d" % i, frm=A2P_FROM, body="single a2p %d" % i)
        assert r.status == 202, r
        mids.append(r.json["messageId"])
    got = final(gw, key, mids, ("delivered",))
    fake = {m["text"]: m for m in fake_by_text("single a2p ")}
    assert len(fake) == 3 and all(m["api"] == "a2p" for m in fake.values()), fake
    assert fc.stats()["a2p"]["batch_requests"] > before
    for i, mid in enumerate(mids):
        assert got[mid]["rcMessageId"] == str(fake["single a2p %d" % i]["id"]), got[mid]


def test_non_a2p_number_uses_sms():
    key = live_key(gw, JWT)
    before = fc.stats()
    r = gw.send(key, to="+15556020001", frm=SMS_FROM, body="plain sms path")
    assert r.status == 202, r
    m = final(gw, key, [r.json["messageId"]], ("delivered",))[r.json["messageId"]]
    after = fc.stats()
    assert after["a2p"]["batch_requests"] == before["a2p"]["batch_requests"], after
    assert after["sms_requests"] == before["sms_requests"] + 1, (before, after)
    (fake,) = fake_by_text("plain sms path")
    assert fake["api"] == "sms" and m["rcMessageId"] == str(fake["id"]), (m, fake)


def test_batch_503_is_retried_nothing_lost_nothing_twice():
    key = live_key(gw)
    tos = ["+1555603%04d" % i for i in range(10)]
    fc.config(fail_next=["503"])
    before = fc.stats()["a2p"]["batch_requests"]
    b = post_batch(gw, key, {"from": A2P_FROM, "text": "after a 503",
                             "messages": [{"to": [t]} for t in tos]})
    mids = [m["messageId"] for m in members(gw, key, b["id"])]
    got = final(gw, key, mids)
    assert fc.stats()["a2p"]["batch_requests"] >= before + 2
    for m in got.values():
        assert m["status"] == "delivered", m
        att = m["providerAttempts"]
        assert [a["ok"] for a in att] == [False, True], att
        assert att[0]["errorCode"] == "provider_error", att
    fake = fake_by_text("after a 503")
    assert sorted(x["to"][0] for x in fake) == tos, fake  # each once


def lost_answer_case(g, key, frm, text, tos):
    """The carrier makes the message, then its answer times out."""
    fc.config(timeout_after_create=True, timeout_hold_ms=2500, fail_next=["timeout"])
    try:
        if len(tos) == 1:
            r = g.send(key, to=tos[0], frm=frm, body=text)
            assert r.status == 202, r
            mids = [r.json["messageId"]]
        else:
            b = post_batch(g, key, {"from": frm, "text": text,
                                    "messages": [{"to": [t]} for t in tos]})
            mids = [m["messageId"] for m in members(g, key, b["id"])]
        return final(g, key, mids, ("sent", "delivered", "failed"))
    finally:
        fc.config(timeout_after_create=False)


def test_lost_sms_answer_is_looked_up():
    key = live_key(gw, JWT)
    timeouts = fc.stats()["timeouts"]
    got = lost_answer_case(gw, key, SMS_FROM, "lost answer sms", ["+15556040001"])
    (m,) = got.values()
    assert fc.stats()["timeouts"] == timeouts + 1  # the fault did fire
    fake = fake_by_text("lost answer sms")
    assert len(fake) == 1, fake
    assert m["status"] in ("sent", "delivered") and m["rcMessageId"] == str(fake[0]["id"]), m
    assert [a["ok"] for a in m["providerAttempts"]] == [True], m
    # a timeout before anything was made: not found, retried, one copy
    fc.config(timeout_hold_ms=2500, fail_next=["timeout"])
    r = gw.send(key, to="+15556040002", frm=SMS_FROM, body="timeout, nothing made")
    mid = r.json["messageId"]
    m = final(gw, key, [mid], ("delivered", "failed"))[mid]
    att = m["providerAttempts"]
    assert [a["ok"] for a in att] == [False, True] and att[0]["errorCode"] == "timeout", att
    assert len(fake_by_text("timeout, nothing made")) == 1


def test_lost_batch_answer_is_looked_up():
    key = live_key(gw)
    tos = ["+1555605%04d" % i for i in range(5)]
    got = lost_answer_case(gw, key, A2P_FROM, "lost answer a2p", tos)
    copies = fake_by_text("lost answer a2p")
    fake = {x["to"][0]: x for x in copies}
    assert sorted(x["to"][0] for x in copies) == tos, copies  # one copy each
    for m in got.values():
        assert m["status"] in ("sent", "delivered"), m
        assert m["rcMessageId"] == str(fake[m["to"]]["id"]), m
        assert [a["ok"] for a in m["providerAttempts"]] == [True], m


def test_without_lookup_a_lost_answer_sends_twice():
    """The control: the same case with lookup_lost_answers = false retries
    at once and the recipient gets two copies (what the lookup prevents)."""
    gw_nolookup.start()
    key = live_key(gw_nolookup, JWT)
    lost_answer_case(gw_nolookup, key, SMS_FROM, "no lookup control", ["+15556060001"])
    assert len(fake_by_text("no lookup control")) == 2


def test_drain_waits_for_gathering_batch():
    """SIGTERM while messages wait in a gathering batch (linger 3 s): the
    drain waits for them (inflight counts them), the batch is posted, and
    the process exits cleanly (0: under ASan, no error or leak report)."""
    key = live_key(gw)
    mids = []
    for i in range(5):
        r = gw.send(key, to="+1555607%04d" % i, frm=A2P_FROM, body="drained a2p")
        assert r.status == 202, r
        mids.append(r.json["messageId"])
    wait_for(lambda: all(message(gw, key, m)["status"] == "sending" for m in mids), 30,
             "messages handed to the adapter")
    assert not fake_by_text("drained a2p")  # still gathering
    assert gw.stop() == 0, gw.log_tail()
    with open(gw.log, errors="replace") as f:
        log = f.read()
    assert "AddressSanitizer" not in log and "runtime error" not in log, log[-3000:]
    assert sorted(x["to"][0] for x in fake_by_text("drained a2p")) == \
        ["+1555607%04d" % i for i in range(5)]


if __name__ == "__main__":
    gw.start()
    try:
        run([("A2P numbers send through provider batches; per-recipient results map back",
              test_a2p_batches_and_per_recipient_results),
             ("single sends from an A2P number go through A2P too",
              test_single_sends_from_a2p_number),
             ("a non-A2P number keeps using POST .../sms", test_non_a2p_number_uses_sms),
             ("a batch POST answered 503 is retried: nothing lost, nothing twice",
              test_batch_503_is_retried_nothing_lost_nothing_twice),
             ("a lost /sms answer is looked up: sent once, with the carrier's id",
              test_lost_sms_answer_is_looked_up),
             ("a lost batch answer is looked up: sent once, with the carrier's ids",
              test_lost_batch_answer_is_looked_up),
             ("control: without the lookup a lost answer means a second copy",
              test_without_lookup_a_lost_answer_sends_twice),
             ("a drain waits for a gathering batch; clean exit",
              test_drain_waits_for_gathering_batch)])
    finally:
        gw.cleanup()
        gw_nolookup.cleanup()
        fc.cleanup()
