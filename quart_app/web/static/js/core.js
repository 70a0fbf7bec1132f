// What every page shares: the boot data the server embedded, strings, the admin/webui API
// client (session cookie + CSRF header), toasts, a DOM builder that only ever makes text
// nodes from strings (so user and grok.com values can never become markup), formatting, the
// modal dialog and the navigation shell (drawer on phones, language switch, logout).

export const boot = JSON.parse(document.getElementById('boot').textContent);

/** The string `key` of the page's language; `{name}` placeholders filled from `vars`. */
export function t(key, vars) {
  let text = boot.strings[key] ?? key;
  if (vars) {
    for (const [name, value] of Object.entries(vars)) text = text.replaceAll(`{${name}}`, String(value));
  }
  return text;
}

/** An error the API answered with: `message` is the server's own. */
export class ApiFailure extends Error {
  constructor(status, message, code, param) {
    super(message);
    this.status = status;
    this.code = code;
    this.param = param;
  }
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Call the JSON API. `json` is sent as the body, `form` (FormData) as multipart, `query` as
 * the query string. Resolves to the parsed JSON (or the Response when `raw`), rejects with
 * ApiFailure carrying the server's message. A page session that ended leads to the login.
 */
export async function api(path, { method = 'GET', json, form, query, raw = false, signal } = {}) {
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
    }
    const qs = params.toString();
    if (qs) url += (url.includes('?') ? '&' : '?') + qs;
  }
  const headers = {};
  if (UNSAFE.has(method) && boot.csrf) headers['X-CSRF-Token'] = boot.csrf;
  if (boot.bearer) headers.Authorization = `Bearer ${boot.bearer}`;
  let body;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (form) {
    body = form;
  }
  let response;
  try {
    response = await fetch(url, { method, headers, body, credentials: 'same-origin', signal });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiFailure(0, t('common.network_error'), 'network_error');
  }
  if (!response.ok) throw await failureOf(response);
  if (raw) return response;
  const type = response.headers.get('content-type') || '';
  return type.includes('json') ? response.json() : response.text();
}

export async function failureOf(response) {
  let message = `HTTP ${response.status}`;
  let code = null;
  let param = null;
  try {
    const data = await response.json();
    const err = data.error ?? data;
    if (typeof err === 'string') message = err;
    else if (err && err.message) ({ message, code = null, param = null } = err);
    else if (data.detail) message = String(data.detail);
  } catch { /* not JSON: keep the status */ }
  if (response.status === 401 && boot.area === 'admin' && code === 'session_expired') {
    location.assign('/admin/login?next=' + encodeURIComponent(location.pathname + location.search));
  }
  return new ApiFailure(response.status, message, code, param);
}

/**
 * Build an element: `h('a', {href, class: 'x', onclick: fn, dataset: {id}}, 'text', child)`.
 * Strings and numbers become text nodes, never HTML; null/false children are skipped.
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'style') Object.assign(el.style, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

/** A toast; errors stay longer. `kind`: info | ok | error. */
export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  const item = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === 'error' ? 8000 : 3500);
  return item;
}

/** Show what went wrong (an ApiFailure's server message, else the error) as a toast. */
export function showError(err) {
  if (err && err.name === 'AbortError') return;
  console.error(err);
  toast(err instanceof ApiFailure ? err.message : String(err?.message ?? err), 'error');
}

export const fmt = {
  number(n) {
    return n === null || n === undefined ? '–' : Number(n).toLocaleString(boot.lang === 'zh' ? 'zh-CN' : 'en');
  },
  percent(x, digits = 1) {
    return x === null || x === undefined || Number.isNaN(x) ? '–' : `${(x * 100).toFixed(digits)}%`;
  },
  bytes(n) {
    if (n === null || n === undefined) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    let v = Number(n);
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
    return `${v.toFixed(i ? 1 : 0)} ${units[i]}`;
  },
  /** A time given in ms (or s when small) since the epoch, in the reader's locale. */
  time(value) {
    if (!value) return '–';
    const ms = value < 1e12 ? value * 1000 : value;
    return new Date(ms).toLocaleString(boot.lang === 'zh' ? 'zh-CN' : 'en-GB', { hour12: false });
  },
  ago(value) {
    if (!value) return '–';
    const ms = value < 1e12 ? value * 1000 : value;
    const s = Math.round((Date.now() - ms) / 1000);
    const abs = Math.abs(s);
    const [n, unit] = abs < 60 ? [abs, 's'] : abs < 3600 ? [Math.round(abs / 60), 'm']
      : abs < 86400 ? [Math.round(abs / 3600), 'h'] : [Math.round(abs / 86400), 'd'];
    return t(s >= 0 ? 'common.ago' : 'common.in', { n: `${n}${unit}` });
  },
  duration(ms) {
    if (ms === null || ms === undefined) return '–';
    return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  },
};

