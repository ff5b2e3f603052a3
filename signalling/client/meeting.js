// The meeting: the E2EE context and node session, the session's events wired to the views (join/leave notices,
// host requests, the lock), rejoining after a lost session, leaving, and the end states ("You left", "The
// organiser ended the meeting", "The host removed you", "Connection lost — rejoining…").

import * as api from "./api.js";
import { renderMembers, renderWhere } from "./badges.js";
import { onChat } from "./chat.js";
import { announceState, announceStateSoon, findLocalTransceivers, listMeetingDevices, setMicMuted, toggleCam,
  updateControls, videoConstraints } from "./controls.js";
import { $, notice, put, toast } from "./dom.js";
import { renderInvite } from "./invite.js";
import { labelPanelButtons } from "./panels.js";
import { renderPeople } from "./people.js";
import { E2EE } from "./e2ee.js";
import { attachRecorder } from "./recorder.js";
import { sinkAttester, tokenClaims } from "./recorder-job.js";
import { renderRecordingIndicator } from "./recording-indicator.js";
import { Session } from "./session.js";
import { app, query } from "./state.js";
import { clearTiles, renderSelf, renderTiles } from "./tiles.js";
import { pollWaitingRoom } from "./waiting-room.js";

/** Enters the meeting with app.joinAnswer. `rejoin`: after a lost session, the camera and microphone stay as
 * they were (off, muted), whatever the join page's checkboxes said. */
export async function enterMeeting({ rejoin = false } = {}) {
  const a = app.joinAnswer;
  // the member sends node message objects (mls_*, and sealed `chat` for media state): docs/e2ee.md
  const send = (msg) => app.session && app.session.send(msg);
  const api = query.get("transform") === "legacy" ? "createEncodedStreams" : null;
  // the recorder's handover (docs/recording.md): a member checks a recorder's attested KeyPackage against the link's
  // `r` and its own credential's claims (from the control plane; the node cannot change them); a recorder page
  // without the link secret has its KeyPackage attested by its pool
  const attest = app.recorderJob && !app.secret ? sinkAttester(app.recorderJob.sink) : null;
  app.e2ee = app.e2eeWanted ? new E2EE(app.secret, send, { api, recorderKey: app.recorderKey, credential: tokenClaims(a.token),
    attest }) : null;
  const session = new Session({ wsUrl: a.ws_url, token: a.token, e2ee: app.e2ee, videoCodec: query.get("codec") });
  app.session = session;
  wireSession(session);
  attachRecorder(app.e2ee, session); // recorder mode only (recorder.js)
  const cameraOffAtJoin = !rejoin && !!app.local && app.local.getVideoTracks().length > 0 && $("join-camera-off").checked;
  if (app.local && !rejoin) {
    app.micMuted = $("join-muted").checked;
    app.camOff = false;
  }
  if (app.local) for (const t of app.local.getAudioTracks()) t.enabled = !app.micMuted;
  try {
    // camera off (its capture stopped): an empty camera sender, so that Camera on has a sender to fill
    const { width, height } = videoConstraints();
    await session.join(app.local, { cameraSlot: app.camOff, cameraSize: { width, height } });
  } catch (e) {
    if (app.e2ee) app.e2ee.stop();
    app.session = null;
    throw e;
  }
  // "join with camera off" is a real camera off: the capture stops (the sender keeps its m-line for later)
  if (cameraOffAtJoin) {
    await toggleCam();
  }
}

function peopleChanged(session) {
  const now = new Map([...session.participants.values()].map((p) => [p.id, p.name || p.id]));
  if (app.knownReady) {
    for (const [id, name] of now) if (!app.known.has(id)) toast(`${name} joined`);
    for (const [id, name] of app.known) if (!now.has(id)) toast(`${name} left`);
  }
  app.known = now;
  app.knownReady = true;
}

