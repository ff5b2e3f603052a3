"""Bench node launcher: `python -m loadtests.bench.node [--engine native|python] <sfu.server arguments>`.

Runs exactly `sfu.server` (same Node from the same factory, same Starlette app on uvicorn + uvloop) with two bench-only additions:

- `--engine python` swaps the native engine for `native.reference.ReferenceForwarder` on the same socket right
  after the node starts (the pure-Python path: pylibsrtp + sendto), timed per packet like the engine;
- `GET /bench/latency?reset=1` returns the engine's forwarding latency histogram (arrival -> send, 1 µs
  buckets) as {"hist": {"<µs>": count}} — the node's /stats has counters but not the histogram;
- `--bench-port P` serves `/counters` (engine counters), `/heap` (RSS by mapping kind, glibc mallinfo2, Python's
  allocated blocks), `/trim` (malloc_trim(0), then as `/heap`), `/malloc_info` (glibc's free chunks per arena by
  size), `/objects` (live objects by type after a full collection), `/garbage` (collects the
  cyclic garbage, says what it was), `/cpu` (CPU seconds per thread: the event loop, media, DTLS, heartbeat) and
  `/latency` from a thread, outside the event loop, so the bench can still read them when the loop is saturated
  (the pure-Python path at large N);
- `CASTELLAN_BENCH_HEAP=before`: the node's housekeeping as it was before it collected cyclic garbage before each
  trim (no start-up freeze, no collection: `sfu/heap.py`), for side-by-side memory probes;
- `CASTELLAN_BENCH_PROFILE=FILE[:SECONDS]`: cProfile of the event loop's thread (where its CPU goes);
- `CASTELLAN_BENCH_STALLS=FILE`: what the event loop was doing while it stalled — a thread samples the loop
  thread's stack every 10 ms whenever the loop has not turned for 100 ms, and FILE gets the stacks seen most,
  with the stalled seconds each (where its *stalls* come from, which a profile's totals hide).
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import ctypes.util
import functools
import gc
import json
import os
import sys
import threading
import time
import tracemalloc
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import sfu.factory as factory
import sfu.server as server
from native.constants import HIST_BUCKETS
from native.reference import ReferenceForwarder
from sfu.node import Node

ENGINE = "native"
NODES: list[Node] = []


class TimedReferenceForwarder(ReferenceForwarder):
    """The reference path plus the engine's latency histogram (userspace arrival: recvfrom returned -> sendto
    returned; the native engine uses the kernel's SO_TIMESTAMPNS arrival, so it also sees socket queueing)."""

    def __init__(self, sock: Any) -> None:
        super().__init__(sock)
        self.hist = [0] * HIST_BUCKETS
        self._arrival = 0

    def _handle(self, data: bytes, addr: tuple[str, int], events: list) -> None:
        self._arrival = time.perf_counter_ns()
        super()._handle(data, addr, events)

    def _send(self, sp: Any, plain: bytes, twcc_seq: int | None = None) -> bytes | None:
        data = super()._send(sp, plain, twcc_seq)
        if data is not None:
            us = (time.perf_counter_ns() - self._arrival) // 1000
            self.hist[us if us < HIST_BUCKETS else HIST_BUCKETS - 1] += 1
        return data

    def latency_histogram(self, reset: bool = False) -> list[int]:
        out = list(self.hist)
        if reset:
            self.hist = [0] * HIST_BUCKETS
        return out


class BenchNode(Node):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if ENGINE == "python":
            self.config.measure_latency = False  # no SO_TIMESTAMPNS: the reference reads with recvfrom
            self.config.media_thread = False  # the reference is driven by the event loop
        NODES.append(self)

    async def start(self) -> None:
        await super().start()
        if os.environ.get("CASTELLAN_BENCH_HEAP") == "before":  # the housekeeping before the collection (issue 18)
            gc.unfreeze()
            self.heap.collect = None
        if os.environ.get("CASTELLAN_BENCH_TRACEMALLOC"):  # `/tracemalloc`: what grew since the last call
            tracemalloc.start(int(os.environ["CASTELLAN_BENCH_TRACEMALLOC"]))
        profile = os.environ.get("CASTELLAN_BENCH_PROFILE")  # FILE[:SECONDS]: cProfile of the event loop's thread
        stalls = os.environ.get("CASTELLAN_BENCH_STALLS")
        if stalls:
            STALLS.append(StallSampler(asyncio.get_running_loop(), stalls))
            STALLS[0].start()
        if profile:
            import cProfile

            path, _, seconds = profile.partition(":")
            prof = cProfile.Profile()
            prof.enable()
            asyncio.get_running_loop().call_later(float(seconds or 60), lambda: (prof.disable(), prof.dump_stats(path)))
        if ENGINE == "python":
            assert self.sock is not None
            self.engine = TimedReferenceForwarder(self.sock)  # type: ignore[assignment]


