// The receive codec a trimmed m-line offers (signalling/client/session.js): the entry the node would choose from
// the browser's whole list (sfu/negotiation/sdp.py), so trimming never changes what is negotiated.
import { test } from "node:test";
import assert from "node:assert/strict";
import { receiveCodec, Session } from "../../signalling/client/session.js";

// what Chromium's RTCRtpReceiver.getCapabilities("video") lists, in its order (abridged)
const CHROMIUM = [
  { mimeType: "video/VP8" },
  { mimeType: "video/rtx" },
  { mimeType: "video/H264", sdpFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f" },
  { mimeType: "video/H264", sdpFmtpLine: "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f" },
  { mimeType: "video/H264", sdpFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f" },
  { mimeType: "video/VP9", sdpFmtpLine: "profile-id=2" },
  { mimeType: "video/VP9", sdpFmtpLine: "profile-id=0" },
];

test("one receive codec per track: the node's choice among the browser's entries", () => {
  assert.equal(receiveCodec(CHROMIUM, "video", "vp8").mimeType, "video/VP8");
  assert.match(receiveCodec(CHROMIUM, "video", "h264").sdpFmtpLine, /packetization-mode=1;profile-level-id=42e01f/);
  assert.equal(receiveCodec(CHROMIUM, "video", "vp9").sdpFmtpLine, "profile-id=0");
  assert.equal(receiveCodec([{ mimeType: "audio/opus", sdpFmtpLine: "minptime=10;useinbandfec=1" }], "audio", "opus").mimeType, "audio/opus");
});

test("a codec the browser cannot receive as the node needs it: no trimming (null)", () => {
  assert.equal(receiveCodec(CHROMIUM, "video", "av1"), null);
  assert.equal(receiveCodec(CHROMIUM.filter((c) => !/packetization-mode=1/.test(c.sdpFmtpLine || "")), "video", "h264"), null);
  assert.equal(receiveCodec(CHROMIUM.filter((c) => c.sdpFmtpLine !== "profile-id=0"), "video", "vp9"), null);
});

// The node withdrew the meeting from its region (the tenant's policy narrowed: docs/residency.md): the client must
// join again through the control plane (`fatal`, as after a lost node), never resume on that node nor show "left".
function joinedSession() {
  const s = new Session({ wsUrl: "ws://127.0.0.1:1/ws", token: "t" });
  s.me = { participant: "p1", resume_secret: "x" };
  const seen = [];
  for (const type of ["fatal", "left", "connection"]) s.addEventListener(type, (ev) => seen.push([type, ev.detail]));
  s._resumeLoop = () => seen.push(["resume"]);
  return { s, seen };
}

test("left region_withdrawn: join again through the control plane, not an end", () => {
  const { s, seen } = joinedSession();
  s._onMessage({ type: "left", reason: "region_withdrawn" });
  assert.deepEqual(seen.map((e) => e[0]), ["fatal"]);
  assert.equal(seen[0][1].code, "region_withdrawn");
  assert.equal(s.closed, true);
  s._onSocketClosed({ code: 4010 }); // the close that follows changes nothing more
  assert.equal(seen.length, 1);
});

test("close 4010 with its `left` lost: no resume on that node, join again", () => {
  const { s, seen } = joinedSession();
  s._onSocketClosed({ code: 4010 });
  assert.deepEqual(seen.map((e) => e[0]), ["fatal"]);
  assert.equal(seen[0][1].code, "region_withdrawn");
});

test("other leaves and closes keep their meaning: `left` ends, 4008 resumes", () => {
  const a = joinedSession();
  a.s._onMessage({ type: "left", reason: "ended_by_host" });
  assert.deepEqual(a.seen.map((e) => e[0]), ["left"]);
  const b = joinedSession();
  b.s._onSocketClosed({ code: 4008 });
  assert.deepEqual(b.seen.map((e) => e[0]), ["connection", "resume"]);
});
