// Recordings: the tenant's compliance recordings (meeting, link, regions, participants, times, files), its policy
// and retention, legal holds (place, release), deletion (refused while a hold covers it), playback of an audio or
// video file, and the signed export package (a tar: extract it, then `castellan recording verify DIR
// --public-key KEY`). Every action is audited by the archive, with this key as the actor.
//
// Playback: a <video>/<audio> element cannot send the Bearer key, and the key never goes in a URL. So Play asks
// the API (with the key) for a play ticket — one file, this tenant, minutes; the grant is audited — and gives the
// element the ticket's same-origin media URL, which it fetches and seeks in with Range requests. The browser
// streams the file: nothing is held whole in memory, as fetching it into a Blob would.
//
// Segments (docs/recording.md "Segments"): a recorder seals each track in rolling segments, one complete WebM
// each, and the API lists every part's segments (`parts[].segments`: number, span, files). The page lists such a
// track once (its segments in order, span, count, what is missing between them) and plays it as one: near the end
// of a segment the next one's ticket is asked (one grant per segment played) and its file preloaded in a second,
// hidden element that takes over at `ended`. Time the spans do not cover (the track had nothing, or the recorder
// was lost) is said in a notice as the player crosses it. Older, unsegmented recordings list and play file by file.
import { enc } from './api.js';
import { $, download, el, replace } from './dom.js';
import { clock, iso, size, span } from './format.js';

const base = (ctx) => `/v1/tenants/${enc(ctx.tenant)}`;

function people(participants) {
  const names = Object.entries(participants || {}).map(([id, name]) => `${name} (${id})`);
  return names.length ? names.join(', ') : '—';
}

const PLAYABLE = new Set(['audio', 'video']);
const TEXTS = new Set(['chat', 'timeline']);
let playing = null;  // {ctx, r, item, index, media, spare, ahead, renewed, userPaused, seq}

/** A segment's file names its track with the segment's marker (`….seg0003.webm`); without it (the API gives the
 * number) the name is the track's, so one participant's camera and screen share stay two tracks. */
function trackName(name, segment) {
  const mark = `.seg${String(segment).padStart(4, '0')}`;
  const at = name.lastIndexOf(mark);
  return at < 0 ? name : name.slice(0, at) + name.slice(at + mark.length);
}

/** The recording's files as listed: each segmented track (or chat, timeline) once, its pieces in segment order;
 * every file no segment names on its own, as before segments. */
