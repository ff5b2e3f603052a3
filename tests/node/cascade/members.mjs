// Headless E2EE members for the cascade tests (tests/node/cascade/test_e2ee_cascade.py): the browser client's own
// E2EE modules (loadtests/e2ee/member.mjs) over real WebSockets to real nodes, driven by JSON lines on stdin and
// answering JSON lines on stdout. Every member shares one link secret (the meeting link's fragment).
//
//   {"op": "join", "name", "ws", "token"}      connect and join (answers when `joined` came); a name already
//                                              here is a re-join: the old member is closed and replaced
//     + "credential": {tenant, room, recording}  a recorded meeting: the member's own token's claims, and the
//                                              link's recorder key (`r`, this process's tenant recorder key)
//     + "recorder": participant id             the recorder page instead: no link secret, its KeyPackage
//                                              attested by "the pool" (this process holds the recorder key)
//   {"op": "leave", "name"}                    leave the meeting
//   {"op": "state"}                            every member: epoch, roster (participant ids), safety code, present
//   {"op": "frame", "from", "to"}              `from` seals a video frame; each of `to` opens it: {name: ok}

import readline from "node:readline";
import { HeadlessMember } from "../../../loadtests/e2ee/member.mjs";
import { cipherSuite } from "../../../signalling/client/e2ee/group.js";
import { attestationMessage } from "../../../signalling/client/e2ee/handover.js";
import { b64u } from "../../../signalling/client/e2ee/link.js";

const VP8 = { kind: "video", codec: "vp8", keyframe: false };
const secret = crypto.getRandomValues(new Uint8Array(32));
const members = new Map();
const cs = await cipherSuite();
const recorderKeys = await cs.signature.keygen(); // the tenant's recorder key: the pool's private half, the link's `r`

/** The E2EE options of a join: a member of a recorded meeting, or the recorder page the pool attests. */
function recorded(cmd) {
  if (!cmd.credential) return {};
  const c = cmd.credential;
  if (cmd.recorder) {
    const attest = async (leafKey) => b64u(await cs.signature.sign(recorderKeys.signKey,
      attestationMessage(c.tenant, c.room, cmd.recorder, leafKey)));
    return { attest };
  }
  return { recorderKey: recorderKeys.publicKey, credential: c };
}
const say = (o) => process.stdout.write(JSON.stringify(o) + "\n");

async function state() {
  const out = {};
  for (const [name, m] of members) {
    const g = m.e2ee.member;
    out[name] = { participant: m.participant, epoch: m.epoch(), phase: g.phase,
      roster: m.e2ee.roster().map((l) => l.participant).sort(), present: [...g.present].sort(),
      safety: await m.e2ee.safetyCode(), refused: { ...g.counts }, recorders: [...g.recorders].sort(),
      last_refusal: g.lastRefusal, log: m.e2ee.log.slice(-30) };
  }
  return out;
}

async function frame(from, to) {
  const a = members.get(from);
  const f = await a.e2ee.sealFrame(crypto.getRandomValues(new Uint8Array(600)), VP8);
  const out = { epoch: f ? f.epoch : null };
  for (const name of to) {
    out[name] = f ? (await members.get(name).e2ee.openFrame(f.data, { ...VP8, participant: a.participant })).ok : false;
  }
  return out;
}

const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  let cmd;
  try {
    cmd = JSON.parse(line);
    if (cmd.op === "join") {
      members.get(cmd.name)?.close(); // a re-join (its node died): the new member replaces the old one
      const m = new HeadlessMember(cmd.ws, cmd.token, cmd.recorder ? null : secret, recorded(cmd));
      members.set(cmd.name, m);
      await m.connect();
      say({ ok: "join", name: cmd.name });
    } else if (cmd.op === "leave") {
      members.get(cmd.name).leave();
      members.delete(cmd.name);
      say({ ok: "leave", name: cmd.name });
    } else if (cmd.op === "state") {
      say({ ok: "state", state: await state() });
    } else if (cmd.op === "frame") {
      say({ ok: "frame", frame: await frame(cmd.from, cmd.to) });
    } else if (cmd.op === "quit") {
      break;
    } else {
      say({ error: `unknown op ${cmd.op}` });
    }
  } catch (e) {
    say({ error: String(e && e.stack || e) });
  }
}
for (const m of members.values()) m.close();
process.exit(0);
