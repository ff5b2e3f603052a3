// The video grid: one tile per participant stream (camera, and a screen share as its own tile), this
// participant's own tile (and a preview of its own screen share), avatars when video is off, mute and hand marks;
// one <audio> element per remote audio track. A screen share switches the grid to the presenter layout: the
// share large on the stage, everyone else in a filmstrip. The size each remote video is shown at goes to the node
// (viewport.js), which sends the simulcast layer worth it: a filmstrip thumbnail gets the quarter layer.

import { renderLock } from "./badges.js";
import { $, put } from "./dom.js";
import { recorderSink } from "./recorder.js";
import { app } from "./state.js";
import { ViewportReporter, shownSize } from "./viewport.js";

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
  const hand = document.createElement("span");
  hand.className = "hand";
  label.append(tlock, nm, mic, hand);
  const problem = document.createElement("div");
  problem.className = "problem";
  problem.hidden = true;
  el.append(video, avatar, label, problem);
  $("grid").append(el);
  const tile = { key, el, video, avatar, label, tlock, nm, mic, hand, problem, stream: null, videoOff: true };
  // the avatar covers a remote video until its first frame is decoded: a tile is never a black box
  video.addEventListener("loadeddata", () => { if (!tile.videoOff && !self) avatar.hidden = true; });
  app.tiles.set(key, tile);
  return tile;
}

function putHand(t, up, name) {
  put(t.hand, up ? "hand" : null);
  t.hand.title = up ? `${name} raised their hand` : "";
  t.el.classList.toggle("hand-up", !!up);
}

export function renderSelf() {
  if (!app.session || !app.session.me) return;
  let t = app.tiles.get("self");
  if (!t) t = makeTile("self", { name: `${app.name || app.session.me.name} (you)`, self: true });
  if (t.video.srcObject !== app.local) t.video.srcObject = app.local;
  t.el.dataset.participant = app.session.me.participant;
  const hasVideo = app.local && app.local.getVideoTracks().some((v) => v.readyState === "live") && !app.camOff;
  t.video.hidden = !hasVideo;
  t.avatar.hidden = !!hasVideo;
  put(t.mic, app.micMuted ? "micoff" : null);
  putHand(t, app.hand, "You");
  put(t.tlock, app.e2ee ? "lock" : "unlock");
  t.tlock.title = app.e2ee ? "your media is encrypted end to end" : "your media is not end-to-end encrypted";
  // the presenter sees what they share
  let pv = app.tiles.get("self-screen");
  if (app.screen && !pv) {
    pv = makeTile("self-screen", { name: "Your screen (preview)", self: false });
    pv.isScreen = true;
    pv.el.classList.add("preview");
  }
  if (app.screen && pv.video.srcObject !== app.screen.stream) pv.video.srcObject = app.screen.stream;
  if (!app.screen && pv) {
    pv.el.remove();
    app.tiles.delete("self-screen");
  }
  layout();
}

/** The presenter layout while anyone shares a screen: a remote share on the stage (else one's own preview). */
function layout() {
  const tiles = [...app.tiles.values()];
  const stage = tiles.find((t) => t.isScreen && t.key !== "self-screen") || app.tiles.get("self-screen") || null;
  for (const t of tiles) t.el.classList.toggle("on-stage", t === stage);
  $("grid").classList.toggle("presenting", !!stage);
  // alone: say so, with the way to invite (a grid of one's own face explains nothing)
  $("alone").hidden = !(app.session && app.session.me && app.session.participants.size === 0);
  if (stage && $("grid").firstElementChild !== stage.el) $("grid").prepend(stage.el);
}

/** Tells the node the size each member's remote video is shown at (every 500 ms: app.js; only changes are sent).
 * A recorder's page tells nothing: its tiles are not what it records, which is every stream at its best layer. */
export function reportViewports() {
  const s = app.session;
  if (!s || !s.me || !s.ws || s.ws.readyState !== WebSocket.OPEN || s.me.recorder || recorderSink) return;
  if (!app.viewports || app.viewports.session !== s) app.viewports = { session: s, reporter: new ViewportReporter((m) => s.send(m)) };
  const sizes = new Map();
  for (const t of app.tiles.values()) {
    if (t.videoTrack && t.member && !t.video.hidden) sizes.set(t.videoTrack, shownSize(t.video));
  }
  app.viewports.reporter.report(sizes);
}

export function clearTiles() {
  for (const t of app.tiles.values()) t.el.remove();
  app.tiles.clear();
  for (const a of app.audioEls.values()) a.remove();
  app.audioEls.clear();
}

