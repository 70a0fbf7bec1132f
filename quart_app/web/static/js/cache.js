// The cache page: the local media cache (usage against the limits from /admin/api/cache, a
// page of files newest first from /admin/api/cache/list with previews served by
// /v1/files/*, delete one or the selection, clear a kind) and the files the accounts hold
// on grok.com (/admin/api/assets: counts per account, delete one, clear one account, clear
// the selected accounts or all as a batch task with progress and stop).
//
// The asset listing names each account by its token because the delete calls need it; the
// page only ever shows the masked form.
import { $, $$, api, confirmBox, fill, fmt, followTask, h, showError, t, toast } from './core.js';

const PAGE_SIZE = 24;
const state = {
  tab: 'image',
  page: 1,
  /** local file names picked, per kind (kept across pages) */
  picked: { image: new Set(), video: new Set() },
  /** tokens of the accounts picked in the online tab */
  accounts: new Set(),
  assets: null,
  task: null,
};

// ---- local cache ------------------------------------------------------------------------

function usageCard(kind, s) {
  const bar = h('span', {});
  bar.style.width = `${Math.min(100, s.usage_percent ?? 0)}%`;
  const limit = s.limited ? fmt.bytes(s.limit_bytes) : t('common.unlimited');
  return h('div', { class: 'stat', id: `stat-${kind}` },
    h('div', { class: 'label' }, t(kind === 'image' ? 'cache.images' : 'cache.videos')),
    h('div', { class: 'value', dataset: { count: s.count } }, fmt.number(s.count)),
    h('div', { class: 'row' }, h('div', { class: 'progress' }, bar),
      h('span', { class: 'small' }, s.usage_percent === null ? '' : `${s.usage_percent}%`)),
    h('div', { class: 'muted small' }, `${fmt.bytes(s.size_bytes)} / ${limit}`));
}

async function loadStats() {
  const stats = await api('/admin/api/cache');
  fill($('#cache-cards'), usageCard('image', stats.local_image), usageCard('video', stats.local_video));
  return stats;
}

/** The file's id is its name without the extension (the cache names files `<id>.<ext>`). */
function fileUrl(kind, name) {
  return `/v1/files/${kind}?id=${encodeURIComponent(name.replace(/\.[^.]+$/, ''))}`;
}

function preview(kind, name) {
  const url = fileUrl(kind, name);
  const media = kind === 'image'
    ? h('img', { src: url, alt: name, loading: 'lazy', decoding: 'async' })
    : h('video', { src: url, preload: 'none', controls: true, playsInline: true });
  return kind === 'image'
    ? h('a', { class: 'preview', href: url, target: '_blank', rel: 'noopener' }, media)
    : h('div', { class: 'preview' }, media);
}

function tile(kind, item) {
  const picked = state.picked[kind];
  const box = h('input', { type: 'checkbox', checked: picked.has(item.name), 'aria-label': item.name });
  const el = h('div', { class: ['tile', picked.has(item.name) && 'selected'], dataset: { name: item.name } },
    preview(kind, item.name),
    h('div', { class: 'meta' },
      h('div', { class: 'row' }, box, h('span', { class: 'name mono small grow', title: item.name }, item.name)),
      h('div', { class: 'row between small muted' }, h('span', {}, fmt.bytes(item.size_bytes)),
        h('span', { title: fmt.time(item.modified_at) }, fmt.ago(item.modified_at))),
      h('button', { type: 'button', class: 'btn small delete', onclick: () => deleteOne(kind, item.name) }, t('common.delete'))));
  box.addEventListener('change', () => {
    if (box.checked) picked.add(item.name); else picked.delete(item.name);
    el.classList.toggle('selected', box.checked);
    showBatchBar();
  });
  return el;
}

function localPager(total) {
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  const go = (page) => { state.page = page; loadLocal().catch(showError); };
  fill($('#local-pager'),
    h('span', { class: 'muted' }, t('common.page_of', { page: state.page, pages })),
    h('button', { type: 'button', class: 'btn small', disabled: state.page <= 1, onclick: () => go(state.page - 1) }, t('common.prev')),
    h('button', { type: 'button', class: 'btn small', disabled: state.page >= pages, onclick: () => go(state.page + 1) }, t('common.next')));
}

async function loadLocal() {
  const kind = state.tab;
  delete document.body.dataset.loaded;
  const answer = await api('/admin/api/cache/list', { query: { type: kind, page: state.page, page_size: PAGE_SIZE } });
  if (!answer.items.length && state.page > 1) {
    state.page = Math.max(1, Math.ceil(answer.total / PAGE_SIZE));
    return loadLocal();
  }
  fill($('#local-total'), t('cache.files_n', { n: fmt.number(answer.total) }));
  fill($('#local-clear'), t(kind === 'image' ? 'cache.clear_images' : 'cache.clear_videos'));
  $('#local-clear').disabled = answer.total === 0;
  fill($('#media-grid'), answer.items.length ? answer.items.map((item) => tile(kind, item))
    : h('div', { class: 'empty' }, t(kind === 'image' ? 'cache.no_images' : 'cache.no_videos')));
  $('#select-page').checked = answer.items.length > 0 && answer.items.every((i) => state.picked[kind].has(i.name));
  localPager(answer.total);
  showBatchBar();
  document.body.dataset.loaded = kind;
  return answer;
}

