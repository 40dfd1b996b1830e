"""Delivery through RingCentral, end to end: the real smsgw binary sends
through transport/ringcentral.c to bench/fakecarrier (a fake RingCentral
speaking its REST API, transport/README.md) over loopback."""
import datetime
import http.client
import os
import urllib.parse

import gwtest
from fctest import CLIENT_SECRET, JWT, FakeCarrier
from gwtest import ADMIN_KEY, Gateway, expect_error, run, wait_for

FROM = "+15551234567"      # the fake's number of extension 200000001
FROM_EXT2 = "+15557654321"  # owned by extension 200000002

fc = FakeCarrier().start()
gwtest.LIVE.append(fc)  # its log too when a case fails
SECRETS = (CLIENT_SECRET, JWT)
# the whole config here: libconfig refuses a group given twice
gw = Gateway(base=False, config="""
limits = { app_key_per_min = 1000000; admin_key_per_min = 1000000;
           from_per_window = 10; from_window_s = 1; from_retry_delay_ms = 200; };
retry = { base_ms = 100; max_ms = 400; };
transport = { default_route = [ "ringcentral" ];
              ringcentral = { status_poll_ms = 200; numbers_miss_refresh_s = 0;
                              timeout_ms = 3000;
                              oauth = { client_id = "fake-client-id";
                                        client_secret = "fake-client-secret";
                                        server_url = "%s"; }; }; };
""" % fc.url)
ANSWERS = []  # every smsgw answer body, searched for secrets at the end


