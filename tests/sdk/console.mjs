// tests/sdk/console.mjs — drives Debian's headless Chromium for
// tests/e2e/test_gw_console.py through playwright-core (which downloads no
// browser: it starts the one at CHROMIUM). A small RPC: the test says what
// to do, step by step, and decides what passes.
//
//   node tests/sdk/console.mjs USER_DATA_DIR [CHROMIUM]
//
// Requests on stdin, one JSON object a line, {"id": N, "cmd": ..., ...}:
//   open {page, url}                 a new tab (its own recorder) loads url
//   goto {page, url}                 the tab loads url
//   fill {page, sel, value}          type into an input or textarea
//   select {page, sel, value}        choose an option
//   click {page, sel}
//   wait {page, expr, timeout}       until the JS expression is truthy in the
//                                    page (polled every 100 ms); answers its value
//   eval {page, expr}                the expression's value (JSON)
//   screenshot {page, path}          full-page PNG
//   record {page}                    {requests: [url...], websockets: [url...],
//                                     wsFrames: [sent frame...], cookies: [...]}
//   quit
// Answers on stdout: {"id": N, "ok": true, "value": ...} or
// {"id": N, "ok": false, "error": ...}; unsolicited events:
// {"event": "ready"}, {"event": "pageerror" | "console", "page", "text"},
// {"event": "closed"}.
// Chromium runs with --headless=new --no-sandbox --disable-gpu; it is
// closed on quit, end of stdin, SIGTERM or SIGINT.
// (Launching, page events and the command loop: ./browser.mjs, shared.)
import { emit, launch, newPage, serve } from './browser.mjs';

const { context, shutdown } = await launch('console.mjs', { width: 1280, height: 800 });
const pages = new Map();
const recorders = new Map();

function page(name) {
  const p = pages.get(name);
  if (!p) throw new Error('no page ' + name);
  return p;
}

async function open(name) {
  const p = await newPage(context, name);
  const rec = { requests: [], websockets: [], wsFrames: [] };
  pages.set(name, p);
  recorders.set(name, rec);
  p.on('request', (r) => rec.requests.push(r.url()));
  p.on('websocket', (ws) => {
    rec.websockets.push(ws.url());
    ws.on('framesent', (f) => rec.wsFrames.push(String(f.payload)));
  });
  return p;
}

const handlers = {
  async open(m) { await (await open(m.page)).goto(m.url, { timeout: 60000 }); },
  async goto(m) { await page(m.page).goto(m.url, { timeout: 60000 }); },
  async fill(m) { await page(m.page).fill(m.sel, m.value, { timeout: 30000 }); },
  async select(m) { await page(m.page).selectOption(m.sel, m.value, { timeout: 30000 }); },
  async click(m) { await page(m.page).click(m.sel, { timeout: 30000 }); },
  // polled from here with evaluate (DevTools' Runtime.evaluate): the
  // console's CSP has no 'unsafe-eval', which waitForFunction would need
  async wait(m) {
    const end = Date.now() + (m.timeout || 60000);
    let last;
    for (;;) {
      try {
        last = await page(m.page).evaluate(m.expr);
      } catch (e) {
        // a navigation under way destroys the context: try again
        if (!/context was destroyed|navigat/i.test(String(e))) throw e;
        last = undefined;
      }
      if (last) return last;
      if (Date.now() > end) throw new Error(`timed out after ${m.timeout || 60000} ms (last value ${JSON.stringify(last)})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  },
  async eval(m) { return page(m.page).evaluate(m.expr); },
  async screenshot(m) { await page(m.page).screenshot({ path: m.path, fullPage: true }); },
  async record(m) { return { ...recorders.get(m.page), cookies: await context.cookies() }; },
  async quit() { await shutdown(0); },
};

async function handle(msg) {
  const fn = handlers[msg.cmd];
  try {
    if (!fn) throw new Error('unknown command ' + msg.cmd);
    const value = await fn(msg);
    emit({ id: msg.id, ok: true, value: value === undefined ? null : value });
  } catch (e) {
    emit({ id: msg.id, ok: false, error: String(e && e.message || e) });
  }
}

serve(handle, shutdown);
