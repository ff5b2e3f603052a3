"""One recording per recording-on, with gaps (docs/recording.md, "One recording, with gaps"): a recorder that dies
mid-meeting while recording stays on is continued by its replacement as a new part of the SAME Recording, through
the very calls the pool makes (`seal_recording`, `archive.open_session`, `archive.recorder_moved`); the archive
keeps every region and each gap; the signed package lists parts and gaps and `castellan recording verify` checks
them. The hostile side: a forger with the deployment's own signing key drops a part or hides a gap from the
manifest and re-signs it — refused, because the audit records in the package still name them. A host's stop then
start is another recording; no recorder in an allowed region ends the recording with its gap.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from recording.archive import Archive, Recording, RecordingError, part_prefix
from recording.package import MANIFEST, SIGNATURE, PackageInvalid, canonical, verify
from recording.policy import RecordingPolicy
from recording.sealing import seal_recording
from recording.sink import TrackFile
from tests.recording.archive_world import make_archive
from tests.residency.residency_world import FakeClock

EU1 = {"participant": "rec-aaa", "name": "ACME archive", "recorder": "pool-eu-1a"}
EU2 = {"participant": "rec-bbb", "name": "ACME archive", "recorder": "pool-eu-2a"}


def _world(tmp: Path) -> tuple[Archive, FakeClock]:
    clock = FakeClock()
    archive = make_archive(tmp, clock)
    archive.set_policy("acme", RecordingPolicy.ALLOWED, "admin:alice", retention_days=0)
    return archive, clock


def _part_files(work: Path, who: str) -> list[TrackFile]:
    """What a recorder's sink leaves in its working directory: one track file, the timeline and the chat."""
    work.mkdir(parents=True)
    f = work / f"{who}-t1-audio.part1.webm"
    f.write_bytes(os.urandom(3000))
    (work / "timeline.jsonl").write_text(json.dumps({"kind": "join", "participant": who, "name": who, "t": 1}) + "\n")
    (work / "chat.jsonl").write_text("")
    return [TrackFile(f, who, "t1", "audio", "opus")]


def _recorded_with_a_gap(archive: Archive, clock: FakeClock, tmp: Path) -> Recording:
    """eu-1's recorder records 9.5 s and dies (noticed at 10 s); at 14 s eu-2's recorder is given the same session
    and its first frame arrives at 15.5 s; it records until 34 s. The gap: 9.5 s → 15.5 s."""
    rec = archive.begin("acme", "board", "link-1", EU1, "eu-1", "recorder-pool:pool-eu-1a", session="s-1")
    start = int(rec.started_at * 1000)
    clock.advance(10)
    died = seal_recording(archive, "acme", rec.id, tmp / "w1", _part_files(tmp / "w1", "p-ann"),
                          "recorder-pool:pool-eu-1a", part=1, end=False, cause="page_died", last_ms=start + 9_500)
    assert died.ended_at is None and died.gaps[-1]["to_ms"] is None  # open: recording stays on
    clock.advance(4)
    # the pool's decision (recording/pool/job.py): the session's open recording is continued, not a new one
    found = archive.open_session("acme", "board", "s-1")
    assert found is not None and found.id == rec.id
    moved = archive.recorder_moved("acme", rec.id, "eu-2", EU2, "recorder-pool:pool-eu-2a")
    assert moved.part == 2
    clock.advance(20)
    archive.media_resumed("acme", rec.id, 2, start + 15_500, "recorder-pool:pool-eu-2a")  # its first frame
    return seal_recording(archive, "acme", rec.id, tmp / "w2", _part_files(tmp / "w2", "p-ann"),
                          "recorder-pool:pool-eu-2a", part=2, end=True)


def test_a_replacement_recorder_continues_the_same_recording_with_its_gap(tmp_path: Path) -> None:
    archive, clock = _world(tmp_path)
    rec = _recorded_with_a_gap(archive, clock, tmp_path)
    [listed] = archive.listing("acme", "admin:alice")  # one recording, not two
    assert listed.id == rec.id and listed.ended_at is not None
    assert listed.regions == ("eu-1", "eu-2")
    [gap] = listed.gaps
    start = int(listed.started_at * 1000)
    assert (gap["from_ms"] - start, gap["to_ms"] - start) == (9_500, 15_500)
    assert (listed.parts[0]["to_ms"], listed.parts[1]["from_ms"]) == (gap["from_ms"], gap["to_ms"])
    assert (gap["recorder"], gap["replaced_by"], gap["region"]) == ("pool-eu-1a", "pool-eu-2a", "eu-2")
    assert [(p["part"], p["recorder"], p["region"]) for p in listed.parts] == \
        [(1, "pool-eu-1a", "eu-1"), (2, "pool-eu-2a", "eu-2")]
    # the second part's files are new files of the same recording, its own timeline and chat among them
    assert sorted(listed.parts[1]["files"]) == sorted(part_prefix(2) + n for n in
                                                      ("p-ann-t1-audio.part1.webm", "timeline.jsonl", "chat.jsonl"))
    assert {f.name for f in listed.files} == {*listed.parts[0]["files"], *listed.parts[1]["files"]}
    kinds = [r.kind for r in archive.audit.tenant_records("acme") if r.data.get("recording") == rec.id]
    assert kinds.count("recording.started") == 1 and kinds.count("recording.stopped") == 1
    assert "recording.recorder_lost" in kinds and "recording.recorder_moved" in kinds
    assert archive.open_session("acme", "board", "s-1") is None  # over: nothing continues it any more
    with pytest.raises(RecordingError, match="recording_ended"):
        archive.recorder_moved("acme", rec.id, "eu-1", EU1, "recorder-pool:pool-eu-1a")


