// The API keys page: stat cards, a server-side search / status filter / order / page over
// GET /admin/api/keys, create (the value shown once, with a copy button), edit with limit
// presets, enable/disable and delete. A key's value never comes back after creation; names
// and everything else from the server are put in the page as text only (h(), fill()).
import {
  $, api, ApiFailure, confirmBox, copyText, debounce, fill, fmt, h, modal, showError, t, toast,
} from './core.js';

const PAGE_SIZE = 50;
const KINDS = ['chat', 'heavy', 'image', 'video', 'tokens'];
const POOLS = ['basic', 'super', 'heavy'];
const STATUSES = ['active', 'disabled', 'expired', 'exhausted'];
// Limits a preset fills in (null = unlimited); the operator can change any of them after.
const PRESETS = {
  trial: { chat: 50, heavy: 0, image: 10, video: 0, tokens: 200000, rpm: 10, max_concurrency: 2 },
  team: { chat: 2000, heavy: 100, image: 200, video: 20, tokens: 5000000, rpm: 60, max_concurrency: 8 },
  unlimited: { chat: null, heavy: null, image: null, video: null, tokens: null, rpm: null, max_concurrency: null },
};

const state = { q: '', status: '', sort: 'created_at', page: 1 };

async function load() {
  try {
    const answer = await api('/admin/api/keys', {
      query: { q: state.q, status: state.status, sort: state.sort, page: state.page, page_size: PAGE_SIZE },
    });
    const pages = Math.max(1, Math.ceil(answer.total / PAGE_SIZE));
    if (state.page > pages) { // the last key of the last page went away
      state.page = pages;
      return load();
    }
    showCards(answer.counts);
    showFilters(answer.counts);
    showRows(answer.data);
    showPager(answer.total);
  } catch (err) { showError(err); }
  return null;
}

function showCards(counts) {
  const card = (key, value, cls) => h('div', { class: 'stat', dataset: { stat: key } },
    h('div', { class: 'label' }, t(`keys.card_${key}`)), h('div', { class: ['value', cls] }, fmt.number(value)));
  fill($('#key-cards'),
    card('total', counts.total), card('active', counts.active, 'ok'),
    card('disabled', counts.disabled + counts.expired, 'bad'), card('exhausted', counts.exhausted, 'warn'),
    card('used_today', counts.used_today), card('tokens_today', counts.tokens_today));
}

function showFilters(counts) {
  const button = (value, label, n) => h('button', {
    type: 'button', class: state.status === value ? 'on' : '', dataset: { status: value },
    'aria-pressed': String(state.status === value),
    onclick: () => { state.status = value; state.page = 1; load(); },
  }, `${label} (${fmt.number(n)})`);
  fill($('#key-filters'), button('', t('common.all'), counts.total),
    STATUSES.map((s) => button(s, t(`keys.status_${s}`), counts[s])));
}

function usageCell(key) {
  const lines = [];
  for (const kind of KINDS) {
    const used = key.usage_today[`${kind}_used`] ?? 0;
    const limit = key.limits[`${kind}_per_day`];
    if (limit === null && !used) continue;
    const left = key.remaining_today[kind];
    lines.push(h('span', {}, t(`keys.kind_${kind}`)),
      h('span', { class: left === 0 ? 'out' : '' }, limit === null
        ? fmt.number(used)
        : t('keys.used_of', { used: fmt.number(used), limit: fmt.number(limit), left: fmt.number(left) })));
  }
  return lines.length ? h('div', { class: 'usage' }, lines) : h('span', { class: 'muted' }, t('keys.unlimited'));
}

function limitsCell(key) {
  const parts = [];
  if (key.rpm !== null) parts.push(h('span', { class: 'chip' }, t('keys.rpm_n', { n: key.rpm })));
  if (key.max_concurrency !== null) parts.push(h('span', { class: 'chip' }, t('keys.conc_n', { n: key.max_concurrency })));
  if (key.models.length) parts.push(h('span', { class: 'chip', title: key.models.join(', ') }, t('keys.models_n', { n: key.models.length })));
  if (!key.nsfw) parts.push(h('span', { class: 'chip' }, t('keys.no_nsfw')));
  return parts.length ? parts : h('span', { class: 'muted' }, '–');
}

function scopeCell(key) {
  const chips = [...key.scope.pools.map((p) => h('span', { class: 'chip' }, p)),
    ...key.scope.tags.map((tag) => h('span', { class: 'chip' }, `#${tag}`))];
  return chips.length ? chips : h('span', { class: 'muted' }, t('keys.any_account'));
}