async function refreshLocal() {
  await Promise.all([loadStats(), loadLocal()]);
}

async function deleteOne(kind, name) {
  if (!(await confirmBox(t('cache.confirm_delete_one', { name })))) return;
  try {
    await api('/admin/api/cache/item/delete', { method: 'POST', json: { type: kind, name } });
    state.picked[kind].delete(name);
    toast(t('cache.deleted_n', { n: 1 }), 'ok');
  } catch (err) { showError(err); }
  await refreshLocal().catch(showError);
}

async function deletePicked() {
  const kind = state.tab;
  const names = [...state.picked[kind]];
  if (!names.length || !(await confirmBox(t('cache.confirm_delete_many', { n: names.length })))) return;
  try {
    const answer = await api('/admin/api/cache/items/delete', { method: 'POST', json: { type: kind, names } });
    state.picked[kind].clear();
    toast(t('cache.deleted_n', { n: answer.result.deleted }), 'ok');
  } catch (err) { showError(err); }
  await refreshLocal().catch(showError);
}

async function clearKind() {
  const kind = state.tab;
  const question = t(kind === 'image' ? 'cache.confirm_clear_images' : 'cache.confirm_clear_videos');
  if (!(await confirmBox(question))) return;
  try {
    const answer = await api('/admin/api/cache/clear', { method: 'POST', json: { type: kind } });
    state.picked[kind].clear();
    toast(t('cache.deleted_n', { n: answer.result.removed }), 'ok');
  } catch (err) { showError(err); }
  state.page = 1;
  await refreshLocal().catch(showError);
}

// ---- online assets ----------------------------------------------------------------------

function assetRow(row, item) {
  return h('li', {},
    h('span', { class: 'mono small' }, item.name || item.id),
    h('span', { class: 'muted small' }, `${item.content_type || ''} · ${fmt.bytes(item.size)} · ${item.created_at || ''}`),
    h('button', { type: 'button', class: 'btn small', onclick: () => deleteAsset(row, item) }, t('common.delete')));
}

function accountRows(row, index) {
  const size = row.assets.reduce((n, a) => n + (a.size || 0), 0);
  const box = h('input', { type: 'checkbox', checked: state.accounts.has(row.token), 'aria-label': row.masked });
  box.addEventListener('change', () => {
    if (box.checked) state.accounts.add(row.token); else state.accounts.delete(row.token);
    showBatchBar();
  });
  const sub = h('tr', { class: 'sub', hidden: true },
    h('td', { colspan: 6 }, h('ul', { class: 'asset-list' }, row.assets.map((a) => assetRow(row, a)))));
  const main = h('tr', { dataset: { index } },
    h('td', {}, box),
    h('td', { class: 'mono' }, row.masked),
    h('td', { class: 'count' }, fmt.number(row.count)),
    h('td', {}, fmt.bytes(size)),
    h('td', { class: 'wrap bad small' }, row.error || ''),
    h('td', {},
      h('button', { type: 'button', class: 'btn small', disabled: !row.count, onclick: () => { sub.hidden = !sub.hidden; } }, t('cache.show_files')),
      ' ',
      h('button', { type: 'button', class: 'btn small danger', disabled: !row.count, onclick: () => clearAccount(row) }, t('cache.clear'))));
  return [main, sub];
}

async function loadOnline() {
  delete document.body.dataset.loaded;
  fill($('#online-total'), t('common.loading'));
  const answer = await api('/admin/api/assets');
  state.assets = answer;
  const known = new Set(answer.tokens.map((r) => r.token));
  for (const token of [...state.accounts]) if (!known.has(token)) state.accounts.delete(token);
  fill($('#online-total'), t('cache.online_total', { n: fmt.number(answer.total_assets), accounts: fmt.number(answer.tokens.length) }));
  fill($('#accounts tbody'), answer.tokens.length ? answer.tokens.map(accountRows)
    : h('tr', {}, h('td', { colspan: 6, class: 'muted' }, t('cache.no_accounts'))));
  $('#select-accounts').checked = answer.tokens.length > 0 && answer.tokens.every((r) => state.accounts.has(r.token));
  showBatchBar();
  document.body.dataset.loaded = 'online';
}

async function deleteAsset(row, item) {
  if (!(await confirmBox(t('cache.confirm_delete_asset', { name: item.name || item.id, account: row.masked })))) return;
  try {
    await api('/admin/api/assets/delete-item', { method: 'POST', json: { token: row.token, asset_id: item.id } });
    toast(t('cache.deleted_n', { n: 1 }), 'ok');
  } catch (err) { showError(err); }
  await loadOnline().catch(showError);
}

