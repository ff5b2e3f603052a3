"""The recorder page records only while the meeting is recorded (docs/recording.md, "Launching recorders"): under
`allowed`, before a host's start and after its stop, the tap in the E2EE worker sends no frame to the sink. The
real tap module (Node.js) against the real sink on loopback."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from recording.sink import Sink, SinkServer

ROOT = Path(__file__).resolve().parents[2]
NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="Node.js is installed by scripts/setup.sh --test")
def test_no_frame_reaches_the_sink_while_recording_is_paused(tmp_path: Path) -> None:
    server = SinkServer(Sink(tmp_path), token=secrets.token_urlsafe(16)).start()
    try:
        run = subprocess.run([str(NODE), "--experimental-websocket", "tests/client/recorder_tap_run.mjs", server.url],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr[-2000:]
        tap = json.loads(run.stdout.strip().splitlines()[-1])
        stats = server.call(server.sink.stats)
    finally:
        server.stop()
    assert tap["frames"] == 5, tap  # 3 before the pause, 2 after; none of the 4 while paused
    assert stats["frames"] == 5, stats


@pytest.mark.skipif(NODE is None, reason="Node.js is installed by scripts/setup.sh --test")
def test_a_new_segment_asks_the_video_sender_for_a_keyframe(tmp_path: Path) -> None:
    """A segment's new video file must start at a keyframe (docs/recording.md, "Segments"): the sink asks the page,
    and the tap asks that video track's sender (never an audio track's)."""
    fast = lambda: time.monotonic() * 1000  # noqa: E731 - the sink's clock 1000x: a 1-s segment lasts 1 ms here
    server = SinkServer(Sink(tmp_path, reorder_clock=fast, segment_s=1), token=secrets.token_urlsafe(16)).start()
    try:
        run = subprocess.run([str(NODE), "--experimental-websocket", "tests/client/recorder_tap_keyframe_run.mjs",
                              server.url], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr[-2000:]
        out = json.loads(run.stdout.strip().splitlines()[-1])
    finally:
        server.stop()
    assert out["asked"]["video"] >= 1 and out["asked"]["audio"] == 0, out
    assert out["stats"]["keyframeRequests"] == out["asked"]["video"], out
