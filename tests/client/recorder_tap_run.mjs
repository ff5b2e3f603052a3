// Drives the recorder's tap (signalling/client/recorder-tap.js) against a real sink on loopback (recording/sink.py,
// started by tests/recording/test_tap_pause.py): `node --experimental-websocket recorder_tap_run.mjs URL`.
// Sends 3 frames while recording is active, 4 while paused (under "allowed" before a host's start or after its
// stop), 2 active again, then bye. Prints the tap's stats as JSON.
import { RecorderTap } from "../../signalling/client/recorder-tap.js";

const url = process.argv[2];
const tap = new RecorderTap();
tap.connect(url);
await new Promise((resolve, reject) => {
  const t = setInterval(() => { if (tap.ws && tap.ws.readyState === WebSocket.OPEN) { clearInterval(t); resolve(); } }, 20);
  setTimeout(() => reject(new Error("sink did not open")), 5000);
});
let ts = 1000;
const send = (n) => {
  for (let i = 0; i < n; i++) {
    ts += 960;
    const frame = { type: "key", timestamp: ts, getMetadata: () => ({ rtpTimestamp: ts }) };
    tap.frame({ participant: "p-a", track: "t-a", kind: "audio", codec: "opus", seenMime: "audio/opus" }, frame,
      new Uint8Array([0xf8, 0xff, 0xfe, i]));
  }
};
send(3);
tap.paused = true; // what the worker does on {type: "record-pause", paused: true} (e2ee-worker.js)
send(4);
tap.paused = false;
send(2);
tap.bye();
await new Promise((r) => setTimeout(r, 300));
console.log(JSON.stringify(tap.stats));
process.exit(0);
