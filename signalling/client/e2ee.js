// Castellan end-to-end encryption: keys and their distribution (main thread). Frames are transformed in
// e2ee-worker.js; this module decides which key encrypts and who gets it.
//
// - The meeting link's #fragment carries a 256-bit secret that never reaches a server. HKDF gives:
//     macKey  (HMAC-SHA256) authenticating every key-exchange message, so a node (which relays them as opaque
//             `chat` blobs) cannot insert its own ECDH public key or forge a key change;
//     epoch 0 base key, the first media key.
// - Each participant makes an ECDH P-256 key pair and announces its public key (`hello`, MACed).
// - A leader (the smallest participant id among members that hold the key) manages epochs:
//     on a join:  everyone ratchets (base_{e+1} = HKDF(base_e, "ratchet")); the joiner gets base_{e+1}
//                 pairwise-encrypted, so it cannot read what was sent before it came. While the key is still
//                 the link's (epoch 0, which anyone with the link can compute), the first join instead moves
//                 everyone to a fresh random key: from then on the link alone opens nothing;
//     on a leave: a fresh random base key, pairwise-encrypted to each remaining member: the leaver never sees it.
//   Pairwise = AES-GCM under HKDF(ECDH(P-256)) between leader and member, AAD binding sender, receiver, epoch.
// - Safety code: SHA-256 over the epoch and every verified member's (id, public key), shown as 4x5 digits.
// - Chat: AES-GCM under HKDF(base_e, "chat"), AAD = sender id + epoch; relayed as an opaque blob.
//
// Wire format inside the node's `chat.data` (a string): JSON {v: 1, e2ee: {body, mac}} for key exchange
// (body is a JSON string, mac = HMAC(macKey, body)), or {v: 1, chat: {epoch, iv, ct}} for chat.

const te = new TextEncoder();
const td = new TextDecoder();
const subtle = crypto.subtle;
const SEND_SWITCH_DELAY_MS = 300; // senders switch a little after receivers have the key
const JOIN_KEY_TIMEOUT_MS = 4000; // nobody handed us the key: start from the link's epoch 0
const KEEP_EPOCHS = 4;

