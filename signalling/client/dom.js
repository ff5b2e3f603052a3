// The page's small DOM helpers: element lookup, inline icons, the meeting's notice line.

export const $ = (id) => document.getElementById(id);

// ------------------------------------------------------------------------------------------------ icons
// Inline SVG (no emoji: many systems, headless ones included, lack an emoji font). Static markup only.
const ICON_PATHS = {
  lock: '<rect x="5" y="11" width="14" height="10" rx="2"/><path d="M8 11V8a4 4 0 0 1 8 0v3" fill="none"/>',
  unlock: '<rect x="5" y="11" width="14" height="10" rx="2"/><path d="M8 11V8a4 4 0 0 1 7.5-2" fill="none"/>',
  key: '<circle cx="8" cy="12" r="4" fill="none"/><path d="M12 12h9M18 12v3M21 12v3" fill="none"/>',
  warn: '<path d="M12 3 2 21h20L12 3z" fill="none"/><path d="M12 10v5M12 18v.5" fill="none"/>',
  pin: '<path d="M12 22s7-7.5 7-13a7 7 0 0 0-14 0c0 5.5 7 13 7 13z" fill="none"/><circle cx="12" cy="9" r="2.5"/>',
  signal: '<path d="M4 20v-3M9 20v-7M14 20v-11M19 20V5" fill="none"/>',
  micoff: '<path d="M9 5a3 3 0 0 1 6 0v6a3 3 0 0 1-6 0z" fill="none"/><path d="M5 11a7 7 0 0 0 14 0M12 18v3M3 3l18 18" fill="none"/>',
  wait: '<circle cx="6" cy="12" r="1.5"/><circle cx="12" cy="12" r="1.5"/><circle cx="18" cy="12" r="1.5"/>',
};

function icon(name) {
  const span = document.createElement("span");
  span.className = `icon icon-${name}`;
  span.setAttribute("aria-hidden", "true");
  span.innerHTML = `<svg viewBox="0 0 24 24" width="1em" height="1em" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" fill="currentColor">${ICON_PATHS[name]}</svg>`;
  return span;
}

/** Sets an element to [icon] text (the text is what screen readers and tests read). */
export function put(el, iconName, text = "") {
  el.replaceChildren(...(iconName ? [icon(iconName)] : []), ...(text ? [document.createTextNode(" " + text)] : []));
}

export function notice(text) {
  const el = $("notice");
  el.textContent = text;
  el.hidden = !text;
}