def ts(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def req(method, path, body=None, key=ADMIN_KEY):
    r = gw.request(method, path, body, key=key)
    ANSWERS.append(r.raw)
    return r


def connect(tenant, creds=None):
    return req("PUT", "/v1/tenants/%s/connections/ringcentral" % tenant, creds or fc.creds())


def live_app():
    tid = gw.tenant()
    r = connect(tid)
    assert r.status == 200, r
    return tid, gw.app(tid, mode="live")["apiKey"]


def message(key, mid):
    r = req("GET", "/v1/sms/" + mid, key=key)
    assert r.status == 200, r
    return r.json


def final(key, mid, statuses=("sent", "delivered", "failed", "rejected"), timeout=30):
    return wait_for(lambda: (lambda m: m if m["status"] in statuses else None)(message(key, mid)),
                    timeout, mid + " in " + "/".join(statuses))


def send(key, to, frm=FROM, body="hello"):
    r = gw.send(key, to=to, frm=frm, body=body)
    ANSWERS.append(r.raw)
    assert r.status == 202, r
    return r.json["messageId"]


def test_connect_checks_credentials():
    tid = gw.tenant()
    path = "/v1/tenants/%s/connections/ringcentral" % tid
    expect_error(connect(tid, dict(fc.creds(), jwt="not-the-jwt")), 400, "validation_error")
    r = connect(tid, dict(fc.creds(), jwt="not-the-jwt"))
    assert r.json["error"].startswith("RingCentral rejected the credentials: "), r
    expect_error(connect(tid, dict(fc.creds(), clientSecret="wrong")), 400, "validation_error")
    dead = dict(fc.creds(), serverUrl="http://127.0.0.1:1")
    expect_error(connect(tid, dead), 502, "provider_unavailable")
    for field in ("serverUrl", "clientId", "clientSecret", "jwt"):
        body = fc.creds()
        del body[field]
        expect_error(connect(tid, body), 400, "validation_error")
        expect_error(connect(tid, dict(fc.creds(), **{field: 7})), 400, "validation_error")
    expect_error(connect(tid, dict(fc.creds(), serverUrl="http://example.com")), 400,
                 "validation_error")
    expect_error(req("PUT", path, None), 400, "validation_error")
    r = gw.request("PUT", path, raw=b"{not json", key=ADMIN_KEY)
    expect_error(r, 400, "validation_error", "Invalid JSON")
    # nothing was stored by any of those
    expect_error(req("GET", path), 404, "not_found", "RingCentral not connected for this tenant")
    expect_error(req("PUT", "/v1/tenants/tenant_0000000000000000/connections/ringcentral",
                     fc.creds()), 404, "not_found")
    expect_error(req("PUT", "/v1/tenants/%s/connections/carrier-pigeon" % tid, fc.creds()), 404,
                 "not_found", "Unknown provider")
    # an app key may not connect, and sees only its own tenant's connection
    key = gw.app(tid, mode="live")["apiKey"]
    expect_error(req("PUT", path, fc.creds(), key=key), 403, "forbidden")
    r = connect(tid)
    assert r.status == 200, r
    assert r.json["connected"] is True and r.json["serverUrl"] == fc.url
    assert FROM in r.json["numbers"] and FROM_EXT2 not in r.json["numbers"], r
    for secret in SECRETS:
        assert secret not in r.raw
    r = req("GET", path, key=key)
    assert r.status == 200 and r.json["clientId"] == "fake-client-id", r
    other_key = gw.app(gw.tenant(), mode="live")["apiKey"]
    expect_error(req("GET", path, key=other_key), 404, "not_found")
    expect_error(req("DELETE", path, key=key), 403, "forbidden")
    r = req("DELETE", path)
    assert r.status == 200 and r.json["connected"] is False, r
    expect_error(req("GET", path), 404, "not_found")


def test_unconnected_tenant_fails_live_sends():
    tid = gw.tenant()
    key = gw.app(tid, mode="live")["apiKey"]
    mid = send(key, "+15559870101")
    m = final(key, mid, ("failed",))
    assert m["error"] == "RingCentral not connected for this tenant", m


def test_happy_path():
    _, key = live_app()
    mid = send(key, "+15559870102", body="Your code is 123456")
    m = final(key, mid, ("sent", "delivered"))
    got = [x for x in fc.messages() if x["text"] == "Your code is 123456"]
    assert len(got) == 1, got
    assert m["rcMessageId"] == str(got[0]["id"]), (m, got)
    assert got[0]["from"] == FROM and "+15559870102" in str(got[0]["to"]), got
    m = final(key, mid, ("delivered",))
    assert [e["status"] for e in m["events"]] == ["queued", "sending", "sent", "delivered"], m
    assert m["provider"] == "ringcentral"
    st = req("GET", "/v1/sms/status/" + mid, key=key).json
    assert st["rcMessageId"] == str(got[0]["id"]) and st["error"] is None, st
    # a number of the account's other extension: RingCentral sends SMS only
    # as the number's own extension, so the connected user cannot use it
    mid2 = send(key, "+15559870103", frm=FROM_EXT2, body="from ext 2")
    m2 = final(key, mid2, ("failed",))
    assert m2["error"].startswith("Phone number %s belongs to another extension (200000002)"
                                  % FROM_EXT2), m2
    assert not [x for x in fc.messages() if x["text"] == "from ext 2"]


def test_503_twice_then_sent():
    _, key = live_app()
    fc.config(fail_next=["503", "503"])
    mid = send(key, "+15559870104", body="third time lucky")
    m = final(key, mid, ("sent", "delivered", "failed"))
    assert m["status"] in ("sent", "delivered"), m
    att = m["providerAttempts"]
    assert [a["ok"] for a in att] == [False, False, True], att
    assert all(a["provider"] == "ringcentral" for a in att)
    assert att[2]["providerMessageId"] == m["rcMessageId"]
    assert len([x for x in fc.messages() if x["text"] == "third time lucky"]) == 1


def test_unregistered_number_fails_at_once():
    _, key = live_app()
    mid = send(key, "+15559870105", frm="+15553333333")
    m = final(key, mid, ("failed",))
    assert m["error"] == ("Phone number +15553333333 is not registered in this RingCentral "
                          "account"), m
    assert len(m["providerAttempts"]) == 1, m
    # the fake carrier's own refusal (a number it lists as not SMS-capable)
    mid = send(key, "+15559870106", frm="+15550000000")
    m = final(key, mid, ("failed",))
    assert m["error"].startswith("Phone number +15550000000 "), m
    assert len(m["providerAttempts"]) == 1, m


def test_token_expiry_is_refreshed():
    _, key = live_app()
    final(key, send(key, "+15559870107"), ("sent", "delivered"))
    before = fc.stats()
    r = fc.post("/_fake/expire-tokens")
    assert r.status == 200, r
    ids = [send(key, "+15559870108", body="after expiry %d" % i) for i in range(3)]
    for mid in ids:
        m = final(key, mid, ("sent", "delivered", "failed"))
        assert m["status"] in ("sent", "delivered"), m
        assert [a["ok"] for a in m["providerAttempts"]] == [True], m
    after = fc.stats()
    assert sum(after["token_requests"].values()) > sum(before["token_requests"].values()), after


def test_429_is_waited_out():
    _, key = live_app()
    fc.config(fail_next=["429"], retry_after_s=1)
    mid = send(key, "+15559870109", body="rate limited once")
    m = final(key, mid, ("sent", "delivered", "failed"))
    assert m["status"] in ("sent", "delivered"), m
    a1, a2 = m["providerAttempts"]
    assert not a1["ok"] and a2["ok"], m
    # Retry-After: 1 was honoured (a lower bound: correctness, not speed)
    assert ts(a2["startedAt"]) - ts(a1["finishedAt"]) >= 0.99, m


def test_paced_and_in_order():
    _, key = live_app()
    ids = [send(key, "+15559871%03d" % i, body="paced %03d" % i) for i in range(100)]
    for mid in ids:
        m = final(key, mid, ("sent", "delivered", "failed"), timeout=60)
        assert m["status"] in ("sent", "delivered"), m
    got = [x["text"] for x in fc.messages() if x["text"].startswith("paced ")]
    want = ["paced %03d" % i for i in range(100)]
    if got != want:  # the messages around the first difference, to see why
        k = next(i for i, (a, b) in enumerate(zip(got, want)) if a != b)
        near = {i: message(key, ids[i]) for i in range(max(0, k - 1), min(100, k + 3))}
        raise AssertionError("out of order at %d: %r\n%s" % (k, got[k - 1:k + 3], "\n".join(
            "%d: events %s attempts %s" % (i, [(e["status"], e["at"]) for e in m["events"]],
                                           [(a["startedAt"], a["errorCode"])
                                            for a in m["providerAttempts"]])
            for i, m in near.items())))
    # 10 per second: the 100 took at least 9 windows (a bound on pacing, not on speed)
    first, last = message(key, ids[0]), message(key, ids[-1])
    sent_at = [e["at"] for e in last["events"] if e["status"] == "sent"][0]
    first_at = [e["at"] for e in first["events"] if e["status"] == "sent"][0]
    assert ts(sent_at) - ts(first_at) >= 8.9, (first_at, sent_at)


def raw_get(port, path_and_query):
    """One GET that does not follow redirects: (status, headers, body)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("GET", path_and_query)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode()
    finally:
        c.close()


def test_oauth_connect_flow():
    tid = gw.tenant()
    key = gw.app(tid, mode="live")["apiKey"]
    st = req("GET", "/v1/rc/status", key=key)
    assert st.status == 200 and st.json["connected"] is False, st
    r = req("POST", "/v1/rc/connect-token", key=key)
    assert r.status == 200 and r.json["expiresIn"] == 300, r
    url = r.json["connectUrl"]
    assert url.startswith("/v1/rc/connect?token=rct_"), r
    token = url.split("token=", 1)[1]
    # the page does not use the token up
    for _ in range(2):
        status, hdr, page = raw_get(gw.port, url)
        assert status == 200 and hdr["content-type"].startswith("text/html"), (status, page)
        assert 'action="/v1/rc/connect"' in page and token in page
    expect_error(req("GET", "/v1/rc/connect?token=rct_" + "0" * 64, key=None), 400,
                 "validation_error", "Invalid or expired token")
    # the form post uses it: 303 to RingCentral's authorize page
    r = gw.request("POST", "/v1/rc/connect", raw=("token=" + token).encode(),
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 303, r
    loc = r.headers["location"]
    assert loc.startswith(fc.url + "/restapi/oauth/authorize?"), loc
    q = urllib.parse.parse_qs(urllib.parse.urlparse(loc).query)
    assert q["client_id"] == ["fake-client-id"] and q["response_type"] == ["code"], q
    assert q["redirect_uri"] == ["http://127.0.0.1:%d/v1/rc/callback" % gw.port], q
    r = gw.request("POST", "/v1/rc/connect", raw=("token=" + token).encode(),
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    expect_error(r, 400, "validation_error", "Invalid or expired token")
    # RingCentral (the fake) approves and sends the browser back
    status, hdr, _ = raw_get(fc.port, loc[len(fc.url):])
    assert status in (302, 303), status
    back = hdr["location"]
    assert back.startswith("http://127.0.0.1:%d/v1/rc/callback?" % gw.port), back
    cb = back.split("127.0.0.1:%d" % gw.port, 1)[1]
    status, hdr, page = raw_get(gw.port, cb)
    assert status == 200 and "RingCentral connected" in page, (status, page)
    status, _, page = raw_get(gw.port, cb)  # the state was used up
    assert status == 400 and "Invalid or expired state" in page, page
    st = req("GET", "/v1/rc/status", key=key).json
    assert st["connected"] is True and st["expiresAt"] and st["authMethod"] == "oauth", st
    # sends go through the tokens of the flow; the refresh token RingCentral
    # rotates is kept, so a restart still works
    mid = send(key, "+15559872001", body="oauth one")
    m = final(key, mid, ("sent", "delivered", "failed"))
    assert m["status"] in ("sent", "delivered"), m
    gw.kill9()
    gw.start()
    mid = send(key, "+15559872002", body="oauth two")
    m = final(key, mid, ("sent", "delivered", "failed"))
    assert m["status"] in ("sent", "delivered"), m
    assert len([x for x in fc.messages() if x["text"].startswith("oauth ")]) == 2
    # disconnect: live sends fail again with the reason
    r = req("POST", "/v1/rc/disconnect", key=key)
    assert r.status == 200 and r.json["connected"] is False, r
    assert req("GET", "/v1/rc/status", key=key).json["connected"] is False
    m = final(key, send(key, "+15559872003"), ("failed",))
    assert m["error"] == "RingCentral not connected for this tenant", m


def test_connect_tokens_are_limited():
    tid = gw.tenant()
    key = gw.app(tid, mode="live")["apiKey"]
    for _ in range(5):
        assert req("POST", "/v1/rc/connect-token", key=key).status == 200
    r = req("POST", "/v1/rc/connect-token", key=key)
    expect_error(r, 429, "rate_limit_exceeded", "Too many requests")
    assert int(r.headers["retry-after"]) > 0, r.headers
    # another tenant is not affected; an admin names the tenant
    expect_error(req("POST", "/v1/rc/connect-token", {}), 400, "validation_error")
    r = req("POST", "/v1/rc/connect-token", {"tenantId": gw.tenant()})
    assert r.status == 200, r
    expect_error(req("GET", "/v1/rc/callback?code=x&state=nope", key=None), 400,
                 "validation_error", "Invalid or expired state")


def test_secrets_never_shown():
    for raw in ANSWERS:
        for secret in SECRETS:
            assert secret not in raw, raw[:300]
    with open(gw.log, errors="replace") as f:
        log = f.read()
    for secret in SECRETS:
        assert secret not in log
    # nor in clear in any file of the data folder (RocksDB's log and tables)
    for root, _, files in os.walk(gw.data):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                data = f.read()
            for secret in SECRETS:
                assert secret.encode() not in data, name


if __name__ == "__main__":
    try:
        gw.start()
        run([
            ("connect: checked with RingCentral, bad input refused, nothing stored",
             test_connect_checks_credentials),
            ("a live send of an unconnected tenant fails with the reason",
             test_unconnected_tenant_fails_live_sends),
            ("sent with the fake's message id, then delivered", test_happy_path),
            ("503 twice then sent: three attempts recorded", test_503_twice_then_sent),
            ("an unregistered from fails at once with the reason",
             test_unregistered_number_fails_at_once),
            ("an access token that died mid-run is renewed, no message fails",
             test_token_expiry_is_refreshed),
            ("429 with Retry-After is waited out", test_429_is_waited_out),
            ("100 messages from one number go out paced and in order", test_paced_and_in_order),
            ("the OAuth connect flow: link, page, 303, callback, status, restart, disconnect",
             test_oauth_connect_flow),
            ("connect links: 5 per tenant per hour", test_connect_tokens_are_limited),
            ("connection secrets appear in no answer, log or data file",
             test_secrets_never_shown),
        ])
    finally:
        gw.cleanup()
        fc.cleanup()
