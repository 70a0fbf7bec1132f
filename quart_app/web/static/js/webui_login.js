// The WebUI's login: the key is checked against /webui/api/verify and kept in this tab's
// sessionStorage (never a cookie); with no key configured the page goes straight on.
import { api, ApiFailure, boot, t } from './core.js';
import { saveKey } from './webui_access.js';

const form = document.getElementById('webui-login-form');
const input = document.getElementById('webui-key');
const error = document.getElementById('webui-login-error');
const submit = document.getElementById('webui-login-submit');

function next() {
  const target = new URLSearchParams(location.search).get('next') || '';
  return /^\/webui\/[a-z]+$/.test(target) ? target : '/webui/chat';
}

async function verify(key) {
  boot.bearer = key || undefined;
  await api('/webui/api/verify');
  saveKey(key);
  location.assign(next());
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  error.hidden = true;
  submit.disabled = true;
  try {
    await verify(input.value.trim());
  } catch (err) {
    error.textContent = err instanceof ApiFailure && err.status ? err.message : t('common.network_error');
    error.hidden = false;
    input.select();
  } finally {
    submit.disabled = false;
  }
});

// no key needed (app.webui_key empty): nothing to type
verify('').catch(() => {});
