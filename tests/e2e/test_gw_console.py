"""The web console (issue 8): the files served at / and /console/*, and the
console itself in Debian's headless Chromium against the real gateway.

Serve side (HTTP only): GET / is the console's HTML with a strict
Content-Security-Policy (scripts, styles and connections from this origin
only, no inline script, no framing), nosniff, an ETag that gives 304; each
asset has its type and is byte for byte the file in http/console/ (embedded
at build time); an unknown asset is 404; nothing served holds a key.

In the browser (tests/sdk/console.mjs drives it through playwright-core):
a bad key is refused with the API's error shown; an app key signs in and
stays in sessionStorage only (not localStorage, no cookie, in no URL or
WebSocket frame: every request is recorded); a message sent from the form
goes queued -> sending -> sent -> delivered in the live events list, and a
slow one (story 0003) turns delivered in the open message view without a
reload; the send form's segment counter says what the server then answers
for GSM-7, extension-table and emoji texts; the history filters and pages;
a batch's progress bar reaches Completed; templates and sender IDs are
managed; an admin key sees tenants and per-actor metrics charts.
Screenshots of each page go to $SMSGW_BUILD_DIR/artefacts/console_*.png.

Needs Node.js, playwright-core in tests/sdk/node_modules and Debian's
chromium (SMSGW_CHROMIUM overrides /usr/bin/chromium); without them this
test fails and names the fix, it does not skip."""
import json
import os
import re

from browser import ARTEFACTS, SOURCE_DIR, Driver, check_closes, the_browser
from gwtest import ADMIN_KEY, Gateway, run, wait_for

CONSOLE_DIR = os.path.join(SOURCE_DIR, "http", "console")
TIMEOUT = 60  # seconds for any one thing to show in the browser
FROM = "+15551234567"

# story 0003 ("delivered after slow_dlr_ms") made 10 s: long enough that the
# message view is open while the message is still "sent"
CONFIG = """
limits = { app_key_per_min = 1000000; admin_key_per_min = 1000000; };
transport = { default_route = [ "sim" ];
              sim = { latency_ms = 5; dlr_delay_ms = 100; slow_dlr_ms = 10000; }; };
"""

gw = Gateway(config=CONFIG, base=False)
STATE = {}


def js(v):
    return json.dumps(v)


# ---------------------------------------------------------------- serve side
CSP_MUST = ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
            "frame-ancestors 'none'", "base-uri 'none'"]
TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
KEY_RE = re.compile(r"sgw_(test_)?[0-9a-f]{32}")


def check_security_headers(r, what):
    csp = r.headers.get("content-security-policy", "")
    for part in CSP_MUST:
        assert part in csp, "%s: CSP lacks %r: %r" % (what, part, csp)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, csp
    assert r.headers.get("x-content-type-options") == "nosniff", (what, r.headers)


def test_index_served():
    r = gw.get("/")
    assert r.status == 200, r
    assert r.headers["content-type"].startswith("text/html"), r.headers
    check_security_headers(r, "/")
    assert r.headers.get("x-frame-options") == "DENY", r.headers
    html = r.raw
    assert '<script type="module" src="/console/app.js"></script>' in html, html[:500]
    # no inline script, no inline style or handlers (the CSP would block them)
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline <script> in index.html"
    assert not re.search(r"\sstyle\s*=|\son[a-z]+\s*=", html, re.I), "inline style/handler"
    etag = r.headers.get("etag")
    assert etag and etag.startswith('"'), r.headers
    assert "no-cache" in r.headers.get("cache-control", ""), r.headers
    r2 = gw.request("GET", "/", headers={"If-None-Match": etag})
    assert r2.status == 304 and r2.raw == "", r2
    r3 = gw.request("GET", "/", headers={"If-None-Match": '"0000"'})
    assert r3.status == 200 and r3.raw == html, r3
    assert gw.post("/").status == 405


