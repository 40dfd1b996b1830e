"""Tenants, apps and roles: isolation between tenants and apps, key
rotation, admin-only operations, and what keys never show."""
import re

from gwtest import ADMIN_KEY, Gateway, expect_error, run

gw = Gateway()


def test_two_tenants_cannot_see_each_other():
    ta, ka = gw.tenant_app()
    tb, kb = gw.tenant_app()
    ma = gw.send(ka).json["messageId"]
    mb = gw.send(kb).json["messageId"]
    for key, other in ((ka, mb), (kb, ma)):
        expect_error(gw.get("/v1/sms/status/" + other, key=key), 404, "not_found")
        expect_error(gw.get("/v1/sms/" + other, key=key), 404, "not_found")
        expect_error(gw.post("/v1/sms/%s/cancel" % other, key=key), 404, "not_found")
        ids = [m["messageId"] for m in gw.get("/v1/sms?limit=200", key=key).json["data"]]
        assert other not in ids
    # same for tenants and apps of the other tenant
    expect_error(gw.get("/v1/tenants/" + tb, key=ka), 404, "not_found")
    assert gw.get("/v1/tenants/" + ta, key=ka).json["id"] == ta
    app_b = gw.get("/v1/apps", key=kb).json["apps"][0]["appId"]
    expect_error(gw.get("/v1/apps/" + app_b, key=ka), 404, "not_found")
    expect_error(gw.request("DELETE", "/v1/apps/" + app_b, key=ka), 404, "not_found")
    expect_error(gw.post("/v1/apps/%s/rotate-key" % app_b, key=ka), 404, "not_found")
    assert gw.get("/v1/sms/status/" + ma, key=ADMIN_KEY).status == 200


def test_apps_of_one_tenant_are_isolated_for_messages():
    tid = gw.tenant()
    k1 = gw.app(tid)["apiKey"]
    k2 = gw.app(tid)["apiKey"]
    m1 = gw.send(k1).json["messageId"]
    expect_error(gw.get("/v1/sms/status/" + m1, key=k2), 404, "not_found")
    assert gw.count(k2) == 0 and gw.count(k1) == 1


def test_register_contract_and_errors():
    tid = gw.tenant()
    r = gw.post("/v1/apps/register", {"name": "live one", "tenantId": tid}, key=ADMIN_KEY)
    assert r.status == 201, r
    assert re.match(r"^sgw_[0-9a-f]{32}$", r.json["apiKey"]), r.json
    assert r.json["apiKeyPrefix"] == r.json["apiKey"][:8]
    assert r.json["role"] == "app" and r.json["tenantId"] == tid
    assert re.match(r"^app_[0-9a-f]{16}$", r.json["appId"])
    t = gw.app(tid, mode="test")
    assert re.match(r"^sgw_test_[0-9a-f]{32}$", t["apiKey"]) and t["apiKeyPrefix"] == "sgw_test"
    w = gw.post("/v1/apps/register", {"name": "hooks", "tenantId": tid,
                                      "webhookUrl": "https://example.com/hook"}, key=ADMIN_KEY)
    assert re.match(r"^whsec_[0-9a-f]{64}$", w.json["webhookSecret"]), w.json
    for body, msg in (({"tenantId": tid}, "name must be 1-100 characters"),
                      ({"name": "", "tenantId": tid}, "name must be 1-100 characters"),
                      ({"name": "x" * 101, "tenantId": tid}, "name must be 1-100 characters"),
                      ({"name": "x"}, "tenantId is required when registering new apps"),
                      ({"name": "x", "tenantId": "acme"}, "Invalid tenantId format"),
                      ({"name": "x", "tenantId": "tenant_" + "0" * 16}, "Tenant not found or not active"),
                      ({"name": "x", "tenantId": tid, "webhookUrl": "http://example.com/"},
                       "Invalid webhookUrl: must be https:// in production, max 2000 chars"),
                      ({"name": "x", "tenantId": tid, "webhookUrl": "https://e.com/" + "a" * 2000},
                       "Invalid webhookUrl: must be https:// in production, max 2000 chars"),
                      ({"name": "x", "tenantId": tid, "mode": "sandbox"}, "mode must be live or test")):
        expect_error(gw.post("/v1/apps/register", body, key=ADMIN_KEY), 400, "validation_error", msg)
    # an app key cannot make admin apps, nor apps in another tenant
    key = t["apiKey"]
    expect_error(gw.post("/v1/apps/register", {"name": "x", "tenantId": tid, "role": "admin"},
                         key=key), 403, "forbidden")
    other = gw.tenant()
    expect_error(gw.post("/v1/apps/register", {"name": "x", "tenantId": other}, key=key), 400,
                 "validation_error", "Tenant not found or not active")


