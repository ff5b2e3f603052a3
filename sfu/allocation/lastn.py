"""Active speaker and last-N: who is speaking (from the audio levels the engine averages; for another node's
participant, the levels that node sends: sfu/cascade/levels.py), and what each subscriber is therefore sent — video of the N most recent speakers, audio of the N loudest plus the dominant
speaker (`--last-n`, `--audio-n`; 0 means everyone's). Paused subscriptions cost the node nothing per packet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sfu.allocation.speaker import last_n

if TYPE_CHECKING:
    from sfu.node import Node
    from sfu.participant import Participant


class LastN:
    def __init__(self, node: Node) -> None:
        self.node = node

    def detect_speakers(self, now: float) -> None:
        """Every speaker_interval: each room's loudness; a new dominant speaker is announced and re-applied."""
        engine = self.node.media_engine
        for room in list(self.node.rooms.values()):
            loudness: dict[str, float | None] = {}
            for p in room.participants.values():
                total = count = 0
                for t in p.published.values():
                    if t.kind == "audio" and not t.muted:
                        act = engine.audio_activity(t.index)
                        if act is not None:
                            total, count = total + act[0], count + act[1]
                loudness[p.id] = total / count if count else None
                if p.relayed_from is not None:
                    # its node's levels, one per interval: what it read, a pass later — used when its audio does
                    # not reach this node (nobody here takes it); when it does, the copy's own level is the same
                    # reading, sooner
                    heard = room.far_levels.take(p.id)
                    if loudness[p.id] is None:
                        loudness[p.id] = heard
            room.levels.record(loudness)  # for the cascade's links (sfu/cascade/meeting.py)
            if len(room.participants) < 2:
                continue
            changed = room.speakers.update(loudness, now)
            if changed is not None:
                room.broadcast({"type": "active_speaker", "participant": changed})
                for p in room.participants.values():
                    self.apply(p)

    def apply(self, p: Participant) -> None:
        """Pauses what `p` should not receive (last-N video, quiet audio) and resumes the rest."""
        cfg = self.node.config
        if cfg.last_n <= 0 and cfg.audio_n <= 0:
            return
        speakers = p.room.speakers
        videos = last_n(speakers.order, p.id, cfg.last_n)
        audible = set(speakers.loudest(cfg.audio_n)) | ({speakers.dominant} if speakers.dominant else set())
        engine = self.node.media_engine
        for sub in p.subscriptions.values():
            owner = sub.track.owner.id
            if sub.track.kind == "video":
                paused = cfg.last_n > 0 and owner not in videos
            else:
                paused = cfg.audio_n > 0 and owner not in audible
            if paused == sub.paused:
                continue
            sub.paused = paused
            engine.set_paused(sub.index, self.node.recording.engine_paused(sub, paused))
            if not paused:
                self.node.keyframes.request(sub.track, sub.layer, force=True)
            p.send({"type": "track_paused", "track": sub.track.id, "paused": paused, "reason": "last_n"})
