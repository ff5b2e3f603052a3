"""Serving a seek into a long recording: `python -m loadtests.bench.recording_range [--mib 256] [--runs 3]`.

One object of `--mib` MiB sealed in a tenant vault on a local volume (recording/store.py, a temporary directory),
then the time to produce the plaintext of its last 1 MiB (what a player asks for when it seeks to the end), two
ways: the old path (the envelope opened as a stream from its first chunk, the bytes before the range decrypted and
dropped: `TenantVault.get` cut to the range, as the play route served it before) and the ranged read (`TenantVault.get_range`: the header and
the chunks the range touches). The median of `--runs` of each is printed, with the bytes each read from the
volume. docs/benchmark.md has the figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from recording.envelope import CHUNK
from recording.store import LocalVolumeStore, TenantVault

TENANT = "acme"
NAME = "rec-bench/cam.webm"


class _Counting(LocalVolumeStore):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.read = 0

    def get(self, key: str) -> Iterator[bytes]:
        for b in super().get(key):
            self.read += len(b)
            yield b

    def read_at(self, key: str, offset: int, length: int) -> bytes:
        out = super().read_at(key, offset, length)
        self.read += len(out)
        return out


def _stream_window(chunks: Iterator[bytes], first: int, last: int) -> Iterator[bytes]:
    """The old path: bytes first..last of the whole plaintext stream, everything before opened and dropped."""
    pos = 0
    for c in chunks:
        end = pos + len(c)
        if end > first:
            piece = c[max(0, first - pos):min(len(c), last + 1 - pos)]
            if piece:
                yield piece
        pos = end
        if pos > last:
            return


def _timed(fn: Callable[[], bytes], runs: int) -> tuple[float, bytes]:
    times, out = [], b""
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def run(mib: int, runs: int) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="castellan-rangebench-"))
    try:
        store = _Counting(root)
        vault = TenantVault(store, {TENANT: ("bench", os.urandom(32))})
        size = mib * CHUNK
        vault.put(TENANT, NAME, (os.urandom(CHUNK) for _ in range(mib)))
        first, last = size - CHUNK, size - 1

        def old() -> bytes:
            return b"".join(_stream_window(vault.get(TENANT, NAME), first, last))

        def new() -> bytes:
            return b"".join(vault.get_range(TENANT, NAME, size, first, last))

        store.read = 0
        t_old, a = _timed(old, runs)
        read_old = store.read // runs
        store.read = 0
        t_new, b = _timed(new, runs)
        read_new = store.read // runs
        assert a == b and len(a) == CHUNK
        return {"object_mib": mib, "range_mib": 1, "stream_s": round(t_old, 4), "ranged_s": round(t_new, 4),
                "speedup": round(t_old / t_new, 1), "stream_read_mib": round(read_old / CHUNK, 2),
                "ranged_read_mib": round(read_new / CHUNK, 2)}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=int, default=256, help="the object's size (a long meeting's video is GBs)")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if not 2 <= args.mib <= 4096 or not 1 <= args.runs <= 20:
        ap.error("--mib 2..4096, --runs 1..20")
    print(json.dumps(run(args.mib, args.runs)))


if __name__ == "__main__":
    main()
