// tests/sdk/ws_browser.mjs — drives Debian's headless Chromium for
// tests/e2e/test_gw_ws_browser.py, through playwright-core (which downloads
// no browser of its own: it starts the one at CHROMIUM).
//
//   node tests/sdk/ws_browser.mjs USER_DATA_DIR [CHROMIUM]
//
// Commands come on stdin, one JSON object a line:
//   {"cmd": "open", "page": NAME, "url": URL}        a new tab loads URL
//   {"cmd": "screenshot", "page": NAME, "path": P}   full-page PNG
//   {"cmd": "quit"}                                  (so does the end of stdin)
// Events go to stdout, one JSON object a line:
//   {"event": "ready"}                 the browser is up
//   {"event": "console", "page": NAME, "type": "log", "text": ...}
//   {"event": "pageerror", "page": NAME, "text": ...}
//   {"event": "opened" | "screenshot", "page": NAME, "ok": bool, "error"?: ...}
//   {"event": "closed"}                  the browser is gone; exit follows
// Chromium runs with --headless=new --no-sandbox --disable-gpu and the given
// profile folder; it is closed on quit, end of stdin, SIGTERM or SIGINT.
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const userDataDir = process.argv[2];
const executablePath = process.argv[3] || '/usr/bin/chromium';
const emit = (o) => process.stdout.write(JSON.stringify(o) + '\n');

if (!userDataDir) {
  console.error('usage: ws_browser.mjs USER_DATA_DIR [CHROMIUM]');
  process.exit(2);
}

const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath,
  headless: true,
  args: ['--headless=new', '--no-sandbox', '--disable-gpu'],
  viewport: { width: 1100, height: 700 },
});
const pages = new Map();
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

async function handle(msg) {
  const name = msg.page;
  if (msg.cmd === 'open') {
    const page = await context.newPage();
    pages.set(name, page);
    page.on('console', (m) => emit({ event: 'console', page: name, type: m.type(), text: m.text() }));
    page.on('pageerror', (e) => emit({ event: 'pageerror', page: name, text: String(e) }));
    try {
      await page.goto(msg.url, { timeout: 60000 });
      emit({ event: 'opened', page: name, ok: true });
    } catch (e) {
      emit({ event: 'opened', page: name, ok: false, error: String(e) });
    }
  } else if (msg.cmd === 'screenshot') {
    try {
      await pages.get(name).screenshot({ path: msg.path, fullPage: true });
      emit({ event: 'screenshot', page: name, ok: true });
    } catch (e) {
      emit({ event: 'screenshot', page: name, ok: false, error: String(e) });
    }
  } else if (msg.cmd === 'quit') {
    await shutdown(0);
  } else {
    emit({ event: 'error', text: 'unknown command ' + JSON.stringify(msg) });
  }
}

emit({ event: 'ready' });
// commands run one after another, in the order they came
let chain = Promise.resolve();
const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (!line.trim()) return;
  chain = chain.then(() => handle(JSON.parse(line)))
    .catch((e) => emit({ event: 'error', text: String(e && e.stack || e) }));
});
rl.on('close', () => { chain.then(() => shutdown(0)); });
