// The log viewer: pick a file (/admin/api/logs/files, newest first), show its last N lines
// (/admin/api/logs/tail), only those holding a text when one is typed (the server filters
// the tail, so a rare line is found among thousands), and refresh every few seconds when
// asked. Lines are text nodes; the matches are marked, never turned into markup.
import { $, ApiFailure, api, debounce, fill, fmt, h, showError, t } from './core.js';

const AUTO_MS = 5000;
const form = $('#log-form');
const select = $('#log-file');
const linesInput = $('#log-lines');
const filterInput = $('#log-filter');
const auto = $('#log-auto');
const text = $('#log-text');
let timer = null;
let loading = false;

async function loadFiles() {
  const { files } = await api('/admin/api/logs/files');
  const current = select.value;
  fill(select, files.map((f) => h('option', { value: f.name },
    `${f.name} (${fmt.bytes(f.size_bytes)})`)));
  if (files.some((f) => f.name === current)) select.value = current;
  return files;
}

/** `line` with every case-insensitive occurrence of `needle` in a <mark>. */
function marked(line, needle) {
  if (!needle) return line;
  const lower = line.toLowerCase();
  const n = needle.toLowerCase();
  const parts = [];
  let at = 0;
  for (let i = lower.indexOf(n); i !== -1; i = lower.indexOf(n, at)) {
    parts.push(line.slice(at, i), h('mark', { class: 'hit' }, line.slice(i, i + n.length)));
    at = i + n.length;
  }
  parts.push(line.slice(at));
  return parts;
}

function clearError() {
  for (const el of form.querySelectorAll('.invalid')) el.classList.remove('invalid');
}

async function tail() {
  if (loading) return;
  loading = true;
  clearError();
  const q = filterInput.value.trim();
  try {
    const answer = await api('/admin/api/logs/tail', {
      query: { file: select.value || undefined, lines: linesInput.value || undefined, q: q || undefined },
    });
    const stick = text.scrollTop + text.clientHeight >= text.scrollHeight - 4;
    fill(text, answer.lines.length
      ? answer.lines.map((line) => [marked(line, q), '\n'])
      : h('span', { class: 'muted' }, q ? t('logs.no_match') : t('logs.empty')));
    if (stick || !text.dataset.shown) text.scrollTop = text.scrollHeight;
    text.dataset.shown = '1';
    fill($('#log-status'), t(q ? 'logs.status_filtered' : 'logs.status', {
      n: fmt.number(answer.lines.length), file: answer.file,
      time: new Date().toLocaleTimeString(document.documentElement.lang, { hour12: false }),
    }));
    document.body.dataset.loaded = String(Date.now());
  } catch (err) {
    if (err instanceof ApiFailure && err.param) {
      form.querySelector(`[data-param="${CSS.escape(err.param)}"]`)?.classList.add('invalid');
    }
    if (err instanceof ApiFailure && err.code === 'file_not_found' && !select.value) {
      fill(text, h('span', { class: 'muted' }, t('logs.no_files')));
    } else {
      showError(err);
    }
  } finally {
    loading = false;
  }
}

function setAuto(on) {
  clearInterval(timer);
  timer = on ? setInterval(() => { if (!document.hidden) tail(); }, AUTO_MS) : null;
}

form.addEventListener('submit', (e) => { e.preventDefault(); loadFiles().then(tail).catch(showError); });
select.addEventListener('change', tail);
linesInput.addEventListener('change', tail);
filterInput.addEventListener('input', debounce(tail, 300));
auto.addEventListener('change', () => setAuto(auto.checked));

loadFiles().then(tail).catch(showError);
