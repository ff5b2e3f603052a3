// Castellan E2EE frame transform (a dedicated worker; plain script, no imports).
//
// Every encoded audio/video frame is encrypted with AES-GCM (WebCrypto) before the packetizer sees it, in the
// shape of an SFrame ciphertext (RFC 9605 §4.3): clear codec bytes | SFrame header (KID, CTR) | AEAD output.
// The clear codec bytes are what a node needs (Jitsi/LiveKit's choice): VP8 payload header (10 bytes keyframe,
// 3 delta), the Opus TOC byte, H.264 NAL headers up to and including 2 bytes of the first slice header. They are
// authenticated as AAD together with the SFrame header. VP9/AV1: nothing clear (the node reads their RTP
// payload descriptors, which are not part of the frame).
//
// Keys: the main thread hands each epoch's 32-byte base key; per (epoch, sender) the worker derives
// key||salt = HKDF-SHA256(base, info "castellan sframe v1 <epoch> <sender id>") (AES-128-GCM, 12-byte salt).
// KID = epoch, CTR = 8 bytes: 4 random per sending stream, 4 counting; nonce = salt XOR CTR, so (key, nonce)
// never repeats. Receivers keep the last few epochs, so frames in flight across a key change still decrypt.
//
// Works with RTCRtpScriptTransform (`rtctransform` event) and with the legacy createEncodedStreams() streams
// posted by the main thread ({type: "streams"}).

"use strict";

const enc = new TextEncoder();
const KEEP_EPOCHS = 4;
const epochs = new Map(); // epoch -> { raw: ArrayBuffer, senders: Map<senderId, Promise<{key, salt}>> }
let sendEpoch = null; // null: no key yet -> outgoing frames are dropped, never sent in clear
const streams = new Map(); // transform id -> stats
let statsTimer = null;

function now() { return performance.now(); }

// ------------------------------------------------------------------------------------------------ keys

async function derive(raw, epoch, senderId) {
  const base = await crypto.subtle.importKey("raw", raw, "HKDF", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: enc.encode(`castellan sframe v1 ${epoch} ${senderId}`) },
    base, 8 * (16 + 12));
  const key = await crypto.subtle.importKey("raw", bits.slice(0, 16), "AES-GCM", false, ["encrypt", "decrypt"]);
  return { key, salt: new Uint8Array(bits.slice(16)) };
}

function senderKey(epoch, senderId) {
  const e = epochs.get(epoch);
  if (!e) return null;
  let p = e.senders.get(senderId);
  if (!p) {
    p = derive(e.raw, epoch, senderId);
    e.senders.set(senderId, p);
  }
  return p;
}

function setKey(epoch, raw) {
  epochs.set(epoch, { raw, senders: new Map() });
  const sorted = [...epochs.keys()].sort((a, b) => b - a);
  for (const old of sorted.slice(KEEP_EPOCHS)) epochs.delete(old);
}

// ------------------------------------------------------------------------------------------------ SFrame header

// config byte: X(1) K(3) Y(1) C(3). KID < 8 -> X=0, K=KID; else X=1, K=len-1 and the KID bytes follow.
// CTR is always 8 bytes here: Y=1, C=7.
function minimalBytes(n) {
  const out = [];
  do { out.unshift(n & 0xff); n = Math.floor(n / 256); } while (n > 0);
  return out;
}

function encodeHeader(kid, ctr8) {
  if (kid < 8) {
    const h = new Uint8Array(1 + 8);
    h[0] = (kid << 4) | 0x08 | 7;
    h.set(ctr8, 1);
    return h;
  }
  const kb = minimalBytes(kid);
  const h = new Uint8Array(1 + kb.length + 8);
  h[0] = 0x80 | ((kb.length - 1) << 4) | 0x08 | 7;
  h.set(kb, 1);
  h.set(ctr8, 1 + kb.length);
  return h;
}