def test_assets_served():
    names = sorted(os.listdir(CONSOLE_DIR))
    assert "app.js" in names and "style.css" in names and "index.html" in names, names
    etags = set()
    for name in names:
        r = gw.get("/console/" + name)
        assert r.status == 200, (name, r)
        ext = os.path.splitext(name)[1]
        assert r.headers["content-type"].startswith(TYPES[ext]), (name, r.headers)
        check_security_headers(r, name)
        with open(os.path.join(CONSOLE_DIR, name), encoding="utf-8") as f:
            assert r.raw == f.read(), "%s served differs from http/console/%s" % (name, name)
        assert not KEY_RE.search(r.raw) and ADMIN_KEY not in r.raw, "a key in " + name
        etags.add(r.headers["etag"])
        # every script the page imports is served
        for imp in re.findall(r"from '\./([a-z_]+\.js)'", r.raw):
            assert imp in names, "%s imports %s, which is not in http/console/" % (name, imp)
    assert len(etags) == len(names), "ETags are not per file"
    for bad in ("/console/nope.js", "/console/", "/console/..%2fhttp%2fserver.c",
                "/console/../CMakeLists.txt", "/console/app.js/x", "/index.html"):
        r = gw.get(bad)
        assert r.status == 404, (bad, r)
        assert r.json and r.json.get("code") == "not_found", (bad, r)


# ---------------------------------------------------------------- the browser
class Browser(Driver):
    """tests/sdk/console.mjs and its Chromium: call() sends one request and
    waits for its answer."""

    def __init__(self):
        Driver.__init__(self, "console.mjs", "smsgw-console-", "profile", stderr_tail=3000)
        self.answers, self.next_id = {}, 0

    def start(self):
        return Driver.start(self, 120, self.shown)

    def take(self, e):
        if "id" in e:
            self.answers[e["id"]] = e
        else:
            self.events.append(e)

    def shown(self):
        return "\npage errors: %r" % self.page_errors()

    def call(self, cmd, what=None, **kw):
        self.next_id += 1
        n = self.next_id
        self.send(dict(kw, id=n, cmd=cmd))
        self.wait_until(lambda: n in self.answers, kw.get("timeout", TIMEOUT * 1000) / 1000 + 60,
                        what or cmd, self.shown)
        a = self.answers.pop(n)
        if not a["ok"]:
            raise AssertionError("%s failed: %s\npage errors: %r" % (
                what or "%s %r" % (cmd, kw), a.get("error"), self.page_errors()))
        if cmd in ("open", "goto"):
            self.note_tree()
        return a["value"]

    def wait(self, expr, what, timeout=TIMEOUT, page="main"):
        """The value of the JS expression once it is truthy in the page."""
        return self.call("wait", "waiting for " + what, page=page, expr=expr,
                         timeout=timeout * 1000)

    def eval(self, expr, page="main"):
        return self.call("eval", page=page, expr=expr)

    def fill(self, sel, value, page="main"):
        self.call("fill", page=page, sel=sel, value=value)

    def click(self, sel, page="main"):
        self.call("click", page=page, sel=sel)

    def go(self, hash_, ready_sel, page="main"):
        """Navigate inside the console (no reload) and wait for the page."""
        self.eval("location.hash = %s" % js(hash_), page)
        self.wait("document.querySelector(%s)" % js(ready_sel), hash_ + " to show", page=page)

    def page_errors(self):
        return [e for e in self.events if e.get("event") == "pageerror"]

    def screenshot(self, name, page="main"):
        """Best effort: a test artefact, never a failure."""
        try:
            os.makedirs(ARTEFACTS, exist_ok=True)
            path = os.path.join(ARTEFACTS, name)
            self.call("screenshot", page=page, path=path)
            print("  screenshot %s" % path)
        except (OSError, AssertionError) as e:
            print("  (no screenshot %s: %s)" % (name, str(e).splitlines()[0]))

    def quit_message(self):
        self.next_id += 1
        return {"id": self.next_id, "cmd": "quit"}


