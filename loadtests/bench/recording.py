"""Recorder cost per recorded participant-hour: `python -m loadtests.bench.recording [--participants 10]
[--seconds 30]`.

The recorder process (`python -m recording.sink`, its own process so its CPU is its own) receives what a recorder
page's E2EE worker sends for a meeting of N participants — each a 30 fps VP8 camera (pre-encoded, ~600 kbit/s,
loadtests/media.py) and a 20 ms Opus microphone — paced in real time over its loopback WebSocket, and remuxes
them. Printed: the sink's CPU seconds (user + system, from the reaped child's times) and the bytes written, per participant-hour
(extrapolated linearly from the run), and the run's own figures. The recorder PAGE's CPU (Chromium: depacketize,
decrypt) is measured by the browser proof (tests/recording/test_recorder_browser.py writes
artifacts/browser/recording-cpu.json); docs/benchmark.md has both.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
from websockets.sync.client import connect

from loadtests import media


def _frame(p: str, t: str, kind: str, codec: str, ts: int, key: bool, data: bytes) -> bytes:
    h = json.dumps({"p": p, "t": t, "k": kind, "c": codec, "ts": ts, "key": key, "w": 320, "h": 240}).encode()
    return struct.pack(">I", len(h)) + h + data


def run(participants: int, seconds: float) -> dict[str, float]:
    with av.open(str(media.video_file("vp8", seconds=10, bitrate=600_000))) as c:
        video = [(bytes(p), bool(p.is_keyframe)) for p in c.demux(video=0) if p.size]
    with av.open(str(media.audio_file(10))) as c:
        audio = [bytes(p) for p in c.demux(audio=0) if p.size]
    work = Path(tempfile.mkdtemp(prefix="recbench-"))
    t0 = os.times()  # the sink is our only child: its CPU is the children's times once it is reaped
    token = secrets.token_urlsafe(16)
    proc = subprocess.Popen([sys.executable, "-m", "recording.sink", "--workdir", str(work)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "CASTELLAN_RECORDER_TOKEN": token})
    assert proc.stdout is not None and proc.stdin is not None
    url = proc.stdout.readline().split()[-1] + token
    sent = 0
    payload = 0
    video_frames = 0  # per participant: the recorded media time is video_frames / 30 s, however late the feeder ran
    start = time.monotonic()
    with connect(url, max_size=None) as ws:
        tick = 0  # 10 ms ticks: video every 33.3 ms, audio every 20 ms
        while (now := time.monotonic() - start) < seconds:
            due = int(now * 100)
            while tick <= due:
                for i in range(participants):
                    if tick % 2 == 0:
                        n = tick // 2
                        ws.send(_frame(f"p{i}", "a", "audio", "opus", n * 960, True, audio[n % len(audio)]))
                        sent += 1
                        payload += len(audio[n % len(audio)])
                    if (tick * 3) // 10 != ((tick - 1) * 3) // 10 or tick == 0:
                        n = (tick * 3) // 10
                        data, key = video[n % len(video)]
                        ws.send(_frame(f"p{i}", "v", "video", "vp8", n * 3000, key or n == 0, data))
                        sent += 1
                        payload += len(data)
                        video_frames += i == 0
                tick += 1
            time.sleep(0.005)
    wall = time.monotonic() - start
    proc.stdin.close()
    stats = json.loads(proc.stdout.read().strip().splitlines()[-1])
    proc.wait(30)
    t1 = os.times()
    cpu = (t1.children_user - t0.children_user) + (t1.children_system - t0.children_system)
    disk = sum(f.stat().st_size for f in work.iterdir())
    media_s = video_frames / 30
    hours = participants * media_s / 3600
    return {"participants": participants, "wall_s": round(wall, 1), "media_s": round(media_s, 1),
            "source_kbit_s_per_participant": round(payload * 8 / participants / media_s / 1000, 1), "messages": sent, "written": stats["frames"],
            "drops": sum(stats["drops"].values()), "cpu_s": round(cpu, 2), "disk_bytes": disk,
            "cpu_s_per_participant_hour": round(cpu / hours, 1),
            "disk_mib_per_participant_hour": round(disk / hours / 2**20, 1),
            "load1": round(os.getloadavg()[0], 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--participants", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()
    print(json.dumps(run(args.participants, min(args.seconds, 600.0)), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
