// The MLS member against the attacks of issue 12, through an in-process Delivery Service that can turn hostile
// (relay.mjs). Each test is an attack that must fail, or a guarantee that must hold.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as mls from "../../signalling/client/vendor/ts-mls.js";
import { Relay } from "./relay.mjs";
import { PSK_ID, b64u, encodeIdentity, keyPackageProof, linkSecrets } from "../../signalling/client/e2ee/link.js";
import { COMMIT_RETRIES, JOIN_WAIT_MS, MAX_GROUP_RESETS, OUTSIDE_GRACE_MS, SYNC_TRIES, cipherSuite } from "../../signalling/client/e2ee/group.js";
import { EXPORTER_LABEL, FrameCrypto, GRACE_MS } from "../../signalling/client/e2ee/sframe.js";
import { SEND_SWITCH_DELAY_MS } from "../../signalling/client/e2ee.js";
import { attestationMessage, openHandover, sealHandover } from "../../signalling/client/e2ee/handover.js";

const VP8 = { kind: "video", codec: "vp8", keyframe: false };

async function meeting(...ids) {
  const r = new Relay();
  for (const id of ids) {
    await r.join(id);
    await r.settle();
  }
  return r;
}

const ids = (roster) => roster.map((x) => x.participant).sort().join(",");

/** A commit made by `entry`'s group state with the given proposals, as the node would relay it. */
async function craftCommit(entry, proposals, pskSecret = null) {
  const cs = await cipherSuite();
  const g = entry.member.group;
  const psks = pskSecret ? { [mls.bytesToBase64(PSK_ID)]: pskSecret } : {};
  const res = await mls.createCommit({ state: g, cipherSuite: cs, pskIndex: mls.makePskIndex(g, psks) }, { extraProposals: proposals, ratchetTreeExtension: true });
  return { type: "mls_commit", from: entry.id, epoch: entry.member.epoch, commit: b64u(mls.encodeMlsMessage(res.commit)), res };
}

async function keyPackage(participant, name = participant) {
  const cs = await cipherSuite();
  return mls.generateKeyPackage({ credentialType: "basic", identity: encodeIdentity(participant, name) }, mls.defaultCapabilities(), mls.defaultLifetime, [], cs);
}

/** The mls_join_request a node relays for `from`, with the link proof made with `secret` (a link holder's). */
async function joinRequest(from, kp, secret) {
  const data = b64u(mls.encodeMlsMessage({ keyPackage: kp.publicPackage, wireformat: "mls_key_package", version: "mls10" }));
  const { proofKey } = await linkSecrets(secret, "room-1");
  return { type: "mls_join_request", from, data, proof: await keyPackageProof(proofKey, "room-1", from, data) };
}

test("three members join and leave: one roster, one epoch, one safety code; every join and leave is a new epoch", async () => {
  const r = await meeting("alice", "bob", "carol");
  const epochs = [...r.members.values()].map((e) => e.e2ee.epoch());
  assert.deepEqual(epochs, [2, 2, 2]);
  const codes = await Promise.all([...r.members.values()].map((e) => e.e2ee.safetyCode()));
  assert.equal(new Set(codes).size, 1);
  for (const e of r.members.values()) assert.equal(ids(e.e2ee.roster()), "alice,bob,carol");
  r.leave("bob");
  await r.settle();
  for (const e of r.members.values()) {
    assert.equal(e.e2ee.epoch(), 3);
    assert.equal(ids(e.e2ee.roster()), "alice,carol");
  }
  const codes2 = await Promise.all([...r.members.values()].map((e) => e.e2ee.safetyCode()));
  assert.equal(new Set(codes2).size, 1);
  assert.notEqual(codes2[0], codes[0]);
  const a = r.members.get("alice").e2ee;
  const f = await a.sealFrame(new Uint8Array(50).fill(9), VP8);
  assert.equal(f.epoch, 3);
  assert.equal((await r.members.get("carol").e2ee.openFrame(f.data, { ...VP8, participant: "alice" })).ok, true);
});

test("alone = a one-member group: its own epoch, nothing from the link; no frame before it", async () => {
  const r = new Relay();
  r.intercept = (from, msg) => (msg.type === "mls_create" ? null : msg); // the node never answers mls_create
  const a = await r.join("alice");
  await r.settle();
  assert.equal(a.e2ee.epoch(), null);
  assert.equal(a.e2ee.status().state, "amber");
  assert.equal(await a.e2ee.sealFrame(new Uint8Array(20), VP8), null, "no media before an epoch");
  r.intercept = null;
  a.e2ee.handle({ type: "mls_created", epoch: 0 });
  await r.settle();
  assert.equal(a.e2ee.epoch(), 0);
  assert.equal(ids(a.e2ee.roster()), "alice");
  const link = await linkSecrets(r.secret, "room-1");
  const linkOnly = new FrameCrypto(); // what anyone holding the link could derive: not the epoch's key
  linkOnly.setEpoch({ epoch: 0, baseKey: link.psk.slice(0, 16), leaves: [[0, "alice"]], myLeaf: 1 });
  const f = await a.e2ee.sealFrame(new Uint8Array(20).fill(3), VP8);
  assert.equal((await linkOnly.decrypt(f.data, { ...VP8, participant: "alice" })).ok, false);
});

test("a commit that adds without the link PSK is refused", async () => {
  const r = await meeting("alice", "bob");
  const kp = await keyPackage("eve");
  const forged = await craftCommit(r.members.get("alice"), [{ proposalType: "add", add: { keyPackage: kp.publicPackage } }]);
  const bob = r.members.get("bob");
  await bob.e2ee.handle(forged);
  assert.equal(bob.e2ee.epoch(), 1);
  assert.equal(ids(bob.e2ee.roster()), "alice,bob");
  assert.equal(bob.member.counts.refused_commits, 1);
  assert.match(bob.member.lastRefusal, /without the link PSK/);
});

test("a commit whose PSK is not the link's is refused", async () => {
  const r = await meeting("alice", "bob");
  const kp = await keyPackage("eve");
  const other = crypto.getRandomValues(new Uint8Array(32));
  const cs = await cipherSuite();
  const g = r.members.get("alice").member.group;
  const res = await mls.createCommit({ state: g, cipherSuite: cs, pskIndex: mls.makePskIndex(g, { [mls.bytesToBase64(new Uint8Array([1, 2, 3]))]: other }) }, {
    extraProposals: [{ proposalType: "add", add: { keyPackage: kp.publicPackage } },
      { proposalType: "psk", psk: { preSharedKeyId: { psktype: "external", pskId: new Uint8Array([1, 2, 3]), pskNonce: new Uint8Array(32) } } }],
  });
  const bob = r.members.get("bob");
  await bob.e2ee.handle({ type: "mls_commit", from: "alice", epoch: 1, commit: b64u(mls.encodeMlsMessage(res.commit)) });
  assert.equal(bob.e2ee.epoch(), 1);
  assert.equal(bob.member.counts.refused_commits, 1);
});

