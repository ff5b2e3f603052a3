// RFC 9605 SFrame as the frame layer uses it: the RFC's own vectors, the replay window, epochs and senders.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FrameCrypto, ReplayWindow, decodeHeader, deriveKeySalt, encodeHeader, kidFor, open, seal } from "../../signalling/client/e2ee/sframe.js";
import { rbspEscape, rbspUnescape } from "../../signalling/client/e2ee/codec.js";

const h = (s) => Uint8Array.from(s.replace(/\s/g, "").match(/../g).map((x) => parseInt(x, 16)));
const hex = (b) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

test("RFC 9605 appendix C.3, cipher suite 0x0004: key, salt, ciphertext, and back", async () => {
  const ks = await deriveKeySalt(h("000102030405060708090a0b0c0d0e0f"), 0x123);
  assert.equal(hex(ks.rawKey), "d34f547f4ca4f9a7447006fe7fcbf768");
  assert.equal(hex(ks.salt), "75234edefe07819026751816");
  const metadata = h("4945544620534672616d65205747");
  const ct = await seal(ks, 0x123, 0x4567, metadata, h("64726166742d696574662d736672616d652d656e63"));
  assert.equal(hex(ct), "9901234567b7412c2513a1b66dbb48841bbaf17f598751176ad847681a69c6d0b091c07018ce4adb34eb");
  assert.equal(hex(await open(ks, decodeHeader(ct), ct, metadata)), "64726166742d696574662d736672616d652d656e63");
  await assert.rejects(open(ks, decodeHeader(ct), ct, h("00")), "other metadata does not authenticate");
});

test("RFC 9605 appendix C.1 headers", () => {
  for (const [kid, ctr, hdr] of [[0, 0, "00"], [7, 7, "77"], [0xff, 0, "80ff"], [0xff, 0xff, "88ffff"], [0x100, 0x100, "9901000100"],
    [0xffffff, 0xffffff, "aaffffffffffff"], [0x0000010000000000, 1, "d1010000000000"]]) {
    assert.equal(hex(encodeHeader(kid, ctr)), hdr);
    assert.deepEqual(decodeHeader(h(hdr)), { kid, ctr, length: hdr.length / 2 });
  }
  assert.equal(decodeHeader(h("ff")), null, "truncated");
  assert.equal(decodeHeader(h("f0ffffffffffffffff")), null, "a KID past 2^53 is refused, not rounded");
});

test("KID = sender leaf << 8 | epoch mod 256", () => {
  assert.equal(kidFor(0, 5), 5);
  assert.equal(kidFor(3, 257), 3 * 256 + 1);
  assert.throws(() => kidFor(-1, 0));
});

test("replay window: each counter once, nothing older than the window", () => {
  const w = new ReplayWindow(8);
  assert.ok(w.fresh(5)); w.accept(5);
  assert.ok(!w.fresh(5));
  assert.ok(w.fresh(3)); w.accept(3);
  assert.ok(!w.fresh(3));
  w.accept(20);
  assert.ok(!w.fresh(12), "12 is 8 below the top: outside the window");
  assert.ok(w.fresh(13));
  assert.ok(!w.fresh(20));
});

function pair() {
  const base = crypto.getRandomValues(new Uint8Array(16));
  const leaves = [[0, "alice"], [1, "bob"]];
  const a = new FrameCrypto();
  const b = new FrameCrypto();
  a.setEpoch({ epoch: 4, baseKey: base.slice(), leaves, myLeaf: 0 });
  b.setEpoch({ epoch: 4, baseKey: base.slice(), leaves, myLeaf: 1 });
  a.setSendEpoch(4);
  return { a, b, leaves };
}

const VP8 = { kind: "video", codec: "vp8", keyframe: true };

test("a frame opens once: the replayed copy is refused", async () => {
  const { a, b } = pair();
  const f = await a.encrypt(new Uint8Array(100).fill(7), VP8);
  assert.equal((await b.decrypt(f.data, { ...VP8, participant: "alice" })).ok, true);
  assert.deepEqual(await b.decrypt(f.data, { ...VP8, participant: "alice" }), { ok: false, reason: "replay", epoch: 4 });
});

