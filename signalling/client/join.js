// The join page: link check, name and password, camera/microphone preview and device choice, refusals (with a
// countdown on rate limits), the waiting room for participants, then entering the meeting.

import * as api from "./api.js";
import { $ } from "./dom.js";
import { supportsE2EE } from "./e2ee.js";
import { videoConstraints } from "./controls.js";
import { enterMeeting } from "./meeting.js";
import { showRecordingNotice } from "./recording-indicator.js";
import { NodeError } from "./session.js";
import { app, query } from "./state.js";

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
  } else if (!app.secret && !app.recorderJob) { // a recorder job may come without L: a member hands it over
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
  const video = videoConstraints();
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

export async function initJoinPage() {
  e2eeNote();
  $("name").value = query.get("name") || localStorage.getItem("castellan.name") || "";
  $("camera").onchange = () => { app.devices.camera = $("camera").value; app.previewReady = startPreview(); };
  $("mic").onchange = () => { app.devices.mic = $("mic").value; app.previewReady = startPreview(); };
  $("join-form").onsubmit = (ev) => { ev.preventDefault(); joinClicked(); };
  $("lobby-cancel").onclick = () => { if (app.lobbyAbort) app.lobbyAbort.abort(); };
  $("btn-rejoin").onclick = () => location.reload();
  $("password-row").hidden = true;
  if (app.recorderRefused) { // a job the pool's browser handed over that must not run (recorder-job.js)
    setLinkState(app.recorderRefused, true);
    $("join-button").disabled = true;
    $("join-form").classList.add("refused");
    return;
  }
  if (app.recorderJob) { // the pool's recorder: no camera, no microphone, no form; it joins at once
    $("join-title").textContent = `Recorder: ${app.recorderJob.name}`;
    setLinkState("This page is the meeting's recorder: a member of the encrypted group that publishes nothing.");
    $("name").value = app.recorderJob.name;
    joinClicked();
    return;
  }
  if (app.direct) {
    $("join-title").textContent = "Join meeting (direct to node)";
    setLinkState("Development mode: joining a node directly with a token.");
  } else if (app.link) {
    setLinkState("Checking the meeting link…");
    try {
      app.info = await api.linkInfo(app.link);
      showRecordingNotice(app.info);
      $("join-title").textContent = app.info.title || "Join meeting";
      document.title = `${app.info.title} · Castellan`;
      $("password-row").hidden = !app.info.password_required || !!app.hostKey;
      setLinkState(app.info.lobby && !app.hostKey ? "The host admits participants from a waiting room." : "");
    } catch (e) {
      // a refused link (revoked, expired, unknown) never turns the camera on: there is nothing to join
      setLinkState(e.message, true);
      $("join-button").disabled = true;
      $("join-form").classList.add("refused"); // nothing to fill in: only the reason stays
      $("preview-note").textContent = "Your camera stays off: this link cannot be used.";
      $("preview-note").hidden = false;
      return;
    }
  } else {
    setLinkState("Open this page from a meeting link.", true);
    $("join-button").disabled = true;
    $("join-form").classList.add("refused");
    return;
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
  if (app.e2eeWanted && (!supportsE2EE() || (!app.secret && !app.recorderJob))) {
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
  if (e instanceof api.JoinError && (e.status === 429 || e.code === "busy") && e.retryAfter) {
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
    meeting_locked: "The host has locked this meeting: nobody else can join now. Ask the host to unlock it.",
  };
  return texts[e.code] || `The media server refused to join: ${e.message} (${e.code}).`;
}

async function obtainPlaceAndEnter() {
  if (app.direct) {
    app.joinAnswer = { token: app.direct.token, ws_url: app.direct.ws, processing: null };
    await enterMeeting();
    return;
  }
  let answer = await api.join({ link: app.link, name: app.name, password: app.hostKey ? null : app.password, hostKey: app.hostKey, regionHint: app.regionHint });
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
      app.joinAnswer = await api.join({ link: app.link, name: app.name, password: app.hostKey ? null : app.password, hostKey: app.hostKey, regionHint: app.regionHint });
      await enterMeeting();
    } else {
      throw e;
    }
  }
}