test("a Welcome for another group id is refused, even with the link PSK", async () => {
  const r = await meeting("alice");
  // a former invitee (it has the link, so the PSK) makes its own group and welcomes the next joiner into it
  const cs = await cipherSuite();
  const link = await linkSecrets(r.secret, "room-1");
  const mal = await keyPackage("mallory");
  let g = await mls.createGroup(crypto.getRandomValues(new Uint8Array(32)), mal.publicPackage, mal.privatePackage, [], cs);
  r.intercept = (from, msg) => {
    if (msg.type === "mls_key_package" && from === "bob") {
      (async () => {
        const kp = mls.decodeMlsMessage(Uint8Array.from(Buffer.from(msg.data, "base64url")), 0)[0].keyPackage;
        const res = await mls.createCommit({ state: g, cipherSuite: cs, pskIndex: mls.makePskIndex(g, { [mls.bytesToBase64(PSK_ID)]: link.psk }) }, {
          extraProposals: [{ proposalType: "add", add: { keyPackage: kp } },
            { proposalType: "psk", psk: { preSharedKeyId: { psktype: "external", pskId: PSK_ID, pskNonce: new Uint8Array(32) } } }],
          ratchetTreeExtension: true });
        g = res.newState;
        r.deliver("bob", { type: "mls_welcome", from: "mallory", epoch: 1, data: b64u(mls.encodeMlsMessage({ welcome: res.welcome, wireformat: "mls_welcome", version: "mls10" })) });
      })();
      return null; // and alice never hears of bob's KeyPackage
    }
    return msg;
  };
  const bob = await r.join("bob");
  await r.settle();
  for (const end = Date.now() + 10000; bob.member.counts.refused_welcomes === 0 && Date.now() < end;) { // the forged
    await new Promise((res) => setTimeout(res, 20)); // Welcome is made asynchronously: wait for it, with a deadline
    await r.settle();
  }
  assert.equal(bob.e2ee.epoch(), null);
  assert.equal(bob.member.counts.refused_welcomes, 1);
  assert.match(bob.member.lastRefusal, /another group/);
});

test("commits at a far-future epoch, or an old commit replayed as the current one, move nobody", async () => {
  const r = await meeting("alice", "bob", "carol");
  const bob = r.members.get("bob");
  const old = r.commits[0];
  for (const epoch of [2 ** 53, 2 ** 53 + 2, 1e6, 3, 40]) {
    await bob.e2ee.handle({ type: "mls_commit", from: "alice", epoch, commit: old.commit });
  }
  await bob.e2ee.handle({ type: "mls_commit", from: "alice", epoch: 2, commit: old.commit }); // epoch 0's commit, relabelled
  await r.idle();
  assert.equal(bob.e2ee.epoch(), 2);
  assert.equal(ids(bob.e2ee.roster()), "alice,bob,carol");
  assert.ok(bob.member.counts.refused_commits >= 1);
  const f = await r.members.get("alice").e2ee.sealFrame(new Uint8Array(30), VP8);
  assert.equal((await bob.e2ee.openFrame(f.data, { ...VP8, participant: "alice" })).ok, true, "still in the meeting's epoch");
});

test("a known participant's KeyPackage with a new key: warned, and its old leaf is replaced", async () => {
  const r = await meeting("alice", "bob", "carol");
  const kp = await keyPackage("carol", "Carol (impostor?)");
  const req = await joinRequest("carol", kp, r.secret); // a link holder's new KeyPackage in carol's name
  for (const id of ["alice", "bob"]) r.deliver(id, req);
  await r.settle();
  for (const id of ["alice", "bob"]) {
    const e = r.members.get(id);
    assert.ok(e.warnings.some((w) => w.participant === "carol" && w.kind === "credential_changed"), `${id} warned`);
    const carol = e.e2ee.roster().filter((x) => x.participant === "carol");
    assert.equal(carol.length, 1, "one leaf per participant");
    assert.equal(carol[0].warning, "credential_changed");
    assert.equal(carol[0].name, "Carol (impostor?)");
  }
});

test("a KeyPackage whose credential names someone else than its sender is refused", async () => {
  const r = await meeting("alice", "bob");
  const kp = await keyPackage("bob");
  await r.members.get("alice").e2ee.handle(await joinRequest("ghost", kp, r.secret));
  assert.equal(r.members.get("alice").member.counts.refused_key_packages, 1);
  assert.match(r.members.get("alice").member.lastRefusal, /credential names bob/);
});

test("a departed member's saved state cannot decrypt frames sealed after its removal commit", async () => {
  const r = await meeting("alice", "bob", "carol");
  const bob = r.members.get("bob");
  const saved = mls.encodeGroupState(bob.member.group);
  const bobFrames = bob.e2ee.frames;
  r.leave("bob");
  await r.settle();
  r.timers.advance(1000); // >= 1 s after the removal commit
  const alice = r.members.get("alice").e2ee;
  assert.equal(alice.epoch(), 3);
  const frames = [];
  for (let i = 0; i < 5; i++) frames.push(await alice.sealFrame(new Uint8Array(80).fill(i), VP8));
  assert.ok(frames.every((f) => f.epoch === 3));
  for (const f of frames) assert.equal((await bobFrames.decrypt(f.data, { ...VP8, participant: "alice" })).ok, false);
  // the saved state, restored, fed the removal commit the node captured, then asked for keys
  const cs = await cipherSuite();
  let state = { ...mls.decodeGroupState(saved, 0)[0], clientConfig: bob.member.group.clientConfig };
  const removal = r.commits.at(-1);
  try {
    const res = await mls.processPrivateMessage(state, mls.decodeMlsMessage(Uint8Array.from(Buffer.from(removal.commit, "base64url")), 0)[0].privateMessage,
      mls.makePskIndex(state, {}), cs);
    state = res.newState;
  } catch (e) { /* refused outright: just as good */ }
  const base = await mls.mlsExporter(state.keySchedule.exporterSecret, EXPORTER_LABEL, new Uint8Array(0), 16, cs);
  const thief = new FrameCrypto();
  thief.setEpoch({ epoch: 3, baseKey: base, leaves: [[0, "alice"], [2, "carol"]], myLeaf: 1 });
  for (const f of frames) assert.equal((await thief.decrypt(f.data, { ...VP8, participant: "alice" })).ok, false);
});

test("the previous epoch's keys are dropped after the grace; senders switch shortly after a commit", async () => {
  const r = await meeting("alice", "bob");
  const alice = r.members.get("alice").e2ee;
  const bob = r.members.get("bob").e2ee;
  r.timers.advance(GRACE_MS + 1000);
  const before = await alice.sealFrame(new Uint8Array(30).fill(1), VP8);
  assert.equal(before.epoch, 1);
  await r.join("carol");
  await r.idle();
  r.timers.advance(COMMIT_BATCH_MS_PLUS);
  await r.idle();
  assert.equal(bob.epoch(), 2);
  assert.deepEqual(bob.frames.heldEpochs(), [1, 2], "previous epoch kept during the grace");
  assert.equal((await bob.openFrame(before.data, { ...VP8, participant: "alice" })).ok, true);
  r.timers.advance(SEND_SWITCH_DELAY_MS);
  assert.equal((await alice.sealFrame(new Uint8Array(30), VP8)).epoch, 2, "sending under the new epoch");
  r.timers.advance(GRACE_MS);
  await r.settle();
  assert.deepEqual(bob.frames.heldEpochs(), [2], "old keys gone");
  const replay = await alice.sealFrame(new Uint8Array(30), VP8);
  assert.equal(replay.epoch, 2);
  assert.equal((await bob.openFrame(before.data, { ...VP8, participant: "alice" })).reason, "no_key", "epoch 1 frames no longer open");
});
const COMMIT_BATCH_MS_PLUS = 200;

test("a replayed frame is refused by the window", async () => {
  const r = await meeting("alice", "bob");
  const f = await r.members.get("alice").e2ee.sealFrame(new Uint8Array(30), VP8);
  const bob = r.members.get("bob").e2ee;
  assert.equal((await bob.openFrame(f.data, { ...VP8, participant: "alice" })).ok, true);
  assert.equal((await bob.openFrame(f.data, { ...VP8, participant: "alice" })).reason, "replay");
});

