// The meeting's chat: messages sealed under the current MLS epoch and signed by their sender (plain JSON only
// with e2ee=0). Media-state messages travel sealed the same way; the E2EE context hands them to the tiles. Each
// line shows when it arrived (this browser's clock: a sender's own time is not authenticated); messages that
// arrive while the chat is closed are counted on its button.

import { $, notice } from "./dom.js";
import { chatArrived } from "./panels.js";
import { app } from "./state.js";

export async function onChat(msg) {
  const name = (app.session.participants.get(msg.from) || {}).name || msg.from;
  if (app.e2ee) {
    const r = await app.e2ee.openChat(msg.from, msg.data);
    if (r.state) return; // a media-state message, already handed to the tiles
    addChatLine(name, r.text, r.text === null);
  } else {
    try {
      const m = JSON.parse(msg.data);
      if (m.v === 1 && typeof m.plain === "string") addChatLine(name, m.plain, false);
    } catch (e) { /* not ours */ }
  }
}

function addChatLine(who, text, undecryptable, mine = false) {
  const at = new Date();
  const li = document.createElement("li");
  const time = document.createElement("time");
  time.dateTime = at.toISOString();
  time.textContent = at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const w = document.createElement("span");
  w.className = "who";
  w.textContent = who;
  if (undecryptable) {
    li.className = "undecryptable";
    li.append(w, time, document.createTextNode("(a message you cannot decrypt)"));
  } else {
    const body = document.createElement("span");
    body.className = "text";
    body.textContent = text;
    li.append(w, time, body);
  }
  $("chat-log").append(li);
  li.scrollIntoView({ block: "end" });
  app.chatLog.push({ who, text, undecryptable, at: at.toISOString() });
  if (!mine && !undecryptable) chatArrived(); // a message nobody can read here is shown, not announced
}

export async function sendChat(text) {
  const s = app.session;
  if (!s || !text) return;
  try {
    const data = app.e2ee ? await app.e2ee.sealChat(text) : JSON.stringify({ v: 1, plain: text });
    s.send({ type: "chat", data });
    addChatLine("You", text, false, true);
  } catch (e) {
    notice(`Message not sent: ${e.message}`);
  }
}
