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
`--trim` also samples each session right after a `malloc_trim(0)` in the node (what no trim can return: live memory
and fragments), `--objects-every N` counts the node's live objects by type every N sessions (after a full
collection; the node's own types listed where their count changed), and `--compare` runs the probe against two
deployments at once, side by side: a node whose housekeeping is as it was before it collected cyclic garbage ahead
of its trims (`CASTELLAN_BENCH_HEAP=before`) and the node as it is (issue 18; docs/reliability.md):

    .venv/bin/python -m loadtests.soak.memprobe --compare --sessions 150 --trim --objects-every 50

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
NODE_MODULES = ("sfu.", "native.", "signalling.", "residency.")  # the node's own types, counted by `--objects-every`


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
                    staying: int = 3, memray: Path | None = None, trim: bool = False,
                    objects_every: int = 0, node_env: dict[str, str] | None = None,
                    starting: asyncio.Lock | None = None) -> list[dict[str, int]]:
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
    env.update(node_env or {})
    samples: list[dict[str, int]] = []
    ps: list[Participant] = []
    node: NodeProc | None = None
    try:
        async with starting or contextlib.nullcontext():  # seeding runs migrations in this process: one at a time
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
            if trim:  # the same figures right after a malloc_trim(0): what the housekeeping's trim cannot return
                trimmed = await asyncio.to_thread(_get, bench_port, "/trim")
                heap.update({f"trimmed_{k}": v for k, v in trimmed.items()})
            if objects_every and (n + 1) % objects_every == 0:
                kinds = await asyncio.to_thread(_get, bench_port, "/objects")
                heap["gc_objects"] = sum(kinds.values())
                heap.update({f"objects:{k}": v for k, v in kinds.items()})
            samples.append(heap)
            say(f"session {n + 1:3d} ({p.role}): RSS {heap['VmRSS'] / 1e6:7.2f} MB  heap in use "
                f"{heap.get('uordblks', 0) / 1e6:6.2f} MB  free in heap {heap.get('fordblks', 0) / 1e6:6.2f} MB  "
                f"mmap {heap.get('hblkhd', 0) / 1e6:6.2f} MB  arena {heap.get('arena', 0) / 1e6:6.2f} MB  "
                f"py blocks {heap.get('py_blocks', 0)}  [heap] {heap.get('rss_heap', 0) / 1e6:6.2f} MB  "
                f"anon {heap.get('rss_anon', 0) / 1e6:6.2f} MB  threads {heap.get('threads', 0)}"
                + (f"  | trimmed: RSS {heap['trimmed_VmRSS'] / 1e6:7.2f} MB  [heap] "
                   f"{heap['trimmed_rss_heap'] / 1e6:6.2f} MB" if trim else "")
                + (f"  | gc objects {heap['gc_objects']}" if "gc_objects" in heap else ""))
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


FIGURES = (("VmRSS", "RSS"), ("uordblks", "glibc heap in use"), ("fordblks", "glibc free inside its heaps"),
           ("arena", "glibc heaps' size"), ("hblkhd", "glibc mmap'd blocks"), ("rss_heap", "[heap] resident"),
           ("rss_anon", "anonymous mappings resident"), ("trimmed_VmRSS", "RSS after malloc_trim(0)"),
           ("trimmed_rss_heap", "[heap] resident after malloc_trim(0)"))


def summary(samples: list[dict[str, int]]) -> list[str]:
    """Growth per session over the second half (least squares) of each figure sampled, Python's allocated blocks
    and live objects per session, and the node's own object types whose count changed since the first count."""
    out = [f"{label}: {per_session(samples, key) / 1024:+.1f} KiB per session (second half)"
           for key, label in FIGURES if any(key in s for s in samples)]
    out.append(f"Python allocated blocks: {per_session(samples, 'py_blocks'):+.1f} per session (second half)")
    counted = [s for s in samples if "gc_objects" in s]
    if len(counted) >= 2:
        out.append(f"live objects (gc): {counted[0]['gc_objects']} -> {counted[-1]['gc_objects']}, "
                   f"{per_session(counted, 'gc_objects') / (len(samples) / len(counted)):+.2f} per session "
                   "(second half of the counts)")
        first, last = counted[0], counted[-1]
        kinds = sorted({k for k in first.keys() | last.keys() if k.startswith("objects:")})
        changed = sorted(((k[len("objects:"):], first.get(k, 0), last.get(k, 0)) for k in kinds
                          if first.get(k, 0) != last.get(k, 0)), key=lambda c: -abs(c[2] - c[1]))
        own = [c for c in changed if c[0].startswith(NODE_MODULES)]
        out.append(f"the node's own types whose live count changed from the first count to the last ({len(own)}):")
        out += [f"  {k}: {a} -> {b}" for k, a, b in own[:30]]
        out.append("all types, the largest changes:")
        out += [f"  {k}: {a} -> {b}" for k, a, b in changed[:12]]
    return out


