// Castellan browser client: the join page and the meeting page (one document, two views).
//
// Opened from a meeting link, /j/<link>#k=<secret>[&h=<host key>]: the link id goes to the control plane, the
// #fragment never leaves the browser (it keys end-to-end encryption). For development and tests the page also
// accepts, in a development build only (state.js), ?ws=<node ws url>&token=<join token> (joining a node directly, no
// control plane), e2ee=0 (encryption off, tests measuring its cost) and autojoin=1. Query flags everywhere:
// transform=legacy forces the createEncodedStreams fallback, name=..., vw/vh (camera size).
//
// This is the page's one module script; the page's duties live in the modules it imports:
//   join.js      the join page (link, name, password, preview, devices, refusals, waiting for the host)
//   meeting.js   the meeting: session wiring, rejoin, leave, the "you left" view
//   controls.js  microphone, camera, screen share, raise hand, device switching, announcing media state
//   chat.js      the chat
//   people.js    the People panel and the host controls;  invite.js  the Invite panel
//   panels.js    which side panel is open;  shortcuts.js  keyboard shortcuts
//   tiles.js     the video grid
//   badges.js    where, E2EE lock, quality, speaker, safety code
//   waiting-room.js  the host's Admit / Deny list
//   state.js     the shared state (window.castellanApp); dom.js: $, icons, the notice line
//   release.js   the client release hash in the footer
//   api.js, session.js, e2ee.js, e2ee-worker.js: control plane, node signalling, end-to-end encryption

import { pollStats } from "./badges.js";
import { sendChat } from "./chat.js";
import { toggleCam, toggleHand, toggleMic, toggleScreen } from "./controls.js";
import { $, toastLog } from "./dom.js";
import { transformApi } from "./e2ee.js";
import { initJoinPage } from "./join.js";
import { leave } from "./meeting.js";
import { togglePanel } from "./panels.js";
import { renderPeople } from "./people.js";
import { showRelease } from "./release.js";
import { installShortcuts } from "./shortcuts.js";
import { app } from "./state.js";
import { reportViewports } from "./tiles.js";

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
  out.people = [...document.querySelectorAll("#people-list li")].map((li) => ({ participant: li.dataset.participant,
    text: li.textContent, speaking: li.classList.contains("speaking"), hand: li.classList.contains("hand-up") }));
  out.peopleCount = $("people-count").textContent;
  out.unread = app.unread;
  out.host = app.isHost;
  out.locked = app.locked;
  out.micMuted = app.micMuted;
  out.camOff = app.camOff;
  const cam = app.camTransceiver && app.camTransceiver.sender;
  out.cameraSender = cam ? { track: cam.track ? cam.track.readyState : null, transform: !!cam.transform } : null;
  out.localVideo = app.local ? app.local.getVideoTracks().map((t) => t.readyState) : [];
  out.presenting = $("grid").classList.contains("presenting");
  out.stage = (document.querySelector(".tile.on-stage .name") || {}).textContent || null;
  out.left = $("left-view").hidden ? null : { title: $("left-title").textContent, reason: $("left-reason").textContent,
    rejoin: !$("btn-rejoin").hidden };
  out.roster = app.e2ee ? app.e2ee.roster().map((m) => m.participant) : [];
  out.toasts = toastLog.slice();
  out.viewports = app.viewports ? Object.fromEntries(app.viewports.reporter.sent) : {};
  out.cameraEncodings = cam ? (cam.getParameters().encodings || []).map((e) => ({ rid: e.rid || "", active: e.active,
    scaleResolutionDownBy: e.scaleResolutionDownBy, maxBitrate: e.maxBitrate, scalabilityMode: e.scalabilityMode })) : [];
  return out;
};
window.castellanChat = sendChat;

// ------------------------------------------------------------------------------------------------ start

$("btn-mic").onclick = toggleMic;
$("btn-cam").onclick = toggleCam;
$("btn-screen").onclick = toggleScreen;
$("btn-hand").onclick = toggleHand;
$("btn-leave").onclick = leave;
for (const name of ["chat", "people", "invite", "settings", "details"]) $(`btn-${name}`).onclick = () => togglePanel(name);
$("btn-alone-invite").onclick = () => togglePanel("invite");
$("chat-form").onsubmit = (ev) => {
  ev.preventDefault();
  const input = $("chat-input");
  sendChat(input.value.trim());
  input.value = "";
};
installShortcuts();
setInterval(async () => { await pollStats(); renderPeople(); }, 1000);
setInterval(reportViewports, 500); // the node picks each remote video's layer by the size it is shown at
showRelease($("release"), { development: app.development });
initJoinPage();
