"""A recorder process that is SIGKILLed mid-part (tests/recording/test_segments.py): `python -m
tests.recording.segment_driver CONFIG`. It feeds a real VP8 track and a real Opus track, frame by frame, through
the sink (recording/sink.py) with rolling segments, and seals each complete segment into the archive exactly as the
pool does between announcements (`seal_segment`). Its clocks are simulated (a frame's arrival is its media time),
so what is sealed when it is killed is decided by the frames fed, never by the machine's speed. After the frames
it writes `fed.json` and waits to be killed."""

from __future__ import annotations

import base64
import json
import sys
import time
from pathlib import Path
from typing import Any

import av

from loadtests import media
from recording.archive import Archive
from recording.sealing import seal_segment
from recording.sink import Sink
from recording.store import LocalVolumeStore, TenantVault
from residency.db import Database


def frame_message(p: str, t: str, kind: str, codec: str, ts: int, key: bool, data: bytes) -> bytes:
    import struct

    h = json.dumps({"p": p, "t": t, "k": kind, "c": codec, "ts": ts, "key": key, "w": 320, "h": 240}).encode()
    return struct.pack(">I", len(h)) + h + data


def sources(seconds: float) -> tuple[list[av.Packet], list[av.Packet]]:
    with av.open(str(media.video_file("vp8", seconds=seconds))) as c:
        video = [p for p in c.demux(video=0) if p.size]
    with av.open(str(media.audio_file(seconds))) as c:
        audio = [p for p in c.demux(audio=0) if p.size]
    return video, audio


def main(cfg: dict[str, Any]) -> None:
    now_ms = [int(cfg["start_ms"])]
    keys = {str(t): (str(k[0]), base64.b64decode(str(k[1]))) for t, k in cfg["keys"].items()}
    archive = Archive(Database(Path(str(cfg["db"]))), TenantVault(LocalVolumeStore(Path(str(cfg["volume"]))), keys),
                      clock=lambda: now_ms[0] / 1000)
    sink = Sink(Path(str(cfg["workdir"])), clock_ms=lambda: now_ms[0], reorder_clock=lambda: now_ms[0] / 1000,
                segment_s=float(cfg["segment_s"]))
    video, audio = sources(float(cfg["seconds"]))
    kill_ms = int(cfg["kill_ms"])
    events = sorted([(i * 1000 // 30, 0, i) for i in range(len(video))] + [(j * 20, 1, j) for j in range(len(audio))])
    sink.event(json.dumps({"type": "event", "kind": "join", "participant": "p-ann", "name": "Ann", "t": now_ms[0]}))
    fed = {"video": 0, "audio": 0}
    for t, which, i in events:
        if t >= kill_ms:
            break
        now_ms[0] = int(cfg["start_ms"]) + t
        if which == 0:
            sink.frame(frame_message("p-ann", "v1", "video", "vp8", i * 3000, bool(video[i].is_keyframe),
                                     bytes(video[i])))
            fed["video"] += 1
        else:
            sink.frame(frame_message("p-ann", "a1", "audio", "opus", i * 960, True, bytes(audio[i])))
            fed["audio"] += 1
        for seg in sink.take_ready():  # what the pool does at each announcement (recording/pool/job.py)
            seal_segment(archive, str(cfg["tenant"]), str(cfg["recording"]), seg, "recorder-pool:pool-eu-1a")
    (Path(str(cfg["workdir"])).parent / "fed.json").write_text(json.dumps({**fed, "at_ms": now_ms[0]}))
    while True:  # the pool's host dies here: SIGKILL, nothing closed, nothing sealed
        time.sleep(1)


if __name__ == "__main__":
    main(json.loads(Path(sys.argv[1]).read_text()))
