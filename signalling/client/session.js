// One participant's session with a Castellan node (docs/protocol.md, v2): the WebSocket, the peer connection,
// negotiation (the client always offers), subscriptions (a recvonly transceiver per announced track, the full
// mid -> track mapping in every offer), resume after a dropped socket, ICE restart after a network change. The camera
// is published with simulcast (VP9: SVC), and the encodings the node says nobody receives are paused (simulcast.js).
//
// Events (EventTarget): "joined", "roster", "tracks", "chat", "connection", "notice", "left", "fatal",
// "hostrequest", "locked".

import { isPresence, presenceChanges } from "./presence.js";
import { LayerSwitch, cameraEncodings, screenEncodings } from "./simulcast.js";

const OFFER_TIMEOUT_MS = 10000;
const RESUME_WINDOW_MS = 25000; // the node keeps a detached participant 30 s by default
const NOT_OFFER_ERRORS = new Set(["rate_limited", "mls_too_large", "unknown_track"]);

/** The one receive codec to offer for a track of `kind`/`codec`: the entry the node would pick from a full list
 * (sfu/negotiation/sdp.py: H.264 with packetization-mode=1, profile 42e01f first; VP9 profile 0), or null. */
export function receiveCodec(codecs, kind, codec) {
  const want = `${kind}/${codec}`.toLowerCase();
  const fmtp = (c) => Object.fromEntries((c.sdpFmtpLine || "").split(";").filter(Boolean).map((kv) => kv.trim().split("=")));
  let mine = codecs.filter((c) => c.mimeType.toLowerCase() === want);
  if (want === "video/h264") {
    mine = mine.filter((c) => fmtp(c)["packetization-mode"] === "1");
    const rank = (c) => ((fmtp(c)["profile-level-id"] || "").toLowerCase() === "42e01f" ? 0 : 1);
    mine.sort((a, b) => rank(a) - rank(b));
  }
  if (want === "video/vp9") mine = mine.filter((c) => (fmtp(c)["profile-id"] || "0") === "0");
  return mine.length ? mine[0] : null;
}

/** A receiving m-line offers only the track's codec (and RTX for video): with every codec the browser knows, an
 * m-line is 2.5-5 KB and a big room's offer outgrows the node's message cap (docs/protocol.md, "Big rooms"). Set
 * again on every (re)use of the m-line, so a reused one offers the new track's codec. */
function receiveOnly(tr, t) {
  if (!t.codec || !tr.setCodecPreferences || !globalThis.RTCRtpReceiver || !RTCRtpReceiver.getCapabilities) return;
  const codecs = (RTCRtpReceiver.getCapabilities(t.kind) || { codecs: [] }).codecs;
  const mine = receiveCodec(codecs, t.kind, t.codec);
  if (!mine) return; // a codec this browser cannot receive: the full list, and the node rejects the m-line
  const rtx = t.kind === "video" ? codecs.filter((c) => c.mimeType.toLowerCase() === "video/rtx") : [];
  try { tr.setCodecPreferences([mine, ...rtx]); } catch (e) { /* keep the browser's own list */ }
}

export class NodeError extends Error {
  constructor(code, message) {
    super(message || code);
    this.code = code;
  }
}

