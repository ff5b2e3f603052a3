// SFrame (RFC 9605) with MLS-based keys (§5.2), the frame layer of Castellan's E2EE. Pure: runs in the media
// worker (e2ee-worker.js), in the Node.js headless member and in the Node.js tests alike.
//
// - Cipher suite AES_128_GCM_SHA256_128 (0x0004): Nk 16, Nn 12, tag 16.
// - base_key per epoch = MLS-Exporter("SFrame 1.0 Base Key", "", 16)  (computed by group.js, handed in here).
// - KID = (sender leaf index << 8) + (epoch mod 256): E = 8 epoch bits, no context bits. A receiver holds at most
//   two epochs (the current one, and the previous one for GRACE_MS after the switch), so 8 bits never alias.
// - key, salt per KID: RFC 9605 §4.4.2 derive_key_salt; nonce = salt XOR CTR; AAD = SFrame header || metadata,
//   metadata = the frame's clear codec bytes (codec.js).
// - CTR: one counter per sender and epoch, shared by all of the sender's streams (audio, video, screen,
//   simulcast layers), from 0: a (key, nonce) pair is never used twice.
// - Replay: a receiver accepts a CTR at most once per KID, within a window of REPLAY_WINDOW counters below the
//   highest accepted one; older frames are refused.
// - A frame on participant P's track must carry P's leaf in its KID (in the epoch's roster), else it is refused:
//   a node cannot pass one member's media off as another's.

import { clearBytes, rbspEscape, rbspUnescape } from "./codec.js";

export const SUITE = 0x0004;
export const NK = 16;
export const NN = 12;
export const EPOCH_BITS = 8;
export const EXPORTER_LABEL = "SFrame 1.0 Base Key";
export const REPLAY_WINDOW = 4096;
export const GRACE_MS = 3000; // the previous epoch's keys live this long after the switch, then are dropped
// A frame under the epoch after our newest one is held this long for its keys (the worker asks for it): the sender
// switches SEND_SWITCH_DELAY_MS after applying the commit, and a receiver whose main thread is busy (ts-mls, a
// renegotiation, a loaded machine) applies it later than that. A dropped video frame costs far more than itself: the
// decoder waits for a keyframe (Chromium asks for one only after 3 s without a decodable frame)
export const NEXT_EPOCH_HOLD_MS = 1500;
const MAX_LEAF = 2 ** 24;

const te = new TextEncoder();
const subtle = () => globalThis.crypto.subtle;

export function kidFor(leaf, epoch) {
  if (!Number.isSafeInteger(leaf) || leaf < 0 || leaf >= MAX_LEAF) throw new Error(`bad leaf index ${leaf}`);
  return leaf * 2 ** EPOCH_BITS + (epoch % 2 ** EPOCH_BITS);
}

function minimalBytes(n) {
  const out = [];
  do { out.unshift(n % 256); n = Math.floor(n / 256); } while (n > 0);
  return out;
}

/** RFC 9605 §4.3: config byte |X|K(3)|Y|C(3)|, then the KID bytes, then the CTR bytes (values < 8 inline). */
export function encodeHeader(kid, ctr) {
  if (!Number.isSafeInteger(kid) || kid < 0 || !Number.isSafeInteger(ctr) || ctr < 0) throw new Error("bad KID or CTR");
  const kb = kid < 8 ? [] : minimalBytes(kid);
  const cb = ctr < 8 ? [] : minimalBytes(ctr);
  const cfg = (kid < 8 ? kid << 4 : 0x80 | ((kb.length - 1) << 4)) | (ctr < 8 ? ctr : 0x08 | (cb.length - 1));
  return new Uint8Array([cfg, ...kb, ...cb]);
}

/** {kid, ctr, length} or null (truncated, or a value past 2^53 that no sender of ours produces). */
export function decodeHeader(buf) {
  if (!buf || buf.length < 1) return null;
  const c = buf[0];
  let p = 1;
  const read = (n) => {
    if (p + n > buf.length) return null;
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + buf[p + i];
    p += n;
    return Number.isSafeInteger(v) ? v : null;
  };
  const kid = c & 0x80 ? read(((c >> 4) & 7) + 1) : (c >> 4) & 7;
  if (kid === null) return null;
  const ctr = c & 0x08 ? read((c & 7) + 1) : c & 7;
  if (ctr === null) return null;
  return { kid, ctr, length: p };
}

function be(n, bytes) {
  const out = new Uint8Array(bytes);
  for (let i = bytes - 1; i >= 0; i--) { out[i] = n % 256; n = Math.floor(n / 256); }
  return out;
}

