"""Speaker levels across a cascaded meeting (issue 14): every node of the meeting runs its speaker detection
(sfu/allocation/speaker.py) on the same per-interval loudness, so the speaker order — and with it last-N and
audio-N — agrees on every node whatever the far node's subscribers take of a publisher's audio (a video-only
viewer there takes none: the audio need not cross for the far node to know who speaks).

The node a publisher's audio reaches first reads its loudness from the engine each detection interval and logs
it (`LevelLog`, per room); each cascade pass it sends each link's peer, on the link's sealed control lane, the
intervals since the last pass for the participants whose audio it announces on that link but does not send there
(nobody there takes it: a copy that crosses carries its level itself) (`RelayLevels`, residency/relay.py) — only
those that spoke in at least one of them (silence is what an absent value means), so a pass of nobody speaking
sends nothing, a meeting of many publishers sends only the few speaking, and one whose far viewers take the audio
sends none. The far
node queues each relayed participant's values (`FarLevels`) and its detection takes one per interval, replaying
the origin's sequence a pass later, and uses it whenever the relayed audio itself does not reach the node (when it
does, its level extension is the same reading, a pass sooner: sfu/allocation/lastn.py); the home forwards what it
took to its other links, as it forwards the tracks.

What a far node can do with this is what its own participants' audio could: values only for participants it
announced an audio track of in that meeting on that link (any other is refused and counted, by the caller:
sfu/cascade/members.py), each a whole loudness 0..127, one taken per detection interval whatever it sends, at
most `LEVEL_BACKLOG` waiting (more are dropped and counted), and messages at most `LEVEL_RATE` a second per
meeting (sfu/cascade/link.py). Loudness is sent floored: the detector's threshold is a whole number, so the
speaking decision is the same on both sides. Pure logic: the node feeds and reads it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from sfu.allocation.speaker import SPEECH_LOUDNESS

LEVEL_BACKLOG = 10  # intervals of a far participant's levels waiting here (1 s at the 100 ms detection interval)
LOG_INTERVALS = 10  # intervals the origin keeps for its links' next pass (a pass is 0.5 s: 5 at 100 ms)


@dataclass
class LevelLog:
    """The origin's side: each detection interval's loudness (participant -> floored 0..127; absent: no audio),
    numbered, the last `LOG_INTERVALS` kept for the links' next pass."""

    intervals: deque[tuple[int, dict[str, int]]] = field(default_factory=lambda: deque(maxlen=LOG_INTERVALS))
    seq: int = 0

    def record(self, loudness: Mapping[str, float | None]) -> None:
        self.seq += 1
        self.intervals.append((self.seq, {p: clamp(v) for p, v in loudness.items() if v is not None}))

    def since(self, seq: int, participants: Collection[str]) -> tuple[dict[str, list[int]], int]:
        """The intervals after `seq` for `participants` (those that spoke in at least one; each its value per
        interval, 0 where it had none), and the newest interval's number (the link's next `seq`)."""
        newer = [levels for s, levels in self.intervals if s > seq]
        out: dict[str, list[int]] = {}
        for p in participants:
            values = [levels.get(p, 0) for levels in newer]
            if any(v >= SPEECH_LOUDNESS for v in values):
                out[p] = values
        return out, self.seq


def clamp(loudness: float) -> int:
    """A loudness as sent: floored (the speaking threshold is whole: the same decision each side), 0..127."""
    return max(0, min(127, math.floor(loudness))) if math.isfinite(loudness) else 0


@dataclass
class FarLevels:
    """The far side, per room: each relayed participant's values waiting, one taken per detection interval."""

    queues: dict[str, deque[int]] = field(default_factory=dict)

    def offer(self, participant: str, values: Iterable[int]) -> int:
        """Queue `values` (already checked: owned, 0..127); returns how many were dropped, the oldest first, past
        `LEVEL_BACKLOG` (a node sending faster than one a detection interval gains nothing by it)."""
        q = self.queues.setdefault(participant, deque())
        dropped = 0
        for v in values:
            if len(q) >= LEVEL_BACKLOG:
                q.popleft()
                dropped += 1
            q.append(v)
        return dropped

    def take(self, participant: str) -> float | None:
        """This interval's loudness of `participant` (None: nothing came for it: silence)."""
        q = self.queues.get(participant)
        if not q:
            return None
        return float(q.popleft())

    def forget(self, participant: str) -> None:
        self.queues.pop(participant, None)