def _create_app(signalling: Any, lifespan: Any = None, extra_routes: Any = ()) -> Any:
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    app = _orig_create(signalling, lifespan=lifespan, extra_routes=extra_routes)

    async def latency(request: Any) -> Any:
        node = signalling.node
        reset = request.query_params.get("reset") in ("1", "true")
        hist = node.engine.latency_histogram(reset) if node.engine is not None else []
        return JSONResponse(
            {"engine": ENGINE, "pid": os.getpid(), "hist": {str(i): c for i, c in enumerate(hist) if c}}
        )

    app.router.routes.append(Route("/bench/latency", latency))
    return app


_orig_create = factory.create_node_app
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))) + "/"


class StallSampler:
    """Samples the event loop thread's stack while the loop is stalled (no turn for `threshold` seconds).

    The loop stamps `beat` every `period`; a daemon thread wakes every `period` and, when the stamp is older than
    `threshold`, counts the loop thread's current stack (innermost `depth` frames). Each sample stands for
    `period` seconds of stall. `dump` writes the stacks seen most; it runs after each stall and on every `/stalls` read."""

    def __init__(self, loop: asyncio.AbstractEventLoop, path: str, threshold: float = 0.1, period: float = 0.01,
                 depth: int = 14) -> None:
        self.loop, self.path, self.threshold, self.period, self.depth = loop, path, threshold, period, depth
        self.beat = time.monotonic()
        self.samples: collections.Counter[tuple[str, ...]] = collections.Counter()
        self.stalls = 0  # stalls seen (a run of samples)
        self._tid = threading.get_ident()
        self._stop = threading.Event()

    def start(self) -> None:
        self._stamp()
        threading.Thread(target=self._run, name="bench-stalls", daemon=True).start()

    def _stamp(self) -> None:
        self.beat = time.monotonic()
        self.loop.call_later(self.period, self._stamp)

    def _run(self) -> None:
        stalled = False
        while not self._stop.wait(self.period):
            if time.monotonic() - self.beat < self.threshold:
                if stalled:  # a stall ended: the file is kept current (the node may be killed, not exit)
                    self.dump()
                stalled = False
                continue
            frame = sys._current_frames().get(self._tid)
            stack: list[str] = []
            while frame is not None and len(stack) < self.depth:
                code = frame.f_code
                # the project's own frames keep their package path; libraries' and the stdlib's are marked `~`
                name = code.co_filename
                ours = name.startswith(ROOT) and "/site-packages/" not in name
                short = name[len(ROOT):] if ours else "~" + name.rsplit("/", 1)[-1]
                stack.append(f"{short}:{frame.f_lineno}({code.co_name})")
                frame = frame.f_back
            self.samples[tuple(stack)] += 1
            self.stalls += not stalled
            stalled = True

    def dump(self, top: int = 40) -> dict[str, Any]:
        total = sum(self.samples.values())
        leaves: collections.Counter[str] = collections.Counter()
        for stack, n in self.samples.items():
            leaves[next((f for f in stack if not f.startswith("~")), stack[0] if stack else "?")] += n
        out = {"stalls": self.stalls, "stalled_seconds": round(total * self.period, 2),
               "by_innermost_project_frame": [{"seconds": round(n * self.period, 2), "frame": f} for f, n in leaves.most_common(top)],
               "stacks": [{"seconds": round(n * self.period, 2), "stack": list(st)} for st, n in self.samples.most_common(top)]}
        with open(self.path, "w") as f:
            json.dump(out, f, indent=1)
        return out


