// Recorder mode (issue 15, docs/recording.md): this page is the meeting's recorder — a member of the E2EE group
// like any participant, with its own credential and name (e.g. "ACME archive"), shown in everyone's roster and
// covered by the safety code. It publishes nothing. Its E2EE worker hands every decrypted encoded frame to the
// local recorder process (recorder-tap.js); this module adds the timeline: joins, leaves, speaker turns and the
// chat as this member opened it. Two ways in:
// - production: the job the recorder pool's own browser handed over (recorder-job.js, never a URL), whose
//   credential says role `recorder`; the tap is switched on only once the node, which verified that credential,
//   says `joined.recorder` — otherwise the page leaves and records nothing;
// - development builds only (state.js): `?recorder=ws://127.0.0.1:PORT/TOKEN`.

import { app, query } from "./state.js";

export const recorderSink = app.recorderJob ? app.recorderJob.sink : query.get("recorder");

/** Called by meeting.js once the E2EE context and the session exist. */
export function attachRecorder(e2ee, session) {
  if (!recorderSink || !e2ee || !e2ee.worker) return;
  const post = (event) => e2ee.worker.postMessage({ type: "record-event", event: { ...event, t: Date.now() } });
  const known = new Map();
  let speaker = null;
  let tapping = false;
  const state = { chat: 0, joins: 0, leaves: 0, speakers: 0, paused: false, refused: null, production: !!app.recorderJob };
  window.castellanRecorder = () => ({ ...state, sink: recorderSink, tapping });
  const tapOn = () => {
    if (tapping) return;
    tapping = true;
    e2ee.worker.postMessage({ type: "record", url: recorderSink });
  };
  if (!app.recorderJob) tapOn(); // a development build's flag: as before

  // records only while the meeting is being recorded: under "allowed", between a host's start and stop (the node
  // says so in `recording.active`); under "required" always
  const follow = (r) => {
    const paused = !!r && r.policy === "allowed" && !r.active;
    state.paused = paused;
    e2ee.worker.postMessage({ type: "record-pause", paused });
  };
  session.addEventListener("recording", (ev) => follow(ev.detail));
  session.addEventListener("joined", (ev) => {
    const s = ev.detail;
    if (app.recorderJob && s.recorder !== true) { // the node did not verify a recorder credential: no recording
      state.refused = "the node does not count this credential as the meeting's recorder";
      console.warn(`recorder: ${state.refused}; leaving`);
      session.leave();
      return;
    }
    tapOn();
    follow(s.recording);
    post({ kind: "recorder_start", participant: s.participant, name: s.name || "", room: s.room || "" });
    syncRoster();
    watchSpeakers();
  });
  session.addEventListener("roster", syncRoster);
  function syncRoster() {
    for (const [id, p] of session.participants) {
      if (!known.has(id)) { known.set(id, p.name || ""); state.joins++; post({ kind: "join", participant: id, name: p.name || "" }); }
    }
    for (const id of [...known.keys()]) {
      if (!session.participants.has(id)) { known.delete(id); state.leaves++; post({ kind: "leave", participant: id }); }
    }
  }
  session.addEventListener("chat", async (ev) => {
    const m = ev.detail;
    const r = await e2ee.openChat(m.from, m.data);
    if (r.state || r.text === null) return; // media state, or a message this member cannot open (never guessed)
    state.chat++;
    post({ kind: "chat", from: m.from, name: known.get(m.from) || "", text: r.text });
  });
  function watchSpeakers() { // the node's active_speaker hint (docs/protocol.md), read beside session.js
    const ws = session.ws;
    if (!ws || ws._castellanRecorder) return;
    ws._castellanRecorder = true;
    ws.addEventListener("message", (ev) => {
      let m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      if (m.type === "active_speaker" && m.participant !== speaker) {
        speaker = m.participant;
        state.speakers++;
        post({ kind: "speaker", participant: speaker || null });
      }
    });
  }
  session.addEventListener("connection", (ev) => { if (ev.detail.signalling === "resumed") watchSpeakers(); });
  window.addEventListener("pagehide", () => e2ee.worker.postMessage({ type: "record-bye" }));
  app.recorder = state;
}