function showRows(keys) {
  const body = $('#key-rows');
  if (!keys.length) {
    fill(body, h('tr', {}, h('td', { colspan: 9, class: 'muted' }, state.q || state.status ? t('keys.no_match') : t('keys.none_yet'))));
    return;
  }
  fill(body, keys.map((key) => h('tr', { dataset: { id: key.id } },
    h('td', { class: 'key-name' }, key.name),
    h('td', { class: 'mono' }, key.display_key),
    h('td', {}, h('span', { class: `status-${key.status}` }, t(`keys.status_${key.status}`))),
    h('td', {}, usageCell(key)),
    h('td', {}, limitsCell(key)),
    h('td', {}, scopeCell(key)),
    h('td', {}, key.expires_at ? fmt.time(key.expires_at) : t('keys.never')),
    h('td', {}, fmt.ago(key.last_used_at)),
    h('td', {}, h('div', { class: 'key-actions' },
      h('button', { type: 'button', class: 'btn small', dataset: { action: 'edit' }, onclick: () => editKey(key) }, t('common.edit')),
      h('button', {
        type: 'button', class: 'btn small', dataset: { action: 'toggle' },
        onclick: () => setActive(key, !key.is_active),
      }, key.is_active ? t('common.disable') : t('common.enable')),
      h('button', { type: 'button', class: 'btn small danger', dataset: { action: 'delete' }, onclick: () => deleteKey(key) }, t('common.delete')))))));
}

function showPager(total) {
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  const go = (page) => { state.page = page; load(); };
  fill($('#key-pager'),
    h('span', { class: 'muted' }, t('common.rows', { n: fmt.number(total) })),
    h('button', { type: 'button', class: 'btn small', disabled: state.page <= 1, onclick: () => go(state.page - 1) }, t('common.prev')),
    h('span', {}, t('common.page_of', { page: state.page, pages })),
    h('button', { type: 'button', class: 'btn small', disabled: state.page >= pages, onclick: () => go(state.page + 1) }, t('common.next')));
}

// ---------------------------------------------------------------- the key form

/** A labelled input whose errors the API names by `param`. */
function field(param, label, input, hint) {
  return h('label', { class: 'field', dataset: { param } }, h('span', {}, label), input,
    hint ? h('small', { class: 'muted' }, hint) : null);
}

function numberInput(name, value) {
  return h('input', { type: 'number', name, min: '0', step: '1', inputmode: 'numeric', placeholder: '∞', value: value ?? '' });
}

