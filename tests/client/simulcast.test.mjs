// The camera's simulcast (signalling/client/simulcast.js) and the tile sizes told to the node (viewport.js): what
// a publisher sends, how the node's `layers` wishes reach the encodings, what a subscriber reports.
import { test } from "node:test";
import assert from "node:assert/strict";
import { CAMERA_LAYERS, LayerSwitch, SVC_MODE, cameraEncodings, layersFor, screenEncodings } from "../../signalling/client/simulcast.js";
import { ViewportReporter, shownSize } from "../../signalling/client/viewport.js";

/** An RTCRtpSender's parameters as Chromium keeps them: setParameters resolves later, refuses while one is
 * pending (a stale transaction), or when told to. */
class FakeSender {
  constructor(rids) {
    this.encodings = rids.map((rid) => ({ rid, active: true }));
    this.calls = [];
    this.pending = false;
    this.refuse = 0;
  }

  getParameters() {
    return { transactionId: String(this.calls.length), encodings: this.encodings.map((e) => ({ ...e })) };
  }

  async setParameters(p) {
    if (this.pending) throw new Error("InvalidStateError: a setParameters is pending");
    this.calls.push(p.encodings.map((e) => `${e.rid}:${e.active ? 1 : 0}`).join(" "));
    if (this.refuse > 0) { this.refuse--; throw new Error("InvalidModificationError"); }
    this.pending = true;
    await new Promise((r) => setTimeout(r, 5));
    this.pending = false;
    this.encodings = p.encodings.map((e) => ({ ...e }));
  }

  active() {
    return Object.fromEntries(this.encodings.map((e) => [e.rid, e.active]));
  }
}

const now = { setTimeout: (fn) => setTimeout(fn, 0) };

test("a camera sends q, h, f (quarter, half, full), lowest first, capped like LiveKit's 720p defaults", () => {
  const e = cameraEncodings();
  assert.deepEqual(e.map((x) => [x.rid, x.scaleResolutionDownBy, x.maxBitrate]),
    [["q", 4, 160000], ["h", 2, 450000], ["f", 1, 1700000]]);
  assert.deepEqual(cameraEncodings("h264"), e);
  e[0].active = false; // a copy: a sender's encodings never change the defaults
  assert.equal(CAMERA_LAYERS[0].active, undefined);
  assert.deepEqual(cameraEncodings("VP9"), [{ scalabilityMode: SVC_MODE, maxBitrate: 2310000 }]);
});

test("the node's wishes are applied one at a time, the latest each time, and none is lost", async () => {
  const sender = new FakeSender(["q", "h", "f"]);
  const errors = [];
  const sw = new LayerSwitch({ onError: (e) => errors.push(e), timers: now });
  sw.attach(sender);
  // a burst while the first is pending: Chromium would refuse a concurrent one; the last wish wins
  sw.want({ q: true, h: false, f: false });
  sw.want({ q: true, h: true, f: false });
  await sw.want({ q: true, h: false, f: false });
  assert.deepEqual(errors, []);
  assert.deepEqual(sender.active(), { q: true, h: false, f: false });
  assert.ok(sender.calls.length <= 3, sender.calls);
  const calls = sender.calls.length;
  await sw.want({ q: true, h: false, f: false }); // nothing changes: no setParameters
  assert.equal(sender.calls.length, calls);
});

