// Recordings: the tenant's compliance recordings (meeting, link, regions, participants, times, files), its policy
// and retention, legal holds (place, release), deletion (refused while a hold covers it), playback of an audio or
// video file, and the signed export package (a tar: extract it, then `castellan recording verify DIR
// --public-key KEY`). Every action is audited by the archive, with this key as the actor.
//
// Playback: a <video>/<audio> element cannot send the Bearer key, and the key never goes in a URL. So Play asks
// the API (with the key) for a play ticket — one file, this tenant, minutes; the grant is audited — and gives the
// element the ticket's same-origin media URL, which it fetches and seeks in with Range requests. The browser
// streams the file: nothing is held whole in memory, as fetching it into a Blob would.
import { enc } from './api.js';
import { $, download, el, replace } from './dom.js';
import { iso, size } from './format.js';

const base = (ctx) => `/v1/tenants/${enc(ctx.tenant)}`;

function people(participants) {
  const names = Object.entries(participants || {}).map(([id, name]) => `${name} (${id})`);
  return names.length ? names.join(', ') : '—';
}

const PLAYABLE = new Set(['audio', 'video']);
let playing = null;  // {ctx, r, f, media, renewed, userPaused}

async function ticket(ctx, r, f) {
  return ctx.api.json('POST', `${base(ctx)}/recordings/${enc(r.id)}/files/${enc(f.name)}/play`, {});
}

function stopPlayer() {
  if (!playing) return;
  const { media } = playing;
  playing = null;
  media.pause();
  media.removeAttribute('src');  // stop fetching: the ticket is not used again
  media.load();
  replace($('player-media'));
}

// A ticket lasts minutes; a long playback (or a seek after a pause) may outlive it: one new ticket, then resume
// where the player was. A second failure in a row is shown, not retried.
async function renew(ev) {
  const p = playing;
  if (!p || ev.target !== p.media) return;
  if (p.renewed) {
    $('player-error').textContent = `This file cannot be played here (${p.media.error ? `media error ${p.media.error.code}` : 'error'}). Export the recording to keep it.`;
    return;
  }
  p.renewed = true;
  const at = p.media.currentTime;
  try {
    const t = await ticket(p.ctx, p.r, p.f);
    if (playing !== p) return;
    p.media.addEventListener('loadedmetadata', () => {
      p.media.currentTime = at;
      if (!p.userPaused) p.media.play().catch(() => { /* its controls are there */ });
    }, { once: true });
    p.media.src = t.url;
  } catch (e) {
    $('player-error').textContent = e.message;
  }
}

async function play(ctx, r, f) {
  stopPlayer();
  const dialog = $('player');
  $('player-title').textContent = `${f.name} (${f.kind}) · ${r.meeting}`;
  $('player-note').textContent = `Recording ${r.id}; played from the tenant's vault. This playback is recorded in the audit log.`;
  $('player-error').textContent = '';
  let t;
  try {
    t = await ticket(ctx, r, f);
  } catch (e) {
    ctx.status(e.message, true);
    return;
  }
  const media = el(t.kind === 'video' ? 'video' : 'audio', {
    controls: true, preload: 'auto', 'aria-label': `${f.kind === 'video' ? 'Video' : 'Audio'} of ${f.participant || 'the meeting'}: ${f.name}`,
    'data-file': f.name,
  });
  media.addEventListener('error', renew);
  media.addEventListener('playing', () => { if (playing) playing.renewed = false; });
  // what the admin wants, apart from what an error does to the element: a renewed ticket resumes only a playback
  media.addEventListener('play', () => { if (playing) playing.userPaused = false; });
  media.addEventListener('pause', () => { if (playing && !media.error && !media.ended) playing.userPaused = true; });
  playing = { ctx, r, f, media, renewed: false, userPaused: false };
  replace($('player-media'), media);
  media.src = t.url;
  if (!dialog.open) dialog.showModal();
  media.focus();
  media.play().catch(() => { /* the browser wants a press on the player's own Play: its controls are there */ });
}

function files(ctx, r) {
  return el('ul', { class: 'plain' }, r.files.map((f) => el('li', {}, `${f.name} · ${f.kind} · ${size(f.size)}`,
    PLAYABLE.has(f.kind) ? el('button', { type: 'button', class: 'play', 'data-file': f.name,
      'aria-label': `Play ${f.name} of ${r.meeting}`, onclick: () => play(ctx, r, f) }, 'Play') : null)));
}

async function exportRecording(ctx, r) {
  ctx.status(`Exporting ${r.id}…`);
  try {
    const res = await ctx.api.request('GET', `${base(ctx)}/recordings/${enc(r.id)}/export`);
    download(await res.blob(), `${r.id}.tar`);
    ctx.status(`Exported ${r.id}: extract the .tar and check it with castellan recording verify.`);
  } catch (e) {
    ctx.status(e.message, true);
  }
}

async function deleteRecording(ctx, r) {
  if (!window.confirm(`Delete recording ${r.id} of meeting "${r.meeting}" and all its files? This cannot be undone.`)) return;
  const verdict = $('rec-verdict');
  verdict.className = 'verdict';
  try {
    await ctx.api.json('DELETE', `${base(ctx)}/recordings/${enc(r.id)}`);
    verdict.textContent = `Deleted recording ${r.id}.`;
    verdict.classList.add('ok');
  } catch (e) {
    verdict.classList.add('bad');
    verdict.textContent = e.code === 'legal_hold'
      ? `Refused: ${e.message}.`
      : `Delete failed: ${e.message}`;
  }
  await refresh(ctx);
}

