"""Node memory per soak session (issue 18): the soak's per-session path against ONE node process, with its heap
sampled after every session.

    .venv/bin/python -m loadtests.soak.memprobe --sessions 40 [--trace-at 20,40] [--heaptrack]

The soak's deployment (redis, the control plane, one node registered and verified), the node run by
`loadtests.bench.node` (the same node, plus `/heap`: RSS and glibc `mallinfo2`, and `/tracemalloc`). `--staying` soak
participants stay (one publisher, then subscribers: 3); then `--sessions` times a participant joins through the
control plane (a fresh single-use token, the audit log, presence, a DTLS handshake on the node's handshake
thread), receives (a subscriber) or publishes looped VP8 + Opus (every `--publish-every` sessions: 3), and leaves — with a
`leave`, or every fourth session without a goodbye. After each: the node's RSS and heap. At the end: the growth
per session over the second half (least squares), so a cache filling during the first half does not count as
growth and one still filling in the second does.

`--garbage` collects the node's cyclic garbage after each session and prints its types (what reference counting
did not free: it waits for the collector, native memory included). `--trace-at` prints the node's tracemalloc growth (Python allocations, after a full collection) between those
sessions; `--heaptrack` runs the node under heaptrack (Debian package `heaptrack`) and names the output file;
`--memray FILE` runs it under memray (PyPI `memray`, not a dependency: `pip install memray`) with native stacks and,
after the node has exited, prints the allocations still live at its exit grouped by stack, the largest counts
first: after every participant has left, a stack whose count follows the number of sessions is what they leave.
Loopback only; bounded by `--sessions`; everything it starts is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loadtests.bench.churn import per_session
from loadtests.soak.deployment import Deployment, NodeProc
from loadtests.soak.participant import Participant
from loadtests.soak.scenario import receiving
from tests.support.ports import free_port

Say = Callable[[str], None]


def _get(port: int, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as r:  # noqa: S310 - loopback
        data: dict[str, Any] = json.loads(r.read())
    return data


def smaps(pid: int) -> dict[str, tuple[int, int, str]]:
    """The process's mappings: start address -> (size, resident bytes, what: a path, [heap], [stack] or anon)."""
    out: dict[str, tuple[int, int, str]] = {}
    start, size, name = "", 0, ""
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split()
            if "-" in head[0] and not head[0].endswith(":"):
                lo, hi = head[0].split("-")
                start, size, name = lo, int(hi, 16) - int(lo, 16), head[5] if len(head) > 5 else "anon"
            elif head[0] == "Rss:":
                out[start] = (size, int(head[1]) * 1024, name)
    return out


def smaps_growth(before: dict[str, tuple[int, int, str]], after: dict[str, tuple[int, int, str]],
                 least: int = 32 * 1024) -> list[str]:
    """Mappings whose resident size changed by `least` bytes or more (new and gone ones included), largest first."""
    rows = []
    for addr in before.keys() | after.keys():
        size, rss, name = after.get(addr) or before[addr]
        diff = (after[addr][1] if addr in after else 0) - (before[addr][1] if addr in before else 0)
        if abs(diff) >= least:
            state = "new " if addr not in before else "gone" if addr not in after else "    "
            rows.append((diff, f"{diff / 1024:+8.0f} KiB  {state} {addr} size {size / 1024:8.0f} KiB  "
                               f"resident {rss / 1024:8.0f} KiB  {name}"))
    return [r for _, r in sorted(rows, key=lambda r: -abs(r[0]))]


