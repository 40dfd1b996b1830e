// pages_sms.js — sending and reading messages: the send form with its live
// segment counter, a message's view, the history with filters and paging,
// and batches with progress bars.

import { api, ApiError, qs } from './api.js';
import { analyze } from './text.js';
import { badge, busy, clear, errorBox, field, fmtTime, formValues, h, input, showError, table } from './ui.js';

const TERMINAL = new Set(['delivered', 'failed', 'rejected', 'cancelled', 'received']);

// "name=value" lines into an object
function parseVars(text) {
  const vars = {};
  for (const line of (text || '').split('\n')) {
    if (!line.trim()) continue;
    const i = line.indexOf('=');
    if (i <= 0) throw new ApiError(0, null, `variables: "${line.trim()}" is not name=value`);
    vars[line.slice(0, i).trim()] = line.slice(i + 1);
  }
  return vars;
}

// a datetime-local value as RFC 3339 with its zone (UTC)
function rfc3339(local) {
  if (!local) return undefined;
  const d = new Date(local);
  if (isNaN(d)) throw new ApiError(0, null, 'sendAt is not a date and time');
  return d.toISOString();
}

function counterText(a) {
  if (a.segments === 0) return `${a.encoding} · empty`;
  return `${a.encoding} · ${a.codePoints} characters · ${a.units} ${a.encoding === 'GSM7' ? 'septets' : 'UTF-16 units'}` +
    ` · ${a.segments} segment${a.segments === 1 ? '' : 's'} · ${a.left} left in this one`;
}

// ---------------------------------------------------------------- send
export function sendPage(root, c) {
  const body = h('textarea', { name: 'body', id: 'f-body', rows: 5, maxlength: 6400 });
  const counter = h('output', { id: 'seg-counter', for: 'f-body', class: 'counter' });
  const update = () => {
    const a = analyze(body.value);
    counter.dataset.encoding = a.encoding;
    counter.dataset.segments = String(a.segments);
    counter.dataset.units = String(a.units);
    counter.textContent = counterText(a);
    counter.classList.toggle('warn', a.codePoints > 1600);
  };
  body.addEventListener('input', update);
  const err = errorBox();
  const result = h('div', { id: 'send-result' });
  const preview = h('div', { id: 'send-preview', class: 'muted' });
  const form = h('form', { id: 'send-form', class: 'card' },
    h('div', { class: 'row' },
      field('To', input('to', { placeholder: '+15559876543', required: true })),
      field('From', input('from', { placeholder: '+15551234567 or a sender ID', required: true }))),
    field('Body', body), counter,
    h('details', {}, h('summary', {}, 'Template, user id, schedule'),
      h('div', { class: 'row' },
        field('Template (slug or id; the body is then ignored)', input('template')),
        field('Variables (name=value, one a line)', h('textarea', { name: 'variables', id: 'f-variables', rows: 3 }))),
      h('button', { type: 'button', id: 'send-preview-btn', class: 'secondary' }, 'Preview template'),
      preview,
      h('div', { class: 'row' },
        field('User id', input('userId', { maxlength: 128 })),
        field('Send at (local time; empty: now)', input('sendAt', { type: 'datetime-local' })))),
    err,
    h('button', { type: 'submit', id: 'send-submit' }, 'Send'));
  const payload = () => {
    const v = formValues(form);
    const p = { to: v.to, from: v.from };
    if (v.template) {
      p.template = v.template;
      p.variables = parseVars(form.elements.variables.value);
    } else {
      p.body = body.value;
    }
    if (v.userId) p.userId = v.userId;
    if (v.sendAt) p.sendAt = rfc3339(v.sendAt);
    return p;
  };
  form.querySelector('#send-preview-btn').addEventListener('click', () => busy(form, err, async () => {
    const v = formValues(form);
    if (!v.template) throw new ApiError(0, null, 'Name a template to preview');
    const q = c.who.role === 'admin' ? qs({ tenantId: v.tenantId }) : '';
    const r = await api('POST', `/v1/templates/${encodeURIComponent(v.template)}/render${q}`,
      { variables: parseVars(form.elements.variables.value) });
    clear(preview, h('pre', {}, r.body), `${r.encoding} · ${r.segments} segment(s)`);
  }));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(form, err, async () => {
      const r = await api('POST', '/v1/sms/send', payload());
      clear(result, h('div', {
        class: 'card ok', dataset: { messageId: r.messageId, segments: String(r.segments), encoding: r.encoding, status: r.status },
      },
      'Accepted ', h('a', { href: '#/message/' + r.messageId, id: 'send-result-link' }, r.messageId), ' ',
      badge(r.status), ` ${r.encoding}, ${r.segments} segment${r.segments === 1 ? '' : 's'}${r.test ? ', test' : ''}`));
    });
  });
  clear(root, h('h1', {}, 'Send an SMS'),
    c.who.role === 'admin' ? h('p', { class: 'muted' }, 'Sending needs an app key; an admin key is refused by the API.') : null,
    form, result);
  update();
  return null;
}

