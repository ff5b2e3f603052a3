// The MLS member (RFC 9420 via ts-mls): this participant's group state, the handshake messages it sends and
// accepts through the node's Delivery Service (docs/e2ee.md "Wire messages", "Who commits"), the roster, and
// each epoch's exporter secrets. No sockets and no DOM: `send` hands node message objects out, timers are
// injectable, so the browser, the Node.js headless member and the tests run this same code.
//
// What a hostile node (or a former invitee with the node's help) cannot do here:
// - add anyone without the link: every adding commit must carry the link PSK, else it is refused, and a commit
//   whose PSK is not ours does not even open (the epoch secret depends on it);
// - move us to another epoch than the next one: MLS validates each commit against our current epoch only;
//   commits ahead of it are buffered (a bounded number) and trigger mls_sync, never a jump;
// - give us a group of its own: a Welcome for another group id than the link's is refused;
// - pass a credential change off silently: a known participant id with a new signature key is a warning;
// - slip in a proposal we do not use (update, reinit, external init, group context extensions): refused.

import * as mls from "../vendor/ts-mls.js";
import { CIPHERSUITE, PSK_ID, b64u, bytesEqual, decodeIdentity, encodeIdentity, keyPackageProof, linkSecrets, unb64u } from "./link.js";
import { EXPORTER_LABEL, NK } from "./sframe.js";
import { openHandover, sealHandover, verifyAttestation } from "./handover.js";
import { isPresence, presenceChanges } from "../presence.js";

export const COMMIT_BATCH_MS = 100; // adds arriving within this are committed together
export const RANK_DELAY_MS = 1500; // each further member in line waits this much longer before committing...
export const RANK_DELAY_PER_MEMBER_MS = 3; // ...plus this per member: a large group's commit takes longer to make
// (ts-mls, a leave at 500 members: ~0.7 s; at 1,000: ~1.6 s), and the next in line must not start a rival
// commit while the first one is still being computed
const MAX_FUTURE_COMMITS = 64;
// a node's "the room has no group" (mls_resync, epoch null) is acted on at most this many times until we are in a
// group with someone else: a node that keeps saying it cannot make us spin making groups
export const MAX_GROUP_RESETS = 3;
export const OUTSIDE_GRACE_MS = 5000; // someone the node lists but the group lacks for this long: the lock says so
export const SYNC_RETRY_MS = 500; // an unanswered mls_sync is asked again after this, doubling each time...
export const SYNC_TRIES = 5; // ...this many asks in all (0.5 + 1 + 2 + 4 s apart, then 8 s), then we wait for news
export const JOIN_WAIT_MS = 8000; // a joiner not added after this (others present) is told its link may be wrong
export const JOIN_RETRY_MS = 1000; // a recorder told "no group" (it cannot make one: no link) asks again after this, doubling...
export const JOIN_RETRY_MAX_MS = 8000; // ...up to this
// a member's commit answered "no group" (its node has no lane to the meeting's home, or the home died and the group
// is moving to a new one): its pending work is tried again after this, doubling, by the usual rule (the committer
// first, the others after their rank delay)...
export const COMMIT_RETRY_MS = 1000;
export const COMMIT_RETRY_MAX_MS = 16000; // ...up to this...
export const COMMIT_RETRIES = 6; // ...this many times (1+2+4+8+16+16 s), then only the next change of presence tries
const MAX_HANDOVERS = 8; // handovers kept until a Welcome opens with one (a node can seal bogus ones too)
const RECORDING_POLICIES = new Set(["allowed", "required"]);
export const WELCOME_PART_CHARS = 160 * 1024; // a Welcome longer than this goes in parts (node frames cap at 256 KiB)
const MAX_WELCOME_PARTS = 32;
const MAX_BLOB_CHARS = 4 * 1024 * 1024; // base64url characters; the node caps frames far below this
const CHAT_LABEL = "castellan chat v1";
const te = new TextEncoder();

let suitePromise = null;
/** The ciphersuite implementation: MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 over WebCrypto, SHA-256 and HMAC
 *  excepted. ts-mls 1.6.4 checks a joiner's ratchet tree by re-hashing a subtree for every leaf (O(n²) digests:
 *  ~170,000 for a Welcome into 500 members once a removal has set the root), and each WebCrypto digest is a
 *  promise round trip; @noble/hashes (audited, synchronous) makes that Welcome ~3.5× faster (docs/e2ee.md).
 *  ts-mls 2.0 caches those hashes (upstream #431, #437, #442), but is not released as stable. */
export function cipherSuite() {
  if (!suitePromise) {
    suitePromise = mls.getCiphersuiteImpl(mls.getCiphersuiteFromName(CIPHERSUITE))
      .then((impl) => ({ ...impl, hash: sha256Hash }));
  }
  return suitePromise;
}

export const sha256Hash = {
  async digest(data) { return mls.sha256(data); },
  async mac(key, data) { return mls.hmac(mls.sha256, key, data); },
  async verifyMac(key, mac, data) { return sameBytes(mls.hmac(mls.sha256, key, data), mac); },
};

