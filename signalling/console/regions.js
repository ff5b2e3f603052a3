// Regions: the tenant's jurisdiction, every region the operator defined with the rule that applies (own
// jurisdiction / adequacy opt-in / never), whether it is allowed and why, how many nodes serve it; changes
// need a reason (audited) and an adequate region needs an opt-in reason of its own.
import { enc } from './api.js';
import { $, el, replace, warnings } from './dom.js';
import { iso } from './format.js';

const RULES = {
  own: 'Own jurisdiction',
  adequate: 'Adequate (opt-in)',
  refused: 'Not permitted',
};

function whyCell(r) {
  if (r.opt_in) {  // residency's explanation already quotes the reason: add who and when
    return el('td', {}, el('span', {}, r.why || `Opted in, not allowed now: ${r.opt_in.reason}`),
      el('span', { class: 'sub' }, `Opt-in by ${r.opt_in.actor} on ${iso(r.opt_in.at)}`));
  }
  if (r.allowed) return el('td', {}, r.why);
  if (r.rule === 'refused') return el('td', { class: 'muted' }, `${r.jurisdiction} is not recognised as adequate: never allowed.`);
  if (r.rule === 'adequate') {
    const input = el('input', { id: `optin-${r.region}`, 'data-optin': r.region, maxlength: 500,
      placeholder: 'Why (e.g. subsidiary, adequacy decision)' });
    return el('td', {}, el('label', { for: input.id, class: 'inline' }, `Opt-in reason for ${r.region}`), input);
  }
  return el('td', { class: 'muted' }, 'Not in the allowed list.');
}

function row(r) {
  const box = el('input', { type: 'checkbox', id: `allow-${r.region}`, 'data-region': r.region,
    checked: r.allowed, disabled: r.rule === 'refused' });
  const nodes = el('td', { class: r.nodes ? '' : 'warn-text' }, r.nodes ? String(r.nodes) : '0 — none');
  return el('tr', { 'data-region': r.region },
    el('td', {}, box, el('label', { for: box.id, class: 'sr-only' }, `Allow ${r.display_name}`)),
    el('td', {}, el('strong', {}, r.display_name), el('span', { class: 'sub' }, r.region)),
    el('td', {}, `${r.location} (${r.jurisdiction})`),
    el('td', {}, el('span', { class: `rule ${r.rule}` }, RULES[r.rule] || r.rule)),
    whyCell(r),
    nodes);
}

function show(doc) {
  $('jurisdiction').textContent = `${doc.name} is in jurisdiction ${doc.jurisdiction} (${doc.jurisdiction_name}). `
    + (doc.allowed_regions === null ? 'Policy: the default — every region of its own jurisdiction.'
      : `Policy: only the regions ticked below.`);
  replace($('region-warnings'), warnings(doc.warnings));
  replace($('region-rows'), doc.regions.map(row));
  if (!doc.regions.length) replace($('region-rows'), el('tr', {}, el('td', { colspan: 6 }, 'The operator has defined no region yet.')));
}

export async function render(ctx) {
  const doc = await ctx.api.json('GET', `/v1/tenants/${enc(ctx.tenant)}`);
  show(doc);
  const form = $('regions-form');
  const save = async (body) => {
    $('regions-error').textContent = '';
    const reason = $('regions-reason').value.trim();
    if (!reason) {
      $('regions-error').textContent = 'Give a reason for this change: it is recorded in the audit log.';
      $('regions-reason').focus();
      return;
    }
    try {
      const updated = await ctx.api.json('PUT', `/v1/tenants/${enc(ctx.tenant)}/regions`, { ...body, reason });
      $('regions-reason').value = '';
      show(updated);
      ctx.status('Regions saved (recorded in the audit log).');
    } catch (e) {
      $('regions-error').textContent = e.message;
    }
  };
  form.onsubmit = (ev) => {
    ev.preventDefault();
    const allowed = [...form.querySelectorAll('input[data-region]:checked')].map((b) => b.dataset.region);
    const optIns = {};
    for (const input of form.querySelectorAll('input[data-optin]')) {
      if (allowed.includes(input.dataset.optin) && input.value.trim()) optIns[input.dataset.optin] = input.value.trim();
    }
    save(Object.keys(optIns).length ? { allowed_regions: allowed, opt_ins: optIns } : { allowed_regions: allowed });
  };
  $('regions-default').onclick = () => save({ default: true });
}