export class Session extends EventTarget {
  /**
   * @param {{wsUrl: string, token: string, e2ee: import("./e2ee.js").E2EE | null}} opts
   */
  constructor({ wsUrl, token, e2ee = null, videoCodec = null }) {
    super();
    this.videoCodec = videoCodec; // e.g. "h264": offer only that codec for our camera/screen (tests, interop)
    this.wsUrl = wsUrl;
    this.token = token;
    this.e2ee = e2ee;
    this.ws = null;
    this.pc = null;
    this.me = null; // the `joined` snapshot
    this.participants = new Map(); // id -> {id, name}
    this.tracks = new Map(); // remote track id -> description
    this.muted = new Map(); // remote track id -> bool
    this.trackOf = new Map(); // RTCRtpTransceiver -> remote track id
    this.publications = {}; // mid -> track id of what we publish (the node's last answer)
    this.layerSwitches = new Map(); // RTCRtpTransceiver of a simulcast camera -> LayerSwitch
    this.seq = 0;
    this.waiters = [];
    this.negotiating = false;
    this.again = false;
    this.closed = false;
    this.reconnecting = false;
    this.log = [];
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _note(text) {
    this.log.push(`${new Date().toISOString().slice(11, 23)} ${text}`);
    if (this.log.length > 300) this.log.shift();
  }

  // ------------------------------------------------------------------------------------------ socket

  _open(first) {
    return new Promise((resolve, reject) => {
      let settled = false;
      const ws = new WebSocket(this.wsUrl);
      this.ws = ws;
      const fail = (err) => { if (!settled) { settled = true; reject(err); } };
      ws.onopen = () => ws.send(JSON.stringify(first));
      ws.onerror = () => fail(new NodeError("unreachable", "cannot reach the media node"));
      ws.onmessage = (ev) => {
        let msg;
        try { msg = JSON.parse(ev.data); } catch (e) { return; }
        if (!msg || typeof msg.type !== "string") return;
        if (!settled) {
          if (msg.type === "joined") { settled = true; resolve(msg); }
          else if (msg.type === "error") fail(new NodeError(msg.code, msg.message));
          else return;
        }
        this._onMessage(msg);
      };
      ws.onclose = (ev) => {
        fail(new NodeError("closed", `the media node closed the connection (${ev.code})`));
        if (this.ws === ws) this._onSocketClosed(ev);
      };
    });
  }

  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  /** Joins with the token; resolves with the `joined` snapshot, rejects with a NodeError. `cameraSlot`: publish
   * an empty camera sender when the stream has no video track (a rejoin with the camera off: camera on fills it). */
  async join(localStream, { cameraSlot = false, cameraSize = null } = {}) {
    const snapshot = await this._open({ type: "join", token: this.token });
    this.me = snapshot;
    this._applySnapshot(snapshot);
    this._makePc();
    // synchronously after `joined`: the MLS member starts before any later node message reaches handle()
    if (this.e2ee) this._e2ee((e) => e.start(snapshot));
    if (localStream) for (const t of localStream.getTracks()) this.publish(t, localStream);
    if (localStream && cameraSlot && !localStream.getVideoTracks().length) this.publish("video", localStream, { size: cameraSize });
    this._emit("joined", snapshot);
    await this.negotiate();
    return snapshot;
  }

  _applySnapshot(s) {
    this.participants = new Map(s.participants.map((p) => [p.id, p]));
    this.tracks = new Map(s.tracks.map((t) => [t.id, t]));
    this.muted = new Map(s.tracks.map((t) => [t.id, !!t.muted]));
    this._emit("roster", this.participants);
    this._emit("tracks", this.tracks);
  }

  _onSocketClosed(ev) {
    if (this.closed || !this.me) return; // before `joined` there is nothing to resume: join() rejects instead
    if (ev && ev.code === 4010) { // region_withdrawn, its `left` lost: a resume here would be refused
      this.closed = true;
      this._emit("fatal", { code: "region_withdrawn", message: "the meeting moves to a region your organisation allows" });
      return;
    }
    // every close but `left` is resumed: 4008 (too slow: the node stopped writing to us), 1011 (keepalive),
    // 1009 (message too big), a network drop — the `joined` snapshot replaces whatever we missed
    const why = ev && ev.code === 4008 ? "the node found this connection too slow" : `closed (${ev ? ev.code : "?"})`;
    this._emit("connection", { signalling: "lost", code: ev ? ev.code : null });
    this._note(`signalling lost: ${why}; resuming`);
    this._resumeLoop();
  }

  async _resumeLoop() {
    if (this.reconnecting || this.closed) return;
    this.reconnecting = true;
    const until = Date.now() + RESUME_WINDOW_MS;
    let delay = 300;
    while (!this.closed && Date.now() < until) {
      try {
        const snap = await this._open({ type: "resume", participant: this.me.participant, secret: this.me.resume_secret });
        this.reconnecting = false;
        this._note("resumed");
        this._applySnapshot(snap);
        // fresh TURN credentials for any ICE restart from now on (an old one may have expired)
        if (this.pc && snap.ice_servers) this.pc.setConfiguration({ ...this.pc.getConfiguration(), iceServers: this._iceServers(snap) });
        // the member learns who is here from the snapshot and asks for the commits it missed (mls_sync)
        if (this.e2ee) this._e2ee((e) => e.resumed(snap));
        this._emit("connection", { signalling: "resumed" });
        await this.negotiate();
        return;
      } catch (e) {
        if (e.code === "resume_refused") {
          this.reconnecting = false;
          this._emit("fatal", { code: "resume_refused", message: "the meeting session ended on the server; rejoin to continue" });
          return;
        }
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 3000);
      }
    }
    this.reconnecting = false;
    if (!this.closed) this._emit("fatal", { code: "unreachable", message: "lost contact with the media node" });
  }

