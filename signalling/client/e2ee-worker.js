// Castellan E2EE frame transform (a dedicated module worker). Every encoded audio/video frame is sealed as an
// SFrame ciphertext (RFC 9605, keys from the MLS exporter: e2ee/sframe.js) before the packetizer sees it, and
// opened before the decoder does. A frame without a key is dropped, never sent or played in the clear: this
// worker has no pass-through mode, so no message can switch encryption or decryption off.
//
// Works with RTCRtpScriptTransform (`rtctransform` event) and with the legacy createEncodedStreams() streams
// posted by the main thread ({type: "streams"}). Messages from the main thread (e2ee.js): epoch (a new epoch's
// base key and roster), send (switch sending to an epoch), drop (forget epochs below one), streams, codec, stats;
// on a recorder's page only, record / record-event / record-bye / record-pause (recorder-tap.js).

import { FrameCrypto, NEXT_EPOCH_HOLD_MS } from "./e2ee/sframe.js";
import { RecorderTap } from "./recorder-tap.js";

const frames = new FrameCrypto();
let held = false; // a "required" meeting without its recorder: outgoing frames are dropped, not sent
const tap = new RecorderTap(); // a recorder page only (recorder.js): decrypted encoded frames to the local recorder
const streams = new Map(); // transform id -> stats
let statsTimer = null;
const MAX_QUEUED_FRAMES = 512; // received frames waiting in one stream (for the next epoch's keys): more are dropped
const KEYFRAME_REQUEST_MS = 1000; // a receiver asks its sender for a keyframe at most this often

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
    cryptoMs: 0, bytes: 0, lastOkAt: 0, lastFailAt: 0, keyFrameRequests: 0, gap: false, lastKeyFrameRequestAt: 0 };
}

/**
 * The transform of one stream. Received frames are opened one after another in their order, but off the stream's
 * own pace: a frame under the next epoch waits for its keys (NEXT_EPOCH_HOLD_MS) without stalling the readable, which
 * drops frames itself when it backs up. After a received video frame was dropped, the decoder cannot go on before a
 * keyframe: the first frame that opens again asks the sender for one (`requestKeyFrame`, RTCRtpScriptTransformer's
 * sendKeyFrameRequest), rather than leaving the picture frozen until the decoder's own 3-s timeout asks.
 */
function transformer(options, st, requestKeyFrame = null) {
  const encode = options.operation === "encode";
  const one = async (frame, controller) => {
    const data = new Uint8Array(frame.data);
    if (data.length === 0) { controller.enqueue(frame); return; }
    const info = { kind: options.kind, codec: codecOf(frame, options), keyframe: frame.type === "key", participant: options.participant };
    const t0 = performance.now();
    if (encode) {
      if (held) { st.dropped++; return; } // the meeting waits for its recorder: nothing leaves this browser
      const r = await frames.encrypt(data, info);
      st.cryptoMs += performance.now() - t0;
      if (!r) { st.noKey++; return; } // no epoch yet: never send media in clear
      frame.data = r.data.buffer;
      st.ok++; st.bytes += data.length; st.epoch = r.epoch; st.lastOkAt = Date.now();
      controller.enqueue(frame);
      return;
    }
    const r = await frames.decrypt(data, info, { holdMs: NEXT_EPOCH_HOLD_MS });
    st.cryptoMs += performance.now() - t0;
    if (!r.ok) { // undecryptable frames never reach the decoder
      if (r.reason === "no_key") st.noKey++;
      else if (r.reason === "replay") st.replayed++;
      else if (r.reason === "wrong_sender") st.wrongSender++;
      else st.failed++;
      st.lastFailAt = Date.now();
      st.lastFailReason = r.reason;
      st.gap = true;
      return;
    }
    if (info.keyframe) st.gap = false;
    else if (st.gap && options.kind === "video" && requestKeyFrame && Date.now() - st.lastKeyFrameRequestAt >= KEYFRAME_REQUEST_MS) {
      st.lastKeyFrameRequestAt = Date.now();
      st.keyFrameRequests++;
      requestKeyFrame();
    }
    if (tap.on) tap.frame(options, frame, r.data, requestKeyFrame);
    frame.data = r.data.buffer;
    st.ok++; st.bytes += r.data.length; st.epoch = r.epoch; st.lastOkAt = Date.now();
    controller.enqueue(frame);
  };
  if (encode) return one;
  let chain = Promise.resolve();
  let queued = 0;
  return (frame, controller) => {
    if (queued >= MAX_QUEUED_FRAMES) { st.dropped++; st.gap = true; return; }
    queued++;
    chain = chain.then(() => one(frame, controller))
      .catch((e) => { st.error = String(e); }) // the stream closed meanwhile (a transceiver reused or stopped)
      .finally(() => { queued--; });
  };
}

function keyFrameRequester(t) {
  if (!t || typeof t.sendKeyFrameRequest !== "function") return null; // createEncodedStreams: the decoder asks itself
  return () => {
    try {
      Promise.resolve(t.sendKeyFrameRequest()).catch(() => {});
    } catch (e) { /* not for this stream */ }
  };
}

function attach(readable, writable, options, requestKeyFrame = null) {
  const st = newStats(options);
  st.options = options;
  streams.set(options.id, st);
  readable
    .pipeThrough(new TransformStream({ transform: transformer(options, st, requestKeyFrame) }))
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
    attach(t.readable, t.writable, t.options, t.options && t.options.operation === "decode" ? keyFrameRequester(t) : null);
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
    else if (m.type === "hold") held = !!m.held; // recording-indicator.js: "required" and no recorder yet
    else if (m.type === "record") tap.connect(m.url);
    else if (m.type === "record-event") tap.event(m.event);
    else if (m.type === "record-bye") tap.bye();
    else if (m.type === "record-pause") tap.paused = !!m.paused;
  } catch (e) {
    self.postMessage({ type: "error", text: String(e && e.message) });
  }
};