async function releaseHold(ctx, h) {
  if (!window.confirm(`Release legal hold ${h.hold} (${h.scope} ${h.target})? What it covers may then be deleted.`)) return;
  try {
    await ctx.api.json('POST', `${base(ctx)}/recording-holds/${enc(h.hold)}/release`, {});
    ctx.status(`Released hold ${h.hold}.`);
  } catch (e) {
    ctx.status(e.message, true);
  }
  await refresh(ctx);
}

/** A recording whose recorder died mid-meeting and was replaced: its parts and gaps (docs/recording.md). */
function gapsNote(r) {
  const gaps = r.gaps || [];
  if (!gaps.length) return null;
  const secs = gaps.map((g) => g.to_ms === null ? '?' : `${((g.to_ms - g.from_ms) / 1000).toFixed(1)} s`);
  return el('span', { class: 'sub' }, `${(r.parts || []).length} parts, ${gaps.length} gap${gaps.length > 1 ? 's' : ''} (${secs.join(', ')})`);
}

function recordingRow(ctx, r) {
  const held = r.held_by.length
    ? el('span', { class: 'held' }, `Held (${r.held_by.join(', ')})`) : el('span', { class: 'muted' }, 'Not held');
  return el('tr', { 'data-recording': r.id },
    el('td', {}, r.meeting, el('span', { class: 'sub' }, r.id)),
    el('td', {}, r.link ? el('code', {}, `${r.link.slice(0, 10)}…`) : '—'),
    el('td', {}, r.regions.join(', ')),
    el('td', {}, people(r.participants)),
    el('td', {}, iso(r.started_at)),
    el('td', {}, r.ended_at === null ? 'Recording' : iso(r.ended_at), gapsNote(r)),
    el('td', {}, files(ctx, r)),
    el('td', { class: 'rec-actions' }, held,
      el('button', { type: 'button', 'aria-label': `Export ${r.id}`, onclick: () => exportRecording(ctx, r) }, 'Export'),
      el('button', { type: 'button', class: 'danger', 'aria-label': `Delete ${r.id}`,
        onclick: () => deleteRecording(ctx, r) }, 'Delete')));
}

function holdRow(ctx, h) {
  return el('tr', { 'data-hold': h.hold },
    el('td', {}, h.hold), el('td', {}, h.scope), el('td', {}, h.target), el('td', {}, h.reason),
    el('td', {}, h.placed_by, el('span', { class: 'sub' }, iso(h.placed_at))),
    el('td', {}, el('button', { type: 'button', 'aria-label': `Release ${h.hold}`,
      onclick: () => releaseHold(ctx, h) }, 'Release')));
}

async function refresh(ctx) {
  const [policy, { holds }, { recordings }] = await Promise.all([
    ctx.api.json('GET', `${base(ctx)}/recording-policy`),
    ctx.api.json('GET', `${base(ctx)}/recording-holds`),
    ctx.api.json('GET', `${base(ctx)}/recordings`),
  ]);
  $('rec-policy').value = policy.policy;
  $('rec-retention').value = String(policy.retention_days);
  $('rec-policy-now').textContent = `Now: ${policy.policy}; retention ${policy.retention_days
    ? `${policy.retention_days} days after a recording ends` : 'none (kept until an admin deletes)'}.`;
  replace($('hold-rows'), holds.length ? holds.map((h) => holdRow(ctx, h))
    : el('tr', {}, el('td', { colspan: 6, class: 'muted' }, 'No active legal hold.')));
  replace($('recording-rows'), recordings.length
    ? recordings.sort((a, b) => b.started_at - a.started_at).map((r) => recordingRow(ctx, r))
    : el('tr', {}, el('td', { colspan: 8, class: 'muted' }, 'No recording yet.')));
}

export async function render(ctx) {
  stopPlayer();
  $('player').onclose = stopPlayer;
  $('player-close').onclick = () => $('player').close();
  $('rec-verdict').textContent = '';
  $('rec-policy-error').textContent = '';
  $('hold-error').textContent = '';
  try {
    await refresh(ctx);
    $('recordings-off').hidden = true;
    $('recordings-body').hidden = false;
  } catch (e) {
    if (e.code !== 'recording_not_configured') throw e;
    $('recordings-off').hidden = false;  // this deployment keeps no recordings
    $('recordings-body').hidden = true;
    return;
  }
  $('rec-policy-form').onsubmit = async (ev) => {
    ev.preventDefault();
    $('rec-policy-error').textContent = '';
    const days = Number($('rec-retention').value || '0');
    try {
      await ctx.api.json('PUT', `${base(ctx)}/recording-policy`, { policy: $('rec-policy').value, retention_days: days });
      ctx.status('Recording policy saved.');
    } catch (e) {
      $('rec-policy-error').textContent = e.message;
      return;
    }
    await refresh(ctx);
  };
  $('hold-scope').onchange = () => { $('hold-target').disabled = $('hold-scope').value === 'tenant'; };
  $('hold-form').onsubmit = async (ev) => {
    ev.preventDefault();
    $('hold-error').textContent = '';
    const scope = $('hold-scope').value;
    const reason = $('hold-reason').value.trim();
    const target = $('hold-target').value.trim();
    if (scope !== 'tenant' && !target) { $('hold-error').textContent = `Give the ${scope} id the hold covers.`; $('hold-target').focus(); return; }
    if (!reason) { $('hold-error').textContent = 'Give the reason (a case reference).'; $('hold-reason').focus(); return; }
    const body = { scope, reason };
    if (scope !== 'tenant') body.target = target;
    try {
      const h = await ctx.api.json('POST', `${base(ctx)}/recording-holds`, body);
      ctx.status(`Placed legal hold ${h.hold}.`);
      $('hold-form').reset();
      $('hold-target').disabled = false;
    } catch (e) {
      $('hold-error').textContent = e.message;
      return;
    }
    await refresh(ctx);
  };
}
