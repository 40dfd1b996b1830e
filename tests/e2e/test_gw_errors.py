"""Bad input gets SPEC's exact answer and changes nothing."""
import http.client

from gwtest import ADMIN_KEY, Gateway, expect_error, run

gw = Gateway()
TID = KEY = None
GOOD = {"to": "+15559876543", "from": "+15551234567", "body": "hi"}


def unchanged(fn):
    """fn() must not add a message to the tenant's list."""
    before = gw.count(KEY)
    fn()
    assert gw.count(KEY) == before, "a refused request stored a message"


def send_raw(raw, key=None):
    return gw.post("/v1/sms/send", key=key or KEY, raw=raw)


def test_auth_errors():
    def check():
        expect_error(gw.request("POST", "/v1/sms/send", GOOD), 401, "unauthorized",
                     "Missing or invalid API key")
        expect_error(gw.post("/v1/sms/send", GOOD, headers={"Authorization": "Basic abc"}),
                     401, "unauthorized", "Missing or invalid API key")
        expect_error(gw.post("/v1/sms/send", GOOD, headers={"Authorization": "Bearer "}),
                     401, "unauthorized", "Missing or invalid API key")
        expect_error(gw.post("/v1/sms/send", GOOD, key="sgw_" + "0" * 32), 401,
                     "unauthorized", "Invalid API key")
        expect_error(gw.get("/v1/sms", key="x" * 500), 401, "unauthorized", "Invalid API key")
    unchanged(check)


def test_malformed_json_and_types():
    def check():
        for raw in (b"{", b"not json", b"", b'{"to": "+1555"', b"\xff\xfe"):
            expect_error(send_raw(raw), 400, "validation_error", "Invalid JSON")
        for raw in (b"[]", b'"text"', b"42", b"null"):
            expect_error(send_raw(raw), 400, "validation_error")
        for field, bad in (("to", 15559876543), ("body", ["a"]), ("from", {"x": 1}),
                           ("userId", 7), ("sendAt", 5), ("country", True)):
            expect_error(gw.post("/v1/sms/send", dict(GOOD, **{field: bad}), key=KEY),
                         400, "validation_error")
        # duplicate keys are refused rather than guessed at
        expect_error(send_raw(b'{"to":"+15559876543","to":"+15559876544","from":"+15551234567","body":"x"}'),
                     400, "validation_error", "Invalid JSON")
    unchanged(check)


def test_missing_fields():
    def check():
        for drop in ("to", "from", "body"):
            body = {k: v for k, v in GOOD.items() if k != drop}
            expect_error(gw.post("/v1/sms/send", body, key=KEY), 400, "validation_error",
                         "to, from, and body are required")
        expect_error(gw.post("/v1/sms/send", {}, key=KEY), 400, "validation_error",
                     "to, from, and body are required")
    unchanged(check)


def test_bad_numbers():
    def check():
        for to in ("15559876543", "+0559876543", "+1555", "+1234567890123456", "+1555 987 6543",
                   "+1555987654a", ""):
            expect_error(gw.post("/v1/sms/send", dict(GOOD, to=to), key=KEY), 400,
                         "phone_invalid", "to and from must be valid E.164 phone numbers")
        expect_error(gw.post("/v1/sms/send", dict(GOOD, **{"from": "+1"}), key=KEY), 400,
                     "phone_invalid", "to and from must be valid E.164 phone numbers")
        # an alphanumeric sender that is not registered
        expect_error(gw.post("/v1/sms/send", dict(GOOD, **{"from": "ACME"}), key=KEY), 400,
                     "sender_id_invalid")
    unchanged(check)


def test_body_length_in_code_points():
    def check():
        for body in ("", "a" * 1601, "\u00e9" * 1601, "\U0001F600" * 1601):
            expect_error(gw.post("/v1/sms/send", dict(GOOD, body=body), key=KEY), 400,
                         "validation_error", "body must be 1-1600 characters")
        # valid JSON, but a NUL would cut the string short: refused, clearly
        expect_error(send_raw(b'{"to":"+15559876543","from":"+15551234567","body":"a\\u0000b"}'),
                     400, "validation_error", "body must not contain NUL characters")
        expect_error(send_raw(b'{"to":"+15559876543\\u0000x","from":"+15551234567","body":"b"}'),
                     400, "validation_error", "to must not contain NUL characters")
    unchanged(check)
    # 1600 multi-byte code points are fine
    assert gw.post("/v1/sms/send", dict(GOOD, body="\U0001F600" * 1600), key=KEY).status == 202