test("join storm: KeyPackages arriving together are added by one commit", async () => {
  const r = await meeting("alice", "bob");
  const before = r.commits.length;
  const joiners = Array.from({ length: 12 }, (_, i) => `j${i}`);
  for (const j of joiners) await r.join(j);
  await r.settle();
  assert.equal(r.commits.length - before, 1, "one commit for all of them");
  const all = ["alice", "bob", ...joiners].sort().join(",");
  for (const e of r.members.values()) {
    assert.equal(ids(e.e2ee.roster()), all);
    assert.equal(e.e2ee.epoch(), 2);
  }
});

test("the committer vanishes without a word: the next member in line commits instead", async () => {
  const r = await meeting("alice", "bob");
  const alice = r.members.get("alice");
  alice.e2ee.stop(); // its tab froze: the node still lists it, it commits nothing
  alice.frozen = true;
  await r.join("carol");
  await r.settle();
  const bob = r.members.get("bob").e2ee;
  assert.equal(ids(bob.roster()), "alice,bob,carol");
  assert.equal(r.commits.at(-1).from, "bob");
});

test("two commits for one epoch: one wins, the loser applies the winner and retries what is still needed", async () => {
  const r = await meeting("alice", "bob", "carol");
  // both alice and bob commit at once (bob thinks alice is gone), carol leaves and dave joins meanwhile
  r.deliver("bob", { type: "participant_left", participant: "alice" });
  r.members.get("bob").member.present.add("alice"); // the node recants: alice is back
  await r.join("dave");
  r.leave("carol");
  await r.settle();
  const rosters = [...r.members.values()].map((e) => ids(e.e2ee.roster()));
  assert.deepEqual(new Set(rosters), new Set(["alice,bob,dave"]));
  const epochs = new Set([...r.members.values()].map((e) => e.e2ee.epoch()));
  assert.equal(epochs.size, 1);
});

test("chat: sealed under the epoch and signed; a blob relayed under another sender's name opens to nothing", async () => {
  const r = await meeting("alice", "bob", "carol");
  const blob = await r.members.get("bob").e2ee.sealChat("hello");
  const carol = r.members.get("carol").e2ee;
  assert.deepEqual(await carol.openChat("bob", blob), { text: "hello" });
  assert.deepEqual(await carol.openChat("alice", blob), { text: null });
  const tampered = JSON.parse(blob);
  tampered.sealed.ct = tampered.sealed.ct.slice(0, -2) + (tampered.sealed.ct.endsWith("AA") ? "BA" : "AA");
  assert.deepEqual(await carol.openChat("bob", JSON.stringify(tampered)), { text: null });
  assert.deepEqual(await carol.openChat("bob", "not json"), { text: null });
});

test("a Welcome too large for one node frame travels in parts and still opens (and a bad part is refused)", async () => {
  const r = await meeting("alice");
  const joiners = Array.from({ length: 40 }, (_, i) => `j${i}`);
  for (const e of r.members.values()) e.member.partChars = 2048; // a small limit: the same code path as at ~600 members
  for (const j of joiners) await r.join(j);
  await r.settle();
  assert.ok(r.sent.some((s) => s.msg.type === "mls_welcome_part"), "sent in parts");
  for (const j of joiners) assert.equal(r.members.get(j).e2ee.epoch(), 1);
  const j0 = r.members.get("j0");
  j0.member.phase = "joining"; // a later bogus part: refused, counted, no crash
  await j0.e2ee.handle({ type: "mls_welcome", from: "alice", epoch: 9, data: "AAAA", part: 7, parts: 3 });
  assert.equal(j0.member.counts.refused_welcomes, 1);
});

test("the node tells a joiner it is alone: it gets a group of its own and its lock says so; the others list it outside", async () => {
  const r = await meeting("alice", "bob");
  r.intercept = (from, msg) => {
    if (from === "eve-victim" && msg.type === "mls_create") { r.deliver(from, { type: "mls_created", epoch: 0 }); return null; }
    return msg;
  };
  const v = await r.join("eve-victim", "Victim", { claimAlone: true });
  await r.settle();
  assert.equal(v.e2ee.epoch(), 0);
  assert.equal(ids(v.e2ee.roster()), "eve-victim", "its roster says the truth: nobody else is in its group");
  const alice = r.members.get("alice").e2ee;
  assert.equal(ids(alice.roster()), "alice,bob");
  r.timers.advance(6000);
  assert.equal(v.e2ee.status().state, "amber", "the one kept out of the group is told");
  assert.match(v.e2ee.status().reason, /not in the encrypted group: alice, bob/);
  // the members' lock stays green (eve-victim cannot read them); its tile says it is not in the encrypted group
  assert.equal(alice.status().state, "green");
  assert.deepEqual(alice.status().outside, ["eve-victim"]);
  assert.notEqual(await v.e2ee.safetyCode(), await alice.safetyCode());
  const f = await alice.sealFrame(new Uint8Array(30), VP8);
  assert.equal((await v.e2ee.openFrame(f.data, { ...VP8, participant: "alice" })).ok, false);
});

test("a node that echoes a member's own commit back to it: the commit still counts as won", async () => {
  const r = new Relay();
  r.echo = true;
  for (const id of ["alice", "bob", "carol"]) { await r.join(id); await r.settle(); }
  for (const e of r.members.values()) assert.equal(e.e2ee.epoch(), 2);
  assert.equal(r.members.get("alice").member.counts.refused_commits, 0);
});

test("presence in batches (protocol 2): a burst of joins is added by one commit, in order, as with single changes", async () => {
  const r = await meeting("alice", "bob");
  r.batch = [];
  const before = r.commits.length;
  const joiners = Array.from({ length: 12 }, (_, i) => `j${i}`);
  for (const j of joiners) await r.join(j);
  r.flushPresence();
  await r.settle();
  assert.equal(r.commits.length - before, 1, "one commit for all of them");
  const all = ["alice", "bob", ...joiners].sort().join(",");
  for (const e of r.members.values()) {
    assert.equal(ids(e.e2ee.roster()), all);
    assert.equal(e.e2ee.epoch(), 2);
    assert.ok(!e.member.present.has(e.id), "a member counted its own join as someone present");
  }
});

test("presence in batches: a join then leave in one batch adds nobody; a leave then join of one id ends present", async () => {
  const r = await meeting("alice", "bob");
  const a = r.members.get("alice").e2ee;
  const joined = (id) => ({ type: "participant_joined", participant: { id, name: id } });
  assert.equal(await a.handle({ type: "presence", changes: [joined("ghost"), { type: "participant_left", participant: "ghost" }] }), false);
  assert.ok(!r.members.get("alice").member.present.has("ghost"));
  await a.handle({ type: "presence", changes: [{ type: "participant_left", participant: "bob" }, joined("bob")] });
  assert.ok(r.members.get("alice").member.present.has("bob"), "the last change about bob is his join");
  for (const m of [{ type: "presence" }, { type: "presence", changes: "x" }, { type: "presence", changes: [null, 5, {}, { type: "mls_commit", epoch: 0 }] },
    { type: "presence", changes: [{ type: "participant_joined", participant: { id: 7 } }, { type: "participant_left", participant: { id: "bob" } }] }]) {
    assert.equal(await a.handle(m), false);
  }
  assert.ok(r.members.get("alice").member.present.has("bob"));
  await r.settle();
  assert.equal(a.epoch(), 1, "nothing in those batches made a commit");
  assert.equal(ids(a.roster()), "alice,bob");
});