async function hmac(key, data) {
  const k = await subtle().importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await subtle().sign("HMAC", k, data));
}

/** RFC 9605 §4.4.2 derive_key_salt (HKDF-SHA256): {key: CryptoKey, salt, rawKey}. */
export async function deriveKeySalt(baseKey, kid) {
  const secret = await hmac(new Uint8Array(32), baseKey); // HKDF-Extract(salt = "", base_key)
  const suffix = new Uint8Array([...be(kid, 8), ...be(SUITE, 2)]);
  const expand = async (label, n) => (await hmac(secret, new Uint8Array([...te.encode(label), ...suffix, 1]))).slice(0, n);
  const rawKey = await expand("SFrame 1.0 Secret key ", NK);
  const salt = await expand("SFrame 1.0 Secret salt ", NN);
  const key = await subtle().importKey("raw", rawKey, "AES-GCM", false, ["encrypt", "decrypt"]);
  return { key, salt, rawKey };
}

function nonce(salt, ctr) {
  const n = salt.slice();
  const c = be(ctr, NN);
  for (let i = 0; i < NN; i++) n[i] ^= c[i];
  return n;
}

function concat(...parts) {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** header || AEAD(key, nonce, header || metadata, plaintext) */
export async function seal(ks, kid, ctr, metadata, plaintext) {
  const header = encodeHeader(kid, ctr);
  const ct = await subtle().encrypt({ name: "AES-GCM", iv: nonce(ks.salt, ctr), additionalData: concat(header, metadata), tagLength: 128 },
    ks.key, plaintext);
  return concat(header, new Uint8Array(ct));
}

/** The plaintext of an SFrame ciphertext whose header is already parsed; throws when it does not authenticate. */
export async function open(ks, hdr, sframe, metadata) {
  const header = sframe.subarray(0, hdr.length);
  const pt = await subtle().decrypt({ name: "AES-GCM", iv: nonce(ks.salt, hdr.ctr), additionalData: concat(header, metadata), tagLength: 128 },
    ks.key, sframe.subarray(hdr.length));
  return new Uint8Array(pt);
}

/** Accepts each counter once, and none more than `size` below the highest accepted. */
export class ReplayWindow {
  constructor(size = REPLAY_WINDOW) {
    this.size = size;
    this.top = -1;
    this.slots = new Float64Array(size).fill(-1);
  }

  fresh(ctr) {
    if (ctr > this.top) return true;
    if (this.top - ctr >= this.size) return false;
    return this.slots[ctr % this.size] !== ctr;
  }

  accept(ctr) {
    this.slots[ctr % this.size] = ctr;
    if (ctr > this.top) this.top = ctr;
  }
}

/**
 * The frame keys of one member: epochs handed in by the MLS layer, our sending epoch and counter, receivers'
 * keys and replay windows. Frames without a key are dropped, never sent or played in the clear.
 */
export class FrameCrypto {
  constructor() {
    this.epochs = new Map(); // epoch -> {base, leaves: Map<leaf, participant>, myLeaf, keys: Map<kid, Promise>, windows: Map<kid, ReplayWindow>, ctr}
    this.sendEpoch = null;
    this._next = null; // {epoch, arrived: Promise<boolean>, resolve}: frames waiting for the epoch after our newest
    this._gaveUp = null; // the next epoch we stopped waiting for (its keys did not come in time)
  }

  _top() {
    return this.epochs.size ? Math.max(...this.epochs.keys()) : -1;
  }

  /** True once `epoch`'s keys are here, false after `holdMs` without them; one wait shared by every frame. */
  _awaitEpoch(epoch, holdMs) {
    if (!this._next || this._next.epoch !== epoch) {
      let resolve;
      const arrived = new Promise((r) => { resolve = r; });
      const next = { epoch, arrived, resolve };
      const timer = setTimeout(() => {
        if (this._next === next) { this._next = null; this._gaveUp = epoch; }
        resolve(false);
      }, holdMs);
      next.resolve = (v) => { clearTimeout(timer); resolve(v); };
      this._next = next;
    }
    return this._next.arrived;
  }

  /** A new epoch from an MLS commit or Welcome: only ever the next one up; older than the previous are dropped. */
  setEpoch({ epoch, baseKey, leaves, myLeaf }) {
    const top = this.epochs.size ? Math.max(...this.epochs.keys()) : -1;
    if (!Number.isSafeInteger(epoch) || epoch < 0 || epoch <= top) throw new Error(`refused epoch ${epoch} (holding ${top})`);
    if (!(baseKey instanceof Uint8Array) || baseKey.length !== NK) throw new Error("bad SFrame base key");
    this.epochs.set(epoch, { base: baseKey, leaves: new Map(leaves), myLeaf, keys: new Map(), windows: new Map(), ctr: 0 });
    for (const e of [...this.epochs.keys()]) if (e < top) this.dropEpoch(e); // at most current + previous
    if (this._next) { // frames held for an epoch: this one, or one that can no longer come (we moved past it)
      const next = this._next;
      this._next = null;
      next.resolve(next.epoch === epoch);
    }
  }

  setSendEpoch(epoch) {
    if (!this.epochs.has(epoch)) throw new Error(`no keys for epoch ${epoch}`);
    this.sendEpoch = epoch;
  }

  dropEpoch(epoch) {
    const e = this.epochs.get(epoch);
    if (!e) return;
    e.base.fill(0);
    this.epochs.delete(epoch);
    if (this.sendEpoch === epoch) this.sendEpoch = null;
  }

  /** Drops every epoch below `epoch` (the grace after a switch is over). */
  dropBefore(epoch) {
    for (const e of [...this.epochs.keys()]) if (e < epoch) this.dropEpoch(e);
  }

  heldEpochs() {
    return [...this.epochs.keys()].sort((a, b) => a - b);
  }

  _key(ep, epoch, kid) {
    let k = ep.keys.get(kid);
    if (!k) {
      k = deriveKeySalt(ep.base, kid);
      ep.keys.set(kid, k);
    }
    return k;
  }

  /** {data, epoch} sealed under our sending epoch, or null when we have none (the frame must be dropped). */
  async encrypt(data, info) {
    const epoch = this.sendEpoch;
    const ep = epoch === null ? undefined : this.epochs.get(epoch);
    if (!ep || ep.myLeaf === null || ep.myLeaf === undefined) return null;
    const kid = kidFor(ep.myLeaf, epoch);
    const ctr = ep.ctr++;
    const ks = await this._key(ep, epoch, kid);
    const { n, h264 } = clearBytes(info, data);
    const clear = data.subarray(0, n);
    let tail = await seal(ks, kid, ctr, clear, data.subarray(n));
    if (h264) tail = rbspEscape(tail);
    return { data: concat(clear, tail), epoch };
  }

  /**
   * {ok: true, data, epoch} or {ok: false, reason: malformed|no_key|wrong_sender|replay|auth}. With `holdMs`, a frame
   * under the epoch right after our newest waits up to that long for its keys (NEXT_EPOCH_HOLD_MS) instead of being
   * dropped; nothing is opened before MLS hands those keys in.
   */
  async decrypt(data, info, { holdMs = 0 } = {}) {
    const { n, h264 } = clearBytes(info, data);
    let tail = data.subarray(n);
    if (h264) tail = rbspUnescape(tail);
    const hdr = decodeHeader(tail);
    if (!hdr || tail.length < hdr.length + 16) return { ok: false, reason: "malformed" };
    const low = hdr.kid % 2 ** EPOCH_BITS;
    const leaf = Math.floor(hdr.kid / 2 ** EPOCH_BITS);
    const find = () => {
      let found = null;
      for (const e of this.epochs.keys()) if (e % 2 ** EPOCH_BITS === low) found = e;
      return found;
    };
    let epoch = find();
    const top = this._top();
    if (epoch === null && holdMs > 0 && top >= 0 && low === (top + 1) % 2 ** EPOCH_BITS && this._gaveUp !== top + 1) {
      if (await this._awaitEpoch(top + 1, holdMs)) epoch = find();
    }
    if (epoch === null) return { ok: false, reason: "no_key" };
    const ep = this.epochs.get(epoch);
    if (leaf === ep.myLeaf || ep.leaves.get(leaf) !== info.participant) return { ok: false, reason: "wrong_sender", epoch };
    let win = ep.windows.get(hdr.kid);
    if (!win) { win = new ReplayWindow(); ep.windows.set(hdr.kid, win); }
    if (!win.fresh(hdr.ctr)) return { ok: false, reason: "replay", epoch };
    try {
      const pt = await open(await this._key(ep, epoch, hdr.kid), hdr, tail, data.subarray(0, n));
      if (!this.epochs.has(epoch) || !win.fresh(hdr.ctr)) return { ok: false, reason: "no_key", epoch }; // dropped or raced meanwhile
      win.accept(hdr.ctr);
      return { ok: true, data: concat(data.subarray(0, n), pt), epoch };
    } catch (e) {
      return { ok: false, reason: "auth", epoch };
    }
  }
}
