// First run: the admin secret is still the shipped default, which everyone knows. The
// operator chooses a new one here; the page also says what else a fresh deploy should check.
import { api, boot, fill, fmt, randomSecret, showError, t } from './core.js';

const form = document.getElementById('setup-form');
const input = document.getElementById('new-key');
const error = document.getElementById('setup-error');

async function showFacts() {
  const state = await api('/admin/api/setup');
  fill(document.getElementById('fact-storage'),
    state.storage_persistent ? t('setup.storage_persistent', { type: state.storage })
      : t('setup.storage_local', { type: state.storage }));
  fill(document.getElementById('fact-app-url'), state.app_url || t('setup.app_url_unset'));
  fill(document.getElementById('fact-accounts'), fmt.number(state.accounts));
  if (!state.app_key_settable) {
    document.getElementById('setup-env').hidden = false;
    form.hidden = true;
  }
  if (!state.app_key_default && !boot.pending) location.assign('/admin/account');
}

document.getElementById('generate').addEventListener('click', () => {
  input.value = randomSecret(32);
  input.select();
});

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  error.hidden = true;
  try {
    await api('/admin/api/setup/app_key', { method: 'POST', json: { app_key: input.value } });
    location.assign('/admin/account');
  } catch (err) {
    error.textContent = err.message;
    error.hidden = false;
  }
});

showFacts().catch(showError);
