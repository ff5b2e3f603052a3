// An in-process Delivery Service for the member module tests: it follows docs/e2ee.md's wire contract (one
// commit per epoch wins, in order; Welcomes routed to joiners; mls_sync replays kept commits) and lets a test
// play a hostile node: inspect, drop, rewrite or inject any message. The node's own implementation (sfu/) is
// tested against the same contract by its own tests; the headless member (loadtests/e2ee) runs against it.

import { E2EE } from "../../signalling/client/e2ee.js";

export class Relay {
  constructor(secret = crypto.getRandomValues(new Uint8Array(32))) {
    this.secret = secret;
    this.timers = new ManualTimers();
    this.members = new Map(); // participant -> {member, inbox: [], name}
    this.epoch = null;
    this.commits = []; // [{from, epoch, commit}] accepted, in order
    this.sent = []; // every client -> node message, for the tests to look at
    this.intercept = null; // (from, msg) => msg | null: a hostile node's hook on client -> node
    this.batch = null; // an array: presence is batched as the node does (sfu/presence.py) until flushPresence()
    this.recorderKey = null; // the link fragment's `r` every member joining from now on holds (the recorder handover)
    this.credential = null; // the join token claims every member joining from now on holds ({tenant, room, recording})
  }

  /** A join or leave: sent at once as a batch of one, or queued when batching (the node's 200 ms). */
  _presence(change, except = null) {
    if (this.batch) { this.batch.push(change); return; }
    for (const o of this.members.keys()) if (o !== except) this.deliver(o, { type: "presence", changes: [change] });
  }

  /** Sends the queued changes to everyone present, the joiners themselves included, as the node does. */
  flushPresence() {
    if (!this.batch || !this.batch.length) return;
    const msg = { type: "presence", changes: this.batch.splice(0) };
    for (const o of this.members.keys()) this.deliver(o, msg);
  }

  /** A member that joins now; `opts`: secret (null: a recorder without the link), attest, recorder (the node
   *  marks it `recorder: true`), recorderKey, credential, claimAlone. */
  async join(id, name = id, opts = {}) {
    const entry = { id, name, warnings: [], recorder: !!opts.recorder };
    entry.e2ee = new E2EE("secret" in opts ? opts.secret : this.secret, (msg) => this._fromClient(id, msg), {
      timers: this.timers, clock: () => this.timers.now, attest: opts.attest || null,
      recorderKey: "recorderKey" in opts ? opts.recorderKey : this.recorderKey,
      credential: "credential" in opts ? opts.credential : this.credential });
    entry.member = entry.e2ee.member;
    entry.log = entry.e2ee.log;
    entry.e2ee.addEventListener("warning", (ev) => entry.warnings.push(ev.detail));
    const others = [...this.members.keys()];
    this.members.set(id, entry);
    // presence as the node sends it since protocol 2: in batches (tests/node/test_presence.py)
    this._presence({ type: "participant_joined", participant: { id, name, ...(entry.recorder ? { recorder: true } : {}) } }, id);
    await entry.e2ee.start({ type: "joined", participant: id, name, room: "room-1",
      participants: others.map((p) => ({ id: p, ...(this.members.get(p).recorder ? { recorder: true } : {}) })),
      mls: { epoch: opts.claimAlone ? null : this.epoch } });
    return entry;
  }

  leave(id) {
    const e = this.members.get(id);
    this.members.delete(id);
    e.e2ee.stop();
    this._presence({ type: "participant_left", participant: id, reason: "left" });
  }

  deliver(to, msg) {
    const e = this.members.get(to);
    if (e && !e.frozen && !(e.drop && e.drop(msg))) e.e2ee.handle(msg); // drop: a hostile node's filter per member
  }

  broadcast(msg, except = null) {
    for (const id of this.members.keys()) if (id !== except) this.deliver(id, msg);
  }

