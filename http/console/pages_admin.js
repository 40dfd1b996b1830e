// pages_admin.js — for admin keys: tenants (list, create, suspend and
// activate), apps (list, register, rotate key), provider connections (JWT
// credentials, RingCentral's connect flow) and per-actor metrics charts
// drawn from GET /metrics (Prometheus text, parsed here).

import { api, ApiError, qs, session } from './api.js';
import { badge, busy, clear, errorBox, field, fmtTime, formValues, h, input, svg, table } from './ui.js';

// ---------------------------------------------------------------- tenants
export function tenantsPage(root) {
  const err = errorBox();
  const list = h('div', { id: 'tenants-list' });
  const form = h('form', { id: 'tenant-form', class: 'card' }, h('h2', {}, 'New tenant'),
    h('div', { class: 'row' },
      field('Name', input('name', { required: true, maxlength: 100 })),
      field('Monthly quota (segments)', input('monthlyQuota', { type: 'number', min: 0 })),
      field('Wallet (minor units)', input('wallet', { type: 'number', min: 0 })),
      field('Currency', input('currency', { placeholder: 'USD', maxlength: 3 }))),
    err, h('button', { type: 'submit', id: 'tenant-submit' }, 'Create'));
  const load = () => busy(null, err, async () => {
    const r = await api('GET', '/v1/tenants');
    const tenants = (r.tenants || []).sort((a, b) => String(b.createdAt).localeCompare(String(a.createdAt)));
    clear(list, table([
      { title: 'Tenant', render: (t) => h('code', {}, t.id) }, { title: 'Name', key: 'name' },
      { title: 'Status', render: (t) => badge(t.status) },
      { title: 'Quota', key: 'monthlyQuota' }, { title: 'Wallet', render: (t) => `${t.wallet} ${t.currency || ''}` },
      { title: 'Created', render: (t) => fmtTime(t.createdAt) },
      { title: '', render: (t) => h('button', {
        type: 'button', class: t.status === 'active' ? 'danger small' : 'small',
        onclick: () => busy(null, err, async () => {
          await api('PATCH', '/v1/tenants/' + t.id, { status: t.status === 'active' ? 'suspended' : 'active' });
          await load();
        }),
      }, t.status === 'active' ? 'Suspend' : 'Activate') },
    ], tenants.map((t) => ({ ...t, __data: { tenantId: t.id, name: t.name, status: t.status } })), 'No tenants yet.'));
  });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(form, err, async () => {
      const v = formValues(form);
      const body = { name: v.name };
      if (v.monthlyQuota) body.monthlyQuota = Number(v.monthlyQuota);
      if (v.wallet) body.wallet = Number(v.wallet);
      if (v.currency) body.currency = v.currency;
      await api('POST', '/v1/tenants', body);
      form.reset();
      await load();
    });
  });
  clear(root, h('h1', {}, 'Tenants'), list, form);
  load();
  return null;
}

