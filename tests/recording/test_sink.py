"""The recorder process's sink over a real loopback WebSocket: pre-encoded VP8 (every frame carries its number)
and Opus go in as the recorder page's worker sends them, and come out of the Matroska/WebM files frame for frame,
in order, without transcoding (the packets are byte-identical). Hostile local input — a wrong token, a second
page, malformed or oversized headers, ids that try to leave the directory, a codec switch — is a counted drop,
never a crash; a restarted recorder continues in a new part and notes the gap."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import av
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from loadtests import media
from recording import timeline
from recording.sink import Sink, SinkServer
from tests.support.waiting import wait_until


def _frame(p: str, t: str, kind: str, codec: str, ts: int, key: bool, data: bytes) -> bytes:
    h = json.dumps({"p": p, "t": t, "k": kind, "c": codec, "ts": ts, "key": key, "w": 320, "h": 240}).encode()
    return struct.pack(">I", len(h)) + h + data


def _packets(path: Path, kind: str) -> list[av.Packet]:
    with av.open(str(path)) as c:
        return [p for p in c.demux(**{kind: 0}) if p.size]


@pytest.fixture(scope="module")
def sources() -> tuple[list[av.Packet], list[av.Packet]]:
    return _packets(media.video_file("vp8", seconds=4), "video"), _packets(media.audio_file(4), "audio")


def _send_meeting(url: str, video: list[av.Packet], audio: list[av.Packet], start: int, first: int = 0,
                  count: int | None = None) -> None:
    count = count if count is not None else len(video)
    with connect(url) as ws:
        ws.send(json.dumps({"type": "event", "kind": "join", "participant": "p-alice", "name": "Alice", "t": 1}))
        for i in range(first, first + count):
            ts = (start + i * 3000) & 0xFFFFFFFF  # 30 fps at 90 kHz, crossing the 32-bit wrap
            ws.send(_frame("p-alice", "v1", "video", "vp8", ts, bool(video[i].is_keyframe) or i == first,
                           bytes(video[i])))
        for i, a in enumerate(audio):
            ws.send(_frame("p-alice", "a1", "audio", "opus", (start + i * 960) & 0xFFFFFFFF, True, bytes(a)))
        ws.send(json.dumps({"type": "event", "kind": "chat", "from": "p-alice", "text": "minutes approved", "t": 2}))
        ws.send(json.dumps({"type": "event", "kind": "speaker", "participant": "p-alice", "t": 3}))


def test_frames_come_out_frame_for_frame_in_order_without_transcoding(
        tmp_path: Path, sources: tuple[list[av.Packet], list[av.Packet]]) -> None:
    video, audio = sources
    server = SinkServer(Sink(tmp_path), token="t0ken").start()
    _send_meeting(server.url, video, audio, start=0xFFFFFFFF - 30000)
    wait_until(lambda: server.call(lambda: server.sink.frames) == len(video) + len(audio), 20, 0.05)
    files = server.stop()
    vfile = next(f.path for f in files if f.kind == "video")
    afile = next(f.path for f in files if f.kind == "audio")
    assert vfile.name == "p-alice-v1-video.part1.webm" and afile.suffix == ".webm"
    with av.open(str(vfile)) as c:
        numbers = [media.read_frame_number(f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
    assert numbers == list(range(len(video)))
    assert [bytes(p) for p in _packets(vfile, "video")] == [bytes(p) for p in video]  # remuxed, not re-encoded
    got = _packets(afile, "audio")
    assert [bytes(p) for p in got] == [bytes(p) for p in audio]
    assert [int(p.pts) for p in got] == [i * 20 for i in range(len(audio))]  # 20 ms apart across the wrap
    with av.open(str(afile)) as c:
        assert sum(1 for _ in c.decode(audio=0)) == len(audio)
    chat = timeline.read(tmp_path / "chat.jsonl")
    assert [(e["from"], e["text"]) for e in chat] == [("p-alice", "minutes approved")]
    kinds = [e["kind"] for e in timeline.read(tmp_path / "timeline.jsonl")]
    assert kinds[:1] == ["join"] and "speaker" in kinds and kinds[-1] == "recorder_stop"


def test_a_restarted_recorder_writes_a_new_part_and_notes_the_gap(
        tmp_path: Path, sources: tuple[list[av.Packet], list[av.Packet]]) -> None:
    video, audio = sources
    first = SinkServer(Sink(tmp_path), token="a").start()
    _send_meeting(first.url, video, audio[:10], start=0, count=60)
    wait_until(lambda: first.call(lambda: first.sink.frames) == 70, 20, 0.05)
    first.stop()
    second = SinkServer(Sink(tmp_path), token="b").start()
    _send_meeting(second.url, video, audio[:10], start=0, first=60, count=60)  # starts at a keyframe (i=60)
    wait_until(lambda: second.call(lambda: second.sink.frames) >= 60, 20, 0.05)
    second.stop()
    parts = sorted(tmp_path.glob("p-alice-v1-video.part*.webm"))
    assert [p.name for p in parts] == ["p-alice-v1-video.part1.webm", "p-alice-v1-video.part2.webm"]
    decoded = []
    for p in parts:  # each part plays on its own
        with av.open(str(p)) as c:
            decoded.append([media.read_frame_number(f.to_ndarray(format="rgb24")) for f in c.decode(video=0)])
    assert decoded == [list(range(60)), list(range(60, 120))]
    assert any(e["kind"] == "gap" and e.get("reason") == "recorder restarted"
               for e in timeline.read(tmp_path / "timeline.jsonl"))


def test_hostile_local_input_is_refused_or_counted(tmp_path: Path,
                                                   sources: tuple[list[av.Packet], list[av.Packet]]) -> None:
    video, _ = sources
    server = SinkServer(Sink(tmp_path), token="s3cret").start()
    with pytest.raises(ConnectionClosed), connect(f"ws://127.0.0.1:{server.port}/guess") as ws:
        ws.send(_frame("p-x", "v", "video", "vp8", 0, True, bytes(video[0])))
        ws.recv(timeout=5)
    bad = [b"", b"\x00\x00", struct.pack(">I", 5000) + b"{}", struct.pack(">I", 2) + b"{}" + b"x",
           struct.pack(">I", 4) + b"nope",
           _frame("../../etc", "v", "video", "vp8", 0, True, b"x"), _frame("p", "v/../../x", "video", "vp8", 0, True, b"x"),
           _frame("p", "v", "video", "mpeg2", 0, True, b"x"), _frame("p", "v", "audio", "vp8", 0, True, b"x")]
    with connect(server.url) as ws:
        for b in bad:
            ws.send(b)
        ws.send(_frame("p-a", "v1", "video", "vp8", 0, False, bytes(video[1])))  # before any keyframe
        ws.send(_frame("p-a", "v1", "video", "vp8", 3000, True, bytes(video[0])))
        ws.send(_frame("p-a", "v1", "audio", "opus", 3000, True, b"\xf8\xff\xfe"))  # same track, other codec
        ws.send("not json")
        ws.send(json.dumps({"type": "event", "kind": "rm -rf", "t": 1}))
        ws.send(json.dumps({"type": "event", "kind": "chat", "from": "p", "text": "x" * 100_000}))
        with connect(server.url) as second:  # a second page while one records
            with pytest.raises(ConnectionClosed):
                second.recv(timeout=5)
    wait_until(lambda: server.call(lambda: sum(server.sink.drops.values())) >= len(bad) + 4, 20, 0.05)
    server.stop()
    stats = server.sink.stats()  # after stop: the track's reorder buffer is flushed, every frame classified
    assert server.refused == 2 and stats["tracks"]["p-a/v1"]["written"] == 1
    # the delta frame before the first keyframe is not part of the recording (nothing can decode it): skipped,
    # not a drop
    assert stats["skipped"] == {"before_keyframe": 1} and stats["tracks"]["p-a/v1"]["before_keyframe"] == 1
    assert stats["drops"] == {"short": 2, "bad_header": 6, "bad_track": 1, "track_changed": 1, "bad_event": 3}, \
        stats["drops"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chat.jsonl", "p-a-v1-video.part1.webm", "timeline.jsonl"]


def test_a_recording_is_sealed_exported_and_still_decodes_frame_for_frame(
        tmp_path: Path, sources: tuple[list[av.Packet], list[av.Packet]]) -> None:
    """The whole chain after the meeting: sink files -> sealed in the vault (no clear copy left) -> signed
    export -> verified offline -> the exported video still decodes frame for frame."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from recording.package import verify
    from recording.policy import RecordingPolicy
    from recording.sealing import seal_recording
    from tests.recording.archive_world import make_archive
    from tests.residency.residency_world import FakeClock

    video, audio = sources
    work = tmp_path / "work"
    server = SinkServer(Sink(work), token="t").start()
    _send_meeting(server.url, video, audio, start=5)
    wait_until(lambda: server.call(lambda: server.sink.frames) == len(video) + len(audio), 20, 0.05)
    files = server.stop()
    archive = make_archive(tmp_path, FakeClock())
    archive.set_policy("acme", RecordingPolicy.REQUIRED, "admin:alice")
    rec = archive.begin("acme", "board", None, {"participant": "p-rec", "name": "ACME archive", "recorder": "r1"},
                        "eu-1", "recorder:r1")
    rec = seal_recording(archive, "acme", rec.id, work, files, "recorder:r1")
    assert rec.participants == {"p-alice": "Alice"} and len(rec.files) == 4
    assert sorted(p.name for p in work.iterdir()) == []  # nothing left in the clear
    key = Ed25519PrivateKey.generate()
    pkg = archive.export("acme", rec.id, tmp_path / "pkg", key, "admin:alice")
    assert verify(pkg, [key.public_key()]).files == 4
    with av.open(str(pkg / "p-alice-v1-video.part1.webm")) as c:
        assert [media.read_frame_number(f.to_ndarray(format="rgb24")) for f in c.decode(video=0)] == \
            list(range(len(video)))


