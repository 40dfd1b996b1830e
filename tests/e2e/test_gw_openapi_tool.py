"""GET /v1/openapi.json against real OpenAPI tooling (tests/sdk/openapi_check.mjs):
the served document is validated against the official OpenAPI 3.1 schema
(@seriousme/openapi-schema-validator) and its schemas compiled by Ajv as JSON
Schema 2020-12; then a broad set of live answers of the real gateway (every
documented operation, with valid and invalid input: 2xx, 400, 401, 402, 403,
404, 409, 413, 429, 502, HTML pages, the 303 of the RingCentral connect flow
and the WebSocket's 101, through bench/fakecarrier as RingCentral) is
checked by Ajv against the documented status codes, media types and response
schemas, undocumented properties included. A deliberately wrong answer must
be caught, so this test can fail.

Needs Node.js (etc/bootstrap.sh installs Debian's) and tests/sdk's packages
(tests/run.sh runs `npm ci --prefix tests/sdk --no-audit --no-fund`).
Without them this test fails; it does not skip."""
import json
import os
import re
import shutil
import socket
import subprocess

import gwtest
from fctest import FakeCarrier
from gwtest import ADMIN_KEY, Gateway, free_port, run, wait_for

SOURCE_DIR = os.environ.get("SMSGW_SOURCE_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")
SDK_DIR = os.path.join(SOURCE_DIR, "tests", "sdk")
CHECKER = os.path.join(SDK_DIR, "openapi_check.mjs")
PACKAGES = ("@seriousme/openapi-schema-validator", "ajv", "ajv-formats")
INSTALL = ("run `npm ci --prefix tests/sdk --no-audit --no-fund` (tests/run.sh does; "
           "etc/bootstrap.sh installs Debian's nodejs and npm)")

fc = FakeCarrier().start()
gwtest.LIVE.append(fc)
# webhooks die after 2 s (dead letters to list and replay); US is free and
# elsewhere costs (402 for a tenant without quota or wallet); the RingCentral
# OAuth connect flow goes to the fake; sends stay on the simulator
gw = Gateway(config="webhooks = { base_ms = 100; max_ms = 200; max_age_s = 2; };\n"
                    "pricing = { currency = \"USD\"; default_per_segment = 10; "
                    "per_segment = [ \"US=0\" ]; };\n",
             transport="""ringcentral = { numbers_miss_refresh_s = 0; timeout_ms = 3000;
                              oauth = { client_id = "fake-client-id";
                                        client_secret = "fake-client-secret";
                                        server_url = "%s"; }; };
                          twilio = { base_url = "%s"; };""" % (fc.url, fc.url))
# a second gateway whose app keys get 3 requests a minute: the 429s
tight = Gateway(base=False, config="""
limits = { app_key_per_min = 3; admin_key_per_min = 1000000; };
transport = { default_route = [ "sim" ]; };
""")
RECORDS = []
NODE = {}
# Live answers that are known server bugs, not doc gaps (named records): the
# checker must still FAIL them; when one passes, the bug is fixed: drop it here.
KNOWN_SERVER_BUGS = {}  # name -> why: answers that must still fail the check


def record(method, template, r, name=None):
    RECORDS.append({"method": method, "path": template, "status": r.status,
                    "contentType": r.headers.get("content-type"), "body": r.raw,
                    **({"name": name} if name else {})})
    return r


def call(method, template, path=None, body=None, key=None, name=None, g=None, **kw):
    """One request to path (the template itself when None), recorded."""
    r = (g or gw).request(method, path or template, body, key=key, **kw)
    return record(method, template, r, name)


def checker(args, stdin=None):
    r = subprocess.run([NODE["node"], CHECKER, *args], input=stdin, capture_output=True,
                       text=True, timeout=300, cwd=SOURCE_DIR)
    return r.returncode, r.stdout + r.stderr


# ---------------------------------------------------------------- cases

def test_tools_installed():
    node = shutil.which("node")
    assert node, "node is not installed: " + INSTALL
    for p in PACKAGES:
        assert os.path.exists(os.path.join(SDK_DIR, "node_modules", p, "package.json")), \
            "tests/sdk/node_modules has no %s: %s" % (p, INSTALL)
    NODE["node"] = node


