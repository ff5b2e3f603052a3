// Drives the recorder's tap (signalling/client/recorder-tap.js) against a real sink with rolling segments
// (recording/sink.py, started by tests/recording/test_tap_pause.py): `node --experimental-websocket
// recorder_tap_keyframe_run.mjs URL`. Sends a video and an audio track, each frame with its own requestKeyFrame,
// until the sink has asked for a keyframe (bounded: 400 frames), then bye. Prints what was asked, as JSON.
import { RecorderTap } from "../../signalling/client/recorder-tap.js";

const url = process.argv[2];
const tap = new RecorderTap();
tap.connect(url);
await new Promise((resolve, reject) => {
  const t = setInterval(() => { if (tap.ws && tap.ws.readyState === WebSocket.OPEN) { clearInterval(t); resolve(); } }, 20);
  setTimeout(() => reject(new Error("sink did not open")), 5000);
});
const asked = { video: 0, audio: 0 };
const video = { participant: "p-a", track: "t-v", kind: "video", codec: "vp8", seenMime: "video/VP8" };
const audio = { participant: "p-a", track: "t-a", kind: "audio", codec: "opus", seenMime: "audio/opus" };
for (let i = 0; i < 400 && asked.video === 0; i++) {
  const vts = i * 3000, ats = i * 960;
  tap.frame(video, { type: i === 0 ? "key" : "delta", timestamp: vts, getMetadata: () => ({ rtpTimestamp: vts }) },
    new Uint8Array([0x10, 0x02, 0x00, i & 0xff]), () => { asked.video++; });
  tap.frame(audio, { type: "key", timestamp: ats, getMetadata: () => ({ rtpTimestamp: ats }) },
    new Uint8Array([0xf8, 0xff, 0xfe, i & 0xff]), () => { asked.audio++; });
  await new Promise((r) => setTimeout(r, 5));
}
tap.bye();
await new Promise((r) => setTimeout(r, 200));
console.log(JSON.stringify({ asked, stats: tap.stats }));
process.exit(0);