// ---------------------------------------------------------------- message
export function messagePage(root, c, id) {
  const err = errorBox();
  const view = h('div', { id: 'message-view', dataset: { refreshes: '0' } });
  const idIn = input('messageId', { placeholder: 'msg_…', value: id || '', required: true });
  const form = h('form', { id: 'message-form', class: 'inline' }, idIn, h('button', { type: 'submit' }, 'Look up'));
  let current = id || '';
  let refreshes = 0;
  const load = async () => {
    if (!current) return;
    const m = await api('GET', '/v1/sms/' + encodeURIComponent(current));
    refreshes++;
    view.dataset.refreshes = String(refreshes);
    renderMessage(view, m, c, () => busy(null, err, load));
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = idIn.value.trim();
    if (v !== current) c.go('#/message/' + encodeURIComponent(v));
    else busy(form, err, load);
  });
  clear(root, h('h1', {}, 'Message'), form, err, view);
  busy(form, err, load);
  return c.live.on((e) => {
    if (e.messageId === current) busy(null, err, load);
  });
}

function renderMessage(view, m, c, reload) {
  const kv = (k, v) => [h('dt', {}, k), h('dd', {}, v ?? '—')];
  const cost = m.cost ? `${m.cost.amount} ${m.cost.currency || ''}${m.cost.refunded ? ' (refunded)' : ''}` : null;
  const cancel = m.status === 'scheduled'
    ? h('button', { type: 'button', id: 'message-cancel', class: 'secondary', onclick: async (ev) => {
      ev.target.disabled = true;
      try { await api('POST', `/v1/sms/${m.messageId}/cancel`); } catch (e) { alert(e.message); }
      reload();
    } }, 'Cancel') : null;
  clear(view,
    h('div', { class: 'card' },
      h('div', { class: 'head' }, h('h2', {}, h('code', {}, m.messageId)),
        h('span', { id: 'message-status', dataset: { status: m.status } }, badge(m.status)), cancel),
      h('dl', { class: 'kv' },
        kv('To', m.to), kv('From', m.from), kv('Body', h('pre', {}, m.body)),
        kv('Direction', m.direction), kv('Encoding / segments', m.encoding ? `${m.encoding}, ${m.segments}` : null),
        kv('Error', m.error), kv('Provider', m.provider), kv('Provider id', m.rcMessageId),
        kv('User id', m.userId), kv('Country', m.country), kv('Send at', m.sendAt ? fmtTime(m.sendAt) : null),
        kv('Batch', m.batchId ? h('a', { href: '#/batches/' + m.batchId }, m.batchId) : null),
        kv('Test', m.test ? 'yes' : 'no'), kv('Cost', cost),
        kv('Created', fmtTime(m.createdAt)), kv('Updated', fmtTime(m.updatedAt)))),
    h('h3', {}, 'Events'),
    h('ol', { id: 'message-events', class: 'timeline' }, (m.events || []).map((e) =>
      h('li', { dataset: { status: e.status } }, badge(e.status), ' ', fmtTime(e.at)))),
    h('h3', {}, 'Provider attempts'),
    h('div', { id: 'message-attempts' }, table([
      { title: 'Provider', key: 'provider' },
      { title: 'Started', render: (a) => fmtTime(a.startedAt) },
      { title: 'Finished', render: (a) => fmtTime(a.finishedAt) },
      { title: 'OK', render: (a) => (a.ok ? 'yes' : 'no') },
      { title: 'Provider id', key: 'providerMessageId' },
      { title: 'Error', render: (a) => [a.errorCode, a.errorMessage].filter(Boolean).join(': ') },
    ], m.providerAttempts || [], 'No attempts yet.')));
}

