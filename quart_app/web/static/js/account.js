// The accounts page: stat cards, filters with counts, the server-paged and -sorted table,
// row actions, batch actions on a selection kept by token (it survives paging and
// filtering), add, import with a preview, export of the filtered rows, the invalid purge.
// Every value from an account (token, note, tags, errors) goes into the DOM as text (h/fill).
import {
  $, api, ApiFailure, confirmBox, copyText, debounce, fill, fmt, followTask, h, modal,
  showError, t, toast,
} from './core.js';

const API = '/admin/api';
const STATUSES = ['', 'active', 'exhausted', 'cooling', 'invalid', 'expired', 'disabled'];
const POOLS = ['basic', 'super', 'heavy'];
const PAGE_SIZES = [20, 50, 100, 200];
/** Sort fields whose first click should show the largest first. */
const DESC_FIRST = new Set(['use_count', 'fail_count', 'success_rate', 'remaining', 'last_used_at', 'created_at']);

const view = { page: 1, pageSize: 50, sort: '', order: 'asc', status: '', pool: '', nsfw: '', tag: '', search: '' };
/** Selected accounts by token: kept across pages and filters. */
const selected = new Set();
let rows = [];
let counts = null;
let total = 0;
let loadSeq = 0;
let task = null; // the running batch task: {id}

/** First 8 + `...` + last 8, as the server masks (never the whole token on screen). */
export function mask(token) {
  if (token.length > 24) return `${token.slice(0, 8)}...${token.slice(-8)}`;
  if (token.length > 8) return `${token.slice(0, 3)}...${token.slice(-3)}`;
  return `...${token.slice(-2)}`;
}

function filterQuery() {
  return { status: view.status, pool: view.pool, nsfw: view.nsfw, tag: view.tag, search: view.search, sort: view.sort, order: view.sort ? view.order : '' };
}

async function load() {
  const seq = ++loadSeq;
  try {
    const answer = await api(`${API}/tokens`, { query: { ...filterQuery(), page: view.page, page_size: view.pageSize } });
    if (seq !== loadSeq) return; // a later load is on its way
    rows = answer.tokens;
    counts = answer.counts;
    total = answer.total;
    const pages = Math.max(1, Math.ceil(total / view.pageSize));
    if (view.page > pages) { view.page = pages; load(); return; }
    renderStats();
    renderFilters();
    renderHead();
    renderRows();
    renderPager();
    renderBatchBar();
  } catch (err) {
    showError(err);
  }
}

// ------------------------------------------------------------------ stat cards and filters
function stat(id, label, value, cls) {
  return h('div', { class: ['stat', cls], id: `stat-${id}` }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value));
}

function renderStats() {
  const c = counts;
  const cards = [
    stat('total', t('accounts.total'), fmt.number(c.total)),
    stat('active', t('accounts.state_active'), fmt.number(c.active)),
    stat('cooling', t('accounts.state_cooling'), fmt.number(c.cooling)),
    stat('expired', t('accounts.state_expired'), fmt.number(c.expired)),
    stat('disabled', t('accounts.state_disabled'), fmt.number(c.disabled)),
    stat('calls', t('accounts.calls'), fmt.number(c.calls)),
  ];
  for (const [mode, left] of Object.entries(c.remaining || {})) {
    cards.push(stat(`quota-${mode}`, t('accounts.remaining_mode', { mode }), fmt.number(left), 'quota'));
  }
  fill($('#stats'), cards);
}

function chip(label, n, on, onclick, value) {
  return h('button', { type: 'button', class: on && 'on', 'aria-pressed': String(on), dataset: { value }, onclick },
    label, n === undefined ? null : h('span', { class: 'n' }, fmt.number(n)));
}

function setFilter(name, value) {
  view[name] = value;
  view.page = 1;
  load();
}

function renderFilters() {
  const c = counts;
  fill($('#f-status'), STATUSES.map((s) => chip(s ? t(`accounts.state_${s}`) : t('common.all'), s ? c[s] : c.total,
    view.status === s, () => setFilter('status', s), s || 'all')));
  fill($('#f-pool'), ['', ...POOLS].map((p) => chip(p ? t(`accounts.pool_${p}`) : t('accounts.all_pools'), p ? c.pools[p] ?? 0 : c.total,
    view.pool === p, () => setFilter('pool', p), p || 'all')));
  const nsfw = [['', t('accounts.nsfw_all'), c.total], ['true', t('accounts.nsfw_on'), c.nsfw], ['false', t('accounts.nsfw_off'), c.total - c.nsfw]];
  fill($('#f-nsfw'), nsfw.map(([v, label, n]) => chip(label, n, view.nsfw === v, () => setFilter('nsfw', v), v || 'all')));
  const tags = { ...(c.tags || {}) };
  if (view.tag && !(view.tag in tags)) tags[view.tag] = 0;
  const select = $('#f-tag');
  fill(select, h('option', { value: '' }, t('accounts.all_tags')),
    Object.entries(tags).map(([tag, n]) => h('option', { value: tag }, `${tag} (${fmt.number(n)})`)));
  select.value = view.tag;
}

