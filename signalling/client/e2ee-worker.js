// Castellan E2EE frame transform (a dedicated module worker). Every encoded audio/video frame is sealed as an
// SFrame ciphertext (RFC 9605, keys from the MLS exporter: e2ee/sframe.js) before the packetizer sees it, and
// opened before the decoder does. A frame without a key is dropped, never sent or played in the clear: this
// worker has no pass-through mode, so no message can switch encryption or decryption off.
//
// Works with RTCRtpScriptTransform (`rtctransform` event) and with the legacy createEncodedStreams() streams
// posted by the main thread ({type: "streams"}). Messages from the main thread (e2ee.js): epoch (a new epoch's
// base key and roster), send (switch sending to an epoch), drop (forget epochs below one), streams, codec, stats;
// on a recorder's page only, record / record-event / record-bye (recorder-tap.js).

import { FrameCrypto } from "./e2ee/sframe.js";
import { RecorderTap } from "./recorder-tap.js";

const frames = new FrameCrypto();
const tap = new RecorderTap(); // a recorder page only (recorder.js): decrypted encoded frames to the local recorder
const streams = new Map(); // transform id -> stats
let statsTimer = null;

function codecOf(frame, options) {
  try {
    const mime = frame.getMetadata().mimeType;
    if (mime) { options.seenMime = mime; return mime.split("/")[1].toLowerCase(); }
  } catch (e) { /* older Chromium: no mimeType */ }
  return options.codec;
}

function newStats(options) {
  return { id: options.id, op: options.operation, kind: options.kind, participant: options.participant || null,
    track: options.track || null, ok: 0, failed: 0, noKey: 0, replayed: 0, wrongSender: 0, dropped: 0, epoch: null,
    cryptoMs: 0, bytes: 0, lastOkAt: 0, lastFailAt: 0 };
}

function transformer(options, st) {
  const encode = options.operation === "encode";
  return async (frame, controller) => {
    const data = new Uint8Array(frame.data);
    if (data.length === 0) { controller.enqueue(frame); return; }
    const info = { kind: options.kind, codec: codecOf(frame, options), keyframe: frame.type === "key", participant: options.participant };
    const t0 = performance.now();
    if (encode) {
      const r = await frames.encrypt(data, info);
      st.cryptoMs += performance.now() - t0;
      if (!r) { st.noKey++; return; } // no epoch yet: never send media in clear
      frame.data = r.data.buffer;
      st.ok++; st.bytes += data.length; st.epoch = r.epoch; st.lastOkAt = Date.now();
      controller.enqueue(frame);
      return;
    }
    const r = await frames.decrypt(data, info);
    st.cryptoMs += performance.now() - t0;
    if (!r.ok) { // undecryptable frames never reach the decoder
      if (r.reason === "no_key") st.noKey++;
      else if (r.reason === "replay") st.replayed++;
      else if (r.reason === "wrong_sender") st.wrongSender++;
      else st.failed++;
      st.lastFailAt = Date.now();
      st.lastFailReason = r.reason;
      return;
    }
    if (tap.on) tap.frame(options, frame, r.data);
    frame.data = r.data.buffer;
    st.ok++; st.bytes += r.data.length; st.epoch = r.epoch; st.lastOkAt = Date.now();
    controller.enqueue(frame);
  };
}

function attach(readable, writable, options) {
  const st = newStats(options);
  st.options = options;
  streams.set(options.id, st);
  readable
    .pipeThrough(new TransformStream({ transform: transformer(options, st) }))
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
  self.postMessage({ type: "stats", sendEpoch: frames.sendEpoch, epochs: frames.heldEpochs(), streams: out });
}

if (self.RTCTransformEvent !== undefined || "onrtctransform" in self) {
  self.onrtctransform = (event) => {
    const t = event.transformer;
    attach(t.readable, t.writable, t.options);
  };
}

self.onmessage = (event) => {
  const m = event.data;
  try {
    if (m.type === "epoch") frames.setEpoch({ epoch: m.epoch, baseKey: new Uint8Array(m.baseKey), leaves: m.leaves, myLeaf: m.myLeaf });
    else if (m.type === "send") frames.setSendEpoch(m.epoch);
    else if (m.type === "drop") frames.dropBefore(m.before);
    else if (m.type === "streams") attach(m.readable, m.writable, m.options);
    else if (m.type === "codec") { // the negotiated codec of a sending stream (when frames carry no mimeType)
      const st = streams.get(m.id);
      if (st) st.options.codec = m.codec;
    } else if (m.type === "stats") postStats();
    else if (m.type === "record") tap.connect(m.url);
    else if (m.type === "record-event") tap.event(m.event);
    else if (m.type === "record-bye") tap.bye();
  } catch (e) {
    self.postMessage({ type: "error", text: String(e && e.message) });
  }
};
