// Castellan end-to-end encryption (main thread): the MLS member (e2ee/group.js) decides the meeting's keys, the
// frame transform (e2ee-worker.js, or in-process where there are no workers: the Node.js headless member) seals
// and opens frames with them (e2ee/sframe.js). docs/e2ee.md is the contract; its API section is this class.
//
// - Keys come only from MLS epochs: a participant alone is a one-member group; before its first epoch nothing
//   is sent (frames are dropped, never sent in the clear) and nothing is derived from the link alone.
// - On a new epoch, receivers get its keys at once; senders switch SEND_SWITCH_DELAY_MS later (so the others
//   have processed the commit); the previous epoch's keys are dropped GRACE_MS after the switch.
// - status() tells the truth: green only while every frame sent and received is under the current epoch.
// - Chat and media-state messages are sealed under the current epoch and signed with the sender's MLS key.

import { Member } from "./e2ee/group.js";
import { b64u, secretFromFragment, unb64u } from "./e2ee/link.js";
import { FrameCrypto, GRACE_MS } from "./e2ee/sframe.js";

export { b64u, secretFromFragment, unb64u };

const te = new TextEncoder();
const td = new TextDecoder();
export const SEND_SWITCH_DELAY_MS = 250;
const RECENT_MS = 2000; // a stream's frames count as "now" for this long

export function supportsE2EE() {
  return typeof RTCRtpScriptTransform === "function" ||
    (typeof RTCRtpSender !== "undefined" && typeof RTCRtpSender.prototype.createEncodedStreams === "function");
}

export function transformApi() {
  if (typeof RTCRtpScriptTransform === "function") return "RTCRtpScriptTransform";
  if (typeof RTCRtpSender !== "undefined" && typeof RTCRtpSender.prototype.createEncodedStreams === "function") {
    return "createEncodedStreams";
  }
  return null;
}

export class E2EE extends EventTarget {
  /**
   * @param {Uint8Array} secret  the link's fragment secret
   * @param {(msg: object) => void} send  sends a node message object ({type: "mls_commit", ...}, {type: "chat", ...})
   */
  constructor(secret, send, { workerUrl = new URL("./e2ee-worker.js", import.meta.url), api = null, timers = globalThis,
    clock = () => Date.now(), recorderKey = null, credential = null, attest = null } = {}) {
    super();
    this.send = send;
    this.timers = timers;
    this.api = api || transformApi(); // api: force "createEncodedStreams" (tests of the fallback path)
    if (typeof Worker === "function") {
      this.worker = new Worker(workerUrl, { type: "module" });
      this.worker.onmessage = (ev) => this._onWorker(ev.data);
      this.frames = null;
    } else {
      this.worker = null; // Node.js: the same frame code, in-process
      this.frames = new FrameCrypto();
    }
    this.me = null;
    this.sendEpoch = null; // the epoch our frames are sealed under (null: none yet, frames dropped)
    this.log = [];
    this.workerStats = { streams: [], sendEpoch: null };
    this.senders = new Map(); // RTCRtpSender -> transform id
    this._ids = 0;
    this._timers = new Set();
    this.member = new Member({
      secret, send, timers, clock, recorderKey, credential, attest, // the recorder's handover (docs/recording.md)
      onEpoch: (ep) => this._onEpoch(ep),
      onChange: () => this._emit(),
      onWarning: (w) => {
        this._note(`warning: ${w.text}`);
        this.dispatchEvent(new CustomEvent("warning", { detail: w }));
        this._emit();
      },
      log: (t) => this._note(t),
    });
  }

  _note(text) {
    this.log.push(`${new Date().toISOString().slice(11, 23)} ${text}`);
    if (this.log.length > 200) this.log.shift();
  }

  _emit() {
    this.dispatchEvent(new Event("change"));
  }

  _later(ms, fn) {
    const t = this.timers.setTimeout(() => { this._timers.delete(t); fn(); }, ms);
    this._timers.add(t);
  }

  // ------------------------------------------------------------------------------------------ media transforms

  /** Attaches the encrypting transform to a sender (before it sends anything). */
  protectSender(sender, kind, codec = null) {
    const id = this._attach(sender, { operation: "encode", kind, codec, participant: this.me });
    this.senders.set(sender, id);
    return id;
  }

