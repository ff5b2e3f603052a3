// The host's waiting room (a host link on a lobby link): who is waiting, Admit / Deny.

import * as api from "./api.js";
import { $, notice } from "./dom.js";
import { app } from "./state.js";

export async function pollWaitingRoom() {
  let waiting;
  try {
    waiting = (await api.lobbyList(app.link, app.hostKey)).filter((w) => w.state === "waiting");
  } catch (e) {
    return; // not a lobby link, or the control plane is busy: try again later
  }
  const list = $("waiting-list");
  const shown = new Set([...list.children].map((li) => li.dataset.ticket));
  const now = new Set(waiting.map((w) => w.ticket));
  for (const li of [...list.children]) if (!now.has(li.dataset.ticket)) li.remove();
  for (const w of waiting) {
    if (shown.has(w.ticket)) continue;
    const li = document.createElement("li");
    li.dataset.ticket = w.ticket;
    const nm = document.createElement("span");
    nm.textContent = w.name;
    const admit = document.createElement("button");
    admit.type = "button";
    admit.textContent = "Admit";
    admit.className = "admit";
    const deny = document.createElement("button");
    deny.type = "button";
    deny.textContent = "Deny";
    const decide = async (yes) => {
      admit.disabled = deny.disabled = true;
      try {
        await api.lobbyDecide(app.link, app.hostKey, w.ticket, yes);
        li.remove();
      } catch (e) {
        notice(`Waiting room: ${e.message}`);
        admit.disabled = deny.disabled = false;
      }
      $("waiting-room").hidden = !$("waiting-list").children.length;
    };
    admit.onclick = () => decide(true);
    deny.onclick = () => decide(false);
    admit.setAttribute("aria-label", `Admit ${w.name}`);
    deny.setAttribute("aria-label", `Deny ${w.name}`);
    li.append(nm, admit, deny);
    list.append(li);
  }
  $("waiting-room").hidden = !list.children.length;
}