def test_document_valid():
    assert NODE, "no node or packages (see the first case)"
    code, out = checker(["http://127.0.0.1:%d/v1/openapi.json" % gw.port])
    print(out, end="")
    assert code == 0 and "document: valid OpenAPI 3.1" in out, \
        "openapi_check.mjs refused the served document (exit %d):\n%s" % (code, out)


def ws_upgrade():
    """GET /ws as a WebSocket upgrade: the status line and headers of the answer."""
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=30)
    try:
        s.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  b"Sec-WebSocket-Version: 13\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            assert chunk, "the WebSocket upgrade was closed: %r" % head
            head += chunk
    finally:
        s.close()
    lines = head.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")
    status = int(lines[0].split()[1])
    hdr = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:])}
    return gwtest.Response(status, hdr, "")


def exercise():
    A = ADMIN_KEY
    bad_key = "sgw_" + "0" * 32
    big = b'{"name":"' + b"a" * 200000 + b'"}'

    # -- unauthenticated
    call("GET", "/health")
    call("GET", "/readyz")
    call("GET", "/metrics")
    call("GET", "/v1/openapi.json")
    call("GET", "/ws", name="not an upgrade")
    record("GET", "/ws", ws_upgrade(), "upgrade")

    # -- tenants
    t = call("POST", "/v1/tenants", body={"name": "doc", "monthlyQuota": 100, "wallet": 500},
             key=A)
    assert t.status == 201, t
    tid = t.json["id"]
    call("POST", "/v1/tenants", body={"name": ""}, key=A)
    call("POST", "/v1/tenants", raw=b"{", key=A)
    call("POST", "/v1/tenants", raw=big, key=A)
    call("POST", "/v1/tenants", body={"name": "x"})
    call("GET", "/v1/tenants", key=A)
    call("GET", "/v1/tenants", key=bad_key)
    call("GET", "/v1/tenants/{tenantId}", "/v1/tenants/" + tid, key=A)
    call("GET", "/v1/tenants/{tenantId}", "/v1/tenants/tenant_0000000000000000", key=A)
    call("GET", "/v1/tenants/{tenantId}", "/v1/tenants/nope", key=A)
    call("PATCH", "/v1/tenants/{tenantId}", "/v1/tenants/" + tid, {"monthlyQuota": 200}, key=A)
    call("PATCH", "/v1/tenants/{tenantId}", "/v1/tenants/" + tid, {"status": "paused"}, key=A)
    call("PATCH", "/v1/tenants/{tenantId}", "/v1/tenants/tenant_0000000000000000",
         {"status": "active"}, key=A)
    broke = call("POST", "/v1/tenants", body={"name": "broke"}, key=A).json["id"]
    gone = call("POST", "/v1/tenants", body={"name": "gone"}, key=A).json["id"]

    # -- apps
    hook = "http://127.0.0.1:%d/hook" % free_port()  # nothing listens: deliveries die
    reg = call("POST", "/v1/apps/register", body={"name": "doc", "tenantId": tid, "mode": "test",
                                                  "webhookUrl": hook}, key=A)
    assert reg.status == 201, reg
    key, aid = reg.json["apiKey"], reg.json["appId"]
    plain = call("POST", "/v1/apps/register", body={"name": "plain", "tenantId": tid},
                 key=A).json
    live = call("POST", "/v1/apps/register", body={"name": "live", "tenantId": tid,
                                                   "mode": "live"}, key=A).json["apiKey"]
    broke_live = call("POST", "/v1/apps/register", body={"name": "b", "tenantId": broke,
                                                         "mode": "live"}, key=A).json["apiKey"]
    gone_key = call("POST", "/v1/apps/register", body={"name": "g", "tenantId": gone},
                    key=A).json["apiKey"]
    call("PATCH", "/v1/tenants/{tenantId}", "/v1/tenants/" + gone, {"status": "suspended"},
         key=A)
    call("POST", "/v1/apps/register", body={"name": "x", "tenantId": tid, "mode": "nope"}, key=A)
    call("POST", "/v1/apps/register", body={"name": "x", "tenantId": tid}, key=key)
    call("GET", "/v1/apps", key=A)
    call("GET", "/v1/apps", "/v1/apps?tenantId=" + tid, key=A)
    call("GET", "/v1/apps", key=key)
    call("GET", "/v1/apps/{appId}", "/v1/apps/" + aid, key=key)
    call("GET", "/v1/apps/{appId}", "/v1/apps/" + plain["appId"], key=key)
    call("GET", "/v1/apps/{appId}", "/v1/apps/nope", key=key)
    call("PUT", "/v1/apps/{appId}", "/v1/apps/" + aid, {"name": "doc2"}, key=key)
    call("PUT", "/v1/apps/{appId}", "/v1/apps/" + aid, {"webhookUrl": "ftp://x"}, key=key)
    call("PUT", "/v1/apps/{appId}", "/v1/apps/app_0000000000000000", {"name": "n"}, key=A)

    # -- sms
    sent = call("POST", "/v1/sms/send", body={"to": "+15559870001", "from": "+15551234567",
                                              "body": "hello", "userId": "doc"}, key=key)
    assert sent.status == 202, sent
    mid = sent.json["messageId"]
    idem = {"Idempotency-Key": "doc-1"}
    call("POST", "/v1/sms/send", body={"to": "+15559870002", "from": "+15551234567",
                                       "body": "once"}, key=key, headers=idem)
    call("POST", "/v1/sms/send", body={"to": "+15559870002", "from": "+15551234567",
                                       "body": "once"}, key=key, headers=idem, name="replayed")
    call("POST", "/v1/sms/send", body={"to": "+15559870002", "from": "+15551234567",
                                       "body": "other"}, key=key, headers=idem, name="conflict")
    call("POST", "/v1/sms/send", body={"to": "bad", "from": "+15551234567", "body": "x"},
         key=key)
    call("POST", "/v1/sms/send", body={"to": "+15559870001"}, key=key)
    call("POST", "/v1/sms/send", body={"to": "+15559870001", "from": "NOBODY", "body": "x"},
         key=live)
    call("POST", "/v1/sms/send", raw=big, key=key)
    call("POST", "/v1/sms/send", body={"to": "+15559870001", "from": "+15551234567",
                                       "body": "x"})
    call("POST", "/v1/sms/send", body={"to": "+15559870001", "from": "+15551234567",
                                       "body": "x"}, key=gone_key)
    call("POST", "/v1/sms/send", body={"to": "+447700900123", "from": "+15551234567",
                                       "body": "x"}, key=broke_live, name="no quota")
    call("POST", "/v1/sms/send", body={"to": "+15559870003", "from": "+15551234567",
                                       "body": "later", "sendAt": "2099-01-01T00:00:00Z"},
         key=key, name="sendAt too far")
    sched = call("POST", "/v1/sms/send", body={
        "to": "+15559870003", "from": "+15551234567", "body": "in a day",
        "sendAt": in_hours(24)}, key=key)
    wait_for(lambda: gw.status_of(key, mid) == "delivered", 30, "delivered")
    call("GET", "/v1/sms/status/{messageId}", "/v1/sms/status/" + mid, key=key)
    call("GET", "/v1/sms/status/{messageId}", "/v1/sms/status/msg_x", key=key)
    call("GET", "/v1/sms/status/{messageId}", "/v1/sms/status/msg_000000000000", key=key)
    call("GET", "/v1/sms/{messageId}", "/v1/sms/" + mid, key=key)
    call("GET", "/v1/sms/{messageId}", "/v1/sms/msg_000000000000", key=key)
    call("GET", "/v1/sms/{messageId}", "/v1/sms/abc", key=key)
    call("GET", "/v1/sms", "/v1/sms?limit=2", key=key)
    call("GET", "/v1/sms", "/v1/sms?status=delivered&direction=outbound", key=key)
    call("GET", "/v1/sms", "/v1/sms?tenantId=" + tid, key=A)
    call("GET", "/v1/sms", "/v1/sms?limit=0", key=key)
    call("GET", "/v1/sms", "/v1/sms?cursor=nope", key=key)
    call("GET", "/v1/sms")
    if sched.status == 202:
        smid = sched.json["messageId"]
        call("POST", "/v1/sms/{messageId}/cancel", "/v1/sms/%s/cancel" % smid, key=key)
        call("GET", "/v1/sms/{messageId}", "/v1/sms/" + smid, key=key, name="cancelled")
    call("POST", "/v1/sms/{messageId}/cancel", "/v1/sms/%s/cancel" % mid, key=key)
    call("POST", "/v1/sms/{messageId}/cancel", "/v1/sms/msg_000000000000/cancel", key=key)
    call("POST", "/v1/sms/{messageId}/cancel", "/v1/sms/msg_XYZ/cancel", key=key)

    # -- batches
    b = call("POST", "/v1/sms/batches", body={
        "from": "+16505550100", "text": "Hello Team",
        "messages": [{"to": ["+14155550100"]}, {"to": ["+12125550100", "bad"], "text": "own"}]},
        key=key)
    call("POST", "/v1/sms/batches", raw=b"{", key=key)
    call("POST", "/v1/sms/batches", body={"from": "+16505550100", "text": "t",
                                          "messages": [{"to": ["bad"]}]}, key=key)
    call("POST", "/v1/sms/batches", body={"from": "+16505550100", "messages": 5}, key=key)
    call("POST", "/v1/sms/batches", raw=big, key=key)
    call("POST", "/v1/sms/batches", body={"from": "+16505550100", "text": "t",
                                          "messages": [{"to": ["+447700900123"]}]},
         key=broke_live, name="no quota")
    call("POST", "/v1/sms/batches", body={"from": "+16505550100", "text": "t",
                                          "messages": [{"to": ["+14155550100"]}]}, key=gone_key)
    if b.status == 202:
        bid = b.json["id"]
        wait_for(lambda: gw.get("/v1/sms/batches/" + bid, key=key).json["status"] == "Completed",
                 30, "batch Completed")
        call("GET", "/v1/sms/batches/{batchId}", "/v1/sms/batches/" + bid, key=key)
        call("GET", "/v1/sms/batches/{batchId}/messages",
             "/v1/sms/batches/%s/messages?limit=1" % bid, key=key)
        call("GET", "/v1/sms/batches/{batchId}/messages",
             "/v1/sms/batches/%s/messages?limit=500" % bid, key=key)
    call("GET", "/v1/sms/batches/{batchId}", "/v1/sms/batches/batch_0000000000000000", key=key)
    call("GET", "/v1/sms/batches/{batchId}", "/v1/sms/batches/nope", key=key)
    call("GET", "/v1/sms/batches/{batchId}/messages",
         "/v1/sms/batches/batch_0000000000000000/messages", key=key)
    call("GET", "/v1/sms/batches/{batchId}", "/v1/sms/batches/batch_0000000000000000")
    call("GET", "/v1/sms/batches", key=key)
    call("GET", "/v1/sms/batches", "/v1/sms/batches?limit=1", key=key)
    call("GET", "/v1/sms/batches", "/v1/sms/batches?limit=0", key=key)
    call("GET", "/v1/sms/batches", "/v1/sms/batches?cursor=nope", key=key)
    call("GET", "/v1/sms/batches", "/v1/sms/batches?tenantId=" + tid, key=A)
    call("GET", "/v1/sms/batches", key=A)
    call("GET", "/v1/sms/batches")

    # -- templates
    tp = call("POST", "/v1/templates", body={"name": "OTP", "body": "Code {{code}}"}, key=key)
    call("POST", "/v1/templates", body={"name": "again", "slug": "otp", "body": "x"}, key=key)
    call("POST", "/v1/templates", body={"name": "n", "body": "{{"}, key=key)
    call("POST", "/v1/templates", body={"name": "n", "body": "x"}, key=A)
    call("POST", "/v1/templates", "/v1/templates", {"name": "n", "body": "x",
                                                    "tenantId": "tenant_0000000000000000"},
         key=A)
    call("GET", "/v1/templates", key=key)
    call("GET", "/v1/templates", "/v1/templates?tenantId=" + tid, key=A)
    call("GET", "/v1/templates", key=A)
    call("GET", "/v1/templates/{id}", "/v1/templates/otp", key=key)
    if tp.status == 201:
        call("GET", "/v1/templates/{id}", "/v1/templates/" + tp.json["id"], key=key)
    call("GET", "/v1/templates/{id}", "/v1/templates/nope", key=key)
    call("PUT", "/v1/templates/{id}", "/v1/templates/otp", {"body": "Code: {{code}}"}, key=key)
    call("PUT", "/v1/templates/{id}", "/v1/templates/otp", {"body": "{{"}, key=key)
    call("POST", "/v1/templates", body={"name": "Bye", "body": "Bye"}, key=key)
    call("PUT", "/v1/templates/{id}", "/v1/templates/bye", {"slug": "otp"}, key=key)
    call("PUT", "/v1/templates/{id}", "/v1/templates/nope", {"body": "x"}, key=key)
    call("POST", "/v1/templates/{id}/render", "/v1/templates/otp/render",
         {"variables": {"code": 123456}}, key=key)
    call("POST", "/v1/templates/{id}/render", "/v1/templates/otp/render", {"variables": {}},
         key=key)
    call("POST", "/v1/templates/{id}/render", "/v1/templates/nope/render", {"variables": {}},
         key=key)
    call("DELETE", "/v1/templates/{id}", "/v1/templates/bye", key=key)
    call("DELETE", "/v1/templates/{id}", "/v1/templates/bye", key=key)

    # -- sender IDs
    sid = call("POST", "/v1/sender-ids", body={"senderId": "ACME", "countries": ["NG"],
                                               "useCase": "OTP"}, key=key)
    call("POST", "/v1/sender-ids", body={"senderId": "ACME"}, key=key)
    call("POST", "/v1/sender-ids", body={"senderId": "AC-ME"}, key=key)
    call("POST", "/v1/sender-ids", body={"senderId": "OK", "countries": ["XX1"]}, key=key)
    call("GET", "/v1/sender-ids", key=key)
    call("GET", "/v1/sender-ids", key=A)
    call("GET", "/v1/sender-ids/{id}", "/v1/sender-ids/nope", key=key)
    call("GET", "/v1/sender-ids/{id}", "/v1/sender-ids/sid_0000000000000000", key=key)
    if sid.status == 201:
        s = sid.json["id"]
        call("GET", "/v1/sender-ids/{id}", "/v1/sender-ids/" + s, key=key)
        call("PATCH", "/v1/sender-ids/{id}", "/v1/sender-ids/" + s, {"status": "approved"},
             key=key)
        call("PATCH", "/v1/sender-ids/{id}", "/v1/sender-ids/" + s, {"status": "rejected"},
             key=A)
        call("PATCH", "/v1/sender-ids/{id}", "/v1/sender-ids/" + s, {"status": "approved"},
             key=A)
        call("PATCH", "/v1/sender-ids/{id}", "/v1/sender-ids/" + s,
             {"status": "rejected", "rejectionReason": "Brand not verified"}, key=A)
        call("DELETE", "/v1/sender-ids/{id}", "/v1/sender-ids/" + s, key=key)
        call("DELETE", "/v1/sender-ids/{id}", "/v1/sender-ids/" + s, key=key)
    call("PATCH", "/v1/sender-ids/{id}", "/v1/sender-ids/sid_0000000000000000",
         {"status": "approved"}, key=A)

    # -- WebSocket tokens
    call("POST", "/v1/ws/token", key=key)
    call("POST", "/v1/ws/token", key=A)
    call("POST", "/v1/ws/token")

    # -- app webhooks: the test delivery dies (nothing listens), is listed, replayed
    tw = call("POST", "/v1/apps/{appId}/test-webhook", "/v1/apps/%s/test-webhook" % aid, key=key)
    call("POST", "/v1/apps/{appId}/test-webhook", "/v1/apps/%s/test-webhook" % plain["appId"],
         key=plain["apiKey"])
    call("POST", "/v1/apps/{appId}/test-webhook", "/v1/apps/nope/test-webhook", key=A)
    call("POST", "/v1/apps/{appId}/test-webhook", "/v1/apps/%s/test-webhook" % aid,
         key=plain["apiKey"])
    dead_path = "/v1/apps/%s/webhooks/dead" % aid
    if tw.status == 202:
        did = tw.json["deliveryId"]
        wait_for(lambda: any(d["id"] == did for d in gw.get(dead_path, key=key).json
                             .get("deliveries", [])), 30, "the test delivery dead-lettered")
        call("GET", "/v1/apps/{appId}/webhooks/dead", dead_path, key=key)
        call("POST", "/v1/apps/{appId}/webhooks/dead/{deliveryId}/replay",
             "%s/%s/replay" % (dead_path, did), key=key)
    call("GET", "/v1/apps/{appId}/webhooks/dead", "/v1/apps/nope/webhooks/dead", key=A)
    call("GET", "/v1/apps/{appId}/webhooks/dead", dead_path, key=plain["apiKey"])
    call("POST", "/v1/apps/{appId}/webhooks/dead/{deliveryId}/replay",
         "%s/dlv_%s/replay" % (dead_path, "0" * 24), key=key)
    call("POST", "/v1/apps/{appId}/webhooks/dead/{deliveryId}/replay",
         "%s/dlv_x/replay" % dead_path, key=key)

    # -- provider routes
    rpath = "/v1/tenants/%s/route" % tid
    rt = "/v1/tenants/{tenantId}/route"
    call("GET", rt, rpath, key=key)
    call("PUT", rt, rpath, {"providers": ["sim", "sim_b"]}, key=A)
    call("GET", rt, rpath, key=A)
    call("PUT", rt, rpath, {"providers": ["carrier-pigeon"]}, key=A)
    call("PUT", rt, rpath, {"providers": ["sim"]}, key=key)
    call("PUT", rt, "/v1/tenants/tenant_0000000000000000/route", {"providers": ["sim"]}, key=A)
    call("PUT", rt, rpath, raw=b"{" + b" " * (200 << 10) + b"}", key=A)
    call("GET", rt, "/v1/tenants/nope/route", key=A)
    call("DELETE", rt, rpath, key=key)
    call("DELETE", rt, rpath, key=A)
    call("DELETE", rt, "/v1/tenants/tenant_0000000000000000/route", key=A)
    call("GET", rt, rpath)

    # -- RingCentral: operator credentials (the fake), the OAuth connect flow
    conn = "/v1/tenants/{tenantId}/connections/{provider}"
    cpath = "/v1/tenants/%s/connections/ringcentral" % tid
    call("GET", conn, cpath, key=A, name="not connected")
    call("GET", conn, cpath, key=key, name="not connected")
    call("GET", conn, "/v1/tenants/%s/connections/carrier-pigeon" % tid, key=A)
    call("GET", "/v1/rc/status", key=key)
    call("GET", "/v1/rc/status", key=A)
    call("GET", "/v1/rc/status", "/v1/rc/status?tenantId=" + tid, key=A)
    call("PUT", conn, cpath, dict(fc.creds(), jwt="not-the-jwt"), key=A)
    call("PUT", conn, cpath, dict(fc.creds(), serverUrl="http://127.0.0.1:1"), key=A)
    call("PUT", conn, cpath, {"clientId": 7}, key=A)
    call("PUT", conn, cpath, fc.creds(), key=key)
    call("PUT", conn, "/v1/tenants/tenant_0000000000000000/connections/ringcentral",
         fc.creds(), key=A)
    call("PUT", conn, cpath, fc.creds(), key=A)
    call("GET", conn, cpath, key=A)
    call("GET", conn, cpath, key=key)
    call("GET", "/v1/rc/status", key=key, name="connected (jwt)")
    call("DELETE", conn, cpath, key=key)
    call("DELETE", conn, cpath, key=A)
    call("DELETE", conn, cpath, key=A, name="again")
    call("POST", "/v1/webhooks/ringcentral", raw=b"",
         headers={"Validation-Token": "abc-123_X"}, name="handshake")
    call("POST", "/v1/webhooks/ringcentral", raw=b'{"event":"x","body":{}}',
         headers={"Verification-Token": "nope"})
    call("POST", "/v1/webhooks/ringcentral", raw=b'{"event":"x","body":{}}')
    # Twilio: a connection (its answer has no serverUrl), then its webhook:
    # unsigned, signed wrong, a status callback, an inbound SMS (TwiML)
    twc = "/v1/tenants/%s/connections/twilio" % tid
    call("PUT", conn, twc, {"accountSid": "AC" + "0" * 30 + "01",
                            "authToken": "fake-twilio-token"}, key=A)
    call("GET", conn, twc, key=A, name="twilio")
    twh, twp = "/v1/webhooks/twilio/{tenantId}", "/v1/webhooks/twilio/" + tid
    form = {"AccountSid": "AC" + "0" * 30 + "01", "MessageSid": "SM" + "0" * 32,
            "MessageStatus": "delivered"}

    def tw_post(params, sig=True):
        import base64, hashlib, hmac, urllib.parse
        url = "http://127.0.0.1:%d%s" % (gw.port, twp)
        data = url + "".join(k + v for k, v in sorted(params.items()))
        h = {"Content-Type": "application/x-www-form-urlencoded"}
        if sig:
            h["X-Twilio-Signature"] = base64.b64encode(hmac.new(
                b"fake-twilio-token", data.encode(), hashlib.sha1).digest()).decode()
        return call("POST", twh, twp, raw=urllib.parse.urlencode(params).encode(), headers=h)
    tw_post(form, sig=False)
    call("POST", twh, twp, raw=b"MessageSid=x", headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "nope"})
    tw_post(form)
    tw_post(dict(form, MessageStatus="bogus"))
    tw_post({"AccountSid": form["AccountSid"], "MessageSid": "SM" + "1" * 32,
             "From": "+15550001111", "To": "+15552000001", "Body": "hi"})

    tok = call("POST", "/v1/rc/connect-token", key=key)
    call("POST", "/v1/rc/connect-token", body={}, key=A)
    call("POST", "/v1/rc/connect-token", body={"tenantId": "tenant_0000000000000000"}, key=A)
    call("GET", "/v1/rc/connect", "/v1/rc/connect?token=rct_" + "0" * 64)
    call("POST", "/v1/rc/connect", raw=b"token=rct_" + b"0" * 64,
         headers={"Content-Type": "application/x-www-form-urlencoded"})
    if tok.status == 200:
        url = tok.json["connectUrl"]
        token = url.split("token=", 1)[1]
        call("GET", "/v1/rc/connect", url)
        go = call("POST", "/v1/rc/connect", raw=("token=" + token).encode(),
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
        if go.status == 303:
            loc = go.headers["location"]
            back = fc.get(loc[len(fc.url):])  # the fake approves: back to the callback
            cb = back.headers["location"].split("127.0.0.1:%d" % gw.port, 1)[1]
            call("GET", "/v1/rc/callback", cb)
            call("GET", "/v1/rc/callback", cb, name="state used up")
            call("GET", "/v1/rc/status", key=key, name="connected (oauth)")
            call("GET", conn, cpath, key=key, name="connected (oauth)")
            call("POST", "/v1/rc/disconnect", key=key)
    call("POST", "/v1/rc/disconnect", key=key, name="not connected")
    call("POST", "/v1/rc/disconnect", body={}, key=A)
    call("GET", "/v1/rc/callback", "/v1/rc/callback?code=x&state=nope")
    call("GET", "/v1/rc/callback", "/v1/rc/callback?error=access_denied&state=nope")
    for _ in range(6):  # 5 per tenant per hour
        call("POST", "/v1/rc/connect-token", key=key)

    # -- keys: rotate, delete; the per-key window (429) on the tight gateway
    call("POST", "/v1/apps/{appId}/rotate-key", "/v1/apps/%s/rotate-key" % plain["appId"], key=A)
    call("POST", "/v1/apps/{appId}/rotate-key", "/v1/apps/app_0000000000000000/rotate-key",
         key=A)
    call("DELETE", "/v1/apps/{appId}", "/v1/apps/" + plain["appId"], key=A)
    call("DELETE", "/v1/apps/{appId}", "/v1/apps/" + plain["appId"], key=A, name="again")
    tkey = tight.tenant_app()[1]
    for _ in range(4):
        call("GET", "/v1/sms", key=tkey, g=tight)
    for method, path in (("POST", "/v1/sms/send"), ("POST", "/v1/sms/batches"),
                         ("GET", "/v1/templates"), ("GET", "/v1/sender-ids"),
                         ("POST", "/v1/ws/token"), ("GET", "/v1/apps")):
        call(method, path, body={}, key=tkey, g=tight, name="key window")


def in_hours(h):
    import datetime
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=h)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_live_answers_match():
    assert NODE, "no node or packages (see the first case)"
    exercise()
    code, out = checker(["http://127.0.0.1:%d/v1/openapi.json" % gw.port, "--responses"],
                        "".join(json.dumps(r) + "\n" for r in RECORDS))
    print(out, end="")
    known = [n for n in KNOWN_SERVER_BUGS if any(r.get("name") == n for r in RECORDS)]
    fails = [x for x in out.splitlines() if x.startswith("FAIL")]
    unknown = [x for x in fails if not any(x.endswith("[%s]" % n) for n in known)]
    assert not unknown, "%d of %d live answers do not match the document:\n%s" % (
        len(unknown), len(RECORDS), "\n".join(unknown))
    fixed = [n for n in known if not any(x.endswith("[%s]" % n) for x in fails)]
    assert not fixed, "known server bugs now pass, drop them from KNOWN_SERVER_BUGS: %s" % fixed
    for n in known:
        print("known server bug [%s]: %s" % (n, KNOWN_SERVER_BUGS[n]))
    assert code == (1 if known else 0), "checker exit %d:\n%s" % (code, out[-2000:])
    m = re.search(r"responses: (\d+) checked, (\d+) ok, (\d+) failed; (\d+) of (\d+) "
                  r"documented operations reached", out)
    assert m and int(m.group(1)) == len(RECORDS) and int(m.group(3)) == len(known), out[-2000:]
    assert m.group(4) == m.group(5), \
        "documented operations this test does not exercise (add them here): " + \
        out.rsplit("not reached: ", 1)[-1]
    statuses = {r["status"] for r in RECORDS}
    for s in (101, 200, 201, 202, 303, 400, 401, 402, 403, 404, 409, 413, 429, 502):
        assert s in statuses, "no live answer with status %d was checked" % s