// ---------------------------------------------------------------- apps
export function appsPage(root) {
  const err = errorBox();
  const list = h('div', { id: 'apps-list' });
  const shown = h('div', { id: 'apps-secret' });
  const scope = h('form', { class: 'inline', id: 'apps-scope' }, input('tenantId', { id: 'f-apps-scope', placeholder: 'tenant_… (empty: all)' }),
    h('button', { type: 'submit', class: 'secondary' }, 'List'));
  const form = h('form', { id: 'app-form', class: 'card' }, h('h2', {}, 'Register an app'),
    h('div', { class: 'row' },
      field('Name', input('name', { required: true, maxlength: 100 })),
      field('Tenant', input('tenantId', { required: true, placeholder: 'tenant_…' })),
      field('Mode', h('select', { name: 'mode' }, h('option', { value: 'test' }, 'test (simulator)'), h('option', { value: 'live' }, 'live'))),
      field('Role', h('select', { name: 'role' }, h('option', { value: 'app' }, 'app'), h('option', { value: 'admin' }, 'admin')))),
    field('Webhook URL (optional)', input('webhookUrl', { placeholder: 'https://…' })),
    err, h('button', { type: 'submit', id: 'app-submit' }, 'Register'));
  const showSecret = (title, r) => clear(shown, h('div', { class: 'card warn', id: 'apps-secret-card' },
    h('strong', {}, title), h('p', {}, 'Shown once: copy it now.'),
    h('dl', { class: 'kv' }, h('dt', {}, 'API key'), h('dd', {}, h('code', { class: 'secret' }, r.apiKey)),
      r.webhookSecret ? [h('dt', {}, 'Webhook secret'), h('dd', {}, h('code', { class: 'secret' }, r.webhookSecret))] : null)));
  const load = () => busy(scope, err, async () => {
    const r = await api('GET', '/v1/apps' + qs({ tenantId: scope.elements.tenantId.value.trim() }));
    clear(list, table([
      { title: 'App', render: (a) => h('code', {}, a.appId || a.id) }, { title: 'Name', key: 'name' },
      { title: 'Tenant', key: 'tenantId' }, { title: 'Role', key: 'role' }, { title: 'Mode', key: 'mode' },
      { title: 'Key', render: (a) => (a.apiKeyPrefix ? h('code', {}, a.apiKeyPrefix + '…') : '') },
      { title: 'Webhook', key: 'webhookUrl' },
      { title: '', render: (a) => h('button', { type: 'button', class: 'secondary small', onclick: () => busy(null, err, async () => {
        const id = a.appId || a.id;
        if (!confirm(`Rotate the key of ${a.name}? The old key stops working at once.`)) return;
        const k = await api('POST', `/v1/apps/${id}/rotate-key`);
        if (session.who() && session.who().appId === id) session.setKey(k.apiKey);
        showSecret(`New key of ${a.name}`, k);
        await load();
      }) }, 'Rotate key') },
    ], (r.apps || []).map((a) => ({ ...a, __data: { appId: a.appId || a.id } })), 'No apps.'));
  });
  scope.addEventListener('submit', (ev) => { ev.preventDefault(); load(); });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(form, err, async () => {
      const v = formValues(form);
      const body = { name: v.name, tenantId: v.tenantId, mode: v.mode, role: v.role };
      if (v.webhookUrl) body.webhookUrl = v.webhookUrl;
      const r = await api('POST', '/v1/apps/register', body);
      showSecret(`App ${r.name} registered`, r);
      form.reset();
      await load();
    });
  });
  clear(root, h('h1', {}, 'Apps'), scope, shown, list, form);
  load();
  return null;
}

// ---------------------------------------------------------------- connections
const PROVIDERS = {
  ringcentral: {
    title: 'RingCentral (JWT credentials)',
    fields: [['serverUrl', 'Server URL', 'text', 'https://platform.ringcentral.com'], ['clientId', 'Client id', 'text'],
      ['clientSecret', 'Client secret', 'password'], ['jwt', 'JWT', 'password']],
  },
  twilio: {
    title: 'Twilio',
    fields: [['accountSid', 'Account SID', 'text', 'AC…'], ['authToken', 'Auth token', 'password']],
  },
};

export function connectionsPage(root) {
  const err = errorBox();
  const tenantIn = input('tenantId', { id: 'f-conn-tenant', required: true, placeholder: 'tenant_…' });
  const scope = h('form', { class: 'inline', id: 'conn-scope' }, tenantIn, h('button', { type: 'submit' }, 'Show'));
  const body = h('div', { id: 'conn-body' });
  const tenant = () => tenantIn.value.trim();
  const show = () => busy(scope, err, async () => {
    const t = tenant();
    if (!t) throw new ApiError(0, null, 'Name a tenant');
    await api('GET', '/v1/tenants/' + encodeURIComponent(t));  // 404 for an unknown one
    const cards = [];
    for (const [p, spec] of Object.entries(PROVIDERS)) cards.push(await providerCard(t, p, spec));
    cards.push(await rcConnectCard(t));
    clear(body, cards);
  });
  scope.addEventListener('submit', (ev) => { ev.preventDefault(); show(); });
  clear(root, h('h1', {}, 'Connections'),
    h('p', { class: 'muted' }, 'A tenant\'s provider accounts. Secrets are sealed by the gateway and never shown again.'),
    scope, err, body);
  return null;
}

