// The imagine page (/webui/imagine, /webui/masonry, and /admin/imagine): a prompt, an aspect
// ratio and a count, then a waterfall of images arriving over /webui/api/imagine/ws as they
// are drawn — a placeholder with its progress per slot first, the image in its place once
// done. Newest run first; stop ends the run.
import { fill, h, showError, t, toast } from './core.js';
import { checkAccess, handleRefusal, socketUrl } from './webui_access.js';

const form = document.getElementById('imagine-form');
const promptInput = document.getElementById('imagine-prompt');
const promptError = document.getElementById('imagine-prompt-error');
const ratio = document.getElementById('imagine-ratio');
const count = document.getElementById('imagine-count');
const quality = document.getElementById('imagine-quality');
const startBtn = document.getElementById('imagine-start');
const stopBtn = document.getElementById('imagine-stop');
const grid = document.getElementById('imagine-grid');
const empty = document.getElementById('imagine-empty');
const status = document.getElementById('imagine-status');

let socket = null;
let runId = null;
const tiles = new Map(); // image_id → {el, bar}

function setRunning(on) {
  startBtn.disabled = on;
  stopBtn.hidden = !on;
}

function say(text) {
  fill(status, text);
}

/** The socket, opened on first use and again after it closed. */
function connect() {
  if (socket && socket.readyState <= WebSocket.OPEN) return Promise.resolve(socket);
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(socketUrl('/webui/api/imagine/ws'));
    ws.addEventListener('open', () => { socket = ws; resolve(ws); }, { once: true });
    ws.addEventListener('message', (event) => onFrame(JSON.parse(event.data)));
    ws.addEventListener('close', () => {
      if (socket === ws) socket = null;
      if (runId) { runId = null; setRunning(false); say(t('imagine.lost')); }
      reject(new Error(t('imagine.refused')));
    });
  });
}

function ratioClass(value) {
  return `ratio-${value.replace(':', 'x')}`;
}

function placeholder(run, order, aspect) {
  const bar = h('span');
  const label = h('span', { class: 'tile-label small muted' }, t('imagine.waiting'));
  const el = h('figure', { class: ['tile', 'pending', ratioClass(aspect)], dataset: { order: String(order) } },
    h('div', { class: 'tile-wait' }, label, h('div', { class: 'progress' }, bar)));
  tiles.set(`${run}-${order}`, { el, bar, label });
  return el;
}

function onRunning(frame) {
  runId = frame.run_id;
  setRunning(true);
  empty.hidden = true;
  say(t('imagine.running', { n: frame.count }));
  const cards = [];
  for (let i = 0; i < frame.count; i += 1) cards.push(placeholder(frame.run_id, i, frame.aspect_ratio));
  grid.prepend(...cards);
}

function onProgress(frame) {
  const tile = tiles.get(frame.image_id);
  if (!tile || !tile.el.classList.contains('pending')) return;
  tile.bar.style.width = `${frame.progress}%`;
  fill(tile.label, `${frame.progress}%`);
}

function onImage(frame) {
  const tile = tiles.get(frame.image_id);
  const url = new URL(frame.url, location.href);
  if (url.origin !== location.origin) return; // only the gateway's own copies are shown
  const img = h('img', { src: url.href, alt: t('imagine.image_alt'), loading: 'lazy' });
  const link = h('a', { href: url.href, target: '_blank', rel: 'noopener noreferrer' }, img);
  if (tile) {
    tile.el.classList.remove('pending');
    tile.el.classList.add('done');
    fill(tile.el, link);
  }
}

function onModerated(frame) {
  const tile = tiles.get(frame.image_id);
  if (!tile) return;
  tile.el.classList.remove('pending');
  tile.el.classList.add('withheld');
  fill(tile.el, h('div', { class: 'tile-wait' }, h('span', { class: 'small warn' }, t('imagine.withheld'))));
}

function finishRun(frame) {
  if (frame.run_id && frame.run_id !== runId) return;
  runId = null;
  setRunning(false);
  // slots that never came (stopped, failed) stop waiting
  for (const tile of tiles.values()) {
    if (tile.el.classList.contains('pending')) {
      tile.el.classList.remove('pending');
      tile.el.classList.add('missing');
      fill(tile.label, t('imagine.missing'));
    }
  }
  say(frame.status === 'stopped' ? t('imagine.stopped') : t('imagine.completed', { n: frame.count ?? 0 }));
}

function onFrame(frame) {
  switch (frame.type) {
    case 'status':
      if (frame.status === 'running') onRunning(frame);
      else finishRun(frame);
      break;
    case 'progress': onProgress(frame); break;
    case 'image': onImage(frame); break;
    case 'moderated': onModerated(frame); break;
    case 'error':
      if (frame.param === 'prompt') {
        promptError.textContent = frame.message;
        promptError.hidden = false;
      } else {
        toast(frame.message, 'error');
      }
      break;
    default: break;
  }
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  promptError.hidden = true;
  const text = promptInput.value.trim();
  if (!text) {
    promptError.textContent = t('imagine.prompt_needed');
    promptError.hidden = false;
    return;
  }
  try {
    const ws = await connect();
    ws.send(JSON.stringify({ type: 'start', prompt: text, aspect_ratio: ratio.value,
      count: Number(count.value), quality: quality.value }));
  } catch (err) {
    showError(err);
  }
});

stopBtn.addEventListener('click', () => socket?.send(JSON.stringify({ type: 'stop' })));

document.getElementById('imagine-clear').addEventListener('click', () => {
  grid.replaceChildren();
  tiles.clear();
  empty.hidden = false;
  say('');
});

checkAccess().catch((err) => { if (!handleRefusal(err)) showError(err); });
