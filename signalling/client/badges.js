// The meeting's indicators: where it is processed, the E2EE lock (header and per tile), connection quality,
// the active speaker, the safety code and the MLS roster it covers (polled once a second, and on every E2EE change).

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

/** The lock in the header and on each tile, from E2EE.status() only (docs/e2ee.md "Lock states"): green only while
 * every frame sent and received is under the current epoch, amber with the reason otherwise, red without E2EE. */
export function renderLock() {
  const el = $("lock");
  const chatLock = $("chat-lock");
  if (!app.session) return;
  if (!app.e2ee) {
    put(el, "unlock", "Not end-to-end encrypted");
    el.className = "badge lock bad";
    el.dataset.state = "red";
    el.title = "End-to-end encryption is off: the media server could read this meeting's media.";
    chatLock.textContent = "(not end-to-end encrypted)";
    for (const t of app.tiles.values()) if (t.key !== "self") { put(t.tlock, "unlock"); t.tlock.className = "tlock bad"; }
    return;
  }
  const st = app.e2ee.status();
  const undecryptable = new Set(st.undecryptable || []);
  for (const t of app.tiles.values()) {
    if (t.key === "self") {
      const sending = st.sendEpoch !== null && st.sendEpoch !== undefined;
      put(t.tlock, sending ? "lock" : "wait");
      t.tlock.className = `tlock ${sending ? "ok" : "wait"}`;
      t.tlock.title = sending ? `your media is encrypted under epoch ${st.sendEpoch}` : "nothing is sent until the group has keys";
      continue;
    }
    if (!t.member) {
      put(t.tlock, "wait");
      t.tlock.className = "tlock wait";
      t.tlock.title = "not in the encrypted group yet: nothing of theirs is shown";
      continue;
    }
    if (undecryptable.has(t.participant)) {
      put(t.tlock, "warn");
      t.tlock.className = "tlock bad";
      t.tlock.title = "cannot decrypt this participant's media";
      t.problem.hidden = false;
      if (!t.warning) t.problem.textContent = "⚠ Cannot decrypt this participant's media.";
    } else {
      if (!t.warning) t.problem.hidden = true;
      const green = st.state === "green";
      put(t.tlock, green ? "lock" : "wait");
      t.tlock.className = `tlock ${green ? "ok" : "wait"}`;
      t.tlock.title = green ? `end-to-end encrypted, epoch ${st.epoch}` : st.reason;
    }
  }
  // alone in the group is worth saying: a node that hides everyone else gets a green lock, but not a quiet one
  const alone = st.roster === 1 ? " · only you in the group" : "";
  const text = st.state === "green" ? `End-to-end encrypted · epoch ${st.epoch}${alone}` : st.reason.charAt(0).toUpperCase() + st.reason.slice(1);
  put(el, st.state === "green" ? "lock" : (st.undecryptable && st.undecryptable.length ? "warn" : "key"), text);
  el.className = `badge lock ${st.state === "green" ? "ok" : "warn"}`;
  el.dataset.state = st.state;
  el.dataset.epoch = st.epoch ?? "";
  const refused = Object.entries(st.refusals || {}).filter(([, n]) => n).map(([k, n]) => `${k} ${n}`).join(", ");
  el.title = `API: ${st.api}. Epoch ${st.epoch ?? "none"} (sending under ${st.sendEpoch ?? "none"}). ` +
    `Members: ${st.roster}. Refused handshake messages: ${refused || "none"}.`;
  const keyed = st.epoch !== null;
  put(chatLock, keyed ? "lock" : "key", keyed ? "end-to-end encrypted" : "(waiting for the group's keys)");
}

let membersRun = 0;

/** The safety code and, beside it, the roster of the very epoch it was derived from (read again if a commit
 * landed meanwhile), and the node's participants who are not in that group. */
export async function renderMembers() {
  const run = ++membersRun;
  const e2ee = app.e2ee;
  $("members").hidden = !e2ee;
  if (!e2ee || !app.session) return;
  let epoch = null;
  let roster = [];
  let code = null;
  for (let i = 0; i < 3; i++) {
    epoch = e2ee.epoch();
    roster = e2ee.roster();
    code = await e2ee.safetyCode();
    if (e2ee.epoch() === epoch) break;
  }
  if (run !== membersRun || app.e2ee !== e2ee) return; // a newer render (or a rejoin) took over
  app.safety = code;
  app.safetyEpoch = epoch;
  app.safetyRoster = roster.map((m) => m.participant);
  const safety = $("safety");
  safety.textContent = code ? `Safety code ${code}` : "";
  safety.dataset.epoch = epoch ?? "";
  $("members-epoch").textContent = epoch === null ? "Not in the group yet." : `Epoch ${epoch} · safety code ${code}`;
  const list = $("members-list");
  list.replaceChildren(...roster.map((m) => {
    const li = document.createElement("li");
    li.dataset.participant = m.participant;
    const away = !m.self && app.session && !app.session.participants.has(m.participant);
    li.textContent = `${m.name || m.participant}${m.self ? " (you)" : ""}${away ? " — leaving" : ""}` +
      (m.warning ? ` ⚠ ${m.warning === "credential_changed" ? "new key" : m.warning}` : "");
    if (m.warning) li.className = "warning";
    else if (away) li.className = "away";
    return li;
  }));
  const inRoster = new Set(roster.map((m) => m.participant));
  const joining = [...app.session.participants.values()].filter((p) => !inRoster.has(p.id));
  $("members-joining-title").hidden = joining.length === 0;
  $("members-joining").replaceChildren(...joining.map((p) => {
    const li = document.createElement("li");
    li.dataset.participant = p.id;
    li.textContent = p.name || p.id;
    return li;
  }));
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
    await renderMembers();
    renderLock();
  }
}
