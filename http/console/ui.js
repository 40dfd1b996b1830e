// ui.js — small DOM helpers. Everything is built with createElement and
// textContent (never innerHTML), so no text from the API can become markup.

export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'class') el.className = v;
    else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'hidden') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children) if (c) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

export function fmtTime(s) {
  if (!s) return '';
  const d = new Date(s);
  return isNaN(d) ? String(s) : d.toLocaleString();
}

export function badge(status) {
  return h('span', { class: 'badge st-' + String(status || '').toLowerCase(), dataset: { status } },
    status || '—');
}

// An error area: shows the API's own error text, its status and code.
export function errorBox() {
  return h('div', { class: 'error', hidden: true, role: 'alert' });
}

export function showError(el, err) {
  if (!err) {
    el.hidden = true;
    el.replaceChildren();
    return;
  }
  const detail = err.status ? ` (HTTP ${err.status}${err.code ? ', ' + err.code : ''})` : '';
  clear(el, h('strong', { class: 'error-text' }, err.message), detail);
  el.hidden = false;
}

// A labelled form field.
export function field(label, input, hint) {
  return h('label', { class: 'field' }, h('span', {}, label), input,
    hint ? h('small', {}, hint) : null);
}

export function input(name, props) {
  return h('input', { name, id: 'f-' + name, autocomplete: 'off', ...props });
}

export function table(columns, rows, empty) {
  if (!rows.length) return h('p', { class: 'muted' }, empty || 'Nothing here yet.');
  return h('table', {},
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', {}, c.title)))),
    h('tbody', {}, rows.map((r) => h('tr', { dataset: r.__data || {} },
      columns.map((c) => h('td', {}, c.render ? c.render(r) : (r[c.key] ?? '')))))));
}

// Form values as an object of trimmed strings (empty ones left out).
export function formValues(form) {
  const out = {};
  for (const [k, v] of new FormData(form).entries()) {
    const s = String(v).trim();
    if (s !== '') out[k] = s;
  }
  return out;
}

// Run an async action for a form: disable its buttons, show its error.
export async function busy(form, errEl, fn) {
  const btns = form ? form.querySelectorAll('button') : [];
  btns.forEach((b) => { b.disabled = true; });
  showError(errEl, null);
  try {
    return await fn();
  } catch (e) {
    showError(errEl, e);
    return undefined;
  } finally {
    btns.forEach((b) => { b.disabled = false; });
  }
}
