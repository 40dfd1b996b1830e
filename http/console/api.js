// api.js — the API key and calls to the gateway's HTTP API.
//
// The key lives in sessionStorage only (gone when the tab closes; never in
// localStorage, a cookie or a URL): every call sends it as
// "Authorization: Bearer <key>" to this origin.

const KEY = 'smsgw.key';
const WHO = 'smsgw.who';

export const session = {
  key: () => sessionStorage.getItem(KEY),
  who: () => {
    try { return JSON.parse(sessionStorage.getItem(WHO) || 'null'); } catch { return null; }
  },
  set(key, who) {
    sessionStorage.setItem(KEY, key);
    sessionStorage.setItem(WHO, JSON.stringify(who));
  },
  setKey(key) { sessionStorage.setItem(KEY, key); },
  clear() { sessionStorage.clear(); },
};

export class ApiError extends Error {
  constructor(status, body, fallback) {
    super((body && typeof body.error === 'string' && body.error) || fallback);
    this.status = status;
    this.code = body && body.code;
    this.body = body;
  }
}

// One call. body: a value sent as JSON. key: a key to use instead of the
// session's (sign-in). Answers the parsed JSON; throws ApiError on a non-2xx
// answer, with the API's own error text.
export async function api(method, path, body, key) {
  const k = key || session.key();
  const headers = {};
  if (k) headers.Authorization = 'Bearer ' + k;
  if (body !== undefined && body !== null) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {
      method, headers, credentials: 'omit', cache: 'no-store',
      body: body !== undefined && body !== null ? JSON.stringify(body) : undefined,
    });
  } catch (e) {
    throw new ApiError(0, null, 'The gateway could not be reached: ' + e.message);
  }
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!res.ok) {
    if (res.status === 401 && !key) window.dispatchEvent(new CustomEvent('smsgw:unauthorized'));
    throw new ApiError(res.status, json, `HTTP ${res.status}`);
  }
  return json;
}

// A query string of the non-empty values.
export function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') p.set(k, v);
  const s = p.toString();
  return s ? '?' + s : '';
}

export const KEY_RE = /^sgw_(test_)?[0-9a-f]{32}$/;

// Who a key is: GET /v1/tenants answers 200 to an admin key and 403
// forbidden to an app key, which then reads its own app (GET /v1/apps).
export async function whoIs(key) {
  try {
    await api('GET', '/v1/tenants', null, key);
    return { role: 'admin', test: key.startsWith('sgw_test_'), prefix: key.slice(0, 8) };
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 403 || e.code !== 'forbidden') throw e;
  }
  const apps = await api('GET', '/v1/apps', null, key);
  const app = (apps && apps.apps && apps.apps[0]) || {};
  return {
    role: 'app', test: key.startsWith('sgw_test_'), prefix: key.slice(0, 8),
    appId: app.appId || app.id, appName: app.name, tenantId: app.tenantId,
  };
}
