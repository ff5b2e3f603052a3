// A camera's simulcast (docs/protocol.md, "Simulcast"): the encodings a publisher sends, and which of them run.
// The node's `layers` message names the encodings anyone receives; the others are paused (no encoder time, no
// bandwidth). Shared by the meeting client (session.js) and the node's development page
// (sfu/app/static/dev/minimal.js, which the node serves this file to at /dev/simulcast.js).

// Quarter, half and full resolution, lowest first, named as the node expects (RIDs q, h, f). The caps are
// LiveKit's defaults for a 720p camera (h180 160 kbps, h360 450 kbps, h720 1.7 Mbps).
export const CAMERA_LAYERS = Object.freeze([
  Object.freeze({ rid: "q", scaleResolutionDownBy: 4, maxBitrate: 160000 }),
  Object.freeze({ rid: "h", scaleResolutionDownBy: 2, maxBitrate: 450000 }),
  Object.freeze({ rid: "f", scaleResolutionDownBy: 1, maxBitrate: 1700000 }),
]);

// VP9: three spatial layers in one stream (the node drops the ones a subscriber does not take: sfu/allocation/,
// tests/browser/test_svc.py), capped at the three simulcast layers' sum
export const SVC_MODE = "L3T3_KEY";
const SVC_MAX_BITRATE = CAMERA_LAYERS.reduce((a, e) => a + e.maxBitrate, 0);

/** How many simulcast layers Chromium sends of a capture this size: libwebrtc keeps the first (lowest) encodings
 * up to 3 from 960x540 pixels on, 2 from 480x270, else 1 (simulcast.cc, kSimulcastFormats) — the top ones go. */
export function layersFor(width, height) {
  const pixels = (width || 0) * (height || 0);
  return pixels >= 960 * 540 ? 3 : pixels >= 480 * 270 ? 2 : 1;
}

/** The sendEncodings of a camera capturing `size` ({width, height}) and sending `codec` (null: the browser's and
 * node's choice, VP8). The top layer is always the whole capture: a camera smaller than 960x540 sends fewer
 * layers (q at half size and h at full from 480x270; below, one plain encoding), the lower ones' caps dropped. */
export function cameraEncodings(codec = null, size = { width: 1280, height: 720 }) {
  if ((codec || "").toLowerCase() === "vp9") return [{ scalabilityMode: SVC_MODE, maxBitrate: SVC_MAX_BITRATE }];
  const n = layersFor(size.width, size.height);
  const top = CAMERA_LAYERS.slice(CAMERA_LAYERS.length - n); // scale and cap: the top n
  if (n === 1) return [{ maxBitrate: top[0].maxBitrate }];
  return top.map((e, i) => ({ ...e, rid: CAMERA_LAYERS[i].rid })); // named q, h (, f) lowest first, as the node ranks
}

/**
 * The sendEncodings of a screen share: one, at full resolution — a smaller picture of text is unreadable, so there
 * is nothing useful for a lower simulcast layer to carry. In VP8 and VP9 with three temporal layers: the node reads
 * their layer indices from the payload descriptor and gives a subscriber whose link cannot carry the whole share a
 * lower frame rate of it. (Browsers do not list the modes they support — getCapabilities has no scalabilityModes
 * in Chromium 156 —: a browser that refuses L1T3 gets a plain encoding, session.js.)
 */
export function screenEncodings(codec = null) {
  const name = (codec || "vp8").toLowerCase();
  return [name === "vp8" || name === "vp9" ? { scalabilityMode: "L1T3" } : {}];
}

/**
 * Applies the node's `layers` wishes ({rid: bool}) to one sender: one setParameters at a time, each with the latest
 * wish — two at once can make the second fail (a stale transaction), and in one run a publisher kept h off for
 * 40 s after the node last asked for it. A wish before the sender exists waits for it; a refused setParameters
 * (e.g. during a negotiation) is tried again `retryMs` later, at most `maxRetries` times in all.
 */
export class LayerSwitch {
  constructor({ onError = () => {}, retryMs = 500, maxRetries = 50, timers = globalThis } = {}) {
    this.sender = null;
    this.active = null; // the node's latest wish
    this.applied = Promise.resolve();
    this.failures = 0;
    this.onError = onError;
    this.retryMs = retryMs;
    this.maxRetries = maxRetries;
    this.timers = timers;
  }

  attach(sender) {
    this.sender = sender;
    return this.active ? this.want(this.active) : this.applied;
  }

  want(active) {
    this.active = active;
    this.applied = this.applied.then(() => this._apply());
    return this.applied;
  }

  /** After a negotiation: an applied answer can switch paused encodings back on (Chromium re-reads the answer's
   * a=simulcast), so the latest wish goes once more (nothing is set when the encodings still match it). */
  again() {
    return this.active ? this.want(this.active) : this.applied;
  }

  async _apply() {
    const { sender, active } = this;
    if (!sender || !active) return;
    const p = sender.getParameters();
    if (!p.encodings) return;
    let changed = false;
    for (const e of p.encodings) {
      if (!(e.rid in active) || e.active === !!active[e.rid]) continue;
      e.active = !!active[e.rid];
      changed = true;
    }
    if (!changed) return;
    try {
      await sender.setParameters(p);
    } catch (err) {
      this.onError(err);
      if (++this.failures < this.maxRetries) this.timers.setTimeout(() => this.want(this.active), this.retryMs);
    }
  }
}
