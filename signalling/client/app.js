// Castellan browser client: the join page and the meeting page (one document, two views).
//
// Opened from a meeting link, /j/<link>#k=<secret>[&h=<host key>]: the link id goes to the control plane, the
// #fragment never leaves the browser (it keys end-to-end encryption). For development and tests the page also
// accepts ?ws=<node ws url>&token=<join token> (joining a node directly, no control plane).
// Query flags: e2ee=0 turns encryption off (tests measuring its cost), transform=legacy forces the
// createEncodedStreams fallback, name=..., autojoin=1, vw/vh (camera size).

import * as api from "./api.js";
import { E2EE, secretFromFragment, supportsE2EE, transformApi } from "./e2ee.js";
import { NodeError, Session } from "./session.js";

const $ = (id) => document.getElementById(id);
const query = new URLSearchParams(location.search);
const fragment = new URLSearchParams(location.hash.replace(/^#/, ""));

const app = {
  link: (location.pathname.match(/\/j\/([^/]+)$/) || [])[1] || null,
  direct: query.get("ws") && query.get("token") ? { ws: query.get("ws"), token: query.get("token") } : null,
  secret: secretFromFragment(location.hash),
  hostKey: fragment.get("h"),
  e2eeWanted: query.get("e2ee") !== "0",
  info: null,
  joinAnswer: null,
  password: null, // kept in memory only, to rejoin after a node restart without asking again
  name: "",
  local: null, // MediaStream (camera + mic)
  devices: { camera: "", mic: "" },
  session: null,
  e2ee: null,
  tiles: new Map(), // tile key -> {el, video, participant, stream}
  peerState: new Map(), // participant id -> {audioMuted, videoOff}
  micMuted: false,
  camOff: false,
  screen: null, // {transceiver, stream}
  audioEls: new Map(), // track id -> <audio>
  speaker: null,
  lastStats: null,
  prevInbound: new Map(),
  quality: "—",
  safety: null,
  chatLog: [],
  errors: [],
  lobbyAbort: null,
  previewReady: Promise.resolve(),
  lobbyTimer: null,
  rejoining: false,
};
window.castellanApp = app;


// ------------------------------------------------------------------------------------------------ icons
// Inline SVG (no emoji: many systems, headless ones included, lack an emoji font). Static markup only.
const ICON_PATHS = {
  lock: '<rect x="5" y="11" width="14" height="10" rx="2"/><path d="M8 11V8a4 4 0 0 1 8 0v3" fill="none"/>',
  unlock: '<rect x="5" y="11" width="14" height="10" rx="2"/><path d="M8 11V8a4 4 0 0 1 7.5-2" fill="none"/>',
  key: '<circle cx="8" cy="12" r="4" fill="none"/><path d="M12 12h9M18 12v3M21 12v3" fill="none"/>',
  warn: '<path d="M12 3 2 21h20L12 3z" fill="none"/><path d="M12 10v5M12 18v.5" fill="none"/>',
  pin: '<path d="M12 22s7-7.5 7-13a7 7 0 0 0-14 0c0 5.5 7 13 7 13z" fill="none"/><circle cx="12" cy="9" r="2.5"/>',
  signal: '<path d="M4 20v-3M9 20v-7M14 20v-11M19 20V5" fill="none"/>',
  micoff: '<path d="M9 5a3 3 0 0 1 6 0v6a3 3 0 0 1-6 0z" fill="none"/><path d="M5 11a7 7 0 0 0 14 0M12 18v3M3 3l18 18" fill="none"/>',
  wait: '<circle cx="6" cy="12" r="1.5"/><circle cx="12" cy="12" r="1.5"/><circle cx="18" cy="12" r="1.5"/>',
};

function icon(name) {
  const span = document.createElement("span");
  span.className = `icon icon-${name}`;
  span.setAttribute("aria-hidden", "true");
  span.innerHTML = `<svg viewBox="0 0 24 24" width="1em" height="1em" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" fill="currentColor">${ICON_PATHS[name]}</svg>`;
  return span;
}

/** Sets an element to [icon] text (the text is what screen readers and tests read). */
function put(el, iconName, text = "") {
  el.replaceChildren(...(iconName ? [icon(iconName)] : []), ...(text ? [document.createTextNode(" " + text)] : []));
}

// ------------------------------------------------------------------------------------------------ join page

function setLinkState(text, bad = false) {
  const el = $("link-state");
  el.textContent = text;
  el.classList.toggle("bad", bad);
}

function showJoinError(text) {
  $("join-error").textContent = text;
  if (text) app.errors.push(text);
}

function e2eeNote() {
  const el = $("e2ee-note");
  if (!app.e2eeWanted) {
    el.textContent = "End-to-end encryption is turned off for this session (e2ee=0).";
    el.className = "e2ee-note bad";
  } else if (!supportsE2EE()) {
    el.textContent = "This browser cannot encrypt media end to end. Use a current Chrome, Edge, Firefox or Safari.";
    el.className = "e2ee-note bad";
  } else if (!app.secret) {
    el.textContent = "This link has no encryption key (the part after #). Ask the organiser for the complete link.";
    el.className = "e2ee-note bad";
  } else {
    el.textContent = "End-to-end encrypted: the meeting key stays in your browser; servers only relay ciphertext.";
    el.className = "e2ee-note ok";
  }
}

async function startPreview() {
  const note = $("preview-note");
  note.hidden = true;
  if (app.local) for (const t of app.local.getTracks()) t.stop();
  app.local = null;
  const size = { width: parseInt(query.get("vw") || "640", 10), height: parseInt(query.get("vh") || "480", 10) };
  const video = app.devices.camera ? { deviceId: { exact: app.devices.camera }, ...size } : size;
  const audio = app.devices.mic ? { deviceId: { exact: app.devices.mic } } : true;
  const attempts = [{ video, audio }, { video: false, audio }, { video, audio: false }];
  let lastError = null;
  for (const c of attempts) {
    try {
      app.local = await navigator.mediaDevices.getUserMedia(c);
      break;
    } catch (e) {
      lastError = e;
    }
  }
  $("preview").srcObject = app.local;
  const hasVideo = app.local && app.local.getVideoTracks().length > 0;
  const hasAudio = app.local && app.local.getAudioTracks().length > 0;
  if (!app.local || !hasVideo || !hasAudio) {
    let msg;
    if (lastError && lastError.name === "NotAllowedError") {
      msg = "Camera/microphone access was denied. You can still join to watch and listen; allow access in the browser's site settings to be seen and heard.";
    } else if (!app.local) {
      msg = "No camera or microphone found. You can still join to watch and listen.";
    } else if (!hasVideo) {
      msg = "No camera available: you will join with audio only.";
    } else {
      msg = "No microphone available: others will not hear you.";
    }
    note.textContent = msg;
    note.hidden = false;
  }
  await listDevices();
}

async function listDevices() {
  let devices = [];
  try { devices = await navigator.mediaDevices.enumerateDevices(); } catch (e) { devices = []; }
  for (const [kind, id] of [["videoinput", "camera"], ["audioinput", "mic"]]) {
    const sel = $(id);
    const current = app.local && (kind === "videoinput" ? app.local.getVideoTracks()[0] : app.local.getAudioTracks()[0]);
    const currentId = current ? current.getSettings().deviceId : "";
    sel.replaceChildren();
    const list = devices.filter((d) => d.kind === kind);
    if (!list.length) sel.append(new Option("None found", ""));
    list.forEach((d, i) => sel.append(new Option(d.label || `${id === "camera" ? "Camera" : "Microphone"} ${i + 1}`, d.deviceId, false, d.deviceId === currentId)));
    sel.disabled = !list.length;
  }
}

async function initJoinPage() {
  e2eeNote();
  $("name").value = query.get("name") || localStorage.getItem("castellan.name") || "";
  $("camera").onchange = () => { app.devices.camera = $("camera").value; app.previewReady = startPreview(); };
  $("mic").onchange = () => { app.devices.mic = $("mic").value; app.previewReady = startPreview(); };
  $("join-form").onsubmit = (ev) => { ev.preventDefault(); joinClicked(); };
  $("lobby-cancel").onclick = () => { if (app.lobbyAbort) app.lobbyAbort.abort(); };
  $("btn-rejoin").onclick = () => location.reload();
  $("password-row").hidden = true;
  if (app.direct) {
    $("join-title").textContent = "Join meeting (direct to node)";
    setLinkState("Development mode: joining a node directly with a token.");
  } else if (app.link) {
    setLinkState("Checking the meeting link…");
    try {
      app.info = await api.linkInfo(app.link);
      $("join-title").textContent = app.info.title || "Join meeting";
      document.title = `${app.info.title} · Castellan`;
      $("password-row").hidden = !app.info.password_required || !!app.hostKey;
      setLinkState(app.info.lobby && !app.hostKey ? "The host admits participants from a waiting room." : "");
    } catch (e) {
      setLinkState(e.message, true);
      $("join-button").disabled = true;
    }
  } else {
    setLinkState("Open this page from a meeting link.", true);
    $("join-button").disabled = true;
  }
  app.previewReady = startPreview();
  await app.previewReady;
  if (query.get("autojoin") === "1") joinClicked();
}

let retryTimer = null;

function countdown(seconds, base) {
  clearInterval(retryTimer);
  const btn = $("join-button");
  let left = seconds;
  btn.disabled = true;
  const tick = () => {
    if (left <= 0) {
      clearInterval(retryTimer);
      btn.disabled = false;
      showJoinError("");
      return;
    }
    showJoinError(`${base} ${left} s before trying again.`);
    left -= 1;
  };
  tick();
  retryTimer = setInterval(tick, 1000);
}

async function joinClicked() {
  showJoinError("");
  const name = $("name").value.trim();
  if (!name && !app.direct) {
    showJoinError("Please enter your name.");
    $("name").focus();
    return;
  }
  if (app.e2eeWanted && (!supportsE2EE() || !app.secret)) {
    showJoinError($("e2ee-note").textContent);
    return;
  }
  app.name = name;
  try { localStorage.setItem("castellan.name", name); } catch (e) { /* private mode */ }
  app.password = $("password").value || null;
  $("join-button").disabled = true;
  try {
    await app.previewReady; // camera/microphone first: joining must not race the preview
    await obtainPlaceAndEnter();
  } catch (e) {
    handleJoinError(e);
  }
}

function handleJoinError(e) {
  $("lobby").hidden = true;
  $("join-form").hidden = false;
  if (e instanceof api.JoinError && e.status === 429 && e.retryAfter) {
    countdown(e.retryAfter, `${e.message}:`);
    return;
  }
  $("join-button").disabled = false;
  if (e instanceof NodeError) showJoinError(nodeErrorText(e));
  else showJoinError(e.message || String(e));
  if (e instanceof api.JoinError && e.code === "wrong_password") $("password").select();
}

function nodeErrorText(e) {
  const texts = {
    token_expired: "Your admission expired before the media server saw it. Join again.",
    token_replayed: "This admission was already used. Join again.",
    wrong_region: "The media server refused the meeting: it is outside the regions allowed for it.",
    node_draining: "The media server is restarting. Join again in a moment.",
    node_full: "The media server is full. Join again in a moment.",
    unreachable: "Cannot reach the media server.",
  };
  return texts[e.code] || `The media server refused to join: ${e.message} (${e.code}).`;
}

async function obtainPlaceAndEnter() {
  if (app.direct) {
    app.joinAnswer = { token: app.direct.token, ws_url: app.direct.ws, processing: null };
    await enterMeeting();
    return;
  }
  let answer = await api.join({ link: app.link, name: app.name, password: app.hostKey ? null : app.password, hostKey: app.hostKey });
  if (answer.status === "waiting") {
    $("join-form").hidden = true;
    $("lobby").hidden = false;
    app.lobbyAbort = new AbortController();
    answer = await api.waitInLobby(answer.ticket, { signal: app.lobbyAbort.signal });
    $("lobby").hidden = true;
  }
  app.joinAnswer = answer;
  try {
    await enterMeeting();
  } catch (e) {
    if (e instanceof NodeError && ["node_draining", "node_full", "token_expired", "closed", "unreachable"].includes(e.code)) {
      // ask the control plane again (a fresh token, possibly another node), once
      app.joinAnswer = await api.join({ link: app.link, name: app.name, password: app.hostKey ? null : app.password, hostKey: app.hostKey });
      await enterMeeting();
    } else {
      throw e;
    }
  }
}

// ------------------------------------------------------------------------------------------------ meeting

async function enterMeeting() {
  const a = app.joinAnswer;
  const send = (data) => app.session && app.session.send({ type: "chat", data });
  const api = query.get("transform") === "legacy" ? "createEncodedStreams" : null;
  app.e2ee = app.e2eeWanted ? new E2EE(app.secret, send, { api }) : null;
  const session = new Session({ wsUrl: a.ws_url, token: a.token, e2ee: app.e2ee, videoCodec: query.get("codec") });
  app.session = session;
  wireSession(session);
  if (app.local) {
    for (const t of app.local.getAudioTracks()) t.enabled = !$("join-muted").checked;
    for (const t of app.local.getVideoTracks()) t.enabled = !$("join-camera-off").checked;
    app.micMuted = $("join-muted").checked;
    app.camOff = $("join-camera-off").checked;
  }
  try {
    await session.join(app.local);
  } catch (e) {
    if (app.e2ee) app.e2ee.stop();
    app.session = null;
    throw e;
  }
}

function wireSession(session) {
  session.addEventListener("joined", (ev) => {
    const s = ev.detail;
    $("join-view").hidden = true;
    $("left-view").hidden = true;
    $("meeting-view").hidden = false;
    $("meeting-title").textContent = (app.info && app.info.title) || `Room ${s.room}`;
    document.title = `${$("meeting-title").textContent} · Castellan`;
    renderWhere(s);
    renderSelf();
    updateControls();
    if (app.e2ee) {
      app.e2ee.addEventListener("peerstate", (e) => { app.peerState.set(e.detail.id, e.detail); renderTiles(); });
      app.e2ee.addEventListener("change", () => renderLock());
      setTimeout(announceState, 500);
    }
    if (app.link && app.hostKey && !app.lobbyTimer) {
      pollWaitingRoom();
      app.lobbyTimer = setInterval(pollWaitingRoom, 2000);
    }
    notice("");
  });
  session.addEventListener("roster", () => { renderTiles(); announceStateSoon(); });
  session.addEventListener("tracks", () => renderTiles());
  session.addEventListener("chat", (ev) => onChat(ev.detail));
  session.addEventListener("connection", (ev) => {
    const d = ev.detail;
    if (d.signalling === "lost") notice("Connection to the meeting server lost — reconnecting…");
    else if (d.signalling === "resumed") notice("");
    else if (d.media === "disconnected") notice("Network interrupted — trying to recover…");
    else if (d.media === "failed") notice("Media connection failed — restarting it…");
    else if (d.media === "connected") notice("");
  });
  session.addEventListener("notice", (ev) => notice(`Server: ${ev.detail.message}`));
  session.addEventListener("left", (ev) => showLeft(ev.detail.reason));
  session.addEventListener("fatal", (ev) => rejoinAfterLoss(ev.detail));
}

async function rejoinAfterLoss(detail) {
  if (app.rejoining) return;
  if (!app.link || app.direct) {
    showLeft(detail.message);
    return;
  }
  app.rejoining = true;
  notice("The meeting server lost your session — rejoining…");
  const old = app.session;
  try { old.closed = true; old.pc && old.pc.close(); old.e2ee && old.e2ee.stop(); } catch (e) { /* gone */ }
  clearTiles();
  const lost = app.joinAnswer && app.joinAnswer.node;
  for (let attempt = 0; attempt < 10; attempt++) {
    try {
      app.joinAnswer = await api.join({ link: app.link, name: app.name, password: app.hostKey ? null : app.password, hostKey: app.hostKey, unreachableNode: lost });
      await enterMeeting();
      app.rejoining = false;
      return;
    } catch (e) {
      notice(`Rejoining failed (${e.message}); retrying…`);
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  app.rejoining = false;
  showLeft("Could not rejoin the meeting.");
}

function showLeft(reason) {
  const texts = { left: "You left the meeting.", ended_by_admin: "The organiser ended the meeting.",
    replaced: "You joined from another tab or device.", node_stopping: "The media server shut down." };
  clearTiles();
  $("meeting-view").hidden = true;
  $("left-view").hidden = false;
  $("left-reason").textContent = texts[reason] || reason || "";
}

function notice(text) {
  const el = $("notice");
  el.textContent = text;
  el.hidden = !text;
}

function renderWhere(s) {
  const p = app.joinAnswer && app.joinAnswer.processing;
  const el = $("where");
  if (p) {
    put(el, "pin", `Processed in ${p.location} (${p.region}) · ${p.jurisdiction}`);
    el.title = `Where is my meeting processed?\nRegion: ${p.region}\nLocation: ${p.location}\nJurisdiction: ${p.jurisdiction}\nPolicy: ${p.policy}\nMedia server: ${s.node}`;
  } else {
    put(el, "pin", `Processed on ${s.node} (${s.region})`);
    el.title = `Media server ${s.node} in region ${s.region}. (Joined directly: the control plane's residency details are not available.)`;
  }
  el.setAttribute("aria-label", el.title);
}

function announceState() {
  if (!app.e2ee || !app.session || !app.session.me) return;
  app.e2ee.sendState({ audioMuted: app.micMuted, videoOff: app.camOff, screen: app.screen ? app.screen.stream.id : null,
    camera: app.local ? app.local.id : null });
}

let announceTimer = null;
function announceStateSoon() {
  clearTimeout(announceTimer);
  announceTimer = setTimeout(announceState, 800);
}

// ------------------------------------------------------------------------------------------------ host: waiting room

async function pollWaitingRoom() {
  let waiting;
  try {
    waiting = (await api.lobbyList(app.link, app.hostKey)).filter((w) => w.state === "waiting");
  } catch (e) {
    return; // not a lobby link, or the control plane is busy: try again later
  }
  const list = $("waiting-list");
  const shown = new Set([...list.children].map((li) => li.dataset.ticket));
  const now = new Set(waiting.map((w) => w.ticket));
  for (const li of [...list.children]) if (!now.has(li.dataset.ticket)) li.remove();
  for (const w of waiting) {
    if (shown.has(w.ticket)) continue;
    const li = document.createElement("li");
    li.dataset.ticket = w.ticket;
    const nm = document.createElement("span");
    nm.textContent = w.name;
    const admit = document.createElement("button");
    admit.type = "button";
    admit.textContent = "Admit";
    admit.className = "admit";
    const deny = document.createElement("button");
    deny.type = "button";
    deny.textContent = "Deny";
    const decide = async (yes) => {
      admit.disabled = deny.disabled = true;
      try {
        await api.lobbyDecide(app.link, app.hostKey, w.ticket, yes);
        li.remove();
      } catch (e) {
        notice(`Waiting room: ${e.message}`);
        admit.disabled = deny.disabled = false;
      }
      $("waiting-room").hidden = !$("waiting-list").children.length;
    };
    admit.onclick = () => decide(true);
    deny.onclick = () => decide(false);
    admit.setAttribute("aria-label", `Admit ${w.name}`);
    deny.setAttribute("aria-label", `Deny ${w.name}`);
    li.append(nm, admit, deny);
    list.append(li);
  }
  $("waiting-room").hidden = !list.children.length;
}

// ------------------------------------------------------------------------------------------------ tiles

function initials(name) {
  const words = (name || "").replace(/\(you\)|— screen/g, "").split(/\s+/).filter((w) => /^\p{L}/u.test(w));
  return (words.map((w) => w[0]).join("").slice(0, 2) || "?").toUpperCase();
}

function makeTile(key, { name, self = false }) {
  const el = document.createElement("figure");
  el.className = "tile" + (self ? " self" : "");
  el.dataset.key = key;
  const video = document.createElement("video");
  video.autoplay = true;
  video.playsInline = true;
  video.muted = true;
  const avatar = document.createElement("div");
  avatar.className = "avatar";
  avatar.textContent = initials(name);
  avatar.hidden = true;
  const label = document.createElement("figcaption");
  label.className = "label";
  const tlock = document.createElement("span");
  tlock.className = "tlock";
  const nm = document.createElement("span");
  nm.className = "name";
  nm.textContent = name;
  const mic = document.createElement("span");
  mic.className = "mic";
  label.append(tlock, nm, mic);
  const problem = document.createElement("div");
  problem.className = "problem";
  problem.hidden = true;
  el.append(video, avatar, label, problem);
  $("grid").append(el);
  const tile = { key, el, video, avatar, label, tlock, nm, mic, problem, stream: null };
  app.tiles.set(key, tile);
  return tile;
}

function renderSelf() {
  let t = app.tiles.get("self");
  if (!t) t = makeTile("self", { name: `${app.name || app.session.me.name} (you)`, self: true });
  t.video.srcObject = app.local;
  t.el.dataset.participant = app.session.me.participant;
  const hasVideo = app.local && app.local.getVideoTracks().length && !app.camOff;
  t.video.hidden = !hasVideo;
  t.avatar.hidden = !!hasVideo;
  put(t.mic, app.micMuted ? "micoff" : null);
  put(t.tlock, app.e2ee ? "lock" : "unlock");
  t.tlock.title = app.e2ee ? "your media is encrypted end to end" : "your media is not end-to-end encrypted";
}

function clearTiles() {
  for (const t of app.tiles.values()) t.el.remove();
  app.tiles.clear();
  for (const a of app.audioEls.values()) a.remove();
  app.audioEls.clear();
}

function renderTiles() {
  const session = app.session;
  if (!session || !session.me) return;
  const wanted = new Set(["self"]);
  const remote = session.remote();
  // one tile per remote participant's stream (camera, and a screen share as its own tile)
  const byStream = new Map();
  for (const r of remote) {
    const key = `${r.desc.participant}|${r.desc.stream}`;
    if (!byStream.has(key)) byStream.set(key, { participant: r.desc.participant, stream: r.desc.stream, video: null, audio: [] });
    const g = byStream.get(key);
    if (r.desc.kind === "video") g.video = r;
    else g.audio.push(r);
  }
  // participants without any stream yet still get a tile
  for (const [id] of session.participants) {
    if (![...byStream.values()].some((g) => g.participant === id)) byStream.set(`${id}|`, { participant: id, stream: "", video: null, audio: [] });
  }
  for (const [key, g] of byStream) {
    wanted.add(key);
    const p = session.participants.get(g.participant);
    const state = app.peerState.get(g.participant) || {};
    const isScreen = state.screen && state.screen === g.stream;
    const name = (p ? p.name : g.participant) + (isScreen ? " — screen" : "");
    let t = app.tiles.get(key);
    if (!t) t = makeTile(key, { name });
    t.nm.textContent = name;
    t.el.dataset.participant = g.participant;
    t.participant = g.participant;
    t.isScreen = !!isScreen;
    t.videoTrack = g.video ? g.video.id : null;
    t.audioTracks = g.audio.map((a) => a.id);
    if (g.video) {
      const track = g.video.transceiver.receiver.track;
      if (!t.stream || t.stream.getVideoTracks()[0] !== track) {
        t.stream = new MediaStream([track]);
        t.video.srcObject = t.stream;
      }
    } else if (t.stream) {
      t.stream = null;
      t.video.srcObject = null;
    }
    const videoOff = !g.video || g.video.muted || (!isScreen && state.videoOff);
    t.video.hidden = videoOff;
    t.avatar.hidden = !videoOff;
    const audioMuted = g.audio.length ? g.audio.every((a) => a.muted) || (!isScreen && state.audioMuted) : false;
    put(t.mic, audioMuted ? "micoff" : null);
    t.mic.title = audioMuted ? "muted" : "";
  }
  for (const [key, t] of app.tiles) {
    if (!wanted.has(key)) {
      t.el.remove();
      app.tiles.delete(key);
    }
  }
  // audio: one element per remote audio track
  const audioWanted = new Set();
  for (const r of remote) {
    if (r.desc.kind !== "audio") continue;
    audioWanted.add(r.id);
    if (!app.audioEls.has(r.id)) {
      const a = document.createElement("audio");
      a.autoplay = true;
      a.srcObject = new MediaStream([r.transceiver.receiver.track]);
      document.body.append(a);
      app.audioEls.set(r.id, a);
    }
  }
  for (const [id, a] of app.audioEls) if (!audioWanted.has(id)) { a.remove(); app.audioEls.delete(id); }
  renderLock();
}

// ------------------------------------------------------------------------------------------------ lock, quality, speaker

function renderLock() {
  const el = $("lock");
  const chatLock = $("chat-lock");
  if (!app.session) return;
  if (!app.e2ee) {
    put(el, "unlock", "Not end-to-end encrypted");
    el.className = "badge lock bad";
    el.title = "End-to-end encryption is off: the media server could read this meeting's media.";
    chatLock.textContent = "(not end-to-end encrypted)";
    for (const t of app.tiles.values()) if (t.key !== "self") { put(t.tlock, "unlock"); t.tlock.className = "tlock bad"; }
    return;
  }
  const st = app.e2ee.status();
  let failing = 0;
  let ok = 0;
  for (const t of app.tiles.values()) {
    if (t.key === "self") continue;
    const trackStates = [t.videoTrack, ...(t.audioTracks || [])].filter(Boolean).map((id) => st.tracks[id]).filter(Boolean);
    const bad = trackStates.some((s) => s.state === "failing");
    const good = trackStates.length > 0 && trackStates.every((s) => s.state === "ok");
    const rejected = st.rejected.some(([id]) => id === t.participant);
    if (bad || rejected) {
      failing++;
      put(t.tlock, "warn");
      t.tlock.className = "tlock bad";
      t.tlock.title = "cannot decrypt this participant's media";
      t.problem.hidden = false;
      t.problem.textContent = rejected
        ? "⚠ This participant's meeting key does not match yours — their media cannot be decrypted."
        : "⚠ Cannot decrypt this participant's media (not encrypted, or encrypted with a different meeting key).";
    } else {
      t.problem.hidden = true;
      if (good) { ok++; put(t.tlock, "lock"); t.tlock.className = "tlock ok"; t.tlock.title = `decrypting (key epoch ${trackStates[0].epoch})`; }
      else { put(t.tlock, "wait"); t.tlock.className = "tlock wait"; t.tlock.title = "no media yet"; }
    }
  }
  let text;
  let cls;
  let ic;
  if (!st.keyed) {
    text = "Waiting for the meeting key…";
    ic = "key";
    cls = "warn";
  } else if (failing && !ok) {
    text = st.rejected.length && !st.verified.length
      ? "Your link's key does not match this meeting's — nothing can be decrypted"
      : "Cannot decrypt the other participants' media";
    ic = "warn";
    cls = "bad";
  } else if (failing) {
    text = `Encrypted, but ${failing} participant${failing > 1 ? "s" : ""} cannot be decrypted`;
    ic = "warn";
    cls = "warn";
  } else {
    text = `End-to-end encrypted · key ${st.epoch}`;
    ic = "lock";
    cls = "ok";
  }
  put(el, ic, text);
  el.className = `badge lock ${cls}`;
  el.title = `API: ${st.api}. Key epoch ${st.epoch ?? "none"} (sending with ${st.sendEpoch ?? "none"}). ` +
    `Verified participants: ${st.verified.length}. Rejected (wrong key): ${st.rejected.length}.`;
  put(chatLock, st.keyed ? "lock" : "key", st.keyed ? "end-to-end encrypted" : "(waiting for the key)");
}

async function pollStats() {
  const s = app.session;
  if (!s || !s.pc || s.closed) return;
  let stats;
  try { stats = await s.stats(); } catch (e) { return; }
  app.lastStats = stats;
  // active speaker: the loudest remote audio above a floor
  let best = null;
  for (const a of stats.audio) {
    if (a.audioLevel > 0.02 && (!best || a.audioLevel > best.audioLevel)) best = a;
  }
  app.speaker = best ? best.participant : null;
  for (const t of app.tiles.values()) t.el.classList.toggle("speaking", !!best && t.participant === best.participant && !t.isScreen);
  // connection quality: loss over the last interval, RTT, jitter
  let lost = 0;
  let received = 0;
  let jitter = 0;
  for (const x of [...stats.audio, ...stats.video]) {
    const prev = app.prevInbound.get(x.mid) || { lost: 0, recv: 0 };
    lost += Math.max(0, x.packetsLost - prev.lost);
    received += Math.max(0, x.packetsReceived - prev.recv);
    jitter = Math.max(jitter, x.jitter);
    app.prevInbound.set(x.mid, { lost: x.packetsLost, recv: x.packetsReceived });
  }
  const lossPct = received + lost > 0 ? (100 * lost) / (received + lost) : 0;
  const rttMs = stats.rtt !== null ? stats.rtt * 1000 : null;
  let q = "good";
  if (stats.connection === "new" || stats.connection === "connecting") q = "connecting";
  else if (stats.connection !== "connected") q = "poor";
  else if (lossPct > 5 || (rttMs !== null && rttMs > 400) || jitter > 0.1) q = "poor";
  else if (lossPct > 1 || (rttMs !== null && rttMs > 200) || jitter > 0.04) q = "fair";
  app.quality = q;
  const el = $("quality");
  put(el, "signal", { connecting: "Connecting…", good: "Connection good", fair: "Connection fair", poor: "Connection poor" }[q]);
  el.className = `badge quality ${q}`;
  el.title = `loss ${lossPct.toFixed(1)} %, RTT ${rttMs === null ? "?" : rttMs.toFixed(0) + " ms"}, jitter ${(jitter * 1000).toFixed(0)} ms`;
  if (app.e2ee) {
    app.safety = await app.e2ee.safetyCode();
    $("safety").textContent = app.safety ? `Safety code ${app.safety}` : "";
    renderLock();
  }
}

// ------------------------------------------------------------------------------------------------ controls

function updateControls() {
  $("btn-mic").textContent = app.micMuted ? "Unmute" : "Mute";
  $("btn-mic").setAttribute("aria-pressed", String(app.micMuted));
  $("btn-cam").textContent = app.camOff ? "Camera on" : "Camera off";
  $("btn-cam").setAttribute("aria-pressed", String(app.camOff));
  $("btn-screen").textContent = app.screen ? "Stop sharing" : "Share screen";
  $("btn-screen").setAttribute("aria-pressed", String(!!app.screen));
  const hasAudio = app.local && app.local.getAudioTracks().length;
  const hasVideo = app.local && app.local.getVideoTracks().length;
  $("btn-mic").disabled = !hasAudio;
  $("btn-cam").disabled = !hasVideo;
  $("btn-screen").disabled = !(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
}

function toggleMic() {
  app.micMuted = !app.micMuted;
  for (const t of app.local.getAudioTracks()) t.enabled = !app.micMuted;
  updateControls();
  renderSelf();
  announceState();
}

function toggleCam() {
  app.camOff = !app.camOff;
  for (const t of app.local.getVideoTracks()) t.enabled = !app.camOff;
  updateControls();
  renderSelf();
  announceState();
}

async function toggleScreen() {
  const s = app.session;
  if (app.screen) {
    const tr = app.screen.transceiver;
    app.screen = null;
    updateControls();
    announceState();
    await s.unpublish(tr);
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
  } catch (e) {
    notice(e.name === "NotAllowedError" ? "Screen sharing was not allowed." : `Screen sharing failed: ${e.message}`);
    return;
  }
  const track = stream.getVideoTracks()[0];
  track.contentHint = "detail";
  const transceiver = s.publish(track, stream);
  app.screen = { transceiver, stream };
  track.onended = () => { if (app.screen && app.screen.transceiver === transceiver) toggleScreen(); };
  updateControls();
  announceState();
  await s.negotiate();
}

async function leave() {
  const s = app.session;
  app.session = null;
  if (s) await s.leave();
  if (app.local) for (const t of app.local.getTracks()) t.stop();
  showLeft("left");
}

// ------------------------------------------------------------------------------------------------ chat

async function onChat(msg) {
  const name = (app.session.participants.get(msg.from) || {}).name || msg.from;
  if (app.e2ee) {
    const r = await app.e2ee.receive(msg.from, msg.data);
    if (!r) return; // key exchange
    addChatLine(name, r.text, r.text === null);
  } else {
    try {
      const m = JSON.parse(msg.data);
      if (m.v === 1 && typeof m.plain === "string") addChatLine(name, m.plain, false);
    } catch (e) { /* not ours */ }
  }
}

function addChatLine(who, text, undecryptable) {
  const li = document.createElement("li");
  if (undecryptable) {
    li.className = "undecryptable";
    li.textContent = `${who}: (a message you cannot decrypt)`;
  } else {
    const w = document.createElement("span");
    w.className = "who";
    w.textContent = who;
    li.append(w, document.createTextNode(text));
  }
  $("chat-log").append(li);
  li.scrollIntoView({ block: "end" });
  app.chatLog.push({ who, text, undecryptable });
  if ($("chat").hidden) $("btn-chat").textContent = "Chat •";
}

async function sendChat(text) {
  const s = app.session;
  if (!s || !text) return;
  try {
    const data = app.e2ee ? await app.e2ee.sealChat(text) : JSON.stringify({ v: 1, plain: text });
    s.send({ type: "chat", data });
    addChatLine("You", text, false);
  } catch (e) {
    notice(`Message not sent: ${e.message}`);
  }
}

// ------------------------------------------------------------------------------------------------ test hooks

window.castellanStats = async function castellanStats() {
  const s = app.session;
  const out = s ? await s.stats() : { connection: "new", video: [], audio: [], outbound: [] };
  out.joined = !!(s && s.me);
  out.participant = s && s.me ? s.me.participant : null;
  out.e2ee = app.e2ee ? app.e2ee.status() : null;
  out.e2eeLog = app.e2ee ? app.e2ee.log.slice(-30) : [];
  out.safety = app.e2ee ? await app.e2ee.safetyCode() : null;
  out.lock = $("lock").textContent;
  out.lockClass = $("lock").className;
  out.problems = [...document.querySelectorAll(".tile .problem")].filter((e) => !e.hidden).map((e) => e.textContent);
  out.tiles = [...app.tiles.values()].map((t) => ({ key: t.key, participant: t.participant || null, name: t.nm.textContent,
    speaking: t.el.classList.contains("speaking"), muted: t.mic.childElementCount > 0, videoShown: !t.video.hidden }));
  out.signalling = s && s.ws ? ["connecting", "open", "closing", "closed"][s.ws.readyState] : "none";
  out.resumes = s ? s.log.filter((l) => l.endsWith(" resumed")).length : 0;
  out.quality = app.quality;
  out.qualityDetail = $("quality").title;
  out.where = $("where").textContent;
  out.chat = app.chatLog;
  out.notice = $("notice").hidden ? "" : $("notice").textContent;
  out.api = app.e2ee ? app.e2ee.api : transformApi();
  return out;
};
window.castellanChat = sendChat;

// ------------------------------------------------------------------------------------------------ start

$("btn-mic").onclick = toggleMic;
$("btn-cam").onclick = toggleCam;
$("btn-screen").onclick = toggleScreen;
$("btn-leave").onclick = leave;
$("btn-chat").onclick = () => {
  const c = $("chat");
  c.hidden = !c.hidden;
  $("btn-chat").setAttribute("aria-pressed", String(!c.hidden));
  $("btn-chat").textContent = "Chat";
  if (!c.hidden) $("chat-input").focus();
};
$("chat-form").onsubmit = (ev) => {
  ev.preventDefault();
  const input = $("chat-input");
  sendChat(input.value.trim());
  input.value = "";
};
setInterval(pollStats, 1000);
initJoinPage();
