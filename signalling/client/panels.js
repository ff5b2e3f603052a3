// The side panels (People, Chat, Invite, Devices, Details): one open at a time, opened by its button or shortcut,
// closed with Escape; the chat's unread count resets when the chat opens.

import { $, labelButton } from "./dom.js";
import { app } from "./state.js";

const PANELS = {
  people: { button: "btn-people" },
  chat: { button: "btn-chat", focus: "chat-input" },
  invite: { button: "btn-invite", focus: "btn-copy" },
  settings: { button: "btn-settings" },
  details: { button: "btn-details" },
};

export function labelPanelButtons() {
  labelButton($("btn-chat"), "chat", "Chat", { shortcut: "C", count: app.unread });
  labelButton($("btn-invite"), "invite", "Invite");
  labelButton($("btn-settings"), "settings", "Devices");
  labelButton($("btn-details"), "details", "Details");
  if (!$("btn-people").childElementCount) labelButton($("btn-people"), "people", "People", { shortcut: "P" });
}

export function togglePanel(name) {
  openPanel(app.panel === name ? null : name);
}

export function openPanel(name) {
  app.panel = name;
  for (const [key, p] of Object.entries(PANELS)) {
    const open = key === name;
    $(key).hidden = !open;
    $(p.button).setAttribute("aria-pressed", String(open));
  }
  if (name === "chat") app.unread = 0;
  labelPanelButtons();
  const focus = name && PANELS[name].focus;
  if (focus) $(focus).focus();
}

/** A chat message arrived: counted as unread unless the chat is open. */
export function chatArrived() {
  if (app.panel !== "chat") app.unread += 1;
  labelPanelButtons();
}
