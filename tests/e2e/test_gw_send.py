"""Sending and reading: the Gravity contract, the lifecycle through the
simulator, listing and paging, scheduling and cancel, simulator stories."""
import datetime
import re
import signal
import threading

from gwtest import ADMIN_KEY, Gateway, expect_error, run, wait_for

gw = Gateway(config="retry = { base_ms = 50; max_ms = 200; };")
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
STATUS_KEYS = {"messageId", "status", "rcMessageId", "error", "to", "from", "body",
               "createdAt", "updatedAt"}


def delivered(key, mid):
    return wait_for(lambda: gw.status_of(key, mid) == "delivered", 30, mid + " delivered")


def test_gravity_seed_example():
    _, key = gw.tenant_app()
    # the seed's own request body, unchanged
    r = gw.post("/v1/sms/send", {"to": "+15559876543", "from": "+15551234567",
                                 "body": "Your verification code is 123456"}, key=key)
    assert r.status == 202, r
    assert re.match(r"^msg_[0-9a-f]{12}$", r.json["messageId"]), r.json
    assert r.json["status"] == "queued"
    assert r.json["segments"] == 1 and r.json["encoding"] == "GSM7"
    assert r.json["test"] is True
    mid = r.json["messageId"]
    delivered(key, mid)
    s = gw.get("/v1/sms/status/" + mid, key=key)
    assert s.status == 200
    assert set(s.json) == STATUS_KEYS, set(s.json) ^ STATUS_KEYS
    assert s.json["error"] is None
    assert s.json["rcMessageId"].startswith("sim_")
    assert s.json["to"] == "+15559876543" and s.json["from"] == "+15551234567"
    assert s.json["body"] == "Your verification code is 123456"
    assert TS.match(s.json["createdAt"]) and TS.match(s.json["updatedAt"])


def test_full_message_and_events():
    _, key = gw.tenant_app()
    r = gw.send(key, body="hi", userId="user-42")
    mid = r.json["messageId"]
    delivered(key, mid)
    m = gw.get("/v1/sms/" + mid, key=key).json
    assert STATUS_KEYS <= set(m)
    for k in ("userId", "segments", "encoding", "country", "sendAt", "batchId", "test",
              "cost", "provider", "providerAttempts", "events"):
        assert k in m, k
    assert m["userId"] == "user-42" and m["country"] == "US" and m["provider"] == "sim"
    assert [e["status"] for e in m["events"]] == ["queued", "sending", "sent", "delivered"]
    assert len(m["providerAttempts"]) == 1 and m["providerAttempts"][0]["ok"] is True
    assert m["providerAttempts"][0]["providerMessageId"] == m["rcMessageId"]


def test_encoding_and_segments():
    _, key = gw.tenant_app()
    r = gw.send(key, body="a" * 161)
    assert (r.json["segments"], r.json["encoding"]) == (2, "GSM7"), r.json
    r = gw.send(key, body="hello \U0001F600")
    assert r.json["encoding"] == "UCS2" and r.json["segments"] == 1, r.json
    r = gw.send(key, body="\u00e9" * 1600)  # 1600 code points, 3200 bytes, GSM-7
    assert r.status == 202 and r.json["segments"] == 11, r


def test_list_paging_and_filters():
    _, key = gw.tenant_app()
    ids = [gw.send(key, to="+1555987%04d" % (1000 + i), userId="u%d" % (i % 2)).json["messageId"]
           for i in range(7)]
    seen, cursor, pages = [], None, 0
    while True:
        r = gw.get("/v1/sms?limit=3" + ("&cursor=" + cursor if cursor else ""), key=key)
        assert r.status == 200, r
        seen += [m["messageId"] for m in r.json["data"]]
        cursor = r.json["nextCursor"]
        pages += 1
        if not cursor:
            break
    assert seen == list(reversed(ids)), (seen, ids)  # newest first, each once
    assert pages == 3
    u1 = gw.get("/v1/sms?userId=u1", key=key).json["data"]
    assert sorted(m["messageId"] for m in u1) == sorted(ids[1::2])
    one = gw.get("/v1/sms?to=%2B15559871003", key=key).json["data"]
    assert [m["messageId"] for m in one] == [ids[3]]
    for mid in ids:
        delivered(key, mid)
    assert len(gw.get("/v1/sms?status=delivered&limit=200", key=key).json["data"]) == 7
    assert gw.get("/v1/sms?status=queued", key=key).json["data"] == []
    assert gw.get("/v1/sms?direction=inbound", key=key).json["data"] == []


