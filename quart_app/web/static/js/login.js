// The login page: trade the admin secret for a session cookie, then go where the reader was
// headed (or to the first-run setup while the secret is the shipped default).
import { api, ApiFailure, boot, t } from './core.js';

const form = document.getElementById('login-form');
const error = document.getElementById('login-error');
const submit = document.getElementById('login-submit');

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  error.hidden = true;
  submit.disabled = true;
  try {
    const answer = await api('/admin/api/login', { method: 'POST', json: { app_key: form.app_key.value } });
    location.assign(answer.setup_required ? '/admin/setup' : boot.next);
  } catch (err) {
    error.textContent = err instanceof ApiFailure && err.status ? err.message : t('common.network_error');
    error.hidden = false;
    form.app_key.select();
  } finally {
    submit.disabled = false;
  }
});