function decodeHeader(buf, off) {
  if (off >= buf.length) return null;
  const c = buf[off];
  let p = off + 1;
  let kid;
  if (c & 0x80) {
    const n = ((c >> 4) & 7) + 1;
    if (p + n > buf.length) return null;
    kid = 0;
    for (let i = 0; i < n; i++) kid = kid * 256 + buf[p + i];
    p += n;
  } else {
    kid = (c >> 4) & 7;
  }
  let ctr;
  if (c & 0x08) {
    const n = (c & 7) + 1;
    if (p + n > buf.length) return null;
    ctr = new Uint8Array(8);
    ctr.set(buf.subarray(p, p + n), 8 - n);
    p += n;
  } else {
    ctr = new Uint8Array(8);
    ctr[7] = c & 7;
  }
  return { kid, ctr, length: p - off };
}

function nonce(salt, ctr8) {
  const iv = new Uint8Array(salt);
  for (let i = 0; i < 8; i++) iv[4 + i] ^= ctr8[i];
  return iv;
}

// ------------------------------------------------------------------------------------------------ codec bytes

function h264NalStarts(b) {
  // positions of NAL headers (the byte after each 00 00 01 / 00 00 00 01 start code)
  const out = [];
  for (let i = 0; i + 2 < b.length; i++) {
    if (b[i] === 0 && b[i + 1] === 0 && b[i + 2] === 1) { out.push(i + 3); i += 2; }
  }
  return out;
}

function h264Clear(b) {
  for (const pos of h264NalStarts(b)) {
    const type = b[pos] & 0x1f;
    if (type === 1 || type === 5) return Math.min(b.length, pos + 2); // NAL header + 1 byte of slice header kept
  }
  return 0;
}

// emulation prevention (H.264 7.4.1): the ciphertext must never contain a start code
function rbspEscape(b) {
  const out = [];
  let zeros = 0;
  for (const x of b) {
    if (zeros >= 2 && x <= 3) { out.push(3); zeros = 0; }
    out.push(x);
    zeros = x === 0 ? zeros + 1 : 0;
  }
  return new Uint8Array(out);
}

function rbspUnescape(b) {
  const out = [];
  let zeros = 0;
  for (let i = 0; i < b.length; i++) {
    const x = b[i];
    if (zeros >= 2 && x === 3) { zeros = 0; continue; }
    out.push(x);
    zeros = x === 0 ? zeros + 1 : 0;
  }
  return new Uint8Array(out);
}

function codecOf(frame, options) {
  try {
    const mime = frame.getMetadata().mimeType;
    if (mime) { options.seenMime = mime; return mime.split("/")[1].toLowerCase(); }
  } catch (e) { /* older Chromium: no mimeType */ }
  return (options.codec || (options.kind === "audio" ? "opus" : "vp8")).toLowerCase();
}

function clearBytes(frame, options, data) {
  const codec = codecOf(frame, options);
  let n;
  if (options.kind === "audio") n = codec === "opus" ? 1 : 0;
  else if (codec === "vp8") n = frame.type === "key" ? 10 : 3;
  else if (codec === "h264") n = h264Clear(data);
  else n = 0;
  return { n: Math.min(n, data.length), h264: codec === "h264" };
}

// ------------------------------------------------------------------------------------------------ transforms

function newStats(options) {
  return { id: options.id, op: options.operation, kind: options.kind, participant: options.participant || null,
    track: options.track || null, ok: 0, failed: 0, noKey: 0, dropped: 0, passed: 0, epoch: null,
    cryptoMs: 0, bytes: 0, lastOkAt: 0, lastFailAt: 0 };
}

