"""bench/fakecarrier, the fake RingCentral: OAuth grants, phone numbers, SMS
sends and the message store, fault injection, rate limits, webhook
subscriptions and the control API. Each case runs its own fake on a free
loopback port and stops it with SIGTERM (exit code 0)."""
import http.client
import subprocess
import urllib.parse

from fctest import (ACCOUNT, BIN, CLIENT_ID, CLIENT_SECRET, EXT1, EXT2, JWT_GRANT, NUM1, NUM2,
                    NUM_NOSMS, FakeCarrier, Receiver, oauth_error, rc_error, run, wait_for)


def started(*args):
    return FakeCarrier(*args).start()


def stopped_ok(fc):
    assert fc.stop() == 0, "fakecarrier did not exit 0:\n" + fc.log_tail()


def test_help_and_bad_options():
    r = subprocess.run([BIN, "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r
    for opt in ("--listen", "--latency-ms", "--latency-jitter-ms", "--rate-5xx", "--rate-429",
                "--rate-timeout", "--rate-drop", "--timeout-hold-ms", "--retry-after-s",
                "--token-ttl-s", "--refresh-ttl-s", "--ext-limit", "--ext-window-s",
                "--dlr-delay-ms", "--undeliverable", "--invalid-to", "--fail-next", "--jwt",
                "--number", "--client-id", "--client-secret", "--account-id", "/_fake/config"):
        assert opt in r.stdout, "--help does not mention " + opt
    for args in (["--bogus"], ["--rate-5xx", "2"], ["--fail-next", "418"],
                 ["--number", "12345:1:SmsSender"], ["--latency-ms"]):
        r = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and "fakecarrier" in r.stderr, (args, r)


def test_jwt_login_and_client_auth():
    fc = started()
    tok = fc.login()
    for k in ("access_token", "refresh_token", "scope", "endpoint_id"):
        assert isinstance(tok[k], str) and tok[k], tok
    assert tok["token_type"] == "bearer" and tok["expires_in"] == 3600, tok
    assert tok["refresh_token_expires_in"] == 604800 and tok["owner_id"] == EXT1, tok
    assert "SMS" in tok["scope"].split(), tok
    assert fc.login()["access_token"] != tok["access_token"]
    jwt = {"grant_type": JWT_GRANT, "assertion": "fake-jwt"}
    oauth_error(fc.token_request(jwt, basic=(CLIENT_ID, "wrong")), 401, "invalid_client",
                "OAU-146")
    oauth_error(fc.token_request(jwt, basic=("someone-else", CLIENT_SECRET)), 401,
                "invalid_client", "OAU-146")
    oauth_error(fc.token_request(jwt, basic=None), 401, "invalid_client", "OAU-123")
    oauth_error(fc.token_request({"grant_type": JWT_GRANT, "assertion": "not-our-jwt"}), 400,
                "invalid_grant", "OAU-140")
    oauth_error(fc.token_request({"grant_type": "password", "username": "x"}), 400,
                "unauthorized_client", "OAU-251")
    r = fc.get("/restapi/v1.0/account/~/extension/~", token=tok["access_token"])
    assert r.status == 200 and r.json["id"] == int(EXT1), r
    st = fc.stats()
    assert st["token_requests"]["jwt"] == 6, st
    stopped_ok(fc)


def test_jwt_with_its_own_extension():
    fc = started("--jwt", "fake-jwt", "--jwt", "second-jwt:" + EXT2)
    assert fc.login("second-jwt")["owner_id"] == EXT2
    assert fc.login("fake-jwt")["owner_id"] == EXT1
    stopped_ok(fc)


def authorize(fc, redirect="http://127.0.0.1:9/callback", state="st-123", client=CLIENT_ID):
    q = urllib.parse.urlencode({"response_type": "code", "client_id": client,
                                "redirect_uri": redirect, "state": state})
    return fc.get("/restapi/oauth/authorize?" + q)


def test_auth_code_flow():
    fc = started()
    redirect = "http://127.0.0.1:9/callback"
    r = authorize(fc, redirect)
    assert r.status == 302, r
    loc = urllib.parse.urlsplit(r.headers["location"])
    assert "%s://%s%s" % (loc.scheme, loc.netloc, loc.path) == redirect, r.headers
    q = urllib.parse.parse_qs(loc.query)
    assert q["state"] == ["st-123"] and q["code"][0], q
    code = q["code"][0]
    grant = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect}
    bad_redirect = dict(grant, redirect_uri="http://127.0.0.1:9/elsewhere")
    oauth_error(fc.token_request(bad_redirect), 400, "invalid_grant", "OAU-109")
    r = fc.token_request(grant)
    assert r.status == 200 and r.json["owner_id"] == EXT1 and r.json["access_token"], r
    oauth_error(fc.token_request(grant), 400, "invalid_grant", "OAU-106")  # single use
    oauth_error(fc.token_request(dict(grant, code="made-up")), 400, "invalid_grant", "OAU-106")
    oauth_error(authorize(fc, client="unknown-app"), 400, "invalid_client", "OAU-153")
    assert authorize(fc, redirect="not a url").status == 400
    assert authorize(fc, state="").headers["location"].count("state=") == 0
    assert fc.stats()["token_requests"]["authorization_code"] == 4
    stopped_ok(fc)


def test_refresh_rotates_and_revoke():
    fc = started()
    tok = fc.login()
    refresh = {"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]}
    r = fc.token_request(refresh)
    assert r.status == 200, r
    new = r.json
    assert new["access_token"] != tok["access_token"]
    assert new["refresh_token"] != tok["refresh_token"] and new["owner_id"] == EXT1
    oauth_error(fc.token_request(refresh), 400, "invalid_grant", "OAU-211")  # used once
    oauth_error(fc.token_request(dict(refresh, refresh_token="made-up")), 400, "invalid_grant",
                "OAU-213")
    # the SDK asks for the TTLs it was given; a smaller one is honoured
    r = fc.token_request({"grant_type": "refresh_token", "refresh_token": new["refresh_token"],
                          "access_token_ttl": "600", "refresh_token_ttl": "604800"})
    assert r.status == 200 and r.json["expires_in"] == 600, r
    latest = r.json
    assert fc.get("/restapi/v1.0/account/~/extension/~",
                  token=latest["access_token"]).status == 200
    r = fc.post("/restapi/oauth/revoke", form={"token": latest["access_token"]},
                basic=(CLIENT_ID, CLIENT_SECRET))
    assert r.status == 200, r
    rc_error(fc.get("/restapi/v1.0/account/~/extension/~", token=latest["access_token"]), 401,
             "TokenInvalid", "OAU-213")
    oauth_error(fc.token_request({"grant_type": "refresh_token",
                                  "refresh_token": latest["refresh_token"]}),
                400, "invalid_grant", "OAU-211")  # the pair went with it
    stopped_ok(fc)


def test_bearer_errors():
    fc = started()
    path = "/restapi/v1.0/account/~/extension/~/phone-number"
    rc_error(fc.get(path), 401, "AGW-401")
    rc_error(fc.get(path, headers={"Authorization": "Basic Zm9vOmJhcg=="}), 401, "AGW-402")
    rc_error(fc.get(path, token="nonsense"), 401, "TokenInvalid", "OAU-213")
    tok = fc.login()["access_token"]
    # the JS SDK sends the token_type as given: "bearer ..."
    assert fc.get(path, headers={"Authorization": "bearer " + tok}).status == 200
    rc_error(fc.get("/restapi/v1.0/account/999/extension/~/phone-number", token=tok), 404,
             "CMN-102")
    rc_error(fc.get("/restapi/v1.0/account/~/extension/123/phone-number", token=tok), 404,
             "CMN-102")
    rc_error(fc.get("/restapi/v1.0/nothing/here", token=tok), 404, "CMN-120")
    stopped_ok(fc)


def test_phone_numbers():
    fc = started()
    tok = fc.login()["access_token"]
    r = fc.get("/restapi/v1.0/account/~/phone-number", token=tok)
    assert r.status == 200, r
    assert r.headers["x-rate-limit-group"] == "heavy", r.headers
    recs = r.json["records"]
    assert [x["phoneNumber"] for x in recs] == [NUM1, NUM2, NUM_NOSMS], recs
    for x in recs:
        assert isinstance(x["id"], int) and x["type"] == "VoiceFax", x
        assert x["usageType"] == "DirectNumber" and x["status"] == "Normal", x
        assert "features" not in x, "the account list has no features: %r" % x
        assert x["extension"]["extensionNumber"], x
    assert [x["extension"]["id"] for x in recs] == [int(EXT1), int(EXT2), int(EXT1)]
    p = r.json["paging"]
    assert (p["page"], p["perPage"], p["totalPages"], p["totalElements"]) == (1, 100, 1, 3), p
    assert (p["pageStart"], p["pageEnd"]) == (0, 2), p
    assert "nextPage" not in r.json["navigation"], r.json

    r = fc.get("/restapi/v1.0/account/~/phone-number?page=1&perPage=2", token=tok)
    assert len(r.json["records"]) == 2 and r.json["paging"]["totalPages"] == 2, r
    nxt = urllib.parse.urlsplit(r.json["navigation"]["nextPage"]["uri"])
    r = fc.get(nxt.path + "?" + nxt.query, token=tok)
    assert [x["phoneNumber"] for x in r.json["records"]] == [NUM_NOSMS], r
    assert r.json["paging"]["page"] == 2 and "nextPage" not in r.json["navigation"], r
    rc_error(fc.get("/restapi/v1.0/account/~/phone-number?perPage=zero", token=tok), 400,
             "CMN-101")

    r = fc.get("/restapi/v1.0/account/~/extension/~/phone-number", token=tok)
    assert r.status == 200 and r.headers["x-rate-limit-group"] == "light", r
    mine = {x["phoneNumber"]: x["features"] for x in r.json["records"]}
    assert mine == {NUM1: ["SmsSender"], NUM_NOSMS: ["CallerId"]}, mine
    r = fc.get("/restapi/v1.0/account/%s/extension/%s/phone-number" % (ACCOUNT, EXT2), token=tok)
    assert r.status == 200, r
    assert [(x["phoneNumber"], x["features"]) for x in r.json["records"]] == \
        [(NUM2, ["SmsSender", "A2PSmsSender"])], r
    stopped_ok(fc)


def test_send_reaches_delivered():
    fc = started()
    tok = fc.login()["access_token"]
    r = fc.sms(tok, NUM1, "+15559870001", "Your code is 123456")
    assert r.status == 200, r
    m = r.json
    assert isinstance(m["id"], int) and m["id"] >= 1000000001, m
    assert m["messageStatus"] == "Queued" and m["direction"] == "Outbound", m
    assert m["type"] == "SMS" and m["subject"] == "Your code is 123456", m
    assert m["from"] == {"phoneNumber": NUM1} and m["to"] == [{"phoneNumber": "+15559870001"}]
    assert m["uri"].endswith("/restapi/v1.0/account/%s/extension/%s/message-store/%d"
                             % (ACCOUNT, EXT1, m["id"])), m
    for k in ("creationTime", "lastModifiedTime", "readStatus", "priority", "availability",
              "conversationId", "conversation", "attachments"):
        assert k in m, (k, m)
    assert m["smsSendingAttemptsCount"] == 1
    assert r.headers["x-rate-limit-group"] == "medium", r.headers
    for h in ("x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-window"):
        assert int(r.headers[h]) >= 0, r.headers

    def status():
        got = fc.message(tok, m["id"])
        assert got.status == 200, got
        return got.json["messageStatus"] == "Delivered" and got.json
    done = wait_for(status, 30, "the message to be Delivered")
    assert done["id"] == m["id"] and done["smsDeliveryTime"], done
    rc_error(fc.message(tok, 999), 404, "CMN-102")
    fake = fc.messages()
    assert len(fake) == 1, fake
    f = fake[0]
    assert (f["id"], f["from"], f["to"], f["text"]) == \
        (m["id"], NUM1, ["+15559870001"], "Your code is 123456"), f
    assert f["extensionId"] == EXT1 and f["status"] == "Delivered" and f["attempt"] == 1, f
    # the list, newest first
    fc.sms(tok, NUM1, "+15559870002", "second")
    r = fc.get("/restapi/v1.0/account/~/extension/~/message-store?messageType=SMS"
               "&direction=Outbound", token=tok)
    assert [x["subject"] for x in r.json["records"]] == ["second", "Your code is 123456"], r
    st = fc.stats()
    assert st["sms_requests"] == 2 and st["sms_accepted"] == 2, st
    assert st["responses"]["200"] >= 4, st
    stopped_ok(fc)


def test_send_refused():
    fc = started()
    tok = fc.login()["access_token"]
    rc_error(fc.sms(tok, NUM2), 403, "MSG-304")            # another extension's number
    rc_error(fc.sms(tok, "+15553330000"), 400, "MSG-245")  # not the account's
    rc_error(fc.sms(tok, NUM_NOSMS), 403, "MSG-367")       # no SmsSender
    path = "/restapi/v1.0/account/~/extension/~/sms"
    rc_error(fc.post(path, raw=b'{"from": {', token=tok), 400, "CMN-103")
    rc_error(fc.sms(tok, text=""), 400, "CMN-101")
    rc_error(fc.sms(tok, text="x" * 1001), 400, "MSG-338")
    assert fc.sms(tok, text="\U0001F600" * 500).status == 200  # 1000 UTF-16 units
    rc_error(fc.sms(tok, text="\U0001F600" * 501), 400, "MSG-338")
    rc_error(fc.sms(tok, to="5551234"), 400, "CMN-101")
    rc_error(fc.sms(tok, to=[]), 400, "CMN-101")
    rc_error(fc.sms(tok, to=["+15559870001", "+15559870001"]), 400, "CMN-406")
    rc_error(fc.sms(tok, frm="nobody"), 400, "CMN-101")
    # RingCentral lets no one send on another extension's behalf
    rc_error(fc.sms(tok, NUM2, ext=EXT2), 403, "CMN-404")
    assert len(fc.messages()) == 1
    st = fc.stats()
    assert st["sms_refused"] == 11 and st["sms_accepted"] == 1, st
    stopped_ok(fc)


def test_fail_next_then_ok():
    fc = started()
    tok = fc.login()["access_token"]
    knobs = fc.config(fail_next=["503", "503"])
    assert knobs["fail_next"] == ["503", "503"], knobs
    for _ in range(2):
        r = fc.sms(tok)
        rc_error(r, 503, "CMN-201")
        assert r.headers["retry-after"] == "1", r.headers
    r = fc.sms(tok)
    assert r.status == 200, r
    f = fc.messages()
    assert len(f) == 1 and f[0]["attempt"] == 3, f  # the third request of the same SMS
    fc.config(fail_next="500,401", retry_after_s=7)
    rc_error(fc.sms(tok), 500, "CMN-203")
    rc_error(fc.sms(tok), 401, "TokenInvalid", "OAU-213")
    assert fc.sms(tok).status == 200
    fc.config(fail_next=["503"])
    assert fc.sms(tok).headers["retry-after"] == "7"
    stopped_ok(fc)


def test_fail_next_flag():
    fc = started("--fail-next", "429,500")
    tok = fc.login()["access_token"]
    r = fc.sms(tok)
    rc_error(r, 429, "CMN-301")
    assert fc.sms(tok).status == 500
    assert fc.sms(tok).status == 200
    stopped_ok(fc)


def test_429_and_rate_limit_headers():
    fc = started()
    tok = fc.login()["access_token"]
    fc.config(rate_429=1.0, retry_after_s=3)
    r = fc.sms(tok)
    rc_error(r, 429, "CMN-301")
    assert r.json["message"] == "Request rate exceeded", r
    assert r.headers["retry-after"] == "3", r.headers
    assert r.headers["x-rate-limit-group"] == "medium", r.headers
    assert r.headers["x-rate-limit-limit"] == "40" and r.headers["x-rate-limit-window"] == "60"
    assert "x-rate-limit-remaining" in r.headers
    fc.config(rate_429=0)
    assert fc.sms(tok).status == 200
    # RingCentral's group limits, when asked for: Light is 50 per minute
    fc.config(group_limits=True)
    seen = []
    for _ in range(50):
        r = fc.message(tok, 1000000001)
        assert r.status == 200, r
        seen.append(int(r.headers["x-rate-limit-remaining"]))
    assert seen[0] == 49 and seen[-1] == 0, seen
    r = fc.message(tok, 1000000001)
    rc_error(r, 429, "CMN-301")
    assert 1 <= int(r.headers["retry-after"]) <= 60, r.headers
    stopped_ok(fc)


def test_ext_limit():
    fc = started("--jwt", "fake-jwt", "--jwt", "second-jwt:" + EXT2)
    tok = fc.login()["access_token"]
    other = fc.login("second-jwt")["access_token"]
    fc.config(ext_limit=2, ext_window_s=60)
    remaining = []
    for _ in range(2):
        r = fc.sms(tok)
        assert r.status == 200, r
        remaining.append(r.headers["x-rate-limit-remaining"])
        assert r.headers["x-rate-limit-limit"] == "2", r.headers
    assert remaining == ["1", "0"], remaining
    r = fc.sms(tok)
    rc_error(r, 429, "CMN-301")
    assert 1 <= int(r.headers["retry-after"]) <= 60, r.headers
    # another extension has its own window
    assert fc.sms(other, NUM2).status == 200
    fc.config(ext_limit=0)
    assert fc.sms(tok).status == 200
    stopped_ok(fc)


def test_expire_tokens_then_refresh():
    fc = started()
    tok = fc.login()
    path = "/restapi/v1.0/account/~/extension/~/phone-number"
    assert fc.get(path, token=tok["access_token"]).status == 200
    r = fc.post("/_fake/expire-tokens")
    assert r.status == 200, r
    r = fc.get(path, token=tok["access_token"])
    rc_error(r, 401, "TokenExpired", "OAU-128")
    assert r.json["message"] == "Access token expired", r
    rc_error(fc.sms(tok["access_token"]), 401, "TokenExpired", "OAU-128")
    r = fc.token_request({"grant_type": "refresh_token", "refresh_token": tok["refresh_token"]})
    assert r.status == 200, r
    assert fc.get(path, token=r.json["access_token"]).status == 200
    assert fc.sms(r.json["access_token"]).status == 200
    stopped_ok(fc)


def test_token_ttl():
    fc = started("--token-ttl-s", "1")
    tok = fc.login()
    assert tok["expires_in"] == 1
    path = "/restapi/v1.0/account/~/extension/~"
    wait_for(lambda: fc.get(path, token=tok["access_token"]).status == 401, 30,
             "the access token to expire")
    rc_error(fc.get(path, token=tok["access_token"]), 401, "TokenExpired", "OAU-128")
    stopped_ok(fc)


def test_drop_and_timeout():
    fc = started("--timeout-hold-ms", "100")
    tok = fc.login()["access_token"]
    fc.config(fail_next=["drop", "timeout"])
    for _ in range(2):
        try:
            r = fc.sms(tok)
            raise AssertionError("expected no answer, got %r" % r)
        except (ConnectionError, http.client.HTTPException):
            pass
    assert fc.sms(tok).status == 200
    st = fc.stats()
    assert st["dropped"] == 2 and st["timeouts"] == 1, st
    f = fc.messages()
    assert len(f) == 1 and f[0]["attempt"] == 3, f
    fc.config(rate_drop=1.0)
    try:
        fc.sms(tok)
        raise AssertionError("expected no answer")
    except (ConnectionError, http.client.HTTPException):
        pass
    fc.config(rate_drop=0)
    assert fc.sms(tok).status == 200
    stopped_ok(fc)


def test_latency_knob():
    fc = started("--latency-ms", "20", "--latency-jitter-ms", "10")
    tok = fc.login()["access_token"]
    r = fc.sms(tok)
    assert r.status == 200, r
    k = fc.stats()["knobs"]
    assert k["latency_ms"] == 20 and k["latency_jitter_ms"] == 10, k
    stopped_ok(fc)


def test_undeliverable_and_invalid_to():
    fc = started("--undeliverable", "+15550001111", "--invalid-to", "+15550002222")
    tok = fc.login()["access_token"]
    r = fc.sms(tok, to="+15550001111")
    assert r.status == 200 and r.json["messageStatus"] == "Queued", r
    mid = r.json["id"]
    done = wait_for(lambda: fc.message(tok, mid).json["messageStatus"] == "DeliveryFailed"
                    and fc.message(tok, mid).json, 30, "DeliveryFailed")
    assert done["deliveryErrorCode"], done
    rc_error(fc.sms(tok, to="+15550002222"), 400, "CMN-101")
    fc.config(invalid_to=[], undeliverable=["+15550003333"])
    assert fc.sms(tok, to="+15550002222").status == 200
    stopped_ok(fc)


def test_config_api():
    fc = started()
    r = fc.post("/_fake/config", {"no_such_knob": 1})
    assert r.status == 400 and "no_such_knob" in r.json["error"], r
    for bad in ({"rate_5xx": 2}, {"latency_ms": -1}, {"latency_ms": "slow"},
                {"fail_next": ["418"]}, {"undeliverable": ["12"]}, {"group_limits": "maybe"}):
        r = fc.post("/_fake/config", bad)
        assert r.status == 400 and r.json["error"], (bad, r)
    assert fc.get("/_fake/config").json["rate_5xx"] == 0  # nothing half-applied
    k = fc.config(latency_ms=5, rate_5xx=0.25, dlr_delay_ms=10, ext_limit=3,
                  fail_next=["timeout"], undeliverable=["+15550001111"])
    assert (k["latency_ms"], k["rate_5xx"], k["dlr_delay_ms"], k["ext_limit"]) == \
        (5, 0.25, 10, 3), k
    assert k["fail_next"] == ["timeout"] and k["undeliverable"] == ["+15550001111"], k
    assert fc.get("/_fake/config").json == k
    tok = fc.login()["access_token"]
    fc.config(fail_next=[], rate_5xx=0)
    assert fc.sms(tok).status == 200
    fc.config(fail_next=["503"])
    r = fc.post("/_fake/reset")
    assert r.status == 200, r
    assert fc.messages() == [] and fc.get("/_fake/config").json["fail_next"] == []
    st = fc.stats()
    assert st["sms_accepted"] == 0 and st["responses"] == {}, st
    assert fc.sms(tok).status == 200  # tokens survive a reset
    stopped_ok(fc)


def test_bounded_message_store():
    fc = started("--max-messages", "3")
    tok = fc.login()["access_token"]
    ids = []
    for i in range(5):
        r = fc.sms(tok, text="n%d" % i)
        assert r.status == 200, r
        ids.append(r.json["id"])
    assert ids == list(range(ids[0], ids[0] + 5)), ids
    assert [m["text"] for m in fc.messages()] == ["n2", "n3", "n4"]
    rc_error(fc.message(tok, ids[0]), 404, "CMN-102")
    assert fc.message(tok, ids[4]).status == 200
    st = fc.stats()
    assert st["messages_stored"] == 3 and st["messages_evicted"] == 2, st
    stopped_ok(fc)


INSTANT = "/restapi/v1.0/account/~/extension/~/message-store/instant?type=SMS"
STORE = "/restapi/v1.0/account/~/extension/~/message-store?type=SMS&direction=Outbound"


def subscribe(fc, tok, address, filters=(INSTANT, STORE), vtoken="vt-secret", expires=None):
    dm = {"transportType": "WebHook", "address": address}
    if vtoken:
        dm["verificationToken"] = vtoken
    body = {"eventFilters": list(filters), "deliveryMode": dm}
    if expires is not None:
        body["expiresIn"] = expires
    return fc.post("/restapi/v1.0/subscription", body, token=tok)


def test_subscription_and_notifications():
    fc = started()
    hook = Receiver()
    try:
        tok = fc.login()["access_token"]
        r = subscribe(fc, tok, hook.url, expires=3600)
        assert r.status == 200, r
        s = r.json
        assert s["status"] == "Active" and s["id"] and s["expiresIn"] == 3600, s
        assert s["deliveryMode"] == {"transportType": "WebHook", "address": hook.url,
                                     "encryption": False}, s
        assert s["eventFilters"] == [
            "/restapi/v1.0/account/%s/extension/%s/message-store/instant?type=SMS"
            % (ACCOUNT, EXT1),
            "/restapi/v1.0/account/%s/extension/%s/message-store?type=SMS&direction=Outbound"
            % (ACCOUNT, EXT1)], s
        assert s["creationTime"] and s["expirationTime"], s
        assert len(hook.validations()) == 1 and hook.notifications() == []

        # inbound: the full message to the instant filter, with our token
        r = fc.post("/_fake/inbound", {"from": "+15559990000", "to": NUM1, "text": "STOP"})
        assert r.status == 200, r
        inbound = r.json
        assert inbound["direction"] == "Inbound" and inbound["messageStatus"] == "Received", r
        got = wait_for(lambda: hook.notifications(), 30, "the inbound notification")
        assert len(got) == 1, got  # the store filter is for Outbound only
        h, n = got[0]
        assert h["verification-token"] == "vt-secret", h
        assert h["content-type"].startswith("application/json"), h
        assert n["event"] == s["eventFilters"][0] and n["subscriptionId"] == s["id"], n
        assert n["ownerId"] == EXT1 and n["uuid"] and n["timestamp"], n
        b = n["body"]
        assert b["id"] == str(inbound["id"]) and b["subject"] == "STOP", b
        assert b["from"] == {"phoneNumber": "+15559990000"} and b["to"] == [{"phoneNumber": NUM1}]
        assert b["direction"] == "Inbound" and b["messageStatus"] == "Received", b
        assert fc.messages("Inbound")[0]["text"] == "STOP"

        # outbound: a message-store event for each change (new, Sent, Delivered)
        r = fc.sms(tok)
        assert r.status == 200, r
        got = wait_for(lambda: len(hook.notifications()) >= 4 and hook.notifications(), 30,
                       "three message-store notifications")
        store = [n for h, n in got[1:]]
        assert all(n["event"] == s["eventFilters"][1] for n in store), store
        changes = [n["body"]["changes"][0] for n in store]
        assert changes[0]["newCount"] == 1 and changes[0]["newMessageIds"] == [r.json["id"]]
        assert [c["updatedCount"] for c in changes[1:]] == [1, 1], changes
        assert all(n["body"]["extensionId"] == EXT1 for n in store), store
        # the receiver records a post before answering it; the fake counts it after
        st = wait_for(lambda: fc.stats()["notifications_sent"] == 4 and fc.stats(), 30,
                      "notifications_sent to reach 4")
        assert st["subscriptions"] == 1 and st["notifications_failed"] == 0, st
    finally:
        hook.close()
    stopped_ok(fc)


def test_subscription_validation_fails():
    fc = started()
    silent, broken = Receiver(echo=False), Receiver(status=500)
    try:
        tok = fc.login()["access_token"]
        rc_error(subscribe(fc, tok, silent.url), 400, "SUB-520")
        assert len(silent.requests) == 1  # the validation request, then nothing
        rc_error(subscribe(fc, tok, broken.url), 400, "SUB-522")
        gone = Receiver()  # a port where nothing listens any more
        gone_url = gone.url
        gone.close()
        rc_error(subscribe(fc, tok, gone_url), 400, "CMN-101")
        rc_error(subscribe(fc, tok, "ftp://example/x"), 400, "CMN-101")
        rc_error(subscribe(fc, tok, silent.url, filters=["/restapi/v1.0/account/~/presence"]),
                 400, "SUB-508")
        rc_error(subscribe(fc, tok, silent.url, filters=[
            "/restapi/v1.0/account/~/extension/%s/message-store" % EXT2]), 403, "SUB-405")
        r = fc.get("/restapi/v1.0/subscription", token=tok)
        assert r.status == 200 and r.json["records"] == [], r
        assert fc.stats()["validations_failed"] == 3
    finally:
        silent.close()
        broken.close()
    stopped_ok(fc)


def test_subscription_renew_update_delete():
    fc = started()
    hook = Receiver()
    try:
        tok = fc.login()["access_token"]
        s = subscribe(fc, tok, hook.url, filters=[INSTANT], expires=60).json
        assert s["expiresIn"] == 60, s
        base = "/restapi/v1.0/subscription/" + s["id"]
        r = fc.get(base, token=tok)
        assert r.status == 200 and r.json["id"] == s["id"], r
        r = fc.request("PUT", base, {"expiresIn": 7200}, token=tok)
        assert r.status == 200 and r.json["expiresIn"] == 7200, r
        assert r.json["expirationTime"] > s["expirationTime"], (r.json, s)
        longer = r.json
        r = fc.post(base + "/renew", token=tok)
        assert r.status == 200 and r.json["expiresIn"] == 7200, r
        assert r.json["expirationTime"] >= longer["expirationTime"], r
        r = fc.request("PUT", base, {"eventFilters": [STORE]}, token=tok)
        assert r.status == 200 and r.json["eventFilters"][0].endswith(
            "/message-store?type=SMS&direction=Outbound"), r
        r = fc.get("/restapi/v1.0/subscription", token=tok)
        assert [x["id"] for x in r.json["records"]] == [s["id"]], r
        r = fc.request("DELETE", base, token=tok)
        assert r.status == 204, r
        rc_error(fc.get(base, token=tok), 404, "CMN-102")
        rc_error(fc.post(base + "/renew", token=tok), 404, "CMN-102")
    finally:
        hook.close()
    stopped_ok(fc)


def test_expired_subscription_gets_nothing():
    fc = started()
    old, live = Receiver(), Receiver()
    try:
        tok = fc.login()["access_token"]
        s = subscribe(fc, tok, old.url, filters=[INSTANT], expires=1).json
        wait_for(lambda: fc.get("/restapi/v1.0/subscription/" + s["id"], token=tok).status == 404,
                 30, "the subscription to expire")
        assert subscribe(fc, tok, live.url, filters=[INSTANT]).status == 200
        assert fc.post("/_fake/inbound", {"from": "+15559990000", "to": NUM1,
                                          "text": "hi"}).status == 200
        wait_for(lambda: live.notifications(), 30, "the live subscription's notification")
        assert old.notifications() == [], old.notifications()
    finally:
        old.close()
        live.close()
    stopped_ok(fc)


def test_inbound_checks():
    fc = started()
    for body in ({"from": "+15559990000", "to": NUM_NOSMS, "text": "x"},
                 {"from": "+15559990000", "to": "+15553334444", "text": "x"},
                 {"from": "nobody", "to": NUM1, "text": "x"},
                 {"from": "+15559990000", "to": NUM1, "text": ""}):
        r = fc.post("/_fake/inbound", body)
        assert r.status == 400 and r.json["error"], (body, r)
    r = fc.post("/_fake/inbound", {"from": "+15559990000", "to": NUM2, "text": "to ext 2"})
    assert r.status == 200, r
    assert fc.messages("Inbound")[0]["extensionId"] == EXT2
    assert fc.messages() == []  # Outbound by default
    assert len(fc.messages("all")) == 1
    stopped_ok(fc)


if __name__ == "__main__":
    run([(n, f) for n, f in list(globals().items()) if n.startswith("test_") and callable(f)])
