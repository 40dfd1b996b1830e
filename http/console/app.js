// app.js — the console's shell: sign-in, navigation (#/page/arg), the live
// event stream and the events page. The pages are in pages_*.js.

import { api, ApiError, KEY_RE, session, whoIs } from './api.js';
import { Live } from './live.js';
import { badge, clear, fmtTime, h, showError } from './ui.js';
import { sendPage, messagePage, historyPage, batchesPage } from './pages_sms.js';
import { templatesPage, senderIdsPage } from './pages_manage.js';
import { tenantsPage, appsPage, connectionsPage, metricsPage } from './pages_admin.js';

const MAX_EVENTS = 200;

const PAGES = [
  { id: 'events', title: 'Live events', render: eventsPage },
  { id: 'send', title: 'Send', render: sendPage },
  { id: 'message', title: 'Message', render: messagePage },
  { id: 'history', title: 'History', render: historyPage },
  { id: 'batches', title: 'Batches', render: batchesPage },
  { id: 'templates', title: 'Templates', render: templatesPage },
  { id: 'sender-ids', title: 'Sender IDs', render: senderIdsPage },
  { id: 'tenants', title: 'Tenants', render: tenantsPage, admin: true },
  { id: 'apps', title: 'Apps', render: appsPage, admin: true },
  { id: 'connections', title: 'Connections', render: connectionsPage, admin: true },
  { id: 'metrics', title: 'Metrics', render: metricsPage, admin: true },
];

const $ = (id) => document.getElementById(id);
const state = { events: [], live: null, cleanup: null, who: null };

// what pages get
const ctx = {
  get who() { return state.who; },
  get live() { return state.live; },
  get events() { return state.events; },
  go: (hash) => { if (location.hash === hash) route(); else location.hash = hash; },
  setKey: (key) => session.setKey(key),
};

function liveState(s, detail) {
  const el = $('live');
  el.dataset.state = s;
  el.textContent = 'live: ' + (s === 'open' ? 'on' : s) + (detail ? ' — ' + detail : '');
}

function onEvent(ev) {
  state.events.unshift({ ...ev, receivedAt: new Date().toISOString() });
  if (state.events.length > MAX_EVENTS) state.events.length = MAX_EVENTS;
}

function showSignIn(err) {
  if (state.cleanup) { state.cleanup(); state.cleanup = null; }
  $('nav').replaceChildren();
  $('who').replaceChildren();
  $('signout').hidden = true;
  const main = $('main');
  const form = document.getElementById('signin') || buildSignIn();
  if (!form.isConnected) clear(main, form);
  showError($('signin-error'), err || null);
  $('signin-key').focus();
}

let signInTemplate = null;
function buildSignIn() { return signInTemplate.cloneNode(true); }

async function signIn(ev) {
  ev.preventDefault();
  const keyEl = $('signin-key');
  const key = keyEl.value.trim();
  const errEl = $('signin-error');
  if (!KEY_RE.test(key)) {
    showError(errEl, new ApiError(0, null,
      'An API key is sgw_ or sgw_test_ followed by 32 lowercase hex digits'));
    return;
  }
  $('signin-submit').disabled = true;
  try {
    const who = await whoIs(key);
    session.set(key, who);
    keyEl.value = '';
    start();
  } catch (e) {
    showError(errEl, e);
  } finally {
    const b = $('signin-submit');
    if (b) b.disabled = false;
  }
}

function signOut() {
  if (state.live) state.live.stop();
  state.live = null;
  state.events = [];
  state.who = null;
  session.clear();
  history.replaceState(null, '', location.pathname);
  showSignIn();
}

function start() {
  state.who = session.who();
  const who = state.who;
  clear($('nav'), PAGES.filter((p) => !p.admin || who.role === 'admin').map((p) =>
    h('a', { href: '#/' + p.id, id: 'nav-' + p.id, dataset: { page: p.id } }, p.title)));
  clear($('who'),
    h('span', { class: 'role', dataset: { role: who.role } }, who.role),
    who.test ? h('span', { class: 'badge st-test' }, 'test') : null,
    ' ', h('code', {}, who.prefix + '…'),
    who.tenantId ? [' ', h('code', { id: 'who-tenant' }, who.tenantId)] : null,
    who.appName ? [' ', h('span', { class: 'muted' }, who.appName)] : null);
  $('signout').hidden = false;
  if (!state.live) {
    state.live = new Live(liveState);
    state.live.on(onEvent);
    state.live.start();
  }
  if (!location.hash || location.hash === '#') location.hash = '#/events';
  else route();
}

function route() {
  if (!session.key() || !state.who) return;
  const [, id = 'events', ...rest] = location.hash.split('/');
  const page = PAGES.find((p) => p.id === id && (!p.admin || state.who.role === 'admin')) || PAGES[0];
  if (state.cleanup) { state.cleanup(); state.cleanup = null; }
  for (const a of $('nav').children) a.classList.toggle('active', a.dataset.page === page.id);
  const main = $('main');
  const section = h('section', { id: 'page-' + page.id, class: 'page' });
  clear(main, section);
  document.title = page.title + ' — smsgw console';
  state.cleanup = page.render(section, ctx, rest.map(decodeURIComponent).join('/')) || null;
}

// ---------------------------------------------------------------- events page
function eventsPage(root, c) {
  const list = h('ol', { id: 'events', class: 'events' });
  const filter = h('select', { id: 'events-filter' },
    h('option', { value: '' }, 'all events'),
    h('option', { value: 'sms_status' }, 'sms_status'),
    h('option', { value: 'sms_inbound' }, 'sms_inbound'));
  const row = (e) => h('li', {
    class: 'event ' + e.type,
    dataset: { type: e.type, messageId: e.messageId || '', status: e.status || '' },
  },
  h('time', {}, fmtTime(e.timestamp || e.receivedAt)),
  h('span', { class: 'etype' }, e.type === 'sms_inbound' ? 'inbound' : 'status'),
  h('a', { href: '#/message/' + encodeURIComponent(e.messageId || '') }, e.messageId),
  e.type === 'sms_status' ? badge(e.status) : badge('received'),
  e.type === 'sms_inbound' ? h('span', { class: 'detail' }, `${e.from} → ${e.to}: ${e.body}`)
    : h('span', { class: 'detail' }, e.error ? e.error : (e.rcMessageId ? 'provider id ' + e.rcMessageId : '')));
  const render = () => {
    const f = filter.value;
    clear(list, c.events.filter((e) => !f || e.type === f).map(row));
  };
  filter.addEventListener('change', render);
  clear(root,
    h('div', { class: 'head' }, h('h1', {}, 'Live events'), filter),
    h('p', { class: 'muted' }, `sms_status and sms_inbound as they happen, newest first (the last ${MAX_EVENTS}). `,
      'Events are at most once: History lists what happened while this page was closed.'),
    list);
  render();
  return c.live.on(() => render());
}

// ---------------------------------------------------------------- boot
function boot() {
  signInTemplate = $('signin').cloneNode(true);
  document.addEventListener('submit', (ev) => {
    if (ev.target && ev.target.id === 'signin-form') signIn(ev);
  });
  $('signout').addEventListener('click', signOut);
  window.addEventListener('hashchange', route);
  window.addEventListener('smsgw:unauthorized', () => {
    // the key was revoked or rotated elsewhere
    if (state.live) state.live.stop();
    state.live = null;
    session.clear();
    state.who = null;
    showSignIn(new ApiError(401, { error: 'Invalid API key' }, 'Invalid API key'));
  });
  if (session.key() && session.who()) start();
  else showSignIn();
}

boot();
