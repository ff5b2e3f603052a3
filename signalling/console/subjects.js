// Data subjects: a GDPR request about one participant. Find them by id or display name among the tenant's
// recordings (the listing names each recording's participants), see what is held about them (the recordings
// they are in, their tracks, the legal holds that keep any of it), export it (the API's subject export: their
// tracks, their chat and timeline lines, the audit records naming them, as a .tar) and erase it, after a
// confirmation in which the admin types the participant's id. The API refuses an erasure whole while a hold
// covers any of their recordings (409 legal_hold, nothing erased): the page says so before, and shows the
// refusal plainly. Every export and erasure (and its refusal) is audited with this key as the actor.
import { enc } from './api.js';
import { $, download, el, replace } from './dom.js';
import { iso, size } from './format.js';
import { listed } from './recordings.js';

const base = (ctx) => `/v1/tenants/${enc(ctx.tenant)}`;
const MAX_ROWS = 200;
let shown = null;  // {ctx, subject}: the participant whose details are on screen

/** Every participant of the recordings: id -> {id, names, recordings}. */
export function subjects(recordings) {
  const out = new Map();
  for (const r of recordings) {
    for (const [id, name] of Object.entries(r.participants || {})) {
      if (!out.has(id)) out.set(id, { id, names: [], recordings: [] });
      const s = out.get(id);
      if (name && !s.names.includes(name)) s.names.push(name);
      s.recordings.push(r);
    }
  }
  return out;
}

/** Those the query names: the exact id, or a part of a display name or id (case does not matter). */
export function matching(all, query) {
  const q = query.trim().toLowerCase();
  const list = [...all.values()];
  if (!q) return list;
  const exact = list.filter((s) => s.id.toLowerCase() === q);
  if (exact.length) return exact;
  return list.filter((s) => s.id.toLowerCase().includes(q) || s.names.some((n) => n.toLowerCase().includes(q)));
}

const label = (s) => (s.names.length ? `${s.names.join(' / ')} (${s.id})` : s.id);

async function load(ctx) {
  const [{ recordings }, { holds }] = await Promise.all([
    ctx.api.json('GET', `${base(ctx)}/recordings`),
    ctx.api.json('GET', `${base(ctx)}/recording-holds`),
  ]);
  return { all: subjects(recordings), holds: new Map(holds.map((h) => [h.hold, h])) };
}

function holdText(holds, id) {
  const h = holds.get(id);
  return h ? `${id} (${h.scope} ${h.target}: ${h.reason})` : id;
}

function verdict(text, good) {
  const v = $('subject-verdict');
  v.className = `verdict ${good ? 'ok' : 'bad'}`;
  v.textContent = text;
}

function detail(ctx, s, holds) {
  shown = { ctx, subject: s };
  const held = [...new Set(s.recordings.flatMap((r) => r.held_by))];
  $('subject-title').textContent = label(s);
  $('subject-summary').textContent = `In ${s.recordings.length} recording${s.recordings.length > 1 ? 's' : ''}: `
    + 'their own audio and video tracks below, and their lines in each recording\'s chat and timeline.';
  const note = $('subject-held-note');
  note.hidden = held.length === 0;
  note.textContent = held.length
    ? `Erasure will be refused: legal hold ${held.map((h) => holdText(holds, h)).join(', ')} covers `
      + `${s.recordings.filter((r) => r.held_by.length).length} of their recordings, and nothing is erased while a `
      + 'hold applies. Export is still possible. A hold is released on the Recordings page when the case allows.'
    : '';
  replace($('subject-recordings'), s.recordings.map((r) => {
    // their tracks as the Recordings page lists them: a segmented track once, with its number of segments
    const mine = listed(r).filter((t) => t.participant === s.id);
    return el('tr', { 'data-recording': r.id },
      el('td', {}, r.meeting, el('span', { class: 'sub' }, r.id)),
      el('td', {}, iso(r.started_at)),
      el('td', {}, mine.length
        ? el('ul', { class: 'plain' }, mine.map((t) => el('li', {}, [t.name, t.kind,
          ...(t.part !== null ? [`${t.pieces.length} segment${t.pieces.length === 1 ? '' : 's'}`] : []),
          size(t.pieces.reduce((n, p) => n + p.file.size, 0))].join(' · '))))
        : el('span', { class: 'muted' }, 'No track of theirs')),
      el('td', {}, r.held_by.length
        ? el('span', { class: 'held' }, `Held: ${r.held_by.map((h) => holdText(holds, h)).join(', ')}`)
        : el('span', { class: 'muted' }, 'Not held')));
  }));
  $('subject-detail').hidden = false;
}

