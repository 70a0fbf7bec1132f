// The config page, generated from GET /admin/api/config (the option declarations): one card
// per settings table, the help text beside each field, the input its type asks for (switch,
// number, choice, text, a write-only secret with a generator, a textarea for lists). Keys a
// GROK_* variable sets are read-only and name it. Changes are collected here (the unsaved
// bar counts them) and saved in one POST, which the server judges all or nothing; its
// complaint lands on the field it names. A new admin secret ends the session: to the login.
import { $, api, ApiFailure, fill, h, randomSecret, showError, t, toast } from './core.js';

/** key → the value to send, for every field that differs from what was loaded. */
const changes = new Map();
let loaded = null;

const LIST_TYPES = new Set(['string_list', 'int_list']);

function sourceChip(option) {
  if (option.source === 'env') return h('span', { class: 'chip src-env' }, option.env || 'env');
  return h('span', { class: `chip src-${option.source}` }, t(`config.source_${option.source}`));
}

function listText(value) {
  return (value ?? []).join('\n');
}

/** What an input holds, as the value to send: lists split on newlines and commas, numbers
 *  as numbers (anything else as typed, for the server to name what is wrong). */
function valueOf(option, input) {
  if (option.type === 'bool') return input.checked;
  if (LIST_TYPES.has(option.type)) {
    return input.value.split(/[\n,]+/).map((s) => s.trim()).filter(Boolean);
  }
  if (option.type === 'int' || option.type === 'float') {
    const text = input.value.trim();
    const n = Number(text);
    return text && Number.isFinite(n) ? n : text;
  }
  return input.value;
}

