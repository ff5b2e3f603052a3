// The console's shell: sign-in with an admin key (kept in this tab's sessionStorage only), the tenant it may
// manage (a tenant key: its own; the operator key: any), and the sections, one per #hash.
import { Api, ApiFailure } from './api.js';
import * as audit from './audit.js';
import { $, el, replace } from './dom.js';
import * as links from './links.js';
import * as meetings from './meetings.js';
import * as recordings from './recordings.js';
import * as regions from './regions.js';
import * as subjects from './subjects.js';

const SECTIONS = { regions, links, meetings, recordings, subjects, audit };
const STORE = 'castellan-admin-key';
let ctx = null;

function status(message, bad = false) {
  const s = $('status');
  s.textContent = message;
  s.classList.toggle('bad', bad);
}

function closePlayer() {  // a recording plays only while its section is shown and someone is signed in
  if ($('player').open) $('player').close();
  if ($('erase-dialog').open) $('erase-dialog').close();  // nor is an erasure confirmed for another tenant
}

async function show() {
  closePlayer();
  const name = (location.hash || '#regions').slice(1);
  const section = SECTIONS[name] ? name : 'regions';
  for (const id of Object.keys(SECTIONS)) $(id).hidden = id !== section;
  for (const a of document.querySelectorAll('nav.tabs a')) {
    if (a.dataset.tab === section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  status('');
  try {
    await SECTIONS[section].render(ctx);
  } catch (e) {
    if (e instanceof ApiFailure && e.status === 401) { signOut('Your key is no longer valid; sign in again.'); return; }
    status(e.message, true);
  }
}

function signOut(message = '') {
  closePlayer();
  sessionStorage.removeItem(STORE);
  ctx = null;
  $('console-view').hidden = true;
  $('sign-in-view').hidden = false;
  $('who').hidden = true;
  $('sign-out').hidden = true;
  $('sign-in-error').textContent = message;
  $('key').value = '';
  $('key').focus();
}

async function signIn(key) {
  const api = new Api(key);
  const { tenants } = await api.json('GET', '/v1/tenants');
  if (!tenants.length) throw new ApiFailure(403, 'no_tenant', 'This key manages no tenant yet.');
  sessionStorage.setItem(STORE, key);
  const pick = $('tenant-pick');
  replace(pick, tenants.map((t) => el('option', { value: t.tenant }, `${t.name} (${t.tenant})`)));
  pick.hidden = tenants.length < 2;
  ctx = { api, tenant: tenants[0].tenant, status };
  pick.onchange = () => { ctx.tenant = pick.value; show(); };
  $('who').textContent = tenants.length > 1 ? `Operator · ${tenants.length} tenants` : `${tenants[0].name}`;
  $('who').hidden = false;
  $('sign-out').hidden = false;
  $('sign-in-view').hidden = true;
  $('console-view').hidden = false;
  await show();
}

$('sign-in').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('sign-in-error').textContent = '';
  const key = $('key').value.trim();
  if (!key) { $('sign-in-error').textContent = 'Paste your admin key.'; return; }
  try {
    await signIn(key);
  } catch (e) {
    $('sign-in-error').textContent = e.code === 'unauthenticated' ? 'This key is unknown or revoked.' : e.message;
  }
});
$('sign-out').addEventListener('click', () => signOut());
window.addEventListener('hashchange', () => { if (ctx) show(); });

const kept = sessionStorage.getItem(STORE);
if (kept) signIn(kept).catch(() => signOut());