test("participant_joined / participant_left are observed, not consumed; unknown or malformed messages do not crash", async () => {
  const r = await meeting("alice");
  const a = r.members.get("alice").e2ee;
  assert.equal(await a.handle({ type: "participant_joined", participant: { id: "x", name: "X" } }), false);
  assert.equal(await a.handle({ type: "participant_left", participant: "x" }), false);
  assert.equal(await a.handle({ type: "chat", from: "x", data: "" }), false);
  for (const m of [{ type: "mls_commit" }, { type: "mls_commit", epoch: 0, commit: 5 }, { type: "mls_welcome", data: "!!" },
    { type: "mls_join_request", from: "x", data: "AAAA" }, { type: "mls_commit", epoch: 0, commit: "A".repeat(5_000_000) }, { type: "mls_bogus" }, null]) {
    assert.equal(await a.handle(m), m !== null);
  }
  await r.settle();
  assert.equal(a.epoch(), 0);
});

test("not_member: the refused committer does not retry in that epoch; the next member in line commits", async () => {
  const r = await meeting("alice", "bob");
  r.notMembers = new Set(["alice"]);
  const byAlice = () => r.sent.filter((s) => s.from === "alice" && s.msg.type === "mls_commit").length;
  const before = byAlice();
  await r.join("carol");
  await r.settle();
  assert.equal(byAlice() - before, 1, "alice tried once");
  assert.equal(r.commits.at(-1).from, "bob");
  for (const e of r.members.values()) {
    assert.equal(ids(e.e2ee.roster()), "alice,bob,carol");
    assert.equal(e.member.counts.refused_commits, 0, "the loser of an epoch still processes the winner");
  }
});

test("mls_resync with epoch null: the group is gone, the joiners make a new one (first mls_create wins)", async () => {
  const r = await meeting("alice");
  r.intercept = (from, msg) => (msg.type === "mls_key_package" ? null : msg); // alice leaves before adding anyone
  await r.join("bob");
  await r.join("carol");
  await r.idle();
  r.leave("alice");
  r.epoch = null; // the honest node: its last member left while others wait, so the room has no group any more
  r.commits = [];
  r.intercept = null;
  r.broadcast({ type: "mls_resync", epoch: null });
  await r.settle();
  for (const e of r.members.values()) {
    assert.equal(e.e2ee.epoch(), 1);
    assert.equal(ids(e.e2ee.roster()), "bob,carol");
    assert.equal(e.member.counts.refused_resyncs, 0);
  }
});

test("a forged mls_resync with epoch null makes no member of a shared group drop it", async () => {
  const r = await meeting("alice", "bob", "carol");
  const code = await r.members.get("alice").e2ee.safetyCode();
  const sentBefore = r.sent.length;
  r.broadcast({ type: "mls_resync", epoch: null }); // the node lies: the group is alive and it counts all three
  await r.settle();
  assert.deepEqual(r.sent.slice(sentBefore).filter((s) => ["mls_create", "mls_key_package"].includes(s.msg.type)), [],
    "nobody made a group or asked to be added");
  for (const e of r.members.values()) {
    assert.equal(e.e2ee.epoch(), 2, `${e.id} kept its epoch`);
    assert.equal(ids(e.e2ee.roster()), "alice,bob,carol");
    assert.equal(await e.e2ee.safetyCode(), code);
    assert.equal(e.member.counts.refused_resyncs, 1);
    assert.match(e.member.lastRefusal, /"no group", but ours has 2 other member/);
  }
  const f = await r.members.get("alice").e2ee.sealFrame(new Uint8Array(30), VP8);
  assert.equal((await r.members.get("carol").e2ee.openFrame(f.data, { ...VP8, participant: "alice" })).ok, true);
});

test("told the group is gone while its KeyPackage is out, a joiner still takes the Welcome that adds it", async () => {
  const r = await meeting("alice", "bob");
  // the node tells carol, just after forwarding her KeyPackage, that there is no group; and says her group won
  r.intercept = (from, msg) => {
    if (from === "carol" && msg.type === "mls_create") { r.deliver(from, { type: "mls_created", epoch: 0 }); return null; }
    return msg;
  };
  await r.join("carol");
  r.deliver("carol", { type: "mls_resync", epoch: null });
  await r.settle();
  const carol = r.members.get("carol");
  assert.equal(carol.member.counts.group_resets, 1, "she acted on it: a one-member group while she waited");
  for (const e of r.members.values()) {
    assert.equal(ids(e.e2ee.roster()), "alice,bob,carol", `${e.id}'s roster`);
    assert.equal(e.e2ee.epoch(), 2);
  }
  const f = await r.members.get("alice").e2ee.sealFrame(new Uint8Array(30), VP8);
  assert.equal((await carol.e2ee.openFrame(f.data, { ...VP8, participant: "alice" })).ok, true);
});

test("a node repeating \"no group\" to someone alone is obeyed a bounded number of times, then refused and counted", async () => {
  const r = new Relay();
  r.intercept = (from, msg) => { // the node answers every mls_create itself: "you won"
    if (msg.type === "mls_create") { r.deliver(from, { type: "mls_created", epoch: 0 }); return null; }
    return msg;
  };
  const v = await r.join("victim", "Victim", { claimAlone: true });
  await r.settle();
  for (let i = 0; i < 10; i++) {
    r.deliver("victim", { type: "mls_resync", epoch: null });
    await r.idle();
  }
  await r.settle();
  const creates = r.sent.filter((s) => s.msg.type === "mls_create").length;
  assert.equal(creates, 1 + MAX_GROUP_RESETS, "its first group, then one per reset acted on");
  assert.equal(v.member.counts.group_resets, MAX_GROUP_RESETS);
  assert.equal(v.member.counts.refused_resyncs, 10 - MAX_GROUP_RESETS);
  assert.equal(v.e2ee.epoch(), 0);
  assert.equal(ids(v.e2ee.roster()), "victim");
});

test("a member that has received a commit for its epoch makes no rival commit, and a refused one does not block it", async () => {
  const r = await meeting("alice", "bob");
  const bob = r.members.get("bob");
  bob.e2ee.handle({ type: "participant_joined", participant: { id: "zed", name: "Z" } });
  bob.e2ee.handle(await joinRequest("zed", await keyPackage("zed"), r.secret));
  await r.idle();
  assert.ok(bob.member._timer, "bob has work and a timer");
  await bob.e2ee.handle({ type: "mls_commit", from: "alice", epoch: 1, commit: r.commits[0].commit }); // garbage for epoch 1
  await r.idle();
  assert.equal(bob.member.counts.refused_commits, 1);
  assert.ok(bob.member._timer, "a refused commit re-arms bob's own work");
});

// ---------------------------------------------------------------------------------------------- resync and sync

/** A GroupInfo of `state` signed with its own key (a member's, or an outsider's own group's). */
async function groupInfoOf(state) {
  const cs = await cipherSuite();
  const gi = await mls.createGroupInfoWithExternalPub(state, [], cs);
  return b64u(mls.encodeMlsMessage({ groupInfo: gi, wireformat: "mls_group_info", version: "mls10" }));
}

