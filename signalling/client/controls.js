// The meeting's controls: microphone, camera, screen share (as its own published track), and announcing this
// participant's media state to the others (MACed E2EE `state` messages).

import { $, notice } from "./dom.js";
import { app } from "./state.js";
import { renderSelf } from "./tiles.js";

export function announceState() {
  if (!app.e2ee || !app.session || !app.session.me) return;
  app.e2ee.sendState({ audioMuted: app.micMuted, videoOff: app.camOff, screen: app.screen ? app.screen.stream.id : null,
    camera: app.local ? app.local.id : null });
}

let announceTimer = null;
export function announceStateSoon() {
  clearTimeout(announceTimer);
  announceTimer = setTimeout(announceState, 800);
}

export function updateControls() {
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

export function toggleMic() {
  app.micMuted = !app.micMuted;
  for (const t of app.local.getAudioTracks()) t.enabled = !app.micMuted;
  updateControls();
  renderSelf();
  announceState();
}

export function toggleCam() {
  app.camOff = !app.camOff;
  for (const t of app.local.getVideoTracks()) t.enabled = !app.camOff;
  updateControls();
  renderSelf();
  announceState();
}

export async function toggleScreen() {
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
