// Recording, told to every participant (issue 15, docs/recording.md): on the join page, the link's policy before
// joining (GET /v1/links/{link} → recording {policy, text}); in the meeting, a persistent indicator while the
// link's policy is not off. The recorder is an ordinary member:
// its name (e.g. "ACME archive") is in the roster and the safety code covers it like anyone's.

import { $ } from "./dom.js";
import { indicator, refusalNotice } from "./recording-state.js";
import { app } from "./state.js";

/** The join page's line (called once the link info is known). */
export function showRecordingNotice(info) {
  const r = info && info.recording;
  let el = document.getElementById("recording-note");
  if (!r || !r.text) { if (el) el.hidden = true; return; }
  if (!el) {
    el = document.createElement("p");
    el.id = "recording-note";
    el.className = "recording-note";
    el.setAttribute("role", "status");
    const after = $("e2ee-note");
    after.parentNode.insertBefore(el, after.nextSibling);
  }
  el.textContent = `● ${r.text}`;
  el.hidden = false;
}

/** In the meeting, for its whole length: on whenever the link's policy is not "off" (the recorder itself is in
 *  the roster under its own name once it joins). It says what the node says is happening (recording-state.js):
 *  "Recording starting…", "● REC" once a recorder records, "Recording could not start" — and tells the host why.
 *  Under "required", while the node says the meeting waits for its recorder (`joined.recording` / `recording`:
 *  held), a banner says so and this page sends no media. */
export function renderRecordingIndicator() {
  renderRecorderWait();
  renderRefusal();
  const r = (app.info && app.info.recording) || (app.recording && { policy: app.recording.policy, text: "" });
  let el = document.getElementById("recording-indicator");
  const shown = r ? indicator(app.recording, r.policy) : null;
  if (!shown) { if (el) el.hidden = true; return; }
  if (!el) {
    el = document.createElement("span");
    el.id = "recording-indicator";
    el.className = "recording-indicator";
    el.setAttribute("role", "status");
    $("meeting-title").after(el);
  }
  // the node's word: "● REC" only while a recorder of this meeting records
  el.textContent = shown.text;
  el.dataset.active = String(shown.live);
  el.dataset.state = shown.state;
  el.title = r.text || "";
  el.hidden = false;
}

/** The host's notice when recording could not start, naming why (no recorder in a region the organisation
 *  allows); gone once a recorder is live or recording is stopped. */
function renderRefusal() {
  const text = refusalNotice(app.recording, app.isHost);
  let el = document.getElementById("recording-refused");
  if (!text) { if (el) el.hidden = true; return; }
  if (!el) {
    el = document.createElement("p");
    el.id = "recording-refused";
    el.className = "recorder-wait";
    el.setAttribute("role", "alert");
    $("meeting-title").after(el);
  }
  el.textContent = text;
  el.hidden = false;
}

/** "Waiting for the recorder": the node forwards nobody's media until a recorder credential is in the meeting
 *  (sfu/recording.py); this page also stops sending (its E2EE worker drops outgoing frames) until then. */
function renderRecorderWait() {
  const held = !!(app.recording && app.recording.held);
  if (app.e2ee && app.e2ee.worker) app.e2ee.worker.postMessage({ type: "hold", held });
  let el = document.getElementById("recorder-wait");
  if (!held) { if (el) el.hidden = true; return; }
  if (!el) {
    el = document.createElement("p");
    el.id = "recorder-wait";
    el.className = "recorder-wait";
    el.setAttribute("role", "status");
    $("meeting-title").after(el);
  }
  el.textContent = "Waiting for the recorder — this meeting is recorded for compliance, so no one's camera or " +
    "microphone is sent until the recorder has joined.";
  el.hidden = false;
}
