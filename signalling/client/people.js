// The People panel: everyone in the meeting, with the count, who is muted, who is speaking and raised hands; for
// the holder of the host link, the host controls (the node carries them out and audits them: sfu/host.py) — ask a
// participant to mute (a request: nobody can be unmuted by someone else), remove one, lock the meeting, end it for
// all. Removing and ending ask for a second click.

import { $, labelButton, put } from "./dom.js";
import { app } from "./state.js";

function hostAction(action, participant = undefined) {
  if (!app.session) return;
  app.session.send(participant ? { type: "host", action, participant } : { type: "host", action });
}

/** A button that acts on the second click within 5 s (the first one says what will happen). */
function twoStep(btn, label, armedLabel, act) {
  btn.textContent = label;
  btn.setAttribute("aria-label", label);
  btn.onclick = () => {
    if (btn.dataset.armed === "1") {
      btn.dataset.armed = "";
      act();
      return;
    }
    btn.dataset.armed = "1";
    btn.textContent = armedLabel;
    btn.setAttribute("aria-label", armedLabel);
    setTimeout(() => {
      if (btn.dataset.armed !== "1") return;
      btn.dataset.armed = "";
      btn.textContent = label;
      btn.setAttribute("aria-label", label);
    }, 5000);
  };
}

function rows() {
  const s = app.session;
  const out = [{ id: s.me.participant, name: `${app.name || s.me.name} (you)`, self: true, host: app.isHost,
    muted: app.micMuted || !app.micTransceiver, hand: app.hand, speaking: false }];
  for (const p of s.participants.values()) {
    const st = app.peerState.get(p.id) || {};
    const audio = [...s.tracks.values()].filter((t) => t.participant === p.id && t.kind === "audio");
    const muted = !audio.length || audio.every((t) => s.muted.get(t.id)) || !!st.audioMuted;
    out.push({ id: p.id, name: p.name || p.id, self: false, host: !!p.host, muted, hand: !!st.hand,
      speaking: !muted && app.speaker === p.id });
  }
  return out;
}

function row(r) {
  const li = document.createElement("li");
  li.dataset.participant = r.id;
  li.className = [r.speaking ? "speaking" : "", r.hand ? "hand-up" : ""].join(" ").trim();
  const nm = document.createElement("span");
  nm.className = "pname";
  nm.textContent = r.name;
  const marks = document.createElement("span");
  marks.className = "marks";
  const add = (cls, icon, text) => {
    const m = document.createElement("span");
    m.className = `mark ${cls}`;
    put(m, icon);
    m.title = text;
    const sr = document.createElement("span");
    sr.className = "sr-only";
    sr.textContent = text;
    m.append(sr);
    marks.append(m);
  };
  if (r.host) add("host", "key", "host");
  if (r.hand) add("hand", "hand", "hand raised");
  if (r.speaking) add("speaking", "signal", "speaking");
  add(r.muted ? "muted" : "unmuted", r.muted ? "micoff" : "mic", r.muted ? "muted" : "microphone on");
  li.append(nm, marks);
  if (app.isHost && !r.self) {
    const tools = document.createElement("span");
    tools.className = "ptools";
    const mute = document.createElement("button");
    mute.type = "button";
    mute.className = "small ask-mute";
    mute.textContent = "Ask to mute";
    mute.setAttribute("aria-label", `Ask to mute: ${r.name}`); // begins with the visible text
    mute.disabled = r.muted;
    mute.onclick = () => hostAction("mute", r.id);
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "small danger remove";
    twoStep(remove, `Remove ${r.name}`, `Confirm: remove ${r.name}`, () => hostAction("remove", r.id));
    tools.append(mute, remove);
    li.append(tools);
  }
  return li;
}

export function renderPeople() {
  const s = app.session;
  if (!s || !s.me) return;
  const all = rows();
  $("people-count").textContent = `(${all.length})`;
  // relabel only when the count changed: replacing the button's children under the pointer between mousedown and
  // mouseup loses the click (the once-a-second refresh made "People" ignore a click now and then)
  const btn = $("btn-people");
  if (btn.dataset.count !== String(all.length)) {
    btn.dataset.count = String(all.length);
    labelButton(btn, "people", "People", { shortcut: "P", count: all.length });
  }
  // redraw only when something changed: an armed Remove button must survive the once-a-second refresh
  const sig = JSON.stringify([app.isHost, all]);
  const list = $("people-list");
  if (list.dataset.sig !== sig) {
    list.dataset.sig = sig;
    list.replaceChildren(...all.map(row));
  }
  $("host-tools").hidden = !app.isHost;
  $("locked-badge").hidden = !app.locked;
  if (app.isHost) {
    const lock = $("btn-lock");
    const lockState = app.locked ? "unlock" : "lock";
    if (lock.dataset.label !== lockState) { // as for People: never replace its children under a click
      lock.dataset.label = lockState;
      labelButton(lock, lockState, app.locked ? "Unlock meeting" : "Lock meeting");
    }
    lock.setAttribute("aria-pressed", String(app.locked));
    lock.onclick = () => hostAction(app.locked ? "unlock" : "lock");
    // under "allowed" only (the node refuses it elsewhere: recording_not_allowed); audited on the node
    const rec = $("btn-record");
    const r = app.recording;
    rec.hidden = !r || r.policy !== "allowed";
    if (r) {
      rec.textContent = r.active ? "Stop recording" : "Start recording";
      rec.setAttribute("aria-pressed", String(!!r.active));
      rec.onclick = () => hostAction(r.active ? "record_stop" : "record_start");
    }
    const end = $("btn-end");
    if (!end.dataset.wired) {
      end.dataset.wired = "1";
      twoStep(end, "End meeting for all", "Confirm: end the meeting for everyone", () => hostAction("end"));
    }
  }
}
