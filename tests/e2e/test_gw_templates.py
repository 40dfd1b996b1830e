"""Templates and sender IDs (SPEC section 6), end to end against the real
binary: CRUD, render, sending with a template, and which sends may use a
sender ID in live and test mode."""
from gwtest import ADMIN_KEY, Gateway, expect_error, run, wait_for

gw = Gateway()
T = {}


def setup():
    T["tid"] = gw.tenant("templates")
    T["test"] = gw.app(T["tid"], mode="test")["apiKey"]
    T["live"] = gw.app(T["tid"], mode="live", name="live")["apiKey"]
    T["other"] = gw.app(gw.tenant("other"), mode="test")["apiKey"]


def req(method, path, body=None, key=None):
    return gw.request(method, path, body, key=key or T["test"])


def count(key):
    return gw.count(key)


def test_template_crud():
    r = req("POST", "/v1/templates", {"name": "OTP Code", "body": "Your code is {{code}}. "
                                      "Valid for {{ minutes }} min, {{code}}."})
    assert r.status == 201, r
    t = r.json
    assert t["id"].startswith("tpl_") and t["slug"] == "otp-code", t
    assert t["variables"] == ["code", "minutes"], t
    expect_error(req("POST", "/v1/templates", {"name": "again", "slug": "otp-code", "body": "x"}),
                 409, "conflict")
    for bad in ({"name": "", "body": "x"}, {"name": "n"}, {"name": "n", "body": ""},
                {"name": "n", "body": "x" * 1601}, {"name": "n", "body": "hi {{ 1x }}"},
                {"name": "n", "body": "hi {{open"}, {"name": "n", "slug": "Bad Slug", "body": "x"},
                {"name": "n", "slug": "tpl_x", "body": "x"}, {"name": 5, "body": "x"}):
        expect_error(req("POST", "/v1/templates", bad), 400, "validation_error")
    expect_error(gw.request("POST", "/v1/templates", raw=b"{nope", key=T["test"]), 400,
                 "validation_error", "Invalid JSON")
    for ref in (t["id"], "otp-code"):
        r = req("GET", "/v1/templates/" + ref)
        assert r.status == 200 and r.json["id"] == t["id"], r
    assert [x["id"] for x in req("GET", "/v1/templates").json["templates"]] == [t["id"]]
    # another tenant sees nothing of it
    expect_error(req("GET", "/v1/templates/otp-code", key=T["other"]), 404, "not_found")
    assert req("GET", "/v1/templates", key=T["other"]).json["templates"] == []
    expect_error(req("DELETE", "/v1/templates/" + t["id"], key=T["other"]), 404, "not_found")
    # admin names the tenant
    expect_error(req("GET", "/v1/templates", key=ADMIN_KEY), 400, "validation_error")
    r = req("GET", "/v1/templates?tenantId=" + T["tid"], key=ADMIN_KEY)
    assert len(r.json["templates"]) == 1, r
    r = req("PUT", "/v1/templates/otp-code", {"body": "Code: {{code}}"})
    assert r.status == 200 and r.json["variables"] == ["code"], r
    expect_error(req("PUT", "/v1/templates/otp-code", {"body": "{{"}), 400, "validation_error")
    assert req("GET", "/v1/templates/otp-code").json["body"] == "Code: {{code}}"
    r = req("POST", "/v1/templates", {"name": "Bye", "body": "Bye {{name}}"})
    assert r.status == 201 and r.json["slug"] == "bye", r
    expect_error(req("PUT", "/v1/templates/bye", {"slug": "otp-code"}), 409, "conflict")
    r = req("DELETE", "/v1/templates/bye")
    assert r.status == 200 and r.json["deleted"] is True, r
    expect_error(req("GET", "/v1/templates/bye"), 404, "not_found")


def test_render_sends_nothing():
    before = count(T["test"])
    r = req("POST", "/v1/templates/otp-code/render", {"variables": {"code": 123456}})
    assert r.status == 200, r
    assert r.json == {"body": "Code: 123456", "encoding": "GSM7", "segments": 1,
                      "characters": 12}, r
    r = req("POST", "/v1/templates/otp-code/render", {"variables": {"code": "€ ✓"}})
    assert r.json["encoding"] == "UCS2" and r.json["segments"] == 1, r
    expect_error(req("POST", "/v1/templates/otp-code/render", {"variables": {}}), 400,
                 "validation_error", "Missing variable: code")
    expect_error(req("POST", "/v1/templates/otp-code/render", {"variables": {"code": [1]}}),
                 400, "validation_error", "Variable code must be a string or number")
    expect_error(req("POST", "/v1/templates/otp-code/render", {"variables": "code=1"}), 400,
                 "validation_error")
    expect_error(req("POST", "/v1/templates/nope/render", {"variables": {}}), 404, "not_found")
    assert count(T["test"]) == before