function concat(...parts) {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

function encryptor(options, st) {
  const ctr = new Uint8Array(8);
  crypto.getRandomValues(ctr.subarray(0, 4)); // this stream's random half: (key, nonce) unique across streams
  let count = 0;
  return async (frame, controller) => {
    const data = new Uint8Array(frame.data);
    if (data.length === 0) { controller.enqueue(frame); return; }
    if (options.plain) { st.passed++; controller.enqueue(frame); return; }
    const epoch = sendEpoch;
    const kp = epoch === null ? null : senderKey(epoch, options.participant);
    if (!kp) { st.noKey++; return; } // never send media in clear
    const t0 = now();
    const k = await kp;
    count = (count + 1) >>> 0;
    new DataView(ctr.buffer).setUint32(4, count);
    const { n, h264 } = clearBytes(frame, options, data);
    const clear = data.subarray(0, n);
    const header = encodeHeader(epoch, ctr);
    const ct = new Uint8Array(await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: nonce(k.salt, ctr), additionalData: concat(clear, header), tagLength: 128 },
      k.key, data.subarray(n)));
    let tail = concat(header, ct);
    if (h264) tail = rbspEscape(tail);
    frame.data = concat(clear, tail).buffer;
    st.cryptoMs += now() - t0;
    st.ok++;
    st.bytes += data.length;
    st.epoch = epoch;
    st.lastOkAt = Date.now();
    controller.enqueue(frame);
  };
}

function decryptor(options, st) {
  return async (frame, controller) => {
    const data = new Uint8Array(frame.data);
    if (data.length === 0) { controller.enqueue(frame); return; }
    if (options.plain) { st.passed++; controller.enqueue(frame); return; }
    const t0 = now();
    const { n, h264 } = clearBytes(frame, options, data);
    let tail = data.subarray(n);
    if (h264) tail = rbspUnescape(tail);
    const hdr = decodeHeader(tail, 0);
    const kp = hdr ? senderKey(hdr.kid, options.participant) : null;
    if (!kp) {
      if (hdr) st.noKey++; else st.failed++;
      st.lastFailAt = Date.now();
      return; // undecryptable frames never reach the decoder
    }
    try {
      const k = await kp;
      const header = tail.subarray(0, hdr.length);
      const pt = new Uint8Array(await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: nonce(k.salt, hdr.ctr), additionalData: concat(data.subarray(0, n), header), tagLength: 128 },
        k.key, tail.subarray(hdr.length)));
      frame.data = concat(data.subarray(0, n), pt).buffer;
      st.ok++;
      st.bytes += pt.length + n;
      st.epoch = hdr.kid;
      st.lastOkAt = Date.now();
      st.cryptoMs += now() - t0;
      controller.enqueue(frame);
    } catch (e) {
      st.failed++;
      st.lastFailAt = Date.now();
      st.cryptoMs += now() - t0;
    }
  };
}

function attach(readable, writable, options) {
  const st = newStats(options);
  streams.set(options.id, st);
  const fn = options.operation === "encode" ? encryptor(options, st) : decryptor(options, st);
  st.options = options;
  readable
    .pipeThrough(new TransformStream({ transform: fn }))
    .pipeTo(writable)
    .catch((e) => { st.error = String(e); })
    .finally(() => { streams.delete(options.id); });
  if (statsTimer === null) statsTimer = setInterval(postStats, 500);
}

function postStats() {
  const out = [];
  for (const st of streams.values()) {
    const { options, ...rest } = st;
    rest.codec = options.codec || null;
    rest.mime = options.seenMime || null;
    out.push(rest);
  }
  self.postMessage({ type: "stats", sendEpoch, epochs: [...epochs.keys()], streams: out });
}

if (self.RTCTransformEvent !== undefined || "onrtctransform" in self) {
  self.onrtctransform = (event) => {
    const t = event.transformer;
    attach(t.readable, t.writable, t.options);
  };
}

self.onmessage = (event) => {
  const m = event.data;
  if (m.type === "key") setKey(m.epoch, m.raw);
  else if (m.type === "sendEpoch") sendEpoch = m.epoch;
  else if (m.type === "streams") attach(m.readable, m.writable, m.options);
  else if (m.type === "codec") { // the negotiated codec of a sending stream (when frames carry no mimeType)
    const st = streams.get(m.id);
    if (st) st.options.codec = m.codec;
  }
  else if (m.type === "plain") { // a sender of this track announced it does not encrypt
    for (const st of streams.values()) if (st.options.participant === m.participant && st.op === "decode") st.options.plain = m.plain;
  } else if (m.type === "stats") postStats();
};