// ------------------------------------------------------------------ the table
const COLUMNS = [
  { key: 'token', sort: 'token' },
  { key: 'pool', sort: 'pool' },
  { key: 'status', sort: 'status' },
  { key: 'quota', sort: 'remaining' },
  { key: 'success', sort: 'use_count' },
  { key: 'fail', sort: 'fail_count' },
  { key: 'rate', sort: 'success_rate' },
  { key: 'last_used', sort: 'last_used_at' },
  { key: 'tags' },
  { key: 'note' },
  { key: 'actions' },
];

function renderHead() {
  const onPage = rows.map((r) => r.token);
  const all = onPage.length > 0 && onPage.every((tok) => selected.has(tok));
  const box = h('input', {
    type: 'checkbox', id: 'select-page', checked: all, 'aria-label': t('accounts.select_page'),
    onchange: (e) => {
      for (const tok of onPage) { if (e.target.checked) selected.add(tok); else selected.delete(tok); }
      renderRows();
      renderBatchBar();
    },
  });
  fill($('#head'), h('th', {}, box), COLUMNS.map((col) => {
    const sorted = col.sort && view.sort === col.sort;
    return h('th', {
      class: [col.sort && 'sortable', sorted && `sorted-${view.order}`], dataset: { col: col.key },
      'aria-sort': sorted ? (view.order === 'asc' ? 'ascending' : 'descending') : null,
      onclick: col.sort ? () => sortBy(col.sort) : null,
    }, t(`accounts.col_${col.key}`));
  }));
}

function sortBy(field) {
  if (view.sort === field) view.order = view.order === 'asc' ? 'desc' : 'asc';
  else { view.sort = field; view.order = DESC_FIRST.has(field) ? 'desc' : 'asc'; }
  view.page = 1;
  load();
}

function stateLabel(row) {
  const key = row.status === 'active' && row.state === 'exhausted' ? 'exhausted' : row.status;
  return h('span', { class: `status-${key} state` }, t(`accounts.state_${key}`));
}

function statusCell(row) {
  const reason = row.last_fail_reason || row.state_reason;
  const when = row.status === 'cooling' && row.cooldown_until
    ? t('accounts.until', { when: fmt.ago(row.cooldown_until) })
    : row.last_fail_at ? fmt.ago(row.last_fail_at) : null;
  return h('td', { class: 'status' }, stateLabel(row),
    reason ? h('span', { class: 'reason muted small', title: row.last_fail_at ? fmt.time(row.last_fail_at) : null },
      reason, when ? ` · ${when}` : null) : null);
}

function quotaCell(row) {
  return h('td', { class: 'quota' }, Object.entries(row.quota).map(([mode, w]) => h('span', { class: 'quota-line small', title: w.reset_at ? fmt.time(w.reset_at) : null },
    `${mode}: ${fmt.number(w.remaining)}/${fmt.number(w.total)}${w.known ? '' : ' ?'}`,
    w.reset_at ? h('span', { class: 'muted' }, ` · ${t('accounts.resets', { when: fmt.ago(w.reset_at) })}`) : null)));
}

function rate(row) {
  const calls = row.use_count + row.fail_count;
  return calls ? fmt.percent(row.use_count / calls) : '–';
}

function actionButton(label, action, onclick, kind = '') {
  return h('button', { type: 'button', class: `btn small ${kind}`, dataset: { action }, onclick }, label);
}