def fixtures():
    if "key" not in STATE:
        STATE["tenant"] = gw.tenant("console-tenant")
        STATE["key"] = gw.app(STATE["tenant"], name="console-app")["apiKey"]
    return STATE


def browser():
    return the_browser(STATE, Browser, lambda b: (
        b.start(), b.call("open", page="main", url="http://127.0.0.1:%d/" % gw.port)))


SIGNIN_ERROR = ("(() => { const e = document.getElementById('signin-error');"
                " return e && !e.hidden && e.textContent; })()")


def sign_in(b, key, role):
    b.wait("document.getElementById('signin-key')", "the sign-in form")
    b.fill("#signin-key", key)
    # a previous attempt's error must not be read as this one's answer
    b.eval("(() => { const e = document.getElementById('signin-error');"
           " if (e) { e.hidden = true; e.textContent = ''; } return true; })()")
    b.click("#signin-submit")
    got = b.wait("document.querySelector('#who .role')?.dataset.role || (%s && 'error: ' + %s)"
                 % (SIGNIN_ERROR, SIGNIN_ERROR), "signing in")
    assert got == role, "signing in as %s: %r" % (role, got)
    b.wait("document.getElementById('live').dataset.state === 'open'", "the live stream")


def signed_in_app(b):
    f = fixtures()
    role = b.eval("document.querySelector('#who .role')?.dataset.role || null")
    if role != "app":
        if role:
            b.click("#signout")
        sign_in(b, f["key"], "app")
    return f


def send_ui(b, to, body, **extra):
    """Fill and submit the send form; answer (counter, result) as the page shows them."""
    if not b.eval("!!document.getElementById('send-form')"):
        b.go("#/send", "#send-form")
    prev = b.eval("document.querySelector('#send-result [data-message-id]')?.dataset.messageId || ''")
    b.fill("#f-to", to)
    b.fill("#f-from", FROM)
    b.fill("#f-body", body)
    for k, v in extra.items():
        b.eval("document.querySelector('#send-form details').open = true")
        b.fill("#f-" + k, v)
    counter = b.eval("({...document.getElementById('seg-counter').dataset,"
                     " text: document.getElementById('seg-counter').textContent})")
    b.click("#send-submit")
    res = b.wait("(() => { const d = document.querySelector('#send-result [data-message-id]');"
                 " if (d && d.dataset.messageId !== %s) return {...d.dataset};"
                 " const e = document.querySelector('#send-form .error');"
                 " return e && !e.hidden && {error: e.textContent}; })()" % js(prev),
                 "the send result")
    assert "error" not in res, "send refused: %r" % res
    return counter, res


def test_bad_key_refused():
    b = browser()
    b.wait("document.getElementById('signin-key')", "the sign-in form")
    # not even key-shaped: refused in the page, nothing sent
    b.fill("#signin-key", "hello")
    b.click("#signin-submit")
    msg = b.wait(SIGNIN_ERROR, "the format error")
    assert "32 lowercase hex" in msg, msg
    # key-shaped but unknown: the API's own answer
    b.fill("#signin-key", "sgw_" + "0" * 32)
    b.click("#signin-submit")
    msg = b.wait("(%s || '').includes('HTTP 401') && %s" % (SIGNIN_ERROR, SIGNIN_ERROR),
                 "the API's error")
    assert "Invalid API key" in msg and "unauthorized" in msg, msg
    assert b.eval("sessionStorage.length + localStorage.length") == 0
    assert b.eval("document.querySelector('#who .role')") is None
    b.screenshot("console_signin_error.png")


def test_sign_in_app_key():
    b = browser()
    f = signed_in_app(b)
    assert b.eval("document.getElementById('who-tenant').textContent") == f["tenant"]
    nav = b.eval("[...document.querySelectorAll('#nav a')].map(a => a.dataset.page)")
    assert "send" in nav and "tenants" not in nav and "metrics" not in nav, nav
    b.wait("location.hash === '#/events' && document.getElementById('events')", "the events page")