test("a wish before the sender exists waits for it; a refused setParameters is tried again", async () => {
  const sender = new FakeSender(["q", "h", "f"]);
  const errors = [];
  const sw = new LayerSwitch({ onError: (e) => errors.push(e), timers: now, retryMs: 0 });
  await sw.want({ q: true, h: true, f: false });
  assert.equal(sender.calls.length, 0);
  sender.refuse = 2;
  await sw.attach(sender);
  for (let i = 0; i < 50 && sender.active().f !== false; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(errors.length, 2);
  assert.deepEqual(sender.active(), { q: true, h: true, f: false });
});

test("a sender that always refuses is tried a bounded number of times", async () => {
  const sender = new FakeSender(["q", "h", "f"]);
  sender.refuse = Infinity;
  let errors = 0;
  const sw = new LayerSwitch({ onError: () => errors++, timers: now, retryMs: 0, maxRetries: 5 });
  sw.attach(sender);
  await sw.want({ q: true, h: false, f: false });
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(errors, 5);
});

test("RIDs the sender does not have, and a single-encoding sender, are left alone", async () => {
  const sender = new FakeSender(["q", "h", "f"]);
  const sw = new LayerSwitch({ timers: now });
  sw.attach(sender);
  await sw.want({ x: false, f: false });
  assert.deepEqual(sender.active(), { q: true, h: true, f: false });
  const one = new FakeSender([undefined]);
  const sw1 = new LayerSwitch({ timers: now });
  sw1.attach(one);
  await sw1.want({ q: false });
  assert.equal(one.calls.length, 0);
});

test("tile sizes: device pixels, sent once per change, hidden tiles not sent (the node reads 0 as no cap)", () => {
  assert.deepEqual(shownSize({ clientWidth: 300, clientHeight: 187.5 }, 2), { width: 600, height: 375 });
  const sent = [];
  const r = new ViewportReporter((m) => sent.push(m));
  r.report(new Map([["t1", { width: 320, height: 180 }], ["t2", { width: 0, height: 0 }]]));
  r.report(new Map([["t1", { width: 320, height: 180 }]]));
  assert.deepEqual(sent, [{ type: "viewport", track: "t1", width: 320, height: 180 }]);
  r.report(new Map([["t1", { width: 1280, height: 720 }]]));
  assert.equal(sent.at(-1).height, 720);
  r.report(new Map()); // gone (unsubscribed, tile removed), then back: sent again
  r.report(new Map([["t1", { width: 1280, height: 720 }]]));
  assert.equal(sent.length, 3);
  r.report(new Map([["t1", { width: 99999, height: 99999 }]])); // within the node's bounds (0-16384)
  assert.deepEqual(sent.at(-1), { type: "viewport", track: "t1", width: 16384, height: 16384 });
});

test("a screen share: one full-resolution encoding, three temporal layers in VP8/VP9", () => {
  assert.deepEqual(screenEncodings(), [{ scalabilityMode: "L1T3" }]);
  assert.deepEqual(screenEncodings("VP9"), [{ scalabilityMode: "L1T3" }]);
  // H.264 carries no temporal layer index the node reads: a plain encoding
  assert.deepEqual(screenEncodings("h264"), [{}]);
});

test("a smaller camera sends fewer layers, its whole picture always the top one (Chromium drops the top encodings)", () => {
  assert.deepEqual([layersFor(1280, 720), layersFor(960, 540), layersFor(640, 480), layersFor(640, 360), layersFor(320, 240)],
    [3, 3, 2, 2, 1]);
  assert.deepEqual(cameraEncodings(null, { width: 640, height: 480 }).map((x) => [x.rid, x.scaleResolutionDownBy, x.maxBitrate]),
    [["q", 2, 450000], ["h", 1, 1700000]]);
  assert.deepEqual(cameraEncodings(null, { width: 320, height: 240 }), [{ maxBitrate: 1700000 }]); // no simulcast
  assert.equal(cameraEncodings("vp9", { width: 320, height: 240 })[0].scalabilityMode, SVC_MODE);
});

test("after a negotiation that switched paused encodings back on, the latest wish is applied again", async () => {
  const sender = new FakeSender(["q", "h", "f"]);
  const sw = new LayerSwitch({ timers: now });
  sw.attach(sender);
  await sw.again(); // no wish yet: nothing
  assert.equal(sender.calls.length, 0);
  await sw.want({ q: true, h: true, f: false });
  sender.encodings[2].active = true; // the answer's a=simulcast:recv q;h;f, as Chromium applies it
  await sw.again();
  assert.deepEqual(sender.active(), { q: true, h: true, f: false });
  const calls = sender.calls.length;
  await sw.again(); // still as wished: no setParameters
  assert.equal(sender.calls.length, calls);
});