export function b64u(buf) {
  const b = buf instanceof Uint8Array ? buf : new Uint8Array(buf);
  let s = "";
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function unb64u(s) {
  const t = s.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(t + "===".slice((t.length + 3) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

async function hkdf(raw, info, bytes = 32) {
  const base = await subtle.importKey("raw", raw, "HKDF", false, ["deriveBits"]);
  return new Uint8Array(await subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: te.encode("castellan e2ee v1"), info: te.encode(info) }, base, bytes * 8));
}

async function aesKey(raw) {
  return subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
}

/** The secret from a link's fragment (`#k=...`, or a bare fragment). Null when absent or malformed. */
export function secretFromFragment(hash) {
  const frag = (hash || "").replace(/^#/, "");
  const params = new URLSearchParams(frag);
  const k = params.get("k") || (frag.includes("=") ? null : frag);
  if (!k) return null;
  try {
    const raw = unb64u(k);
    return raw.length >= 16 ? raw : null;
  } catch (e) {
    return null;
  }
}

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
   * @param {(data: string) => void} send  relays an opaque blob to everyone (the node's `chat`)
   */
  constructor(secret, send, { workerUrl = new URL("./e2ee-worker.js", import.meta.url), api = null } = {}) {
    super();
    this.secret = secret;
    this.send = send;
    this.api = api || transformApi(); // api: force "createEncodedStreams" (tests of the fallback path)
    this.worker = new Worker(workerUrl);
    this.worker.onmessage = (ev) => this._onWorker(ev.data);
    this.me = null;
    this.peers = new Map(); // id -> {id, pub (b64), pubKey, pairwise: Promise<CryptoKey>, keyed, epoch}
    this.rejected = new Map(); // id -> reason (failed MAC: a different link secret, or a forgery)
    this.epoch = null; // current epoch number (null: no key yet)
    this.linkDerived = false; // the current key can be computed from the link secret alone (epoch 0 and its ratchets)
    this.keys = new Map(); // epoch -> raw base key (Uint8Array)
    this.chatKeys = new Map(); // epoch -> Promise<CryptoKey>
    this.workerStats = { streams: [], sendEpoch: null };
    this.log = [];
    this._sendTimer = null;
    this._joinTimer = null;
    this._ids = 0;
    this._chain = Promise.resolve();
    this.senders = new Map(); // RTCRtpSender -> transform id // key-exchange messages and membership changes, strictly one at a time
    this._pokedBack = new Set();
    this.ready = this._init();
  }

  async _init() {
    this.macKey = await subtle.importKey("raw", await hkdf(this.secret, "castellan mac"), { name: "HMAC", hash: "SHA-256" },
      false, ["sign", "verify"]);
    this.epoch0 = await hkdf(this.secret, "castellan epoch 0");
    this.pair = await subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"]);
    this.pub = b64u(await subtle.exportKey("raw", this.pair.publicKey));
  }

  _note(text) {
    this.log.push(`${new Date().toISOString().slice(11, 23)} ${text}`);
    if (this.log.length > 200) this.log.shift();
  }

  _emit() {
    this.dispatchEvent(new Event("change"));
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
    }
  }

  // ------------------------------------------------------------------------------------------ epochs

  async _setEpoch(epoch, raw, why) {
    this.keys.set(epoch, raw);
    for (const old of [...this.keys.keys()].sort((a, b) => b - a).slice(KEEP_EPOCHS)) {
      this.keys.delete(old);
      this.chatKeys.delete(old);
    }
    this.worker.postMessage({ type: "key", epoch, raw: raw.slice().buffer });
    const first = this.epoch === null;
    this.epoch = epoch;
    this._note(`epoch ${epoch} (${why})`);
    clearTimeout(this._sendTimer);
    if (first) {
      this.worker.postMessage({ type: "sendEpoch", epoch });
      clearTimeout(this._joinTimer);
    } else {
      this._sendTimer = setTimeout(() => this.worker.postMessage({ type: "sendEpoch", epoch: this.epoch }), SEND_SWITCH_DELAY_MS);
    }
    this._emit();
    return first;
  }

  async _ratchetTo(epoch) {
    let e = this.epoch;
    let raw = this.keys.get(e);
    if (raw === undefined || epoch <= e || epoch - e > 16) return false;
    while (e < epoch) {
      raw = await hkdf(raw, "castellan ratchet");
      e += 1;
    }
    await this._setEpoch(epoch, raw, "ratchet on join");
    return true;
  }

  isLeader() {
    if (this.epoch === null) return false;
    for (const p of this.peers.values()) if (p.keyed && p.id < this.me) return false;
    return true;
  }

  leaderId() {
    let best = this.epoch !== null ? this.me : null;
    for (const p of this.peers.values()) if (p.keyed && (best === null || p.id < best)) best = p.id;
    return best;
  }

  // ------------------------------------------------------------------------------------------ signalling hooks

  /** After the node's `joined`: announce our public key; take the link's epoch 0 if we are alone. */
  start(myId, others) {
    return this._serial(() => this._start(myId, others));
  }

  async _start(myId, others) {
    await this.ready;
    this.me = myId;
    this.knownOthers = new Set(others.map((p) => p.id));
    await this._hello(false);
    if (others.length === 0) {
      this.linkDerived = true;
      await this._setEpoch(0, this.epoch0, "first in the meeting: key from the link");
    } else {
      this._joinTimer = setTimeout(() => this._serial(async () => {
        if (this.epoch === null) {
          this._note("nobody handed over the meeting key: using the link's epoch 0");
          this.linkDerived = true;
          await this._setEpoch(0, this.epoch0, "no keyed member answered");
          await this._hello(true);
        }
      }), JOIN_KEY_TIMEOUT_MS);
    }
  }

  stop() {
    clearTimeout(this._sendTimer);
    clearTimeout(this._joinTimer);
    this.worker.terminate();
  }

  _serial(fn) {
    const run = this._chain.then(fn);
    this._chain = run.catch((e) => this._note(`error: ${e && e.message}`));
    return run;
  }

  participantLeft(id) {
    return this._serial(() => this._participantLeft(id));
  }

  async _participantLeft(id) {
    const was = this.peers.get(id);
    this.peers.delete(id);
    this.rejected.delete(id);
    if (was && this.isLeader()) await this._rotate("leave");
    this._emit();
  }

  /** A `chat` message from the node. Returns {from, text, epoch} for a chat line, or null. */
  receive(from, data) {
    return this._serial(() => this._receive(from, data));
  }

  async _receive(from, data) {
    await this.ready;
    let msg;
    try {
      msg = JSON.parse(data);
    } catch (e) {
      return null;
    }
    if (msg.v !== 1) return null;
    if (msg.e2ee) {
      await this._onControl(from, msg.e2ee);
      return null;
    }
    if (msg.chat) return this._openChat(from, msg.chat);
    return null;
  }

  // ------------------------------------------------------------------------------------------ key exchange

  async _signed(body) {
    const text = JSON.stringify(body);
    const mac = new Uint8Array(await subtle.sign("HMAC", this.macKey, te.encode(text)));
    this.send(JSON.stringify({ v: 1, e2ee: { body: text, mac: b64u(mac) } }));
  }

  async _hello(reply) {
    await this._signed({ t: "hello", id: this.me, pub: this.pub, keyed: this.epoch !== null, epoch: this.epoch, reply });
  }

  async _onControl(from, env) {
    let ok = false;
    try {
      ok = await subtle.verify("HMAC", this.macKey, unb64u(env.mac), te.encode(env.body));
    } catch (e) {
      ok = false;
    }
    if (!ok) {
      if (!this.rejected.has(from)) this._note(`rejected a key message from ${from}: MAC does not verify`);
      this.rejected.set(from, "mac");
      if (this.me && !this._pokedBack.has(from)) {
        // answer once with our own hello, so a participant holding a different link secret learns it does not match
        this._pokedBack.add(from);
        await this._hello(true);
      }
      this._emit();
      return;
    }
    const body = JSON.parse(env.body);
    if (body.id !== from) { // a relay that misattributes messages: refuse
      this.rejected.set(from, "sender mismatch");
      this._note(`refused a message claiming to be from ${body.id} but relayed from ${from}`);
      return;
    }
    if (body.t === "hello") await this._onHello(body);
    else if (body.t === "key") await this._onKey(body);
    else if (body.t === "ratchet") await this._onRatchet(body);
    else if (body.t === "state" && this.peers.has(body.id)) {
      this.dispatchEvent(new CustomEvent("peerstate", { detail: body }));
    }
  }

  async _peer(id, pub) {
    let p = this.peers.get(id);
    if (p && p.pub === pub) return p;
    const pubKey = await subtle.importKey("raw", unb64u(pub), { name: "ECDH", namedCurve: "P-256" }, false, []);
    const pairwise = (async () => {
      const shared = await subtle.deriveBits({ name: "ECDH", public: pubKey }, this.pair.privateKey, 256);
      const ids = [this.me, id].sort().join(" ");
      return aesKey(await hkdf(new Uint8Array(shared), `castellan pairwise ${ids}`, 16));
    })();
    p = { id, pub, pubKey, pairwise, keyed: false, epoch: null };
    this.peers.set(id, p);
    this.rejected.delete(id);
    return p;
  }

  async _onHello(h) {
    const known = this.peers.has(h.id);
    const p = await this._peer(h.id, h.pub);
    p.keyed = !!h.keyed;
    p.epoch = h.epoch;
    this._note(`verified ${h.id} (${h.keyed ? "keyed, epoch " + h.epoch : "needs the key"})`);
    if (!h.reply) await this._hello(true); // so a newcomer learns our public key
    if (!h.keyed && this.isLeader()) await this._admit(p);
    else if (h.keyed && this.epoch === null && !known) { /* wait for the leader's key message */ }
    this._emit();
  }

  async _admit(p) {
    if (this.linkDerived) {
      // the current key is derivable from the link: switch everyone (the joiner too) to a fresh random key,
      // so that from now on only members can read the media, whoever else ever saw the link
      await this._rotate("first join");
      return;
    }
    // ratchet forward for everyone, then hand the joiner only the new key
    const next = this.epoch + 1;
    await this._signed({ t: "ratchet", id: this.me, epoch: next });
    await this._ratchetTo(next);
    await this._sendKey(p, next, "join");
  }

  async _rotate(reason) {
    // above every epoch anyone announced: a new leader that missed a ratchet must not reuse its number
    const next = Math.max(this.epoch, ...[...this.peers.values()].map((p) => p.epoch ?? -1)) + 1;
    const raw = crypto.getRandomValues(new Uint8Array(32));
    for (const p of this.peers.values()) await this._sendKey(p, next, reason, raw);
    this.linkDerived = false;
    await this._setEpoch(next, raw, `new random key (${reason})`);
  }

  async _sendKey(p, epoch, reason, raw = this.keys.get(epoch)) {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const aad = te.encode(`key ${this.me} ${p.id} ${epoch}`);
    const ct = await subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad }, await p.pairwise, raw);
    await this._signed({ t: "key", id: this.me, pub: this.pub, to: p.id, epoch, reason, iv: b64u(iv), ct: b64u(ct) });
  }

  async _onKey(k) {
    if (k.to !== this.me) return;
    if (this.epoch !== null && k.epoch <= this.epoch) return;
    const p = await this._peer(k.id, k.pub);
    p.keyed = true;
    p.epoch = k.epoch;
    let raw;
    try {
      const aad = te.encode(`key ${k.id} ${this.me} ${k.epoch}`);
      raw = new Uint8Array(await subtle.decrypt({ name: "AES-GCM", iv: unb64u(k.iv), additionalData: aad },
        await p.pairwise, unb64u(k.ct)));
    } catch (e) {
      this._note(`key from ${k.id} does not decrypt`);
      return;
    }
    this.linkDerived = false;
    const first = await this._setEpoch(k.epoch, raw, `key from ${k.id} (${k.reason})`);
    if (first) await this._hello(true); // tell everyone we hold the key now
  }

  async _onRatchet(r) {
    const p = this.peers.get(r.id);
    if (p) p.epoch = r.epoch;
    if (this.epoch === null) return;
    if (r.epoch === this.epoch + 1) await this._ratchetTo(r.epoch);
  }

  /** Media state (muted, camera off, screen stream), authenticated like the key exchange. */
  sendState(state) {
    return this._serial(() => this._signed({ ...state, t: "state", id: this.me }));
  }

  // ------------------------------------------------------------------------------------------ chat

  _chatKey(epoch) {
    let k = this.chatKeys.get(epoch);
    if (!k) {
      const raw = this.keys.get(epoch);
      if (!raw) return null;
      k = hkdf(raw, "castellan chat", 16).then(aesKey);
      this.chatKeys.set(epoch, k);
    }
    return k;
  }

  async sealChat(text) {
    if (this.epoch === null) throw new Error("no meeting key yet");
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const aad = te.encode(`chat ${this.me} ${this.epoch}`);
    const ct = await subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad }, await this._chatKey(this.epoch), te.encode(text));
    return JSON.stringify({ v: 1, chat: { epoch: this.epoch, iv: b64u(iv), ct: b64u(ct) } });
  }

  async _openChat(from, c) {
    const key = this._chatKey(c.epoch);
    if (!key) return { from, text: null, error: "no key for this message's epoch" };
    try {
      const aad = te.encode(`chat ${from} ${c.epoch}`);
      const pt = await subtle.decrypt({ name: "AES-GCM", iv: unb64u(c.iv), additionalData: aad }, await key, unb64u(c.ct));
      return { from, text: td.decode(pt), epoch: c.epoch };
    } catch (e) {
      return { from, text: null, error: "cannot decrypt this message" };
    }
  }

  // ------------------------------------------------------------------------------------------ verification

  /** Everyone verified and the epoch, hashed: equal on every screen iff everyone sees the same keys. */
  async safetyCode() {
    if (this.epoch === null || !this.me) return null;
    const members = [[this.me, this.pub], ...[...this.peers.values()].map((p) => [p.id, p.pub])]
      .sort((a, b) => (a[0] < b[0] ? -1 : 1))
      .map(([id, pub]) => `${id}:${pub}`);
    const digest = new Uint8Array(await subtle.digest("SHA-256", te.encode(`castellan safety v1\n${this.epoch}\n${members.join("\n")}`)));
    const dv = new DataView(digest.buffer);
    const groups = [];
    for (let i = 0; i < 4; i++) groups.push(String(dv.getUint32(i * 4) % 100000).padStart(5, "0"));
    return groups.join(" ");
  }

  /** What the lock indicator may claim, from the worker's counters. */
  status() {
    const nowMs = Date.now();
    const tracks = {};
    for (const s of this.workerStats.streams || []) {
      if (s.op !== "decode") continue;
      let state = "waiting";
      if (s.lastFailAt && nowMs - s.lastFailAt < 2000 && !(s.lastOkAt > s.lastFailAt)) state = "failing";
      else if (s.lastOkAt && nowMs - s.lastOkAt < 3000) state = "ok";
      else if (s.passed > 0) state = "plain";
      tracks[s.track] = { state, ok: s.ok, failed: s.failed + s.noKey, epoch: s.epoch, participant: s.participant };
    }
    const sending = (this.workerStats.streams || []).filter((s) => s.op === "encode");
    return {
      api: this.api,
      epoch: this.epoch,
      sendEpoch: this.workerStats.sendEpoch,
      keyed: this.epoch !== null,
      leader: this.leaderId(),
      verified: [...this.peers.keys()],
      rejected: [...this.rejected.entries()],
      tracks,
      sending: sending.map((s) => ({ kind: s.kind, ok: s.ok, noKey: s.noKey, epoch: s.epoch, cryptoMs: s.cryptoMs, codec: s.codec, mime: s.mime })),
      receiving: (this.workerStats.streams || []).filter((s) => s.op === "decode").map((s) => ({ kind: s.kind, codec: s.codec, mime: s.mime, ok: s.ok })),
      cryptoMs: (this.workerStats.streams || []).reduce((a, s) => a + s.cryptoMs, 0),
    };
  }
}
