// Recording, told to every participant (issue 15, docs/recording.md): on the join page, the link's policy before
// joining (GET /v1/links/{link} → recording {policy, text}); in the meeting, a persistent indicator while the
// link's policy is not off. The recorder is an ordinary member:
// its name (e.g. "ACME archive") is in the roster and the safety code covers it like anyone's.

import { $ } from "./dom.js";
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
 *  the roster under its own name once it joins). */
export function renderRecordingIndicator() {
  const r = app.info && app.info.recording;
  let el = document.getElementById("recording-indicator");
  if (!r || r.policy === "off") { if (el) el.hidden = true; return; }
  if (!el) {
    el = document.createElement("span");
    el.id = "recording-indicator";
    el.className = "recording-indicator";
    el.setAttribute("role", "status");
    $("meeting-title").after(el);
  }
  el.textContent = r.policy === "required" ? "● REC" : "● may be recorded";
  el.title = r.text;
  el.hidden = false;
}
