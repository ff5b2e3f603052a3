"""Retention and legal hold, against a real database and volume: a hold on a meeting, a link, a participant or
the tenant blocks deletion by retention, by an admin and by a GDPR erasure until released; everything is in the
tenant's audit chain. An admin of another tenant cannot see, hold or delete."""

from __future__ import annotations

from pathlib import Path

import pytest

from recording.archive import Archive, Held, RecordingError
from recording.holds import DAY, HoldScope
from recording.policy import RecordingPolicy
from tests.recording.archive_world import make_archive, recorded
from tests.residency.residency_world import FakeClock


@pytest.fixture
def world(tmp_path: Path) -> tuple[Archive, FakeClock, Path]:
    clock = FakeClock()
    return make_archive(tmp_path, clock), clock, tmp_path


def _kinds(archive: Archive) -> list[str]:
    return [r.kind for r in archive.audit.tenant_records("acme")]


@pytest.mark.parametrize(("scope", "target"), [(HoldScope.MEETING, "board"), (HoldScope.LINK, "link-1"),
                                              (HoldScope.PARTICIPANT, "p-bob"), (HoldScope.TENANT, "")])
def test_a_hold_blocks_retention_and_admin_deletion_until_released(
        world: tuple[Archive, FakeClock, Path], scope: HoldScope, target: str) -> None:
    archive, clock, tmp = world
    archive.set_policy("acme", RecordingPolicy.ALLOWED, "admin:alice", retention_days=30)
    held = recorded(archive, tmp, "board", {"p-alice": "Alice", "p-bob": "Bob"})
    free = recorded(archive, tmp, "standup", {"p-carol": "Carol"}, link="link-2")
    hold = archive.place_hold("acme", scope, target, "case 2026-17", "admin:alice")
    clock.advance(31 * DAY)
    deleted, kept = archive.apply_retention("acme")
    if scope is HoldScope.TENANT:
        assert (deleted, kept) == ([], sorted([held.id, free.id]))
    else:
        assert (deleted, kept) == ([free.id], [held.id])
    with pytest.raises(Held, match="legal hold"):
        archive.delete("acme", held.id, "admin:alice")
    assert archive.read("acme", held.id, "chat.jsonl", "admin:alice")  # still there, still opens
    archive.release_hold("acme", hold.id, "admin:alice")
    assert archive.apply_retention("acme") == (sorted([held.id, free.id]) if scope is HoldScope.TENANT
                                               else [held.id], [])
    with pytest.raises(RecordingError, match="not_found"):
        archive.get("acme", held.id)
    kinds = _kinds(archive)
    for k in ("recording.hold_placed", "recording.delete_refused", "recording.hold_released", "recording.deleted",
              "recording.accessed"):
        assert k in kinds
    assert archive.audit.verify_stored("tenant:acme") > 0  # the chain is intact


def test_retention_never_deletes_early_and_zero_means_keep(world: tuple[Archive, FakeClock, Path]) -> None:
    archive, clock, tmp = world
    archive.set_policy("acme", RecordingPolicy.ALLOWED, "admin:alice", retention_days=7)
    rec = recorded(archive, tmp, "m", {"p-a": "A"})
    clock.advance(7 * DAY - 1)
    assert archive.apply_retention("acme") == ([], [])
    archive.set_policy("acme", RecordingPolicy.ALLOWED, "admin:alice", retention_days=0)
    clock.advance(3650 * DAY)
    assert archive.apply_retention("acme") == ([], [])
    assert archive.get("acme", rec.id)


def test_a_released_hold_stays_in_the_record_and_a_hold_needs_a_reason(world: tuple[Archive, FakeClock, Path]) -> None:
    archive, _, _ = world
    with pytest.raises(RecordingError, match="reason_required"):
        archive.place_hold("acme", HoldScope.TENANT, "", "  ", "admin:alice")
    h = archive.place_hold("acme", HoldScope.MEETING, "m", "case 1", "admin:alice")
    archive.release_hold("acme", h.id, "admin:bob")
    assert archive.holds("acme") == [] and archive.holds("acme", active_only=False)[0].released_at is not None
    with pytest.raises(RecordingError, match="not_found"):
        archive.release_hold("acme", h.id, "admin:bob")  # twice: nothing to release


def test_another_tenants_admin_cannot_see_hold_release_or_delete(world: tuple[Archive, FakeClock, Path]) -> None:
    archive, _, tmp = world
    rec = recorded(archive, tmp, "board", {"p-a": "A"})
    h = archive.place_hold("acme", HoldScope.MEETING, "board", "case", "admin:alice")
    assert archive.listing("globex", "admin:mallory") == []
    for attempt in (lambda: archive.get("globex", rec.id), lambda: archive.delete("globex", rec.id, "admin:mallory"),
                    lambda: archive.release_hold("globex", h.id, "admin:mallory"),
                    lambda: archive.read("globex", rec.id, "chat.jsonl", "admin:mallory")):
        with pytest.raises(RecordingError, match="not_found"):
            attempt()
    assert archive.holds("acme") == [h] and archive.get("acme", rec.id)


def test_gdpr_export_and_erasure_respect_holds(world: tuple[Archive, FakeClock, Path]) -> None:
    archive, _, tmp = world
    r1 = recorded(archive, tmp, "board", {"p-alice": "Alice", "p-bob": "Bob"})
    r2 = recorded(archive, tmp, "standup", {"p-bob": "Bob", "p-carol": "Carol"}, link="link-2")
    archive.place_hold("acme", HoldScope.MEETING, "board", "case 9", "admin:alice")
    out = archive.subject_export("acme", "p-bob", tmp / "bob-export", "admin:alice")
    assert sorted(e["recording"] for e in out["recordings"]) == sorted([r1.id, r2.id])
    for e in out["recordings"]:
        assert e["files"] == ["p-bob-audio.webm"] and e["lines"] == 2
        chat = (tmp / "bob-export" / e["recording"] / "chat.jsonl").read_text()
        assert "hello from Bob" in chat and "Alice" not in chat and "Carol" not in chat
    assert "p-bob" in (tmp / "bob-export" / "audit.json").read_text()
    result = archive.subject_erase("acme", "p-bob", "admin:alice")
    assert result == {"erased": [r2.id], "kept": [r1.id]}
    r2now = archive.get("acme", r2.id)
    assert "p-bob" not in r2now.participants and all(f.participant != "p-bob" for f in r2now.files)
    assert b"Bob" not in b"".join(archive.read("acme", r2.id, "chat.jsonl", "admin:alice"))
    assert not list((tmp / "volume" / "acme" / r2.id).glob("p-bob*"))
    assert "p-bob" in archive.get("acme", r1.id).participants  # held: whole
    assert {"recording.subject_exported", "recording.subject_erased"} <= set(_kinds(archive))


def test_recording_cannot_begin_where_policy_is_off(world: tuple[Archive, FakeClock, Path]) -> None:
    archive, _, _ = world
    with pytest.raises(RecordingError, match="recording_off"):
        archive.begin("acme", "m", None, {"name": "ACME archive"}, "eu-1", "recorder:x")
    archive.set_policy("acme", RecordingPolicy.ALLOWED, "admin:alice")
    archive.set_policy("acme", RecordingPolicy.OFF, "admin:alice", link="quiet-link")
    with pytest.raises(RecordingError, match="recording_off"):
        archive.begin("acme", "m", "quiet-link", {"name": "ACME archive"}, "eu-1", "recorder:x")
    with pytest.raises(RecordingError, match="invalid_retention"):
        archive.set_policy("acme", RecordingPolicy.ALLOWED, "admin:alice", retention_days=-1)