def test_checker_catches_mismatches():
    assert NODE, "no node or packages (see the first case)"
    j = "application/json"
    good = {"method": "GET", "path": "/health", "status": 200, "contentType": j,
            "body": '{"status":"ok"}'}
    wrong = [
        dict(good, body='{"status":5}', name="wrong type"),
        dict(good, body='{"status":"ok","extra":1}', name="undocumented property"),
        dict(good, body='{"status":', name="not JSON"),
        dict(good, status=418, name="undocumented status"),
        dict(good, contentType="text/plain", body="ok", name="undocumented media type"),
        dict(good, path="/v1/nope", name="undocumented path"),
        dict(good, method="DELETE", name="undocumented method"),
        {"method": "POST", "path": "/v1/sms/send", "status": 400, "contentType": j,
         "body": '{"error":"x","code":"no_such_code"}', "name": "enum"},
        {"method": "GET", "path": "/v1/tenants/{tenantId}", "status": 200, "contentType": j,
         "body": json.dumps({"id": "tenant_0000000000000000", "name": "n"}),
         "name": "required properties missing"},
    ]
    code, out = checker(["http://127.0.0.1:%d/v1/openapi.json" % gw.port, "--responses"],
                        "".join(json.dumps(r) + "\n" for r in [good] + wrong))
    print("".join(x + "\n" for x in out.splitlines() if not x.startswith("not reached")), end="")
    lines = [x for x in out.splitlines() if x.startswith(("ok ", "FAIL"))]
    assert code == 1, "the checker passed wrong answers (exit %d):\n%s" % (code, out)
    assert len(lines) == 1 + len(wrong) and lines[0].startswith("ok "), out
    missed = [w["name"] for w, x in zip(wrong, lines[1:]) if not x.startswith("FAIL")]
    assert not missed, "not caught: %s\n%s" % (missed, out)


try:
    gw.start()
    tight.start()
    run([
        ("node and tests/sdk's OpenAPI packages are installed", test_tools_installed),
        ("the served document is valid OpenAPI 3.1 (official schema, Ajv 2020-12)",
         test_document_valid),
        ("live answers of every operation match the document (Ajv)", test_live_answers_match),
        ("the checker catches wrong answers", test_checker_catches_mismatches),
    ])
finally:
    gw.cleanup()
    tight.cleanup()
    fc.stop()