def test_listing_never_shows_secrets():
    tid = gw.tenant()
    gw.post("/v1/apps/register", {"name": "hooks", "tenantId": tid,
                                  "webhookUrl": "https://example.com/h"}, key=ADMIN_KEY)
    for r in (gw.get("/v1/apps", key=ADMIN_KEY), gw.get("/v1/apps?tenantId=" + tid, key=ADMIN_KEY)):
        assert r.status == 200 and r.json["apps"]
        for app in r.json["apps"]:
            assert not {"apiKey", "keyHash", "webhookSecret"} & set(app), app
        assert "whsec_" not in r.raw and "keyHash" not in r.raw
        assert not re.search(r"sgw_(test_)?[0-9a-f]{32}", r.raw), r.raw


def test_rotate_update_delete():
    tid = gw.tenant()
    app = gw.app(tid)
    old, aid = app["apiKey"], app["appId"]
    r = gw.post("/v1/apps/%s/rotate-key" % aid, key=old)
    assert r.status == 200 and set(r.json) == {"apiKey", "apiKeyPrefix"}, r
    new = r.json["apiKey"]
    assert new != old and new.startswith("sgw_test_")
    expect_error(gw.get("/v1/apps", key=old), 401, "unauthorized", "Invalid API key")
    assert gw.get("/v1/apps", key=new).json["apps"][0]["appId"] == aid
    r = gw.request("PUT", "/v1/apps/" + aid, {"name": "renamed"}, key=new)
    assert r.status == 200 and r.json["name"] == "renamed", r
    expect_error(gw.request("PUT", "/v1/apps/" + aid, {"name": ""}, key=new), 400,
                 "validation_error", "name must be 1-100 characters")
    expect_error(gw.get("/v1/apps/not-an-id", key=new), 400, "validation_error",
                 "Invalid appId format")
    assert gw.request("DELETE", "/v1/apps/" + aid, key=ADMIN_KEY).status == 200
    expect_error(gw.get("/v1/apps", key=new), 401, "unauthorized", "Invalid API key")
    expect_error(gw.get("/v1/apps/" + aid, key=ADMIN_KEY), 404, "not_found")


def test_admin_only_operations():
    tid, key = gw.tenant_app()
    expect_error(gw.post("/v1/tenants", {"name": "x"}, key=key), 403, "forbidden")
    expect_error(gw.get("/v1/tenants", key=key), 403, "forbidden")
    expect_error(gw.request("PATCH", "/v1/tenants/" + tid, {"status": "active"}, key=key), 403,
                 "forbidden")
    expect_error(gw.send(ADMIN_KEY), 403, "forbidden")  # sending needs an app key
    for body, msg in (({"name": ""}, "name must be 1-100 characters"),
                      ({"name": "x", "wallet": -1}, "wallet must be a non-negative integer"),
                      ({"name": "x", "currency": "usd"}, None)):
        expect_error(gw.post("/v1/tenants", body, key=ADMIN_KEY), 400, "validation_error", msg)
    expect_error(gw.request("PATCH", "/v1/tenants/" + tid, {"status": "paused"}, key=ADMIN_KEY),
                 400, "validation_error", "status must be active, suspended or inactive")
    expect_error(gw.get("/v1/tenants/tenant_" + "0" * 16, key=ADMIN_KEY), 404, "not_found")
    r = gw.get("/v1/tenants", key=ADMIN_KEY)
    assert tid in [t["id"] for t in r.json["tenants"]]


def test_suspension_fails_queued_messages():
    tid, key = gw.tenant_app()
    import datetime
    at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=2)
    mid = gw.send(key, sendAt=at.isoformat().replace("+00:00", "Z")).json["messageId"]
    gw.request("PATCH", "/v1/tenants/" + tid, {"status": "suspended"}, key=ADMIN_KEY)
    from gwtest import wait_for
    wait_for(lambda: gw.get("/v1/sms/status/" + mid, key=ADMIN_KEY).json["status"] == "failed",
             30, "the suspended tenant's scheduled message fails")
    s = gw.get("/v1/sms/status/" + mid, key=ADMIN_KEY).json
    assert s["error"] == "Tenant suspended or inactive", s


try:
    gw.start()
    run([
        ("two tenants cannot read, list or cancel each other's things", test_two_tenants_cannot_see_each_other),
        ("apps of one tenant do not see each other's messages", test_apps_of_one_tenant_are_isolated_for_messages),
        ("register: keys, prefixes, secrets, every error text", test_register_contract_and_errors),
        ("listings never show keys, hashes or secrets", test_listing_never_shows_secrets),
        ("rotate kills the old key at once; update; delete", test_rotate_update_delete),
        ("admin-only operations and tenant validation", test_admin_only_operations),
        ("a suspended tenant's queued message fails with the reason", test_suspension_fails_queued_messages),
    ])
finally:
    gw.cleanup()
