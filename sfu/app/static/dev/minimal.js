// Castellan minimal client (development page, docs/protocol.md v1). No E2EE, no UI beyond a grid: it exists
// to prove that browsers meet through a node. The real client lives in signalling/client/ (served at /static/).
//
// The client always offers. Published tracks are sendonly m-lines; every announced remote track gets a recvonly
// transceiver, and each offer carries the full mid -> track id mapping in `subscriptions`.

import { LayerSwitch, cameraEncodings } from "/dev/simulcast.js";
import { ViewportReporter, shownSize } from "/dev/viewport.js";

const params = new URLSearchParams(location.search);
const statusEl = document.getElementById("status");
const grid = document.getElementById("grid");

const state = {
  ws: null,
  pc: null,
  me: null,
  participants: new Map(), // id -> name
  tracks: new Map(), // remote track id -> track description
  trackOfTransceiver: new Map(), // RTCRtpTransceiver -> remote track id
  tiles: new Map(), // remote track id -> element
  answers: [],
  seq: 0,
  negotiating: false,
  again: false,
  left: false,
  resumes: 0,
  errors: [],
  log: [],
};
window.castellan = state;

function status(text, error = false) {
  statusEl.textContent = text;
  statusEl.classList.toggle("error", error);
  state.log.push(text);
}

function send(msg) {
  state.ws.send(JSON.stringify(msg));
}

function waitAnswer(seq, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no answer from the node")), timeoutMs);
    state.answers.push({ seq, resolve: (m) => { clearTimeout(timer); resolve(m); }, reject });
  });
}

async function negotiate() {
  if (state.negotiating) { state.again = true; return; }
  state.negotiating = true;
  try {
    do {
      state.again = false;
      await negotiateOnce();
    } while (state.again);
  } catch (e) {
    status("negotiation failed: " + e.message, true);
    state.errors.push(String(e));
  } finally {
    state.negotiating = false;
  }
}

async function negotiateOnce() {
  const pc = state.pc;
  const mapped = new Set(state.trackOfTransceiver.values());
  // retire transceivers whose track went away
  for (const [tr, tid] of state.trackOfTransceiver) {
    if (!state.tracks.has(tid)) {
      state.trackOfTransceiver.delete(tr);
      if (!tr.stopped && tr.direction !== "inactive") tr.direction = "inactive";
      removeTile(tid);
    }
  }
  // a recvonly transceiver per new remote track (reusing retired ones of the same kind)
  for (const [tid, t] of state.tracks) {
    if (mapped.has(tid)) continue;
    const free = pc.getTransceivers().find((tr) => tr.direction === "inactive" && !tr.stopped &&
      tr.receiver.track.kind === t.kind && !state.trackOfTransceiver.has(tr));
    let tr;
    if (free) {
      free.direction = "recvonly";
      tr = free;
    } else {
      tr = pc.addTransceiver(t.kind, { direction: "recvonly" });
    }
    state.trackOfTransceiver.set(tr, tid);
  }
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  const subscriptions = {};
  for (const [tr, tid] of state.trackOfTransceiver) if (tr.mid !== null) subscriptions[tr.mid] = tid;
  const seq = ++state.seq;
  const answer = waitAnswer(seq);
  send({ type: "offer", sdp: pc.localDescription.sdp, subscriptions, seq });
  const msg = await answer;
  await pc.setRemoteDescription({ type: "answer", sdp: msg.sdp });
  // tiles for tracks whose transceivers now receive
  for (const [tr, tid] of state.trackOfTransceiver) attach(tr, tid);
}

function attach(tr, tid) {
  const t = state.tracks.get(tid);
  if (!t || state.tiles.has(tid)) return;
  const stream = new MediaStream([tr.receiver.track]);
  let el;
  if (t.kind === "video") {
    el = document.createElement("figure");
    const v = document.createElement("video");
    v.autoplay = true;
    v.playsInline = true;
    v.muted = true;
    v.srcObject = stream;
    const cap = document.createElement("figcaption");
    cap.textContent = state.participants.get(t.participant) || t.participant;
    el.append(v, cap);
    el.dataset.track = tid;
    el.dataset.participant = t.participant;
    grid.append(el);
  } else {
    el = document.createElement("audio");
    el.autoplay = true;
    el.srcObject = stream;
    el.dataset.track = tid;
    document.body.append(el);
  }
  state.tiles.set(tid, el);
}

