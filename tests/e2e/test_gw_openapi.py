"""GET /v1/openapi.json is kept true: every documented operation exists on
the live server, and live answers match their documented schemas (checked
with a small checker of the JSON Schema subset the document uses)."""
import re

from gwtest import ADMIN_KEY, Gateway, run, wait_for

gw = Gateway()
DOC = None


def resolve(s):
    while "$ref" in s:
        s = DOC["components"]["schemas"][s["$ref"].rsplit("/", 1)[1]]
    return s


def check(value, schema, path="$"):
    s = resolve(schema)
    for sub in s.get("allOf", []):
        check(value, sub, path)
    if "oneOf" in s:
        ok = 0
        for sub in s["oneOf"]:
            try:
                check(value, sub, path)
                ok += 1
            except AssertionError:
                pass
        assert ok == 1, "%s matches %d of oneOf" % (path, ok)
    t = s.get("type")
    if t is not None:
        types = t if isinstance(t, list) else [t]
        pytype = {"string": str, "integer": int, "boolean": bool, "object": dict, "array": list,
                  "null": type(None), "number": (int, float)}
        assert any(isinstance(value, pytype[x]) and not (x == "integer" and isinstance(value, bool))
                   for x in types), "%s: %r is not %s" % (path, value, t)
    if "enum" in s:
        assert value in s["enum"], "%s: %r not in %r" % (path, value, s["enum"])
    if "const" in s:
        assert value == s["const"], "%s: %r != %r" % (path, value, s["const"])
    if isinstance(value, str) and "pattern" in s:
        assert re.search(s["pattern"], value), "%s: %r !~ %s" % (path, value, s["pattern"])
    if isinstance(value, dict):
        for k in s.get("required", []):
            assert k in value, "%s: missing %s" % (path, k)
        for k, sub in s.get("properties", {}).items():
            if k in value:
                check(value[k], sub, path + "." + k)
    if isinstance(value, list) and "items" in s:
        for i, v in enumerate(value):
            check(v, s["items"], "%s[%d]" % (path, i))


def check_response(method, path_template, r):
    op = DOC["paths"][path_template][method.lower()]
    assert str(r.status) in op["responses"], "%s %s answered %d, undocumented" % (
        method, path_template, r.status)
    content = op["responses"][str(r.status)].get("content", {})
    if "application/json" in content:
        check(r.json, content["application/json"]["schema"])


def test_document_shape():
    assert DOC["openapi"].startswith("3.1")
    refs = re.findall(r'"\$ref": "#/components/schemas/([A-Za-z]+)"', gw.get("/v1/openapi.json").raw)
    for name in refs:
        assert name in DOC["components"]["schemas"], "dangling $ref " + name


def test_every_operation_exists():
    ids = {"messageId": "msg_000000000000", "appId": "app_0000000000000000",
           "tenantId": "tenant_0000000000000000", "provider": "ringcentral",
           "id": "sid_0000000000000000", "deliveryId": "dlv_000000000000000000000000",
           "batchId": "batch_0000000000000000"}
    for path, ops in DOC["paths"].items():
        if path == "/ws":  # the WebSocket upgrade: test_gw_ws.py
            continue
        concrete = re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)
        for method in ops:
            r = gw.request(method.upper(), concrete, {}, key=ADMIN_KEY)
            assert r.status != 405, "%s %s: method not routed" % (method, path)
            assert not (r.status == 404 and r.json and r.json.get("error") == "Not found"), \
                "%s %s: no such route" % (method, path)