/** Copy `text` to the clipboard and say so. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = h('textarea', { class: 'offscreen' }, text);
    document.body.append(area);
    area.select();
    document.execCommand('copy');
    area.remove();
  }
  toast(t('common.copied'), 'ok');
}

/** A random secret from the browser's CSPRNG (url-safe). */
export function randomSecret(length = 32) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  return Array.from(bytes, (b) => alphabet[b & 63]).join('');
}

/**
 * A modal dialog. `body` is a Node (or text); `actions` a list of {label, kind, value}.
 * Resolves to the chosen action's value, or null when dismissed (Escape, backdrop, ✕).
 */
export function modal({ title, body, actions = [{ label: t('common.ok'), kind: 'primary', value: true }], wide = false }) {
  return new Promise((resolve) => {
    const dialog = h('dialog', { class: ['modal', wide && 'wide'] });
    const close = (value) => { dialog.close(); dialog.remove(); resolve(value); };
    dialog.append(
      h('header', {}, h('h2', {}, title), h('button', { type: 'button', class: 'icon-btn', 'aria-label': t('common.close'), onclick: () => close(null) }, '✕')),
      h('div', { class: 'modal-body' }, body),
      h('footer', {}, actions.map((a) => h('button', {
        type: 'button', class: `btn ${a.kind || ''}`, dataset: { action: String(a.value) },
        onclick: async () => {
          if (a.validate && !(await a.validate())) return;
          close(a.value);
        },
      }, a.label))),
    );
    dialog.addEventListener('cancel', (e) => { e.preventDefault(); close(null); });
    dialog.addEventListener('click', (e) => { if (e.target === dialog) close(null); });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Ask before doing something that cannot be undone. */
export function confirmBox(message, { danger = true, confirmLabel } = {}) {
  return modal({
    title: t('common.confirm'),
    body: h('p', {}, message),
    actions: [
      { label: t('common.cancel'), value: false },
      { label: confirmLabel || t('common.ok'), kind: danger ? 'danger' : 'primary', value: true },
    ],
  }).then(Boolean);
}

const TASK_ENDS = new Set(['done', 'cancelled', 'error']);

/**
 * Follow an admin batch task (`/admin/api/batch/<id>/stream`, server-sent events) and show
 * `onUpdate` with each event (`snapshot`, `progress`, then `done` | `cancelled` | `error`, each
 * with `total`, `processed`, …). Resolves with the last event.
 */
export function followTask(taskId, { onUpdate } = {}) {
  const ended = (e) => e && (TASK_ENDS.has(e.type) || (e.type === 'snapshot' && TASK_ENDS.has(e.status)));
  return new Promise((resolve, reject) => {
    const source = new EventSource(`/admin/api/batch/${encodeURIComponent(taskId)}/stream`);
    let last = null;
    source.onmessage = (event) => {
      last = JSON.parse(event.data);
      onUpdate?.(last);
      if (ended(last)) {
        source.close();
        resolve(last);
      }
    };
    source.onerror = () => {
      source.close();
      if (ended(last)) resolve(last);
      else reject(new ApiFailure(0, t('common.task_lost'), 'task_lost'));
    };
  });
}

/** Debounce `fn` by `ms`. */
export function debounce(fn, ms = 250) {
  let timer;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

function initShell() {
  const toggle = document.getElementById('nav-toggle');
  const sidebar = document.getElementById('sidebar');
  const scrim = document.getElementById('scrim');
  const setOpen = (open) => {
    document.body.classList.toggle('nav-open', open);
    toggle?.setAttribute('aria-expanded', String(open));
    if (scrim) scrim.hidden = !open;
  };
  toggle?.addEventListener('click', () => setOpen(!document.body.classList.contains('nav-open')));
  scrim?.addEventListener('click', () => setOpen(false));
  sidebar?.addEventListener('click', (e) => { if (e.target.closest('a')) setOpen(false); });
  for (const select of document.querySelectorAll('.lang-switch')) {
    select.addEventListener('change', () => {
      document.cookie = `lang=${select.value}; path=/; max-age=31536000; samesite=strict`;
      location.reload();
    });
  }
  document.getElementById('logout')?.addEventListener('click', async () => {
    try {
      await api('/admin/api/logout', { method: 'POST' });
    } catch (err) { showError(err); }
    location.assign('/admin/login');
  });
}

initShell();