def test_a_pool_that_died_with_nothing_sealed_leaves_its_whole_part_as_the_gap(tmp_path: Path) -> None:
    archive, clock = _world(tmp_path)
    rec = archive.begin("acme", "board", "link-1", EU1, "eu-1", "recorder-pool:pool-eu-1a", session="s-1")
    clock.advance(30)  # its pool process dies: no seal, its clear working files are gone with it
    moved = archive.recorder_moved("acme", rec.id, "eu-1", EU2, "recorder-pool:pool-eu-1b")
    [gap] = moved.gaps
    assert gap["from_ms"] == int(rec.started_at * 1000) and gap["to_ms"] - gap["from_ms"] == 30_000
    assert moved.parts[0]["lost"] is True and moved.parts[0]["files"] == []


def test_a_host_stop_then_start_is_a_separate_recording(tmp_path: Path) -> None:
    archive, clock = _world(tmp_path)
    first = archive.begin("acme", "board", "link-1", EU1, "eu-1", "recorder-pool:pool-eu-1a", session="s-1")
    archive.finish("acme", first.id, {}, "recorder-pool:pool-eu-1a", part=1)  # dismissed: the host stopped it
    clock.advance(5)
    assert archive.open_session("acme", "board", "s-2") is None  # the new start is a new session
    second = archive.begin("acme", "board", "link-1", EU1, "eu-1", "recorder-pool:pool-eu-1a", session="s-2")
    listed = archive.listing("acme", "admin:alice")
    assert [r.id for r in listed if r.meeting == "board"] == sorted([first.id, second.id])
    assert all(r.gaps == () and len(r.parts) == 1 for r in listed)


def test_no_recorder_in_an_allowed_region_ends_the_recording_with_its_gap(tmp_path: Path) -> None:
    archive, clock = _world(tmp_path)
    rec = archive.begin("acme", "board", "link-1", EU1, "eu-1", "recorder-pool:pool-eu-1a", session="s-1")
    clock.advance(10)
    seal_recording(archive, "acme", rec.id, tmp_path / "w1", _part_files(tmp_path / "w1", "p-ann"),
                   "recorder-pool:pool-eu-1a", part=1, end=False, cause="page_died")
    clock.advance(7)
    ended = archive.continuation_refused("acme", "board", "s-1", "no_recorder_in_allowed_regions",
                                         "recorder-launcher")
    assert ended is not None and ended.ended_at is not None and ended.regions == ("eu-1",)
    [gap] = ended.gaps
    assert gap["replaced_by"] is None and gap["to_ms"] == int(ended.ended_at * 1000)
    [refused] = [r for r in archive.audit.tenant_records("acme") if r.kind == "recording.continuation_refused"]
    assert refused.data["reason"] == "no_recorder_in_allowed_regions" and refused.data["recording"] == rec.id
    # refused again at the launcher's next round: nothing more happens
    assert archive.continuation_refused("acme", "board", "s-1", "no_recorder_in_allowed_regions", "x") is None


@pytest.fixture
def package(tmp_path: Path) -> tuple[Path, Ed25519PrivateKey]:
    archive, clock = _world(tmp_path)
    rec = _recorded_with_a_gap(archive, clock, tmp_path)
    signer = Ed25519PrivateKey.generate()
    return archive.export("acme", rec.id, tmp_path / "pkg", signer, "admin:alice"), signer


def _resign(pkg: Path, m: dict[str, object], signer: Ed25519PrivateKey) -> None:
    body = canonical(m)
    (pkg / MANIFEST).write_bytes(body)
    (pkg / SIGNATURE).write_text(base64.b64encode(signer.sign(body)).decode())


def test_the_package_lists_parts_and_gaps_and_verifies(package: tuple[Path, Ed25519PrivateKey]) -> None:
    pkg, signer = package
    v = verify(pkg, [signer.public_key()])
    rec = v.manifest["recording"]
    assert [p["part"] for p in rec["parts"]] == [1, 2] and len(rec["gaps"]) == 1
    assert v.manifest["regions"] == ["eu-1", "eu-2"]


@pytest.mark.parametrize("attack", ["part_file_missing", "part_dropped_resigned", "gap_removed_resigned",
                                    "gap_shortened_resigned"])
def test_a_missing_part_or_a_hidden_gap_fails_verification(package: tuple[Path, Ed25519PrivateKey],
                                                           tmp_path: Path, attack: str) -> None:
    src, signer = package
    pkg = tmp_path / "attacked"
    shutil.copytree(src, pkg)
    m = json.loads((pkg / MANIFEST).read_text())
    rec = m["recording"]
    if attack == "part_file_missing":
        (pkg / rec["parts"][1]["files"][0]).unlink()
        expected = "missing_file"
    elif attack == "part_dropped_resigned":  # the deployment's own key: only the audit records still tell
        for name in rec["parts"].pop()["files"]:
            (pkg / name).unlink()
            m["files"].pop(name)
        rec["gaps"] = []
        expected = "missing_part"
    elif attack == "gap_removed_resigned":
        rec["gaps"] = []
        expected = "missing_gap"
    else:  # the gap made to look shorter than the audit records say
        rec["gaps"][0]["from_ms"] += 3000
        expected = "missing_gap"
    if attack != "part_file_missing":
        _resign(pkg, m, signer)
    with pytest.raises(PackageInvalid) as e:
        verify(pkg, [signer.public_key()])
    assert e.value.code == expected, e.value
