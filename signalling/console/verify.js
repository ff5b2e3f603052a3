// Verifying an audit export in the browser, as `castellan audit verify` does (residency/audit.py): every
// record's SHA-256 over its canonical JSON, the chain of `prev` links and sequence numbers, and the Ed25519
// signature over the signed head, by the deployment's public key (WebCrypto). Pure: text and PEM in, verdict out.

const GENESIS = '0'.repeat(64);
const FORMAT = 'castellan-audit-1';
const RECORD_FIELDS = ['actor', 'chain', 'data', 'hash', 'kind', 'prev', 'seq', 'tenant', 'ts'];
const HEAD_FIELDS = ['chain', 'format', 'hash', 'key_id', 'seq', 'signed_at'];

// Python's json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False) for the values the log allows
export function canonical(value) {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
}

const bytes = (s) => new TextEncoder().encode(s);
const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');

async function sha256hex(data) {
  return hex(await crypto.subtle.digest('SHA-256', typeof data === 'string' ? bytes(data) : data));
}

function sameKeys(obj, fields) {
  const keys = Object.keys(obj).sort();
  return keys.length === fields.length && keys.every((k, i) => k === fields[i]);
}

function fail(code, message) {
  return { ok: false, code, message };
}

function pemToDer(pem) {
  const b64 = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

export async function verifyExport(text, publicKeyPem) {
  const lines = text.split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  if (!lines.length) return fail('empty', 'The file is empty.');
  const parsed = [];
  for (let i = 0; i < lines.length; i++) {
    let obj;
    try { obj = JSON.parse(lines[i]); } catch (e) { return fail('malformed', `Line ${i + 1} is not JSON.`); }
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
      return fail('malformed', `Line ${i + 1} is not a JSON object.`);
    }
    parsed.push(obj);
  }
  const last = parsed.pop();
  if (!sameKeys(last, ['signature', 'signed_head'])) {
    return fail('missing_head', 'The last line must be the signed head (the file was truncated or extended).');
  }
  const head = last.signed_head;
  if (head === null || typeof head !== 'object' || !sameKeys(head, HEAD_FIELDS) || head.format !== FORMAT) {
    return fail('malformed', 'The signed head is malformed.');
  }
  let key;
  let keyId;
  try {
    key = await crypto.subtle.importKey('spki', pemToDer(publicKeyPem), { name: 'Ed25519' }, true, ['verify']);
    keyId = (await sha256hex(await crypto.subtle.exportKey('raw', key))).slice(0, 16);
  } catch (e) {
    return fail('no_key', `The deployment's public key cannot be used here (${e.message}).`);
  }
  if (head.key_id !== keyId) {
    return fail('unknown_key', `The head is signed by key ${head.key_id}, not by this deployment's key ${keyId}.`);
  }
  let signature;
  try { signature = Uint8Array.from(atob(String(last.signature)), (c) => c.charCodeAt(0)); } catch (e) {
    return fail('bad_signature', 'The signature is not base64.');
  }
  if (!(await crypto.subtle.verify({ name: 'Ed25519' }, key, signature, bytes(canonical(head))))) {
    return fail('bad_signature', "The signed head's signature is not valid for this deployment's key.");
  }
  const chain = String(head.chain);
  let prev = GENESIS;
  for (let i = 0; i < parsed.length; i++) {
    const rec = parsed[i];
    const n = i + 1;
    if ('signed_head' in rec) return fail('misplaced_head', 'A signed head appears before the end of the file.');
    if (!sameKeys(rec, RECORD_FIELDS)) return fail('malformed', `Record ${n} has unexpected fields.`);
    if (rec.chain !== chain) return fail('foreign_record', `Record ${n} belongs to another chain.`);
    if (chain.startsWith('tenant:') && rec.tenant !== chain.slice(7)) {
      return fail('foreign_record', `Record ${n} names another tenant.`);
    }
    if (rec.seq !== n) return fail('sequence_broken', `Record ${n}: expected seq ${n}, found ${rec.seq} (a record was deleted, inserted or moved).`);
    if (rec.prev !== prev) return fail('chain_broken', `Record ${n}: its link to the previous record is broken.`);
    const { hash, ...body } = rec;
    const digest = await sha256hex(canonical(body));
    if (digest !== hash) return fail('hash_mismatch', `Record ${n}: its content does not match its hash (edited).`);
    prev = digest;
  }
  if (head.seq !== parsed.length || head.hash !== prev) {
    return fail('head_mismatch', `The signature covers ${head.seq} records, the file has ${parsed.length} (records removed or added at the end).`);
  }
  return { ok: true, chain, count: parsed.length, signedAt: String(head.signed_at), keyId, records: parsed };
}