def test_live_send_delivered():
    b = browser()
    f = signed_in_app(b)
    _, res = send_ui(b, "+15559870001", "hello from the console")
    mid = res["messageId"]
    assert res["status"] == "queued", res
    order = ["queued", "sending", "sent", "delivered"]
    b.go("#/events", "#events")
    got = b.wait("(() => { const s = [...document.querySelectorAll('#events li[data-message-id=%s]')]"
                 ".map(li => li.dataset.status).reverse(); return s.includes('delivered') && s; })()"
                 % js(mid), "%s delivered in the events list" % mid)
    assert got == order, "events of %s, oldest first: %r" % (mid, got)
    # with the list open, a message sent elsewhere appears as it happens
    r = gw.send(f["key"], to="+15559870011", frm=FROM, body="sent by the API")
    assert r.status == 202, r
    mid2 = r.json["messageId"]
    b.eval("window.__notReloaded = true")
    got = b.wait("(() => { const s = [...document.querySelectorAll('#events li[data-message-id=%s]')]"
                 ".map(li => li.dataset.status).reverse(); return s.includes('delivered') && s; })()"
                 % js(mid2), "%s live in the open events list" % mid2)
    assert got == order, got
    assert b.eval("window.__notReloaded === true"), "the page was reloaded"
    first = b.eval("document.querySelector('#events li').dataset.messageId")
    assert first == mid2, "newest first: %r" % first
    b.screenshot("console_events.png")
    # the message view: events and provider attempts
    b.go("#/message/" + mid, "#message-status")
    st = b.wait("document.querySelector('#message-status').dataset.status", "the message view")
    assert st == "delivered", st
    evs = b.eval("[...document.querySelectorAll('#message-events li')].map(li => li.dataset.status)")
    assert evs[:1] == ["queued"] and evs[-1] == "delivered", evs
    att = b.eval("document.querySelectorAll('#message-attempts tbody tr').length")
    assert att >= 1, att
    api = gw.get("/v1/sms/" + mid, key=f["key"]).json
    assert [e["status"] for e in api["events"]] == evs, (api["events"], evs)
    b.screenshot("console_message.png")


def test_message_view_updates_live():
    b = browser()
    f = signed_in_app(b)
    _, res = send_ui(b, "+15559870003", "delivered slowly (story 0003)")
    mid = res["messageId"]
    b.click("#send-result-link")
    b.wait("document.querySelector('#message-view h2 code')?.textContent === %s" % js(mid),
           "the message view of " + mid)
    b.eval("window.__notReloaded = true")
    first = b.wait("document.querySelector('#message-status')?.dataset.status", "its status")
    refreshes = int(b.eval("document.getElementById('message-view').dataset.refreshes"))
    assert first != "delivered", \
        "the message was delivered before its view opened (slow_dlr_ms is 10 s): %r" % first
    b.wait("document.querySelector('#message-status').dataset.status === 'delivered'",
           "%s to turn delivered in the open view" % mid, timeout=90)
    assert b.eval("window.__notReloaded === true"), "the page was reloaded"
    assert int(b.eval("document.getElementById('message-view').dataset.refreshes")) > refreshes
    assert gw.status_of(f["key"], mid) == "delivered"


# (text, encoding, segments) the server is expected to answer; the counter
# must say the same before sending
TEXTS = [
    ("Your verification code is 123456", "GSM7", 1),
    ("\u20ac" * 80 + "a", "GSM7", 2),             # 161 septets: an escape pair each
    ("Price [5] {ok} ~x~ | ^ \\ " + "a" * 126, "GSM7", 1),  # 160 septets exactly
    ("Price [5] {ok} ~x~ | ^ \\ " + "a" * 127, "GSM7", 2),  # 161
    ("Hi \U0001F600", "UCS2", 1),
    ("\U0001F600" * 36, "UCS2", 2),               # 72 UTF-16 units, 36 code points
    ("code `123`", "UCS2", 1),                     # the backtick is not GSM-7
    ("x" * 161, "GSM7", 2),
]


