// Recordings: the tenant's compliance recordings (meeting, link, regions, participants, times, files), its policy
// and retention, legal holds (place, release), deletion (refused while a hold covers it) and the signed export
// package (a tar: extract it, then `castellan recording verify DIR --public-key KEY`). Every action is audited by
// the archive, with this key as the actor.
import { enc } from './api.js';
import { $, el, replace } from './dom.js';
import { iso } from './format.js';

const base = (ctx) => `/v1/tenants/${enc(ctx.tenant)}`;

function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1048576) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

function people(participants) {
  const names = Object.entries(participants || {}).map(([id, name]) => `${name} (${id})`);
  return names.length ? names.join(', ') : '—';
}

function files(list) {
  return el('ul', { class: 'plain' }, list.map((f) => el('li', {}, `${f.name} · ${f.kind} · ${size(f.size)}`)));
}

function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = el('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
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
    el('td', {}, files(r.files)),
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
