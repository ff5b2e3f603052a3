"""The end of a recorder's part of a recording: what the sink wrote (track files, chat, timeline) goes into the
tenant's vault through the archive (sealed, audited), and the plaintext working files are removed. Participants
are read from the timeline the recorder wrote (who joined, under which name). Then either the recording ends
(`end`: dismissed — the host stopped it, the meeting ended) or only this part does, a gap opening until a
replacement recorder continues the same recording (its recorder died while recording stays on)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from . import timeline
from .archive import Archive, Recording, part_prefix
from .sink import TrackFile


def seal_recording(archive: Archive, tenant: str, rec_id: str, workdir: Path, files: Iterable[TrackFile],
                   actor: str, part: int = 1, end: bool = True, cause: str = "", last_ms: int | None = None
                   ) -> Recording:
    participants: dict[str, str] = {}
    tl = workdir / "timeline.jsonl"
    for e in timeline.read(tl) if tl.exists() else []:
        if e.get("kind") == "join" and isinstance(e.get("participant"), str):
            participants[str(e["participant"])] = str(e.get("name") or "")
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