def test_segment_counter_matches_server():
    b = browser()
    f = signed_in_app(b)
    b.go("#/send", "#send-form")
    for i, (text, enc, segs) in enumerate(TEXTS):
        counter, res = send_ui(b, "+1555987%04d" % (100 + i), text)
        assert (res["encoding"], int(res["segments"])) == (enc, segs), \
            "server for %r: %r" % (text[:20], res)
        assert (counter["encoding"], int(counter["segments"])) == (enc, segs), \
            "counter for %r: %r, server %s/%s" % (text[:20], counter, enc, segs)
        stored = gw.get("/v1/sms/" + res["messageId"], key=f["key"]).json
        assert stored["body"] == text, stored
    b.fill("#f-body", "\U0001F600" * 36)
    b.screenshot("console_send.png")


def test_history_filters():
    b = browser()
    f = signed_in_app(b)
    _, res = send_ui(b, "+15559870021", "history check", userId="console-user")
    mid = res["messageId"]
    wait_for(lambda: gw.status_of(f["key"], mid) == "delivered", 30, mid + " delivered")
    b.go("#/history", "#history-form")
    b.call("select", page="main", sel="#f-status", value="delivered")
    b.fill("#f-userId", "console-user")
    b.click("#history-submit")
    # the page may still show the unfiltered list it loaded on opening: wait
    # for the filtered answer (a wrong filter never gets there and fails)
    rows = b.wait("(() => { const r = [...document.querySelectorAll('#history-results tbody tr')]"
                  ".map(tr => tr.dataset.messageId); return r.length === 1 && r[0] === %s && r; })()"
                  % js(mid), "the filtered rows: only " + mid)
    assert rows == [mid], rows
    # a filter nothing matches, shown as such
    b.fill("#f-userId", "nobody-has-this")
    b.click("#history-submit")
    b.wait("document.querySelector('#history-results')?.textContent.includes('No messages match')",
           "an empty result")
    # paging: 2 a page, newest first, as the API pages
    b.call("select", page="main", sel="#f-status", value="")
    b.fill("#f-userId", "")
    b.fill("#f-limit", "2")
    b.click("#history-submit")
    rows = "[...document.querySelectorAll('#history-results tbody tr')].map(tr => tr.dataset.messageId)"
    p1 = b.wait("(() => { const r = %s; return document.getElementById('history-next') &&"
                " r.length === 2 && r; })()" % rows, "page 1")
    b.click("#history-next")
    p2 = b.wait("(() => { const r = %s; return r.length && r[0] !== %s && r; })()" % (rows, js(p1[0])),
                "page 2")
    api = gw.get("/v1/sms?limit=4", key=f["key"]).json["data"]
    assert p1 + p2 == [m["messageId"] for m in api], (p1, p2, api)
    b.screenshot("console_history.png")


