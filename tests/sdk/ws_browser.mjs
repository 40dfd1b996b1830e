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
// (Launching, page events and the command loop: ./browser.mjs, shared.)
import { emit, launch, newPage, serve } from './browser.mjs';

const { context, shutdown } = await launch('ws_browser.mjs', { width: 1100, height: 700 });
const pages = new Map();

async function handle(msg) {
  const name = msg.page;
  if (msg.cmd === 'open') {
    const page = await newPage(context, name);
    pages.set(name, page);
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

// commands run one after another, in the order they came
serve(handle, shutdown);