function wireSession(session) {
  session.addEventListener("joined", (ev) => {
    const s = ev.detail;
    $("join-view").hidden = true;
    $("left-view").hidden = true;
    $("meeting-view").hidden = false;
    $("meeting-title").textContent = (app.info && app.info.title) || `Room ${s.room}`;
    document.title = `${$("meeting-title").textContent} · Castellan`;
    app.isHost = !!s.host;
    app.locked = !!s.locked;
    app.ended = false;
    renderWhere(s);
    app.recording = s.recording || null;
    renderRecordingIndicator();
    if (!$("quality").textContent) put($("quality"), "signal", "Connecting…");
    findLocalTransceivers();
    renderSelf();
    updateControls();
    labelPanelButtons();
    renderInvite();
    renderPeople();
    listMeetingDevices();
    if (app.e2ee) {
      app.e2ee.addEventListener("peerstate", (e) => {
        const before = app.peerState.get(e.detail.id) || {};
        app.peerState.set(e.detail.id, e.detail);
        if (e.detail.hand && !before.hand) toast(`${(session.participants.get(e.detail.id) || {}).name || "Someone"} raised their hand`);
        renderTiles();
        renderPeople();
      });
      // the roster decides the tiles: every change of epoch, roster or status redraws them, the lock and the list
      app.e2ee.addEventListener("change", () => { renderTiles(); renderMembers(); });
      app.e2ee.addEventListener("warning", (e) => { notice(`Security warning: ${e.detail.text}`); renderTiles(); });
      setTimeout(announceState, 500);
    }
    if (app.link && app.hostKey && !app.lobbyTimer) {
      pollWaitingRoom();
      app.lobbyTimer = setInterval(pollWaitingRoom, 2000);
    }
    notice("");
  });
  session.addEventListener("roster", () => {
    peopleChanged(session);
    renderTiles();
    renderMembers();
    renderPeople();
    announceStateSoon();
  });
  session.addEventListener("tracks", () => { renderTiles(); renderPeople(); });
  session.addEventListener("hostrequest", (ev) => {
    // only ever a request to mute: nothing here can unmute this microphone
    if (ev.detail.action !== "mute") return;
    const host = (session.participants.get(ev.detail.from) || {}).name || "The host";
    if (!app.micMuted) setMicMuted(true);
    notice(`${host} muted your microphone. Unmute when you want to speak.`);
    renderPeople();
  });
  session.addEventListener("locked", (ev) => {
    app.locked = !!ev.detail.locked;
    toast(app.locked ? "The host locked the meeting: nobody else can join." : "The host unlocked the meeting.");
    renderPeople();
  });
  session.addEventListener("recording", (ev) => {
    const was = app.recording && app.recording.active;
    const wasState = app.recording && app.recording.state;
    app.recording = ev.detail;
    if (ev.detail.by && was !== ev.detail.active) {
      const who = (session.participants.get(ev.detail.by) || {}).name || "The host";
      toast(ev.detail.active ? `${who} started recording this meeting` : `${who} stopped recording this meeting`);
    }
    if (app.isHost && ev.detail.state === "refused" && wasState !== "refused") toast("Recording could not start");
    renderRecordingIndicator();
    renderPeople();
  });
  session.addEventListener("chat", (ev) => onChat(ev.detail));
  session.addEventListener("connection", (ev) => {
    const d = ev.detail;
    if (d.signalling === "lost") notice("Connection lost — rejoining…");
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
  notice(detail.code === "region_withdrawn" ? "Your organisation changed where its meetings may run — moving the meeting…" : "Connection lost — rejoining…");
  const old = app.session;
  try { old.closed = true; old.pc && old.pc.close(); old.e2ee && old.e2ee.stop(); } catch (e) { /* gone */ }
  clearTiles();
  if (app.screen) { // the share's sender was the lost connection's: it ends (the presenter shares again)
    for (const t of app.screen.stream.getTracks()) t.stop();
    app.screen = null;
  }
  const lost = app.joinAnswer && app.joinAnswer.node;
  for (let attempt = 0; attempt < 10; attempt++) {
    try {
      app.joinAnswer = await api.join({ link: app.link, name: app.name, password: app.hostKey ? null : app.password, hostKey: app.hostKey, regionHint: app.regionHint, unreachableNode: lost });
      await enterMeeting({ rejoin: true });
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

const END_STATES = {
  left: ["You left", "You left the meeting.", true],
  ended_by_host: ["The organiser ended the meeting", "The meeting is over for everyone.", false],
  ended_by_admin: ["The organiser ended the meeting", "The meeting was ended by its organisation.", false],
  removed_by_host: ["The host removed you from the meeting", "You can no longer see or hear this meeting.", false],
  replaced: ["You joined from somewhere else", "You joined from another tab or device.", false],
  node_stopping: ["Connection lost", "The media server shut down.", true],
};

function showLeft(reason) {
  const [title, text, rejoin] = END_STATES[reason] || ["Connection lost", reason || "", true];
  app.ended = true;
  clearTiles();
  if (app.lobbyTimer) { clearInterval(app.lobbyTimer); app.lobbyTimer = null; }
  if (app.local) for (const t of app.local.getTracks()) t.stop(); // the camera light goes off with the meeting
  if (app.screen) for (const t of app.screen.stream.getTracks()) t.stop();
  notice("");
  $("meeting-view").hidden = true;
  $("left-view").hidden = false;
  $("left-title").textContent = title;
  $("left-reason").textContent = text;
  $("btn-rejoin").hidden = !rejoin || !app.link;
  document.title = `${title} · Castellan`;
  $("left-title").focus();
}

export async function leave() {
  const s = app.session;
  app.session = null;
  if (s) await s.leave();
  showLeft("left");
}