def test_batch_progress():
    b = browser()
    f = signed_in_app(b)
    b.go("#/batches", "#batch-form")
    b.fill("#f-from", FROM)
    b.fill("#f-text", "Doors open at 9")
    # 0003 is delivered 10 s after the others (slow_dlr_ms): the bar stops
    # at 2 of 3, Processing, then reaches Completed
    b.fill("#f-recipients", "to,text\n+15559870031,\n+15559870041,Hello \"Ann\"\n12345,\n"
           "+15559870003,\n")
    b.click("#batch-submit")
    bid = b.wait("document.getElementById('batch-created-ok')?.dataset.id || "
                 "(document.querySelector('#batch-form .error:not([hidden])')?.textContent)",
                 "the batch to be accepted")
    assert bid.startswith("batch_"), bid
    rej = b.eval("document.getElementById('batch-rejected')?.textContent")
    assert rej and "12345" in rej and "SMS-RC-410" in rej, rej
    card = "document.querySelector('.batch[data-id=%s]')" % js(bid)
    cnt = "({...%s.querySelector('.batch-count').dataset, status: %s.dataset.status," \
          " width: %s.querySelector('.bar .fill').style.width})" % (card, card, card)
    mid = b.wait("(() => { const c = %s; return c?.dataset.status === 'Processing' &&"
                 " c.querySelector('.batch-count')?.dataset.processed === '2' && %s; })()"
                 % (card, cnt), bid + " at 2 of 3")
    assert mid == {"processed": "2", "size": "3", "status": "Processing", "width": "67%"}, mid
    b.screenshot("console_batches_progress.png")
    b.wait("%s?.dataset.status === 'Completed'" % card, bid + " Completed", timeout=90)
    done = b.eval(cnt)
    assert done == {"processed": "3", "size": "3", "status": "Completed", "width": "100%"}, done
    got = gw.get("/v1/sms/batches/" + bid, key=f["key"]).json
    assert got["status"] == "Completed" and got["batchSize"] == 3, got
    texts = sorted(gw.get("/v1/sms/" + m["messageId"], key=f["key"]).json["body"] for m in
                   gw.get("/v1/sms/batches/%s/messages" % bid, key=f["key"]).json["data"])
    assert texts == ["Doors open at 9", "Doors open at 9", 'Hello "Ann"'], texts
    b.screenshot("console_batches.png")


def test_templates_and_sender_ids():
    b = browser()
    f = signed_in_app(b)
    b.go("#/templates", "#template-form")
    b.fill("#f-name", "Welcome note")
    b.fill("#f-tpl-body", "Hi {{name}}, your code is {{code}}")
    b.click("#template-save")
    b.wait("document.querySelector('#templates-list tr[data-slug=\"welcome-note\"]')",
           "the template in the list")
    b.fill("#f-preview-template", "welcome-note")
    b.fill("#f-preview-vars", "name=Ann\ncode=42")
    b.click("#template-render")
    out = b.wait("(() => { const d = document.getElementById('template-rendered-ok');"
                 " return d && {...d.dataset, text: d.querySelector('pre').textContent}; })()",
                 "the preview")
    assert out == {"encoding": "GSM7", "segments": "1", "text": "Hi Ann, your code is 42"}, out
    b.fill("#f-preview-vars", "name=Ann")  # code missing: the API's error
    b.click("#template-render")
    err = b.wait("(() => { const e = document.querySelector('#template-preview .error');"
                 " return e && !e.hidden && e.textContent; })()", "the missing-variable error")
    api = gw.post("/v1/templates/welcome-note/render", {"variables": {"name": "Ann"}}, key=f["key"])
    assert api.status == 400 and api.json["error"] in err and "HTTP 400" in err, (api, err)
    b.screenshot("console_templates.png")
    b.go("#/sender-ids", "#sender-id-form")
    b.fill("#f-senderId", "ACME")
    b.click("#sender-id-submit")
    st = b.wait("document.querySelector('#sender-ids-list tr[data-sender-id=\"ACME\"]')?.dataset.status",
                "the sender ID")
    assert st == "pending", st
    b.fill("#f-senderId", "!!")  # refused by the API, shown, nothing stored
    b.click("#sender-id-submit")
    b.wait("(() => { const e = document.querySelector('#sender-id-form .error');"
           " return e && !e.hidden && e.textContent.includes('HTTP 400'); })()", "the API's error")
    ids = [s["senderId"] for s in gw.get("/v1/sender-ids", key=f["key"]).json["senderIds"]]
    assert ids == ["ACME"], ids
    b.screenshot("console_sender_ids.png")