  /** Calls the E2EE member; its failures are logged, never thrown into the socket's handler. */
  _e2ee(fn) {
    try {
      Promise.resolve(fn(this.e2ee)).catch((e) => this._note(`e2ee: ${e && e.message}`));
    } catch (e) {
      this._note(`e2ee: ${e && e.message}`);
    }
  }

  _onMessage(msg) {
    // the MLS Delivery Service's messages and the node's presence hints go to the member (docs/e2ee.md)
    if (this.e2ee && (msg.type.startsWith("mls_") || isPresence(msg))) {
      this._e2ee((e) => e.handle(msg));
    }
    if (isPresence(msg)) {
      // a batch of joins and leaves (v2 `presence`), oldest first: the last change about each one wins
      const changes = presenceChanges(msg, this.me && this.me.participant);
      for (const c of changes) {
        if (c.type === "participant_joined") this.participants.set(c.participant.id, c.participant);
        else this.participants.delete(c.participant);
      }
      if (changes.length) this._emit("roster", this.participants);
      return;
    }
    switch (msg.type) {
      case "answer": {
        const i = this.waiters.findIndex((w) => w.seq === msg.seq);
        const w = i >= 0 ? this.waiters.splice(i, 1)[0] : this.waiters.shift();
        if (w) w.resolve(msg);
        break;
      }
      case "track_published":
        this.tracks.set(msg.track.id, msg.track);
        this.muted.set(msg.track.id, !!msg.track.muted);
        this._emit("tracks", this.tracks);
        this.negotiate();
        break;
      case "track_unpublished":
        this.tracks.delete(msg.track);
        this._emit("tracks", this.tracks);
        this.negotiate();
        break;
      case "track_muted":
        this.muted.set(msg.track, !!msg.muted);
        this._emit("tracks", this.tracks);
        break;
      case "layers": // which of our simulcast encodings anyone receives: pause the others
        this._layers(msg);
        break;
      case "recording": // "required": the node holds media until the recorder is in (docs/protocol.md)
        this._emit("recording", msg);
        break;
      case "chat":
        this._emit("chat", msg);
        break;
      case "host_request": // a host asks this participant to mute (sfu/host.py): the meeting decides what to do
        this._emit("hostrequest", msg);
        break;
      case "meeting_locked":
        this.me.locked = !!msg.locked;
        this._emit("locked", msg);
        break;
      case "left":
        this.closed = true;
        // the tenant's policy no longer allows this node's region (close 4010 follows): join again through the
        // control plane, which places the meeting in an allowed region — the drain's move, not an end
        if (msg.reason === "region_withdrawn") this._emit("fatal", { code: "region_withdrawn", message: "the meeting moves to a region your organisation allows" });
        else this._emit("left", msg);
        break;
      case "error":
        this._note(`node error ${msg.code}: ${msg.message}`);
        // rate_limited refuses a chat, mute or handshake message, mls_too_large a handshake message, unknown_track a
        // mute or viewport of a track that just went, never an offer: they must not fail a negotiation waiting for its answer
        if (this.waiters.length && !NOT_OFFER_ERRORS.has(msg.code)) this.waiters.shift().reject(new NodeError(msg.code, msg.message));
        else this._emit("notice", { code: msg.code, message: msg.message });
        break;
      default:
        break;
    }
  }

  // ------------------------------------------------------------------------------------------ media

  _makePc() {
    const config = { bundlePolicy: "max-bundle", rtcpMuxPolicy: "require", iceServers: this._iceServers(this.me) };
    if (this.e2ee && this.e2ee.api === "createEncodedStreams") config.encodedInsertableStreams = true;
    const pc = new RTCPeerConnection(config);
    this.pc = pc;
    pc.onconnectionstatechange = () => {
      this._emit("connection", { media: pc.connectionState });
      if (pc.connectionState === "failed" && !this.closed) {
        this._note("media failed: ICE restart");
        pc.restartIce();
        this.negotiate();
      }
    };
  }

  /** The region's TURN from a `joined` snapshot (short-lived credentials the node mints; none: direct UDP only). */
  _iceServers(snapshot) {
    return (snapshot && Array.isArray(snapshot.ice_servers)) ? snapshot.ice_servers : [];
  }

