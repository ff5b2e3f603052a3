"""The end of a recorder's part of a recording: what the sink wrote (track files, chat, timeline) goes into the
tenant's vault through the archive (sealed, audited), and the plaintext working files are removed. Participants
are read from the timeline the recorder wrote (who joined, under which name). Then either the recording ends
(`end`: dismissed — the host stopped it, the meeting ended) or only this part does, a gap opening until a
replacement recorder continues the same recording (its recorder died while recording stays on).

`seal_segment`: one rolling segment (sink.py) sealed while the part goes on: its track files and its timeline and
chat slices, listed in the part with its span (`archive.segment_sealed`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from . import timeline
from .archive import Archive, Recording, part_prefix
from .sink import Segment, TrackFile


def _joined(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in timeline.read(path) if path.exists() else []:
        if e.get("kind") == "join" and isinstance(e.get("participant"), str):
            out[str(e["participant"])] = str(e.get("name") or "")
    return out


def seal_segment(archive: Archive, tenant: str, rec_id: str, segment: Segment, actor: str, part: int = 1
                 ) -> Recording:
    """Seals one complete segment into the vault under part `part`, then removes its clear working files."""
    prefix = part_prefix(part)
    participants: dict[str, str] = {}
    names: list[str] = []
    for path, kind in segment.texts:
        if kind == "timeline":
            participants.update(_joined(path))
    for f in segment.files:
        archive.store_file(tenant, rec_id, prefix + f.path.name, f.path, f.kind, actor, participant=f.participant,
                           codec=f.codec, part=part)
        participants.setdefault(f.participant, "")
        names.append(prefix + f.path.name)
    for path, kind in segment.texts:
        archive.store_file(tenant, rec_id, prefix + path.name, path, kind, actor, part=part)
        names.append(prefix + path.name)
    rec = archive.segment_sealed(tenant, rec_id, part, segment.number, segment.from_ms, segment.to_ms, names,
                                 participants, actor)
    for f in segment.files:
        f.path.unlink(missing_ok=True)
    for path, _ in segment.texts:
        path.unlink(missing_ok=True)
    return rec


def seal_recording(archive: Archive, tenant: str, rec_id: str, workdir: Path, files: Iterable[TrackFile],
                   actor: str, part: int = 1, end: bool = True, cause: str = "", last_ms: int | None = None,
                   segments: Iterable[Segment] = ()) -> Recording:
    """`segments`: the sink's last complete segments (with rolling segments, the rest of the part is one), sealed
    first; then `files` and the working directory's timeline and chat (without segments, the whole part)."""
    for seg in segments:
        seal_segment(archive, tenant, rec_id, seg, actor, part)
    participants = _joined(workdir / "timeline.jsonl")
    prefix = part_prefix(part)
    stored: list[Path] = []
    for f in files:
        archive.store_file(tenant, rec_id, prefix + f.path.name, f.path, f.kind, actor, participant=f.participant,
                           codec=f.codec, part=part)
        participants.setdefault(f.participant, "")
        stored.append(f.path)
    for name, kind in (("chat.jsonl", "chat"), ("timeline.jsonl", "timeline")):
        if (workdir / name).exists():
            archive.store_file(tenant, rec_id, prefix + name, workdir / name, kind, actor, part=part)
            stored.append(workdir / name)
    if end:
        rec = archive.finish(tenant, rec_id, participants, actor, part=part)
    else:
        rec = archive.recorder_lost(tenant, rec_id, part, actor, cause, participants, last_ms=last_ms)
    for path in stored:  # sealed: the clear working copies go
        path.unlink(missing_ok=True)
    return rec
