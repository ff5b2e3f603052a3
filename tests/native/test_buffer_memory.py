"""A publisher session that left gives its retransmission buffers back to the kernel (issue 18, soak).

The 1-hour soak saw the node's RSS rise in steps with each publisher session and never come down. The engine
malloc'ed each track's 1 MiB ring (and each RTX-less video subscription's 512 KiB sent ring); glibc serves such
a block with mmap only until the first is freed, then raises its mmap threshold, so later rings came from the
heap, and a freed ring with anything allocated above it stayed resident. The engine now maps those buffers
itself. Run in a process of its own (tests/native/buffer_memory_probe.py) so that RSS is the engine's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("native.engine")

ROOT = Path(__file__).resolve().parents[2]
RINGS = (512 + 128 + 256) * 2048     # video ring + audio ring + the video subscription's sent ring
STEP_KIB = 768                        # at most half a session's buffers may stay resident after it left


def sessions(n: int) -> list[dict[str, int]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "tests.native.buffer_memory_probe", str(n)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def test_publisher_sessions_leave_no_buffer_resident_and_the_engine_back_at_zero() -> None:
    runs = sessions(6)
    assert len(runs) == 6 and all(r["forwarded"] == 600 * (r["session"] + 1) for r in runs)
    for r in runs:
        assert r["buffer_bytes_during"] == RINGS
        assert (r["buffer_bytes_after"], r["sent_rings_after"]) == (0, 0)
        # the rest of the process keeps 288 KiB per session meanwhile (as a node's Python heap does)
        assert r["rss_after"] - r["rss_before"] < STEP_KIB, f"session {r['session']} stayed resident: {r}"
    assert runs[-1]["rss_after"] - runs[0]["rss_before"] < runs[-1]["kept_kib"] + STEP_KIB