function same(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

function setChanged(option, row, value) {
  if (value === undefined) changes.delete(option.key);
  else changes.set(option.key, value);
  row.classList.toggle('changed', changes.has(option.key));
  clearError(row);
  showBar();
}

function inputFor(option, row) {
  const id = `cfg-${option.key.replaceAll('.', '-')}`;
  const readOnly = option.source === 'env';
  const track = (input) => {
    const handler = () => {
      const value = valueOf(option, input);
      setChanged(option, row, same(value, option.value) ? undefined : value);
    };
    input.addEventListener(option.type === 'bool' || option.choices.length ? 'change' : 'input', handler);
    return input;
  };
  if (option.secret) return secretInput(option, row, id, readOnly);
  if (option.type === 'bool') {
    return track(h('input', { type: 'checkbox', class: 'switch', id, role: 'switch', checked: Boolean(option.value), disabled: readOnly }));
  }
  if (option.choices.length) {
    return track(h('select', { id, disabled: readOnly },
      option.choices.map((c) => h('option', { value: c, selected: c === option.value }, c))));
  }
  if (option.type === 'int' || option.type === 'float') {
    return track(h('input', {
      type: 'number', id, value: String(option.value), step: option.type === 'int' ? '1' : 'any',
      inputmode: option.type === 'int' ? 'numeric' : 'decimal', readOnly, disabled: readOnly,
    }));
  }
  if (LIST_TYPES.has(option.type)) {
    return track(h('textarea', { id, rows: Math.min(6, Math.max(2, (option.value ?? []).length + 1)), spellcheck: 'false', readOnly, disabled: readOnly }, listText(option.value)));
  }
  return track(h('input', { type: 'text', id, value: option.value ?? '', spellcheck: 'false', readOnly, disabled: readOnly }));
}

/** A secret is never shown: the field says whether it is set (and where a URL points), and
 *  takes a new value, a generated one, or a clear. Empty means "leave it as it is". */
function secretInput(option, row, id, readOnly) {
  const list = LIST_TYPES.has(option.type);
  const isUrl = Array.isArray(option.points_to) || /url|proxy_pool/.test(option.name);
  const status = h('span', { class: ['secret-state', option.set && 'set'] },
    option.set ? t('config.secret_set') : t('config.secret_unset'),
    option.points_to?.length ? ` (${option.points_to.join(', ')})` : '');
  if (readOnly) return h('div', {}, status);
  const placeholder = option.set ? t('config.secret_replace') : t('config.secret_new');
  const input = list
    ? h('textarea', { id, rows: 2, spellcheck: 'false', placeholder, autocomplete: 'off' })
    : h('input', { type: isUrl ? 'text' : 'password', id, placeholder, autocomplete: 'new-password', spellcheck: 'false' });
  input.addEventListener('input', () => {
    setChanged(option, row, input.value.trim() ? valueOf(option, input) : undefined);
  });
  const generate = !isUrl && !list && h('button', {
    type: 'button', class: 'btn small', dataset: { action: 'generate' },
    onclick: () => {
      input.type = 'text'; // a generated secret must be seen to be written down
      input.value = randomSecret(32);
      input.dispatchEvent(new Event('input'));
    },
  }, t('common.generate'));
  const clear = option.set && option.key !== 'app.app_key' && h('button', {
    type: 'button', class: 'btn small', dataset: { action: 'clear' },
    onclick: () => {
      input.value = '';
      setChanged(option, row, list ? [] : '');
      status.textContent = t('config.secret_cleared');
    },
  }, t('config.clear'));
  return h('div', { class: 'stack' }, status, h('div', { class: 'row' }, input, generate, clear));
}

function fieldRow(option) {
  const row = h('div', { class: 'cfg-field', dataset: { key: option.key } });
  const input = inputFor(option, row);
  const labelFor = input.id || input.querySelector?.('input, textarea')?.id;
  fill(row,
    h('div', { class: 'cfg-label' },
      h('label', { for: labelFor }, option.name),
      h('span', { class: 'cfg-key mono' }, option.key),
      h('span', {}, sourceChip(option))),
    h('div', { class: 'cfg-input' }, input,
      option.source === 'env' ? h('span', { class: 'env-note' }, t('config.env_note', { name: option.env || 'GROK_*' })) : null,
      option.help ? h('p', { class: 'help' }, option.help) : null,
      !option.secret && option.source !== 'default' && !same(option.value, option.default)
        ? h('p', { class: 'help' }, t('config.default_is', { value: LIST_TYPES.has(option.type) ? option.default.join(', ') || '[]' : String(option.default) }))
        : null));
  return row;
}

function render(config) {
  loaded = config;
  changes.clear();
  fill($('#cfg-where'), t('config.where', { file: config.file }));
  const sections = new Map();
  for (const option of config.options) {
    if (!sections.has(option.section)) sections.set(option.section, []);
    sections.get(option.section).push(option);
  }
  const names = [...sections.keys()].sort();
  fill($('#cfg-jump'), h('option', { value: '' }, t('config.jump')), names.map((n) => h('option', { value: n }, n)));
  fill($('#cfg-sections'), names.map((name) => h('section', { class: 'card cfg-section', id: `section-${name.replaceAll('.', '-')}`, dataset: { section: name } },
    h('h2', {}, `[${name}]`), sections.get(name).map(fieldRow))));
  applySearch();
  showBar();
}

function showBar() {
  const bar = $('#cfg-unsaved');
  bar.hidden = changes.size === 0;
  fill($('#cfg-unsaved-count'), t('config.unsaved', { n: changes.size }));
}

function clearError(row) {
  row.classList.remove('invalid');
  row.querySelector('.field-error')?.remove();
}

function showFieldError(err) {
  const row = err.param && document.querySelector(`.cfg-field[data-key="${CSS.escape(err.param)}"]`);
  if (!row) {
    showError(err);
    return;
  }
  clearError(row);
  row.classList.add('invalid');
  row.querySelector('.cfg-input').append(h('p', { class: 'field-error', role: 'alert' }, err.message));
  row.scrollIntoView({ block: 'center' });
  row.querySelector('input:not([disabled]), textarea, select')?.focus();
}

async function save() {
  const button = $('#cfg-save');
  button.disabled = true;
  try {
    const answer = await api('/admin/api/config', { method: 'POST', json: Object.fromEntries(changes) });
    if (answer.relogin) { // the new admin secret ended this session
      changes.clear();
      location.assign('/admin/login?next=/admin/config');
      return;
    }
    render(answer);
    toast(t('config.saved', { n: answer.saved.length }), 'ok');
  } catch (err) {
    if (err instanceof ApiFailure && err.status && err.param) showFieldError(err);
    else showError(err);
  } finally {
    button.disabled = false;
  }
}

function applySearch() {
  const needle = $('#cfg-search').value.trim().toLowerCase();
  for (const section of document.querySelectorAll('.cfg-section')) {
    let shown = 0;
    for (const row of section.querySelectorAll('.cfg-field')) {
      const hit = !needle || row.textContent.toLowerCase().includes(needle);
      row.hidden = !hit;
      shown += hit;
    }
    section.hidden = shown === 0;
  }
}

$('#cfg-search').addEventListener('input', applySearch);
$('#cfg-jump').addEventListener('change', (e) => {
  if (e.target.value) document.getElementById(`section-${e.target.value.replaceAll('.', '-')}`)?.scrollIntoView();
});
$('#cfg-save').addEventListener('click', save);
$('#cfg-discard').addEventListener('click', () => render(loaded));
window.addEventListener('beforeunload', (e) => {
  if (changes.size) e.preventDefault();
});

api('/admin/api/config').then(render).catch(showError);
