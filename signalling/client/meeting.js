// The meeting: the E2EE context and node session, the session's events wired to the views, rejoining after a
// lost session, leaving, and the "you left" view.

import * as api from "./api.js";
import { renderMembers, renderWhere } from "./badges.js";
import { onChat } from "./chat.js";
import { announceState, announceStateSoon, updateControls } from "./controls.js";
import { $, notice } from "./dom.js";
import { E2EE } from "./e2ee.js";
import { attachRecorder } from "./recorder.js";
import { renderRecordingIndicator } from "./recording-indicator.js";
import { Session } from "./session.js";
import { app, query } from "./state.js";
import { clearTiles, renderSelf, renderTiles } from "./tiles.js";
import { pollWaitingRoom } from "./waiting-room.js";

export async function enterMeeting() {
  const a = app.joinAnswer;
  // the member sends node message objects (mls_*, and sealed `chat` for media state): docs/e2ee.md
  const send = (msg) => app.session && app.session.send(msg);
  const api = query.get("transform") === "legacy" ? "createEncodedStreams" : null;
  app.e2ee = app.e2eeWanted ? new E2EE(app.secret, send, { api }) : null;
  const session = new Session({ wsUrl: a.ws_url, token: a.token, e2ee: app.e2ee, videoCodec: query.get("codec") });
  app.session = session;
  wireSession(session);
  attachRecorder(app.e2ee, session); // recorder mode only (recorder.js)
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
    renderRecordingIndicator();
    renderSelf();
    updateControls();
    if (app.e2ee) {
      app.e2ee.addEventListener("peerstate", (e) => { app.peerState.set(e.detail.id, e.detail); renderTiles(); });
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
  session.addEventListener("roster", () => { renderTiles(); renderMembers(); announceStateSoon(); });
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

export async function leave() {
  const s = app.session;
  app.session = null;
  if (s) await s.leave();
  if (app.local) for (const t of app.local.getTracks()) t.stop();
  showLeft("left");
}
