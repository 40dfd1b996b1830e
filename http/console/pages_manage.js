// pages_manage.js — templates (CRUD and render preview) and sender IDs
// (register, list, delete; approve or reject with an admin key). An admin
// key names the tenant it works on (tenantId).

import { api, ApiError, qs } from './api.js';
import { badge, busy, clear, errorBox, field, fmtTime, formValues, h, input, table } from './ui.js';

function tenantField(c, id) {
  return c.who.role === 'admin'
    ? field('Tenant (admin keys name one)', input('tenantId', { id, placeholder: 'tenant_…' })) : null;
}

// ---------------------------------------------------------------- templates
export function templatesPage(root, c) {
  const err = errorBox();
  const list = h('div', { id: 'templates-list' });
  const scope = h('form', { class: 'inline', id: 'templates-scope' }, tenantField(c, 'f-tpl-tenant'),
    h('button', { type: 'submit', class: 'secondary' }, 'List'));
  const tenant = () => (c.who.role === 'admin' ? scope.elements.tenantId.value.trim() : '');
  const q = () => qs({ tenantId: tenant() });
  const editing = { id: null };
  const form = h('form', { id: 'template-form', class: 'card' },
    h('h2', { id: 'template-form-title' }, 'New template'),
    h('div', { class: 'row' }, field('Name', input('name', { required: true, maxlength: 100 })),
      field('Slug (optional)', input('slug', { placeholder: 'from the name' }))),
    field('Body ({{name}} placeholders)', h('textarea', { name: 'body', id: 'f-tpl-body', rows: 3, required: true })),
    err,
    h('button', { type: 'submit', id: 'template-save' }, 'Save'), ' ',
    h('button', { type: 'button', class: 'secondary', id: 'template-new', onclick: () => edit(null) }, 'New'));
  const previewErr = errorBox();
  const preview = h('form', { id: 'template-preview', class: 'card' }, h('h2', {}, 'Preview'),
    h('div', { class: 'row' }, field('Template (slug or id)', input('template', { id: 'f-preview-template', required: true })),
      field('Variables (name=value, one a line)', h('textarea', { name: 'variables', id: 'f-preview-vars', rows: 3 }))),
    previewErr, h('button', { type: 'submit', id: 'template-render' }, 'Render'), h('div', { id: 'template-rendered' }));

  const edit = (t) => {
    editing.id = t ? t.id : null;
    form.querySelector('#template-form-title').textContent = t ? 'Edit ' + t.slug : 'New template';
    form.elements.name.value = t ? t.name : '';
    form.elements.slug.value = t ? t.slug : '';
    form.elements.body.value = t ? t.body : '';
  };
  const load = () => busy(scope, err, async () => {
    if (c.who.role === 'admin' && !tenant()) {
      clear(list, h('p', { class: 'muted' }, 'Name a tenant to see its templates.'));
      return;
    }
    const r = await api('GET', '/v1/templates' + q());
    clear(list, table([
      { title: 'Slug', render: (t) => h('code', {}, t.slug) }, { title: 'Name', key: 'name' },
      { title: 'Body', render: (t) => h('span', { class: 'ellipsis' }, t.body) },
      { title: 'Variables', render: (t) => (t.variables || []).join(', ') },
      { title: '', render: (t) => [
        h('button', { type: 'button', class: 'secondary small', onclick: () => edit(t) }, 'Edit'), ' ',
        h('button', { type: 'button', class: 'danger small', onclick: () => busy(null, err, async () => {
          if (!confirm(`Delete template ${t.slug}?`)) return;
          await api('DELETE', `/v1/templates/${encodeURIComponent(t.id)}${q()}`);
          if (editing.id === t.id) edit(null);
          await load();
        }) }, 'Delete')] },
    ], (r.templates || []).map((t) => ({ ...t, __data: { slug: t.slug } })), 'No templates yet.'));
  });
  scope.addEventListener('submit', (ev) => { ev.preventDefault(); load(); });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(form, err, async () => {
      const v = formValues(form);
      const body = { name: v.name, body: form.elements.body.value };
      if (v.slug) body.slug = v.slug;
      if (tenant()) body.tenantId = tenant();
      if (editing.id) await api('PUT', `/v1/templates/${encodeURIComponent(editing.id)}${q()}`, body);
      else await api('POST', '/v1/templates', body);
      edit(null);
      await load();
    });
  });
  preview.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(preview, previewErr, async () => {
      const vars = {};
      for (const line of preview.elements.variables.value.split('\n')) {
        if (!line.trim()) continue;
        const i = line.indexOf('=');
        if (i <= 0) throw new ApiError(0, null, `"${line.trim()}" is not name=value`);
        vars[line.slice(0, i).trim()] = line.slice(i + 1);
      }
      const body = { variables: vars };
      if (tenant()) body.tenantId = tenant();
      const r = await api('POST', `/v1/templates/${encodeURIComponent(preview.elements.template.value.trim())}/render${q()}`, body);
      clear(preview.querySelector('#template-rendered'), h('div', { class: 'card ok', id: 'template-rendered-ok',
        dataset: { encoding: r.encoding, segments: String(r.segments) } },
      h('pre', {}, r.body), `${r.encoding} · ${r.segments} segment${r.segments === 1 ? '' : 's'}`));
    });
  });
  clear(root, h('h1', {}, 'Templates'), c.who.role === 'admin' ? scope : null, list, form, preview);
  load();
  return null;
}