class _Clock:
    """The reorder buffers' monotonic clock, advanced one 30 fps frame interval per frame taken."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        self.t += 1 / 30
        return self.t


def test_frames_repaired_late_go_in_their_place_and_only_frames_beyond_the_window_are_refused(
        tmp_path: Path, sources: tuple[list[av.Packet], list[av.Packet]]) -> None:
    """Chromium hands the tap a frame when its packets are assembled, so a frame repaired by a retransmission
    comes after its successors (seen in the browser proof: more than a second behind). Within the reorder window
    it is muxed in its place; a frame older than what the file already holds is a counted drop; after `bye`,
    frames are skipped (the recording has ended), never written into a closed file."""
    from recording.muxer import REORDER_MS

    video, audio = sources
    n = len(video)
    order = list(range(n))
    for late, by in ((5, 3), (10, 100), (20, 12), (40, 25), (70, 1)):  # frame `late` arrives after `by` successors
        order.remove(late)
        order.insert(order.index(late + by) + 1, late)
    assert 100 / 30 < REORDER_MS / 1000  # the latest one, 3.3 s after its successor, is still within the window
    clock = _Clock()
    server = SinkServer(Sink(tmp_path, reorder_clock=clock), token="t").start()
    with connect(server.url) as ws:
        for i in order:
            ws.send(_frame("p-a", "v1", "video", "vp8", (7 + i * 3000) & 0xFFFFFFFF, bool(video[i].is_keyframe) or i == 0,
                           bytes(video[i])))
        for i in (2, 0, 1, *range(3, len(audio))):  # audio reordered too
            ws.send(_frame("p-a", "a1", "audio", "opus", i * 960, True, bytes(audio[i])))
        wait_until(lambda: server.call(lambda: server.sink.frames) == n + len(audio), 20, 0.05)
        assert server.call(lambda: server.sink.stats()["tracks"]["p-a/a1"]["written"]) > 0  # muxed as it goes
        clock.t += REORDER_MS / 1000  # every held frame is due: a copy of frame 1 now comes too late
        ws.send(_frame("p-a", "v1", "video", "vp8", 7 + 3000, False, bytes(video[1])))
        ws.send(json.dumps({"type": "bye"}))
        ws.send(_frame("p-a", "v1", "video", "vp8", 7 + n * 3000, False, bytes(video[0])))  # after the bye
        ws.send(_frame("p-new", "v9", "video", "vp8", 0, True, bytes(video[0])))
        wait_until(lambda: server.call(lambda: server.sink.after_stop) == 2, 20, 0.05)
    server.stop()
    stats = server.sink.stats()
    assert stats["drops"] == {"out_of_order": 1} and stats["skipped"] == {"after_stop": 2}, stats
    assert stats["tracks"]["p-a/v1"]["written"] == n and stats["tracks"]["p-a/v1"]["held"] == 0
    assert sorted(p.name for p in tmp_path.glob("*.webm")) == ["p-a-a1-audio.part1.webm", "p-a-v1-video.part1.webm"]
    vfile = tmp_path / "p-a-v1-video.part1.webm"
    with av.open(str(vfile)) as c:
        assert [media.read_frame_number(f.to_ndarray(format="rgb24")) for f in c.decode(video=0)] == list(range(n))
    assert [bytes(p) for p in _packets(vfile, "video")] == [bytes(p) for p in video]
    got = _packets(tmp_path / "p-a-a1-audio.part1.webm", "audio")
    assert [bytes(p) for p in got] == [bytes(p) for p in audio]
    assert [int(p.pts) for p in got] == [i * 20 for i in range(len(audio))]