async function clearAccount(row) {
  if (!(await confirmBox(t('cache.confirm_clear_account', { n: row.count, account: row.masked })))) return;
  try {
    const answer = await api('/admin/api/assets/clear-token', { method: 'POST', json: { token: row.token } });
    toast(t('cache.deleted_n', { n: answer.deleted }), 'ok');
  } catch (err) { showError(err); }
  await loadOnline().catch(showError);
}

function showTask(event) {
  const total = event.total || 0;
  const bar = $('#task-bar > span');
  bar.style.width = total ? `${Math.round((event.processed / total) * 100)}%` : '0%';
  fill($('#task-count'), t('cache.task_count', { done: event.processed ?? 0, total, ok: event.ok ?? 0, fail: event.fail ?? 0 }));
  const status = event.type === 'snapshot' ? event.status : event.type;
  $('#task').dataset.status = status;
  fill($('#task-title'), t(`cache.task_${['done', 'cancelled', 'error'].includes(status) ? status : 'running'}`));
}

/** Clear the online assets of `tokens` (empty: every manageable account) as a batch task. */
async function clearAccounts(tokens) {
  const question = tokens.length ? t('cache.confirm_clear_accounts', { n: tokens.length }) : t('cache.confirm_clear_all_accounts');
  if (!(await confirmBox(question))) return;
  let started;
  try {
    started = await api('/admin/api/batch/cache-clear', { method: 'POST', query: { async: 'true' }, json: { tokens } });
  } catch (err) { showError(err); return; }
  state.task = started.task_id;
  $('#task').hidden = false;
  $('#task-cancel').disabled = false;
  $('#online-clear-all').disabled = true;
  showTask({ type: 'snapshot', status: 'running', total: started.total, processed: 0, ok: 0, fail: 0 });
  try {
    const last = await followTask(started.task_id, { onUpdate: showTask });
    if (last.type === 'error') toast(last.error || t('cache.task_error'), 'error');
    else toast(t(last.type === 'cancelled' ? 'cache.task_cancelled' : 'cache.task_done'), last.type === 'cancelled' ? 'info' : 'ok');
    state.accounts.clear();
  } catch (err) {
    showError(err);
  } finally {
    state.task = null;
    $('#task-cancel').disabled = true;
    $('#online-clear-all').disabled = false;
    await loadOnline().catch(showError);
  }
}

async function cancelTask() {
  if (!state.task) return;
  $('#task-cancel').disabled = true;
  try {
    await api(`/admin/api/batch/${encodeURIComponent(state.task)}/cancel`, { method: 'POST' });
  } catch (err) { showError(err); }
}

// ---- shared -----------------------------------------------------------------------------

function showBatchBar() {
  const online = state.tab === 'online';
  const n = online ? state.accounts.size : state.picked[state.tab].size;
  $('#batch-bar').hidden = n === 0;
  fill($('#batch-count'), t('common.selected', { n }));
  fill($('#batch-delete'), online ? t('cache.clear_selected_accounts') : t('cache.delete_selected'));
}

function switchTab(tab) {
  state.tab = tab;
  state.page = 1;
  for (const b of $$('.tabs button')) {
    b.classList.toggle('on', b.dataset.tab === tab);
    b.setAttribute('aria-selected', String(b.dataset.tab === tab));
  }
  $('#local-panel').hidden = tab === 'online';
  $('#online-panel').hidden = tab !== 'online';
  history.replaceState(null, '', tab === 'image' ? location.pathname : `?tab=${tab}`);
  (tab === 'online' ? loadOnline() : loadLocal()).catch(showError);
}

for (const b of $$('.tabs button')) b.addEventListener('click', () => switchTab(b.dataset.tab));
$('#local-refresh').addEventListener('click', () => refreshLocal().catch(showError));
$('#local-clear').addEventListener('click', clearKind);
$('#select-page').addEventListener('change', (e) => {
  for (const el of $$('#media-grid .tile')) {
    const box = el.querySelector('input[type=checkbox]');
    if (box.checked !== e.target.checked) { box.checked = e.target.checked; box.dispatchEvent(new Event('change')); }
  }
});
$('#select-accounts').addEventListener('change', (e) => {
  for (const box of $$('#accounts tbody input[type=checkbox]')) {
    if (box.checked !== e.target.checked) { box.checked = e.target.checked; box.dispatchEvent(new Event('change')); }
  }
});
$('#online-refresh').addEventListener('click', () => loadOnline().catch(showError));
$('#online-clear-all').addEventListener('click', () => clearAccounts([]));
$('#task-cancel').addEventListener('click', cancelTask);
$('#batch-none').addEventListener('click', () => {
  if (state.tab === 'online') state.accounts.clear(); else state.picked[state.tab].clear();
  for (const box of $$('#media-grid input[type=checkbox], #accounts input[type=checkbox]')) box.checked = false;
  for (const el of $$('.tile.selected')) el.classList.remove('selected');
  showBatchBar();
});
$('#batch-delete').addEventListener('click', () => (state.tab === 'online' ? clearAccounts([...state.accounts]) : deletePicked()));

loadStats().catch(showError);
const asked = new URLSearchParams(location.search).get('tab');
switchTab(['image', 'video', 'online'].includes(asked) ? asked : 'image');
