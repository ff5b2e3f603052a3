// Live meetings: where each runs (region, place, jurisdiction, node), how many are in, and ending one for
// everyone (its link stays valid; audited).
import { enc } from './api.js';
import { $, el, replace } from './dom.js';
import { ago, iso } from './format.js';

// Issue 19: the per-meeting residency check (signalling/control/transparency.py): the nodes' signed receipts
// checked against the tenant's log and policy, answered as "This meeting was processed in: … — verified".
export function residencyCheckPath(tenant, meeting) {
  return meeting.room ? `/v1/tenants/${enc(tenant)}/meetings/${enc(meeting.room)}/residency` : null;
}

async function verifyResidency(ctx, path, cell) {
  try {
    const v = await ctx.api.json('GET', path);
    const ok = v.verified && v.inside_policy;
    const text = v.text || (v.error ? `Not verified: ${v.error.message || v.error.code}` : 'Not verified');
    cell.replaceChildren(el('span', { class: ok ? 'ok-text' : 'warn-text' }, text));
  } catch (e) {
    cell.replaceChildren(el('span', { class: 'warn-text' }, e.message));
  }
}

async function end(ctx, m) {
  if (!window.confirm(`End "${m.title}" for all ${m.participants} participant(s) now? The link stays valid.`)) return;
  try {
    await ctx.api.json('POST', `/v1/tenants/${enc(ctx.tenant)}/links/${enc(m.link)}/end`, {});
    ctx.status(`"${m.title}" was ended for everyone.`);
  } catch (e) {
    ctx.status(e.message, true);
  }
  await list(ctx);
}

async function list(ctx) {
  const { meetings } = await ctx.api.json('GET', `/v1/tenants/${enc(ctx.tenant)}/meetings`);
  $('meetings-empty').hidden = meetings.length > 0;
  replace($('meeting-rows'), meetings.map((m) => {
    const actions = el('td', { class: 'row-actions' },
      el('button', { type: 'button', class: 'danger', 'aria-label': `End ${m.title}`, onclick: () => end(ctx, m) }, 'End'));
    const check = residencyCheckPath(ctx.tenant, m);
    if (check) {
      const out = el('span', { class: 'sub' });
      actions.append(el('button', { type: 'button', onclick: () => verifyResidency(ctx, check, out) }, 'Verify residency'), out);
    }
    return el('tr', { 'data-link': m.link },
      el('td', {}, m.title, m.revoked ? el('span', { class: 'sub' }, 'link revoked') : null),
      el('td', {}, `${m.display_name} — ${m.location} (${m.jurisdiction})`, el('span', { class: 'sub' }, m.why)),
      el('td', {}, m.node), el('td', { class: 'count' }, String(m.participants)),
      el('td', {}, iso(m.since), el('span', { class: 'sub' }, `${ago(m.since)} ago`)),
      actions);
  }));
}

export async function render(ctx) {
  $('meetings-refresh').onclick = () => list(ctx).catch((e) => ctx.status(e.message, true));
  await list(ctx);
}
