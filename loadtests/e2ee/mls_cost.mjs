// How much MLS (ts-mls, suite 1) costs one member at 50 / 100 / 500 / 1,000 members, in one Node.js process:
// createCommit / processCommit / joinGroup times and the commit and Welcome sizes, for one join and one leave.
// The last columns: a join after a removal (the usual case in a meeting: a removal's commit sets the root, and ts-mls
// then re-hashes a subtree per leaf when it checks the joiner's tree).
// Usage: node loadtests/e2ee/mls_cost.mjs [--webcrypto-hash] [sizes...]   (default 50 100 500 1000; ~2 min on 2 cores)
//   --webcrypto-hash: SHA-256 and HMAC over WebCrypto (ts-mls's default) instead of the client's @noble/hashes
import * as mls from "../../signalling/client/vendor/ts-mls.js";
import { cipherSuite as clientSuite } from "../../signalling/client/e2ee/group.js";
import { encodeIdentity, PSK_ID } from "../../signalling/client/e2ee/link.js";

const webHash = process.argv.includes("--webcrypto-hash");
const sizes = process.argv.slice(2).map(Number).filter((n) => n >= 3);
const cs = webHash ? await mls.getCiphersuiteImpl(mls.getCiphersuiteFromName((await clientSuite()).name)) : await clientSuite();
const psk = crypto.getRandomValues(new Uint8Array(32));
const pskIndex = (s) => mls.makePskIndex(s, { [mls.bytesToBase64(PSK_ID)]: psk });
const pskProposal = () => ({ proposalType: "psk", psk: { preSharedKeyId: { psktype: "external", pskId: PSK_ID, pskNonce: crypto.getRandomValues(new Uint8Array(32)) } } });
const kp = (i) => mls.generateKeyPackage({ credentialType: "basic", identity: encodeIdentity(`p${String(i).padStart(6, "0")}`, `Member ${i}`) },
  mls.defaultCapabilities(), mls.defaultLifetime, [], cs);
const enc = (m) => mls.encodeMlsMessage(m).length;
const ms = async (fn) => { const t = performance.now(); const r = await fn(); return [r, performance.now() - t]; };
const kib = (b) => (b / 1024).toFixed(1);

const rows = [];
for (const n of sizes.length ? sizes : [50, 100, 500, 1000]) {
  process.stderr.write(`${n} members: key packages… `);
  const kps = [];
  for (let i = 0; i < n + 1; i++) kps.push(await kp(i));
  process.stderr.write("group… ");
  let alice = await mls.createGroup(crypto.getRandomValues(new Uint8Array(32)), kps[0].publicPackage, kps[0].privatePackage, [], cs);
  const adds = kps.slice(1, n).map((k) => ({ proposalType: "add", add: { keyPackage: k.publicPackage } }));
  const [batch, tBatch] = await ms(() => mls.createCommit({ state: alice, cipherSuite: cs, pskIndex: pskIndex(alice) }, { extraProposals: [...adds, pskProposal()], ratchetTreeExtension: true }));
  alice = batch.newState;
  const batchWelcome = enc({ welcome: batch.welcome, wireformat: "mls_welcome", version: "mls10" });
  let [bob, tJoinBatch] = await ms(() => mls.joinGroup(batch.welcome, kps[1].publicPackage, kps[1].privatePackage, pskIndex(undefined), cs));
  process.stderr.write("join… ");
  // one more member joins a group of n-? (now n members)
  const [add, tAdd] = await ms(() => mls.createCommit({ state: alice, cipherSuite: cs, pskIndex: pskIndex(alice) },
    { extraProposals: [{ proposalType: "add", add: { keyPackage: kps[n].publicPackage } }, pskProposal()], ratchetTreeExtension: true }));
  const [bobAdd, tProcAdd] = await ms(() => mls.processPrivateMessage(bob, add.commit.privateMessage, pskIndex(bob), cs));
  const [, tJoin] = await ms(() => mls.joinGroup(add.welcome, kps[n].publicPackage, kps[n].privatePackage, pskIndex(undefined), cs));
  alice = add.newState;
  bob = bobAdd.newState;
  process.stderr.write("leave…\n");
  const [rem, tRem] = await ms(() => mls.createCommit({ state: alice, cipherSuite: cs, pskIndex: pskIndex(alice) },
    { extraProposals: [{ proposalType: "remove", remove: { removed: n } }] }));
  const [, tProcRem] = await ms(() => mls.processPrivateMessage(bob, rem.commit.privateMessage, pskIndex(bob), cs));
  alice = rem.newState;
  const again = await mls.createCommit({ state: alice, cipherSuite: cs, pskIndex: pskIndex(alice) },
    { extraProposals: [{ proposalType: "add", add: { keyPackage: kps[n].publicPackage } }, pskProposal()], ratchetTreeExtension: true });
  const [, tRejoin] = await ms(() => mls.joinGroup(again.welcome, kps[n].publicPackage, kps[n].privatePackage, pskIndex(undefined), cs));
  rows.push({ tRejoin, n, tBatch, batchWelcome, tJoinBatch, tAdd, addCommit: enc(add.commit), addWelcome: enc({ welcome: add.welcome, wireformat: "mls_welcome", version: "mls10" }),
    tProcAdd, tJoin, tRem, remCommit: enc(rem.commit), tProcRem });
}

console.log(`\nMLS cost per operation, one member's CPU (ts-mls 1.6.4, suite 1, hashing over ${webHash ? "WebCrypto" : "@noble/hashes"}, Node.js ${process.version}, this machine):\n`);
console.log("| members | join: createCommit | join: processCommit | join: joinGroup | commit | Welcome | leave: createCommit | leave: processCommit | leave commit | batch add of n-1: createCommit | its Welcome | join after a removal: joinGroup |");
console.log("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
for (const r of rows) {
  console.log(`| ${r.n} | ${r.tAdd.toFixed(0)} ms | ${r.tProcAdd.toFixed(0)} ms | ${r.tJoin.toFixed(0)} ms | ${kib(r.addCommit)} KiB | ${kib(r.addWelcome)} KiB | ${r.tRem.toFixed(0)} ms | ${r.tProcRem.toFixed(0)} ms | ${kib(r.remCommit)} KiB | ${r.tBatch.toFixed(0)} ms | ${kib(r.batchWelcome)} KiB | ${r.tRejoin.toFixed(0)} ms |`);
}