  /** After negotiation: tell the worker which codec each sender ended up with (frames may not say). */
  senderCodecs() {
    for (const [sender, id] of this.senders) {
      const c = sender.getParameters().codecs;
      if (c && c.length) this.worker.postMessage({ type: "codec", id, codec: c[0].mimeType.split("/")[1].toLowerCase() });
    }
  }

  /** Attaches the decrypting transform to a receiver of `participant`'s track. */
  protectReceiver(receiver, { participant, track, kind, codec }) {
    this._attach(receiver, { operation: "decode", kind, codec, participant, track });
  }

  _attach(senderOrReceiver, options) {
    options.id = `${options.operation}-${++this._ids}`;
    if (this.api === "RTCRtpScriptTransform") {
      senderOrReceiver.transform = new RTCRtpScriptTransform(this.worker, options);
    } else if (this.api === "createEncodedStreams") {
      const { readable, writable } = senderOrReceiver.createEncodedStreams();
      this.worker.postMessage({ type: "streams", readable, writable, options }, [readable, writable]);
    } else {
      throw new Error("this browser cannot transform encoded frames: end-to-end encryption is unavailable");
    }
    return options.id;
  }

  _onWorker(m) {
    if (m.type === "stats") {
      this.workerStats = m;
      this._emit();
    } else if (m.type === "error") {
      this._note(`worker: ${m.text}`);
    }
  }

  _toFrames(msg) {
    if (this.worker) this.worker.postMessage(msg);
    else if (msg.type === "epoch") this.frames.setEpoch({ ...msg, baseKey: new Uint8Array(msg.baseKey) });
    else if (msg.type === "send") this.frames.setSendEpoch(msg.epoch);
    else if (msg.type === "drop") this.frames.dropBefore(msg.before);
  }

  _onEpoch({ epoch, baseKey, leaves, myLeaf }) {
    const first = this.sendEpoch === null;
    this._toFrames({ type: "epoch", epoch, baseKey: baseKey.slice().buffer, leaves, myLeaf });
    baseKey.fill(0);
    const switchTo = () => {
      if (this.member.epoch !== epoch) return; // superseded meanwhile
      this.sendEpoch = epoch;
      this._toFrames({ type: "send", epoch });
      this._later(GRACE_MS, () => this._toFrames({ type: "drop", before: epoch }));
      this._emit();
    };
    if (first) switchTo();
    else this._later(SEND_SWITCH_DELAY_MS, switchTo);
  }

  // ------------------------------------------------------------------------------------------ signalling hooks

  /** After the node's `joined` (participant, name, room, participants, mls: {epoch|null}). */
  start(joined) {
    this.me = joined.participant;
    return this.member.start(joined);
  }

  /** After a `resume`: catch up with mls_sync. */
  resumed(joined) {
    return this.member.resumed(joined);
  }

  /** Every node message of type mls_*, plus presence (`presence`; v1 participant_joined / participant_left). True if consumed. */
  handle(msg) {
    return this.member.handle(msg);
  }

  stop() {
    for (const t of this._timers) this.timers.clearTimeout(t);
    this._timers.clear();
    this.member.stop();
    if (this.worker) this.worker.terminate();
  }

  // ------------------------------------------------------------------------------------------ what the UI shows

  /** Exactly the MLS roster of the current epoch: [{leaf, participant, name, self, warning}]. */
  roster() {
    return this.member.phase === "member" ? this.member.roster() : [];
  }

  epoch() {
    return this.member.phase === "member" ? this.member.epoch : null;
  }

