"""Rate limits: per key (429 with Retry-After and X-RateLimit-*), the
failed-authentication IP block, and the per-number pacing of live sends
(nothing refused, order kept)."""
from gwtest import ADMIN_KEY, Gateway, expect_error, run, wait_for


def test_per_key_limit():
    gw = Gateway(config="limits = { app_key_per_min = 5; key_window_s = 60; };", base=False)
    try:
        gw.start()
        _, key = gw.tenant_app()
        # tenant_app used the admin key; the app key has its own window
        seen = []
        for _ in range(5):
            r = gw.get("/v1/sms", key=key)
            assert r.status == 200, r
            seen.append(int(r.headers["x-ratelimit-remaining"]))
            assert r.headers["x-ratelimit-limit"] == "5"
        assert seen == [4, 3, 2, 1, 0], seen
        r = gw.get("/v1/sms", key=key)
        expect_error(r, 429, "rate_limit_exceeded", "Too many requests")
        assert 1 <= int(r.headers["retry-after"]) <= 60, r.headers
        assert int(r.headers["x-ratelimit-reset"]) > 0
        expect_error(gw.send(key), 429, "rate_limit_exceeded")
        # another key is not affected
        _, other = gw.tenant_app()
        assert gw.get("/v1/sms", key=other).status == 200
    finally:
        gw.cleanup()


def test_failed_auth_blocks_ip():
    gw = Gateway(config="limits = { auth_fail_max = 3; auth_fail_window_s = 300; "
                        "auth_block_s = 900; };", base=False)
    try:
        gw.start()
        _, key = gw.tenant_app()
        for _ in range(3):
            expect_error(gw.get("/v1/sms", key="sgw_" + "9" * 32), 401, "unauthorized")
        # blocked now: even a valid key gets 429
        r = gw.get("/v1/sms", key=key)
        expect_error(r, 429, "rate_limit_exceeded", "Too many requests")
        assert int(r.headers["retry-after"]) > 800, r.headers
        assert gw.get("/health").status == 200  # unauthenticated routes stay up
    finally:
        gw.cleanup()


def test_per_number_pacing_keeps_order():
    gw = Gateway(config="limits = { app_key_per_min = 1000000; admin_key_per_min = 1000000; "
                        "from_per_window = 3; from_window_s = 1; "
                        "from_retry_delay_ms = 300; };\n"
                        "transport = { default_route = [ \"sim\" ]; };", base=False)
    try:
        gw.start()
        _, key = gw.tenant_app(mode="live")  # live keys are paced; the route is the simulator
        ids = [gw.send(key, to="+1555%03d0001" % i, frm="+15550000011").json["messageId"]
               for i in range(10)]
        other = gw.send(key, frm="+15550000022").json["messageId"]
        for mid in ids + [other]:
            wait_for(lambda: gw.status_of(key, mid) == "delivered", 60, mid + " delivered")
        sent_at = []
        for mid in ids:
            m = gw.get("/v1/sms/" + mid, key=key).json
            sent_at.append(m["providerAttempts"][0]["startedAt"])
            assert [e["status"] for e in m["events"]][-1] == "delivered"
        assert sent_at == sorted(sent_at), sent_at  # in the order they were accepted
        # paced: not all 10 within the first window
        assert sent_at[9] > sent_at[0]
        import datetime
        t = [datetime.datetime.fromisoformat(s.replace("Z", "+00:00")) for s in sent_at]
        assert (t[9] - t[0]).total_seconds() >= 1.0, "10 sends from one number in under a window"
    finally:
        gw.cleanup()


run([
    ("per-key limit: X-RateLimit-*, then 429 with Retry-After", test_per_key_limit),
    ("failed authentications block the IP, even for a valid key", test_failed_auth_blocks_ip),
    ("per-number pacing: nothing refused, order kept", test_per_number_pacing_keeps_order),
])
