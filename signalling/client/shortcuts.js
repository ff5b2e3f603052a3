// Keyboard shortcuts in the meeting (single keys, as the Devices panel lists them), never while typing.

import { toggleCam, toggleHand, toggleMic, toggleScreen } from "./controls.js";
import { $ } from "./dom.js";
import { openPanel, togglePanel } from "./panels.js";

const KEYS = {
  m: toggleMic,
  v: toggleCam,
  h: toggleHand,
  s: toggleScreen,
  c: () => togglePanel("chat"),
  p: () => togglePanel("people"),
};

export function installShortcuts() {
  document.addEventListener("keydown", (ev) => {
    if ($("meeting-view").hidden || ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat) return;
    if (ev.key === "Escape") {
      openPanel(null);
      return;
    }
    const typing = ev.target instanceof HTMLElement && (ev.target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(ev.target.tagName));
    const fn = !typing && KEYS[ev.key.toLowerCase()];
    if (!fn) return;
    ev.preventDefault();
    fn();
  });
}