async def run_probe(workdir: Path, sessions: int, seconds: float, say: Say, trace_at: tuple[int, ...] = (),
                    heaptrack: bool = False, trace_frames: int = 12, garbage: bool = False,
                    smaps_at: tuple[int, ...] = (), publish_every: int = 3,
                    staying: int = 3, memray: Path | None = None) -> list[dict[str, int]]:
    dep = Deployment(workdir)
    bench_port = free_port()
    launcher = [sys.executable, "-m", "loadtests.bench.node", "--bench-port", str(bench_port)]
    if heaptrack:
        ht = shutil.which("heaptrack")
        if ht is None:
            raise SystemExit("heaptrack is not installed (apt-get install heaptrack)")
        launcher = [ht, "-o", str(workdir / "node.heaptrack"), *launcher]
        say(f"heaptrack: {workdir / 'node.heaptrack.zst'} (heaptrack_print -f FILE --print-leaks 1)")
    if memray is not None:
        launcher = [sys.executable, "-m", "memray", "run", "--native", "--force", "-q", "-o", str(memray),
                    *launcher[1:]]
        say(f"memray: {memray}")
    env = {"CASTELLAN_BENCH_TRACEMALLOC": str(trace_frames)} if trace_at else {}
    samples: list[dict[str, int]] = []
    ps: list[Participant] = []
    node: NodeProc | None = None
    try:
        await asyncio.to_thread(dep.start, 0)
        node = await asyncio.to_thread(dep.start_node, launcher, env)
        say(f"node {node.id} pid {node.pid}, bench port {bench_port}, workdir {workdir}")
        stay = [Participant("stay-pub", "pub", dep.cp_url, dep.link)]
        stay += [Participant(f"stay-sub-{i}", "sub", dep.cp_url, dep.link) for i in range(1, staying)]
        ps.extend(stay)
        for p in stay:
            await p.join()
        got = await receiving(stay, timeout=60)
        say(f"staying participants receiving: {got}")
        # a publisher every `publish_every` sessions (3; 0: never): the staying aiortc bots' SDP grows by two
        # m-lines per publisher that came and went (a bot artefact), and the node refuses SDP over 64 KiB after
        # ~30 of them
        churners = [Participant("churn-pub", "pub", dep.cp_url, dep.link)] if publish_every else []
        churners += [Participant(f"churn-sub-{i}", "sub", dep.cp_url, dep.link)
                     for i in range(1, max(2, publish_every))]
        ps.extend(churners)
        if trace_at:
            await asyncio.to_thread(_get, bench_port, "/tracemalloc")  # the baseline
        maps = smaps(node.pid) if smaps_at else {}
        for n in range(sessions):
            p = churners[n % len(churners)]
            await p.join()
            await receiving([p], timeout=30)
            await asyncio.sleep(seconds)
            if n % 4 == 3:
                await p.crash()
            else:
                await p.leave()
            await asyncio.sleep(1.0)
            heap = await asyncio.to_thread(_get, bench_port, "/heap")
            samples.append(heap)
            say(f"session {n + 1:3d} ({p.role}): RSS {heap['VmRSS'] / 1e6:7.2f} MB  heap in use "
                f"{heap.get('uordblks', 0) / 1e6:6.2f} MB  free in heap {heap.get('fordblks', 0) / 1e6:6.2f} MB  "
                f"mmap {heap.get('hblkhd', 0) / 1e6:6.2f} MB  arena {heap.get('arena', 0) / 1e6:6.2f} MB  "
                f"threads {heap.get('threads', 0)}")
            if garbage:
                g = await asyncio.to_thread(_get, bench_port, "/garbage")
                say(f"  cyclic garbage: {g['collected']} objects: {g['types']}")
            if n + 1 in smaps_at:
                now = smaps(node.pid)
                rows = smaps_growth(maps, now)
                say(f"mappings resident changed since the last look ({len(rows)}; total "
                    f"{(sum(v[1] for v in now.values()) - sum(v[1] for v in maps.values())) / 1024:+.0f} KiB):")
                for row in rows[:25]:
                    say("  " + row)
                maps = now
            if n + 1 in trace_at:
                growth = await asyncio.to_thread(_get, bench_port, "/tracemalloc")
                say(f"tracemalloc after session {n + 1}: {growth.get('traced', 0) / 1e6:.2f} MB traced, "
                    f"{growth.get('gc_objects')} gc objects")
                for g in growth.get("growth", [])[:20]:
                    say(f"  {g['size_diff']:+9d} B {g['count_diff']:+6d}  " + " <- ".join(g["where"][-5:][::-1]))
        return samples
    finally:
        for p in ps:
            await p.leave()
        if heaptrack and node is not None:
            await asyncio.to_thread(_stop_under_heaptrack, node.proc.proc, say)
        if memray is not None and node is not None:
            await asyncio.sleep(3.0)  # the staying participants' goodbyes reach the node before it stops
            await asyncio.to_thread(_stop_node_alone, node.proc.proc, say)
        await asyncio.to_thread(dep.stop)


