// Handing the recorder what membership needs (docs/recording.md "Handing the link secret to the recorder"): the
// tenant's recorder key (its public half in the link's fragment, `#k=<L>&r=<public key>`), the attestation its
// private half — held by the tenant's recorder pools only — makes over the recorder's KeyPackage, and the handover a
// member seals by HPKE (RFC 9180 base mode, the group's suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
// AES-128-GCM, through ts-mls's own HPKE) to that KeyPackage's init_key. The plaintext is what membership needs —
// the link PSK, the group id, the KeyPackage-proof key — never the link secret L itself.
// Pure functions over a ts-mls ciphersuite implementation: the browser, the Node.js member and the tests share them.

import { b64u, unb64u } from "./link.js";

const te = new TextEncoder();
const td = new TextDecoder();
export const ATTESTATION_LABEL = "castellan recorder v1";
export const HANDOVER_INFO = "castellan recorder handover v1";
export const MAX_ATTESTATION_CHARS = 128; // an Ed25519 signature is 86 characters of base64url
export const MAX_HANDOVER_CHARS = 1024; // enc (32) + the sealed secrets (~170) + tag: ~300 characters

/** The tenant's recorder public key from a link's fragment (`r=`, 32 bytes base64url), or null. */
export function recorderKeyFromFragment(hash) {
  const r = new URLSearchParams((hash || "").replace(/^#/, "")).get("r");
  if (!r) return null;
  try {
    const raw = unb64u(r);
    return raw.length === 32 ? raw : null;
  } catch (e) {
    return null;
  }
}

/** What the recorder key signs: JSON ["castellan recorder v1", tenant, room, participant, leaf signature key]. */
export function attestationMessage(tenant, room, participant, leafKey) {
  return te.encode(JSON.stringify([ATTESTATION_LABEL, String(tenant), String(room), String(participant), b64u(leafKey)]));
}

/** True iff `attestation` (base64url) is the recorder key's signature over exactly these four. */
export async function verifyAttestation(cs, recorderKey, attestation, tenant, room, participant, leafKey) {
  if (typeof attestation !== "string" || attestation.length > MAX_ATTESTATION_CHARS) return false;
  let sig;
  try {
    sig = unb64u(attestation);
  } catch (e) {
    return false;
  }
  if (sig.length !== 64 || !(recorderKey instanceof Uint8Array) || recorderKey.length !== 32) return false;
  try {
    return await cs.signature.verify(recorderKey, attestationMessage(tenant, room, participant, leafKey), sig);
  } catch (e) {
    return false;
  }
}

function varlen(n) { // RFC 9420 §2.1.2 variable-size length prefix
  if (n < 64) return [n];
  if (n < 16384) return [0x40 | (n >> 8), n & 0xff];
  return [0x80 | (n >>> 24), (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
}

function opaque(bytes) {
  return [...varlen(bytes.length), ...bytes];
}

/** RFC 9420 §5.2: KeyPackageRef = RefHash("MLS 1.0 KeyPackage Reference", KeyPackage), from the MLSMessage blob
 *  as sent (base64url: version u16 and wire format u16, then the KeyPackage). */
export async function keyPackageRef(cs, data) {
  const raw = unb64u(data);
  const label = te.encode("MLS 1.0 KeyPackage Reference");
  return cs.hash.digest(new Uint8Array([...opaque(label), ...opaque(raw.subarray(4))]));
}

/** info = "castellan recorder handover v1" ‖ room ‖ participant, each a length-prefixed opaque (unambiguous). */
export function handoverInfo(room, participant) {
  return new Uint8Array([...opaque(te.encode(HANDOVER_INFO)), ...opaque(te.encode(String(room))),
    ...opaque(te.encode(String(participant)))]);
}

/** The handover (base64url: enc ‖ ciphertext) of {groupId, psk, proofKey}, sealed to the KeyPackage `kp` (its
 *  init_key) that `data` (the blob as the node relayed it) encodes. */
export async function sealHandover(cs, kp, data, room, participant, { groupId, psk, proofKey }) {
  const plaintext = te.encode(JSON.stringify({ g: b64u(groupId), p: b64u(psk), k: b64u(proofKey) }));
  const pub = await cs.hpke.importPublicKey(kp.initKey);
  const { ct, enc } = await cs.hpke.seal(pub, plaintext, handoverInfo(room, participant), await keyPackageRef(cs, data));
  return b64u(new Uint8Array([...enc, ...ct]));
}

/** {groupId, psk, proofKey} from a handover sealed to our KeyPackage (`data` as we sent it, `initPrivateKey` its
 *  private half); throws when it does not open (another KeyPackage, room or participant, or altered). */
export async function openHandover(cs, initPrivateKey, data, room, participant, sealed) {
  if (typeof sealed !== "string" || sealed.length > MAX_HANDOVER_CHARS) throw new Error("handover missing or too large");
  const raw = unb64u(sealed);
  const n = 32; // DHKEM(X25519): enc is the 32-byte ephemeral public key (Nenc, RFC 9180 §7.1)
  if (raw.length <= n) throw new Error("handover too short");
  const priv = await cs.hpke.importPrivateKey(initPrivateKey);
  const plain = await cs.hpke.open(priv, raw.subarray(0, n), raw.subarray(n), handoverInfo(room, participant),
    await keyPackageRef(cs, data));
  const v = JSON.parse(td.decode(plain));
  const out = { groupId: unb64u(v.g), psk: unb64u(v.p), proofKey: unb64u(v.k) };
  if (out.groupId.length !== 32 || out.psk.length !== 32 || out.proofKey.length !== 32) throw new Error("handover of the wrong shape");
  return out;
}
