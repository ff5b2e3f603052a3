// The meeting's chat: messages sealed under the current MLS epoch and signed by their sender (plain JSON only
// with e2ee=0). Media-state messages travel sealed the same way; the E2EE context hands them to the tiles.

import { $, notice } from "./dom.js";
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

function addChatLine(who, text, undecryptable) {
  const li = document.createElement("li");
  if (undecryptable) {
    li.className = "undecryptable";
    li.textContent = `${who}: (a message you cannot decrypt)`;
  } else {
    const w = document.createElement("span");
    w.className = "who";
    w.textContent = who;
    li.append(w, document.createTextNode(text));
  }
  $("chat-log").append(li);
  li.scrollIntoView({ block: "end" });
  app.chatLog.push({ who, text, undecryptable });
  if ($("chat").hidden) $("btn-chat").textContent = "Chat •";
}

export async function sendChat(text) {
  const s = app.session;
  if (!s || !text) return;
  try {
    const data = app.e2ee ? await app.e2ee.sealChat(text) : JSON.stringify({ v: 1, plain: text });
    s.send({ type: "chat", data });
    addChatLine("You", text, false);
  } catch (e) {
    notice(`Message not sent: ${e.message}`);
  }
}
