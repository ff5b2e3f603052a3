// An in-process Delivery Service for the member module tests: it follows docs/e2ee.md's wire contract (one
// commit per epoch wins, in order; Welcomes routed to joiners; mls_sync replays kept commits) and lets a test
// play a hostile node: inspect, drop, rewrite or inject any message. The node's own implementation (sfu/) is
// tested against the same contract by its own tests; the headless member (loadtests/e2ee) runs against it.

import { Member } from "../../signalling/client/e2ee/group.js";

export class Relay {
  constructor() {
    this.members = new Map(); // participant -> {member, inbox: [], name}
    this.epoch = null;
    this.commits = []; // [{from, epoch, commit}] accepted, in order
    this.sent = []; // every client -> node message, for the tests to look at
    this.intercept = null; // (from, msg) => msg | null: a hostile node's hook on client -> node
  }

  /** A member that joins now; `opts` go to Member (timers, …). */
  async join(id, name = id, opts = {}) {
    const entry = { id, name, log: [] };
    entry.member = new Member({
      secret: opts.secret || this.secret,
      send: (msg) => this._fromClient(id, msg),
      log: (t) => entry.log.push(t),
      onEpoch: (ep) => { entry.lastEpoch = ep; (opts.onEpoch || (() => {}))(ep); },
      onWarning: (w) => (entry.warnings ||= []).push(w),
      timers: opts.timers || globalThis,
    });
    const others = [...this.members.keys()];
    this.members.set(id, entry);
    for (const o of others) this.deliver(o, { type: "participant_joined", participant: { id, name } });
    await entry.member.start({ type: "joined", participant: id, name, room: "room-1", participants: others.map((p) => ({ id: p })),
      mls: { epoch: this.epoch } });
    return entry;
  }

  leave(id) {
    const e = this.members.get(id);
    this.members.delete(id);
    e.member.stop();
    for (const o of this.members.keys()) this.deliver(o, { type: "participant_left", participant: id });
  }

  deliver(to, msg) {
    const e = this.members.get(to);
    if (e) e.member.handle(msg);
  }

  broadcast(msg, except = null) {
    for (const id of this.members.keys()) if (id !== except) this.deliver(id, msg);
  }

  _fromClient(from, msg0) {
    this.sent.push({ from, msg: msg0 });
    const msg = this.intercept ? this.intercept(from, msg0) : msg0;
    if (!msg) return;
    switch (msg.type) {
      case "mls_create":
        if (this.epoch === null) { this.epoch = 0; this.deliver(from, { type: "mls_created", epoch: 0 }); }
        else this.deliver(from, { type: "mls_commit_rejected", epoch: this.epoch, reason: "group_exists" });
        break;
      case "mls_key_package":
        this.broadcast({ type: "mls_join_request", from, data: msg.data }, from);
        break;
      case "mls_commit":
        if (this.epoch === null) { this.deliver(from, { type: "mls_commit_rejected", epoch: null, reason: "no_group" }); break; }
        if (msg.epoch !== this.epoch) { this.deliver(from, { type: "mls_commit_rejected", epoch: this.epoch, reason: "stale_epoch" }); break; }
        this.commits.push({ from, epoch: msg.epoch, commit: msg.commit });
        this.epoch += 1;
        this.deliver(from, { type: "mls_commit_accepted", epoch: msg.epoch });
        this.broadcast({ type: "mls_commit", from, epoch: msg.epoch, commit: msg.commit }, from);
        if (msg.welcome) for (const j of msg.joiners || []) this.deliver(j, { type: "mls_welcome", from, epoch: this.epoch, data: msg.welcome });
        break;
      case "mls_sync":
        for (const c of this.commits) if (c.epoch >= msg.since) this.deliver(from, { type: "mls_commit", ...c });
        break;
      default:
        break;
    }
  }

  /** Waits until every member's handshake work is done and nothing changes for `quietMs`. */
  async settle(quietMs = 400, maxMs = 20000) {
    const t0 = Date.now();
    let last = -1;
    for (;;) {
      await Promise.all([...this.members.values()].map((e) => e.member._chain));
      const n = this.sent.length + this.commits.length;
      if (n === last) return;
      if (Date.now() - t0 > maxMs) throw new Error("relay did not settle");
      last = n;
      await new Promise((r) => setTimeout(r, quietMs));
    }
  }
}
