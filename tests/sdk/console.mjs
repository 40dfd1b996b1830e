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
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const userDataDir = process.argv[2];
const executablePath = process.argv[3] || '/usr/bin/chromium';
const emit = (o) => process.stdout.write(JSON.stringify(o) + '\n');

if (!userDataDir) {
  console.error('usage: console.mjs USER_DATA_DIR [CHROMIUM]');
  process.exit(2);
}

const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath,
  headless: true,
  args: ['--headless=new', '--no-sandbox', '--disable-gpu'],
  viewport: { width: 1280, height: 800 },
});
const pages = new Map();
const recorders = new Map();
let closing = null;

function shutdown(code) {
  if (!closing) {
    closing = context.close()
      .catch((e) => emit({ event: 'error', text: String(e) }))
      .then(() => {
        emit({ event: 'closed' });
        process.exit(code);
      });
  }
  return closing;
}
process.on('SIGTERM', () => shutdown(143));
process.on('SIGINT', () => shutdown(130));

function page(name) {
  const p = pages.get(name);
  if (!p) throw new Error('no page ' + name);
  return p;
}

async function open(name) {
  const p = await context.newPage();
  const rec = { requests: [], websockets: [], wsFrames: [] };
  pages.set(name, p);
  recorders.set(name, rec);
  p.on('console', (m) => emit({ event: 'console', page: name, type: m.type(), text: m.text() }));
  p.on('pageerror', (e) => emit({ event: 'pageerror', page: name, text: String(e) }));
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

emit({ event: 'ready' });
let chain = Promise.resolve();
const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (!line.trim()) return;
  chain = chain.then(() => handle(JSON.parse(line)));
});
rl.on('close', () => { chain.then(() => shutdown(0)); });
