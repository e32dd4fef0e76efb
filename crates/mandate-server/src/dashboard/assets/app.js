// The Mandate dashboard: approvals and permission requests, decided by a signed-in person.
// Everything goes through the JSON API with the session cookie; text is set with textContent,
// never parsed as HTML. Opening a page never changes anything: deciding takes a click.
'use strict';

const main = document.getElementById('main');

async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: {} };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  let data = null;
  try { data = await res.json(); } catch (_) { data = null; }
  return { status: res.status, data };
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  for (const c of children) if (c) node.append(c);
  return node;
}

function show(...nodes) { main.replaceChildren(...nodes); }
function errorOf(r) { return (r.data && r.data.error) || ('HTTP ' + r.status); }
function when(t) { return t ? new Date(t).toLocaleString() : '—'; }

// Sign-in: password, then a code when the account has a second factor.
function signIn(then) {
  const msg = el('p', { class: 'error', id: 'signin-error' });
  const email = el('input', { type: 'email', id: 'email', autocomplete: 'username', required: '' });
  const password = el('input', { type: 'password', id: 'password', autocomplete: 'current-password', required: '' });
  const form = el('form', { id: 'signin', onsubmit: async (e) => {
    e.preventDefault();
    const r = await api('POST', '/api/auth/login', { email: email.value, password: password.value });
    if (r.status !== 200) { msg.textContent = errorOf(r); return; }
    if (r.data && r.data.mfaRequired) secondFactor(then); else then();
  } },
    el('label', { text: 'Email' }, email), el('label', { text: 'Password' }, password),
    el('button', { type: 'submit', text: 'Sign in' }), msg);
  show(el('section', {}, el('h1', { text: 'Sign in to review' }), form));
}