// ---------------------------------------------------------------- sender IDs
export function senderIdsPage(root, c) {
  const admin = c.who.role === 'admin';
  const err = errorBox();
  const list = h('div', { id: 'sender-ids-list' });
  const scope = h('form', { class: 'inline', id: 'sender-ids-scope' },
    admin ? input('tenantId', { id: 'f-sid-scope', placeholder: 'tenant_… (empty: all)' }) : null,
    h('button', { type: 'submit', class: 'secondary' }, 'Refresh'));
  const form = h('form', { id: 'sender-id-form', class: 'card' }, h('h2', {}, 'Register a sender ID'),
    h('div', { class: 'row' },
      field('Sender ID', input('senderId', { required: true, maxlength: 11, placeholder: 'ACME' }),
        '1-11 letters, digits and spaces, at least one letter'),
      field('Countries (optional, comma separated)', input('countries', { placeholder: 'GB, KE' })),
      field('Use case (optional)', input('useCase'))),
    admin ? field('Tenant', input('tenantId', { id: 'f-sid-tenant', placeholder: 'tenant_…' })) : null,
    err, h('button', { type: 'submit', id: 'sender-id-submit' }, 'Register'));
  const load = () => busy(scope, err, async () => {
    const r = await api('GET', '/v1/sender-ids' + qs({ tenantId: admin ? scope.elements.tenantId.value.trim() : '' }));
    clear(list, table([
      { title: 'Sender ID', render: (s) => h('code', {}, s.senderId) },
      { title: 'Status', render: (s) => [badge(s.status), s.rejectionReason ? ' ' + s.rejectionReason : ''] },
      admin ? { title: 'Tenant', key: 'tenantId' } : null,
      { title: 'Countries', render: (s) => (s.countries || []).join(', ') },
      { title: 'Use case', key: 'useCase' },
      { title: 'Created', render: (s) => fmtTime(s.createdAt) },
      { title: '', render: (s) => [
        admin && s.status !== 'approved' ? h('button', { type: 'button', class: 'small', onclick: () => patch(s, { status: 'approved' }) }, 'Approve') : null,
        admin && s.status !== 'rejected' ? h('button', { type: 'button', class: 'secondary small', onclick: () => {
          const reason = prompt(`Why is ${s.senderId} rejected?`);
          if (reason) patch(s, { status: 'rejected', rejectionReason: reason });
        } }, 'Reject') : null, ' ',
        h('button', { type: 'button', class: 'danger small', onclick: () => busy(null, err, async () => {
          if (!confirm(`Delete sender ID ${s.senderId}?`)) return;
          await api('DELETE', '/v1/sender-ids/' + encodeURIComponent(s.id));
          await load();
        }) }, 'Delete')] },
    ].filter(Boolean), (r.senderIds || []).map((s) => ({ ...s, __data: { senderId: s.senderId, status: s.status } })), 'No sender IDs yet.'));
  });
  const patch = (s, body) => busy(null, err, async () => {
    await api('PATCH', '/v1/sender-ids/' + encodeURIComponent(s.id), body);
    await load();
  });
  scope.addEventListener('submit', (ev) => { ev.preventDefault(); load(); });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(form, err, async () => {
      const v = formValues(form);
      const body = { senderId: form.elements.senderId.value };
      if (v.countries) body.countries = v.countries.split(',').map((x) => x.trim()).filter(Boolean);
      if (v.useCase) body.useCase = v.useCase;
      if (v.tenantId) body.tenantId = v.tenantId;
      await api('POST', '/v1/sender-ids', body);
      form.reset();
      await load();
    });
  });
  clear(root, h('h1', {}, 'Sender IDs'), scope, list, form);
  load();
  return null;
}