test("a forged mls_resync (the node's word, or evidence it cannot have) makes no member drop the group", async () => {
  const r = await meeting("alice", "bob", "carol");
  const code = await r.members.get("alice").e2ee.safetyCode();
  const kpsBefore = r.sent.filter((s) => s.msg.type === "mls_key_package").length;
  // a former invitee (it has the link, so the group id) makes a group of its own at a later epoch and signs it
  const cs = await cipherSuite();
  const link = await linkSecrets(r.secret, "room-1");
  const mal = await keyPackage("mallory");
  let g = await mls.createGroup(link.groupId, mal.publicPackage, mal.privatePackage, [], cs);
  for (let i = 0; i < 4; i++) g = (await mls.createCommit({ state: g, cipherSuite: cs })).newState;
  const outsider = await groupInfoOf(g);
  const current = r.groupInfo; // a real GroupInfo, signed by a member, of the epoch we are all in
  const forged = [{ type: "mls_resync", epoch: 9 }, { type: "mls_resync", epoch: 3, group_info: "AAAA" },
    { type: "mls_resync", epoch: 4, group_info: outsider }, { type: "mls_resync", epoch: 3, group_info: current }];
  for (const m of forged) r.broadcast(m);
  await r.idle();
  for (const e of r.members.values()) {
    assert.equal(e.e2ee.epoch(), 2, `${e.id} kept its epoch`);
    assert.equal(ids(e.e2ee.roster()), "alice,bob,carol");
    assert.equal(e.member.counts.refused_resyncs, forged.length);
    assert.equal(e.e2ee.status().state, "amber", "while it asks the node for what it may have missed");
    assert.match(e.e2ee.status().reason, /missed commits/);
  }
  assert.match(r.members.get("bob").member.lastRefusal, /not ahead of ours/);
  assert.equal(r.sent.filter((s) => s.msg.type === "mls_key_package").length, kpsBefore, "nobody asked to be added again");
  await r.settle(); // the sync is answered with nothing new, and retried until its bound: then back to green
  for (const e of r.members.values()) {
    assert.equal(e.e2ee.epoch(), 2);
    assert.equal(await e.e2ee.safetyCode(), code);
  }
  r.timers.advance(SEND_SWITCH_DELAY_MS);
  assert.equal(r.members.get("bob").e2ee.status().state, "green");
  const f = await r.members.get("alice").e2ee.sealFrame(new Uint8Array(30), VP8);
  assert.equal((await r.members.get("bob").e2ee.openFrame(f.data, { ...VP8, participant: "alice" })).ok, true);
});

test("a member whose missed commits are gone rejoins on a later GroupInfo a member signed (the honest resync)", async () => {
  const r = await meeting("alice", "bob");
  const bob = r.members.get("bob");
  bob.frozen = true; // bob's socket is stalled: it misses carol's and dave's adds
  await r.join("carol");
  await r.settle();
  await r.join("dave");
  await r.settle();
  bob.frozen = false;
  assert.equal(bob.e2ee.epoch(), 1);
  r.commits = []; // and the node no longer keeps them
  await bob.e2ee.resumed({ participants: ["alice", "carol", "dave"].map((id) => ({ id })) }); // its socket is back
  r.deliver("bob", { type: "mls_resync", epoch: r.epoch, group_info: r.groupInfo });
  await r.settle();
  for (const e of r.members.values()) assert.equal(ids(e.e2ee.roster()), "alice,bob,carol,dave");
  assert.equal(new Set([...r.members.values()].map((e) => e.e2ee.epoch())).size, 1);
  assert.equal(bob.member.counts.refused_resyncs, 0);
});

test("a dropped mls_sync answer is asked again with backoff, a bounded number of times", async () => {
  const r = await meeting("alice", "bob");
  const bob = r.members.get("bob");
  let withheld = 0;
  bob.drop = (m) => m.type === "mls_commit" && withheld++ === 0; // the node withholds epoch 1's commit from bob
  let dropped = 0;
  r.intercept = (from, msg) => (msg.type === "mls_sync" && dropped < 2 ? (dropped++, null) : msg); // and loses two syncs
  await r.join("carol");
  await r.join("dave"); // bob sees epoch 2's commit: ahead of it, so it asks for epoch 1's
  await r.settle();
  assert.equal(dropped, 2);
  assert.equal(bob.e2ee.epoch(), r.members.get("alice").e2ee.epoch());
  assert.ok(bob.member.counts.syncs_sent >= 3, "asked again after each lost answer");
  assert.equal(ids(bob.e2ee.roster()), "alice,bob,carol,dave");
  // a node that never answers: bob asks SYNC_TRIES times in all, then stops
  r.intercept = (from, msg) => (msg.type === "mls_sync" || (msg.type === "mls_key_package" && from === "erin") ? null : msg);
  bob.drop = (m) => m.type === "mls_commit";
  r.leave("dave");
  await r.settle();
  bob.drop = null;
  const before = bob.member.counts.syncs_sent;
  r.deliver("bob", { type: "mls_commit", from: "alice", epoch: 9, commit: r.commits.at(-1).commit });
  await r.settle();
  // one round of asks; then (nothing backed the gap) one more commit in its epoch, refused as stale, one more round
  const asked = bob.member.counts.syncs_sent - before;
  assert.ok(asked >= SYNC_TRIES && asked <= 2 * SYNC_TRIES, `asked ${asked} times`);
  assert.equal(r.timers.pending(), 0, "no timer left: the retries are bounded");
});

// ---------------------------------------------------------------------------------------------- the link proof