test("codec bytes stay clear and authenticated; the rest is not readable", async () => {
  const { a, b } = pair();
  const frame = Uint8Array.from({ length: 64 }, (_, i) => i);
  const f = await a.encrypt(frame, VP8);
  assert.deepEqual(f.data.subarray(0, 10), frame.subarray(0, 10), "VP8 keyframe: 10 bytes clear");
  assert.notDeepEqual(f.data.subarray(11, 64), frame.subarray(10, 63));
  const tampered = f.data.slice();
  tampered[2] ^= 1; // a clear codec byte changed by the node
  assert.equal((await b.decrypt(tampered, { ...VP8, participant: "alice" })).reason, "auth");
  const opus = await a.encrypt(Uint8Array.from([0xfc, 1, 2, 3]), { kind: "audio", codec: "opus" });
  assert.equal(opus.data[0], 0xfc, "Opus TOC clear");
});

test("H.264: the sealed part never contains a start code, and opens", async () => {
  const { a, b } = pair();
  const info = { kind: "video", codec: "h264" };
  for (let i = 0; i < 50; i++) {
    const frame = new Uint8Array([0, 0, 0, 1, 0x65, 0x88, ...crypto.getRandomValues(new Uint8Array(300))]);
    const f = await a.encrypt(frame, info);
    const tail = f.data.subarray(6);
    for (let j = 0; j + 2 < tail.length; j++) assert.ok(!(tail[j] === 0 && tail[j + 1] === 0 && tail[j + 2] <= 1));
    assert.deepEqual((await b.decrypt(f.data, { ...info, participant: "alice" })).data, frame);
  }
  assert.deepEqual(rbspUnescape(rbspEscape(Uint8Array.from([0, 0, 0, 0, 3, 0, 0, 1]))), Uint8Array.from([0, 0, 0, 0, 3, 0, 0, 1]));
});

test("a frame on another participant's track is refused (the node cannot relabel senders)", async () => {
  const { a, b } = pair();
  const f = await a.encrypt(new Uint8Array(40), VP8);
  assert.equal((await b.decrypt(f.data, { ...VP8, participant: "bob" })).reason, "wrong_sender");
  assert.equal((await b.decrypt(f.data, { ...VP8, participant: "mallory" })).reason, "wrong_sender");
});

test("no epoch, no frame: nothing is sealed before the first epoch", async () => {
  const c = new FrameCrypto();
  assert.equal(await c.encrypt(new Uint8Array(10), VP8), null);
  assert.equal((await c.decrypt(new Uint8Array(40), { ...VP8, participant: "x" })).ok, false);
});

test("epochs only go up; at most the current and the previous one are held; dropped keys open nothing", async () => {
  const { a, b, leaves } = pair();
  const old = await a.encrypt(new Uint8Array(40).fill(1), VP8);
  const base5 = crypto.getRandomValues(new Uint8Array(16));
  assert.throws(() => b.setEpoch({ epoch: 4, baseKey: base5.slice(), leaves, myLeaf: 1 }), /refused epoch/);
  assert.throws(() => b.setEpoch({ epoch: 2 ** 53, baseKey: base5.slice(), leaves, myLeaf: 1 }), /refused epoch/);
  b.setEpoch({ epoch: 5, baseKey: base5.slice(), leaves, myLeaf: 1 });
  a.setEpoch({ epoch: 5, baseKey: base5.slice(), leaves, myLeaf: 0 });
  assert.equal((await b.decrypt(old.data, { ...VP8, participant: "alice" })).ok, true, "previous epoch still open during the grace");
  a.setSendEpoch(5);
  const old2 = await a.encrypt(new Uint8Array(40).fill(2), VP8); // epoch 5 now
  b.dropBefore(5);
  assert.deepEqual(b.heldEpochs(), [5]);
  assert.equal((await b.decrypt(old.data, { ...VP8, participant: "alice" })).reason, "no_key");
  assert.equal((await b.decrypt(old2.data, { ...VP8, participant: "alice" })).ok, true);
  b.setEpoch({ epoch: 6, baseKey: crypto.getRandomValues(new Uint8Array(16)), leaves, myLeaf: 1 });
  b.setEpoch({ epoch: 7, baseKey: crypto.getRandomValues(new Uint8Array(16)), leaves, myLeaf: 1 });
  assert.deepEqual(b.heldEpochs(), [6, 7], "never more than two epochs");
});