/** Who gets a tile. With E2EE: exactly the MLS roster of the current epoch (every member a tile, media attached,
 * named by its credential), then the node's participants outside it as "joining", without media; a member the
 * node no longer lists keeps its tile until a commit removes it (it still holds the epoch's keys). Without E2EE
 * (development builds): the node's participants. */
function people(session) {
  if (!app.e2ee) {
    return [...session.participants.values()].map((p) => ({ id: p.id, name: p.name, member: true, warning: null, away: false }));
  }
  const out = [];
  const inRoster = new Set();
  for (const m of app.e2ee.roster()) {
    if (m.self) continue;
    inRoster.add(m.participant);
    out.push({ id: m.participant, name: m.name || m.participant, member: true, warning: m.warning,
      away: !session.participants.has(m.participant) });
  }
  for (const [id, p] of session.participants) {
    if (!inRoster.has(id)) out.push({ id, name: p.name || id, member: false, warning: null, away: false });
  }
  return out;
}

const WARNINGS = {
  credential_changed: (n) => `⚠ ${n} joined with a new key (another device, or someone else) — compare the safety code.`,
  duplicate: (n) => `⚠ ${n} appears twice in the encrypted group — compare the safety code.`,
};

export function renderTiles() {
  const session = app.session;
  if (!session || !session.me) return;
  const wanted = new Set(["self", "self-screen"]);
  const who = people(session);
  const members = new Map(who.filter((p) => p.member).map((p) => [p.id, p]));
  const remote = session.remote().filter((r) => members.has(r.desc.participant)); // only members' media is shown
  // one tile per member's stream (camera, and a screen share as its own tile)
  const byStream = new Map();
  for (const r of remote) {
    const key = `${r.desc.participant}|${r.desc.stream}`;
    if (!byStream.has(key)) byStream.set(key, { participant: r.desc.participant, stream: r.desc.stream, video: null, audio: [] });
    const g = byStream.get(key);
    if (r.desc.kind === "video") g.video = r;
    else g.audio.push(r);
  }
  // members without any stream yet, and participants not yet in the group, still get a tile (media-less)
  for (const p of who) {
    const key = p.member ? `${p.id}|` : `${p.id}|joining`;
    if (!p.member || ![...byStream.values()].some((g) => g.participant === p.id)) {
      byStream.set(key, { participant: p.id, stream: "", video: null, audio: [] });
    }
  }
  const byId = new Map(who.map((p) => [p.id, p]));
  for (const [key, g] of byStream) {
    wanted.add(key);
    const p = byId.get(g.participant);
    const state = app.peerState.get(g.participant) || {};
    const isScreen = state.screen && state.screen === g.stream;
    const name = p.name + (isScreen ? " — screen" : "") + (p.member ? "" : " — joining");
    let t = app.tiles.get(key);
    if (!t) t = makeTile(key, { name });
    t.nm.textContent = name;
    t.el.dataset.participant = g.participant;
    t.el.dataset.member = p.member ? (p.away ? "leaving" : "member") : "joining";
    t.el.dataset.warning = p.warning || "";
    t.el.classList.toggle("joining", !p.member);
    t.participant = g.participant;
    t.member = p.member;
    t.warning = p.warning;
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
    t.videoOff = videoOff;
    t.video.hidden = videoOff;
    // no frame yet (just subscribed, or waiting for a keyframe under the new epoch): the avatar, over the video
    t.avatar.hidden = !videoOff && t.video.readyState >= HTMLMediaElement.HAVE_CURRENT_DATA;
    const audioMuted = g.audio.length ? g.audio.every((a) => a.muted) || (!isScreen && state.audioMuted) : false;
    put(t.mic, audioMuted ? "micoff" : null);
    t.mic.title = audioMuted ? "muted" : "";
    putHand(t, !isScreen && state.hand, p.name);
    if (!p.member) {
      t.problem.hidden = false;
      t.problem.textContent = "Joining — not yet in the encrypted group";
    } else if (p.warning) {
      t.problem.hidden = false;
      t.problem.textContent = (WARNINGS[p.warning] || ((n) => `⚠ ${n}: ${p.warning}`))(p.name);
    }
  }
  for (const [key, t] of app.tiles) {
    if (!wanted.has(key)) {
      t.el.remove();
      app.tiles.delete(key);
    }
  }
  // audio: one element per member's audio track
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
  layout();
  renderLock();
}
