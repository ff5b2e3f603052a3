// The Invite panel: the meeting link to send (never the host key: a host link's h= stays out of it), a copy
// button, and how to share the password — it is not in the link, so it goes by another channel.

import { $ } from "./dom.js";
import { app } from "./state.js";

/** The link others may use: this page's link with only its encryption key (k=) and the tenant's recorder key (r=,
 *  public: an invitee who commits must be able to hand the recorder the link's secrets) in the #fragment. */
export function inviteLink() {
  if (!app.link) return "";
  const f = new URLSearchParams(location.hash.replace(/^#/, ""));
  const k = f.get("k");
  const r = f.get("r");
  return `${location.origin}/j/${app.link}` + (k ? `#k=${k}${r ? `&r=${r}` : ""}` : "");
}

export function renderInvite() {
  const url = inviteLink();
  $("invite-link").value = url || "Joined directly to a media server: there is no link to share.";
  $("btn-copy").disabled = !url;
  const info = app.info || {};
  let text;
  if (info.password_required) {
    text = "This meeting has a password, and it is not in the link. Send it separately: say it on a call, or " +
      "use a different app from the one you send the link with, so that one leaked message is not enough to join.";
  } else {
    text = "This link has no password: anyone with the whole link can join.";
  }
  if (info.lobby) text += " You admit people from the waiting room.";
  $("invite-password").textContent = text;
  $("btn-copy").onclick = copyLink;
}

async function copyLink() {
  const url = inviteLink();
  const status = $("invite-copied");
  try {
    await navigator.clipboard.writeText(url);
    status.textContent = "Link copied.";
  } catch (e) {
    $("invite-link").select(); // no clipboard permission: selected, for Ctrl+C
    status.textContent = "Press Ctrl+C (or ⌘C) to copy the selected link.";
  }
}
