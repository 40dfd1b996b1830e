"""RingCentral sends wait for a free connection before their timeout starts.

transport.ringcentral.max_connections bounds the requests in flight. A send
that waited behind others for one of them must not be declared timed out
for the time it waited (and then sent again by the retry, while its first
copy had gone out after all): with 2 connections, a 1.5 s timeout and a
carrier that takes 150 ms per send, 40 sends at once need ~3 s in all, yet
none may time out and the carrier must get each exactly once."""
import gwtest
from fctest import FakeCarrier
from gwtest import Gateway, run, wait_for

FROM = "+15551234567"  # the fake's number of extension 200000001
N = 40

fc = FakeCarrier().start()
gwtest.LIVE.append(fc)
gw = Gateway(base=False, config="""
limits = { app_key_per_min = 1000000; admin_key_per_min = 1000000;
           from_per_window = 100000; from_window_s = 1; };
retry = { base_ms = 100; max_ms = 400; };
transport = { default_route = [ "ringcentral" ];
              ringcentral = { max_connections = 2; timeout_ms = 1500;
                              ordered_per_number = false; status_poll_ms = 0;
                              numbers_miss_refresh_s = 0; }; };
""")


def test_queued_sends_are_not_timed_out():
    fc.config(latency_ms=150, ext_limit=100000)
    tid = gw.tenant()
    r = gw.request("PUT", "/v1/tenants/%s/connections/ringcentral" % tid, fc.creds(),
                   key=gwtest.ADMIN_KEY)
    assert r.status == 200, r
    key = gw.app(tid, mode="live")["apiKey"]
    mids = {}
    for i in range(N):
        body = "conn-test %d" % i
        r = gw.send(key, to="+1555987%04d" % (1000 + i), frm=FROM, body=body)
        assert r.status == 202, r
        mids[r.json["messageId"]] = body

    def all_sent():
        got = {}
        for mid in mids:
            m = gw.get("/v1/sms/" + mid, key=key).json
            if m["status"] not in ("sent", "delivered", "failed"):
                return None
            got[mid] = m
        return got
    got = wait_for(all_sent, 60, "every message sent")
    timeouts = [(mid, a) for mid, m in got.items() for a in m["providerAttempts"]
                if "timeout" in (a.get("errorCode") or a.get("outcome") or "")]
    assert not timeouts, timeouts[:3]
    assert all(m["status"] in ("sent", "delivered") for m in got.values()), \
        [m["status"] for m in got.values()]
    texts = [m["text"] for m in fc.messages() if m.get("text", "").startswith("conn-test ")]
    dup = {t for t in texts if texts.count(t) > 1}
    assert not dup, sorted(dup)[:5]
    assert sorted(texts) == sorted(mids.values()), (len(texts), len(mids))


if __name__ == "__main__":
    gw.start()
    try:
        run([("sends queued for a connection are not timed out or sent twice",
              test_queued_sends_are_not_timed_out)])
    finally:
        gw.cleanup()
        fc.cleanup()
