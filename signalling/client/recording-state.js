// What the recording indicator says, from the node's word (the `recording` state of joined / the `recording`
// message: sfu/recording.py; docs/protocol.md). Pure, so it is tested on its own (tests/client/recording-state.test.mjs).
// The node decides the state from what happens — a recorder of this room in and receiving its tracks is "live",
// the control plane's refusal is "refused" — and no client message can set it: "● REC" means a recorder records.

const TEXT = {
  off: "● may be recorded", // recording is allowed, nobody started it
  starting: "Recording starting…", // on (required, or a host's Start), no recorder in yet
  live: "● REC",
  refused: "Recording could not start",
};

/** The indicator: {text, state, live} or null (hidden: the meeting is never recorded). `recording`: the node's
 *  object (or null before it spoke); `policy`: the link's policy from the join page (off/allowed/required). */
export function indicator(recording, policy) {
  const p = (recording && recording.policy) || policy;
  if (!p || p === "off") return null;
  let state = recording && typeof recording.state === "string" ? recording.state : null;
  if (!Object.hasOwn(TEXT, state ?? "")) {
    // not told yet, or a node that sends no state: what the policy and `active` allow us to say, never "● REC"
    // unless the node said recording is on
    if (recording) state = recording.active ? "live" : "off";
    else state = p === "required" ? "starting" : "off";
  }
  return { text: TEXT[state], state, live: state === "live" };
}

/** The host's notice when recording could not start (null otherwise): names why, as the control plane said it. */
export function refusalNotice(recording, isHost) {
  if (!isHost || !recording || recording.state !== "refused") return null;
  const why = typeof recording.message === "string" && recording.message
    ? recording.message
    : `no recorder could be placed (${String(recording.reason || "unknown reason")}).`;
  return `Recording could not start. ${why}`;
}