function localTime(seconds) {
  if (!seconds) return '';
  const d = new Date(seconds * 1000);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function keyForm(key) {
  const limits = key?.limits ?? {};
  const form = h('form', { class: 'key-form', novalidate: true },
    h('p', { class: 'form-error', role: 'alert', hidden: true }),
    field('name', t('keys.name'), h('input', { name: 'name', maxlength: '191', value: key?.name ?? '', placeholder: t('keys.name_hint') })),
    key ? null : field('key', t('keys.value'), h('input', { name: 'key', maxlength: '256', autocomplete: 'off', spellcheck: 'false', placeholder: t('keys.value_hint') })),
    h('div', { class: 'checks' },
      h('label', { dataset: { param: 'is_active' } }, h('input', { type: 'checkbox', name: 'is_active', checked: key ? key.is_active : true }), t('keys.enabled')),
      h('label', { dataset: { param: 'nsfw' } }, h('input', { type: 'checkbox', name: 'nsfw', checked: key ? key.nsfw : true }), t('keys.nsfw'))),
    h('div', { class: 'presets' }, h('span', { class: 'muted' }, t('keys.presets')),
      Object.keys(PRESETS).map((name) => h('button', {
        type: 'button', class: 'btn small', dataset: { preset: name }, onclick: () => applyPreset(form, PRESETS[name]),
      }, t(`keys.preset_${name}`)))),
    h('fieldset', {}, h('legend', {}, t('keys.per_day')),
      h('div', { class: 'grid' }, KINDS.map((kind) => field(`limits.${kind}_per_day`, t(`keys.kind_${kind}`),
        numberInput(`limits.${kind}_per_day`, limits[`${kind}_per_day`]))))),
    h('div', { class: 'grid' },
      field('rpm', t('keys.rpm'), numberInput('rpm', key?.rpm)),
      field('max_concurrency', t('keys.max_concurrency'), numberInput('max_concurrency', key?.max_concurrency)),
      field('expires_at', t('keys.expires'), h('input', { type: 'datetime-local', name: 'expires_at', value: localTime(key?.expires_at) }))),
    field('models', t('keys.models'), h('textarea', { name: 'models', rows: 2, spellcheck: 'false', placeholder: t('keys.models_hint') }, (key?.models ?? []).join('\n'))),
    h('fieldset', {}, h('legend', {}, t('keys.scope')),
      h('div', { class: 'checks', dataset: { param: 'scope.pools' } }, POOLS.map((pool) => h('label', {},
        h('input', { type: 'checkbox', name: 'scope.pools', value: pool, checked: (key?.scope.pools ?? []).includes(pool) }), pool))),
      field('scope.tags', t('keys.tags'), h('input', { name: 'scope.tags', value: (key?.scope.tags ?? []).join(', '), placeholder: t('keys.tags_hint') }))));
  form.addEventListener('submit', (e) => e.preventDefault());
  return form;
}

function applyPreset(form, preset) {
  for (const kind of KINDS) form.elements[`limits.${kind}_per_day`].value = preset[kind] ?? '';
  form.elements.rpm.value = preset.rpm ?? '';
  form.elements.max_concurrency.value = preset.max_concurrency ?? '';
}

/** A number field: empty is unlimited (null); anything else goes as typed, for the server
 *  to judge (so its message names the field). */
function numberOf(input) {
  const text = input.value.trim();
  if (!text) return input.validity.badInput ? 'invalid' : null;
  const n = Number(text);
  return Number.isFinite(n) ? n : text;
}

function bodyOf(form) {
  const el = form.elements;
  const list = (text) => text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
  const expires = el.expires_at.value ? Math.floor(new Date(el.expires_at.value).getTime() / 1000) : null;
  const body = {
    name: el.name.value.trim() || null,
    is_active: el.is_active.checked,
    nsfw: el.nsfw.checked,
    limits: Object.fromEntries(KINDS.map((kind) => [`${kind}_per_day`, numberOf(el[`limits.${kind}_per_day`])])),
    rpm: numberOf(el.rpm),
    max_concurrency: numberOf(el.max_concurrency),
    models: list(el.models.value),
    expires_at: expires,
    scope: {
      pools: [...form.querySelectorAll('input[name="scope.pools"]:checked')].map((i) => i.value),
      tags: list(el['scope.tags'].value),
    },
  };
  if (el.key && el.key.value.trim()) body.key = el.key.value.trim();
  return body;
}

function clearErrors(form) {
  form.querySelectorAll('.invalid').forEach((f) => f.classList.remove('invalid'));
  form.querySelectorAll('.field-error').forEach((e) => e.remove());
  form.querySelector('.form-error').hidden = true;
}

/** The server's message beside the field it names (`models[1]` → models), else on top. */
function showFailure(form, err) {
  const param = err instanceof ApiFailure && err.param ? err.param.replace(/\[\d+\]$/, '') : null;
  const box = param && form.querySelector(`[data-param="${CSS.escape(param)}"]`);
  if (box) {
    box.classList.add('invalid');
    box.append(h('small', { class: 'field-error', role: 'alert' }, err.message));
    box.querySelector('input, textarea')?.focus();
  } else {
    const top = form.querySelector('.form-error');
    top.textContent = err.message;
    top.hidden = false;
  }
}

async function submitForm(form, send) {
  clearErrors(form);
  try {
    return await send(bodyOf(form));
  } catch (err) {
    if (!(err instanceof ApiFailure) || !err.status) showError(err);
    else showFailure(form, err);
    return null;
  }
}

async function createKey() {
  const form = keyForm(null);
  let created = null;
  const ok = await modal({
    title: t('keys.new'), body: form, wide: true,
    actions: [{ label: t('common.cancel'), value: false }, {
      label: t('keys.create'), kind: 'primary', value: true,
      validate: async () => {
        created = await submitForm(form, (body) => api('/admin/api/keys', { method: 'POST', json: body }));
        return created !== null;
      },
    }],
  });
  if (!ok || !created) return;
  await load();
  await showOnce(created.data);
}

/** The new key's value: shown here once, never again. */
function showOnce(key) {
  return modal({
    title: t('keys.created', { name: key.name }),
    body: h('div', { class: 'stack' },
      h('p', { class: 'warn' }, t('keys.shown_once')),
      h('div', { class: 'new-key' }, h('code', { id: 'new-key-value', class: 'mono' }, key.key),
        h('button', { type: 'button', class: 'btn primary', id: 'new-key-copy', onclick: () => copyText(key.key) }, t('common.copy')))),
    actions: [{ label: t('keys.done'), kind: 'primary', value: true }],
  });
}

async function editKey(key) {
  const form = keyForm(key);
  const ok = await modal({
    title: t('keys.edit', { name: key.name }), body: form, wide: true,
    actions: [{ label: t('common.cancel'), value: false }, {
      label: t('common.save'), kind: 'primary', value: true,
      validate: async () => (await submitForm(form, (body) => api('/admin/api/keys/update', {
        method: 'POST', json: { ...body, id: key.id },
      }))) !== null,
    }],
  });
  if (ok) {
    toast(t('keys.saved'), 'ok');
    await load();
  }
}

async function setActive(key, active) {
  try {
    await api('/admin/api/keys/update', { method: 'POST', json: { id: key.id, is_active: active } });
    toast(active ? t('keys.enabled_one', { name: key.name }) : t('keys.disabled_one', { name: key.name }), 'ok');
  } catch (err) { showError(err); }
  await load();
}

async function deleteKey(key) {
  if (!(await confirmBox(t('keys.delete_confirm', { name: key.name }), { confirmLabel: t('common.delete') }))) return;
  try {
    await api('/admin/api/keys/delete', { method: 'POST', json: { id: key.id } });
    toast(t('keys.deleted', { name: key.name }), 'ok');
  } catch (err) { showError(err); }
  await load();
}

$('#key-search').addEventListener('input', debounce((e) => { state.q = e.target.value.trim(); state.page = 1; load(); }, 250));
$('#key-sort').addEventListener('change', (e) => { state.sort = e.target.value; state.page = 1; load(); });
$('#key-new').addEventListener('click', () => createKey().catch(showError));
load();
