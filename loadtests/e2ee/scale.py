"""E2EE scale benchmark: headless members (Node.js, the browser client's own modules: loadtests/e2ee/member.mjs)
through a real node's MLS Delivery Service, at 50, 100, 500 (1,000) members.

    .venv/bin/python -m loadtests.e2ee.scale                 # sizes 50 100 500
    .venv/bin/python -m loadtests.e2ee.scale --sizes 1000 --cycles 3

Per size: a fresh node on loopback (the product's factory and uvicorn settings, tests/harness.py), n members in
one MLS group, `--active` of them processing every handshake; then `--cycles` times a new member joins (join →
holds the epoch's SFrame key → first frame another member sealed that it decrypts) and leaves (→ every active
member on the new epoch); then a join storm of `--storm` members within one second. Prints progress and a
table; all members share this machine's CPU with the node (see loadtests/e2ee/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from sfu.app.limits import SignallingLimits
from tests.harness import running_node

HERE = Path(__file__).resolve().parent


async def one_size(n: int, active: int, cycles: int, storm: int) -> dict[str, Any]:
    limits = SignallingLimits(pending_per_address=64, pending_total=1024)
    async with running_node(limits=limits, max_peers=4096) as rn:
        tokens = [rn.token(participant=f"m{n}-{i:05d}", name=f"Member {i}", ttl=3600) for i in range(n + cycles + storm + 8)]
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump({"ws_url": rn.ws_url, "tokens": tokens, "n": n, "active": active, "cycles": cycles, "storm": storm}, f)
        proc = await asyncio.create_subprocess_exec("node", str(HERE / "scale.mjs"), f.name, stdout=asyncio.subprocess.PIPE)
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=3600)
        Path(f.name).unlink()
        if proc.returncode != 0:
            raise RuntimeError(f"scale.mjs failed at n={n} (exit {proc.returncode})")
        result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
        return result


def ms(x: float | None) -> str:
    return "–" if x is None else f"{x:,.0f}"


def kib(x: float | None) -> str:
    return "–" if x is None else f"{x / 1024:.1f}"


def table(rows: list[dict[str, Any]]) -> str:
    out = [
        "Wall clock (all members and the node share this machine's 2 cores), ms, p50 / p95:",
        "",
        "| members | active | join → key | join → first decryptable frame | leave → every active member on the new epoch | leave → each member |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(f"| {r['n']} | {r['active']} | {ms(r['join_key'][0])} / {ms(r['join_key'][1])} | {ms(r['join_frame'][0])} / {ms(r['join_frame'][1])}"
                   f" | {ms(r['leave_all'][0])} / {ms(r['leave_all'][1])} | {ms(r['leave_each'][0])} / {ms(r['leave_each'][1])} |")
    out += [
        "",
        "Per membership change, p50: each member's own MLS step (elapsed in its call, ms: its device's work, plus waits for",
        "the shared CPU), the benchmark process's CPU for the whole change divided by the members processing it (ms),",
        "and handshake bytes (binary KiB; base64url on the wire is 4/3 of it):",
        "",
        "| members | join: committer | join: each member | join: the joiner (Welcome) | join: CPU / member | leave: committer | leave: each member | leave: CPU / member | join commit | Welcome | leave commit |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        c, b, p = r["cpu"], r["bytes"], r["process_cpu"]
        per_join = p["join"] / (r["active"] + 1) if p["join"] is not None else None
        per_leave = p["leave"] / r["active"] if p["leave"] is not None else None
        out.append(f"| {r['n']} | {ms(c['join_create'])} | {ms(c['join_process'])} | {ms(c['join_welcome'])} | {ms(per_join)}"
                   f" | {ms(c['leave_create'])} | {ms(c['leave_process'])} | {ms(per_leave)}"
                   f" | {kib(b['join_commit'])} | {kib(b['join_welcome'])} | {kib(b['leave_commit'])} |")
    out += [
        "",
        "Per device: the critical path of the members' own steps, as if each member had its own device (p50 of each",
        "step, ms: the commit timer, the committer's createCommit, then for a join the joiner's Welcome or the others'",
        "processCommit + the senders' switch, whichever is later; for a leave the others' processCommit). Each step is",
        "the elapsed time in its call, so on this shared machine it still includes waits for the CPU: an upper bound",
        "of what a device spends, network excluded. The goals at 500 members: join ≤ 2,000, leave ≤ 1,000 (p95).",
        "",
        "| members | join → first decryptable frame, per device | leave → every member on the new epoch, per device |",
        "|---:|---:|---:|",
    ]
    for r in rows:
        out.append(f"| {r['n']} | {ms(per_device(r)[0])} | {ms(per_device(r)[1])} |")
    storms = [r for r in rows if r.get("storm")]
    if storms:
        out += ["", "Join storm (members connecting within one second), ms from the first connection:", "",
                "| members | storm | keyed p50 / p95 / max | commits | epochs | each joiner's Welcome CPU p50 |", "|---:|---:|---:|---:|---:|---:|"]
        for r in storms:
            s = r["storm"]
            out.append(f"| {r['n']} | {s['n']} | {ms(s['p50'])} / {ms(s['p95'])} / {ms(s['max'])} | {s['commits']} | {s['epochs']} | {ms(s['joinCpuP50'])} |")
    out.append("")
    out.append("Refused handshake messages at the active members: " + ", ".join(f"{r['n']}: {r['refusals']}" for r in rows))
    out.append("Commits sent by the active members / lost to a rival commit of the same epoch: "
               + ", ".join(f"{r['n']}: {r.get('commits_sent')} / {r.get('commits_lost')}" for r in rows))
    return "\n".join(out)


COMMIT_BATCH_MS = 100  # signalling/client/e2ee/group.js: the committer's timer (rank 0)
SEND_SWITCH_DELAY_MS = 250  # signalling/client/e2ee.js: senders switch this long after applying a commit


def per_device(r: dict[str, Any]) -> tuple[float | None, float | None]:
    """(join, leave) critical paths of the members' own MLS steps (p50s), ms; None when a step was not measured."""
    c = r["cpu"]
    if None in (c["join_create"], c["join_welcome"], c["join_process"]):
        join = None
    else:
        join = COMMIT_BATCH_MS + c["join_create"] + max(c["join_welcome"], c["join_process"] + SEND_SWITCH_DELAY_MS)
    leave = None if None in (c["leave_create"], c["leave_process"]) else COMMIT_BATCH_MS + c["leave_create"] + c["leave_process"]
    return join, leave


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 500])
    ap.add_argument("--active", type=int, default=8, help="members that process every handshake (measured)")
    ap.add_argument("--cycles", type=int, default=5, help="join + leave cycles per size")
    ap.add_argument("--storm", type=int, default=50, help="members joining within one second (0: none)")
    ap.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = ap.parse_args()
    rows = []
    for n in args.sizes:
        print(f"== {n} members", file=sys.stderr, flush=True)
        rows.append(asyncio.run(one_size(n, min(args.active, n), args.cycles, args.storm)))
    text = table(rows)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
