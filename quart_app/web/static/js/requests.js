// The request audit: GET /admin/api/requests filtered (key, model, status class, account,
// time range, stream) and paged by the server, newest first; a row opens every field of it;
// the export links carry the same filters to /admin/api/requests/export. The filters live in
// the address too, so a reload or a shared link shows the same rows.
import { $, ApiFailure, api, fill, fmt, h, modal, showError, t } from './core.js';

const PAGE_SIZE = 50;
const form = $('#filters');
const body = $('#rows tbody');
const state = { page: 1 };

/** The filter form as the API's query (empty fields left out, times as unix seconds). */
function filters() {
  const data = new FormData(form);
  const query = {};
  for (const [name, raw] of data.entries()) {
    const value = String(raw).trim();
    if (!value) continue;
    if (name === 'from' || name === 'to') {
      const ms = new Date(value).getTime();
      query[name] = Number.isNaN(ms) ? value : Math.floor(ms / 1000);
    } else {
      query[name] = value;
    }
  }
  return query;
}

/** The form filled from the address (times back to the local datetime-local form). */
function restore() {
  const params = new URLSearchParams(location.search);
  for (const el of form.elements) {
    if (!el.name || !params.has(el.name)) continue;
    let value = params.get(el.name);
    if ((el.name === 'from' || el.name === 'to') && /^\d+$/.test(value)) {
      const d = new Date(Number(value) * 1000);
      value = new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
    }
    el.value = value;
  }
  state.page = Math.max(1, Number(params.get('page')) || 1);
}

function exportHref(format, query) {
  return `/admin/api/requests/export?${new URLSearchParams({ ...query, format })}`;
}

function clearFieldErrors() {
  for (const field of form.querySelectorAll('.field.invalid')) {
    field.classList.remove('invalid');
    field.querySelector('.field-error')?.remove();
  }
}

/** The server's complaint beside the field it names, else as a toast. */
function showFailure(err) {
  if (err instanceof ApiFailure && err.param) {
    const field = form.querySelector(`.field[data-param="${CSS.escape(err.param)}"]`);
    if (field) {
      field.classList.add('invalid');
      field.append(h('span', { class: 'field-error', role: 'alert' }, err.message));
      return;
    }
  }
  showError(err);
}

function statusClass(status) {
  if (status >= 500) return 'bad';
  if (status >= 400) return 'warn';
  return 'ok';
}

function detail(row) {
  const items = [];
  for (const [name, value] of Object.entries(row)) {
    let shown;
    if (name === 'at') shown = `${fmt.time(value)} (${value})`;
    else if (name === 'prompt' || name === 'answer') shown = value ? h('pre', {}, value) : '–';
    else if (typeof value === 'boolean') shown = value ? t('common.yes') : t('common.no');
    else shown = value === null || value === '' ? '–' : String(value);
    items.push(h('dt', {}, name), h('dd', { dataset: { field: name } }, shown));
  }
  return modal({ title: t('requests.detail_title', { id: row.request_id || row.id }),
    body: h('dl', { class: 'detail', id: 'request-detail' }, items), wide: true });
}

function rowOf(row) {
  const open = () => detail(row);
  return h('tr', { class: 'clickable', dataset: { id: row.id }, onclick: open },
    h('td', {}, fmt.time(row.at)),
    h('td', { class: statusClass(row.status) }, String(row.status), row.error_code ? h('span', { class: 'muted small' }, ` ${row.error_code}`) : null),
    h('td', {}, row.model || '–'),
    h('td', {}, row.endpoint || '–'),
    h('td', {}, row.key_name || row.key || '–'),
    h('td', { class: 'mono' }, row.account || '–'),
    h('td', {}, row.tier || '–'),
    h('td', {}, `${fmt.number(row.prompt_tokens)} / ${fmt.number(row.completion_tokens)}`),
    h('td', {}, fmt.duration(row.ttft_ms)),
    h('td', {}, fmt.duration(row.duration_ms)),
    h('td', {}, row.stream ? t('common.yes') : t('common.no')),
    h('td', {}, h('button', { type: 'button', class: 'btn small', onclick: (e) => { e.stopPropagation(); open(); } }, t('requests.details'))));
}

function pager(total) {
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  const go = (page) => { state.page = page; load(); };
  fill($('#pager'),
    h('span', { class: 'muted' }, t('common.page_of', { page: state.page, pages })),
    h('button', { type: 'button', class: 'btn small', id: 'prev', disabled: state.page <= 1, onclick: () => go(state.page - 1) }, t('common.prev')),
    h('button', { type: 'button', class: 'btn small', id: 'next', disabled: state.page >= pages, onclick: () => go(state.page + 1) }, t('common.next')));
}

async function load() {
  clearFieldErrors();
  const query = filters();
  $('#export-csv').href = exportHref('csv', query);
  $('#export-jsonl').href = exportHref('jsonl', query);
  const address = new URLSearchParams({ ...query, ...(state.page > 1 ? { page: state.page } : {}) });
  history.replaceState(null, '', address.toString() ? `?${address}` : location.pathname);
  delete document.body.dataset.loaded;
  try {
    const answer = await api('/admin/api/requests', { query: { ...query, page: state.page, page_size: PAGE_SIZE } });
    fill($('#total'), t('common.rows', { n: fmt.number(answer.total) }));
    fill(body, answer.items.length ? answer.items.map(rowOf)
      : h('tr', {}, h('td', { colspan: 12, class: 'muted' }, t('requests.none'))));
    pager(answer.total);
    document.body.dataset.loaded = '1';
  } catch (err) {
    showFailure(err);
  }
}

/** Names to pick from: the keys and the models seen in the last 7 days. */
async function suggestions() {
  const from = Math.floor(Date.now() / 1000) - 7 * 86400;
  const [keys, models] = await Promise.all([
    api('/admin/api/usage', { query: { from, group_by: 'key' } }),
    api('/admin/api/usage', { query: { from, group_by: 'model' } }),
  ]);
  const names = new Set(Object.values(keys.key_names ?? {}));
  fill($('#key-names'), [...names].sort().map((n) => h('option', { value: n })));
  const seen = new Set(models.series.map((r) => r.group).filter(Boolean));
  fill($('#model-names'), [...seen].sort().map((n) => h('option', { value: n })));
}

form.addEventListener('submit', (e) => { e.preventDefault(); state.page = 1; load(); });
form.addEventListener('reset', () => { setTimeout(() => { state.page = 1; load(); }); });
$('#refresh').addEventListener('click', load);
restore();
load();
suggestions().catch(showError);