function removeTile(tid) {
  const el = state.tiles.get(tid);
  if (el) el.remove();
  state.tiles.delete(tid);
}

function onMessage(msg) {
  switch (msg.type) {
    case "joined":
      state.participants = new Map(msg.participants.map((p) => [p.id, p.name]));
      state.tracks = new Map(msg.tracks.map((t) => [t.id, t]));
      if (msg.resumed) {
        // the snapshot replaces what was missed while the socket was down; media never stopped
        state.resumes += 1;
        status(`resumed in room ${msg.room} on ${msg.node}`);
        negotiate();
      } else {
        state.me = msg;
        status(`joined room ${msg.room} on ${msg.node} (${msg.region}) as ${msg.name}`);
        start();
      }
      break;
    case "answer": {
      const i = state.answers.findIndex((a) => a.seq === msg.seq);
      const waiter = i >= 0 ? state.answers.splice(i, 1)[0] : state.answers.shift();
      if (waiter) waiter.resolve(msg);
      break;
    }
    case "participant_joined":
      state.participants.set(msg.participant.id, msg.participant.name);
      break;
    case "participant_left":
      state.participants.delete(msg.participant);
      break;
    case "presence": // protocol 2: joins and leaves batched, oldest first; our own join may be among them
      for (const c of Array.isArray(msg.changes) ? msg.changes : []) {
        if (c && (c.type === "participant_joined" ? c.participant && c.participant.id !== state.me.participant
          : c.type === "participant_left")) onMessage(c);
      }
      break;
    case "track_published":
      state.tracks.set(msg.track.id, msg.track);
      negotiate();
      break;
    case "track_unpublished":
      state.tracks.delete(msg.track);
      negotiate();
      break;
    case "left":
      state.left = true;
      status("left the meeting: " + msg.reason, msg.reason !== "left");
      break;
    case "layers":
      applyLayers(msg.active);
      break;
    case "error":
      state.errors.push(msg);
      status(`node refused: ${msg.code}: ${msg.message}`, true);
      if (msg.code === "resume_refused") state.left = true;
      if (state.answers.length && msg.code !== "rate_limited") state.answers.shift().reject(new Error(msg.code));
      break;
    default:
      break;
  }
}

// the node says which simulcast encodings anyone receives: the others stop encoding (simulcast.js, shared with
// the meeting client); refused setParameters are recorded for the tests
const layerSwitch = new LayerSwitch({ onError: (e) => state.errors.push({ code: "setParameters", message: String(e) }) });
function applyLayers(active) {
  state.layers = active;
  return layerSwitch.want(active);
}

// the size each remote video is shown at, so the node sends the layer worth it (?viewport=H overrides)
const viewports = new ViewportReporter((msg) => send(msg));
function reportViewports() {
  if (!state.ws || state.ws.readyState !== WebSocket.OPEN) return;
  const sizes = new Map();
  for (const [tid, el] of state.tiles) {
    const v = el.querySelector && el.querySelector("video");
    if (!v) continue;
    const forced = state.viewportHeight;
    sizes.set(tid, forced != null ? { width: Math.round(forced * 16 / 9), height: forced } : shownSize(v));
  }
  viewports.report(sizes);
}
window.castellanViewport = (height) => { state.viewportHeight = height; reportViewports(); };
if (params.get("viewport")) state.viewportHeight = Number(params.get("viewport"));
setInterval(reportViewports, 500);

