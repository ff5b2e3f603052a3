// The size each remote video is shown at, told to the node (docs/protocol.md `viewport`) so it sends the
// simulcast or spatial layer worth it: a thumbnail gets the quarter layer, a large tile the full one. Shared by the
// meeting client (tiles.js) and the node's development page (served to it at /dev/viewport.js).

/** {width, height} in device pixels of a <video> as laid out now (0 x 0 when hidden). */
export function shownSize(video, dpr = globalThis.devicePixelRatio || 1) {
  return { width: Math.round(video.clientWidth * dpr), height: Math.round(video.clientHeight * dpr) };
}

/** Sends a track's size when it changed since the last one sent; forgets the tracks no longer shown. */
export class ViewportReporter {
  constructor(send) {
    this.send = send; // (msg) => void: the node socket's
    this.sent = new Map(); // track id -> "WxH"
  }

  /** sizes: Map track id -> {width, height}; a size of 0 x 0 (hidden, not laid out) is not sent. */
  report(sizes) {
    for (const tid of [...this.sent.keys()]) if (!sizes.has(tid)) this.sent.delete(tid);
    for (const [tid, { width, height }] of sizes) {
      if (!(width > 0 && height > 0)) continue; // the node reads 0 as "no size known": it would send the top layer
      const key = `${width}x${height}`;
      if (this.sent.get(tid) === key) continue;
      this.sent.set(tid, key);
      this.send({ type: "viewport", track: tid, width: Math.min(width, 16384), height: Math.min(height, 16384) });
    }
  }

}