test("a joiner with a wrong link is never added to any roster, and is told", async () => {
  const r = await meeting("alice", "bob");
  const wrong = crypto.getRandomValues(new Uint8Array(32)); // an outdated or mistyped link
  const m = await r.join("mallory", "Mallory", { secret: wrong });
  await r.settle();
  r.timers.advance(JOIN_WAIT_MS);
  for (const id of ["alice", "bob"]) {
    const e = r.members.get(id);
    assert.equal(ids(e.e2ee.roster()), "alice,bob", `${id}'s roster`);
    assert.equal(e.e2ee.epoch(), 1, "no commit added anyone");
    assert.equal(e.member.counts.refused_key_packages, 1);
    assert.match(e.member.lastRefusal, /not made with this meeting's link/);
    assert.deepEqual(e.e2ee.status().outside, ["mallory"], "shown as not in the encrypted group");
  }
  assert.equal(m.e2ee.status().state, "amber");
  assert.match(m.e2ee.status().reason, /link may be wrong or outdated/);
  // a node moving a real joiner's proof to another KeyPackage, or to another participant, gets nowhere either
  const real = r.sent.filter((s) => s.msg.type === "mls_key_package" && s.from === "bob").at(-1).msg;
  const other = await joinRequest("mallory", await keyPackage("mallory"), wrong);
  r.deliver("alice", { ...other, proof: real.proof });
  r.deliver("alice", { type: "mls_join_request", from: "mallory", data: real.data, proof: real.proof });
  r.deliver("alice", { type: "mls_join_request", from: "mallory", data: other.data }); // no proof at all
  await r.settle();
  assert.equal(ids(r.members.get("alice").e2ee.roster()), "alice,bob");
  assert.equal(r.members.get("alice").member.counts.refused_key_packages, 4);
});

test("members of a group keep green while the node lists someone outside it; a member alone turns amber", async () => {
  const r = await meeting("alice", "bob");
  r.intercept = (from, msg) => (from === "zed" && msg.type === "mls_key_package" ? null : msg); // zed is never added
  const z = await r.join("zed");
  await r.settle();
  r.timers.advance(OUTSIDE_GRACE_MS + SEND_SWITCH_DELAY_MS);
  const alice = r.members.get("alice").e2ee;
  assert.deepEqual(alice.status().outside, ["zed"]);
  assert.equal(alice.status().state, "green", "zed cannot read us; its tile says it is not in the group");
  assert.equal(z.e2ee.status().state, "amber");
  r.leave("alice");
  r.leave("bob");
  const s = new Relay(); // a member alone in its group while the node lists others: it is the one kept out
  const a = await s.join("ann");
  await s.settle();
  a.e2ee.handle({ type: "participant_joined", participant: { id: "ben", name: "Ben" } });
  await s.idle();
  s.timers.advance(OUTSIDE_GRACE_MS + 1);
  assert.equal(a.e2ee.status().state, "amber");
  assert.match(a.e2ee.status().reason, /not in the encrypted group: ben/);
});

test("a forged rejection naming a huge epoch pauses commits only while the member asks; a later join still lands", async () => {
  const r = await meeting("alice", "bob");
  for (const id of ["alice", "bob"]) {
    r.deliver(id, { type: "mls_commit_rejected", epoch: 2 ** 53 - 1, reason: "stale_epoch" });
    r.deliver(id, { type: "mls_commit_rejected", epoch: 3, reason: "stale_epoch" }); // a plausible lie too
  }
  await r.idle();
  await r.join("carol");
  await r.settle(); // the sync is answered with nothing; after its bounded retries the committer commits again
  for (const e of r.members.values()) {
    assert.equal(ids(e.e2ee.roster()), "alice,bob,carol");
    assert.equal(e.e2ee.epoch(), 2);
  }
});

test("a member removed by a commit while it is still here asks to be added again, and is (no refusal)", async () => {
  // a cascaded meeting whose link dropped for a moment (sfu/cascade/handshakes.py): the home's member saw bob
  // leave and committed his removal, and bob is back before it reached him. Before the fix, bob refused his own
  // removal ("not a commit to the next epoch": ts-mls keeps a removed member's epoch) and sat on the old epoch.
  const r = await meeting("alice", "bob");
  const bob = r.members.get("bob");
  r.deliver("alice", { type: "presence", changes: [{ type: "participant_left", participant: "bob", reason: "relay_closed" }] });
  await r.settle();
  assert.equal(r.members.get("alice").e2ee.epoch(), 2);
  assert.equal(ids(r.members.get("alice").e2ee.roster()), "alice");
  assert.equal(bob.member.counts.refused_commits, 0, bob.log.join("\n"));
  r.deliver("alice", { type: "presence", changes: [{ type: "participant_joined", participant: { id: "bob", name: "bob" } }] });
  await r.settle();
  for (const e of r.members.values()) {
    assert.equal(e.e2ee.epoch(), 3, e.log.join("\n"));
    assert.equal(ids(e.e2ee.roster()), "alice,bob");
  }
  const codes = await Promise.all([...r.members.values()].map((e) => e.e2ee.safetyCode()));
  assert.equal(new Set(codes).size, 1);
});

/** The node has no lane to the meeting's home (sfu/cascade/handshakes.py): every commit is answered "no group". */
function noHome(r) {
  r.intercept = (from, msg) => {
    if (msg.type !== "mls_commit") return msg;
    r.deliver(from, { type: "mls_commit_rejected", epoch: null, reason: "no_group" });
    return null;
  };
}

/** Lets `ms` of simulated time pass, every member's work done at each step. */
async function pass(r, ms, stepMs = 100) {
  for (let t = 0; t < ms; t += stepMs) {
    await r.idle();
    r.timers.advance(stepMs);
  }
  await r.idle();
}

const commitsBy = (r, id) => r.sent.filter((s) => s.from === id && s.msg.type === "mls_commit").length;

test("no_group: a member's removal answered \"no group\" is tried again with backoff, and lands once the home is back", async () => {
  // a cascaded meeting whose home died: carol was on it and is gone; alice and bob's node has no lane to the new
  // home yet. Before, their commit removing carol was dropped and nobody tried again until someone joined or left:
  // carol's leaf (her device still holding the epoch's keys) lingered in the roster
  const r = await meeting("alice", "bob", "carol");
  const epoch = r.members.get("alice").e2ee.epoch();
  noHome(r);
  r.leave("carol");
  await pass(r, 4000);
  const alice = r.members.get("alice");
  assert.ok(commitsBy(r, "alice") >= 3, `alice tried again: ${commitsBy(r, "alice")} commits`);
  assert.ok(alice.member.counts.commit_retries >= 2);
  assert.equal(ids(alice.e2ee.roster()), "alice,bob,carol", "nothing ordered while the home is unreachable");
  r.intercept = null; // the Delivery Service is reachable again: no presence change follows
  await r.settle();
  for (const e of r.members.values()) {
    assert.equal(e.e2ee.epoch(), epoch + 1, e.log.join("\n"));
    assert.equal(ids(e.e2ee.roster()), "alice,bob");
    assert.equal(e.member.counts.refused_commits, 0);
  }
  const codes = await Promise.all([...r.members.values()].map((e) => e.e2ee.safetyCode()));
  assert.equal(new Set(codes).size, 1);
});

test("no_group: the retries are bounded (a node saying it for ever costs a few commits), and the next change still lands", async () => {
  const r = await meeting("alice", "bob", "carol");
  const before = { alice: commitsBy(r, "alice"), bob: commitsBy(r, "bob") };
  noHome(r);
  r.leave("carol");
  await r.settle(); // terminates: every retry timer runs out
  for (const id of ["alice", "bob"]) { // its first commit, then one per retry
    assert.equal(commitsBy(r, id) - before[id], 1 + COMMIT_RETRIES, id);
    assert.equal(r.members.get(id).member.counts.commit_retries, COMMIT_RETRIES, id);
  }
  assert.equal(ids(r.members.get("alice").e2ee.roster()), "alice,bob,carol");
  r.intercept = null;
  await r.join("dave");
  await r.settle();
  for (const e of r.members.values()) assert.equal(ids(e.e2ee.roster()), "alice,bob,dave", e.log.join("\n"));
});

test("no_group: only members retry, and a later epoch (someone else's commit won) ends the retries", async () => {
  const r = await meeting("alice", "bob", "carol");
  const bob = r.members.get("bob");
  // only alice's node has no lane to the home: her commit is refused, bob's (after his rank delay) lands
  r.intercept = (from, msg) => {
    if (msg.type !== "mls_commit" || from !== "alice") return msg;
    r.deliver(from, { type: "mls_commit_rejected", epoch: null, reason: "no_group" });
    return null;
  };
  r.leave("carol");
  await r.settle();
  assert.equal(r.commits.at(-1).from, "bob");
  for (const e of r.members.values()) assert.equal(ids(e.e2ee.roster()), "alice,bob");
  assert.equal(r.members.get("alice").member.commitRetries, 0, "a new epoch resets the count");
  assert.equal(bob.member.counts.commit_retries, 0);
});

test("the suite's SHA-256 and HMAC (@noble/hashes) agree with WebCrypto, and a MAC one bit off or cut short fails", async () => {
  const { sha256Hash } = await import("../../signalling/client/e2ee/group.js");
  const cs = await cipherSuite();
  assert.equal(cs.hash, sha256Hash, "the ciphersuite hashes with noble");
  for (const n of [0, 1, 55, 56, 63, 64, 65, 1000, 70000]) {
    const data = new Uint8Array(n).map((_, i) => (i * 131 + n) & 0xff); // getRandomValues stops at 65,536 bytes
    const key = crypto.getRandomValues(new Uint8Array(32));
    const web = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
    assert.deepEqual(await cs.hash.digest(data), web, `digest of ${n} bytes`);
    const hk = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    const webMac = new Uint8Array(await crypto.subtle.sign("HMAC", hk, data));
    const mac = await cs.hash.mac(key, data);
    assert.deepEqual(mac, webMac, `HMAC of ${n} bytes`);
    assert.equal(await cs.hash.verifyMac(key, mac, data), true);
    const flipped = mac.slice();
    flipped[n % 32] ^= 1;
    assert.equal(await cs.hash.verifyMac(key, flipped, data), false, "a MAC one bit off");
    assert.equal(await cs.hash.verifyMac(key, mac.subarray(0, 31), data), false, "a MAC cut short");
  }
});

// ------------------------------------------------------------------------------------------ the recorder's handover
// docs/recording.md "Handing the link secret to the recorder": each row of its attack table is a test here.

const TENANT = "acme";
const RECORDED = { tenant: TENANT, room: "room-1", recording: "required" };

/** The tenant's recorder key pair (its private half is the pools'; its public half rides in the link as `r`). */
async function recorderKeyPair() {
  return (await cipherSuite()).signature.keygen();
}

/** What a pool holding `keys` answers its recorder page: the attestation of the page's leaf key for its job. */
function poolAttest(keys, { tenant = TENANT, room = "room-1", participant = "rec-1" } = {}) {
  return async (leafKey) => b64u(await (await cipherSuite()).signature.sign(keys.signKey, attestationMessage(tenant, room, participant, leafKey)));
}

/** A recorded meeting whose link names `keys`' public half; the members in it. */
async function recordedMeeting(keys, ...people) {
  const r = new Relay();
  r.recorderKey = keys.publicKey;
  r.credential = RECORDED;
  for (const id of people) {
    await r.join(id);
    await r.settle();
  }
  return r;
}

/** The pool's recorder page joining: no link secret, its KeyPackage attested by the pool. */
function joinRecorder(r, keys, id = "rec-1", opts = {}) {
  return r.join(id, "ACME archive", { secret: null, recorder: true, attest: poolAttest(keys, { participant: id }), credential: null,
    recorderKey: null, ...opts });
}

const handovers = (r) => r.sent.filter((s) => s.msg.type === "mls_handover");

/** A participant the node announces (marked recorder or not), as alice's client hears it. */
async function announce(entry, id, recorder = true) {
  await entry.e2ee.handle({ type: "presence", changes: [{ type: "participant_joined", participant: { id, name: id, ...(recorder ? { recorder: true } : {}) } }] });
  await entry.member._chain;
}

test("recorder: a pool with the recorder key and no link secret is handed what membership needs, and records", async () => {
  const keys = await recorderKeyPair();
  const r = await recordedMeeting(keys, "alice", "bob");
  const rec = await joinRecorder(r, keys);
  await r.settle();
  for (const e of r.members.values()) assert.equal(ids(e.e2ee.roster()), "alice,bob,rec-1", `${e.id}'s roster`);
  assert.equal(rec.e2ee.epoch(), r.members.get("alice").e2ee.epoch());
  const codes = await Promise.all([...r.members.values()].map((e) => e.e2ee.safetyCode()));
  assert.equal(new Set(codes).size, 1, "one safety code, the recorder's included");
  const ho = handovers(r);
  assert.equal(ho.length, 1, "one handover, from the committer");
  assert.equal(ho[0].msg.to, "rec-1");
  const link = await linkSecrets(r.secret, "room-1");
  assert.equal(rec.member.secret, null, "the recorder never holds L");
  assert.deepEqual(Object.keys(rec.member.link).sort(), ["groupId", "proofKey", "psk"]);
  assert.equal(b64u(rec.member.link.psk), b64u(link.psk));
  const f = await r.members.get("alice").e2ee.sealFrame(new Uint8Array(40).fill(5), VP8);
  assert.equal((await rec.e2ee.openFrame(f.data, { ...VP8, participant: "alice" })).ok, true, "the recorder decrypts");
  // a member joining later is added by anyone, the recorder included (it holds the proof key now)
  await r.join("carol");
  await r.settle();
  for (const e of r.members.values()) assert.equal(ids(e.e2ee.roster()), "alice,bob,carol,rec-1");
});

test("recorder: a node substituting its own KeyPackage (its own init_key) under the recorder's id gets nothing", async () => {
  const keys = await recorderKeyPair();
  const r = await recordedMeeting(keys, "alice", "bob");
  const nodeKp = await keyPackage("rec-1", "ACME archive");
  r.intercept = (from, msg) => {
    if (from === "rec-1" && msg.type === "mls_key_package") { // the real attestation, the node's KeyPackage
      return { ...msg, data: b64u(mls.encodeMlsMessage({ keyPackage: nodeKp.publicPackage, wireformat: "mls_key_package", version: "mls10" })) };
    }
    return msg;
  };
  await joinRecorder(r, keys);
  await r.settle();
  assert.equal(handovers(r).length, 0, "nobody sealed anything to the substitute");
  for (const id of ["alice", "bob"]) {
    const m = r.members.get(id);
    assert.equal(ids(m.e2ee.roster()), "alice,bob");
    assert.match(m.member.lastRefusal, /not the recorder key's/);
  }
});

test("recorder: a node marking its own participant recorder, with no attestation or one lifted from another room, participant or KeyPackage, gets nothing", async () => {
  const keys = await recorderKeyPair();
  const r = await recordedMeeting(keys, "alice", "bob");
  const alice = r.members.get("alice");
  await announce(alice, "mal");
  const cs = await cipherSuite();
  const kp = await keyPackage("mal");
  const data = b64u(mls.encodeMlsMessage({ keyPackage: kp.publicPackage, wireformat: "mls_key_package", version: "mls10" }));
  const leaf = kp.publicPackage.leafNode.signaturePublicKey;
  const sign = async (tenant, room, participant, key) => b64u(await cs.signature.sign(keys.signKey, attestationMessage(tenant, room, participant, key)));
  const other = await keyPackage("mal");
  const cases = [
    ["no attestation", undefined, /not made with this meeting's link/],
    ["another room's", await sign(TENANT, "room-2", "mal", leaf), /not the recorder key's/],
    ["another tenant's", await sign("other", "room-1", "mal", leaf), /not the recorder key's/],
    ["another participant's", await sign(TENANT, "room-1", "rec-1", leaf), /not the recorder key's/],
    ["another KeyPackage's", await sign(TENANT, "room-1", "mal", other.publicPackage.leafNode.signaturePublicKey), /not the recorder key's/],
    ["not a signature", "AAAA", /not the recorder key's/],
  ];
  for (const [what, attestation, why] of cases) {
    const before = alice.member.counts.refused_key_packages;
    await alice.e2ee.handle({ type: "mls_join_request", from: "mal", data, ...(attestation !== undefined ? { attestation } : {}) });
    assert.equal(alice.member.counts.refused_key_packages, before + 1, what);
    assert.match(alice.member.lastRefusal, why, what);
  }
  r.timers.advance(10000);
  await r.settle();
  assert.equal(handovers(r).length, 0);
  assert.equal(ids(alice.e2ee.roster()), "alice,bob");
  // the real attestation, on a participant the node does not mark as the recorder: refused too
  await announce(alice, "mal", false);
  await alice.e2ee.handle({ type: "mls_join_request", from: "mal", data, attestation: await sign(TENANT, "room-1", "mal", leaf) });
  assert.match(alice.member.lastRefusal, /does not mark as the recorder/);
});

test("recorder: a node replaying the real recorder's attested KeyPackage gets a handover only the recorder opens", async () => {
  const keys = await recorderKeyPair();
  const r = await recordedMeeting(keys, "alice", "bob");
  const rec = await joinRecorder(r, keys);
  await r.settle();
  const kpMsg = r.sent.find((s) => s.from === "rec-1" && s.msg.type === "mls_key_package").msg;
  const sealed = handovers(r)[0].msg.data;
  const cs = await cipherSuite();
  // the node (or anyone) holds every public part: it cannot open the handover with any key of its own
  const nodeKp = await keyPackage("rec-1");
  await assert.rejects(openHandover(cs, nodeKp.privatePackage.initPrivateKey, kpMsg.data, "room-1", "rec-1", sealed));
  // the recorder's own key opens it only for its room and participant (the info binds both)
  assert.ok(await openHandover(cs, rec.member.kp.privatePackage.initPrivateKey, kpMsg.data, "room-1", "rec-1", sealed));
  await assert.rejects(openHandover(cs, rec.member.kp.privatePackage.initPrivateKey, kpMsg.data, "room-1", "rec-2", sealed));
  await assert.rejects(openHandover(cs, rec.member.kp.privatePackage.initPrivateKey, kpMsg.data, "room-2", "rec-1", sealed));
  // replayed under another participant marked recorder: refused (the attestation names rec-1)
  const alice = r.members.get("alice");
  await announce(alice, "mal");
  await alice.e2ee.handle({ type: "mls_join_request", from: "mal", data: kpMsg.data, attestation: kpMsg.attestation });
  assert.match(alice.member.lastRefusal, /credential names rec-1|not the recorder key's/);
  // replayed under the recorder's own id: at most the real recorder added again (same leaf), nobody else
  await alice.e2ee.handle({ type: "mls_join_request", from: "rec-1", data: kpMsg.data, attestation: kpMsg.attestation });
  await r.settle();
  for (const e of r.members.values()) assert.equal(ids(e.e2ee.roster()), "alice,bob,rec-1");
});

test("recorder: the control plane minting a recorder credential (no recorder key) gets no handover", async () => {
  const keys = await recorderKeyPair();
  const r = await recordedMeeting(keys, "alice", "bob");
  const own = await recorderKeyPair(); // the control plane's own key: not the tenant's
  const cp = await joinRecorder(r, own, "rec-cp");
  await r.settle();
  assert.equal(handovers(r).length, 0);
  assert.equal(cp.e2ee.epoch(), null, "never a member");
  for (const id of ["alice", "bob"]) assert.equal(ids(r.members.get(id).e2ee.roster()), "alice,bob");
  // and with nothing to attest with, a page without the link sends nothing at all
  const bare = await r.join("rec-bare", "archive", { secret: null, recorder: true });
  await r.settle();
  assert.equal(r.sent.filter((s) => s.from === "rec-bare").length, 0);
  assert.equal(bare.e2ee.epoch(), null);
});

test("recorder: a member that is not the recorder is never sent the handover, and cannot open it", async () => {
  const keys = await recorderKeyPair();
  const r = await recordedMeeting(keys, "alice", "bob");
  const seen = [];
  r.members.get("bob").drop = (msg) => { if (msg.type === "mls_handover") seen.push(msg); return false; };
  await joinRecorder(r, keys);
  await r.settle();
  const ho = handovers(r);
  assert.equal(ho.length, 1);
  assert.notEqual(ho[0].from, "bob"); // alice commits first; bob never receives it
  assert.equal(seen.length, 0, "relayed to the recorder only");
  const cs = await cipherSuite();
  const kpMsg = r.sent.find((s) => s.from === "rec-1" && s.msg.type === "mls_key_package").msg;
  const bobKp = r.members.get("bob").member.kp;
  await assert.rejects(openHandover(cs, bobKp.privatePackage.initPrivateKey, kpMsg.data, "room-1", "rec-1", ho[0].msg.data));
});

test("recorder: a stolen recorder key joins only as what it is — added openly, by name, as the recorder; a new link's `r` ends it", async () => {
  const keys = await recorderKeyPair();
  const r = await recordedMeeting(keys, "alice", "bob");
  const thief = await joinRecorder(r, keys, "rec-thief");
  await r.settle();
  for (const e of r.members.values()) assert.equal(ids(e.e2ee.roster()), "alice,bob,rec-thief", "visible, by name, to everyone");
  assert.equal(thief.e2ee.roster().find((x) => x.participant === "rec-thief").name, "ACME archive");
  // a new link: a new L and a new recorder key; the old key attests nothing there
  const fresh = await recorderKeyPair();
  const r2 = await recordedMeeting(fresh, "alice", "bob");
  const late = await joinRecorder(r2, keys, "rec-thief");
  await r2.settle();
  assert.equal(late.e2ee.epoch(), null);
  assert.equal(handovers(r2).length, 0);
  assert.match(r2.members.get("alice").member.lastRefusal, /not the recorder key's/);
});

test("recorder: a member hands nothing over where its link has no `r`, or its credential says the meeting is not recorded", async () => {
  const keys = await recorderKeyPair();
  for (const [what, setup, why] of [
    ["no r in the link", (r) => { r.recorderKey = null; }, /names no recorder key/],
    ["policy off", (r) => { r.credential = { ...RECORDED, recording: "off" }; }, /not recorded/],
    ["no credential", (r) => { r.credential = null; }, /not recorded/],
  ]) {
    const r = new Relay();
    r.recorderKey = keys.publicKey;
    r.credential = RECORDED;
    setup(r);
    await r.join("alice");
    await r.settle();
    const rec = await joinRecorder(r, keys);
    await r.settle();
    assert.equal(rec.e2ee.epoch(), null, what);
    assert.equal(handovers(r).length, 0, what);
    assert.match(r.members.get("alice").member.lastRefusal, why, what);
  }
});

test("recorder: a bogus handover sealed to the recorder's KeyPackage (anyone can) does not keep it out of the real group", async () => {
  const keys = await recorderKeyPair();
  const r = await recordedMeeting(keys, "alice", "bob");
  const cs = await cipherSuite();
  r.intercept = (from, msg) => {
    if (from === "rec-1" && msg.type === "mls_key_package") {
      (async () => {
        const kp = mls.decodeMlsMessage(Uint8Array.from(Buffer.from(msg.data, "base64url")), 0)[0].keyPackage;
        const junk = () => crypto.getRandomValues(new Uint8Array(32));
        const bogus = await sealHandover(cs, kp, msg.data, "room-1", "rec-1", { groupId: junk(), psk: junk(), proofKey: junk() });
        r.deliver("rec-1", { type: "mls_handover", from: "node", data: bogus });
        r.deliver("rec-1", { type: "mls_handover", from: "node", data: "AAAA" }); // and one that opens to nothing
      })();
    }
    return msg;
  };
  const rec = await joinRecorder(r, keys);
  await r.settle();
  assert.equal(rec.member.counts.refused_handovers, 1);
  for (const e of r.members.values()) assert.equal(ids(e.e2ee.roster()), "alice,bob,rec-1");
  assert.equal(rec.e2ee.epoch(), r.members.get("alice").e2ee.epoch());
});

test("recorder: launched before the room has a group, it cannot make one (no link); it asks again and is added once there is one", async () => {
  const keys = await recorderKeyPair();
  const r = new Relay();
  r.recorderKey = keys.publicKey;
  r.credential = RECORDED;
  const rec = await joinRecorder(r, keys);
  await r.idle();
  assert.equal(r.sent.filter((s) => s.msg.type === "mls_create").length, 0, "no group of its own: it holds no group id");
  rec.e2ee.handle({ type: "mls_resync", epoch: null }); // the node: no group yet
  await r.idle();
  assert.equal(rec.member.phase, "joining");
  await r.join("alice"); // makes the group
  await r.settle();
  assert.ok(r.sent.filter((s) => s.from === "rec-1" && s.msg.type === "mls_key_package").length >= 2, "asked again");
  for (const e of r.members.values()) assert.equal(ids(e.e2ee.roster()), "alice,rec-1");
});