export function listed(r) {
  const byName = new Map((r.files || []).map((f) => [f.name, f]));
  const tracks = new Map();
  const taken = new Set();
  for (const part of r.parts || []) {
    const segs = [...(part.segments || [])].sort((a, b) => a.segment - b.segment);
    for (const seg of segs) {
      for (const name of seg.files || []) {
        const f = byName.get(name);
        if (!f || taken.has(name)) continue;  // erased (GDPR) or listed twice: nothing to play
        taken.add(name);
        const track = trackName(name, seg.segment);
        const key = `${part.part}\n${track}`;
        if (!tracks.has(key)) tracks.set(key, { part: part.part, name: track, kind: f.kind, participant: f.participant, pieces: [] });
        tracks.get(key).pieces.push({ file: f, segment: seg.segment, from_ms: seg.from_ms, to_ms: seg.to_ms });
      }
    }
  }
  const order = (t) => (TEXTS.has(t.kind) ? 1 : 0);
  const grouped = [...tracks.values()].sort((a, b) => a.part - b.part || order(a) - order(b)
    || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const single = (r.files || []).filter((f) => !taken.has(f.name))
    .map((f) => ({ part: null, name: f.name, kind: f.kind, participant: f.participant, pieces: [{ file: f }] }));
  return [...grouped, ...single];
}

function who(r, id) {
  if (!id) return 'the meeting';
  const name = (r.participants || {})[id];
  return name ? `${name} (${id})` : id;
}

const segmented = (item) => item.part !== null;
const total = (item) => item.pieces.reduce((n, p) => n + p.file.size, 0);
const spanOf = (item) => span(item.pieces[0].from_ms, item.pieces[item.pieces.length - 1].to_ms);
const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

function mediaLabel(p) {
  const { item, r } = p;
  const piece = item.pieces[p.index];
  const what = `${item.kind === 'video' ? 'Video' : 'Audio'} of`;
  if (!segmented(item)) return `${what} ${item.participant || 'the meeting'}: ${piece.file.name}`;
  return `${what} ${who(r, item.participant)}: segment ${p.index + 1} of ${item.pieces.length} (${piece.file.name})`;
}

async function ticket(ctx, r, f) {
  return ctx.api.json('POST', `${base(ctx)}/recordings/${enc(r.id)}/files/${enc(f.name)}/play`, {});
}

const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;

/** What the track has no media for between piece i-1 and piece i (their spans do not meet), or null. */
function gapBefore(item, i) {
  if (!segmented(item) || i <= 0) return null;
  const from = item.pieces[i - 1].to_ms;
  const to = item.pieces[i].from_ms;
  return to > from ? { from, to } : null;
}

/** The recording's gap (a recorder lost, docs/recording.md "One recording, with gaps") overlapping from–to. */
function recorderGap(r, from, to) {
  return (r.gaps || []).find((g) => g.from_ms < to && (g.to_ms === null || g.to_ms > from)) || null;
}

const lost = (g) => `the recorder was lost (${g.cause || 'cause not recorded'})`;

/** The notice for the player's move from piece i-1 to piece i when something between them was not recorded. */
function gapNotice(r, item, i) {
  const gap = gapBefore(item, i);
  if (!gap) return null;
  const g = recorderGap(r, gap.from, gap.to);
  return `Not recorded: ${seconds(gap.to - gap.from)} of this track, ${clock(gap.from)}–${clock(gap.to)} UTC, between `
    + `segment ${item.pieces[i - 1].segment} and segment ${item.pieces[i].segment}: ${g ? lost(g) : 'the track had no media then'}.`;
}

/** The notice at the end of a part's last piece when the recording has a gap there (its recorder was lost). */
function partEndNotice(r, item) {
  if (!segmented(item)) return null;
  const part = (r.parts || []).find((x) => x.part === item.part);
  const end = part ? part.to_ms : null;
  const g = end === null || end === undefined ? null : (r.gaps || []).find((x) => x.from_ms === end);
  if (!g) return null;
  const next = (r.parts || []).find((x) => x.part === item.part + 1);
  if (next && g.to_ms !== null) {
    return `Not recorded: ${seconds(g.to_ms - g.from_ms)}, ${clock(g.from_ms)}–${clock(g.to_ms)} UTC, after this part: ${lost(g)}. `
      + `Part ${next.part} continues the recording from ${clock(g.to_ms)} UTC; play it from the list.`;
  }
  return `The recording stops here, at ${clock(g.from_ms)} UTC: ${lost(g)} and nothing continued it.`;
}

function notify(text) {
  $('player-gap').textContent = text || '';
  $('player-gap').hidden = !text;
}

/** The element stops fetching and forgets its ticket's URL (a ticket is not used again). */
function clear(media) {
  media.pause();
  media.removeAttribute('src');
  media.removeAttribute('data-file');
  media.load();
}

function stopPlayer() {
  if (!playing) return;
  const { media, spare } = playing;
  playing = null;
  clear(media);
  if (spare) clear(spare);
  replace($('player-media'));
  $('player-segments').hidden = true;
  replace($('player-segment'));
  $('player-position').textContent = '';
  notify(null);
}

function showPosition(p) {
  if (!segmented(p.item)) return;
  const piece = p.item.pieces[p.index];
  $('player-position').textContent = `Playing segment ${piece.segment} (${p.index + 1} of ${p.item.pieces.length}): ${span(piece.from_ms, piece.to_ms)}`;
  $('player-segment').value = String(p.index);
}

/** The next segment asked ahead is given up (its element stops fetching). */
function dropAhead(p) {
  if (!p.ahead) return;
  p.ahead = null;
  clear(p.spare);
}

/** The piece `index` of what is playing: its own ticket, then the element's src (at `at` s, for a renewal). */
async function load(p, index, at = null) {
  const seq = ++p.seq;
  if (p.ahead && p.ahead.index !== index + 1) dropAhead(p);  // asked for another segment than this one's next
  p.index = index;
  showPosition(p);
  let t;
  try {
    t = await ticket(p.ctx, p.r, p.item.pieces[index].file);
  } catch (e) {
    if (playing === p && seq === p.seq) $('player-error').textContent = e.message;
    return;
  }
  if (playing !== p || seq !== p.seq) return;  // closed, or another segment asked for meanwhile
  $('player-error').textContent = '';
  p.media.setAttribute('data-file', p.item.pieces[index].file.name);
  p.media.setAttribute('aria-label', mediaLabel(p));
  if (at !== null) p.media.addEventListener('loadedmetadata', () => { p.media.currentTime = at; }, { once: true });
  p.media.src = t.url;
  if (!p.userPaused) p.media.play().catch(() => { /* the browser wants a press on the player's own Play */ });
}

// Continuous playback, as a meeting recording plays in Meet or Zoom: once the playing segment is past its half
// and within AHEAD_S of its end, the next one's ticket is asked and its file preloaded into a second, hidden
// element; at `ended` that element is shown and plays, so the switch waits on no network. Only the one next
// segment is granted ahead, and only that close to its turn: an admin who stops leaves at most one grant unplayed.
const AHEAD_S = 10;

function ahead(ev) {
  const p = playing;
  if (!p || ev.target !== p.media || p.ahead || !p.spare || p.index + 1 >= p.item.pieces.length) return;
  const piece = p.item.pieces[p.index];
  const { media } = p;
  // a segment's file says its duration; without one, its span does
  const length = Number.isFinite(media.duration) && media.duration > 0 ? media.duration : (piece.to_ms - piece.from_ms) / 1000;
  if (media.currentTime < length / 2 || length - media.currentTime > AHEAD_S) return;
  prefetch(p, p.index + 1);
}

async function prefetch(p, index) {
  const a = { index, url: null, due: false, failed: false };
  p.ahead = a;
  const f = p.item.pieces[index].file;
  let t;
  try {
    t = await ticket(p.ctx, p.r, f);
  } catch (e) {
    if (playing !== p || p.ahead !== a) return;
    a.failed = true;  // not asked again before its turn; at its turn it is asked as without preloading
    if (a.due) { p.ahead = null; load(p, index); }
    return;
  }
  if (playing !== p || p.ahead !== a) return;  // closed, or the admin went elsewhere meanwhile
  a.url = t.url;
  p.spare.setAttribute('data-file', f.name);
  p.spare.src = t.url;  // the hidden element fetches its start now (preload: auto)
  if (a.due) swap(p);
}

/** The preloaded next segment takes the playing one's place: shown, labelled, playing; the old one hidden. */
function swap(p) {
  const a = p.ahead;
  p.ahead = null;
  p.seq += 1;  // a load still on its way for the old element is superseded
  const old = p.media;
  const media = p.spare;
  const focused = document.activeElement === old;
  p.media = media;
  p.spare = old;
  p.index = a.index;
  p.renewed = false;
  media.setAttribute('data-file', p.item.pieces[a.index].file.name);
  media.setAttribute('aria-label', mediaLabel(p));
  if (a.failed) media.src = a.url;  // its preload failed: tried once more with its ticket, then renewed as any
  media.hidden = false;
  old.hidden = true;
  clear(old);
  if (focused) media.focus();
  showPosition(p);
  if (!p.userPaused) media.play().catch(() => { /* the browser wants a press on the player's own Play */ });
}

// A ticket lasts minutes; a long playback (or a seek after a pause) may outlive it: one new ticket, then resume
// where the player was. A second failure in a row is shown, not retried. The preloaded next segment failing is
// not asked ahead again (each ask is a grant): at its turn it is loaded once more with the ticket it has.
async function failed(ev) {
  const p = playing;
  if (!p) return;
  if (ev.target === p.spare) {
    if (p.ahead) p.ahead.failed = true;  // its ticket is kept for its turn
    clear(p.spare);
    return;
  }
  if (ev.target !== p.media) return;
  if (p.renewed) {
    $('player-error').textContent = `This file cannot be played here (${p.media.error ? `media error ${p.media.error.code}` : 'error'}). Export the recording to keep it.`;
    return;
  }
  p.renewed = true;
  await load(p, p.index, p.media.currentTime);
}

// A segment played to its end: the next one, preloaded (or, if its ticket could not be asked ahead, asked now);
// what was not recorded between them is said, not skipped silently
function advance(ev) {
  const p = playing;
  if (!p || ev.target !== p.media) return;
  const next = p.index + 1;
  if (next >= p.item.pieces.length) {
    notify(partEndNotice(p.r, p.item));
    return;
  }
  p.renewed = false;
  notify(gapNotice(p.r, p.item, next));
  if (fromAhead(p, next)) return;
  p.ahead = null;  // its ticket could not be asked ahead: asked now
  load(p, next);
}

/** Segment `index` is the one asked ahead: it plays from that ticket (each ask is a grant, audited), from its
 * preload, or as soon as its ticket comes; true if so. A preload that failed is tried once more with its ticket. */
function fromAhead(p, index) {
  const a = p.ahead;
  if (!a || a.index !== index || !(a.url || !a.failed)) return false;
  if (a.url) swap(p);
  else a.due = true;  // its ticket is on its way: the swap follows it
  return true;
}

function mediaElement(kind, hidden) {
  const media = el(kind === 'video' ? 'video' : 'audio', { controls: true, preload: 'auto', hidden });
  const mine = () => playing && playing.media === media;
  media.addEventListener('error', failed);
  media.addEventListener('ended', advance);
  media.addEventListener('timeupdate', ahead);
  media.addEventListener('playing', () => { if (mine()) playing.renewed = false; });
  // what the admin wants, apart from what an error does to the element: a renewed ticket resumes only a playback
  media.addEventListener('play', () => { if (mine()) playing.userPaused = false; });
  media.addEventListener('pause', () => { if (mine() && !media.error && !media.ended) playing.userPaused = true; });
  return media;
}

async function play(ctx, r, item) {
  stopPlayer();
  const dialog = $('player');
  const many = segmented(item);
  $('player-title').textContent = many
    ? `${item.kind === 'video' ? 'Video' : 'Audio'} of ${who(r, item.participant)}${(r.parts || []).length > 1 ? `, part ${item.part}` : ''} · ${r.meeting}`
    : `${item.name} (${item.kind}) · ${r.meeting}`;
  $('player-note').textContent = many
    ? `Recording ${r.id}; ${plural(item.pieces.length, 'segment')} played as one from the tenant's vault. Each segment played is recorded in the audit log.`
    : `Recording ${r.id}; played from the tenant's vault. This playback is recorded in the audit log.`;
  $('player-error').textContent = '';
  let t;
  try {
    t = await ticket(ctx, r, item.pieces[0].file);
  } catch (e) {
    ctx.status(e.message, true);
    return;
  }
  const media = mediaElement(t.kind, false);
  const spare = many && item.pieces.length > 1 ? mediaElement(t.kind, true) : null;
  const p = { ctx, r, item, index: 0, media, spare, ahead: null, renewed: false, userPaused: false, seq: 0 };
  playing = p;
  media.setAttribute('data-file', item.pieces[0].file.name);
  media.setAttribute('aria-label', mediaLabel(p));
  replace($('player-media'), media, spare);
  if (many) {
    replace($('player-segment'), item.pieces.map((piece, i) => el('option', { value: String(i) },
      `Segment ${piece.segment}: ${clock(piece.from_ms)}–${clock(piece.to_ms)} UTC`
      + (gapBefore(item, i) ? ` (after ${seconds(piece.from_ms - item.pieces[i - 1].to_ms)} not recorded)` : ''))));
    $('player-segment').onchange = () => {
      if (playing !== p) return;
      p.userPaused = false;
      p.renewed = false;
      notify(null);
      const index = Number($('player-segment').value);
      if (!fromAhead(p, index)) load(p, index);  // the one preloaded next is not asked (granted) a second time
    };
    $('player-segments').hidden = false;
    showPosition(p);
  }
  media.src = t.url;
  if (!dialog.open) dialog.showModal();
  media.focus();
  media.play().catch(() => { /* the browser wants a press on the player's own Play: its controls are there */ });
}

function holes(item) {
  const gaps = item.pieces.map((_, i) => gapBefore(item, i)).filter((g) => g);
  if (!gaps.length) return '';
  return ` · ${plural(gaps.length, 'gap')} not recorded (${gaps.map((g) => seconds(g.to - g.from)).join(', ')})`;
}

function itemRow(ctx, r, item) {
  const many = segmented(item);
  const part = many && (r.parts || []).length > 1 ? ` · part ${item.part}` : '';
  if (many && TEXTS.has(item.kind)) {  // chat, timeline: one line, its slices under it
    return el('li', { 'data-track': item.name, 'data-part': item.part },
      el('details', {}, el('summary', {}, `${item.kind}${part} · ${plural(item.pieces.length, 'slice')} · ${size(total(item))}`),
        el('ul', { class: 'plain slices' }, item.pieces.map((piece) => el('li', {},
          `${piece.file.name} · ${span(piece.from_ms, piece.to_ms)} · ${size(piece.file.size)}`)))));
  }
  const playable = PLAYABLE.has(item.kind);
  if (!many) {
    const f = item.pieces[0].file;
    return el('li', {}, `${f.name} · ${f.kind} · ${size(f.size)}`,
      playable ? el('button', { type: 'button', class: 'play', 'data-file': f.name,
        'aria-label': `Play ${f.name} of ${r.meeting}`, onclick: () => play(ctx, r, item) }, 'Play') : null);
  }
  const person = who(r, item.participant);
  return el('li', { 'data-track': item.name, 'data-part': item.part },
    `${person} · ${item.kind}${part} · ${plural(item.pieces.length, 'segment')}`,
    playable ? el('button', { type: 'button', class: 'play', 'data-track': item.name,
      'aria-label': `Play ${item.kind} of ${person}${part}, ${plural(item.pieces.length, 'segment')}, of ${r.meeting}`,
      onclick: () => play(ctx, r, item) }, 'Play') : null,
    el('span', { class: 'sub' }, `${item.name} · ${spanOf(item)} · ${size(total(item))}${holes(item)}`));
}

function files(ctx, r) {
  return el('ul', { class: 'plain' }, listed(r).map((item) => itemRow(ctx, r, item)));
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
