// The production recorder page's way in (signalling/client/recorder-job.js): only a job the pool's own browser
// handed over, only for a credential whose role is `recorder`, only with a sink on loopback. A person's
// credential, a forged shape, a sink elsewhere: refused, and the page joins nothing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readRecorderJob, tokenClaims } from "../../signalling/client/recorder-job.js";

const b64u = (s) => Buffer.from(s).toString("base64url");
const token = (claims) => `${b64u(JSON.stringify({ alg: "EdDSA", kid: "k1" }))}.${b64u(JSON.stringify(claims))}.${b64u("sig")}`;
const SECRET = Buffer.alloc(32, 7).toString("base64url");
const job = (over = {}) => ({ ws_url: "wss://node-1.example.org/ws", token: token({ sub: "rec-1", role: "recorder" }),
  sink: "ws://127.0.0.1:4567/abc", name: "ACME archive", secret: SECRET, ...over });

test("no job (every page a person opens): an ordinary page, nothing refused", () => {
  assert.deepEqual(readRecorderJob(undefined), { job: null, error: null });
  assert.deepEqual(readRecorderJob(null), { job: null, error: null });
});

test("a recorder credential with a loopback sink is a job", () => {
  const r = readRecorderJob(job());
  assert.equal(r.error, null);
  assert.equal(r.job.participant, "rec-1");
  assert.equal(r.job.ws, "wss://node-1.example.org/ws");
  assert.equal(r.job.sink, "ws://127.0.0.1:4567/abc");
  assert.equal(r.job.name, "ACME archive");
});

test("a person's credential never makes a recorder (role participant, none, or anything else)", () => {
  for (const claims of [{ sub: "p-1", role: "participant" }, { sub: "p-1" }, { sub: "p-1", role: "Recorder" },
    { sub: "p-1", role: ["recorder"] }, { sub: "p-1", recorder: true }]) {
    const r = readRecorderJob(job({ token: token(claims) }));
    assert.equal(r.job, null, JSON.stringify(claims));
    assert.match(r.error, /role/);
  }
});

test("a sink anywhere but loopback, or not ws://, is refused (the tap would send decrypted frames there)", () => {
  for (const sink of ["ws://evil.example.org/x", "wss://127.0.0.1:1/x", "http://127.0.0.1:1/x", "ws://10.0.0.1:1/x",
    "ws://127.0.0.1.evil.org/x", "ws://user@evil.org/x", "", 42, undefined]) {
    const r = readRecorderJob(job({ sink }));
    assert.equal(r.job, null, String(sink));
    assert.match(r.error, /sink/);
  }
});

test("malformed jobs are refused with a reason, never a crash", () => {
  const bad = [42, "job", [], { ...job(), ws_url: "javascript:alert(1)" }, { ...job(), ws_url: "https://x/ws" },
    { ...job(), token: "not.a.jwt!" }, { ...job(), token: "a.b" }, { ...job(), token: `x.${b64u("[1]")}.y` },
    { ...job(), token: `x.${b64u("not json")}.y` }, { ...job(), token: "x".repeat(10000) },
    { ...job(), secret: "" }, { ...job(), secret: "short" }, { ...job(), secret: "a b".repeat(20) }];
  for (const raw of bad) {
    const r = readRecorderJob(raw);
    assert.equal(r.job, null, JSON.stringify(raw).slice(0, 80));
    assert.match(r.error, /^recorder job refused: /);
  }
});

test("tokenClaims reads a JWS payload without trusting it, null for anything else", () => {
  assert.deepEqual(tokenClaims(token({ role: "recorder" })), { role: "recorder" });
  assert.equal(tokenClaims("a.b.c.d"), null);
  assert.equal(tokenClaims(null), null);
});

test("a job without the link secret is the handover kind (the pool holds the recorder key); a malformed secret is still refused", () => {
  const { secret, ...noSecret } = job();
  const r = readRecorderJob(noSecret);
  assert.equal(r.error, null);
  assert.equal(r.job.secret, null);
  for (const bad of [null, 7, "short"]) assert.match(readRecorderJob(job({ secret: bad })).error, /malformed link secret/);
});

/** A WebSocket stand-in playing the pool's sink: answers the first message with `reply` (or closes). */
function fakeSink(reply, seen) {
  return class {
    constructor(url) { seen.push({ url }); queueMicrotask(() => this.onopen && this.onopen()); }
    send(text) {
      seen.push({ sent: JSON.parse(text) });
      queueMicrotask(() => (reply === null ? this.onclose && this.onclose() : this.onmessage({ data: reply })));
    }
    close() {}
  };
}

test("sinkAttester asks the pool's sink at <sink>/attest for the leaf key's attestation, and rejects anything else", async () => {
  const { sinkAttester } = await import("../../signalling/client/recorder-job.js");
  const leaf = new Uint8Array(32).fill(1);
  const seen = [];
  const ok = sinkAttester("ws://127.0.0.1:4567/tok", { WebSocketImpl: fakeSink(JSON.stringify({ type: "attestation", attestation: "c2ln" }), seen) });
  assert.equal(await ok(leaf), "c2ln");
  assert.equal(seen[0].url, "ws://127.0.0.1:4567/tok/attest");
  assert.deepEqual(seen[1].sent, { type: "attest", key: Buffer.from(leaf).toString("base64url") });
  for (const reply of [JSON.stringify({ type: "refused" }), "not json", JSON.stringify({ type: "attestation", attestation: "<script>" }), null]) {
    const bad = sinkAttester("ws://127.0.0.1:4567/tok", { WebSocketImpl: fakeSink(reply, []) });
    await assert.rejects(bad(leaf), /refused|closed/, String(reply));
  }
});
