// Meeting links: create (password or none, expiry, waiting room, cap), list, revoke. Like `castellan link
// create`, the end-to-end secret is made here and put only in the link's #fragment: it never reaches a server.
// So does the tenant's recorder public key (`r=`, docs/recording.md "Handing the link secret to the recorder"):
// typed or pasted by the admin and remembered in this browser only — were it fetched from a server, that server
// could put its own key there and have members hand it the meeting's secrets.
import { enc } from './api.js';
import { $, el, replace, warnings } from './dom.js';
import { iso } from './format.js';

function e2eeSecret() {
  const raw = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...raw)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function state(l, now) {
  if (l.revoked) return 'Revoked';
  if (l.expires_at !== null && l.expires_at <= now) return 'Expired';
  return 'Active';
}

function copyable(label, value, id) {
  const input = el('input', { id, value, readonly: true, spellcheck: 'false' });
  const button = el('button', { type: 'button', onclick: async () => {
    input.select();
    try { await navigator.clipboard.writeText(value); button.textContent = 'Copied'; } catch (e) { button.textContent = 'Select and copy'; }
  } }, 'Copy');
  return [el('dt', {}, el('label', { for: id }, label)), el('dd', {}, input, button)];
}

const RECORDER_KEY_RE = /^[A-Za-z0-9_-]{43}$/;
const recorderKeyItem = (tenant) => `castellan.console.recorderKey.${tenant}`;

function storedRecorderKey(tenant) {
  try { return localStorage.getItem(recorderKeyItem(tenant)) || ''; } catch (e) { return ''; }
}

function storeRecorderKey(tenant, key) {
  try {
    if (key) localStorage.setItem(recorderKeyItem(tenant), key);
    else localStorage.removeItem(recorderKeyItem(tenant));
  } catch (e) { /* private mode: typed again next time */ }
}

async function list(ctx) {
  const { links } = await ctx.api.json('GET', `/v1/tenants/${enc(ctx.tenant)}/links`);
  const now = Date.now() / 1000;
  const rows = links.sort((a, b) => b.created - a.created).map((l) => {
    const st = state(l, now);
    const revoke = st === 'Revoked' ? null : el('button', { type: 'button', class: 'danger',
      'aria-label': `Revoke ${l.title}`, onclick: () => revokeLink(ctx, l) }, 'Revoke');
    return el('tr', { 'data-link': l.link },
      el('td', {}, l.title), el('td', {}, iso(l.created)), el('td', {}, iso(l.expires_at)),
      el('td', {}, l.password_required ? 'Yes' : 'None'), el('td', {}, l.lobby ? 'Yes' : 'No'),
      el('td', {}, l.max_participants ?? '—'), el('td', { class: `state-${st.toLowerCase()}` }, st),
      el('td', {}, revoke));
  });
  replace($('link-rows'), rows.length ? rows : el('tr', {}, el('td', { colspan: 8, class: 'muted' }, 'No link yet.')));
}

async function revokeLink(ctx, l) {
  const end = window.confirm(`Revoke "${l.title}"? Nobody can join with it any more.\n\nOK: revoke and end its running meeting now. Cancel: keep it.`);
  if (!end) return;
  try {
    const r = await ctx.api.json('POST', `/v1/tenants/${enc(ctx.tenant)}/links/${enc(l.link)}/revoke`, { end_meeting: true });
    ctx.status(`Revoked "${l.title}"` + (r.meeting_ended === true ? '; its meeting was ended.' : '.'));
  } catch (e) {
    ctx.status(e.message, true);
  }
  await list(ctx);
}

export async function render(ctx) {
  $('link-created').hidden = true;
  replace($('link-warnings'));
  await list(ctx);
  const noPassword = $('link-no-password');
  const recorderKey = $('link-recorder-key');
  recorderKey.value = storedRecorderKey(ctx.tenant);
  noPassword.onchange = () => { $('link-password').disabled = noPassword.checked; };
  $('link-form').onsubmit = async (ev) => {
    ev.preventDefault();
    $('link-error').textContent = '';
    const title = $('link-title').value.trim();
    if (!title) { $('link-error').textContent = 'Give the meeting a title.'; $('link-title').focus(); return; }
    const r = recorderKey.value.trim();
    if (r && !RECORDER_KEY_RE.test(r)) { // checked before anything is created
      $('link-error').textContent = 'The recorder public key is 43 base64url characters, as castellan recorder-key new prints it.';
      recorderKey.focus();
      return;
    }
    const body = { title, lobby: $('link-lobby').checked };
    if (noPassword.checked) body.no_password = true;
    else if ($('link-password').value) body.password = $('link-password').value;
    if ($('link-expires').value) body.expires_in = Number($('link-expires').value);
    if ($('link-cap').value) body.max_participants = Number($('link-cap').value);
    let rec;
    try {
      rec = await ctx.api.json('POST', `/v1/tenants/${enc(ctx.tenant)}/links`, body);
    } catch (e) {
      $('link-error').textContent = e.message;
      return;
    }
    storeRecorderKey(ctx.tenant, r);
    const fragment = `k=${e2eeSecret()}` + (r ? `&r=${r}` : '');
    const items = [
      ...copyable('Join link', `${rec.url}#${fragment}`, 'created-join'),
      ...copyable('Host link (keep private: it admits from the waiting room)', `${rec.url}#${fragment}&h=${rec.host_key}`, 'created-host'),
    ];
    if (rec.password) items.push(...copyable('Password (generated; shown once)', rec.password, 'created-password'));
    else items.push(el('dt', {}, 'Password'), el('dd', {}, rec.password_required ? 'As you typed it' : 'None'));
    replace($('link-created-list'), items);
    $('link-created').hidden = false;
    replace($('link-warnings'), warnings(rec.warnings));
    $('link-form').reset();
    recorderKey.value = r; // the tenant's, for its next link too
    $('link-password').disabled = false;
    $('link-created').focus();
    ctx.status(`Link "${rec.title}" created.`);
    await list(ctx);
  };
}