// ---------------------------------------------------------------- history
export function historyPage(root, c) {
  const err = errorBox();
  const results = h('div', { id: 'history-results' });
  const statuses = ['', 'scheduled', 'queued', 'sending', 'sent', 'delivered', 'failed', 'rejected', 'cancelled', 'received'];
  const form = h('form', { id: 'history-form', class: 'card filters' },
    c.who.role === 'admin' ? field('Tenant', input('tenantId', { placeholder: 'tenant_…', required: true })) : null,
    field('Direction', h('select', { name: 'direction', id: 'f-direction' },
      ['', 'outbound', 'inbound'].map((d) => h('option', { value: d }, d || 'any')))),
    field('Status', h('select', { name: 'status', id: 'f-status' }, statuses.map((s) => h('option', { value: s }, s || 'any')))),
    field('User id', input('userId')), field('From', input('from')), field('To', input('to')),
    field('Per page', input('limit', { type: 'number', min: 1, max: 200, value: '50' })),
    h('button', { type: 'submit', id: 'history-submit' }, 'Search'));
  let pages = [];  // cursors of the pages shown so far (for "previous")
  const load = (cursor) => busy(form, err, async () => {
    const r = await api('GET', '/v1/sms' + qs({ ...formValues(form), cursor }));
    clear(results,
      table([
        { title: 'Message', render: (m) => h('a', { href: '#/message/' + m.messageId }, m.messageId) },
        { title: 'Status', render: (m) => badge(m.status) },
        { title: 'To', key: 'to' }, { title: 'From', key: 'from' },
        { title: 'Body', render: (m) => h('span', { class: 'ellipsis' }, m.body) },
        { title: 'User id', key: 'userId' },
        { title: 'Created', render: (m) => fmtTime(m.createdAt) },
      ], r.data.map((m) => ({ ...m, __data: { messageId: m.messageId, status: m.status } })), 'No messages match.'),
      h('div', { class: 'pager' },
        pages.length ? h('button', { type: 'button', class: 'secondary', id: 'history-prev', onclick: () => {
          pages.pop();
          load(pages.length ? pages[pages.length - 1] : undefined);
        } }, '← Newer') : null,
        r.nextCursor ? h('button', { type: 'button', class: 'secondary', id: 'history-next', onclick: () => {
          pages.push(r.nextCursor);
          load(r.nextCursor);
        } }, 'Older →') : null));
  });
  form.addEventListener('submit', (ev) => { ev.preventDefault(); pages = []; load(); });
  clear(root, h('h1', {}, 'History'), form, err, results);
  if (c.who.role !== 'admin') load();
  return null;
}

// ---------------------------------------------------------------- batches
const BATCHES = 'smsgw.batches';  // ids of batches made or opened in this tab
const POLL_MS = 2000;

function knownBatches() {
  try { return JSON.parse(sessionStorage.getItem(BATCHES) || '[]'); } catch { return []; }
}

function remember(id) {
  const ids = knownBatches().filter((x) => x !== id);
  ids.unshift(id);
  sessionStorage.setItem(BATCHES, JSON.stringify(ids.slice(0, 20)));
}

