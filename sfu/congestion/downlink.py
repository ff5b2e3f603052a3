"""What the node knows of one participant's downlink (node → participant): its estimate, and where it came from.

The estimate is the node's own send-side one when the participant sends transport-cc feedback (sfu/congestion/
bwe.py), else the receiver's REMB; a probe towards the participant, and the plan for the next one
(sfu/congestion/probe_plan.py), live here too.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sfu.congestion.bwe import SendSideBwe
from sfu.congestion.probe_plan import ProbePlan
from sfu.congestion.twcc import FeedbackReader

if TYPE_CHECKING:
    from sfu.congestion.probe import Probe

REMB_WINDOW = 1.5  # seconds of REMB values kept to tell a falling estimate from one still catching up


def remb_falling(recent: deque[tuple[float, int]], now: float, bps: int) -> bool:
    """Records a REMB value; True when it is more than 5 % below the highest of the last REMB_WINDOW seconds
    (the receiver's estimator saw overuse and cut), False while it holds or grows."""
    recent.append((now, bps))
    while recent and now - recent[0][0] > REMB_WINDOW:
        recent.popleft()
    return bps < 0.95 * max(v for _, v in recent)


@dataclass
class Downlink:
    estimate_bps: int | None = None  # the node's own estimate from transport-cc, else the receiver's REMB
    remb_recent: deque[tuple[float, int]] = field(default_factory=deque)  # (time, REMB) of the last seconds
    remb_falling: bool = False  # the receiver's REMB is falling (its estimator saw overuse)
    remb_at_upgrade: int = 0  # the REMB when this participant's last step up was decided
    twcc_reader: FeedbackReader = field(default_factory=FeedbackReader)
    bwe: SendSideBwe | None = None  # the node's send-side estimate (once transport-cc is negotiated)
    probe: Probe | None = None  # a bandwidth probe towards this participant, under way or awaiting feedback
    probe_plan: ProbePlan = field(default_factory=ProbePlan)  # how hard and when the next probe goes

    @property
    def send_side(self) -> bool:
        """The estimate is the node's own (transport-cc feedback has arrived), not the receiver's REMB."""
        return self.bwe is not None and self.bwe.feedbacks > 0

    def on_remb(self, bps: int, now: float) -> None:
        """A REMB covers the whole downlink, unless transport-cc does."""
        if not self.send_side:
            self.estimate_bps = bps
            self.remb_falling = remb_falling(self.remb_recent, now, bps)

    def upgraded(self) -> None:
        """A step up was decided: remember the REMB it was decided on (sfu/allocation/selection.py)."""
        self.remb_at_upgrade = self.estimate_bps or 0
