// Audit: the tenant's signed export, browsed (newest first, filterable), saved as a file, and verified here
// (verify.js) — the loaded export or any file the admin picks, e.g. one kept from months ago.
import { enc } from './api.js';
import { $, el, replace } from './dom.js';
import { verifyExport } from './verify.js';

let loaded = null; // { tenant, text }

function summary(data) {
  return Object.entries(data || {}).map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`).join('; ');
}

function table(records) {
  const q = $('audit-filter').value.trim().toLowerCase();
  const shown = records.filter((r) => !q || r.kind.toLowerCase().includes(q) || r.actor.toLowerCase().includes(q));
  replace($('audit-rows'), shown.slice().reverse().map((r) => el('tr', {},
    el('td', {}, String(r.seq)), el('td', {}, String(r.ts).replace(/\.\d+Z$/, 'Z')), el('td', {}, r.kind),
    el('td', {}, r.actor), el('td', { class: 'details' }, summary(r.data)))));
}

function parse(text) {
  return text.split('\n').filter((l) => l.trim()).map((l) => { try { return JSON.parse(l); } catch (e) { return null; } })
    .filter((r) => r && !('signed_head' in r) && typeof r.seq === 'number');
}

async function verify(ctx, text, what) {
  const result = $('audit-result');
  result.className = 'verdict';
  result.textContent = 'Verifying…';
  const pem = await (await fetch('/v1/audit/public-key', { credentials: 'omit' })).text();
  const v = await verifyExport(text, pem);
  if (v.ok) {
    result.className = 'verdict ok';
    result.textContent = `Verified ${what}: ${v.count} records of ${v.chain}, chain unbroken, signed ${v.signedAt} by key ${v.keyId}.`;
  } else {
    result.className = 'verdict bad';
    result.textContent = `Verification failed for ${what}: ${v.message} [${v.code}]`;
  }
  return v;
}

export async function render(ctx) {
  const fresh = loaded && loaded.tenant === ctx.tenant;
  $('audit-verify').disabled = !fresh;
  $('audit-export').disabled = !fresh;
  if (!fresh) { replace($('audit-rows')); $('audit-result').textContent = ''; }
  else table(parse(loaded.text));
  $('audit-filter').oninput = () => { if (loaded) table(parse(loaded.text)); };
  $('audit-load').onclick = async () => {
    try {
      loaded = { tenant: ctx.tenant, text: await ctx.api.text(`/v1/tenants/${enc(ctx.tenant)}/audit`) };
    } catch (e) {
      ctx.status(e.message, true);
      return;
    }
    const records = parse(loaded.text);
    table(records);
    $('audit-verify').disabled = false;
    $('audit-export').disabled = false;
    $('audit-result').className = 'verdict';
    $('audit-result').textContent = `Loaded ${records.length} records (the export itself is recorded).`;
  };
  $('audit-verify').onclick = () => loaded && verify(ctx, loaded.text, 'the loaded log');
  $('audit-export').onclick = () => {
    if (!loaded) return;
    const url = URL.createObjectURL(new Blob([loaded.text], { type: 'application/x-ndjson' }));
    const a = el('a', { href: url, download: `${ctx.tenant}-audit.jsonl` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  };
  $('audit-file').onchange = async () => {
    const file = $('audit-file').files[0];
    if (!file) return;
    const text = await file.text();
    table(parse(text));
    await verify(ctx, text, file.name);
    $('audit-file').value = '';
  };
}