function renderRows() {
  const body = $('#rows');
  if (!rows.length) {
    fill(body, h('tr', {}, h('td', { colspan: COLUMNS.length + 1, class: 'muted empty' }, t('accounts.empty'))));
    return;
  }
  fill(body, rows.map((row) => {
    const token = row.token;
    return h('tr', { dataset: { mask: mask(token) }, class: selected.has(token) && 'selected' },
      h('td', {}, h('input', {
        type: 'checkbox', class: 'row-select', checked: selected.has(token), 'aria-label': t('accounts.select_row'),
        onchange: (e) => { if (e.target.checked) selected.add(token); else selected.delete(token); renderHead(); renderBatchBar(); },
      })),
      h('td', { class: 'token' }, h('span', { class: 'row' }, h('span', { class: 'mono' }, mask(token)),
        h('button', { type: 'button', class: 'btn small ghost copy', onclick: () => copyText(token) }, t('common.copy')))),
      h('td', { class: 'pool' }, t(`accounts.pool_${row.pool}`)),
      statusCell(row),
      quotaCell(row),
      h('td', { class: 'num success' }, fmt.number(row.use_count)),
      h('td', { class: 'num fail' }, fmt.number(row.fail_count)),
      h('td', { class: 'num rate' }, rate(row)),
      h('td', { class: 'last-used', title: row.last_used_at ? fmt.time(row.last_used_at) : null }, fmt.ago(row.last_used_at)),
      h('td', { class: 'tags' }, row.tags.map((tag) => h('span', { class: 'chip' }, tag))),
      h('td', { class: 'note' }, row.note),
      h('td', {}, h('div', { class: 'actions' },
        actionButton(t('common.edit'), 'edit', () => editRow(row)),
        actionButton(t('accounts.refresh_quota'), 'refresh', () => refreshRow(row)),
        actionButton(row.nsfw ? t('accounts.nsfw_turn_off') : t('accounts.nsfw_turn_on'), 'nsfw', () => nsfwRow(row)),
        row.status === 'disabled'
          ? actionButton(t('accounts.restore'), 'restore', () => setDisabled([token], false))
          : actionButton(t('common.disable'), 'disable', () => setDisabled([token], true)),
        actionButton(t('common.delete'), 'delete', () => deleteTokens([token]), 'danger'))));
  }));
}

function renderPager() {
  const pages = Math.max(1, Math.ceil(total / view.pageSize));
  const go = (page) => { view.page = page; load(); };
  const size = h('select', {
    id: 'page-size', 'aria-label': t('accounts.page_size'),
    onchange: (e) => { view.pageSize = Number(e.target.value); view.page = 1; load(); },
  }, PAGE_SIZES.map((n) => h('option', { value: String(n) }, t('accounts.per_page', { n }))));
  size.value = String(view.pageSize);
  fill($('#pager'),
    h('span', { class: 'muted', id: 'total-rows' }, t('common.rows', { n: fmt.number(total) })),
    size,
    h('button', { type: 'button', class: 'btn small', id: 'prev', disabled: view.page <= 1, onclick: () => go(view.page - 1) }, t('common.prev')),
    h('span', { id: 'page-of' }, t('common.page_of', { page: view.page, pages })),
    h('button', { type: 'button', class: 'btn small', id: 'next', disabled: view.page >= pages, onclick: () => go(view.page + 1) }, t('common.next')));
}

// ------------------------------------------------------------------ row actions
async function done(promise, message) {
  try {
    const answer = await promise;
    if (message) toast(typeof message === 'function' ? message(answer) : message, 'ok');
    return answer;
  } catch (err) {
    showError(err);
    return null;
  } finally {
    load();
  }
}

function field(label, control, id) {
  return h('label', { class: 'field', id: id && `field-${id}` }, h('span', {}, label), control,
    h('small', { class: 'field-error', hidden: true }));
}