SIDES = {"before": {"CASTELLAN_BENCH_HEAP": "before"}, "after": {}}


async def compare(workdir: Path, sessions: int, seconds: float, say: Say, **kw: Any) -> dict[str, list[dict[str, int]]]:
    """The same probe against two deployments at once, side by side: a node whose housekeeping is as it was before
    it collected cyclic garbage ahead of its trims (`CASTELLAN_BENCH_HEAP=before`), and the node as it is. Both
    share the machine's load, so its noise falls on both alike."""
    starting = asyncio.Lock()
    runs = [run_probe(workdir / side, sessions, seconds, lambda m, side=side: say(f"{side:6s} {m}"),  # type: ignore[misc]
                      node_env=env, starting=starting, **kw) for side, env in SIDES.items()]
    for side in SIDES:
        (workdir / side).mkdir(parents=True, exist_ok=True)
    results = await asyncio.gather(*runs)
    return dict(zip(SIDES, results, strict=True))


def side_by_side(results: dict[str, list[dict[str, int]]]) -> list[str]:
    """One line per figure: its growth per session over the second half, and first -> last, for each side."""
    sides = list(results)
    out = [f"{'figure':40s} " + "  ".join(f"{s + ' (per session, 2nd half; first -> last)':>44s}" for s in sides)]
    for key, label in (*FIGURES, ("py_blocks", "Python allocated blocks")):
        if not all(any(key in x for x in results[s]) for s in sides):
            continue
        unit = 1 if key == "py_blocks" else 1024
        cells = []
        for s in sides:
            xs = results[s]
            first, last = xs[0].get(key, 0) / unit, xs[-1].get(key, 0) / unit
            cells.append(f"{per_session(xs, key) / unit:+9.1f}{'' if unit == 1 else ' KiB'}; "
                         f"{first:10.0f} -> {last:10.0f}")
        out.append(f"{label:40s} " + "  ".join(f"{c:>44s}" for c in cells))
    return out


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
    ap.add_argument("--trim", action="store_true",
                    help="after each session also sample right after a malloc_trim(0) in the node")
    ap.add_argument("--objects-every", type=int, default=0, metavar="N",
                    help="every N sessions count the node's live objects by type (after a full collection)")
    ap.add_argument("--compare", action="store_true",
                    help="two deployments at once, side by side: the node's housekeeping before its collection "
                         "ahead of the trims (CASTELLAN_BENCH_HEAP=before) and as it is")
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args(argv)
    if not 1 <= args.sessions <= 500:
        ap.error("--sessions must be 1..500")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="castellan-memprobe-"))
    t0 = time.monotonic()
    if args.compare:
        if args.heaptrack or args.memray or args.trace_at:
            ap.error("--compare runs two nodes: without --heaptrack, --memray or --trace-at")
        results = asyncio.run(compare(workdir, args.sessions, args.seconds,
                                      say=lambda m: print(f"[{time.monotonic() - t0:6.1f} s] {m}", file=sys.stderr),
                                      garbage=args.garbage, publish_every=args.publish_every,
                                      staying=max(1, args.staying), trim=args.trim,
                                      objects_every=args.objects_every))
        for side, samples in results.items():
            print(f"--- {side}")
            for line in summary(samples):
                print(line)
        print("--- side by side")
        for line in side_by_side(results):
            print(line)
        return 0
    samples = asyncio.run(run_probe(workdir, args.sessions, args.seconds,
                                    say=lambda m: print(f"[{time.monotonic() - t0:6.1f} s] {m}", file=sys.stderr),
                                    trace_at=tuple(int(x) for x in args.trace_at.split(",") if x),
                                    heaptrack=args.heaptrack, garbage=args.garbage,
                                    publish_every=args.publish_every, staying=max(1, args.staying),
                                    smaps_at=tuple(int(x) for x in args.smaps_at.split(",") if x),
                                    memray=args.memray, trim=args.trim, objects_every=args.objects_every))
    for line in summary(samples):
        print(line)
    if args.memray is not None:
        print(f"live at the node's exit, by stack ({args.memray}):")
        for line in memray_leaks(args.memray):
            print("  " + line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