// Recipients from pasted text: one number a line, or CSV with a header
// "to[,text]" (quotes as RFC 4180). Answers [{to: [n], text?}].
export function parseRecipients(text) {
  const rows = parseCsv(text.trim());
  if (!rows.length) return [];
  const head = rows[0].map((x) => x.trim().toLowerCase());
  if (head[0] === 'to') {
    const ti = head.findIndex((x) => x === 'text' || x === 'body');
    return rows.slice(1).filter((r) => r.length && r[0].trim()).map((r) => {
      const m = { to: [r[0].trim()] };
      if (ti > 0 && r[ti] !== undefined && r[ti] !== '') m.text = r[ti];
      return m;
    });
  }
  return rows.flatMap((r) => r).map((x) => x.trim()).filter(Boolean).map((n) => ({ to: [n] }));
}

function parseCsv(text) {
  const rows = [];
  let row = [], cell = '', q = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (q) {
      if (ch === '"' && text[i + 1] === '"') { cell += '"'; i++; }
      else if (ch === '"') q = false;
      else cell += ch;
    } else if (ch === '"' && cell === '') q = true;
    else if (ch === ',') { row.push(cell); cell = ''; }
    else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(cell); rows.push(row); row = []; cell = '';
    } else cell += ch;
  }
  if (cell !== '' || row.length) { row.push(cell); rows.push(row); }
  return rows.filter((r) => r.some((x) => x.trim() !== ''));
}

