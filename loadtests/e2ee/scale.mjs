// One size of the E2EE scale benchmark (run by loadtests/e2ee/scale.py, which starts the node and mints tokens):
// headless members (member.mjs) through a real node's Delivery Service. Usage: node scale.mjs CONFIG.json
// CONFIG: {ws_url, tokens: [...], n, active, cycles, storm}. Progress on stderr, one JSON result line on stdout.
//
// The group holds n members (n leaves, n WebSockets). `active` of them process every handshake message and are
// measured; the others are "deferred" members: they joined with their own KeyPackage and stay connected, but do
// not process handshakes, because one 2-core machine cannot run n full members in real time (each commit costs
// every member its own processing: see the per-member CPU columns). Wall-clock latencies are measured on the
// active members while they share the machine's CPU with each other and with the node.

import { readFileSync } from "node:fs";
import { HeadlessMember } from "./member.mjs";

const cfg = JSON.parse(readFileSync(process.argv[2], "utf8"));
const secret = crypto.getRandomValues(new Uint8Array(32));
let next = 0;
const token = () => {
  if (next >= cfg.tokens.length) throw new Error("out of tokens");
  return cfg.tokens[next++];
};
const say = (t) => process.stderr.write(`[n=${cfg.n}] ${t}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const VP8 = { kind: "video", codec: "vp8", keyframe: false };

async function waitFor(pred, timeoutMs, what) {
  const t0 = performance.now();
  while (!pred()) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`timed out: ${what}`);
    await sleep(5);
  }
  return performance.now() - t0;
}

function pct(xs, p) {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

const active = [];
const deferred = [];
const rosterSize = () => active[0].e2ee.roster().length;
const epochOf = (m) => m.epoch();
const allAt = (ms, e) => ms.every((m) => epochOf(m) === e);

// 1. the creator, then the other active members one by one
const a0 = new HeadlessMember(cfg.ws_url, token(), secret);
await a0.connect();
await waitFor(() => a0.epoch() === 0, 10000, "the group");
active.push(a0);
for (let i = 1; i < cfg.active; i++) {
  const m = new HeadlessMember(cfg.ws_url, token(), secret);
  await m.connect();
  active.push(m);
  await waitFor(() => allAt(active, a0.epoch()) && rosterSize() === active.length, 30000, "active member added");
}
say(`${active.length} active members at epoch ${a0.epoch()}`);

// 2. deferred members in waves (each wave: KeyPackages batched by the committer into a commit or a few)
const WAVE = 100;
const buildT0 = performance.now();
while (active.length + deferred.length < cfg.n) {
  const k = Math.min(WAVE, cfg.n - active.length - deferred.length);
  const wave = [];
  for (let i = 0; i < k; i++) {
    const m = new HeadlessMember(cfg.ws_url, token(), secret, { deferred: true });
    wave.push(m.connect().then(() => m));
    if (wave.length % 8 === 0) await Promise.all(wave.slice(-8)); // the node takes 16 pending sockets per address
  }
  deferred.push(...(await Promise.all(wave)));
  const want = active.length + deferred.length;
  await waitFor(() => rosterSize() === want && allAt(active, a0.epoch()), 600000, `roster of ${want}`);
  say(`group of ${want} at epoch ${a0.epoch()} (${((performance.now() - buildT0) / 1000).toFixed(1)} s)`);
}

// a frame source: a0 seals a frame every 20 ms under its sending epoch
let latest = null;
const source = setInterval(async () => {
  const f = await a0.e2ee.sealFrame(crypto.getRandomValues(new Uint8Array(1200)), VP8);
  if (f) latest = f;
}, 20);

// 3. cycles: a new member joins (join -> holds the key -> first decryptable frame), then leaves
const joins = [];
const leaves = [];
const commitCpu = { join: [], leave: [] };
const processCpu = { join: [], leave: [] };
const bytes = { joinCommit: [], joinWelcome: [], leaveCommit: [] };
const procCpu = { join: [], leave: [] }; // this process's CPU (all active members + the joiner) per change, ms
const cpuMs = (u) => (u.user + u.system) / 1000;
for (let c = 0; c < cfg.cycles; c++) {
  const e0 = a0.epoch();
  const j = new HeadlessMember(cfg.ws_url, token(), secret);
  const cj = process.cpuUsage();
  const t0 = performance.now();
  await j.connect();
  await waitFor(() => j.epoch() !== null, 60000, "joiner's epoch");
  const tKey = performance.now() - t0;
  let tFrame = null;
  const tf0 = performance.now();
  while (tFrame === null) {
    const f = latest;
    if (f && f.epoch === j.epoch()) {
      const r = await j.e2ee.openFrame(f.data, { ...VP8, participant: a0.participant });
      if (r.ok) tFrame = performance.now() - t0;
    }
    if (performance.now() - tf0 > 60000) throw new Error("no decryptable frame");
    if (tFrame === null) await sleep(5);
  }
  await waitFor(() => allAt([...active, j], e0 + 1), 60000, "everyone on the join's epoch");
  procCpu.join.push(cpuMs(process.cpuUsage(cj)));
  const committer = active.find((m) => m.e2ee.member.lastCommit && m.e2ee.member.lastCommit.epoch === e0) || a0;
  bytes.joinCommit.push(committer.e2ee.member.lastCommit.commitBytes);
  bytes.joinWelcome.push(committer.e2ee.member.lastCommit.welcomeBytes);
  commitCpu.join.push(committer.e2ee.member.timing.createCommitMs);
  for (const m of active) if (m !== committer) processCpu.join.push(m.e2ee.member.timing.processCommitMs);
  joins.push({ key: tKey, frame: tFrame, joinCpu: j.e2ee.member.timing.joinMs });
  await sleep(300);
  // leave
  const e1 = a0.epoch();
  const cl = process.cpuUsage();
  const tl0 = performance.now();
  const reached = new Map();
  const watch = setInterval(() => {
    for (const m of active) if (!reached.has(m) && m.epoch() > e1) reached.set(m, performance.now() - tl0);
  }, 2);
  j.leave();
  await waitFor(() => active.every((m) => m.epoch() > e1), 60000, "everyone on the leave's epoch");
  clearInterval(watch);
  procCpu.leave.push(cpuMs(process.cpuUsage(cl)));
  for (const m of active) if (!reached.has(m)) reached.set(m, performance.now() - tl0);
  const lc = active.find((m) => m.e2ee.member.lastCommit && m.e2ee.member.lastCommit.epoch === e1);
  if (lc) {
    bytes.leaveCommit.push(lc.e2ee.member.lastCommit.commitBytes);
    commitCpu.leave.push(lc.e2ee.member.timing.createCommitMs);
  }
  for (const m of active) if (m !== lc) processCpu.leave.push(m.e2ee.member.timing.processCommitMs);
  leaves.push({ all: Math.max(...reached.values()), each: [...reached.values()] });
  say(`cycle ${c + 1}/${cfg.cycles}: join key ${joins.at(-1).key.toFixed(0)} ms, first frame ${tFrame.toFixed(0)} ms; leave: all on the new epoch ${leaves.at(-1).all.toFixed(0)} ms`);
  await sleep(3500); // past the previous epoch's grace
}

// 4. join storm: `storm` members connect within one second
let storm = null;
if (cfg.storm) {
  const commitsBefore = active.reduce((a, m) => a + m.e2ee.member.counts.commits_sent, 0);
  const e0 = a0.epoch();
  const t0 = performance.now();
  const joiners = [];
  const conns = [];
  for (let i = 0; i < cfg.storm; i++) {
    const m = new HeadlessMember(cfg.ws_url, token(), secret);
    joiners.push(m);
    conns.push(m.connect());
    await sleep(1000 / cfg.storm);
  }
  await Promise.all(conns);
  const done = new Map();
  await waitFor(() => {
    for (const m of joiners) if (!done.has(m) && m.epoch() !== null) done.set(m, performance.now() - t0);
    return done.size === joiners.length;
  }, 600000, "storm joiners keyed");
  await waitFor(() => rosterSize() === cfg.n + cfg.storm, 600000, "storm in the roster");
  const commits = active.reduce((a, m) => a + m.e2ee.member.counts.commits_sent, 0) - commitsBefore;
  storm = { n: cfg.storm, p50: pct([...done.values()], 50), p95: pct([...done.values()], 95), max: Math.max(...done.values()),
    commits, epochs: a0.epoch() - e0, joinCpuP50: pct(joiners.map((m) => m.e2ee.member.timing.joinMs), 50) };
  say(`storm: ${cfg.storm} joiners keyed, p95 ${storm.p95.toFixed(0)} ms, ${commits} commit(s)`);
  for (const m of joiners) m.close();
}

clearInterval(source);
const refusals = active.reduce((a, m) => a + m.e2ee.member.counts.refused_commits + m.e2ee.member.counts.refused_welcomes, 0);
const result = {
  n: cfg.n, active: cfg.active, cycles: cfg.cycles,
  join_key: [pct(joins.map((x) => x.key), 50), pct(joins.map((x) => x.key), 95)],
  join_frame: [pct(joins.map((x) => x.frame), 50), pct(joins.map((x) => x.frame), 95)],
  leave_all: [pct(leaves.map((x) => x.all), 50), pct(leaves.map((x) => x.all), 95)],
  leave_each: [pct(leaves.flatMap((x) => x.each), 50), pct(leaves.flatMap((x) => x.each), 95)],
  cpu: {
    join_create: pct(commitCpu.join, 50), join_process: pct(processCpu.join, 50), join_welcome: pct(joins.map((x) => x.joinCpu), 50),
    leave_create: pct(commitCpu.leave, 50), leave_process: pct(processCpu.leave, 50),
  },
  process_cpu: { join: pct(procCpu.join, 50), leave: pct(procCpu.leave, 50) },
  bytes: { join_commit: pct(bytes.joinCommit, 50), join_welcome: pct(bytes.joinWelcome, 50), leave_commit: pct(bytes.leaveCommit, 50) },
  storm, refusals,
  commits_sent: active.reduce((a, m) => a + m.e2ee.member.counts.commits_sent, 0),
  commits_lost: active.reduce((a, m) => a + m.e2ee.member.counts.commits_lost, 0),
};
console.log(JSON.stringify(result));
for (const m of [...active, ...deferred]) m.close();
setTimeout(() => process.exit(0), 300);