function sameBytes(a, b) { // constant time in the contents: a MAC check must not leak where it differs
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

function zero(consumed) {
  for (const b of consumed || []) mls.zeroOutUint8Array(b);
}

function decode(data, wireformat) {
  if (typeof data !== "string" || data.length > MAX_BLOB_CHARS) throw new Error("blob missing or too large");
  const r = mls.decodeMlsMessage(unb64u(data), 0);
  if (!r || r[0].wireformat !== wireformat) throw new Error(`not an ${wireformat}`);
  return r[0];
}

function varlen(n) { // RFC 9420 §2.1.2 variable-size length prefix
  if (n < 64) return [n];
  if (n < 16384) return [0x40 | (n >> 8), n & 0xff];
  return [0x80 | (n >>> 24), (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
}

function unb64uOrEmpty(s) {
  try {
    return unb64u(s);
  } catch (e) {
    return new Uint8Array(0);
  }
}

function toEpoch(big) {
  const n = Number(big);
  if (!Number.isSafeInteger(n)) throw new Error("epoch out of range");
  return n;
}

export class Member {
  /**
   * @param {object} o
   * @param {Uint8Array} o.secret        the link secret (#fragment)
   * @param {(msg: object) => void} o.send  sends a node message object
   * @param {(ep: {epoch, baseKey, leaves, myLeaf}) => void} [o.onEpoch]  a new epoch's SFrame base key and roster
   * @param {() => void} [o.onChange]    roster, epoch or state changed
   * @param {(w: {participant, kind, text}) => void} [o.onWarning]
   * @param {(text: string) => void} [o.log]
   * @param {{setTimeout, clearTimeout}} [o.timers]
   * @param {() => number} [o.clock]  milliseconds, for how long someone has been outside the group
   * @param {Uint8Array} [o.recorderKey]  the tenant's recorder public key from the link's fragment (`r=`), or null
   * @param {{tenant, room, recording}} [o.credential]  our own join token's claims (as the control plane issued
   *   them; the node cannot change them): whose meeting this is and its recording policy, for a recorder's handover
   * @param {(leafKey: Uint8Array) => Promise<string>} [o.attest]  recorder mode: the pool's attestation of our
   *   KeyPackage's leaf signature key (docs/recording.md); with no `secret`, the link's secrets come by handover
   */
  constructor({ secret, send, onEpoch = () => {}, onChange = () => {}, onWarning = () => {}, log = () => {}, timers = globalThis,
    clock = () => Date.now(), recorderKey = null, credential = null, attest = null }) {
    this.secret = secret;
    this.recorderKey = recorderKey;
    this.credential = credential;
    this.attest = attest;
    this.recorders = new Set(); // participants the node marks `recorder: true` (from their credential's role)
    this.handovers = []; // recorder: link secrets handed over, not yet proven by a Welcome that opens with them
    this.joinRetryMs = JOIN_RETRY_MS;
    this.commitRetries = 0; // "no group" answers to our commits since we last entered an epoch
    this._retryTimer = null;
    this.send = send;
    this.onEpoch = onEpoch;
    this.onChange = onChange;
    this.onWarning = onWarning;
    this.log = log;
    this.timers = timers;
    this.clock = clock;
    this.phase = "idle"; // idle | creating | joining | member
    this.group = null; // ts-mls ClientState
    this.epoch = null;
    this.me = null;
    this.name = "";
    this.present = new Set(); // participants the node says are in the room (a hint: the roster is MLS's)
    this.pendingAdds = new Map(); // participant -> {kp, hpke}
    this.inflight = null; // {epoch, newState, joiners}: our commit, awaiting the node's verdict
    this.future = new Map(); // epoch -> commit message made in it, ahead of ours
    this.syncAsked = null; // the epoch we asked mls_sync from (retried with backoff while still there)
    this.syncTries = 0;
    this.suspect = null; // {epoch, since}: the node says we are behind (mls_resync) without evidence we can verify
    this.waitingKp = null; // our KeyPackage still out when the node said the group was gone: its Welcome still counts
    this.groupResets = 0; // "no group" resyncs acted on since we were last in a group with someone else
    this.joiningSince = null;
    this.knownKeys = new Map(); // participant -> signature public key (b64u) last seen in the roster
    this.warnings = new Map(); // participant -> "credential_changed"
    this.history = new Map(); // epoch -> {roster, chatKey}: current and previous epoch, for chat in flight
    this.counts = { refused_commits: 0, refused_welcomes: 0, refused_key_packages: 0, refused_chat: 0, refused_resyncs: 0,
      refused_handovers: 0, commits_sent: 0, commits_lost: 0, syncs_sent: 0, group_resets: 0, handovers_sent: 0,
      commit_retries: 0 };
    this.lastRefusal = null;
    this.timing = { createCommitMs: null, processCommitMs: null, joinMs: null }; // this member's CPU per step
    this.partChars = WELCOME_PART_CHARS; // tests lower it to exercise the parts path with small groups
    this._timer = null;
    this._syncTimer = null;
    this._chain = Promise.resolve();
    this.ready = this._init();
  }

  async _init() {
    this.cs = await cipherSuite();
    this.sigKeys = await this.cs.signature.keygen(); // one signature key for this session: a resync is no "change"
  }

  _serial(fn) {
    const run = this._chain.then(fn);
    this._chain = run.catch((e) => this.log(`error: ${e && e.message}`));
    return run;
  }

  _refuse(what, why) {
    this.counts[what] += 1;
    this.lastRefusal = `${what}: ${why}`;
    this.log(`refused (${what}): ${why}`);
  }

  _pskIndex(state) {
    return mls.makePskIndex(state, { [mls.bytesToBase64(PSK_ID)]: this.link.psk });
  }

  async _newKeyPackage() {
    const credential = { credentialType: "basic", identity: encodeIdentity(this.me, this.name) };
    this.kp = await mls.generateKeyPackageWithKey(credential, mls.defaultCapabilities(), mls.defaultLifetime, [],
      this.sigKeys, this.cs);
    this.kpData = b64u(mls.encodeMlsMessage({ keyPackage: this.kp.publicPackage, wireformat: "mls_key_package", version: "mls10" }));
    return this.kpData;
  }

  /** A GroupInfo of `state`, signed by us: what lets a member that fell behind verify it did (docs/e2ee.md). */
  async _groupInfo(state) {
    const gi = await mls.createGroupInfoWithExternalPub(state, [], this.cs);
    return b64u(mls.encodeMlsMessage({ groupInfo: gi, wireformat: "mls_group_info", version: "mls10" }));
  }

  // ------------------------------------------------------------------------------------------ node events

  /** After the node's `joined`: make a one-member group, or ask to be added. */
  start(joined) {
    return this._serial(async () => {
      await this.ready;
      this.me = joined.participant;
      this.name = joined.name || "";
      this.room = joined.room;
      // a recorder without the link (no secret) learns what membership needs from a member's handover
      this.link = this.secret ? await linkSecrets(this.secret, this.room) : null;
      this.present = new Set((joined.participants || []).map((p) => (typeof p === "string" ? p : p.id)));
      for (const p of joined.participants || []) if (p && typeof p === "object" && p.recorder === true) this.recorders.add(p.id);
      this._trackOutside();
      const epoch = joined.mls ? joined.mls.epoch : null;
      if ((epoch === null || epoch === undefined) && this.link) await this._create();
      else await this._askToJoin();
    });
  }

  /** After a `resume`: catch up with what was missed. */
  resumed(joined) {
    return this._serial(async () => {
      if (joined && joined.participants) this.present = new Set(joined.participants.map((p) => (typeof p === "string" ? p : p.id)));
      if (this.phase === "member") this._sync(true); // what we asked before the socket dropped may be lost
      else if (this.phase === "joining") await this._askToJoin();
      else if (this.phase === "creating") this.send({ type: "mls_create" });
      this._schedule();
    });
  }

  async _create() {
    await this._newKeyPackage();
    this.group = await mls.createGroup(this.link.groupId, this.kp.publicPackage, this.kp.privatePackage, [], this.cs);
    this.phase = "creating";
    this.send({ type: "mls_create" });
    this.onChange();
  }

  async _askToJoin() {
    this._leaveGroup();
    this.waitingKp = null; // this fresh KeyPackage is the one a Welcome must open now
    this.phase = "joining";
    this.joiningSince = this.clock();
    const data = await this._newKeyPackage();
    // the proof that we hold the link: without it no honest member adds us (a node cannot forge it). A recorder
    // without the link sends the pool's attestation instead (and both once a handover gave it the proof key)
    const msg = { type: "mls_key_package", data };
    if (this.link) msg.proof = await keyPackageProof(this.link.proofKey, this.room, this.me, data);
    if (this.attest) {
      try {
        msg.attestation = await this.attest(this.kp.publicPackage.leafNode.signaturePublicKey);
      } catch (e) {
        this.log(`no attestation for our KeyPackage: ${e && e.message}`);
      }
    }
    if (!msg.proof && !msg.attestation) {
      this.log("neither the link nor an attestation: no member can add us");
      this.onChange();
      return;
    }
    this.send(msg);
    this.onChange();
  }

  /** A recorder told "no group": it cannot make one (no link), so it asks again later (backing off). */
  _retryJoin() {
    if (this._joinTimer) return;
    const wait = this.joinRetryMs;
    this.joinRetryMs = Math.min(JOIN_RETRY_MAX_MS, this.joinRetryMs * 2);
    this._joinTimer = this.timers.setTimeout(() => {
      this._joinTimer = null;
      this._serial(async () => { if (this.phase === "joining" && !this.link) await this._askToJoin(); });
    }, wait);
  }

  _leaveGroup() {
    this.group = null;
    this.epoch = null;
    this.inflight = null;
    this.future.clear();
    this.pendingAdds.clear();
    this._endSync();
    this.suspect = null;
    this._parts = null;
    if (this._timer) this.timers.clearTimeout(this._timer);
    this._timer = null;
    if (this._retryTimer) this.timers.clearTimeout(this._retryTimer);
    this._retryTimer = null;
    this.commitRetries = 0;
  }

  /** Every node message of type mls_* plus presence (v2 `presence`, v1 participant_joined / participant_left); true if it was ours. */
  handle(msg) {
    if (!msg || typeof msg.type !== "string") return Promise.resolve(false);
    const t = msg.type;
    // presence changes are observed (a hint for who to add and remove), not consumed:
    // the session handles them too
    if (isPresence(msg)) {
      // one v2 `presence` batch or a single change, applied in order (the last change about each one wins)
      let joined = false;
      for (const c of presenceChanges(msg, this.me)) {
        if (c.type === "participant_joined") {
          this.present.add(c.participant.id);
          if (c.participant.recorder) this.recorders.add(c.participant.id);
          else this.recorders.delete(c.participant.id);
          joined = true;
        } else {
          this.present.delete(c.participant);
          this.recorders.delete(c.participant);
          this.pendingAdds.delete(c.participant);
        }
      }
      this._serial(async () => { if (joined) this._trackOutside(); this._schedule(); });
      return Promise.resolve(false);
    }
    if (!t.startsWith("mls_")) return Promise.resolve(false);
    if (t === "mls_commit" && this.phase === "member" && msg.epoch === this.epoch) {
      // a commit for our epoch is here (to be processed in turn): making a rival one now would only lose
      this._commitWaiting = msg.epoch;
      if (this._timer) { this.timers.clearTimeout(this._timer); this._timer = null; }
    }
    return this._serial(async () => {
      await this.ready;
      try {
        await this._on(msg);
      } catch (e) {
        this.log(`error on ${t}: ${e && e.message}`);
      }
      return true;
    });
  }

  async _on(m) {
    switch (m.type) {
      case "mls_created":
        if (this.phase === "creating" && m.epoch === 0) await this._enterEpoch(this.group, "created the group");
        break;
      case "mls_join_request":
        await this._onJoinRequest(m);
        break;
      case "mls_welcome":
        await this._onWelcome(m);
        break;
      case "mls_handover":
        await this._onHandover(m);
        break;
      case "mls_commit":
        await this._onCommit(m);
        break;
      case "mls_commit_accepted":
        if (this.inflight && m.epoch === this.inflight.epoch && this.epoch === m.epoch) {
          const { newState, joiners, consumed } = this.inflight;
          this.inflight = null;
          zero(consumed);
          await this._enterEpoch(newState, joiners.length ? `added ${joiners.join(", ")}` : "our commit");
        }
        break;
      case "mls_commit_rejected":
        await this._onRejected(m);
        break;
      case "mls_resync":
        if (m.epoch === null) {
          await this._onGroupGone();
        } else if (this.phase === "joining") {
          await this._askToJoin(); // nothing to lose: a fresh KeyPackage (our Welcome's parts never all came)
        } else if (this.phase === "member") {
          await this._onResync(m);
        }
        break;
      default:
        break; // mls_epoch / mls_sync are ours to send; anything else is unknown: ignored
    }
  }

  async _onRejected(m) {
    if (m.reason === "group_exists" && this.phase === "creating") {
      this.log("another member made the group first: asking to be added");
      await this._askToJoin();
      return;
    }
    if (m.reason === "no_group" && this.phase === "member") {
      this.inflight = null;
      this._retryCommit();
      return;
    }
    if (this.inflight) {
      this.counts.commits_lost += 1;
      this.inflight = null;
    }
    if (m.reason === "not_member") {
      // the node does not count us as a member (yet): no retry in this epoch, the next member in line commits
      this.notMemberEpoch = this.epoch;
      return;
    }
    if (this.phase === "member" && Number.isSafeInteger(m.epoch) && m.epoch > this.epoch) {
      // the room is past our epoch: a commit made in it can only lose again (an implausible epoch is a lie)
      if (m.epoch <= this.epoch + MAX_FUTURE_COMMITS) this.staleEpoch = this.epoch;
      this._sync();
    }
    this._schedule();
  }

  /**
   * Our commit was answered "no group": our node cannot reach the meeting's home now (a dropped relay link, or a
   * home that died while the meeting moves to a new one, docs/e2ee.md "A meeting across nodes"). Nothing arrives to
   * make us try again — the departed members' presence already changed — so we re-arm the usual commit timer after
   * a backoff, a bounded number of times: the committer (lowest present leaf) tries first, each other member only
   * after its rank delay, so once the Delivery Service is reachable one commit wins and the others apply it.
   */
  _retryCommit() {
    if (this._retryTimer || this.commitRetries >= COMMIT_RETRIES) {
      if (!this._retryTimer) this.log(`"no group" ${this.commitRetries} times at epoch ${this.epoch}: waiting for a change`);
      return;
    }
    const wait = Math.min(COMMIT_RETRY_MAX_MS, COMMIT_RETRY_MS * 2 ** this.commitRetries);
    this.commitRetries += 1;
    const at = this.epoch;
    this._retryTimer = this.timers.setTimeout(() => {
      this._retryTimer = null;
      this._serial(async () => {
        if (this.phase !== "member" || this.epoch !== at || this.inflight) return; // moved on meanwhile
        this.counts.commit_retries += 1;
        this._schedule();
      });
    }, wait);
  }

  /**
   * The node says the room has no group any more (its last member left while we wait): the first mls_create wins
   * again. Its word alone must not cost anything we cannot check, so: a member of a group with anyone else keeps
   * it (an honest node counts every member and never says this to one); a joiner makes its one-member group but
   * still takes a Welcome for the KeyPackage it had sent (checked as ever: link PSK, group id, our own leaf), so
   * the claim cannot keep it out of a group that is adding it; and it is acted on at most MAX_GROUP_RESETS times
   * until we share a group with someone (counted), so a node repeating it cannot make us spin.
   */
  async _onGroupGone() {
    if (!this.link) { // a recorder waiting for a handover cannot make the group: it asks again once one exists
      if (this.phase === "joining") this._retryJoin();
      return;
    }
    const others = this.phase === "member" ? this._leaves().filter((l) => !l.self).length : 0;
    if (others) {
      this._refuse("refused_resyncs", `at epoch ${this.epoch}: "no group", but ours has ${others} other member(s)`);
      return;
    }
    if (this.groupResets >= MAX_GROUP_RESETS) {
      this._refuse("refused_resyncs", `"no group" again: acted on ${MAX_GROUP_RESETS} already without joining anyone`);
      return;
    }
    this.groupResets += 1;
    this.counts.group_resets += 1;
    const waiting = this.phase === "joining" ? this.kp : this.waitingKp;
    this.log("the node says the room has no group any more: making one");
    this._leaveGroup();
    await this._create();
    this.waitingKp = waiting;
  }

  /**
   * The node says what we missed is gone. Its word alone moves nothing (a forged mls_resync would make every
   * member drop the group): we rejoin only on a GroupInfo of a later epoch of our group, signed by someone in our
   * roster; otherwise we keep the group, show amber, and ask for the commits (mls_sync, retried).
   */
  async _onResync(m) {
    const evidence = typeof m.group_info === "string" ? await this._verifyAhead(m.group_info) : "no GroupInfo";
    if (evidence === null) {
      this.log(`a member's signed GroupInfo shows the group ahead of epoch ${this.epoch}, and its commits are gone: rejoining`);
      await this._askToJoin();
      return;
    }
    this._refuse("refused_resyncs", `at epoch ${this.epoch}: ${evidence}`);
    if (!this.suspect) this.suspect = { epoch: Number.isSafeInteger(m.epoch) ? m.epoch : null, since: this.clock() };
    this._sync(true);
    this.onChange();
  }

  /** Null if `data` is a GroupInfo of our group at a later epoch, signed by a member of our roster; else why not. */
  async _verifyAhead(data) {
    let raw;
    let gi;
    try {
      raw = unb64u(data);
      if (raw.length > MAX_BLOB_CHARS) return "too large";
      const r = mls.decodeMlsMessage(raw, 0);
      if (!r || r[0].wireformat !== "mls_group_info" || r[1] !== raw.length) return "not a GroupInfo";
      gi = r[0].groupInfo;
    } catch (e) {
      return `not a GroupInfo (${e.message})`;
    }
    if (!bytesEqual(gi.groupContext.groupId, this.link.groupId)) return "a GroupInfo of another group";
    let epoch;
    try {
      epoch = toEpoch(gi.groupContext.epoch);
    } catch (e) {
      return "a GroupInfo at an impossible epoch";
    }
    if (epoch <= this.epoch) return `a GroupInfo of epoch ${epoch}, not ahead of ours`;
    // GroupInfo = GroupInfoTBS || signature<V>; its signature is SignWithLabel(., "GroupInfoTBS", TBS)
    const n = gi.signature.length;
    const tbs = raw.subarray(4, raw.length - n - (n < 64 ? 1 : n < 16384 ? 2 : 4));
    const label = te.encode("MLS 1.0 GroupInfoTBS");
    const content = new Uint8Array([...varlen(label.length), ...label, ...varlen(tbs.length), ...tbs]);
    const leaves = this._leaves();
    const first = leaves.filter((l) => l.leaf === gi.signer);
    for (const l of [...first, ...leaves.filter((x) => x.leaf !== gi.signer)]) {
      if (l.self) continue;
      if (await this.cs.signature.verify(unb64u(l.sig), content, gi.signature)) return null;
    }
    return "a GroupInfo signed by nobody in our roster";
  }

  /** Asks for the commits we lack; unanswered, asks again with backoff (SYNC_TRIES in all) while still here. */
  _sync(fresh = false) {
    if (this.syncAsked === this.epoch && !fresh) return; // asked already; retries are due (or were all spent)
    this._endSync();
    this.syncAsked = this.epoch;
    this.syncTries = 0;
    this._askSync();
  }

  _askSync() {
    this.syncTries += 1;
    this.counts.syncs_sent += 1;
    this.send({ type: "mls_sync", since: this.epoch });
    const at = this.epoch;
    this._syncTimer = this.timers.setTimeout(() => {
      this._syncTimer = null;
      this._serial(async () => {
        if (this.phase !== "member" || this.epoch !== at || this.syncAsked !== at) return;
        if (this.syncTries < SYNC_TRIES) { this._askSync(); return; }
        // every ask unanswered: stop asking (bounded); a later commit or rejection asks again. A bare claim that
        // we are behind is dropped: nothing came to back it, and our epoch's keys still open the others' frames
        this.log(`mls_sync from epoch ${at}: nothing came after ${SYNC_TRIES} asks`);
        this.syncAsked = null;
        this.suspect = null;
        if (this.staleEpoch === at && this.staleRetried !== at) {
          // a rejection naming a later epoch that no commit backed (a forged one?): commit again, once per epoch,
          // so a lie cannot stop us for good, and a real gap cannot make us re-commit forever
          this.staleRetried = at;
          this.staleEpoch = null;
        }
        this.onChange();
        this._schedule();
      });
    }, SYNC_RETRY_MS * 2 ** (this.syncTries - 1));
  }

  _endSync() {
    if (this._syncTimer) this.timers.clearTimeout(this._syncTimer);
    this._syncTimer = null;
    this.syncAsked = null;
    this.syncTries = 0;
  }

  /** Why we think we are behind the group (amber), or null. */
  behind() {
    if (this.phase !== "member") return null;
    if (this.suspect) return `the node says we missed commits after epoch ${this.epoch}; asking for them`;
    if (this.future.size) return `missing the commit of epoch ${this.epoch}; asking for it`;
    return null;
  }

  /** Joining for long while others are here: the likeliest cause is a wrong or outdated link (no one adds us). */
  notAdded(waitMs = JOIN_WAIT_MS) {
    if (this.phase !== "joining" || this.joiningSince === null || this.clock() - this.joiningSince < waitMs) return false;
    return [...this.present].some((p) => p !== this.me);
  }

  async _onJoinRequest(m) {
    let kp;
    try {
      kp = decode(m.data, "mls_key_package").keyPackage;
    } catch (e) {
      this._refuse("refused_key_packages", `from ${m.from}: ${e.message}`);
      return;
    }
    if (!this.link) return; // a recorder before its handover: it cannot check proofs or add anyone yet
    let attested = false;
    if (typeof m.proof !== "string" || !bytesEqual(unb64uOrEmpty(m.proof),
      unb64u(await keyPackageProof(this.link.proofKey, this.room, m.from, m.data)))) {
      const why = m.attestation === undefined ? "not made with this meeting's link" : await this._attestationRefused(m, kp);
      if (why) {
        this._refuse("refused_key_packages", `from ${m.from}: ${why}`);
        return;
      }
      attested = true; // the tenant's recorder: it gets the handover, sealed to this very KeyPackage
    }
    const id = decodeIdentity(kp.leafNode.credential);
    if (!id || id.participant !== m.from) {
      this._refuse("refused_key_packages", `from ${m.from}: its credential names ${id ? id.participant : "nobody"}`);
      return;
    }
    if (kp.cipherSuite !== CIPHERSUITE && kp.cipherSuite !== 1) {
      this._refuse("refused_key_packages", `from ${m.from}: ciphersuite ${kp.cipherSuite}`);
      return;
    }
    if (id.participant === this.me) {
      this._refuse("refused_key_packages", "a KeyPackage in our own name");
      return;
    }
    this.pendingAdds.set(m.from, { kp, hpke: kp.leafNode.hpkePublicKey, sig: b64u(kp.leafNode.signaturePublicKey),
      handover: attested ? m.data : null });
    const known = this.knownKeys.get(m.from);
    if (known && known !== b64u(kp.leafNode.signaturePublicKey)) {
      this._warn(m.from, "credential_changed", `${id.name || m.from} is joining with a new key`);
    }
    this._schedule();
  }

  /**
   * Null if `m` (a KeyPackage without a link proof) is the tenant's recorder's, attested by its recorder key; else
   * why not. Each check is one row of docs/recording.md's attack table: the link names a recorder key (`r`); our
   * own credential says this meeting may be recorded; the node marks the sender `recorder: true` (from its
   * credential's role); its KeyPackage names that participant; and the attestation is the recorder key's
   * signature over our tenant, our room, that participant and this KeyPackage's leaf signature key — so a node
   * can neither substitute its own KeyPackage nor move an attestation to another room, participant or key.
   */
  async _attestationRefused(m, kp) {
    if (!this.recorderKey) return "an attested KeyPackage, but this link names no recorder key";
    const c = this.credential;
    if (!c || !RECORDING_POLICIES.has(c.recording)) return "an attested KeyPackage, but this meeting is not recorded";
    if (c.room !== undefined && c.room !== this.room) return "an attested KeyPackage, but our credential is for another room";
    if (!this.recorders.has(m.from)) return "an attested KeyPackage from a participant the node does not mark as the recorder";
    const id = decodeIdentity(kp.leafNode.credential);
    if (!id || id.participant !== m.from) return `an attested KeyPackage whose credential names ${id ? id.participant : "nobody"}`;
    if (!(await verifyAttestation(this.cs, this.recorderKey, m.attestation, c.tenant, this.room, m.from,
      kp.leafNode.signaturePublicKey))) return "an attestation that is not the recorder key's for this room, participant and KeyPackage";
    return null;
  }

  /** A recorder's handover (a member sealed the link's secrets to our KeyPackage): kept until a Welcome opens. */
  async _onHandover(m) {
    if (this.link || this.phase !== "joining" || !this.kp) return; // not waiting for one: nothing to learn
    let got;
    try {
      got = await openHandover(this.cs, this.kp.privatePackage.initPrivateKey, this.kpData, this.room, this.me, m.data);
    } catch (e) {
      this._refuse("refused_handovers", `from ${m.from}: ${e.message || "does not open"}`);
      return;
    }
    if (this.handovers.some((h) => bytesEqual(h.psk, got.psk) && bytesEqual(h.groupId, got.groupId))) return;
    if (this.handovers.length >= MAX_HANDOVERS) this.handovers.shift();
    this.handovers.push(got);
    this.log(`handover from ${m.from}: waiting for the Welcome`);
  }

  /** The whole Welcome of an mls_welcome, once all its parts are in (null while some are missing). */
  _welcomeData(m) {
    if (m.parts === undefined || m.parts === 1) return m.data;
    if (!Number.isSafeInteger(m.parts) || m.parts < 1 || m.parts > MAX_WELCOME_PARTS || !Number.isSafeInteger(m.part) ||
        m.part < 0 || m.part >= m.parts || typeof m.data !== "string" || m.data.length > WELCOME_PART_CHARS) {
      this._refuse("refused_welcomes", `from ${m.from}: bad part ${m.part}/${m.parts}`);
      return null;
    }
    const key = `${m.from}/${m.epoch}/${m.parts}`;
    if (!this._parts || this._parts.key !== key) this._parts = { key, got: new Map() };
    this._parts.got.set(m.part, m.data);
    if (this._parts.got.size < m.parts) return null;
    const whole = Array.from({ length: m.parts }, (_, i) => this._parts.got.get(i)).join("");
    this._parts = null;
    return whole;
  }

  async _onWelcome(m) {
    // a joiner's KeyPackage opens it; or the one we had sent when the node said the group was gone, as long as our
    // own group since holds nobody else (nothing is lost by leaving it)
    const alone = this.phase === "creating" || (this.phase === "member" && this._leaves().every((l) => l.self));
    const kp = this.phase === "joining" ? this.kp : alone ? this.waitingKp : null;
    if (!kp) return;
    const data = this._welcomeData(m);
    if (data === null) return;
    // the link's secrets, or (a recorder) each handover in turn: only the real one opens a real member's Welcome,
    // so a bogus handover (anyone who saw our KeyPackage can seal one) cannot keep us out
    const links = this.link ? [this.link] : this.handovers;
    if (!links.length) {
      this._refuse("refused_welcomes", `from ${m.from}: no handover came before it`);
      return;
    }
    let state;
    let link;
    let why = null;
    for (const candidate of links) {
      try {
        const w = decode(data, "mls_welcome").welcome;
        const t0 = performance.now();
        const psks = mls.makePskIndex(undefined, { [mls.bytesToBase64(PSK_ID)]: candidate.psk });
        const s = await mls.joinGroup(w, kp.publicPackage, kp.privatePackage, psks, this.cs);
        this.timing.joinMs = performance.now() - t0;
        if (!bytesEqual(s.groupContext.groupId, candidate.groupId)) { why = "another group than this link's"; continue; }
        state = s;
        link = candidate;
        break;
      } catch (e) {
        why = e.message;
      }
    }
    if (!state) {
      this._refuse("refused_welcomes", `from ${m.from}: ${why}`);
      return;
    }
    const mine = this._leaves(state).find((l) => l.leaf === state.privatePath.leafIndex);
    if (!mine || mine.participant !== this.me || mine.sig !== b64u(this.sigKeys.publicKey)) {
      this._refuse("refused_welcomes", `from ${m.from}: our leaf is not ours`);
      return;
    }
    if (this.phase !== "joining") {
      this.log(`welcomed by ${m.from} for the KeyPackage we had sent: leaving our one-member group`);
      this._leaveGroup();
    }
    this.waitingKp = null;
    if (!this.link) { this.link = link; this.handovers = []; this.log("the handover's secrets opened the Welcome"); }
    this.knownKeys.clear(); // first roster we see: nothing to compare with
    await this._enterEpoch(state, `welcomed by ${m.from}`);
  }

  async _onCommit(m) {
    if (this.phase !== "member" || !Number.isSafeInteger(m.epoch)) return;
    if (m.epoch < this.epoch) return; // applied already (a duplicate, or replayed by the node)
    if (m.epoch > this.epoch) {
      if (this.future.size < MAX_FUTURE_COMMITS && m.epoch <= this.epoch + MAX_FUTURE_COMMITS) this.future.set(m.epoch, m);
      this._sync();
      return;
    }
    if (this.inflight && this.inflight.epoch === m.epoch && m.commit === this.inflight.commit) {
      const { newState, joiners, consumed } = this.inflight; // our own commit, echoed: it won
      this.inflight = null;
      zero(consumed);
      await this._enterEpoch(newState, joiners.length ? `added ${joiners.join(", ")}` : "our commit");
      return;
    }
    if (this.inflight && this.inflight.epoch === m.epoch) {
      this.counts.commits_lost += 1; // another member's commit won this epoch; ours is void
      this.inflight = null;
    }
    await this._applyCommit(m);
    while (this.phase === "member" && this.future.has(this.epoch)) {
      const next = this.future.get(this.epoch);
      this.future.delete(this.epoch);
      await this._applyCommit(next);
    }
    for (const e of [...this.future.keys()]) if (e < this.epoch) this.future.delete(e);
    if (this.phase === "member" && this.future.size) this._sync(); // a gap remains: ask for it
  }

  async _applyCommit(m) {
    let reason = null;
    const verdict = (incoming) => {
      reason = this._judge(incoming);
      return reason ? "reject" : "accept";
    };
    let res;
    try {
      const msg = decode(m.commit, "mls_private_message");
      const t0 = performance.now();
      res = await mls.processPrivateMessage(this.group, msg.privateMessage, this._pskIndex(this.group), this.cs, verdict);
      this.timing.processCommitMs = performance.now() - t0;
    } catch (e) {
      this._refuse("refused_commits", `from ${m.from} at epoch ${m.epoch}: ${e.message}`);
      this._commitWaiting = null; // it was no commit of ours to wait for: our own work may go ahead
      this._schedule();
      return;
    }
    if (res.kind === "newState" && res.actionTaken === "accept" && res.newState.groupActiveState.kind === "removedFromGroup") {
      // checked first: ts-mls keeps a removed member's epoch (it cannot derive the next one), so the epoch test
      // below refused our own removal and left us on the old epoch for good
      zero(res.consumed);
      this.log(`removed from the group by ${m.from}: asking to be added again`);
      await this._askToJoin();
      return;
    }
    if (res.kind !== "newState" || res.actionTaken !== "accept" || toEpoch(res.newState.groupContext.epoch) !== this.epoch + 1) {
      this._refuse("refused_commits", `from ${m.from} at epoch ${m.epoch}: ${reason || "not a commit to the next epoch"}`);
      this._commitWaiting = null;
      this._schedule();
      this.onChange();
      return;
    }
    zero(res.consumed); // the old epoch's keys this commit used up: we move on to its new state
    if (res.newState.groupActiveState.kind !== "active") {
      this.log(`removed from the group by ${m.from}: asking to be added again`);
      await this._askToJoin();
      return;
    }
    await this._enterEpoch(res.newState, `commit from ${m.from}`);
  }

  /** Null to accept an incoming commit, or why it is refused. */
  _judge(incoming) {
    if (incoming.kind !== "commit") return "a standalone proposal";
    if (incoming.senderLeafIndex === undefined) return "not from a member";
    let adds = 0;
    let linkPsk = false;
    for (const { proposal: p } of incoming.proposals) {
      if (p.proposalType === "add") {
        adds += 1;
        if (!decodeIdentity(p.add.keyPackage.leafNode.credential)) return "an add whose credential is not ours";
      } else if (p.proposalType === "psk") {
        const id = p.psk.preSharedKeyId;
        if (id.psktype !== "external" || !bytesEqual(id.pskId, PSK_ID)) return "a PSK that is not the link's";
        linkPsk = true;
      } else if (p.proposalType !== "remove") {
        return `a ${p.proposalType} proposal`;
      }
    }
    if (adds && !linkPsk) return "an add without the link PSK";
    return null;
  }

  async _enterEpoch(state, why) {
    this.group = state;
    this.epoch = toEpoch(state.groupContext.epoch);
    this.phase = "member";
    this.joiningSince = null;
    this.joinRetryMs = JOIN_RETRY_MS;
    this.commitRetries = 0; // a new epoch: the Delivery Service answered someone
    this._endSync();
    this.suspect = null; // we moved on by a commit or Welcome MLS validated
    const leaves = this._leaves(state);
    if (leaves.some((l) => !l.self)) { this.groupResets = 0; this.waitingKp = null; } // in a group with someone
    for (const l of leaves) {
      const was = this.knownKeys.get(l.participant);
      if (was && was !== l.sig && !l.self) this._warn(l.participant, "credential_changed", `${l.name || l.participant} has a new key`);
      this.knownKeys.set(l.participant, l.sig);
    }
    const seen = new Map();
    for (const l of leaves) {
      if (seen.has(l.participant)) this._warn(l.participant, "duplicate", `${l.name || l.participant} is in the group twice`);
      seen.set(l.participant, l);
    }
    for (const [p, a] of this.pendingAdds) {
      if (leaves.some((l) => l.participant === p && bytesEqual(l.hpke, a.hpke))) this.pendingAdds.delete(p);
    }
    const baseKey = await mls.mlsExporter(state.keySchedule.exporterSecret, EXPORTER_LABEL, new Uint8Array(0), NK, this.cs);
    const chatKey = await mls.mlsExporter(state.keySchedule.exporterSecret, CHAT_LABEL, new Uint8Array(0), 16, this.cs);
    this.history.set(this.epoch, { leaves, chatKey });
    for (const e of [...this.history.keys()]) if (e < this.epoch - 1) this.history.delete(e);
    this.log(`epoch ${this.epoch} (${why}): ${leaves.length} member(s)`);
    this.send({ type: "mls_epoch", epoch: this.epoch });
    this.onEpoch({ epoch: this.epoch, baseKey, leaves: leaves.map((l) => [l.leaf, l.participant]), myLeaf: state.privatePath.leafIndex });
    this._trackOutside();
    this.onChange();
    this._schedule();
  }

  _warn(participant, kind, text) {
    this.warnings.set(participant, kind);
    this.onWarning({ participant, kind, text });
  }

  // ------------------------------------------------------------------------------------------ committing

  _leaves(state = this.group) {
    const out = [];
    if (!state) return out;
    const self = state.privatePath ? state.privatePath.leafIndex : -1;
    state.ratchetTree.forEach((node, i) => {
      if (!node || node.nodeType !== "leaf" || i % 2) return;
      const id = decodeIdentity(node.leaf.credential) || { participant: `?${i / 2}`, name: "" };
      out.push({ leaf: i / 2, participant: id.participant, name: id.name, self: i / 2 === self,
        sig: b64u(node.leaf.signaturePublicKey), hpke: node.leaf.hpkePublicKey });
    });
    return out;
  }

  /** The proposals our next commit would carry (removes of absent members, adds of pending joiners). */
  _work() {
    const leaves = this._leaves();
    const removes = new Set();
    const adds = [];
    for (const l of leaves) if (!l.self && !this.present.has(l.participant)) removes.add(l.leaf);
    for (const [p, a] of this.pendingAdds) {
      if (!this.present.has(p)) continue; // added once the node announces it (and it gets a tile)
      const same = leaves.filter((l) => l.participant === p);
      if (same.some((l) => bytesEqual(l.hpke, a.hpke))) { this.pendingAdds.delete(p); continue; }
      if (same.some((l) => l.self)) { this.pendingAdds.delete(p); continue; }
      for (const l of same) removes.add(l.leaf); // a participant's new KeyPackage replaces its old leaf
      adds.push([p, a]);
    }
    return { removes: [...removes], adds };
  }

  /** Our place in line among present members (by leaf index): 0 commits first. */
  _rank() {
    const line = this._leaves().filter((l) => l.self || this.present.has(l.participant)).map((l) => l.leaf).sort((a, b) => a - b);
    return Math.max(0, line.indexOf(this.group.privatePath.leafIndex));
  }

  /** (Re)arms the commit timer for pending work; a timer armed in this epoch is kept, so a storm batches. */
  _schedule() {
    if (this._timer && this._timerEpoch === this.epoch && this.phase === "member" && !this.inflight) return;
    if (this._timer) this.timers.clearTimeout(this._timer);
    this._timer = null;
    if (this.phase !== "member" || this.inflight || this.notMemberEpoch === this.epoch || this._commitWaiting === this.epoch ||
        this.staleEpoch === this.epoch) return; // the room is past our epoch: no commit in it (see _askSync)
    const w = this._work();
    if (!w.removes.length && !w.adds.length) return;
    const delay = COMMIT_BATCH_MS + this._rank() * (RANK_DELAY_MS + RANK_DELAY_PER_MEMBER_MS * this._leaves().length);
    this._timerEpoch = this.epoch;
    this._timer = this.timers.setTimeout(() => {
      this._timer = null;
      this._serial(() => this._commit());
    }, delay);
  }

  async _commit() {
    if (this.phase !== "member" || this.inflight || this._commitWaiting === this.epoch) return;
    const { removes, adds } = this._work();
    if (!removes.length && !adds.length) return;
    const proposals = removes.map((leaf) => ({ proposalType: "remove", remove: { removed: leaf } }));
    for (const [, a] of adds) proposals.push({ proposalType: "add", add: { keyPackage: a.kp } });
    if (adds.length) {
      proposals.push({ proposalType: "psk", psk: { preSharedKeyId: { psktype: "external", pskId: PSK_ID,
        pskNonce: crypto.getRandomValues(new Uint8Array(32)) } } });
    }
    const t0 = performance.now();
    const res = await mls.createCommit({ state: this.group, cipherSuite: this.cs, pskIndex: this._pskIndex(this.group) },
      { extraProposals: proposals, ratchetTreeExtension: true });
    this.timing.createCommitMs = performance.now() - t0;
    // res.consumed are keys of the current epoch's state: zeroed only once our commit wins, since a losing commit
    // leaves us in this state to process the winner (zeroing them here broke exactly that)
    const joiners = adds.map(([p]) => p);
    const msg = { type: "mls_commit", epoch: this.epoch, commit: b64u(mls.encodeMlsMessage(res.commit)), joiners,
      group_info: await this._groupInfo(res.newState) };
    this.inflight = { epoch: this.epoch, newState: res.newState, joiners, commit: msg.commit, consumed: res.consumed };
    const welcome = res.welcome ? b64u(mls.encodeMlsMessage({ welcome: res.welcome, wireformat: "mls_welcome", version: "mls10" })) : null;
    const parts = [];
    const partChars = this.partChars;
    if (welcome && welcome.length <= partChars) msg.welcome = welcome;
    else if (welcome) { // docs/e2ee.md "Large Welcomes": the commit, then its Welcome in parts
      for (let i = 0; i < welcome.length; i += partChars) parts.push(welcome.slice(i, i + partChars));
      msg.welcome_parts = parts.length;
    }
    for (const [p, a] of adds) { // the recorder's handover goes before the commit whose Welcome needs it
      if (!a.handover) continue;
      this.send({ type: "mls_handover", to: p, data: await sealHandover(this.cs, a.kp, a.handover, this.room, p, this.link) });
      this.counts.handovers_sent += 1;
    }
    this.counts.commits_sent += 1;
    this.lastCommit = { epoch: this.epoch, adds: joiners.length, removes: removes.length,
      commitBytes: Math.floor(msg.commit.length * 3 / 4), welcomeBytes: welcome ? Math.floor(welcome.length * 3 / 4) : 0 };
    this.log(`commit in epoch ${this.epoch}: +${joiners.length} -${removes.length}${parts.length ? `, Welcome in ${parts.length} parts` : ""}`);
    this.send(msg);
    parts.forEach((data, index) => this.send({ type: "mls_welcome_part", epoch: msg.epoch, index, data }));
  }

  // ------------------------------------------------------------------------------------------ views

  /** Exactly the MLS roster of the current epoch. */
  roster() {
    return this._leaves().map((l) => ({ leaf: l.leaf, participant: l.participant, name: l.name, self: l.self,
      warning: this.warnings.get(l.participant) || null }));
  }

  /**
   * Who the node says is here but the group does not hold (`joining`, with `outside`: the ones outside for
   * longer than `graceMs`), and who the group holds but the node says left (`leaving`).
   */
  pending(graceMs = OUTSIDE_GRACE_MS) {
    const joining = this._trackOutside();
    const now = this.clock();
    const inRoster = new Set(this._leaves().map((l) => l.participant));
    return { joining, outside: joining.filter((p) => now - this._outsideSince.get(p) >= graceMs),
      leaving: [...inRoster].filter((p) => p !== this.me && !this.present.has(p)) };
  }

  /** Notes since when each participant the node lists has been outside our group; returns them. */
  _trackOutside() {
    const inRoster = new Set(this._leaves().map((l) => l.participant));
    const now = this.clock();
    const joining = [...this.present].filter((p) => !inRoster.has(p) && p !== this.me);
    const since = new Map();
    for (const p of joining) since.set(p, this._outsideSince && this._outsideSince.has(p) ? this._outsideSince.get(p) : now);
    this._outsideSince = since;
    return joining;
  }

  epochAuthenticator() {
    return this.phase === "member" ? this.group.keySchedule.epochAuthenticator : null;
  }

  // ------------------------------------------------------------------------------------------ sealed app data

  /** Seals bytes under the current epoch, signed with our MLS signature key: {e, l, iv, ct, sig}. */
  async seal(bytes) {
    if (this.phase !== "member") throw new Error("not in the meeting's group yet");
    const h = this.history.get(this.epoch);
    const leaf = this.group.privatePath.leafIndex;
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const key = await crypto.subtle.importKey("raw", h.chatKey, "AES-GCM", false, ["encrypt"]);
    const ct = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: te.encode(`${this.epoch}/${leaf}`) }, key, bytes));
    const sig = await this.cs.signature.sign(this.sigKeys.signKey, this._tbs(this.epoch, leaf, iv, ct));
    return { e: this.epoch, l: leaf, iv: b64u(iv), ct: b64u(ct), sig: b64u(sig) };
  }

  _tbs(epoch, leaf, iv, ct) {
    return new Uint8Array([...te.encode(`castellan sealed v1/${epoch}/${leaf}/`), ...iv, ...ct]);
  }

  /** The bytes of a sealed blob from participant `from`, or null (unknown epoch, wrong sender, forged). */
  async open(from, s) {
    return this._serial(async () => {
      try {
        const h = s && this.history.get(s.e);
        const l = h && h.leaves.find((x) => x.leaf === s.l);
        if (!l) { this._refuse("refused_chat", `from ${from}: no key for epoch ${s && s.e}`); return null; }
        if (l.participant !== from) { this._refuse("refused_chat", `from ${from}: sealed by ${l.participant}`); return null; }
        const iv = unb64u(s.iv);
        const ct = unb64u(s.ct);
        if (!(await this.cs.signature.verify(unb64u(l.sig), this._tbs(s.e, s.l, iv, ct), unb64u(s.sig)))) {
          this._refuse("refused_chat", `from ${from}: bad signature`);
          return null;
        }
        const key = await crypto.subtle.importKey("raw", h.chatKey, "AES-GCM", false, ["decrypt"]);
        return new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv, additionalData: te.encode(`${s.e}/${s.l}`) }, key, ct));
      } catch (e) {
        this._refuse("refused_chat", `from ${from}: ${e.message}`);
        return null;
      }
    });
  }

  stop() {
    if (this._timer) this.timers.clearTimeout(this._timer);
    this._timer = null;
    if (this._joinTimer) this.timers.clearTimeout(this._joinTimer);
    this._joinTimer = null;
    if (this._retryTimer) this.timers.clearTimeout(this._retryTimer);
    this._retryTimer = null;
    this._endSync();
    this.phase = "idle";
  }
}