def _stop_node_alone(proc: subprocess.Popen[bytes], say: Say) -> None:
    """SIGTERM to the node, then wait: memray writes its file's end as the process exits."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(120)
    except subprocess.TimeoutExpired:
        say("the node did not exit within 120 s")


def memray_leaks(path: Path, top: int = 15, frames: int = 10) -> list[str]:
    """Allocations live at the node's exit, by stack (native and Python frames), the largest counts first."""
    from memray import FileReader  # type: ignore[import-not-found,unused-ignore]

    reader = FileReader(str(path))
    records = sorted(reader.get_leaked_allocation_records(merge_threads=True),
                     key=lambda r: (-r.n_allocations, -r.size))
    out = []
    for r in records[:top]:
        stack = [f"{fn} ({Path(file).name}:{line})" for fn, file, line in r.hybrid_stack_trace(max_stacks=frames)]
        out.append(f"{r.n_allocations:6d} allocations {r.size / 1024:9.1f} KiB  " + " <- ".join(stack))
    return out


def _stop_under_heaptrack(proc: subprocess.Popen[bytes], say: Say) -> None:
    """SIGTERM to the node alone, then wait for heaptrack to write its file: stopping the process group would
    stop heaptrack's interpreter with it and cut the recording short."""
    try:
        with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
            children = [int(c) for c in f.read().split()]
    except OSError:
        return
    for child in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGTERM)
    try:
        proc.wait(120)
    except subprocess.TimeoutExpired:
        say("heaptrack did not finish within 120 s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="loadtests.soak.memprobe", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=2.0, help="time in the meeting per session, once receiving")
    ap.add_argument("--trace-at", default="", help="sessions after which to print tracemalloc growth, e.g. 20,40")
    ap.add_argument("--smaps-at", default="", help="sessions after which to print the node's mappings whose "
                                                   "resident size changed (/proc/<pid>/smaps), e.g. 10,40")
    ap.add_argument("--heaptrack", action="store_true", help="run the node under heaptrack")
    ap.add_argument("--memray", type=Path, default=None, metavar="FILE",
                    help="run the node under memray (native stacks) into FILE; print what is live at its exit")
    ap.add_argument("--staying", type=int, default=3, help="participants staying throughout: a publisher, then "
                                                            "subscribers (3)")
    ap.add_argument("--publish-every", type=int, default=3,
                    help="a publisher's session every N sessions, subscribers' in between (0: subscribers only)")
    ap.add_argument("--garbage", action="store_true",
                    help="after each session, collect the node's cyclic garbage and print what it was")
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args(argv)
    if not 1 <= args.sessions <= 500:
        ap.error("--sessions must be 1..500")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="castellan-memprobe-"))
    t0 = time.monotonic()
    samples = asyncio.run(run_probe(workdir, args.sessions, args.seconds,
                                    say=lambda m: print(f"[{time.monotonic() - t0:6.1f} s] {m}", file=sys.stderr),
                                    trace_at=tuple(int(x) for x in args.trace_at.split(",") if x),
                                    heaptrack=args.heaptrack, garbage=args.garbage,
                                    publish_every=args.publish_every, staying=max(1, args.staying),
                                    smaps_at=tuple(int(x) for x in args.smaps_at.split(",") if x),
                                    memray=args.memray))
    for key in ("VmRSS", "uordblks", "arena", "hblkhd"):
        print(f"{key}: {per_session(samples, key) / 1024:+.1f} KiB per session (second half)")
    if args.memray is not None:
        print(f"live at the node's exit, by stack ({args.memray}):")
        for line in memray_leaks(args.memray):
            print("  " + line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