STALLS: list[StallSampler] = []


def thread_cpu() -> dict[str, float]:
    """CPU seconds (user + system) of each of this process's threads, by Python thread name (a thread Python does
    not know: `tid-N`); threads of the same name (`dtls_0`, `dtls_1`, ...) are summed under the name's stem."""
    names = {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}
    names[os.getpid()] = "event-loop"
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        name = names.get(int(tid), "other")
        stem = name.rstrip("0123456789").rstrip("_-") or name
        out[stem] = out.get(stem, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


@functools.cache
def _mallinfo2() -> Any:
    """glibc's mallinfo2, loaded once (a CDLL per call is cyclic garbage of its own), or None."""
    libc = ctypes.util.find_library("c")
    fn = getattr(ctypes.CDLL(libc), "mallinfo2", None) if libc is not None else None
    if fn is not None:
        fn.restype = _Mallinfo2
    return fn


def heap_figures() -> dict[str, int]:
    """The node process's memory: RSS, and glibc's view of its heap (mallinfo2: `uordblks` bytes in use,
    `fordblks` free inside the heap, `hblkhd` in mmap'd blocks, `arena` the heap's size over every arena)."""
    out: dict[str, int] = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "RssAnon:")):
                key, value = line.split(":")
                out[key] = int(value.split()[0]) * 1024
    fn = _mallinfo2()
    if fn is not None:
        info = fn()
        out.update({name: int(getattr(info, name)) for name, _ in _Mallinfo2._fields_})
    out["threads"] = threading.active_count()
    out["py_blocks"] = sys.getallocatedblocks()  # Python objects (and buffers) allocated through pymalloc or not
    out.update(resident_by_kind())
    return out


def resident_by_kind(pid: int | str = "self") -> dict[str, int]:
    """Resident bytes by mapping kind (/proc/<pid>/smaps): `rss_heap` glibc's main heap (brk), `rss_anon` anonymous
    mappings (pymalloc's 1 MiB arenas, glibc's thread arenas and mmap'd blocks, the engine's rings, stacks),
    `rss_file` mapped files (code, libraries)."""
    out = {"rss_heap": 0, "rss_anon": 0, "rss_file": 0}
    kind = "rss_anon"
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split()
            if "-" in head[0] and not head[0].endswith(":"):
                name = head[5] if len(head) > 5 else ""
                kind = "rss_heap" if name == "[heap]" else "rss_file" if name.startswith("/") else "rss_anon"
            elif head[0] == "Rss:":
                out[kind] += int(head[1]) * 1024
    return out


@functools.cache
def _libc() -> Any:
    libc = ctypes.util.find_library("c")
    return ctypes.CDLL(libc) if libc is not None else None


