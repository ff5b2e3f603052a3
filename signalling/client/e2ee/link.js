// What the meeting link's secret binds (docs/e2ee.md "Binding to the link"): the MLS group id and the external
// PSK every adding commit carries, derived with HKDF-SHA256 from the #fragment secret, which never reaches a
// server. Also the credential format (participant id + display name) and base64url. Pure functions: the browser
// and the Node.js headless member run the same code (WebCrypto on both).

const te = new TextEncoder();
const td = new TextDecoder();
const SALT = te.encode("castellan mls v2");
export const PSK_ID = te.encode("castellan/link-psk/v1");
export const CIPHERSUITE = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";

export function b64u(buf) {
  const b = buf instanceof Uint8Array ? buf : new Uint8Array(buf);
  let s = "";
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** base64url (padding optional) -> bytes; throws on anything else, so a malformed blob is a clear refusal. */
export function unb64u(s) {
  if (typeof s !== "string" || !/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) throw new Error("not base64url");
  const t = s.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(t + "===".slice((t.length + 3) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** The secret from a link's fragment (`#k=...`, or a bare fragment). Null when absent or malformed. */
export function secretFromFragment(hash) {
  const frag = (hash || "").replace(/^#/, "");
  const params = new URLSearchParams(frag);
  const k = params.get("k") || (frag.includes("=") ? null : frag);
  if (!k) return null;
  try {
    const raw = unb64u(k);
    return raw.length >= 16 ? raw : null;
  } catch (e) {
    return null;
  }
}

async function hkdf(ikm, info, bytes = 32) {
  const base = await crypto.subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
  return new Uint8Array(await crypto.subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: SALT, info: te.encode(info) }, base, bytes * 8));
}

/** {groupId, psk, proofKey}: the MLS group id of this room, the link PSK's secret, the KeyPackage proof key. */
export async function linkSecrets(secret, room) {
  return { groupId: await hkdf(secret, `group-id/${room}`), psk: await hkdf(secret, "link-psk/v1"),
    proofKey: await hkdf(secret, "key-package-proof/v1") };
}

/**
 * The proof a joiner sends with its KeyPackage (base64url): HMAC-SHA256 under a key only link holders derive,
 * over the room, the participant id and the KeyPackage as sent. Members add nobody without it, so a joiner with
 * a wrong or outdated link never enters a roster (the link PSK alone would only keep it out of the epoch's
 * secrets, after it had been added), and a node cannot move a proof to another KeyPackage or participant.
 */
export async function keyPackageProof(proofKey, room, participant, keyPackage) {
  const key = await crypto.subtle.importKey("raw", proofKey, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const msg = te.encode(JSON.stringify(["castellan key package v1", String(room), String(participant), String(keyPackage)]));
  return b64u(new Uint8Array(await crypto.subtle.sign("HMAC", key, msg)));
}

/** Credential identity: UTF-8 JSON {"p": participant, "n": name}, these keys in this order, no spaces. */
export function encodeIdentity(participant, name) {
  return te.encode(JSON.stringify({ p: String(participant), n: String(name || "") }));
}

/** The {participant, name} a credential names, or null unless it is exactly our canonical form. */
export function decodeIdentity(credential) {
  if (!credential || credential.credentialType !== "basic" || !(credential.identity instanceof Uint8Array)) return null;
  let text;
  try {
    text = td.decode(credential.identity);
    const v = JSON.parse(text);
    if (!v || typeof v.p !== "string" || typeof v.n !== "string" || !v.p) return null;
    if (JSON.stringify({ p: v.p, n: v.n }) !== text) return null; // canonical only: one identity, one encoding
    return { participant: v.p, name: v.n };
  } catch (e) {
    return null;
  }
}

export function bytesEqual(a, b) {
  if (!a || !b || a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}