export function batchesPage(root, c, openId) {
  const err = errorBox();
  const created = h('div', { id: 'batch-created' });
  const cards = h('div', { id: 'batch-list', class: 'batches' });
  const form = h('form', { id: 'batch-form', class: 'card' },
    h('div', { class: 'row' },
      field('From', input('from', { required: true, placeholder: '+15551234567' })),
      field('Send at (optional)', input('sendAt', { type: 'datetime-local' })),
      field('User id (optional)', input('userId'))),
    field('Text (for rows without their own)', h('textarea', { name: 'text', id: 'f-text', rows: 2 })),
    field('Recipients', h('textarea', { name: 'recipients', id: 'f-recipients', rows: 6,
      placeholder: '+15559870001\n+15559870002\n\nor CSV:\nto,text\n+15559870001,Hello Ann' }),
    'One number a line, or CSV with a header to[,text].'),
    err, h('button', { type: 'submit', id: 'batch-submit' }, 'Create batch'));
  const timers = new Map();
  const cardOf = new Map();

  // polled every POLL_MS while Processing (and soon after a final status
  // event); an error (a 429 under the key's rate limit) is shown and the
  // poll goes on; a 404 ends it
  let stopped = false;
  const refresh = async (id) => {
    clearTimeout(timers.get(id));
    let b;
    try {
      b = await api('GET', '/v1/sms/batches/' + encodeURIComponent(id));
    } catch (e) {
      const card = cardOf.get(id);
      if (card) showError(card.querySelector('.error'), e);
      if (e.status !== 404 && e.status !== 400 && !stopped) timers.set(id, setTimeout(() => refresh(id), POLL_MS));
      return;
    }
    if (stopped) return;
    renderCard(id, b);
    if (b.status !== 'Completed') timers.set(id, setTimeout(() => refresh(id), POLL_MS));
  };
  const renderCard = (id, b) => {
    let card = cardOf.get(id);
    if (!card) {
      card = h('div', { class: 'card batch', dataset: { id } });
      cardOf.set(id, card);
      cards.prepend(card);
    }
    if (!b) {
      clear(card, h('code', {}, id), ' loading…', errorBox());
      return;
    }
    const pct = b.batchSize ? Math.round((100 * b.processedCount) / b.batchSize) : 100;
    const bar = h('div', { class: 'bar' }, h('div', { class: 'fill' }));
    bar.firstChild.style.width = pct + '%';
    card.dataset.status = b.status;
    clear(card,
      h('div', { class: 'head' }, h('code', {}, b.id), h('span', { class: 'batch-status badge st-' + b.status.toLowerCase(), dataset: { status: b.status } }, b.status)),
      h('progress', { max: String(b.batchSize || 1), value: String(b.processedCount), class: 'batch-progress' }),
      bar,
      h('div', { class: 'batch-count', dataset: { processed: String(b.processedCount), size: String(b.batchSize) } },
        `${b.processedCount} of ${b.batchSize} final (${pct} %) · from ${b.from} · created ${fmtTime(b.creationTime)}` +
        (b.cost !== undefined ? ` · cost ${b.cost}` : '')),
      h('button', { type: 'button', class: 'secondary', onclick: () => showMessages(card, b.id) }, 'Messages'),
      errorBox());
  };
  const showMessages = async (card, id) => {
    try {
      const r = await api('GET', `/v1/sms/batches/${encodeURIComponent(id)}/messages?limit=200`);
      const old = card.querySelector('.batch-messages');
      if (old) old.remove();
      card.append(h('div', { class: 'batch-messages' }, table([
        { title: 'Message', render: (m) => h('a', { href: '#/message/' + m.messageId }, m.messageId) },
        { title: 'To', key: 'to' }, { title: 'Status', render: (m) => badge(m.status) },
      ], r.data)));
    } catch (e) { showError(card.querySelector('.error'), e); }
  };
  const open = (id) => {
    remember(id);
    renderCard(id, null);
    refresh(id);
  };

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(form, err, async () => {
      const v = formValues(form);
      const messages = parseRecipients(form.elements.recipients.value);
      if (!messages.length) throw new ApiError(0, null, 'Paste at least one recipient');
      const body = { from: v.from, messages };
      if (v.text) body.text = form.elements.text.value;
      if (v.sendAt) body.sendAt = rfc3339(v.sendAt);
      if (v.userId) body.userId = v.userId;
      let r;
      try {
        r = await api('POST', '/v1/sms/batches', body);
      } catch (e) {
        if (e.body && Array.isArray(e.body.rejected)) clear(created, rejectedList(e.body.rejected));
        throw e;
      }
      clear(created, h('div', { class: 'card ok', id: 'batch-created-ok', dataset: { id: r.id } },
        'Batch ', h('code', {}, r.id), ` accepted: ${r.batchSize} message(s).`),
      r.rejected && r.rejected.length ? rejectedList(r.rejected) : null);
      open(r.id);
    });
  });
  const lookup = input('batchId', { placeholder: 'batch_…' });
  const lookupForm = h('form', { class: 'inline', id: 'batch-lookup' }, lookup, h('button', { type: 'submit', class: 'secondary' }, 'Open'));
  lookupForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (lookup.value.trim()) open(lookup.value.trim());
  });
  clear(root, h('h1', {}, 'Batches'), form, created,
    h('div', { class: 'head' }, h('h2', {}, 'Progress'), lookupForm), cards);
  for (const id of knownBatches().reverse()) open(id);
  if (openId) open(openId);
  // the API's own list of the key's batches, where the gateway has one
  // (GET /v1/sms/batches); without it (404, 405) the tab's own list stays
  if (c.who.role !== 'admin') {
    api('GET', '/v1/sms/batches?limit=10').then((r) => {
      const ids = (r && Array.isArray(r.data) ? r.data : []).map((b) => b && b.id).filter(Boolean);
      for (const id of ids.reverse()) {
        if (!cardOf.has(id) && !stopped) {
          renderCard(id, null);
          refresh(id);
        }
      }
    }).catch(() => {});
  }
  const soon = new Set();
  const off = c.live.on((e) => {
    // a status change may finish a batch: refresh the ones still running now
    if (e.type !== 'sms_status' || !TERMINAL.has(e.status)) return;
    for (const [id, card] of cardOf) {
      if (card.dataset.status === 'Processing') {
        if (!soon.has(id)) {
          soon.add(id);
          clearTimeout(timers.get(id));
          timers.set(id, setTimeout(() => { soon.delete(id); refresh(id); }, 300));
        }
      }
    }
  });
  return () => { stopped = true; off(); for (const t of timers.values()) clearTimeout(t); };
}

function rejectedList(rejected) {
  return h('div', { class: 'card warn', id: 'batch-rejected' }, h('strong', {}, `${rejected.length} rejected:`),
    h('ul', {}, rejected.map((x) => h('li', {}, `#${x.index} ${(x.to || []).join(', ')}: ${x.errorCode} ${x.description}`))));
}