function fieldError(root, param, message) {
  for (const el of root.querySelectorAll('.field')) {
    el.classList.remove('invalid');
    el.querySelector('.field-error').hidden = true;
  }
  const name = (param || '').split(/[.[]/)[0];
  const box = name && root.querySelector(`#field-${name}`);
  if (!box) return false;
  box.classList.add('invalid');
  const small = box.querySelector('.field-error');
  small.textContent = message;
  small.hidden = false;
  return true;
}

function splitTags(text) {
  return text.split(/[\s,，]+/).map((s) => s.trim()).filter(Boolean);
}

function poolSelect(id, value, withAuto) {
  const select = h('select', { id }, (withAuto ? ['auto', ...POOLS] : POOLS).map((p) => h('option', { value: p }, t(`accounts.pool_${p}`))));
  select.value = value;
  return select;
}

async function editRow(row) {
  const pool = poolSelect('edit-pool', row.pool, false);
  const tags = h('input', { type: 'text', id: 'edit-tags', value: row.tags.join(' ') });
  const note = h('textarea', { id: 'edit-note', maxlength: 2000 }, row.note);
  const body = h('div', {}, h('p', { class: 'mono' }, mask(row.token)),
    field(t('accounts.pool'), pool, 'pool'), field(t('accounts.tags_hint'), tags, 'tags'), field(t('accounts.note'), note, 'note'));
  const saved = await modal({
    title: t('accounts.edit_title'), body,
    actions: [{ label: t('common.cancel'), value: false }, {
      label: t('common.save'), kind: 'primary', value: true,
      validate: async () => {
        try {
          await api(`${API}/tokens/edit`, { method: 'PUT', json: { old_token: row.token, pool: pool.value, tags: splitTags(tags.value), note: note.value } });
          return true;
        } catch (err) {
          if (!(err instanceof ApiFailure && fieldError(body, err.param, err.message))) showError(err);
          return false;
        }
      },
    }],
  });
  if (saved) { toast(t('accounts.saved'), 'ok'); load(); }
}

function summaryText(answer) {
  const s = answer.summary || {};
  return t('accounts.batch_done', { ok: s.ok ?? 0, fail: s.fail ?? 0 });
}

function refreshRow(row) {
  return done(api(`${API}/batch/refresh`, { method: 'POST', json: { tokens: [row.token] } }), summaryText);
}

function nsfwRow(row) {
  return done(api(`${API}/batch/nsfw`, { method: 'POST', query: { enabled: String(!row.nsfw) }, json: { tokens: [row.token] } }), summaryText);
}

function setDisabled(tokens, disabled) {
  const path = tokens.length === 1 ? `${API}/tokens/disabled` : `${API}/tokens/disabled/batch`;
  const json = tokens.length === 1 ? { token: tokens[0], disabled } : { tokens, disabled };
  return done(api(path, { method: 'POST', json }), disabled ? t('accounts.disabled_n', { n: tokens.length }) : t('accounts.restored_n', { n: tokens.length }));
}

async function deleteTokens(tokens) {
  const message = tokens.length === 1 ? t('accounts.delete_one', { token: mask(tokens[0]) }) : t('accounts.delete_many', { n: tokens.length });
  if (!(await confirmBox(message, { confirmLabel: t('common.delete') }))) return;
  const answer = await done(api(`${API}/tokens`, { method: 'DELETE', json: { tokens } }), (a) => t('accounts.deleted_n', { n: a.deleted }));
  if (answer) for (const tok of tokens) selected.delete(tok);
}

// ------------------------------------------------------------------ batch bar
function renderBatchBar() {
  const bar = $('#batch-bar');
  if (!selected.size && !task) { bar.hidden = true; document.body.classList.remove('has-batch'); return; }
  bar.hidden = false;
  document.body.classList.add('has-batch');
  if (task) return; // the progress view stays until the task ends
  const tokens = () => [...selected];
  fill(bar,
    h('strong', { id: 'selected-count' }, t('common.selected', { n: fmt.number(selected.size) })),
    h('button', { type: 'button', class: 'btn small', id: 'batch-refresh', onclick: () => runTask('refresh', tokens()) }, t('accounts.refresh_quota')),
    h('button', { type: 'button', class: 'btn small', id: 'batch-nsfw-on', onclick: () => runTask('nsfw', tokens(), true) }, t('accounts.nsfw_turn_on')),
    h('button', { type: 'button', class: 'btn small', id: 'batch-nsfw-off', onclick: () => runTask('nsfw', tokens(), false) }, t('accounts.nsfw_turn_off')),
    h('button', { type: 'button', class: 'btn small', id: 'batch-disable', onclick: () => setDisabled(tokens(), true) }, t('common.disable')),
    h('button', { type: 'button', class: 'btn small', id: 'batch-restore', onclick: () => setDisabled(tokens(), false) }, t('accounts.restore')),
    h('button', { type: 'button', class: 'btn small danger', id: 'batch-delete', onclick: () => deleteTokens(tokens()) }, t('common.delete')),
    h('span', { class: 'spacer' }),
    h('button', { type: 'button', class: 'btn small ghost', id: 'batch-clear', onclick: () => { selected.clear(); renderHead(); renderRows(); renderBatchBar(); } }, t('accounts.clear_selection')));
}

async function runTask(kind, tokens, enabled) {
  const query = { async: 'true' };
  if (kind === 'nsfw') query.enabled = String(enabled);
  let started;
  try {
    started = await api(`${API}/batch/${kind}`, { method: 'POST', query, json: { tokens } });
  } catch (err) {
    showError(err);
    return;
  }
  task = { id: started.task_id };
  const bar = $('#batch-bar');
  const fillBar = h('span', {});
  const label = h('span', { id: 'batch-progress-text' }, t('accounts.progress', { done: 0, total: started.total, ok: 0, fail: 0 }));
  const cancel = h('button', {
    type: 'button', class: 'btn small danger', id: 'batch-cancel',
    onclick: async () => {
      cancel.disabled = true;
      try { await api(`${API}/batch/${encodeURIComponent(task.id)}/cancel`, { method: 'POST' }); } catch (err) { showError(err); }
    },
  }, t('common.stop'));
  fill(bar, h('strong', {}, t(`accounts.task_${kind}`)),
    h('div', { class: 'progress', id: 'batch-progress', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': String(started.total) }, fillBar),
    label, cancel);
  bar.hidden = false;
  const show = (e) => {
    const totalN = e.total || started.total || 1;
    fillBar.style.width = `${Math.round((100 * (e.processed || 0)) / totalN)}%`;
    bar.querySelector('.progress').setAttribute('aria-valuenow', String(e.processed || 0));
    label.textContent = t('accounts.progress', { done: e.processed || 0, total: e.total, ok: e.ok || 0, fail: e.fail || 0 });
  };
  try {
    const last = await followTask(task.id, { onUpdate: show });
    const status = last.type === 'snapshot' ? last.status : last.type;
    if (status === 'cancelled') toast(t('accounts.task_cancelled', { done: last.processed, total: last.total }), 'info');
    else if (status === 'error') toast(last.error || t('accounts.task_failed'), 'error');
    else toast(t('accounts.batch_done', { ok: last.ok, fail: last.fail }), last.fail ? 'error' : 'ok');
  } catch (err) {
    showError(err);
  } finally {
    task = null;
    renderBatchBar();
    load();
  }
}

// ------------------------------------------------------------------ add, import, export, purge
async function addDialog() {
  const text = h('textarea', { id: 'add-tokens', rows: 8, spellcheck: 'false', placeholder: t('accounts.add_placeholder') });
  const pool = poolSelect('add-pool', 'auto', true);
  const tags = h('input', { type: 'text', id: 'add-tags' });
  const body = h('div', {}, field(t('accounts.tokens'), text, 'tokens'), field(t('accounts.pool'), pool, 'pool'), field(t('accounts.tags_hint'), tags, 'tags'),
    h('p', { class: 'muted small' }, t('accounts.auto_hint')));
  let answer = null;
  const ok = await modal({
    title: t('accounts.add_title'), body, wide: true,
    actions: [{ label: t('common.cancel'), value: false }, {
      label: t('common.add'), kind: 'primary', value: true,
      validate: async () => {
        const tokens = text.value.split(/\r?\n/).map((s) => s.trim()).filter(Boolean);
        if (!tokens.length) { fieldError(body, 'tokens', t('accounts.no_tokens')); return false; }
        try {
          answer = await api(`${API}/tokens/add`, { method: 'POST', json: { tokens, pool: pool.value, tags: splitTags(tags.value) } });
          return true;
        } catch (err) {
          if (!(err instanceof ApiFailure && fieldError(body, err.param, err.message))) showError(err);
          return false;
        }
      },
    }],
  });
  if (ok && answer) {
    toast(t('accounts.added', { count: answer.count, skipped: answer.skipped, invalid: answer.invalid }), answer.invalid ? 'error' : 'ok');
    load();
  }
}

/** A file's bytes as text: UTF-16 when it starts with its byte order mark, else UTF-8. */
function decodeFile(buffer) {
  const b = new Uint8Array(buffer);
  const label = b[0] === 0xff && b[1] === 0xfe ? 'utf-16le' : b[0] === 0xfe && b[1] === 0xff ? 'utf-16be' : 'utf-8';
  return new TextDecoder(label).decode(buffer);
}

async function importFile(file) {
  let content;
  try {
    content = decodeFile(await file.arrayBuffer());
  } catch (err) {
    showError(err);
    return;
  }
  const pool = poolSelect('import-pool', 'auto', true);
  const tags = h('input', { type: 'text', id: 'import-tags' });
  const preview = h('div', { id: 'import-preview' }, t('common.loading'));
  const body = h('div', {}, h('p', { class: 'mono' }, file.name),
    h('div', { class: 'row' }, field(t('accounts.pool'), pool, 'pool'), field(t('accounts.tags_hint'), tags, 'tags')),
    preview);
  let usable = false;
  const request = (dryRun) => api(`${API}/tokens/import`, { method: 'POST', json: { content, pool: pool.value, tags: splitTags(tags.value), dry_run: dryRun } });
  const showPreview = async () => {
    try {
      const answer = await request(true);
      fieldError(body, null);
      usable = answer.counts.add > 0;
      fill(preview, renderPreview(answer));
    } catch (err) {
      usable = false;
      if (err instanceof ApiFailure && err.param && err.param !== 'content' && fieldError(body, err.param, err.message)) return;
      fill(preview, h('p', { class: 'form-error', id: 'import-error' }, err.message));
    }
  };
  pool.addEventListener('change', showPreview);
  tags.addEventListener('change', showPreview);
  let answer = null;
  const opening = modal({
    title: t('accounts.import_title'), body, wide: true,
    actions: [{ label: t('common.cancel'), value: false }, {
      label: t('accounts.import_apply'), kind: 'primary', value: true,
      validate: async () => {
        if (!usable) { toast(t('accounts.import_nothing'), 'error'); return false; }
        try {
          answer = await request(false);
          return true;
        } catch (err) {
          showError(err);
          return false;
        }
      },
    }],
  });
  await showPreview();
  if (await opening && answer) {
    toast(t('accounts.imported', { count: answer.count }), 'ok');
    load();
  }
}

function renderPreview(answer) {
  const c = answer.counts;
  const box = (id, label, n, cls) => h('div', { class: ['stat', cls], id: `preview-${id}` }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, fmt.number(n)));
  const list = (items, line) => h('ol', { class: 'preview-list small' }, items.map((item) => h('li', {}, line(item))));
  return [
    h('div', { class: 'preview-counts' },
      box('add', t('accounts.preview_add'), c.add, 'ok'),
      box('existing', t('accounts.preview_existing'), c.existing),
      box('duplicates', t('accounts.preview_duplicates'), c.duplicates),
      box('rejected', t('accounts.preview_rejected'), c.rejected, c.rejected && 'bad')),
    answer.add.length ? [h('h3', {}, t('accounts.preview_add')), list(answer.add, (r) => [h('span', { class: 'mono' }, r.token), ` → ${t(`accounts.pool_${r.pool}`)}`,
      r.restore ? ` (${t('accounts.restored')})` : null, r.tags.map((tag) => h('span', { class: 'chip' }, tag))])] : null,
    answer.existing.length ? [h('h3', {}, t('accounts.preview_existing')), list(answer.existing, (m) => h('span', { class: 'mono' }, m))] : null,
    answer.rejected.length ? [h('h3', {}, t('accounts.preview_rejected')), h('ol', { class: 'preview-list small', id: 'preview-rejected-list' },
      answer.rejected.map((r) => h('li', {}, t('accounts.line', { line: r.line }), ': ', r.message)))] : null,
  ];
}

function exportRows(format) {
  const params = new URLSearchParams({ format });
  for (const [k, v] of Object.entries(filterQuery())) if (v) params.set(k, v);
  const link = h('a', { href: `${API}/tokens/export?${params}`, download: '', class: 'offscreen' });
  document.body.append(link);
  link.click();
  link.remove();
}

async function purge() {
  try {
    const preview = await api(`${API}/tokens/invalid`, { method: 'DELETE', query: { dry_run: 'true' } });
    if (!preview.would_delete) { toast(t('accounts.purge_none'), 'info'); return; }
    const ok = await confirmBox(t('accounts.purge_confirm', { n: preview.would_delete, expired: preview.by_status.expired, disabled: preview.by_status.disabled }),
      { confirmLabel: t('accounts.purge') });
    if (!ok) return;
    await done(api(`${API}/tokens/invalid`, { method: 'DELETE' }), (a) => t('accounts.deleted_n', { n: a.deleted }));
  } catch (err) {
    showError(err);
  }
}

// ------------------------------------------------------------------ wiring
$('#search').addEventListener('input', debounce((e) => setFilter('search', e.target.value.trim()), 300));
$('#f-tag').addEventListener('change', (e) => setFilter('tag', e.target.value));
$('#add').addEventListener('click', addDialog);
$('#import').addEventListener('click', () => $('#import-file').click());
$('#import-file').addEventListener('change', (e) => {
  const file = e.target.files[0];
  e.target.value = '';
  if (file) importFile(file);
});
$('#export-json').addEventListener('click', () => exportRows('json'));
$('#export-txt').addEventListener('click', () => exportRows('txt'));
$('#purge').addEventListener('click', purge);
$('#reload').addEventListener('click', load);
load();
