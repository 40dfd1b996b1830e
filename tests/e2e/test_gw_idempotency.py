"""Idempotency-Key on POST /v1/sms/send (SPEC section 4, Robase semantics):
replays, conflicts, stored 4xx, unstored 5xx, tenant scope, key syntax,
concurrent duplicates, kill -9, expiry."""
import http.client
import json
import threading

from gwtest import Gateway, Response, expect_error, run, wait_for

gw = Gateway()
# keys expire after 2 s
gw_short = Gateway(config="idempotency = { ttl_s = 2; };")
# every send times out (503): a validator thread holds what it takes 1.8 s
# (linger), so each request is older than request_timeout_ms / 2 when it is
# looked at, and dropped (requests come 1 s apart: 1.8 is not a multiple)
gw_slow = Gateway(config="""
http = { request_timeout_ms = 1000; };
actors = { validator = { linger_us = 1800000; }; };
""")

MSG = {"to": "+15559870001", "from": "+15551234567", "body": "hello"}
CONFLICT = "Idempotency-Key was already used with a different request"
BAD_KEY = "Idempotency-Key must be 1-255 printable ASCII characters"


def send(g, key, idem, payload=None):
    return g.post("/v1/sms/send", payload if payload is not None else MSG, key=key,
                  headers={"Idempotency-Key": idem} if idem is not None else None)


def replayed(r):
    return r.headers.get("idempotent-replay") == "true"


def test_replay_returns_the_stored_answer():
    _, key = gw.tenant_app()
    first = send(gw, key, "order-1")
    assert first.status == 202, first
    assert not replayed(first), first.headers
    again = send(gw, key, "order-1")
    assert again.status == 202, again
    assert replayed(again), again.headers
    assert again.raw == first.raw, (again.raw, first.raw)
    assert again.json["messageId"] == first.json["messageId"]
    assert again.json["status"] == "queued"
    assert gw.count(key) == 1
    # another key is another request
    other = send(gw, key, "order-2")
    assert other.status == 202 and not replayed(other)
    assert other.json["messageId"] != first.json["messageId"]
    assert gw.count(key) == 2


def test_different_body_is_a_conflict():
    _, key = gw.tenant_app()
    first = send(gw, key, "k-conflict")
    assert first.status == 202, first
    r = send(gw, key, "k-conflict", dict(MSG, body="something else"))
    expect_error(r, 409, "conflict", CONFLICT)
    assert not replayed(r)
    assert gw.count(key) == 1
    # the stored answer is untouched
    again = send(gw, key, "k-conflict")
    assert replayed(again) and again.json["messageId"] == first.json["messageId"], again
    # a key first used with a refused body conflicts the same way
    bad = send(gw, key, "k-conflict-2", {"to": "+15559870001"})
    expect_error(bad, 400, "validation_error")
    expect_error(send(gw, key, "k-conflict-2"), 409, "conflict", CONFLICT)
    assert gw.count(key) == 1


def test_a_400_is_stored_and_replayed():
    _, key = gw.tenant_app()
    payload = {"to": "12345", "from": "+15551234567", "body": "hi"}
    first = send(gw, key, "k-400", payload)
    expect_error(first, 400, "phone_invalid")
    assert not replayed(first)
    again = send(gw, key, "k-400", payload)
    assert again.status == 400 and replayed(again), again
    assert again.raw == first.raw
    assert gw.count(key) == 0


def test_a_5xx_is_not_stored():
    _, key = gw_slow.tenant_app()
    first = send(gw_slow, key, "k-503")
    expect_error(first, 503, "unavailable")
    again = send(gw_slow, key, "k-503")  # processed again, not replayed
    expect_error(again, 503, "unavailable")
    assert not replayed(again), again.headers
    # a different body is not a conflict either: nothing was kept
    other = send(gw_slow, key, "k-503", dict(MSG, body="changed"))
    expect_error(other, 503, "unavailable")
    assert not replayed(other)
    assert gw_slow.count(key) == 0


def test_keys_are_per_tenant():
    _, key_a = gw.tenant_app()
    _, key_b = gw.tenant_app()
    a = send(gw, key_a, "shared-key")
    b = send(gw, key_b, "shared-key")
    assert a.status == 202 and b.status == 202, (a, b)
    assert not replayed(a) and not replayed(b)
    assert a.json["messageId"] != b.json["messageId"]
    assert gw.count(key_a) == 1 and gw.count(key_b) == 1
    r = send(gw, key_a, "shared-key")
    assert replayed(r) and r.json["messageId"] == a.json["messageId"], r