async function find(ctx) {
  $('subject-find-error').textContent = '';
  const { all, holds } = await load(ctx);
  const query = $('subject-query').value;
  const found = matching(all, query);
  $('subject-count').textContent = found.length
    ? `${found.length} participant${found.length > 1 ? 's' : ''}${found.length > MAX_ROWS ? `; the first ${MAX_ROWS} shown, narrow the search` : ''}.`
    : (query.trim() ? `No participant of this tenant's recordings matches "${query.trim()}".`
      : 'No recording holds any participant.');
  replace($('subject-rows'), found.slice(0, MAX_ROWS).map((s) => el('tr', { 'data-participant': s.id },
    el('td', {}, s.names.join(' / ') || '—'), el('td', {}, el('code', {}, s.id)),
    el('td', { class: 'count' }, String(s.recordings.length)),
    el('td', {}, el('button', { type: 'button', 'aria-label': `Show what is held about ${label(s)}`,
      onclick: () => { detail(ctx, s, holds); $('subject-detail').focus(); } }, 'Show')))));
  if (found.length === 1) detail(ctx, found[0], holds);
  else $('subject-detail').hidden = true;
}

async function exportSubject() {
  const { ctx, subject: s } = shown;
  verdict(`Exporting what is held about ${s.id}…`, true);
  try {
    const res = await ctx.api.request('GET', `${base(ctx)}/recording-subjects/${enc(s.id)}/export`);
    download(await res.blob(), `subject-${s.id}.tar`);
    verdict(`Exported ${s.id}: the .tar holds their tracks, their chat and timeline lines and the audit records `
      + 'naming them (index.json lists them).', true);
  } catch (e) {
    verdict(`Export failed: ${e.message}`, false);
  }
}

function askErase() {
  const { subject: s } = shown;
  const files = s.recordings.reduce((n, r) => n + r.files.filter((f) => f.participant === s.id).length, 0);
  $('erase-what').textContent = `Everything held about ${label(s)} is erased: ${files} track file${files === 1 ? '' : 's'} `
    + `deleted and their chat and timeline lines removed, in ${s.recordings.length} recording`
    + `${s.recordings.length === 1 ? '' : 's'}. This cannot be undone. The erasure is recorded in the audit log.`;
  $('erase-confirm-label').textContent = `Type the participant id ${s.id} to confirm`;
  $('erase-confirm').value = '';
  $('erase-error').textContent = '';
  $('erase-dialog').showModal();
  $('erase-confirm').focus();
}

async function erase(ev) {
  ev.preventDefault();
  const { ctx, subject: s } = shown;
  if ($('erase-confirm').value.trim() !== s.id) {
    $('erase-error').textContent = `Type ${s.id} exactly to confirm, or Cancel.`;
    $('erase-confirm').focus();
    return;
  }
  $('erase-dialog').close();
  try {
    const out = await ctx.api.json('POST', `${base(ctx)}/recording-subjects/${enc(s.id)}/erase`, {});
    verdict(`Erased ${s.id} from ${out.erased.length} recording${out.erased.length === 1 ? '' : 's'}`
      + `${out.erased.length ? `: ${out.erased.join(', ')}` : ''}. Nothing of theirs is held in recordings now.`, true);
    await find(ctx);
  } catch (e) {
    verdict(e.code === 'legal_hold' ? `Refused: ${e.message}.` : `Erasure failed: ${e.message}`, false);
  }
}

export async function render(ctx) {
  shown = null;
  $('subject-detail').hidden = true;
  replace($('subject-rows'));
  $('subject-count').textContent = '';
  $('subject-verdict').textContent = '';
  $('subject-find').onsubmit = (ev) => {
    ev.preventDefault();
    $('subject-verdict').textContent = '';
    find(ctx).catch((e) => { $('subject-find-error').textContent = e.message; });
  };
  $('subject-export').onclick = exportSubject;
  $('subject-erase').onclick = askErase;
  $('erase-form').onsubmit = erase;
  $('erase-cancel').onclick = () => $('erase-dialog').close();
  try {
    await find(ctx);  // everyone the recordings hold, until a search narrows it
    $('subjects-off').hidden = true;
    $('subjects-body').hidden = false;
  } catch (e) {
    if (e.code !== 'recording_not_configured') throw e;
    $('subjects-off').hidden = false;  // this deployment keeps no recordings
    $('subjects-body').hidden = true;
  }
}