async function providerCard(tenant, provider, spec) {
  const err = errorBox();
  const status = h('div', { class: 'conn-status', id: 'conn-status-' + provider });
  const path = `/v1/tenants/${encodeURIComponent(tenant)}/connections/${provider}`;
  const refresh = async () => {
    try {
      const c = await api('GET', path);
      clear(status, badge(c.connected ? 'connected' : 'not connected'),
        c.numbers ? ' numbers: ' + c.numbers.join(', ') : '', c.connectedAt ? ' since ' + fmtTime(c.connectedAt) : '',
        c.webhook ? ` · webhook ${c.webhook.subscribed ? 'subscribed' : 'not subscribed'}` : '');
    } catch (e) {
      clear(status, badge('not connected'), ' ', h('span', { class: 'muted' }, e.message));
    }
  };
  const form = h('form', { class: 'card conn', id: 'conn-form-' + provider }, h('h2', {}, spec.title), status,
    h('div', { class: 'row' }, spec.fields.map(([name, label, type, ph]) =>
      field(label, input(name, { id: `f-${provider}-${name}`, type, placeholder: ph || '', autocomplete: 'off' })))),
    err, h('button', { type: 'submit' }, 'Save and check'), ' ',
    h('button', { type: 'button', class: 'danger', onclick: () => busy(form, err, async () => {
      if (!confirm(`Remove the ${provider} connection of ${tenant}?`)) return;
      await api('DELETE', path);
      await refresh();
    }) }, 'Disconnect'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(form, err, async () => {
      await api('PUT', path, formValues(form));
      form.reset();
      await refresh();
    });
  });
  await refresh();
  return form;
}

async function rcConnectCard(tenant) {
  const err = errorBox();
  const status = h('div', { id: 'rc-status' });
  const link = h('div', { id: 'rc-connect-link' });
  const refresh = async () => {
    try {
      const s = await api('GET', '/v1/rc/status' + qs({ tenantId: tenant }));
      clear(status, badge(s.connected ? 'connected' : 'not connected'),
        s.rcAccountId ? ' account ' + s.rcAccountId : '', s.expiresAt ? ' token until ' + fmtTime(s.expiresAt) : '');
    } catch (e) {
      clear(status, h('span', { class: 'muted' }, e.message));
    }
  };
  const card = h('div', { class: 'card', id: 'rc-connect' }, h('h2', {}, 'RingCentral sign-in (connect flow)'),
    h('p', { class: 'muted' }, 'Makes a single-use link (5 minutes) where the tenant signs in to RingCentral itself.'),
    status, err,
    h('button', { type: 'button', id: 'rc-connect-btn', onclick: () => busy(null, err, async () => {
      const r = await api('POST', '/v1/rc/connect-token', { tenantId: tenant });
      const url = new URL(r.connectUrl, location.href).href;
      clear(link, 'Link: ', h('a', { href: url, target: '_blank', rel: 'noopener noreferrer', id: 'rc-connect-url' }, url));
      window.open(url, '_blank', 'noopener,noreferrer');
    }) }, 'Open connect page'), ' ',
    h('button', { type: 'button', class: 'secondary', onclick: () => busy(null, err, refresh) }, 'Refresh status'), ' ',
    h('button', { type: 'button', class: 'danger', onclick: () => busy(null, err, async () => {
      await api('POST', '/v1/rc/disconnect', { tenantId: tenant });
      await refresh();
    }) }, 'Disconnect'),
    link);
  await refresh();
  return card;
}

// ---------------------------------------------------------------- metrics
// Prometheus text exposition: [{name, labels, value}] (comments skipped).
export function parseProm(text) {
  const out = [];
  const re = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/;
  const lre = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = re.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[3]) for (const l of m[3].matchAll(lre)) labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

const SAMPLES = 60;
const PERIOD_MS = 3000;