function secondFactor(then) {
  const msg = el('p', { class: 'error' });
  const code = el('input', { id: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', required: '' });
  const form = el('form', { id: 'mfa', onsubmit: async (e) => {
    e.preventDefault();
    const r = await api('POST', '/api/auth/mfa', { code: code.value });
    if (r.status !== 200) { msg.textContent = errorOf(r); return; }
    then();
  } }, el('label', { text: 'Code from your authenticator (or a backup code)' }, code),
    el('button', { type: 'submit', text: 'Continue' }), msg);
  show(el('section', {}, el('h1', { text: 'Second factor' }), form));
}

async function requireSession(then) {
  const r = await api('GET', '/api/auth/session');
  if (r.status === 200 && r.data.state === 'active') {
    document.getElementById('who').textContent = r.data.user.email;
    return then();
  }
  if (r.status === 200 && r.data.state === 'mfa_pending') return secondFactor(() => requireSession(then));
  signIn(() => requireSession(then));
}

// Names for ids (agents, connections), read once per render.
async function names() {
  const [agents, conns] = await Promise.all([api('GET', '/v1/agents'), api('GET', '/v1/connections')]);
  const map = new Map();
  for (const a of (agents.data && agents.data.agents) || []) map.set(a.id, a.name);
  for (const c of (conns.data && conns.data.connections) || []) map.set(c.id, c.label + ' (' + c.provider + ')');
  return (id) => map.get(id) || id;
}

function details(pairs) {
  const dl = el('dl');
  for (const [k, v] of pairs) dl.append(el('dt', { text: k }), el('dd', { text: v == null ? '—' : String(v) }));
  return dl;
}

function approvalDetails(a, name) {
  return details([
    ['Agent', name(a.agentId)], ['Connection', name(a.connectionId)],
    ['Request', a.method + ' ' + a.host + a.path], ['Rule', a.rule], ['Why', a.reason],
    ['Asked', when(a.createdAt)], ['Expires', when(a.expiresAt)],
  ]);
}

// The confirmation page of one approval (the link in notifications).
async function review(id) {
  const r = await api('GET', '/v1/approvals/' + encodeURIComponent(id));
  if (r.status !== 200) return show(el('section', {}, el('p', { class: 'error', text: errorOf(r) })));
  const a = r.data;
  const name = await names();
  const parts = [el('h1', { text: 'Review a request' }), approvalDetails(a, name)];
  if (a.bodyPreview) parts.push(el('h2', { text: 'Body (personal data redacted)' }), el('pre', { text: a.bodyPreview }));
  parts.push(el('p', {}, 'State: ', el('span', { class: 'state', id: 'state', text: a.state })));
  if (a.decisionReason) parts.push(el('p', { class: 'muted', text: 'Reason: ' + a.decisionReason }));
  if (a.state === 'pending') {
    const msg = el('p', { class: 'error', id: 'decide-error' });
    const reason = el('textarea', { id: 'reason', rows: '2', maxlength: '500', placeholder: 'Reason (optional)' });
    const decide = (verdict) => async () => {
      const res = await api('POST', '/v1/approvals/' + encodeURIComponent(id) + '/' + verdict,
        reason.value.trim() ? { reason: reason.value.trim() } : {});
      if (res.status !== 200) { msg.textContent = errorOf(res); return; }
      review(id);
    };
    // The approve and deny links of notifications land here with ?intent=: nothing is decided
    // until the click; the intent only says which button was meant.
    const intent = new URLSearchParams(location.search).get('intent');
    if (intent === 'approve' || intent === 'deny') {
      parts.push(el('p', { id: 'intent', text: 'You followed the ' + intent + ' link. Nothing is decided yet: confirm below.' }));
    }
    const approveButton = el('button', { class: 'approve', id: 'approve', type: 'button', onclick: decide('approve'), text: 'Approve once' });
    const denyButton = el('button', { class: 'deny', id: 'deny', type: 'button', onclick: decide('deny'), text: 'Deny' });
    parts.push(reason, el('p', {}, approveButton, denyButton), msg);
    if (intent === 'approve') setTimeout(() => approveButton.focus(), 0);
    if (intent === 'deny') setTimeout(() => denyButton.focus(), 0);
  }
  parts.push(el('p', {}, el('a', { href: '/approvals', text: 'All pending requests' })));
  show(el('section', { id: 'review', 'data-approval': id }, ...parts));
}

// Pending approvals and permission requests, side by side.
async function overview() {
  const [approvals, requests] = await Promise.all([
    api('GET', '/v1/approvals?state=pending'), api('GET', '/v1/agent-permission-requests?state=pending')]);
  const name = await names();
  const list = el('section', { id: 'approvals' }, el('h2', { text: 'Requests waiting for approval' }));
  const pending = (approvals.data && approvals.data.approvals) || [];
  if (!pending.length) list.append(el('p', { class: 'muted', text: 'Nothing waits for a decision.' }));
  for (const a of pending) {
    list.append(el('div', { class: 'item', 'data-approval': a.id }, approvalDetails(a, name),
      el('a', { href: '/approvals/' + a.id + '/review', text: 'Review' })));
  }
  const perms = el('section', { id: 'permission-requests' }, el('h2', { text: 'Permission requests' }));
  const asks = (requests.data && requests.data.requests) || [];
  if (!asks.length) perms.append(el('p', { class: 'muted', text: 'No agent asks for more access.' }));
  const catalog = asks.length ? await grantCatalog() : null;
  for (const p of asks) perms.append(permissionItem(p, name, catalog));
  const recent = await api('GET', '/v1/audit?limit=20');
  const activity = el('section', { id: 'activity' }, el('h2', { text: 'Recent activity' }));
  const items = el('div', { class: 'records' });
  for (const r of (recent.data && recent.data.records) || []) items.append(recordItem(r));
  activity.append(items);
  show(el('h1', { text: 'Approvals' }), list, perms, activity);
}

function recordItem(r) {
  const what = [r.action, r.decision, r.method && (r.method + ' ' + (r.host || '') + (r.path || ''))]
    .filter(Boolean).join(' · ');
  return el('div', { class: 'item record', 'data-seq': String(r.seq) },
    el('span', { class: 'muted', text: when(r.occurredAt) + ' ' }), el('span', { text: what }));
}

// New audit records arrive with the `activity` event: newest first, on top.
function prependActivity(records) {
  const items = document.querySelector('#activity .records');
  if (!items) return;
  for (const r of records.slice().reverse()) items.prepend(recordItem(r));
  while (items.children.length > 50) items.lastChild.remove();
}

// One permission request: grant (choose a connection of the template's provider, edit the
// template's policy document before saving) or refuse.
function permissionItem(p, name, catalog) {
  const msg = el('p', { class: 'error' });
  const template = catalog.templates.get(p.actionTemplateId);
  const conn = el('select', { class: 'connection' });
  for (const c of catalog.connections.filter((c) => !template || c.provider === template.provider)) {
    conn.append(el('option', { value: c.id, text: c.label + ' (' + c.provider + ')' }));
  }
  const doc = el('textarea', { class: 'document', rows: '8', spellcheck: 'false' });
  // The template's document for the chosen connection (`{apiHost}`: its first API host),
  // replaced on a change of connection unless the person edited it.
  const generated = () => {
    if (!template) return '';
    const c = catalog.connections.find((c) => c.id === conn.value);
    const host = (c && c.apiHosts && c.apiHosts[0]) || '{apiHost}';
    return JSON.stringify(template.document, null, 2).split('{apiHost}').join(host);
  };
  doc.value = generated();
  let shown = doc.value;
  conn.addEventListener('change', () => {
    if (doc.value === shown) { doc.value = generated(); shown = doc.value; }
  });
  const reason = el('input', { placeholder: 'Reason (optional)', class: 'reason' });
  const post = (verdict, body) => async () => {
    let payload;
    try { payload = body(); } catch (e) { msg.textContent = 'The policy document is not valid JSON: ' + e.message; return; }
    const r = await api('POST', '/v1/agent-permission-requests/' + p.id + '/' + verdict, payload);
    if (r.status !== 200) { msg.textContent = errorOf(r); return; }
    overview();
  };
  const grant = () => {
    const body = { connectionId: conn.value, reason: reason.value.trim() };
    if (doc.value.trim()) body.document = JSON.parse(doc.value);
    return body;
  };
  return el('div', { class: 'item', 'data-request': p.id },
    details([['Agent', name(p.agentId)], ['Asks for', p.actionName || p.actionTemplateId], ['Why', p.reason], ['Asked', when(p.createdAt)]]),
    el('label', { text: 'Connection to bind' }, conn),
    el('label', { text: 'Policy (from the template; edit before granting)' }, doc),
    reason,
    el('p', {},
      el('button', { class: 'approve grant', type: 'button', text: 'Grant', onclick: post('grant', grant) }),
      el('button', { class: 'deny refuse', type: 'button', text: 'Refuse', onclick: post('refuse', () => ({ reason: reason.value.trim() })) })),
    msg);
}

// Templates by id and the workspace's connections, for the grant form.
async function grantCatalog() {
  const [services, conns] = await Promise.all([api('GET', '/v1/capabilities/services'), api('GET', '/v1/connections')]);
  const templates = new Map();
  for (const s of (services.data && services.data.services) || []) for (const a of s.actions) templates.set(a.id, a);
  const connections = ((conns.data && conns.data.connections) || []).filter((c) => c.state !== 'revoked');
  return { templates, connections };
}

// Live: any change of an approval or request re-reads the page's data.
function live(render) {
  if (!window.EventSource) return;
  const events = new EventSource('/v1/events');
  let queued = false;
  // Re-read after a change, but not under a person's hands: while a field has focus, later.
  const again = () => {
    if (queued) return;
    queued = true;
    const run = () => {
      const editing = document.activeElement && document.activeElement.closest('#main')
        && ['INPUT', 'TEXTAREA', 'SELECT'].includes(document.activeElement.tagName);
      if (editing) { setTimeout(run, 2000); return; }
      queued = false;
      render();
    };
    setTimeout(run, 100);
  };
  for (const kind of ['approval', 'permission_request', 'resync']) events.addEventListener(kind, again);
  events.addEventListener('activity', (e) => {
    try { prependActivity(JSON.parse(e.data).records || []); } catch (_) { /* a malformed event is skipped */ }
  });
  events.addEventListener('ready', () => document.body.setAttribute('data-live', 'ready'));
}

function route() {
  const m = location.pathname.match(/^\/approvals\/([0-9a-fA-F-]{36})\/review$/);
  const render = m ? () => review(m[1]) : overview;
  requireSession(() => { render(); live(render); });
}

route();
