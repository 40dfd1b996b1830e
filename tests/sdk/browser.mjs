// tests/sdk/browser.mjs — what the browser drivers share (console.mjs for
// tests/e2e/test_gw_console.py, ws_browser.mjs for test_gw_ws_browser.py):
// Debian's headless Chromium started through playwright-core (which downloads
// no browser: it starts the one at CHROMIUM), JSON lines out, commands in.
//
//   const { context, shutdown } = await launch('NAME.mjs', { width, height });
//       reads USER_DATA_DIR [CHROMIUM] from the command line (usage and exit
//       2 without them); Chromium runs with --headless=new --no-sandbox
//       --disable-gpu and that profile folder; shutdown(code) closes it once,
//       says {"event": "closed"} and exits (also on SIGTERM and SIGINT)
//   emit(obj)                 one JSON line on stdout
//   await newPage(context, name)   a tab whose console lines and page errors
//       are events: {"event": "console", "page", "type", "text"},
//       {"event": "pageerror", "page", "text"}
//   serve(handle, shutdown)   says {"event": "ready"}, then runs handle(msg)
//       for each JSON line of stdin, one after another in the order they
//       came (a failure is an {"event": "error"}); the end of stdin quits
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

export const emit = (o) => process.stdout.write(JSON.stringify(o) + '\n');

export async function launch(name, viewport) {
  const userDataDir = process.argv[2];
  const executablePath = process.argv[3] || '/usr/bin/chromium';
  if (!userDataDir) {
    console.error(`usage: ${name} USER_DATA_DIR [CHROMIUM]`);
    process.exit(2);
  }
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: ['--headless=new', '--no-sandbox', '--disable-gpu'],
    viewport,
  });
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
  return { context, shutdown };
}

export async function newPage(context, name) {
  const page = await context.newPage();
  page.on('console', (m) => emit({ event: 'console', page: name, type: m.type(), text: m.text() }));
  page.on('pageerror', (e) => emit({ event: 'pageerror', page: name, text: String(e) }));
  return page;
}

export function serve(handle, shutdown) {
  emit({ event: 'ready' });
  let chain = Promise.resolve();
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (!line.trim()) return;
    chain = chain.then(() => handle(JSON.parse(line)))
      .catch((e) => emit({ event: 'error', text: String(e && e.stack || e) }));
  });
  rl.on('close', () => { chain.then(() => shutdown(0)); });
}