def test_bad_keys_are_refused():
    _, key = gw.tenant_app()
    for bad in ["", "x" * 256, "caf\u00e9", " " * 300]:
        r = send(gw, key, bad)
        expect_error(r, 400, "validation_error", BAD_KEY)
    # control characters: civetweb refuses the header line itself (400)
    for bad in ["abc\x7fdef", "tab\there", "a\x01b"]:
        r = send(gw, key, bad)
        assert r.status == 400, (bad, r)
    assert gw.count(key) == 0
    # the edges are fine: 1 and 255 characters, any printable ASCII
    for good in ["a", "y" * 255, "!~ {}\"' key/with:punctuation"]:
        r = send(gw, key, good)
        assert r.status == 202 and not replayed(r), (good, r)
    assert gw.count(key) == 3


def post_alone(g, path, payload, key, headers):
    """One request on its own connection (threads share none)."""
    c = http.client.HTTPConnection("127.0.0.1", g.port, timeout=60)
    try:
        h = {"Content-Type": "application/json", "Authorization": "Bearer " + key}
        h.update(headers)
        c.request("POST", path, body=json.dumps(payload).encode(), headers=h)
        r = c.getresponse()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()},
                        r.read().decode("utf-8", "replace"))
    finally:
        c.close()


def test_concurrent_duplicates_send_once():
    _, key = gw.tenant_app()
    n = 20
    barrier = threading.Barrier(n)
    out = [None] * n

    def one(i):
        barrier.wait(30)
        try:
            out[i] = post_alone(gw, "/v1/sms/send", MSG, key, {"Idempotency-Key": "burst"})
        except Exception as e:  # reported below
            out[i] = e

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(isinstance(r, Response) for r in out), out
    assert all(r.status == 202 for r in out), out
    ids = {r.json["messageId"] for r in out}
    assert len(ids) == 1, ids
    assert sum(1 for r in out if not replayed(r)) == 1, [r.headers for r in out]
    assert gw.count(key) == 1


def test_survives_kill_9():
    _, key = gw.tenant_app()
    first = send(gw, key, "durable")
    assert first.status == 202, first
    bad = send(gw, key, "durable-400", {"body": "no numbers"})
    expect_error(bad, 400, "validation_error")
    gw.kill9()
    gw.restart()
    again = send(gw, key, "durable")
    assert again.status == 202 and replayed(again), again
    assert again.raw == first.raw
    again_bad = send(gw, key, "durable-400", {"body": "no numbers"})
    assert again_bad.status == 400 and replayed(again_bad) and again_bad.raw == bad.raw
    expect_error(send(gw, key, "durable", dict(MSG, body="other")), 409, "conflict", CONFLICT)
    assert gw.count(key) == 1


def test_expired_keys_are_not_replayed():
    _, key = gw_short.tenant_app()
    first = send(gw_short, key, "short-lived")
    assert first.status == 202, first
    # once the 2 s are over, the same request is a new one
    fresh = wait_for(lambda: (lambda r: r if not replayed(r) else None)(
        send(gw_short, key, "short-lived")), 30, "the key to expire", interval=0.2)
    assert fresh.status == 202, fresh
    assert fresh.json["messageId"] != first.json["messageId"]
    assert gw_short.count(key) == 2
    # and it is kept again from now on
    again = send(gw_short, key, "short-lived")
    assert replayed(again) and again.json["messageId"] == fresh.json["messageId"], again


try:
    gw.start()
    gw_short.start()
    gw_slow.start()
    run([
        ("a replay returns the stored 202 with Idempotent-Replay; one message",
         test_replay_returns_the_stored_answer),
        ("the same key with another body: 409 conflict, nothing stored",
         test_different_body_is_a_conflict),
        ("a 400 answer is stored and replayed", test_a_400_is_stored_and_replayed),
        ("a 5xx answer is not stored: the request runs again", test_a_5xx_is_not_stored),
        ("keys are per tenant", test_keys_are_per_tenant),
        ("keys that are not 1-255 printable ASCII: 400, nothing sent", test_bad_keys_are_refused),
        ("20 concurrent duplicates: one message, 20 answers with its id",
         test_concurrent_duplicates_send_once),
        ("stored answers survive kill -9", test_survives_kill_9),
        ("an expired key is not replayed (ttl_s = 2)", test_expired_keys_are_not_replayed),
    ])
finally:
    gw.cleanup()
    gw_short.cleanup()
    gw_slow.cleanup()