def test_cancel_races_the_scheduler():
    """Cancels hammering messages as their sendAt comes: each message is
    either cancelled (and never sent) or sent (and every cancel refused)."""
    _, key = gw.tenant_app()
    at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=2)
    stamp = at.isoformat().replace("+00:00", "Z")
    ids = [gw.send(key, to="+1555987%04d" % (100 + i), sendAt=stamp).json["messageId"]
           for i in range(20)]
    answers = {mid: [] for mid in ids}

    def hammer(mid):
        g = Gateway.__new__(Gateway)  # a connection of its own to the same server
        g.port, g.conn = gw.port, None
        end = at + datetime.timedelta(seconds=1)
        while datetime.datetime.now(datetime.timezone.utc) < end:
            r = g.post("/v1/sms/%s/cancel" % mid, key=key)
            answers[mid].append(r.status)
            if r.status == 409:
                break
        g.close_conn()
    threads = [threading.Thread(target=hammer, args=(mid,)) for mid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for mid in ids:
        got = set(answers[mid])
        assert got <= {200, 409}, answers[mid]
        m = wait_for(lambda: (lambda x: x if x["status"] in ("cancelled", "delivered") else None)(
            gw.get("/v1/sms/" + mid, key=key).json), 30, mid + " settled")
        if 200 in got:  # a cancel won: never sent
            assert m["status"] == "cancelled" and m["providerAttempts"] == [], m
            assert got == {200}, answers[mid]  # and every later cancel agrees
        else:
            assert m["status"] == "delivered", m


def test_schedule_and_cancel():
    _, key = gw.tenant_app()
    soon = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=2))
    r = gw.send(key, sendAt=soon.isoformat().replace("+00:00", "Z"))
    assert r.status == 202 and r.json["status"] == "scheduled", r
    mid = r.json["messageId"]
    assert gw.status_of(key, mid) == "scheduled"
    delivered(key, mid)
    events = [e["status"] for e in gw.get("/v1/sms/" + mid, key=key).json["events"]]
    assert events == ["scheduled", "queued", "sending", "sent", "delivered"], events
    # cancel: while scheduled 200, again 200, after that 409
    later = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1))
    mid2 = gw.send(key, send_at=later.strftime("%Y-%m-%dT%H:%M:%SZ")).json["messageId"]
    for _ in range(2):
        c = gw.post("/v1/sms/%s/cancel" % mid2, key=key)
        assert c.status == 200 and c.json == {"messageId": mid2, "status": "cancelled"}, c
    assert gw.status_of(key, mid2) == "cancelled"
    expect_error(gw.post("/v1/sms/%s/cancel" % mid, key=key), 409, "conflict")


def test_simulator_stories():
    _, key = gw.tenant_app()
    rej = gw.send(key, to="+15559870002").json["messageId"]
    retry = gw.send(key, to="+15559870005").json["messageId"]
    perm = gw.send(key, to="+15559870007").json["messageId"]
    wait_for(lambda: gw.status_of(key, rej) == "rejected", 30, "0002 rejected")
    m = gw.get("/v1/sms/" + rej, key=key).json
    assert m["errorCode"] == "phone_invalid" and m["error"], m
    wait_for(lambda: gw.status_of(key, perm) == "failed", 30, "0007 failed")
    assert gw.get("/v1/sms/status/" + perm, key=key).json["error"]
    delivered(key, retry)
    m = gw.get("/v1/sms/" + retry, key=key).json
    assert [a["ok"] for a in m["providerAttempts"]] == [False, False, True], m["providerAttempts"]


def test_admin_reads_any_message_and_lists_by_tenant():
    tid, key = gw.tenant_app()
    mid = gw.send(key).json["messageId"]
    assert gw.get("/v1/sms/status/" + mid, key=ADMIN_KEY).status == 200
    r = gw.get("/v1/sms?tenantId=" + tid, key=ADMIN_KEY)
    assert [m["messageId"] for m in r.json["data"]] == [mid], r
    expect_error(gw.get("/v1/sms", key=ADMIN_KEY), 400, "validation_error")


def test_sigterm_drains_and_exits_zero():
    _, key = gw.tenant_app()
    mids = [gw.send(key).json["messageId"] for _ in range(20)]
    assert gw.stop(signal.SIGTERM) == 0, gw.log_tail()
    gw.start()
    for mid in mids:  # everything acknowledged before the drain completes
        delivered(key, mid)


try:
    gw.start()
    run([
        ("the seed's curl example: 202, then Gravity's exact status object", test_gravity_seed_example),
        ("full message: fields, attempts, events queued..delivered", test_full_message_and_events),
        ("encoding and segments are returned on send", test_encoding_and_segments),
        ("list: newest first, cursor paging, filters", test_list_paging_and_filters),
        ("sendAt schedules; cancel 200, 200 again, 409 after", test_schedule_and_cancel),
        ("cancel races the scheduler: cancelled and never sent, or sent and refused",
         test_cancel_races_the_scheduler),
        ("simulator stories 0002, 0005, 0007", test_simulator_stories),
        ("admin reads any message; lists need tenantId", test_admin_reads_any_message_and_lists_by_tenant),
        ("SIGTERM drains, exits 0, and everything resumes", test_sigterm_drains_and_exits_zero),
    ])
finally:
    gw.cleanup()
