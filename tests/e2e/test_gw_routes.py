"""Per-tenant provider routes, failover and circuit breakers (SPEC section
10, issue 6), with the in-process simulator under its two names: "sim" is
down for recipients ending 0006 (every attempt there fails, retryable) and
"sim_b" delivers them, so an outage of one provider can be made at will.

  - PUT/GET/DELETE /v1/tenants/:id/route: admin only to change, the tenant
    may read its own; every malformed body is refused and changes nothing;
  - a live key follows its tenant's route, in its order, with failover;
  - the breaker of "sim" opens after min_calls answers with enough
    failures (smsgw_provider_circuit_state 2), messages then skip "sim"
    (their first attempt is at sim_b), it half-opens after open_ms, its
    probes succeed and it closes (state 0);
  - with every provider of the route open, a message waits queued, is not
    charged an attempt, and goes out when the breaker half-opens.
Nothing here asserts a duration: every wait polls with a timeout.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))
from gwtest import ADMIN_KEY, Gateway, expect_error, run, wait_for  # noqa: E402

CIRCUIT = "circuit = { min_calls = 5; failure_ratio = 0.5; open_ms = %d; probes = 2; window_s = 60; };"


def gateway(open_ms=8000):
    g = Gateway(transport=CIRCUIT % open_ms,
                config="retry = { base_ms = 200; max_ms = 400; max_retries = 3; };")
    g.start()
    return g


def circuit_state(g, provider, tenant=""):
    r = g.get("/metrics")
    assert r.status == 200, r
    m = re.search(r'^smsgw_provider_circuit_state\{provider="%s",tenant="%s"\} (\d)$'
                  % (provider, tenant), r.raw, re.M)
    return int(m.group(1)) if m else None


def full(g, key, mid):
    r = g.get("/v1/sms/" + mid, key=key)
    assert r.status == 200, r
    return r.json


def wait_status(g, key, mid, want, timeout=60):
    return wait_for(lambda: (lambda m: m if m["status"] in want else None)(full(g, key, mid)),
                    timeout, "%s to be %s" % (mid, want))


def attempts(msg):
    return [(a["provider"], a["ok"]) for a in msg["providerAttempts"]]


def case_route_api():
    g = gateway()
    try:
        t1, k1 = g.tenant_app(mode="live")
        t2, _ = g.tenant_app(mode="live")
        r = g.get("/v1/tenants/%s/route" % t1, key=ADMIN_KEY)
        assert r.status == 200 and r.json == {"tenantId": t1, "providers": ["sim"],
                                              "source": "default"}, r
        # the tenant reads its own route, not another's
        assert g.get("/v1/tenants/%s/route" % t1, key=k1).status == 200
        expect_error(g.get("/v1/tenants/%s/route" % t2, key=k1), 404, "not_found")
        # only an admin changes it
        expect_error(g.request("PUT", "/v1/tenants/%s/route" % t1, {"providers": ["sim_b"]},
                               key=k1), 403, "forbidden")
        bad = [
            ({"providers": []}, "providers must be a non-empty array of provider names"),
            ({"providers": "sim"}, "providers must be a non-empty array of provider names"),
            ({}, "providers must be a non-empty array of provider names"),
            ({"providers": ["sim", 7]}, "providers[1] must be a string"),
            ({"providers": ["sim", "carrier-pigeon"]}, "Unknown provider: carrier-pigeon"),
            ({"providers": ["sim", "sim_b", "sim"]}, "providers names sim twice"),
            ({"providers": ["sim"] * 9}, "providers may name at most 8 providers"),
        ]
        for body, why in bad:
            expect_error(g.request("PUT", "/v1/tenants/%s/route" % t1, body, key=ADMIN_KEY),
                         400, "validation_error", why)
        for raw in (b"{", b"[]", b"null", b'{"providers": ["sim"]'):
            r = g.request("PUT", "/v1/tenants/%s/route" % t1, raw=raw, key=ADMIN_KEY)
            assert r.status == 400, (raw, r)
        r = g.request("PUT", "/v1/tenants/%s/route" % t1, raw=b"{" + b" " * (2 << 20) + b"}",
                      key=ADMIN_KEY)
        assert r.status == 413, r
        # nothing changed by any of them
        r = g.get("/v1/tenants/%s/route" % t1, key=ADMIN_KEY)
        assert r.json["source"] == "default", r
        expect_error(g.request("PUT", "/v1/tenants/tenant_0123456789abcdef/route",
                               {"providers": ["sim"]}, key=ADMIN_KEY), 404, "not_found")
        expect_error(g.request("PUT", "/v1/tenants/nope/route", {"providers": ["sim"]},
                               key=ADMIN_KEY), 400, "validation_error")
        r = g.request("PUT", "/v1/tenants/%s/route" % t1, {"providers": ["sim_b", "sim"]},
                      key=ADMIN_KEY)
        assert r.status == 200 and r.json == {"tenantId": t1, "providers": ["sim_b", "sim"],
                                              "source": "tenant"}, r
        assert g.get("/v1/tenants/%s/route" % t1, key=k1).json["providers"] == ["sim_b", "sim"]
        # the other tenant keeps the default
        assert g.get("/v1/tenants/%s/route" % t2, key=ADMIN_KEY).json["source"] == "default"
        # a tenant PATCH keeps the route
        assert g.request("PATCH", "/v1/tenants/" + t1, {"name": "renamed"},
                         key=ADMIN_KEY).status == 200
        assert g.get("/v1/tenants/%s/route" % t1, key=ADMIN_KEY).json["source"] == "tenant"
        expect_error(g.request("DELETE", "/v1/tenants/%s/route" % t1, key=k1), 403, "forbidden")
        r = g.request("DELETE", "/v1/tenants/%s/route" % t1, key=ADMIN_KEY)
        assert r.status == 200 and r.json["source"] == "default" and \
            r.json["providers"] == ["sim"], r
    finally:
        g.cleanup()


def case_route_order_and_failover():
    g = gateway()
    try:
        t1, k1 = g.tenant_app(mode="live")
        t2, k2 = g.tenant_app(mode="live")
        assert g.request("PUT", "/v1/tenants/%s/route" % t1, {"providers": ["sim", "sim_b"]},
                         key=ADMIN_KEY).status == 200
        assert g.request("PUT", "/v1/tenants/%s/route" % t2, {"providers": ["sim_b", "sim"]},
                         key=ADMIN_KEY).status == 200
        # sim is down for ...0006: t1's message fails over to sim_b at once
        m1 = g.send(k1, to="+15559870006").json["messageId"]
        # t2's route starts at sim_b: one attempt
        m2 = g.send(k2, to="+15559870006").json["messageId"]
        # an ordinary message of t2 also goes to sim_b first
        m3 = g.send(k2, to="+15559870001").json["messageId"]
        a = wait_status(g, k1, m1, ("delivered",))
        assert attempts(a) == [("sim", False), ("sim_b", True)], a["providerAttempts"]
        assert a["provider"] == "sim_b" and a["status"] == "delivered"
        b = wait_status(g, k2, m2, ("delivered",))
        assert attempts(b) == [("sim_b", True)], b["providerAttempts"]
        c = wait_status(g, k2, m3, ("delivered",))
        assert attempts(c) == [("sim_b", True)], c["providerAttempts"]
    finally:
        g.cleanup()


def case_circuit_opens_and_closes():
    g = gateway(open_ms=8000)
    try:
        tid, key = g.tenant_app(mode="live")
        assert g.request("PUT", "/v1/tenants/%s/route" % tid, {"providers": ["sim", "sim_b"]},
                         key=ADMIN_KEY).status == 200
        assert circuit_state(g, "sim") in (None, 0)
        down = [g.send(key, to="+155598%02d0006" % i).json["messageId"] for i in range(8)]
        for mid in down:
            m = wait_status(g, key, mid, ("delivered",))
            assert m["providerAttempts"][-1]["provider"] == "sim_b", m
        # 5 answers at sim, all failures: the breaker of sim is open
        wait_for(lambda: circuit_state(g, "sim") == 2, 30, "sim's circuit to open")
        fails_at_sim = sum(1 for mid in down for p, ok in attempts(full(g, key, mid))
                           if p == "sim" and not ok)
        assert 5 <= fails_at_sim <= 8, fails_at_sim
        opened = re.search(r'^smsgw_provider_circuit_opened_total\{provider="sim",tenant=""\} '
                           r'(\d+)$', g.get("/metrics").raw, re.M)
        assert opened and int(opened.group(1)) == 1, opened
        # while open, a message that sim would deliver skips it
        skip = g.send(key, to="+15559870001").json["messageId"]
        m = wait_status(g, key, skip, ("delivered",))
        assert circuit_state(g, "sim") == 2, "the breaker half-opened before the check: " \
            "raise open_ms"
        assert attempts(m) == [("sim_b", True)], m["providerAttempts"]
        # after open_ms it half-opens; two probes succeed and it closes
        wait_for(lambda: circuit_state(g, "sim") == 1, 60, "sim's circuit to half-open")
        probes = [g.send(key, to="+15559870001").json["messageId"] for _ in range(2)]
        for mid in probes:
            m = wait_status(g, key, mid, ("delivered",))
            assert attempts(m) == [("sim", True)], m["providerAttempts"]
        wait_for(lambda: circuit_state(g, "sim") == 0, 30, "sim's circuit to close")
        after = g.send(key, to="+15559870001").json["messageId"]
        assert attempts(wait_status(g, key, after, ("delivered",))) == [("sim", True)]
    finally:
        g.cleanup()


def case_all_open_waits_without_an_attempt():
    g = gateway(open_ms=3000)
    try:
        tid, key = g.tenant_app(mode="live")
        assert g.request("PUT", "/v1/tenants/%s/route" % tid, {"providers": ["sim"]},
                         key=ADMIN_KEY).status == 200
        # 3 messages, each failing at sim and retried after 200-400 ms: the
        # fifth failure opens the breaker
        down = [g.send(key, to="+155598%02d0006" % i).json["messageId"] for i in range(3)]
        wait_for(lambda: circuit_state(g, "sim") == 2, 60, "sim's circuit to open")
        # while open, with no other provider, a message waits queued
        mid = g.send(key, to="+15559870001").json["messageId"]
        m = full(g, key, mid)
        assert m["status"] == "queued" or circuit_state(g, "sim") != 2, m
        m = wait_status(g, key, mid, ("delivered",), timeout=90)
        # the wait is no attempt: one, at sim, the probe that closed it
        assert attempts(m) == [("sim", True)], m["providerAttempts"]
        assert [e["status"] for e in m["events"]] == ["queued", "sending", "sent", "delivered"], \
            m["events"]
        for d in down:  # the outage's messages end failed, none lost
            wait_status(g, key, d, ("failed", "delivered"), timeout=90)
    finally:
        g.cleanup()


def case_test_keys_ignore_breakers():
    g = gateway(open_ms=60000)
    try:
        tid, live = g.tenant_app(mode="live")
        test = g.app(tid, mode="test", name="t")["apiKey"]
        assert g.request("PUT", "/v1/tenants/%s/route" % tid, {"providers": ["sim", "sim_b"]},
                         key=ADMIN_KEY).status == 200
        for i in range(6):
            g.send(live, to="+155598%02d0006" % i)
        wait_for(lambda: circuit_state(g, "sim") == 2, 60, "sim's circuit to open")
        # a test key's message still starts at sim (test_route; no breakers)
        mid = g.send(test, to="+15559870001").json["messageId"]
        m = wait_status(g, test, mid, ("delivered",))
        assert attempts(m) == [("sim", True)], m["providerAttempts"]
    finally:
        g.cleanup()


if __name__ == "__main__":
    run([
        ("route API: admin writes, tenant reads, bad bodies refused, nothing changed",
         case_route_api),
        ("a live key follows its tenant's route, with failover", case_route_order_and_failover),
        ("circuit opens on failures, skips, half-opens, closes", case_circuit_opens_and_closes),
        ("every circuit open: the message waits, not counted as an attempt",
         case_all_open_waits_without_an_attempt),
        ("test keys use no breakers", case_test_keys_ignore_breakers),
    ])
