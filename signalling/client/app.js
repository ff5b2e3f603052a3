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
//   controls.js  microphone, camera, screen share, announcing media state
//   chat.js      the chat
//   tiles.js     the video grid
//   badges.js    where, E2EE lock, quality, speaker, safety code
//   waiting-room.js  the host's Admit / Deny list
//   state.js     the shared state (window.castellanApp); dom.js: $, icons, the notice line
//   release.js   the client release hash in the footer
//   api.js, session.js, e2ee.js, e2ee-worker.js: control plane, node signalling, end-to-end encryption

import { pollStats } from "./badges.js";
import { sendChat } from "./chat.js";
import { toggleCam, toggleMic, toggleScreen } from "./controls.js";
import { $ } from "./dom.js";
import { transformApi } from "./e2ee.js";
import { initJoinPage } from "./join.js";
import { leave } from "./meeting.js";
import { showRelease } from "./release.js";
import { app } from "./state.js";

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
showRelease($("release"), { development: app.development });
initJoinPage();
