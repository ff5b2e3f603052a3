// Times as people read them: ISO 8601 in UTC, to the second (the CLI prints the same).
export function iso(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function ago(seconds, now = Date.now() / 1000) {
  const s = Math.max(0, Math.round(now - seconds));
  if (s < 90) return `${s} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}

export function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1048576) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

// A time of day in UTC from Unix ms (a segment's span; the recording's row gives the date)
export function clock(ms) {
  return new Date(ms).toISOString().slice(11, 19);
}

export function span(fromMs, toMs) {
  const s = Math.max(0, (toMs - fromMs) / 1000);
  const long = s < 90 ? `${s.toFixed(s < 10 ? 1 : 0)} s` : s < 5400 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`;
  return `${clock(fromMs)}–${clock(toMs)} UTC (${long})`;
}
