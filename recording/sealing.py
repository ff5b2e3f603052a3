"""The end of a recording: what the sink wrote (track parts, chat, timeline) goes into the tenant's vault through
the archive (sealed, audited), and the plaintext working files are removed. Participants are read from the
timeline the recorder wrote (who joined, under which name)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from . import timeline
from .archive import Archive, Recording
from .sink import TrackFile


def seal_recording(archive: Archive, tenant: str, rec_id: str, workdir: Path, files: Iterable[TrackFile],
                   actor: str) -> Recording:
    participants: dict[str, str] = {}
    tl = workdir / "timeline.jsonl"
    for e in timeline.read(tl) if tl.exists() else []:
        if e.get("kind") == "join" and isinstance(e.get("participant"), str):
            participants[str(e["participant"])] = str(e.get("name") or "")
    for f in files:
        archive.store_file(tenant, rec_id, f.path.name, f.path, f.kind, actor, participant=f.participant,
                           codec=f.codec)
        participants.setdefault(f.participant, "")
    for name, kind in (("chat.jsonl", "chat"), ("timeline.jsonl", "timeline")):
        if (workdir / name).exists():
            archive.store_file(tenant, rec_id, name, workdir / name, kind, actor)
    rec = archive.finish(tenant, rec_id, participants, actor)
    for stored in rec.files:  # sealed: the clear working copies go
        (workdir / stored.name).unlink(missing_ok=True)
    return rec