async function start() {
  const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle", rtcpMuxPolicy: "require" });
  state.pc = pc;
  pc.onconnectionstatechange = () => {
    if (pc.connectionState === "connected") status(`connected: media flowing (${state.me.node})`);
    else if (pc.connectionState === "failed") status("media connection failed", true);
  };
  try {
    const simulcast = params.get("simulcast") === "1";
    const svc = params.get("svc"); // e.g. L3T3_KEY: VP9 with spatial and temporal layers in one stream
    const size = simulcast || svc ? { width: 1280, height: 720 } : { width: 640, height: 480 };
    const media = await navigator.mediaDevices.getUserMedia({ audio: true, video: size });
    state.local = media;
    for (const track of media.getTracks()) {
      const init = { direction: "sendonly", streams: [media] };
      // quarter, half and full resolution, lowest first (docs/protocol.md: RIDs q, h, f); or one SVC stream
      if (simulcast && track.kind === "video") init.sendEncodings = cameraEncodings();
      if (svc && track.kind === "video") init.sendEncodings = [{ ...cameraEncodings("vp9")[0], scalabilityMode: svc }];
      const tr = pc.addTransceiver(track, init);
      if (svc && track.kind === "video") {
        // SVC needs VP9 (or AV1): offer only it, so the node cannot pick VP8
        const caps = RTCRtpSender.getCapabilities("video").codecs;
        tr.setCodecPreferences(caps.filter((c) => /VP9|rtx/i.test(c.mimeType)));
      }
      if (track.kind === "video") layerSwitch.attach(tr.sender);
    }
  } catch (e) {
    status("no camera/microphone (" + e.name + "): receiving only", true);
  }
  await negotiate();
}

window.castellanStats = async function castellanStats() {
  const out = { connection: state.pc ? state.pc.connectionState : "new", video: [], audio: [], outbound: [] };
  if (!state.pc) return out;
  const midTrack = {};
  for (const [tr, tid] of state.trackOfTransceiver) if (tr.mid !== null) midTrack[tr.mid] = tid;
  const report = await state.pc.getStats();
  report.forEach((s) => {
    if (s.type === "inbound-rtp") {
      const entry = { mid: s.mid, track: midTrack[s.mid] || null, packetsReceived: s.packetsReceived || 0,
        packetsLost: s.packetsLost || 0, bytesReceived: s.bytesReceived || 0 };
      if (s.kind === "video") {
        Object.assign(entry, { framesDecoded: s.framesDecoded || 0, framesReceived: s.framesReceived || 0,
          keyFramesDecoded: s.keyFramesDecoded || 0, frameWidth: s.frameWidth || 0, frameHeight: s.frameHeight || 0,
          decoder: s.decoderImplementation || "", freezeCount: s.freezeCount || 0,
          totalFreezesDuration: s.totalFreezesDuration || 0, framesDropped: s.framesDropped || 0,
          nackCount: s.nackCount || 0, pliCount: s.pliCount || 0 });
        out.video.push(entry);
      } else {
        Object.assign(entry, { audioLevel: s.audioLevel || 0, totalSamplesReceived: s.totalSamplesReceived || 0 });
        out.audio.push(entry);
      }
    } else if (s.type === "outbound-rtp") {
      out.outbound.push({ kind: s.kind, mid: s.mid, packetsSent: s.packetsSent || 0, framesEncoded: s.framesEncoded || 0 });
    }
  });
  return out;
};

function main() {
  const ws = params.get("ws");
  const token = params.get("token");
  if (!ws || !token) {
    status("give ?ws=ws://…/ws&token=… in the URL", true);
    return;
  }
  status("connecting to " + ws);
  connect(ws, () => ({ type: "join", token }));
}

// A dropped socket — or one the node closed (4008: too slow, 1011: keepalive, 1009: too big) — is resumed within
// the node's grace period (30 s by default); only `left` or `resume_refused` end the session.
const RESUME_WINDOW_MS = 25000;

function connect(url, first) {
  const sock = new WebSocket(url);
  state.ws = sock;
  sock.onopen = () => sock.send(JSON.stringify(first()));
  sock.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.type === "joined") { state.resumeUntil = 0; state.attempts = 0; }
    onMessage(msg);
  };
  sock.onclose = (ev) => {
    if (state.ws !== sock) return;
    if (!state.me || state.left) {
      if (!state.left) status(`signalling closed (${ev.code})`, true);
      return;
    }
    if (!state.resumeUntil) state.resumeUntil = Date.now() + RESUME_WINDOW_MS;
    if (Date.now() > state.resumeUntil) {
      status("lost contact with the media node", true);
      return;
    }
    status(`signalling closed (${ev.code}${ev.code === 4008 ? ": too slow" : ""}): resuming`);
    const attempt = state.attempts || 0;
    state.attempts = attempt + 1;
    const delay = attempt === 0 ? 0 : Math.min(3000, 300 * 2 ** (attempt - 1));
    const resume = () => ({ type: "resume", participant: state.me.participant, secret: state.me.resume_secret });
    setTimeout(() => connect(url, resume), delay);
  };
}

main();
