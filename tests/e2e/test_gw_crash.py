"""Nothing acknowledged is lost: SIGKILL right after a burst of 1,000
acknowledged sends, restart on the same data, and every acknowledged message
is there and reaches a terminal state."""
import datetime
import threading

from gwtest import ADMIN_KEY, Gateway, run, wait_for

gw = Gateway()
N, WORKERS = 1000, 16


def burst(key):
    acked, lock = [], threading.Lock()

    def worker(w):
        g = Gateway.__new__(Gateway)  # a connection of its own on the same server
        g.port, g.conn = gw.port, None
        for i in range(w, N, WORKERS):
            # ...0001: the simulator's plain story (sent, then delivered)
            r = g.post("/v1/sms/send", {"to": "+1555%03d0001" % i,
                                        "from": "+15551234567", "body": "burst %d" % i}, key=key)
            if r.status == 202:
                with lock:
                    acked.append(r.json["messageId"])
        g.close_conn()
    threads = [threading.Thread(target=worker, args=(w,)) for w in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return acked


def test_kill9_after_burst():
    _, key = gw.tenant_app()
    acked = burst(key)
    gw.kill9()  # at once: many are still queued, sending or sent
    assert len(acked) == N, "only %d of %d sends were acknowledged" % (len(acked), N)
    gw.restart()
    for mid in acked:
        assert gw.get("/v1/sms/status/" + mid, key=key).status == 200, mid
    terminal = {"delivered", "failed", "rejected", "cancelled"}

    def all_terminal():
        page, cursor, done = None, None, 0
        while True:
            page = gw.get("/v1/sms?limit=200" + ("&cursor=" + cursor if cursor else ""), key=key)
            done += sum(1 for m in page.json["data"] if m["status"] in terminal)
            cursor = page.json["nextCursor"]
            if not cursor:
                return done == N or done
    wait_for(lambda: all_terminal() is True, 120, "all %d acknowledged messages terminal" % N,
             interval=0.2)
    for mid in acked[:50]:
        assert gw.status_of(key, mid) == "delivered"


def test_kill9_keeps_schedule():
    _, key = gw.tenant_app()
    at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=3)
    mid = gw.send(key, sendAt=at.isoformat().replace("+00:00", "Z")).json["messageId"]
    gw.kill9()
    gw.restart()
    assert gw.status_of(key, mid) == "scheduled"
    wait_for(lambda: gw.status_of(key, mid) == "delivered", 60, "scheduled message delivered")
    # it fired on time: never before sendAt, within a second after (the
    # gateway's own event times: the scheduler's correctness, not speed)
    m = gw.get("/v1/sms/" + mid, key=key).json
    queued = [e["at"] for e in m["events"] if e["status"] == "queued"][0]
    late = (datetime.datetime.fromisoformat(queued.replace("Z", "+00:00")) - at).total_seconds()
    assert -0.001 <= late <= 1.0, (queued, at, late)


def test_kill9_keeps_tenants_apps_keys():
    tid = gw.tenant("durable")
    app = gw.app(tid)
    gw.kill9()
    gw.restart()
    assert gw.get("/v1/tenants/" + tid, key=ADMIN_KEY).status == 200
    assert gw.get("/v1/apps", key=app["apiKey"]).json["apps"][0]["appId"] == app["appId"]


try:
    gw.start()
    run([
        ("kill -9 after 1,000 acknowledged sends: all present, all reach delivered", test_kill9_after_burst),
        ("kill -9 keeps a scheduled message, which still fires", test_kill9_keeps_schedule),
        ("kill -9 keeps tenants, apps and keys", test_kill9_keeps_tenants_apps_keys),
    ])
finally:
    gw.cleanup()
