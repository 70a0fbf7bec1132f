// How the chat and imagine pages reach /webui/api: on the WebUI (area "webui") with the key
// the login page kept in this tab's sessionStorage, sent as a Bearer header (the socket: as
// ?access_token=, since a browser cannot give a WebSocket a header); on the admin's pages with
// the admin session cookie and its CSRF token (core.js api() adds the header itself).
import { api, ApiFailure, boot } from './core.js';

const STORE = 'grok2api.webui_key';
export const onWebui = boot.area === 'webui' || boot.page === 'webui_login';

export function savedKey() {
  return sessionStorage.getItem(STORE) || '';
}

export function saveKey(key) {
  if (key) sessionStorage.setItem(STORE, key);
  else sessionStorage.removeItem(STORE);
}

/** Send the saved key with every api() call of this page. */
export function useSavedKey() {
  if (onWebui) boot.bearer = savedKey() || undefined;
}

function toLogin() {
  location.assign('/webui/login?next=' + encodeURIComponent(location.pathname));
}

/** Check the page may use the API; on the WebUI a refused key leads to the login page. */
export async function checkAccess() {
  useSavedKey();
  try {
    await api('/webui/api/verify');
    return true;
  } catch (err) {
    if (onWebui && err instanceof ApiFailure && err.status === 401) {
      toLogin();
      return false;
    }
    throw err;
  }
}

/** A refused call on the WebUI: the key was changed meanwhile, so log in again. */
export function handleRefusal(err) {
  if (onWebui && err instanceof ApiFailure && err.status === 401) {
    toLogin();
    return true;
  }
  return false;
}

/** The URL of a /webui/api socket, with this page's credentials. */
export function socketUrl(path) {
  const url = new URL(path, location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  if (onWebui) {
    const key = savedKey();
    if (key) url.searchParams.set('access_token', key);
  } else if (boot.csrf) {
    url.searchParams.set('csrf', boot.csrf);
  }
  return url.toString();
}

// the WebUI's log-out forgets the key (nothing else holds it)
document.getElementById('webui-logout')?.addEventListener('click', () => {
  saveKey('');
  location.assign('/webui/login');
});