def test_other_field_rules():
    def check():
        for extra, msg in (({"userId": "u" * 129}, "userId must be at most 128 characters"),
                           ({"country": "XX"}, None), ({"country": "us"}, None),
                           ({"sendAt": "tomorrow"}, None),
                           ({"sendAt": "2020-01-01T00:00:00Z"}, None),
                           ({"sendAt": "2099-01-01T00:00:00Z"}, None),
                           ({"template": "welcome"}, None)):
            expect_error(gw.post("/v1/sms/send", dict(GOOD, **extra), key=KEY), 400,
                         "validation_error", msg)
    unchanged(check)


def test_huge_body_413():
    def check():
        big = b'{"to":"+15559876543","from":"+15551234567","body":"' + b"a" * 200000 + b'"}'
        expect_error(send_raw(big), 413, "payload_too_large")
        # chunked upload without a length is measured as it arrives
        conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=30)
        conn.putrequest("POST", "/v1/sms/send")
        conn.putheader("Authorization", "Bearer " + KEY)
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for _ in range(30):
            chunk = b"a" * 8192
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.send(b"0\r\n\r\n")
        r = conn.getresponse()
        assert r.status == 413, r.status
        conn.close()
    unchanged(check)


def test_message_ids():
    expect_error(gw.get("/v1/sms/status/msg_123", key=KEY), 400, "validation_error",
                 "Invalid messageId format")
    expect_error(gw.get("/v1/sms/abc", key=KEY), 400, "validation_error",
                 "Invalid messageId format")
    expect_error(gw.post("/v1/sms/msg_XYZ/cancel", key=KEY), 400, "validation_error",
                 "Invalid messageId format")
    expect_error(gw.get("/v1/sms/status/msg_000000000000", key=KEY), 404, "not_found")


def test_list_parameters():
    for q in ("limit=0", "limit=201", "limit=abc", "status=unknown", "direction=sideways",
              "cursor=zzz"):
        expect_error(gw.get("/v1/sms?" + q, key=KEY), 400, "validation_error")
    assert gw.get("/v1/sms?limit=200", key=KEY).status == 200


def test_unknown_routes_and_methods():
    expect_error(gw.get("/v1/nothing", key=KEY), 404, "not_found")
    expect_error(gw.request("DELETE", "/v1/sms/send", key=KEY), 405, "method_not_allowed")


def test_suspended_tenant():
    tid = gw.tenant("soon-suspended")
    key = gw.app(tid)["apiKey"]
    assert gw.send(key).status == 202
    r = gw.request("PATCH", "/v1/tenants/" + tid, {"status": "suspended"}, key=ADMIN_KEY)
    assert r.status == 200 and r.json["status"] == "suspended", r
    expect_error(gw.send(key), 403, "tenant_inactive", "Tenant suspended or inactive")
    expect_error(gw.get("/v1/sms", key=key), 403, "tenant_inactive", "Tenant suspended or inactive")
    r = gw.request("PATCH", "/v1/tenants/" + tid, {"status": "active"}, key=ADMIN_KEY)
    assert gw.count(key) == 1  # the refused send stored nothing


try:
    gw.start()
    TID, KEY = gw.tenant_app()
    assert gw.send(KEY).status == 202  # one message, so "unchanged" compares a real count
    run([
        ("401: missing, malformed and unknown keys", test_auth_errors),
        ("400: malformed JSON, non-objects, wrong types, duplicate keys", test_malformed_json_and_types),
        ("400: missing to/from/body", test_missing_fields),
        ("400 phone_invalid / sender_id_invalid", test_bad_numbers),
        ("400: body of 0 or 1601 code points; 1600 emoji accepted", test_body_length_in_code_points),
        ("400: userId, country, sendAt, template rules", test_other_field_rules),
        ("413 over 100 KB, with and without a length", test_huge_body_413),
        ("400 Invalid messageId format; 404 unknown id", test_message_ids),
        ("400: list parameters", test_list_parameters),
        ("404 unknown route, 405 wrong method", test_unknown_routes_and_methods),
        ("403 Tenant suspended or inactive, nothing stored", test_suspended_tenant),
    ])
finally:
    gw.cleanup()
