// The meeting's media controls: microphone, camera (off stops the capture: the light goes off and nothing is
// sent; on captures again and replaces the sender's track, its E2EE transform still attached to the sender),
// screen share (its own published track, with a preview tile), raise hand, in-meeting device switching, and
// announcing this participant's media state to the others (sealed E2EE `state` messages).

import { $, labelButton, notice } from "./dom.js";
import { app, query } from "./state.js";
import { renderSelf } from "./tiles.js";

export function announceState() {
  if (!app.e2ee || !app.session || !app.session.me) return;
  if (app.session.me.recorder) return; // a recorder credential says nothing: the node refuses its chat
  app.e2ee.sendState({ audioMuted: app.micMuted, videoOff: app.camOff, screen: app.screen ? app.screen.stream.id : null,
    camera: app.local ? app.local.id : null, hand: app.hand });
}

let announceTimer = null;
export function announceStateSoon() {
  clearTimeout(announceTimer);
  announceTimer = setTimeout(announceState, 800);
}

const canShare = () => !!(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);

export function updateControls() {
  labelButton($("btn-mic"), app.micMuted ? "micoff" : "mic", app.micMuted ? "Unmute" : "Mute", { shortcut: "M" });
  $("btn-mic").setAttribute("aria-pressed", String(app.micMuted));
  labelButton($("btn-cam"), app.camOff ? "camoff" : "cam", app.camOff ? "Camera on" : "Camera off", { shortcut: "V" });
  $("btn-cam").setAttribute("aria-pressed", String(app.camOff));
  labelButton($("btn-screen"), "screen", app.screen ? "Stop sharing" : "Share screen", { shortcut: "S" });
  $("btn-screen").setAttribute("aria-pressed", String(!!app.screen));
  labelButton($("btn-hand"), "hand", app.hand ? "Lower hand" : "Raise hand", { shortcut: "H" });
  $("btn-hand").setAttribute("aria-pressed", String(app.hand));
  labelButton($("btn-leave"), "leave", "Leave");
  $("btn-mic").disabled = !app.micTransceiver;
  $("btn-cam").disabled = !app.camTransceiver;
  // a phone browser without getDisplayMedia gets no button that cannot work
  $("btn-screen").hidden = !canShare();
}

/** Finds the camera's and microphone's sending transceivers after the session published app.local. */
export function findLocalTransceivers() {
  const pc = app.session && app.session.pc;
  if (!pc) return;
  const mine = pc.getTransceivers().filter((t) => t._castellanLocal && (!app.screen || t !== app.screen.transceiver));
  app.camTransceiver = mine.find((t) => t.receiver.track.kind === "video") || null;
  app.micTransceiver = mine.find((t) => t.receiver.track.kind === "audio") || null;
}

export function toggleMic() {
  if (!app.micTransceiver) return;
  setMicMuted(!app.micMuted);
}

export function setMicMuted(muted) {
  app.micMuted = muted;
  if (app.local) for (const t of app.local.getAudioTracks()) t.enabled = !muted;
  updateControls();
  renderSelf();
  announceState();
}

/** The camera's capture: 1280x720 unless ?vw=&vh= say otherwise (ideal values: a camera that cannot gives its
 * nearest). The camera is sent as simulcast (session.js), so a large tile gets 720p and a thumbnail the 320x180 layer. */
export function videoConstraints() {
  const size = { width: parseInt(query.get("vw") || "1280", 10), height: parseInt(query.get("vh") || "720", 10) };
  return app.devices.camera ? { deviceId: { exact: app.devices.camera }, ...size } : size;
}

/** Camera off: the track is stopped (capture ends, the light goes off) and the sender sends nothing. */
async function cameraOff() {
  const tr = app.camTransceiver;
  for (const t of app.local.getVideoTracks()) {
    t.stop();
    app.local.removeTrack(t);
  }
  if (tr) await tr.sender.replaceTrack(null);
}

