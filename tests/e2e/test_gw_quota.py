"""Cost, monthly quota and wallet (SPEC section 4): live messages are charged
at acceptance (quota segments first, then the wallet at the country's price
per segment), refused with 402 when neither covers them, refunded when they
end failed or rejected; test keys never spend."""
import os
import subprocess

from gwtest import ADMIN_KEY, BIN, Gateway, expect_error, run, wait_for

gw = Gateway(base=False, config="""
limits = { app_key_per_min = 1000000; admin_key_per_min = 1000000; };
retry = { base_ms = 50; max_ms = 200; };
transport = { default_route = [ "sim" ]; sim = { latency_ms = 5; dlr_delay_ms = 50; }; };
pricing = { currency = "USD"; default_per_segment = 10; per_segment = [ "US=5", "GB=20" ]; };
""")
US, GB = "+15559871234", "+447700900123"
TWO_SEGMENTS = "x" * 161


def tenant(quota, wallet):
    r = gw.post("/v1/tenants", {"name": "payer", "monthlyQuota": quota, "wallet": wallet},
                key=ADMIN_KEY)
    assert r.status == 201, r
    tid = r.json["id"]
    return tid, gw.app(tid, mode="live")["apiKey"]


def ledger(tid):
    t = gw.get("/v1/tenants/" + tid, key=ADMIN_KEY).json
    return t["wallet"], t["usage"]["quotaUsed"]


def cost(key, mid):
    return gw.get("/v1/sms/" + mid, key=key).json["cost"]


def send(key, to=US, body="hello"):
    r = gw.send(key, to=to, body=body)
    return r


def test_quota_then_wallet_then_402():
    tid, key = tenant(quota=3, wallet=12)
    ids = []
    for _ in range(3):
        r = send(key)
        assert r.status == 202, r
        ids.append(r.json["messageId"])
    assert cost(key, ids[0]) == {"amount": 5, "currency": "USD", "quotaSegments": 1,
                                 "walletDebit": 0, "refunded": False}
    assert ledger(tid) == (12, 3)
    r = send(key)  # quota spent: 5 from the wallet
    assert r.status == 202, r
    assert cost(key, r.json["messageId"])["walletDebit"] == 5
    assert ledger(tid) == (7, 3)
    n = gw.count(key)
    expect_error(send(key, body=TWO_SEGMENTS), 402, "sms_quota_exceeded",
                 "Monthly SMS quota and wallet are exhausted")  # 10 > 7
    assert gw.count(key) == n and ledger(tid) == (7, 3)  # nothing stored, nothing spent
    r = send(key)
    assert r.status == 202, r
    assert ledger(tid) == (2, 3)
    expect_error(send(key), 402, "sms_quota_exceeded")
    expect_error(send(key, to=GB), 402, "sms_quota_exceeded")  # 20 > 2
    # an admin tops the wallet up; the GB price applies
    r = gw.request("PATCH", "/v1/tenants/" + tid, {"wallet": 100}, key=ADMIN_KEY)
    assert r.status == 200 and r.json["wallet"] == 100, r
    r = send(key, to=GB)
    assert r.status == 202 and cost(key, r.json["messageId"])["walletDebit"] == 20, r
    assert ledger(tid) == (80, 3)
    for mid in ids:
        wait_for(lambda: gw.status_of(key, mid) == "delivered", 30, "delivered")
    assert ledger(tid) == (80, 3)  # delivery changes nothing


def test_refunds_on_failed_and_rejected():
    tid, key = tenant(quota=1, wallet=50)
    r = send(key, to="+15559870007")  # the simulator's permanent failure
    assert r.status == 202, r
    failed = r.json["messageId"]
    r = send(key, to="+15559870002")  # rejected (phone_invalid)
    assert r.status == 202, r
    rejected = r.json["messageId"]
    # first used the quota, the second 5 from the wallet
    wait_for(lambda: gw.status_of(key, failed) == "failed", 30, "failed")
    wait_for(lambda: gw.status_of(key, rejected) == "rejected", 30, "rejected")
    assert cost(key, failed)["refunded"] and cost(key, rejected)["refunded"]
    assert ledger(tid) == (50, 0), ledger(tid)
    # the quota given back serves the next message
    r = send(key)
    assert r.status == 202 and cost(key, r.json["messageId"])["quotaSegments"] == 1, r
    assert ledger(tid) == (50, 1)


def test_retries_are_charged_once():
    tid, key = tenant(quota=0, wallet=5)
    r = send(key, to="+15559870005")  # two retryable failures, then delivered
    assert r.status == 202, r
    mid = r.json["messageId"]
    wait_for(lambda: gw.status_of(key, mid) == "delivered", 30, "delivered")
    assert len(gw.get("/v1/sms/" + mid, key=key).json["providerAttempts"]) == 3
    assert ledger(tid) == (0, 0)


def test_test_keys_never_spend():
    tid, _ = tenant(quota=0, wallet=0)
    test_key = gw.app(tid, mode="test", name="t")["apiKey"]
    for _ in range(3):
        r = send(test_key)
        assert r.status == 202, r
    assert cost(test_key, r.json["messageId"])["amount"] == 0
    assert ledger(tid) == (0, 0)


def test_bad_pricing_refused_at_start():
    for bad in ('[ "USA=1" ]', '[ "US=-1" ]', '[ "US=1x" ]', '[ "ZZ=1" ]'):
        g = Gateway(base=False, config="pricing = { per_segment = %s; };" % bad)
        try:
            r = subprocess.run([BIN], env=g.env, capture_output=True, text=True, timeout=60)
            assert r.returncode != 0, (bad, r)
            assert "pricing.per_segment" in r.stdout + r.stderr, (bad, r.stderr)
        finally:
            g.cleanup()
    assert os.path.exists(BIN)


if __name__ == "__main__":
    try:
        gw.start()
        run([
            ("quota first, then the wallet at the country's price, then 402 (nothing stored)",
             test_quota_then_wallet_then_402),
            ("failed and rejected messages are refunded (quota and wallet)",
             test_refunds_on_failed_and_rejected),
            ("retries are charged once", test_retries_are_charged_once),
            ("test keys never spend", test_test_keys_never_spend),
            ("a bad price table is refused at start", test_bad_pricing_refused_at_start),
        ])
    finally:
        gw.cleanup()