  /** Publishes a local track (sendonly m-line), or for a kind ("video") a sender without a track yet, filled
   * later by replaceTrack. A camera sends three simulcast layers (VP9: three spatial layers in one stream); a
   * screen share (`screen`) one encoding at full resolution: text must stay readable, so a weak subscriber gets
   * fewer frames of it (its temporal layers), never a smaller picture. Returns the transceiver. */
  publish(track, stream, { screen = false, size = null } = {}) {
    const kind = typeof track === "string" ? track : track.kind;
    const init = { direction: "sendonly", streams: stream ? [stream] : [] };
    if (kind === "video") {
      // the capture's size decides how many simulcast layers (an empty camera slot: the size it will capture at)
      const s = typeof track === "string" ? size : track.getSettings();
      init.sendEncodings = screen ? screenEncodings(this.videoCodec) : cameraEncodings(this.videoCodec, s || undefined);
    }
    let tr;
    try {
      tr = this.pc.addTransceiver(track, init);
    } catch (e) { // encodings this browser cannot send (a scalability mode, simulcast): one plain encoding
      if (kind !== "video") throw e;
      this._note(`publish: ${e && e.message}; one plain encoding`);
      init.sendEncodings = [{}];
      tr = this.pc.addTransceiver(track, init);
    }
    tr._castellanLocal = true;
    if (init.sendEncodings && init.sendEncodings.length > 1) {
      const layers = new LayerSwitch({ onError: (e) => this._note(`layers: setParameters refused: ${e && e.message}`) });
      layers.attach(tr.sender);
      this.layerSwitches.set(tr, layers);
    }
    if (kind === "video" && this.videoCodec && tr.setCodecPreferences) {
      const want = `video/${this.videoCodec}`.toLowerCase();
      const caps = RTCRtpSender.getCapabilities("video").codecs.filter((c) => c.mimeType.toLowerCase() === want &&
        (want !== "video/h264" || (c.sdpFmtpLine || "").includes("packetization-mode=1")));
      const rtx = RTCRtpSender.getCapabilities("video").codecs.filter((c) => c.mimeType.toLowerCase() === "video/rtx");
      if (caps.length) tr.setCodecPreferences([...caps, ...rtx]);
    }
    if (this.e2ee) this.e2ee.protectSender(tr.sender, kind, kind === "video" ? this.videoCodec : "opus");
    return tr;
  }

  /** The node's `layers` for one of our simulcast tracks: the transceiver its last answer maps the track to; a
   * track not in an answer yet (the node learns a simulcast publication from its first packets and names it in the
   * next answer) is our camera's, the one simulcast sender without a known publication. */
  _layers(msg) {
    if (!msg.active || typeof msg.active !== "object") return;
    const mid = Object.keys(this.publications).find((m) => this.publications[m] === msg.track);
    let target = null;
    for (const [tr, layers] of this.layerSwitches) {
      if (mid !== undefined ? tr.mid === mid : !(tr.mid in this.publications)) { target = layers; break; }
    }
    this._note(`layers for ${msg.track}: ${JSON.stringify(msg.active)}`);
    if (target) target.want(msg.active);
    else this._note(`layers for ${msg.track}: no simulcast sender`);
  }

  /** Stops publishing: the m-line goes inactive and the node unpublishes the track. */
  async unpublish(tr) {
    if (tr.sender.track) tr.sender.track.stop();
    await tr.sender.replaceTrack(null);
    tr.direction = "inactive";
    await this.negotiate();
  }

  async negotiate() {
    if (!this.pc) return;
    if (this.negotiating) { this.again = true; return; }
    this.negotiating = true;
    try {
      do {
        this.again = false;
        await this._negotiateOnce();
      } while (this.again);
    } catch (e) {
      this._note(`negotiation failed: ${e.message}`);
      this._emit("notice", { code: e.code || "negotiation_failed", message: e.message });
    } finally {
      this.negotiating = false;
    }
  }

