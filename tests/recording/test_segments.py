"""A recorder killed mid-part loses at most its last segment (docs/recording.md, "Segments"). A real recorder
process (tests/recording/segment_driver.py: the sink with rolling segments, sealing each complete one as the pool
does) records 17 s of a real VP8 track (every frame carries its number) and a real Opus track, and is SIGKILLed:
nothing closed, nothing sealed at the end. What it had sealed is in the vault, each segment decoding frame for
frame; its open working file is on disk and plays up to its last cluster (the muxer flushes); the part is `lost`
only from its last sealed segment's end, where the gap starts; the export lists every segment and verifies. The
hostile side: someone with the volume deletes or swaps a sealed segment (the export fails), an insider with the
signing key drops a segment from the manifest and re-signs (verification fails: the audit records name it). A
GDPR erasure and a hold cover the participant's track files in every segment."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import av
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from loadtests import media
from recording.archive import Archive, Held, Recording
from recording.envelope import EnvelopeError
from recording.holds import HoldScope
from recording.muxer import REORDER_MS
from recording.package import MANIFEST, PackageInvalid, verify
from recording.policy import RecordingPolicy
from tests.recording.archive_world import TENANT_KEYS, make_archive
from tests.recording.segment_driver import sources
from tests.recording.test_continuation import _resign
from tests.residency.residency_world import FakeClock
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
SEGMENT_S = 3
SECONDS = 20
KILL_MS = 17_000
KEYFRAME_EVERY = 60  # the source's GOP (loadtests/media.py: 2 s at 30 fps)
EU1 = {"participant": "rec-aaa", "name": "ACME archive", "recorder": "pool-eu-1a"}
EU1B = {"participant": "rec-bbb", "name": "ACME archive", "recorder": "pool-eu-1b"}


@dataclass
class Killed:
    tmp: Path
    archive: Archive
    rec: Recording  # after the replacement took over
    start_ms: int
    fed: dict[str, int]
    workdir: Path


@pytest.fixture(scope="module")
def killed(tmp_path_factory: pytest.TempPathFactory) -> Killed:
    tmp = tmp_path_factory.mktemp("killed")
    clock = FakeClock()
    archive = make_archive(tmp, clock)
    archive.set_policy("acme", RecordingPolicy.ALLOWED, "admin:alice", retention_days=0)
    rec = archive.begin("acme", "board", "link-1", EU1, "eu-1", "recorder-pool:pool-eu-1a", session="s-1")
    start_ms = int(rec.parts[0]["from_ms"])
    workdir = tmp / "job" / "work"
    cfg = {"db": str(tmp / "castellan.db"), "volume": str(tmp / "volume"), "tenant": "acme", "recording": rec.id,
           "keys": {t: [k[0], base64.b64encode(k[1]).decode()] for t, k in TENANT_KEYS.items()},
           "workdir": str(workdir), "start_ms": start_ms, "segment_s": SEGMENT_S, "seconds": SECONDS,
           "kill_ms": KILL_MS}
    (tmp / "cfg.json").write_text(json.dumps(cfg))
    sources(SECONDS)  # made (and cached) here, not while the driver runs
    proc = subprocess.Popen([sys.executable, "-m", "tests.recording.segment_driver", str(tmp / "cfg.json")],
                            cwd=ROOT)
    try:
        wait_until(lambda: (tmp / "job" / "fed.json").exists() or proc.poll() is not None, 300, 0.1)
        assert proc.poll() is None, "the recorder process ended by itself"
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # its host dies: nothing closed, nothing sealed at the end
        proc.wait(30)
    fed = json.loads((tmp / "job" / "fed.json").read_text())
    clock.now = (start_ms + KILL_MS) / 1000 + 6  # its announcement expired: another pool of eu-1 continues
    moved = archive.recorder_moved("acme", rec.id, "eu-1", EU1B, "recorder-pool:pool-eu-1b")
    return Killed(tmp, archive, moved, start_ms, fed, workdir)


def _plain(k: Killed, name: str) -> Path:
    out = k.tmp / "plain" / name
    out.parent.mkdir(exist_ok=True)
    out.write_bytes(b"".join(k.archive.read("acme", k.rec.id, name, "admin:alice")))
    return out


def _numbers(path: Path) -> list[int]:
    with av.open(str(path)) as c:
        return [media.read_frame_number(f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]


def _segment_file(seg: dict[str, object], suffix: str) -> str:
    [name] = [str(n) for n in seg["files"] if str(n).startswith("p-ann-" + suffix)]  # type: ignore[attr-defined]
    return name


def test_a_killed_recorder_loses_at_most_its_last_segment(killed: Killed) -> None:
    part1, part2 = killed.rec.parts
    segs = part1["segments"]
    assert [s["segment"] for s in segs] == list(range(1, len(segs) + 1)) and len(segs) >= 2
    [gap] = killed.rec.gaps
    # the gap starts where the last sealed segment ends, not at the part's start
    assert gap["from_ms"] == segs[-1]["to_ms"] == part1["to_ms"] > part1["from_ms"]
    assert part1["lost"] is True and gap["to_ms"] == part2["from_ms"] and gap["replaced_by"] == "pool-eu-1b"
    lost_ms = killed.fed["at_ms"] - gap["from_ms"]
    print(f"segments {[(s['from_ms'] - killed.start_ms, s['to_ms'] - killed.start_ms) for s in segs]}, "
          f"killed at {killed.fed['at_ms'] - killed.start_ms} ms, lost {lost_ms} ms")
    assert 0 < lost_ms <= SEGMENT_S * 1000 + REORDER_MS + KEYFRAME_EVERY * 1000 // 30
    [moved] = [r for r in killed.archive.audit.tenant_records("acme") if r.kind == "recording.recorder_moved"]
    assert moved.data["gap_from_ms"] == gap["from_ms"]
    assert killed.rec.participants == {"p-ann": "Ann"}  # from the sealed timeline slices
    for s in segs:  # each segment: its track files and its timeline and chat slices, all in part 1
        assert len(s["files"]) == 4 and all(f".seg{s['segment']:04d}." in n for n in s["files"])
        assert set(s["files"]) <= set(part1["files"])


def test_each_sealed_segment_decodes_frame_for_frame(killed: Killed) -> None:
    video, audio = sources(SECONDS)
    segs = killed.rec.parts[0]["segments"]
    numbers, sent_audio = [], []
    for s in segs:
        vfile = _plain(killed, _segment_file(s, "v1-video"))
        got = _numbers(vfile)
        assert got and got[0] % KEYFRAME_EVERY == 0  # each segment's video starts at a keyframe
        with av.open(str(vfile)) as c:  # remuxed, not re-encoded
            assert [bytes(p) for p in c.demux(video=0) if p.size] == [bytes(p) for p in video[got[0]:got[-1] + 1]]
        numbers += got
        afile = _plain(killed, _segment_file(s, "a1-audio"))
        with av.open(str(afile)) as c:
            pkts = [p for p in c.demux(audio=0) if p.size]
        assert int(pkts[0].pts) == 0  # each file's own timeline starts at 0
        with av.open(str(afile)) as c:
            assert sum(1 for _ in c.decode(audio=0)) == len(pkts)
        sent_audio += [bytes(p) for p in pkts]
    assert numbers == list(range(len(numbers)))  # frame for frame, nothing lost or doubled between segments
    assert sent_audio == [bytes(p) for p in audio[:len(sent_audio)]]  # remuxed, not re-encoded
    # frames up to the last segment's end (arrival = media time here) are all sealed
    covered_ms = segs[-1]["to_ms"] - killed.start_ms
    assert len(numbers) >= covered_ms * 30 // 1000 and len(sent_audio) >= covered_ms // 20
    # what the killed recorder had not sealed is on disk, flushed: its open file plays up to its last cluster
    [open_video] = killed.workdir.glob("p-ann-v1-video.part1.seg*.webm")
    assert open_video.stat().st_size > 0
    rest = _numbers(open_video)
    print(f"sealed frames 0..{len(numbers) - 1}; the killed recorder's open file holds {len(rest)} more")
    assert rest and rest == list(range(len(numbers), len(numbers) + len(rest)))


def test_the_export_lists_every_segment_and_verifies(killed: Killed) -> None:
    signer = Ed25519PrivateKey.generate()
    pkg = killed.archive.export("acme", killed.rec.id, killed.tmp / "pkg", signer, "admin:alice")
    v = verify(pkg, [signer.public_key()])
    part1 = v.manifest["recording"]["parts"][0]
    assert part1["segments"] == killed.rec.parts[0]["segments"]
    for s in part1["segments"]:
        assert all(n in v.manifest["files"] and (pkg / n).is_file() for n in s["files"])


def _object(k: Killed, name: str) -> Path:
    return k.tmp / "volume" / "acme" / k.rec.id / name


@pytest.mark.parametrize("attack", ["deleted", "swapped"])
def test_a_segment_deleted_or_swapped_on_the_volume_fails_the_export(killed: Killed, attack: str) -> None:
    segs = killed.rec.parts[0]["segments"]
    first, second = _object(killed, _segment_file(segs[0], "v1-video")), _object(killed, _segment_file(segs[1], "v1-video"))
    kept = {p: p.read_bytes() for p in (first, second)}
    try:
        if attack == "deleted":
            second.unlink()
        else:  # each a sealed object of this very recording, put in the other's place
            first.write_bytes(kept[second])
            second.write_bytes(kept[first])
        with pytest.raises((EnvelopeError, FileNotFoundError)):
            killed.archive.export("acme", killed.rec.id, killed.tmp / f"pkg-{attack}", Ed25519PrivateKey.generate(),
                                  "admin:alice")
    finally:
        for p, b in kept.items():
            p.write_bytes(b)


def test_a_segment_dropped_from_the_manifest_and_re_signed_fails_verification(killed: Killed) -> None:
    signer = Ed25519PrivateKey.generate()
    src = killed.archive.export("acme", killed.rec.id, killed.tmp / "pkg-drop-src", signer, "admin:alice")
    pkg = killed.tmp / "pkg-drop"
    shutil.copytree(src, pkg)
    m = json.loads((pkg / MANIFEST).read_text())
    part1 = m["recording"]["parts"][0]
    dropped = part1["segments"].pop()  # the deployment's own key: only the audit records still tell
    for n in dropped["files"]:
        (pkg / n).unlink()
        m["files"].pop(n)
        part1["files"].remove(n)
    _resign(pkg, m, signer)
    with pytest.raises(PackageInvalid) as e:
        verify(pkg, [signer.public_key()])
    assert e.value.code == "missing_segment", e.value


def test_a_hold_and_an_erasure_cover_every_segment(killed: Killed) -> None:
    archive, rec = killed.archive, killed.rec
    tracks = [f.name for f in rec.files if f.participant == "p-ann"]
    assert len(tracks) == 2 * len(rec.parts[0]["segments"])  # video and audio of every sealed segment
    hold = archive.place_hold("acme", HoldScope.PARTICIPANT, "p-ann", "case 7", "admin:alice")
    with pytest.raises(Held):
        archive.subject_erase_unheld("acme", "p-ann", "admin:alice")
    assert all(_object(killed, n).exists() for n in tracks)  # nothing erased under the hold
    archive.release_hold("acme", hold.id, "admin:alice")
    archive.subject_erase_unheld("acme", "p-ann", "admin:alice")
    assert not any(_object(killed, n).exists() for n in tracks)  # every segment's track files gone
    after = archive.get("acme", rec.id)
    assert not any(f.participant == "p-ann" for f in after.files)
    assert all(not any(n in tracks for n in s["files"]) for s in after.parts[0]["segments"])
    signer = Ed25519PrivateKey.generate()  # and the rest still exports and verifies
    verify(archive.export("acme", rec.id, killed.tmp / "pkg-erased", signer, "admin:alice"), [signer.public_key()])
    archive.delete("acme", rec.id, "admin:alice")
    assert not list((killed.tmp / "volume" / "acme" / rec.id).glob("*"))


def test_a_silent_track_does_not_hold_its_segments_open(tmp_path: Path) -> None:
    """A camera that goes off at 4 s (a participant who left, a muted sender) while the audio goes on: segments keep
    completing — its file closes at the next cut instead of waiting for a frame that may never come — and when it
    comes back at a keyframe (14 s) its next file is in the segment of that time and plays from there."""
    from recording.sink import Sink
    from tests.recording.segment_driver import frame_message

    video, audio = sources(SECONDS)
    now = [0]
    sink = Sink(tmp_path / "work", clock_ms=lambda: now[0], reorder_clock=lambda: now[0] / 1000, segment_s=SEGMENT_S)
    asked: list[tuple[str, str]] = []
    sink.on_keyframe = lambda p, t: asked.append((p, t))
    on = [i for i in range(len(video)) if i < 120 or i >= 420]  # off from 4 s to 14 s (420 is a keyframe)
    events = sorted([(i * 1000 // 30, 0, i) for i in on] + [(j * 20, 1, j) for j in range(len(audio))])
    ready = []
    for t, which, i in events:
        now[0] = t
        if which == 0:
            sink.frame(frame_message("p-ann", "v1", "video", "vp8", i * 3000, bool(video[i].is_keyframe),
                                     bytes(video[i])))
        else:
            sink.frame(frame_message("p-ann", "a1", "audio", "opus", i * 960, True, bytes(audio[i])))
        ready += sink.take_ready()
    during = len(ready)
    sink.close()
    ready += sink.take_ready()
    assert during >= 3, [(s.number, s.from_ms, s.to_ms) for s in ready]  # not stuck behind the silent camera
    assert [s.number for s in ready] == list(range(1, len(ready) + 1))
    numbers = []
    for s in ready:
        for f in s.files:
            if f.kind == "video":
                numbers += _numbers(f.path)
    assert numbers == [*range(120), *range(420, len(video))]  # every frame sent, each file playing on its own
    assert ("p-ann", "v1") in asked
