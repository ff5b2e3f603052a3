// The meeting's indicators: where it is processed, the E2EE lock (header and per tile), connection quality,
// the active speaker and the safety code (polled from getStats once a second).

import { $, put } from "./dom.js";
import { app } from "./state.js";

export function renderWhere(s) {
  const p = app.joinAnswer && app.joinAnswer.processing;
  const el = $("where");
  if (p) {
    put(el, "pin", `Processed in ${p.location} (${p.region}) · ${p.jurisdiction}`);
    el.title = `Where is my meeting processed?\nRegion: ${p.region}\nLocation: ${p.location}\nJurisdiction: ${p.jurisdiction}\nPolicy: ${p.policy}\nMedia server: ${s.node}`;
  } else {
    put(el, "pin", `Processed on ${s.node} (${s.region})`);
    el.title = `Media server ${s.node} in region ${s.region}. (Joined directly: the control plane's residency details are not available.)`;
  }
  el.setAttribute("aria-label", el.title);
}

export function renderLock() {
  const el = $("lock");
  const chatLock = $("chat-lock");
  if (!app.session) return;
  if (!app.e2ee) {
    put(el, "unlock", "Not end-to-end encrypted");
    el.className = "badge lock bad";
    el.title = "End-to-end encryption is off: the media server could read this meeting's media.";
    chatLock.textContent = "(not end-to-end encrypted)";
    for (const t of app.tiles.values()) if (t.key !== "self") { put(t.tlock, "unlock"); t.tlock.className = "tlock bad"; }
    return;
  }
  const st = app.e2ee.status();
  let failing = 0;
  let ok = 0;
  for (const t of app.tiles.values()) {
    if (t.key === "self") continue;
    const trackStates = [t.videoTrack, ...(t.audioTracks || [])].filter(Boolean).map((id) => st.tracks[id]).filter(Boolean);
    const bad = trackStates.some((s) => s.state === "failing");
    const good = trackStates.length > 0 && trackStates.every((s) => s.state === "ok");
    const rejected = st.rejected.some(([id]) => id === t.participant);
    if (bad || rejected) {
      failing++;
      put(t.tlock, "warn");
      t.tlock.className = "tlock bad";
      t.tlock.title = "cannot decrypt this participant's media";
      t.problem.hidden = false;
      t.problem.textContent = rejected
        ? "⚠ This participant's meeting key does not match yours — their media cannot be decrypted."
        : "⚠ Cannot decrypt this participant's media (not encrypted, or encrypted with a different meeting key).";
    } else {
      t.problem.hidden = true;
      if (good) { ok++; put(t.tlock, "lock"); t.tlock.className = "tlock ok"; t.tlock.title = `decrypting (key epoch ${trackStates[0].epoch})`; }
      else { put(t.tlock, "wait"); t.tlock.className = "tlock wait"; t.tlock.title = "no media yet"; }
    }
  }
  let text;
  let cls;
  let ic;
  if (!st.keyed) {
    text = "Waiting for the meeting key…";
    ic = "key";
    cls = "warn";
  } else if (failing && !ok) {
    text = st.rejected.length && !st.verified.length
      ? "Your link's key does not match this meeting's — nothing can be decrypted"
      : "Cannot decrypt the other participants' media";
    ic = "warn";
    cls = "bad";
  } else if (failing) {
    text = `Encrypted, but ${failing} participant${failing > 1 ? "s" : ""} cannot be decrypted`;
    ic = "warn";
    cls = "warn";
  } else {
    text = `End-to-end encrypted · key ${st.epoch}`;
    ic = "lock";
    cls = "ok";
  }
  put(el, ic, text);
  el.className = `badge lock ${cls}`;
  el.title = `API: ${st.api}. Key epoch ${st.epoch ?? "none"} (sending with ${st.sendEpoch ?? "none"}). ` +
    `Verified participants: ${st.verified.length}. Rejected (wrong key): ${st.rejected.length}.`;
  put(chatLock, st.keyed ? "lock" : "key", st.keyed ? "end-to-end encrypted" : "(waiting for the key)");
}

export async function pollStats() {
  const s = app.session;
  if (!s || !s.pc || s.closed) return;
  let stats;
  try { stats = await s.stats(); } catch (e) { return; }
  app.lastStats = stats;
  // active speaker: the loudest remote audio above a floor
  let best = null;
  for (const a of stats.audio) {
    if (a.audioLevel > 0.02 && (!best || a.audioLevel > best.audioLevel)) best = a;
  }
  app.speaker = best ? best.participant : null;
  for (const t of app.tiles.values()) t.el.classList.toggle("speaking", !!best && t.participant === best.participant && !t.isScreen);
  // connection quality: loss over the last interval, RTT, jitter
  let lost = 0;
  let received = 0;
  let jitter = 0;
  for (const x of [...stats.audio, ...stats.video]) {
    const prev = app.prevInbound.get(x.mid) || { lost: 0, recv: 0 };
    lost += Math.max(0, x.packetsLost - prev.lost);
    received += Math.max(0, x.packetsReceived - prev.recv);
    jitter = Math.max(jitter, x.jitter);
    app.prevInbound.set(x.mid, { lost: x.packetsLost, recv: x.packetsReceived });
  }
  const lossPct = received + lost > 0 ? (100 * lost) / (received + lost) : 0;
  const rttMs = stats.rtt !== null ? stats.rtt * 1000 : null;
  let q = "good";
  if (stats.connection === "new" || stats.connection === "connecting") q = "connecting";
  else if (stats.connection !== "connected") q = "poor";
  else if (lossPct > 5 || (rttMs !== null && rttMs > 400) || jitter > 0.1) q = "poor";
  else if (lossPct > 1 || (rttMs !== null && rttMs > 200) || jitter > 0.04) q = "fair";
  app.quality = q;
  const el = $("quality");
  put(el, "signal", { connecting: "Connecting…", good: "Connection good", fair: "Connection fair", poor: "Connection poor" }[q]);
  el.className = `badge quality ${q}`;
  el.title = `loss ${lossPct.toFixed(1)} %, RTT ${rttMs === null ? "?" : rttMs.toFixed(0) + " ms"}, jitter ${(jitter * 1000).toFixed(0)} ms`;
  if (app.e2ee) {
    app.safety = await app.e2ee.safetyCode();
    $("safety").textContent = app.safety ? `Safety code ${app.safety}` : "";
    renderLock();
  }
}