  /** 4 groups of 5 digits from the epoch authenticator (RFC 9420 §8.7): equal on every member's screen. */
  async safetyCode() {
    const auth = this.member.epochAuthenticator();
    if (!auth) return null;
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array([...te.encode("castellan safety v2\n"), ...auth])));
    const dv = new DataView(digest.buffer);
    const groups = [];
    for (let i = 0; i < 4; i++) groups.push(String(dv.getUint32(i * 4) % 100000).padStart(5, "0"));
    return groups.join(" ");
  }

  /** What the lock may claim: {state: green|amber|red, reason, epoch, undecryptable: [participant ids], …}. */
  status() {
    const m = this.member;
    const base = { api: this.api, roster: this.roster().length, pending: m.phase === "member" ? m.pending() : null,
      refusals: { ...m.counts }, lastRefusal: m.lastRefusal, sendEpoch: this.workerStats.sendEpoch ?? this.sendEpoch ?? null,
      cryptoMs: (this.workerStats.streams || []).reduce((a, st) => a + st.cryptoMs, 0) }; // frame crypto time in the worker
    if (m.phase !== "member") {
      const reason = m.phase !== "joining" ? "establishing the meeting's keys"
        : m.notAdded() ? "still not added to the encrypted group: no member has accepted us — this link may be wrong or outdated (ask for the meeting's current link), or the server is withholding us"
          : "waiting to be added to the meeting's group";
      return { state: "amber", reason, epoch: null, undecryptable: [], ...base };
    }
    const epoch = m.epoch;
    const now = Date.now();
    const streams = this.frames ? [] : (this.workerStats.streams || []);
    const undecryptable = new Set();
    let behind = false;
    for (const s of streams) {
      const recentOk = s.lastOkAt && now - s.lastOkAt < RECENT_MS;
      if (s.op === "decode" && s.lastFailAt && now - s.lastFailAt < RECENT_MS && !(s.lastOkAt > s.lastFailAt)) undecryptable.add(s.participant);
      if (recentOk && s.epoch !== epoch) behind = true;
    }
    if (this.sendEpoch !== epoch) behind = true;
    const out = { epoch, undecryptable: [...undecryptable], outside: base.pending.joining, ...base };
    if (undecryptable.size) return { state: "amber", reason: `cannot decrypt ${[...undecryptable].join(", ")}`, ...out };
    const late = m.behind();
    if (late) return { state: "amber", reason: late, ...out };
    // someone the node lists is outside our group: they cannot read us, and their tiles say "not in the encrypted
    // group". That turns the lock amber only when we are alone in our group (we are the one kept out, e.g. a node
    // that told us we were alone); members of a group keep green (docs/e2ee.md "Lock states")
    if (base.pending.outside.length && base.roster <= 1) {
      return { state: "amber", reason: `not in the encrypted group: ${base.pending.outside.join(", ")}`, ...out };
    }
    if (behind) return { state: "amber", reason: `switching to epoch ${epoch}`, ...out };
    return { state: "green", reason: `end-to-end encrypted, epoch ${epoch}`, ...out };
  }

  // ------------------------------------------------------------------------------------------ chat

  async _sealed(body) {
    return JSON.stringify({ v: 2, sealed: await this.member.seal(te.encode(JSON.stringify(body))) });
  }

  /** An opaque `chat` blob: the text sealed under the current epoch. Throws before the first epoch. */
  sealChat(text) {
    return this._sealed({ t: "chat", text: String(text) });
  }

  /** Media state (muted, camera off, screen stream) to everyone, sealed like chat. */
  async sendState(state) {
    if (this.member.phase !== "member") return;
    this.send({ type: "chat", data: await this._sealed({ ...state, t: "state" }) });
  }

  /** {text} of a chat blob from `from`; text null when it cannot be opened (or is a media-state message). */
  async openChat(from, data) {
    let outer;
    try {
      outer = JSON.parse(data);
    } catch (e) {
      return { text: null };
    }
    if (!outer || outer.v !== 2 || !outer.sealed) return { text: null };
    const bytes = await this.member.open(from, outer.sealed);
    if (!bytes) return { text: null };
    let body;
    try {
      body = JSON.parse(td.decode(bytes));
    } catch (e) {
      return { text: null };
    }
    if (body.t === "state") {
      const { t, ...state } = body;
      this.dispatchEvent(new CustomEvent("peerstate", { detail: { ...state, id: from } }));
      return { text: null, state };
    }
    return { text: body.t === "chat" && typeof body.text === "string" ? body.text : null };
  }

  // ------------------------------------------------------------------------------------------ headless (Node.js)

  /** In-process frame sealing (no worker: the Node.js headless member). {data, epoch} or null. */
  sealFrame(data, info) {
    return this.frames.encrypt(data, info);
  }

  openFrame(data, info) {
    return this.frames.decrypt(data, info);
  }
}
