"""The recorder page records only while the meeting is recorded (docs/recording.md, "Launching recorders"): under
`allowed`, before a host's start and after its stop, the tap in the E2EE worker sends no frame to the sink. The
real tap module (Node.js) against the real sink on loopback."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
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
