// The page's small DOM helpers: element lookup, icons (the vendored Lucide set, vendor/icons.js), labelled
// buttons, the notice line and the short join/leave notices ("toasts").

import { ICONS } from "./vendor/icons.js";

export const $ = (id) => document.getElementById(id);

// ------------------------------------------------------------------------------------------------ icons
// Inline SVG (no emoji: many systems, headless ones included, lack an emoji font). Static markup only.

function icon(name) {
  const span = document.createElement("span");
  span.className = `icon icon-${name}`;
  span.setAttribute("aria-hidden", "true");
  span.innerHTML = `<svg viewBox="0 0 24 24" width="1em" height="1em" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">${ICONS[name] || ""}</svg>`;
  return span;
}

/** Sets an element to [icon] text (the text is what screen readers and tests read). */
export function put(el, iconName, text = "") {
  el.replaceChildren(...(iconName ? [icon(iconName)] : []), ...(text ? [document.createTextNode(" " + text)] : []));
}

/** A control: icon + a text label (hidden on narrow screens, where the tooltip stays), the shortcut in the
 * tooltip, an optional count bubble. The accessible name is the visible text itself ("People 3"), so what a
 * speech user reads on the button is what selects it. */
export function labelButton(btn, iconName, label, { shortcut = "", count = 0 } = {}) {
  const text = document.createElement("span");
  text.className = "lbl";
  text.textContent = label;
  const parts = [icon(iconName), text];
  if (count) {
    const bubble = document.createElement("span");
    bubble.className = "bubble";
    bubble.textContent = String(count);
    parts.push(document.createTextNode(" "), bubble);
  }
  btn.replaceChildren(...parts);
  btn.removeAttribute("aria-label");
  btn.title = shortcut ? `${label} (${shortcut})` : label;
}

export function notice(text) {
  const el = $("notice");
  el.textContent = text;
  el.hidden = !text;
}

export const toastLog = []; // every short notice shown (tests read it through window.castellanStats)

/** A short notice ("Bob joined") that goes away by itself; the region is a polite live region. */
export function toast(text) {
  toastLog.push(text);
  if (toastLog.length > 50) toastLog.shift();
  const box = $("toasts");
  if (!box) return;
  const p = document.createElement("p");
  p.className = "toast";
  p.textContent = text;
  box.append(p);
  while (box.children.length > 4) box.firstElementChild.remove();
  setTimeout(() => p.remove(), 6000);
}