  async _negotiateOnce() {
    const pc = this.pc;
    for (const [tr, tid] of this.trackOf) {
      if (!this.tracks.has(tid)) {
        this.trackOf.delete(tr);
        if (!tr.stopped && tr.direction !== "inactive") tr.direction = "inactive";
      }
    }
    const mapped = new Set(this.trackOf.values());
    const canReuse = !this.e2ee || this.e2ee.api === "RTCRtpScriptTransform";
    for (const [tid, t] of this.tracks) {
      if (mapped.has(tid)) continue;
      let tr = canReuse ? pc.getTransceivers().find((x) => x.direction === "inactive" && !x.stopped &&
        x.receiver.track.kind === t.kind && !this.trackOf.has(x) && !x.sender.track && x.currentDirection !== "sendonly" &&
        !x._castellanLocal) : null;
      if (tr) tr.direction = "recvonly";
      else tr = pc.addTransceiver(t.kind, { direction: "recvonly" });
      receiveOnly(tr, t);
      if (this.e2ee) this.e2ee.protectReceiver(tr.receiver, { participant: t.participant, track: tid, kind: t.kind, codec: t.codec });
      this.trackOf.set(tr, tid);
    }
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const subscriptions = {};
    for (const [tr, tid] of this.trackOf) if (tr.mid !== null) subscriptions[tr.mid] = tid;
    const seq = ++this.seq;
    const answer = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new NodeError("timeout", "the node did not answer the offer")), OFFER_TIMEOUT_MS);
      this.waiters.push({ seq, resolve: (m) => { clearTimeout(timer); resolve(m); }, reject: (e) => { clearTimeout(timer); reject(e); } });
    });
    this.send({ type: "offer", sdp: pc.localDescription.sdp, subscriptions, seq });
    const msg = await answer;
    await pc.setRemoteDescription({ type: "answer", sdp: msg.sdp });
    if (msg.publications && typeof msg.publications === "object") this.publications = msg.publications;
    for (const layers of this.layerSwitches.values()) layers.again();
    if (this.e2ee) this.e2ee.senderCodecs();
    this._emit("tracks", this.tracks);
  }

  /** Remote tracks with their receiving transceivers: [{id, desc, transceiver, muted}]. */
  remote() {
    const out = [];
    for (const [tr, tid] of this.trackOf) {
      const desc = this.tracks.get(tid);
      if (desc && tr.currentDirection === "recvonly") out.push({ id: tid, desc, transceiver: tr, muted: !!this.muted.get(tid) });
    }
    return out;
  }

  async leave() {
    this.closed = true;
    this.send({ type: "leave" });
    await new Promise((r) => setTimeout(r, 100));
    try { this.ws && this.ws.close(); } catch (e) { /* already closed */ }
    if (this.pc) this.pc.close();
    if (this.e2ee) this.e2ee.stop();
  }

  /** For tests and the connection-quality hint: numbers from getStats. */
  async stats() {
    const out = { connection: this.pc ? this.pc.connectionState : "new", video: [], audio: [], outbound: [], rtt: null };
    if (!this.pc) return out;
    const midTrack = {};
    for (const [tr, tid] of this.trackOf) if (tr.mid !== null) midTrack[tr.mid] = tid;
    const report = await this.pc.getStats();
    report.forEach((s) => {
      if (s.type === "inbound-rtp") {
        const e = { mid: s.mid, track: midTrack[s.mid] || null, packetsReceived: s.packetsReceived || 0,
          packetsLost: s.packetsLost || 0, jitter: s.jitter || 0, bytesReceived: s.bytesReceived || 0 };
        const desc = this.tracks.get(e.track);
        e.participant = desc ? desc.participant : null;
        if (s.kind === "video") {
          Object.assign(e, { framesDecoded: s.framesDecoded || 0, framesReceived: s.framesReceived || 0,
            framesDropped: s.framesDropped || 0, frameWidth: s.frameWidth || 0, frameHeight: s.frameHeight || 0 });
          out.video.push(e);
        } else {
          Object.assign(e, { audioLevel: s.audioLevel || 0, totalSamplesReceived: s.totalSamplesReceived || 0,
            concealedSamples: s.concealedSamples || 0 });
          out.audio.push(e);
        }
      } else if (s.type === "outbound-rtp") {
        out.outbound.push({ kind: s.kind, mid: s.mid, rid: s.rid || "", packetsSent: s.packetsSent || 0,
          framesEncoded: s.framesEncoded || 0, frameWidth: s.frameWidth || 0, framesPerSecond: s.framesPerSecond || 0,
          active: s.active, scalabilityMode: s.scalabilityMode || "", bytesSent: s.bytesSent || 0 });
      } else if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") {
        out.rtt = s.currentRoundTripTime ?? null;
      }
    });
    return out;
  }
}
