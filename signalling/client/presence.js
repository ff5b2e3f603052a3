// Presence from the node (docs/protocol.md, protocol 2): joins and leaves come batched in one `presence` message,
// `changes` oldest first, each change a version-1 `participant_joined` / `participant_left`. A batch may repeat
// what the `joined` snapshot already holds (changes made before it), our own join included: applied in order,
// the last change about each participant wins, which is the room as it is. Pure: no DOM, no socket.

export const MAX_CHANGES = 1024; // more than the node ever batches (64): the rest of a bigger message is ignored

/** The well-formed changes of a `presence` message (or of a single v1 `participant_joined` / `participant_left`),
 * in order, without those about `self`. Anything malformed is skipped, never thrown. */
export function presenceChanges(msg, self) {
  if (!msg || typeof msg !== "object") return [];
  const list = msg.type === "presence" ? (Array.isArray(msg.changes) ? msg.changes.slice(0, MAX_CHANGES) : []) : [msg];
  const out = [];
  for (const c of list) {
    if (!c || typeof c !== "object") continue;
    if (c.type === "participant_joined") {
      const p = c.participant;
      if (!p || typeof p !== "object" || typeof p.id !== "string" || p.id === self) continue;
      out.push({ type: "participant_joined", participant: { id: p.id, name: typeof p.name === "string" ? p.name : p.id, host: !!p.host,
        recorder: p.recorder === true } });
    } else if (c.type === "participant_left") {
      if (typeof c.participant !== "string" || c.participant === self) continue;
      out.push({ type: "participant_left", participant: c.participant, reason: typeof c.reason === "string" ? c.reason : "left" });
    }
  }
  return out;
}

/** True for the messages presenceChanges reads. */
export function isPresence(msg) {
  return !!msg && (msg.type === "presence" || msg.type === "participant_joined" || msg.type === "participant_left");
}