def trim() -> dict[str, int]:
    """glibc's malloc_trim(0) now (what the node's housekeeping does after sessions end), then the figures."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        libc.malloc_trim(0)
    return heap_figures()


def malloc_info() -> dict[str, Any]:
    """glibc's malloc_info() (XML), summed: per arena the free chunks by kind (fast bins, the rest), its size
    (`system current`) and the free chunks by size class: how the free memory inside the heaps is cut up."""
    import tempfile
    import xml.etree.ElementTree as ET

    libc = _libc()
    if libc is None or not hasattr(libc, "malloc_info"):
        return {"error": "no glibc malloc_info"}
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    with tempfile.NamedTemporaryFile(suffix=".xml") as tmp:
        fp = libc.fopen(tmp.name.encode(), b"w")
        libc.malloc_info(0, fp)
        libc.fclose(fp)
        root = ET.parse(tmp.name).getroot()
    heaps = []
    for h in root.findall("heap"):
        sizes = [(int(s.get("from", 0)), int(s.get("to", 0)), int(s.get("count", 0)), int(s.get("total", 0)))
                 for s in h.find("sizes") or [] if s.tag == "size"]
        totals = {t.get("type"): (int(t.get("count", 0)), int(t.get("size", 0))) for t in h.findall("total")}
        system = {s.get("type"): int(s.get("size", 0)) for s in h.findall("system")}
        heaps.append({"nr": int(h.get("nr", 0)), "system_current": system.get("current", 0),
                      "free_fast": totals.get("fast", (0, 0)), "free_rest": totals.get("rest", (0, 0)),
                      "free_sizes": [list(s) for s in sizes if s[2]]})
    totals = {t.get("type"): (int(t.get("count", 0)), int(t.get("size", 0))) for t in root.findall("total")}
    return {"heaps": heaps, "totals": totals}


def objects_by_type() -> dict[str, int]:
    """Live objects the cyclic collector tracks, by type, after a full collection (instances of classes, dicts,
    lists, closures: what a kept session would leave)."""
    gc.collect()
    return dict(Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects()))


_LAST_SNAPSHOT: list[tracemalloc.Snapshot] = []


def tracemalloc_growth(top: int = 25) -> dict[str, Any]:
    """Python allocations grown since the previous call (by traceback), after a full collection."""
    if not tracemalloc.is_tracing():
        return {"error": "start the node with CASTELLAN_BENCH_TRACEMALLOC=<frames>"}
    gc.collect()
    snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
    out: dict[str, Any] = {"traced": tracemalloc.get_traced_memory()[0], "gc_objects": len(gc.get_objects())}
    if _LAST_SNAPSHOT:
        stats = snap.compare_to(_LAST_SNAPSHOT[0], "traceback")
        out["growth"] = [{"size_diff": st.size_diff, "count_diff": st.count_diff,
                          "where": [f"{fr.filename}:{fr.lineno}" for fr in st.traceback]} for st in stats[:top]]
    _LAST_SNAPSHOT[:] = [snap]
    return out


def cyclic_garbage(top: int = 25) -> dict[str, Any]:
    """Collects the cyclic garbage now and says what it was (types and counts): objects that reference counting
    did not free, which wait for the collector (and hold their native memory meanwhile)."""
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        found = gc.collect()
        kinds = Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.garbage)
    finally:
        gc.garbage.clear()
        gc.set_debug(0)
        gc.collect()  # what DEBUG_SAVEALL kept is cyclic garbage still: free it
    return {"collected": found, "types": dict(kinds.most_common(top))}


class _BenchHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        engine = NODES[0].engine if NODES else None
        body: dict[str, Any]
        if engine is None:
            body, code = {"error": "not started"}, 503
        elif self.path.startswith("/counters"):
            body, code = engine.counters(), 200
        elif self.path.startswith("/garbage"):
            body, code = cyclic_garbage(), 200
        elif self.path.startswith("/tracemalloc"):
            body, code = tracemalloc_growth(), 200
        elif self.path.startswith("/heap"):
            body, code = heap_figures(), 200
        elif self.path.startswith("/trim"):
            body, code = trim(), 200
        elif self.path.startswith("/malloc_info"):
            body, code = malloc_info(), 200
        elif self.path.startswith("/objects"):
            body, code = objects_by_type(), 200
        elif self.path.startswith("/cpu"):
            body, code = thread_cpu(), 200
        elif self.path.startswith("/stalls"):
            body, code = (STALLS[0].dump(), 200) if STALLS else ({"error": "set CASTELLAN_BENCH_STALLS"}, 404)
        elif self.path.startswith("/latency"):
            hist = engine.latency_histogram("reset=1" in self.path)
            body, code = {"engine": ENGINE, "hist": {str(i): c for i, c in enumerate(hist) if c}}, 200
        else:
            body, code = {"error": "not found"}, 404
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def main(argv: list[str]) -> int:
    global ENGINE
    bench_port = 0
    while len(argv) >= 2 and argv[0] in ("--engine", "--bench-port"):
        if argv[0] == "--engine":
            ENGINE = argv[1]
        else:
            bench_port = int(argv[1])
        argv = argv[2:]
    if bench_port:
        httpd = ThreadingHTTPServer(("127.0.0.1", bench_port), _BenchHandler)
        threading.Thread(target=httpd.serve_forever, name="bench-http", daemon=True).start()
    if ENGINE not in ("native", "python"):
        raise SystemExit("--engine must be native or python")
    factory.Node = BenchNode  # type: ignore[misc]
    factory.create_node_app = _create_app
    return server.main(argv)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
