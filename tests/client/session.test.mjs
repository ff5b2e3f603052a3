// The receive codec a trimmed m-line offers (signalling/client/session.js): the entry the node would choose from
// the browser's whole list (sfu/negotiation/sdp.py), so trimming never changes what is negotiated.
import { test } from "node:test";
import assert from "node:assert/strict";
import { receiveCodec } from "../../signalling/client/session.js";

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
