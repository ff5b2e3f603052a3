"""Dominant speaker detection from RFC 6464 audio levels (readable at the node even under E2EE), and the
last-N choice it drives.

Each interval the node feeds, per participant, the mean loudness (127 − level, i.e. dB above −127 dBov) of its
audio packets. A participant *speaks* in an interval when that loudness is above a threshold. The score is a
short moving average of speaking intervals, so a cough (a few hundred ms) moves it little; the dominant speaker
changes only when a challenger has both out-scored the incumbent by a margin and kept doing so for a hold
time. Pure logic: time is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SPEECH_LOUDNESS = 127 - 55  # louder than -55 dBov counts as speech
SCORE_ALPHA = 0.25  # per interval (100 ms): ~0.4 s to move most of the way
MIN_SCORE = 0.5  # a challenger must be speaking most of the recent time
MARGIN = 0.15  # ... and out-score the incumbent by this much
HOLD = 0.8  # ... continuously, for this many seconds


@dataclass
class SpeakerDetector:
    scores: dict[str, float] = field(default_factory=dict)
    dominant: str | None = None
    order: list[str] = field(default_factory=list)  # most recent dominant speakers first
    _challenger: str | None = None
    _since: float = 0.0

    def join(self, pid: str) -> None:
        self.scores.setdefault(pid, 0.0)
        if pid not in self.order:
            self.order.append(pid)

    def leave(self, pid: str) -> None:
        self.scores.pop(pid, None)
        if pid in self.order:
            self.order.remove(pid)
        if self.dominant == pid:
            self.dominant = None
        if self._challenger == pid:
            self._challenger = None

    def update(self, loudness: dict[str, float | None], now: float) -> str | None:
        """Feeds one interval (participant -> mean loudness, None = no audio); returns the new dominant speaker
        when it changed."""
        for pid in list(self.scores):
            level = loudness.get(pid)
            speaking = 1.0 if level is not None and level >= SPEECH_LOUDNESS else 0.0
            self.scores[pid] += SCORE_ALPHA * (speaking - self.scores[pid])
        best = max(self.scores, key=lambda p: self.scores[p], default=None)
        if best is None or best == self.dominant:
            self._challenger = None
            return None
        incumbent = self.scores.get(self.dominant, 0.0) if self.dominant else 0.0
        if self.scores[best] < MIN_SCORE or self.scores[best] < incumbent + MARGIN:
            self._challenger = None
            return None
        if self._challenger != best:
            self._challenger, self._since = best, now
            return None
        if now - self._since < HOLD:
            return None
        self.dominant = best
        self._challenger = None
        if best in self.order:
            self.order.remove(best)
        self.order.insert(0, best)
        return best

    def loudest(self, n: int) -> list[str]:
        return sorted(self.scores, key=lambda p: self.scores[p], reverse=True)[:n]


def last_n(order: list[str], viewer: str, n: int) -> set[str]:
    """Whose video `viewer` receives: the n most recent speakers other than itself (n <= 0: everyone)."""
    others = [p for p in order if p != viewer]
    return set(others if n <= 0 else others[:n])
