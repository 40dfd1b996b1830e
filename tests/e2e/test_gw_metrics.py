"""GET /metrics is valid Prometheus text, checked by Prometheus's own
promtool (`promtool check metrics`, Debian's prometheus package) after
traffic that touches every family: sends, a failure, a WebSocket session
and a webhook delivery; and its counters move with that traffic."""
import json
import re
import shutil
import subprocess
import sys

try:
    import websocket
except ImportError:
    sys.path.append("/usr/lib/python3/dist-packages")
    import websocket

from gwtest import ADMIN_KEY, Gateway, run, wait_for

# a non-default tuning, to see it reported as in force
gw = Gateway(config="actors = { sender = { threads = 2; queue_depth = 777; batch_max = 33; }; };")
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def scrape():
    r = gw.get("/metrics")
    assert r.status == 200, r
    assert r.headers.get("content-type", "").startswith("text/plain"), r.headers
    return r.raw


def value(text, name, labels=""):
    m = re.search(r"^%s%s (\S+)$" % (re.escape(name), re.escape(labels)), text, re.M)
    return float(m.group(1)) if m else None


def promtool(text):
    assert shutil.which(PROMTOOL), "promtool missing: etc/bootstrap.sh installs Debian's prometheus"
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(), capture_output=True,
                       timeout=60)
    return p.returncode, (p.stdout + p.stderr).decode()


def test_promtool_accepts_it():
    tid = gw.tenant()
    app = gw.app(tid)
    key = app["apiKey"]
    ws = websocket.create_connection("ws://127.0.0.1:%d/ws" % gw.port, timeout=15)
    ws.send(json.dumps({"type": "auth", "apiKey": key}))
    assert json.loads(ws.recv()) == {"type": "auth_ok"}
    before = scrape()
    mids = [gw.send(key).json["messageId"] for _ in range(5)]
    bad = gw.send(key, to="+15559870007")  # the simulator fails it permanently
    assert bad.status == 202, bad
    mids.append(bad.json["messageId"])
    wait_for(lambda: all(gw.status_of(key, m) in ("delivered", "failed") for m in mids), 30,
             "terminal")
    gw.get("/v1/sms/msg_000000000000", key=key)  # a 404
    text = scrape()
    rc, out = promtool(text)
    assert rc == 0, "promtool check metrics: exit %d\n%s" % (rc, out)
    # and the families move with the traffic
    assert value(text, "smsgw_ws_authenticated") == 1, value(text, "smsgw_ws_authenticated")
    assert value(text, "smsgw_ws_sent_total") > value(before, "smsgw_ws_sent_total")
    assert value(text, "smsgw_status_events_total", '{status="delivered"}') >= 5
    assert value(text, "smsgw_http_requests_total", '{class="4xx"}') >= 1
    assert value(text, "smsgw_actor_bus_latency_seconds_count", '{actor="sender"}') >= 6
    sends = value(text, "smsgw_http_route_requests_total",
                  '{method="POST",route="/v1/sms/send",status="202"}')
    assert sends == 6, sends
    assert value(text, "smsgw_http_route_requests_total",
                 '{method="GET",route="/v1/sms/:id",status="404"}') == 1
    for setting, v in (("threads", 2), ("queue_depth", 777), ("batch_max", 33)):
        got = value(text, "smsgw_actor_config", '{actor="sender",setting="%s"}' % setting)
        assert got == v, (setting, got)
    assert value(text, "smsgw_actor_config", '{actor="validator",setting="threads"}') >= 1
    # store writes: latency and records per write, by kind; the 6 accepted
    # sends are fsynced sms_new writes (the default sync "always")
    new = '{kind="sms_new",fsync="true"}'
    n0 = value(before, "smsgw_store_write_duration_seconds_count", new) or 0
    n1 = value(text, "smsgw_store_write_duration_seconds_count", new)
    assert n1 is not None and n1 > n0, (n0, n1)
    assert value(text, "smsgw_store_write_duration_seconds_bucket",
                 '{kind="sms_new",fsync="true",le="+Inf"}') == n1
    assert value(text, "smsgw_store_write_duration_seconds_sum", new) > \
        (value(before, "smsgw_store_write_duration_seconds_sum", new) or 0)
    r0 = value(before, "smsgw_store_write_records_sum", new) or 0
    r1 = value(text, "smsgw_store_write_records_sum", new)
    assert r1 - r0 == 6, (r0, r1)  # six messages, however they were grouped
    assert value(text, "smsgw_store_write_records_count", new) == n1
    assert value(text, "smsgw_store_write_records_bucket",
                 '{kind="sms_new",fsync="true",le="+Inf"}') == n1
    # status changes are written too (not fsynced by default: store.sync_updates)
    assert value(text, "smsgw_store_write_duration_seconds_count",
                 '{kind="sms_update",fsync="false"}') >= 1
    # every bucket series is cumulative and ends at its count
    for fam in ("smsgw_store_write_duration_seconds", "smsgw_store_write_records"):
        series = {}
        for m in re.finditer(r'^%s_bucket\{kind="(\w+)",fsync="(\w+)",le="([^"]+)"\} (\d+)$'
                             % fam, text, re.M):
            series.setdefault(m.group(1, 2), []).append(int(m.group(4)))
        assert series, fam
        for labels, counts in series.items():
            assert counts == sorted(counts), (fam, labels, counts)
            cnt = value(text, fam + "_count", '{kind="%s",fsync="%s"}' % labels)
            assert counts[-1] == cnt, (fam, labels, counts, cnt)
    ws.close()


def test_promtool_rejects_broken_text():
    """The checker is real: a malformed line fails it."""
    rc, out = promtool("# TYPE x counter\nx{a=\"1\" 3\n")
    assert rc != 0, out


if __name__ == "__main__":
    gw.start()
    try:
        run([("promtool accepts /metrics after traffic", test_promtool_accepts_it),
             ("promtool rejects a broken exposition", test_promtool_rejects_broken_text)])
    finally:
        gw.cleanup()