def test_send_with_template():
    r = gw.send(T["test"], body="ignored", template="otp-code", variables={"code": "424242"})
    assert r.status == 202, r
    mid = r.json["messageId"]
    m = wait_for(lambda: (lambda x: x if x["status"] == "delivered" else None)(
        req("GET", "/v1/sms/" + mid).json), 30, "delivered")
    assert m["body"] == "Code: 424242", m
    before = count(T["test"])
    expect_error(gw.send(T["test"], template="otp-code", variables={}), 400, "validation_error",
                 "Missing variable: code")
    expect_error(gw.send(T["test"], template="nope", variables={}), 400, "validation_error",
                 "Template not found: nope")
    expect_error(gw.send(T["test"], template="otp-code", variables=[1]), 400, "validation_error")
    # another tenant's template does not exist for this one
    expect_error(gw.send(T["other"], template="otp-code", variables={"code": "1"}), 400,
                 "validation_error", "Template not found: otp-code")
    assert count(T["test"]) == before


def test_sender_ids():
    r = req("POST", "/v1/sender-ids", {"senderId": "ACME", "countries": ["NG", "GH"],
                                      "useCase": "OTP"})
    assert r.status == 201 and r.json["status"] == "pending", r
    sid = r.json["id"]
    assert sid.startswith("sid_") and r.json["countries"] == ["NG", "GH"], r
    expect_error(req("POST", "/v1/sender-ids", {"senderId": "ACME"}), 409, "conflict")
    for bad in ("", "TwelveLetter", "12345", "AC-ME", 7, None):
        expect_error(req("POST", "/v1/sender-ids", {"senderId": bad}), 400, "sender_id_invalid")
    expect_error(req("POST", "/v1/sender-ids", {"senderId": "OK", "countries": ["XX1"]}), 400,
                 "validation_error")
    assert [x["id"] for x in req("GET", "/v1/sender-ids").json["senderIds"]] == [sid]
    expect_error(req("GET", "/v1/sender-ids/" + sid, key=T["other"]), 404, "not_found")
    expect_error(req("GET", "/v1/sender-ids/nope"), 400, "validation_error")
    # pending: test sends may use it, live sends may not
    assert gw.send(T["test"], frm="ACME").status == 202
    expect_error(gw.send(T["live"], frm="ACME"), 400, "sender_id_invalid",
                 "Sender ID ACME is not approved yet")
    expect_error(gw.send(T["live"], frm="NOBODY"), 400, "sender_id_invalid",
                 "Sender ID NOBODY is not registered")
    expect_error(gw.send(T["other"], frm="ACME"), 400, "sender_id_invalid",
                 "Sender ID ACME is not registered")
    # only an admin approves or rejects
    expect_error(req("PATCH", "/v1/sender-ids/" + sid, {"status": "approved"}), 403, "forbidden")
    expect_error(req("PATCH", "/v1/sender-ids/" + sid, {"status": "rejected"}, key=ADMIN_KEY),
                 400, "validation_error", "rejectionReason is required to reject")
    expect_error(req("PATCH", "/v1/sender-ids/" + sid, {"status": "great"}, key=ADMIN_KEY), 400,
                 "validation_error")
    r = req("PATCH", "/v1/sender-ids/" + sid, {"status": "approved"}, key=ADMIN_KEY)
    assert r.status == 200 and r.json["status"] == "approved", r
    r = gw.send(T["live"], frm="ACME", to="+15559870011")
    assert r.status == 202, r  # this gateway's live route is the simulator
    mid = r.json["messageId"]
    wait_for(lambda: gw.status_of(T["live"], mid) == "delivered", 30, "delivered")
    r = req("PATCH", "/v1/sender-ids/" + sid,
            {"status": "rejected", "rejectionReason": "Brand not verified"}, key=ADMIN_KEY)
    assert r.status == 200 and r.json["rejectionReason"] == "Brand not verified", r
    for key in (T["test"], T["live"]):
        expect_error(gw.send(key, frm="ACME"), 400, "sender_id_invalid",
                     "Sender ID ACME was rejected")
    r = req("DELETE", "/v1/sender-ids/" + sid)
    assert r.status == 200, r
    expect_error(req("GET", "/v1/sender-ids/" + sid), 404, "not_found")


def test_ringcentral_route_refuses_sender_ids():
    g = Gateway(route='"ringcentral"')
    try:
        g.start()
        tid = g.tenant()
        live = g.app(tid, mode="live")["apiKey"]
        test = g.app(tid, mode="test", name="t")["apiKey"]
        sid = g.post("/v1/sender-ids", {"senderId": "ACME"}, key=live).json["id"]
        r = g.request("PATCH", "/v1/sender-ids/" + sid, {"status": "approved"}, key=ADMIN_KEY)
        assert r.status == 200, r
        expect_error(g.send(live, frm="ACME"), 400, "sender_id_invalid",
                     "Sender ID ACME cannot be used on this route: RingCentral sends only "
                     "from phone numbers")
        assert g.send(test, frm="ACME").status == 202  # the simulator carries it
    finally:
        g.cleanup()


if __name__ == "__main__":
    try:
        gw.start()
        setup()
        run([
            ("templates: create, slug, bad input, get by id or slug, tenancy, put, delete",
             test_template_crud),
            ("render previews body, encoding and segments and sends nothing",
             test_render_sends_nothing),
            ("send with template + variables; missing variable or template stores nothing",
             test_send_with_template),
            ("sender IDs: pending, approved, rejected, in live and test mode",
             test_sender_ids),
            ("a RingCentral route refuses sender IDs on live sends",
             test_ringcentral_route_refuses_sender_ids),
        ])
    finally:
        gw.cleanup()