  _fromClient(from, msg0) {
    this.sent.push({ from, msg: msg0 });
    const msg = this.intercept ? this.intercept(from, msg0) : msg0;
    if (!msg) return;
    this.flushPresence(); // nothing the Delivery Service sends overtakes a presence change (sfu/room.py)
    switch (msg.type) {
      case "mls_create":
        if (this.epoch === null) { this.epoch = 0; this.deliver(from, { type: "mls_created", epoch: 0 }); }
        else this.deliver(from, { type: "mls_commit_rejected", epoch: this.epoch, reason: "group_exists" });
        break;
      case "mls_key_package":
        this.broadcast({ type: "mls_join_request", from, data: msg.data, proof: msg.proof,
          ...(msg.attestation !== undefined ? { attestation: msg.attestation } : {}) }, from);
        break;
      case "mls_handover": // to its addressee only, as the node does (sfu/e2ee/delivery.py)
        this.deliver(msg.to, { type: "mls_handover", from, data: msg.data });
        break;
      case "mls_commit":
        if (this.epoch === null) { this.deliver(from, { type: "mls_commit_rejected", epoch: null, reason: "no_group" }); break; }
        if (this.notMembers && this.notMembers.has(from)) { this.deliver(from, { type: "mls_commit_rejected", epoch: this.epoch, reason: "not_member" }); break; }
        if (msg.epoch !== this.epoch) { this.deliver(from, { type: "mls_commit_rejected", epoch: this.epoch, reason: "stale_epoch" }); break; }
        this.commits.push({ from, epoch: msg.epoch, commit: msg.commit });
        this.groupInfo = msg.group_info; // what a real node keeps for mls_resync
        this.epoch += 1;
        this.deliver(from, { type: "mls_commit_accepted", epoch: msg.epoch });
        this.broadcast({ type: "mls_commit", from, epoch: msg.epoch, commit: msg.commit }, this.echo ? null : from);
        if (msg.welcome) for (const j of msg.joiners || []) this.deliver(j, { type: "mls_welcome", from, epoch: this.epoch, data: msg.welcome });
        if (msg.welcome_parts) this.parts = { from, epoch: this.epoch, parts: msg.welcome_parts, joiners: msg.joiners || [] };
        break;
      case "mls_welcome_part":
        if (this.parts && this.parts.from === from && msg.epoch === this.parts.epoch - 1) {
          for (const j of this.parts.joiners) {
            this.deliver(j, { type: "mls_welcome", from, epoch: this.parts.epoch, data: msg.data, part: msg.index, parts: this.parts.parts });
          }
        }
        break;
      case "mls_sync":
        for (const c of this.commits) if (c.epoch >= msg.since) this.deliver(from, { type: "mls_commit", ...c });
        break;
      default:
        break;
    }
  }

  /** Runs every member's work and its timers (simulated time, `stepMs` at a time) until nothing is left to do. */
  async settle(stepMs = 100, maxSteps = 2000) {
    for (let i = 0; i < maxSteps; i++) {
      await this.idle();
      if (!this.timers.pending()) return;
      this.timers.advance(stepMs);
    }
    throw new Error("relay did not settle");
  }

  /** Lets every member finish what it is doing, without moving simulated time. */
  async idle() {
    for (let i = 0; i < 3; i++) {
      await Promise.all([...this.members.values()].map((e) => e.member._chain));
      await new Promise((r) => (typeof setImmediate === "function" ? setImmediate(r) : setTimeout(r, 0)));
    }
  }
}

/** setTimeout/clearTimeout on a simulated clock: tests decide when time passes (no timing in assertions). */
export class ManualTimers {
  constructor() {
    this.now = 0;
    this.queue = new Map();
    this.ids = 0;
  }

  setTimeout(fn, ms) {
    const id = ++this.ids;
    this.queue.set(id, { at: this.now + Math.max(0, ms || 0), fn });
    return id;
  }

  clearTimeout(id) {
    this.queue.delete(id);
  }

  pending() {
    return this.queue.size;
  }

  advance(ms) {
    const until = this.now + ms;
    for (;;) {
      let next = null;
      for (const [id, t] of this.queue) if (t.at <= until && (!next || t.at < next[1].at)) next = [id, t];
      if (!next) break;
      this.queue.delete(next[0]);
      this.now = next[1].at;
      next[1].fn();
    }
    this.now = until;
  }
}