function lineChart(title, series, unit) {
  const W = 300, H = 110, P = { l: 40, r: 8, t: 18, b: 16 };
  const all = series.flatMap((s) => s.points.map((p) => p[1]));
  const max = Math.max(1, ...all.filter(Number.isFinite));
  const t0 = Math.min(...series.flatMap((s) => s.points.map((p) => p[0])), Date.now());
  const t1 = Math.max(t0 + 1, ...series.flatMap((s) => s.points.map((p) => p[0])));
  const x = (t) => P.l + ((t - t0) / (t1 - t0)) * (W - P.l - P.r);
  const y = (v) => H - P.b - (v / max) * (H - P.t - P.b);
  const el = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': title },
    svg('text', { x: P.l, y: 12, class: 'ctitle' }, title),
    svg('text', { x: P.l - 4, y: P.t + 4, class: 'axis', 'text-anchor': 'end' }, fmtNum(max)),
    svg('text', { x: P.l - 4, y: H - P.b, class: 'axis', 'text-anchor': 'end' }, '0'),
    svg('line', { x1: P.l, y1: H - P.b, x2: W - P.r, y2: H - P.b, class: 'grid' }),
    svg('line', { x1: P.l, y1: P.t, x2: W - P.r, y2: P.t, class: 'grid' }));
  series.forEach((s, i) => {
    const pts = s.points.filter((p) => Number.isFinite(p[1]));
    if (pts.length) {
      el.append(svg('polyline', { class: 'series s' + i, points: pts.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ') }));
      const last = pts[pts.length - 1][1];
      el.append(svg('text', { x: W - P.r, y: 12 + 10 * i, class: 'legend s' + i, 'text-anchor': 'end' }, `${s.name} ${fmtNum(last)}${unit || ''}`));
    }
  });
  return el;
}

function fmtNum(v) {
  if (!Number.isFinite(v)) return '–';
  if (Math.abs(v) >= 1000) return (v / 1000).toFixed(1) + 'k';
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

export function metricsPage(root) {
  const err = errorBox();
  const grid = h('div', { id: 'metrics-charts', class: 'charts' });
  const summary = h('div', { id: 'metrics-summary', class: 'muted' });
  const hist = new Map();  // actor -> [{t, depth, in, out}]
  let timer = null, stopped = false;
  const tick = async () => {
    let text;
    try {
      const res = await fetch('/metrics', { cache: 'no-store', credentials: 'omit' });
      if (!res.ok) throw new ApiError(res.status, null, `GET /metrics answered ${res.status}`);
      text = await res.text();
      err.hidden = true;
    } catch (e) {
      clear(err, h('strong', {}, e.message));
      err.hidden = false;
    }
    if (text && !stopped) render(text);
    if (!stopped) timer = setTimeout(tick, PERIOD_MS);
  };
  const render = (text) => {
    const now = Date.now();
    const m = parseProm(text);
    const actors = new Map();
    for (const s of m) {
      const a = s.labels.actor;
      if (!a) continue;
      if (!actors.has(a)) actors.set(a, { depth: 0, in: 0, out: 0 });
      if (s.name === 'smsgw_actor_queue_depth') actors.get(a).depth = s.value;
      else if (s.name === 'smsgw_actor_messages_total') actors.get(a)[s.labels.dir] = s.value;
    }
    for (const [a, v] of actors) {
      const hst = hist.get(a) || [];
      const prev = hst[hst.length - 1];
      const dt = prev ? (now - prev.t) / 1000 : 0;
      hst.push({
        t: now, depth: v.depth, inTotal: v.in, outTotal: v.out,
        inRate: prev && dt > 0 ? Math.max(0, (v.in - prev.inTotal) / dt) : NaN,
        outRate: prev && dt > 0 ? Math.max(0, (v.out - prev.outTotal) / dt) : NaN,
      });
      if (hst.length > SAMPLES) hst.shift();
      hist.set(a, hst);
    }
    const val = (name, labels) => m.filter((s) => s.name === name &&
      Object.entries(labels || {}).every(([k, v]) => s.labels[k] === v)).reduce((x, s) => x + s.value, 0);
    const totals = { sent: val('smsgw_status_events_total', { status: 'sent' }), ws: val('smsgw_ws_connections'),
      outbox: val('smsgw_webhook_outbox_depth'), http: val('smsgw_http_requests_total') };
    clear(summary, `${actors.size} actors · ${totals.http} HTTP requests · ${totals.sent} messages sent · ` +
      `${totals.ws} WebSocket sessions · webhook outbox ${totals.outbox} · refreshed ${new Date(now).toLocaleTimeString()}`);
    clear(grid, [...hist.entries()].map(([a, hst]) => h('figure', { class: 'card actor', dataset: { actor: a } },
      h('figcaption', {}, h('strong', {}, a), ` depth ${hst[hst.length - 1].depth}, in ${hst[hst.length - 1].inTotal}, out ${hst[hst.length - 1].outTotal}`),
      lineChart('queue depth', [{ name: 'depth', points: hst.map((p) => [p.t, p.depth]) }]),
      lineChart('messages/s', [{ name: 'in', points: hst.map((p) => [p.t, p.inRate]) },
        { name: 'out', points: hst.map((p) => [p.t, p.outRate]) }], '/s'))));
    grid.dataset.samples = String(Math.max(0, ...[...hist.values()].map((x) => x.length)));
  };
  clear(root, h('h1', {}, 'Metrics'),
    h('p', { class: 'muted' }, `Per actor, from GET /metrics every ${PERIOD_MS / 1000} s (the last ${SAMPLES} samples): queue depth, and messages in and out per second.`),
    summary, err, grid);
  tick();
  return () => { stopped = true; clearTimeout(timer); };
}