def test_key_in_session_storage_only():
    b = browser()
    f = signed_in_app(b)
    key = f["key"]
    assert b.eval("sessionStorage.getItem('smsgw.key')") == key
    assert b.eval("localStorage.length") == 0
    assert b.eval("document.cookie") == ""
    rec = b.call("record", page="main")
    assert rec["cookies"] == [], rec["cookies"]
    assert rec["requests"], rec
    bad = [u for u in rec["requests"] + rec["websockets"] if key in u or "sgw_" in u]
    assert not bad, "a key in a URL: %r" % bad
    assert rec["websockets"] and all(u == "ws://127.0.0.1:%d/ws" % gw.port
                                     for u in rec["websockets"]), rec["websockets"]
    assert not [fr for fr in rec["wsFrames"] if key in fr or "apiKey" in fr], rec["wsFrames"]
    auths = [json.loads(fr) for fr in rec["wsFrames"]]
    assert auths and all(a["type"] == "auth" and a["token"].startswith("wst_") for a in auths), auths


def test_admin_tenants_and_metrics():
    b = browser()
    f = fixtures()
    if b.eval("!!document.getElementById('signout') && !document.getElementById('signout').hidden"):
        b.click("#signout")
    sign_in(b, ADMIN_KEY, "admin")
    nav = b.eval("[...document.querySelectorAll('#nav a')].map(a => a.dataset.page)")
    for p in ("tenants", "apps", "connections", "metrics"):
        assert p in nav, nav
    b.go("#/tenants", "#tenant-form")
    st = b.wait("document.querySelector('#tenants-list tr[data-tenant-id=%s]')?.dataset.status"
                % js(f["tenant"]), "our tenant in the list")
    assert st == "active", st
    b.fill("#tenant-form [name=name]", "made-in-console")
    b.click("#tenant-submit")
    b.wait("document.querySelector('#tenants-list tr[data-name=\"made-in-console\"]')",
           "the new tenant")
    names = [t["name"] for t in gw.get("/v1/tenants", key=ADMIN_KEY).json["tenants"]]
    assert "made-in-console" in names, names
    b.screenshot("console_tenants.png")
    b.go("#/apps", "#app-form")
    b.wait("document.querySelectorAll('#apps-list tbody tr').length >= 1", "the apps")
    b.screenshot("console_apps.png")
    b.go("#/connections", "#conn-scope")
    b.fill("#f-conn-tenant", f["tenant"])
    b.click("#conn-scope button")
    b.wait("document.querySelector('#conn-status-ringcentral')?.textContent.includes('not connected')",
           "the connection status")
    b.screenshot("console_connections.png")
    b.go("#/metrics", "#metrics-charts")
    n = b.wait("(() => { const g = document.getElementById('metrics-charts');"
               " return Number(g.dataset.samples) >= 2 && g.querySelectorAll('figure').length; })()",
               "two metrics samples")
    actors = b.eval("[...document.querySelectorAll('#metrics-charts figure')].map(f => f.dataset.actor)")
    for a in ("ingress", "validator", "sender", "status"):
        assert a in actors, actors
    lines = b.eval("document.querySelectorAll('#metrics-charts svg polyline').length")
    assert n == len(actors) and lines >= 2 * n, (n, lines)
    b.screenshot("console_metrics.png")


def test_no_page_errors():
    b = browser()
    errs = b.page_errors()
    assert not errs, errs
    # console errors, but Chromium's "Failed to load resource" line for each
    # non-2xx answer (the bad key's 401, the sign-in probe's 403, ...): the
    # console shows those answers itself
    bad = [e for e in b.events if e.get("event") == "console" and e.get("type") == "error"
           and not e.get("text", "").startswith("Failed to load resource")]
    assert not bad, bad


def test_browser_closes():
    check_closes(STATE)


if __name__ == "__main__":
    gw.start()
    try:
        run([(name, fn) for name, fn in list(globals().items())
             if name.startswith("test_") and callable(fn)])
    finally:
        if "browser" in STATE:
            STATE["browser"].close()
        gw.cleanup()