def test_live_answers_match():
    tid = gw.post("/v1/tenants", {"name": "doc"}, key=ADMIN_KEY)
    check_response("POST", "/v1/tenants", tid)
    tid = tid.json["id"]
    check_response("GET", "/v1/tenants/{tenantId}", gw.get("/v1/tenants/" + tid, key=ADMIN_KEY))
    check_response("GET", "/v1/tenants", gw.get("/v1/tenants", key=ADMIN_KEY))
    app = gw.post("/v1/apps/register", {"name": "doc", "tenantId": tid, "mode": "test",
                                        "webhookUrl": "https://example.com/h"}, key=ADMIN_KEY)
    check_response("POST", "/v1/apps/register", app)
    key, aid = app.json["apiKey"], app.json["appId"]
    check_response("GET", "/v1/apps", gw.get("/v1/apps", key=ADMIN_KEY))
    check_response("GET", "/v1/apps/{appId}", gw.get("/v1/apps/" + aid, key=key))
    check_response("PUT", "/v1/apps/{appId}", gw.request("PUT", "/v1/apps/" + aid, {"name": "d2"}, key=key))
    sent = gw.send(key, userId="doc")
    check_response("POST", "/v1/sms/send", sent)
    check_response("POST", "/v1/sms/send", gw.send(key, to="bad"))
    mid = sent.json["messageId"]
    wait_for(lambda: gw.status_of(key, mid) == "delivered", 30, "delivered")
    check_response("GET", "/v1/sms/status/{messageId}", gw.get("/v1/sms/status/" + mid, key=key))
    check_response("GET", "/v1/sms/{messageId}", gw.get("/v1/sms/" + mid, key=key))
    check_response("GET", "/v1/sms", gw.get("/v1/sms?limit=5", key=key))
    check_response("GET", "/v1/sms/status/{messageId}", gw.get("/v1/sms/status/msg_x", key=key))
    check_response("POST", "/v1/sms/{messageId}/cancel", gw.post("/v1/sms/%s/cancel" % mid, key=key))
    check_response("POST", "/v1/ws/token", gw.post("/v1/ws/token", key=key))
    check_response("POST", "/v1/apps/{appId}/test-webhook",
                   gw.post("/v1/apps/%s/test-webhook" % aid, key=key))
    check_response("GET", "/v1/apps/{appId}/webhooks/dead",
                   gw.get("/v1/apps/%s/webhooks/dead" % aid, key=key))
    check_response("POST", "/v1/apps/{appId}/webhooks/dead/{deliveryId}/replay",
                   gw.post("/v1/apps/%s/webhooks/dead/dlv_000000000000000000000000/replay" % aid,
                           key=key))
    # batches (RingCentral's A2P shape)
    b = gw.post("/v1/sms/batches", {"from": "+16505550100", "text": "Hello Team", "messages": [
        {"to": ["+14155550100"]}, {"to": ["+12125550100", "bad"]}]}, key=key)
    check_response("POST", "/v1/sms/batches", b)
    assert b.status == 202 and b.json["rejected"][0]["index"] == 3, b
    bid = b.json["id"]
    check_response("POST", "/v1/sms/batches", gw.post("/v1/sms/batches", raw=b"{", key=key))
    check_response("POST", "/v1/sms/batches", gw.post("/v1/sms/batches", {
        "from": "+16505550100", "text": "t", "messages": [{"to": ["bad"]}]}, key=key))
    wait_for(lambda: gw.get("/v1/sms/batches/" + bid, key=key).json["status"] == "Completed",
             30, "batch Completed")
    check_response("GET", "/v1/sms/batches/{batchId}", gw.get("/v1/sms/batches/" + bid, key=key))
    check_response("GET", "/v1/sms/batches/{batchId}",
                   gw.get("/v1/sms/batches/batch_0000000000000000", key=key))
    check_response("GET", "/v1/sms/batches/{batchId}/messages",
                   gw.get("/v1/sms/batches/%s/messages?limit=1" % bid, key=key))
    check_response("GET", "/health", gw.get("/health"))
    check_response("GET", "/readyz", gw.get("/readyz"))
    check_response("POST", "/v1/apps/{appId}/rotate-key", gw.post("/v1/apps/%s/rotate-key" % aid, key=ADMIN_KEY))
    check_response("DELETE", "/v1/apps/{appId}", gw.request("DELETE", "/v1/apps/" + aid, key=ADMIN_KEY))
    check_response("GET", "/v1/sms", gw.get("/v1/sms"))  # 401


try:
    gw.start()
    DOC = gw.get("/v1/openapi.json").json
    run([
        ("the document is OpenAPI 3.1 and every $ref resolves", test_document_shape),
        ("every documented operation is routed by the server", test_every_operation_exists),
        ("live answers match the documented status codes and schemas", test_live_answers_match),
    ])
finally:
    gw.cleanup()
