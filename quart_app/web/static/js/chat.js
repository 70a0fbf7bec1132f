// The chat page (/webui/chat, and /admin/chat for a logged-in admin): models grouped by
// capability, a streamed answer with the reasoning apart (collapsible), generated images and
// videos inline, stop, retry the last answer. Tool-free: the page never sends tools.
// Model output is rendered by markdown.js (text nodes only).
import { api, ApiFailure, fill, h, showError, t, toast } from './core.js';
import { renderMarkdown } from './markdown.js';
import { checkAccess, handleRefusal } from './webui_access.js';

const CAPABILITIES = ['chat', 'image', 'video', 'image_edit'];
const MODEL_STORE = 'grok2api.chat_model';

const log = document.getElementById('chat-log');
const empty = document.getElementById('chat-empty');
const form = document.getElementById('chat-form');
const prompt = document.getElementById('chat-prompt');
const modelSelect = document.getElementById('chat-model');
const sendBtn = document.getElementById('chat-send');
const stopBtn = document.getElementById('chat-stop');
const retryBtn = document.getElementById('chat-retry');

/** The conversation as sent: [{role, content}] (answers only once complete). */
let history = [];
let running = null; // the AbortController of the answer being streamed

async function loadModels() {
  const { data } = await api('/webui/api/models');
  const groups = new Map(CAPABILITIES.map((c) => [c, []]));
  for (const m of data) {
    if (m.capability === 'image_edit') continue; // needs an uploaded image: not on this page
    (groups.get(m.capability) || groups.set(m.capability, []).get(m.capability)).push(m);
  }
  const saved = localStorage.getItem(MODEL_STORE);
  fill(modelSelect, [...groups].filter(([, ms]) => ms.length).map(([cap, ms]) => h('optgroup',
    { label: t(`chat.cap_${cap}`) }, ms.map((m) => h('option', { value: m.id, selected: m.id === saved }, m.id)))));
}

function scrollDown() {
  log.scrollTop = log.scrollHeight;
}

function bubble(role) {
  empty.hidden = true;
  const body = h('div', { class: 'msg-body' });
  const el = h('article', { class: `msg ${role}` }, h('div', { class: 'msg-role muted small' }, t(`chat.role_${role}`)), body);
  log.append(el);
  return { el, body };
}

function userMessage(text) {
  const { body } = bubble('user');
  body.append(h('p', { class: 'plain' }, text)); // what the user typed, as typed
}

/** The assistant's bubble: a collapsible reasoning block, the answer, a status line. */
function answerView() {
  const { el, body } = bubble('assistant');
  const reasoningText = h('div', { class: 'reasoning-text' });
  const reasoning = h('details', { class: 'reasoning', open: true, hidden: true },
    h('summary', {}, t('chat.reasoning')), reasoningText);
  const answer = h('div', { class: 'answer' });
  const status = h('p', { class: 'msg-status muted small' }, t('chat.waiting'));
  body.append(reasoning, answer, status);
  let text = '';
  let thought = '';
  let pending = false;
  const paint = () => {
    pending = false;
    fill(reasoningText, thought);
    fill(answer, renderMarkdown(text));
    scrollDown();
  };
  return {
    el,
    reasoning(piece) {
      thought += piece;
      reasoning.hidden = false;
      if (!pending) { pending = true; requestAnimationFrame(paint); }
    },
    content(piece) {
      if (!text && thought) reasoning.open = false; // the answer began: fold the reasoning
      text += piece;
      if (!pending) { pending = true; requestAnimationFrame(paint); }
    },
    done(note, kind = '') {
      paint();
      status.className = `msg-status small ${kind || 'muted'}`;
      fill(status, note);
    },
    get text() { return text; },
  };
}

/** Read an OpenAI chat SSE stream; `onChunk` gets each parsed data object. */
async function readStream(response, onChunk) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      for (const line of frame.split('\n')) {
        if (!line.startsWith('data:')) continue;
        const data = line.slice(5).trim();
        if (data === '[DONE]') return;
        onChunk(JSON.parse(data));
      }
    }
  }
}

function setRunning(on) {
  stopBtn.hidden = !on;
  sendBtn.disabled = on;
  retryBtn.hidden = on || !history.length;
  modelSelect.disabled = on;
}

async function answer() {
  const view = answerView();
  const controller = new AbortController();
  running = controller;
  setRunning(true);
  const model = modelSelect.value;
  try {
    const response = await api('/webui/api/chat/completions', {
      method: 'POST', raw: true, signal: controller.signal,
      json: { model, stream: true, thinking: 'enabled', messages: history },
    });
    let failure = null;
    await readStream(response, (chunk) => {
      if (chunk.error) { failure = chunk.error; return; }
      const delta = chunk.choices?.[0]?.delta || {};
      if (delta.reasoning_content) view.reasoning(delta.reasoning_content);
      if (delta.content) view.content(delta.content);
    });
    if (failure) throw new ApiFailure(failure.status || 502, failure.message, failure.code);
    history.push({ role: 'assistant', content: view.text });
    view.done(model);
  } catch (err) {
    if (err.name === 'AbortError') {
      if (view.text) history.push({ role: 'assistant', content: view.text });
      view.done(t('chat.stopped'), 'warn');
    } else {
      if (handleRefusal(err)) return;
      view.done(err instanceof ApiFailure ? err.message : String(err.message || err), 'bad');
      view.el.classList.add('failed');
      showError(err);
    }
  } finally {
    running = null;
    setRunning(false);
    prompt.focus();
  }
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  const text = prompt.value.trim();
  if (!text || running) return;
  if (!modelSelect.value) { toast(t('chat.no_model'), 'error'); return; }
  prompt.value = '';
  history.push({ role: 'user', content: text });
  userMessage(text);
  scrollDown();
  answer();
});

prompt.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    form.requestSubmit();
  }
});

stopBtn.addEventListener('click', () => running?.abort());

retryBtn.addEventListener('click', () => {
  if (running) return;
  // drop the last answer (and any failed attempt after the last question), ask again
  while (history.length && history[history.length - 1].role === 'assistant') history.pop();
  const views = [...log.querySelectorAll('.msg')];
  for (let i = views.length - 1; i >= 0 && views[i].classList.contains('assistant'); i -= 1) views[i].remove();
  if (history.length) answer();
});

document.getElementById('chat-new').addEventListener('click', () => {
  running?.abort();
  history = [];
  fill(log, empty);
  empty.hidden = false;
  setRunning(false);
});

modelSelect.addEventListener('change', () => localStorage.setItem(MODEL_STORE, modelSelect.value));

(async () => {
  if (!(await checkAccess())) return;
  await loadModels();
  setRunning(false);
})().catch((err) => { if (!handleRefusal(err)) showError(err); });
