// The browser client's reading of presence (signalling/client/presence.js; docs/protocol.md, protocol 2).
import { test } from "node:test";
import assert from "node:assert/strict";
import { MAX_CHANGES, isPresence, presenceChanges } from "../../signalling/client/presence.js";

const joined = (id, name = id) => ({ type: "participant_joined", participant: { id, name, host: false } });
const left = (id, reason = "left") => ({ type: "participant_left", participant: id, reason });

/** What session.js does with them: a roster map, changes applied in order. */
function apply(roster, msg, me) {
  for (const c of presenceChanges(msg, me)) {
    if (c.type === "participant_joined") roster.set(c.participant.id, c.participant);
    else roster.delete(c.participant);
  }
  return roster;
}

test("a batch is applied in order: join then leave ends gone, leave then join ends present with the new name", () => {
  const r = apply(new Map([["bob", { id: "bob", name: "Bob" }]]), { type: "presence", changes: [joined("x"), left("x"), left("bob", "replaced"), joined("bob", "Bob 2")] }, "me");
  assert.deepEqual([...r.keys()], ["bob"]);
  assert.equal(r.get("bob").name, "Bob 2");
});

test("our own join (and anything about us) in a batch is skipped", () => {
  assert.deepEqual(presenceChanges({ type: "presence", changes: [joined("me"), joined("ann"), left("me")] }, "me").map((c) => c.type), ["participant_joined"]);
});

test("a snapshot taken mid-batch plus the whole batch is the room", () => {
  // the room: alice, x joined; carol (us) joined; x left; z joined. Our snapshot listed alice and x.
  const batch = { type: "presence", changes: [joined("x"), joined("me"), left("x"), joined("z")] };
  const r = apply(new Map([["alice", {}], ["x", {}]]), batch, "me");
  assert.deepEqual([...r.keys()].sort(), ["alice", "z"]);
});

test("version 1 single changes still read; malformed changes are skipped, never thrown", () => {
  assert.equal(presenceChanges(joined("a"), "me").length, 1);
  assert.equal(presenceChanges(left("a"), "me").length, 1);
  for (const bad of [null, 5, "x", {}, { type: "presence" }, { type: "presence", changes: { 0: joined("a") } }]) {
    assert.deepEqual(presenceChanges(bad, "me"), []);
  }
  const hostile = { type: "presence", changes: [null, 3, {}, { type: "mls_commit" }, { type: "participant_joined", participant: "a" },
    { type: "participant_joined", participant: { id: 9 } }, { type: "participant_left", participant: { id: "a" } }, { type: "track_published", track: {} }] };
  assert.deepEqual(presenceChanges(hostile, "me"), [], "only well-formed joins and leaves pass");
  const odd = presenceChanges({ type: "presence", changes: [{ type: "participant_joined", participant: { id: "a", name: 5, host: "yes", recorder: "yes", extra: "x".repeat(10) } }] }, "me");
  assert.deepEqual(odd, [{ type: "participant_joined", participant: { id: "a", name: "a", host: true, recorder: false } }],
    "fields normalised; the recorder mark only when exactly true (the handover trusts nothing else)");
  assert.ok(isPresence({ type: "presence" }) && isPresence(left("a")) && !isPresence({ type: "chat" }) && !isPresence(null));
});

test("a batch longer than any node sends is read up to its bound", () => {
  const many = { type: "presence", changes: Array.from({ length: MAX_CHANGES + 500 }, (_, i) => joined(`p${i}`)) };
  assert.equal(presenceChanges(many, "me").length, MAX_CHANGES);
});