/** Camera on: a fresh capture replaces the sender's (empty) track; the E2EE transform is the sender's, so it
 * stays attached — re-attached if the sender lost it. */
async function cameraOn() {
  const stream = await navigator.mediaDevices.getUserMedia({ video: videoConstraints(), audio: false });
  const track = stream.getVideoTracks()[0];
  app.local.addTrack(track);
  const tr = app.camTransceiver;
  if (tr) {
    if (app.e2ee && app.e2ee.api === "RTCRtpScriptTransform" && !tr.sender.transform) {
      app.e2ee.protectSender(tr.sender, "video", app.session.videoCodec);
    }
    await tr.sender.replaceTrack(track);
  }
}

export async function toggleCam() {
  if (!app.camTransceiver || app.camBusy) return;
  app.camBusy = true;
  const off = !app.camOff;
  try {
    if (off) await cameraOff();
    else await cameraOn();
    app.camOff = off;
  } catch (e) {
    notice(`Camera: ${e.message}`);
  } finally {
    app.camBusy = false;
  }
  updateControls();
  renderSelf();
  announceState();
}

export function toggleHand() {
  app.hand = !app.hand;
  updateControls();
  renderSelf();
  announceState();
}

/** In-meeting device switching: the chosen device's track replaces the sender's (no renegotiation). */
export async function switchDevice(kind, deviceId) {
  if (kind === "camera") app.devices.camera = deviceId;
  else app.devices.mic = deviceId;
  const tr = kind === "camera" ? app.camTransceiver : app.micTransceiver;
  if (!tr || (kind === "camera" && app.camOff)) return; // used at the next camera on
  try {
    const c = kind === "camera" ? { video: videoConstraints(), audio: false }
      : { video: false, audio: deviceId ? { deviceId: { exact: deviceId } } : true };
    const track = (await navigator.mediaDevices.getUserMedia(c)).getTracks()[0];
    const old = kind === "camera" ? app.local.getVideoTracks() : app.local.getAudioTracks();
    if (kind === "mic") track.enabled = !app.micMuted;
    await tr.sender.replaceTrack(track);
    for (const t of old) { t.stop(); app.local.removeTrack(t); }
    app.local.addTrack(track);
    renderSelf();
  } catch (e) {
    notice(`Could not switch the ${kind === "camera" ? "camera" : "microphone"}: ${e.message}`);
  }
}

/** Fills the in-meeting device lists (Settings panel), the current devices selected. */
export async function listMeetingDevices() {
  let devices = [];
  try { devices = await navigator.mediaDevices.enumerateDevices(); } catch (e) { devices = []; }
  for (const [kind, id, key] of [["videoinput", "meeting-camera", "camera"], ["audioinput", "meeting-mic", "mic"]]) {
    const sel = $(id);
    const tracks = app.local ? (key === "camera" ? app.local.getVideoTracks() : app.local.getAudioTracks()) : [];
    const current = app.devices[key] || (tracks[0] ? tracks[0].getSettings().deviceId : "");
    const list = devices.filter((d) => d.kind === kind);
    sel.replaceChildren(...(list.length ? list.map((d, i) => new Option(d.label || `${key === "camera" ? "Camera" : "Microphone"} ${i + 1}`,
      d.deviceId, false, d.deviceId === current)) : [new Option("None found", "")]));
    sel.disabled = !list.length;
    sel.onchange = () => switchDevice(key, sel.value);
  }
}

export async function toggleScreen() {
  const s = app.session;
  if (!canShare() || !s) return;
  if (app.screen) {
    const tr = app.screen.transceiver;
    app.screen = null;
    updateControls();
    renderSelf();
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
  const transceiver = s.publish(track, stream, { screen: true });
  app.screen = { transceiver, stream };
  track.onended = () => { if (app.screen && app.screen.transceiver === transceiver) toggleScreen(); };
  updateControls();
  renderSelf();
  announceState();
  await s.negotiate();
}
