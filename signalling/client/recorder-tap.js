// The recorder's tap, inside the E2EE worker (e2ee-worker.js): only on a recorder's page (recorder.js switched it
// on), each frame this member decrypted — still ENCODED, never transcoded — goes to the local recorder process
// over a loopback WebSocket, with the metadata needed to remux it (recording/sink.py is the other end). The tap
// sees exactly what this member's decoder would: keys come only from its own MLS membership.
//
// Binary message: u32 big-endian header length, the UTF-8 JSON header {p, t, k, c, ts, key, w, h}, the frame.
// Text message: a timeline event from the main thread ({type: "event", ...}) or {type: "bye"}. After its bye
// the tap is off: the recording has ended, so nothing more goes to the sink until a new `connect`.
// From the sink: {type: "keyframe", p, t} when it starts a new segment file (recording/sink.py): the tap asks that
// video track's sender for a keyframe (the transform's own sendKeyFrameRequest), so the new file starts at once.

const te = new TextEncoder();
const MAX_QUEUE_BYTES = 64 << 20; // the sink is local; a stuck one must not eat the worker's memory

export class RecorderTap {
  constructor() {
    this.ws = null;
    this.ended = false; // bye sent: the recording is over
    this.paused = false; // under "allowed", while no host has started recording: no frame leaves (recorder.js)
    this.pending = []; // until the socket opens
    this.stats = { frames: 0, bytes: 0, dropped: 0, events: 0, keyframeRequests: 0 };
    this.keyframeRequesters = new Map(); // "participant/track" -> that video track's requestKeyFrame
  }

  _message(data) {
    if (typeof data !== "string") return;
    let m = null;
    try { m = JSON.parse(data); } catch (e) { return; }
    if (!m || m.type !== "keyframe") return;
    const ask = this.keyframeRequesters.get(`${m.p}/${m.t}`);
    if (!ask) return;
    this.stats.keyframeRequests++;
    ask();
  }

  connect(url) {
    const u = new URL(url);
    // loopback only: the recorder process runs beside this page, nowhere else (docs/recording.md)
    if (u.protocol !== "ws:" || !["127.0.0.1", "[::1]", "localhost"].includes(u.hostname)) throw new Error(`recorder sink must be on loopback: ${url}`);
    this.ended = false;
    this.ws = new WebSocket(url);
    this.ws.binaryType = "arraybuffer";
    this.ws.onopen = () => { for (const m of this.pending) this.ws.send(m); this.pending = []; };
    this.ws.onclose = () => { this.ws = null; };
    this.ws.onmessage = (e) => this._message(e.data);
  }

  _send(m) {
    if (!this.ws) { this.stats.dropped++; return; }
    if (this.ws.readyState === WebSocket.CONNECTING) { this.pending.push(m); return; }
    if (this.ws.readyState !== WebSocket.OPEN || this.ws.bufferedAmount > MAX_QUEUE_BYTES) { this.stats.dropped++; return; }
    this.ws.send(m);
  }

  get on() {
    return this.ws !== null && !this.ended;
  }

  /** One decrypted encoded frame of a received track; `requestKeyFrame` asks its sender for a keyframe. */
  frame(options, frame, data, requestKeyFrame = null) {
    if (!this.on || this.paused) return;
    if (requestKeyFrame && options.kind === "video") this.keyframeRequesters.set(`${options.participant || ""}/${options.track || ""}`, requestKeyFrame);
    let md = {};
    try { md = frame.getMetadata() || {}; } catch (e) { md = {}; }
    const header = te.encode(JSON.stringify({
      p: options.participant || "", t: options.track || "", k: options.kind, c: (options.seenMime || "").split("/")[1]?.toLowerCase() || options.codec || "",
      ts: md.rtpTimestamp ?? frame.timestamp, key: frame.type === "key" || options.kind === "audio", w: md.width || 0, h: md.height || 0,
    }));
    const out = new Uint8Array(4 + header.length + data.length);
    new DataView(out.buffer).setUint32(0, header.length);
    out.set(header, 4);
    out.set(data, 4 + header.length);
    this._send(out.buffer);
    this.stats.frames++;
    this.stats.bytes += data.length;
  }

  event(ev) {
    if (this.ended) return;
    this._send(JSON.stringify({ ...ev, type: "event" }));
    this.stats.events++;
  }

  bye() {
    if (this.ended) return; // the page's pagehide after an explicit stop
    this._send(JSON.stringify({ type: "bye" }));
    this.ended = true;
  }
}