test("a frame under the next epoch waits for its keys (held, not dropped); only that epoch, and only so long", async () => {
  const { a, b, leaves } = pair();
  const base5 = crypto.getRandomValues(new Uint8Array(16));
  a.setEpoch({ epoch: 5, baseKey: base5.slice(), leaves, myLeaf: 0 });
  a.setSendEpoch(5); // the sender switched before the receiver applied the commit (a busy receiver)
  const early = await a.encrypt(new Uint8Array(40).fill(3), VP8);
  assert.equal((await b.decrypt(early.data, { ...VP8, participant: "alice" })).reason, "no_key", "without a hold: dropped");
  const held = b.decrypt(early.data, { ...VP8, participant: "alice" }, { holdMs: 60000 });
  const also = b.decrypt((await a.encrypt(new Uint8Array(40).fill(4), VP8)).data, { ...VP8, participant: "alice" }, { holdMs: 60000 });
  b.setEpoch({ epoch: 5, baseKey: base5.slice(), leaves, myLeaf: 1 }); // the commit is applied: both open, in order
  assert.equal((await held).ok, true);
  assert.equal((await also).ok, true);
  // two epochs ahead, or a previous epoch already dropped: nothing to wait for
  const far = new FrameCrypto();
  far.setEpoch({ epoch: 7, baseKey: crypto.getRandomValues(new Uint8Array(16)), leaves, myLeaf: 0 });
  far.setSendEpoch(7);
  const ahead = await far.encrypt(new Uint8Array(40), VP8);
  assert.equal((await b.decrypt(ahead.data, { ...VP8, participant: "alice" }, { holdMs: 60000 })).reason, "no_key");
  // the keys do not come in time: dropped after the hold, and the next frames of that epoch wait no more
  const six = new FrameCrypto();
  six.setEpoch({ epoch: 6, baseKey: crypto.getRandomValues(new Uint8Array(16)), leaves, myLeaf: 0 });
  six.setSendEpoch(6);
  const f6 = await six.encrypt(new Uint8Array(40), VP8);
  assert.equal((await b.decrypt(f6.data, { ...VP8, participant: "alice" }, { holdMs: 20 })).reason, "no_key");
  assert.equal(b._gaveUp, 6);
  const again = b.decrypt((await six.encrypt(new Uint8Array(40), VP8)).data, { ...VP8, participant: "alice" }, { holdMs: 60000 });
  assert.equal((await again).reason, "no_key", "given up: no second wait for epoch 6");
  // a held frame whose epoch is passed by (our next epoch has other keys, e.g. a forged KID): refused, not opened
  const c = new FrameCrypto();
  c.setEpoch({ epoch: 4, baseKey: crypto.getRandomValues(new Uint8Array(16)), leaves, myLeaf: 1 });
  const forged = c.decrypt(early.data, { ...VP8, participant: "alice" }, { holdMs: 60000 });
  c.setEpoch({ epoch: 5, baseKey: crypto.getRandomValues(new Uint8Array(16)), leaves, myLeaf: 1 });
  assert.equal((await forged).reason, "auth");
});

test("simulcast: the layers of one camera (and its audio) share one counter: no nonce twice, each layer opens", async () => {
  // the worker's encode transform sees every layer's frames (q, h, f of one capture, then the next) and the audio;
  // they are sealed concurrently, as the transforms of several senders would
  const { a, b } = pair();
  const layers = ["q", "h", "f"];
  const sealed = await Promise.all(Array.from({ length: 300 }, (_, i) => {
    const layer = layers[i % 4] || "audio"; // every 4th frame an audio one
    const info = layer === "audio" ? { kind: "audio", codec: "opus", participant: "alice" } : { ...VP8, keyframe: i < 4 };
    const data = crypto.getRandomValues(new Uint8Array(60 + (i % 4) * 30));
    return a.encrypt(data, info).then((r) => ({ layer, info, data, r }));
  }));
  const ctrs = sealed.map(({ r, info }) => decodeHeader(r.data.subarray(info.kind === "audio" ? 1 : info.keyframe ? 10 : 3)).ctr);
  assert.equal(new Set(ctrs).size, ctrs.length, "a counter (so a nonce) used twice");
  // a subscriber gets one layer, then is switched up to another (the node moves it at a keyframe): every frame of
  // either opens, interleaved counters and all; a frame replayed from the other layer is refused
  const rx = { ...VP8, participant: "alice" };
  for (const s of sealed.filter((x) => x.layer === "q").slice(0, 40).concat(sealed.filter((x) => x.layer === "f").slice(10))) {
    const r = await b.decrypt(s.r.data, { ...rx, keyframe: s.info.keyframe });
    assert.ok(r.ok, r.reason);
    assert.deepEqual(r.data, s.data);
  }
  const replay = sealed.filter((x) => x.layer === "f").at(-1);
  assert.equal((await b.decrypt(replay.r.data, { ...rx, keyframe: replay.info.keyframe })).reason, "replay");
});
